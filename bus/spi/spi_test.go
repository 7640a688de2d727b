package spi_test

import (
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"
	pspi "periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/mcp3008"
	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/spi"
)

// These tests run against the simulated board's SPI port 0.0 (an MCP3008),
// reached the way the mapper reaches it: spi.Driver → hal.OpenSPI → periph's
// spireg → board/sim. Writes go to a recording port registered here as
// "TEST-SPI9.0", since the MCP3008 has nothing to write.

// recorder is a part that keeps every transaction it sees.
type recorder struct {
	mu  sync.Mutex
	txs [][]byte
	cur []byte
}

func (r *recorder) Check(physic.Frequency, pspi.Mode, int) error { return nil }
func (r *recorder) Transfer(w, _ []byte)                         { r.cur = append(r.cur, w...) }
func (r *recorder) Deselect() {
	r.mu.Lock()
	r.txs = append(r.txs, r.cur)
	r.cur = nil
	r.mu.Unlock()
}

func (r *recorder) last() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.txs) == 0 {
		return nil
	}
	return r.txs[len(r.txs)-1]
}

var rec = &recorder{}

const recPort = "TEST-SPI9.0"

func TestMain(m *testing.M) {
	if err := sim.Register(); err != nil {
		fmt.Fprintln(os.Stderr, "register the sim board:", err)
		os.Exit(1)
	}
	if err := spireg.Register(recPort, nil, -1, sim.NewSPIPort(recPort, rec).Open); err != nil {
		fmt.Fprintln(os.Stderr, err)
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

// channel is a single-ended MCP3008 channel as a user writes it.
func channel(ch int, extra ...any) bus.PropertyConfig {
	kv := append([]any{"tx", "01 {0x80|ch<<4} 00", "channel", ch, "rxStart", 1, "dataType", "uint16", "mask", "0x3FF"}, extra...)
	return property(fmt.Sprintf("ch%d", ch), false, kv...)
}

// open opens a device and closes it when the test ends.
func open(t testing.TB, dev bus.Config, props ...bus.PropertyConfig) bus.Device {
	t.Helper()
	return bustest.Open(t, spi.Driver{}, dev, props...)
}

// read and write fail the test on an error.
var read = bustest.Read

func TestProtocolIsSPI(t *testing.T) {
	if got := (spi.Driver{}).Protocol(); got != "spi" {
		t.Errorf("Protocol() = %q, want spi", got)
	}
}

func TestReadsEveryMCP3008Channel(t *testing.T) {
	var props []bus.PropertyConfig
	for ch := 0; ch < 8; ch++ {
		props = append(props, channel(ch))
	}
	d := open(t, config(devicePath, "bus", "0.0"), props...)
	for ch, p := range d.Points() {
		before := time.Now()
		v := read(t, p)
		lo, hi := codeRange(ch, before, time.Now())
		if v < float64(lo) || v > float64(hi) {
			t.Errorf("channel %d = %v, want the sim's %d..%d at that time", ch, v, lo, hi)
		}
	}
}

// codeRange returns the smallest and largest code of channel ch in [from, to].
func codeRange(ch int, from, to time.Time) (lo, hi int) {
	lo, hi = math.MaxInt, math.MinInt
	for t := from; ; t = t.Add(50 * time.Microsecond) {
		if t.After(to) {
			t = to
		}
		c := mcp3008.Code(ch, t)
		lo, hi = min(lo, c), max(hi, c)
		if t.Equal(to) {
			return lo, hi
		}
	}
}

func TestScaleGivesVolts(t *testing.T) {
	d := open(t, config(devicePath), channel(1, "scale", 3.3/1024), channel(4, "scale", "0.00322265625"))
	if v := read(t, d.Points()[0]); v != 1.65 {
		t.Errorf("channel 1 = %v V, want 1.65", v)
	}
	if v := read(t, d.Points()[1]); math.Abs(v-1023*3.3/1024) > 1e-12 {
		t.Errorf("channel 4 = %v V, want %v", v, 1023*3.3/1024)
	}
}

func TestTemplateSpellings(t *testing.T) {
	for _, tt := range []struct {
		name string
		kv   []any
	}{
		{"bytes", []any{"tx", "01 90 00"}},
		{"one hex run", []any{"tx", "0x019000"}},
		{"a run without 0x", []any{"tx", "019000"}},
		{"commas and 0x", []any{"tx", "0x01,0x90,0x0"}},
		{"channel expression", []any{"tx", "01 {0x80|ch<<4} 00", "channel", 1}},
		{"spaces in the expression", []any{"tx", "01 { 0x80 | ch << 4 } 00", "channel", "1"}},
		{"every byte an expression", []any{"tx", "{1},{0b1000_0000|ch<<4&0x70},{0}", "channel", 1}},
		{"left-aligned layout (MCP3208 style)", []any{"tx", "{0x06|ch>>2} {ch<<6} 00", "channel", 1, "shift", 2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kv := append([]any{"rxStart", 1, "dataType", "uint16", "mask", 0x3FF}, tt.kv...)
			d := open(t, config(devicePath), property("ch1", false, kv...))
			if v := read(t, d.Points()[0]); v != 512 {
				t.Errorf("channel 1 = %v, want 512", v)
			}
		})
	}
}

func TestUnmaskedReplyShowsTheNullBitAndHighImpedance(t *testing.T) {
	d := open(t, config(devicePath), property("raw", false, "tx", "01 90 00", "rxStart", 1, "dataType", "uint16"))
	if v := read(t, d.Points()[0]); v != 0xFA00 {
		t.Errorf("raw reply = %#x, want 0xfa00: undriven bits read 1, then the null bit, then 512", int(v))
	}
}

func TestDifferentialRead(t *testing.T) {
	d := open(t, config(devicePath),
		property("ch4-ch5", false, "tx", "01 {ch<<4} 00", "channel", 4, "rxStart", 1, "dataType", "uint16", "mask", 0x3FF),
		property("ch5-ch4", false, "tx", "01 {ch<<4} 00", "channel", 5, "rxStart", 1, "dataType", "uint16", "mask", 0x3FF))
	if v := read(t, d.Points()[0]); v != 1023-256 {
		t.Errorf("CH4-CH5 = %v, want 767", v)
	}
	if v := read(t, d.Points()[1]); v != 0 {
		t.Errorf("CH5-CH4 = %v, want 0 (negative)", v)
	}
}

func TestEverySpellingOfAPortIsOneWorker(t *testing.T) {
	for _, b := range []any{nil, 0, 0.0, "0", "0.0", " 0.0 ", "SPI0.0", "/dev/spidev0.0", sim.SPI00} {
		c := config(devicePath)
		if b != nil {
			c = config(devicePath, "bus", b)
		}
		d := open(t, c, channel(1))
		if got := d.Bus(); got != "spi:"+sim.SPI00 {
			t.Errorf("bus %#v: Bus() = %q, want %q", b, got, "spi:"+sim.SPI00)
		}
		if v := read(t, d.Points()[0]); v != 512 {
			t.Errorf("bus %#v: channel 1 = %v", b, v)
		}
	}
}

func TestDeviceSettingsReachTheChip(t *testing.T) {
	for _, tt := range []struct {
		name string
		dev  []any
		msg  string // "" when the read succeeds
	}{
		{"mode 0", []any{"mode", 0}, ""},
		{"mode 3", []any{"mode", 3}, ""},
		{"mode 1", []any{"mode", 1}, "modes 0 and 3"},
		{"speed as a number", []any{"speedHz", 3600000}, ""},
		{"speed with a unit", []any{"speedHz", "3.6MHz"}, ""},
		{"speed as a hex string", []any{"speedHz", "0xF4240"}, ""},
		{"speed above the part's", []any{"speedHz", "4MHz"}, "above the part's"},
		{"8 bits per word", []any{"bitsPerWord", 8}, ""},
		{"16 bits per word", []any{"bitsPerWord", 16}, "8-bit words only"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := open(t, config(devicePath, tt.dev...), channel(1))
			v, err := d.Points()[0].Read()
			switch {
			case tt.msg == "" && (err != nil || v != 512):
				t.Errorf("Read = %v, %v; want 512", v, err)
			case tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)):
				t.Errorf("Read = %v, %v; want an error saying %q", v, err, tt.msg)
			}
			if err != nil && !strings.Contains(err.Error(), "tx 01 90 00") {
				t.Errorf("error %q does not show the transaction", err)
			}
		})
	}
}

