package dmi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
	"github.com/tinymapper/tinymapper/internal/await"
)

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
	// The client's registration, not only EdgeCore's: a report that fails
	// while the client is still taking the answers is news from before it.
	await.Until(t, "registration", func() bool { return c.Registered() })

	err := c.ReportStatus(context.Background(), "plant", "thermo", []device.Twin{{Property: "t", Reported: "1", Type: device.TypeInt}})
	if status.Code(errors.Unwrap(err)) != codes.Unavailable {
		t.Fatalf("ReportStatus = %v, want Unavailable", err)
	}
	await.Until(t, "registration again", func() bool { return edge.registered() == 4 })
}

// A report that finds EdgeCore unavailable once registration has succeeded
// is kept for watch, even when Run has not started watching yet: it used to
// be drained as stale news there, and the client never registered again.
func TestAReportFailingRightAfterRegistrationIsNotLost(t *testing.T) {
	sock := filepath.Join(socketDir(t), "dmi.sock")
	edge := &fakeEdgeCore{answer: func(string) error { return status.Error(codes.Unavailable, "device twin module is restarting") }}
	edge.start(t, sock)
	c := newTestClient(t, ClientConfig{Socket: sock}, newFakeRegistry(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	outage := false
	if err := c.registerAll(ctx, &outage); err != nil {
		t.Fatal(err)
	}
	err := c.ReportStatus(ctx, "plant", "thermo", []device.Twin{{Property: "t", Reported: "1", Type: device.TypeInt}})
	if status.Code(errors.Unwrap(err)) != codes.Unavailable {
		t.Fatalf("ReportStatus = %v, want Unavailable", err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
	defer wcancel()
	if err := c.watch(wctx); err != nil {
		t.Fatalf("watch = %v; want nil (EdgeCore lost): the report's news was dropped", err)
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
