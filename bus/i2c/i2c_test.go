package i2c_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/i2c"
)

// These tests run against the simulated board's bus 1, reached the way the
// mapper reaches it: i2c.Driver → hal.OpenI2C("1") → periph's i2creg → board/sim.

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

// tmp102Temperature is the TMP102 temperature property as a user writes it.
func tmp102Temperature() bus.PropertyConfig {
	return property("temperature", false, "register", 0, "dataType", "int16", "shift", 4, "scale", 0.0625)
}

// open opens a device and closes it when the test ends.
func open(t testing.TB, dev bus.Config, props ...bus.PropertyConfig) bus.Device {
	t.Helper()
	return bustest.Open(t, i2c.Driver{}, dev, props...)
}

// read and write fail the test on an error.
var read, write = bustest.Read, bustest.Write

func TestProtocolIsI2C(t *testing.T) {
	if got := (i2c.Driver{}).Protocol(); got != "i2c" {
		t.Errorf("Protocol() = %q, want i2c", got)
	}
}

func TestReadsTheTMP102Temperature(t *testing.T) {
	d := open(t, config(devicePath, "bus", 1, "address", 0x48), tmp102Temperature())
	for i := 0; i < 5; i++ {
		v := read(t, d.Points()[0])
		if v < 20 || v > 25 {
			t.Errorf("temperature = %v °C, want within the sim's [20, 25]", v)
		}
		if v/0.0625 != math.Trunc(v/0.0625) {
			t.Errorf("temperature = %v °C, not a multiple of 0.0625", v)
		}
	}
}

func TestEverySpellingOfABusIsOneWorker(t *testing.T) {
	for _, b := range []any{nil, 1, "1", " 1 ", "I2C1", "/dev/i2c-1", sim.I2C1} {
		c := config(devicePath, "address", "0x48")
		if b != nil {
			c = config(devicePath, "bus", b, "address", "0x48")
		}
		d := open(t, c, tmp102Temperature())
		if got := d.Bus(); got != "i2c:"+sim.I2C1 {
			t.Errorf("bus %#v: Bus() = %q, want %q", b, got, "i2c:"+sim.I2C1)
		}
	}
}

func TestAddressSpellings(t *testing.T) {
	for _, a := range []any{0x48, 72.0, "0x48", "72", "0b1001000", "0X48"} {
		d := open(t, config(devicePath, "address", a),
			property("config", false, "register", 1, "dataType", "uint16"))
		if v, err := d.Points()[0].Read(); err != nil || v != 0x60A0 {
			t.Errorf("address %#v: TMP102 config = %#x, %v; want 0x60a0", a, int(v), err)
		}
	}
}

func TestPointsFollowThePropertiesInOrder(t *testing.T) {
	d := open(t, config(devicePath, "address", 0x48),
		property("tlow", false, "register", 2, "dataType", "int16", "shift", 4, "scale", 0.0625),
		tmp102Temperature(),
		property("config", false, "register", 1, "dataType", "uint16"),
	)
	if n := len(d.Points()); n != 3 {
		t.Fatalf("%d points, want 3", n)
	}
	if v := read(t, d.Points()[0]); v != 75 {
		t.Errorf("TLOW = %v, want the power-on 75 °C", v)
	}
	if v := read(t, d.Points()[2]); v != 0x60A0 {
		t.Errorf("config = %#x, want 0x60a0", int(v))
	}
}

func TestEEPROMWriteThenReadBack(t *testing.T) {
	tests := []struct {
		name string
		prop bus.PropertyConfig
		v    float64
	}{
		{"one byte at 0x10", property("byte16", true, "register", 0x10, "dataType", "uint8"), 0xA5},
		{"little-endian uint16 at 0x20", property("word", true, "register", "0x20", "dataType", "uint16", "byteOrder", "little"), 0x1234},
		{"scaled int32 at 0x28", property("counter", true, "register", 0x28, "dataType", "int32", "scale", 0.01), -12.34},
		{"float32 at 0x30", property("ratio", true, "register", 0x30, "dataType", "float32"), 1.5},
		{"bool at 0x38", property("flag", true, "register", 0x38, "dataType", "bool"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := open(t, config(devicePath, "bus", "1", "address", "0x50"), tt.prop)
			p := d.Points()[0]
			write(t, p, tt.v)
			if got := read(t, p); math.Abs(got-tt.v) > 1e-9 {
				t.Errorf("read back %v, want %v", got, tt.v)
			}
		})
	}
}