func TestWriteFillsTheWriteTemplate(t *testing.T) {
	for _, tt := range []struct {
		name string
		kv   []any
		v    float64
		want []byte
	}{
		{"MCP4921 DAC code", []any{"writeTx", "{0x30|value>>8} {value}", "dataType", "uint16", "mask", 0xFFF}, 0x123, []byte{0x31, 0x23}},
		{"DAC in volts", []any{"writeTx", "{0x30|value>>8} {value}", "dataType", "uint16", "mask", "0xFFF", "scale", 3.3 / 4096}, 1.65, []byte{0x38, 0x00}},
		{"digital pot with a channel", []any{"writeTx", "{ch<<4} {value}", "channel", 1}, 200, []byte{0x10, 200}},
		{"a register-addressed chip", []any{"writeTx", "{reg&0x7F} {value}", "register", "0x2A"}, 0x55, []byte{0x2A, 0x55}},
		{"a 16-bit register address", []any{"writeTx", "02 {reg>>8} {reg} {value}", "register", 0x1234}, 9, []byte{0x02, 0x12, 0x34, 9}},
		{"register and channel together", []any{"writeTx", "{reg|ch<<6} {value}", "register", 5, "channel", 2}, 1, []byte{0x85, 1}},
		{"little-endian codec: value is still the integer", []any{"writeTx", "{value>>8} {value}", "dataType", "uint16", "byteOrder", "little"}, 0x1234, []byte{0x12, 0x34}},
		{"signed value", []any{"writeTx", "40 {value}", "dataType", "int8"}, -2, []byte{0x40, 0xFE}},
		{"offset", []any{"writeTx", "{value}", "offset", 10}, 12, []byte{2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := open(t, config(devicePath, "bus", recPort), property("out", true, tt.kv...))
			w, ok := d.Points()[0].(bus.Writer)
			if !ok {
				t.Fatal("point is not a bus.Writer")
			}
			if err := w.Write(tt.v); err != nil {
				t.Fatalf("Write(%v): %v", tt.v, err)
			}
			if got := rec.last(); string(got) != string(tt.want) {
				t.Errorf("Write(%v) sent % x, want % x", tt.v, got, tt.want)
			}
			if v := read(t, w); math.Abs(v-tt.v) > 1e-9 {
				t.Errorf("write-only property reads back %v, want the %v written", v, tt.v)
			}
		})
	}
}

