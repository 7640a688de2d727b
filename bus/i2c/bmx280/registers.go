// Register map of the Bosch BME280 and BMP280.
//
// Datasheets: BME280 https://www.bosch-sensortec.com/media/boschsensortec/downloads/datasheets/bst-bme280-ds002.pdf
// (BST-BME280-DS002, section 5 "Global memory map", section 4.2.2 "Trimming
// parameter readout"); BMP280 BST-BMP280-DS001, section 3.11.

package bmx280

// Registers.
const (
	RegCalib    = 0x88 // dig_T1..dig_P9 (0x88..0x9F), 0xA0 unused, dig_H1 (0xA1)
	RegCalibH   = 0xE1 // dig_H2..dig_H6 (0xE1..0xE7), BME280 only
	RegChipID   = 0xD0
	RegReset    = 0xE0 // write ResetCommand: power-on reset
	RegCtrlHum  = 0xF2 // osrs_h (2..0); takes effect at the next write of ctrl_meas. BME280 only
	RegStatus   = 0xF3 // measuring (3), im_update (0)
	RegCtrlMeas = 0xF4 // osrs_t (7..5), osrs_p (4..2), mode (1..0)
	RegConfig   = 0xF5 // t_sb (7..5), filter (4..2), spi3w_en (0)
	RegData     = 0xF7 // press 0xF7..0xF9, temp 0xFA..0xFC (20 bits, left-justified), hum 0xFD..0xFE

	ResetCommand = 0xB6
)

// Lengths of the calibration blocks and of the data burst.
const (
	CalibLen  = 0xA2 - RegCalib  // 26
	CalibHLen = 0xE8 - RegCalibH // 7
	DataLen   = 0xFF - RegData   // 8 (6 on a BMP280: no humidity)
)

// Chip IDs at RegChipID.
const (
	ChipIDBME280 = 0x60
	ChipIDBMP280 = 0x58
)

// Modes (ctrl_meas bits 1..0).
const (
	ModeSleep  = 0
	ModeForced = 1
	ModeNormal = 3
)

// Skipped is what a data register holds for a measurement that was skipped
// (oversampling 0) or not made yet (sleep mode since reset).
const (
	SkippedPT = 0x80000 // adc_P, adc_T
	SkippedH  = 0x8000  // adc_H
)
