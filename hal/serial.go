package hal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.bug.st/serial"
	"golang.org/x/sys/unix"

	"github.com/tinymapper/tinymapper/hal/serialreg"
)

// Parity is a serial port's parity bit: ParityNone, ParityEven, ParityOdd,
// ParityMark (always 1) or ParitySpace (always 0).
type Parity byte

// Parities, as the letter of "8N1".
const (
	ParityNone  Parity = 'N'
	ParityEven  Parity = 'E'
	ParityOdd   Parity = 'O'
	ParityMark  Parity = 'M'
	ParitySpace Parity = 'S'
)

// StopBits is the length of a character's stop bits, in half bits.
type StopBits uint8

// Stop bit lengths.
const (
	Stop1     StopBits = 2
	Stop1Half StopBits = 3 // with 5 data bits only
	Stop2     StopBits = 4
)

func (s StopBits) String() string {
	switch s {
	case Stop1:
		return "1"
	case Stop1Half:
		return "1.5"
	case Stop2:
		return "2"
	}
	return "?" + strconv.Itoa(int(s))
}

// SerialMode is how a serial port frames characters. The zero values of
// DataBits, Parity and StopBits mean 8, none and 1; Baud must be set.
type SerialMode struct {
	// Baud is the bit rate. Rates that are not standard termios speeds
	// (such as 250000 or 31250) are set with termios2 on Linux; whether the
	// UART can produce them is up to its driver.
	Baud     int
	DataBits int // 5 to 8
	Parity   Parity
	StopBits StopBits
}

// normal returns m with its zero fields set to their defaults.
func (m SerialMode) normal() SerialMode {
	if m.DataBits == 0 {
		m.DataBits = 8
	}
	if m.Parity == 0 {
		m.Parity = ParityNone
	}
	if m.StopBits == 0 {
		m.StopBits = Stop1
	}
	return m
}

// String returns the mode as "9600 8N1".
func (m SerialMode) String() string {
	m = m.normal()
	return fmt.Sprintf("%d %d%c%s", m.Baud, m.DataBits, m.Parity, m.StopBits)
}

// Check reports what is wrong with m, if anything.
func (m SerialMode) Check() error {
	m = m.normal()
	switch {
	case m.Baud <= 0 || m.Baud > 16_000_000:
		return fmt.Errorf("baud rate %d is out of range [1, 16000000]", m.Baud)
	case m.DataBits < 5 || m.DataBits > 8:
		return fmt.Errorf("%d data bits: want 5 to 8", m.DataBits)
	case strings.IndexByte("NEOMS", byte(m.Parity)) < 0:
		return fmt.Errorf("parity %q: want N, E, O, M or S", rune(m.Parity))
	case m.StopBits != Stop1 && m.StopBits != Stop1Half && m.StopBits != Stop2:
		return fmt.Errorf("stop bits %s: want 1, 1.5 or 2", m.StopBits)
	case m.StopBits == Stop1Half && m.DataBits != 5:
		return fmt.Errorf("1.5 stop bits need 5 data bits, not %d", m.DataBits)
	}
	return nil
}

// CharTime returns how long one character takes on the wire: a start bit,
// the data bits, the parity bit if any and the stop bits.
func (m SerialMode) CharTime() time.Duration {
	m = m.normal()
	if m.Baud <= 0 {
		return 0
	}
	halfBits := 2 * (1 + m.DataBits)
	if m.Parity != ParityNone {
		halfBits += 2
	}
	halfBits += int(m.StopBits)
	return time.Duration(int64(halfBits) * int64(time.Second) / int64(2*m.Baud))
}

func (m SerialMode) library() *serial.Mode {
	m = m.normal()
	lm := &serial.Mode{BaudRate: m.Baud, DataBits: m.DataBits} // InitialStatusBits stays nil: it fails on ptys
	switch m.Parity {
	case ParityEven:
		lm.Parity = serial.EvenParity
	case ParityOdd:
		lm.Parity = serial.OddParity
	case ParityMark:
		lm.Parity = serial.MarkParity
	case ParitySpace:
		lm.Parity = serial.SpaceParity
	default:
		lm.Parity = serial.NoParity
	}
	switch m.StopBits {
	case Stop2, Stop1Half: // 1.5 is CSTOPB with CS5
		lm.StopBits = serial.TwoStopBits
	default:
		lm.StopBits = serial.OneStopBit
	}
	return lm
}

