package hal_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/tinymapper/tinymapper/hal"
	"github.com/tinymapper/tinymapper/internal/await"
)

// These tests run the serial layer over real pseudo-terminals: the test holds
// the master side, hal opens the slave side by its path as it would open
// /dev/ttyUSB0.

// newPty returns a pty's master, in non-blocking mode so that deadlines work
// (creack/pty leaves it blocking), and the path of its slave side, set raw so
// that nothing echoes before hal opens it.
func newPty(t testing.TB) (*os.File, string) {
	t.Helper()
	master, tty := openPty(t)
	t.Cleanup(func() { master.Close(); tty.Close() })
	return master, tty.Name()
}

// openPty opens a pty as newPty does and leaves closing both sides to the
// caller.
func openPty(t testing.TB) (master, tty *os.File) {
	t.Helper()
	m, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open a pty: %v", err)
	}
	if err := makeRaw(tty); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Dup(int(m.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	master = os.NewFile(uintptr(fd), "ptmx")
	m.Close()
	return master, tty
}

func makeRaw(tty *os.File) error {
	sc, err := tty.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = sc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ioErr = err
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		ioErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	if err != nil {
		return err
	}
	return ioErr
}

var mode9600 = hal.SerialMode{Baud: 9600}

func openSerial(t testing.TB, name string, mode hal.SerialMode) *hal.Serial {
	t.Helper()
	s, err := hal.OpenSerial(name, mode)
	if err != nil {
		t.Fatalf("OpenSerial(%q, %v): %v", name, mode, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readFull reads len(b) bytes from the device side of a pty within a second.
func readFull(t testing.TB, master *os.File, b []byte) {
	t.Helper()
	master.SetReadDeadline(time.Now().Add(time.Second))
	for n := 0; n < len(b); {
		k, err := master.Read(b[n:])
		if err != nil {
			t.Fatalf("read after %d of %d bytes: %v", n, len(b), err)
		}
		n += k
	}
}

// recv waits a second for len(b) bytes from the port.
func recv(t testing.TB, s *hal.Serial, b []byte) {
	t.Helper()
	if n, err := s.Exchange(hal.SerialTx{Timeout: time.Second, Reply: hal.FixedLen(len(b))}, b); err != nil {
		t.Fatalf("receive after %d of %d bytes: %v", n, len(b), err)
	}
}

// send writes b to the port.
func send(t testing.TB, s *hal.Serial, b []byte) {
	t.Helper()
	if _, err := s.Exchange(hal.SerialTx{Send: b, Timeout: time.Second}, nil); err != nil {
		t.Fatalf("send %q: %v", b, err)
	}
}

// serve runs a device on the master side of a pty until the test ends: it
// answers every read with what reply returns for it.
func serve(t testing.TB, master *os.File, reply func(req []byte) []byte) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1024)
		for {
			n, err := master.Read(buf)
			if err != nil {
				return
			}
			if out := reply(buf[:n]); len(out) > 0 {
				master.Write(out)
			}
		}
	}()
	t.Cleanup(func() { master.Close(); <-done })
}

func TestSerialBytesPassBothWays(t *testing.T) {
	master, path := newPty(t)
	s := openSerial(t, path, mode9600)

	if _, err := master.Write([]byte("from the device\r\n")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("from the device\r\n"))
	recv(t, s, got)
	if string(got) != "from the device\r\n" {
		t.Errorf("port read %q", got)
	}

	send(t, s, []byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD})
	frame := make([]byte, 8)
	readFull(t, master, frame)
	if !bytes.Equal(frame, []byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD}) {
		t.Errorf("device read % x: bytes changed on the way (raw mode?)", frame)
	}
}

func TestSerialTimeoutIsAnError(t *testing.T) {
	_, path := newPty(t)
	s := openSerial(t, path, mode9600)
	n, err := s.Exchange(hal.SerialTx{Send: []byte("?"), Timeout: 20 * time.Millisecond, Reply: hal.FixedLen(4)}, make([]byte, 16))
	if n != 0 || !errors.Is(err, hal.ErrTimeout) {
		t.Fatalf("Exchange with nothing answering = %d, %v; want 0, ErrTimeout (go.bug.st/serial says 0, nil)", n, err)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ErrTimeout is not os.ErrDeadlineExceeded")
	}
	if te, ok := err.(interface{ Timeout() bool }); !ok || !te.Timeout() {
		t.Errorf("ErrTimeout has no Timeout() true")
	}
}

