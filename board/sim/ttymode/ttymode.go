// Package ttymode tells a simulated serial device which mode the software on
// the other side of its pseudo-terminal set, as far as a pty keeps it, so
// that the device can refuse a mode its real counterpart would not
// understand: a CRD with the wrong baud rate or parity fails on the sim as it
// would on hardware, instead of working there and failing on site.
//
// A Linux pty keeps the baud rate, the stop bits and the kind of parity
// (PARODD, CMSPAR) software sets with termios, but forces 8 data bits and
// clears PARENB whatever is asked (drivers/tty/pty.c). So a pty shows the
// baud rate, 1 or 2 stop bits, and odd, mark or space parity; it cannot show
// the data bits, nor tell even parity from none.
package ttymode

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Mode is a device's line settings as its datasheet gives them. DataBits is
// documentation only: a pty cannot show it.
type Mode struct {
	Baud     int
	DataBits int
	Parity   byte // 'N', 'E', 'O', 'M' or 'S'
	StopBits int  // 1 or 2
}

// String returns the mode as "19200 8E1".
func (m Mode) String() string {
	return strconv.Itoa(m.Baud) + " " + strconv.Itoa(m.DataBits) + string(rune(m.Parity)) + strconv.Itoa(m.StopBits)
}

// Seen is what a pty shows of the mode software set.
type Seen struct {
	Baud      int
	OddMarkSp byte // 'O', 'M' or 'S'; 0 for none or even, which a pty does not tell apart
	StopBits  int
}

// Read returns what tty (a pty's slave side) shows of its mode.
func Read(tty *os.File) (Seen, error) {
	sc, err := tty.SyscallConn()
	if err != nil {
		return Seen{}, err
	}
	var t *unix.Termios
	var ioErr error
	if err := sc.Control(func(fd uintptr) { t, ioErr = unix.IoctlGetTermios(int(fd), unix.TCGETS2) }); err != nil {
		return Seen{}, err
	}
	if ioErr != nil {
		return Seen{}, fmt.Errorf("ttymode: %w", ioErr)
	}
	s := Seen{Baud: int(t.Ospeed), StopBits: 1}
	if t.Cflag&unix.CSTOPB != 0 {
		s.StopBits = 2
	}
	switch t.Cflag & (unix.PARODD | unix.CMSPAR) {
	case unix.PARODD:
		s.OddMarkSp = 'O'
	case unix.PARODD | unix.CMSPAR:
		s.OddMarkSp = 'M'
	case unix.CMSPAR:
		s.OddMarkSp = 'S'
	}
	return s, nil
}

// Check returns nil when what tty shows agrees with m, and otherwise an
// error saying what differs.
func (m Mode) Check(tty *os.File) error {
	s, err := Read(tty)
	if err != nil {
		return err
	}
	want := m.Parity
	if want == 'N' || want == 'E' {
		want = 0
	}
	switch {
	case s.Baud != m.Baud:
		return fmt.Errorf("the port runs at %d baud, the device at %s", s.Baud, m)
	case s.StopBits != m.StopBits:
		return fmt.Errorf("the port sends %d stop bits, the device expects %s", s.StopBits, m)
	case s.OddMarkSp != want:
		got := "none or even"
		if s.OddMarkSp != 0 {
			got = string(rune(s.OddMarkSp))
		}
		return fmt.Errorf("the port's parity is %s, the device's %s", got, m)
	}
	return nil
}
