package dmi

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

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
