package sink_test

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// source is a sink.Source over views the test changes.
type source struct {
	mu    sync.Mutex
	views []device.DeviceView
	gen   atomic.Uint64
}

func (s *source) Snapshot() iter.Seq[device.DeviceView] {
	s.mu.Lock()
	v := slices.Clone(s.views)
	s.mu.Unlock()
	return slices.Values(v)
}

func (s *source) Generation() uint64 { return s.gen.Load() }

func (s *source) set(views ...device.DeviceView) {
	s.mu.Lock()
	s.views = views
	s.mu.Unlock()
	s.gen.Add(1)
}

// kind is a fake "mqtt" method: the destination is the address; Send
// records payloads, or blocks while the destination's gate is closed, or
// fails while fail is set.
type kind struct {
	mu     sync.Mutex
	opened []string
	closed []string
	got    map[string][]string
	fail   map[string]error
	gate   map[string]chan struct{}
}

func newKind() *kind {
	return &kind{got: map[string][]string{}, fail: map[string]error{}, gate: map[string]chan struct{}{}}
}

func (k *kind) Method() string { return "mqtt" }

func (k *kind) Target(at sink.Where, p *device.PushMethod, field string) (string, any, error) {
	if p.MQTT.Address == "refuse:1" {
		return "", nil, errors.New(field + ".address: refused by Target")
	}
	return "mqtt " + p.MQTT.Address, p.MQTT.Topic, nil
}

func (k *kind) Open(key string, _ *slog.Logger) (sink.Client, error) {
	if key == "mqtt fail:1" {
		return nil, errors.New("cannot open")
	}
	k.mu.Lock()
	k.opened = append(k.opened, key)
	k.mu.Unlock()
	return &client{k: k, key: key}, nil
}

type client struct {
	k   *kind
	key string
	buf []byte
}

func (c *client) Send(ctx context.Context, recs []sink.Record) (int, error) {
	c.k.mu.Lock()
	gate, err := c.k.gate[c.key], c.k.fail[c.key]
	c.k.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if err != nil {
		return 0, err
	}
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	for _, r := range recs {
		c.buf = sink.AppendJSON(c.buf[:0], r)
		c.k.got[c.key] = append(c.k.got[c.key], r.B.Opts.(string)+" "+string(c.buf))
	}
	return len(recs), nil
}

func (c *client) Close() error {
	c.k.mu.Lock()
	c.k.closed = append(c.k.closed, c.key)
	c.k.mu.Unlock()
	return nil
}

func (k *kind) received(key string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.got[key])
}

func (k *kind) setFail(key string, err error) {
	k.mu.Lock()
	k.fail[key] = err
	k.mu.Unlock()
}

func (k *kind) setGate(key string, g chan struct{}) {
	k.mu.Lock()
	k.gate[key] = g
	k.mu.Unlock()
}

func (k *kind) openedAndClosed() ([]string, []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.opened), slices.Clone(k.closed)
}

// thermo returns device plant/NAME with properties pushing to address/topic
// pairs (address "" for no pushMethod), each with its own ring.
func thermo(name string, rings []*ringbuf.Ring, push ...string) device.DeviceView {
	v := device.DeviceView{Namespace: "plant", Name: name}
	for i := 0; i+1 < len(push); i += 2 {
		p := device.PropertyView{Name: "p" + string(rune('0'+i/2)), Type: device.TypeInt, Unit: "u", Ring: rings[i/2]}
		if push[i] != "" {
			p.Push = &device.PushMethod{MQTT: &device.PushMQTT{Address: push[i], Topic: push[i+1]}}
		}
		v.Properties = append(v.Properties, p)
	}
	return v
}

func rings(n int) []*ringbuf.Ring {
	r := make([]*ringbuf.Ring, n)
	for i := range r {
		r[i] = ringbuf.New(64)
	}
	return r
}

