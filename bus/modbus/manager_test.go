package modbus_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/modbus"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/crd"
	"github.com/tinymapper/tinymapper/device/devicetest"
)

// These tests run the Modbus driver the way the mapper does: through the
// device manager's bus worker (which reads due points of one device with
// ReadPoints), against the sim board's slaves.

func runManager(t *testing.T) *device.Manager {
	t.Helper()
	t.Cleanup(func() { // after the manager stops: the sim's slaves back to power-on
		for _, s := range simBoard.Slaves {
			s.Reset()
		}
	})
	return devicetest.RunManager(t, modbus.Driver{}) // stops first: cleanups run last in, first out
}

// latestValue waits for a good sample for which ok holds.
var latestValue = devicetest.LatestValue

func in(lo, hi float64) func(float64) bool { return func(v float64) bool { return v >= lo && v <= hi } }
func is(want float64) func(float64) bool   { return func(v float64) bool { return v == want } }

func TestSlavesThroughTheDeviceManager(t *testing.T) {
	m := runManager(t)
	err := m.PutModel(device.Model{Name: "ctl", Properties: []device.ModelProperty{
		{Name: "temperature", Type: device.TypeFloat, AccessMode: device.ReadOnly},
		{Name: "humidity", Type: device.TypeFloat, AccessMode: device.ReadOnly},
		{Name: "outdoor", Type: device.TypeFloat, AccessMode: device.ReadOnly},
		{Name: "setpoint", Type: device.TypeFloat, AccessMode: device.ReadWrite, Minimum: "5", Maximum: "35"},
		{Name: "relay", Type: device.TypeBoolean, AccessMode: device.ReadWrite},
		{Name: "feedback", Type: device.TypeBoolean, AccessMode: device.ReadOnly},
	}})
	if err != nil {
		t.Fatal(err)
	}
	v := func(kv ...any) bus.Config { return config("v", kv...) }
	every := 50 * time.Millisecond
	for _, id := range []int{1, 2} {
		spec := device.Device{Name: "ctl-" + string(rune('0'+id)), Model: "ctl", Protocol: "modbus-rtu",
			Config: config(devicePath, "port", "/dev/ttyUSB0", "slaveID", id, "baudRate", 19200, "parity", "even"),
			Properties: []device.Property{
				{Name: "temperature", CollectCycle: every, Visitor: v("register", "InputRegister", "offset", 0, "dataType", "int16", "scale", 0.1)},
				{Name: "humidity", CollectCycle: every, Visitor: v("register", "InputRegister", "offset", 1, "scale", 0.1)},
				{Name: "outdoor", CollectCycle: every, Visitor: v("register", "InputRegister", "offset", 7, "dataType", "int16", "scale", 0.1)},
				{Name: "setpoint", CollectCycle: every, Desired: "23.5", Visitor: v("register", "HoldingRegister", "offset", 0, "dataType", "int16", "scale", 0.1)},
				{Name: "relay", CollectCycle: every, Desired: "true", Visitor: v("register", "CoilRegister", "offset", 5)},
				{Name: "feedback", CollectCycle: every, Visitor: v("register", "DiscreteInputRegister", "offset", 5)},
			}}
		if err := m.PutDevice(spec); err != nil {
			t.Fatal(err)
		}
	}
	for _, dev := range []string{"ctl-1", "ctl-2"} {
		latestValue(t, m, dev, "temperature", in(20, 25))
		latestValue(t, m, dev, "humidity", in(35, 55))
		latestValue(t, m, dev, "outdoor", in(-15, 5))
		latestValue(t, m, dev, "setpoint", is(23.5))
		latestValue(t, m, dev, "relay", is(1))
		latestValue(t, m, dev, "feedback", is(1))
	}
	// A desired value set later on one slave is written to that slave only.
	if err := m.SetDesired("default", "ctl-2", "setpoint", "18"); err != nil {
		t.Fatal(err)
	}
	latestValue(t, m, "ctl-2", "setpoint", is(18))
	if got := int16(simBoard.Slaves[0].Holding(0)); got != 235 {
		t.Errorf("slave 1 setpoint register %d, want 235 still", got)
	}
	if err := m.SetDesired("default", "ctl-1", "relay", "false"); err != nil {
		t.Fatal(err)
	}
	latestValue(t, m, "ctl-1", "feedback", is(0))
	if simBoard.Slaves[1].Coil(5) != true {
		t.Error("slave 2's relay changed with slave 1's")
	}
	if simBoard.Slaves[0].CRCErrors()+simBoard.Slaves[1].CRCErrors() != 0 {
		t.Error("the slaves saw CRC errors: frames were interleaved")
	}
	if err := m.SetDesired("default", "ctl-1", "humidity", "50"); err == nil {
		t.Error("a desired value on a ReadOnly property was accepted")
	}
}

