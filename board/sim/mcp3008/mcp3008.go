// Package mcp3008 simulates a Microchip MCP3008 8-channel 10-bit ADC on a
// simulated SPI port (see board/sim), bit by bit as the datasheet clocks it.
//
// The inputs are deterministic functions of wall time t (since the Unix
// epoch), given as 10-bit codes (volts = code × 3.3 / 1024):
//
//	channel  input                                   code          volts
//	0        triangle, period 10 s                   0 → 1023 → 0  0 at each 10 s, 3.3 at +5 s
//	1        constant, half scale                    512           1.65
//	2        sine, period 60 s                       0 .. 1023     1.65 on each minute, 3.3 at second 15
//	3        constant, ground                        0             0
//	4        constant, full scale (VREF)             1023          3.3
//	5        constant, quarter scale                 256           0.825
//	6        constant, three quarters                768           2.475
//	7        constant                                341           1.1
//
// precisely: ch0 = round(1023 × (1 − |1 − 2·(t mod 10 s)/10 s|)) and
// ch2 = round(511.5 + 511.5 × sin(2π·t / 60 s)).
//
// Emulated: the start bit anywhere in the transaction (leading zeros are
// ignored), single-ended and differential inputs (a pair reads the
// difference of the two codes, 0 when IN- is the higher), the null bit, the
// result MSB first then LSB first then zeros, high-impedance DOUT before the
// null bit (read as 1s, as through a pull-up: mask the result), one
// conversion per transaction with CS low. SPI modes 0 and 3 only, clock up to
// 3.6 MHz, 8 bits per word (the Raspberry Pi's controller has no other); the
// sim fails a transfer outside these instead of returning garbage. Not
// emulated: conversion timing and the sample capacitor droop below 10 kHz.
package mcp3008

import (
	"fmt"
	"math"
	"time"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
)

// Code returns the simulated 10-bit code of single-ended channel ch at t.
func Code(ch int, t time.Time) int {
	switch ch {
	case 0:
		const period = int64(10 * time.Second)
		p := float64(t.UnixNano()%period) / float64(period)
		return int(math.Round(FullScale * (1 - math.Abs(1-2*p))))
	case 1:
		return 512
	case 2:
		const period = int64(60 * time.Second)
		p := float64(t.UnixNano()%period) / float64(period)
		return int(math.Round(511.5 + 511.5*math.Sin(2*math.Pi*p)))
	case 3:
		return 0
	case 4:
		return FullScale
	case 5:
		return 256
	case 6:
		return 768
	case 7:
		return 341
	}
	return 0
}

// Device is a simulated MCP3008. The simulated port calls it with its lock
// held, one transaction at a time.
type Device struct {
	now func() time.Time

	// The transaction in progress (CS low).
	pos   int    // bits clocked since CS went low
	start int    // bit position of the start bit, -1 before it
	cfg   uint8  // configuration bits clocked in so far
	code  uint16 // the conversion, taken once D0 is in
}

// New returns an MCP3008 whose inputs follow the clock now (time.Now when nil).
func New(now func() time.Time) *Device {
	if now == nil {
		now = time.Now
	}
	return &Device{now: now, start: -1}
}

func (d *Device) String() string { return "MCP3008" }

// Check refuses what the part cannot do: SPI modes 1 and 2, clocks above
// MaxClock, and words of other than 8 bits.
func (d *Device) Check(f physic.Frequency, mode spi.Mode, bits int) error {
	if m := mode & spi.Mode3; m != spi.Mode0 && m != spi.Mode3 {
		return fmt.Errorf("mcp3008: SPI %s: the part talks in modes 0 and 3 only", m)
	}
	if mode&^spi.Mode3 != 0 {
		return fmt.Errorf("mcp3008: SPI mode %s: half duplex, no CS and LSB first are not supported", mode)
	}
	if f > MaxClock {
		return fmt.Errorf("mcp3008: clock %s is above the part's %s", f, physic.Frequency(MaxClock))
	}
	if bits != 8 {
		return fmt.Errorf("mcp3008: %d bits per word: the simulated port clocks 8-bit words only", bits)
	}
	return nil
}

// Transfer clocks the bytes of w into DIN (zeros when w is nil) and DOUT into
// r (when not nil), MSB first, continuing the transaction in progress.
func (d *Device) Transfer(w, r []byte) {
	n := len(w)
	if len(r) > n {
		n = len(r)
	}
	for i := 0; i < n; i++ {
		var in, out byte
		if i < len(w) {
			in = w[i]
		}
		for b := 7; b >= 0; b-- {
			out |= d.clock(in>>b&1) << b
		}
		if i < len(r) {
			r[i] = out
		}
	}
}

// Deselect raises CS: the next Transfer starts a new transaction.
func (d *Device) Deselect() { d.pos, d.start, d.cfg = 0, -1, 0 }

// clock shifts one bit in on DIN and returns the bit on DOUT.
func (d *Device) clock(din byte) byte {
	i := d.pos
	d.pos++
	if d.start < 0 {
		if din == 1 {
			d.start = i
		}
		return 1 // high impedance
	}
	switch k := i - d.start; {
	case k <= 4: // SGL/DIFF, D2, D1, D0
		d.cfg = d.cfg<<1 | din
		if k == 4 {
			d.code = d.convert(d.cfg)
		}
		return 1
	case k == 5: // sampling
		return 1
	case k == 6:
		return 0 // null bit
	case k <= 16: // B9 .. B0
		return byte(d.code>>(16-k)) & 1
	case k <= 25: // B1 .. B9, LSB first
		return byte(d.code>>(k-16)) & 1
	}
	return 0
}

// convert returns the code for configuration cfg (SGL/DIFF, D2, D1, D0).
func (d *Device) convert(cfg uint8) uint16 {
	now := d.now()
	ch := int(cfg & ConfigChannel)
	if cfg&ConfigSingle != 0 {
		return uint16(Code(ch, now))
	}
	plus, minus := Pair(ch)
	if v := Code(plus, now) - Code(minus, now); v > 0 {
		return uint16(v)
	}
	return 0
}
