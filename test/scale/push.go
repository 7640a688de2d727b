package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// PushMQTT is the -push mode: every property is also pushed (pushMethod.mqtt,
// QoS 1) to one mosquitto, and mosquitto_sub -q 1 counts what arrives.
const PushMQTT = "mqtt"

// broker is a mosquitto on a free loopback port, with persistence so that
// the subscriber's QoS 1 session survives the outage, TCP_NODELAY so that
// PUBACKs are not held ~40 ms, and no limit on queued messages.
type broker struct {
	port int
	conf string
	cmd  *exec.Cmd
}

func startBroker(dir string) (*broker, error) {
	if _, err := exec.LookPath("mosquitto"); err != nil {
		if _, err := os.Stat("/usr/sbin/mosquitto"); err != nil {
			return nil, errors.New("-push mqtt needs mosquitto and mosquitto_sub: apt-get install mosquitto mosquitto-clients")
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b := &broker{port: port, conf: filepath.Join(dir, "mosquitto.conf")}
	// user root: as root, mosquitto would switch to user mosquitto, which
	// cannot write its database into our directory.
	conf := fmt.Sprintf("user root\nlistener %d 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"+
		"persistence true\npersistence_location %s/\nmax_queued_messages 0\nmax_inflight_messages 0\n", port, dir)
	if err := os.WriteFile(b.conf, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	return b, b.start()
}

func mosquittoPath() string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	return "/usr/sbin/mosquitto"
}

func (b *broker) start() error {
	b.cmd = exec.Command(mosquittoPath(), "-c", b.conf)
	if err := b.cmd.Start(); err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if exec.Command("mosquitto_pub", "-p", strconv.Itoa(b.port), "-t", "probe", "-m", "x").Run() == nil {
			return nil
		}
	}
	b.stop()
	return errors.New("mosquitto did not listen within 10 s")
}

// stop ends the broker with SIGTERM, so that it saves its sessions.
func (b *broker) stop() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Wait()
	b.cmd = nil
}

// subscriber is mosquitto_sub -q 1 with a persistent session on
// tinymapper/#, started again whenever it exits (the broker went away). It
// counts the messages that arrive.
type subscriber struct {
	n    atomic.Int64
	mu   sync.Mutex
	cmd  *exec.Cmd
	stop chan struct{}
	done chan struct{}
}

func startSubscriber(ctx context.Context, port int) (*subscriber, error) {
	s := &subscriber{stop: make(chan struct{}), done: make(chan struct{})}
	var ready atomic.Bool
	go func() {
		defer close(s.done)
		for {
			cmd := exec.Command("mosquitto_sub", "-p", strconv.Itoa(port), "-q", "1", "-c", "-i", "tinymapper-scale-sub",
				"-t", "tinymapper/#", "-t", "scale/ready", "-F", "%t")
			out, err := cmd.StdoutPipe()
			if err == nil {
				err = cmd.Start()
			}
			if err == nil {
				s.mu.Lock()
				s.cmd = cmd
				s.mu.Unlock()
				r := bufio.NewReaderSize(out, 64<<10)
				for {
					line, err := r.ReadSlice('\n')
					if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
						break
					}
					if strings.HasPrefix(string(line), "scale/ready") {
						ready.Store(true)
					} else {
						s.n.Add(1)
					}
				}
				io.Copy(io.Discard, out)
				cmd.Wait()
			}
			select {
			case <-s.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); !ready.Load(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.close()
			return nil, errors.New("mosquitto_sub did not subscribe within 10 s")
		}
		exec.Command("mosquitto_pub", "-p", strconv.Itoa(port), "-q", "1", "-t", "scale/ready", "-m", "x").Run()
	}
	return s, nil
}

func (s *subscriber) close() {
	close(s.stop)
	s.mu.Lock()
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
	}
	s.mu.Unlock()
	<-s.done
}

func mqttPush(port int) *pb.PushMethod {
	return &pb.PushMethod{Mqtt: &pb.PushMethodMQTT{Address: "tcp://127.0.0.1:" + strconv.Itoa(port), Qos: 1}}
}

