package dmi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tinymapper/tinymapper/device"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

const (
	// DefaultEdgeCoreSocket is where EdgeCore serves DeviceManagerService
	// unless its configuration says otherwise.
	DefaultEdgeCoreSocket = "/etc/kubeedge/dmi.sock"
	// DefaultName is the mapper name used when ClientConfig.Name is empty.
	DefaultName = "tinymapper"
	// APIVersion is sent as MapperInfo.api_version.
	APIVersion = "v1beta1"
)

const (
	// mapperState is sent as MapperInfo.state, as KubeEdge's mapper
	// framework does.
	mapperState = "OK"
	// callTimeout bounds every call to EdgeCore.
	callTimeout = 5 * time.Second
	// Registration is retried after retryMin, doubling up to retryMax, and
	// the connection to EdgeCore is dialled again as often: EdgeCore's
	// socket is local, a failed dial costs nothing, and a restarted
	// EdgeCore must see its mappers back within a few seconds.
	retryMin = 500 * time.Millisecond
	retryMax = 2 * time.Second
	// reconnectMax bounds the wait between two dials of EdgeCore's socket;
	// registration starts as soon as a dial succeeds.
	reconnectMax = time.Second
)

// ErrRateLimited is wrapped by the errors of calls EdgeCore refused because
// its rate limiter was empty ("too many request"). The caller should slow
// down before the next call.
// It is device.ErrRateLimited, which the reporter checks.
var ErrRateLimited = device.ErrRateLimited

// ClientConfig says how to reach EdgeCore and what to register as.
type ClientConfig struct {
	// Socket is EdgeCore's DMI socket (DefaultEdgeCoreSocket when empty).
	Socket string
	// Address is the path of our own DeviceMapperService socket (the one
	// Server.Serve listens on). EdgeCore calls it back there, from its own
	// working directory, so a relative path is made absolute (against ours)
	// before it is registered.
	Address string
	// Name is the mapper's name (DefaultName when empty). Each protocol is
	// registered as its own mapper, named Name-protocol (tinymapper-i2c).
	Name    string
	Version string
	// Protocols are the spec.protocol.protocolName values served, such as
	// i2c, spi, gpio, serial and modbus-rtu.
	Protocols []string
	// Rate is how many calls per second may be made to EdgeCore, and Burst
	// how many at once (at least 1). Rate 0 or less means unpaced. EdgeCore
	// allows 1/s with a burst of 100, shared by every mapper on the node.
	Rate  float64
	Burst int
	// Log receives registration and connection news (nil discards them).
	Log *slog.Logger
	// Server, when set, also remembers the devices loaded at registration,
	// so that its GetDevice answers for them as for devices EdgeCore sent
	// it directly.
	Server *Server
}

// A Client is the mapper's side of DeviceManagerService: it registers every
// protocol with EdgeCore, loads the models and devices EdgeCore returns into a
// Registry, registers again whenever EdgeCore comes back, and reports twins
// and states. It keeps one connection for all of this, and implements
// device.Sender.
type Client struct {
	cfg      ClientConfig
	reg      Registry
	log      *slog.Logger
	conn     *grpc.ClientConn
	api      pb.DeviceManagerServiceClient
	limiter  *rate.Limiter
	mappers  map[string]*pb.MapperInfo // by protocol
	timeout  time.Duration
	retryMin time.Duration
	retryMax time.Duration

	// unavailable is signalled when a report finds EdgeCore unavailable, so
	// that Run registers again.
	unavailable chan struct{}
	// registered is set once every protocol has been registered.
	registered atomic.Bool
}

var _ device.Sender = (*Client)(nil)

