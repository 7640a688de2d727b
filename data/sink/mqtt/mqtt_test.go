package mqtt_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/dbtest"
	"github.com/tinymapper/tinymapper/data/sink/mqtt"
	"github.com/tinymapper/tinymapper/data/sink/sinktest"
	"github.com/tinymapper/tinymapper/device"
)

// broker is a mosquitto on a loopback port with persistence on, so that a
// QoS 1 subscriber's session and queued messages survive a restart.
type broker struct {
	t    *testing.T
	port int
	conf string
	cmd  *exec.Cmd
}

func newBroker(t *testing.T) *broker {
	t.Helper()
	dbtest.Need(t, "mosquitto", "mosquitto") // fails under CI when missing
	dbtest.Need(t, "mosquitto_sub", "mosquitto-clients")
	dir := t.TempDir()
	b := &broker{t: t, port: sinktest.FreePort(t), conf: filepath.Join(dir, "mosquitto.conf")}
	// user root: run as root, mosquitto would switch to user mosquitto,
	// which cannot write its database into the test's directory.
	conf := fmt.Sprintf("user root\nlistener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nautosave_interval 1\n", b.port, dir)
	if err := os.WriteFile(b.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *broker) start() {
	b.t.Helper()
	b.cmd = exec.Command("mosquitto", "-c", b.conf)
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	sinktest.WaitFor(b.t, 5*time.Second, "mosquitto to listen", func() bool {
		return exec.Command("mosquitto_pub", "-p", strconv.Itoa(b.port), "-t", "probe", "-m", "x").Run() == nil
	})
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

// subscriber is mosquitto_sub with a persistent QoS 1 session on
// tinymapper/#, started again whenever it exits (the broker went away).
type subscriber struct {
	mu    sync.Mutex
	lines []string
	stop  chan struct{}
	done  chan struct{}
	cmd   *exec.Cmd
}

func newSubscriber(t *testing.T, b *broker) *subscriber {
	s := &subscriber{stop: make(chan struct{}), done: make(chan struct{})}
	ready := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(s.done)
		for {
			cmd := exec.Command("mosquitto_sub", "-p", strconv.Itoa(b.port), "-q", "1", "-c", "-i", "tinymapper-test-sub", "-t", "tinymapper/#", "-t", "ready", "-v")
			out, err := cmd.StdoutPipe()
			if err == nil {
				err = cmd.Start()
			}
			if err != nil {
				t.Error(err)
				return
			}
			s.mu.Lock()
			s.cmd = cmd
			s.mu.Unlock()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, "ready ") {
					once.Do(func() { close(ready) })
					continue
				}
				s.mu.Lock()
				s.lines = append(s.lines, line)
				s.mu.Unlock()
			}
			cmd.Wait()
			select {
			case <-s.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	sinktest.WaitFor(t, 5*time.Second, "the subscriber", func() bool {
		exec.Command("mosquitto_pub", "-p", strconv.Itoa(b.port), "-q", "1", "-t", "ready", "-m", "x").Run()
		select {
		case <-ready:
			return true
		default:
			return false
		}
	})
	t.Cleanup(func() {
		close(s.stop)
		s.mu.Lock()
		s.cmd.Process.Kill()
		s.mu.Unlock()
		<-s.done
	})
	return s
}

// messages returns what arrived on topic, in order.
func (s *subscriber) messages(t *testing.T, topic string) []sinktest.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sinktest.Message
	for _, l := range s.lines {
		tp, payload, _ := strings.Cut(l, " ")
		if tp == topic {
			out = append(out, sinktest.Decode(t, []byte(payload)))
		}
	}
	return out
}

const topic = "tinymapper/plant/thermo/temperature"

func TestEverySampleArrivesAcrossABrokerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 15 s")
	}
	b := newBroker(t)
	sub := newSubscriber(t, b)
	push := fmt.Sprintf("        mqtt: {address: tcp://127.0.0.1:%d, qos: 1}\n", b.port)
	mgr, sinks := sinktest.Run(t, sinktest.Thermometer(100*time.Millisecond, push), sink.Options{}, mqtt.Kind{})

	sinktest.WaitFor(t, 10*time.Second, "samples to arrive", func() bool { return len(sub.messages(t, topic)) >= 10 })
	if n := sinktest.Check(t, mgr, sub.messages(t, topic)); n != 0 {
		t.Fatalf("%d samples missing before the outage", n)
	}

	b.stop()
	time.Sleep(10 * time.Second)
	if errs := sinks.PushErrors("plant", "thermo"); len(errs) == 0 || !strings.HasPrefix(errs[0], "spec.properties[temperature].pushMethod.mqtt: ") {
		t.Errorf("during the outage PushErrors = %q, want the mqtt field", errs)
	}
	st, _ := sinktest.StatsOf(sinks, "mqtt ")
	if st.Buffered < 50 || st.Failed == 0 || st.Lag < 5*time.Second {
		t.Errorf("during the outage stats = %+v, want ~100 buffered, failures and a lag of ~10 s", st)
	}
	outageEnd := time.Now()
	b.start()
	sinktest.WaitFor(t, 20*time.Second, "the buffer to drain", func() bool {
		st, _ := sinktest.StatsOf(sinks, "mqtt ")
		return st.Buffered == 0 && st.Error == ""
	})
	sinktest.WaitFor(t, 10*time.Second, "samples after the outage", func() bool {
		got := sub.messages(t, topic)
		return len(got) > 0 && got[len(got)-1].Timestamp > outageEnd.UnixMilli()
	})
	if n := sinktest.Check(t, mgr, sub.messages(t, topic)); n != 0 {
		t.Fatalf("%d samples lost across the outage", n)
	}
	if st, _ := sinktest.StatsOf(sinks, "mqtt "); st.Dropped != 0 {
		t.Errorf("dropped = %d, want 0", st.Dropped)
	}
	if errs := sinks.PushErrors("plant", "thermo"); len(errs) != 0 {
		t.Errorf("after recovery PushErrors = %q", errs)
	}
}

