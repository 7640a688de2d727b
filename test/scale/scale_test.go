package main

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data/sink/dbtest"
)

// TestSmoke runs the harness briefly, N=10 unlimited for a 3 s window, on the
// release build (TINYMAPPER_BIN, or built here), and checks that what it
// measures is sane: it is `make test`'s guard that `make bench-scale` works.
// It checks no performance target: those are for the benchmark output.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the mapper")
	}
	bin := smokeBin(t)
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 10
	r, err := Run(ctx, Config{Bin: bin, Mode: Unlimited, N: n, CycleMs: 1000, Warmup: 2 * time.Second,
		Window: 3 * time.Second, HistoryDevices: []int{0, n - 1}, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var table bytes.Buffer
	PrintTable(&table, []Result{r})
	PrintChecks(&table, []Result{r})
	t.Logf("\n%s", table.String())

	expected := float64(n * properties) // twins/s: every device, every second
	if r.Expected != expected {
		t.Errorf("expected %v twins/s; want %v", r.Expected, expected)
	}
	// The reporter sends a device when it changes and at least every
	// reportCycle; its 100 ms scan lets a heartbeat slip a little.
	if r.TwinsPerSec < 0.7*expected || r.TwinsPerSec > 1.3*expected {
		t.Errorf("%.1f twins/s delivered; want about %v", r.TwinsPerSec, expected)
	}
	if r.ReadsPerSec < 0.7*expected || r.ReadsPerSec > 1.3*expected {
		t.Errorf("%.1f bus reads/s; want about %v (each property once per collectCycle)", r.ReadsPerSec, expected)
	}
	if r.CPUPercent <= 0 || r.CPUPercent > 200 {
		t.Errorf("CPU %.2f %% of a core; want a positive figure below 200", r.CPUPercent)
	}
	if r.CPUPerTwin <= 0 {
		t.Errorf("CPU per twin %v; want a positive figure", r.CPUPerTwin)
	}
	if r.PeakRSS < 1024 || r.PeakRSS > 512*1024 || r.RSS > r.PeakRSS {
		t.Errorf("RSS %d KiB, peak %d KiB; want a peak between 1 MiB and 512 MiB, at least the current", r.RSS, r.PeakRSS)
	}
	if r.Goroutines < 2 || r.Goroutines > 1000 || r.Threads < 1 {
		t.Errorf("%d goroutines, %d threads; want sane counts", r.Goroutines, r.Threads)
	}
	if r.Latencies == 0 || r.LatencyP50 <= 0 || r.LatencyP99 < r.LatencyP50 || r.LatencyP99 > 5*time.Second {
		t.Errorf("latency p50 %v p99 %v over %d twins; want 0 < p50 ≤ p99 ≤ 5 s", r.LatencyP50, r.LatencyP99, r.Latencies)
	}
	if r.RejectedAll != 0 || r.Invalid != 0 {
		t.Errorf("%d rejected calls, %d invalid twins; want none without a limiter", r.RejectedAll, r.Invalid)
	}
	// Order is only logged: on a loaded machine schedule jitter can exceed
	// the check's slack without anything being wrong.
	if r.Order.Changes == 0 {
		t.Errorf("change order: %v; want changed reports checked", r.Order)
	}
	if len(r.History) != 2 {
		t.Fatalf("%d history checks; want 2", len(r.History))
	}
	for _, h := range r.History {
		if !h.OK() || h.Samples < 2 {
			t.Errorf("REST history: %v; want every sample of the window", h)
		}
	}
}

// TestSmokePush runs the -push mqtt mode briefly, N=10 for a 3 s window
// and a 1 s broker outage, and checks that what it measures is sane: every
// sample pushed arrives, the CPU per sample is positive, and the drain
// after the outage is timed. It checks no performance target.
func TestSmokePush(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the mapper and mosquitto")
	}
	dbtest.Need(t, "mosquitto", "mosquitto") // fails under CI when missing
	dbtest.Need(t, "mosquitto_sub", "mosquitto-clients")
	dbtest.Need(t, "mosquitto_pub", "mosquitto-clients")
	bin := smokeBin(t)
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 10
	r, err := Run(ctx, Config{Bin: bin, Mode: Unlimited, N: n, CycleMs: 1000, Warmup: 2 * time.Second,
		Window: 3 * time.Second, Push: PushMQTT, Outage: time.Second, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var out bytes.Buffer
	PrintPush(&out, r, []Result{r}, nil)
	t.Logf("\n%s", out.String())
	p := r.Push
	if p == nil {
		t.Fatal("no push result")
	}
	expected := float64(n * properties)
	if p.PushedPerSec < 0.7*expected || p.PushedPerSec > 1.3*expected {
		t.Errorf("%.1f samples/s pushed; want about %v", p.PushedPerSec, expected)
	}
	if p.ArrivedPerSec < 0.7*expected || p.ArrivedPerSec > 1.3*expected {
		t.Errorf("%.1f samples/s arrived; want about %v", p.ArrivedPerSec, expected)
	}
	if p.CPUPerSample <= 0 {
		t.Errorf("CPU per pushed sample %v; want a positive figure", p.CPUPerSample)
	}
	if p.Drain <= 0 || p.Outage != time.Second {
		t.Errorf("outage %v drained in %v; want a 1 s outage drained within %v", p.Outage, p.Drain, drainLimit)
	}
	if p.OutageDropped != 0 {
		t.Errorf("%.0f samples dropped in a 1 s outage at %v/s; want none (the buffer holds 10000)", p.OutageDropped, expected)
	}
	if r.PeakRSS < 1024 || p.PeakRSSAfter < r.PeakRSS || p.PeakRSSAfter > 512*1024 {
		t.Errorf("peak RSS %d KiB, after the outage %d KiB; want a peak between 1 MiB and 512 MiB that the outage does not lower", r.PeakRSS, p.PeakRSSAfter)
	}
}

var smoke struct {
	once     sync.Once
	bin, dir string
	err      error
}

// smokeBin is TINYMAPPER_BIN, or the release binary built once for every
// smoke test of the run.
func smokeBin(t *testing.T) string {
	if bin := os.Getenv("TINYMAPPER_BIN"); bin != "" {
		return bin
	}
	smoke.once.Do(func() {
		if smoke.dir, smoke.err = os.MkdirTemp("", "tm-smoke"); smoke.err == nil {
			smoke.bin, smoke.err = Build(smoke.dir, false)
		}
	})
	if smoke.err != nil {
		t.Fatal(smoke.err)
	}
	return smoke.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if smoke.dir != "" {
		os.RemoveAll(smoke.dir)
	}
	os.Exit(code)
}