func TestSerialDiscardsInputPendingAtOpen(t *testing.T) {
	master, path := newPty(t)
	// Bytes that arrive while nobody has the port open are stale by the time
	// somebody does.
	pre, err := hal.OpenSerial(path, mode9600)
	if err != nil {
		t.Fatal(err)
	}
	pre.Close()
	master.Write([]byte("stale line\n"))
	await.Until(t, "the tty to take the bytes", func() bool { return readable(t, path) })
	s := openSerial(t, path, mode9600)
	master.Write([]byte("fresh\n"))
	got := make([]byte, 6)
	recv(t, s, got)
	if string(got) != "fresh\n" {
		t.Errorf("first read after open = %q, want the fresh line only", got)
	}
}

func TestSerialExchangeDiscardsWhatCameUnasked(t *testing.T) {
	master, path := newPty(t)
	s := openSerial(t, path, mode9600)
	master.Write([]byte("old reply"))
	await.Until(t, "the old reply to arrive", func() bool { return readable(t, path) })
	serve(t, master, func([]byte) []byte { return []byte("new") })
	got := make([]byte, 3)
	if _, err := s.Exchange(hal.SerialTx{Send: []byte("Q"), Timeout: time.Second, Reply: hal.FixedLen(3)}, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != "new" {
		t.Errorf("reply %q, want new: the bytes that came before the request are not its reply", got)
	}
}

// readable reports whether the tty at path has input.
func readable(t testing.TB, path string) bool {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fdOf(t, path)), Events: unix.POLLIN}}
	defer unix.Close(int(fds[0].Fd))
	n, _ := unix.Poll(fds, 0)
	return n > 0
}

