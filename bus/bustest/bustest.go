// Package bustest helps the tests of the bus/* packages: it builds configData
// as it reaches drivers (every number a bus.Number, since EdgeCore sends each
// JSON number as a float32 FloatValue; strings and booleans as themselves),
// and opens, reads and writes devices. It depends on bus only; tests that
// run a driver through a device manager use device/devicetest.
package bustest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tinymapper/tinymapper/bus"
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

// Refused opens cfg with d, which must refuse it with a *bus.FieldError
// (the error naming the field), and returns that error. A device that opens
// is closed, and fails the test.
func Refused(t testing.TB, d bus.Driver, cfg bus.DeviceConfig) *bus.FieldError {
	t.Helper()
	opened, err := d.Open(cfg)
	if err == nil {
		opened.Close()
		t.Fatal("Open succeeded, want an error naming the field")
	}
	var fe *bus.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Open error %v is not a *bus.FieldError", err)
	}
	return fe
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
