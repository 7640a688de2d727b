// Memory organization of the 24C02 2-Kbit I²C serial EEPROM (Microchip/Atmel
// AT24C02C, and the 24C02 parts of other makers, which behave alike).
//
// Datasheet: https://www.microchip.com/en-us/product/AT24C02C (AT24C02C,
// "Device Operation" and "Write Operations").
//
// A 24C02 has no registers: 256 bytes of memory and one internal address
// counter, which every write sets and every byte read or written advances.

package at24c02

import "time"

// Address is the 24C02's I²C address with A2, A1 and A0 tied to GND; the pins
// select 0x50 to 0x57.
const Address = 0x50

const (
	// Size is the memory size in bytes (2 Kbit).
	Size = 256
	// PageSize is the page a single write stays in: a write that runs past
	// the end of its page wraps to the start of the same page.
	PageSize = 8
	// Erased is the value of every byte of a new part.
	Erased = 0xFF
	// WriteCycle is the longest self-timed write cycle (tWR). A real part
	// does not acknowledge its address during it, and neither does the sim.
	WriteCycle = 5 * time.Millisecond
)
