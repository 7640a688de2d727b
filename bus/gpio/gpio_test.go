package gpio_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/pins"
	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/gpio"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/devicetest"
	"github.com/tinymapper/tinymapper/internal/await"
)

// These tests run against the simulated board's pins, reached the way the
// mapper reaches them: gpio.Driver → hal.Pin → periph's gpioreg → board/sim.
// GPIO17 is wired to GPIO27, GPIO22 pulses at 10 Hz, GPIO4 reads its pull.
// The sim pins behave like periph's gpioioctl lines, traps included.

func TestMain(m *testing.M) {
	if err := sim.Register(); err != nil {
		fmt.Fprintln(os.Stderr, "register the sim board:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// config builds configData as EdgeCore sends it (see bustest).
var config = bustest.Config

const devicePath = bustest.DevicePath

func property(name string, writable bool, kv ...any) bus.PropertyConfig {
	return bus.PropertyConfig{
		Name: name, Writable: writable,
		Config: config(bustest.PropertyPath(name), kv...),
	}
}

func open(t testing.TB, props ...bus.PropertyConfig) bus.Device {
	t.Helper()
	d, err := gpio.Driver{}.Open(bus.DeviceConfig{Name: "default/test", Config: config(devicePath), Properties: props})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// read and write fail the test on an error.
var read, write = bustest.Read, bustest.Write

func TestProtocolIsGPIO(t *testing.T) {
	if got := (gpio.Driver{}).Protocol(); got != "gpio" {
		t.Errorf("Protocol() = %q, want gpio", got)
	}
}

func TestLoopbackOutputDrivesTheInput(t *testing.T) {
	d := open(t,
		property("relay", true, "pin", "GPIO17", "mode", "output"),
		property("sense", false, "pin", "GPIO27", "mode", "input", "pull", "down"))
	relay, sense := d.Points()[0], d.Points()[1]
	for _, v := range []float64{1, 0, 1, 0} {
		write(t, relay, v)
		if got := read(t, sense); got != v {
			t.Errorf("output %v, input reads %v", v, got)
		}
		if got := read(t, relay); got != v {
			t.Errorf("output %v reads back %v", v, got)
		}
	}
}

func TestOutputReadBackDoesNotReconfigureTheLine(t *testing.T) {
	d := open(t,
		property("relay", true, "pin", "P1_11", "mode", "output"),
		property("sense", false, "pin", "P1_13"))
	relay, sense := d.Points()[0], d.Points()[1]
	write(t, relay, 1)
	requests := sim.GPIO17.InputRequests()
	for i := 0; i < 100; i++ {
		if v := read(t, relay); v != 1 {
			t.Fatalf("read back %v, want 1", v)
		}
	}
	if sim.GPIO17.Dir() != pins.Output {
		t.Errorf("GPIO17 is %s after reading it back, want still an output", sim.GPIO17.Dir())
	}
	if n := sim.GPIO17.InputRequests() - requests; n != 0 {
		t.Errorf("reading the output back requested the line as an input %d times", n)
	}
	if v := read(t, sense); v != 1 {
		t.Errorf("the wire reads %v after the read-backs, want 1: the output kept driving", v)
	}
}

func TestActiveLowInvertsReadsAndWrites(t *testing.T) {
	d := open(t,
		property("led", true, "pin", 17, "mode", "output", "activeLow", true),
		property("raw", false, "pin", 27),
		property("inverted", false, "pin", "27", "activeLow", "true"))
	led, raw, inv := d.Points()[0], d.Points()[1], d.Points()[2]
	if v := read(t, raw); v != 1 {
		t.Errorf("an active-low output that is off drives %v, want 1 (high)", v)
	}
	write(t, led, 1)
	if read(t, raw) != 0 || read(t, inv) != 1 || read(t, led) != 1 {
		t.Errorf("on: raw %v, inverted %v, read back %v; want 0, 1, 1", read(t, raw), read(t, inv), read(t, led))
	}
}

func TestInitialLevel(t *testing.T) {
	for _, tt := range []struct {
		initial any
		low     bool
		want    float64 // level on the wire
	}{
		{nil, false, 0},
		{0, false, 0},
		{1, false, 1},
		{true, false, 1},
		{"1", true, 0},
		{nil, true, 1},
	} {
		kv := []any{"pin", "GPIO17", "mode", "output", "activeLow", tt.low}
		if tt.initial != nil {
			kv = append(kv, "initial", tt.initial)
		}
		d, err := gpio.Driver{}.Open(bus.DeviceConfig{Config: config(devicePath), Properties: []bus.PropertyConfig{
			property("out", true, kv...), property("wire", false, "pin", "GPIO27")}})
		if err != nil {
			t.Fatal(err)
		}
		if v := read(t, d.Points()[1]); v != tt.want {
			t.Errorf("initial %v, activeLow %v: the wire is %v, want %v", tt.initial, tt.low, v, tt.want)
		}
		d.Close()
	}
}

func TestPullOfAnUnconnectedInput(t *testing.T) {
	for _, tt := range []struct {
		pull string
		low  bool
		want float64
	}{
		{"up", false, 1},
		{"down", false, 0},
		{"none", false, 0}, // floats: the sim reads low
		{"up", true, 0},
		{"down", true, 1},
	} {
		d := open(t, property("in", false, "pin", "P1_7", "pull", tt.pull, "activeLow", tt.low))
		if v := read(t, d.Points()[0]); v != tt.want {
			t.Errorf("pull %s activeLow %v reads %v, want %v", tt.pull, tt.low, v, tt.want)
		}
		if got := sim.GPIO4.Pull(); got.String() != map[string]string{"up": "PullUp", "down": "PullDown", "none": "Float"}[tt.pull] {
			t.Errorf("pull %s: the pin has %s", tt.pull, got)
		}
		d.Close()
	}
}

func TestEverySpellingOfAPinIsOneLine(t *testing.T) {
	for _, pin := range []any{"GPIO17", 17, 17.0, "17", "P1_11", "gpiochip0/17"} {
		d := open(t,
			property("out", true, "pin", pin, "mode", "output"),
			property("in", false, "pin", "GPIO27"))
		write(t, d.Points()[0], 1)
		if v := read(t, d.Points()[1]); v != 1 {
			t.Errorf("pin %#v: GPIO27 reads %v after writing 1", pin, v)
		}
		write(t, d.Points()[0], 0)
		if d.Bus() != "gpio" {
			t.Errorf("Bus() = %q, want gpio", d.Bus())
		}
		d.Close()
	}
}

func TestWritesThatAreNotALevelFail(t *testing.T) {
	w := open(t, property("out", true, "pin", "GPIO17", "mode", "output")).Points()[0].(bus.Writer)
	for _, v := range []float64{2, -1, 0.5, math.NaN()} {
		if err := w.Write(v); err == nil || !strings.Contains(err.Error(), "not 0 or 1") {
			t.Errorf("Write(%v) = %v, want not 0 or 1", v, err)
		}
	}
}

func TestOnlyReadWriteOutputsAndCountsAreWriters(t *testing.T) {
	d := open(t,
		property("ro-out", false, "pin", "GPIO17", "mode", "output"),
		property("rw-in", true, "pin", "GPIO4"),
		property("rw-count", true, "pin", "GPIO22", "mode", "counter"),
		property("rw-freq", true, "pin", "GPIO22", "mode", "counter", "measure", "frequency"))
	for i, want := range []bool{false, false, true, false} {
		if _, ok := d.Points()[i].(bus.Writer); ok != want {
			t.Errorf("point %d is a Writer: %v, want %v", i, ok, want)
		}
	}
}

// edges counts the rising edges (or both) of the sim's pulse in (from, to].
func edges(both bool, from, to time.Time) int {
	half := int64(sim.PulsePeriod / 2)
	n := 0
	for h := from.UnixNano()/half + 1; h <= to.UnixNano()/half; h++ {
		if both || h%2 == 0 {
			n++
		}
	}
	return n
}

func TestCounterCountsThePulse(t *testing.T) {
	for _, tt := range []struct {
		edge string
		both bool
	}{{"rising", false}, {"falling", false}, {"both", true}} {
		t.Run(tt.edge, func(t *testing.T) {
			before := time.Now()
			d := open(t, property("pulses", false, "pin", "GPIO22", "mode", "counter", "edge", tt.edge))
			after := time.Now()
			p := d.Points()[0]
			// Counted edges never run ahead of the clock, and catch up with it.
			time.Sleep(5 * sim.PulsePeriod)
			for {
				now := time.Now()
				v := read(t, p)
				if hi := edges(tt.both, before, time.Now()) + 1; v > float64(hi) {
					t.Fatalf("counted %v edges, but only %d happened", v, hi)
				}
				if lo := edges(tt.both, after, now) - 1; v >= float64(lo) && v > 0 {
					break
				}
				if time.Since(after) > 10*time.Second {
					t.Fatalf("counted %v edges, want about %d", v, edges(tt.both, after, now))
				}
				time.Sleep(sim.PulsePeriod / 4)
			}
			if sim.GPIO22.NegativeWaits() != 0 {
				t.Error("WaitForEdge was called with a negative timeout (false at once on gpioioctl)")
			}
		})
	}
}

func TestFrequencyOfThePulse(t *testing.T) {
	for _, edge := range []string{"rising", "both"} {
		t.Run(edge, func(t *testing.T) {
			d := open(t, property("hz", false, "pin", "GPIO22", "mode", "counter", "edge", edge,
				"measure", "frequency", "windowMs", 500))
			p := d.Points()[0]
			// Within 10 s some reading over a full window is within 1 Hz of 10 Hz.
			start := time.Now()
			for {
				time.Sleep(sim.PulsePeriod)
				v := read(t, p)
				if time.Since(start) > 600*time.Millisecond && math.Abs(v-10) <= 1 {
					return
				}
				if time.Since(start) > 10*time.Second {
					t.Fatalf("frequency %v Hz, want about 10", v)
				}
			}
		})
	}
}

func TestCountCanBeSetAndSharesItsPin(t *testing.T) {
	d := open(t,
		property("count", true, "pin", "GPIO22", "mode", "counter"),
		property("hz", false, "pin", "P1_15", "mode", "counter", "measure", "frequency"),
		property("level", false, "pin", "gpiochip0/22"))
	count := d.Points()[0]
	for _, set := range []float64{0, 1000, 7} {
		start := time.Now()
		write(t, count, set)
		v := read(t, count)
		// Edges since the write may be counted, and edges queued before it
		// that the counting goroutine had not taken yet.
		if most := set + float64(edges(false, start, time.Now())+pins.EventQueue); v < set || v > most {
			t.Errorf("count right after setting it to %v = %v, want %v..%v", set, v, set, most)
		}
	}
	if sim.GPIO22.Edge() != pgpio.RisingEdge {
		t.Errorf("the pin detects %s; the input sharing it must not turn edges off", sim.GPIO22.Edge())
	}
	for _, v := range []float64{-1, 0.5} {
		if err := count.(bus.Writer).Write(v); err == nil {
			t.Errorf("Write(%v) succeeded", v)
		}
	}
}

func TestCounterStopsWithItsLastDevice(t *testing.T) {
	d, err := gpio.Driver{}.Open(bus.DeviceConfig{Config: config(devicePath),
		Properties: []bus.PropertyConfig{property("n", false, "pin", "GPIO22", "mode", "counter", "edge", "both")}})
	if err != nil {
		t.Fatal(err)
	}
	p := d.Points()[0]
	waitFor(t, "a few edges", func() bool { v, _ := p.Read(); return v >= 3 })
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if sim.GPIO22.Edge() != pgpio.NoEdge {
		t.Errorf("after the last counter closed the pin detects %s, want NoEdge", sim.GPIO22.Edge())
	}
	v1, _ := p.Read()
	time.Sleep(3 * sim.PulsePeriod) // 6 edges
	if v2, _ := p.Read(); v2 != v1 {
		t.Errorf("the count went from %v to %v after Close", v1, v2)
	}
}

func TestBadConfigDataNamesTheField(t *testing.T) {
	const path = "spec.properties[p].visitors.configData"
	tests := []struct {
		name  string
		props []bus.PropertyConfig
		field string
		msg   string
	}{
		{"pin missing", ps("mode", "input"), path + ".pin", "is required"},
		{"pin fractional", ps("pin", 17.5), path + ".pin", "not a whole number"},
		{"pin negative", ps("pin", -1), path + ".pin", "out of range"},
		{"pin a boolean", ps("pin", true), path + ".pin", "not a pin name or number"},
		{"pin empty", ps("pin", " "), path + ".pin", "not a pin name or number"},
		{"pin unknown", ps("pin", "GPIO99"), path + ".pin", "no such GPIO pin"},
		{"pin unknown chip", ps("pin", "gpiochip9/1"), path + ".pin", "no GPIO chip"},
		{"pin that cannot drive", ps("pin", "GPIO22", "mode", "output"), path + ".pin", "can only be an input"},
		{"mode unknown", ps("pin", "GPIO4", "mode", "pwm"), path + ".mode", "not one of input, output, counter"},
		{"pull unknown", ps("pin", "GPIO4", "pull", "sideways"), path + ".pull", "not one of"},
		{"pull on an output", ps("pin", "GPIO17", "mode", "output", "pull", "up"), path + ".pull", "does not apply to an output"},
		{"activeLow not a bool", ps("pin", "GPIO4", "activeLow", "maybe"), path + ".activeLow", "not true or false"},
		{"initial on an input", ps("pin", "GPIO4", "initial", 1), path + ".initial", "mode output only"},
		{"initial not a level", ps("pin", "GPIO17", "mode", "output", "initial", 2), path + ".initial", "not 0, 1, low, high"},
		{"edge on an input", ps("pin", "GPIO4", "edge", "rising"), path + ".edge", "mode counter only"},
		{"edge unknown", ps("pin", "GPIO22", "mode", "counter", "edge", "up"), path + ".edge", "not one of rising, falling, both"},
		{"measure on an output", ps("pin", "GPIO17", "mode", "output", "measure", "count"), path + ".measure", "mode counter only"},
		{"measure unknown", ps("pin", "GPIO22", "mode", "counter", "measure", "speed"), path + ".measure", "not one of count, frequency"},
		{"windowMs on a count", ps("pin", "GPIO22", "mode", "counter", "windowMs", 100), path + ".windowMs", "measure frequency only"},
		{"windowMs too short", ps("pin", "GPIO22", "mode", "counter", "measure", "frequency", "windowMs", 5), path + ".windowMs", "out of range"},
		{"windowMs fractional", ps("pin", "GPIO22", "mode", "counter", "measure", "frequency", "windowMs", 10.5), path + ".windowMs", "not a whole number"},
		{"an output shares its pin", []bus.PropertyConfig{
			property("a", true, "pin", "GPIO17", "mode", "output"),
			property("p", false, "pin", "P1_11")}, path + ".pin", "cannot share its pin"},
		{"two pulls on one pin", []bus.PropertyConfig{
			property("a", false, "pin", "GPIO4", "pull", "up"),
			property("p", false, "pin", "4", "pull", "down")}, path + ".pull", "another pull"},
		{"two edges on one pin", []bus.PropertyConfig{
			property("a", false, "pin", "GPIO22", "mode", "counter"),
			property("p", false, "pin", "GPIO22", "mode", "counter", "edge", "both")}, path + ".edge", "another edge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := gpio.Driver{}.Open(bus.DeviceConfig{Name: "default/bad", Config: config(devicePath), Properties: tt.props})
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded, want an error")
			}
			var fe *bus.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Open error %v is not a *bus.FieldError", err)
			}
			if fe.Field != tt.field {
				t.Errorf("Field = %q, want %q (error: %v)", fe.Field, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

// ps is one property called p.
func ps(kv ...any) []bus.PropertyConfig { return []bus.PropertyConfig{property("p", false, kv...)} }

func TestUnknownKeysAreWarningsNotErrors(t *testing.T) {
	d := open(t, property("p", false, "pin", "GPIO4", "Pull", "up"))
	d2, err := gpio.Driver{}.Open(bus.DeviceConfig{Config: config(devicePath, "chip", "gpiochip0"),
		Properties: []bus.PropertyConfig{property("p", false, "pin", "GPIO4")}})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	got := append(d.(*gpio.Device).Warnings(), d2.(*gpio.Device).Warnings()...)
	want := []string{
		"spec.properties[p].visitors.configData.Pull: unknown key, ignored",
		devicePath + ".chip: unknown key, ignored",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Warnings() =\n%q\nwant\n%q", got, want)
	}
}

func TestReadAndWriteDoNotAllocate(t *testing.T) {
	d := open(t,
		property("out", true, "pin", "GPIO17", "mode", "output"),
		property("in", false, "pin", "GPIO27"),
		property("n", true, "pin", "GPIO22", "mode", "counter"),
		property("hz", false, "pin", "GPIO22", "mode", "counter", "measure", "frequency"))
	for i, p := range d.Points() {
		if n := testing.AllocsPerRun(100, func() { p.Read() }); n != 0 {
			t.Errorf("point %d: Read allocates %v times", i, n)
		}
	}
	w := d.Points()[0].(bus.Writer)
	if n := testing.AllocsPerRun(100, func() { w.Write(1); w.Write(0) }); n != 0 {
		t.Errorf("Write allocates %v times", n)
	}
}

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

var sink float64

func BenchmarkRead(b *testing.B) {
	for _, bc := range []struct {
		name string
		prop bus.PropertyConfig
	}{
		{"input", property("in", false, "pin", "GPIO27")},
		{"output read-back", property("out", true, "pin", "GPIO17", "mode", "output")},
		{"count", property("n", false, "pin", "GPIO22", "mode", "counter")},
		{"frequency", property("hz", false, "pin", "GPIO22", "mode", "counter", "measure", "frequency")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := open(b, bc.prop).Points()[0]
			b.ReportAllocs()
			for b.Loop() {
				v, err := p.Read()
				if err != nil {
					b.Fatal(err)
				}
				sink = v
			}
		})
	}
}

func BenchmarkWrite(b *testing.B) {
	w := open(b, property("out", true, "pin", "GPIO17", "mode", "output")).Points()[0].(bus.Writer)
	b.ReportAllocs()
	v := 0.0
	for b.Loop() {
		if err := w.Write(v); err != nil {
			b.Fatal(err)
		}
		v = 1 - v
	}
}

func TestAnInputOfAPinAnotherDeviceDrivesDoesNotTakeItBack(t *testing.T) {
	in := open(t, property("in", false, "pin", "GPIO17")).Points()[0]
	out := open(t, property("out", true, "pin", "GPIO17", "mode", "output", "initial", 1)).Points()[0]
	requests := sim.GPIO17.InputRequests()
	if v := read(t, in); v != 1 {
		t.Errorf("the input reads %v, want the 1 the other device drives", v)
	}
	write(t, out, 0)
	if v := read(t, in); v != 0 {
		t.Errorf("the input reads %v, want 0", v)
	}
	if sim.GPIO17.Dir() != pins.Output || sim.GPIO17.InputRequests() != requests {
		t.Errorf("reading the input turned the other device's output into an input")
	}
}
