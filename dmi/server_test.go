package dmi

import (
	"context"
	"errors"
	"fmt"
	"github.com/tinymapper/tinymapper/internal/await"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// serve runs srv on a socket in a fresh directory until the test ends and
// returns a client for it once the socket exists.
func serve(t testing.TB, srv *Server) (pb.DeviceMapperServiceClient, string) {
	t.Helper()
	path := filepath.Join(socketDir(t), "mapper.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, path) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	await.Until(t, "the socket", func() bool { _, err := os.Stat(path); return err == nil })
	return pb.NewDeviceMapperServiceClient(dial(t, path)), path
}

func TestServerAppliesModelsAndDevices(t *testing.T) {
	reg := newFakeRegistry()
	api, _ := serve(t, NewServer(reg, nil))
	ctx := context.Background()

	mresp, err := api.CreateDeviceModel(ctx, &pb.CreateDeviceModelRequest{Model: tmp102Model()})
	if err != nil {
		t.Fatal(err)
	}
	if mresp.DeviceModelName != "tmp102" || mresp.DeviceModelNamespace != "plant" {
		t.Errorf("CreateDeviceModel answered %v", mresp)
	}
	if _, ok := reg.model("plant/tmp102"); !ok {
		t.Fatal("model not in the registry")
	}

	updated := tmp102Model()
	updated.Spec.Properties[0].Unit = "K"
	if _, err := api.UpdateDeviceModel(ctx, &pb.UpdateDeviceModelRequest{Model: updated}); err != nil {
		t.Fatal(err)
	}
	if m, _ := reg.model("plant/tmp102"); m.Properties[0].Unit != "K" {
		t.Errorf("model not updated: %+v", m)
	}

	dresp, err := api.RegisterDevice(ctx, &pb.RegisterDeviceRequest{Device: thermometer(t, "thermo")})
	if err != nil {
		t.Fatal(err)
	}
	if dresp.DeviceName != "thermo" || dresp.DeviceNamespace != "plant" {
		t.Errorf("RegisterDevice answered %v", dresp)
	}
	if d, ok := reg.device("plant/thermo"); !ok || d.Protocol != "i2c" {
		t.Fatalf("device not in the registry: %+v", d)
	}

	moved := thermometer(t, "thermo")
	moved.Spec.Protocol.ConfigData.Data["address"] = anyOf(t, float32(73))
	if _, err := api.UpdateDevice(ctx, &pb.UpdateDeviceRequest{Device: moved}); err != nil {
		t.Fatal(err)
	}
	if d, _ := reg.device("plant/thermo"); d.Config.Values["address"] != bus.NumberValue(73) {
		t.Errorf("device not updated: %v", d.Config.Values)
	}

	if _, err := api.RemoveDevice(ctx, &pb.RemoveDeviceRequest{DeviceName: "thermo", DeviceNamespace: "plant"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.device("plant/thermo"); ok {
		t.Error("device still in the registry")
	}
	if _, err := api.RemoveDeviceModel(ctx, &pb.RemoveDeviceModelRequest{ModelName: "tmp102", ModelNamespace: "plant"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.model("plant/tmp102"); ok {
		t.Error("model still in the registry")
	}
}

func TestServerGetDeviceReturnsSpecAndTwins(t *testing.T) {
	reg := newFakeRegistry()
	api, _ := serve(t, NewServer(reg, nil))
	ctx := context.Background()
	sent := thermometer(t, "thermo")
	if _, err := api.RegisterDevice(ctx, &pb.RegisterDeviceRequest{Device: sent}); err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1700000000000)
	reg.mu.Lock()
	reg.twins["plant/thermo"] = []device.Twin{{Property: "temperature", Reported: "21.5", Type: device.TypeFloat, Time: at}}
	reg.mu.Unlock()

	resp, err := api.GetDevice(ctx, &pb.GetDeviceRequest{DeviceName: "thermo", DeviceNamespace: "plant"})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.GetDevice()
	if !proto.Equal(got.GetSpec(), sent.GetSpec()) {
		t.Errorf("spec = %v\nwant %v", got.GetSpec(), sent.GetSpec())
	}
	if got.GetName() != "thermo" || got.GetNamespace() != "plant" {
		t.Errorf("identity = %s/%s", got.GetNamespace(), got.GetName())
	}
	st := got.GetStatus()
	if !st.GetReportToCloud() || st.GetReportCycle() != 10000 || len(st.GetTwins()) != 1 {
		t.Fatalf("status = %v", st)
	}
	tw := st.GetTwins()[0]
	if tw.GetReported().GetValue() != "21.5" || tw.GetObservedDesired() == nil || tw.GetReported().GetMetadata()["type"] != "float" {
		t.Errorf("twin = %v", tw)
	}
}

func TestServerGetDeviceDefaultsTheNamespace(t *testing.T) {
	reg := newFakeRegistry()
	api, _ := serve(t, NewServer(reg, nil))
	ctx := context.Background()
	d := thermometer(t, "thermo")
	d.Namespace = ""
	if _, err := api.RegisterDevice(ctx, &pb.RegisterDeviceRequest{Device: d}); err != nil {
		t.Fatal(err)
	}
	resp, err := api.GetDevice(ctx, &pb.GetDeviceRequest{DeviceName: "thermo"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDevice().GetNamespace() != "default" {
		t.Errorf("namespace = %q", resp.GetDevice().GetNamespace())
	}
	if _, ok := reg.device("default/thermo"); !ok {
		t.Error("device not registered under default/thermo")
	}
}

func TestServerAnswersUnknownDevices(t *testing.T) {
	api, _ := serve(t, NewServer(newFakeRegistry(), nil))
	ctx := context.Background()
	_, err := api.GetDevice(ctx, &pb.GetDeviceRequest{DeviceName: "ghost", DeviceNamespace: "plant"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetDevice of an unknown device: %v, want NotFound", err)
	}
	if _, err := api.RemoveDevice(ctx, &pb.RemoveDeviceRequest{DeviceName: "ghost"}); err != nil {
		t.Errorf("RemoveDevice of an unknown device: %v, want OK", err)
	}
	if _, err := api.RemoveDeviceModel(ctx, &pb.RemoveDeviceModelRequest{ModelName: "ghost"}); err != nil {
		t.Errorf("RemoveDeviceModel of an unknown model: %v, want OK", err)
	}
}

func TestServerRejectsInvalidRequestsNamingTheField(t *testing.T) {
	noProtocol := thermometer(t, "thermo")
	noProtocol.Spec.Protocol = nil
	emptyValue := thermometer(t, "thermo")
	emptyValue.Spec.Protocol.ConfigData.Data["address"] = nil
	tests := []struct {
		name      string
		call      func(context.Context, pb.DeviceMapperServiceClient) error
		wantField string
	}{
		{"RegisterDevice without a device", func(ctx context.Context, api pb.DeviceMapperServiceClient) error {
			_, err := api.RegisterDevice(ctx, &pb.RegisterDeviceRequest{})
			return err
		}, "device"},
		{"RegisterDevice without a protocol", func(ctx context.Context, api pb.DeviceMapperServiceClient) error {
			_, err := api.RegisterDevice(ctx, &pb.RegisterDeviceRequest{Device: noProtocol})
			return err
		}, "device.spec.protocol"},
		{"UpdateDevice with an empty configData value", func(ctx context.Context, api pb.DeviceMapperServiceClient) error {
			_, err := api.UpdateDevice(ctx, &pb.UpdateDeviceRequest{Device: emptyValue})
			return err
		}, "spec.protocol.configData.address"},
		{"CreateDeviceModel without a name", func(ctx context.Context, api pb.DeviceMapperServiceClient) error {
			_, err := api.CreateDeviceModel(ctx, &pb.CreateDeviceModelRequest{Model: &pb.DeviceModel{}})
			return err
		}, "model.name"},
		{"UpdateDeviceModel without a model", func(ctx context.Context, api pb.DeviceMapperServiceClient) error {
			_, err := api.UpdateDeviceModel(ctx, &pb.UpdateDeviceModelRequest{})
			return err
		}, "model"},
		{"RemoveDevice without a name", func(ctx context.Context, api pb.DeviceMapperServiceClient) error {
			_, err := api.RemoveDevice(ctx, &pb.RemoveDeviceRequest{})
			return err
		}, "deviceName"},
		{"RemoveDeviceModel without a name", func(ctx context.Context, api pb.DeviceMapperServiceClient) error {
			_, err := api.RemoveDeviceModel(ctx, &pb.RemoveDeviceModelRequest{})
			return err
		}, "modelName"},
		{"GetDevice without a name", func(ctx context.Context, api pb.DeviceMapperServiceClient) error {
			_, err := api.GetDevice(ctx, &pb.GetDeviceRequest{})
			return err
		}, "deviceName"},
	}
	reg := newFakeRegistry()
	api, _ := serve(t, NewServer(reg, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(context.Background(), api)
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("code = %v (%v), want InvalidArgument", st.Code(), err)
			}
			if !strings.HasPrefix(st.Message(), tt.wantField+": ") {
				t.Errorf("message %q does not start with the field %q", st.Message(), tt.wantField)
			}
		})
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if len(reg.devices) != 0 || len(reg.models) != 0 {
		t.Errorf("invalid requests reached the registry: %v %v", reg.devices, reg.models)
	}
}

func TestServerKeepsTheRunningSpecWhenTheRegistryRefuses(t *testing.T) {
	reg := newFakeRegistry()
	api, _ := serve(t, NewServer(reg, nil))
	ctx := context.Background()
	if _, err := api.RegisterDevice(ctx, &pb.RegisterDeviceRequest{Device: thermometer(t, "thermo")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		putErr   error
		wantCode codes.Code
		wantText string
	}{
		{"a field error is the caller's", fmt.Errorf("open: %w", &bus.FieldError{Field: "spec.protocol.configData.bus", Err: errors.New(`"9" is not a bus`)}),
			codes.InvalidArgument, "spec.protocol.configData.bus"},
		{"anything else is ours", errors.New("bus worker stopped"), codes.Internal, "bus worker stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg.mu.Lock()
			reg.putErr = tt.putErr
			reg.mu.Unlock()
			changed := thermometer(t, "thermo")
			changed.Spec.Protocol.ConfigData.Data["bus"] = anyOf(t, "9")
			_, err := api.UpdateDevice(ctx, &pb.UpdateDeviceRequest{Device: changed})
			st := status.Convert(err)
			if st.Code() != tt.wantCode || !strings.Contains(st.Message(), tt.wantText) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.wantCode, tt.wantText)
			}
			resp, err := api.GetDevice(ctx, &pb.GetDeviceRequest{DeviceName: "thermo", DeviceNamespace: "plant"})
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(resp.GetDevice().GetSpec(), thermometer(t, "thermo").GetSpec()) {
				t.Errorf("GetDevice returns the refused spec: %v", resp.GetDevice().GetSpec())
			}
		})
	}
}

func TestServeRestrictsTheSocketAndRemovesItAfterwards(t *testing.T) {
	path := filepath.Join(socketDir(t), "mapper.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(newFakeRegistry(), nil).Serve(ctx, path) }()
	await.Until(t, "the socket", func() bool { _, err := os.Stat(path); return err == nil })
	api := pb.NewDeviceMapperServiceClient(dial(t, path))
	if _, err := api.RemoveDevice(ctx, &pb.RemoveDeviceRequest{DeviceName: "x"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want a socket with 0600", fi.Mode())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestServeReplacesAStaleSocket(t *testing.T) {
	path := filepath.Join(socketDir(t), "mapper.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("no stale socket to test with: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(newFakeRegistry(), nil).Serve(ctx, path) }()
	api := pb.NewDeviceMapperServiceClient(dial(t, path))
	callCtx, callCancel := context.WithTimeout(ctx, 10*time.Second)
	defer callCancel()
	if _, err := api.RemoveDevice(callCtx, &pb.RemoveDeviceRequest{DeviceName: "x"}); err != nil {
		t.Fatalf("server on a stale socket path does not answer: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestServeRefusesToRemoveOtherFiles(t *testing.T) {
	path := filepath.Join(socketDir(t), "mapper.sock")
	if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := NewServer(newFakeRegistry(), nil).Serve(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Serve = %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Error("the file was touched")
	}
}

func TestReadyTellsWhenTheSocketListens(t *testing.T) {
	t.Run("closed once the socket is in place and answers", func(t *testing.T) {
		path := filepath.Join(socketDir(t), "mapper.sock")
		srv := NewServer(newFakeRegistry(), nil)
		select {
		case <-srv.Ready():
			t.Fatal("ready before Serve")
		default:
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, path) }()
		defer func() { cancel(); <-done }()
		select {
		case <-srv.Ready():
		case <-time.After(10 * time.Second):
			t.Fatal("not ready after 10 s")
		}
		// No waiting from here: what EdgeCore would do at once.
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("socket at ready: %v, mode %v; want it in place with 0600", err, fi.Mode())
		}
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatalf("dial at ready: %v", err)
		}
		c.Close()
	})
	t.Run("never closed when Serve cannot listen", func(t *testing.T) {
		path := filepath.Join(socketDir(t), "mapper.sock")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		srv := NewServer(newFakeRegistry(), nil)
		if err := srv.Serve(context.Background(), path); err == nil {
			t.Fatal("Serve succeeded on a regular file")
		}
		select {
		case <-srv.Ready():
			t.Error("ready although Serve failed")
		default:
		}
	})
}