// NewClient returns a Client that loads what EdgeCore sends at registration
// into reg. It sets up the connection to EdgeCore but does not dial yet:
// EdgeCore may start later. Run registers.
func NewClient(cfg ClientConfig, reg Registry) (*Client, error) {
	if cfg.Socket == "" {
		cfg.Socket = DefaultEdgeCoreSocket
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	switch {
	case cfg.Address == "":
		return nil, errors.New("dmi: client: Address (our socket path) is required")
	case len(cfg.Protocols) == 0:
		return nil, errors.New("dmi: client: no protocols to register")
	case reg == nil:
		return nil, errors.New("dmi: client: no registry")
	}
	addr, err := filepath.Abs(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("dmi: client: Address %q: %w", cfg.Address, err)
	}
	cfg.Address = addr
	c := &Client{
		cfg:         cfg,
		reg:         reg,
		log:         cfg.Log,
		limiter:     newLimiter(cfg.Rate, cfg.Burst),
		mappers:     make(map[string]*pb.MapperInfo, len(cfg.Protocols)),
		timeout:     callTimeout,
		retryMin:    retryMin,
		retryMax:    retryMax,
		unavailable: make(chan struct{}, 1),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	for _, p := range cfg.Protocols {
		if p == "" {
			return nil, errors.New("dmi: client: empty protocol name")
		}
		c.mappers[p] = &pb.MapperInfo{
			Name:       cfg.Name + "-" + p,
			Version:    cfg.Version,
			ApiVersion: APIVersion,
			Protocol:   p,
			Address:    []byte(cfg.Address),
			State:      mapperState,
		}
	}
	socket := cfg.Socket
	conn, err := grpc.NewClient("passthrough:///localhost",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}),
		// Reconnect as quickly as registration retries, and never let the
		// connection go idle: a drop must be seen as a drop.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: retryMin, Multiplier: 2, Jitter: 0.2, MaxDelay: reconnectMax},
			MinConnectTimeout: callTimeout,
		}),
		grpc.WithIdleTimeout(0),
	)
	if err != nil {
		return nil, fmt.Errorf("dmi: client for %s: %w", socket, err)
	}
	c.conn = conn
	c.api = pb.NewDeviceManagerServiceClient(conn)
	return c, nil
}

// newLimiter returns the limiter for rate calls per second, burst at once.
func newLimiter(perSecond float64, burst int) *rate.Limiter {
	if perSecond <= 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
}

// Registered reports whether Run has registered every protocol with EdgeCore
// at least once. It stays true while EdgeCore is away: the devices loaded
// keep running.
func (c *Client) Registered() bool { return c.registered.Load() }

// Close closes the connection to EdgeCore.
func (c *Client) Close() error { return c.conn.Close() }

// Wait blocks until one more call may be made to EdgeCore, or ctx ends.
func (c *Client) Wait(ctx context.Context) error {
	return c.limiter.Wait(ctx)
}

// statusCalls holds reusable ReportDeviceStatus calls and responses.
var statusCalls = sync.Pool{New: func() any { return new(pooledCall) }}

type pooledCall struct {
	call  statusCall
	reply pb.ReportDeviceStatusResponse
}

// ReportStatus sends the twins of one device in one call. It does not wait
// for the pacer: call Wait first. A device with no twins is not reported.
// It may be called from several goroutines at once.
func (c *Client) ReportStatus(ctx context.Context, namespace, name string, twins []device.Twin) error {
	if len(twins) == 0 {
		return nil
	}
	pc := statusCalls.Get().(*pooledCall)
	defer statusCalls.Put(pc)
	pc.call = statusCall{namespace: namespaceOr(namespace), name: name, twins: twins}
	defer func() { pc.call.twins = nil }()

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	err := c.conn.Invoke(ctx, pb.DeviceManagerService_ReportDeviceStatus_FullMethodName, &pc.call, &pc.reply,
		grpc.ForceCodecV2(statusCodec{}))
	if err != nil {
		return c.callError("report status of "+device.Key(pc.call.namespace, name), err, true)
	}
	return nil
}

// ReportState sends the state of one device (device.StateOnline, ...). It
// does not wait for the pacer: call Wait first.
func (c *Client) ReportState(ctx context.Context, namespace, name, state string) error {
	namespace = namespaceOr(namespace)
	if state == "" {
		return fmt.Errorf("dmi: report state of %s: state is empty", device.Key(namespace, name))
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req := &pb.ReportDeviceStatesRequest{DeviceName: name, DeviceNamespace: namespace, State: state}
	if _, err := c.api.ReportDeviceStates(ctx, req); err != nil {
		return c.callError("report state of "+device.Key(namespace, name), err, true)
	}
	return nil
}

// callError wraps the error of a call to EdgeCore. EdgeCore's rate limiter
// refusals wrap ErrRateLimited. When report is set and EdgeCore is
// unavailable, Run is told to register again once it is back.
func (c *Client) callError(op string, err error, report bool) error {
	st := status.Convert(err)
	if strings.Contains(st.Message(), "too many request") {
		return fmt.Errorf("dmi: %s: %w: %w", op, ErrRateLimited, err)
	}
	if report && st.Code() == codes.Unavailable {
		select {
		case c.unavailable <- struct{}{}:
		default:
		}
	}
	return fmt.Errorf("dmi: %s: %w", op, err)
}
