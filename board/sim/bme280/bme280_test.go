package bme280_test

import (
	"math"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim/bme280"
)

// read writes each of w, then reads n bytes from reg.
func read(t *testing.T, d *bme280.Device, reg byte, n int, w ...[]byte) []byte {
	t.Helper()
	for _, b := range w {
		if err := d.Tx(b, nil); err != nil {
			t.Fatal(err)
		}
	}
	r := make([]byte, n)
	if err := d.Tx([]byte{reg}, r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCalibrationWords(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   byte
		reg  byte
		want []byte
	}{
		{"dig_T1..dig_T3", bme280.ChipIDBME280, 0x88, []byte{0x70, 0x6B, 0x43, 0x67, 0, 0}},
		{"dig_P1, dig_P2 (negative)", bme280.ChipIDBME280, 0x8E, []byte{0x7D, 0x8E, 0x43, 0xD6}},
		{"dig_P9, unused, dig_H1", bme280.ChipIDBME280, 0x9E, []byte{0x70, 0x17, 0, 75}},
		// dig_H4 313 (0x139) and dig_H5 50 (0x032) share 0xE5.
		{"dig_H2..dig_H6", bme280.ChipIDBME280, 0xE1, []byte{0x6A, 0x01, 0, 0x13, 0x29, 0x03, 30}},
		{"BMP280: no dig_H1", bme280.ChipIDBMP280, 0xA1, []byte{0}},
		{"BMP280: no dig_H2..dig_H6", bme280.ChipIDBMP280, 0xE1, []byte{0, 0, 0, 0, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := read(t, bme280.New(tc.id, nil), tc.reg, len(tc.want)); string(got) != string(tc.want) {
				t.Errorf("0x%02X: % x, want % x", tc.reg, got, tc.want)
			}
		})
	}
}

// TestMeasurementsCompensateBack reads the ADCs as a driver does, in one
// burst from 0xF7, and compensates them with the datasheet's formulas.
func TestMeasurementsCompensateBack(t *testing.T) {
	at := time.Unix(1_800_000_015, 0) // T at its peak, P and H on their way up
	now := func() time.Time { return at }
	for _, tc := range []struct {
		name       string
		id         byte
		w          [][]byte
		ctrlMeas   byte // read back after the writes
		p, tt, hum bool // measured, not skipped
	}{
		{"BME280 asleep: nothing", bme280.ChipIDBME280, nil, 0, false, false, false},
		{"BME280 normal mode", bme280.ChipIDBME280, [][]byte{{0xF2, 0x01, 0xF4, 0x27}}, 0x27, true, true, true},
		{"BME280 forced: measures once, back to sleep", bme280.ChipIDBME280, [][]byte{{0xF2, 0x01}, {0xF4, 0x25}}, 0x24, true, true, true},
		{"BME280 ctrl_hum not yet in effect", bme280.ChipIDBME280, [][]byte{{0xF4, 0x27}, {0xF2, 0x01}}, 0x27, true, true, false},
		{"BME280 pressure skipped", bme280.ChipIDBME280, [][]byte{{0xF2, 0x01, 0xF4, 0x23}}, 0x23, false, true, true},
		{"BMP280: no humidity", bme280.ChipIDBMP280, [][]byte{{0xF2, 0x01, 0xF4, 0x27}}, 0x27, true, true, false},
		{"reset: asleep again", bme280.ChipIDBME280, [][]byte{{0xF2, 0x01, 0xF4, 0x27}, {0xE0, 0xB6}}, 0, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := bme280.New(tc.id, now)
			if got := read(t, d, 0xF4, 1, tc.w...)[0]; got != tc.ctrlMeas {
				t.Errorf("ctrl_meas 0x%02X, want 0x%02X", got, tc.ctrlMeas)
			}
			b := read(t, d, 0xF7, 8)
			adcP := uint32(b[0])<<12 | uint32(b[1])<<4 | uint32(b[2])>>4
			adcT := uint32(b[3])<<12 | uint32(b[4])<<4 | uint32(b[5])>>4
			adcH := uint32(b[6])<<8 | uint32(b[7])
			T := (float64(adcT)/16384 - bme280.DigT1/1024.0) * bme280.DigT2 / 5120
			check := func(what string, on bool, adc, skipped uint32, got, want, tol float64) {
				switch {
				case !on && adc != skipped:
					t.Errorf("%s: adc 0x%X, want 0x%X (skipped)", what, adc, skipped)
				case on && math.Abs(got-want) > tol:
					t.Errorf("%s: %.4f, want %.4f ± %g", what, got, want, tol)
				}
			}
			check("temperature °C", tc.tt, adcT, 0x80000, T, bme280.Temperature(at), 0.005)
			check("pressure hPa", tc.p, adcP, 0x80000, bme280.CompensatePressure(adcP, T*5120)/100, bme280.Pressure(at), 0.005)
			check("humidity %RH", tc.hum, adcH, 0x8000, bme280.CompensateHumidity(adcH, T*5120), bme280.Humidity(at), 0.01)
		})
	}
}
