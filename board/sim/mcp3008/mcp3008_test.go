package mcp3008_test

import (
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"github.com/tinymapper/tinymapper/board/sim/mcp3008"
)

// tenSeconds is the start of a triangle period of channel 0 (code 0) and of a
// minute of channel 2 (code 512).
var tenSeconds = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// tx runs one transaction (CS low, the bytes, CS high) and returns the reply.
func tx(d *mcp3008.Device, w ...byte) []byte {
	r := make([]byte, len(w))
	d.Transfer(w, r)
	d.Deselect()
	return r
}

// single reads channel ch in the datasheet's three-byte layout.
func single(d *mcp3008.Device, ch int) int {
	r := tx(d, 0x01, mcp3008.Command(ch), 0x00)
	return int(r[1]&0x03)<<8 | int(r[2])
}

func TestChannelsFollowTheirDocumentedFunctions(t *testing.T) {
	tests := []struct {
		ch   int
		at   time.Duration
		want int
	}{
		{0, 0, 0},
		{0, 2500 * time.Millisecond, 512}, // round(1023 × 0.5)
		{0, 5 * time.Second, 1023},
		{0, 7500 * time.Millisecond, 512},
		{0, 10 * time.Second, 0},
		{1, 3 * time.Second, 512},
		{2, 0, 512}, // round(511.5)
		{2, 15 * time.Second, 1023},
		{2, 30 * time.Second, 512},
		{2, 45 * time.Second, 0},
		{3, 0, 0},
		{4, 0, 1023},
		{5, 0, 256},
		{6, 0, 768},
		{7, 0, 341},
	}
	c := &clock{}
	d := mcp3008.New(c.now)
	for _, tt := range tests {
		c.t = tenSeconds.Add(tt.at)
		if got := mcp3008.Code(tt.ch, c.t); got != tt.want {
			t.Errorf("Code(%d) at +%v = %d, want %d", tt.ch, tt.at, got, tt.want)
		}
		if got := single(d, tt.ch); got != tt.want {
			t.Errorf("channel %d read at +%v = %d, want %d", tt.ch, tt.at, got, tt.want)
		}
	}
}

func TestEveryCodeIsTenBits(t *testing.T) {
	for ms := 0; ms < 60_000; ms += 13 {
		at := tenSeconds.Add(time.Duration(ms) * time.Millisecond)
		for ch := 0; ch < mcp3008.Channels; ch++ {
			if v := mcp3008.Code(ch, at); v < 0 || v > mcp3008.FullScale {
				t.Fatalf("Code(%d) at +%dms = %d, outside [0, 1023]", ch, ms, v)
			}
		}
	}
}

func TestThreeByteReplyHasTheNullBitAndHighImpedanceOnes(t *testing.T) {
	d := mcp3008.New(nil)
	for _, tt := range []struct {
		ch   int
		want []byte
	}{
		{1, []byte{0xFF, 0xFA, 0x00}}, // 512: 11111 0 10, 0000 0000
		{3, []byte{0xFF, 0xF8, 0x00}}, // 0
		{4, []byte{0xFF, 0xFB, 0xFF}}, // 1023
		{7, []byte{0xFF, 0xF9, 0x55}}, // 341 = 01 0101 0101
	} {
		if got := tx(d, 0x01, mcp3008.Command(tt.ch), 0x00); string(got) != string(tt.want) {
			t.Errorf("channel %d: reply % x, want % x", tt.ch, got, tt.want)
		}
	}
}

func TestStartBitAnywhere(t *testing.T) {
	d := mcp3008.New(nil)
	// The MCP3208 layout: 0000 01 S D2 | D1 D0 xxxxxx | xxxxxxxx. The start
	// bit comes 5 bits earlier, so the result is 2 bits higher than in the
	// usual layout: null bit at byte 1 bit 4, B0 at byte 2 bit 2.
	r := tx(d, 0x06|7>>2, 7<<6&0xFF, 0x00)
	if got := (int(r[1])<<8 | int(r[2])) >> 2 & 0x3FF; got != 341 {
		t.Errorf("channel 7 in the left-aligned layout: reply % x → %d, want 341", r, got)
	}
	// Leading zero bytes are clocked through.
	r = tx(d, 0x00, 0x01, mcp3008.Command(5), 0x00)
	if got := int(r[2]&3)<<8 | int(r[3]); got != 256 {
		t.Errorf("channel 5 after a zero byte: reply % x → %d, want 256", r, got)
	}
}

