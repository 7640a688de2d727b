package dmi

import (
	"context"
	"errors"
	"fmt"
	"github.com/tinymapper/tinymapper/internal/await"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// fakeEdgeCore is an in-test DeviceManagerService. It answers MapperRegister
// with data[protocol] and records every request, except status reports when
// forget is set. answer, when set, decides the reply to reports.
type fakeEdgeCore struct {
	pb.UnimplementedDeviceManagerServiceServer
	data   map[string]*pb.MapperRegisterResponse
	forget bool

	mu        sync.Mutex
	registers []*pb.MapperRegisterRequest
	statuses  []*pb.ReportDeviceStatusRequest
	states    []*pb.ReportDeviceStatesRequest
	answer    func(deviceName string) error
	// onRegister, when set, may fail a registration (after counting it).
	onRegister func(protocol string) error
}

func (f *fakeEdgeCore) MapperRegister(_ context.Context, in *pb.MapperRegisterRequest) (*pb.MapperRegisterResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registers = append(f.registers, proto.Clone(in).(*pb.MapperRegisterRequest))
	if f.onRegister != nil {
		if err := f.onRegister(in.GetMapper().GetProtocol()); err != nil {
			return nil, err
		}
	}
	if resp, ok := f.data[in.GetMapper().GetProtocol()]; ok {
		return resp, nil
	}
	return &pb.MapperRegisterResponse{}, nil
}

func (f *fakeEdgeCore) ReportDeviceStatus(_ context.Context, in *pb.ReportDeviceStatusRequest) (*pb.ReportDeviceStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.answer != nil {
		if err := f.answer(in.GetDeviceName()); err != nil {
			return nil, err
		}
	}
	if !f.forget {
		f.statuses = append(f.statuses, proto.Clone(in).(*pb.ReportDeviceStatusRequest))
	}
	return &pb.ReportDeviceStatusResponse{}, nil
}

func (f *fakeEdgeCore) ReportDeviceStates(_ context.Context, in *pb.ReportDeviceStatesRequest) (*pb.ReportDeviceStatesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.answer != nil {
		if err := f.answer(in.GetDeviceName()); err != nil {
			return nil, err
		}
	}
	f.states = append(f.states, proto.Clone(in).(*pb.ReportDeviceStatesRequest))
	return &pb.ReportDeviceStatesResponse{}, nil
}

func (f *fakeEdgeCore) registered() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.registers)
}