// PushResult is what a -push run measured.
type PushResult struct {
	PushedPerSec  float64 // tinymapper_push_sent_total over the window
	ArrivedPerSec float64 // messages the subscriber received over the window
	CPUPerSample  time.Duration
	Failed        float64 // failed delivery attempts in the window
	Dropped       float64 // samples dropped in the window
	// The outage: the broker stopped (SIGTERM) for Outage, then started.
	Outage        time.Duration
	Drain         time.Duration // restart → buffer empty and subscriber caught up; 0: not within drainLimit
	OutageDropped float64       // samples dropped from the full buffer during the outage
	Backlog       float64       // samples buffered when the broker came back
	PeakRSSAfter  int64         // VmHWM after the drain, KiB
}

const drainLimit = 120 * time.Second

// outage stops the broker for d, starts it again and times how long the
// mapper takes to empty its buffer and the subscriber to receive what was
// sent: caught up is at most one cycle's samples buffered and the
// subscriber within one cycle's samples of tinymapper_push_sent_total.
func outage(ctx context.Context, b *broker, s *subscriber, scrapeFn func() (metrics, error), d time.Duration, perCycle float64, r *PushResult) error {
	m0, err := scrapeFn()
	if err != nil {
		return err
	}
	b.stop()
	if err := sleep(ctx, d); err != nil {
		return err
	}
	if err := b.start(); err != nil {
		return fmt.Errorf("mosquitto restart: %w", err)
	}
	back := time.Now()
	r.Outage = d
	first := true
	for time.Since(back) < drainLimit {
		m, err := scrapeFn()
		if err == nil {
			if first {
				r.Backlog, first = m.sum("tinymapper_push_buffered"), false
			}
			sent := m.sum("tinymapper_push_sent_total")
			if m.sum("tinymapper_push_buffered") <= perCycle && float64(s.n.Load()) >= sent-perCycle {
				r.Drain = time.Since(back)
				r.OutageDropped = m.sum("tinymapper_push_dropped_total") - m0.sum("tinymapper_push_dropped_total")
				return nil
			}
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	if m, err := scrapeFn(); err == nil {
		r.OutageDropped = m.sum("tinymapper_push_dropped_total") - m0.sum("tinymapper_push_dropped_total")
	}
	return nil
}

// ClientAllocs are the allocation benchmarks of a pushed sample's way out:
// data/sink BenchmarkRingToClient (our code, ring → client) and
// data/sink/mqtt BenchmarkPublish (the MQTT client's, per message, QoS 1
// to a real mosquitto with acknowledgements).
type ClientAllocs struct {
	Ours, Client           string // allocs/op, or why not measured
	OursBytes, ClientBytes string
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+\d+\s+([\d.]+) ns/op\s+(\d+) B/op\s+(\d+) allocs/op`)

// MeasureAllocs runs the two benchmarks with go test -benchmem.
func MeasureAllocs() ClientAllocs {
	run := func(pkg, name string) (allocs, bytes string) {
		cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^"+name+"$", "-benchmem", "-benchtime", "20000x", "-count", "1", pkg)
		if out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output(); err == nil {
			cmd.Dir = strings.TrimSpace(string(out))
		}
		out, err := cmd.CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if m := benchLine.FindStringSubmatch(l); m != nil {
				return m[4], m[3]
			}
		}
		if err != nil {
			return "error: " + err.Error(), "-"
		}
		return "not measured (skipped)", "-"
	}
	var a ClientAllocs
	a.Ours, a.OursBytes = run("./data/sink", "BenchmarkRingToClient")
	a.Client, a.ClientBytes = run("./data/sink/mqtt", "BenchmarkPublish")
	return a
}

// PrintPush prints the -push run beside the same N without push, and issue
// 9's push targets, met or not.
func PrintPush(w io.Writer, r Result, rs []Result, a *ClientAllocs) {
	p := r.Push
	if p == nil {
		return
	}
	var base *Result
	for i := range rs {
		if rs[i].Mode == Unlimited && rs[i].N == r.N && rs[i].Push == nil {
			base = &rs[i]
		}
	}
	us := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Nanoseconds())/1e3, 'f', 1, 64) }
	fmt.Fprintf(w, "push (issue 9): N=%d × %d properties, every one also pushed to one mosquitto at QoS 1 (pushMethod.mqtt), mosquitto_sub -q 1 counting\n", r.N, properties)
	fmt.Fprintf(w, "  samples/s pushed %.0f, arrived %.0f, of %.0f; failed attempts %.0f, dropped %.0f in the window\n",
		p.PushedPerSec, p.ArrivedPerSec, r.Expected, p.Failed, p.Dropped)
	marginal := "-"
	var marg time.Duration
	if base != nil && p.PushedPerSec > 0 {
		// CPU % of one core → ns per second; the difference per pushed sample.
		marg = time.Duration((r.CPUPercent - base.CPUPercent) / 100 * 1e9 / p.PushedPerSec)
		marginal = us(marg)
	}
	fmt.Fprintf(w, "  mapper CPU: %.1f %% of a core with push", r.CPUPercent)
	if base != nil {
		fmt.Fprintf(w, ", %.1f %% without", base.CPUPercent)
	}
	fmt.Fprintf(w, "; %s µs per pushed sample in all (twins included), %s µs more than without push\n", us(p.CPUPerSample), marginal)
	var grow int64
	if base != nil {
		grow = r.PeakRSS - base.PeakRSS
		fmt.Fprintf(w, "  peak RSS (VmHWM at the window's end): %s MiB with push, %s MiB without: %+.1f MB\n", mib(r.PeakRSS), mib(base.PeakRSS), float64(grow)*1024/1e6)
	} else {
		fmt.Fprintf(w, "  peak RSS (VmHWM at the window's end): %s MiB with push (no run without push to compare)\n", mib(r.PeakRSS))
	}
	if p.Outage > 0 {
		drain := "not caught up within " + drainLimit.String()
		if p.Drain > 0 {
			drain = p.Drain.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(w, "  broker outage %v (SIGTERM, restart): drained in %s; %.0f samples buffered when it came back, %.0f dropped from the full buffer; peak RSS after %s MiB\n",
			p.Outage, drain, p.Backlog, p.OutageDropped, mib(p.PeakRSSAfter))
	}
	if a != nil {
		fmt.Fprintf(w, "  allocations per sample: ring → client publish call (data/sink BenchmarkRingToClient) %s allocs, %s B;\n", a.Ours, a.OursBytes)
		fmt.Fprintf(w, "    MQTT client per message, QoS 1 with acks (data/sink/mqtt BenchmarkPublish) %s allocs, %s B\n", a.Client, a.ClientBytes)
	}
	line := func(target string, met bool, measured string) {
		mark := "met      "
		if !met {
			mark = "NOT MET  "
		}
		fmt.Fprintf(w, "  %s  %-48s %s\n", mark, target, measured)
	}
	fmt.Fprintln(w, "targets (issue 9):")
	line(fmt.Sprintf("N=%d push: all %.0f samples/s arrive", r.N, r.Expected), p.ArrivedPerSec >= 0.98*r.Expected,
		fmt.Sprintf("%.0f/s arrived (%.1f %%)", p.ArrivedPerSec, 100*p.ArrivedPerSec/r.Expected))
	if base != nil {
		line("≤ 10 µs mapper CPU per sample pushed", marg <= 10*time.Microsecond, marginal+" µs more than without push")
		line("peak RSS grows ≤ 10 MB", grow*1024 <= 10e6, fmt.Sprintf("%+.1f MB", float64(grow)*1024/1e6))
	}
	if a != nil {
		line("no allocation per sample, ring → broker", a.Ours == "0" && a.Client == "0", a.Ours+" + "+a.Client+" allocs/op (ring → client, client)")
	}
}
