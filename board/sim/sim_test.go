package sim_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/ads1115"
	"github.com/tinymapper/tinymapper/board/sim/at24c02"
	"github.com/tinymapper/tinymapper/board/sim/tmp102"
)

// echo is a Part that answers each read with the first byte written, plus one.
type echo struct{ last byte }

func (e *echo) Tx(w, r []byte) error {
	if len(w) > 0 {
		e.last = w[0]
	}
	for i := range r {
		r[i] = e.last + 1
	}
	return nil
}

func TestBusDispatchesByAddress(t *testing.T) {
	bus := sim.NewI2CBus("test")
	a, b := &echo{}, &echo{}
	if err := bus.Attach(0x10, a); err != nil {
		t.Fatal(err)
	}
	if err := bus.Attach(0x11, b); err != nil {
		t.Fatal(err)
	}
	r := make([]byte, 1)
	if err := bus.Tx(0x10, []byte{5}, r); err != nil || r[0] != 6 {
		t.Errorf("Tx(0x10, 05) read %d, %v; want 6", r[0], err)
	}
	if err := bus.Tx(0x11, nil, r); err != nil || r[0] != 1 {
		t.Errorf("Tx(0x11) read %d, %v; want 1 (nothing written to 0x11)", r[0], err)
	}
}

func TestBusWithoutAPartAtTheAddressNACKs(t *testing.T) {
	bus := sim.NewI2CBus("SIM-TEST")
	err := bus.Tx(0x20, []byte{0}, make([]byte, 1))
	if !errors.Is(err, sim.ErrNACK) {
		t.Fatalf("Tx to an empty address = %v, want ErrNACK", err)
	}
	for _, want := range []string{"SIM-TEST", "0x20", "NACK", "remote I/O error"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestBusRejectsBadAddresses(t *testing.T) {
	bus := sim.NewI2CBus("test")
	if err := bus.Tx(0x80, []byte{0}, nil); err == nil || !strings.Contains(err.Error(), "invalid address") {
		t.Errorf("Tx(0x80) = %v, want invalid address", err)
	}
	for _, addr := range []uint16{0x00, 0x02, 0x78, 0x80} {
		if err := bus.Attach(addr, &echo{}); err == nil {
			t.Errorf("Attach(0x%02x) succeeded, want an error", addr)
		}
	}
	if err := bus.Attach(0x48, &echo{}); err != nil {
		t.Fatal(err)
	}
	if err := bus.Attach(0x48, &echo{}); err == nil || !strings.Contains(err.Error(), "taken") {
		t.Errorf("second Attach(0x48) = %v, want address taken", err)
	}
}

func TestEmptyTxDoesNothing(t *testing.T) {
	if err := sim.NewI2CBus("test").Tx(0x20, nil, nil); err != nil {
		t.Errorf("empty Tx = %v, want nil as with periph's sysfs driver", err)
	}
}

func TestPartErrorsNameTheBusAndAddress(t *testing.T) {
	bus := sim.NewI2CBus("test")
	if err := bus.Attach(tmp102.Address, tmp102.New(nil)); err != nil {
		t.Fatal(err)
	}
	err := bus.Tx(tmp102.Address, []byte{9}, nil)
	if err == nil || !strings.Contains(err.Error(), "test: address 0x48: tmp102: pointer 0x09") {
		t.Errorf("bad pointer = %v", err)
	}
}

func TestClosedHandleFailsButTheBusLivesOn(t *testing.T) {
	bus := sim.NewI2CBus("test")
	if err := bus.Attach(at24c02.Address, at24c02.NewWithClock(patientClock())); err != nil {
		t.Fatal(err)
	}
	h1, _ := bus.Open()
	h2, _ := bus.Open()
	if err := h1.Tx(at24c02.Address, []byte{0, 0x42}, nil); err != nil {
		t.Fatal(err)
	}
	if err := h1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h1.Close(); err == nil {
		t.Error("second Close succeeded, want an error")
	}
	if err := h1.Tx(at24c02.Address, []byte{0}, make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Tx on a closed handle = %v, want closed", err)
	}
	r := make([]byte, 1)
	if err := h2.Tx(at24c02.Address, []byte{0}, r); err != nil || r[0] != 0x42 {
		t.Errorf("other handle read %#02x, %v; want 0x42", r[0], err)
	}
}

func TestConcurrentTransactionsAreSerialized(t *testing.T) {
	bus := sim.NewI2CBus("test")
	if err := bus.Attach(at24c02.Address, at24c02.NewWithClock(patientClock())); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g byte) {
			defer wg.Done()
			r := make([]byte, 1)
			for i := 0; i < 200; i++ {
				addr := g * 8 // each goroutine has its own page
				if err := bus.Tx(at24c02.Address, []byte{addr, byte(i)}, nil); err != nil {
					t.Error(err)
					return
				}
				if err := bus.Tx(at24c02.Address, []byte{addr}, r); err != nil || r[0] != byte(i) {
					t.Errorf("goroutine %d read %d, %v; want %d", g, r[0], err, i)
					return
				}
			}
		}(byte(g))
	}
	wg.Wait()
}

