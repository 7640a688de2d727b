package at24c02_test

import (
	"bytes"
	"testing"

	"periph.io/x/conn/v3/i2c"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/at24c02"
)

// newDev attaches an erased 24C02 to a fresh sim bus and returns it the way a
// periph driver sees it: an i2c.Dev at the part's address.
func newDev(t *testing.T) *i2c.Dev {
	t.Helper()
	bus := sim.NewI2CBus("test")
	if err := bus.Attach(at24c02.Address, at24c02.New()); err != nil {
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
