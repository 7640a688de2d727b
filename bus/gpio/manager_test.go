package gpio_test

import (
	"math"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/pins"
	"github.com/tinymapper/tinymapper/bus/gpio"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/devicetest"
	"github.com/tinymapper/tinymapper/internal/await"
)

// manager runs a device manager with the gpio driver until the test ends.
func manager(t *testing.T) *device.Manager { return devicetest.RunManager(t, gpio.Driver{}) }

var latest, waitFor = devicetest.Latest, await.Until

func loopbackDevice(desired string, collect time.Duration) device.Device {
	return device.Device{Namespace: "default", Name: "loop", Model: "loop", Protocol: "gpio",
		Properties: []device.Property{
			{Name: "relay", Desired: desired, CollectCycle: collect, Visitor: config("v", "pin", "P1_11", "mode", "output")},
			{Name: "sense", CollectCycle: 10 * time.Millisecond, Visitor: config("v", "pin", "P1_13", "pull", "down")},
			{Name: "pulses", CollectCycle: 50 * time.Millisecond, Visitor: config("v", "pin", "GPIO22", "mode", "counter")},
		}}
}

func TestLoopbackThroughTheDeviceManager(t *testing.T) {
	m := manager(t)
	if err := m.PutModel(device.Model{Namespace: "default", Name: "loop", Properties: []device.ModelProperty{
		{Name: "relay", Type: device.TypeBoolean, AccessMode: device.ReadWrite},
		{Name: "sense", Type: device.TypeBoolean, AccessMode: device.ReadOnly},
		{Name: "pulses", Type: device.TypeInt, AccessMode: device.ReadOnly},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := m.PutDevice(loopbackDevice("true", 10*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the input to read 1", func() bool { s, ok := latest(m, "loop", "sense"); return ok && s.Value == 1 })
	waitFor(t, "the output to read back 1", func() bool { s, ok := latest(m, "loop", "relay"); return ok && s.Value == 1 })
	if err := m.SetDesired("default", "loop", "relay", "false"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the input to read 0", func() bool { s, ok := latest(m, "loop", "sense"); return ok && s.Value == 0 })
	waitFor(t, "the output to read back 0", func() bool { s, ok := latest(m, "loop", "relay"); return ok && s.Value == 0 })
	if sim.GPIO17.Dir() != pins.Output {
		t.Errorf("GPIO17 is %s after the manager read it back, want an output", sim.GPIO17.Dir())
	}

	// An update that reopens the device keeps the output's level and the count.
	m.SetDesired("default", "loop", "relay", "true")
	waitFor(t, "the input to read 1", func() bool { s, ok := latest(m, "loop", "sense"); return ok && s.Value == 1 })
	waitFor(t, "some pulses", func() bool { s, ok := latest(m, "loop", "pulses"); return ok && s.Value >= 5 })
	before, _ := latest(m, "loop", "pulses")
	requests := sim.GPIO17.InputRequests()
	if err := m.PutDevice(loopbackDevice("true", 20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a count after the update", func() bool {
		s, ok := latest(m, "loop", "pulses")
		return ok && s.Time > before.Time
	})
	if after, _ := latest(m, "loop", "pulses"); after.Value < before.Value {
		t.Errorf("the count went from %v to %v across an update", before.Value, after.Value)
	}
	if s, _ := latest(m, "loop", "sense"); s.Value != 1 || sim.GPIO17.InputRequests() != requests {
		t.Errorf("after the update the input reads %v (want 1) and GPIO17 was requested as an input %d times (want 0)",
			s.Value, sim.GPIO17.InputRequests()-requests)
	}
	waitFor(t, "device online", func() bool { v, _ := m.Device("default", "loop"); return v.State == device.StateOnline })
	if sim.GPIO22.NegativeWaits() != 0 {
		t.Error("WaitForEdge was called with a negative timeout")
	}
}

func TestExampleCRDsReadTheSimsDocumentedValues(t *testing.T) {
	m := manager(t)
	set := devicetest.Deploy(t, m, "../../deploy/examples/gpio.yaml")
	for _, d := range set.Devices {
		waitFor(t, d.Name+" online", func() bool { v, _ := m.Device(d.Namespace, d.Name); return v.State == device.StateOnline })
	}
	is := func(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

	// pump-relay: GPIO17 drives GPIO27, so the feedback contact follows the
	// relay, from the example's desired value on.
	devicetest.LatestValue(t, m, "pump-relay", "relay", is(1))
	devicetest.LatestValue(t, m, "pump-relay", "closed", is(1))
	for _, v := range []string{"false", "true"} {
		if err := m.SetDesired("default", "pump-relay", "relay", v); err != nil {
			t.Fatal(err)
		}
		want := map[string]float64{"false": 0, "true": 1}[v]
		devicetest.LatestValue(t, m, "pump-relay", "relay", is(want))
		devicetest.LatestValue(t, m, "pump-relay", "closed", is(want))
	}

	// flow-meter: GPIO22's pulse, one rising edge per PulsePeriod.
	hz := float64(time.Second) / float64(sim.PulsePeriod)
	devicetest.LatestValue(t, m, "flow-meter", "rate", func(v float64) bool { return math.Abs(v-hz) <= 1 })
	first := devicetest.LatestValue(t, m, "flow-meter", "pulses", func(v float64) bool { return v > 0 })
	s1, _ := latest(m, "flow-meter", "pulses")
	devicetest.LatestValue(t, m, "flow-meter", "pulses", func(v float64) bool { return v > first+hz })
	s2, _ := latest(m, "flow-meter", "pulses")
	dt := time.Duration(s2.Time - s1.Time).Seconds()
	if rate := (s2.Value - s1.Value) / dt; math.Abs(rate-hz) > 2/dt {
		t.Errorf("pulses went from %v to %v in %.1f s: %.1f Hz, want %v", s1.Value, s2.Value, dt, rate, hz)
	}
}
