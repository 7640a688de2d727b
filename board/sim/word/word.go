// Package word answers reads of the simulated I²C parts whose registers are
// 16-bit words sent MSB first (TMP102, ADS1115, MCP9808).
package word

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