// fdOf opens another descriptor on the tty at path, for poll and ioctls.
func fdOf(t testing.TB, path string) int {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func TestSerialModesReachTheTTY(t *testing.T) {
	tests := []struct {
		name string
		mode hal.SerialMode
	}{
		{"9600 8N1 by default", hal.SerialMode{Baud: 9600}},
		{"19200 8E1, the Modbus default", hal.SerialMode{Baud: 19200, Parity: hal.ParityEven}},
		{"38400 7O2", hal.SerialMode{Baud: 38400, DataBits: 7, Parity: hal.ParityOdd, StopBits: hal.Stop2}},
		{"1200 6 mark 1", hal.SerialMode{Baud: 1200, DataBits: 6, Parity: hal.ParityMark}},
		{"4800 8 space 1", hal.SerialMode{Baud: 4800, Parity: hal.ParitySpace}},
		{"110 5N1.5, a teleprinter", hal.SerialMode{Baud: 110, DataBits: 5, StopBits: hal.Stop1Half}},
		{"31250 MIDI, not a termios speed", hal.SerialMode{Baud: 31250}},
		{"250000 DMX, not a termios speed", hal.SerialMode{Baud: 250000, StopBits: hal.Stop2}},
		{"115200 8N1", hal.SerialMode{Baud: 115200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path := newPty(t)
			s := openSerial(t, path, tt.mode)
			fd := fdOf(t, path)
			defer unix.Close(fd)
			tio, err := unix.IoctlGetTermios(fd, unix.TCGETS2)
			if err != nil {
				t.Fatal(err)
			}
			if int(tio.Ispeed) != tt.mode.Baud || int(tio.Ospeed) != tt.mode.Baud {
				t.Errorf("speed in/out = %d/%d, want %d", tio.Ispeed, tio.Ospeed, tt.mode.Baud)
			}
			// A Linux pty forces CS8 and clears PARENB whatever is asked
			// (drivers/tty/pty.c), so data bits and parity enable cannot be
			// seen here; the parity kind (PARODD, CMSPAR), the stop bits and
			// the speed are kept.
			m := s.Mode()
			parity := map[hal.Parity]uint32{
				hal.ParityNone: 0, hal.ParityEven: 0, hal.ParityOdd: unix.PARODD,
				hal.ParityMark: unix.PARODD | unix.CMSPAR, hal.ParitySpace: unix.CMSPAR,
			}[m.Parity]
			if got := tio.Cflag & (unix.PARODD | unix.CMSPAR); got != parity {
				t.Errorf("parity flags = %#o, want %#o for %c", got, parity, m.Parity)
			}
			if got, want := tio.Cflag&unix.CSTOPB != 0, m.StopBits != hal.Stop1; got != want {
				t.Errorf("CSTOPB = %v, want %v for %s stop bits", got, want, m.StopBits)
			}
			if tio.Lflag&(unix.ICANON|unix.ECHO) != 0 || tio.Oflag&unix.OPOST != 0 {
				t.Errorf("port is not raw: lflag %#o oflag %#o", tio.Lflag, tio.Oflag)
			}
		})
	}
}

func TestSerialRefusesModesNoUARTHas(t *testing.T) {
	tests := []struct {
		name string
		mode hal.SerialMode
		want string
	}{
		{"no baud rate", hal.SerialMode{}, "baud rate 0"},
		{"negative baud rate", hal.SerialMode{Baud: -9600}, "baud rate"},
		{"4 data bits", hal.SerialMode{Baud: 9600, DataBits: 4}, "4 data bits"},
		{"9 data bits", hal.SerialMode{Baud: 9600, DataBits: 9}, "9 data bits"},
		{"parity X", hal.SerialMode{Baud: 9600, Parity: 'X'}, "parity 'X'"},
		{"1.5 stop bits with 8 data bits", hal.SerialMode{Baud: 9600, StopBits: hal.Stop1Half}, "need 5 data bits, not 8"},
		{"3 stop bits", hal.SerialMode{Baud: 9600, StopBits: 6}, "stop bits"},
	}
	_, path := newPty(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := hal.OpenSerial(path, tt.mode)
			if err == nil {
				s.Close()
				t.Fatalf("OpenSerial(%v) succeeded", tt.mode)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestSerialModeStringAndCharTime(t *testing.T) {
	tests := []struct {
		mode hal.SerialMode
		str  string
		char time.Duration
	}{
		{hal.SerialMode{Baud: 9600}, "9600 8N1", 10 * time.Second / 9600},
		{hal.SerialMode{Baud: 19200, Parity: hal.ParityEven}, "19200 8E1", 11 * time.Second / 19200},
		{hal.SerialMode{Baud: 9600, Parity: hal.ParityNone, StopBits: hal.Stop2}, "9600 8N2", 11 * time.Second / 9600},
		{hal.SerialMode{Baud: 110, DataBits: 5, StopBits: hal.Stop1Half}, "110 5N1.5", 15 * time.Second / 220},
	}
	for _, tt := range tests {
		if got := tt.mode.String(); got != tt.str {
			t.Errorf("String() = %q, want %q", got, tt.str)
		}
		if got := tt.mode.CharTime(); got != tt.char {
			t.Errorf("%s: CharTime() = %v, want %v", tt.str, got, tt.char)
		}
	}
}

func TestSerialPortIsSharedByEveryName(t *testing.T) {
	master, path := newPty(t)
	const name = "/dev/ttyTEST-shared"
	if err := hal.RegisterSerial(name, []string{"ttyTEST-shared", "RS485-A"}, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hal.UnregisterSerial(name) })

	a := openSerial(t, "RS485-A", mode9600)
	b := openSerial(t, "ttyTEST-shared", mode9600)
	if a.Port() != name || b.Port() != name {
		t.Errorf("Port() = %q and %q, want %q for both", a.Port(), b.Port(), name)
	}
	if a.Name() != "RS485-A" {
		t.Errorf("Name() = %q, want the name it was opened by", a.Name())
	}
	if _, err := hal.OpenSerial(name, hal.SerialMode{Baud: 19200}); err == nil || !strings.Contains(err.Error(), "already open at 9600 8N1") {
		t.Errorf("open at another mode = %v, want an error naming the mode in use", err)
	}

	// Closing one handle leaves the port open for the other.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	master.Write([]byte("still here"))
	got := make([]byte, 10)
	recv(t, b, got)
	if string(got) != "still here" {
		t.Errorf("read %q through the remaining handle", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The last close closed the port: it opens again at another mode.
	c := openSerial(t, name, hal.SerialMode{Baud: 19200, Parity: hal.ParityEven})
	if c.Mode().String() != "19200 8E1" {
		t.Errorf("reopened at %s", c.Mode())
	}
}

func TestSerialNames(t *testing.T) {
	_, path := newPty(t)
	link := filepath.Join(t.TempDir(), "usb-FTDI_FT232R-if00-port0")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if err := hal.RegisterSerial("/dev/ttyTEST-names", []string{"ttyTEST-names"}, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hal.UnregisterSerial("/dev/ttyTEST-names") })

	tests := []struct {
		name, canonical, path string
	}{
		{"/dev/ttyTEST-names", "/dev/ttyTEST-names", path},
		{" ttyTEST-names ", "/dev/ttyTEST-names", path},
		{"ttyNOSUCH9", "/dev/ttyNOSUCH9", "/dev/ttyNOSUCH9"},
		{"/dev/ttyNOSUCH9", "/dev/ttyNOSUCH9", "/dev/ttyNOSUCH9"},
		{link, path, path}, // like /dev/serial/by-id/... -> ../../ttyUSB0
	}
	for _, tt := range tests {
		c, p := hal.SerialPort(tt.name)
		if c != tt.canonical || p != tt.path {
			t.Errorf("SerialPort(%q) = %q, %q; want %q, %q", tt.name, c, p, tt.canonical, tt.path)
		}
	}
	if err := hal.RegisterSerial("/dev/ttyOTHER", []string{"ttyTEST-names"}, path); err == nil {
		t.Error("registering a taken alias succeeded")
	}
	found := false
	for _, info := range hal.SerialPorts() {
		if info.Name == "/dev/ttyTEST-names" && info.Path == path && len(info.Aliases) == 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("SerialPorts() = %v, want /dev/ttyTEST-names listed", hal.SerialPorts())
	}

	byLink := openSerial(t, link, mode9600)
	byPath := openSerial(t, path, mode9600)
	if byLink.Port() != byPath.Port() {
		t.Errorf("a symlink and its target are different ports: %q, %q", byLink.Port(), byPath.Port())
	}
	if _, err := hal.OpenSerial("/dev/ttyNOSUCH9", mode9600); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("opening a missing port = %v, want os.ErrNotExist", err)
	}
	if _, err := hal.OpenSerial("/dev/null", mode9600); err == nil || !strings.Contains(err.Error(), "/dev/null") {
		t.Errorf("opening /dev/null = %v, want an error: it is not a tty", err)
	}
}

func TestSerialModemLinesOfAPtyAreUnsupported(t *testing.T) {
	_, path := newPty(t)
	s := openSerial(t, path, mode9600)
	for name, set := range map[string]func(bool) error{"DTR": s.SetDTR, "RTS": s.SetRTS} {
		err := set(true)
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Set%s on a pty = %v, want errors.ErrUnsupported", name, err)
		}
		if err != nil && !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if err := s.Drain(); err != nil {
		t.Errorf("Drain on a pty: %v", err)
	}
}

// BenchmarkExchange is one request and its line reply over a pty.
func BenchmarkExchange(b *testing.B) {
	master, path := newPty(b)
	s := openSerial(b, path, mode9600)
	answer := []byte("T=23.4 H=45.1\r\n")
	serve(b, master, func([]byte) []byte { return answer })
	var got int
	lines := &hal.Lines{EOL: '\n', Line: func(line []byte) bool { got = len(line); return true }}
	tx := hal.SerialTx{Send: []byte("READ?\r\n"), Timeout: 5 * time.Second, Reply: lines}
	rx := make([]byte, hal.MaxLine+1)
	b.ReportAllocs()
	for b.Loop() {
		lines.Reset()
		if _, err := s.Exchange(tx, rx); err != nil || got != 13 {
			b.Fatal(got, err)
		}
	}
}
