// Package sinktest runs a simulated device through a real device.Manager
// and real sinks, for the end-to-end tests of the sink packages.
package sinktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/bus/i2c"
	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/crd"
	"github.com/tinymapper/tinymapper/ringbuf"
)

var registerOnce sync.Once

// Thermometer returns a DeviceModel and a Device "plant/thermo" reading
// the simulated TMP102's temperature every cycle, with pushMethod (YAML
// indented for "pushMethod:" under a property; "" for none).
func Thermometer(cycle time.Duration, pushMethod string) string {
	push := ""
	if pushMethod != "" {
		push = "      pushMethod:\n" + pushMethod
	}
	return fmt.Sprintf(`apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: {name: tmp102, namespace: plant}
spec:
  protocol: i2c
  properties:
    - {name: temperature, type: FLOAT, accessMode: ReadOnly, unit: Cel}
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: {name: thermo, namespace: plant}
spec:
  deviceModelRef: {name: tmp102}
  protocol:
    protocolName: i2c
    configData: {bus: 1, address: 0x48}
  properties:
    - name: temperature
      collectCycle: %d
      visitors:
        protocolName: i2c
        configData: {register: 0, dataType: int16, shift: 4, scale: 0.0625}
%s`, cycle.Milliseconds(), push)
}

// Run starts a manager on the simulated board with the devices of yaml and
// sinks with kinds, both stopped when the test ends. The log goes to the
// test's log.
func Run(t testing.TB, yaml string, opt sink.Options, kinds ...sink.Kind) (*device.Manager, *sink.Sinks) {
	t.Helper()
	var err error
	registerOnce.Do(func() { err = sim.Register() })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	mgr := device.NewManager(device.Options{Log: log, History: 4096}, i2c.Driver{})
	set, err := crd.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range set.Models {
		if err := mgr.PutModel(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range set.Devices {
		if err := mgr.PutDevice(d); err != nil {
			t.Fatal(err)
		}
	}
	if opt.Log == nil {
		opt.Log = log
	}
	sinks := sink.New(mgr, opt, kinds...)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); mgr.Run(ctx) }()
	go func() { defer wg.Done(); sinks.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return mgr, sinks
}

// Samples returns the good samples of a property's ring with times in
// [from, to].
func Samples(t testing.TB, mgr *device.Manager, ns, name, prop string, from, to int64) []ringbuf.Sample {
	t.Helper()
	p, ok := mgr.Property(ns, name, prop)
	if !ok {
		t.Fatalf("no property %s/%s/%s", ns, name, prop)
	}
	buf := make([]ringbuf.Sample, p.Ring.Cap())
	buf = buf[:p.Ring.Last(buf)]
	var out []ringbuf.Sample
	for _, s := range buf {
		if s.Err == 0 && s.Time >= from && s.Time <= to {
			out = append(out, s)
		}
	}
	return out
}

// FreePort returns a loopback TCP port nobody listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitFor polls cond every 50 ms until it is true or d passes.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StatsOf returns the figures of the destination whose key has prefix.
func StatsOf(s *sink.Sinks, prefix string) (sink.Stats, bool) {
	for _, st := range s.Stats() {
		if strings.HasPrefix(st.Destination, prefix) {
			return st, true
		}
	}
	return sink.Stats{}, false
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	if os.Getenv("SINKTEST_QUIET") == "" {
		w.t.Log(strings.TrimSuffix(string(b), "\n"))
	}
	return len(b), nil
}

// Message is a payload as a consumer decodes it.
type Message struct {
	Namespace, Device, Property, Type, Unit string
	Value                                   json.Number
	Timestamp                               int64
}

// Decode decodes one payload.
func Decode(t testing.TB, payload []byte) Message {
	t.Helper()
	var m Message
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("payload %q: %v", payload, err)
	}
	return m
}

// Check compares what arrived with the property's ring: every sample up to
// the last arrival arrived once (a repeat of the batch in flight when the
// broker went away is allowed), in order, with its value, type and time,
// except the dropped ones, which are the oldest of an outage. It returns
// how many were missing.
func Check(t testing.TB, mgr *device.Manager, got []Message) (missing int) {
	t.Helper()
	if len(got) == 0 {
		t.Fatal("nothing arrived")
	}
	last := got[len(got)-1].Timestamp
	want := Samples(t, mgr, "plant", "thermo", "temperature", 0, (last+1)*1e6-1)
	seen := map[int64]bool{}
	var uniq []Message
	resending := false // within a repeat of the batch in flight
	for i, m := range got {
		if seen[m.Timestamp] {
			// A resend starts back in time and goes on in order.
			if i == 0 || (m.Timestamp > got[i-1].Timestamp && !resending) {
				t.Fatalf("sample %d arrived again out of a resend", m.Timestamp)
			}
			resending = true
			continue
		}
		resending = false
		if len(uniq) > 0 && m.Timestamp < uniq[len(uniq)-1].Timestamp {
			t.Fatalf("sample %d arrived after %d", m.Timestamp, uniq[len(uniq)-1].Timestamp)
		}
		seen[m.Timestamp] = true
		uniq = append(uniq, m)
	}
	j := 0
	for _, s := range want {
		if j < len(uniq) && uniq[j].Timestamp == s.Time/1e6 {
			m := uniq[j]
			v, _ := device.AppendValue(nil, device.TypeFloat, s.Value)
			if string(m.Value) != string(v) || m.Type != "float" || m.Unit != "Cel" || m.Namespace != "plant" || m.Device != "thermo" || m.Property != "temperature" {
				t.Fatalf("sample at %d arrived as %+v, want value %s", s.Time, m, v)
			}
			j++
			continue
		}
		missing++
		if os.Getenv("SINKTEST_DEBUG") != "" {
			t.Logf("missing %d", s.Time/1e6)
		}
	}
	if os.Getenv("SINKTEST_DEBUG") != "" {
		for _, m := range got {
			t.Logf("got %d", m.Timestamp)
		}
	}
	if j != len(uniq) {
		t.Fatalf("%d messages match no sample of the ring", len(uniq)-j)
	}
	return missing
}
