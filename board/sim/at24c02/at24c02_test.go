package at24c02_test

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/at24c02"
)

// patient is a clock that moves one write cycle on at every look, so a test
// that writes and reads back never catches the part busy.
func patient() func() time.Time {
	var ticks atomic.Int64
	t0 := time.Unix(1_700_000_000, 0)
	return func() time.Time { return t0.Add(time.Duration(ticks.Add(1)) * at24c02.WriteCycle) }
}

// newDev attaches an erased 24C02 to a fresh sim bus and returns it the way a
// periph driver sees it: an i2c.Dev at the part's address.
func newDev(t *testing.T) *i2c.Dev {
	t.Helper()
	bus := sim.NewI2CBus("test")
	if err := bus.Attach(at24c02.Address, at24c02.NewWithClock(patient())); err != nil {
		t.Fatal(err)
	}
	return &i2c.Dev{Bus: bus, Addr: at24c02.Address}
}

func tx(t *testing.T, d *i2c.Dev, w []byte, n int) []byte {
	t.Helper()
	r := make([]byte, n)
	if err := d.Tx(w, r); err != nil {
		t.Fatalf("Tx(% x, %d): %v", w, n, err)
	}
	return r
}

func TestEEPROM(t *testing.T) {
	tests := []struct {
		name   string
		writes [][]byte // transactions before the read
		read   []byte   // the write of the read transaction (nil: current address)
		n      int
		want   []byte
	}{
		{"starts erased", nil, []byte{0x00}, 4, []byte{0xff, 0xff, 0xff, 0xff}},
		{"byte write then random read",
			[][]byte{{0x10, 0xa5}}, []byte{0x10}, 1, []byte{0xa5}},
		{"page write",
			[][]byte{{0x20, 1, 2, 3, 4}}, []byte{0x20}, 5, []byte{1, 2, 3, 4, 0xff}},
		{"page write wraps within its 8-byte page",
			[][]byte{{0x1e, 1, 2, 3, 4}}, []byte{0x18}, 8, []byte{3, 4, 0xff, 0xff, 0xff, 0xff, 1, 2}},
		{"more than a page overwrites the first bytes",
			[][]byte{{0x30, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}, []byte{0x30}, 8, []byte{9, 10, 3, 4, 5, 6, 7, 8}},
		{"sequential read crosses pages",
			[][]byte{{0x07, 7}, {0x08, 8}}, []byte{0x07}, 2, []byte{7, 8}},
		{"sequential read wraps at 256",
			[][]byte{{0xff, 0xee}, {0x00, 0x11}}, []byte{0xff}, 2, []byte{0xee, 0x11}},
		{"current address read continues after a write",
			[][]byte{{0x40, 1, 2}, {0x40}, {0x42, 3}}, nil, 1, []byte{0xff}},
		{"address write then current address read",
			[][]byte{{0x50, 0x42}, {0x50}}, nil, 1, []byte{0x42}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDev(t)
			for _, w := range tt.writes {
				tx(t, d, w, 0)
			}
			if got := tx(t, d, tt.read, tt.n); !bytes.Equal(got, tt.want) {
				t.Errorf("read % x = % x, want % x", tt.read, got, tt.want)
			}
		})
	}
}

func TestReadsAdvanceTheAddressCounter(t *testing.T) {
	d := newDev(t)
	tx(t, d, []byte{0x60, 1, 2, 3, 4}, 0)
	tx(t, d, []byte{0x60}, 2)
	if got := tx(t, d, nil, 2); !bytes.Equal(got, []byte{3, 4}) {
		t.Errorf("second read = % x, want 03 04", got)
	}
}

func TestTheWriteCycleNACKsUntilItEnds(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	d := at24c02.NewWithClock(func() time.Time { return now })
	if err := d.Tx([]byte{0x10, 0x5a}, nil); err != nil {
		t.Fatal(err)
	}
	r := make([]byte, 1)
	now = now.Add(at24c02.WriteCycle - time.Microsecond)
	if err := d.Tx([]byte{0x10}, r); !errors.Is(err, at24c02.ErrBusy) {
		t.Fatalf("read during the write cycle = %v; want ErrBusy", err)
	}
	now = now.Add(time.Microsecond)
	if err := d.Tx([]byte{0x10}, r); err != nil || r[0] != 0x5a {
		t.Fatalf("read after the write cycle = %#02x, %v; want 0x5a", r[0], err)
	}
	// Setting the address alone is not a write: no cycle follows.
	if err := d.Tx([]byte{0x10}, r); err != nil {
		t.Fatalf("read right after an address-only write = %v", err)
	}
}