func TestAFullBufferDropsTheOldestAndCountsThem(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 5 s")
	}
	b := newBroker(t)
	sub := newSubscriber(t, b) // the session outlives the broker
	b.stop()
	push := fmt.Sprintf("        mqtt: {address: 127.0.0.1:%d, qos: 2}\n", b.port)
	mgr, sinks := sinktest.Run(t, sinktest.Thermometer(100*time.Millisecond, push), sink.Options{Buffer: 10}, mqtt.Kind{})
	time.Sleep(3 * time.Second) // ~30 samples into a buffer of 10
	b.start()
	sinktest.WaitFor(t, 20*time.Second, "samples after the outage", func() bool {
		st, _ := sinktest.StatsOf(sinks, "mqtt ")
		return st.Sent > 15 && st.Buffered == 0
	})
	time.Sleep(500 * time.Millisecond) // the last acknowledged ones reach the subscriber
	st, _ := sinktest.StatsOf(sinks, "mqtt ")
	got := sub.messages(t, topic)
	missing := sinktest.Check(t, mgr, got)
	if missing < 15 || uint64(missing) != st.Dropped {
		t.Errorf("%d samples missing, dropped counter %d: want them equal, and ~20", missing, st.Dropped)
	}
}

// BenchmarkPublish is one message through Send to a real mosquitto (its
// default configuration) at QoS 1, in batches of sink.DefaultBatch,
// acknowledgements included: the batch's PUBLISHes in one write, the
// PUBACKs read through the client's buffer. allocs/op is what the client
// allocates per message (the payload goes into a reused buffer, and
// sink's BenchmarkRingToClient covers the way to Send); the budget is 0.
// BenchmarkSendLoopback measures the same against a loopback reader.
func BenchmarkPublish(b *testing.B) {
	if _, err := exec.LookPath("mosquitto"); err != nil {
		b.Skip("mosquitto is not installed")
	}
	dir := b.TempDir()
	port := sinktest.FreePort(b)
	conf := filepath.Join(dir, "m.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("user root\nlistener %d 127.0.0.1\nallow_anonymous true\n", port)), 0o600)
	cmd := exec.Command("mosquitto", "-c", conf)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sinktest.WaitFor(b, 5*time.Second, "mosquitto", func() bool {
		return exec.Command("mosquitto_pub", "-p", strconv.Itoa(port), "-t", "probe", "-m", "x").Run() == nil
	})
	k := mqtt.Kind{}
	p := &device.PushMethod{MQTT: &device.PushMQTT{Address: fmt.Sprintf("127.0.0.1:%d", port), QoS: 1}}
	key, opts, err := k.Target(sink.Where{Namespace: "plant", Device: "thermo", Property: "temperature"}, p, "f")
	if err != nil {
		b.Fatal(err)
	}
	c, _ := k.Open(key, nil)
	defer c.Close()
	bd := sink.NewTestBinding("plant", "thermo", "temperature", device.TypeFloat, "Cel", opts)
	recs := make([]sink.Record, sink.DefaultBatch)
	for i := range recs {
		recs[i] = sink.Record{B: bd, Time: int64(i) * 1e6, Value: 21.5}
	}
	ctx := context.Background()
	if _, err := c.Send(ctx, recs); err != nil { // connect
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n += len(recs) {
		if _, err := c.Send(ctx, recs[:min(len(recs), b.N-n)]); err != nil {
			b.Fatal(err)
		}
	}
}
