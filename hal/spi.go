package hal

import (
	"fmt"
	"strconv"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
)

// An SPI port is one chip select of an SPI controller (/dev/spidev0.0 is
// controller 0, chip select 0). periph splits using it in two steps: open the
// Port, then Connect it once with the clock, mode and bits per word of the chip
// behind it, which yields the Conn that does transactions. A periph Port can
// be connected only once.
//
// OpenSPI hides both steps and shares the result: every device that asks for
// the same port with the same clock, mode and bits per word gets the same
// Conn; a different setting gets a Conn of its own on a new handle of the port
// (spidev takes the clock and word size per transfer, but the mode per handle,
// so devices of one chip select should agree on the mode). The caller
// serializes transactions on a port (the device manager's one worker per bus).

type spiConn struct {
	port spi.PortCloser
	conn spi.Conn
}

func (c spiConn) Close() error { return c.port.Close() }

var spiConns shared[spiConn]

// SPI is a shared handle on a connected SPI port. It implements spi.Conn;
// Close releases this handle.
type SPI struct {
	spi.Conn
	name    string
	port    string
	release func() error
}

// Name returns the name the port was opened by.
func (s *SPI) Name() string { return s.name }

// Port returns the port's registered name, the same for every alias of it:
// "/dev/spidev0.0" on Linux, "SIM-SPI0.0" on the simulated board.
func (s *SPI) Port() string { return s.port }

// Close releases this handle; the port closes when its last handle does.
func (s *SPI) Close() error { return s.release() }

// OpenSPI opens the SPI port called name ("SPI0.0", "/dev/spidev0.0", a
// registered number such as "0", or "" for the first port) and connects it at
// up to f, in mode, with bits per word. Handles with the same port and
// settings share one connection.
func OpenSPI(name string, f physic.Frequency, mode spi.Mode, bits int) (*SPI, error) {
	port := CanonicalSPI(name)
	key := port + "|" + strconv.FormatInt(int64(f), 10) + "|" + strconv.Itoa(int(mode)) + "|" + strconv.Itoa(bits)
	c, release, err := spiConns.get(name, func(string) string { return key }, func(n string) (spiConn, error) {
		var p spi.PortCloser
		p, err := spireg.Open(n)
		if err != nil {
			if p, err = openUnregisteredSPI(n, err); err != nil {
				return spiConn{}, err
			}
		}
		conn, err := p.Connect(f, mode, bits)
		if err != nil {
			p.Close()
			return spiConn{}, fmt.Errorf("connect spi port %q at %s, %s, %d bits per word: %w", n, f, mode, bits, err)
		}
		return spiConn{port: p, conn: conn}, nil
	})
	if err != nil {
		return nil, err
	}
	return &SPI{Conn: c.conn, name: name, port: port, release: release}, nil
}

// CanonicalSPI returns the registered name of the SPI port called name (by
// its name, an alias or its number), or name itself when no port answers to
// it, so that every spelling of one port gives one name.
func CanonicalSPI(name string) string {
	refs := spireg.All()
	for _, r := range refs {
		if r.Name == name {
			return r.Name
		}
		for _, a := range r.Aliases {
			if a == name {
				return r.Name
			}
		}
	}
	if n, err := strconv.Atoi(name); err == nil {
		for _, r := range refs {
			if r.Number == n {
				return r.Name
			}
		}
	}
	if name == "" && len(refs) > 0 {
		// spireg.Open("") opens the port with the lowest number, else the
		// first by name.
		best := refs[0]
		for _, r := range refs {
			if r.Number >= 0 && (best.Number < 0 || r.Number < best.Number) {
				best = r
			}
		}
		return best.Name
	}
	return name
}
