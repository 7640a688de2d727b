package hal_test

import (
	"errors"
	"testing"
	"time"

	"go.bug.st/serial"
	"golang.org/x/sys/unix"

	"github.com/tinymapper/tinymapper/hal"
)

// These tests pin down go.bug.st/serial's traps, and that hal avoids them.

// highFDs fills the descriptor table up to beyond 1100, so that whatever is
// opened next gets a descriptor of 1024 or more, and closes them when the
// test ends.
func highFDs(t *testing.T) {
	t.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < 2048 {
		want := lim
		want.Cur = min(2048, lim.Max)
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err != nil || want.Cur < 2048 {
			t.Skipf("cannot raise RLIMIT_NOFILE to 2048 (limit %d/%d): %v", lim.Cur, lim.Max, err)
		}
		t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &lim) })
	}
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	fds := []int{null}
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	for fds[len(fds)-1] < 1100 {
		fd, err := unix.Dup(null)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	probe, _ := unix.Dup(null)
	unix.Close(probe)
	if probe < 1024 {
		t.Fatalf("next descriptor is %d, want >= 1024", probe)
	}
}

// The regression test for go.bug.st/serial's select(2): with every
// descriptor of the port above 1023, reading, timing out and writing work.
func TestSerialWorksWithDescriptorsAbove1024(t *testing.T) {
	highFDs(t)
	master, path := newPty(t)
	s := openSerial(t, path, mode9600)

	if n, err := s.Exchange(hal.SerialTx{Timeout: 20 * time.Millisecond, Reply: hal.FixedLen(8)}, make([]byte, 8)); n != 0 || !errors.Is(err, hal.ErrTimeout) {
		t.Fatalf("Exchange with nothing sent = %d, %v; want 0, ErrTimeout", n, err)
	}
	master.Write([]byte("T=21.5\r\n"))
	got := make([]byte, 8)
	recv(t, s, got)
	if string(got) != "T=21.5\r\n" {
		t.Errorf("read %q", got)
	}
	send(t, s, []byte("READ?\r\n"))
	cmd := make([]byte, 7)
	readFull(t, master, cmd)
	if string(cmd) != "READ?\r\n" {
		t.Errorf("device read %q", cmd)
	}
}

// TestGoBugStSerialTraps pins down the behaviour of go.bug.st/serial v1.8.0
// that hal works around (see the comment at the top of serial.go). If one of
// these starts failing after an upgrade, the library changed: revisit the
// workaround rather than this test.
func TestGoBugStSerialTraps(t *testing.T) {
	t.Run("Read panics once the descriptor is 1024 or more", func(t *testing.T) {
		highFDs(t)
		_, path := newPty(t)
		p, err := serial.Open(path, &serial.Mode{BaudRate: 9600})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		p.SetReadTimeout(10 * time.Millisecond)
		panicked := func() (panicked bool) {
			defer func() { panicked = recover() != nil }()
			p.Read(make([]byte, 8))
			return false
		}()
		if !panicked {
			t.Error("the library's Read did not panic above descriptor 1023")
		}
	})
	t.Run("a read timeout is (0, nil)", func(t *testing.T) {
		_, path := newPty(t)
		p, err := serial.Open(path, &serial.Mode{BaudRate: 9600})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		p.SetReadTimeout(10 * time.Millisecond)
		if n, err := p.Read(make([]byte, 8)); n != 0 || err != nil {
			t.Errorf("the library's Read timed out with %d, %v; the trap was (0, nil)", n, err)
		}
	})
	t.Run("Open with InitialStatusBits fails on a pty", func(t *testing.T) {
		_, path := newPty(t)
		p, err := serial.Open(path, &serial.Mode{BaudRate: 9600, InitialStatusBits: &serial.ModemOutputBits{DTR: true}})
		if err == nil {
			p.Close()
			t.Error("the library's Open with InitialStatusBits succeeded on a pty")
		}
	})
	t.Run("1.5 stop bits are refused", func(t *testing.T) {
		_, path := newPty(t)
		p, err := serial.Open(path, &serial.Mode{BaudRate: 110, DataBits: 5, StopBits: serial.OnePointFiveStopBits})
		if err == nil {
			p.Close()
			t.Error("the library accepted 1.5 stop bits")
		}
	})
}
