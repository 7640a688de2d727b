package dmi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// stopGrace is how long Serve lets running calls finish when it stops.
const stopGrace = 2 * time.Second

// A Server serves DeviceMapperService, through which EdgeCore tells the
// mapper about new, changed and removed models and devices, and reads a
// device's twins back. It hands models and devices to a Registry and
// remembers the last spec the Registry accepted for each device, for
// GetDevice.
type Server struct {
	reg Registry
	log *slog.Logger

	// change serializes the calls that change the Registry, so that the
	// spec remembered for a device is the one the Registry has.
	change sync.Mutex

	mu sync.Mutex
	// specs are the accepted specs in wire form, by device.Key(namespace,
	// name): a marshalled Device is a fifth of the decoded one, and GetDevice
	// is rare.
	specs map[string][]byte

	ready     chan struct{} // closed once Serve listens
	readyOnce sync.Once
}

// NewServer returns a Server that applies what EdgeCore sends to reg. A nil
// log discards messages.
func NewServer(reg Registry, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{reg: reg, log: log, specs: make(map[string][]byte), ready: make(chan struct{})}
}

// Ready is closed once Serve listens on its socket, in place with its final
// permissions. Register with EdgeCore only then: EdgeCore calls the mapper
// back at the registered address at once, and does not retry a failed
// RegisterDevice. It is never closed when Serve fails to listen.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Serve listens on the unix socket socketPath (see Listen) and serves
// until ctx ends, as ServeListener does.
func (s *Server) Serve(ctx context.Context, socketPath string) error {
	lis, err := Listen(socketPath)
	if err != nil {
		return err
	}
	return s.ServeListener(ctx, lis, socketPath)
}

// Listen listens on the unix socket socketPath. A stale socket left at
// socketPath by an earlier run is removed first; any other file there is an
// error. The socket is made readable and writable by its owner only
// (EdgeCore runs as root). The caller must hold the instance lock: a live
// socket of another instance would be removed too.
func Listen(socketPath string) (net.Listener, error) {
	if err := removeStaleSocket(socketPath); err != nil {
		return nil, err
	}
	// Listen on a temporary name, restrict it, then move it into place, so
	// the socket is never reachable with the umask's wider permissions.
	tmp := socketPath + ".new"
	if err := removeStaleSocket(tmp); err != nil {
		return nil, err
	}
	lis, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("dmi: listen on %s: %w", socketPath, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		lis.Close()
		return nil, fmt.Errorf("dmi: restrict %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, socketPath); err != nil {
		lis.Close()
		return nil, fmt.Errorf("dmi: move %s into place: %w", socketPath, err)
	}
	// The listener must not remove the socket when closed: it was
	// renamed, and ServeListener removes socketPath itself.
	if ul, ok := lis.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	return lis, nil
}

// ServeListener serves on lis, the listener Listen returned for socketPath,
// until ctx ends, then lets running calls finish (for up to two seconds) and
// removes the socket.
func (s *Server) ServeListener(ctx context.Context, lis net.Listener, socketPath string) error {
	defer os.Remove(socketPath)
	gs := grpc.NewServer()
	pb.RegisterDeviceMapperServiceServer(gs, mapperService{s: s})

	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	s.log.Info("serving DMI", "socket", socketPath)
	// Connections are accepted from here on: the kernel queues them until
	// gs.Serve takes them.
	s.readyOnce.Do(func() { close(s.ready) })

	select {
	case err := <-served:
		return fmt.Errorf("dmi: serve %s: %w", socketPath, err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(stopGrace):
		gs.Stop()
		<-stopped
	}
	<-served
	return nil
}

// removeStaleSocket removes the socket at path, if there is one, and refuses
// to remove anything else.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dmi: check %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("dmi: %s exists and is not a socket; refusing to remove it", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("dmi: remove stale socket %s: %w", path, err)
	}
	return nil
}

// putDevice converts d, hands it to the Server's Registry and, once
// accepted, remembers its spec.
func (s *Server) putDevice(d *pb.Device) (device.Device, error) {
	return s.putDeviceInto(s.reg, d, 0)
}

