// Package sht3x simulates a Sensirion SHT3x humidity and temperature sensor
// behind a simulated I²C bus (see board/sim).
//
// Its values are deterministic functions of wall time t:
//
//	T(t)  = 23 + 2·sin(2π·t / 60 s) °C
//	RH(t) = 50 + 10·sin(2π·t / 300 s) %
//
// sent as the 16-bit codes S_T = (T + 45)·65535/175 and S_RH = RH·65535/100.
// Emulated: the single-shot measurement without clock stretching (0x2400;
// the result is ready at once), the serial number (0x3780), soft reset and
// the status word, with CRC-8 on every word. A read with nothing to send is
// not acknowledged (NACK), as on the part. Other commands are NACKed too.
package sht3x

import (
	"errors"
	"math"
	"time"
)

// ErrNACK is what a read with no data pending, or an unknown command, gets.
var ErrNACK = errors.New("remote I/O error: sht3x: no data pending or unknown command (NACK)")

// Device is a simulated SHT3x. The simulated bus serializes transactions.
type Device struct {
	now     func() time.Time
	words   [2]uint16 // words[:pending] are what the next read returns
	pending int
}

// New returns an SHT3x on the clock now (time.Now when nil).
func New(now func() time.Time) *Device {
	if now == nil {
		now = time.Now
	}
	return &Device{now: now}
}

// Temperature returns T(t) in °C.
func Temperature(t time.Time) float64 {
	const period = int64(60 * time.Second)
	return 23 + 2*math.Sin(2*math.Pi*float64(t.UnixNano()%period)/float64(period))
}

// Humidity returns RH(t) in %.
func Humidity(t time.Time) float64 {
	const period = int64(300 * time.Second)
	return 50 + 10*math.Sin(2*math.Pi*float64(t.UnixNano()%period)/float64(period))
}

// CRC is the SHT3x's CRC-8 of a word.
func CRC(word uint16) byte {
	crc := byte(0xFF)
	for _, b := range [2]byte{byte(word >> 8), byte(word)} {
		crc ^= b
		for range 8 {
			if crc&0x80 != 0 {
				crc = crc<<1 ^ 0x31
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func (d *Device) String() string { return "SHT3x" }

// Tx: a write is one 16-bit command; a read returns the pending words, 3
// bytes each (MSB, LSB, CRC), and clears them.
func (d *Device) Tx(w, r []byte) error {
	if len(w) > 0 {
		if len(w) != 2 {
			return ErrNACK
		}
		switch uint16(w[0])<<8 | uint16(w[1]) {
		case CmdMeasureHigh:
			now := d.now()
			st := uint16(math.Round((Temperature(now) + 45) * 65535 / 175))
			srh := uint16(math.Round(Humidity(now) * 65535 / 100))
			d.words, d.pending = [2]uint16{st, srh}, 2
		case CmdReadSerial:
			d.words, d.pending = [2]uint16{Serial >> 16, Serial & 0xFFFF}, 2
		case CmdStatus:
			d.words, d.pending = [2]uint16{0x0000}, 1
		case CmdSoftReset:
			d.pending = 0
		default:
			return ErrNACK
		}
	}
	if len(r) == 0 {
		return nil
	}
	if d.pending == 0 {
		return ErrNACK
	}
	for i := range r {
		word := i / 3
		if word >= d.pending {
			r[i] = 0xFF
			continue
		}
		switch i % 3 {
		case 0:
			r[i] = byte(d.words[word] >> 8)
		case 1:
			r[i] = byte(d.words[word])
		case 2:
			r[i] = CRC(d.words[word])
		}
	}
	d.pending = 0
	return nil
}
