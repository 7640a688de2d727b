package bmx280

import (
	"math"
	"testing"
)

// datasheet is the calibration of the worked example in the BMP280
// datasheet (BST-BMP280-DS001, section 3.12, table "Compensation formula
// example"), with the humidity words of a real BME280.
var datasheet = Calibration{
	T1: 27504, T2: 26435, T3: -1000,
	P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500, P8: -14600, P9: 6000,
	H1: 75, H2: 362, H3: 0, H4: 313, H5: 50, H6: 30,
}

func TestCompensationMatchesTheDatasheetExample(t *testing.T) {
	// adc_T 519888 is 25.08 °C (t_fine 128422); adc_P 415148 is
	// 100653.27 Pa. The datasheet prints 25767236 for the 64-bit formula's
	// Q24.8 result, but the formula it publishes gives 25767233 (100653.25
	// Pa), as every implementation that runs it finds: 3/256 Pa apart.
	centi, tFine := datasheet.Temperature(519888)
	if centi != 2508 || tFine != 128422 {
		t.Errorf("Temperature(519888) = %d, t_fine %d; want 2508, 128422", centi, tFine)
	}
	if p := datasheet.Pressure(415148, tFine); p != 25767233 || math.Abs(float64(p)/256-100653.27) > 0.02 {
		t.Errorf("Pressure(415148) = %d (%.2f Pa); want 25767233 (100653.27 Pa within 0.02)", p, float64(p)/256)
	}
}

// TestCompensationAgreesWithTheFloatFormula holds the integer compensation
// to the datasheet's double-precision one (BME280 section 8.1), written out
// here on its own, over the range the part measures.
func TestCompensationAgreesWithTheFloatFormula(t *testing.T) {
	for _, tc := range []struct {
		name             string
		adcT, adcP, adcH int32
	}{
		{"datasheet example", 519888, 415148, 30000},
		{"cold and dry", 440000, 380000, 22000},
		{"warm and humid", 560000, 420000, 42000},
		{"very cold", 380000, 300000, 27000},
		{"saturated", 519888, 415148, 65000},
		{"bone dry", 519888, 415148, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := datasheet
			centi, tFine := c.Temperature(tc.adcT)
			wantT, fineF := floatTemperature(&c, tc.adcT)
			if got := float64(centi) / 100; math.Abs(got-wantT) > 0.01 {
				t.Errorf("temperature %.4f °C, float formula %.4f", got, wantT)
			}
			if math.Abs(float64(tFine)-fineF) > 2 { // the integer formula truncates twice
				t.Errorf("t_fine %d, float formula %.1f", tFine, fineF)
			}
			if got, want := float64(c.Pressure(tc.adcP, tFine))/256, floatPressure(&c, tc.adcP, float64(tFine)); math.Abs(got-want) > 1 {
				t.Errorf("pressure %.3f Pa, float formula %.3f", got, want)
			}
			if got, want := float64(c.Humidity(tc.adcH, tFine))/1024, floatHumidity(&c, tc.adcH, float64(tFine)); math.Abs(got-want) > 0.02 {
				t.Errorf("humidity %.4f %%, float formula %.4f", got, want)
			}
		})
	}
}

func TestPressureWithZeroCalibrationIsZero(t *testing.T) {
	var c Calibration
	if c.Valid() {
		t.Error("the zero Calibration is Valid")
	}
	if p := c.Pressure(415148, 128422); p != 0 {
		t.Errorf("Pressure with dig_P1 0 = %d, want 0", p)
	}
}

func TestParseCalibrationReadsThePackedWords(t *testing.T) {
	tp := make([]byte, CalibLen)
	put := func(i int, v int) { tp[i], tp[i+1] = byte(v), byte(v>>8) }
	for i, v := range []int{27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000} {
		put(2*i, v)
	}
	tp[25] = 75
	// dig_H4 -313 (0xEC7: 0xE4 = 0xEC, 0xE5 low nibble 7) and dig_H5 -50
	// (0xFCE: 0xE5 high nibble 0xE, 0xE6 = 0xFC) share 0xE5.
	h := []byte{0x6A, 0x01, 0x05, 0xEC, 0xE7, 0xFC, 0xE2}
	want := datasheet
	want.H3, want.H4, want.H5, want.H6 = 5, -313, -50, -30
	if got := ParseCalibration(tp, h); got != want {
		t.Errorf("ParseCalibration\n got  %+v\n want %+v", got, want)
	}
	bmp := ParseCalibration(tp, nil)
	if bmp.H1 != 0 || bmp.H2 != 0 || bmp.T3 != -1000 || bmp.P9 != 6000 {
		t.Errorf("ParseCalibration(tp, nil) = %+v: want the T and P words, no H", bmp)
	}
}

func floatTemperature(c *Calibration, adc int32) (celsius, tFine float64) {
	a := float64(adc)
	v1 := (a/16384 - float64(c.T1)/1024) * float64(c.T2)
	v2 := (a/131072 - float64(c.T1)/8192) * (a/131072 - float64(c.T1)/8192) * float64(c.T3)
	return (v1 + v2) / 5120, v1 + v2
}

func floatPressure(c *Calibration, adc int32, tFine float64) float64 {
	v1 := tFine/2 - 64000
	v2 := v1 * v1 * float64(c.P6) / 32768
	v2 += v1 * float64(c.P5) * 2
	v2 = v2/4 + float64(c.P4)*65536
	v1 = (float64(c.P3)*v1*v1/524288 + float64(c.P2)*v1) / 524288
	v1 = (1 + v1/32768) * float64(c.P1)
	p := 1048576 - float64(adc)
	p = (p - v2/4096) * 6250 / v1
	v1 = float64(c.P9) * p * p / 2147483648
	v2 = p * float64(c.P8) / 32768
	return p + (v1+v2+float64(c.P7))/16
}

func floatHumidity(c *Calibration, adc int32, tFine float64) float64 {
	h := tFine - 76800
	h = (float64(adc) - (float64(c.H4)*64 + float64(c.H5)/16384*h)) *
		(float64(c.H2) / 65536 * (1 + float64(c.H6)/67108864*h*(1+float64(c.H3)/67108864*h)))
	h *= 1 - float64(c.H1)*h/524288
	return max(0, min(h, 100))
}
