// Package bmx280 turns a Bosch BME280's or BMP280's raw readings into °C,
// Pa and %RH with the part's own calibration, using the integer compensation
// of the datasheet (BME280 section 8.2: 32-bit temperature and humidity,
// 64-bit pressure). It does no I/O: the i2c protocol reads the registers
// (see bus/i2c, configData key part) and hands the bytes here.
//
// Every part is trimmed at the factory: its calibration words (dig_T1..3,
// dig_P1..9, dig_H1..6) are read once from 0x88..0xA1 and 0xE1..0xE7 and
// parsed by ParseCalibration. Temperature comes first: its t_fine feeds the
// pressure and humidity compensation.
package bmx280

// Calibration holds a part's trimming parameters, as the datasheet names them.
type Calibration struct {
	T1                             uint16
	T2, T3                         int16
	P1                             uint16
	P2, P3, P4, P5, P6, P7, P8, P9 int16
	H1, H3                         uint8
	H2, H4, H5                     int16
	H6                             int8
}

// ParseCalibration reads the calibration from tp, the CalibLen bytes from
// RegCalib, and h, the CalibHLen bytes from RegCalibH (nil for a BMP280, which
// has no humidity). It panics when tp is short, or h is neither nil nor full.
func ParseCalibration(tp, h []byte) Calibration {
	_ = tp[CalibLen-1]
	u := func(i int) uint16 { return uint16(tp[i]) | uint16(tp[i+1])<<8 }
	s := func(i int) int16 { return int16(u(i)) }
	c := Calibration{
		T1: u(0), T2: s(2), T3: s(4),
		P1: u(6), P2: s(8), P3: s(10), P4: s(12), P5: s(14), P6: s(16), P7: s(18), P8: s(20), P9: s(22),
	}
	if h == nil {
		return c
	}
	_ = h[CalibHLen-1]
	c.H1 = tp[25]
	c.H2 = int16(uint16(h[0]) | uint16(h[1])<<8)
	c.H3 = h[2]
	c.H4 = int16(int8(h[3]))<<4 | int16(h[4]&0x0F) // 0xE4 (11..4), 0xE5 (3..0)
	c.H5 = int16(int8(h[5]))<<4 | int16(h[4]>>4)   // 0xE6 (11..4), 0xE5 (7..4)
	c.H6 = int8(h[6])
	return c
}

// Valid reports whether the calibration can be real: dig_T1 and dig_P1 are
// never 0 on a trimmed part (0 is what a bus of zeros reads).
func (c *Calibration) Valid() bool { return c.T1 != 0 && c.P1 != 0 }

// Temperature returns the temperature of adcT (20 bits) in hundredths of a
// degree Celsius (5123 is 51.23 °C) and t_fine, which Pressure and Humidity
// take.
func (c *Calibration) Temperature(adcT int32) (centi, tFine int32) {
	var1 := ((adcT>>3 - int32(c.T1)<<1) * int32(c.T2)) >> 11
	d := adcT>>4 - int32(c.T1)
	var2 := (((d * d) >> 12) * int32(c.T3)) >> 14
	tFine = var1 + var2
	return (tFine*5 + 128) >> 8, tFine
}

// Pressure returns the pressure of adcP (20 bits) in Pa as Q24.8: 24674867
// is 24674867/256 Pa = 963.862 hPa. It returns 0 when the calibration would
// divide by zero.
func (c *Calibration) Pressure(adcP, tFine int32) uint32 {
	var1 := int64(tFine) - 128000
	var2 := var1 * var1 * int64(c.P6)
	var2 += (var1 * int64(c.P5)) << 17
	var2 += int64(c.P4) << 35
	var1 = (var1*var1*int64(c.P3))>>8 + (var1*int64(c.P2))<<12
	var1 = ((int64(1)<<47 + var1) * int64(c.P1)) >> 33
	if var1 == 0 {
		return 0
	}
	p := 1048576 - int64(adcP)
	p = ((p<<31 - var2) * 3125) / var1
	var1 = (int64(c.P9) * (p >> 13) * (p >> 13)) >> 25
	var2 = (int64(c.P8) * p) >> 19
	return uint32((p+var1+var2)>>8 + int64(c.P7)<<4)
}

// Humidity returns the relative humidity of adcH (16 bits) in % as Q22.10:
// 47445 is 47445/1024 = 46.333 %RH, clamped to 0..100 %.
func (c *Calibration) Humidity(adcH, tFine int32) uint32 {
	x := tFine - 76800
	a := (adcH<<14 - int32(c.H4)<<20 - int32(c.H5)*x + 16384) >> 15
	b := (((x*int32(c.H6))>>10)*((x*int32(c.H3))>>11+32768))>>10 + 2097152
	x = a * ((b*int32(c.H2) + 8192) >> 14)
	x -= (((x >> 15) * (x >> 15)) >> 7) * int32(c.H1) >> 4
	x = max(0, min(x, 419430400))
	return uint32(x >> 12)
}
