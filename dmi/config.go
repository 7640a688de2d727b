package dmi

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/internal/cut"
)

// The wrapper types configData values may carry, by full message name (the
// part of an Any's type URL after the last '/').
const (
	typeString = "google.protobuf.StringValue"
	typeBool   = "google.protobuf.BoolValue"
	typeFloat  = "google.protobuf.FloatValue"
	typeDouble = "google.protobuf.DoubleValue"
	typeInt32  = "google.protobuf.Int32Value"
	typeInt64  = "google.protobuf.Int64Value"
	typeUint32 = "google.protobuf.UInt32Value"
	typeUint64 = "google.protobuf.UInt64Value"
)

// DecodeConfig turns a configData map, as EdgeCore sends it, into a
// bus.Config whose Path is path (such as "spec.protocol.configData").
//
// Values must wrap one of the wrapperspb types: StringValue, BoolValue,
// FloatValue, DoubleValue, Int32Value, Int64Value, UInt32Value or UInt64Value.
// Every number becomes a bus.Number; a FloatValue keeps its float32 value
// (EdgeCore sends every JSON number that way), so 72 stays 72 and 72.5 stays
// 72.5, and bus.Config decides whether a value fits where it is used.
// A nil value or an unknown type is a *bus.FieldError naming the key.
func DecodeConfig(path string, m map[string]*anypb.Any) (bus.Config, error) {
	c := bus.Config{Path: path}
	if len(m) == 0 {
		return c, nil
	}
	if len(m) > device.MaxConfigKeys {
		return bus.Config{}, &bus.FieldError{Field: path, Err: fmt.Errorf("has %d keys; at most %d are accepted", len(m), device.MaxConfigKeys)}
	}
	for key := range m {
		if len(key) > device.MaxConfigKey {
			return bus.Config{}, &bus.FieldError{Field: path, Err: fmt.Errorf("key %q is %d bytes long; at most %d are accepted", cut.String(key), len(key), device.MaxConfigKey)}
		}
	}
	c.Values = make(map[string]bus.Value, len(m))
	var badKey string
	var badErr error
	for key, a := range m {
		v, err := decodeValue(a)
		if err != nil {
			// Report the first bad key in sorted order, so the message
			// does not change from one try to the next.
			if badErr == nil || key < badKey {
				badKey, badErr = key, err
			}
			continue
		}
		c.Values[key] = v
	}
	if badErr != nil {
		return bus.Config{}, c.Errorf(badKey, "%w", badErr)
	}
	return c, nil
}

// decodeValue unwraps one configData value.
func decodeValue(a *anypb.Any) (bus.Value, error) {
	if a == nil {
		return bus.Value{}, errors.New("has no value")
	}
	url := a.GetTypeUrl()
	name := url[strings.LastIndexByte(url, '/')+1:]
	switch name {
	case typeString:
		var w wrapperspb.StringValue
		if err := unwrap(a, &w); err != nil {
			return bus.Value{}, err
		}
		if len(w.Value) > device.MaxConfigString {
			return bus.Value{}, fmt.Errorf("is %d bytes long; at most %d are accepted", len(w.Value), device.MaxConfigString)
		}
		return bus.StringValue(w.Value), nil
	case typeBool:
		var w wrapperspb.BoolValue
		if err := unwrap(a, &w); err != nil {
			return bus.Value{}, err
		}
		return bus.BoolValue(w.Value), nil
	case typeFloat:
		var w wrapperspb.FloatValue
		if err := unwrap(a, &w); err != nil {
			return bus.Value{}, err
		}
		// EdgeCore turned the user's JSON number into a float32; recover
		// the decimal they wrote (0.1, not 0.100000001490116).
		return bus.NumberValue(bus.FromFloat32(w.Value)), nil
	case typeDouble:
		var w wrapperspb.DoubleValue
		if err := unwrap(a, &w); err != nil {
			return bus.Value{}, err
		}
		return bus.NumberValue(w.Value), nil
	case typeInt32:
		var w wrapperspb.Int32Value
		if err := unwrap(a, &w); err != nil {
			return bus.Value{}, err
		}
		return bus.NumberValue(float64(w.Value)), nil
	case typeInt64:
		var w wrapperspb.Int64Value
		if err := unwrap(a, &w); err != nil {
			return bus.Value{}, err
		}
		return bus.NumberValue(float64(w.Value)), nil
	case typeUint32:
		var w wrapperspb.UInt32Value
		if err := unwrap(a, &w); err != nil {
			return bus.Value{}, err
		}
		return bus.NumberValue(float64(w.Value)), nil
	case typeUint64:
		var w wrapperspb.UInt64Value
		if err := unwrap(a, &w); err != nil {
			return bus.Value{}, err
		}
		return bus.NumberValue(float64(w.Value)), nil
	}
	return bus.Value{}, fmt.Errorf("has unsupported type %q (want a string, boolean or number wrapper)", cut.String(url))
}

// unwrap decodes a's payload into w. The type URL has been matched already,
// so no registry lookup is needed.
func unwrap(a *anypb.Any, w proto.Message) error {
	if err := proto.Unmarshal(a.GetValue(), w); err != nil {
		return fmt.Errorf("cannot decode %s: %w", cut.String(a.GetTypeUrl()), err)
	}
	return nil
}

// EncodeConfig turns c into a configData map the way EdgeCore builds one:
// strings as StringValue, booleans as BoolValue and numbers as FloatValue
// (float32, so precision beyond float32's is lost, as it is in EdgeCore).
func EncodeConfig(c bus.Config) (map[string]*anypb.Any, error) {
	if len(c.Values) == 0 {
		return nil, nil
	}
	m := make(map[string]*anypb.Any, len(c.Values))
	for key, v := range c.Values {
		var w proto.Message
		switch v.Kind {
		case bus.String:
			w = wrapperspb.String(v.Str)
		case bus.Bool:
			w = wrapperspb.Bool(v.Bool)
		case bus.Number:
			w = wrapperspb.Float(float32(v.Num))
		default:
			return nil, c.Errorf(key, "has no value")
		}
		a, err := anypb.New(w)
		if err != nil {
			return nil, c.Errorf(key, "cannot encode %s: %w", v, err)
		}
		m[key] = a
	}
	return m, nil
}