// putDeviceInto is putDevice with reg in place of the Server's Registry and
// the spec stamped (0: now, see Registry.Stamp); the Client loads
// registration data through it. A stale spec is neither applied nor
// remembered.
func (s *Server) putDeviceInto(reg Registry, d *pb.Device, stamp uint64) (device.Device, error) {
	dev, err := DeviceFromProto(d)
	if err != nil {
		return device.Device{}, err
	}
	dev.Stamp = stamp
	s.change.Lock()
	defer s.change.Unlock()
	if err := reg.PutDevice(dev); err != nil {
		return device.Device{}, fmt.Errorf("device %s: %w", device.Key(dev.Namespace, dev.Name), err)
	}
	s.remember(d)
	return dev, nil
}

// remember keeps d, marshalled, as the spec GetDevice returns.
func (s *Server) remember(d *pb.Device) {
	c := proto.Clone(d).(*pb.Device)
	c.Namespace = namespaceOr(c.GetNamespace())
	c.Status = &pb.DeviceStatus{ReportToCloud: d.GetStatus().GetReportToCloud(), ReportCycle: d.GetStatus().GetReportCycle()}
	b, err := proto.Marshal(c)
	if err != nil {
		s.log.Warn("cannot keep the spec for GetDevice", "device", device.Key(c.Namespace, c.Name), "err", err)
		return
	}
	s.mu.Lock()
	s.specs[device.Key(c.Namespace, c.Name)] = b
	s.mu.Unlock()
}

// removeDevice removes a device from the Registry and forgets its spec.
func (s *Server) removeDevice(namespace, name string) error {
	return s.removeDeviceInto(s.reg, namespace, name, 0)
}

// removeDeviceInto is removeDevice with reg in place of the Server's
// Registry, as of stamp (0: now). A device changed after stamp is kept.
func (s *Server) removeDeviceInto(reg Registry, namespace, name string, stamp uint64) error {
	s.change.Lock()
	defer s.change.Unlock()
	if err := reg.RemoveDeviceAsOf(namespace, name, stamp); err != nil {
		return fmt.Errorf("device %s: %w", device.Key(namespace, name), err)
	}
	s.mu.Lock()
	delete(s.specs, device.Key(namespace, name))
	s.mu.Unlock()
	return nil
}

// putModel converts m and hands it to the Server's Registry.
func (s *Server) putModel(m *pb.DeviceModel) (device.Model, error) {
	return s.putModelInto(s.reg, m)
}

// putModelInto is putModel with reg in place of the Server's Registry.
func (s *Server) putModelInto(reg Registry, m *pb.DeviceModel) (device.Model, error) {
	model, err := ModelFromProto(m)
	if err != nil {
		return device.Model{}, err
	}
	s.change.Lock()
	defer s.change.Unlock()
	if err := reg.PutModel(model); err != nil {
		return device.Model{}, fmt.Errorf("model %s: %w", device.Key(model.Namespace, model.Name), err)
	}
	return model, nil
}

// removeModel removes a model from the Registry.
func (s *Server) removeModel(namespace, name string) error {
	s.change.Lock()
	defer s.change.Unlock()
	if err := s.reg.RemoveModel(namespace, name); err != nil {
		return fmt.Errorf("model %s: %w", device.Key(namespace, name), err)
	}
	return nil
}

// getDevice returns the remembered spec of a device with its current twins.
func (s *Server) getDevice(namespace, name string) (*pb.Device, bool) {
	s.mu.Lock()
	b, ok := s.specs[device.Key(namespace, name)]
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	out := &pb.Device{}
	if err := proto.Unmarshal(b, out); err != nil {
		s.log.Warn("cannot read back the kept spec", "device", device.Key(namespace, name), "err", err)
		return nil, false
	}
	if out.Status == nil {
		out.Status = &pb.DeviceStatus{}
	}
	if twins, _, ok := s.reg.Twins(namespace, name); ok {
		out.Status.Twins = make([]*pb.Twin, len(twins))
		for i, t := range twins {
			out.Status.Twins[i] = TwinToProto(t)
		}
	}
	return out, true
}

// grpcError turns an error from converting or applying a request into a gRPC
// status: a *bus.FieldError anywhere in the chain is InvalidArgument, anything
// else Internal. The message names the field.
func grpcError(err error) error {
	var fe *bus.FieldError
	if errors.As(err, &fe) {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
