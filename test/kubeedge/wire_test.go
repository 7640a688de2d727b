package kubeedge

import (
	"fmt"
	"testing"

	kepb "github.com/kubeedge/api/apis/dmi/v1beta1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	kepb120 "kubeedge.invalid/api-v1-20/apis/dmi/v1beta1"

	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

type messagePair struct{ theirs, ours proto.Message }

// messagePairs pairs every message of KubeEdge's DMI file (v1.23) with ours.
var messagePairs = []messagePair{
	{&kepb.MapperRegisterRequest{}, &pb.MapperRegisterRequest{}},
	{&kepb.MapperRegisterResponse{}, &pb.MapperRegisterResponse{}},
	{&kepb.DeviceModel{}, &pb.DeviceModel{}},
	{&kepb.DeviceModelSpec{}, &pb.DeviceModelSpec{}},
	{&kepb.ModelProperty{}, &pb.ModelProperty{}},
	{&kepb.DeviceCommand{}, &pb.DeviceCommand{}},
	{&kepb.Device{}, &pb.Device{}},
	{&kepb.DeviceSpec{}, &pb.DeviceSpec{}},
	{&kepb.DeviceMethod{}, &pb.DeviceMethod{}},
	{&kepb.DeviceProperty{}, &pb.DeviceProperty{}},
	{&kepb.ProtocolConfig{}, &pb.ProtocolConfig{}},
	{&kepb.VisitorConfig{}, &pb.VisitorConfig{}},
	{&kepb.CustomizedValue{}, &pb.CustomizedValue{}},
	{&kepb.PushMethod{}, &pb.PushMethod{}},
	{&kepb.PushMethodHTTP{}, &pb.PushMethodHTTP{}},
	{&kepb.PushMethodMQTT{}, &pb.PushMethodMQTT{}},
	{&kepb.PushMethodOTEL{}, &pb.PushMethodOTEL{}},
	{&kepb.DBMethod{}, &pb.DBMethod{}},
	{&kepb.DBMethodInfluxdb2{}, &pb.DBMethodInfluxdb2{}},
	{&kepb.Influxdb2DataConfig{}, &pb.Influxdb2DataConfig{}},
	{&kepb.Influxdb2ClientConfig{}, &pb.Influxdb2ClientConfig{}},
	{&kepb.DBMethodRedis{}, &pb.DBMethodRedis{}},
	{&kepb.RedisClientConfig{}, &pb.RedisClientConfig{}},
	{&kepb.DBMethodTDEngine{}, &pb.DBMethodTDEngine{}},
	{&kepb.TDEngineClientConfig{}, &pb.TDEngineClientConfig{}},
	{&kepb.DBMethodMySQL{}, &pb.DBMethodMySQL{}},
	{&kepb.MySQLClientConfig{}, &pb.MySQLClientConfig{}},
	{&kepb.DBMethodOTEL{}, &pb.DBMethodOTEL{}},
	{&kepb.OTELExporterConfig{}, &pb.OTELExporterConfig{}},
	{&kepb.AnomalyDetection{}, &pb.AnomalyDetection{}},
	{&kepb.MapperInfo{}, &pb.MapperInfo{}},
	{&kepb.ReportDeviceStatusRequest{}, &pb.ReportDeviceStatusRequest{}},
	{&kepb.ReportDeviceStatesRequest{}, &pb.ReportDeviceStatesRequest{}},
	{&kepb.DeviceStatus{}, &pb.DeviceStatus{}},
	{&kepb.Twin{}, &pb.Twin{}},
	{&kepb.TwinProperty{}, &pb.TwinProperty{}},
	{&kepb.ReportDeviceStatusResponse{}, &pb.ReportDeviceStatusResponse{}},
	{&kepb.ReportDeviceStatesResponse{}, &pb.ReportDeviceStatesResponse{}},
	{&kepb.RegisterDeviceRequest{}, &pb.RegisterDeviceRequest{}},
	{&kepb.RegisterDeviceResponse{}, &pb.RegisterDeviceResponse{}},
	{&kepb.CreateDeviceModelRequest{}, &pb.CreateDeviceModelRequest{}},
	{&kepb.CreateDeviceModelResponse{}, &pb.CreateDeviceModelResponse{}},
	{&kepb.RemoveDeviceRequest{}, &pb.RemoveDeviceRequest{}},
	{&kepb.RemoveDeviceResponse{}, &pb.RemoveDeviceResponse{}},
	{&kepb.RemoveDeviceModelRequest{}, &pb.RemoveDeviceModelRequest{}},
	{&kepb.RemoveDeviceModelResponse{}, &pb.RemoveDeviceModelResponse{}},
	{&kepb.UpdateDeviceRequest{}, &pb.UpdateDeviceRequest{}},
	{&kepb.UpdateDeviceResponse{}, &pb.UpdateDeviceResponse{}},
	{&kepb.UpdateDeviceModelRequest{}, &pb.UpdateDeviceModelRequest{}},
	{&kepb.UpdateDeviceModelResponse{}, &pb.UpdateDeviceModelResponse{}},
	{&kepb.GetDeviceRequest{}, &pb.GetDeviceRequest{}},
	{&kepb.GetDeviceResponse{}, &pb.GetDeviceResponse{}},
}

func TestMessagePairsCoverKubeEdgesFile(t *testing.T) {
	paired := map[protoreflect.FullName]bool{}
	for _, p := range messagePairs {
		paired[p.theirs.ProtoReflect().Descriptor().FullName()] = true
	}
	msgs := kepb.File_api_proto.Messages()
	for i := 0; i < msgs.Len(); i++ {
		if !paired[msgs.Get(i).FullName()] {
			t.Errorf("%s is not in messagePairs", msgs.Get(i).FullName())
		}
	}
}

// messagePairs120 pairs every message of KubeEdge v1.20's DMI file, as a
// dynamic message of its descriptor, with ours.
func messagePairs120(t *testing.T) []messagePair {
	ours := map[protoreflect.Name]proto.Message{}
	for _, p := range messagePairs {
		ours[p.ours.ProtoReflect().Descriptor().Name()] = p.ours
	}
	var out []messagePair
	msgs := kepb120.File_api_proto.Messages()
	for i := 0; i < msgs.Len(); i++ {
		o, ok := ours[msgs.Get(i).Name()]
		if !ok {
			t.Fatalf("v1.20's %s has no counterpart", msgs.Get(i).FullName())
		}
		out = append(out, messagePair{dynamicpb.NewMessage(msgs.Get(i)), o})
	}
	return out
}

// Every message, with every field set, goes from KubeEdge's types to ours
// over the wire with nothing left over, and back unchanged: v1.23's and
// v1.20's.
func TestEveryMessageCrossesTheWireBothWays(t *testing.T) {
	t.Run("v1.23", func(t *testing.T) { crossBothWays(t, messagePairs) })
	t.Run("v1.20", func(t *testing.T) { crossBothWays(t, messagePairs120(t)) })
}

func crossBothWays(t *testing.T, pairs []messagePair) {
	for _, p := range pairs {
		name := string(p.theirs.ProtoReflect().Descriptor().Name())
		t.Run(name, func(t *testing.T) {
			theirs := p.theirs.ProtoReflect().New()
			fill(t, theirs, 0)
			wire, err := proto.Marshal(theirs.Interface())
			if err != nil {
				t.Fatal(err)
			}
			if len(wire) == 0 && theirs.Descriptor().Fields().Len() > 0 {
				t.Fatal("filled message marshals to nothing")
			}
			ours := p.ours.ProtoReflect().New()
			if err := proto.Unmarshal(wire, ours.Interface()); err != nil {
				t.Fatal(err)
			}
			if where := unknownFields(ours, name); where != "" {
				t.Fatalf("our %s did not understand fields at %s", name, where)
			}
			back, err := proto.Marshal(ours.Interface())
			if err != nil {
				t.Fatal(err)
			}
			again := p.theirs.ProtoReflect().New()
			if err := proto.Unmarshal(back, again.Interface()); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(theirs.Interface(), again.Interface()) {
				t.Errorf("round trip changed the message:\n sent %v\n back %v", theirs.Interface(), again.Interface())
			}
		})
	}
}

// fill sets every field of m to a value that is not the default: two
// elements in lists and maps, configData-style wrappers in Any fields, and
// sub-messages down to a few levels.
func fill(t *testing.T, m protoreflect.Message, depth int) {
	t.Helper()
	if m.Descriptor().FullName() == "google.protobuf.Any" {
		a, err := anypb.New(wrapperspb.Float(72))
		if err != nil {
			t.Fatal(err)
		}
		proto.Merge(m.Interface(), a)
		return
	}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for j := range 2 {
				key := scalar(t, fd.MapKey(), j).MapKey()
				if fd.MapValue().Message() != nil {
					v := mp.NewValue()
					fill(t, v.Message(), depth+1)
					mp.Set(key, v)
				} else {
					mp.Set(key, scalar(t, fd.MapValue(), j))
				}
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for j := range 2 {
				if fd.Message() != nil {
					v := l.NewElement()
					fill(t, v.Message(), depth+1)
					l.Append(v)
				} else {
					l.Append(scalar(t, fd, j))
				}
			}
		case fd.Message() != nil:
			if depth < 8 {
				fill(t, m.Mutable(fd).Message(), depth+1)
			}
		default:
			m.Set(fd, scalar(t, fd, i))
		}
	}
}

