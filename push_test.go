package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data/sink/sinktest"
	"github.com/tinymapper/tinymapper/internal/await"
)

// TestStandaloneDevicesPushWhereTheirPushMethodSays runs the mapper on a
// Device file whose property pushes over HTTP (to a test server) and MQTT
// (to a port nobody listens on): the samples arrive, the dead broker is
// named on the device's REST view, and /metrics counts both destinations.
func TestStandaloneDevicesPushWhereTheirPushMethodSays(t *testing.T) {
	var mu sync.Mutex
	var got []sinktest.Message
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, sinktest.Decode(t, b))
		mu.Unlock()
	}))
	defer srv.Close()
	dead := sinktest.FreePort(t)
	dir := t.TempDir()
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	push := fmt.Sprintf("        http: {hostName: %s, port: %s, requestPath: /in}\n        mqtt: {address: 127.0.0.1:%d}\n", host, port, dead)
	devices := filepath.Join(dir, "devices.yaml")
	if err := os.WriteFile(devices, []byte(sinktest.Thermometer(100*time.Millisecond, push)), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte("push:\n  buffer: 50\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startMapper(t, "--http", "127.0.0.1:0", "--devices", devices, "--config", config)
	url := h.dataPlane(t)

	await.Within(t, 10*time.Second, "samples over HTTP", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 5 })
	mu.Lock()
	m := got[0]
	mu.Unlock()
	if m.Namespace != "plant" || m.Device != "thermo" || m.Property != "temperature" || m.Type != "float" || m.Unit != "Cel" || m.Timestamp == 0 {
		t.Errorf("payload = %+v", m)
	}

	var view struct{ PushErrors []string }
	await.Within(t, 10*time.Second, "the dead broker on the device view", func() bool {
		resp, err := http.Get(url + "/api/v1/device/plant/thermo")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		view.PushErrors = nil
		json.NewDecoder(resp.Body).Decode(&view)
		return len(view.PushErrors) == 1
	})
	if e := view.PushErrors[0]; !strings.HasPrefix(e, "spec.properties[temperature].pushMethod.mqtt: connect to tcp://127.0.0.1:") {
		t.Errorf("pushErrors = %q", view.PushErrors)
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		fmt.Sprintf(`tinymapper_push_sent_total{destination="http %s/in"} `, srv.URL),
		fmt.Sprintf(`tinymapper_push_buffered{destination="mqtt tcp://127.0.0.1:%d"} `, dead),
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if h.logLines("push destination failing", "mqtt tcp://127.0.0.1:") != 1 {
		t.Errorf("the outage is not logged exactly once:\n%s", h.logs.String())
	}
}

func TestPushDefaultIsCheckedAtStart(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	os.WriteFile(config, []byte("push:\n  default:\n    mqtt: {address: 'udp://x', qos: 1}\n"), 0o600)
	cfg, err := loadConfig([]string{"--config", config})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newSinks(cfg.Push, nil, nil); err == nil || !strings.HasPrefix(err.Error(), "push.default.mqtt.address: ") {
		t.Errorf("newSinks = %v, want an error naming push.default.mqtt.address", err)
	}
}

// TestADeadSinkSlowsNothingElse points one property at an HTTP endpoint
// that accepts connections and never answers (requests time out after a
// minute) and at an InfluxDB endpoint that works: the samples, REST and the
// working sink keep their pace.
func TestADeadSinkSlowsNothingElse(t *testing.T) {
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	var connsMu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			connsMu.Lock()
			conns = append(conns, c) // read nothing, answer nothing
			connsMu.Unlock()
		}
	}()
	defer func() {
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
	}()
	var linesMu sync.Mutex
	lines := 0
	count := func() int { linesMu.Lock(); defer linesMu.Unlock(); return lines }
	influx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		linesMu.Lock()
		lines += strings.Count(string(b), "\n")
		linesMu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer influx.Close()
	push := fmt.Sprintf("        http: {hostName: http://127.0.0.1, port: %d, timeout: 60000}\n        dbMethod:\n          influxdb2:\n            influxdb2ClientConfig: {url: %q, org: o, bucket: b}\n",
		hang.Addr().(*net.TCPAddr).Port, influx.URL)
	devices := filepath.Join(t.TempDir(), "devices.yaml")
	if err := os.WriteFile(devices, []byte(sinktest.Thermometer(50*time.Millisecond, push)), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startMapper(t, "--http", "127.0.0.1:0", "--devices", devices)
	url := h.dataPlane(t)
	await.Within(t, 10*time.Second, "the live sink", func() bool { return count() > 0 })

	start, before := time.Now(), count()
	var slowest time.Duration
	for time.Since(start) < 3*time.Second {
		t0 := time.Now()
		if code := httpStatus(url + "/api/v1/device/plant/thermo"); code != http.StatusOK {
			t.Fatalf("REST answered %d", code)
		}
		slowest = max(slowest, time.Since(t0))
		time.Sleep(100 * time.Millisecond)
	}
	// 3 s at one sample per 50 ms is 60; allow for the 100 ms polling.
	if got := count() - before; got < 50 {
		t.Errorf("the live sink got %d samples in 3 s beside the dead one, want about 60", got)
	}
	if slowest > 500*time.Millisecond {
		t.Errorf("the slowest REST answer took %v beside the dead sink", slowest)
	}
}
