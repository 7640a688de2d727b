package data_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/data"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// fakeSource is a data.Source over fixed device views with real rings. It
// records SetDesired calls and answers them with setErr.
type fakeSource struct {
	devices []device.DeviceView

	mu     sync.Mutex
	calls  []string        // "ns/name/property=value"
	waits  []time.Duration // how long each call could wait at most
	setErr error
}

func (f *fakeSource) Devices() []device.DeviceView { return f.devices }

func (f *fakeSource) Device(ns, name string) (device.DeviceView, bool) {
	for _, d := range f.devices {
		if d.Namespace == ns && d.Name == name {
			return d, true
		}
	}
	return device.DeviceView{}, false
}

func (f *fakeSource) Property(ns, name, property string) (device.PropertyView, bool) {
	d, ok := f.Device(ns, name)
	if !ok {
		return device.PropertyView{}, false
	}
	for _, p := range d.Properties {
		if p.Name == property {
			return p, true
		}
	}
	return device.PropertyView{}, false
}

func (f *fakeSource) SetDesiredContext(ctx context.Context, ns, name, property, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, ns+"/"+name+"/"+property+"="+value)
	wait := time.Duration(-1)
	if d, ok := ctx.Deadline(); ok {
		wait = time.Until(d)
	}
	f.waits = append(f.waits, wait)
	return f.setErr
}

// t0 is the time of the first sample; sample i is at t0 + i seconds.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC)

func ring(values ...float64) *ringbuf.Ring {
	r := ringbuf.New(8)
	for i, v := range values {
		r.Push(ringbuf.Sample{Time: t0.Add(time.Duration(i) * time.Second).UnixNano(), Value: v})
	}
	return r
}

func newFake() *fakeSource {
	failed := ring(20)
	failed.Push(ringbuf.Sample{Time: t0.Add(time.Second).UnixNano(), Err: 1})
	return &fakeSource{devices: []device.DeviceView{{
		Namespace: "default", Name: "room", Model: "tmp102", Protocol: "i2c", State: device.StateOnline,
		Properties: []device.PropertyView{
			{Name: "temperature", Type: device.TypeFloat, Unit: "celsius", Ring: ring(21, 21.5, 22, float64(float32(22.3)), 22.5)},
			{Name: "raw", Type: device.TypeDouble, Ring: ring(float64(float32(0.1)))},
			{Name: "count", Type: device.TypeInt, Ring: ring(41.6)},
			{Name: "door", Type: device.TypeBoolean, Ring: ring(0, 1)},
			{Name: "setpoint", Type: device.TypeInt, Writable: true, Desired: "30", Ring: ring(30)},
			{Name: "fan", Type: device.TypeInt, Writable: true, Desired: "150", Ring: ring(50),
				WriteError: "write fan=150: modbus: illegal data value (exception 03)", WriteTime: t0.Add(3 * time.Second)},
			{Name: "fresh", Type: device.TypeFloat, Ring: ringbuf.New(8)},
			{Name: "flaky", Type: device.TypeFloat, Ring: failed, LastError: "i2c: no ack"},
		},
	}, {
		Namespace: "plant", Name: "meter", Model: "counter", Protocol: "gpio", State: device.StateOffline,
		Error:      "gpio: pin busy",
		Properties: []device.PropertyView{{Name: "pulses", Type: device.TypeInt, Ring: ringbuf.New(4)}},
	}}}
}

// do sends a request to a handler over f and returns the status, the
// Content-Type and the body.
func do(t *testing.T, h http.Handler, method, path, body string) (int, string, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// fields decodes a JSON object keeping each value's text, so tests can tell
// 22.5 from 22.499999 and 42 from 42.0.
func fields(t *testing.T, body string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", body, err)
	}
	return m
}

