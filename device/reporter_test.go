package device

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tinymapper/tinymapper/internal/await"
)

// recordingSender records what the reporter sends. It fails the first
// rateLimited calls with ErrRateLimited, the way EdgeCore's limiter does.
type recordingSender struct {
	mu          sync.Mutex
	status      []string // "ns/name prop=value,..."
	states      []string // "ns/name state"
	rateLimited int
	calls       int
}

func (s *recordingSender) Wait(ctx context.Context) error { return ctx.Err() }

func (s *recordingSender) ReportStatus(ctx context.Context, ns, name string, twins []Twin) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.rateLimited > 0 {
		s.rateLimited--
		return fmt.Errorf("report: %w", ErrRateLimited)
	}
	line := ns + "/" + name
	for _, t := range twins {
		if !ValidTwinValue(t.Reported) {
			return fmt.Errorf("invalid twin value %q", t.Reported)
		}
		line += " " + t.Property + "=" + t.Reported + "|" + t.ObservedDesired
	}
	s.status = append(s.status, line)
	return nil
}

func (s *recordingSender) ReportState(ctx context.Context, ns, name, state string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.states = append(s.states, ns+"/"+name+" "+state)
	return nil
}

func (s *recordingSender) sent() ([]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.status...), append([]string(nil), s.states...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func startReporter(t *testing.T, m *Manager, s Sender) *Reporter {
	rp := NewReporter(m, s, nil)
	rp.tick = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rp.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return rp
}

func TestReporterSendsChangedTwinsInOneCallPerDevice(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	drv.set("default/a/1", 21.25)
	must(t, m.PutDevice(testDevice("a", "40")))
	s := &recordingSender{}
	startReporter(t, m, s)
	want := "default/a temp=21.25| setpoint=40|40"
	await.Until(t, want, func() bool { st, _ := s.sent(); return contains(st, want) })
	await.Until(t, "state online", func() bool { _, sts := s.sent(); return contains(sts, "default/a online") })

	drv.set("default/a/1", 22)
	want = "default/a temp=22| setpoint=40|40"
	await.Until(t, want, func() bool { st, _ := s.sent(); return contains(st, want) })
}

func TestReporterSkipsPropertiesNotReportedToCloud(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	drv.set("default/a/1", 5)
	d := testDevice("a", "")
	d.Properties[1].ReportToCloud = false
	must(t, m.PutDevice(d))
	s := &recordingSender{}
	startReporter(t, m, s)
	await.Until(t, "a report", func() bool { st, _ := s.sent(); return len(st) > 0 })
	st, _ := s.sent()
	if st[0] != "default/a temp=5|" {
		t.Errorf("sent %q; want only the reportToCloud twin", st[0])
	}
}

func TestReporterStopsReportingRemovedDevices(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, drv := startManager(t)
		must(t, m.PutModel(testModel()))
		must(t, m.PutDevice(testDevice("a", "")))
		s := &recordingSender{}
		startReporter(t, m, s)
		for st, _ := s.sent(); len(st) == 0; st, _ = s.sent() {
			time.Sleep(10 * time.Millisecond) // the bubble's time: a tick of the reporter
		}
		must(t, m.RemoveDevice("default", "a"))
		synctest.Wait() // a report already under way has finished
		before, _ := s.sent()
		for i := 0; i < 5; i++ {
			drv.set("default/a/1", float64(100+i))
			time.Sleep(time.Second) // ten ticks of the reporter
		}
		after, _ := s.sent()
		if len(after) != len(before) {
			t.Errorf("%d reports after removal: %v", len(after)-len(before), after[len(before):])
		}
	})
}

func TestReporterBacksOffWhenRateLimited(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	drv.set("default/a/1", 1)
	must(t, m.PutDevice(testDevice("a", "")))
	s := &recordingSender{rateLimited: 1}
	start := time.Now()
	startReporter(t, m, s)
	await.Until(t, "a report after the refusal", func() bool { st, _ := s.sent(); return len(st) > 0 })
	if time.Since(start) < 900*time.Millisecond {
		t.Errorf("retried after %v; want a back-off of at least a second", time.Since(start))
	}
}

func TestReporterSendsOldestChangeFirst(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	for _, name := range []string{"a", "b", "c"} {
		must(t, m.PutDevice(testDevice(name, "")))
	}
	await.Until(t, "samples", func() bool { _, ok := latest(m, "c", "temp"); return ok })
	rp := NewReporter(m, &recordingSender{}, nil)
	rp.Flush(context.Background()) // everything sent once
	// Change c, then a, then b, each seen by the reporter before the next.
	var order []string
	for _, name := range []string{"c", "a", "b"} {
		drv.set("default/"+name+"/1", 77)
		await.Until(t, name+" sampled", func() bool { s, _ := latest(m, name, "temp"); return s.Value == 77 })
		for _, d := range rp.scan(time.Now()) {
			_ = d
		}
	}
	for _, d := range rp.scan(time.Now()) {
		if !d.heart() && !d.state {
			order = append(order, d.e.spec.Name)
		}
	}
	if fmt.Sprint(order) != "[c a b]" {
		t.Errorf("send order %v; want [c a b] (oldest change first)", order)
	}
}

