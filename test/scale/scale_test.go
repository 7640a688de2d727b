package main

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

// TestSmoke runs the harness briefly, N=10 unlimited for a 3 s window, on the
// release build (TINYMAPPER_BIN, or built here), and checks that what it
// measures is sane: it is `make test`'s guard that `make bench-scale` works.
// It checks no performance target: those are for the benchmark output.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the mapper")
	}
	bin := os.Getenv("TINYMAPPER_BIN")
	if bin == "" {
		var err error
		if bin, err = Build(t.TempDir(), false); err != nil {
			t.Fatal(err)
		}
	}
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
