// Command scale measures tinymapper at gateway scale: it builds the release
// binary, starts the in-repo EdgeCore stand-in (internal/edgecore) on a unix
// socket, and runs the mapper on the simulated board with N TMP102 devices of
// five properties each, collected and reported every cycle, all reported to
// the cloud. For each N it runs twice:
//
//   - unlimited: the stand-in without its rate limiter, the mapper unpaced
//     (--report-rate 0);
//   - limited: the stand-in with EdgeCore's limiter (1 request/s, burst 100),
//     the mapper with its default pacing;
//
// plus one idle run with no devices. After a warm-up it measures, over a
// window: the mapper's CPU (% of one core, from /proc/PID/task/*/schedstat),
// peak and current RSS (VmHWM, VmRSS), goroutines (go_goroutines from
// /metrics), twins/s the stand-in accepted, rate-limit refusals, sample→twin
// latency (arrival − reported.metadata["timestamp"]) and CPU per twin; it
// checks whether changed twins arrived in change order and whether the REST
// history holds every sample of the window. Then it prints a table and the
// targets of issue 4, met or not.
//
//	go run ./test/scale [-n 10,100,1000] [-modes unlimited,limited] [-warmup 10s] [-window 20s] [-profile DIR] [-args "--report-parallel 1"]
//
// With -profile, one more run (the largest N, unlimited) uses a build that
// serves net/http/pprof (added at build time with -overlay: main.go is not
// changed), and its CPU and allocation profiles of the window are written to
// DIR and summarised.
//
// `make bench-scale` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tinymapper/tinymapper/internal/columns"
)

func main() {
	ns := flag.String("n", "10,100,1000", "device counts, comma-separated")
	modes := flag.String("modes", Unlimited+","+Limited, "modes, comma-separated: "+Unlimited+", "+Limited)
	idle := flag.Bool("idle", true, "also measure the mapper with no devices")
	warmup := flag.Duration("warmup", 10*time.Second, "warm-up after every device is loaded")
	window := flag.Duration("window", 20*time.Second, "measurement window")
	cycle := flag.Int64("cycle", 1000, "collectCycle and reportCycle of every property, ms")
	bin := flag.String("bin", "", "mapper binary (default: build it with the Makefile's release flags)")
	profile := flag.String("profile", "", "directory for CPU and allocation profiles of one more run (largest N, unlimited)")
	logDir := flag.String("logs", "", "keep the mapper's logs in this directory")
	logLevel := flag.String("log-level", "warn", "the mapper's --log-level")
	mapperArgs := flag.String("args", "", "more mapper flags, space-separated (such as \"--report-parallel 1\")")
	push := flag.String("push", "", "after the other runs, one more at the largest N (unlimited) with every property pushed: "+PushMQTT+" (to a mosquitto it starts)")
	outageD := flag.Duration("outage", 30*time.Second, "with -push: stop the broker this long after the window and time the drain (0: no outage)")
	allocs := flag.Bool("allocs", true, "with -push: run the ring→client and MQTT client allocation benchmarks (go test -bench)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	base := Config{CycleMs: *cycle, Warmup: *warmup, Window: *window, LogDir: *logDir, LogLevel: *logLevel, Args: strings.Fields(*mapperArgs), Log: os.Stderr,
		Push: *push, Outage: *outageD}
	if *logDir != "" {
		if err := os.MkdirAll(*logDir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "scale:", err)
			os.Exit(1)
		}
	}
	if err := run(ctx, base, *ns, *modes, *idle, *bin, *profile, *allocs); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg Config, nsFlag, modesFlag string, idle bool, bin, profile string, allocs bool) error {
	var ns []int
	for _, s := range strings.Split(nsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-n: %q is not a device count", s)
		}
		ns = append(ns, n)
	}
	var modes []string
	for _, m := range strings.Split(modesFlag, ",") {
		if m = strings.TrimSpace(m); m != Unlimited && m != Limited {
			return fmt.Errorf("-modes: %q is not %s or %s", m, Unlimited, Limited)
		}
		modes = append(modes, m)
	}
	dir, err := os.MkdirTemp("", "tm-scale")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		fmt.Fprintln(os.Stderr, "building the release binary")
		if bin, err = Build(dir, false); err != nil {
			return err
		}
	}
	began := time.Now()
	var results []Result
	cfg.Bin = bin
	push := cfg.Push
	cfg.Push = ""
	if idle {
		cfg.Mode, cfg.N = Idle, 0
		fmt.Fprintf(os.Stderr, "run: idle\n")
		r, err := Run(ctx, cfg)
		if err != nil {
			return fmt.Errorf("idle: %w", err)
		}
		results = append(results, r)
	}
	for _, mode := range modes {
		for _, n := range ns {
			cfg.Mode, cfg.N, cfg.HistoryDevices = mode, n, []int{0, n - 1}
			fmt.Fprintf(os.Stderr, "run: %s N=%d\n", mode, n)
			r, err := Run(ctx, cfg)
			if err != nil {
				return fmt.Errorf("%s N=%d: %w", mode, n, err)
			}
			results = append(results, r)
		}
	}
	var pushRes *Result
	var ca *ClientAllocs
	if push != "" {
		c := cfg
		c.Push, c.Mode, c.N, c.HistoryDevices = push, Unlimited, ns[len(ns)-1], nil
		fmt.Fprintf(os.Stderr, "run: %s N=%d, push %s\n", c.Mode, c.N, push)
		r, err := Run(ctx, c)
		if err != nil {
			return fmt.Errorf("push %s N=%d: %w", push, c.N, err)
		}
		results = append(results, r)
		pushRes = &results[len(results)-1]
		if allocs {
			fmt.Fprintln(os.Stderr, "allocation benchmarks: data/sink BenchmarkRingToClient, data/sink/mqtt BenchmarkPublish")
			a := MeasureAllocs()
			ca = &a
		}
	}
	fmt.Printf("\ntinymapper at scale: N sim TMP102 devices × %d properties, collect/report every %d ms, all reportToCloud;\n", properties, cfg.CycleMs)
	fmt.Printf("warm-up %v, window %v per run; %d cores; %v in all\n\n", cfg.Warmup, cfg.Window, numCPU(), time.Since(began).Round(time.Second))
	PrintTable(os.Stdout, results)
	fmt.Println()
	PrintChecks(os.Stdout, results)
	fmt.Println()
	PrintTargets(os.Stdout, results)
	if pushRes != nil {
		fmt.Println()
		PrintPush(os.Stdout, *pushRes, results, ca)
	}

	if profile != "" {
		return runProfile(ctx, dir, profile, cfg, ns[len(ns)-1])
	}
	return nil
}

