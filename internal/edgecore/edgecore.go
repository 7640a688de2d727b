// Package edgecore is a stand-in for KubeEdge EdgeCore's side of DMI, for
// tests and benchmarks: it serves DeviceManagerService on a unix socket with
// EdgeCore's rate limiter (one token bucket, 1 request/s, burst 100, for every
// call from every mapper), checks twins the way EdgeCore's device twin module
// does, records what mappers send, and calls a registered mapper's
// DeviceMapperService the way EdgeCore does when Devices change in the cloud.
package edgecore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// EdgeCore's limiter for DMI calls (edge/pkg/devicetwin/dmiserver).
const (
	Limit = rate.Limit(1) // per second
	Burst = 100
)

// Options configure a Stub.
type Options struct {
	// Unlimited turns the rate limiter off, as a patched EdgeCore would.
	Unlimited bool
	// Models and Devices are what MapperRegister returns with withData
	// (devices filtered by the mapper's protocol, as EdgeCore does).
	Models  []*pb.DeviceModel
	Devices []*pb.Device
	// OnReport, when set, is called for every accepted ReportDeviceStatus
	// with the twins it delivered, in the order the stand-in accepted them.
	// It is called with the stand-in's lock held: it must not call the Stub,
	// and should be quick. The slice is reused after the call.
	OnReport func(device string, twins []Delivery)
}

// Delivery is one twin the stand-in accepted.
type Delivery struct {
	Property, Value string
	// SampleTime is reported.metadata["timestamp"] (unix milliseconds);
	// zero when absent or not a number.
	SampleTime time.Time
	// At is when the stand-in accepted it.
	At time.Time
}

// maxLatencies bounds the latencies kept between two Marks (8 MiB).
const maxLatencies = 1 << 20

// Twin is the last value EdgeCore accepted for one property.
type Twin struct {
	Reported, ObservedDesired string
	At                        time.Time
}

// Stub is the stand-in. Its methods are safe for concurrent use.
type Stub struct {
	pb.UnimplementedDeviceManagerServiceServer
	opts    Options
	limiter *rate.Limiter
	srv     *grpc.Server
	sock    string

	mu          sync.Mutex
	refusing    bool                      // see Refuse
	mappers     map[string]*pb.MapperInfo // by protocol
	registers   int
	unreachable []string // see Unreachable
	rejected    int
	reports     int
	twinUpdates int
	invalid     []string
	twins       map[string]map[string]Twin // device key -> property -> twin
	states      map[string][]string
	types       map[string]map[string]string // device key -> property -> lower-case type
	order       []string                     // device keys in report order

	// The measurement window: see Mark and Window.
	markAt     time.Time
	markCounts Counts
	latencies  []time.Duration // sample→twin of twins accepted since markAt
	latDropped int
	deliveries []Delivery // scratch for OnReport
}