func TestRegisterServesBus1UnderEveryName(t *testing.T) {
	for i := 0; i < 3; i++ {
		if err := sim.Register(); err != nil {
			t.Fatalf("Register call %d: %v", i+1, err)
		}
	}
	for _, name := range []string{"1", "I2C1", "/dev/i2c-1", sim.I2C1} {
		b, err := i2creg.Open(name)
		if err != nil {
			t.Errorf("i2creg.Open(%q): %v", name, err)
			continue
		}
		d := i2c.Dev{Bus: b, Addr: tmp102.Address}
		var r [2]byte
		if err := d.Tx([]byte{tmp102.RegConfig}, r[:]); err != nil || r != [2]byte{0x60, 0xA0} {
			t.Errorf("%q: TMP102 config = % x, %v; want 60 a0", name, r, err)
		}
		if b.String() != sim.I2C1 {
			t.Errorf("%q: String() = %q, want %q", name, b.String(), sim.I2C1)
		}
		b.Close()
	}
}

// TestPowerCycleResetsEveryPart: what was written to bus 1's parts is
// gone after a power cycle, as on a board switched off and on.
func TestPowerCycleResetsEveryPart(t *testing.T) {
	b, err := i2creg.Open("1")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tx := func(addr uint16, w []byte, n int) []byte {
		t.Helper()
		r := make([]byte, n)
		if err := (&i2c.Dev{Bus: b, Addr: addr}).Tx(w, r); err != nil {
			t.Fatalf("0x%02x: %v", addr, err)
		}
		return r
	}
	tx(tmp102.Address, []byte{tmp102.RegConfig, 0x61, 0xB0}, 0)
	tx(ads1115.Address, []byte{ads1115.RegConfig, 0x42, 0x83}, 0)
	tx(at24c02.Address, []byte{0x00, 0x5A}, 0)
	if err := sim.PowerCycle(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		part string
		addr uint16
		w    []byte
		want []byte
	}{
		{"TMP102 config", tmp102.Address, []byte{tmp102.RegConfig}, []byte{0x60, 0xA0}},
		{"ADS1115 config", ads1115.Address, []byte{ads1115.RegConfig}, []byte{0x85, 0x83}},
		{"24C02 byte 0", at24c02.Address, []byte{0x00}, []byte{0xFF}},
	} {
		if got := tx(tc.addr, tc.w, len(tc.want)); string(got) != string(tc.want) {
			t.Errorf("%s after a power cycle = % x, want % x", tc.part, got, tc.want)
		}
	}
}

func BenchmarkTMP102Read(b *testing.B) {
	bus := sim.NewI2CBus("bench")
	if err := bus.Attach(tmp102.Address, tmp102.New(nil)); err != nil {
		b.Fatal(err)
	}
	w, r := []byte{tmp102.RegTemperature}, make([]byte, 2)
	b.ReportAllocs()
	for b.Loop() {
		if err := bus.Tx(tmp102.Address, w, r); err != nil {
			b.Fatal(err)
		}
	}
}

// patientClock moves one EEPROM write cycle on at every look, so tests that
// use the EEPROM as plain memory never catch it busy.
func patientClock() func() time.Time {
	var ticks atomic.Int64
	t0 := time.Unix(1_700_000_000, 0)
	return func() time.Time { return t0.Add(time.Duration(ticks.Add(1)) * at24c02.WriteCycle) }
}