func numCPU() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

// runProfile runs the largest N unlimited with a build that serves pprof,
// writes the window's profiles to dir and prints the top functions.
func runProfile(ctx context.Context, tmp, dir string, cfg Config, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dir, _ = filepath.Abs(dir)
	fmt.Fprintln(os.Stderr, "building the profiling binary (net/http/pprof added with -overlay)")
	bin, err := Build(tmp, true)
	if err != nil {
		return err
	}
	if err := copyFile(bin, filepath.Join(dir, "tinymapper.pprof-build")); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	cfg.Bin, cfg.Mode, cfg.N, cfg.HistoryDevices = bin, Unlimited, n, nil
	cfg.PprofAddr, cfg.ProfileDir = "127.0.0.1:"+strconv.Itoa(port), dir
	fmt.Fprintf(os.Stderr, "run: %s N=%d, profiled\n", cfg.Mode, n)
	r, err := Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("profile run: %w", err)
	}
	fmt.Printf("\nprofiled run (%s N=%d, pprof build; not in the table): %.1f %% CPU, %.1f µs/twin, %.0f twins/s\n",
		r.Mode, r.N, r.CPUPercent, float64(r.CPUPerTwin.Nanoseconds())/1e3, r.TwinsPerSec)
	for _, p := range []struct{ file, args string }{
		{"cpu.pprof", "-top -nodecount=30"},
		{"cpu.pprof", "-top -cum -nodecount=30"},
		{"allocs.pprof", "-top -sample_index=alloc_space -nodecount=20"},
		{"allocs.pprof", "-top -sample_index=alloc_objects -nodecount=20"},
		{"heap.pprof", "-top -sample_index=inuse_space -nodecount=20"},
	} {
		args := append([]string{"tool", "pprof"}, strings.Fields(p.args)...)
		args = append(args, filepath.Join(dir, p.file))
		fmt.Printf("\n$ go %s\n", strings.Join(args, " "))
		cmd := exec.Command("go", args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "pprof: %v\n", err)
		}
	}
	fmt.Printf("\nprofiles in %s (go tool pprof -http : %s)\n", dir, filepath.Join(dir, "cpu.pprof"))
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// pprofOverlay is added to package main by the profiling build only.
const pprofOverlay = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

