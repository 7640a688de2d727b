package dmi

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tinymapper/tinymapper/device"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// generatedRequest is the request statusCodec writes, built with the
// generated code instead.
func generatedRequest(c *statusCall) *pb.ReportDeviceStatusRequest {
	req := &pb.ReportDeviceStatusRequest{DeviceName: c.name, DeviceNamespace: c.namespace,
		ReportedDevice: &pb.DeviceStatus{ReportToCloud: true}}
	for _, t := range c.twins {
		req.ReportedDevice.Twins = append(req.ReportedDevice.Twins, TwinToProto(t))
	}
	return req
}

func TestStatusCodecMatchesGeneratedCode(t *testing.T) {
	at := time.UnixMilli(1764000000123)
	long := strings.Repeat("x", 300) // lengths past one varint byte
	cases := []struct {
		name string
		call statusCall
	}{
		{"one twin", statusCall{namespace: "default", name: "room-sensor", twins: []device.Twin{
			{Property: "temperature", Reported: "22.8125", Type: device.TypeFloat, Time: at}}}},
		{"five twins with desired values", statusCall{namespace: "plant", name: "thermo-1", twins: []device.Twin{
			{Property: "temperature", Reported: "22.8125", Type: device.TypeFloat, Time: at},
			{Property: "config", Reported: "24736", ObservedDesired: "24736", Type: device.TypeInt, Time: at},
			{Property: "alert", Reported: "false", ObservedDesired: "true", Type: device.TypeBoolean, Time: at},
			{Property: "ratio", Reported: "0.000001", Type: device.TypeDouble, Time: at},
			{Property: "label", Reported: "a-b_c.d", Type: device.TypeString, Time: at},
		}}},
		{"no sample time", statusCall{namespace: "default", name: "d", twins: []device.Twin{
			{Property: "p", Reported: "1", Type: device.TypeInt}}}},
		{"empty values", statusCall{namespace: "default", name: "d", twins: []device.Twin{
			{Property: "p", Type: device.TypeString, Time: at}}}},
		{"long names and values", statusCall{namespace: long, name: long, twins: []device.Twin{
			{Property: long, Reported: long, ObservedDesired: long, Type: device.TypeString, Time: at}}}},
		{"a time before 1970", statusCall{namespace: "default", name: "d", twins: []device.Twin{
			{Property: "p", Reported: "1", Type: device.TypeInt, Time: time.UnixMilli(-5)}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := statusCodec{}.Marshal(&tc.call)
			if err != nil {
				t.Fatal(err)
			}
			want, err := proto.MarshalOptions{Deterministic: true}.Marshal(generatedRequest(&tc.call))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Materialize(), want) {
				t.Fatalf("statusCodec wrote\n%x\nproto.Marshal writes\n%x", got.Materialize(), want)
			}
			var back pb.ReportDeviceStatusRequest
			if err := proto.Unmarshal(got.Materialize(), &back); err != nil {
				t.Fatal(err)
			}
			for i, tw := range back.GetReportedDevice().GetTwins() {
				if tw.ObservedDesired == nil || tw.Reported == nil {
					t.Errorf("twin %d: observedDesired or reported is nil; EdgeCore dereferences both", i)
				}
			}
		})
	}
}

func TestStatusCodecLeavesOtherMessagesToProto(t *testing.T) {
	msg := &pb.ReportDeviceStatesRequest{DeviceName: "d", DeviceNamespace: "default", State: "online"}
	got, err := statusCodec{}.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	var back pb.ReportDeviceStatesRequest
	if err := (statusCodec{}).Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(msg, &back) {
		t.Errorf("round trip gave %v; want %v", &back, msg)
	}
	if (statusCodec{}).Name() != "proto" {
		t.Errorf("Name() = %q; the content type must stay application/grpc+proto", statusCodec{}.Name())
	}
}

func BenchmarkStatusCodec(b *testing.B) {
	at := time.Now()
	c := &statusCall{namespace: "default", name: "sensor-0000", twins: []device.Twin{
		{Property: "temperature", Reported: "22.8125", Type: device.TypeFloat, Time: at},
		{Property: "config", Reported: "24736", Type: device.TypeInt, Time: at},
		{Property: "tlow", Reported: "75", Type: device.TypeFloat, Time: at},
		{Property: "thigh", Reported: "80", Type: device.TypeFloat, Time: at},
		{Property: "temperature-f", Reported: "73.0625", Type: device.TypeFloat, Time: at},
	}}
	b.Run("statusCodec", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := (statusCodec{}).Marshal(c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("generated", func(b *testing.B) {
		req := generatedRequest(c)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := protoCodec.Marshal(req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
