package gpio_test

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/pins"
	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/gpio"
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
