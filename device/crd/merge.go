package crd

import (
	"fmt"
	"maps"
)

// parsed is what parse reads from one or more files before the Devices are
// merged with their models and converted.
type parsed struct {
	set     Set // Models and Warnings; Devices are added by resolve
	models  []modelDoc
	devices []pendingDevice
}

// pendingDevice is a Device document as written, and where it is.
type pendingDevice struct {
	where string
	doc   deviceDoc
}

// add appends what q read to p.
func (p *parsed) add(q parsed) {
	p.set.Models = append(p.set.Models, q.set.Models...)
	p.set.Warnings = append(p.set.Warnings, q.set.Warnings...)
	p.models = append(p.models, q.models...)
	p.devices = append(p.devices, q.devices...)
}

// resolve merges each Device with its DeviceModel, when there is one in p,
// and converts it. A Device whose model is not there is converted as
// written (the manager reports the missing model).
func (p parsed) resolve() (Set, error) {
	set := p.set
	models := make(map[string]*modelDoc, len(p.models))
	for i := range p.models {
		m := &p.models[i]
		models[orDefault(m.Metadata.Namespace)+"/"+m.Metadata.Name] = m
	}
	for _, pd := range p.devices {
		d := pd.doc
		if m := models[orDefault(d.Metadata.Namespace)+"/"+d.Spec.DeviceModelRef.Name]; m != nil {
			d = mergeModel(d, m)
		}
		dev, warns, err := toDevice(d)
		if err != nil {
			return set, fmt.Errorf("%s: %w", pd.where, err)
		}
		set.Devices = append(set.Devices, dev)
		set.Warnings = append(set.Warnings, warns...)
	}
	return set, nil
}

// mergeModel returns d with its model's defaults (KubeEdge v1.22), merged as
// EdgeCore v1.23 merges them before it sends a Device over DMI
// (edge/pkg/devicetwin/dmicache, overrideDeviceInstanceConfig):
//
//   - a device property whose model property has visitors gets the model's
//     visitors (protocolName too), and then the device's own visitor
//     configData keys are laid over the model's, key by key;
//   - spec.protocol.configData is the model's spec.protocolConfigData with
//     the device's keys laid over it, key by key;
//   - device properties the model does not list keep their own visitors, and
//     model properties the device does not list are not added.
//
// So the device wins every key it writes, and the model fills in the rest.
// d's maps are not changed.
func mergeModel(d deviceDoc, m *modelDoc) deviceDoc {
	d.Spec.Protocol.ConfigData = overlay(m.Spec.ProtocolConfigData, d.Spec.Protocol.ConfigData)
	props := d.Spec.Properties
	d.Spec.Properties = append(props[:0:0], props...)
	for i := range d.Spec.Properties {
		p := &d.Spec.Properties[i]
		for _, mp := range m.Spec.Properties {
			if mp.Name == p.Name && mp.Visitors != nil {
				p.Visitors = visitors{
					ProtocolName: mp.Visitors.ProtocolName,
					ConfigData:   overlay(mp.Visitors.ConfigData, p.Visitors.ConfigData),
				}
				break
			}
		}
	}
	return d
}

// overlay returns a new map of base's keys with top's laid over them, or
// whichever of the two is not nil.
func overlay(base, top configData) configData {
	switch {
	case top == nil:
		return base
	case base == nil:
		return top
	}
	out := maps.Clone(base)
	maps.Copy(out, top)
	return out
}
