package hal_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tinymapper/tinymapper/hal"
	"github.com/tinymapper/tinymapper/internal/await"
)

// replugPty is newPty for a device the test unplugs: unplug closes both
// sides, as a USB adapter's tty goes away.
func replugPty(t *testing.T) (master *os.File, path string, unplug func()) {
	t.Helper()
	master, tty := openPty(t)
	unplug = func() { master.Close(); tty.Close() }
	t.Cleanup(unplug)
	return master, tty.Name(), unplug
}

func TestSerialOpensAReplugedDeviceAgain(t *testing.T) {
	const name = "/dev/ttyTEST-replug"
	master, path, unplug := replugPty(t)
	if err := hal.RegisterSerial(name, nil, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hal.UnregisterSerial(name) })
	mode := hal.SerialMode{Baud: 38400, Parity: hal.ParityOdd}
	s := openSerial(t, name, mode)
	master.Write([]byte("one"))
	got := make([]byte, 3)
	recv(t, s, got)

	unplug()
	read := func() error {
		_, err := s.Exchange(hal.SerialTx{Timeout: time.Second, Reply: hal.FixedLen(3)}, got)
		return err
	}
	if err := read(); !errors.Is(err, hal.ErrPortGone) {
		t.Fatalf("a read after the device went away = %v, want ErrPortGone", err)
	}
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"a read", read},
		{"a write", func() error {
			_, err := s.Exchange(hal.SerialTx{Send: []byte("x"), Timeout: time.Second}, nil)
			return err
		}},
		{"Drain", s.Drain},
	} {
		if err := op.do(); !errors.Is(err, hal.ErrPortGone) || !strings.Contains(err.Error(), "opening it again in") {
			t.Errorf("%s while the device is away = %v, want ErrPortGone saying when it is opened again", op.name, err)
		}
	}

	// Still away when the back-off ends: the open fails, and says why.
	hal.UnregisterSerial(name)
	await.Until(t, "the reopen to fail on the missing device", func() bool {
		err := read()
		return errors.Is(err, hal.ErrPortGone) && errors.Is(err, os.ErrNotExist)
	})

	// Plugged in again (a new tty at the same name): reads and writes work
	// again, at the port's mode, with the deadline set while it was away.
	master2, path2, _ := replugPty(t)
	if err := hal.RegisterSerial(name, nil, path2); err != nil {
		t.Fatal(err)
	}
	await.Until(t, "the port to open again", func() bool {
		_, err := s.Exchange(hal.SerialTx{Send: []byte("ping"), Timeout: time.Second}, nil)
		return err == nil
	})
	if s.Path() != path2 {
		t.Errorf("Path() = %q, want the new tty %q", s.Path(), path2)
	}
	ping := make([]byte, 4)
	readFull(t, master2, ping)
	master2.Write([]byte("two"))
	recv(t, s, got)
	if string(got) != "two" {
		t.Errorf("read %q from the replugged device", got)
	}
	fd := fdOf(t, path2)
	defer unix.Close(fd)
	if tio, err := unix.IoctlGetTermios(fd, unix.TCGETS2); err != nil || tio.Ospeed != 38400 || tio.Cflag&unix.PARODD == 0 {
		t.Errorf("the replugged tty is at %d baud, cflag %#o (%v); want 38400 and odd parity", tio.Ospeed, tio.Cflag, err)
	}
}