func TestGetLatestSample(t *testing.T) {
	tests := []struct {
		property string
		value    string // the JSON text of "value"
		at       time.Time
	}{
		{"temperature", "22.5", t0.Add(4 * time.Second)},
		{"raw", "0.10000000149011612", t0},
		{"count", "42", t0},
		{"door", "true", t0.Add(time.Second)},
		{"flaky", "null", t0.Add(time.Second)},
	}
	h := data.Handler(newFake(), nil, nil)
	for _, tt := range tests {
		t.Run(tt.property, func(t *testing.T) {
			code, ctype, body := do(t, h, "GET", "/api/v1/device/default/room/"+tt.property+"?format=tinymapper", "")
			if code != http.StatusOK || ctype != "application/json" {
				t.Fatalf("status %d, Content-Type %q; body %s", code, ctype, body)
			}
			m := fields(t, body)
			if got := strings.TrimSpace(string(m["value"])); got != tt.value {
				t.Errorf("value = %s, want %s", got, tt.value)
			}
			var ts string
			if err := json.Unmarshal(m["timestamp"], &ts); err != nil {
				t.Fatalf("timestamp %s: %v", m["timestamp"], err)
			}
			at, err := time.Parse(time.RFC3339, ts)
			if err != nil || !at.Equal(tt.at) {
				t.Errorf("timestamp %q = %v, %v; want RFC 3339 %v", ts, at, err, tt.at)
			}
			if _, ok := m["history"]; ok {
				t.Errorf("history without ?history: %s", m["history"])
			}
		})
	}
}

func TestGetPropertyDescribesIt(t *testing.T) {
	h := data.Handler(newFake(), nil, nil)
	_, _, body := do(t, h, "GET", "/api/v1/device/default/room/setpoint?format=tinymapper", "")
	var p data.Property
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	if p.Namespace != "default" || p.Device != "room" || p.Property != "setpoint" || p.Type != device.TypeInt ||
		!p.Writable || p.Desired != "30" {
		t.Errorf("property = %+v", p)
	}
	_, _, body = do(t, h, "GET", "/api/v1/device/default/room/flaky?format=tinymapper", "")
	if m := fields(t, body); string(m["error"]) != `"i2c: no ack"` {
		t.Errorf("flaky error = %s, want the last error", m["error"])
	}
	if m := fields(t, body); m["writeError"] != nil || m["writeTime"] != nil {
		t.Errorf("flaky = %s; want no write status", body)
	}
}

func TestAFailedWriteShowsInThePropertyAndTheDevice(t *testing.T) {
	h := data.Handler(newFake(), nil, nil)
	const want = `"write fan=150: modbus: illegal data value (exception 03)"`
	_, _, body := do(t, h, "GET", "/api/v1/device/default/room/fan?format=tinymapper", "")
	p := fields(t, body)
	if string(p["writeError"]) != want || string(p["writeTime"]) != `"2026-03-01T12:00:03.5Z"` || p["error"] != nil {
		t.Errorf("property = %s; want writeError %s at 12:00:03.5 and no read error", body, want)
	}
	_, _, body = do(t, h, "GET", "/api/v1/device/default/room", "")
	var d struct{ Properties []map[string]json.RawMessage }
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Properties {
		if string(p["property"]) == `"fan"` && string(p["writeError"]) != want {
			t.Errorf("device view of fan = %v; want writeError %s", p, want)
		}
	}
}

func TestGetHistory(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		values []string // JSON text of each history value, oldest first
	}{
		{"last three, oldest first", "3", []string{"22", "22.3", "22.5"}},
		{"one", "1", []string{"22.5"}},
		{"more than were pushed", "7", []string{"21", "21.5", "22", "22.3", "22.5"}},
		{"more than the API allows", "1000000", []string{"21", "21.5", "22", "22.3", "22.5"}},
		{"zero means none", "0", nil},
	}
	h := data.Handler(newFake(), nil, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := do(t, h, "GET", "/api/v1/device/default/room/temperature?history="+tt.query, "")
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			var out struct {
				History []struct {
					Value     json.RawMessage `json:"value"`
					Timestamp time.Time       `json:"timestamp"`
				} `json:"history"`
			}
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatal(err)
			}
			if len(out.History) != len(tt.values) {
				t.Fatalf("%d samples, want %d: %s", len(out.History), len(tt.values), body)
			}
			first := 5 - len(tt.values) // index of the oldest sample returned
			for i, s := range out.History {
				if string(s.Value) != tt.values[i] {
					t.Errorf("history[%d] = %s, want %s", i, s.Value, tt.values[i])
				}
				if want := t0.Add(time.Duration(first+i) * time.Second); !s.Timestamp.Equal(want) {
					t.Errorf("history[%d] at %v, want %v", i, s.Timestamp, want)
				}
			}
		})
	}
}

