package sim

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"

	"github.com/tinymapper/tinymapper/board/sim/mcp3008"
)

// An SPIPart is the chip on a simulated SPI port's chip select. The port calls
// it with its lock held, one transaction at a time, so a part need not lock.
type SPIPart interface {
	// Check returns an error when the part cannot talk at clock f, in mode,
	// with bits per word. The port calls it before every transaction.
	Check(f physic.Frequency, mode spi.Mode, bits int) error
	// Transfer clocks the bytes of w to the part and its answer into r, MSB
	// first, continuing the transaction in progress (CS low). A nil w clocks
	// out zeros; a nil r drops the answer; otherwise they are as long.
	Transfer(w, r []byte)
	// Deselect raises CS, ending the transaction.
	Deselect()
}

// SPIPort is a simulated SPI port: one chip select with one part behind it.
// Its Open method is a spireg.Opener: each call returns a new spi.PortCloser
// on the same wires, as opening /dev/spidev0.0 again does, and each of those
// can be connected once.
type SPIPort struct {
	name string
	mu   sync.Mutex
	part SPIPart
}

// NewSPIPort returns a port called name with part behind its chip select.
func NewSPIPort(name string, part SPIPart) *SPIPort { return &SPIPort{name: name, part: part} }

// String returns the port's name.
func (p *SPIPort) String() string { return p.name }

// Open returns a new handle on the port.
func (p *SPIPort) Open() (spi.PortCloser, error) { return &spiHandle{port: p}, nil }

// tx runs one transaction of packets, as spidev does: CS low for the first,
// raised after each packet without KeepCS and after the last.
func (p *SPIPort) tx(f physic.Frequency, mode spi.Mode, bits int, pkts []spi.Packet) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.part.Check(f, mode, bits); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	for i := range pkts {
		p.part.Transfer(pkts[i].W, pkts[i].R)
		if !pkts[i].KeepCS || i == len(pkts)-1 {
			p.part.Deselect()
		}
	}
	return nil
}

// spiHandle is one opened handle on a port; its conn is the one Connect returns.
type spiHandle struct {
	port *SPIPort

	mu        sync.Mutex
	closed    bool
	connected bool
	limit     physic.Frequency // LimitSpeed; 0: none
	f         physic.Frequency // Connect's
	mode      spi.Mode
	bits      int
	pkt       [1]spi.Packet // Tx's packet, kept to not allocate
}

func (h *spiHandle) String() string { return h.port.name }

func (h *spiHandle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("%s: handle is already closed", h.port.name)
	}
	h.closed = true
	return nil
}

// LimitSpeed caps the clock, as on a real port: the lower of it and the
// device's speed given to Connect is used.
func (h *spiHandle) LimitSpeed(f physic.Frequency) error {
	if f < 100*physic.Hertz || f > physic.GigaHertz {
		return fmt.Errorf("%s: invalid speed %s: want 100Hz to 1GHz", h.port.name, f)
	}
	h.mu.Lock()
	h.limit = f
	h.mu.Unlock()
	return nil
}

// Connect checks its arguments as periph's spidev driver does and returns the
// handle's connection. It can be called once per handle.
func (h *spiHandle) Connect(f physic.Frequency, mode spi.Mode, bits int) (spi.Conn, error) {
	switch {
	case f != 0 && (f < 100*physic.Hertz || f > physic.GigaHertz):
		return nil, fmt.Errorf("%s: invalid speed %s: want 100Hz to 1GHz", h.port.name, f)
	case mode&^(spi.Mode3|spi.HalfDuplex|spi.NoCS|spi.LSBFirst) != 0:
		return nil, fmt.Errorf("%s: invalid mode %s", h.port.name, mode)
	case bits < 1 || bits > 32:
		return nil, fmt.Errorf("%s: invalid bits per word %d: want 1 to 32", h.port.name, bits)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("%s: handle is closed", h.port.name)
	}
	if h.connected {
		return nil, fmt.Errorf("%s: Connect can only be called once", h.port.name)
	}
	h.connected, h.f, h.mode, h.bits = true, f, mode, bits
	return (*spiConn)(h), nil
}

// spiConn is a connected handle.
type spiConn spiHandle

func (c *spiConn) String() string      { return c.port.name }
func (c *spiConn) Duplex() conn.Duplex { return conn.Full }

// Tx does one full-duplex transaction: w out, r in. When both are given they
// must be as long, as with spidev.
func (c *spiConn) Tx(w, r []byte) error {
	if len(w) == 0 && len(r) == 0 {
		return fmt.Errorf("%s: Tx with empty buffers", c.port.name)
	}
	if len(w) != 0 && len(r) != 0 && len(w) != len(r) {
		return fmt.Errorf("%s: Tx: when both w and r are used, they must be the same size; got %d and %d bytes", c.port.name, len(w), len(r))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pkt[0] = spi.Packet{W: w, R: r}
	err := c.txLocked(c.pkt[:])
	c.pkt[0] = spi.Packet{}
	return err
}

// TxPackets does one transaction of several packets; CS stays low between
// packets that set KeepCS.
func (c *spiConn) TxPackets(p []spi.Packet) error {
	for i := range p {
		if len(p[i].W) != 0 && len(p[i].R) != 0 && len(p[i].W) != len(p[i].R) {
			return fmt.Errorf("%s: packet %d: when both W and R are used, they must be the same size", c.port.name, i)
		}
		if p[i].BitsPerWord != 0 && int(p[i].BitsPerWord) != c.bits {
			return fmt.Errorf("%s: packet %d: BitsPerWord %d differs from the connection's %d", c.port.name, i, p[i].BitsPerWord, c.bits)
		}
	}
	if len(p) == 0 {
		return errors.New(c.port.name + ": empty packets")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.txLocked(p)
}

func (c *spiConn) txLocked(p []spi.Packet) error {
	if c.closed {
		return fmt.Errorf("%s: handle is closed", c.port.name)
	}
	f := c.f
	if c.limit != 0 && (f == 0 || c.limit < f) {
		f = c.limit
	}
	return c.port.tx(f, c.mode, c.bits, p)
}

// SPI00 is the registered name of the simulated SPI port 0.0 (controller 0,
// chip select 0), with an MCP3008 on its chip select (board/sim/mcp3008: eight
// inputs with documented values, 3.3 V reference, modes 0 and 3, up to
// 3.6 MHz, 8-bit words). It also answers to "SPI0.0", "/dev/spidev0.0" and
// the number 0, as /dev/spidev0.0 does on a Raspberry Pi.
const SPI00 = "SIM-SPI0.0"

func registerSPI() error {
	port := NewSPIPort(SPI00, mcp3008.New(time.Now))
	if err := spireg.Register(SPI00, []string{"SPI0.0", "/dev/spidev0.0"}, 0, port.Open); err != nil {
		return fmt.Errorf("sim: register SPI port 0.0: %w", err)
	}
	return nil
}
