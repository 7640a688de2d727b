// Package at24c02 simulates a 24C02 2-Kbit EEPROM behind a simulated I²C bus
// (see board/sim).
//
// The first byte of every write sets the address counter; the bytes after it
// are a page write, wrapping within the 8-byte page as on the real part (so more
// than 8 bytes overwrite the first ones). Reads are sequential from the address
// counter and wrap from 0xFF to 0x00. Memory starts erased (all 0xFF) and lives
// as long as the Device.
//
// The self-timed write cycle is emulated: after a write with data the part is
// busy for WriteCycle (5 ms) and NACKs every transaction until it is done, as
// the real part does, so drivers must poll for an ACK (or wait) before
// reading back what they wrote.
package at24c02

import (
	"errors"
	"time"
)

// ErrBusy is what a transaction during the write cycle gets: the part does
// not acknowledge its address, which a Linux bus reports as EREMOTEIO.
var ErrBusy = errors.New("remote I/O error: write cycle in progress (NACK)")

// Device is a simulated 24C02. Use it from one goroutine at a time; the
// simulated bus serializes transactions.
type Device struct {
	mem       [Size]byte
	addr      byte // the address counter; as a byte it wraps at Size
	now       func() time.Time
	busyUntil time.Time
}

// New returns an erased 24C02 on the wall clock.
func New() *Device { return NewWithClock(time.Now) }

// NewWithClock returns an erased 24C02 whose write cycle runs on now.
func NewWithClock(now func() time.Time) *Device {
	d := &Device{now: now}
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
	if d.now().Before(d.busyUntil) {
		return ErrBusy
	}
	if len(w) > 1 {
		defer func() { d.busyUntil = d.now().Add(WriteCycle) }()
	}
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
