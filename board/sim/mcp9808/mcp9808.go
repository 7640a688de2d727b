// Package mcp9808 simulates a Microchip MCP9808 temperature sensor behind a
// simulated I²C bus (see board/sim).
//
// The temperature is a deterministic function of wall time,
//
//	T(t) = 21 + 1.5·sin(2π·t / 60 s) °C, quantized to 0.0625 °C,
//
// between 19.5 and 22.5 °C. Emulated: the pointer register, the ambient
// temperature register (sign bit 12, °C × 16 in bits 11..0; the alert flags
// read 0), the manufacturer and device ID registers, and the configuration,
// limit and resolution registers as storage (written values read back; the
// alert output and resolutions other than 0.0625 °C are not emulated).
package mcp9808

import (
	"fmt"
	"math"
	"time"

	"github.com/tinymapper/tinymapper/board/sim/word"
)

// Device is a simulated MCP9808. The simulated bus serializes transactions.
type Device struct {
	now     func() time.Time
	pointer byte
	regs    [9]uint16 // by pointer; 0x05..0x07 computed
}

// New returns an MCP9808 in its power-on state on the clock now (time.Now
// when nil).
func New(now func() time.Time) *Device {
	if now == nil {
		now = time.Now
	}
	d := &Device{now: now}
	d.regs[RegResolution] = 0x03
	return d
}

// Temperature returns the simulated temperature at t in °C.
func Temperature(t time.Time) float64 {
	const period = int64(60 * time.Second)
	phase := float64(t.UnixNano()%period) / float64(period)
	return math.Round((21+1.5*math.Sin(2*math.Pi*phase))/Resolution) * Resolution
}

func (d *Device) String() string { return "MCP9808" }

// Tx: a write of 1 byte sets the pointer; 2 bytes (resolution) or 3 bytes
// (the 16-bit registers) set it and write the register; a read returns the
// pointed register, MSB first (the resolution register is one byte).
func (d *Device) Tx(w, r []byte) error {
	if len(w) > 0 {
		if w[0] == 0 || w[0] > RegResolution {
			return fmt.Errorf("mcp9808: pointer 0x%02x: registers are 0x01 to 0x08", w[0])
		}
		d.pointer = w[0]
		switch {
		case len(w) == 1:
		case len(w) == 2 && d.pointer == RegResolution:
			d.regs[RegResolution] = uint16(w[1] & 0x03)
		case len(w) == 3 && d.pointer <= RegTCrit:
			d.regs[d.pointer] = uint16(w[1])<<8 | uint16(w[2])
		case len(w) == 3 && d.pointer >= RegAmbient:
			// read-only registers ignore the data
		default:
			return fmt.Errorf("mcp9808: write of %d bytes to register 0x%02x", len(w), d.pointer)
		}
	}
	if len(r) == 0 {
		return nil
	}
	v := d.read()
	if d.pointer == RegResolution {
		r[0] = byte(v)
		for i := 1; i < len(r); i++ {
			r[i] = 0xFF
		}
		return nil
	}
	word.Put(r, v)
	return nil
}

func (d *Device) read() uint16 {
	switch d.pointer {
	case RegAmbient:
		lsb := int(math.Round(Temperature(d.now()) / Resolution))
		if lsb < 0 {
			return 0x1000 | uint16(lsb)&0x0FFF // sign bit, two's complement
		}
		return uint16(lsb) & 0x0FFF
	case RegManufacturer:
		return ManufacturerID
	case RegDeviceID:
		return DeviceID
	}
	return d.regs[d.pointer]
}
