// Package word answers the simulated I²C parts whose registers are 16-bit
// words sent MSB first, behind a pointer register (TMP102, ADS1115,
// MCP9808).
package word

import "fmt"

// Write reads a write to a part whose registers 0 to last sit behind a
// pointer: 1 byte sets the pointer, 3 bytes set it and write the pointed
// register (MSB first). It returns the pointer, and the value when one was
// written; part names the chip in errors.
func Write(part string, last byte, w []byte) (pointer byte, v uint16, written bool, err error) {
	if len(w) != 1 && len(w) != 3 {
		return 0, 0, false, fmt.Errorf("%s: write of %d bytes: want 1 (pointer) or 3 (pointer and 16-bit value)", part, len(w))
	}
	if w[0] > last {
		return 0, 0, false, fmt.Errorf("%s: pointer 0x%02x: registers are 0x00 to 0x%02x", part, w[0], last)
	}
	if len(w) == 3 {
		return w[0], uint16(w[1])<<8 | uint16(w[2]), true, nil
	}
	return w[0], 0, false, nil
}

// Put fills r, a read of a 16-bit register holding v: the MSB, the LSB, and
// 0xFF for every byte past them, as a released bus reads.
func Put(r []byte, v uint16) {
	if len(r) == 0 {
		return
	}
	r[0] = byte(v >> 8)
	if len(r) > 1 {
		r[1] = byte(v)
	}
	for i := 2; i < len(r); i++ {
		r[i] = 0xFF
	}
}
