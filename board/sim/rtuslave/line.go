package rtuslave

import (
	"errors"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tinymapper/tinymapper/board/sim/ttymode"
)

// Line is an RS-485 line with slaves on it, seen from the slaves' side: the
// master of a pseudo-terminal whose other side the Modbus master opens.
type Line struct {
	// Master is the pty master, in non-blocking mode so that deadlines work.
	Master *os.File
	// TTY is the pty's slave side, used to read the baud rate the Modbus
	// master set; nil means 9600.
	TTY    *os.File
	Slaves []*Slave
	// Mode, when set (with TTY), is the line's mode: a frame sent while
	// the tty is set otherwise (another baud rate, parity or stop bits, as
	// far as a pty shows them: see ttymode) reaches the slaves as the
	// garbage a real UART would make of it, and gets no reply.
	Mode *ttymode.Mode

	wrongMode atomic.Uint64
}

// WrongMode counts the frames dropped because the master's mode was not
// the line's.
func (l *Line) WrongMode() uint64 { return l.wrongMode.Load() }

// Serve reads frames from the line and lets every slave handle each one,
// until the master is closed. As the RTU specification says, a frame ends
// with 3.5 character times of silence (1.75 ms above 19200 baud), at the
// baud rate the master side set on the tty.
func (l *Line) Serve() error {
	var buf [512]byte
	var resp [256]byte
	n := 0
	for {
		if n == 0 {
			l.Master.SetReadDeadline(time.Time{})
		} else {
			l.Master.SetReadDeadline(time.Now().Add(l.silence()))
		}
		k, err := l.Master.Read(buf[n:])
		n += k
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if l.Mode != nil && l.TTY != nil && l.Mode.Check(l.TTY) != nil {
				l.wrongMode.Add(1)
				n = 0
				continue
			}
			for _, s := range l.Slaves {
				if m := s.Handle(buf[:n], resp[:]); m > 0 {
					if _, err := l.Master.Write(resp[:m]); err != nil {
						return err
					}
				}
			}
			n = 0
		case err != nil:
			if errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		case n == len(buf):
			n = 0 // longer than any frame: noise
		}
	}
}

// silence is 3.5 character times at the tty's baud rate, and 1.75 ms above
// 19200 baud.
func (l *Line) silence() time.Duration {
	baud := 9600
	if l.TTY != nil {
		if sc, err := l.TTY.SyscallConn(); err == nil {
			sc.Control(func(fd uintptr) {
				if t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS2); err == nil && t.Ospeed > 0 {
					baud = int(t.Ospeed)
				}
			})
		}
	}
	if baud > 19200 {
		return 1750 * time.Microsecond
	}
	return time.Duration(3.5 * 11 * float64(time.Second) / float64(baud))
}
