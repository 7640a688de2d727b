package gpio_test

import (
	"testing"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/gpio"
)

// FuzzGPIOConfig opens devices of two properties from fuzzed configData:
// Open must return a device or a *bus.FieldError, never panic, and an opened
// device must read, write and close without panicking.
func FuzzGPIOConfig(f *testing.F) {
	f.Add("GPIO17", 0.0, uint8(2), "output", "", "", "", uint8(0), 1.0, uint8(1), 0.0, uint8(0), true, "GPIO27", "input")
	f.Add("", 22.0, uint8(1), "counter", "down", "both", "frequency", uint8(3), 0.0, uint8(0), 500.0, uint8(1), false, "P1_15", "counter")
	f.Add("gpiochip0/4", 0.0, uint8(2), "input", "up", "", "", uint8(3), 1.0, uint8(0), 0.0, uint8(0), true, "GPIO4", "input")
	f.Add("GPIO99", 17.5, uint8(1), "pwm", "sideways", "up", "speed", uint8(2), 2.0, uint8(1), 5.0, uint8(1), true, "", "")
	f.Add("P1_11", -1.0, uint8(3), "output", "up", "rising", "count", uint8(1), 0.5, uint8(2), 1e30, uint8(2), false, "GPIO17", "output")
	f.Fuzz(func(t *testing.T, pin string, num float64, pinKind uint8, mode, pull, edge, measure string,
		activeLowKind uint8, initial float64, initialKind uint8, window float64, windowKind uint8,
		writable bool, pin2, mode2 string) {
		c := bus.Config{Path: "p", Values: map[string]bus.Value{}}
		if v, ok := bustest.FuzzValue(pinKind, num, pin); ok {
			c.Values["pin"] = v
		}
		for k, s := range map[string]string{"mode": mode, "pull": pull, "edge": edge, "measure": measure} {
			if s != "" {
				c.Values[k] = bus.StringValue(s)
			}
		}
		if v, ok := bustest.FuzzValue(activeLowKind, initial, pull); ok {
			c.Values["activeLow"] = v
		}
		if v, ok := bustest.FuzzValue(initialKind, initial, measure); ok {
			c.Values["initial"] = v
		}
		if v, ok := bustest.FuzzValue(windowKind, window, edge); ok {
			c.Values["windowMs"] = v
		}
		props := []bus.PropertyConfig{{Name: "a", Writable: writable, Config: c}}
		if pin2 != "" {
			c2 := bus.Config{Path: "q", Values: map[string]bus.Value{"pin": bus.StringValue(pin2)}}
			if mode2 != "" {
				c2.Values["mode"] = bus.StringValue(mode2)
			}
			props = append(props, bus.PropertyConfig{Name: "b", Writable: !writable, Config: c2})
		}
		d, err := gpio.Driver{}.Open(bus.DeviceConfig{Name: "fuzz", Config: bus.Config{Path: "d"}, Properties: props})
		if err != nil {
			if _, ok := err.(*bus.FieldError); !ok {
				t.Fatalf("Open error %v is not a *bus.FieldError", err)
			}
			return
		}
		for _, p := range d.Points() {
			p.Read()
			if w, ok := p.(bus.Writer); ok {
				w.Write(initial)
				w.Write(1)
				p.Read()
			}
		}
		if err := d.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}
