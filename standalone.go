package main

import (
	"fmt"
	"log/slog"

	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/crd"
)

// stateRefused is the state the data plane shows for a device of the
// --devices file that was refused (its spec is wrong: it never runs until
// the file is fixed and tinymapper restarted).
const stateRefused = "refused"

// standalone is the data plane's source in standalone mode: the Manager's
// devices, and after them the devices of the file the Manager refused, each
// with its error, so that a wrong device shows where the others do instead
// of only in the log. It embeds the plane (the Manager and the sinks), so
// /metrics and the rest see everything else as it is.
type standalone struct {
	plane
	refused []device.DeviceView
}

func (s *standalone) Devices() []device.DeviceView {
	return append(s.Manager.Devices(), s.refused...)
}

func (s *standalone) Device(namespace, name string) (device.DeviceView, bool) {
	if v, ok := s.Manager.Device(namespace, name); ok {
		return v, true
	}
	for _, v := range s.refused {
		if v.Namespace == namespace && v.Name == name {
			return v, true
		}
	}
	return device.DeviceView{}, false
}

// loadDevices puts the models and devices of the file or directory path in
// mgr, and returns the devices, and those refused with their error. A model
// refused stops the start; a device refused is logged, and the others run.
func loadDevices(mgr *device.Manager, path string, log *slog.Logger) ([]device.Device, []device.DeviceView, error) {
	set, err := crd.Load(path)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range set.Warnings {
		log.Warn(w)
	}
	for _, m := range set.Models {
		if err := mgr.PutModel(m); err != nil {
			return nil, nil, fmt.Errorf("%s: DeviceModel %s/%s: %w", path, m.Namespace, m.Name, err)
		}
	}
	var refused []device.DeviceView
	for _, d := range set.Devices {
		if err := mgr.PutDevice(d); err != nil {
			// One bad device must not keep the others from running.
			log.Error("device refused", "file", path, "device", device.Key(d.Namespace, d.Name), "err", err)
			refused = append(refused, device.DeviceView{Namespace: d.Namespace, Name: d.Name, Model: d.Model,
				Protocol: d.Protocol, State: stateRefused, Error: err.Error()})
		}
	}
	return set.Devices, refused, nil
}