// ErrTimeout is returned by Exchange when its timeout passes before the
// reply is complete. It is a net.Error-style timeout (Timeout() is true), and
// errors.Is(ErrTimeout, os.ErrDeadlineExceeded) holds.
var ErrTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string        { return "serial port timed out" }
func (timeoutError) Timeout() bool        { return true }
func (timeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

// RegisterSerial registers a port name in serialreg: name and each of
// aliases open the serial device at path, and name is the port's canonical
// name. It fails when name or an alias is taken.
func RegisterSerial(name string, aliases []string, path string) error {
	return serialreg.Register(name, aliases, path)
}

// UnregisterSerial forgets the port registered as name and its aliases.
// Handles already open stay open.
func UnregisterSerial(name string) error { return serialreg.Unregister(name) }

// SerialPortInfo describes one registered serial port.
type SerialPortInfo = serialreg.Ref

// SerialPorts returns the registered serial ports, sorted by name.
func SerialPorts() []SerialPortInfo { return serialreg.All() }

// SerialPort resolves a port name: the canonical name every spelling of the
// port shares, and the device path that opens it. A name or alias registered
// in serialreg gives the registered name and path; otherwise a name without a slash is a
// device in /dev, and a path that is a symbolic link is resolved.
func SerialPort(name string) (canonical, path string) {
	name = strings.TrimSpace(name)
	if r, ok := serialreg.Lookup(name); ok {
		return r.Name, r.Path
	}
	if name == "" {
		return "", ""
	}
	path = name
	if !strings.Contains(name, "/") {
		path = "/dev/" + name
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	return path, path
}

// # Opening

var serialPorts shared[*serialPort]

// serialPort is one port, shared by every handle on it. Its descriptors
// (conn) are replaced when the device goes away and comes back.
type serialPort struct {
	name     string // canonical
	spelling string // the name it was first opened by, resolved again to reopen
	mode     SerialMode
	conn     atomic.Pointer[portConn] // nil while the device is gone
	last     atomic.Int64             // unix ns of the last byte read or written

	// mu is held for one exchange, and to start or stop the reader; it
	// guards reading, lines and wake.
	mu      sync.Mutex
	reading bool        // the reader runs: it takes every byte
	lines   listening   // listeners, claims and the reader; see lines.go
	wake    *time.Timer // ends an exchange the reader serves

	feed pending // the exchange the reader serves; see lines.go

	state  sync.Mutex    // guards what follows, and replacing conn
	path   string        // of the current (or last) descriptors
	lost   error         // why the descriptors were closed
	retry  time.Time     // no reopen before
	wait   time.Duration // the back-off after the next failed reopen
	closed bool
}

// portConn is the descriptors of one open of the device.
type portConn struct {
	f   *os.File    // all reads and writes; in the runtime poller
	ctl serial.Port // ioctls only
}

func (c *portConn) close() error { return errors.Join(c.ctl.Close(), c.f.Close()) }

func (p *serialPort) Close() error {
	p.state.Lock()
	defer p.state.Unlock()
	p.closed = true
	if c := p.conn.Swap(nil); c != nil {
		return c.close()
	}
	return nil
}

// Serial is a shared handle on a serial port. Its users exchange: Exchange
// holds the port for one request and its reply, so the users of one port
// (the devices of one RS-485 line) never interleave, and nobody locks or sets
// a deadline. Listen hands the lines a device sends on its own to a reader
// goroutine hal owns; ClaimReplies keeps such a reader off a port whose
// replies are binary frames.
//
// When the device goes away (a USB adapter unplugged: EIO, ENXIO, ENODEV or
// end of file from the tty) the port closes its descriptors, fails with an
// error wrapping ErrPortGone, and opens the device again, at the same mode,
// on a later call, trying after 200 ms, 400 ms, ... at most every 5 s in
// between, so a replugged adapter works again without a restart.
type Serial struct {
	p       *serialPort
	name    string
	release func() error

	// Guarded by p.mu.
	listener *listener // Listen's, until Close
	claimed  bool      // ClaimReplies', until Close
}

// ErrPortGone is wrapped by errors of a port whose device went away: the
// operation that found out, and every one until the device opens again.
var ErrPortGone = errors.New("the device went away")

// Reopen back-off of a port whose device went away.
const (
	reopenFirst = 200 * time.Millisecond
	reopenMax   = 5 * time.Second
)

// OpenSerial opens the serial port called name with mode. Every name of one
// port shares one open port: a second open with the same mode gets a new
// handle on it, one with a different mode fails, since one line has one
// mode. Pending input is discarded when the port is first opened.
func OpenSerial(name string, mode SerialMode) (*Serial, error) {
	if err := mode.Check(); err != nil {
		return nil, fmt.Errorf("open serial port %q: %w", name, err)
	}
	mode = mode.normal()
	canon, path := SerialPort(name)
	if canon == "" {
		return nil, errors.New("open serial port: no name given")
	}
	p, release, err := serialPorts.get(canon, func(string) string { return canon }, func(string) (*serialPort, error) {
		c, err := openConn(canon, path, mode)
		if err != nil {
			return nil, err
		}
		p := &serialPort{name: canon, spelling: strings.TrimSpace(name), mode: mode, path: path}
		p.conn.Store(c)
		p.wake = time.NewTimer(time.Hour)
		p.wake.Stop()
		p.feed.done = make(chan struct{}, 1)
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	if p.mode != mode {
		release()
		return nil, fmt.Errorf("open serial port %s at %s: it is already open at %s, and a port has one mode", canon, mode, p.mode)
	}
	return &Serial{p: p, name: name, release: release}, nil
}

func openConn(canon, path string, mode SerialMode) (*portConn, error) {
	// O_NONBLOCK: open does not wait for carrier, and the descriptor goes
	// into the runtime poller, so deadlines work.
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open serial port %s: %w", canon, err)
	}
	ctl, err := serial.Open(path, mode.library())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open serial port %s (%s) at %s: %w", canon, path, mode, err)
	}
	c := &portConn{f: f, ctl: ctl}
	if err := ctl.ResetInputBuffer(); err != nil {
		c.close()
		return nil, fmt.Errorf("open serial port %s: discard pending input: %w", canon, err)
	}
	return c, nil
}

// current returns the port's descriptors, opening the device again when it
// went away and the back-off allows. It does not allocate while the port is
// open.
func (p *serialPort) current() (*portConn, error) {
	if c := p.conn.Load(); c != nil {
		return c, nil
	}
	p.state.Lock()
	defer p.state.Unlock()
	if c := p.conn.Load(); c != nil {
		return c, nil
	}
	if p.closed {
		return nil, fmt.Errorf("serial port %s: %w", p.name, os.ErrClosed)
	}
	now := time.Now()
	if now.Before(p.retry) {
		return nil, fmt.Errorf("serial port %s: %w (%w); opening it again in %v", p.name, ErrPortGone, p.lost, p.retry.Sub(now).Round(10*time.Millisecond))
	}
	_, path := SerialPort(p.spelling) // a by-id link or a registered name may point elsewhere now
	c, err := openConn(p.name, path, p.mode)
	if err != nil {
		p.retry, p.wait = now.Add(p.wait), min(2*p.wait, reopenMax)
		return nil, fmt.Errorf("serial port %s: %w (%w); opening it again failed: %w", p.name, ErrPortGone, p.lost, err)
	}
	p.path, p.lost = path, nil
	p.conn.Store(c)
	return c, nil
}

// gone reports whether err says the device behind a tty went away: a USB
// adapter unplugged (EIO, ENXIO, ENODEV), the far side of a pty closed (EIO,
// end of file).
func gone(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ENODEV) || errors.Is(err, io.EOF)
}

// drop closes c when err says its device went away and c is still the
// port's, and returns err as the caller should see it.
func (p *serialPort) drop(c *portConn, op string, err error) error {
	if !gone(err) {
		return fmt.Errorf("serial port %s: %s%w", p.name, op, err)
	}
	p.state.Lock()
	if p.conn.CompareAndSwap(c, nil) {
		c.close()
		p.lost, p.wait = err, 2*reopenFirst
		p.retry = time.Now().Add(reopenFirst)
	}
	p.state.Unlock()
	return fmt.Errorf("serial port %s: %s%w: %w", p.name, op, ErrPortGone, err)
}

// Name returns the name the port was opened by.
func (s *Serial) Name() string { return s.name }

// Port returns the port's canonical name (see SerialPort), the same for
// every spelling of the port.
func (s *Serial) Port() string { return s.p.name }

// Path returns the device path of the port.
func (s *Serial) Path() string {
	s.p.state.Lock()
	defer s.p.state.Unlock()
	return s.p.path
}

// Mode returns the port's mode.
func (s *Serial) Mode() SerialMode { return s.p.mode }

func (p *serialPort) ioError(c *portConn, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ErrTimeout
	}
	if errors.Is(err, io.EOF) {
		return p.drop(c, "hung up: ", err)
	}
	return p.drop(c, "", err)
}