// scalar returns the n-th sample value for a scalar field.
func scalar(t *testing.T, fd protoreflect.FieldDescriptor, n int) protoreflect.Value {
	t.Helper()
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(-100 - n))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(1)<<40 + int64(n))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(100 + n))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(1)<<50 + uint64(n))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n) + 0.5)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n) + 0.25)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(fmt.Sprintf("%s-%d", fd.Name(), n))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(fmt.Sprintf("/run/%s-%d.sock", fd.Name(), n)))
	}
	t.Fatalf("no sample value for %v fields", fd.Kind())
	return protoreflect.Value{}
}

// unknownFields returns the path of the first message under m that holds
// fields its type does not declare, or "" when there is none.
func unknownFields(m protoreflect.Message, path string) string {
	if len(m.GetUnknown()) > 0 {
		return path
	}
	var where string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		at := path + "." + string(fd.Name())
		switch {
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				where = unknownFields(mv.Message(), at+"["+k.String()+"]")
				return where == ""
			})
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len() && where == ""; i++ {
				where = unknownFields(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", at, i))
			}
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			where = unknownFields(v.Message(), at)
		}
		return where == ""
	})
	return where
}

// Spot checks: a few fields read through our generated getters after
// crossing the wire from KubeEdge's types.
func TestKubeEdgeMessagesReadRightInOurs(t *testing.T) {
	t.Run("MapperRegisterRequest", func(t *testing.T) {
		var ours pb.MapperRegisterRequest
		cross(t, &kepb.MapperRegisterRequest{WithData: true, Mapper: &kepb.MapperInfo{
			Name: "tinymapper-i2c", Version: "0.1.0", ApiVersion: "v1beta1", Protocol: "i2c",
			Address: []byte("/etc/kubeedge/tinymapper.sock"), State: "OK",
		}}, &ours)
		m := ours.GetMapper()
		if !ours.GetWithData() || m.GetName() != "tinymapper-i2c" || m.GetApiVersion() != "v1beta1" ||
			m.GetProtocol() != "i2c" || string(m.GetAddress()) != "/etc/kubeedge/tinymapper.sock" || m.GetState() != "OK" {
			t.Errorf("got %v", &ours)
		}
	})
	t.Run("ReportDeviceStatusRequest", func(t *testing.T) {
		var ours pb.ReportDeviceStatusRequest
		cross(t, &kepb.ReportDeviceStatusRequest{DeviceName: "thermo", DeviceNamespace: "plant",
			ReportedDevice: &kepb.DeviceStatus{ReportToCloud: true, ReportCycle: 10000, Twins: []*kepb.Twin{{
				PropertyName:    "temperature",
				ObservedDesired: &kepb.TwinProperty{Value: "20"},
				Reported:        &kepb.TwinProperty{Value: "21.5", Metadata: map[string]string{"type": "float", "timestamp": "1700000000000"}},
			}}}}, &ours)
		tw := ours.GetReportedDevice().GetTwins()
		if ours.GetDeviceNamespace() != "plant" || len(tw) != 1 || tw[0].GetReported().GetMetadata()["type"] != "float" ||
			tw[0].GetObservedDesired().GetValue() != "20" || ours.GetReportedDevice().GetReportCycle() != 10000 {
			t.Errorf("got %v", &ours)
		}
	})
	t.Run("DeviceProperty with a push method", func(t *testing.T) {
		var ours pb.DeviceProperty
		cross(t, &kepb.DeviceProperty{Name: "t", CollectCycle: 500, PushMethod: &kepb.PushMethod{
			Otel:     &kepb.PushMethodOTEL{EndpointURL: "http://127.0.0.1:4318/v1/metrics"},
			DbMethod: &kepb.DBMethod{Tdengine: &kepb.DBMethodTDEngine{TdEngineClientConfig: &kepb.TDEngineClientConfig{Addr: "127.0.0.1:6041", Dbname: "plant"}}},
		}}, &ours)
		pm := ours.GetPushMethod()
		if ours.GetCollectCycle() != 500 || pm.GetOtel().GetEndpointURL() != "http://127.0.0.1:4318/v1/metrics" ||
			pm.GetDbMethod().GetTdengine().GetTdEngineClientConfig().GetDbname() != "plant" {
			t.Errorf("got %v", &ours)
		}
	})
}

// cross marshals theirs and unmarshals the bytes into ours.
func cross(t *testing.T, theirs, ours proto.Message) {
	t.Helper()
	b, err := proto.Marshal(theirs)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, ours); err != nil {
		t.Fatal(err)
	}
}
