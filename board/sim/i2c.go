package sim

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// A Part is a chip on a simulated I²C bus. Tx receives the bytes the controller
// writes and fills r with the bytes the chip sends back, as i2c.Dev.Tx does
// from the other side. The bus calls Tx with its lock held, one transaction at
// a time, so a Part need not lock.
type Part interface {
	Tx(w, r []byte) error
}

// ErrNACK is wrapped by the error a Tx to an address with no part returns. A
// real bus reports it as "remote I/O error" (EREMOTEIO) from the kernel driver.
var ErrNACK = errors.New("remote I/O error: no device acknowledged (NACK)")

// I2CBus is a simulated I²C bus: Parts at 7-bit addresses. It implements
// periph's i2c.Bus, and its Open method is an i2creg.Opener.
type I2CBus struct {
	name  string
	mu    sync.Mutex
	parts [0x80]Part
}

// NewI2CBus returns an empty bus called name.
func NewI2CBus(name string) *I2CBus { return &I2CBus{name: name} }

// Attach puts p on the bus at addr (0x03 to 0x77).
func (b *I2CBus) Attach(addr uint16, p Part) error {
	if addr < 0x03 || addr > 0x77 {
		return fmt.Errorf("%s: attach at 0x%02x: address is reserved or not 7-bit", b.name, addr)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.parts[addr] != nil {
		return fmt.Errorf("%s: attach at 0x%02x: address is taken", b.name, addr)
	}
	b.parts[addr] = p
	return nil
}

// replace puts p at addr in place of the part there, between two
// transactions.
func (b *I2CBus) replace(addr uint16, p Part) {
	b.mu.Lock()
	b.parts[addr] = p
	b.mu.Unlock()
}

// Tx does one transaction with the part at addr: the write, then, when r is
// not empty, a repeated START and the read. An address with no part fails
// with an error wrapping ErrNACK. A Tx with nothing to write or read does
// nothing, as with periph's sysfs driver.
func (b *I2CBus) Tx(addr uint16, w, r []byte) error {
	if addr >= 0x80 {
		return fmt.Errorf("%s: invalid address 0x%x: 7-bit addresses only", b.name, addr)
	}
	if len(w) == 0 && len(r) == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.parts[addr]
	if p == nil {
		return fmt.Errorf("%s: address 0x%02x: %w", b.name, addr, ErrNACK)
	}
	if err := p.Tx(w, r); err != nil {
		return fmt.Errorf("%s: address 0x%02x: %w", b.name, addr, err)
	}
	return nil
}

// SetSpeed accepts any positive clock; the sim has no timing.
func (b *I2CBus) SetSpeed(f physic.Frequency) error {
	if f <= 0 {
		return fmt.Errorf("%s: invalid speed %s", b.name, f)
	}
	return nil
}

// String returns the bus name.
func (b *I2CBus) String() string { return b.name }

// Open returns a new handle on the bus, as opening /dev/i2c-N returns a new
// file on the same wires. Closing a handle leaves the bus and its parts alone.
func (b *I2CBus) Open() (i2c.BusCloser, error) { return &i2cHandle{bus: b}, nil }

type i2cHandle struct {
	bus    *I2CBus
	closed atomic.Bool
}

func (h *i2cHandle) Tx(addr uint16, w, r []byte) error {
	if h.closed.Load() {
		return fmt.Errorf("%s: handle is closed", h.bus.name)
	}
	return h.bus.Tx(addr, w, r)
}

func (h *i2cHandle) SetSpeed(f physic.Frequency) error { return h.bus.SetSpeed(f) }
func (h *i2cHandle) String() string                    { return h.bus.String() }

func (h *i2cHandle) Close() error {
	if h.closed.Swap(true) {
		return fmt.Errorf("%s: handle is already closed", h.bus.name)
	}
	return nil
}