func TestGetHistoryMarksFailedReads(t *testing.T) {
	h := data.Handler(newFake(), nil, nil)
	_, _, body := do(t, h, "GET", "/api/v1/device/default/room/flaky?history=2", "")
	var out data.Property
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.History) != 2 || out.History[0].Error || out.History[0].Value == nil ||
		!out.History[1].Error || out.History[1].Value != nil {
		t.Errorf("history = %+v, want a good sample then a failed one without value", out.History)
	}
}

func TestBadHistory(t *testing.T) {
	h := data.Handler(newFake(), nil, nil)
	for _, q := range []string{"abc", "-1", "1.5", "3x"} {
		code, ctype, body := do(t, h, "GET", "/api/v1/device/default/room/temperature?history="+q, "")
		if code != http.StatusBadRequest || ctype != "application/json" {
			t.Errorf("history=%s: status %d, Content-Type %q", q, code, ctype)
			continue
		}
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, "history") {
			t.Errorf("history=%s: body %s does not name history", q, body)
		}
	}
}

func TestNotFound(t *testing.T) {
	tests := []struct {
		name, method, path, mention string
	}{
		{"unknown device", "GET", "/api/v1/device/default/nope/temperature", "default/nope/temperature"},
		{"unknown namespace", "GET", "/api/v1/device/other/room/temperature", "other/room"},
		{"unknown property", "GET", "/api/v1/device/default/room/humidity", "humidity"},
		{"unknown device, whole", "GET", "/api/v1/device/default/nope", "default/nope"},
		{"unknown path", "GET", "/api/v2/devices", "/api/v2/devices"},
		{"too deep", "GET", "/api/v1/device/default/room/temperature/extra", "extra"},
		{"root", "GET", "/", "no such endpoint"},
		{"method without a route", "DELETE", "/api/v1/device/default/room/setpoint", "DELETE"},
	}
	h := data.Handler(newFake(), nil, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ctype, body := do(t, h, tt.method, tt.path, "")
			if code != http.StatusNotFound || ctype != "application/json" {
				t.Fatalf("status %d, Content-Type %q: %s", code, ctype, body)
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, tt.mention) {
				t.Errorf("body %s: want a JSON error mentioning %q", body, tt.mention)
			}
		})
	}
}

func TestNoSampleYet(t *testing.T) {
	h := data.Handler(newFake(), nil, nil)
	code, ctype, body := do(t, h, "GET", "/api/v1/device/default/room/fresh?format=tinymapper", "")
	if code != http.StatusServiceUnavailable || ctype != "application/json" {
		t.Fatalf("status %d, Content-Type %q", code, ctype)
	}
	m := fields(t, body)
	if string(m["value"]) != "null" || m["timestamp"] != nil || string(m["property"]) != `"fresh"` {
		t.Errorf("body %s: want the property with a null value and no timestamp", body)
	}
}

func TestDevices(t *testing.T) {
	h := data.Handler(newFake(), nil, nil)
	code, _, body := do(t, h, "GET", "/api/v1/devices", "")
	var list []data.Device
	if err := json.Unmarshal([]byte(body), &list); code != http.StatusOK || err != nil {
		t.Fatalf("status %d, %v: %s", code, err, body)
	}
	if len(list) != 2 || list[0].Name != "room" || list[0].State != device.StateOnline ||
		list[1].Namespace != "plant" || list[1].Error != "gpio: pin busy" || list[0].Properties != nil {
		t.Errorf("devices = %+v", list)
	}

	code, _, body = do(t, h, "GET", "/api/v1/device/default/room", "")
	var d struct {
		Name       string
		Properties []map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(body), &d); code != http.StatusOK || err != nil {
		t.Fatalf("status %d, %v: %s", code, err, body)
	}
	if d.Name != "room" || len(d.Properties) != 8 || string(d.Properties[0]["value"]) != "22.5" ||
		string(d.Properties[2]["value"]) != "42" || string(d.Properties[3]["value"]) != "true" {
		t.Errorf("device = %s", body)
	}
}

