package main

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/internal/await"
)

// runOnce runs serve with args to its end (at most 5 s) and returns its
// error and log.
func runOnce(t *testing.T, args ...string) (error, string) {
	t.Helper()
	cfg, err := loadConfig(args)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = serve(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if ctx.Err() != nil {
		t.Fatalf("the second instance still ran after 5 s:\n%s", logs.String())
	}
	return err, logs.String()
}

// TestASecondInstanceExitsTouchingNothing starts a second mapper beside a
// running one: it fails at once with an error that says why, has not
// opened the board or any device, and the first one's socket is the same
// file as before.
func TestASecondInstanceExitsTouchingNothing(t *testing.T) {
	t.Run("same DMI socket", func(t *testing.T) {
		dir := t.TempDir()
		first := startMapperIn(t, dir)
		await.Until(t, "the first socket", func() bool { _, err := os.Stat(first.sock); return err == nil })
		before, _ := os.Stat(first.sock)
		err, log := runOnce(t, "--board", "sim", "--sock", first.sock, "--edgecore-sock", first.edgecore, "--http", "")
		if err == nil || !strings.Contains(err.Error(), "another tinymapper is running for socket "+first.sock) {
			t.Errorf("second instance: %v", err)
		}
		after, statErr := os.Stat(first.sock)
		if statErr != nil || !os.SameFile(before, after) {
			t.Errorf("the first instance's socket was replaced or removed: %v", statErr)
		}
		if strings.Contains(log, "tinymapper starting") || strings.Contains(log, "device") {
			t.Errorf("the second instance went on after failing:\n%s", log)
		}
	})
	t.Run("same devices file", func(t *testing.T) {
		first := startMapper(t, "--http", "127.0.0.1:0", "--devices", "deploy/examples/i2c.yaml")
		first.dataPlane(t)
		err, log := runOnce(t, "--board", "sim", "--devices", "deploy/examples/i2c.yaml", "--http", "127.0.0.1:0",
			"--token-file", filepath.Join(t.TempDir(), "token"))
		if err == nil || !strings.Contains(err.Error(), "another tinymapper is running for devices deploy/examples/i2c.yaml") {
			t.Errorf("second instance: %v", err)
		}
		if strings.Contains(log, "tinymapper starting") {
			t.Errorf("the second instance opened the board:\n%s", log)
		}
	})
	t.Run("same push spool", func(t *testing.T) {
		dir := t.TempDir()
		conf := filepath.Join(dir, "spool.yaml")
		if err := os.WriteFile(conf, []byte("push:\n  spool:\n    dir: "+filepath.Join(dir, "spool")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		first := startMapper(t, "--config", conf, "--http", "127.0.0.1:0", "--devices", "deploy/examples/i2c.yaml")
		first.dataPlane(t)
		err, log := runOnce(t, "--config", conf, "--board", "sim", "--devices", "deploy/examples/gpio.yaml", "--http", "127.0.0.1:0",
			"--token-file", filepath.Join(t.TempDir(), "token"))
		if err == nil || !strings.Contains(err.Error(), "another tinymapper is running for push.spool.dir "+filepath.Join(dir, "spool")) {
			t.Errorf("second instance: %v", err)
		}
		if strings.Contains(log, "tinymapper starting") {
			t.Errorf("the second instance opened the board:\n%s", log)
		}
	})
	t.Run("same REST address", func(t *testing.T) {
		first := startMapper(t, "--http", "127.0.0.1:0", "--devices", "deploy/examples/i2c.yaml")
		u, err := url.Parse(first.dataPlane(t))
		if err != nil {
			t.Fatal(err)
		}
		err, log := runOnce(t, "--board", "sim", "--devices", "deploy/examples/gpio.yaml", "--http", u.Host,
			"--token-file", filepath.Join(t.TempDir(), "token"), "--sock", filepath.Join(t.TempDir(), "m.sock"))
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("second instance: %v", err)
		}
		if strings.Contains(log, "tinymapper starting") || strings.Contains(log, "device") {
			t.Errorf("the second instance opened the board or a device before failing:\n%s", log)
		}
	})
}

// TestDevicesMustBeABoundedRegularFile: --devices /dev/zero or a FIFO stops
// the start at once, saying why.
func TestDevicesMustBeABoundedRegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "x.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/dev/zero", fifo, filepath.Dir(fifo)} {
		err, _ := runOnce(t, "--board", "sim", "--devices", path, "--http", "")
		if err == nil || !strings.Contains(err.Error(), "is not a regular file") {
			t.Errorf("--devices %s: %v", path, err)
		}
	}
}
