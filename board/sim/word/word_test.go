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