// Added by test/scale with go build -overlay: serves net/http/pprof on
// $TINYMAPPER_SCALE_PPROF.
func init() {
	if addr := os.Getenv("TINYMAPPER_SCALE_PPROF"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
`

// Build builds the mapper into dir with the Makefile's release flags
// (CGO_ENABLED=0, -trimpath, -tags 'grpcnotrace nethttpomithttp2', -ldflags '-s -w'). The
// profiling build keeps its symbols and adds pprofOverlay to package main.
func Build(dir string, profiling bool) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %w", err)
	}
	root := strings.TrimSpace(string(out))
	bin := filepath.Join(dir, "tinymapper")
	args := []string{"build", "-trimpath", "-tags", "grpcnotrace nethttpomithttp2"}
	if profiling {
		bin += "-pprof"
		src := filepath.Join(dir, "scale_pprof.go")
		if err := os.WriteFile(src, []byte(pprofOverlay), 0o644); err != nil {
			return "", err
		}
		overlay := filepath.Join(dir, "overlay.json")
		js := fmt.Sprintf(`{"Replace":{%q:%q}}`, filepath.Join(root, "zz_scale_pprof.go"), src)
		if err := os.WriteFile(overlay, []byte(js), 0o644); err != nil {
			return "", err
		}
		args = append(args, "-overlay", overlay)
	} else {
		args = append(args, "-ldflags", "-s -w")
	}
	args = append(args, "-o", bin, ".")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return bin, nil
}

func mib(kib int64) string { return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64) }

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64)
}

// PrintTable prints one row per run.
func PrintTable(w io.Writer, rs []Result) {
	cells := [][]string{strings.Split("mode|N|CPU %|µs CPU/twin|peak RSS MiB|RSS MiB|anon MiB|heap MiB|goroutines|threads|twins/s|of|reports/s|states/s|reads/s|rejected|p50 ms|p99 ms|max late ms|host busy %", "|")}
	for _, r := range rs {
		perTwin := "-"
		if r.CPUPerTwin > 0 {
			perTwin = strconv.FormatFloat(float64(r.CPUPerTwin.Nanoseconds())/1e3, 'f', 1, 64)
		}
		cells = append(cells, []string{r.Mode, strconv.Itoa(r.N), fmt.Sprintf("%.2f", r.CPUPercent), perTwin,
			mib(r.PeakRSS), mib(r.RSS), mib(r.RSSAnon), mib(r.HeapInuse), strconv.Itoa(r.Goroutines), strconv.Itoa(r.Threads),
			fmt.Sprintf("%.1f", r.TwinsPerSec), fmt.Sprintf("%.0f", r.Expected), fmt.Sprintf("%.1f", r.ReportsPerS),
			fmt.Sprintf("%.1f", r.StatesPerS), fmt.Sprintf("%.0f", r.ReadsPerSec), strconv.Itoa(r.RejectedAll),
			ms(r.LatencyP50), ms(r.LatencyP99), ms(r.MaxLateness), fmt.Sprintf("%.0f", r.HostBusy)})
	}
	columns.Write(w, cells, func(col int) bool { return col > 0 })
	fmt.Fprintln(w, "CPU % is of one core over the window; twins/s, reports/s (ReportDeviceStatus) and states/s (ReportDeviceStates) are")
	fmt.Fprintln(w, "what the stand-in accepted; rejected counts its rate-limit refusals since it started;")
	fmt.Fprintln(w, "peak RSS is VmHWM; RSS is VmRSS at the end, of which anon is RssAnon (the rest is the binary's own pages);")
	fmt.Fprintln(w, "heap is go_memstats_heap_inuse_bytes; p50/p99 are sample→twin latency (arrival − reported.metadata.timestamp); max late is the worst schedule lateness of a bus.")
	fmt.Fprintln(w, "host busy % is how busy all the host's cores were in the window (mapper, stand-in and anything else): CPU figures are noisy when it is high.")
}

// PrintChecks prints the change-order and history checks of every run.
func PrintChecks(w io.Writer, rs []Result) {
	for _, r := range rs {
		if r.Mode == Idle {
			continue
		}
		fmt.Fprintf(w, "%s N=%d: change order: %s\n", r.Mode, r.N, r.Order)
		for _, h := range r.History {
			fmt.Fprintf(w, "%s N=%d: REST history of %s\n", r.Mode, r.N, h)
		}
		if r.Invalid > 0 {
			fmt.Fprintf(w, "%s N=%d: %d twins EdgeCore would drop\n", r.Mode, r.N, r.Invalid)
		}
	}
}

// PrintTargets prints issue 4's scale targets, met or not.
func PrintTargets(w io.Writer, rs []Result) {
	find := func(mode string, n int) *Result {
		for i := range rs {
			if rs[i].Mode == mode && (n < 0 || rs[i].N == n) {
				return &rs[i]
			}
		}
		return nil
	}
	line := func(target string, met bool, measured string) {
		mark := "met      "
		switch {
		case strings.HasPrefix(measured, "not shown"):
			mark = "NOT SHOWN"
		case !met:
			mark = "NOT MET  "
		}
		fmt.Fprintf(w, "  %s  %-48s %s\n", mark, target, measured)
	}
	fmt.Fprintln(w, "targets (issue 4):")
	if r := find(Unlimited, 1000); r != nil {
		line("N=1000 unlimited: all 5000 twins/s delivered", r.TwinsPerSec >= 0.98*r.Expected,
			fmt.Sprintf("%.0f twins/s of %.0f (%.1f %%)", r.TwinsPerSec, r.Expected, 100*r.TwinsPerSec/r.Expected))
		line("N=1000 unlimited: ≤ 30 µs mapper CPU per twin", r.CPUPerTwin > 0 && r.CPUPerTwin <= 30*time.Microsecond,
			fmt.Sprintf("%.1f µs (%.1f %% of a core)", float64(r.CPUPerTwin.Nanoseconds())/1e3, r.CPUPercent))
		// The budgets are in MB (10^6 bytes); sizes here are KiB.
		line("N=1000 unlimited: peak RSS ≤ 25 MB", r.PeakRSS*1024 <= 25e6, fmt.Sprintf("%s MiB (%.1f MB)", mib(r.PeakRSS), float64(r.PeakRSS)*1024/1e6))
		line("N=1000 unlimited: goroutines ≤ 50", r.Goroutines <= 50, strconv.Itoa(r.Goroutines))
	} else {
		fmt.Fprintln(w, "  (no N=1000 unlimited run)")
	}
	if r := find(Idle, -1); r != nil {
		line("idle RSS ≤ 10 MB", r.RSS*1024 <= 10e6, fmt.Sprintf("%s MiB = %.1f MB (peak %s MiB; anonymous %s MiB, the rest the binary's pages)",
			mib(r.RSS), float64(r.RSS)*1024/1e6, mib(r.PeakRSS), mib(r.RSSAnon)))
	}
	if r := find(Limited, 1000); r != nil {
		line("N=1000 limited: 0 rejections", r.RejectedAll == 0, strconv.Itoa(r.RejectedAll))
		order := r.Order.String()
		if r.TwinsPerSec == 0 {
			order = fmt.Sprintf("not shown in the window: no twin arrived in it (%.1f state reports/s took the calls); before it, %s", r.StatesPerS, order)
		}
		line("N=1000 limited: changed twins in change order", r.Order.OutOfOrder == 0 && r.Order.Changes > 0, order)
		ok := len(r.History) > 0
		var parts []string
		for _, h := range r.History {
			ok = ok && h.OK()
			parts = append(parts, fmt.Sprintf("%s %d/%d", h.Device, h.Samples, h.Expected))
		}
		line("N=1000 limited: REST history has every sample", ok, strings.Join(parts, ", "))
	} else {
		fmt.Fprintln(w, "  (no N=1000 limited run)")
	}
}
