package dmi

import "github.com/tinymapper/tinymapper/device"

// A Registry keeps the models and devices the mapper runs; the device manager
// implements it. Server and Client hand it what EdgeCore sends.
//
// Namespaces are never empty ("default" is filled in). Calls may come from
// several goroutines, but Server never makes two changing calls at once.
type Registry interface {
	// PutModel adds or replaces a model.
	PutModel(m device.Model) error
	// RemoveModel forgets a model. Removing an unknown model is not an error.
	RemoveModel(namespace, name string) error
	// PutDevice adds or replaces a device and starts running it. An error
	// leaves what was running before untouched; a *bus.FieldError (or an
	// error wrapping one) means the spec is wrong and is reported to
	// EdgeCore as an invalid argument naming the field. A spec whose Stamp
	// is older than the device's current spec or its removal is ignored
	// with an error wrapping device.ErrStale.
	PutDevice(d device.Device) error
	// RemoveDevice stops and forgets a device. Removing an unknown device
	// is not an error.
	RemoveDevice(namespace, name string) error
	// RemoveDeviceAsOf is RemoveDevice for a removal learnt at stamp: a
	// device changed after it is kept (device.ErrStale).
	RemoveDeviceAsOf(namespace, name string, stamp uint64) error
	// Stamp returns a receive stamp later than every earlier one. A
	// registration takes one before it asks EdgeCore for its devices, and
	// applies the answer with it, so that a device changed meanwhile (an
	// UpdateDevice handled while the answer was on its way) keeps its
	// newer spec.
	Stamp() uint64
	// Twins returns the current twins and state of a device, and false when
	// the device is unknown.
	Twins(namespace, name string) (twins []device.Twin, state string, ok bool)
	// DeviceKeys returns "namespace/name" of every device of protocol, so
	// that a registration can drop the devices EdgeCore no longer has.
	DeviceKeys(protocol string) []string
}
