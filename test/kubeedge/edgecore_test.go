package kubeedge

import (
	"encoding/json"
	"fmt"
	"maps"

	devices "github.com/kubeedge/api/apis/devices/v1beta1"
	kepb "github.com/kubeedge/api/apis/dmi/v1beta1"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	devices120 "kubeedge.invalid/api-v1-20/apis/devices/v1beta1"
	kepb120 "kubeedge.invalid/api-v1-20/apis/dmi/v1beta1"
)

// This file does what EdgeCore does (edge/pkg/devicetwin/dtcommon and, since
// v1.22, edge/pkg/devicetwin/dmicache in KubeEdge) to turn the Device and
// DeviceModel objects it keeps into DMI messages, written anew from its
// behaviour: the Device is first merged with its model's protocolConfigData
// and property visitors (edgeCoreMerge, v1.22+), then a JSON round trip turns
// the CRD type into the generated DMI type, and every configData value is
// wrapped by wrapConfigValue.
//
// github.com/kubeedge/api is v1.23.0, the current release; the module path
// kubeedge.invalid/api-v1-20 is v1.20.0 under another name (see go.mod), the
// oldest EdgeCore tinymapper supports.

// wrapConfigValue wraps one configData value by EdgeCore's rules: strings as
// StringValue, floating-point numbers (every JSON number, once decoded into
// an interface{}) as FloatValue (float32), booleans as BoolValue, Go integers
// as Int32Value or, for int64, Int64Value. Anything else (lists, maps, null)
// is an error, and EdgeCore then drops the device.
func wrapConfigValue(v any) (*anypb.Any, error) {
	switch v := v.(type) {
	case string:
		return anypb.New(wrapperspb.String(v))
	case float64:
		return anypb.New(wrapperspb.Float(float32(v)))
	case float32:
		return anypb.New(wrapperspb.Float(v))
	case bool:
		return anypb.New(wrapperspb.Bool(v))
	case int:
		return anypb.New(wrapperspb.Int32(int32(v)))
	case int8:
		return anypb.New(wrapperspb.Int32(int32(v)))
	case int16:
		return anypb.New(wrapperspb.Int32(int32(v)))
	case int32:
		return anypb.New(wrapperspb.Int32(v))
	case int64:
		return anypb.New(wrapperspb.Int64(v))
	}
	return nil, fmt.Errorf("%T cannot be sent as configData", v)
}

// wrapConfig wraps a whole configData map.
func wrapConfig(data map[string]any) (map[string]*anypb.Any, error) {
	out := make(map[string]*anypb.Any, len(data))
	for k, v := range data {
		a, err := wrapConfigValue(v)
		if err != nil {
			return nil, fmt.Errorf("configData %s: %w", k, err)
		}
		out[k] = a
	}
	return out, nil
}

// jsonInto is EdgeCore's conversion between its CRD types and the generated
// DMI types: encoding/json out of one and into the other.
func jsonInto(from, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, to)
}

// edgeCoreMerge is what EdgeCore v1.22+ does to a Device before any DMI call
// carries it (DMICache.GetOverriddenDevice): for each device property whose
// model property has visitors, the model's visitors replace the device's
// (protocolName included), then the device's own visitor configData keys are
// laid over the model's; spec.protocol.configData becomes the model's
// spec.protocolConfigData with the device's keys laid over it. Device
// properties the model does not list keep their own visitors; model
// properties the device does not list are not added. d is not changed.
func edgeCoreMerge(d *devices.Device, m *devices.DeviceModel) *devices.Device {
	out := d.DeepCopy()
	for i := range out.Spec.Properties {
		p := &out.Spec.Properties[i]
		own := d.Spec.Properties[i].Visitors.ConfigData
		for _, mp := range m.Spec.Properties {
			if mp.Name != p.Name || mp.Visitors == nil {
				continue
			}
			p.Visitors = devices.VisitorConfig{ProtocolName: mp.Visitors.ProtocolName, ConfigData: overlay(mp.Visitors.ConfigData, own)}
		}
	}
	out.Spec.Protocol.ConfigData = overlay(m.Spec.ProtocolConfigData, d.Spec.Protocol.ConfigData)
	return out
}

// overlay returns base's keys with top's laid over them, nil when both are
// nil. EdgeCore copies configData values one level deep; they are scalars.
func overlay(base, top *devices.CustomizedValue) *devices.CustomizedValue {
	if top == nil || top.Data == nil {
		return cloneValue(base)
	}
	if base == nil || base.Data == nil {
		return cloneValue(top)
	}
	out := cloneValue(base)
	maps.Copy(out.Data, top.Data)
	return out
}