func TestMoreClocksGiveTheResultLSBFirstThenZeros(t *testing.T) {
	d := mcp3008.New(nil)
	// 341 = 0b0101010101. After B0 (byte 2 bit 0): B1..B9 then zeros.
	r := tx(d, 0x01, mcp3008.Command(7), 0x00, 0x00, 0x00)
	// Byte 3 holds B1..B8: 0,1,0,1,0,1,0,1 → 0x55; byte 4 holds B9 (0) then zeros.
	if r[3] != 0x55 || r[4] != 0x00 {
		t.Errorf("bytes after the result = % x, want 55 00", r[3:])
	}
	r = tx(d, 0x01, mcp3008.Command(4), 0x00, 0x00, 0x00)
	if r[3] != 0xFF || r[4] != 0x80 {
		t.Errorf("1023 LSB first = % x, want ff 80", r[3:])
	}
}

func TestDifferentialPairs(t *testing.T) {
	// At second 15: CH0 = 1023 (the triangle's top), CH2 = 1023 (the sine's).
	c := &clock{tenSeconds.Add(15 * time.Second)}
	d := mcp3008.New(c.now)
	for _, tt := range []struct {
		cfg         int // D2 D1 D0
		plus, minus int
		want        int
	}{
		{0, 0, 1, 1023 - 512},
		{1, 1, 0, 0}, // 512 - 1023 is negative: 0
		{2, 2, 3, 1023},
		{3, 3, 2, 0},
		{4, 4, 5, 1023 - 256},
		{5, 5, 4, 0},
		{6, 6, 7, 768 - 341},
		{7, 7, 6, 0},
	} {
		if p, m := mcp3008.Pair(tt.cfg); p != tt.plus || m != tt.minus {
			t.Errorf("Pair(%d) = CH%d-CH%d, want CH%d-CH%d", tt.cfg, p, m, tt.plus, tt.minus)
		}
		r := tx(d, 0x01, byte(tt.cfg)<<4, 0x00) // SGL/DIFF = 0
		if got := int(r[1]&3)<<8 | int(r[2]); got != tt.want {
			t.Errorf("differential %d (CH%d-CH%d) = %d, want %d", tt.cfg, tt.plus, tt.minus, got, tt.want)
		}
	}
}

func TestWithoutAStartBitTheChipStaysSilent(t *testing.T) {
	d := mcp3008.New(nil)
	if r := tx(d, 0x00, 0x00, 0x00); string(r) != "\xff\xff\xff" {
		t.Errorf("reply to zeros = % x, want ff ff ff (DOUT high impedance)", r)
	}
}

func TestATransactionCanSpanTransfers(t *testing.T) {
	d := mcp3008.New(nil)
	r1, r2 := make([]byte, 2), make([]byte, 1)
	d.Transfer([]byte{0x01, mcp3008.Command(7)}, r1)
	d.Transfer(nil, r2)
	d.Deselect()
	if got := int(r1[1]&3)<<8 | int(r2[0]); got != 341 {
		t.Errorf("split transaction = % x % x, want 341", r1, r2)
	}
}

func TestCheckRefusesWhatThePartCannotDo(t *testing.T) {
	d := mcp3008.New(nil)
	for _, tt := range []struct {
		f    physic.Frequency
		mode spi.Mode
		bits int
		msg  string
	}{
		{physic.MegaHertz, spi.Mode0, 8, ""},
		{mcp3008.MaxClock, spi.Mode3, 8, ""},
		{physic.MegaHertz, spi.Mode1, 8, "modes 0 and 3"},
		{physic.MegaHertz, spi.Mode2, 8, "modes 0 and 3"},
		{physic.MegaHertz, spi.Mode0 | spi.HalfDuplex, 8, "half duplex"},
		{4 * physic.MegaHertz, spi.Mode0, 8, "above the part's 3.600MHz"},
		{physic.MegaHertz, spi.Mode0, 16, "16 bits per word"},
	} {
		err := d.Check(tt.f, tt.mode, tt.bits)
		if tt.msg == "" && err != nil || tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)) {
			t.Errorf("Check(%s, %s, %d) = %v, want %q", tt.f, tt.mode, tt.bits, err, tt.msg)
		}
	}
}
