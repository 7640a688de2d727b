package data

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tinymapper/tinymapper/device"
)

type fakeStats struct{}

func (fakeStats) Stats() []device.BusStats {
	return []device.BusStats{{Bus: "i2c:SIM-I2C1", Reads: 10, Failures: 2, Writes: 4, WriteFailures: 1, Batches: 3, LateNs: 1500000, MaxLateNs: 2e9, Tasks: 5}}
}

func (fakeStats) StateCounts() map[string]int {
	return map[string]int{device.StateOnline: 2, device.StateOffline: 1}
}

func TestMetricsExposeBusFiguresAndStates(t *testing.T) {
	rec := httptest.NewRecorder()
	Metrics(fakeStats{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`tinymapper_bus_reads_total{bus="i2c:SIM-I2C1"} 10`,
		`tinymapper_bus_read_failures_total{bus="i2c:SIM-I2C1"} 2`,
		`tinymapper_bus_writes_total{bus="i2c:SIM-I2C1"} 4`,
		`tinymapper_bus_write_failures_total{bus="i2c:SIM-I2C1"} 1`,
		`tinymapper_bus_batches_total{bus="i2c:SIM-I2C1"} 3`,
		`tinymapper_bus_properties{bus="i2c:SIM-I2C1"} 5`,
		`tinymapper_bus_schedule_lateness_seconds{bus="i2c:SIM-I2C1"} 0.0015`,
		`tinymapper_bus_schedule_lateness_max_seconds{bus="i2c:SIM-I2C1"} 2`,
		`tinymapper_devices{state="online"} 2`,
		`tinymapper_devices{state="offline"} 1`,
		"# TYPE go_goroutines gauge",
	} {
		if !strings.Contains(string(body), want+"\n") && !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
}
