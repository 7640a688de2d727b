package kubeedge

import (
	"encoding/json"
	"fmt"

	devices "github.com/kubeedge/api/apis/devices/v1beta1"
	kepb "github.com/kubeedge/api/apis/dmi/v1beta1"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// This file does what EdgeCore does (edge/pkg/devicetwin/dtcommon in
// KubeEdge) to turn the Device and DeviceModel objects it keeps into DMI
// messages, written anew from its behaviour: a JSON round trip from the CRD
// type to the generated DMI type, then every configData value wrapped by
// wrapConfigValue.

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

// edgeCoreDevice converts a Device the way EdgeCore does before sending it to
// a mapper.
func edgeCoreDevice(d *devices.Device) (*kepb.Device, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var out kepb.Device
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	if cd := d.Spec.Protocol.ConfigData; cd != nil {
		if out.Spec.Protocol.ConfigData.Data, err = wrapConfig(cd.Data); err != nil {
			return nil, err
		}
	}
	out.Spec.Properties = nil
	for _, p := range d.Spec.Properties {
		raw, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		item := new(kepb.DeviceProperty)
		if err := json.Unmarshal(raw, item); err != nil {
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

// edgeCoreModel converts a DeviceModel the way EdgeCore does.
func edgeCoreModel(m *devices.DeviceModel) (*kepb.DeviceModel, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out kepb.DeviceModel
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	out.Name = m.Name
	out.Namespace = m.Namespace
	return &out, nil
}
