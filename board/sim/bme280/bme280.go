// Package bme280 simulates a Bosch BME280 (or BMP280) behind a simulated
// I²C bus (see board/sim).
//
// Emulated: the register file with auto-increment reads; the chip ID; soft
// reset; ctrl_hum, ctrl_meas and config as storage; the temperature
// calibration words; and the temperature ADC, which in forced or normal
// mode holds
//
//	T(t) = 22 + 3·sin(2π·t / 60 s) °C
//
// encoded so that the datasheet's compensation with the calibration words
// gives T back (adc_T = (T·5120/dig_T2 + dig_T1/1024)·16384, dig_T3 = 0).
// In sleep mode (the power-on state) the ADC registers hold 0x80000, "no
// measurement". Pressure and humidity read 0x80000 and 0x8000 always.
package bme280

import (
	"fmt"
	"math"
	"time"
)

// Device is a simulated BME280. The simulated bus serializes transactions.
type Device struct {
	now     func() time.Time
	id      byte
	pointer byte
	regs    [256]byte
}

// New returns a BME280 (id ChipIDBME280) or BMP280 (ChipIDBMP280) in its
// power-on state on the clock now (time.Now when nil).
func New(id byte, now func() time.Time) *Device {
	if now == nil {
		now = time.Now
	}
	d := &Device{now: now, id: id}
	d.reset()
	return d
}

func (d *Device) reset() {
	d.regs = [256]byte{}
	d.regs[RegChipID] = d.id
	d.regs[RegCalibT1], d.regs[RegCalibT1+1] = byte(DigT1&0xFF), byte(DigT1>>8)
	d.regs[RegCalibT1+2], d.regs[RegCalibT1+3] = byte(DigT2&0xFF), byte(DigT2>>8)
	copy(d.regs[RegPressMSB:], []byte{0x80, 0, 0, 0x80, 0, 0, 0x80, 0})
}

// Temperature returns T(t) in °C.
func Temperature(t time.Time) float64 {
	const period = int64(60 * time.Second)
	return 22 + 3*math.Sin(2*math.Pi*float64(t.UnixNano()%period)/float64(period))
}

// RawTemperature returns adc_T for T °C.
func RawTemperature(T float64) uint32 {
	return uint32(math.Round((T*5120/DigT2 + DigT1/1024.0) * 16384))
}

func (d *Device) String() string {
	if d.id == ChipIDBMP280 {
		return "BMP280"
	}
	return "BME280"
}

// Tx: the first byte written sets the pointer; each byte after it is
// written to the register the pointer names (pairs of address and data, as
// the datasheet's multi-byte write: [reg, data, reg, data, ...]). A read
// returns registers from the pointer on, auto-incrementing.
func (d *Device) Tx(w, r []byte) error {
	if len(w) > 0 {
		if len(w)%2 == 0 {
			for i := 0; i < len(w); i += 2 {
				d.write(w[i], w[i+1])
			}
		} else if len(w) != 1 {
			return fmt.Errorf("bme280: write of %d bytes: want a pointer, or register/data pairs", len(w))
		}
		d.pointer = w[0]
	}
	if len(r) > 0 {
		if mode := d.regs[RegCtrlMeas] & 3; mode != 0 {
			raw := RawTemperature(Temperature(d.now())) << 4
			d.regs[RegTempMSB], d.regs[RegTempMSB+1], d.regs[RegTempMSB+2] = byte(raw>>16), byte(raw>>8), byte(raw)
		}
		for i := range r {
			r[i] = d.regs[byte(int(d.pointer)+i)]
		}
	}
	return nil
}

func (d *Device) write(reg, v byte) {
	switch reg {
	case RegReset:
		if v == ResetCommand {
			d.reset()
		}
	case RegCtrlHum, RegCtrlMeas, RegConfig:
		d.regs[reg] = v
	}
}
