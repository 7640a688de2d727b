package tmp102_test

import (
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/tmp102"
)

// minute is the start of a simulated minute: T is 22.5 °C there.
var minute = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// clock is a fake clock the test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// newDev attaches a TMP102 following c to a fresh sim bus and returns it the way
// a periph driver sees it: an i2c.Dev at the part's address.
func newDev(t *testing.T, c *clock) *i2c.Dev {
	t.Helper()
	bus := sim.NewI2CBus("test")
	if err := bus.Attach(tmp102.Address, tmp102.New(c.now)); err != nil {
		t.Fatal(err)
	}
	return &i2c.Dev{Bus: bus, Addr: tmp102.Address}
}

// readReg reads a 16-bit register, MSB first.
func readReg(t *testing.T, d *i2c.Dev, reg byte) uint16 {
	t.Helper()
	var r [2]byte
	if err := d.Tx([]byte{reg}, r[:]); err != nil {
		t.Fatalf("read register %d: %v", reg, err)
	}
	return uint16(r[0])<<8 | uint16(r[1])
}

func writeReg(t *testing.T, d *i2c.Dev, reg byte, v uint16) {
	t.Helper()
	if err := d.Tx([]byte{reg, byte(v >> 8), byte(v)}, nil); err != nil {
		t.Fatalf("write register %d: %v", reg, err)
	}
}

func TestTemperatureFollowsAOneMinuteSine(t *testing.T) {
	tests := []struct {
		at   time.Duration
		want float64
		reg  uint16
	}{
		{0, 22.5, 360 << 4},
		{15 * time.Second, 25.0, 400 << 4},
		{30 * time.Second, 22.5, 360 << 4},
		{45 * time.Second, 20.0, 320 << 4},
		{60 * time.Second, 22.5, 360 << 4},
		{5 * time.Second, 23.75, 380 << 4}, // 22.5 + 2.5·sin(π/6) = 23.75
	}
	c := &clock{}
	d := newDev(t, c)
	for _, tt := range tests {
		c.t = minute.Add(tt.at)
		if got := tmp102.Temperature(c.t); got != tt.want {
			t.Errorf("Temperature at +%v = %v, want %v", tt.at, got, tt.want)
		}
		if got := readReg(t, d, tmp102.RegTemperature); got != tt.reg {
			t.Errorf("temperature register at +%v = %#04x, want %#04x", tt.at, got, tt.reg)
		}
	}
}

func TestTemperatureStaysBetween20And25InStepsOfTheResolution(t *testing.T) {
	for ms := 0; ms < 60_000; ms += 7 {
		v := tmp102.Temperature(minute.Add(time.Duration(ms) * time.Millisecond))
		if v < 20 || v > 25 {
			t.Fatalf("Temperature at +%dms = %v, outside [20, 25]", ms, v)
		}
		if lsb := v / tmp102.Resolution; lsb != float64(int(lsb)) {
			t.Fatalf("Temperature at +%dms = %v, not a multiple of %v", ms, v, tmp102.Resolution)
		}
	}
}

func TestRegistersStartAtTheirPowerOnValues(t *testing.T) {
	d := newDev(t, &clock{minute})
	for _, tt := range []struct {
		reg  byte
		want uint16
	}{
		{tmp102.RegConfig, 0x60A0},
		{tmp102.RegTLow, 0x4B00},
		{tmp102.RegTHigh, 0x5000},
	} {
		if got := readReg(t, d, tt.reg); got != tt.want {
			t.Errorf("register %d = %#04x, want %#04x", tt.reg, got, tt.want)
		}
	}
}

func TestPointerPersistsAcrossTransactions(t *testing.T) {
	d := newDev(t, &clock{minute})
	if err := d.Tx([]byte{tmp102.RegTHigh}, nil); err != nil {
		t.Fatal(err)
	}
	var r [2]byte
	for i := 0; i < 2; i++ {
		if err := d.Tx(nil, r[:]); err != nil {
			t.Fatal(err)
		}
		if got := uint16(r[0])<<8 | uint16(r[1]); got != 0x5000 {
			t.Errorf("read %d without a pointer write = %#04x, want THIGH 0x5000", i, got)
		}
	}
}

