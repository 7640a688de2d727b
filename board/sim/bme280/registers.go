// Register map of the Bosch BME280 (and BMP280) environmental sensor.
//
// Datasheet: https://www.bosch-sensortec.com/media/boschsensortec/downloads/datasheets/bst-bme280-ds002.pdf
// (BST-BME280-DS002), section 5 "Global memory map and register description".

package bme280

// Address is the BME280's I²C address with SDO low (0x77 with SDO high).
const Address = 0x76

// Registers.
const (
	RegCalibT1   = 0x88 // dig_T1 (uint16 LE), dig_T2, dig_T3 (int16 LE) at 0x8A, 0x8C
	RegChipID    = 0xD0 // 0x60 for a BME280, 0x58 for a BMP280
	RegReset     = 0xE0 // write 0xB6: power-on reset
	RegCtrlHum   = 0xF2
	RegStatus    = 0xF3
	RegCtrlMeas  = 0xF4 // osrs_t (7..5), osrs_p (4..2), mode (1..0: 00 sleep, 01/10 forced, 11 normal)
	RegConfig    = 0xF5
	RegPressMSB  = 0xF7 // press 0xF7..0xF9, temp 0xFA..0xFC (20 bits, left-justified), hum 0xFD..0xFE
	RegTempMSB   = 0xFA
	ResetCommand = 0xB6
)

// Chip IDs.
const (
	ChipIDBME280 = 0x60
	ChipIDBMP280 = 0x58
)

// The simulated part's temperature calibration (dig_T3 = 0, so T is linear
// in adc_T).
const (
	DigT1 = 27504
	DigT2 = 26435
)
