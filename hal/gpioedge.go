package hal

// # Edge events
//
// A counter must see every edge of a line, so something waits for them all
// the time. periph's gpioioctl driver (host/v3 v3.8.5, gpio.go) waits in
// GPIOLine.WaitForEdge with binary.Read into a new gpio_v2_line_event, which
// allocates on every edge (a 1 kHz flow meter: a thousand allocations a
// second, for ever), reads one event per call, and keeps the line request's
// descriptor to itself. So hal requests a line to be counted itself, with
// the kernel's GPIO v2 character-device uAPI (GPIO_V2_GET_LINE_IOCTL on the
// chip, with the request structures of golang.org/x/sys/unix), after
// releasing periph's own request of it (the kernel grants a line to one
// request), and reads the events into a buffer of its own: every event that
// has queued, in one read, without allocating.
//
// Anything else that can hand over such a descriptor is an EdgeRequester
// (the sim's pins are); other pins (periph's sysfs driver) have no event
// descriptor, and OpenEdges says so with errors.ErrUnsupported: their users
// fall back to WaitForEdge.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3/gpioioctl"
)

// EdgeEventSize is the size of one edge event as the kernel delivers it
// (struct gpio_v2_line_event).
const EdgeEventSize = int(unsafe.Sizeof(unix.GPIOV2LineEvent{}))

// edgeBatch is how many events one Wait takes at most: the kernel's default
// event buffer for a one-line request.
const edgeBatch = 16

// An EdgeRequester is a GPIO line that can be requested as an input with edge
// detection and then hands over the descriptor its edges arrive on, one
// EdgeEventSize record (struct gpio_v2_line_event, little endian) per edge:
// what the kernel's GPIO_V2_GET_LINE_IOCTL returns. The file should be in
// non-blocking mode (in Go's runtime poller), so that deadlines work. Closing
// it releases the request.
type EdgeRequester interface {
	RequestEdges(pull gpio.Pull, edge gpio.Edge) (*os.File, error)
}

// Edges is a line requested for edge detection: a descriptor of edge events.
// Wait is for one goroutine; Level, Halt and Close may be called from others.
type Edges struct {
	name  string
	f     *os.File
	level func() (gpio.Level, error)
	mu    sync.RWMutex // Close against Level's use of the descriptor
	shut  bool
	buf   [edgeBatch * EdgeEventSize]byte
	part  int // bytes of an event read in part, at the start of buf
}

// OpenEdges requests pin (a gpioreg alias is followed to its real pin) as an
// input with pull and edge detection, and returns its edge events. A periph
// gpioioctl line is released by periph and requested by hal; an
// EdgeRequester requests itself. Other pins fail with an error wrapping
// errors.ErrUnsupported. While the Edges is open the line is the Edges':
// read its level with Level, not with the pin's Read.
func OpenEdges(pin gpio.PinIO, pull gpio.Pull, edge gpio.Edge) (*Edges, error) {
	for {
		r, ok := pin.(gpio.RealPin)
		if !ok {
			break
		}
		pin = r.Real()
	}
	switch p := pin.(type) {
	case EdgeRequester:
		f, err := p.RequestEdges(pull, edge)
		if err != nil {
			return nil, PinError(err)
		}
		return &Edges{name: pin.Name(), f: f, level: func() (gpio.Level, error) { return pin.Read(), nil }}, nil
	case *gpioioctl.GPIOLine:
		return requestLine(p, pull, edge)
	}
	return nil, fmt.Errorf("gpio %s: edge events: %w (not a GPIO character-device line)", pin.Name(), errors.ErrUnsupported)
}

// Line flags of the GPIO v2 uAPI (linux/gpio.h, enum gpio_v2_line_flag).
const (
	lineFlagInput        = 1 << 2
	lineFlagEdgeRising   = 1 << 4
	lineFlagEdgeFalling  = 1 << 5
	lineFlagBiasPullUp   = 1 << 8
	lineFlagBiasPullDown = 1 << 9
)

// lineFlags returns the request flags of an input with pull and edge. Like
// periph's gpioioctl, Float and PullNoChange leave the bias as it is.
func lineFlags(pull gpio.Pull, edge gpio.Edge) uint64 {
	f := uint64(lineFlagInput)
	switch pull {
	case gpio.PullUp:
		f |= lineFlagBiasPullUp
	case gpio.PullDown:
		f |= lineFlagBiasPullDown
	}
	switch edge {
	case gpio.RisingEdge:
		f |= lineFlagEdgeRising
	case gpio.FallingEdge:
		f |= lineFlagEdgeFalling
	case gpio.BothEdges:
		f |= lineFlagEdgeRising | lineFlagEdgeFalling
	}
	return f
}

// consumer is the name the kernel shows for lines hal requests (gpioinfo).
const consumer = "tinymapper"

