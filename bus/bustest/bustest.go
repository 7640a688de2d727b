// Package bustest helps the tests of the bus/* packages: it builds configData
// as it reaches drivers (every number a bus.Number, since EdgeCore sends each
// JSON number as a float32 FloatValue; strings and booleans as themselves),
// opens, reads and writes devices, and runs a device manager.
package bustest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/crd"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// DevicePath is the path of a device's configData in error messages.
const DevicePath = "spec.protocol.configData"

// PropertyPath is the path of a property's visitor configData.
func PropertyPath(name string) string {
	return "spec.properties[" + name + "].visitors.configData"
}

// Config builds a Config at path from key, value pairs. Values may be int,
// float64, string or bool; anything else panics, since it is a broken test.
func Config(path string, kv ...any) bus.Config {
	c := bus.Config{Path: path, Values: map[string]bus.Value{}}
	for i := 0; i+1 < len(kv); i += 2 {
		var v bus.Value
		switch x := kv[i+1].(type) {
		case float64:
			v = bus.NumberValue(x)
		case int:
			v = bus.NumberValue(float64(x))
		case string:
			v = bus.StringValue(x)
		case bool:
			v = bus.BoolValue(x)
		default:
			panic(fmt.Sprintf("bustest.Config: %s: unsupported value %T", kv[i], x))
		}
		c.Values[kv[i].(string)] = v
	}
	return c
}

// Open opens a device with d and closes it when the test ends.
func Open(t testing.TB, d bus.Driver, dev bus.Config, props ...bus.PropertyConfig) bus.Device {
	t.Helper()
	opened, err := d.Open(bus.DeviceConfig{Name: "default/test", Config: dev, Properties: props})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { opened.Close() })
	return opened
}

// Read reads p, failing the test on an error.
func Read(t testing.TB, p bus.Point) float64 {
	t.Helper()
	v, err := p.Read()
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return v
}

// Write writes v through p, which must be a bus.Writer, failing the test on
// an error.
func Write(t testing.TB, p bus.Point, v float64) {
	t.Helper()
	w, ok := p.(bus.Writer)
	if !ok {
		t.Fatal("point is not a bus.Writer")
	}
	if err := w.Write(v); err != nil {
		t.Fatalf("Write(%v): %v", v, err)
	}
}

// RunManager runs a device manager with drivers until the test ends.
func RunManager(t testing.TB, drivers ...bus.Driver) *device.Manager {
	t.Helper()
	m := device.NewManager(device.Options{History: 64}, drivers...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

// Latest returns the newest sample of a property of a device in "default".
func Latest(m *device.Manager, dev, prop string) (ringbuf.Sample, bool) {
	var s ringbuf.Sample
	p, ok := m.Property("default", dev, prop)
	if !ok {
		return s, false
	}
	return s, p.Ring.Latest(&s)
}

// WaitFor polls cond until it holds, failing the test after 10 s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// LatestValue waits until a property of a device in "default" has a good
// sample for which ok holds, and returns it.
func LatestValue(t testing.TB, m *device.Manager, dev, prop string, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var s ringbuf.Sample
	for {
		pv, found := m.Property("default", dev, prop)
		if found && pv.Ring.Latest(&s) && s.Err == 0 && ok(s.Value) {
			return s.Value
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s: no good sample in time (found %v, latest %+v, last error %q)", dev, prop, found, s, pv.LastError)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Deploy loads an example CRD file and puts its models and devices into m,
// failing the test on a load error, a warning, an empty file or a refused
// object. It returns what the file held.
func Deploy(t testing.TB, m *device.Manager, path string) crd.Set {
	t.Helper()
	set, err := crd.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Warnings) > 0 {
		t.Errorf("%s: warnings: %q", path, set.Warnings)
	}
	if len(set.Devices) == 0 {
		t.Fatalf("%s: no devices", path)
	}
	for _, model := range set.Models {
		if err := m.PutModel(model); err != nil {
			t.Fatalf("%s: model %s: %v", path, model.Name, err)
		}
	}
	for _, d := range set.Devices {
		if err := m.PutDevice(d); err != nil {
			t.Fatalf("%s: device %s: %v", path, d.Name, err)
		}
	}
	return set
}

// FuzzValue turns fuzzed input into a configData value the way EdgeCore
// could send it: kind%4 is 0 for absent (ok false), 1 for a number, 2 for a
// string, 3 for a boolean (num != 0).
func FuzzValue(kind uint8, num float64, str string) (v bus.Value, ok bool) {
	switch kind % 4 {
	case 1:
		return bus.NumberValue(num), true
	case 2:
		return bus.StringValue(str), true
	case 3:
		return bus.BoolValue(num != 0), true
	}
	return bus.Value{}, false
}
