package hal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"syscall"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/host/v3/sysfs"
)

// A bus or port that no driver registered is one of two things. A name that
// spells a kernel device node (I²C bus "1", "I2C1", "/dev/i2c-1"; SPI port
// "SPI0.0", "/dev/spidev0.0") names hardware that is not there yet: I²C or
// SPI not enabled, its kernel module not loaded, an adapter not plugged in.
// That is a *MissingError, which wraps the node's ENOENT so that the device
// manager keeps the device offline and opens it again later (as it does for
// a serial port that is not plugged in); once the node appears it is opened
// directly through sysfs, since periph registers buses at start only. Any
// other name is a spelling no board has, and a wrong spec.
//
// Either way the error says what to do, in place of periph's registry text
// ("i2creg: no bus found; did you forget to call Init()?").

// MissingError says that the device node of a bus or port does not exist.
type MissingError struct {
	Kind string // "I²C bus", "SPI port"
	Name string // as the spec names it
	Node string // /dev/i2c-1
	Hint string // how to enable it
	Err  error  // *fs.PathError wrapping ENOENT
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s %q: %s does not exist: %s; the device waits offline and is opened when it appears", e.Kind, e.Name, e.Node, e.Hint)
}

func (e *MissingError) Unwrap() error { return e.Err }

const (
	i2cHint = "I²C is not enabled or the i2c-dev module is not loaded (Raspberry Pi: raspi-config, Interface Options, I2C, or dtparam=i2c_arm=on in config.txt, then reboot; elsewhere: modprobe i2c-dev)"
	spiHint = "SPI is not enabled or the spidev module is not loaded (Raspberry Pi: raspi-config, Interface Options, SPI, or dtparam=spi=on in config.txt, then reboot; elsewhere: modprobe spidev)"
)

// devRoot is where device nodes are looked for; tests point it elsewhere.
var devRoot = "/dev"

var (
	i2cName = regexp.MustCompile(`^(?:/dev/i2c-|I2C|i2c)?([0-9]{1,3})$`)
	spiName = regexp.MustCompile(`^(?:/dev/spidev|SPI|spi)([0-9]{1,3})\.([0-9]{1,3})$`)
)

// openUnregisteredI2C opens the I²C bus name that periph's registry does
// not know (regErr is its error).
func openUnregisteredI2C(name string, regErr error) (i2c.BusCloser, error) {
	m := i2cName.FindStringSubmatch(name)
	if m == nil {
		return nil, fmt.Errorf("no I²C bus is called %q on this board (`tinymapper board` lists them): %w", name, unwrapReg(regErr))
	}
	n, _ := strconv.Atoi(m[1])
	node := fmt.Sprintf("%s/i2c-%d", devRoot, n)
	if _, err := os.Stat(node); err != nil {
		return nil, missing("I²C bus", name, node, i2cHint, err)
	}
	b, err := sysfs.NewI2C(n)
	if err != nil {
		return nil, fmt.Errorf("I²C bus %q (%s appeared after start): %w", name, node, err)
	}
	return b, nil
}

// openUnregisteredSPI is openUnregisteredI2C for an SPI port.
func openUnregisteredSPI(name string, regErr error) (spi.PortCloser, error) {
	m := spiName.FindStringSubmatch(name)
	if m == nil {
		return nil, fmt.Errorf("no SPI port is called %q on this board (`tinymapper board` lists them): %w", name, unwrapReg(regErr))
	}
	b, _ := strconv.Atoi(m[1])
	cs, _ := strconv.Atoi(m[2])
	node := fmt.Sprintf("%s/spidev%d.%d", devRoot, b, cs)
	if _, err := os.Stat(node); err != nil {
		return nil, missing("SPI port", name, node, spiHint, err)
	}
	p, err := sysfs.NewSPI(b, cs)
	if err != nil {
		return nil, fmt.Errorf("SPI port %q (%s appeared after start): %w", name, node, err)
	}
	return p, nil
}

func missing(kind, name, node, hint string, statErr error) error {
	var pe *fs.PathError
	if !errors.As(statErr, &pe) {
		pe = &fs.PathError{Op: "stat", Path: node, Err: syscall.ENOENT}
	}
	return &MissingError{Kind: kind, Name: name, Node: node, Hint: hint, Err: pe}
}

// regError keeps periph's registry error in the chain without its words.
type regError struct{ err error }

func (e regError) Error() string { return "not registered" }
func (e regError) Unwrap() error { return e.err }

func unwrapReg(err error) error { return regError{err} }
