package hal

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
)

// TestAMissingBusSaysWhatToDo: a bus or port that is not there is a
// *MissingError wrapping ENOENT (the device manager keeps such a device
// offline and retries it), in words a user acts on; a name that is no
// bus at all is not; periph's registry text is never shown.
func TestAMissingBusSaysWhatToDo(t *testing.T) {
	registerSim(t)
	devRoot = t.TempDir() // no device nodes at all
	t.Cleanup(func() { devRoot = "/dev" })
	open := func(f func() error) func() error { return f }
	tests := []struct {
		name    string
		open    func() error
		missing bool
		want    string
	}{
		{"i2c number", open(func() error { _, err := OpenI2C("7"); return err }), true, "i2c-7 does not exist: I²C is not enabled"},
		{"i2c name", open(func() error { _, err := OpenI2C("I2C7"); return err }), true, "dtparam=i2c_arm=on"},
		{"i2c node", open(func() error { _, err := OpenI2C("/dev/i2c-7"); return err }), true, "modprobe i2c-dev"},
		{"i2c nonsense", open(func() error { _, err := OpenI2C("bus seven"); return err }), false, `no I²C bus is called "bus seven"`},
		{"spi name", open(func() error { _, err := OpenSPI("SPI4.1", physic.MegaHertz, spi.Mode0, 8); return err }), true, "spidev4.1 does not exist: SPI is not enabled"},
		{"spi node", open(func() error { _, err := OpenSPI("/dev/spidev4.1", physic.MegaHertz, spi.Mode0, 8); return err }), true, "dtparam=spi=on"},
		{"spi nonsense", open(func() error { _, err := OpenSPI("four", physic.MegaHertz, spi.Mode0, 8); return err }), false, `no SPI port is called "four"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.open()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want it to say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "Init()") || strings.Contains(err.Error(), "i2creg") || strings.Contains(err.Error(), "spireg") {
				t.Errorf("error shows periph's registry text: %v", err)
			}
			var pe *fs.PathError
			var me *MissingError
			isMissing := errors.As(err, &pe) && errors.Is(err, syscall.ENOENT) && errors.As(err, &me)
			if isMissing != tt.missing {
				t.Errorf("missing hardware = %v, want %v (%v)", isMissing, tt.missing, err)
			}
		})
	}
}