// start serves f on path until stop is called or the test ends.
func (f *fakeEdgeCore) start(t testing.TB, path string) (stop func()) {
	t.Helper()
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	pb.RegisterDeviceManagerServiceServer(gs, f)
	done := make(chan struct{})
	go func() {
		gs.Serve(lis)
		close(done)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			gs.Stop()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// edgeCoreTooBusy is what EdgeCore answers when its rate limiter is empty.
func edgeCoreTooBusy(name string) error {
	return fmt.Errorf("fail to report device status because of too many request: %s", name)
}

// newTestClient returns a Client for EdgeCore at socket that retries quickly
// and logs into log (when not nil).
func newTestClient(t testing.TB, cfg ClientConfig, reg Registry, log *syncBuffer) *Client {
	t.Helper()
	if log != nil {
		cfg.Log = slog.New(slog.NewTextHandler(log, nil))
	}
	if cfg.Address == "" {
		cfg.Address = "/run/tinymapper.sock"
	}
	if cfg.Protocols == nil {
		cfg.Protocols = []string{"i2c", "spi"}
	}
	c, err := NewClient(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	c.retryMin, c.retryMax = 10*time.Millisecond, 50*time.Millisecond
	t.Cleanup(func() { c.Close() })
	return c
}

// run runs c until the test ends.
func run(t testing.TB, c *Client) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestClientRegistersEveryProtocolAndLoadsItsData(t *testing.T) {
	sock := filepath.Join(socketDir(t), "dmi.sock")
	broken := thermometer(t, "broken")
	broken.Spec.Protocol = nil
	edge := &fakeEdgeCore{data: map[string]*pb.MapperRegisterResponse{
		"i2c": {ModelList: []*pb.DeviceModel{tmp102Model()}, DeviceList: []*pb.Device{broken, thermometer(t, "thermo")}},
	}}
	edge.start(t, sock)
	reg := newFakeRegistry()
	srv := NewServer(reg, nil)
	var log syncBuffer
	c := newTestClient(t, ClientConfig{Socket: sock, Version: "1.2.3", Server: srv}, reg, &log)
	run(t, c)

	await.Until(t, "registration", func() bool { return log.count("registered with EdgeCore") == 1 })
	edge.mu.Lock()
	registers := edge.registers
	edge.mu.Unlock()
	if len(registers) != 2 {
		t.Fatalf("%d registrations, want one per protocol", len(registers))
	}
	for i, protocol := range []string{"i2c", "spi"} {
		want := &pb.MapperRegisterRequest{WithData: true, Mapper: &pb.MapperInfo{
			Name: "tinymapper-" + protocol, Version: "1.2.3", ApiVersion: "v1beta1",
			Protocol: protocol, Address: []byte("/run/tinymapper.sock"), State: "OK",
		}}
		if !proto.Equal(registers[i], want) {
			t.Errorf("registration %d = %v\nwant %v", i, registers[i], want)
		}
	}
	if _, ok := reg.model("plant/tmp102"); !ok {
		t.Error("model not loaded")
	}
	if _, ok := reg.device("plant/thermo"); !ok {
		t.Error("device not loaded")
	}
	if log.count("rejected device from EdgeCore") != 1 || log.count("device.spec.protocol") != 1 {
		t.Errorf("the broken device was not logged:\n%s", log.String())
	}
	resp, err := mapperService{s: srv}.GetDevice(context.Background(), &pb.GetDeviceRequest{DeviceName: "thermo", DeviceNamespace: "plant"})
	if err != nil || resp.GetDevice().GetSpec().GetDeviceModelReference() != "tmp102" {
		t.Errorf("the Server does not know the loaded device: %v, %v", resp, err)
	}
	// A healthy connection is not registered again.
	time.Sleep(100 * time.Millisecond)
	if n := edge.registered(); n != 2 {
		t.Errorf("%d registrations on a healthy connection, want 2", n)
	}
}

func TestClientWaitsForEdgeCoreAndLogsTheOutageOnce(t *testing.T) {
	sock := filepath.Join(socketDir(t), "dmi.sock")
	var log syncBuffer
	c := newTestClient(t, ClientConfig{Socket: sock}, newFakeRegistry(), &log)
	run(t, c)

	await.Until(t, "the first failure", func() bool { return log.count("cannot register with EdgeCore") > 0 })
	time.Sleep(200 * time.Millisecond) // several more tries at 10-50 ms
	edge := &fakeEdgeCore{}
	edge.start(t, sock)

	await.Until(t, "registration", func() bool { return log.count("registered with EdgeCore") == 1 })
	if n := log.count("cannot register with EdgeCore"); n != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", n, log.String())
	}
	if n := edge.registered(); n != 2 {
		t.Errorf("%d registrations, want 2", n)
	}
}

func TestClientRegistersAgainWhenEdgeCoreRestarts(t *testing.T) {
	sock := filepath.Join(socketDir(t), "dmi.sock")
	first := &fakeEdgeCore{}
	stop := first.start(t, sock)
	var log syncBuffer
	c := newTestClient(t, ClientConfig{Socket: sock}, newFakeRegistry(), &log)
	run(t, c)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client log:\n%s", log.String())
		}
	})
	// Wait until the client has the answers, not only until the server saw
	// the requests: an answer lost in the stop below is a different case.
	await.Until(t, "registration", func() bool { return log.count("registered with EdgeCore") == 1 })

	stop()
	second := &fakeEdgeCore{}
	second.start(t, sock)
	await.Until(t, "registration with the restarted EdgeCore", func() bool { return second.registered() == 2 })
	await.Until(t, "the success to be logged", func() bool { return log.count("registered with EdgeCore") == 2 })
	if n := log.count("lost EdgeCore"); n != 1 {
		t.Errorf("loss logged %d times, want once:\n%s", n, log.String())
	}
}

