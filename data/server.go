package data

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound what one client can hold of the REST server. The zero value
// of a field means its default.
type Limits struct {
	// ReadHeaderTimeout bounds the request line and headers (default 5 s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the whole request, body included (default 10 s):
	// a slow body is cut off.
	ReadTimeout time.Duration
	// WriteTimeout bounds the handling and the answer (default 15 s, above
	// the 5 s a PUT waits for its write).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no request
	// (default 30 s).
	IdleTimeout time.Duration
	// MaxConns is the number of connections served at once (default 64).
	// Beyond it, ProbeConns more are accepted for the probe paths only
	// (/healthz, /readyz, /metrics), so that a full server still answers
	// its liveness probe; any other request on them gets 503. Beyond
	// those, a connection is closed as soon as it is accepted.
	MaxConns int
	// ProbeConns is the number of connections kept for probes (default 4).
	ProbeConns int
}

// Defaults for Limits.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 15 * time.Second
	DefaultIdleTimeout       = 30 * time.Second
	DefaultMaxConns          = 64
	DefaultProbeConns        = 4
)

func (l Limits) withDefaults() Limits {
	or := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	or(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	or(&l.ReadTimeout, DefaultReadTimeout)
	or(&l.WriteTimeout, DefaultWriteTimeout)
	or(&l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.ProbeConns <= 0 {
		l.ProbeConns = DefaultProbeConns
	}
	return l
}

// probePaths are the paths a probe connection may ask for.
var probePaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// A Server is the REST server: an http.Server with the Limits set, on a
// listener that caps connections. Serve and Shutdown are http.Server's.
type Server struct {
	*http.Server
	limits Limits
}

// NewServer returns a Server for h with limits (zero fields: defaults).
func NewServer(h http.Handler, limits Limits) *Server {
	l := limits.withDefaults()
	s := &Server{limits: l}
	// HTTP/1.1 alone, over TLS too. The release build leaves net/http's
	// bundled HTTP/2 out (-tags nethttpomithttp2: 327 680 bytes on arm64),
	// and net/http would still offer h2 in ALPN unless told, failing every
	// HTTP/2 client's first request. Set here, every build behaves alike.
	var http1 http.Protocols
	http1.SetHTTP1(true)
	s.Server = &http.Server{
		Protocols:         &http1,
		Handler:           probeOnly(h),
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				c = tc.NetConn()
			}
			if lc, ok := c.(*limitedConn); ok && lc.probe {
				return context.WithValue(ctx, probeConnKey{}, true)
			}
			return ctx
		},
	}
	return s
}

// Serve serves on ln, capped as the Limits say, until Shutdown or Close;
// over TLS when the Server's TLSConfig is set (see LoadTLS).
func (s *Server) Serve(ln net.Listener) error {
	ln = LimitListener(ln, s.limits.MaxConns, s.limits.ProbeConns)
	if s.TLSConfig != nil {
		return s.Server.ServeTLS(ln, "", "")
	}
	return s.Server.Serve(ln)
}

// LoadTLS returns the TLS configuration of a certificate and key file (PEM),
// as the Prometheus exporters' web config takes them: TLS 1.2 at least.
// The files are read again when either changes, so a renewed certificate
// is served without a restart.
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("TLS needs both cert_file and key_file")
	}
	k := &keyPair{cert: certFile, key: keyFile}
	if _, err := k.get(nil); err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: k.get}, nil
}

// keyPair is a certificate and key read from files, again when they change.
type keyPair struct {
	cert, key string

	mu     sync.Mutex
	stamp  string
	loaded *tls.Certificate
}

func (k *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	stamp := ""
	for _, f := range []string{k.cert, k.key} {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		stamp += fi.ModTime().String() + strconv.FormatInt(fi.Size(), 10) + ";"
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.loaded != nil && stamp == k.stamp {
		return k.loaded, nil
	}
	c, err := tls.LoadX509KeyPair(k.cert, k.key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	k.loaded, k.stamp = &c, stamp
	return k.loaded, nil
}

type probeConnKey struct{}

// probeOnly answers 503 on a probe connection to anything but a probe path.
func probeOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(probeConnKey{}) != nil && !probePaths[r.URL.Path] {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "too many connections; only /healthz, /readyz and /metrics are served")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// LimitListener returns a listener that has at most max connections of
// ln open for any request plus at most probe more for the probe paths, and
// closes any connection beyond those at once. Unlike a listener that stops
// accepting, it never leaves a probe waiting in the kernel's queue.
func LimitListener(ln net.Listener, max, probe int) net.Listener {
	return &limitListener{Listener: ln, max: int64(max), probe: int64(probe)}
}

type limitListener struct {
	net.Listener
	max, probe  int64
	open, extra atomic.Int64
	refused     atomic.Int64
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &limitedConn{Conn: c, release: func() { l.open.Add(-1) }}, nil
		}
		l.open.Add(-1)
		if l.extra.Add(1) <= l.probe {
			// A probe connection gets a short time to ask.
			c.SetDeadline(time.Now().Add(5 * time.Second))
			return &limitedConn{Conn: c, probe: true, release: func() { l.extra.Add(-1) }}, nil
		}
		l.extra.Add(-1)
		l.refused.Add(1)
		c.Close()
	}
}

type limitedConn struct {
	net.Conn
	probe   bool
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
