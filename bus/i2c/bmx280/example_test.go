package bmx280_test

import (
	"fmt"

	"github.com/tinymapper/tinymapper/bus/i2c/bmx280"
)

// The BMP280 datasheet's worked example: the calibration words as read from
// 0x88 (little-endian), then adc_T and adc_P from one burst at 0xF7.
func ExampleCalibration() {
	tp := []byte{
		0x70, 0x6B, 0x43, 0x67, 0x18, 0xFC, // dig_T1 27504, dig_T2 26435, dig_T3 -1000
		0x7D, 0x8E, 0x43, 0xD6, 0xD0, 0x0B, 0x27, 0x0B, 0x8C, 0x00, // dig_P1..dig_P5
		0xF9, 0xFF, 0x8C, 0x3C, 0xF8, 0xC6, 0x70, 0x17, // dig_P6..dig_P9
		0x00, 0x00, // unused, dig_H1 (none on a BMP280)
	}
	c := bmx280.ParseCalibration(tp, nil)
	centi, tFine := c.Temperature(519888)
	pa := c.Pressure(415148, tFine)
	fmt.Printf("%.2f °C, %.2f hPa\n", float64(centi)/100, float64(pa)/25600)
	// Output: 25.08 °C, 1006.53 hPa
}