func TestEEPROMWritesThatCrossAPageNeedPageSize(t *testing.T) {
	// The 24C02 (real and sim) wraps a page write within its 8-byte page.
	tests := []struct {
		name     string
		pageSize any // nil: not given
		prop     bus.PropertyConfig
		v        float64
		want     float64 // read back
		neighbor int     // a register the write must leave alone
		kept     bool    // whether it does
	}{
		{"uint16 at 0x07 without pageSize wraps onto 0x00", nil,
			property("w", true, "register", 0x07, "dataType", "uint16"), 0x1234, 0x12ff, 0x00, false},
		{"uint16 at 0x07 with pageSize 8", 8,
			property("w", true, "register", 0x07, "dataType", "uint16"), 0x1234, 0x1234, 0x00, true},
		{"int32 at 0x4E with pageSize 8 spans two pages", "8",
			property("w", true, "register", 0x4E, "dataType", "int32"), -123456, -123456, 0x48, true},
		{"float32 at 0x5D with pageSize 4 writes three parts", 4,
			property("w", true, "register", 0x5D, "dataType", "float32", "byteOrder", "little"), 2.5, 2.5, 0x58, true},
		{"a value inside its page is one write", 8,
			property("w", true, "register", 0x68, "dataType", "uint32"), 0xDEADBEEF, 0xDEADBEEF, 0x6C, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := config(devicePath, "address", 0x50)
			if tt.pageSize != nil {
				dev = config(devicePath, "address", 0x50, "pageSize", tt.pageSize)
			}
			d := open(t, dev, tt.prop, property("neighbor", true, "register", tt.neighbor))
			p, n := d.Points()[0], d.Points()[1]
			write(t, n, 0x5A)
			write(t, p, 0)
			write(t, n, 0x5A)
			write(t, p, tt.v)
			if got := read(t, p); got != tt.want {
				t.Errorf("read back %#x, want %#x", int64(got), int64(tt.want))
			}
			if got := read(t, n); (got == 0x5A) != tt.kept {
				t.Errorf("register 0x%02x = %#x after the write; kept: %v, want %v", tt.neighbor, int(got), got == 0x5A, tt.kept)
			}
		})
	}
}

func TestWritingAFieldKeepsTheRestOfTheRegister(t *testing.T) {
	d := open(t, config(devicePath, "address", 0x48),
		property("shutdown", true, "register", 1, "dataType", "uint16", "shift", 8, "mask", 1), // SD, a flag in a 16-bit register
		property("config", false, "register", 1, "dataType", "uint16"),
		property("high-limit", true, "register", 3, "dataType", "int16", "shift", 4, "scale", 0.0625),
		property("thigh", false, "register", 3, "dataType", "uint16"),
	)
	shutdown, cfgReg, high, thigh := d.Points()[0], d.Points()[1], d.Points()[2], d.Points()[3]
	t.Cleanup(func() { write(t, shutdown, 0); write(t, high, 80) })

	write(t, shutdown, 1)
	if v := read(t, cfgReg); v != 0xE1A0 {
		t.Errorf("config after setting SD = %#x, want 0xe1a0 (SD set, OS reads 1 while shut down, rest kept)", int(v))
	}
	if v := read(t, shutdown); v != 1 {
		t.Errorf("shutdown reads %v, want 1", v)
	}
	write(t, shutdown, 0)
	if v := read(t, cfgReg); v != 0x60A0 {
		t.Errorf("config after clearing SD = %#x, want 0x60a0", int(v))
	}

	write(t, high, 30)
	if v := read(t, high); v != 30 {
		t.Errorf("high-limit = %v, want 30", v)
	}
	if v := read(t, thigh); v != 0x1E00 {
		t.Errorf("THIGH register = %#x, want 0x1e00 (480 << 4)", int(v))
	}
}

func TestWriteOutOfRangeFailsAndWritesNothing(t *testing.T) {
	d := open(t, config(devicePath, "address", 0x50),
		property("byte17", true, "register", 0x11, "dataType", "uint8"))
	p := d.Points()[0]
	write(t, p, 7)
	err := p.(bus.Writer).Write(256)
	if err == nil || !strings.Contains(err.Error(), "out of range [0, 255]") {
		t.Fatalf("Write(256) = %v, want out of range", err)
	}
	if !strings.Contains(err.Error(), "register 0x11") {
		t.Errorf("error %q does not name the register", err)
	}
	if v := read(t, p); v != 7 {
		t.Errorf("after the failed write, read %v, want 7", v)
	}
}