// Drain waits until everything written has been sent.
func (s *Serial) Drain() error {
	c, err := s.p.current()
	if err != nil {
		return err
	}
	if err := c.ctl.Drain(); err != nil {
		return s.p.drop(c, "drain: ", err)
	}
	return nil
}

// SetDTR sets the DTR modem line. Ports without modem lines (a pty, some
// adapters) return an error wrapping errors.ErrUnsupported.
func (s *Serial) SetDTR(on bool) error {
	c, err := s.p.current()
	if err != nil {
		return err
	}
	return s.p.modemError("DTR", c.ctl.SetDTR(on))
}

// SetRTS sets the RTS modem line, which some RS-485 adapters use for
// direction. Ports without modem lines return an error wrapping
// errors.ErrUnsupported.
func (s *Serial) SetRTS(on bool) error {
	c, err := s.p.current()
	if err != nil {
		return err
	}
	return s.p.modemError("RTS", c.ctl.SetRTS(on))
}

func (p *serialPort) modemError(line string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("serial port %s: set %s: the port has no modem lines: %w (%w)", p.name, line, errors.ErrUnsupported, err)
	}
	return fmt.Errorf("serial port %s: set %s: %w", p.name, line, err)
}

// Close ends this handle's listener and claim and releases the handle; the
// port closes with its last handle.
func (s *Serial) Close() error {
	s.unlisten()
	s.unclaim()
	return s.release()
}
