package identify

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/ads1115"
	"github.com/tinymapper/tinymapper/board/sim/at24c02"
	"github.com/tinymapper/tinymapper/board/sim/bme280"
	"github.com/tinymapper/tinymapper/board/sim/mcp9808"
	"github.com/tinymapper/tinymapper/board/sim/sht3x"
	"github.com/tinymapper/tinymapper/board/sim/tmp102"
)

// recorder is a bus that records every write.
type recorder struct {
	bus    *sim.I2CBus
	writes map[uint16][][]byte
}

func (r *recorder) Tx(addr uint16, w, rd []byte) error {
	if len(w) > 0 {
		r.writes[addr] = append(r.writes[addr], bytes.Clone(w))
	}
	return r.bus.Tx(addr, w, rd)
}
func (r *recorder) SetSpeed(physic.Frequency) error { return nil }
func (r *recorder) String() string                  { return "recorder" }

// echo answers every read with the same byte and accepts every write: an
// unknown part.
type echo struct{}

func (echo) Tx(w, r []byte) error {
	for i := range r {
		r[i] = 0x5A
	}
	return nil
}

func TestProbeNamesThePartsAndNeverWritesARegister(t *testing.T) {
	bus := sim.NewI2CBus("test")
	for _, p := range []struct {
		addr uint16
		part sim.Part
	}{
		{0x18, mcp9808.New(time.Now)},
		{0x23, echo{}},
		{0x44, sht3x.New(time.Now)},
		{0x48, tmp102.New(time.Now)},
		{0x49, ads1115.New(time.Now)},
		{0x4A, echo{}},
		{0x50, at24c02.New()},
		{0x76, bme280.New(bme280.ChipIDBME280, time.Now)},
		{0x77, bme280.New(bme280.ChipIDBMP280, time.Now)},
	} {
		if err := bus.Attach(p.addr, p.part); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recorder{bus: bus, writes: map[uint16][][]byte{}}
	parts, err := Probe(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint16]Kind{0x18: MCP9808, 0x23: KindUnknown, 0x44: SHT3x, 0x48: TMP102, 0x49: ADS1115, 0x4A: KindUnknown, 0x50: EEPROM24, 0x76: BME280, 0x77: BMP280}
	got := map[uint16]Kind{}
	for _, p := range parts {
		got[p.Addr] = p.Kind
	}
	if len(got) != len(want) {
		t.Errorf("found %v, want %v", got, want)
	}
	for addr, k := range want {
		if g, ok := got[addr]; !ok || g != k {
			t.Errorf("0x%02x: %q (found %v), want %q", addr, g, ok, k)
		}
	}
	for addr, ws := range rec.writes {
		for _, w := range ws {
			sht := (addr == 0x44 || addr == 0x45) && bytes.Equal(w, []byte{0x37, 0x80})
			if len(w) != 1 && !sht {
				t.Errorf("0x%02x: wrote % x: only register pointers (and the SHT3x serial command) may be written", addr, w)
			}
		}
	}
}

func TestProbeStopsWhenTheBusFails(t *testing.T) {
	parts, err := Probe(failing{})
	if err == nil || !strings.Contains(err.Error(), "address 0x03") || len(parts) != 0 {
		t.Errorf("Probe = %v, %v; want the first address's error", parts, err)
	}
}

type failing struct{}

func (failing) Tx(uint16, []byte, []byte) error { return errBus }
func (failing) SetSpeed(physic.Frequency) error { return nil }
func (failing) String() string                  { return "failing" }

var errBus = &busError{}

type busError struct{}

func (*busError) Error() string { return "bus stuck" }

func TestDeviceNames(t *testing.T) {
	for _, tc := range []struct {
		p    Part
		bus  string
		want string
	}{
		{Part{Addr: 0x48, Kind: TMP102}, "1", "tmp102-1-48"},
		{Part{Addr: 0x50, Kind: EEPROM24}, "/dev/i2c-1", "24cxx-dev-i2c-1-50"},
		{Part{Addr: 0x76, Kind: BME280}, "I2C1", "bme280-i2c1-76"},
	} {
		if got := DeviceName(tc.p, tc.bus); got != tc.want {
			t.Errorf("DeviceName(%v, %q) = %q, want %q", tc.p, tc.bus, got, tc.want)
		}
	}
}

// TestBoschPartsAreReadInUnits: a BME280's Device reads temperature,
// pressure and humidity by part; a BMP280's has no humidity to read.
func TestBoschPartsAreReadInUnits(t *testing.T) {
	for _, tc := range []struct {
		kind       Kind
		want, none []string
	}{
		{BME280, []string{"part: bme280\n          field: temperature", "field: pressure", "field: humidity", "unit: hectopascal"}, []string{"register"}},
		{BMP280, []string{"part: bmp280\n          field: temperature", "field: pressure"}, []string{"humidity", "register"}},
	} {
		var b bytes.Buffer
		if err := WriteYAML(&b, []Part{{Addr: 0x77, Kind: tc.kind}}, "1", "n"); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: no %q in\n%s", tc.kind, w, b.String())
			}
		}
		for _, n := range tc.none {
			if strings.Contains(b.String(), n) {
				t.Errorf("%s: %q in\n%s", tc.kind, n, b.String())
			}
		}
	}
}
