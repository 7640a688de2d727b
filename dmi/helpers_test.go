package dmi

import (
	"bytes"
	"errors"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// fakeRegistry records what it is given. PutDevice fails with putErr when it
// is set.
type fakeRegistry struct {
	mu      sync.Mutex
	models  map[string]device.Model
	devices map[string]device.Device
	twins   map[string][]device.Twin
	putErr  error
	stamps  atomic.Uint64
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{
		models:  make(map[string]device.Model),
		devices: make(map[string]device.Device),
		twins:   make(map[string][]device.Twin),
	}
}

func (r *fakeRegistry) PutModel(m device.Model) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.models[device.Key(m.Namespace, m.Name)] = m
	return nil
}

func (r *fakeRegistry) RemoveModel(namespace, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.models, device.Key(namespace, name))
	return nil
}

func (r *fakeRegistry) PutDevice(d device.Device) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.putErr != nil {
		return r.putErr
	}
	r.devices[device.Key(d.Namespace, d.Name)] = d
	return nil
}

func (r *fakeRegistry) RemoveDevice(namespace, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.devices, device.Key(namespace, name))
	return nil
}

func (r *fakeRegistry) RemoveDeviceAsOf(namespace, name string, _ uint64) error {
	return r.RemoveDevice(namespace, name)
}

func (r *fakeRegistry) Stamp() uint64 { return r.stamps.Add(1) }

func (r *fakeRegistry) Twins(namespace, name string) ([]device.Twin, string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.devices[device.Key(namespace, name)]; !ok {
		return nil, "", false
	}
	return r.twins[device.Key(namespace, name)], device.StateOnline, true
}

func (r *fakeRegistry) DeviceKeys(protocol string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for key, d := range r.devices {
		if d.Protocol == protocol {
			out = append(out, key)
		}
	}
	sort.Strings(out)
	return out
}

func (r *fakeRegistry) device(key string) (device.Device, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.devices[key]
	return d, ok
}

func (r *fakeRegistry) model(key string) (device.Model, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.models[key]
	return m, ok
}

// socketDir returns a directory short enough for unix socket paths.
func socketDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// dial returns a connection to the unix socket at path.
func dial(t testing.TB, path string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("unix:"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// anyOf wraps a wrapperspb value the way EdgeCore does.
func anyOf(t testing.TB, v any) *anypb.Any {
	t.Helper()
	var a *anypb.Any
	var err error
	switch v := v.(type) {
	case string:
		a, err = anypb.New(wrapperspb.String(v))
	case bool:
		a, err = anypb.New(wrapperspb.Bool(v))
	case float32:
		a, err = anypb.New(wrapperspb.Float(v))
	case float64:
		a, err = anypb.New(wrapperspb.Double(v))
	case int32:
		a, err = anypb.New(wrapperspb.Int32(v))
	case int64:
		a, err = anypb.New(wrapperspb.Int64(v))
	case uint32:
		a, err = anypb.New(wrapperspb.UInt32(v))
	case uint64:
		a, err = anypb.New(wrapperspb.UInt64(v))
	default:
		t.Fatalf("anyOf: unsupported %T", v)
	}
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// thermometer returns a Device as EdgeCore would send it: a TMP102-style
// sensor on I²C bus 1 at 0x48, with one property.
func thermometer(t testing.TB, name string) *pb.Device {
	return &pb.Device{
		Name:      name,
		Namespace: "plant",
		Spec: &pb.DeviceSpec{
			DeviceModelReference: "tmp102",
			Protocol: &pb.ProtocolConfig{
				ProtocolName: "i2c",
				ConfigData: &pb.CustomizedValue{Data: map[string]*anypb.Any{
					"bus":     anyOf(t, "1"),
					"address": anyOf(t, float32(72)),
				}},
			},
			Properties: []*pb.DeviceProperty{{
				Name:          "temperature",
				Desired:       &pb.TwinProperty{Value: ""},
				CollectCycle:  500,
				ReportCycle:   10000,
				ReportToCloud: true,
				Visitors: &pb.VisitorConfig{
					ProtocolName: "i2c",
					ConfigData: &pb.CustomizedValue{Data: map[string]*anypb.Any{
						"register": anyOf(t, float32(0)),
						"dataType": anyOf(t, "int16"),
						"scale":    anyOf(t, float32(0.0625)),
					}},
				},
			}},
		},
		Status: &pb.DeviceStatus{ReportToCloud: true, ReportCycle: 10000},
	}
}

// tmp102Model is the model thermometer devices refer to.
func tmp102Model() *pb.DeviceModel {
	return &pb.DeviceModel{
		Name:      "tmp102",
		Namespace: "plant",
		Spec: &pb.DeviceModelSpec{Properties: []*pb.ModelProperty{
			{Name: "temperature", Type: "FLOAT", AccessMode: "ReadOnly", Unit: "Cel"},
		}},
	}
}

// fieldOf returns the field a *bus.FieldError in err's chain names.
func fieldOf(err error) string {
	var fe *bus.FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

// syncBuffer is a bytes.Buffer a logger may write while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// count returns how many logged lines contain s.
func (b *syncBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
