// Package bus is the seam between the device manager and the protocol packages
// (bus/i2c, bus/spi, bus/gpio, bus/serial, bus/modbus).
//
// A protocol package provides a Driver. The device manager hands the Driver a
// device's configData (DeviceConfig); the Driver checks every key, opens the
// physical bus through hal, and returns a Device whose Points read and write one
// property each. Points use buffers allocated when they are built, so reading a
// Point does not allocate.
//
// The device manager runs one worker goroutine per physical bus (Device.Bus), so a
// Point is never used by two goroutines at once and need not lock.
package bus

import (
	"errors"
	"io"
	"strings"
)

// A Driver opens devices of one protocol.
type Driver interface {
	// Protocol is the name Device CRDs use in spec.protocol.protocolName.
	Protocol() string
	// Open checks cfg and returns the opened device. Errors name the bad field
	// (see FieldError). The device manager tells a wrong spec from missing
	// hardware by the error (device.HardwareMissing): a FieldError with no
	// operating-system error (syscall.Errno, *fs.PathError, *os.SyscallError)
	// in its chain is a wrong spec and refused; any other error, such as a
	// FieldError on "port" wrapping the open's ENOENT, means the hardware is
	// not there or busy now, and the device waits and is opened again later.
	// Wrap the OS error with %w to keep it in the chain. Open must not keep
	// cfg's maps.
	Open(cfg DeviceConfig) (Device, error)
}

// DeviceConfig is what a Driver needs to open one device.
type DeviceConfig struct {
	// Name is "namespace/name", for errors and logs.
	Name string
	// Config is spec.protocol.configData.
	Config Config
	// Properties are the device's properties, in spec order.
	Properties []PropertyConfig
}

// PropertyConfig is one property of a device as the driver sees it.
type PropertyConfig struct {
	Name string
	// Type is the model's property type, one of the Type constants (the
	// manager hands drivers only the types it samples: never TypeBytes,
	// TypeStream or TypeNone).
	Type PropertyType
	// Writable is true when the model's accessMode is ReadWrite.
	Writable bool
	// Config is the property's visitors.configData.
	Config Config
}

// A Device is one opened device.
type Device interface {
	// Bus names the physical bus the device sits on, such as "i2c:1" or
	// "serial:/dev/ttyUSB0". Devices on the same bus are served by one worker.
	Bus() string
	// Points returns one Point per property, in the order of DeviceConfig.Properties.
	Points() []Point
	io.Closer
}

// A Batcher is a Device that can read several of its points in one bus
// transaction (adjacent I²C registers, contiguous Modbus registers). The bus
// worker uses it when several points of one device are due together; devices
// that are not Batchers have their points read one by one.
type Batcher interface {
	// ReadPoints reads the points at the indices idx (into Points()) and
	// stores each value and error at the same position of vals and errs,
	// which are as long as idx. It must not allocate.
	ReadPoints(idx []int, vals []float64, errs []error)
}

// A PropertyType is the type of a model's property, spelt as KubeEdge's
// DeviceModel spells it. Compare it with the Type constants: ParsePropertyType
// turns any spelling into one of them.
type PropertyType string

// Property types.
const (
	TypeNone    PropertyType = "" // the model gives none
	TypeInt     PropertyType = "INT"
	TypeFloat   PropertyType = "FLOAT"
	TypeDouble  PropertyType = "DOUBLE"
	TypeBoolean PropertyType = "BOOLEAN"
	TypeString  PropertyType = "STRING"
	TypeBytes   PropertyType = "BYTES"
	TypeStream  PropertyType = "STREAM"
)

// ParsePropertyType returns the property type s names, in any case, and
// false when s names none of them.
func ParsePropertyType(s string) (PropertyType, bool) {
	switch t := PropertyType(strings.ToUpper(s)); t {
	case TypeNone, TypeInt, TypeFloat, TypeDouble, TypeBoolean, TypeString, TypeBytes, TypeStream:
		return t, true
	}
	return TypeNone, false
}

// A Warner is a Device whose configData was accepted with remarks (a key
// that is ignored, a value that is unusual); the manager logs them once, when
// the device opens.
type Warner interface {
	Warnings() []string
}

// A Point reads one property.
type Point interface {
	// Read returns the property's current value, decoded and scaled.
	Read() (float64, error)
}

// A Writer is a Point that can also set its property.
type Writer interface {
	Point
	// Write sets the property to v (in the same units Read returns).
	Write(v float64) error
}

// ErrReadOnly is returned when a desired value is set on a property that the
// protocol cannot write.
var ErrReadOnly = errors.New("property cannot be written")

// ErrNoValueYet is wrapped by a Read error that means the part has not
// produced its first value and is not late yet: a serial sensor that sends
// lines on its own, within its maxAgeMs of opening. The device manager
// records no sample for such a read and leaves the device's state alone,
// so a device is not reported unhealthy for the moment it takes to speak.
var ErrNoValueYet = errors.New("no value yet")