func TestFlushSendsOnlyWhatChanged(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	drv.set("default/a/1", 1)
	must(t, m.PutDevice(testDevice("a", "")))
	must(t, m.PutDevice(testDevice("b", "")))
	await.Until(t, "samples", func() bool { _, ok := latest(m, "b", "temp"); return ok })
	s := &recordingSender{}
	rp := NewReporter(m, s, nil)
	if n := rp.Flush(context.Background()); n != 2 {
		t.Fatalf("first flush sent %d devices; want both", n)
	}
	drv.set("default/a/1", 2)
	await.Until(t, "a sampled", func() bool { v, _ := latest(m, "a", "temp"); return v.Value == 2 })
	if n := rp.Flush(context.Background()); n != 1 {
		t.Fatalf("second flush sent %d devices; want only the changed one", n)
	}
	st, _ := s.sent()
	if last := st[len(st)-1]; last != "default/a temp=2| setpoint=0|" {
		t.Errorf("last report %q", last)
	}
}

func TestDeadbandHoldsSmallChangesUntilTheHeartbeat(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	drv.set("default/a/1", 20)
	d := testDevice("a", "")
	d.Properties[0].Visitor = cfg("v", "register", 1, "deadband", 5)
	d.Properties[0].ReportCycle = time.Hour
	d.Properties[1].ReportToCloud = false
	if err := m.PutDevice(d); err != nil {
		t.Fatal(err)
	}
	await.Until(t, "a sample", func() bool { _, ok := latest(m, "a", "temp"); return ok })
	rp := NewReporter(m, &recordingSender{}, nil)
	if n := rp.Flush(context.Background()); n != 1 {
		t.Fatalf("first flush sent %d; want 1", n)
	}
	dueNow := func() bool {
		for _, d := range rp.scan(time.Now()) {
			if !d.state {
				return true
			}
		}
		return false
	}
	drv.set("default/a/1", 24)
	await.Until(t, "24 sampled", func() bool { s, _ := latest(m, "a", "temp"); return s.Value == 24 })
	if dueNow() {
		t.Error("a change of 4 within a deadband of 5 made the device due")
	}
	drv.set("default/a/1", 26)
	await.Until(t, "26 sampled", func() bool { s, _ := latest(m, "a", "temp"); return s.Value == 26 })
	if !dueNow() {
		t.Error("a change of 6 beyond a deadband of 5 did not make the device due")
	}
}

func TestNegativeDeadbandIsRefused(t *testing.T) {
	m, _ := startManager(t)
	must(t, m.PutModel(testModel()))
	d := testDevice("a", "")
	d.Properties[0].Visitor = cfg("v", "register", 1, "deadband", -1)
	if err := m.PutDevice(d); err == nil || !strings.Contains(err.Error(), "v.deadband") {
		t.Errorf("PutDevice = %v; want an error naming v.deadband", err)
	}
}

func TestWhatTheCloudWaitsForGoesAheadOfOrdinaryChanges(t *testing.T) {
	d := func(key string, c class, at int64) due {
		return due{st: &reportState{key: key}, class: c, state: c == dueState, at: at}
	}
	cases := []struct {
		name string
		list []due
		want string
	}{
		{"a write's acknowledgement goes ahead of older changes",
			[]due{d("change-1", dueChange, 1), d("change-2", dueChange, 2), d("ack-9", dueDesired, 9)},
			"[ack-9 change-1 change-2]"},
		{"a device's first twins go ahead of older changes",
			[]due{d("change-1", dueChange, 1), d("first-5", dueFirst, 5)},
			"[first-5 change-1]"},
		{"a state change goes ahead of older changes",
			[]due{d("change-1", dueChange, 1), d("state-5", dueState, 5)},
			"[state-5 change-1]"},
		{"acknowledgement, first twins, state, in that order",
			[]due{d("state-1", dueState, 1), d("first-2", dueFirst, 2), d("ack-3", dueDesired, 3)},
			"[ack-3 first-2 state-1]"},
		{"within a class, oldest first",
			[]due{d("ack-7", dueDesired, 7), d("change-4", dueChange, 4), d("ack-3", dueDesired, 3), d("change-2", dueChange, 2)},
			"[ack-3 ack-7 change-2 change-4]"},
		{"heartbeats after every change, oldest due first",
			[]due{d("heartbeat-1", dueHeartbeat, 1), d("change-30", dueChange, 30), d("heartbeat-0", dueHeartbeat, 0), d("state-40", dueState, 40)},
			"[state-40 change-30 heartbeat-0 heartbeat-1]"},
		{"equal times keep the scan's order",
			[]due{d("b", dueChange, 5), d("a", dueChange, 5)},
			"[b a]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			byUrgency(tc.list)
			var got []string
			for _, d := range tc.list {
				got = append(got, d.st.key)
			}
			if fmt.Sprint(got) != tc.want {
				t.Errorf("order %v; want %s", got, tc.want)
			}
		})
	}
}

