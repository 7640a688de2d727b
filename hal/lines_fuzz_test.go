package hal

import (
	"bytes"
	"testing"
)

// refLines is what Lines must return: the segments before each term,
// trimmed of CR and LF, except those longer than max.
func refLines(data []byte, term byte, max int) [][]byte {
	var out [][]byte
	for {
		i := bytes.IndexByte(data, term)
		if i < 0 {
			return out
		}
		seg := data[:i]
		data = data[i+1:]
		if len(seg) <= max {
			out = append(out, trimLineEnds(seg))
		}
	}
}

// FuzzLines cuts arbitrary bytes, arriving in arbitrary pieces, into lines,
// as an exchange and the reader do: the lines must be those of the reference
// splitter, whatever the pieces.
func FuzzLines(f *testing.F) {
	f.Add([]byte("T=23.4 H=45.1\r\n"), uint8(3), uint8(32), false)
	f.Add([]byte("a\nbb\n\nccc"), uint8(1), uint8(2), false)
	f.Add([]byte("\r\r\n\n\x00\xff\n"), uint8(255), uint8(4), true)
	f.Fuzz(func(t *testing.T, data []byte, chunk, max uint8, cr bool) {
		term := byte('\n')
		if cr {
			term = '\r'
		}
		var got [][]byte
		lines := &Lines{EOL: term, Max: int(max) + 1, Line: func(line []byte) bool {
			if bytes.IndexByte(line, term) >= 0 {
				t.Fatalf("line %q holds the line end", line)
			}
			got = append(got, bytes.Clone(line))
			return false
		}}
		a := assembler{rx: make([]byte, int(max)+2)}
		for rest, n := data, int(chunk%64)+1; len(rest) > 0; {
			k := min(n, len(rest))
			if a.push(rest[:k], lines) {
				t.Fatal("Lines completed a reply nobody accepted")
			}
			rest = rest[k:]
		}
		want := refLines(data, term, int(max)+1)
		if len(got) != len(want) {
			t.Fatalf("%d lines %q, want %d %q", len(got), got, len(want), want)
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("line %d = %q, want %q", i, got[i], want[i])
			}
		}
	})
}
