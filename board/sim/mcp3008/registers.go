// Serial protocol of the Microchip MCP3008 8-channel 10-bit ADC with SPI
// interface (the MCP3004 is the 4-channel part).
//
// Datasheet: https://ww1.microchip.com/downloads/en/DeviceDoc/21295d.pdf
// (MCP3004/3008, DS21295D), "Serial Communication" and "Using the MCP3004/3008
// with Microcontroller (MCU) SPI Ports" (Figure 6-1).
//
// The MCP3008 has no registers. With CS low it waits for a start bit (the
// first 1 clocked in on DIN), then reads four configuration bits, samples the
// selected input for one and a half clocks, outputs a null bit (0) and the
// 10-bit result MSB first on DOUT. More clocks with CS still low give the
// result again LSB first (B1..B9, B0 being shared), then zeros. DOUT is
// high-impedance until the null bit.
//
// With 8-bit SPI transfers the usual layout is three bytes:
//
//	MOSI  0000 0001   S D2 D1 D0 xxxx   xxxx xxxx
//	MISO  ???? ????   ???? ? 0 B9 B8    B7 .. B0
//
// so the result is the low 10 bits of bytes 1 and 2: rxStart 1, uint16, mask
// 0x3FF.

package mcp3008

import "periph.io/x/conn/v3/physic"

// Configuration bits, in the order they are clocked in after the start bit.
const (
	// ConfigSingle (SGL/DIFF = 1) selects a single-ended input; 0 selects a
	// differential pair.
	ConfigSingle = 1 << 3
	// ConfigChannel are D2 D1 D0: the channel (single-ended) or the pair
	// (differential, see Pair).
	ConfigChannel = 0x7
)

// Command returns the second byte of the usual three-byte transaction for a
// single-ended read of channel ch (0..7): SGL, D2..D0 in the high nibble.
func Command(ch int) byte { return byte(ConfigSingle|ch&ConfigChannel) << 4 }

// Pair returns the inputs a differential configuration (D2..D0 = d) measures:
// IN+ minus IN-. Pairs are CH0/CH1, CH2/CH3, CH4/CH5 and CH6/CH7; D0 swaps them.
func Pair(d int) (plus, minus int) {
	even := d &^ 1
	if d&1 == 0 {
		return even, even + 1
	}
	return even + 1, even
}

const (
	// Channels is the number of analog inputs.
	Channels = 8
	// Bits is the resolution of a conversion.
	Bits = 10
	// FullScale is the largest code, read at VREF and above.
	FullScale = 1<<Bits - 1
	// VRef is the reference voltage the simulated part runs at, in volts: one
	// code is VRef/1024.
	VRef = 3.3
	// MaxClock is the fastest clock the part is rated for (at VDD = 5 V; it is
	// 1.35 MHz at 2.7 V). The sim refuses faster transfers.
	MaxClock = 3600 * physic.KiloHertz
)