func TestReadFillsTheRegister(t *testing.T) {
	for _, tt := range []struct {
		name string
		kv   []any
		want []byte
	}{
		{"read bit 7 set, as most register-addressed chips want", []any{"tx", "{reg|0x80} 00", "register", 0x0F}, []byte{0x8F, 0x00}},
		{"register spelled out", []any{"tx", "{0x40|register&0x3F} 00 00", "register", "0x3B", "dataType", "int16"}, []byte{0x7B, 0x00, 0x00}},
		{"a 16-bit address", []any{"tx", "03 {reg>>8} {reg} 00", "register", 0x0102}, []byte{0x03, 0x01, 0x02, 0x00}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kv := append([]any{"rxStart", 1}, tt.kv...)
			d := open(t, config(devicePath, "bus", recPort), property("r", false, kv...))
			read(t, d.Points()[0])
			if got := rec.last(); string(got) != string(tt.want) {
				t.Errorf("sent % x, want % x", got, tt.want)
			}
		})
	}
}

func TestWriteOutOfRangeSendsNothing(t *testing.T) {
	d := open(t, config(devicePath, "bus", recPort),
		property("dac", true, "writeTx", "{0x30|value>>8} {value}", "dataType", "uint16", "mask", 0xFFF))
	w := d.Points()[0].(bus.Writer)
	if _, err := w.Read(); err == nil || !strings.Contains(err.Error(), "nothing written yet") {
		t.Errorf("Read before any write = %v, want an error", err)
	}
	if err := w.Write(100); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	n := len(rec.txs)
	rec.mu.Unlock()
	if err := w.Write(4096); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("Write(4096) = %v, want out of range", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.txs) != n {
		t.Error("a transaction was sent for a value out of range")
	}
}

func TestOnlyReadWritePropertiesWithAWriteTxAreWriters(t *testing.T) {
	d := open(t, config(devicePath),
		property("ro", false, "tx", "01 90 00", "writeTx", "{value}"),
		property("rw-no-writeTx", true, "tx", "01 90 00"),
		property("rw", true, "tx", "01 90 00", "writeTx", "{value}"))
	for i, want := range []bool{false, false, true} {
		if _, ok := d.Points()[i].(bus.Writer); ok != want {
			t.Errorf("point %d is a Writer: %v, want %v", i, ok, want)
		}
	}
}

func TestCloseReleasesTheDevicesShareOfThePort(t *testing.T) {
	a := open(t, config(devicePath), channel(1))
	b := open(t, config(devicePath, "bus", "SPI0.0"), channel(1))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if v := read(t, b.Points()[0]); v != 512 {
		t.Errorf("the other device on the port reads %v after the first closed", v)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Points()[0].Read(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Read after the port's last device closed = %v, want closed", err)
	}
}

func TestReadAndWriteDoNotAllocate(t *testing.T) {
	p := open(t, config(devicePath), channel(0)).Points()[0]
	if n := testing.AllocsPerRun(100, func() { p.Read() }); n != 0 {
		t.Errorf("Read allocates %v times", n)
	}
	w := open(t, config(devicePath, "bus", recPort),
		property("dac", true, "writeTx", "{0x30|value>>8} {value}", "dataType", "uint16", "mask", 0xFFF)).Points()[0].(bus.Writer)
	rec.mu.Lock()
	rec.txs = make([][]byte, 0, 1000) // the recorder's own appends are not the driver's
	rec.mu.Unlock()
	if n := testing.AllocsPerRun(100, func() { w.Write(7) }); n > 1 {
		t.Errorf("Write allocates %v times (the recorder keeps one copy)", n)
	}
}

var sink float64

func BenchmarkRead(b *testing.B) {
	p := open(b, config(devicePath), channel(2, "scale", 3.3/1024)).Points()[0]
	b.ReportAllocs()
	for b.Loop() {
		v, err := p.Read()
		if err != nil {
			b.Fatal(err)
		}
		sink = v
	}
}

func BenchmarkWrite(b *testing.B) {
	// The MCP3008 port: it ignores what it does not understand, and keeps nothing.
	w := open(b, config(devicePath),
		property("dac", true, "writeTx", "{0x30|value>>8} {value}", "dataType", "uint16", "mask", 0xFFF)).Points()[0].(bus.Writer)
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(0x123); err != nil {
			b.Fatal(err)
		}
	}
}
