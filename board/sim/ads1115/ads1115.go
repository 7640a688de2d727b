// Package ads1115 simulates a TI ADS1115 four-channel 16-bit ADC behind a
// simulated I²C bus (see board/sim).
//
// The inputs are deterministic functions of wall time t:
//
//	AIN0 = 1.0 + 0.5·sin(2π·t / 60 s) V, AIN1 = 2.0 V, AIN2 = 0.5 V, AIN3 = 3.0 V.
//
// Emulated: the pointer register; the configuration register (reset
// 0x8583) with the input multiplexer (differential pairs and single-ended
// inputs), the gain (full scale ±6.144 to ±0.256 V), continuous mode (every
// read of the conversion register converts) and single-shot mode (writing OS
// converts once; the register holds that result); the threshold registers as
// storage. Not emulated: the comparator and ALERT/RDY pin, data rates,
// conversion time.
package ads1115

import (
	"math"
	"time"

	"github.com/tinymapper/tinymapper/board/sim/word"
)

// Device is a simulated ADS1115. The simulated bus serializes transactions.
type Device struct {
	now        func() time.Time
	pointer    byte
	config     uint16
	lo, hi     uint16
	conversion int16 // the last single-shot result
}

// New returns an ADS1115 in its power-on state on the clock now (time.Now
// when nil).
func New(now func() time.Time) *Device {
	if now == nil {
		now = time.Now
	}
	return &Device{now: now, config: DefaultConfig, lo: DefaultLoThresh, hi: DefaultHiThresh}
}

// Input returns the voltage on AINn at t.
func Input(n int, t time.Time) float64 {
	switch n {
	case 0:
		const period = int64(60 * time.Second)
		return 1.0 + 0.5*math.Sin(2*math.Pi*float64(t.UnixNano()%period)/float64(period))
	case 1:
		return 2.0
	case 2:
		return 0.5
	}
	return 3.0
}

// Code returns the conversion result for config at t: the multiplexed
// voltage over the full scale, clamped to int16.
func Code(config uint16, t time.Time) int16 {
	var v float64
	switch mux := config >> configMuxShift & 7; mux {
	case 0:
		v = Input(0, t) - Input(1, t)
	case 1:
		v = Input(0, t) - Input(3, t)
	case 2:
		v = Input(1, t) - Input(3, t)
	case 3:
		v = Input(2, t) - Input(3, t)
	default:
		v = Input(int(mux-4), t)
	}
	fs := fullScale[config>>configPGAShift&7]
	return int16(max(-32768, min(32767, math.Round(v/fs*32768))))
}

func (d *Device) String() string { return "ADS1115" }

// Tx: a write of 1 byte sets the pointer, 3 bytes set it and write the
// register (MSB first); a read returns the pointed register.
func (d *Device) Tx(w, r []byte) error {
	if len(w) > 0 {
		p, v, written, err := word.Write("ads1115", RegHiThresh, w)
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

func (d *Device) write(v uint16) {
	switch d.pointer {
	case RegConfig:
		d.config = v &^ ConfigOS
		if v&ConfigMode != 0 && v&ConfigOS != 0 {
			d.conversion = Code(d.config, d.now())
		}
	case RegLoThresh:
		d.lo = v
	case RegHiThresh:
		d.hi = v
	}
}

func (d *Device) read() uint16 {
	switch d.pointer {
	case RegConversion:
		if d.config&ConfigMode == 0 {
			return uint16(Code(d.config, d.now()))
		}
		return uint16(d.conversion)
	case RegConfig:
		if d.config&ConfigMode != 0 {
			return d.config | ConfigOS // single-shot: the conversion is done
		}
		return d.config
	case RegLoThresh:
		return d.lo
	}
	return d.hi
}
