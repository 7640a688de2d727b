package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
	"github.com/tinymapper/tinymapper/internal/edgecore"
)

// Modes of a run.
const (
	Unlimited = "unlimited" // stand-in without its limiter, mapper --report-rate 0
	Limited   = "limited"   // stand-in with EdgeCore's limiter (1/s, burst 100), mapper's default pacing
	Idle      = "idle"      // no devices: the mapper's floor
)

// Config is one run of the mapper against the stand-in.
type Config struct {
	Bin     string // the mapper binary
	Mode    string
	N       int           // devices, 5 properties each
	CycleMs int64         // collectCycle and reportCycle
	Warmup  time.Duration // after every device is loaded
	Window  time.Duration // measured
	// HistoryDevices are the devices whose REST history is checked for
	// every sample of the window.
	HistoryDevices []int
	// PprofAddr, when set, is given to a profiling build as
	// TINYMAPPER_SCALE_PPROF, and ProfileDir receives cpu.pprof and
	// allocs.pprof of the window, and heap.pprof at its end.
	PprofAddr, ProfileDir string
	// LogDir, when set, keeps the mapper's log there, at LogLevel (warn
	// when empty).
	LogDir, LogLevel string
	// Args are more mapper flags, after the harness's own.
	Args []string
	// Push, when PushMQTT, also pushes every property to a mosquitto
	// the run starts, counts arrivals with mosquitto_sub, and after the
	// window stops the broker for Outage (when > 0) and times the drain.
	Push   string
	Outage time.Duration
	Log    io.Writer // progress; nil discards
}

// Result is what one run measured. Sizes are in KiB.
type Result struct {
	Mode string
	N    int

	Window      time.Duration
	CPUPercent  float64 // of one core, over the window
	CPUPerTwin  time.Duration
	PeakRSS     int64 // VmHWM at the end
	RSS         int64 // VmRSS at the end
	RSSAnon     int64 // of which anonymous memory (heap, stacks, runtime)
	RSSFile     int64 // of which the binary's pages (clean, shared, evictable)
	Goroutines  int   // most seen during the window
	Threads     int
	TwinsPerSec float64
	Expected    float64 // twins/s if every device sent its 5 twins every cycle
	ReportsPerS float64
	StatesPerS  float64 // ReportDeviceStates calls accepted
	ReadsPerSec float64 // bus reads, from /metrics
	Rejected    int     // rate-limit refusals in the window
	RejectedAll int     // since the stand-in started
	Invalid     int     // twins EdgeCore would drop
	LatencyP50  time.Duration
	LatencyP99  time.Duration
	LatencyMax  time.Duration
	Latencies   int
	MaxLateness time.Duration // largest schedule lateness of any bus since start
	HostBusy    float64       // % of all the host's cores busy in the window (everything: mapper, stand-in, others)
	HeapInuse   int64
	Order       OrderCheck
	History     []HistoryCheck
	Push        *PushResult // -push runs only
}