// requestLine requests a gpioioctl line for edges with GPIO_V2_GET_LINE_IOCTL.
func requestLine(l *gpioioctl.GPIOLine, pull gpio.Pull, edge gpio.Edge) (*Edges, error) {
	var chip *gpioioctl.GPIOChip
	for _, c := range gpioioctl.Chips {
		for _, cl := range c.Lines() {
			if cl == l {
				chip = c
			}
		}
	}
	if chip == nil {
		return nil, fmt.Errorf("gpio %s: edge events: %w (its chip is not among periph's)", l.Name(), errors.ErrUnsupported)
	}
	name := fmt.Sprintf("%s/%d", chip.Name(), l.Number())
	l.Close() // periph's request of the line, if it made one
	cf, err := os.OpenFile(chip.Path(), os.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("gpio %s: edge events: %w", name, err)
	}
	defer cf.Close() // the request's descriptor outlives the chip's
	var req unix.GPIOV2LineRequest
	req.Offsets[0] = uint32(l.Number())
	req.Num_lines = 1
	copy(req.Consumer[:len(req.Consumer)-1], consumer)
	req.Config.Flags = lineFlags(pull, edge)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, cf.Fd(), unix.GPIO_V2_GET_LINE_IOCTL, uintptr(unsafe.Pointer(&req))); errno != 0 {
		return nil, PinError(fmt.Errorf("gpio %s: request the line for edge events: %w", name, errno))
	}
	fd := int(req.Fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("gpio %s: edge events: %w", name, err)
	}
	unix.CloseOnExec(fd)
	e := &Edges{name: name, f: os.NewFile(uintptr(fd), "gpio-"+name)}
	e.level = func() (gpio.Level, error) {
		v := unix.GPIOV2LineValues{Mask: 1}
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.GPIO_V2_LINE_GET_VALUES_IOCTL, uintptr(unsafe.Pointer(&v))); errno != 0 {
			return gpio.Low, PinError(fmt.Errorf("gpio %s: read: %w", name, errno))
		}
		return v.Bits&1 != 0, nil
	}
	return e, nil
}

// Wait waits up to timeout (> 0) for edges and returns how many arrived:
// every event queued, up to 16 at a time. It returns 0 and ErrTimeout when
// the timeout passes or Halt interrupts it, and an error wrapping io.EOF when
// the requester went away. It does not allocate.
func (e *Edges) Wait(timeout time.Duration) (int, error) {
	if err := e.f.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return 0, e.ioError(err)
	}
	n, err := e.f.Read(e.buf[e.part:])
	if n == 0 && err == nil {
		err = io.EOF
	}
	if err != nil {
		return 0, e.ioError(err)
	}
	n += e.part
	events := n / EdgeEventSize
	e.part = copy(e.buf[:], e.buf[events*EdgeEventSize:n])
	return events, nil
}

func (e *Edges) ioError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ErrTimeout
	}
	return fmt.Errorf("gpio %s: edge events: %w", e.name, err)
}

// Halt interrupts a Wait in progress, which returns ErrTimeout. A Halt
// before a Wait is lost, as with periph's.
func (e *Edges) Halt() error { return e.f.SetReadDeadline(time.Unix(1, 0)) }

// Level reads the line. It does not allocate.
func (e *Edges) Level() (gpio.Level, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.shut {
		return gpio.Low, fmt.Errorf("gpio %s: %w", e.name, os.ErrClosed)
	}
	return e.level()
}

// Close releases the request: a Wait in progress returns an error.
func (e *Edges) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shut {
		return nil
	}
	e.shut = true
	return e.f.Close()
}

// # Errors

// ErrPinBusy is wrapped by the errors PinError maps from the kernel's EBUSY:
// the line is requested by another consumer (another process, a kernel
// driver, or an earlier request of this one); gpioinfo shows whom.
// errors.Is(err, syscall.EBUSY) holds for them too.
var ErrPinBusy error = pinBusy{}

type pinBusy struct{}

func (pinBusy) Error() string        { return "the line is in use by another consumer" }
func (pinBusy) Is(target error) bool { return target == syscall.EBUSY }

// flattened are the errnos PinError finds in an error's text.
var flattened = []syscall.Errno{syscall.EBUSY, syscall.EACCES, syscall.EPERM, syscall.EINVAL, syscall.ENODEV, syscall.ENXIO, syscall.EIO}

// PinError returns err so that errors.Is finds its errno. periph's gpioioctl
// builds every ioctl error with errors.New(errno.Error()) (ioctl.go), so
// "line_request ioctl: device or resource busy" wraps nothing; PinError
// recognises the kernel's text, as bus/i2c does for a NACK, and wraps the
// errno (syscall.Errno's Is makes EACCES and EPERM fs.ErrPermission too), and
// ErrPinBusy for EBUSY. nil stays nil; an error that already wraps its errno
// gains only ErrPinBusy.
func PinError(err error) error {
	if err == nil || errors.Is(err, ErrPinBusy) {
		return err
	}
	msg := err.Error()
	for _, errno := range flattened {
		found := errors.Is(err, errno)
		if !found && !strings.Contains(msg, errno.Error()) {
			continue
		}
		if !found {
			err = errnoText{err, errno}
		}
		if errno == syscall.EBUSY {
			return fmt.Errorf("%w: %w", ErrPinBusy, err)
		}
		return err
	}
	return err
}

// errnoText is an error whose text names an errno it does not wrap, and
// the errno.
type errnoText struct {
	err   error
	errno syscall.Errno
}

func (e errnoText) Error() string   { return e.err.Error() }
func (e errnoText) Unwrap() []error { return []error{e.err, e.errno} }
