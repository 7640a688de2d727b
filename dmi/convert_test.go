package dmi

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

func TestDeviceFromProtoConvertsWhatEdgeCoreSends(t *testing.T) {
	d, err := DeviceFromProto(thermometer(t, "thermo"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Namespace != "plant" || d.Name != "thermo" || d.Model != "tmp102" || d.Protocol != "i2c" {
		t.Errorf("identity = %s/%s model %s protocol %s", d.Namespace, d.Name, d.Model, d.Protocol)
	}
	if addr, err := d.Config.Int("address", 0, 0, 127); addr != 72 || err != nil {
		t.Errorf("address = %d, %v", addr, err)
	}
	if d.Config.Path != "spec.protocol.configData" {
		t.Errorf("config path = %q", d.Config.Path)
	}
	if len(d.Properties) != 1 {
		t.Fatalf("properties = %+v", d.Properties)
	}
	p := d.Properties[0]
	if p.Name != "temperature" || p.CollectCycle != 500*time.Millisecond || p.ReportCycle != 10*time.Second || !p.ReportToCloud {
		t.Errorf("property = %+v", p)
	}
	if p.Visitor.Path != "spec.properties[temperature].visitors.configData" {
		t.Errorf("visitor path = %q", p.Visitor.Path)
	}
	if s, _ := p.Visitor.String("dataType", ""); s != "int16" {
		t.Errorf("dataType = %q", s)
	}
}

func TestDeviceFromProtoCarriesMethods(t *testing.T) {
	in := thermometer(t, "thermo")
	in.Spec.Methods = []*pb.DeviceMethod{{Name: "setAlert", Description: "alert threshold", PropertyNames: []string{"temperature"}}}
	d, err := DeviceFromProto(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Methods) != 1 || d.Methods[0].Name != "setAlert" || d.Methods[0].Description != "alert threshold" ||
		len(d.Methods[0].PropertyNames) != 1 || d.Methods[0].PropertyNames[0] != "temperature" {
		t.Errorf("methods = %+v", d.Methods)
	}
	in.Spec.Methods[0].Name = strings.Repeat("m", 300)
	if _, err := DeviceFromProto(in); err == nil || !strings.Contains(err.Error(), "device.spec.methods[0].name") {
		t.Errorf("a 300-byte method name: %v; want an error naming the field", err)
	}
}

func TestDeviceFromProtoNamesTheBadField(t *testing.T) {
	tests := []struct {
		name      string
		change    func(d *pb.Device) *pb.Device
		wantField string
	}{
		{"nil device", func(*pb.Device) *pb.Device { return nil }, "device"},
		{"no name", func(d *pb.Device) *pb.Device { d.Name = ""; return d }, "device.name"},
		{"no spec", func(d *pb.Device) *pb.Device { d.Spec = nil; return d }, "device.spec"},
		{"no model", func(d *pb.Device) *pb.Device { d.Spec.DeviceModelReference = ""; return d }, "device.spec.deviceModelReference"},
		{"no protocol", func(d *pb.Device) *pb.Device { d.Spec.Protocol = nil; return d }, "device.spec.protocol"},
		{"no protocol name", func(d *pb.Device) *pb.Device { d.Spec.Protocol.ProtocolName = ""; return d }, "device.spec.protocol.protocolName"},
		{"nil configData value", func(d *pb.Device) *pb.Device {
			d.Spec.Protocol.ConfigData.Data["bus"] = nil
			return d
		}, "spec.protocol.configData.bus"},
		{"property without name", func(d *pb.Device) *pb.Device {
			d.Spec.Properties = append(d.Spec.Properties, &pb.DeviceProperty{})
			return d
		}, "device.spec.properties[1].name"},
		{"property listed twice", func(d *pb.Device) *pb.Device {
			d.Spec.Properties = append(d.Spec.Properties, &pb.DeviceProperty{Name: "temperature"})
			return d
		}, "device.spec.properties[temperature]"},
		{"visitor of unknown type", func(d *pb.Device) *pb.Device {
			d.Spec.Properties[0].Visitors.ConfigData.Data["register"] = &anypb.Any{TypeUrl: "type.googleapis.com/x.Y"}
			return d
		}, "spec.properties[temperature].visitors.configData.register"},
		{"negative collect cycle", func(d *pb.Device) *pb.Device {
			d.Spec.Properties[0].CollectCycle = -1
			return d
		}, "device.spec.properties[temperature].collectCycle"},
		{"report cycle beyond a Duration", func(d *pb.Device) *pb.Device {
			d.Spec.Properties[0].ReportCycle = 1 << 62
			return d
		}, "device.spec.properties[temperature].reportCycle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DeviceFromProto(tt.change(thermometer(t, "thermo")))
			var fe *bus.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *bus.FieldError", err)
			}
			if fe.Field != tt.wantField {
				t.Errorf("field = %q, want %q (err %v)", fe.Field, tt.wantField, err)
			}
		})
	}
}

