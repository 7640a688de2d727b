package main

import (
	"context"
	"github.com/tinymapper/tinymapper/internal/await"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// lastReport matches the log line of the report sent on the way out.
var lastReport = regexp.MustCompile(`msg="last report sent" devices=(\d+)`)

// TestASignalSendsTheLastChangeRemovesTheSocketAndExitsZero holds the
// shutdown for both signals a service manager or a terminal sends: a value
// that changed after the last report that got through reaches EdgeCore in
// the final report, and the process exits 0 without its socket, within the
// budget. EdgeCore turns every report away (as its empty limiter does) from
// the change until the signal, so only that final report can deliver it.
func TestASignalSendsTheLastChangeRemovesTheSocketAndExitsZero(t *testing.T) {
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{{"SIGTERM", syscall.SIGTERM}, {"SIGINT", syscall.SIGINT}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, err := os.MkdirTemp("", "tm")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			sock, ecSock := filepath.Join(dir, "m.sock"), filepath.Join(dir, "dmi.sock")
			// Sampled often, but no heartbeat within the test.
			slow := edgecore.Cycles{CollectMs: 200, ReportMs: 600_000}
			stub, err := edgecore.Start(ecSock, edgecore.Options{
				Models: []*pb.DeviceModel{eepromModel()}, Devices: []*pb.Device{edgecore.EEPROMDevice("7", slow)}})
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
			defer func() {
				if t.Failed() {
					t.Logf("mapper log:\n%s", out.String())
				}
			}()
			await.Within(t, 15*time.Second, "twin 7 in a regular report", func() bool {
				tw, _ := stub.Twin("default", "eeprom", "byte16")
				return tw.Reported == "7"
			})
			await.Within(t, 5*time.Second, "state online", func() bool { return len(stub.States("default", "eeprom")) > 0 })
			if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("mapper socket: %v, mode %v; want mode 0600", err, fi.Mode().Perm())
			}

			// From here EdgeCore refuses reports; the value changes to 99.
			stub.Refuse(true)
			refused := stub.Counts().Rejected
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, done, err := stub.Mapper("i2c")
			if err != nil {
				t.Fatal(err)
			}
			defer done()
			if _, err := c.UpdateDevice(ctx, &pb.UpdateDeviceRequest{Device: edgecore.EEPROMDevice("99", slow)}); err != nil {
				t.Fatal(err)
			}
			await.Within(t, 5*time.Second, "the mapper to read 99 back", func() bool {
				got, err := c.GetDevice(ctx, &pb.GetDeviceRequest{DeviceName: "eeprom", DeviceNamespace: "default"})
				tw := got.GetDevice().GetStatus().GetTwins()
				return err == nil && len(tw) == 1 && tw[0].GetReported().GetValue() == "99"
			})
			// Three refusals: the reporter now backs off for 4 s.
			await.Within(t, 10*time.Second, "the reporter to try and be refused three times", func() bool {
				return stub.Counts().Rejected >= refused+3
			})
			if tw, _ := stub.Twin("default", "eeprom", "byte16"); tw.Reported != "7" {
				t.Fatalf("twin %q reached EdgeCore while it refused reports", tw.Reported)
			}

			stub.Refuse(false)
			signalled := time.Now()
			cmd.Process.Signal(tc.sig)
			err = cmd.Wait()
			took := time.Since(signalled)
			if err != nil {
				t.Fatalf("exit after %s: %v; want status 0", tc.name, err)
			}
			if took > shutdownBudget+2*time.Second {
				t.Errorf("shutdown took %v; want within the %v budget", took, shutdownBudget)
			}
			if _, err := os.Stat(sock); !os.IsNotExist(err) {
				t.Errorf("socket still there after exit (stat: %v)", err)
			}
			tw, _ := stub.Twin("default", "eeprom", "byte16")
			if tw.Reported != "99" || tw.ObservedDesired != "99" || tw.At.Before(signalled) {
				t.Errorf("twin %+v (signal at %v); want 99 delivered after the signal, by the last report", tw, signalled.Format(time.StampMicro))
			}
			if m := lastReport.FindStringSubmatch(out.String()); m == nil || m[1] == "0" {
				t.Errorf("last report log: %q; want a line saying at least one device was sent", m)
			}
		})
	}
}
