package kubeedge

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	devices "github.com/kubeedge/api/apis/devices/v1beta1"
	kepb "github.com/kubeedge/api/apis/dmi/v1beta1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/dmi"
)

// registry is a minimal dmi.Registry.
type registry struct {
	mu      sync.Mutex
	models  map[string]device.Model
	devices map[string]device.Device
	twins   map[string][]device.Twin
	stamp   uint64
}

func newRegistry() *registry {
	return &registry{models: map[string]device.Model{}, devices: map[string]device.Device{}, twins: map[string][]device.Twin{}}
}

func (r *registry) PutModel(m device.Model) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.models[device.Key(m.Namespace, m.Name)] = m
	return nil
}

func (r *registry) RemoveModel(ns, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.models, device.Key(ns, name))
	return nil
}

func (r *registry) PutDevice(d device.Device) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.devices[device.Key(d.Namespace, d.Name)] = d
	return nil
}

func (r *registry) DeviceKeys(protocol string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for key, d := range r.devices {
		if d.Protocol == protocol {
			out = append(out, key)
		}
	}
	return out
}

func (r *registry) RemoveDevice(ns, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.devices, device.Key(ns, name))
	return nil
}

// RemoveDeviceAsOf ignores the stamp: this registry keeps no history.
func (r *registry) RemoveDeviceAsOf(ns, name string, _ uint64) error { return r.RemoveDevice(ns, name) }

func (r *registry) Stamp() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stamp++
	return r.stamp
}

func (r *registry) Twins(ns, name string) ([]device.Twin, string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.devices[device.Key(ns, name)]; !ok {
		return nil, "", false
	}
	return r.twins[device.Key(ns, name)], device.StateOnline, true
}

func (r *registry) device(key string) (device.Device, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.devices[key]
	return d, ok
}

// socketPath returns a unix socket path short enough for the kernel.
func socketPath(t *testing.T, name string) string {
	dir, err := os.MkdirTemp("", "tmke")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, name)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// userObjects returns the thermometer Device and its model as EdgeCore
// would send them, in KubeEdge's generated types.
func userObjects(t *testing.T) (*kepb.Device, *kepb.DeviceModel) {
	var d devices.Device
	var m devices.DeviceModel
	if err := yaml.Unmarshal([]byte(thermometerYAML), &d); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(tmp102YAML), &m); err != nil {
		t.Fatal(err)
	}
	ked, err := edgeCoreDevice(&d)
	if err != nil {
		t.Fatal(err)
	}
	kem, err := edgeCoreModel(&m)
	if err != nil {
		t.Fatal(err)
	}
	return ked, kem
}

