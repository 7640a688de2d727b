package dmi

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tinymapper/tinymapper/device"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

func TestReportStatusSendsOneCallPerDeviceWithAllItsTwins(t *testing.T) {
	sock := filepath.Join(socketDir(t), "dmi.sock")
	edge := &fakeEdgeCore{}
	edge.start(t, sock)
	c := newTestClient(t, ClientConfig{Socket: sock}, newFakeRegistry(), nil)
	ctx := context.Background()
	at := time.UnixMilli(1700000000000)

	three := []device.Twin{
		{Property: "temperature", Reported: "21.5", Type: device.TypeFloat, Time: at},
		{Property: "alert", Reported: "false", ObservedDesired: "false", Type: device.TypeBoolean, Time: at},
		{Property: "count", Reported: "7", Type: device.TypeInt, Time: at},
	}
	one := []device.Twin{{Property: "relay", Reported: "true", ObservedDesired: "true", Type: device.TypeBoolean, Time: at}}
	if err := c.ReportStatus(ctx, "plant", "thermo", three); err != nil {
		t.Fatal(err)
	}
	if err := c.ReportStatus(ctx, "", "relay", one); err != nil {
		t.Fatal(err)
	}
	if err := c.ReportStatus(ctx, "plant", "idle", nil); err != nil {
		t.Fatal(err)
	}

	edge.mu.Lock()
	defer edge.mu.Unlock()
	if len(edge.statuses) != 2 {
		t.Fatalf("%d calls, want 2 (none for a device without twins)", len(edge.statuses))
	}
	want := []*pb.ReportDeviceStatusRequest{
		{DeviceName: "thermo", DeviceNamespace: "plant", ReportedDevice: &pb.DeviceStatus{ReportToCloud: true}},
		{DeviceName: "relay", DeviceNamespace: "default", ReportedDevice: &pb.DeviceStatus{ReportToCloud: true}},
	}
	for _, tw := range three {
		want[0].ReportedDevice.Twins = append(want[0].ReportedDevice.Twins, TwinToProto(tw))
	}
	want[1].ReportedDevice.Twins = []*pb.Twin{TwinToProto(one[0])}
	for i := range want {
		if !proto.Equal(edge.statuses[i], want[i]) {
			t.Errorf("call %d = %v\nwant %v", i, edge.statuses[i], want[i])
		}
	}
}

func TestReportStateSendsTheState(t *testing.T) {
	sock := filepath.Join(socketDir(t), "dmi.sock")
	edge := &fakeEdgeCore{}
	edge.start(t, sock)
	c := newTestClient(t, ClientConfig{Socket: sock}, newFakeRegistry(), nil)
	ctx := context.Background()
	if err := c.ReportState(ctx, "plant", "thermo", device.StateOnline); err != nil {
		t.Fatal(err)
	}
	if err := c.ReportState(ctx, "plant", "thermo", ""); err == nil {
		t.Error("an empty state was accepted")
	}
	edge.mu.Lock()
	defer edge.mu.Unlock()
	want := &pb.ReportDeviceStatesRequest{DeviceName: "thermo", DeviceNamespace: "plant", State: "online"}
	if len(edge.states) != 1 || !proto.Equal(edge.states[0], want) {
		t.Errorf("states = %v, want [%v]", edge.states, want)
	}
}

func TestReportsTellWhenEdgeCoreIsRateLimiting(t *testing.T) {
	tests := []struct {
		name        string
		answer      error
		wantLimited bool
	}{
		{"too many request", edgeCoreTooBusy("thermo"), true},
		{"too many request as a status", status.Error(codes.ResourceExhausted, "fail to report device states because of too many request: thermo"), true},
		{"other failure", errors.New("ReportDeviceStatesRequest is invalid data"), false},
	}
	sock := filepath.Join(socketDir(t), "dmi.sock")
	edge := &fakeEdgeCore{}
	edge.start(t, sock)
	c := newTestClient(t, ClientConfig{Socket: sock}, newFakeRegistry(), nil)
	twins := []device.Twin{{Property: "t", Reported: "1", Type: device.TypeInt}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edge.mu.Lock()
			edge.answer = func(string) error { return tt.answer }
			edge.mu.Unlock()
			ctx := context.Background()
			for _, err := range []error{
				c.ReportStatus(ctx, "plant", "thermo", twins),
				c.ReportState(ctx, "plant", "thermo", device.StateOnline),
			} {
				if err == nil {
					t.Fatal("no error")
				}
				if got := errors.Is(err, ErrRateLimited); got != tt.wantLimited {
					t.Errorf("errors.Is(%v, ErrRateLimited) = %v, want %v", err, got, tt.wantLimited)
				}
			}
		})
	}
}

func TestCallsArePacedByRateAndBurst(t *testing.T) {
	sock := filepath.Join(socketDir(t), "dmi.sock")
	edge := &fakeEdgeCore{}
	edge.start(t, sock)
	const perSecond, burst, calls = 50.0, 2, 12
	c := newTestClient(t, ClientConfig{Socket: sock, Rate: perSecond, Burst: burst}, newFakeRegistry(), nil)
	ctx := context.Background()
	twins := []device.Twin{{Property: "t", Reported: "1", Type: device.TypeInt}}

	start := time.Now()
	for range calls {
		if err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.ReportStatus(ctx, "plant", "thermo", twins); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	// A token bucket lets through at most burst + rate×elapsed calls.
	if allowed := burst + perSecond*elapsed.Seconds(); calls > allowed+0.5 {
		t.Errorf("%d calls in %v; the pacer allows %.1f", calls, elapsed, allowed)
	}
}

func TestUnpacedClientsDoNotWait(t *testing.T) {
	c := newTestClient(t, ClientConfig{Socket: "/nonexistent/dmi.sock"}, newFakeRegistry(), nil)
	if c.limiter.Limit() != rate.Inf {
		t.Fatalf("limit = %v, want unlimited", c.limiter.Limit())
	}
	for range 1000 {
		if err := c.Wait(context.Background()); err != nil {
			t.Fatalf("Wait on an unpaced client: %v", err)
		}
	}
}
