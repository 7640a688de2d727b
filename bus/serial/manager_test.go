package serial_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/serial"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/devicetest"
)

// These tests run the serial driver the way the mapper does: through the
// device manager's bus workers, against the sim board's line sensor.

// runManager runs a device manager with drivers until the test ends.
var runManager = devicetest.RunManager

// latestValue waits for a good sample for which ok holds.
var latestValue = devicetest.LatestValue

func anyValue(float64) bool { return true }

func TestSensorThroughTheDeviceManager(t *testing.T) {
	m := runManager(t, serial.Driver{})
	err := m.PutModel(device.Model{Name: "th", Properties: []device.ModelProperty{
		{Name: "temperature", Type: device.TypeFloat, AccessMode: device.ReadOnly},
		{Name: "humidity", Type: device.TypeFloat, AccessMode: device.ReadOnly},
		{Name: "setpoint", Type: device.TypeFloat, AccessMode: device.ReadWrite, Minimum: "-40", Maximum: "125"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	visitor := func(kv ...any) bus.Config { return config("v", kv...) }
	spec := device.Device{Name: "th-1", Model: "th", Protocol: "serial",
		Config: config(devicePath, "port", "/dev/ttyACM0", "eol", `\r\n`),
		Properties: []device.Property{
			{Name: "temperature", CollectCycle: 50 * time.Millisecond, Visitor: visitor("pattern", `T=(-?\d+\.\d)`, "maxAgeMs", 3000)},
			{Name: "humidity", CollectCycle: 50 * time.Millisecond, Visitor: visitor("command", "READ?", "pattern", `H=(\d+\.\d)`)},
			{Name: "setpoint", CollectCycle: 100 * time.Millisecond, Desired: "25.5",
				Visitor: visitor("command", "SP?", "pattern", `^SP=(-?[\d.]+)$`, "writeCommand", "SP={value}", "writeAck", "^OK$")},
		}}
	if err := m.PutDevice(spec); err != nil {
		t.Fatal(err)
	}
	if v := latestValue(t, m, "th-1", "temperature", anyValue); v < 20 || v > 25 {
		t.Errorf("temperature %v, want within [20, 25]", v)
	}
	if v := latestValue(t, m, "th-1", "humidity", anyValue); v < 35 || v > 55 {
		t.Errorf("humidity %v, want within [35, 55]", v)
	}
	is := func(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
	latestValue(t, m, "th-1", "setpoint", is(25.5))

	// A desired value set later is written and read back.
	if err := m.SetDesired("default", "th-1", "setpoint", "19"); err != nil {
		t.Fatal(err)
	}
	latestValue(t, m, "th-1", "setpoint", is(19))
	twins, _, ok := m.Twins("default", "th-1")
	if !ok {
		t.Fatal("no twins for th-1")
	}
	found := false
	for _, tw := range twins {
		if tw.Property == "setpoint" {
			found = true
			if tw.ObservedDesired != "19" {
				t.Errorf("setpoint twin observedDesired %q, want 19", tw.ObservedDesired)
			}
		}
	}
	if !found {
		t.Errorf("twins %+v have no setpoint", twins)
	}
}

func TestSerialExampleCRDRunsOnTheSim(t *testing.T) {
	m := runManager(t, serial.Driver{})
	set := devicetest.Deploy(t, m, "../../deploy/examples/serial.yaml")
	for _, d := range set.Devices {
		for _, p := range d.Properties {
			v := latestValue(t, m, d.Name, p.Name, anyValue)
			if p.Desired != "" {
				want, err := strconv.ParseFloat(p.Desired, 64)
				if err != nil {
					t.Fatalf("%s/%s: desired %q: %v", d.Name, p.Name, p.Desired, err)
				}
				v = latestValue(t, m, d.Name, p.Name, func(v float64) bool { return v == want })
			}
			t.Logf("%s/%s = %v", d.Name, p.Name, v)
		}
	}
}
