package faults

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// mapper is the tinymapper binary running on the sim board.
type mapper struct {
	t    *testing.T
	bin  string
	dir  string
	args []string
	base string // http://127.0.0.1:PORT
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds tinymapper once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tmfaults-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tinymapper")
		cmd := exec.Command("go", "build", "-o", binPath, "../..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startMapper runs the binary in dir (sockets dir/m.sock, EdgeCore at
// dir/dmi.sock) until the test ends.
func startMapper(t *testing.T, dir string, extra ...string) *mapper {
	t.Helper()
	port := freePort(t)
	m := &mapper{t: t, bin: binary(t), dir: dir, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	m.args = append([]string{"--board", "sim", "--sock", filepath.Join(dir, "m.sock"),
		"--edgecore-sock", filepath.Join(dir, "dmi.sock"), "--http", m.base[len("http://"):],
		"--token-file", filepath.Join(dir, "token"), "--log-level", "warn"}, extra...)
	m.start()
	t.Cleanup(func() { m.kill() })
	return m
}

func (m *mapper) start() {
	m.t.Helper()
	var err error
	m.log, err = os.OpenFile(filepath.Join(m.dir, "mapper.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		m.t.Fatal(err)
	}
	m.cmd = exec.Command(m.bin, m.args...)
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(m.cmd, m.done)
	if !within(10*time.Second, func() bool { return m.status("/healthz") == 200 }) {
		m.t.Fatalf("the mapper did not answer /healthz within 10 s:\n%s", m.tail())
	}
}

// kill SIGKILLs the mapper and waits for it.
func (m *mapper) kill() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
	m.log.Close()
}

// alive reports whether the process still runs.
func (m *mapper) alive() bool {
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

func (m *mapper) pid() int { return m.cmd.Process.Pid }

func (m *mapper) tail() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "mapper.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

var client = &http.Client{Timeout: 3 * time.Second}

// status GETs path and returns the status (0 when there is no answer).
func (m *mapper) status(path string) int {
	resp, err := client.Get(m.base + path)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (m *mapper) token() string {
	b, err := os.ReadFile(filepath.Join(m.dir, "token"))
	if err != nil {
		m.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// usage is what the process holds at one moment.
type usage struct {
	RSSKiB     int64
	FDs        int
	Goroutines int
}

func (m *mapper) usage() usage {
	var u usage
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.pid())); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				u.RSSKiB, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			}
		}
	}
	if es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", m.pid())); err == nil {
		u.FDs = len(es)
	}
	if resp, err := client.Get(m.base + "/metrics"); err == nil {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
				u.Goroutines, _ = strconv.Atoi(v)
			}
		}
		resp.Body.Close()
	}
	return u
}

// settled waits for the goroutines and descriptors to come back to within
// slack of base (up to d) and returns the usage then.
func (m *mapper) settled(base usage, slack int, d time.Duration) usage {
	var u usage
	within(d, func() bool {
		u = m.usage()
		return u.Goroutines <= base.Goroutines+slack && u.FDs <= base.FDs+slack
	})
	return u
}

// within polls cond every 20 ms for up to d.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