func TestOnlyReadWritePropertiesAreWriters(t *testing.T) {
	d := open(t, config(devicePath, "address", 0x50),
		property("ro", false, "register", 0),
		property("rw", true, "register", 1))
	if _, ok := d.Points()[0].(bus.Writer); ok {
		t.Error("ReadOnly property's point is a bus.Writer")
	}
	if _, ok := d.Points()[1].(bus.Writer); !ok {
		t.Error("ReadWrite property's point is not a bus.Writer")
	}
}

func TestAnEmptyAddressNACKs(t *testing.T) {
	d := open(t, config(devicePath, "address", 0x20),
		property("x", true, "register", 5),
		property("field", true, "register", 5, "mask", 1))
	_, err := d.Points()[0].Read()
	if !errors.Is(err, sim.ErrNACK) {
		t.Fatalf("Read at 0x20 = %v, want a NACK", err)
	}
	for _, want := range []string{"address 0x20", "register 0x05", "NACK"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if err := d.Points()[0].(bus.Writer).Write(1); !errors.Is(err, sim.ErrNACK) {
		t.Errorf("Write at 0x20 = %v, want a NACK", err)
	}
	if err := d.Points()[1].(bus.Writer).Write(1); !errors.Is(err, sim.ErrNACK) || !strings.Contains(err.Error(), "read before write") {
		t.Errorf("field Write at 0x20 = %v, want a NACK on the read before the write", err)
	}
}

func TestBadConfigDataNamesTheField(t *testing.T) {
	const propPath = "spec.properties[temperature].visitors.configData"
	good := []any{"register", 0, "dataType", "int16", "shift", 4, "scale", 0.0625}
	tests := []struct {
		name  string
		dev   []any
		prop  []any
		field string
		msg   string
	}{
		{"fractional address", []any{"address", 72.5}, good, devicePath + ".address", "not a whole number"},
		{"address not a number", []any{"address", "zz"}, good, devicePath + ".address", "not an integer"},
		{"address missing", []any{"bus", 1}, good, devicePath + ".address", "is required"},
		{"address reserved low", []any{"address", 2}, good, devicePath + ".address", "out of range"},
		{"address reserved high", []any{"address", "0x78"}, good, devicePath + ".address", "out of range"},
		{"bus fractional", []any{"bus", 1.5, "address", 0x48}, good, devicePath + ".bus", "not a whole number"},
		{"bus empty", []any{"bus", "", "address", 0x48}, good, devicePath + ".bus", "not a bus number or name"},
		{"bus a boolean", []any{"bus", true, "address", 0x48}, good, devicePath + ".bus", "not a bus number or name"},
		{"bus not there (yet)", []any{"bus", "7", "address", 0x48}, good, devicePath + ".bus", "/dev/i2c-7 does not exist: I²C is not enabled"},
		{"bus no board has", []any{"bus", "I2C-X", "address", 0x48}, good, devicePath + ".bus", `no I²C bus is called "I2C-X" on this board`},
		{"register out of range", []any{"address", 0x48}, []any{"register", 300}, propPath + ".register", "out of range [0, 255]"},
		{"register missing", []any{"address", 0x48}, []any{"dataType", "int16"}, propPath + ".register", "is required"},
		{"unknown dataType", []any{"address", 0x48}, []any{"register", 0, "dataType", "uint9"}, propPath + ".dataType", "not one of"},
		{"scale zero", []any{"address", 0x48}, []any{"register", 0, "scale", 0}, propPath + ".scale", "must not be 0"},
		{"pageSize not a power of two", []any{"address", 0x50, "pageSize", 12}, good, devicePath + ".pageSize", "not a power of two"},
		{"pageSize past 256", []any{"address", 0x50, "pageSize", 512}, good, devicePath + ".pageSize", "out of range [0, 256]"},
		{"pageSize negative", []any{"address", 0x50, "pageSize", -8}, good, devicePath + ".pageSize", "out of range"},
		{"pageSize fractional", []any{"address", 0x50, "pageSize", 8.5}, good, devicePath + ".pageSize", "not a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := bustest.Refused(t, i2c.Driver{}, bus.DeviceConfig{
				Name:       "default/bad",
				Config:     config(devicePath, tt.dev...),
				Properties: []bus.PropertyConfig{property("temperature", false, tt.prop...)},
			})
			if fe.Field != tt.field {
				t.Errorf("Field = %q, want %q", fe.Field, tt.field)
			}
			if !strings.Contains(fe.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", fe, tt.msg)
			}
		})
	}
}

