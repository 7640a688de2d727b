package main

import (
	"fmt"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// The devices are the simulated TMP102 at 0x48 on I²C bus 1, five properties
// each, as a user would write them, and as EdgeCore sends them: configData
// values are Any-wrapped, every number a FloatValue.
const (
	modelName   = "tmp102-scale"
	namespace   = "default"
	temperature = "temperature"
	properties  = 5
)

type propDef struct {
	name, typ string
	visitor   []any
}

var propDefs = [properties]propDef{
	// Register 0: temperature, 12-bit left-justified, 0.0625 °C/LSB. Changes with time.
	{temperature, "FLOAT", []any{"register", 0, "dataType", "int16", "shift", 4, "scale", 0.0625}},
	// Register 1: the configuration register, reset value 0x60A0.
	{"config", "INT", []any{"register", 1, "dataType", "uint16"}},
	// Registers 2 and 3: TLOW and THIGH, 75 and 80 °C.
	{"tlow", "FLOAT", []any{"register", 2, "dataType", "int16", "shift", 4, "scale", 0.0625}},
	{"thigh", "FLOAT", []any{"register", 3, "dataType", "int16", "shift", 4, "scale", 0.0625}},
	// Register 0 again, in °F: T·1.8 + 32.
	{"temperature-f", "FLOAT", []any{"register", 0, "dataType", "int16", "shift", 4, "scale", 0.1125, "offset", 32}},
}

func deviceName(i int) string { return fmt.Sprintf("sensor-%04d", i) }

func anyOf(v any) *anypb.Any {
	var a *anypb.Any
	var err error
	switch x := v.(type) {
	case string:
		a, err = anypb.New(wrapperspb.String(x))
	case int:
		a, err = anypb.New(wrapperspb.Float(float32(x)))
	case float64:
		a, err = anypb.New(wrapperspb.Float(float32(x)))
	case bool:
		a, err = anypb.New(wrapperspb.Bool(x))
	default:
		panic(fmt.Sprintf("configData value %T", v))
	}
	if err != nil {
		panic(err)
	}
	return a
}

func configData(kv ...any) *pb.CustomizedValue {
	c := &pb.CustomizedValue{Data: map[string]*anypb.Any{}}
	for i := 0; i+1 < len(kv); i += 2 {
		c.Data[kv[i].(string)] = anyOf(kv[i+1])
	}
	return c
}

func scaleModel() *pb.DeviceModel {
	m := &pb.DeviceModel{Name: modelName, Namespace: namespace, Spec: &pb.DeviceModelSpec{}}
	for _, p := range propDefs {
		m.Spec.Properties = append(m.Spec.Properties, &pb.ModelProperty{Name: p.name, Type: p.typ, AccessMode: "ReadOnly"})
	}
	return m
}

// scaleDevices returns n devices, every property collected and reported
// every cycleMs and reported to the cloud, and pushed by push when it is
// not nil.
func scaleDevices(n int, cycleMs int64, push *pb.PushMethod) []*pb.Device {
	out := make([]*pb.Device, 0, n)
	for i := range n {
		d := &pb.Device{Name: deviceName(i), Namespace: namespace, Spec: &pb.DeviceSpec{
			DeviceModelReference: modelName,
			Protocol:             &pb.ProtocolConfig{ProtocolName: "i2c", ConfigData: configData("bus", 1, "address", 0x48)},
		}}
		for _, p := range propDefs {
			d.Spec.Properties = append(d.Spec.Properties, &pb.DeviceProperty{
				Name: p.name, CollectCycle: cycleMs, ReportCycle: cycleMs, ReportToCloud: true,
				Desired: &pb.TwinProperty{}, PushMethod: push,
				Visitors: &pb.VisitorConfig{ProtocolName: "i2c", ConfigData: configData(p.visitor...)},
			})
		}
		out = append(out, d)
	}
	return out
}