func run(t *testing.T, src sink.Source, opt sink.Options, k sink.Kind) *sink.Sinks {
	t.Helper()
	if opt.Poll == 0 {
		opt.Poll = 5 * time.Millisecond
	}
	if opt.MaxBackoff == 0 {
		opt.MaxBackoff = 20 * time.Millisecond
	}
	s := sink.New(src, opt, k)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func push(r *ringbuf.Ring, from, to int) {
	for i := from; i < to; i++ {
		r.Push(ringbuf.Sample{Time: int64(i) * 1e6, Value: float64(i)})
	}
}

func TestSamplesArriveAsDocumentedJSONInOrder(t *testing.T) {
	src, k, rs := &source{}, newKind(), rings(1)
	src.set(thermo("t1", rs, "a:1", "top"))
	push(rs[0], 1, 4)
	rs[0].Push(ringbuf.Sample{Time: 4e6, Err: 3}) // an error carries no value: skipped
	push(rs[0], 5, 6)
	run(t, src, sink.Options{}, k)
	waitFor(t, "4 samples", func() bool { return len(k.received("mqtt a:1")) == 4 })
	want := []string{
		`top {"namespace":"plant","device":"t1","property":"p0","type":"int","unit":"u","value":1,"timestamp":1}`,
		`top {"namespace":"plant","device":"t1","property":"p0","type":"int","unit":"u","value":2,"timestamp":2}`,
		`top {"namespace":"plant","device":"t1","property":"p0","type":"int","unit":"u","value":3,"timestamp":3}`,
		`top {"namespace":"plant","device":"t1","property":"p0","type":"int","unit":"u","value":5,"timestamp":5}`,
	}
	if got := k.received("mqtt a:1"); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPropertiesNamingOneDestinationShareIt(t *testing.T) {
	src, k, rs := &source{}, newKind(), rings(3)
	src.set(thermo("t1", rs[:2], "a:1", "x", "a:1", "y"), thermo("t2", rs[2:], "b:1", "z"))
	s := run(t, src, sink.Options{}, k)
	push(rs[0], 1, 2)
	push(rs[1], 1, 2)
	push(rs[2], 1, 2)
	waitFor(t, "3 samples", func() bool { return len(k.received("mqtt a:1")) == 2 && len(k.received("mqtt b:1")) == 1 })
	opened, _ := k.openedAndClosed()
	if slices.Sort(opened); !slices.Equal(opened, []string{"mqtt a:1", "mqtt b:1"}) {
		t.Errorf("opened %q, want one client per address", opened)
	}
	// A client holds a batch before its destination counts it as sent.
	waitFor(t, "the sends counted", func() bool {
		st := s.Stats()
		return len(st) == 2 && st[0].Sent == 2 && st[1].Sent == 1
	})
}

func TestAChangedPushMethodChangesOnlyThatDestination(t *testing.T) {
	src, k, rs := &source{}, newKind(), rings(2)
	src.set(thermo("t1", rs, "a:1", "x", "b:1", "y"))
	run(t, src, sink.Options{}, k)
	push(rs[0], 1, 3)
	push(rs[1], 1, 3)
	waitFor(t, "samples", func() bool { return len(k.received("mqtt a:1")) == 2 && len(k.received("mqtt b:1")) == 2 })

	src.set(thermo("t1", rs, "a:1", "x", "c:1", "y")) // p1 moves from b to c
	waitFor(t, "b to close", func() bool { _, c := k.openedAndClosed(); return len(c) == 1 })
	push(rs[0], 3, 4)
	push(rs[1], 3, 4)
	waitFor(t, "samples after the change", func() bool { return len(k.received("mqtt a:1")) == 3 && len(k.received("mqtt c:1")) >= 1 })
	opened, closed := k.openedAndClosed()
	if !slices.Equal(opened, []string{"mqtt a:1", "mqtt b:1", "mqtt c:1"}) && !slices.Equal(opened, []string{"mqtt b:1", "mqtt a:1", "mqtt c:1"}) {
		t.Errorf("opened %q: a must not be opened again", opened)
	}
	if !slices.Equal(closed, []string{"mqtt b:1"}) {
		t.Errorf("closed %q, want only b", closed)
	}
	if got := k.received("mqtt a:1"); len(got) != 3 {
		t.Errorf("a got %d samples, want 3 (none twice): %q", len(got), got)
	}
}

func TestADeadDestinationDelaysNoOther(t *testing.T) {
	src, k, rs := &source{}, newKind(), rings(2)
	gate := make(chan struct{})
	k.setGate("mqtt slow:1", gate) // Send blocks until the test ends
	t.Cleanup(func() { close(gate) })
	src.set(thermo("t1", rs, "slow:1", "x", "a:1", "y"))
	s := run(t, src, sink.Options{Buffer: 8, Batch: 2}, k)
	for i := 1; i <= 20; i++ {
		push(rs[0], i, i+1)
		push(rs[1], i, i+1)
		time.Sleep(10 * time.Millisecond)
	}
	waitFor(t, "a to get all", func() bool { return len(k.received("mqtt a:1")) == 20 })
	waitFor(t, "slow's buffer to fill", func() bool {
		st := s.Stats()
		// 20 = 8 buffered + the 1 or 2 of the batch in flight + dropped
		return st[1].Destination == "mqtt slow:1" && st[1].Buffered == 8 && (st[1].Dropped == 10 || st[1].Dropped == 11)
	})
}

func TestFailuresAreRetriedInOrderAndNamedOnTheDevice(t *testing.T) {
	src, k, rs := &source{}, newKind(), rings(1)
	k.setFail("mqtt a:1", errors.New("connection refused"))
	src.set(thermo("t1", rs, "a:1", "x"))
	s := run(t, src, sink.Options{}, k)
	push(rs[0], 1, 6)
	waitFor(t, "failures", func() bool { st := s.Stats(); return len(st) == 1 && st[0].Failed >= 2 && st[0].Buffered == 5 })
	want := []string{"spec.properties[p0].pushMethod.mqtt: connection refused"}
	if got := s.PushErrors("plant", "t1"); !slices.Equal(got, want) {
		t.Errorf("PushErrors = %q, want %q", got, want)
	}
	k.setFail("mqtt a:1", nil)
	waitFor(t, "delivery", func() bool { return len(k.received("mqtt a:1")) == 5 })
	for i, m := range k.received("mqtt a:1") {
		if !strings.Contains(m, `"value":`+string(rune('1'+i))+",") {
			t.Errorf("message %d = %s: out of order", i, m)
		}
	}
	if got := s.PushErrors("plant", "t1"); len(got) != 0 {
		t.Errorf("after recovery PushErrors = %q", got)
	}
}

func TestRejectedSamplesAreDroppedAndCounted(t *testing.T) {
	src, k, rs := &source{}, newKind(), rings(1)
	k.setFail("mqtt a:1", errors.Join(sink.ErrRejected, errors.New("400 Bad Request")))
	src.set(thermo("t1", rs, "a:1", "x"))
	s := run(t, src, sink.Options{}, k)
	push(rs[0], 1, 4)
	waitFor(t, "rejection", func() bool { st := s.Stats(); return len(st) == 1 && st[0].Dropped == 3 && st[0].Buffered == 0 })
}

func TestWhatCannotBeSentIsNamed(t *testing.T) {
	src, k, rs := &source{}, newKind(), rings(4)
	v := thermo("t1", rs, "a:1", "x", "refuse:1", "y", "fail:1", "z", "", "")
	v.Properties[0].Push = &device.PushMethod{MQTT: &device.PushMQTT{Address: "a:1", QoS: 5}}
	v.Properties[3].Push = &device.PushMethod{DB: &device.DBMethod{TDEngine: &device.DBTDEngine{Addr: "h:6041", DBName: "d"}, Redis: &device.DBRedis{Addr: "h:6379"}}}
	src.set(v)
	s := run(t, src, sink.Options{}, k)
	waitFor(t, "reconcile", func() bool { return len(s.PushErrors("plant", "t1")) > 0 })
	want := []string{
		"spec.properties[p0].pushMethod.mqtt.qos: 5 is not 0, 1 or 2",
		"spec.properties[p1].pushMethod.mqtt.address: refused by Target",
		"spec.properties[p2].pushMethod.mqtt: cannot open",
		"spec.properties[p3].pushMethod.dbMethod.TDEngine: TDengine is not supported (no TDengine server to test against); these samples are not stored",
		"spec.properties[p3].pushMethod.dbMethod.redis: this build has no dbMethod.redis sink; these samples are not sent",
	}
	if got := s.PushErrors("plant", "t1"); !slices.Equal(got, want) {
		t.Errorf("PushErrors =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTheDefaultSendsPropertiesWithoutAPushMethod(t *testing.T) {
	src, k, rs := &source{}, newKind(), rings(2)
	src.set(thermo("t1", rs, "", "", "b:1", "own"))
	run(t, src, sink.Options{Default: &device.PushMethod{MQTT: &device.PushMQTT{Address: "d:1", Topic: "all"}}}, k)
	push(rs[0], 1, 2)
	push(rs[1], 1, 2)
	waitFor(t, "both", func() bool { return len(k.received("mqtt d:1")) == 1 && len(k.received("mqtt b:1")) == 1 })
}

func TestNoMoreDestinationsRunThanTheBoundAllows(t *testing.T) {
	src, k, rs := &source{}, newKind(), rings(4)
	src.set(thermo("t1", rs, "a:1", "x", "b:1", "x", "a:1", "y", "c:1", "x"))
	s := run(t, src, sink.Options{MaxDestinations: 2}, k)
	want := []string{"spec.properties[p3].pushMethod.mqtt: not started: 2 push destinations run already, the most push.max_destinations allows; these samples are not sent"}
	waitFor(t, "the refusal", func() bool { return slices.Equal(s.PushErrors("plant", "t1"), want) })
	if opened, _ := k.openedAndClosed(); !slices.Equal(opened, []string{"mqtt a:1", "mqtt b:1"}) {
		t.Errorf("opened %q, want the first two destinations", opened)
	}
	// A running destination keeps its place; one that frees a place lets
	// the refused one start.
	src.set(thermo("t1", rs, "c:1", "x", "b:1", "x"))
	waitFor(t, "c to start", func() bool {
		o, c := k.openedAndClosed()
		return slices.Equal(o, []string{"mqtt a:1", "mqtt b:1", "mqtt c:1"}) && slices.Equal(c, []string{"mqtt a:1"})
	})
	if errs := s.PushErrors("plant", "t1"); len(errs) != 0 {
		t.Errorf("PushErrors = %q once there is room, want none", errs)
	}
	push(rs[0], 1, 3)
	waitFor(t, "c to deliver", func() bool { return len(k.received("mqtt c:1")) == 2 })
}
