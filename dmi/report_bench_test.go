package dmi

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/internal/edgecore"
)

// standInSockEnv makes TestEdgeCoreStandInHelperProcess serve the EdgeCore
// stand-in on that socket until it is killed: BenchmarkReportStatusStandIn
// runs it in a child process so that allocs/op count the client only.
const standInSockEnv = "TINYMAPPER_BENCH_STANDIN_SOCK"

func TestEdgeCoreStandInHelperProcess(t *testing.T) {
	sock := os.Getenv(standInSockEnv)
	if sock == "" {
		t.Skip("helper process for BenchmarkReportStatusStandIn")
	}
	stub, err := edgecore.Start(sock, edgecore.Options{Unlimited: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stub.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

// BenchmarkReportStatusStandIn is one report build+send: dmi.Client.ReportStatus
// of one device with five twins (as the scale harness's TMP102 devices have)
// over a unix socket to the EdgeCore stand-in without its rate limiter, which
// checks and keeps every twin as EdgeCore would. "client+server" runs the
// stand-in in this process, so B/op and allocs/op include gRPC's server side;
// "client" runs it in a child process, so they are the mapper's own, and
// cpu-µs/op is this process's CPU time (user+system) per call. "client/N-in-
// flight" keeps N calls in flight from N goroutines, as the reporter does
// when its pacing lets calls go at once (report.parallel).
func BenchmarkReportStatusStandIn(b *testing.B) {
	at := time.Now()
	twins := []device.Twin{
		{Property: "temperature", Reported: "22.8125", Type: device.TypeFloat, Time: at},
		{Property: "config", Reported: "24736", Type: device.TypeInt, Time: at},
		{Property: "tlow", Reported: "75", Type: device.TypeFloat, Time: at},
		{Property: "thigh", Reported: "80", Type: device.TypeFloat, Time: at},
		{Property: "temperature-f", Reported: "73.0625", Type: device.TypeFloat, Time: at},
	}
	cases := []struct {
		name     string
		child    bool
		inFlight int
	}{
		{"client+server", false, 1},
		{"client", true, 1},
		{"client/4-in-flight", true, 4},
		{"client/8-in-flight", true, 8},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			dir, err := os.MkdirTemp("", "tm")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { os.RemoveAll(dir) })
			sock := filepath.Join(dir, "dmi.sock")
			if tc.child {
				startStandInProcess(b, sock)
			} else {
				stub, err := edgecore.Start(sock, edgecore.Options{Unlimited: true})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(stub.Close)
			}
			c, err := NewClient(ClientConfig{Socket: sock, Address: filepath.Join(dir, "mapper.sock"), Protocols: []string{"i2c"}},
				device.NewManager(device.Options{}))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { c.Close() })
			ctx := context.Background()
			// The first call connects.
			if err := c.ReportStatus(ctx, "default", "sensor-0000", twins); err != nil {
				b.Fatal(err)
			}
			calls := make(chan struct{})
			var wg sync.WaitGroup
			for range tc.inFlight {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range calls {
						if err := c.ReportStatus(ctx, "default", "sensor-0000", twins); err != nil {
							b.Error(err)
						}
					}
				}()
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			for b.Loop() {
				calls <- struct{}{}
			}
			close(calls)
			wg.Wait()
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
		})
	}
}

// processCPU returns the CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startStandInProcess runs the stand-in in a child process (this test binary
// running TestEdgeCoreStandInHelperProcess) until the benchmark ends.
func startStandInProcess(b *testing.B, sock string) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEdgeCoreStandInHelperProcess$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), standInSockEnv+"="+sock)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("the stand-in process did not start")
		}
	}
}

func BenchmarkReportStatus(b *testing.B) {
	sock := filepath.Join(socketDir(b), "dmi.sock")
	edge := &fakeEdgeCore{forget: true}
	edge.start(b, sock)
	c := newTestClient(b, ClientConfig{Socket: sock}, newFakeRegistry(), nil)
	ctx := context.Background()
	at := time.Now()
	twins := []device.Twin{
		{Property: "temperature", Reported: "21.5", Type: device.TypeFloat, Time: at},
		{Property: "alert", Reported: "false", ObservedDesired: "false", Type: device.TypeBoolean, Time: at},
		{Property: "count", Reported: "7", Type: device.TypeInt, Time: at},
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.ReportStatus(ctx, "plant", "thermo", twins); err != nil {
			b.Fatal(err)
		}
	}
}
