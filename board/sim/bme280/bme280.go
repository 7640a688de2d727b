// Package bme280 simulates a Bosch BME280 (or BMP280) behind a simulated
// I²C bus (see board/sim).
//
// Emulated: the register file with auto-increment reads; the chip ID; soft
// reset; the calibration words (dig_T1..3, dig_P1..9 at 0x88..0x9F; on a
// BME280 dig_H1 at 0xA1 and dig_H2..6 at 0xE1..0xE7); ctrl_hum, ctrl_meas
// and config; status (never measuring: a measurement takes no time); and
// the ADCs adc_P, adc_T and adc_H at 0xF7..0xFE, which hold
//
//	T(t) = 22 + 3·sin(2π·t / 60 s) °C
//	P(t) = 1013.25 + 2·sin(2π·t / 300 s) hPa
//	H(t) = 45 + 10·sin(2π·t / 120 s) %RH (BME280 only)
//
// encoded so that the datasheet's compensation (section 8) with the
// calibration words gives them back. A write of ctrl_meas with forced mode
// measures once, then the mode returns to sleep; in normal mode every read
// measures anew. A measurement whose oversampling is 0 (skipped) reads
// 0x80000 (pressure, temperature) or 0x8000 (humidity), as do all of them
// in sleep mode after reset, the power-on state. ctrl_hum takes effect at
// the next write of ctrl_meas, as on the part.
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
	osrsH   byte // ctrl_hum's osrs_h as of the last write of ctrl_meas
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
	d.osrsH = 0
	d.regs[RegChipID] = d.id
	le := func(reg int, v int) { d.regs[reg], d.regs[reg+1] = byte(v), byte(v>>8) }
	for i, v := range []int{DigT1, DigT2, DigT3, DigP1, DigP2, DigP3, DigP4, DigP5, DigP6, DigP7, DigP8, DigP9} {
		le(RegCalibT1+2*i, v)
	}
	if d.id != ChipIDBMP280 {
		d.regs[RegCalibH1] = DigH1
		le(RegCalibH2, DigH2)
		d.regs[RegCalibH2+2] = DigH3
		d.regs[RegCalibH2+3] = byte(DigH4 >> 4)
		d.regs[RegCalibH2+4] = byte(DigH4&0x0F | DigH5&0x0F<<4)
		d.regs[RegCalibH2+5] = byte(DigH5 >> 4)
		d.regs[RegCalibH2+6] = byte(int8(DigH6))
	}
	copy(d.regs[RegPressMSB:], []byte{0x80, 0, 0, 0x80, 0, 0, 0x80, 0})
}

// Temperature returns T(t) in °C.
func Temperature(t time.Time) float64 { return 22 + 3*wave(t, 60*time.Second) }

// Pressure returns P(t) in hPa.
func Pressure(t time.Time) float64 { return 1013.25 + 2*wave(t, 300*time.Second) }

// Humidity returns H(t) in %RH.
func Humidity(t time.Time) float64 { return 45 + 10*wave(t, 120*time.Second) }

// wave is sin(2π·t/period).
func wave(t time.Time, period time.Duration) float64 {
	p := int64(period)
	return math.Sin(2 * math.Pi * float64(t.UnixNano()%p) / float64(p))
}

// RawTemperature returns adc_T for T °C (dig_T3 is 0: T is linear in adc_T).
func RawTemperature(T float64) uint32 {
	return uint32(math.Round((T*5120/DigT2 + DigT1/1024.0) * 16384))
}

// RawPressure returns adc_P for P hPa at T °C: the adc_P whose compensation
// (the datasheet's double-precision formula, section 8.1) is nearest.
func RawPressure(P, T float64) uint32 {
	want, tFine := P*100, T*5120
	// The compensated pressure falls as adc_P rises.
	lo, hi := uint32(0), uint32(1<<20-1)
	for lo < hi {
		mid := (lo + hi) / 2
		if CompensatePressure(mid, tFine) > want {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo > 0 && math.Abs(CompensatePressure(lo-1, tFine)-want) < math.Abs(CompensatePressure(lo, tFine)-want) {
		lo--
	}
	return lo
}

// RawHumidity returns adc_H for H %RH at T °C, as RawPressure does.
func RawHumidity(H, T float64) uint16 {
	tFine := T * 5120
	// The compensated humidity rises with adc_H.
	lo, hi := uint32(0), uint32(1<<16-1)
	for lo < hi {
		mid := (lo + hi) / 2
		if CompensateHumidity(mid, tFine) < H {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo > 0 && math.Abs(CompensateHumidity(lo-1, tFine)-H) < math.Abs(CompensateHumidity(lo, tFine)-H) {
		lo--
	}
	return uint16(lo)
}

// CompensatePressure is the datasheet's double-precision pressure
// compensation (section 8.1) with the sim's calibration: Pa.
func CompensatePressure(adc uint32, tFine float64) float64 {
	v1 := tFine/2 - 64000
	v2 := v1 * v1 * DigP6 / 32768
	v2 += v1 * DigP5 * 2
	v2 = v2/4 + DigP4*65536
	v1 = (DigP3*v1*v1/524288 + DigP2*v1) / 524288
	v1 = (1 + v1/32768) * DigP1
	p := 1048576 - float64(adc)
	p = (p - v2/4096) * 6250 / v1
	return p + (DigP9*p*p/2147483648+p*DigP8/32768+DigP7)/16
}

// CompensateHumidity is the datasheet's double-precision humidity
// compensation (section 8.1) with the sim's calibration: %RH, 0 to 100.
func CompensateHumidity(adc uint32, tFine float64) float64 {
	h := tFine - 76800
	h = (float64(adc) - (DigH4*64 + DigH5/16384.0*h)) * (DigH2 / 65536.0 * (1 + DigH6/67108864.0*h*(1+DigH3/67108864.0*h)))
	h *= 1 - DigH1*h/524288
	return max(0, min(h, 100))
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
		if d.regs[RegCtrlMeas]&3 == 3 {
			d.measure()
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
	case RegCtrlHum:
		if d.id != ChipIDBMP280 {
			d.regs[reg] = v & 0x07
		}
	case RegConfig:
		d.regs[reg] = v
	case RegCtrlMeas:
		d.regs[reg] = v
		d.osrsH = d.regs[RegCtrlHum] & 0x07
		if mode := v & 3; mode == 1 || mode == 2 {
			d.measure()
			d.regs[reg] = v &^ 3 // back to sleep
		}
	}
}

// measure fills the data registers with the values at now, each skipped
// (0x80000, 0x8000) when its oversampling is 0.
func (d *Device) measure() {
	at := d.now()
	T := Temperature(at)
	meas := d.regs[RegCtrlMeas]
	put20 := func(reg int, raw uint32, on bool) {
		if !on {
			raw = 0x80000
		}
		raw <<= 4
		d.regs[reg], d.regs[reg+1], d.regs[reg+2] = byte(raw>>16), byte(raw>>8), byte(raw)
	}
	put20(RegTempMSB, RawTemperature(T), meas>>5 != 0)
	put20(RegPressMSB, RawPressure(Pressure(at), T), meas>>2&7 != 0)
	h := uint16(0x8000)
	if d.id != ChipIDBMP280 && d.osrsH != 0 {
		h = RawHumidity(Humidity(at), T)
	}
	d.regs[RegHumMSB], d.regs[RegHumMSB+1] = byte(h>>8), byte(h)
}
