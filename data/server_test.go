package data_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data"
)

func TestSetDesiredBodyBounds(t *testing.T) {
	tests := []struct {
		name string
		body io.Reader
		want int
	}{
		{"value", strings.NewReader(`{"value":"42"}`), http.StatusOK},
		{"value and white space", strings.NewReader(" {\"value\":\"42\"}\n\t "), http.StatusOK},
		{"value then a second object", strings.NewReader(`{"value":"42"}{"value":"43"}`), http.StatusBadRequest},
		{"value then text", strings.NewReader(`{"value":"42"} and more`), http.StatusBadRequest},
		{"body of MaxBody", strings.NewReader(`{"value":"42"}` + strings.Repeat(" ", data.MaxBody-14)), http.StatusOK},
		{"body of MaxBody+1", strings.NewReader(`{"value":"42"}` + strings.Repeat(" ", data.MaxBody-13)), http.StatusRequestEntityTooLarge},
		{"value then 8 MB of padding", io.MultiReader(strings.NewReader(`{"value":"42"}`), io.LimitReader(spaces{}, 8<<20)), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newFake()
			srv := startServer(t, data.Handler(src, nil, nil), data.Limits{})
			req, err := http.NewRequest("PUT", "http://"+srv+"/api/v1/device/default/room/setpoint", tt.body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, b, tt.want)
			}
			if calls := len(src.calls); (tt.want == http.StatusOK) != (calls == 1) {
				t.Errorf("%d SetDesired calls for status %d", calls, resp.StatusCode)
			}
		})
	}
}

type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// startServer serves h with limits on a free loopback port until the test
// ends and returns its address.
func startServer(t *testing.T, h http.Handler, limits data.Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := data.NewServer(h, limits)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// closedWithin reports whether the server closes c within d: a read returns
// (after any answer) EOF or a reset.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

func dialN(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var out []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		out = append(out, c)
	}
	return out
}

// TestServerTimesOutSlowAndIdleClients: slowloris headers, a slow body and
// an idle keep-alive connection are each closed once their timeout passes.
func TestServerTimesOutSlowAndIdleClients(t *testing.T) {
	limits := data.Limits{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond, IdleTimeout: 600 * time.Millisecond}
	tests := []struct {
		name  string
		start func(c net.Conn)
		drip  string // written every 100 ms
	}{
		{"slowloris headers", func(c net.Conn) { io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n") }, "X-a: b\r\n"},
		{"slow body", func(c net.Conn) {
			io.WriteString(c, "PUT /api/v1/device/default/room/setpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
		}, " "},
		{"idle keep-alive", func(c net.Conn) {
			io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("first request: %v %v", resp, err)
			}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startServer(t, data.Handler(newFake(), nil, nil), limits)
			conns := dialN(t, addr, 20)
			stop := make(chan struct{})
			defer close(stop)
			for _, c := range conns {
				tt.start(c)
				if tt.drip != "" {
					go func() {
						for {
							select {
							case <-stop:
								return
							case <-time.After(100 * time.Millisecond):
								if _, err := io.WriteString(c, tt.drip); err != nil {
									return
								}
							}
						}
					}()
				}
			}
			for i, c := range conns {
				if !closedWithin(t, c, 3*time.Second) {
					t.Fatalf("connection %d still open after 3 s", i)
				}
			}
		})
	}
}

// TestServerCapsConnectionsAndStillAnswersProbes fills the cap with idle
// connections: a probe is answered, any other request gets 503, and beyond
// the probe slots a connection is closed at once.
func TestServerCapsConnectionsAndStillAnswersProbes(t *testing.T) {
	addr := startServer(t, data.Handler(newFake(), func() bool { return true }, nil), data.Limits{MaxConns: 5, ProbeConns: 2})
	dialN(t, addr, 5) // the cap, held open
	time.Sleep(100 * time.Millisecond)
	get := func(c net.Conn, path string) int {
		t.Helper()
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	probes := dialN(t, addr, 2)
	if code := get(probes[0], "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with the cap full: %d", code)
	}
	if code := get(probes[1], "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with the cap full: %d", code)
	}
	beyond := dialN(t, addr, 1)[0]
	if !closedWithin(t, beyond, 2*time.Second) {
		t.Error("a connection beyond the cap and the probe slots stays open")
	}
	if code := get(probes[0], "/api/v1/devices"); code != http.StatusServiceUnavailable {
		t.Errorf("/api/v1/devices with the cap full: %d, want 503", code)
	}
}
