package data_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/tinymapper/tinymapper/data"
	"github.com/tinymapper/tinymapper/device"
)

// pushSource adds the push sinks' errors and figures to fakeSource.
type pushSource struct{ *fakeSource }

func (pushSource) PushErrors(ns, name string) []string {
	return []string{"spec.properties[temp].pushMethod.mqtt: connect to tcp://127.0.0.1:1: connection refused"}
}
func (pushSource) Stats() []device.BusStats    { return nil }
func (pushSource) StateCounts() map[string]int { return nil }
func (pushSource) WritePushMetrics(w io.Writer) {
	io.WriteString(w, "tinymapper_push_sent_total{destination=\"mqtt x\"} 3\n")
}

func TestDeviceViewsShowPushErrors(t *testing.T) {
	src := pushSource{newFake()}
	h := data.Handler(src, nil, nil)
	d := src.devices[0]
	for _, path := range []string{"/api/v1/devices", "/api/v1/device/" + d.Namespace + "/" + d.Name} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		var one data.Device
		var all []data.Device
		body := rec.Body.Bytes()
		if json.Unmarshal(body, &all) != nil || len(all) == 0 {
			if err := json.Unmarshal(body, &one); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			all = []data.Device{one}
		}
		if want := src.PushErrors("", ""); !slices.Equal(all[0].PushErrors, want) {
			t.Errorf("%s: pushErrors = %q, want %q", path, all[0].PushErrors, want)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `tinymapper_push_sent_total{destination="mqtt x"} 3`) {
		t.Errorf("/metrics lacks the push figures:\n%s", rec.Body)
	}
}