func TestDeviceFromProtoFillsDefaults(t *testing.T) {
	in := thermometer(t, "thermo")
	in.Namespace = ""
	in.Spec.Protocol.ConfigData = nil
	in.Spec.Properties[0].Visitors = nil
	in.Spec.Properties[0].Desired = nil
	d, err := DeviceFromProto(in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Namespace != "default" {
		t.Errorf("namespace = %q, want default", d.Namespace)
	}
	if len(d.Config.Values) != 0 || len(d.Properties[0].Visitor.Values) != 0 || d.Properties[0].Desired != "" {
		t.Errorf("absent maps should be empty: %+v", d)
	}
}

func TestModelFromProto(t *testing.T) {
	m, err := ModelFromProto(&pb.DeviceModel{
		Name: "tmp102",
		Spec: &pb.DeviceModelSpec{Properties: []*pb.ModelProperty{
			{Name: "temperature", Type: "float", AccessMode: "ReadOnly", Unit: "Cel", Minimum: "-40", Maximum: "125"},
			{Name: "alert", Type: "BOOLEAN", AccessMode: "readwrite"},
			{Name: "label", Type: "STRING"},
			{Name: "blob", Type: "bytes"},
			{Name: "video", Type: "STREAM"},
			{Name: "untyped"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := device.Model{Namespace: "default", Name: "tmp102", Properties: []device.ModelProperty{
		{Name: "temperature", Type: device.TypeFloat, AccessMode: device.ReadOnly, Unit: "Cel", Minimum: "-40", Maximum: "125"},
		{Name: "alert", Type: device.TypeBoolean, AccessMode: device.ReadWrite},
		{Name: "label", Type: device.TypeString, AccessMode: device.ReadOnly},
		{Name: "blob", Type: device.TypeBytes, AccessMode: device.ReadOnly},
		{Name: "video", Type: device.TypeStream, AccessMode: device.ReadOnly},
		{Name: "untyped", Type: "", AccessMode: device.ReadOnly},
	}}
	if m.Namespace != want.Namespace || m.Name != want.Name || len(m.Properties) != len(want.Properties) {
		t.Fatalf("model = %+v, want %+v", m, want)
	}
	for i := range want.Properties {
		if m.Properties[i] != want.Properties[i] {
			t.Errorf("property %d = %+v, want %+v", i, m.Properties[i], want.Properties[i])
		}
	}
}

func TestModelFromProtoNamesTheBadField(t *testing.T) {
	prop := func(p *pb.ModelProperty) *pb.DeviceModel {
		return &pb.DeviceModel{Name: "m", Spec: &pb.DeviceModelSpec{Properties: []*pb.ModelProperty{p}}}
	}
	tests := []struct {
		name      string
		in        *pb.DeviceModel
		wantField string
	}{
		{"nil", nil, "model"},
		{"no name", &pb.DeviceModel{}, "model.name"},
		{"property without name", prop(&pb.ModelProperty{Type: "INT"}), "model.spec.properties[0].name"},
		{"unknown type", prop(&pb.ModelProperty{Name: "t", Type: "DECIMAL"}), "model.spec.properties[t].type"},
		{"unknown access mode", prop(&pb.ModelProperty{Name: "t", Type: "INT", AccessMode: "WriteOnly"}), "model.spec.properties[t].accessMode"},
		{"listed twice", &pb.DeviceModel{Name: "m", Spec: &pb.DeviceModelSpec{Properties: []*pb.ModelProperty{
			{Name: "t", Type: "INT"}, {Name: "t", Type: "INT"},
		}}}, "model.spec.properties[t]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ModelFromProto(tt.in)
			if got := fieldOf(err); got != tt.wantField {
				t.Errorf("field = %q, want %q (err %v)", got, tt.wantField, err)
			}
		})
	}
}

func TestTwinToProtoSetsBothSidesAndMetadata(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	tests := []struct {
		name     string
		in       device.Twin
		wantType string
		wantTime string
	}{
		{"int", device.Twin{Property: "count", Reported: "42", Type: device.TypeInt, Time: at}, "int", "1700000000123"},
		{"float", device.Twin{Property: "t", Reported: "21.5", ObservedDesired: "", Type: device.TypeFloat, Time: at}, "float", "1700000000123"},
		{"boolean", device.Twin{Property: "relay", Reported: "true", ObservedDesired: "true", Type: device.TypeBoolean, Time: at}, "boolean", "1700000000123"},
		{"string", device.Twin{Property: "s", Reported: "ok", Type: device.TypeString, Time: at}, "string", "1700000000123"},
		{"double", device.Twin{Property: "d", Reported: "0.001", Type: device.TypeDouble, Time: at}, "double", "1700000000123"},
		{"no sample time yet", device.Twin{Property: "t", Type: device.TypeFloat}, "float", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TwinToProto(tt.in)
			if got.GetReported() == nil || got.GetObservedDesired() == nil {
				t.Fatalf("a side is nil: %v", got)
			}
			if got.PropertyName != tt.in.Property || got.Reported.Value != tt.in.Reported || got.ObservedDesired.Value != tt.in.ObservedDesired {
				t.Errorf("twin = %v", got)
			}
			if md := got.Reported.Metadata; md["type"] != tt.wantType || md["timestamp"] != tt.wantTime || len(md) != 2 {
				t.Errorf("metadata = %v, want type %q timestamp %q", md, tt.wantType, tt.wantTime)
			}
		})
	}
}

func FuzzConvertDevice(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var in pb.Device
		if proto.Unmarshal(data, &in) != nil {
			return
		}
		d, err := DeviceFromProto(&in)
		if err != nil {
			var fe *bus.FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("error names no field: %v", err)
			}
			if len(err.Error()) > 4096 {
				t.Fatalf("error of %d bytes quotes the input whole", len(err.Error()))
			}
			return
		}
		if d.Namespace == "" || d.Name == "" || d.Protocol == "" || d.Model == "" {
			t.Fatalf("accepted an incomplete device: %+v", d)
		}
		if err := device.CheckDevice(d); err != nil {
			t.Fatalf("accepted a device out of bounds: %v", err)
		}
		seen := map[string]bool{}
		for _, p := range d.Properties {
			if p.Name == "" || seen[p.Name] || p.CollectCycle < 0 || p.ReportCycle < 0 {
				t.Fatalf("accepted a bad property: %+v", p)
			}
			seen[p.Name] = true
		}
	})
}
