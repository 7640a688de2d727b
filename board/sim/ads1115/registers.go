// Register map of the TI ADS1115 16-bit ADC.
//
// Datasheet: https://www.ti.com/lit/ds/symlink/ads1115.pdf (SBAS444),
// section 8.6 "Register Maps".

package ads1115

// Address is the ADS1115's I²C address with ADDR tied to VDD (GND 0x48,
// VDD 0x49, SDA 0x4A, SCL 0x4B).
const Address = 0x49

// Register pointers.
const (
	RegConversion = 0x00 // read only, int16
	RegConfig     = 0x01
	RegLoThresh   = 0x02
	RegHiThresh   = 0x03
)

// Power-on values.
const (
	DefaultConfig   = 0x8583 // OS=1, AIN0−AIN1, ±2.048 V, single-shot, 128 SPS, comparator off
	DefaultLoThresh = 0x8000
	DefaultHiThresh = 0x7FFF
)

// Configuration fields.
const (
	ConfigOS       = 1 << 15 // write 1: start a single conversion; read 1: idle
	configMuxShift = 12      // 3 bits
	configPGAShift = 9       // 3 bits
	ConfigMode     = 1 << 8  // 1: single-shot (power-down), 0: continuous
)

// fullScale is the full-scale voltage of each PGA setting (codes 5–7 are
// all ±0.256 V).
var fullScale = [8]float64{6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256}
