// Package dbtest runs the real servers of the sink tests: a
// Debian binary started on a free loopback port, killed and started again
// by PID.
package dbtest

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Need returns the path of the server command cmd, which Debian package
// pkg provides (the Makefile's APT_PACKAGES installs it). Without it the
// test fails under CI (CI=true), and is skipped elsewhere, saying why.
func Need(t testing.TB, cmd, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(cmd)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/libexec"} {
		if _, err := os.Stat(dir + "/" + cmd); err == nil {
			return dir + "/" + cmd
		}
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatalf("%s not found and CI=%s: apt-get install %s (make apt-deps does)", cmd, ci, pkg)
	}
	t.Skipf("%s not found: apt-get install %s (make apt-deps does)", cmd, pkg)
	return ""
}

// Server is one server process listening on Port.
type Server struct {
	t    testing.TB
	Port int
	args []string
	cmd  *exec.Cmd
	// Ready reports that the server answers (nil: its port accepts).
	Ready func() bool
}

// Start starts args[0] with args[1:] (which listen on port) and waits up
// to 30 s for it to be ready; it is killed when the test ends.
func Start(t testing.TB, port int, ready func() bool, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, Port: port, args: args, Ready: ready}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// Restart starts the server again (after Kill) and waits until it is ready.
func (s *Server) Restart() {
	s.t.Helper()
	cmd := exec.Command(s.args[0], s.args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("%s: %v", s.args[0], err)
	}
	s.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			s.cmd = nil
			s.t.Fatalf("%s exited while starting: %v", s.args[0], err)
		default:
		}
		if s.ready() {
			go func() { <-exited }()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s not ready on port %d after 30 s", s.args[0], s.Port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) ready() bool {
	if s.Ready != nil {
		return s.Ready()
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.Port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Kill ends the server with SIGKILL (no clean shutdown) and waits until
// its port no longer accepts.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd = nil
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.Port), 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
}