func TestClientRegistersAgainWhenAReportFindsEdgeCoreUnavailable(t *testing.T) {
	sock := filepath.Join(socketDir(t), "dmi.sock")
	edge := &fakeEdgeCore{answer: func(string) error { return status.Error(codes.Unavailable, "device twin module is restarting") }}
	edge.start(t, sock)
	c := newTestClient(t, ClientConfig{Socket: sock}, newFakeRegistry(), nil)
	run(t, c)
	await.Until(t, "registration", func() bool { return edge.registered() == 2 })

	err := c.ReportStatus(context.Background(), "plant", "thermo", []device.Twin{{Property: "t", Reported: "1", Type: device.TypeInt}})
	if status.Code(errors.Unwrap(err)) != codes.Unavailable {
		t.Fatalf("ReportStatus = %v, want Unavailable", err)
	}
	await.Until(t, "registration again", func() bool { return edge.registered() == 4 })
}

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

func TestNewClientChecksItsConfig(t *testing.T) {
	reg := newFakeRegistry()
	tests := []struct {
		name string
		cfg  ClientConfig
		reg  Registry
	}{
		{"no address", ClientConfig{Protocols: []string{"i2c"}}, reg},
		{"no protocols", ClientConfig{Address: "/run/t.sock"}, reg},
		{"empty protocol", ClientConfig{Address: "/run/t.sock", Protocols: []string{"i2c", ""}}, reg},
		{"no registry", ClientConfig{Address: "/run/t.sock", Protocols: []string{"i2c"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := NewClient(tt.cfg, tt.reg); err == nil {
				c.Close()
				t.Fatal("accepted")
			}
		})
	}
	c, err := NewClient(ClientConfig{Address: "/run/t.sock", Protocols: []string{"gpio"}}, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.cfg.Socket != DefaultEdgeCoreSocket || c.mappers["gpio"].GetName() != "tinymapper-gpio" {
		t.Errorf("defaults not applied: socket %q, mapper %v", c.cfg.Socket, c.mappers["gpio"])
	}
}

func BenchmarkReportStatus(b *testing.B) {
	sock := filepath.Join(socketDir(b), "dmi.sock")
	edge := &fakeEdgeCore{forget: true}
	edge.start(b, sock)
	c := newTestClient(b, ClientConfig{Socket: sock}, newFakeRegistry(), nil)
	ctx := context.Background()
	at := time.Now()
	twins := []device.Twin{
		{Property: "temperature", Reported: "21.5", Type: device.TypeFloat, Time: at},
		{Property: "alert", Reported: "false", ObservedDesired: "false", Type: device.TypeBoolean, Time: at},
		{Property: "count", Reported: "7", Type: device.TypeInt, Time: at},
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.ReportStatus(ctx, "plant", "thermo", twins); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeConfig(b *testing.B) {
	data := thermometer(b, "thermo").GetSpec().GetProtocol().GetConfigData().GetData()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeConfig("spec.protocol.configData", data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRegistrationDropsDevicesEdgeCoreNoLongerHas(t *testing.T) {
	sock := filepath.Join(socketDir(t), "dmi.sock")
	reg := newFakeRegistry()
	// Known from before EdgeCore went away: one still in EdgeCore's list, one
	// deleted meanwhile, and one of another protocol, which this list does
	// not speak for.
	for _, d := range []device.Device{
		{Namespace: "plant", Name: "thermo", Protocol: "i2c"},
		{Namespace: "plant", Name: "deleted", Protocol: "i2c"},
		{Namespace: "plant", Name: "adc", Protocol: "spi-other"},
	} {
		if err := reg.PutDevice(d); err != nil {
			t.Fatal(err)
		}
	}
	edge := &fakeEdgeCore{data: map[string]*pb.MapperRegisterResponse{
		"i2c": {ModelList: []*pb.DeviceModel{tmp102Model()}, DeviceList: []*pb.Device{thermometer(t, "thermo")}},
	}}
	edge.start(t, sock)
	var log syncBuffer
	c := newTestClient(t, ClientConfig{Socket: sock, Server: NewServer(reg, nil)}, reg, &log)
	run(t, c)
	await.Until(t, "registration", func() bool { return log.count("registered with EdgeCore") == 1 })
	if _, ok := reg.device("plant/deleted"); ok {
		t.Error("a device EdgeCore no longer lists is still running")
	}
	for _, key := range []string{"plant/thermo", "plant/adc"} {
		if _, ok := reg.device(key); !ok {
			t.Errorf("%s was dropped; only the protocol's missing devices may be", key)
		}
	}
	if log.count("dropped a device EdgeCore no longer has") != 1 {
		t.Errorf("the drop was not logged once:\n%s", log.String())
	}
}

func TestARestartDuringRegistrationRegistersEveryProtocolAgain(t *testing.T) {
	// EdgeCore answers i2c, then goes away before answering spi: the
	// retry must register i2c again too, with the EdgeCore that came back.
	sock := filepath.Join(socketDir(t), "dmi.sock")
	first := &fakeEdgeCore{}
	stop := first.start(t, sock)
	restarted := make(chan *fakeEdgeCore, 1)
	var restart sync.Once // the client may try spi again before the first EdgeCore is gone
	first.onRegister = func(protocol string) error {
		if protocol != "spi" {
			return nil
		}
		restart.Do(func() {
			go func() {
				stop()
				second := &fakeEdgeCore{}
				second.start(t, sock)
				restarted <- second
			}()
		})
		return status.Error(codes.Unavailable, "going away")
	}
	var log syncBuffer
	c := newTestClient(t, ClientConfig{Socket: sock}, newFakeRegistry(), &log)
	run(t, c)
	second := <-restarted
	await.Until(t, "both protocols registered with the new EdgeCore", func() bool { return second.registered() == 2 })
}

func TestAFailureBeforeAnySuccessRetriesOnlyWhatIsLeft(t *testing.T) {
	// The first protocol of a round fails as a connection that is not ready
	// yet fails (Unavailable, at once); the round stops there, and the next
	// registers each protocol once. A round that went on would register spi,
	// then register it again to be sure EdgeCore had not restarted.
	sock := filepath.Join(socketDir(t), "dmi.sock")
	edge := &fakeEdgeCore{}
	var once sync.Once
	edge.onRegister = func(protocol string) error {
		var err error
		once.Do(func() { err = status.Error(codes.Unavailable, "connection not ready") })
		return err
	}
	edge.start(t, sock)
	var log syncBuffer
	c := newTestClient(t, ClientConfig{Socket: sock}, newFakeRegistry(), &log)
	run(t, c)
	await.Until(t, "registration", func() bool { return log.count("registered with EdgeCore") == 1 })
	edge.mu.Lock()
	defer edge.mu.Unlock()
	per := map[string]int{}
	for _, r := range edge.registers {
		per[r.GetMapper().GetProtocol()]++
	}
	if per["i2c"] != 2 || per["spi"] != 1 {
		t.Errorf("registrations per protocol %v; want i2c twice (failed, then registered) and spi once", per)
	}
}

// countingDriver is an i2c driver whose points read 0; it counts opens.
type countingDriver struct{ opens, closes atomic.Int32 }

func (d *countingDriver) Protocol() string { return "i2c" }

func (d *countingDriver) Open(cfg bus.DeviceConfig) (bus.Device, error) {
	d.opens.Add(1)
	dev := &countingDevice{d: d}
	for range cfg.Properties {
		dev.points = append(dev.points, zeroPoint{})
	}
	return dev, nil
}

type countingDevice struct {
	d      *countingDriver
	points []bus.Point
}

func (c *countingDevice) Bus() string         { return "i2c:test" }
func (c *countingDevice) Points() []bus.Point { return c.points }
func (c *countingDevice) Close() error        { c.d.closes.Add(1); return nil }

type zeroPoint struct{}

func (zeroPoint) Read() (float64, error) { return 0, nil }

func TestRegistrationAgainWithTheSameDataReopensNothing(t *testing.T) {
	sock := filepath.Join(socketDir(t), "dmi.sock")
	// EdgeCore lists the model once per device of it.
	data := map[string]*pb.MapperRegisterResponse{"i2c": {
		ModelList:  []*pb.DeviceModel{tmp102Model(), tmp102Model()},
		DeviceList: []*pb.Device{thermometer(t, "a"), thermometer(t, "b")},
	}}
	first := &fakeEdgeCore{data: data}
	stop := first.start(t, sock)
	drv := &countingDriver{}
	mgr := device.NewManager(device.Options{}, drv)
	ctx, cancel := context.WithCancel(context.Background())
	managed := make(chan struct{})
	go func() { mgr.Run(ctx); close(managed) }()
	t.Cleanup(func() { cancel(); <-managed })
	var log syncBuffer
	c := newTestClient(t, ClientConfig{Socket: sock, Protocols: []string{"i2c"}, Server: NewServer(mgr, nil)}, mgr, &log)
	run(t, c)
	await.Until(t, "registration", func() bool { return log.count("registered with EdgeCore") == 1 })
	if n := drv.opens.Load(); n != 2 {
		t.Fatalf("%d opens after the first registration; want 2", n)
	}

	stop()
	second := &fakeEdgeCore{data: data}
	second.start(t, sock)
	await.Until(t, "registration with the restarted EdgeCore", func() bool { return log.count("registered with EdgeCore") == 2 })
	if o, cl := drv.opens.Load(), drv.closes.Load(); o != 2 || cl != 0 {
		t.Errorf("opens %d closes %d after registering again with the same devices; want 2 and 0", o, cl)
	}
}

// TestTheRegisteredAddressIsAbsolute: EdgeCore dials MapperInfo.address from
// its own working directory.
func TestTheRegisteredAddressIsAbsolute(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ address, want string }{
		{"/run/tinymapper.sock", "/run/tinymapper.sock"},
		{"tinymapper.sock", filepath.Join(wd, "tinymapper.sock")},
		{"./run/../kubeedge/tinymapper.sock", filepath.Join(wd, "kubeedge", "tinymapper.sock")},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			sock := filepath.Join(socketDir(t), "dmi.sock")
			edge := &fakeEdgeCore{}
			edge.start(t, sock)
			c := newTestClient(t, ClientConfig{Socket: sock, Address: tt.address, Protocols: []string{"i2c"}}, newFakeRegistry(), nil)
			if err := c.Register(context.Background(), "i2c"); err != nil {
				t.Fatal(err)
			}
			edge.mu.Lock()
			got := string(edge.registers[0].GetMapper().GetAddress())
			edge.mu.Unlock()
			if got != tt.want {
				t.Errorf("registered address %q; want %q", got, tt.want)
			}
		})
	}
}

func TestRegisteredOnceEveryProtocolIsRegistered(t *testing.T) {
	sock := filepath.Join(socketDir(t), "dmi.sock")
	var log syncBuffer
	c := newTestClient(t, ClientConfig{Socket: sock}, newFakeRegistry(), &log)
	run(t, c)
	await.Until(t, "a failed registration", func() bool { return log.count("cannot register with EdgeCore") > 0 })
	if c.Registered() {
		t.Fatal("Registered before EdgeCore answered")
	}
	// spi fails once more after i2c succeeded: not registered yet then.
	var mu sync.Mutex
	failSPI, registeredThen := true, true
	edge := &fakeEdgeCore{onRegister: func(protocol string) error {
		mu.Lock()
		defer mu.Unlock()
		if protocol == "spi" && failSPI {
			failSPI, registeredThen = false, c.Registered()
			return edgeCoreTooBusy("tinymapper-spi")
		}
		return nil
	}}
	stop := edge.start(t, sock)
	await.Until(t, "registration", func() bool { return log.count("registered with EdgeCore") == 1 })
	if !c.Registered() {
		t.Fatal("not Registered after every protocol registered")
	}
	mu.Lock()
	if registeredThen {
		t.Error("Registered while spi was not")
	}
	mu.Unlock()
	stop()
	await.Until(t, "the loss", func() bool { return log.count("lost EdgeCore") == 1 })
	if !c.Registered() {
		t.Error("not Registered while EdgeCore is away; the devices it gave keep running")
	}
}
