package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
	"github.com/tinymapper/tinymapper/internal/edgecore"
)

// TestMain lets a test start this test binary as the tinymapper command:
// with TINYMAPPER_MAIN=1 it runs main with the arguments after "--".
func TestMain(m *testing.M) {
	if os.Getenv("TINYMAPPER_MAIN") == "1" {
		args := os.Args[1:]
		for i, a := range args {
			if a == "--" {
				args = args[i+1:]
				break
			}
		}
		os.Args = append([]string{"tinymapper"}, args...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSIGTERMReportsRemovesTheSocketAndExitsZero(t *testing.T) {
	dir, err := os.MkdirTemp("", "tm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock, ecSock := filepath.Join(dir, "m.sock"), filepath.Join(dir, "dmi.sock")
	stub, err := edgecore.Start(ecSock, edgecore.Options{
		Models: []*pb.DeviceModel{tmp102Model()}, Devices: []*pb.Device{tmp102Device(t, "room", 0x48)}})
	if err != nil {
		t.Fatal(err)
	}
	defer stub.Close()

	cmd := exec.Command(os.Args[0], "--", "--board", "sim", "--sock", sock, "--edgecore-sock", ecSock, "--http", "")
	cmd.Env = append(os.Environ(), "TINYMAPPER_MAIN=1")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	eventually(t, 15*time.Second, "a twin", func() bool { _, ok := stub.Twin("default", "room", "temperature"); return ok })
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("mapper socket: %v", err)
	}
	if fi, _ := os.Stat(sock); fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v; want 0600", fi.Mode().Perm())
	}
	before := stub.Counts().Reports

	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v; want status 0\n%s", err, out.String())
	}
	if took > shutdownBudget+2*time.Second {
		t.Errorf("shutdown took %v; want within the %v budget", took, shutdownBudget)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket still there after exit (stat: %v)", err)
	}
	// The temperature changes every few readings; the last report carries
	// whatever changed since the previous one, so at least the call count
	// must not go down, and the log must say the final report ran.
	if stub.Counts().Reports < before {
		t.Error("reports went backwards")
	}
	if !strings.Contains(out.String(), "last report sent") {
		t.Errorf("no final report in the log:\n%s", out.String())
	}
}