// TestAWriteIsAcknowledgedAheadOfOlderChanges: a device whose desired value
// changed is scanned first, ahead of devices whose values changed before,
// and once sent it is an ordinary device again.
func TestAWriteIsAcknowledgedAheadOfOlderChanges(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	for _, name := range []string{"a", "b", "c"} {
		must(t, m.PutDevice(testDevice(name, "10")))
	}
	await.Until(t, "samples", func() bool { _, ok := latest(m, "c", "setpoint"); return ok })
	s := &recordingSender{}
	rp := NewReporter(m, s, nil)
	rp.Flush(context.Background()) // everything sent once
	for _, name := range []string{"a", "b"} {
		drv.set("default/"+name+"/1", 77)
		await.Until(t, name+" sampled", func() bool { v, _ := latest(m, name, "temp"); return v.Value == 77 })
		rp.scan(time.Now()) // the change is seen, and waits
	}
	must(t, m.SetDesired("default", "c", "setpoint", "42"))
	var order []string
	for _, d := range rp.scan(time.Now()) {
		order = append(order, fmt.Sprintf("%s/%d", d.e.spec.Name, d.class))
	}
	if want := fmt.Sprintf("[c/%d a/%d b/%d]", dueDesired, dueChange, dueChange); fmt.Sprint(order) != want {
		t.Fatalf("scan order %v; want %s (the write's acknowledgement first)", order, want)
	}
	rp.Flush(context.Background())
	st, _ := s.sent()
	if want := "default/c temp=0| setpoint=42|42"; !contains(st, want) {
		t.Errorf("sent %q; want %q", st, want)
	}
	for _, d := range rp.scan(time.Now()) {
		if d.e.spec.Name == "c" && d.class == dueDesired {
			t.Errorf("c still due as an acknowledgement after it was sent")
		}
	}
}

// pacedSender is a recordingSender that lets one call go every interval, as
// the DMI client's limiter does once its burst is spent.
type pacedSender struct {
	recordingSender
	interval time.Duration
	mu       sync.Mutex
	next     time.Time
}

func (s *pacedSender) Wait(ctx context.Context) error {
	s.mu.Lock()
	now := time.Now()
	if s.next.Before(now) {
		s.next = now
	}
	at := s.next
	s.next = s.next.Add(s.interval)
	s.mu.Unlock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(at.Sub(now)):
		return nil
	}
}

// TestAWriteIsAcknowledgedInTheNextPacedCall: with 10 devices changing every
// second and one call every 2 s (the default pacing), a write's
// acknowledgement goes in the first call the pacing lets go after the write,
// not after the changes already in line, nor in a call picked before it.
func TestAWriteIsAcknowledgedInTheNextPacedCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, drv := startManager(t)
		must(t, m.PutModel(testModel()))
		must(t, m.PutDevice(testDevice("w", "10")))
		for i := range 10 {
			must(t, m.PutDevice(testDevice(fmt.Sprintf("n%d", i), "")))
		}
		stop, stopped := make(chan struct{}), make(chan struct{})
		go func() { // sensor noise: every device but w changes every second
			defer close(stopped)
			for v := 0.0; ; v++ {
				for i := range 10 {
					drv.set(fmt.Sprintf("default/n%d/1", i), v)
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
				}
			}
		}()
		t.Cleanup(func() { close(stop); <-stopped })
		const interval = 2 * time.Second
		s := &pacedSender{interval: interval}
		startReporter(t, m, s)
		time.Sleep(30 * time.Second) // every first report sent; a line of changes
		if st, sts := s.sent(); len(st)+len(sts) < 14 {
			t.Fatalf("%d calls in 30 s; want one every %v", len(st)+len(sts), interval)
		}
		for _, desired := range []string{"42", "43", "44"} {
			start := time.Now()
			must(t, m.SetDesired("default", "w", "setpoint", desired))
			want := "setpoint=" + desired + "|" + desired
			for acked := false; !acked; {
				time.Sleep(10 * time.Millisecond)
				st, _ := s.sent()
				acked = strings.Contains(st[len(st)-1], want)
				if time.Since(start) > time.Minute {
					t.Fatalf("write %s not acknowledged after a minute", desired)
				}
			}
			// One interval for the call under way, and the scan.
			took := time.Since(start)
			t.Logf("write %s acknowledged after %v", desired, took)
			if took > interval+100*time.Millisecond {
				t.Errorf("write %s acknowledged after %v; want within one pacing interval (%v)", desired, took, interval)
			}
			time.Sleep(700 * time.Millisecond) // another phase of the pacing
		}
	})
}
