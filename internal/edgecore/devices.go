package edgecore

import (
	"fmt"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// ConfigData builds configData from key, value pairs the way EdgeCore's
// dataToAny does after Kubernetes decoded the user's YAML: strings as
// StringValue, booleans as BoolValue and every number (int or float64) as a
// float32 FloatValue. Any other value is a programming error and panics.
func ConfigData(kv ...any) *pb.CustomizedValue {
	c := &pb.CustomizedValue{Data: map[string]*anypb.Any{}}
	for i := 0; i+1 < len(kv); i += 2 {
		var a *anypb.Any
		var err error
		switch v := kv[i+1].(type) {
		case string:
			a, err = anypb.New(wrapperspb.String(v))
		case bool:
			a, err = anypb.New(wrapperspb.Bool(v))
		case int:
			a, err = anypb.New(wrapperspb.Float(float32(v)))
		case float64:
			a, err = anypb.New(wrapperspb.Float(float32(v)))
		default:
			panic(fmt.Sprintf("edgecore.ConfigData: %s: unsupported value %T", kv[i], v))
		}
		if err != nil {
			panic(err)
		}
		c.Data[kv[i].(string)] = a
	}
	return c
}

// Cycles are a property's collectCycle and reportCycle, in milliseconds.
type Cycles struct{ CollectMs, ReportMs int64 }

// TMP102Model is the DeviceModel of the sim's TMP102 temperature sensor.
func TMP102Model() *pb.DeviceModel {
	return &pb.DeviceModel{Name: "tmp102", Namespace: "default", Spec: &pb.DeviceModelSpec{
		Properties: []*pb.ModelProperty{{Name: "temperature", Type: "FLOAT", AccessMode: "ReadOnly", Minimum: "-40", Maximum: "125"}}}}
}

// TMP102Device is a Device reading the sim's TMP102 (I²C bus 1) at address
// (72, "0x48", or a bad value for tests that want a refusal).
func TMP102Device(name string, address any, c Cycles) *pb.Device {
	return &pb.Device{Name: name, Namespace: "default", Spec: &pb.DeviceSpec{
		DeviceModelReference: "tmp102",
		Protocol:             &pb.ProtocolConfig{ProtocolName: "i2c", ConfigData: ConfigData("bus", 1, "address", address)},
		Properties: []*pb.DeviceProperty{{
			Name: "temperature", CollectCycle: c.CollectMs, ReportCycle: c.ReportMs, ReportToCloud: true,
			Desired:  &pb.TwinProperty{},
			Visitors: &pb.VisitorConfig{ProtocolName: "i2c", ConfigData: ConfigData("register", 0, "dataType", "int16", "shift", 4, "scale", 0.0625)},
		}}}}
}

// EEPROMModel is the DeviceModel of one byte of the sim's 24C02 EEPROM.
func EEPROMModel() *pb.DeviceModel {
	return &pb.DeviceModel{Name: "eeprom", Namespace: "default", Spec: &pb.DeviceModelSpec{
		Properties: []*pb.ModelProperty{{Name: "byte16", Type: "INT", AccessMode: "ReadWrite", Minimum: "0", Maximum: "255"}}}}
}

// EEPROMDevice is a Device for byte 0x10 of the sim's 24C02 with a desired value.
func EEPROMDevice(desired string, c Cycles) *pb.Device {
	return &pb.Device{Name: "eeprom", Namespace: "default", Spec: &pb.DeviceSpec{
		DeviceModelReference: "eeprom",
		Protocol:             &pb.ProtocolConfig{ProtocolName: "i2c", ConfigData: ConfigData("bus", "1", "address", "0x50")},
		Properties: []*pb.DeviceProperty{{
			Name: "byte16", CollectCycle: c.CollectMs, ReportCycle: c.ReportMs, ReportToCloud: true,
			Desired:  &pb.TwinProperty{Value: desired},
			Visitors: &pb.VisitorConfig{ProtocolName: "i2c", ConfigData: ConfigData("register", 16, "dataType", "uint8")},
		}}}}
}
