package spi_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim/mcp3008"
	"github.com/tinymapper/tinymapper/bus/spi"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/devicetest"
	"github.com/tinymapper/tinymapper/internal/await"
)

// manager runs a device manager with the spi driver until the test ends.
func manager(t *testing.T) *device.Manager { return devicetest.RunManager(t, spi.Driver{}) }

var latest, waitFor = devicetest.Latest, await.Until

func TestMCP3008ThroughTheDeviceManager(t *testing.T) {
	m := manager(t)
	model := device.Model{Namespace: "default", Name: "mcp3008"}
	dev := device.Device{Namespace: "default", Name: "adc", Model: "mcp3008", Protocol: "spi",
		Config: config(devicePath, "bus", 0, "speedHz", 1000000, "mode", 0)}
	want := map[string][2]float64{
		"ch0": {0, 1023}, "ch1": {512, 512}, "ch2": {0, 1023}, "ch3": {0, 0},
		"ch4": {1023, 1023}, "ch5": {256, 256}, "ch6": {768, 768}, "ch7": {341, 341},
		"ch1-volts": {1.65, 1.65},
	}
	for ch := 0; ch < 8; ch++ {
		name := fmt.Sprintf("ch%d", ch)
		model.Properties = append(model.Properties, device.ModelProperty{Name: name, Type: device.TypeInt, AccessMode: device.ReadOnly})
		dev.Properties = append(dev.Properties, device.Property{Name: name, CollectCycle: 10 * time.Millisecond,
			Visitor: channel(ch).Config})
	}
	model.Properties = append(model.Properties, device.ModelProperty{Name: "ch1-volts", Type: device.TypeFloat, AccessMode: device.ReadOnly})
	dev.Properties = append(dev.Properties, device.Property{Name: "ch1-volts", CollectCycle: 10 * time.Millisecond,
		Visitor: channel(1, "scale", 3.3/1024).Config})
	if err := m.PutModel(model); err != nil {
		t.Fatal(err)
	}
	if err := m.PutDevice(dev); err != nil {
		t.Fatal(err)
	}
	for name, r := range want {
		waitFor(t, name+" sampled", func() bool { _, ok := latest(m, "adc", name); return ok })
		s, _ := latest(m, "adc", name)
		if s.Err != 0 || s.Value < r[0] || s.Value > r[1] {
			p, _ := m.Property("default", "adc", name)
			t.Errorf("%s = %v (err %d %q), want %v..%v", name, s.Value, s.Err, p.LastError, r[0], r[1])
		}
	}
	waitFor(t, "device online", func() bool { v, _ := m.Device("default", "adc"); return v.State == device.StateOnline })
}

func TestDesiredValueIsWrittenThroughTheManager(t *testing.T) {
	m := manager(t)
	model := device.Model{Namespace: "default", Name: "dac", Properties: []device.ModelProperty{
		{Name: "volts", Type: device.TypeFloat, AccessMode: device.ReadWrite, Minimum: "0", Maximum: "3.3"}}}
	dev := device.Device{Namespace: "default", Name: "dac", Model: "dac", Protocol: "spi",
		Config: config(devicePath, "bus", recPort),
		Properties: []device.Property{{Name: "volts", Desired: "1.65", CollectCycle: time.Hour,
			Visitor: config("v", "writeTx", "{0x30|value>>8} {value}", "dataType", "uint16", "mask", "0xFFF", "scale", 3.3/4096)}}}
	if err := m.PutModel(model); err != nil {
		t.Fatal(err)
	}
	if err := m.PutDevice(dev); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "1.65 V read back", func() bool { s, ok := latest(m, "dac", "volts"); return ok && s.Value == 1.65 })
	if got := rec.last(); string(got) != "\x38\x00" {
		t.Errorf("sent % x, want 38 00", got)
	}
	if err := m.SetDesired("default", "dac", "volts", "0.825"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "0.825 V read back", func() bool { s, ok := latest(m, "dac", "volts"); return ok && s.Value == 0.825 })
	if got := rec.last(); string(got) != "\x34\x00" {
		t.Errorf("sent % x, want 34 00", got)
	}
}

func TestExampleCRDReadsTheSimsDocumentedValues(t *testing.T) {
	m := manager(t)
	set := devicetest.Deploy(t, m, "../../deploy/examples/spi.yaml")
	for _, d := range set.Devices {
		waitFor(t, d.Name+" online", func() bool { v, _ := m.Device(d.Namespace, d.Name); return v.State == device.StateOnline })
	}
	const volt = mcp3008.VRef / 1024 // one code
	sample := func(prop string) (float64, time.Time) {
		devicetest.LatestValue(t, m, "adc", prop, func(float64) bool { return true })
		s, _ := latest(m, "adc", prop)
		return s.Value, time.Unix(0, s.Time)
	}
	// Constant channels: exactly their codes.
	if v, _ := sample("supply-half"); v != float64(mcp3008.Code(1, time.Now()))*volt || math.Abs(v-1.65) > 1e-12 {
		t.Errorf("supply-half = %v V, want channel 1's code 512 in volts: 1.65", v)
	}
	if v, _ := sample("bridge"); v != float64(mcp3008.Code(4, time.Now())-mcp3008.Code(5, time.Now())) || v != 767 {
		t.Errorf("bridge = %v, want CH4 − CH5 = 1023 − 256 = 767", v)
	}
	// Moving channels: their functions at the sample's time, within the
	// few codes they move while the transaction runs.
	if v, at := sample("pot"); math.Abs(v-float64(mcp3008.Code(0, at))) > 3 {
		t.Errorf("pot = %v at %v, want the 10 s triangle's %d", v, at, mcp3008.Code(0, at))
	}
	if v, at := sample("sensor"); math.Abs(v/volt-float64(mcp3008.Code(2, at))) > 1 || v < 0 || v > mcp3008.VRef {
		t.Errorf("sensor = %v V at %v, want the 60 s sine's code %d in volts", v, at, mcp3008.Code(2, at))
	}
}