// Start serves the stand-in on sock.
func Start(sock string, opts Options) (*Stub, error) {
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	s := &Stub{opts: opts, sock: sock, srv: grpc.NewServer(),
		mappers: map[string]*pb.MapperInfo{}, twins: map[string]map[string]Twin{},
		states: map[string][]string{}, types: map[string]map[string]string{}, markAt: time.Now()}
	s.limiter = rate.NewLimiter(Limit, Burst)
	if opts.Unlimited {
		s.limiter = rate.NewLimiter(rate.Inf, 0)
	}
	for _, d := range opts.Devices {
		s.learnTypes(d, opts.Models)
	}
	pb.RegisterDeviceManagerServiceServer(s.srv, s)
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops serving.
func (s *Stub) Close() {
	s.srv.Stop()
	os.Remove(s.sock)
}

func key(ns, name string) string {
	if ns == "" {
		ns = "default"
	}
	return ns + "/" + name
}

func (s *Stub) allow() bool {
	if s.limiter.Allow() {
		return true
	}
	s.mu.Lock()
	s.rejected++
	s.mu.Unlock()
	return false
}

// allowReport is allow for reports, which Refuse can turn away.
func (s *Stub) allowReport() bool {
	s.mu.Lock()
	refusing := s.refusing
	if refusing {
		s.rejected++
	}
	s.mu.Unlock()
	return !refusing && s.allow()
}

// Refuse makes the stand-in answer every report (ReportDeviceStatus and
// ReportDeviceStates) as EdgeCore does when its limiter is empty, until it is
// called with false. Refused calls count as Rejected.
func (s *Stub) Refuse(on bool) {
	s.mu.Lock()
	s.refusing = on
	s.mu.Unlock()
}

// MapperRegister implements DeviceManagerService.
func (s *Stub) MapperRegister(ctx context.Context, in *pb.MapperRegisterRequest) (*pb.MapperRegisterResponse, error) {
	if !s.allow() {
		return nil, fmt.Errorf("fail to register mapper because of too many request: %s", in.GetMapper().GetName())
	}
	if in.GetMapper().GetProtocol() == "" {
		return nil, fmt.Errorf("fail to register mapper %s because the protocol is nil", in.GetMapper().GetName())
	}
	// EdgeCore calls the mapper back at its address as soon as a Device
	// arrives, and does not retry: it must listen before it registers.
	var unreachable string
	if c, err := net.DialTimeout("unix", string(in.Mapper.GetAddress()), time.Second); err != nil {
		unreachable = in.Mapper.GetName() + ": " + err.Error()
	} else {
		c.Close()
	}
	s.mu.Lock()
	s.mappers[in.Mapper.Protocol] = in.Mapper
	s.registers++
	if unreachable != "" {
		s.unreachable = append(s.unreachable, unreachable)
	}
	s.mu.Unlock()
	out := &pb.MapperRegisterResponse{}
	if !in.WithData {
		return out, nil
	}
	for _, d := range s.opts.Devices {
		if d.GetSpec().GetProtocol().GetProtocolName() != in.Mapper.Protocol {
			continue
		}
		out.DeviceList = append(out.DeviceList, d)
		for _, m := range s.opts.Models {
			if m.Name == d.GetSpec().GetDeviceModelReference() && m.Namespace == d.Namespace {
				out.ModelList = append(out.ModelList, m)
			}
		}
	}
	return out, nil
}

var twinValue = regexp.MustCompile(`^[a-zA-Z0-9-_.,:/@#]{1,512}$`)

// validate applies EdgeCore's checks to one twin value of a declared type.
func validate(typ, v string) error {
	if !twinValue.MatchString(v) {
		return fmt.Errorf("value %q does not match the twin value pattern", v)
	}
	var err error
	switch typ {
	case "int", "integer":
		_, err = strconv.ParseInt(v, 10, 64)
	case "float", "double":
		_, err = strconv.ParseFloat(v, 64)
	case "boolean":
		if v != "true" && v != "false" {
			err = errors.New("not true or false")
		}
	}
	if err != nil {
		return fmt.Errorf("value %q is not a %s", v, typ)
	}
	return nil
}

// ReportDeviceStatus implements DeviceManagerService.
func (s *Stub) ReportDeviceStatus(ctx context.Context, in *pb.ReportDeviceStatusRequest) (*pb.ReportDeviceStatusResponse, error) {
	if !s.allowReport() {
		return nil, fmt.Errorf("fail to report device status because of too many request: %s", in.DeviceName)
	}
	if in.GetReportedDevice().GetTwins() == nil {
		return &pb.ReportDeviceStatusResponse{}, errors.New("ReportDeviceStatusRequest does not have twin data")
	}
	k := key(in.DeviceNamespace, in.DeviceName)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports++
	s.order = append(s.order, k)
	s.deliveries = s.deliveries[:0]
	if s.opts.OnReport != nil {
		defer func() { s.opts.OnReport(k, s.deliveries) }() // runs before the deferred Unlock
	}
	for _, t := range in.ReportedDevice.Twins {
		// EdgeCore dereferences both without checking.
		if t.Reported == nil || t.ObservedDesired == nil {
			return nil, fmt.Errorf("twin %s of %s: reported and observedDesired must both be set (EdgeCore would crash)", t.PropertyName, k)
		}
		typ := s.types[k][t.PropertyName]
		if typ == "" {
			typ = t.Reported.Metadata["type"]
		}
		if err := validate(typ, t.Reported.Value); err != nil {
			s.invalid = append(s.invalid, k+"/"+t.PropertyName+": "+err.Error())
			continue
		}
		if s.twins[k] == nil {
			s.twins[k] = map[string]Twin{}
		}
		now := time.Now()
		s.twins[k][t.PropertyName] = Twin{Reported: t.Reported.Value, ObservedDesired: t.ObservedDesired.Value, At: now}
		s.twinUpdates++
		s.record(t, now)
	}
	return &pb.ReportDeviceStatusResponse{}, nil
}

// ReportDeviceStates implements DeviceManagerService.
func (s *Stub) ReportDeviceStates(ctx context.Context, in *pb.ReportDeviceStatesRequest) (*pb.ReportDeviceStatesResponse, error) {
	if !s.allowReport() {
		return nil, fmt.Errorf("fail to report device states because of too many request: %s", in.DeviceName)
	}
	if in.State == "" || in.DeviceName == "" {
		return &pb.ReportDeviceStatesResponse{}, errors.New("ReportDeviceStatesRequest is invalid data")
	}
	s.mu.Lock()
	k := key(in.DeviceNamespace, in.DeviceName)
	s.states[k] = append(s.states[k], in.State)
	s.mu.Unlock()
	return &pb.ReportDeviceStatesResponse{}, nil
}

// Counts is a summary of what the stand-in saw.
type Counts struct {
	Registrations, Reports, TwinUpdates, Rejected, Invalid int
}

// Counts returns what the stand-in has seen so far.
func (s *Stub) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Counts{s.registers, s.reports, s.twinUpdates, s.rejected, len(s.invalid)}
}