func TestSetDesired(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // the value SetDesired gets
	}{
		{"string", `{"value":"42"}`, "42"},
		{"number", `{"value":42}`, "42"},
		{"fraction", `{"value": 22.5}`, "22.5"},
		{"boolean", `{"value":true}`, "true"},
		{"string with spaces kept", `{"value":" 7 "}`, " 7 "},
		{"extra fields ignored", `{"value":"1","note":"x"}`, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newFake()
			h := data.Handler(src, nil, nil)
			code, ctype, body := do(t, h, "PUT", "/api/v1/device/default/room/setpoint", tt.body)
			if code != http.StatusOK || ctype != "application/json" {
				t.Fatalf("status %d, Content-Type %q: %s", code, ctype, body)
			}
			if want := "default/room/setpoint=" + tt.want; len(src.calls) != 1 || src.calls[0] != want {
				t.Errorf("SetDesired calls %q, want [%q]", src.calls, want)
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(body), &got); err != nil || got["desired"] != tt.want {
				t.Errorf("body %s, want desired %q", body, tt.want)
			}
		})
	}
}

func TestSetDesiredWaitsForTheWriteAtMostWriteWait(t *testing.T) {
	src := newFake()
	do(t, data.Handler(src, nil, nil), "PUT", "/api/v1/device/default/room/setpoint", `{"value":"42"}`)
	if len(src.waits) != 1 || src.waits[0] <= 0 || src.waits[0] > device.WriteWait {
		t.Errorf("SetDesiredContext could wait %v; want a deadline within %v", src.waits, device.WriteWait)
	}
}

func TestSetDesiredOnADeviceNotRunningIsAccepted(t *testing.T) {
	src := newFake()
	src.setErr = fmt.Errorf("%w (waiting for model default/thermo): setpoint=42 is kept", device.ErrNotRunning)
	code, _, body := do(t, data.Handler(src, nil, nil), "PUT", "/api/v1/device/default/room/setpoint", `{"value":"42"}`)
	f := fields(t, body)
	if code != http.StatusAccepted || string(f["desired"]) != `"42"` || !strings.Contains(string(f["pending"]), "waiting for model") {
		t.Errorf("status %d, %s; want 202 with the desired value and why it is pending", code, body)
	}
}

func TestSetDesiredBadBody(t *testing.T) {
	for _, body := range []string{"", "42", "not json", "{}", `{"val":1}`, `{"value":`, `["value", 1]`} {
		src := newFake()
		h := data.Handler(src, nil, nil)
		code, ctype, resp := do(t, h, "PUT", "/api/v1/device/default/room/setpoint", body)
		if code != http.StatusBadRequest || ctype != "application/json" || !strings.Contains(resp, "value") {
			t.Errorf("body %q: status %d, Content-Type %q, %s; want a 400 JSON error", body, code, ctype, resp)
		}
		if len(src.calls) != 0 {
			t.Errorf("body %q reached SetDesired: %q", body, src.calls)
		}
	}
}

