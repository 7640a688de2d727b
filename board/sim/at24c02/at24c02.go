// Package at24c02 simulates a 24C02 2-Kbit EEPROM behind a simulated I²C bus
// (see board/sim).
//
// The first byte of every write sets the address counter; the bytes after it
// are a page write, wrapping within the 8-byte page as on the real part (so more
// than 8 bytes overwrite the first ones). Reads are sequential from the address
// counter and wrap from 0xFF to 0x00. Memory starts erased (all 0xFF) and lives
// as long as the Device.
//
// Not emulated yet: the self-timed write cycle. A real part is busy for up to
// WriteCycle (5 ms) after the STOP that ends a write and NACKs its address
// until done, so drivers poll for an ACK or wait; here a write completes at
// once and the next transaction is always acknowledged.
package at24c02

// Device is a simulated 24C02. Use it from one goroutine at a time; the
// simulated bus serializes transactions.
type Device struct {
	mem  [Size]byte
	addr byte // the address counter; as a byte it wraps at Size
}

// New returns an erased 24C02.
func New() *Device {
	d := &Device{}
	for i := range d.mem {
		d.mem[i] = Erased
	}
	return d
}

func (d *Device) String() string { return "24C02" }

// Tx handles one I²C transaction addressed to the device: a write of [addr]
// sets the address counter, a write of [addr, data...] writes a page, and a read
// (after the write, for a random read, or alone, for a current-address read)
// returns bytes from the address counter on.
func (d *Device) Tx(w, r []byte) error {
	if len(w) > 0 {
		d.addr = w[0]
		page := d.addr &^ (PageSize - 1)
		for _, b := range w[1:] {
			d.mem[d.addr] = b
			d.addr = page | (d.addr+1)&(PageSize-1)
		}
	}
	for i := range r {
		r[i] = d.mem[d.addr]
		d.addr++
	}
	return nil
}
