package redis

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/dbtest"
	"github.com/tinymapper/tinymapper/data/sink/sinktest"
	"github.com/tinymapper/tinymapper/device"
)

// server is a redis-server on a loopback port that survives SIGKILL
// (appendonly, fsync always), as TESTING.md describes.
type server struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func newServer(t *testing.T) *server {
	dbtest.Need(t, "redis-server", "redis-server") // fails under CI when missing
	dbtest.Need(t, "redis-cli", "redis-tools")
	s := &server{t: t, port: sinktest.FreePort(t), dir: t.TempDir()}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--requirepass", "s3cret")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	sinktest.WaitFor(s.t, 10*time.Second, "redis-server", func() bool { return s.cli("PING") == "PONG\n" })
}

func (s *server) kill() {
	if s.cmd != nil {
		s.cmd.Process.Signal(syscall.SIGKILL)
		s.cmd.Wait()
		s.cmd = nil
	}
}

func (s *server) cli(args ...string) string {
	out, _ := exec.Command("redis-cli", append([]string{"-p", strconv.Itoa(s.port), "-a", "s3cret", "--no-auth-warning", "--raw", "-n", "2"}, args...)...).Output()
	return string(out)
}

// stream reads a property's stream back as sinktest.Messages.
func (s *server) stream(t *testing.T, key string) []sinktest.Message {
	t.Helper()
	var out []sinktest.Message
	sc := bufio.NewScanner(strings.NewReader(s.cli("XRANGE", key, "-", "+")))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	for i := 0; i+6 < len(lines); i += 7 { // id, value, V, type, T, unit, U
		ms, _, _ := strings.Cut(lines[i], "-")
		ts, _ := strconv.ParseInt(ms, 10, 64)
		if lines[i+1] != "value" || lines[i+3] != "type" || lines[i+5] != "unit" {
			t.Fatalf("entry %q", lines[i:i+7])
		}
		out = append(out, sinktest.Message{Namespace: "plant", Device: "thermo", Property: "temperature",
			Value: json.Number(lines[i+2]), Type: lines[i+4], Unit: lines[i+6], Timestamp: ts})
	}
	return out
}

func TestEverySampleIsAppendedAcrossAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 15 s")
	}
	srv := newServer(t)
	push := fmt.Sprintf("        dbMethod:\n          redis:\n            redisClientConfig: {addr: \"127.0.0.1:%d\", db: 2}\n", srv.port)
	mgr, sinks := sinktest.Run(t, sinktest.Thermometer(100*time.Millisecond, push), sink.Options{Poll: 50 * time.Millisecond}, Kind{Password: "s3cret"})
	key := StreamKey("plant", "thermo", "temperature")
	read := func() []sinktest.Message { return srv.stream(t, key) }
	sinktest.WaitFor(t, 10*time.Second, "samples", func() bool { return len(read()) >= 10 })
	if n := sinktest.Check(t, mgr, read()); n != 0 {
		t.Fatalf("%d samples missing", n)
	}
	srv.kill()
	time.Sleep(10 * time.Second)
	if errs := sinks.PushErrors("plant", "thermo"); len(errs) != 1 || !strings.HasPrefix(errs[0], "spec.properties[temperature].pushMethod.dbMethod.redis: ") {
		t.Errorf("during the outage PushErrors = %q", errs)
	}
	back := time.Now()
	srv.start()
	sinktest.WaitFor(t, 20*time.Second, "the backlog", func() bool {
		st, _ := sinktest.StatsOf(sinks, "redis ")
		got := read()
		return st.Buffered == 0 && len(got) > 0 && got[len(got)-1].Timestamp > back.UnixMilli()
	})
	if n := sinktest.Check(t, mgr, read()); n != 0 {
		t.Fatalf("%d samples lost across the kill", n)
	}
}

// BenchmarkXAdd is the encoding of one sample's XADD: 0 allocs/op.
func BenchmarkXAdd(b *testing.B) {
	bd := sink.NewTestBinding("plant", "thermo", "temperature", device.TypeFloat, "Cel", opts{key: StreamKey("plant", "thermo", "temperature")})
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = appendXAdd(buf[:0], sink.Record{B: bd, Time: int64(i) * 1e6, Value: 21.5})
	}
}
