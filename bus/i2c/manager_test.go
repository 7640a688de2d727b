package i2c_test

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim/tmp102"
	"github.com/tinymapper/tinymapper/bus/i2c"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/crd"
	"github.com/tinymapper/tinymapper/device/devicetest"
	"github.com/tinymapper/tinymapper/internal/await"
)

// desired returns the desired value the example gives a property.
func desired(t *testing.T, set crd.Set, dev, prop string) float64 {
	t.Helper()
	for _, d := range set.Devices {
		for _, p := range d.Properties {
			if d.Name == dev && p.Name == prop {
				v, err := strconv.ParseFloat(p.Desired, 64)
				if err != nil {
					t.Fatalf("%s/%s: desired %q: %v", dev, prop, p.Desired, err)
				}
				return v
			}
		}
	}
	t.Fatalf("the example has no %s/%s", dev, prop)
	return 0
}

func TestExampleCRDReadsAndWritesTheSimsParts(t *testing.T) {
	m := devicetest.RunManager(t, i2c.Driver{})
	set := devicetest.Deploy(t, m, "../../deploy/examples/i2c.yaml")
	anyValue := func(float64) bool { return true }

	// room-sensor: the TMP102's temperature, T(t) of the sim's README.
	devicetest.LatestValue(t, m, "room-sensor", "temperature", anyValue)
	s, _ := devicetest.Latest(m, "room-sensor", "temperature")
	if s.Value < 20 || s.Value > 25 || s.Value/tmp102.Resolution != math.Trunc(s.Value/tmp102.Resolution) {
		t.Errorf("temperature %v °C, want a multiple of %v in the documented 20..25", s.Value, tmp102.Resolution)
	}
	if want := tmp102.Temperature(time.Unix(0, s.Time)); math.Abs(s.Value-want) > 2*tmp102.Resolution {
		t.Errorf("temperature %v °C at %v, want T(t) = %v", s.Value, time.Unix(0, s.Time), want)
	}

	// Desired values are written at start and read back.
	high := desired(t, set, "room-sensor", "high-limit")
	boot := desired(t, set, "config-eeprom", "boot-count")
	devicetest.LatestValue(t, m, "room-sensor", "high-limit", func(v float64) bool { return v == high })
	devicetest.LatestValue(t, m, "config-eeprom", "boot-count", func(v float64) bool { return v == boot })

	// THIGH is a 12-bit field (shift 4) of a 16-bit register: a new
	// desired value is written read-modify-write and read back, and the
	// register holds it left-justified.
	const newHigh = 31.5
	if err := m.SetDesired("default", "room-sensor", "high-limit", strconv.FormatFloat(newHigh, 'f', -1, 64)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.SetDesired("default", "room-sensor", "high-limit", strconv.FormatFloat(high, 'f', -1, 64)) })
	devicetest.LatestValue(t, m, "room-sensor", "high-limit", func(v float64) bool { return v == newHigh })
	raw := open(t, config(devicePath, "address", tmp102.Address), property("thigh", false, "register", tmp102.RegTHigh, "dataType", "uint16"))
	if v, want := read(t, raw.Points()[0]), float64(int(newHigh/tmp102.Resolution)<<4); v != want {
		t.Errorf("THIGH register = %#x after high-limit %v, want %#x", int(v), newHigh, int(want))
	}
	for _, d := range set.Devices {
		await.Until(t, d.Name+" online", func() bool { v, _ := m.Device(d.Namespace, d.Name); return v.State == device.StateOnline })
	}
}