func TestPropertyWithoutAPathIsNamedInErrors(t *testing.T) {
	_, err := i2c.Driver{}.Open(bus.DeviceConfig{
		Config:     config(devicePath, "address", 0x48),
		Properties: []bus.PropertyConfig{{Name: "temp", Config: config("", "register", -1)}},
	})
	var fe *bus.FieldError
	if !errors.As(err, &fe) || fe.Field != "properties[temp].register" {
		t.Errorf("Open error = %v, want a FieldError for properties[temp].register", err)
	}
}

func TestUnknownKeysAreWarningsNotErrors(t *testing.T) {
	d := open(t, config(devicePath, "address", 0x48, "speedHz", 400000),
		property("temperature", false, "register", 0, "datatype", "int16", "count", 2))
	w, ok := d.(interface{ Warnings() []string })
	if !ok {
		t.Fatal("device has no Warnings method")
	}
	want := []string{
		devicePath + ".speedHz: unknown key, ignored",
		"spec.properties[temperature].visitors.configData.count: unknown key, ignored",
		"spec.properties[temperature].visitors.configData.datatype: unknown key, ignored",
	}
	if got := w.Warnings(); !slices.Equal(got, want) {
		t.Errorf("Warnings() =\n%q\nwant\n%q", got, want)
	}
}

func TestCloseReleasesTheDevicesShareOfTheBus(t *testing.T) {
	dev := config(devicePath, "address", 0x48)
	open1, err := i2c.Driver{}.Open(bus.DeviceConfig{Config: dev, Properties: []bus.PropertyConfig{tmp102Temperature()}})
	if err != nil {
		t.Fatal(err)
	}
	open2, err := i2c.Driver{}.Open(bus.DeviceConfig{Config: dev, Properties: []bus.PropertyConfig{tmp102Temperature()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := open1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := open2.Points()[0].Read(); err != nil {
		t.Errorf("the other device on the bus fails after the first closed: %v", err)
	}
	if err := open2.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := open2.Points()[0].Read(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Read after the bus's last device closed = %v, want a closed-bus error", err)
	}
}

func TestReadAndWriteDoNotAllocate(t *testing.T) {
	d := open(t, config(devicePath, "address", 0x48), tmp102Temperature())
	p := d.Points()[0]
	if n := testing.AllocsPerRun(100, func() { p.Read() }); n != 0 {
		t.Errorf("Read allocates %v times", n)
	}
	// The TMP102's THIGH register: a part that is never busy after a
	// write, so Write is the write and one acknowledged poll. (An EEPROM's
	// write cycle makes the poll see NACK errors, which allocate; writes
	// are rare and off the sampling path.)
	e := open(t, config(devicePath, "address", 0x48), property("thigh", true, "register", 3, "dataType", "int16"))
	w := e.Points()[0].(bus.Writer)
	if n := testing.AllocsPerRun(100, func() { w.Write(0x5000) }); n != 0 {
		t.Errorf("Write allocates %v times", n)
	}
}

var sink float64

func BenchmarkRead(b *testing.B) {
	d := open(b, config(devicePath, "address", 0x48), tmp102Temperature())
	p := d.Points()[0]
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
	for _, bc := range []struct {
		name string
		addr int
		prop bus.PropertyConfig
		v    float64
	}{
		{"EEPROM byte", 0x50, property("b", true, "register", 0x48, "dataType", "uint8"), 42},
		{"TMP102 THIGH field (read-modify-write)", 0x48, property("high", true, "register", 3, "dataType", "int16", "shift", 4, "scale", 0.0625), 80},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := open(b, config(devicePath, "address", bc.addr), bc.prop).Points()[0].(bus.Writer)
			b.ReportAllocs()
			for b.Loop() {
				if err := w.Write(bc.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestAWriteWaitsOutTheEEPROMsWriteCycle(t *testing.T) {
	// The sim 24C02 NACKs for 5 ms after a write, as the real part does;
	// Write polls for the ACK, so the read right after it succeeds.
	d := open(t, config(devicePath, "address", 0x50), property("b", true, "register", 0x41))
	for _, v := range []float64{0x12, 0x34, 0x56} {
		write(t, d.Points()[0], v)
		if got := read(t, d.Points()[0]); got != v {
			t.Fatalf("read right after writing %#x = %#x", int(v), int(got))
		}
	}
}