// KubeEdge's generated DeviceMapperService client, as EdgeCore uses it,
// drives our Server.
func TestEdgeCoreStubsDriveOurServer(t *testing.T) {
	reg := newRegistry()
	path := socketPath(t, "mapper.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dmi.NewServer(reg, nil).Serve(ctx, path) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := grpc.NewClient("unix:"+path, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	api := kepb.NewDeviceMapperServiceClient(conn)
	kedev, kemodel := userObjects(t)

	mresp, err := api.CreateDeviceModel(ctx, &kepb.CreateDeviceModelRequest{Model: kemodel})
	if err != nil {
		t.Fatal(err)
	}
	if mresp.GetDeviceModelName() != "tmp102" || mresp.GetDeviceModelNamespace() != "plant" {
		t.Errorf("CreateDeviceModel answered %v", mresp)
	}
	dresp, err := api.RegisterDevice(ctx, &kepb.RegisterDeviceRequest{Device: kedev})
	if err != nil {
		t.Fatal(err)
	}
	if dresp.GetDeviceName() != "thermo-1" || dresp.GetDeviceNamespace() != "plant" {
		t.Errorf("RegisterDevice answered %v", dresp)
	}
	d, ok := reg.device("plant/thermo-1")
	if !ok {
		t.Fatal("device not registered")
	}
	if addr, err := d.Config.Int("address", 0, 0, 127); addr != 72 || err != nil {
		t.Errorf("address = %d, %v", addr, err)
	}

	at := time.UnixMilli(1700000000000)
	reg.mu.Lock()
	reg.twins["plant/thermo-1"] = []device.Twin{
		{Property: "temperature", Reported: "21.5", Type: device.TypeFloat, Time: at},
		{Property: "alert", Reported: "false", ObservedDesired: "false", Type: device.TypeBoolean, Time: at},
	}
	reg.mu.Unlock()
	got, err := api.GetDevice(ctx, &kepb.GetDeviceRequest{DeviceName: "thermo-1", DeviceNamespace: "plant"})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.GetDevice().GetSpec(), kedev.GetSpec()) {
		t.Errorf("GetDevice spec differs from the one sent:\n got %v\nsent %v", got.GetDevice().GetSpec(), kedev.GetSpec())
	}
	twins := got.GetDevice().GetStatus().GetTwins()
	if len(twins) != 2 || twins[0].GetReported().GetValue() != "21.5" || twins[0].GetReported().GetMetadata()["type"] != "float" ||
		twins[1].GetObservedDesired().GetValue() != "false" || twins[1].GetReported().GetMetadata()["timestamp"] != "1700000000000" {
		t.Errorf("twins = %v", twins)
	}

	if _, err := api.UpdateDevice(ctx, &kepb.UpdateDeviceRequest{Device: &kepb.Device{Name: "thermo-1", Namespace: "plant"}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("UpdateDevice without a spec: %v, want InvalidArgument", err)
	}
	if _, err := api.RemoveDevice(ctx, &kepb.RemoveDeviceRequest{DeviceName: "thermo-1", DeviceNamespace: "plant"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.device("plant/thermo-1"); ok {
		t.Error("device still registered")
	}
	if _, err := api.RemoveDeviceModel(ctx, &kepb.RemoveDeviceModelRequest{ModelName: "tmp102", ModelNamespace: "plant"}); err != nil {
		t.Fatal(err)
	}
}

// edgeCore is a DeviceManagerService built on KubeEdge's generated code.
type edgeCore struct {
	kepb.UnimplementedDeviceManagerServiceServer
	device *kepb.Device
	model  *kepb.DeviceModel

	mu        sync.Mutex
	registers []*kepb.MapperRegisterRequest
	statuses  []*kepb.ReportDeviceStatusRequest
	states    []*kepb.ReportDeviceStatesRequest
}

func (e *edgeCore) MapperRegister(_ context.Context, in *kepb.MapperRegisterRequest) (*kepb.MapperRegisterResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.registers = append(e.registers, in)
	if in.GetMapper().GetProtocol() != e.device.GetSpec().GetProtocol().GetProtocolName() || !in.GetWithData() {
		return &kepb.MapperRegisterResponse{}, nil
	}
	return &kepb.MapperRegisterResponse{DeviceList: []*kepb.Device{e.device}, ModelList: []*kepb.DeviceModel{e.model}}, nil
}

func (e *edgeCore) ReportDeviceStatus(_ context.Context, in *kepb.ReportDeviceStatusRequest) (*kepb.ReportDeviceStatusResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.statuses = append(e.statuses, in)
	return &kepb.ReportDeviceStatusResponse{}, nil
}

func (e *edgeCore) ReportDeviceStates(_ context.Context, in *kepb.ReportDeviceStatesRequest) (*kepb.ReportDeviceStatesResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.states = append(e.states, in)
	return &kepb.ReportDeviceStatesResponse{}, nil
}

// Our Client registers with, loads from and reports to a
// DeviceManagerService built on KubeEdge's generated code.
func TestOurClientTalksToEdgeCoreStubs(t *testing.T) {
	kedev, kemodel := userObjects(t)
	edge := &edgeCore{device: kedev, model: kemodel}
	path := socketPath(t, "dmi.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	kepb.RegisterDeviceManagerServiceServer(gs, edge)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)

	reg := newRegistry()
	c, err := dmi.NewClient(dmi.ClientConfig{
		Socket: path, Address: "/etc/kubeedge/tinymapper.sock", Version: "0.1.0", Protocols: []string{"i2c", "spi"},
	}, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	waitFor(t, "the device to load", func() bool { _, ok := reg.device("plant/thermo-1"); return ok })
	edge.mu.Lock()
	for _, r := range edge.registers {
		m := r.GetMapper()
		if !r.GetWithData() || m.GetName() != "tinymapper-"+m.GetProtocol() || string(m.GetAddress()) != "/etc/kubeedge/tinymapper.sock" || m.GetApiVersion() != "v1beta1" {
			t.Errorf("registration %v", r)
		}
	}
	edge.mu.Unlock()

	at := time.UnixMilli(1700000000000)
	err = c.ReportStatus(ctx, "plant", "thermo-1", []device.Twin{
		{Property: "temperature", Reported: "21.5", Type: device.TypeFloat, Time: at},
		{Property: "alert", Reported: "false", ObservedDesired: "false", Type: device.TypeBoolean, Time: at},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ReportState(ctx, "plant", "thermo-1", device.StateOnline); err != nil {
		t.Fatal(err)
	}
	edge.mu.Lock()
	defer edge.mu.Unlock()
	if len(edge.statuses) != 1 || len(edge.states) != 1 {
		t.Fatalf("%d status and %d state calls, want 1 each", len(edge.statuses), len(edge.states))
	}
	st := edge.statuses[0]
	twins := st.GetReportedDevice().GetTwins()
	if st.GetDeviceName() != "thermo-1" || st.GetDeviceNamespace() != "plant" || !st.GetReportedDevice().GetReportToCloud() || len(twins) != 2 {
		t.Fatalf("status = %v", st)
	}
	for _, tw := range twins {
		// EdgeCore reads both sides without nil checks.
		if tw.ObservedDesired == nil || tw.Reported == nil || tw.Reported.Metadata["timestamp"] != "1700000000000" {
			t.Errorf("twin = %v", tw)
		}
	}
	if twins[0].Reported.Value != "21.5" || twins[0].Reported.Metadata["type"] != "float" || twins[1].Reported.Metadata["type"] != "boolean" {
		t.Errorf("twins = %v", twins)
	}
	if s := edge.states[0]; s.GetState() != "online" || s.GetDeviceName() != "thermo-1" || s.GetDeviceNamespace() != "plant" {
		t.Errorf("state = %v", s)
	}
}
