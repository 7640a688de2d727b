// Register map of the Microchip MCP9808 digital temperature sensor.
//
// Datasheet: https://ww1.microchip.com/downloads/en/DeviceDoc/25095A.pdf
// (DS25095A), section 5.1 "Registers".

package mcp9808

// Address is the MCP9808's I²C address with A2..A0 tied low (0x18 to 0x1F).
const Address = 0x18

// Register pointers.
const (
	RegConfig       = 0x01 // 16 bits, reset 0x0000
	RegTUpper       = 0x02
	RegTLower       = 0x03
	RegTCrit        = 0x04
	RegAmbient      = 0x05 // read only: flags (15..13), sign (12), °C × 16 (11..0)
	RegManufacturer = 0x06 // read only: 0x0054
	RegDeviceID     = 0x07 // read only: device ID 0x04 (high byte), revision (low byte)
	RegResolution   = 0x08 // 8 bits, reset 0x03 (0.0625 °C)
)

// Identity values.
const (
	ManufacturerID = 0x0054
	DeviceID       = 0x0400 // device 0x04, revision 0x00
)

// Resolution is the temperature of one LSB of RegAmbient at the power-on
// resolution, in °C.
const Resolution = 0.0625