func cloneValue(v *devices.CustomizedValue) *devices.CustomizedValue {
	if v == nil {
		return nil
	}
	return &devices.CustomizedValue{Data: maps.Clone(v.Data)}
}

// edgeCoreDevice converts a Device the way EdgeCore v1.23 does before sending
// it to a mapper (after edgeCoreMerge): configData of both levels and
// pushMethod.anomalyDetection wrapped value by value, and spec.stateReport,
// when set, in place of status.reportToCloud and status.reportCycle.
func edgeCoreDevice(d *devices.Device) (*kepb.Device, error) {
	var out kepb.Device
	if err := jsonInto(d, &out); err != nil {
		return nil, err
	}
	var err error
	if cd := d.Spec.Protocol.ConfigData; cd != nil && cd.Data != nil {
		if out.Spec.Protocol.ConfigData.Data, err = wrapConfig(cd.Data); err != nil {
			return nil, err
		}
	}
	out.Spec.Properties = nil
	for _, p := range d.Spec.Properties {
		item := new(kepb.DeviceProperty)
		if err := jsonInto(p, item); err != nil {
			return nil, err
		}
		if cd := p.Visitors.ConfigData; cd != nil && cd.Data != nil {
			if item.Visitors.ConfigData.Data, err = wrapConfig(cd.Data); err != nil {
				return nil, err
			}
		}
		if p.PushMethod != nil && p.PushMethod.AnomalyDetection != nil && p.PushMethod.AnomalyDetection.Data != nil {
			if item.PushMethod == nil {
				item.PushMethod = new(kepb.PushMethod)
			}
			ad := new(kepb.AnomalyDetection)
			if ad.Data, err = wrapConfig(p.PushMethod.AnomalyDetection.Data); err != nil {
				return nil, fmt.Errorf("anomalyDetection: %w", err)
			}
			item.PushMethod.AnomalyDetection = ad
		}
		out.Spec.Properties = append(out.Spec.Properties, item)
	}
	out.Name = d.Name
	out.Namespace = d.Namespace
	if d.Spec.DeviceModelRef != nil {
		out.Spec.DeviceModelReference = d.Spec.DeviceModelRef.Name
	}
	if sr := d.Spec.StateReport; sr != nil {
		if out.Status == nil {
			out.Status = new(kepb.DeviceStatus)
		}
		out.Status.ReportToCloud, out.Status.ReportCycle = sr.ReportToCloud, sr.ReportCycle
	}
	return &out, nil
}

// edgeCoreModel converts a DeviceModel the way EdgeCore does. The DMI
// DeviceModel has no protocolConfigData and no property visitors: they reach
// the mapper only merged into the Device.
func edgeCoreModel(m *devices.DeviceModel) (*kepb.DeviceModel, error) {
	var out kepb.DeviceModel
	if err := jsonInto(m, &out); err != nil {
		return nil, err
	}
	out.Name = m.Name
	out.Namespace = m.Namespace
	return &out, nil
}

// edgeCore120Device converts a Device the way EdgeCore v1.20 does: no model
// merge, no anomalyDetection, status.reportToCloud and status.reportCycle
// carried by the JSON round trip.
func edgeCore120Device(d *devices120.Device) (*kepb120.Device, error) {
	var out kepb120.Device
	if err := jsonInto(d, &out); err != nil {
		return nil, err
	}
	var err error
	if cd := d.Spec.Protocol.ConfigData; cd != nil {
		if out.Spec.Protocol.ConfigData.Data, err = wrapConfig(cd.Data); err != nil {
			return nil, err
		}
	}
	out.Spec.Properties = nil
	for _, p := range d.Spec.Properties {
		item := new(kepb120.DeviceProperty)
		if err := jsonInto(p, item); err != nil {
			return nil, err
		}
		if cd := p.Visitors.ConfigData; cd != nil {
			if item.Visitors.ConfigData.Data, err = wrapConfig(cd.Data); err != nil {
				return nil, err
			}
		}
		out.Spec.Properties = append(out.Spec.Properties, item)
	}
	out.Name = d.Name
	out.Namespace = d.Namespace
	out.Spec.DeviceModelReference = d.Spec.DeviceModelRef.Name
	return &out, nil
}
