package i2c_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/physic"

	"github.com/tinymapper/tinymapper/board/sim"
	tmi2c "github.com/tinymapper/tinymapper/bus/i2c"
)

// sysfsLikeBus fails every transaction the way periph's Linux driver does:
// the kernel's EREMOTEIO formatted with %v, so errors.Is cannot see it.
type sysfsLikeBus struct{}

func (sysfsLikeBus) String() string                  { return "FAKE-SYSFS" }
func (sysfsLikeBus) SetSpeed(physic.Frequency) error { return nil }
func (sysfsLikeBus) Close() error                    { return nil }
func (sysfsLikeBus) Tx(addr uint16, w, r []byte) error {
	return fmt.Errorf("sysfs-i2c: %v", syscall.EREMOTEIO)
}

func TestANackIsFoundWhateverTheBusDriverDidToTheErrno(t *testing.T) {
	if err := i2creg.Register("FAKE-SYSFS", nil, -1, func() (i2c.BusCloser, error) { return sysfsLikeBus{}, nil }); err != nil {
		t.Fatal(err)
	}
	defer i2creg.Unregister("FAKE-SYSFS")
	for _, tc := range []struct {
		bus, addr string
		wrapped   error // what errors.Is finds without our help, if anything
	}{
		{"FAKE-SYSFS", "0x48", nil},
		{"1", "0x21", sim.ErrNACK},
	} {
		d := open(t, config(devicePath, "bus", tc.bus, "address", tc.addr), property("x", false, "register", 1))
		_, err := d.Points()[0].Read()
		if !errors.Is(err, tmi2c.ErrNoAck) {
			t.Errorf("bus %s: Read error %v does not wrap ErrNoAck", tc.bus, err)
		}
		if tc.wrapped != nil && !errors.Is(err, tc.wrapped) {
			t.Errorf("bus %s: Read error %v lost the bus's own error", tc.bus, err)
		}
	}
}

func TestIsNoAckTellsAnEmptyAddressFromAFailingBus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"the sim's NACK", fmt.Errorf("sim: %w", sim.ErrNACK), true},
		{"EREMOTEIO as an errno", fmt.Errorf("i2c: %w", syscall.EREMOTEIO), true},
		{"EREMOTEIO flattened to text by periph's sysfs driver", fmt.Errorf("sysfs-i2c: %v", syscall.EREMOTEIO), true},
		{"ErrNoAck", fmt.Errorf("read: %w", tmi2c.ErrNoAck), true},
		{"a bus timeout", fmt.Errorf("sysfs-i2c: %v", syscall.ETIMEDOUT), false},
		{"no permission", fmt.Errorf("open /dev/i2c-1: %w", syscall.EACCES), false},
		{"no error", nil, false},
	}
	for _, tt := range tests {
		if got := tmi2c.IsNoAck(tt.err); got != tt.want {
			t.Errorf("%s: IsNoAck(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
