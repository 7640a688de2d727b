// Commands of the Sensirion SHT3x humidity and temperature sensor.
//
// Datasheet: https://sensirion.com/media/documents/213E6A3B/63A5A569/Datasheet_SHT3x_DIS.pdf,
// section 4 "Operation and Communication". The SHT3x has no registers: the
// controller writes 16-bit commands, and reads 16-bit words each followed
// by a CRC-8 (polynomial 0x31, init 0xFF).

package sht3x

// Address is the SHT3x's I²C address with ADDR low (0x45 with ADDR high).
const Address = 0x44

// Commands.
const (
	CmdMeasureHigh = 0x2400 // single shot, high repeatability, no clock stretching
	CmdReadSerial  = 0x3780 // serial number: two words
	CmdSoftReset   = 0x30A2
	CmdStatus      = 0xF32D // status word
)

// Serial is the simulated part's serial number.
const Serial = 0x1A2B3C4D