func TestSetDesiredErrors(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		code    int
		mention string
	}{
		{"field error is the client's",
			&bus.FieldError{Field: "spec.properties[setpoint].desired.value", Err: errors.New(`"abc" is not an integer`)},
			http.StatusBadRequest, `spec.properties[setpoint].desired.value: "abc" is not an integer`},
		{"wrapped field error",
			fmt.Errorf("room: %w", &bus.FieldError{Field: "property setpoint", Err: errors.New("is ReadOnly in its model")}),
			http.StatusBadRequest, "property setpoint: is ReadOnly in its model"},
		{"not found", device.ErrNotFound, http.StatusNotFound, "default/room/setpoint not found"},
		{"wrapped not found", fmt.Errorf("lookup: %w", device.ErrNotFound), http.StatusNotFound, "not found"},
		{"the device refused the write",
			&device.WriteError{Property: "setpoint", Value: "150", Err: errors.New("modbus: illegal data value (exception 03)")},
			http.StatusBadGateway, "write setpoint=150: modbus: illegal data value (exception 03)"},
		{"the write was not done in time",
			fmt.Errorf("write setpoint=150: not done yet: %w", context.DeadlineExceeded),
			http.StatusGatewayTimeout, "not done yet"},
		{"anything else is ours", errors.New("bus closed"), http.StatusInternalServerError, "bus closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newFake()
			src.setErr = tt.err
			h := data.Handler(src, nil, nil)
			code, ctype, body := do(t, h, "PUT", "/api/v1/device/default/room/setpoint", `{"value":"abc"}`)
			if code != tt.code || ctype != "application/json" {
				t.Fatalf("status %d, Content-Type %q; want %d", code, ctype, tt.code)
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, tt.mention) {
				t.Errorf("body %s: want a JSON error mentioning %q", body, tt.mention)
			}
		})
	}
}

func TestHealthAndReadiness(t *testing.T) {
	var ready atomic.Bool
	h := data.Handler(newFake(), ready.Load, nil)
	if code, _, _ := do(t, h, "GET", "/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if code, _, _ := do(t, h, "GET", "/readyz", ""); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before ready = %d, want 503", code)
	}
	ready.Store(true)
	if code, _, _ := do(t, h, "GET", "/readyz", ""); code != http.StatusOK {
		t.Errorf("/readyz when ready = %d, want 200", code)
	}
	if code, _, _ := do(t, data.Handler(newFake(), nil, nil), "GET", "/readyz", ""); code != http.StatusOK {
		t.Errorf("/readyz without a ready func = %d, want 200", code)
	}
}

// TestConcurrentReadsWhileSampling reads over REST while a writer pushes, to
// let -race check the path from ring to JSON.
func TestConcurrentReadsWhileSampling(t *testing.T) {
	src := newFake()
	r := src.devices[0].Properties[0].Ring
	at := t0.Add(time.Minute)
	for i := 0; i < 8; i++ { // a full ring before readers start
		at = at.Add(time.Millisecond)
		r.Push(ringbuf.Sample{Time: at.UnixNano(), Value: float64(i)})
	}
	h := data.Handler(src, nil, nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			at = at.Add(time.Millisecond)
			r.Push(ringbuf.Sample{Time: at.UnixNano(), Value: float64(i)})
		}
	}()
	for i := 0; i < 20; i++ {
		resp, err := srv.Client().Get(srv.URL + "/api/v1/device/default/room/temperature?history=8")
		if err != nil {
			t.Fatal(err)
		}
		var p data.Property
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || len(p.History) != 8 {
			t.Fatalf("status %d, %v, %d samples", resp.StatusCode, err, len(p.History))
		}
		for j := 1; j < len(p.History); j++ {
			if !p.History[j].Timestamp.After(p.History[j-1].Timestamp) {
				t.Fatalf("history out of order: %+v", p.History)
			}
		}
	}
	<-done
}

// TestAValueThatIsNotANumberSaysWhy: NaN (an erased float32 EEPROM cell)
// and ±Inf show as null with an error that says why.
func TestAValueThatIsNotANumberSaysWhy(t *testing.T) {
	for _, tt := range []struct {
		name string
		v    float64
		want string
	}{
		{"NaN", math.NaN(), "NaN"},
		{"infinity", math.Inf(1), "infinite"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := newFake()
			src.devices[0].Properties[0].Ring = ring(tt.v)
			code, _, body := do(t, data.Handler(src, nil, nil), "GET", "/api/v1/device/default/room/temperature?format=tinymapper", "")
			f := fields(t, body)
			if code != http.StatusOK || string(f["value"]) != "null" || !strings.Contains(string(f["error"]), tt.want) {
				t.Errorf("status %d, %s; want value null and an error saying %s", code, body, tt.want)
			}
		})
	}
}
