package dmi

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
	"github.com/tinymapper/tinymapper/internal/await"
)

// TestAnUpdateDuringRegistrationIsNotUndoneByTheAnswer replays issue 10's
// defect 1 deterministically: EdgeCore builds its MapperRegister answer
// (setpoint desired 42), then sends an UpdateDevice (desired 77) that the
// mapper applies before it applies the answer. The answer is older: the
// device must stay at 77, in the manager, on the bus and in GetDevice.
func TestAnUpdateDuringRegistrationIsNotUndoneByTheAnswer(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "first start"
		if restart {
			name = "EdgeCore restarted"
		}
		t.Run(name, func(t *testing.T) {
			sock := filepath.Join(socketDir(t), "dmi.sock")
			drv := &writeRecorder{}
			mgr := device.NewManager(device.Options{}, drv)
			ctx, cancel := context.WithCancel(context.Background())
			managed := make(chan struct{})
			go func() { mgr.Run(ctx); close(managed) }()
			t.Cleanup(func() { cancel(); <-managed })
			srv := NewServer(mgr, nil)
			if restart {
				if _, err := srv.putModel(setpointModel()); err != nil {
					t.Fatal(err)
				}
				if _, err := srv.putDevice(setpointDevice(t, "10")); err != nil {
					t.Fatal(err)
				}
			}
			answer := &pb.MapperRegisterResponse{
				ModelList:  []*pb.DeviceModel{setpointModel()},
				DeviceList: []*pb.Device{setpointDevice(t, "42")},
			}
			ec := &fakeEdgeCore{data: map[string]*pb.MapperRegisterResponse{"i2c": answer}}
			var updateErr error
			ec.onRegister = func(string) error {
				// The answer is built; the update overtakes it.
				api := mapperService{s: srv}
				if _, err := api.CreateDeviceModel(ctx, &pb.CreateDeviceModelRequest{Model: setpointModel()}); err != nil {
					updateErr = err
				}
				if _, err := api.UpdateDevice(ctx, &pb.UpdateDeviceRequest{Device: setpointDevice(t, "77")}); err != nil {
					updateErr = err
				}
				return nil
			}
			ec.start(t, sock)
			var log syncBuffer
			c := newTestClient(t, ClientConfig{Socket: sock, Protocols: []string{"i2c"}, Server: srv}, mgr, &log)
			run(t, c)
			await.Until(t, "registration", func() bool { return log.count("registered with EdgeCore") == 1 })
			if updateErr != nil {
				t.Fatalf("UpdateDevice: %v", updateErr)
			}
			p, ok := mgr.Property("plant", "fan", "setpoint")
			if !ok || p.Desired != "77" {
				t.Errorf("manager: desired %q (found %v); want 77", p.Desired, ok)
			}
			// Writes run in order on the bus worker: one more, waited for,
			// comes after every write the registration queued.
			if err := mgr.SetDesired("plant", "fan", "setpoint", "77"); err != nil {
				t.Fatal(err)
			}
			if w := drv.all(); len(w) < 2 || w[len(w)-2] != "77" {
				t.Errorf("writes %q; want 77 last before the check's own", w)
			}
			d, ok := srv.getDevice("plant", "fan")
			if !ok || d.GetSpec().GetProperties()[0].GetDesired().GetValue() != "77" {
				t.Errorf("GetDevice: desired %q; want 77", d.GetSpec().GetProperties()[0].GetDesired().GetValue())
			}
		})
	}
}

func setpointModel() *pb.DeviceModel {
	return &pb.DeviceModel{Name: "fan", Namespace: "plant", Spec: &pb.DeviceModelSpec{Properties: []*pb.ModelProperty{
		{Name: "setpoint", Type: "INT", AccessMode: "ReadWrite"},
	}}}
}

func setpointDevice(t testing.TB, desired string) *pb.Device {
	d := thermometer(t, "fan")
	d.Spec.DeviceModelReference = "fan"
	p := d.Spec.Properties[0]
	p.Name = "setpoint"
	p.Desired = &pb.TwinProperty{Value: desired}
	return proto.Clone(d).(*pb.Device)
}

// writeRecorder is an i2c driver whose points keep what is written to them.
type writeRecorder struct {
	mu     sync.Mutex
	writes []string
}

func (d *writeRecorder) Protocol() string { return "i2c" }

func (d *writeRecorder) Open(cfg bus.DeviceConfig) (bus.Device, error) {
	dev := &countingDevice{d: &countingDriver{}}
	for range cfg.Properties {
		dev.points = append(dev.points, recordingPoint{d})
	}
	return dev, nil
}

func (d *writeRecorder) all() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.writes...)
}

type recordingPoint struct{ d *writeRecorder }

func (recordingPoint) Read() (float64, error) { return 0, nil }

func (p recordingPoint) Write(v float64) error {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	p.d.writes = append(p.d.writes, strconv.FormatFloat(v, 'g', -1, 64))
	return nil
}