// Run starts the stand-in and the mapper, waits for every device, warms up,
// measures over the window, and stops both.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", args...)
		}
	}
	res = Result{Mode: cfg.Mode, N: cfg.N}
	dir, err := os.MkdirTemp("", "tm") // short: a unix socket path has ~108 bytes
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	var push *pb.PushMethod
	var mq *broker
	var sub *subscriber
	if cfg.Push != "" {
		if cfg.Push != PushMQTT {
			return res, fmt.Errorf("push %q: only %s", cfg.Push, PushMQTT)
		}
		res.Mode += "+" + cfg.Push
		if mq, err = startBroker(dir); err != nil {
			return res, err
		}
		defer mq.stop()
		if sub, err = startSubscriber(ctx, mq.port); err != nil {
			return res, err
		}
		defer sub.close()
		push = mqttPush(mq.port)
	}

	n := cfg.N
	if cfg.Mode == Idle {
		n = 0
	}
	tracker := newTracker()
	opts := edgecore.Options{Unlimited: cfg.Mode != Limited, OnReport: tracker.onReport}
	if n > 0 {
		opts.Models = []*pb.DeviceModel{scaleModel()}
		opts.Devices = scaleDevices(n, cfg.CycleMs, push)
	}
	ecSock := filepath.Join(dir, "dmi.sock")
	stub, err := edgecore.Start(ecSock, opts)
	if err != nil {
		return res, fmt.Errorf("stand-in: %w", err)
	}
	defer stub.Close()

	port, err := freePort()
	if err != nil {
		return res, err
	}
	base := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"--board", "sim", "--edgecore-sock", ecSock, "--sock", filepath.Join(dir, "mapper.sock"),
		"--http", strings.TrimPrefix(base, "http://"), "--token-file", filepath.Join(dir, "token"),
		"--log-level", cmp.Or(cfg.LogLevel, "warn")}
	if cfg.Mode != Limited {
		args = append(args, "--report-rate", "0")
	}
	args = append(args, cfg.Args...)
	logPath := filepath.Join(dir, "mapper.log")
	if cfg.LogDir != "" {
		logPath = filepath.Join(cfg.LogDir, fmt.Sprintf("mapper-%s-%d.log", cfg.Mode, n))
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return res, err
	}
	defer logFile.Close()
	cmd := exec.Command(cfg.Bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = os.Environ()
	if cfg.PprofAddr != "" {
		cmd.Env = append(cmd.Env, "TINYMAPPER_SCALE_PPROF="+cfg.PprofAddr)
	}
	if err := cmd.Start(); err != nil {
		return res, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	pid := cmd.Process.Pid
	defer func() {
		stopped := false
		select {
		case <-exited: // it died: that is an error, unless we are failing anyway
		default:
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
				stopped = true
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
				if err == nil {
					err = errors.New("the mapper did not stop within 10 s of SIGTERM")
				}
			}
		}
		if !stopped && err == nil {
			err = errors.New("the mapper exited during the run")
		}
		if err != nil {
			err = fmt.Errorf("%w\nmapper log (tail):\n%s", err, tail(logPath, 20))
		}
	}()
	alive := func() error {
		select {
		case e := <-exited:
			exited <- e
			return fmt.Errorf("the mapper exited: %v", e)
		default:
			return nil
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}

	// Every device loaded.
	start := time.Now()
	for {
		if err := alive(); err != nil {
			return res, err
		}
		if got, err := countDevices(client, base); err == nil && got == n {
			break
		}
		if time.Since(start) > 120*time.Second {
			return res, fmt.Errorf("the mapper did not load %d devices within 120 s", n)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return res, err
		}
	}
	logf("  %s N=%d: %d devices loaded in %v; warming up %v", cfg.Mode, n, n, time.Since(start).Round(time.Millisecond), cfg.Warmup)
	if cfg.Mode == Limited && n > 0 {
		// First sample times, for the change-order check of first reports.
		tracker.firstSamples = firstSampleTimes(client, base, n)
	}
	if err := sleep(ctx, cfg.Warmup); err != nil {
		return res, err
	}

	// The window.
	states := func() int {
		c := 0
		for i := range n {
			c += len(stub.States(namespace, deviceName(i)))
		}
		return c
	}
	states0 := states()
	stub.Mark()
	cpu0, err := cpuTime(pid)
	if err != nil {
		return res, err
	}
	host0, _ := hostTimes()
	t0 := time.Now()
	m0, err := scrape(client, base)
	if err != nil {
		return res, fmt.Errorf("metrics: %w", err)
	}
	res.Goroutines = int(m0.value("go_goroutines"))
	var sub0 int64
	if sub != nil {
		sub0 = sub.n.Load()
	}
	var profErr error
	var profWG sync.WaitGroup
	if cfg.PprofAddr != "" && cfg.ProfileDir != "" {
		secs := int(cfg.Window.Seconds())
		for _, p := range []string{"profile", "allocs"} {
			profWG.Add(1)
			go func() {
				defer profWG.Done()
				name := map[string]string{"profile": "cpu.pprof", "allocs": "allocs.pprof"}[p]
				if err := fetchTo(fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", cfg.PprofAddr, p, secs),
					filepath.Join(cfg.ProfileDir, name), time.Duration(secs+30)*time.Second); err != nil {
					profErr = err
				}
			}()
		}
	}
	hist := make([]*historyCollector, len(cfg.HistoryDevices))
	for i, d := range cfg.HistoryDevices {
		if d < n {
			hist[i] = &historyCollector{device: deviceName(d)}
		}
	}
	collect := func() {
		for _, h := range hist {
			if h != nil {
				h.collect(client, base)
			}
		}
	}
	collect()
	end := t0.Add(cfg.Window)
	lastHist := time.Now()
	for time.Now().Before(end) {
		if err := sleep(ctx, min(10*time.Second, time.Until(end))); err != nil {
			return res, err
		}
		if err := alive(); err != nil {
			return res, err
		}
		if m, err := scrape(client, base); err == nil {
			res.Goroutines = max(res.Goroutines, int(m.value("go_goroutines")))
		}
		if time.Since(lastHist) > 30*time.Second {
			collect()
			lastHist = time.Now()
		}
	}
	cpu1, err := cpuTime(pid)
	if err != nil {
		return res, err
	}
	wall := time.Since(t0)
	var sub1 int64
	if sub != nil {
		sub1 = sub.n.Load()
	}
	if host1, err := hostTimes(); err == nil && host1.total > host0.total {
		res.HostBusy = 100 * float64(host1.busy-host0.busy) / float64(host1.total-host0.total)
	}
	win := stub.Window()
	states1 := states()
	collect()
	m1, err := scrape(client, base)
	if err != nil {
		return res, fmt.Errorf("metrics: %w", err)
	}
	res.Goroutines = max(res.Goroutines, int(m1.value("go_goroutines")))
	st, err := procStatus(pid)
	if err != nil {
		return res, err
	}
	profWG.Wait()
	if cfg.PprofAddr != "" && cfg.ProfileDir != "" && profErr == nil {
		profErr = fetchTo("http://"+cfg.PprofAddr+"/debug/pprof/heap", filepath.Join(cfg.ProfileDir, "heap.pprof"), 30*time.Second)
	}
	if profErr != nil {
		logf("  profile: %v", profErr)
	}

	res.Window = wall
	res.CPUPercent = 100 * float64(cpu1-cpu0) / float64(wall)
	res.PeakRSS, res.RSS, res.Threads = st["VmHWM"], st["VmRSS"], int(st["Threads"])
	res.RSSAnon, res.RSSFile = st["RssAnon"], st["RssFile"]
	secs := win.Elapsed.Seconds()
	res.TwinsPerSec = float64(win.TwinUpdates) / secs
	res.ReportsPerS = float64(win.Reports) / secs
	res.StatesPerS = float64(states1-states0) / secs
	res.Expected = float64(n*properties) * 1000 / float64(cfg.CycleMs)
	if win.TwinUpdates > 0 {
		res.CPUPerTwin = (cpu1 - cpu0) / time.Duration(win.TwinUpdates)
	}
	res.Rejected = win.Rejected
	res.RejectedAll = stub.Counts().Rejected
	res.Invalid = stub.Counts().Invalid
	res.ReadsPerSec = (m1.sum("tinymapper_bus_reads_total") - m0.sum("tinymapper_bus_reads_total")) / wall.Seconds()
	res.MaxLateness = time.Duration(m1.max("tinymapper_bus_schedule_lateness_max_seconds") * 1e9)
	res.HeapInuse = int64(m1.value("go_memstats_heap_inuse_bytes")) / 1024
	if l := win.Latencies; len(l) > 0 {
		slices.Sort(l)
		res.Latencies = len(l)
		res.LatencyP50 = l[len(l)/2]
		res.LatencyP99 = l[min(len(l)-1, len(l)*99/100)]
		res.LatencyMax = l[len(l)-1]
	}
	if sub != nil {
		p := &PushResult{}
		sent := m1.sum("tinymapper_push_sent_total") - m0.sum("tinymapper_push_sent_total")
		p.PushedPerSec = sent / wall.Seconds()
		p.ArrivedPerSec = float64(sub1-sub0) / wall.Seconds()
		if sent > 0 {
			p.CPUPerSample = time.Duration(float64(cpu1-cpu0) / sent)
		}
		p.Failed = m1.sum("tinymapper_push_failed_total") - m0.sum("tinymapper_push_failed_total")
		p.Dropped = m1.sum("tinymapper_push_dropped_total") - m0.sum("tinymapper_push_dropped_total")
		res.Push = p
		if cfg.Outage > 0 {
			logf("  %s N=%d: broker outage of %v", res.Mode, n, cfg.Outage)
			perCycle := float64(n * properties)
			if err := outage(ctx, mq, sub, func() (metrics, error) { return scrape(client, base) }, cfg.Outage, perCycle, p); err != nil {
				return res, fmt.Errorf("outage: %w", err)
			}
			if err := alive(); err != nil {
				return res, err
			}
			st, err := procStatus(pid)
			if err != nil {
				return res, fmt.Errorf("after the outage: %w", err)
			}
			// VmHWM is the larger of a high-water mark the kernel
			// updates lazily and the current RSS, so a later read can
			// be a little lower than an earlier one: the peak over
			// the whole run is the larger of the two reads.
			p.PeakRSSAfter = max(res.PeakRSS, st["VmHWM"])
		}
	}
	res.Order = tracker.check(time.Duration(cfg.CycleMs) * time.Millisecond)
	for _, h := range hist {
		if h != nil {
			res.History = append(res.History, h.check(t0, t0.Add(wall), time.Duration(cfg.CycleMs)*time.Millisecond))
		}
	}
	return res, nil
}
