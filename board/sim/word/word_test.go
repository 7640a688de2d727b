package word_test

import (
	"bytes"
	"testing"

	"github.com/tinymapper/tinymapper/board/sim/word"
)

func TestPut(t *testing.T) {
	for _, c := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{}},
		{1, []byte{0x12}},
		{2, []byte{0x12, 0x34}},
		{4, []byte{0x12, 0x34, 0xFF, 0xFF}},
	} {
		r := make([]byte, c.n)
		word.Put(r, 0x1234)
		if !bytes.Equal(r, c.want) {
			t.Errorf("read of %d bytes = % x, want % x", c.n, r, c.want)
		}
	}
}

func TestWrite(t *testing.T) {
	for _, c := range []struct {
		w       []byte
		pointer byte
		v       uint16
		written bool
		err     string
	}{
		{w: []byte{0x02}, pointer: 2},
		{w: []byte{0x01, 0x60, 0xA0}, pointer: 1, v: 0x60A0, written: true},
		{w: []byte{0x04}, err: "part: pointer 0x04: registers are 0x00 to 0x03"},
		{w: []byte{0x01, 0x60}, err: "part: write of 2 bytes: want 1 (pointer) or 3 (pointer and 16-bit value)"},
		{w: []byte{0x01, 0x60, 0xA0, 0x00}, err: "part: write of 4 bytes: want 1 (pointer) or 3 (pointer and 16-bit value)"},
	} {
		p, v, written, err := word.Write("part", 3, c.w)
		switch {
		case c.err != "" && (err == nil || err.Error() != c.err):
			t.Errorf("Write(% x) error %v, want %q", c.w, err, c.err)
		case c.err == "" && (err != nil || p != c.pointer || v != c.v || written != c.written):
			t.Errorf("Write(% x) = %d, %#04x, %v, %v; want %d, %#04x, %v", c.w, p, v, written, err, c.pointer, c.v, c.written)
		}
	}
}