func TestWritesChangeOnlyWritableBits(t *testing.T) {
	d := newDev(t, &clock{minute})
	writeReg(t, d, tmp102.RegTLow, 0x1234)
	writeReg(t, d, tmp102.RegTHigh, 0x2345)
	writeReg(t, d, tmp102.RegConfig, 0x0000) // try to clear R1, R0 and AL too
	writeReg(t, d, tmp102.RegTemperature, 0x0000)
	for _, tt := range []struct {
		name string
		reg  byte
		want uint16
	}{
		{"TLOW keeps 12 bits", tmp102.RegTLow, 0x1230},
		{"THIGH keeps 12 bits", tmp102.RegTHigh, 0x2340},
		{"R1, R0 and AL are read only", tmp102.RegConfig, 0x6020},
		{"temperature ignores writes", tmp102.RegTemperature, 360 << 4},
	} {
		if got := readReg(t, d, tt.reg); got != tt.want {
			t.Errorf("%s: register %d = %#04x, want %#04x", tt.name, tt.reg, got, tt.want)
		}
	}
}

func TestExtendedModeUses13Bits(t *testing.T) {
	d := newDev(t, &clock{minute.Add(15 * time.Second)})
	writeReg(t, d, tmp102.RegConfig, tmp102.DefaultConfig|tmp102.ConfigEM)
	if got := readReg(t, d, tmp102.RegTemperature); got != 400<<3|0 {
		t.Errorf("temperature in extended mode = %#04x, want %#04x", got, 400<<3)
	}
}

func TestShutdownHoldsTheLastReadingUntilOneShot(t *testing.T) {
	c := &clock{minute} // 22.5 °C
	d := newDev(t, c)
	writeReg(t, d, tmp102.RegConfig, tmp102.DefaultConfig|tmp102.ConfigSD)
	c.t = minute.Add(15 * time.Second) // 25 °C, but shut down
	if got := readReg(t, d, tmp102.RegTemperature); got != 360<<4 {
		t.Errorf("temperature while shut down = %#04x, want the held %#04x", got, 360<<4)
	}
	if got := readReg(t, d, tmp102.RegConfig); got&tmp102.ConfigOS == 0 {
		t.Errorf("config while shut down = %#04x, want OS set (conversion done)", got)
	}
	writeReg(t, d, tmp102.RegConfig, tmp102.DefaultConfig|tmp102.ConfigSD|tmp102.ConfigOS)
	if got := readReg(t, d, tmp102.RegTemperature); got != 400<<4 {
		t.Errorf("temperature after one-shot = %#04x, want %#04x", got, 400<<4)
	}
	writeReg(t, d, tmp102.RegConfig, tmp102.DefaultConfig)
	c.t = minute.Add(45 * time.Second)
	if got := readReg(t, d, tmp102.RegTemperature); got != 320<<4 {
		t.Errorf("temperature after waking = %#04x, want %#04x", got, 320<<4)
	}
}

func TestReadShorterOrLongerThanTheRegister(t *testing.T) {
	d := newDev(t, &clock{minute})
	r := []byte{0, 0, 0, 0}
	if err := d.Tx([]byte{tmp102.RegConfig}, r[:1]); err != nil || r[0] != 0x60 {
		t.Errorf("1-byte read = %#02x, %v; want the MSB 0x60", r[0], err)
	}
	if err := d.Tx([]byte{tmp102.RegConfig}, r); err != nil || r[2] != 0xFF || r[3] != 0xFF {
		t.Errorf("4-byte read = % x, %v; want 0xFF after the register", r, err)
	}
}

func TestMalformedWritesFail(t *testing.T) {
	d := newDev(t, &clock{minute})
	for _, tt := range []struct {
		name string
		w    []byte
		msg  string
	}{
		{"pointer out of range", []byte{4}, "pointer 0x04"},
		{"half a register", []byte{1, 0x60}, "write of 2 bytes"},
		{"too long", []byte{1, 0x60, 0xA0, 0}, "write of 4 bytes"},
	} {
		err := d.Tx(tt.w, nil)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: Tx(% x) = %v, want an error saying %q", tt.name, tt.w, err, tt.msg)
		}
	}
}
