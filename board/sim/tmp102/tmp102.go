// Package tmp102 simulates a TI TMP102 temperature sensor behind a simulated
// I²C bus (see board/sim).
//
// The temperature is a deterministic function of wall time,
//
//	T(t) = 22.5 + 2.5·sin(2π·t / 60 s) °C, quantized to 0.0625 °C,
//
// with t the time since the Unix epoch: a sine with a one-minute period between
// 20.0 and 25.0 °C, at 22.5 °C on each minute, 25.0 °C at second 15 and 20.0 °C
// at second 45.
//
// Emulated: the pointer register; the temperature register (12-bit two's
// complement, left-justified, or 13-bit with EM set); the writable configuration
// bits (R1, R0 and AL read back as their power-on values); TLOW and THIGH;
// shutdown (SD), which holds the last reading; and one-shot (OS), which takes a
// reading while shut down. Not emulated: the ALERT output and the AL flag (the
// limits are stored but never compared), the fault queue, and conversion time
// (every read of the temperature register sees a fresh conversion).
package tmp102

import (
	"math"
	"time"

	"github.com/tinymapper/tinymapper/board/sim/word"
)

// Device is a simulated TMP102. Use it from one goroutine at a time; the
// simulated bus serializes transactions.
type Device struct {
	now     func() time.Time
	pointer byte
	config  uint16
	tLow    uint16
	tHigh   uint16
	held    int // the reading kept while shut down, in LSBs
}

// New returns a TMP102 in its power-on state whose temperature follows the
// clock now (time.Now when nil).
func New(now func() time.Time) *Device {
	if now == nil {
		now = time.Now
	}
	return &Device{now: now, config: DefaultConfig, tLow: DefaultTLow, tHigh: DefaultTHigh}
}

// Temperature returns the simulated temperature at t in °C, quantized to
// Resolution: between 20.0 and 25.0.
func Temperature(t time.Time) float64 {
	const period = int64(60 * time.Second)
	phase := float64(t.UnixNano()%period) / float64(period)
	return math.Round((22.5+2.5*math.Sin(2*math.Pi*phase))/Resolution) * Resolution
}

func (d *Device) String() string { return "TMP102" }

// Tx handles one I²C transaction addressed to the device: a write of 1 byte
// sets the pointer, a write of 3 bytes sets the pointer and writes the pointed
// register (MSB first), and a read returns the pointed register MSB first. A
// read past the register's 2 bytes gets 0xFF, as from a released bus.
func (d *Device) Tx(w, r []byte) error {
	if len(w) > 0 {
		p, v, written, err := word.Write("tmp102", RegTHigh, w)
		if err != nil {
			return err
		}
		d.pointer = p
		if written {
			d.write(v)
		}
	}
	if len(r) > 0 {
		word.Put(r, d.read())
	}
	return nil
}

func (d *Device) read() uint16 {
	switch d.pointer {
	case RegTemperature:
		if d.config&ConfigSD != 0 {
			return d.format(d.held)
		}
		return d.format(d.convert())
	case RegConfig:
		if d.config&ConfigSD != 0 {
			return d.config | ConfigOS // shut down: the one-shot conversion is done
		}
		return d.config
	case RegTLow:
		return d.tLow
	}
	return d.tHigh
}

func (d *Device) write(v uint16) {
	switch d.pointer {
	case RegTemperature:
		// Read only: the part ignores the data.
	case RegConfig:
		wasShutDown := d.config&ConfigSD != 0
		d.config = d.config&^configWritable | v&configWritable
		if d.config&ConfigSD != 0 && (!wasShutDown || v&ConfigOS != 0) {
			d.held = d.convert() // shutting down keeps the last reading; OS takes one
		}
	case RegTLow:
		d.tLow = v & d.limitBits()
	case RegTHigh:
		d.tHigh = v & d.limitBits()
	}
}

// convert returns the current temperature in LSBs.
func (d *Device) convert() int { return int(math.Round(Temperature(d.now()) / Resolution)) }

// format lays a reading out as the temperature register does: 12 bits
// left-justified, or 13 bits with EM set.
func (d *Device) format(lsb int) uint16 {
	if d.config&ConfigEM != 0 {
		return uint16(int16(lsb) << 3)
	}
	return uint16(int16(lsb) << 4)
}

// limitBits are the TLOW/THIGH bits that hold data in the current mode.
func (d *Device) limitBits() uint16 {
	if d.config&ConfigEM != 0 {
		return 0xFFF8
	}
	return 0xFFF0
}
