// Register map of the Bosch BME280 (and BMP280) environmental sensor.
//
// Datasheet: https://www.bosch-sensortec.com/media/boschsensortec/downloads/datasheets/bst-bme280-ds002.pdf
// (BST-BME280-DS002), section 5 "Global memory map and register description";
// the trimming parameters in section 4.2.2, the compensation in section 8.

package bme280

// Address is the BME280's I²C address with SDO low (0x77 with SDO high).
const Address = 0x76

// Registers.
const (
	RegCalibT1   = 0x88 // dig_T1 (uint16 LE), dig_T2, dig_T3 (int16 LE) at 0x8A, 0x8C
	RegCalibP1   = 0x8E // dig_P1 (uint16 LE), dig_P2..dig_P9 (int16 LE) to 0x9F
	RegCalibH1   = 0xA1 // dig_H1 (uint8), BME280 only
	RegCalibH2   = 0xE1 // dig_H2 (int16 LE), dig_H3 (uint8) at 0xE3, dig_H4/dig_H5 (12 bits each) packed in 0xE4..0xE6, dig_H6 (int8) at 0xE7
	RegChipID    = 0xD0 // 0x60 for a BME280, 0x58 for a BMP280
	RegReset     = 0xE0 // write 0xB6: power-on reset
	RegCtrlHum   = 0xF2 // osrs_h (2..0), in effect from the next write of ctrl_meas
	RegStatus    = 0xF3 // measuring (3), im_update (0): always 0 here, a measurement takes no time
	RegCtrlMeas  = 0xF4 // osrs_t (7..5), osrs_p (4..2), mode (1..0: 00 sleep, 01/10 forced, 11 normal)
	RegConfig    = 0xF5
	RegPressMSB  = 0xF7 // press 0xF7..0xF9, temp 0xFA..0xFC (20 bits, left-justified), hum 0xFD..0xFE
	RegTempMSB   = 0xFA
	RegHumMSB    = 0xFD
	ResetCommand = 0xB6
)

// Chip IDs.
const (
	ChipIDBME280 = 0x60
	ChipIDBMP280 = 0x58
)

// The simulated part's calibration. dig_T1, dig_T2 and dig_P1..dig_P9 are
// the worked example of the BMP280 datasheet (BST-BMP280-DS001, section
// 3.12), dig_T3 is 0 so that T is linear in adc_T, and dig_H1..dig_H6 are
// those of a real BME280.
const (
	DigT1 = 27504
	DigT2 = 26435
	DigT3 = 0

	DigP1 = 36477
	DigP2 = -10685
	DigP3 = 3024
	DigP4 = 2855
	DigP5 = 140
	DigP6 = -7
	DigP7 = 15500
	DigP8 = -14600
	DigP9 = 6000

	DigH1 = 75
	DigH2 = 362
	DigH3 = 0
	DigH4 = 313
	DigH5 = 50
	DigH6 = 30
)
