package main

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/ads1115"
	"github.com/tinymapper/tinymapper/board/sim/bme280"
	"github.com/tinymapper/tinymapper/board/sim/mcp9808"
	"github.com/tinymapper/tinymapper/board/sim/sht3x"
	"github.com/tinymapper/tinymapper/board/sim/tmp102"
	"github.com/tinymapper/tinymapper/internal/await"
)

// discoveredYAML is `discover i2c --bus 1 --yaml` on the sim, checked in so
// that test/kubeedge converts it as it does every example.
const discoveredYAML = "deploy/examples/discovered-i2c.yaml"

// powerCycle puts the sim's I²C parts in their power-on state, which is
// what discover reports: another test's devices (or this test's, in a
// -count=2 run) may have written their configuration.
func powerCycle(t *testing.T) {
	t.Helper()
	if err := sim.PowerCycle(); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoverI2CNamesTheSimParts(t *testing.T) {
	powerCycle(t)
	var out bytes.Buffer
	if err := run([]string{"discover", "i2c", "--board", "sim", "--bus", "1"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"0x18     MCP9808", "0x44     SHT3x    serial number 0x1A2B3C4D", "0x48     TMP102   config 0x60A0",
		"0x49     ADS1115  config 0x8583", "0x50     24Cxx", "0x76     BME280   chip id 0x60", "0x77     BMP280   chip id 0x58",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("discover i2c: no %q in\n%s", want, out.String())
		}
	}
}

// TestDiscoveredYAMLRunsOnTheSim: the YAML discover writes for the sim is
// the checked-in example, and run standalone it reads what the sim's parts
// document: the TMP102's and MCP9808's temperatures, the SHT3x's
// temperature and humidity (read by command, CRCs checked), the ADS1115's AIN0
// once the config is written, the BME280's temperature, pressure and
// humidity in °C, hPa and %RH, the EEPROM's erased first byte.
func TestDiscoveredYAMLRunsOnTheSim(t *testing.T) {
	powerCycle(t)
	var out bytes.Buffer
	if err := run([]string{"discover", "i2c", "--board", "sim", "--yaml", "--node", "edge-node-1"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(discoveredYAML)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Fatalf("discover --yaml differs from %s (regenerate it with `go run . discover i2c --board sim --yaml --node edge-node-1`):\n%s", discoveredYAML, out.String())
	}
	file := filepath.Join(t.TempDir(), "d.yaml")
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	h := startMapper(t, "--devices", file, "--http", "127.0.0.1:0")
	base := h.dataPlane(t) + "/api/v1/device/default/"
	for _, tc := range []struct {
		device, property string
		want             func(time.Time) float64
		tolerance        float64
	}{
		{"tmp102-1-48", "temperature", tmp102.Temperature, 0},
		{"mcp9808-1-18", "temperature", mcp9808.Temperature, 0},
		// The SHT3x measures at its command, 16 ms before the sample is
		// stamped; T and RH move at most 0.21 per second, and a code step
		// is 0.0027 °C / 0.0015 %.
		{"sht3x-1-44", "temperature", sht3x.Temperature, 0.01},
		{"sht3x-1-44", "humidity", sht3x.Humidity, 0.01},
		{"ads1115-1-49", "ain0", func(t time.Time) float64 { return ads1115.Input(0, t) }, 0.000125},
		// The BME280 is read by part: compensated with its calibration
		// (0.01 °C, 1/256 Pa and 1/1024 % steps; the integer formulas
		// against the sim's double-precision ones).
		{"bme280-1-76", "temperature", bme280.Temperature, 0.01},
		{"bme280-1-76", "pressure", bme280.Pressure, 0.01},
		{"bme280-1-76", "humidity", bme280.Humidity, 0.05},
		{"bmp280-1-77", "temperature", bme280.Temperature, 0.01},
		{"bmp280-1-77", "pressure", bme280.Pressure, 0.01},
		{"24cxx-1-50", "byte-0", func(time.Time) float64 { return 255 }, 0},
	} {
		t.Run(tc.device+"/"+tc.property, func(t *testing.T) {
			var last string
			// The value at a sample's timestamp, once the device runs (the
			// ADS1115 after its desired config is written).
			await.Within(t, 10*time.Second, tc.device+" "+tc.property+" matching the sim", func() bool {
				v, ts, ok := sample(base + tc.device + "/" + tc.property)
				last = ""
				if !ok {
					return false
				}
				want := tc.want(ts)
				last = strings.Join([]string{"got", jsonNum(v), "want", jsonNum(want)}, " ")
				// A bus worker stamps the samples of one round with the
				// round's start (cut to the millisecond), then reads them in
				// turn; the SHT3x's 16 ms conversion holds the bus, so a part
				// read after it is read up to about 20 ms after its stamp.
				for d := -5 * time.Millisecond; d <= 40*time.Millisecond; d += time.Millisecond {
					if math.Abs(v-tc.want(ts.Add(d))) <= tc.tolerance+1e-9 {
						return true
					}
				}
				return false
			})
			if t.Failed() {
				t.Log(last)
			}
		})
	}
}

func jsonNum(f float64) string { b, _ := json.Marshal(f); return string(b) }

// sample GETs one property's latest sample (mapper-framework's shape:
// Data.Value as text, Data.TimeStamp in Unix milliseconds).
func sample(url string) (float64, time.Time, bool) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, time.Time{}, false
	}
	defer resp.Body.Close()
	var s struct {
		Data struct {
			Value     string `json:"Value"`
			TimeStamp int64  `json:"TimeStamp"`
		} `json:"Data"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&s) != nil {
		return 0, time.Time{}, false
	}
	v, err := strconv.ParseFloat(s.Data.Value, 64)
	if err != nil {
		return 0, time.Time{}, false
	}
	return v, time.UnixMilli(s.Data.TimeStamp), true
}