func TestModbusExampleCRDRunsOnTheSim(t *testing.T) {
	m := runManager(t)
	set := devicetest.Deploy(t, m, "../../deploy/examples/modbus.yaml")
	if len(set.Devices) != 2 {
		t.Fatalf("%d devices in the example, want 2", len(set.Devices))
	}
	anyValue := func(float64) bool { return true }
	for _, d := range set.Devices {
		for _, p := range d.Properties {
			ok := anyValue
			if p.Desired != "" {
				want, err := device.ParseValue(typeOf(set, p.Name), p.Desired)
				if err != nil {
					t.Fatal(err)
				}
				ok = is(want)
			}
			t.Logf("%s/%s = %v", d.Name, p.Name, latestValue(t, m, d.Name, p.Name, ok))
		}
	}
	latestValue(t, m, "env-controller-01", "alarm-feedback", is(1))
	latestValue(t, m, "env-controller-01", "temperature", in(20, 25))
	latestValue(t, m, "env-controller-01", "pressure", in(1008.25, 1018.25))
}

func typeOf(set crd.Set, prop string) string {
	for _, m := range set.Models {
		for _, p := range m.Properties {
			if p.Name == prop {
				return p.Type
			}
		}
	}
	return ""
}

// A Device and DeviceModel written as KubeEdge's modbus mapper wants them
// (dataType "float" with limit 1 and a scale, communicateMode, visitor
// max/min) run with only the protocol name changed, and the keys that mean
// nothing here are each warned about once.
func TestAKubeEdgeStyleModbusCRDRunsOnTheSim(t *testing.T) {
	m := runManager(t)
	set := devicetest.Deploy(t, m, "../../deploy/examples/modbus-kubeedge.yaml")
	if len(set.Devices) != 1 {
		t.Fatalf("%d devices in the example, want 1", len(set.Devices))
	}
	latestValue(t, m, "temperature-sensor", "temperature", in(20, 25))
	latestValue(t, m, "temperature-sensor", "heater-switch", is(1))
	d := set.Devices[0]
	dev, err := modbus.Driver{}.Open(bus.DeviceConfig{Name: "default/kubeedge-style", Config: d.Config,
		Properties: []bus.PropertyConfig{
			{Name: "temperature", Type: "FLOAT", Config: d.Properties[0].Visitor},
			{Name: "heater-switch", Type: "INT", Writable: true, Config: d.Properties[1].Visitor},
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	w := dev.(bus.Warner).Warnings()
	want := []string{"configData.communicateMode: KubeEdge's modbus mapper key", "configData.max: KubeEdge's modbus mapper key", "configData.min: KubeEdge's modbus mapper key"}
	if len(w) != len(want) {
		t.Fatalf("warnings %q, want one per leftover key: %q", w, want)
	}
	for i := range want {
		if !strings.Contains(w[i], want[i]) {
			t.Errorf("warning %d = %q, want %q", i, w[i], want[i])
		}
	}
}