// Invalid returns the twins EdgeCore would have dropped, with the reason.
func (s *Stub) Invalid() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.invalid...)
}

// Unreachable lists the registrations whose mapper address did not accept a
// connection when they arrived, with the dial error.
func (s *Stub) Unreachable() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.unreachable...)
}

// Mappers returns the registered mappers by protocol.
func (s *Stub) Mappers() map[string]*pb.MapperInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*pb.MapperInfo{}
	for k, v := range s.mappers {
		out[k] = v
	}
	return out
}

// Twin returns the last accepted twin of one property.
func (s *Stub) Twin(ns, name, property string) (Twin, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.twins[key(ns, name)][property]
	return t, ok
}

// States returns the states reported for a device, in order.
func (s *Stub) States(ns, name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.states[key(ns, name)]...)
}

// ReportsFor counts the status reports of one device.
func (s *Stub) ReportsFor(ns, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, k := range s.order {
		if k == key(ns, name) {
			n++
		}
	}
	return n
}

func (s *Stub) learnTypes(d *pb.Device, models []*pb.DeviceModel) {
	k := key(d.Namespace, d.Name)
	for _, m := range models {
		if m.Name != d.GetSpec().GetDeviceModelReference() {
			continue
		}
		types := map[string]string{}
		for _, p := range m.GetSpec().GetProperties() {
			types[p.Name] = strings.ToLower(p.Type)
		}
		s.mu.Lock()
		s.types[k] = types
		s.mu.Unlock()
	}
}

// Mapper dials the DeviceMapperService of the mapper registered for protocol,
// the way EdgeCore does when a Device changes in the cloud.
func (s *Stub) Mapper(protocol string) (pb.DeviceMapperServiceClient, func(), error) {
	s.mu.Lock()
	m := s.mappers[protocol]
	s.mu.Unlock()
	if m == nil {
		return nil, nil, fmt.Errorf("no mapper registered for %s", protocol)
	}
	conn, err := grpc.NewClient("unix:"+string(m.Address), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	return pb.NewDeviceMapperServiceClient(conn), func() { conn.Close() }, nil
}

// Deploy sends a model and a device to the mapper of the device's protocol,
// as EdgeCore does for a new Device, and remembers the model's types for the
// twin checks.
func (s *Stub) Deploy(ctx context.Context, model *pb.DeviceModel, dev *pb.Device) error {
	s.learnTypes(dev, []*pb.DeviceModel{model})
	c, done, err := s.Mapper(dev.GetSpec().GetProtocol().GetProtocolName())
	if err != nil {
		return err
	}
	defer done()
	if _, err := c.CreateDeviceModel(ctx, &pb.CreateDeviceModelRequest{Model: model}); err != nil {
		return fmt.Errorf("CreateDeviceModel: %w", err)
	}
	if _, err := c.RegisterDevice(ctx, &pb.RegisterDeviceRequest{Device: dev}); err != nil {
		return fmt.Errorf("RegisterDevice: %w", err)
	}
	return nil
}

// record keeps the sample→twin latency of an accepted twin and, when there is
// an OnReport hook, the delivery. Called with s.mu held.
func (s *Stub) record(t *pb.Twin, now time.Time) {
	var at time.Time
	if ms, err := strconv.ParseInt(t.Reported.Metadata["timestamp"], 10, 64); err == nil && ms > 0 {
		at = time.UnixMilli(ms)
		if len(s.latencies) < maxLatencies {
			s.latencies = append(s.latencies, now.Sub(at))
		} else {
			s.latDropped++
		}
	}
	if s.opts.OnReport != nil {
		s.deliveries = append(s.deliveries, Delivery{Property: t.PropertyName, Value: t.Reported.Value, SampleTime: at, At: now})
	}
}

// Window is what the stand-in saw between a Mark and a call to Window.
type Window struct {
	// Counts are the differences over the window.
	Counts
	Elapsed time.Duration
	// Latencies are now − reported.metadata["timestamp"] of every twin
	// accepted in the window, in arrival order (millisecond resolution, as
	// the timestamp is in milliseconds). At most 2^20 are kept; Dropped
	// counts the rest.
	Latencies []time.Duration
	Dropped   int
}

// Mark starts a new measurement window (Start starts the first).
func (s *Stub) Mark() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.markAt = time.Now()
	s.markCounts = Counts{s.registers, s.reports, s.twinUpdates, s.rejected, len(s.invalid)}
	s.latencies = s.latencies[:0]
	s.latDropped = 0
}

// Window returns what arrived since the last Mark, without starting a new one.
func (s *Stub) Window() Window {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.markCounts
	return Window{
		Counts: Counts{s.registers - m.Registrations, s.reports - m.Reports, s.twinUpdates - m.TwinUpdates,
			s.rejected - m.Rejected, len(s.invalid) - m.Invalid},
		Elapsed:   time.Since(s.markAt),
		Latencies: append([]time.Duration(nil), s.latencies...),
		Dropped:   s.latDropped,
	}
}
