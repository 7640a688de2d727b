package dmi

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// maxLogLine is the longest log line a hostile request may cause: a line
// quotes a few inputs of at most 200 bytes each.
const maxLogLine = 2048

// TestServerRefusesHostileNamesAndSizes sends what a hostile or broken
// sender sends: every request is refused as InvalidArgument naming the
// field, nothing reaches the registry, and neither the answer nor any log
// line carries more than a cut of the input.
func TestServerRefusesHostileNamesAndSizes(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	many := func(n int) []*pb.DeviceProperty {
		out := make([]*pb.DeviceProperty, n)
		for i := range out {
			out[i] = &pb.DeviceProperty{Name: fmt.Sprintf("p%d", i)}
		}
		return out
	}
	dev := func(change func(*pb.Device)) func(context.Context, pb.DeviceMapperServiceClient) error {
		return func(ctx context.Context, api pb.DeviceMapperServiceClient) error {
			d := thermometer(t, "thermo")
			change(d)
			_, err := api.RegisterDevice(ctx, &pb.RegisterDeviceRequest{Device: d})
			return err
		}
	}
	model := func(change func(*pb.DeviceModel)) func(context.Context, pb.DeviceMapperServiceClient) error {
		return func(ctx context.Context, api pb.DeviceMapperServiceClient) error {
			m := tmp102Model()
			change(m)
			_, err := api.CreateDeviceModel(ctx, &pb.CreateDeviceModelRequest{Model: m})
			return err
		}
	}
	tests := []struct {
		name      string
		call      func(context.Context, pb.DeviceMapperServiceClient) error
		wantField string
	}{
		{"device name of 1 MB", dev(func(d *pb.Device) { d.Name = big }), "device.name"},
		{"device name of 254 bytes", dev(func(d *pb.Device) { d.Name = strings.Repeat("a", 254) }), "device.name"},
		{"device name in upper case", dev(func(d *pb.Device) { d.Name = "Thermo" }), "device.name"},
		{"device name with a space", dev(func(d *pb.Device) { d.Name = "thermo 1" }), "device.name"},
		{"device name ending in a dot", dev(func(d *pb.Device) { d.Name = "thermo." }), "device.name"},
		{"namespace of 64 bytes", dev(func(d *pb.Device) { d.Namespace = strings.Repeat("a", 64) }), "device.namespace"},
		{"namespace with a dot", dev(func(d *pb.Device) { d.Namespace = "plant.a" }), "device.namespace"},
		{"model reference of 1 MB", dev(func(d *pb.Device) { d.Spec.DeviceModelReference = big }), "device.spec.deviceModelRef"},
		{"protocol name of 1 MB", dev(func(d *pb.Device) { d.Spec.Protocol.ProtocolName = big }), "device.spec.protocol.protocolName"},
		{"property name of 1 MB", dev(func(d *pb.Device) { d.Spec.Properties[0].Name = big }), "device.spec.properties[0].name"},
		{"property name with a space", dev(func(d *pb.Device) { d.Spec.Properties[0].Name = "room temperature" }), "device.spec.properties[0].name"},
		{"257 properties", dev(func(d *pb.Device) { d.Spec.Properties = many(257) }), "device.spec.properties"},
		{"desired value of 1 MB", dev(func(d *pb.Device) { d.Spec.Properties[0].Desired.Value = big }), "device.spec.properties[0].desired.value"},
		{"configData string of 1 MB", dev(func(d *pb.Device) { d.Spec.Protocol.ConfigData.Data["bus"] = anyOf(t, big) }), "spec.protocol.configData.bus"},
		{"configData key of 1 MB", dev(func(d *pb.Device) { d.Spec.Protocol.ConfigData.Data[big] = anyOf(t, "1") }), "spec.protocol.configData"},
		{"configData of 65 keys", dev(func(d *pb.Device) {
			for i := range 65 {
				d.Spec.Protocol.ConfigData.Data[fmt.Sprintf("k%d", i)] = anyOf(t, "1")
			}
		}), "spec.protocol.configData"},
		{"configData type URL of 1 MB", dev(func(d *pb.Device) {
			d.Spec.Protocol.ConfigData.Data["bus"] = &anypb.Any{TypeUrl: big}
		}), "spec.protocol.configData.bus"},
		{"visitor string of 1 MB", dev(func(d *pb.Device) {
			d.Spec.Properties[0].Visitors.ConfigData.Data["dataType"] = anyOf(t, big)
		}), "spec.properties[temperature].visitors.configData.dataType"},
		{"model name of 1 MB", model(func(m *pb.DeviceModel) { m.Name = big }), "model.name"},
		{"model namespace in upper case", model(func(m *pb.DeviceModel) { m.Namespace = "Plant" }), "model.namespace"},
		{"model property name of 1 MB", model(func(m *pb.DeviceModel) { m.Spec.Properties[0].Name = big }), "model.spec.properties[0].name"},
		{"model description of 1 MB", model(func(m *pb.DeviceModel) { m.Spec.Properties[0].Description = big }), "model.spec.properties[0].description"},
		{"model of 257 properties", model(func(m *pb.DeviceModel) {
			for i := range 257 {
				m.Spec.Properties = append(m.Spec.Properties, &pb.ModelProperty{Name: fmt.Sprintf("p%d", i), Type: "INT"})
			}
		}), "model.spec.properties"},
		{"remove a device named 1 MB", func(ctx context.Context, api pb.DeviceMapperServiceClient) error {
			_, err := api.RemoveDevice(ctx, &pb.RemoveDeviceRequest{DeviceName: big, DeviceNamespace: "plant"})
			return err
		}, "device.name"},
		{"get a device in a namespace of 1 MB", func(ctx context.Context, api pb.DeviceMapperServiceClient) error {
			_, err := api.GetDevice(ctx, &pb.GetDeviceRequest{DeviceName: "thermo", DeviceNamespace: big})
			return err
		}, "device.namespace"},
		{"remove a model named 1 MB", func(ctx context.Context, api pb.DeviceMapperServiceClient) error {
			_, err := api.RemoveDeviceModel(ctx, &pb.RemoveDeviceModelRequest{ModelName: big, ModelNamespace: "plant"})
			return err
		}, "model.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newFakeRegistry()
			var logs syncBuffer
			api, _ := serve(t, NewServer(reg, slog.New(slog.NewTextHandler(&logs, nil))))
			err := tt.call(context.Background(), api)
			st, _ := status.FromError(err)
			if st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), tt.wantField+": ") {
				t.Errorf("answer %v %.300s; want InvalidArgument naming %s", st.Code(), st.Message(), tt.wantField)
			}
			if len(st.Message()) > maxLogLine {
				t.Errorf("answer of %d bytes quotes the input whole", len(st.Message()))
			}
			if len(reg.devices) != 0 || len(reg.models) != 0 {
				t.Errorf("the registry was given %d devices and %d models", len(reg.devices), len(reg.models))
			}
			for _, line := range strings.Split(logs.String(), "\n") {
				if len(line) > maxLogLine {
					t.Errorf("log line of %d bytes: %.200s…", len(line), line)
				}
			}
		})
	}
}

// TestServerAcceptsNamesAtTheirBounds: what Kubernetes accepts is accepted.
func TestServerAcceptsNamesAtTheirBounds(t *testing.T) {
	reg := newFakeRegistry()
	api, _ := serve(t, NewServer(reg, nil))
	m := tmp102Model()
	m.Name = strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + ".tmp-102"
	m.Namespace = strings.Repeat("n", 63)
	m.Spec.Properties[0].Name = "Temp_1.a,b:c/d@e#f-" + strings.Repeat("t", 109)
	if _, err := api.CreateDeviceModel(context.Background(), &pb.CreateDeviceModelRequest{Model: m}); err != nil {
		t.Fatal(err)
	}
	d := thermometer(t, strings.Repeat("d", 253))
	d.Namespace = m.Namespace
	d.Spec.DeviceModelReference = m.Name
	d.Spec.Properties[0].Name = m.Spec.Properties[0].Name
	d.Spec.Protocol.ConfigData.Data["bus"] = anyOf(t, strings.Repeat("1", 1024))
	if _, err := api.RegisterDevice(context.Background(), &pb.RegisterDeviceRequest{Device: d}, grpc.MaxCallSendMsgSize(8<<20)); err != nil {
		t.Fatal(err)
	}
}
