package httppush_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/httppush"
	"github.com/tinymapper/tinymapper/data/sink/sinktest"
)

// server is an HTTP endpoint on a fixed loopback port that answers with
// status (200 keeps the body), and can be taken down and brought back.
type server struct {
	t    *testing.T
	port int
	srv  *http.Server

	mu      sync.Mutex
	status  int
	got     []sinktest.Message
	refused int // 4xx answers given
	paths   map[string]bool
	ctypes  map[string]bool
}

func newServer(t *testing.T) *server {
	s := &server{t: t, port: sinktest.FreePort(t), status: http.StatusOK, paths: map[string]bool{}, ctypes: map[string]bool{}}
	s.up()
	t.Cleanup(s.down)
	return s
}

func (s *server) up() {
	s.t.Helper()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
	if err != nil {
		s.t.Fatal(err)
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(l)
}

func (s *server) down() {
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.srv.Shutdown(ctx)
		cancel()
		s.srv = nil
	}
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paths[r.Method+" "+r.URL.Path] = true
	s.ctypes[r.Header.Get("Content-Type")] = true
	if s.status == http.StatusOK {
		s.got = append(s.got, sinktest.Decode(s.t, body))
	} else if s.status < 500 {
		s.refused++
	}
	w.WriteHeader(s.status)
}

func (s *server) setStatus(code int) {
	s.mu.Lock()
	s.status = code
	s.mu.Unlock()
}

func (s *server) received() ([]sinktest.Message, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinktest.Message(nil), s.got...), s.refused
}

func TestEverySampleIsPostedAcrossOutagesAndRefusalsAreDropped(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 8 s")
	}
	srv := newServer(t)
	push := fmt.Sprintf("        http: {hostName: http://127.0.0.1, port: %d, requestPath: /in, timeout: 1000}\n", srv.port)
	mgr, sinks := sinktest.Run(t, sinktest.Thermometer(100*time.Millisecond, push), sink.Options{MaxBackoff: 500 * time.Millisecond}, httppush.Kind{})
	stats := func() sink.Stats { st, _ := sinktest.StatsOf(sinks, "http "); return st }

	sinktest.WaitFor(t, 10*time.Second, "samples", func() bool { got, _ := srv.received(); return len(got) >= 10 })
	got, _ := srv.received()
	if n := sinktest.Check(t, mgr, got); n != 0 {
		t.Fatalf("%d samples missing", n)
	}

	srv.setStatus(http.StatusServiceUnavailable) // 5xx: retried
	time.Sleep(1500 * time.Millisecond)
	srv.down() // connection refused: retried
	time.Sleep(1500 * time.Millisecond)
	if errs := sinks.PushErrors("plant", "thermo"); len(errs) != 1 || !strings.HasPrefix(errs[0], "spec.properties[temperature].pushMethod.http: ") {
		t.Errorf("during the outage PushErrors = %q", errs)
	}
	srv.setStatus(http.StatusOK)
	srv.up()
	back := time.Now()
	sinktest.WaitFor(t, 10*time.Second, "the backlog", func() bool {
		got, _ := srv.received()
		return stats().Buffered == 0 && len(got) > 0 && got[len(got)-1].Timestamp > back.UnixMilli()
	})
	got, _ = srv.received()
	if n := sinktest.Check(t, mgr, got); n != 0 {
		t.Fatalf("%d samples lost across the outage", n)
	}

	srv.setStatus(http.StatusBadRequest) // 4xx: dropped, counted, not retried
	time.Sleep(time.Second)
	srv.setStatus(http.StatusOK)
	sinktest.WaitFor(t, 10*time.Second, "samples after the refusals", func() bool {
		got, _ := srv.received()
		return stats().Buffered == 0 && got[len(got)-1].Timestamp > time.Now().Add(-300*time.Millisecond).UnixMilli()
	})
	got, refused := srv.received()
	st := stats()
	if missing := sinktest.Check(t, mgr, got); missing != refused || st.Dropped != uint64(refused) || refused < 5 {
		t.Errorf("%d samples missing, %d refused, dropped counter %d: want all equal, about 10", missing, refused, st.Dropped)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !srv.paths["POST /in"] || len(srv.paths) != 1 || !srv.ctypes["application/json"] {
		t.Errorf("requests: %v, content types %v", srv.paths, srv.ctypes)
	}
}
