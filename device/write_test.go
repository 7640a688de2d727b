package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/internal/await"
)

func (d *fakeDriver) failWrites(key, msg string) {
	d.mu.Lock()
	d.wfail[key] = msg
	d.mu.Unlock()
}

func (d *fakeDriver) writeLog() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprint(d.writes)
}

func TestAFailedWriteIsKeptUntilAWriteSucceeds(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	drv.set("default/a/2", 50)
	if err := m.PutDevice(testDevice("a", "")); err != nil {
		t.Fatal(err)
	}
	drv.failWrites("default/a/2", "illegal data value (exception 03)")

	err := m.SetDesired("default", "a", "setpoint", "90")
	var we *WriteError
	if !errors.As(err, &we) || we.Property != "setpoint" || we.Value != "90" ||
		err.Error() != "write setpoint=90: illegal data value (exception 03)" {
		t.Fatalf("SetDesired = %v; want the device's refusal naming the property", err)
	}
	p, _ := m.Property("default", "a", "setpoint")
	n := p.Ring.Len()
	await.Until(t, "five good reads of the old value", func() bool { return p.Ring.Len() >= n+5 })
	p, _ = m.Property("default", "a", "setpoint")
	if p.WriteError != err.Error() || p.WriteTime.IsZero() || p.LastError != "" || p.Desired != "90" {
		t.Errorf("after good reads: %+v; want the write error kept, no read error, desired 90", p)
	}
	// A desired change from EdgeCore that fails too keeps the status.
	if err := m.PutDevice(testDevice("a", "95")); err != nil {
		t.Fatalf("PutDevice = %v; a refused write is not a refused spec", err)
	}
	await.Until(t, "the 95 tried", func() bool { return strings.Contains(drv.writeLog(), "=95") })
	await.Until(t, "the status of the 95", func() bool {
		p, _ := m.Property("default", "a", "setpoint")
		return strings.HasPrefix(p.WriteError, "write setpoint=95:")
	})
	if st := m.Stats()[0]; st.Writes != 2 || st.WriteFailures != 2 {
		t.Errorf("stats %+v; want 2 writes, both failed", st)
	}

	// The same value again is written again; success clears the status.
	drv.failWrites("default/a/2", "")
	if err := m.SetDesired("default", "a", "setpoint", "95"); err != nil {
		t.Fatalf("SetDesired 95 again = %v", err)
	}
	if got, want := drv.writeLog(), "[default/a/2=90 default/a/2=95 default/a/2=95]"; got != want {
		t.Errorf("writes %s; want %s", got, want)
	}
	p, _ = m.Property("default", "a", "setpoint")
	if p.WriteError != "" || !p.WriteTime.IsZero() {
		t.Errorf("after a good write: %+v; want no write status", p)
	}
	if s, ok := latest(m, "a", "setpoint"); !ok || s.Value != 95 {
		t.Errorf("latest sample %+v; want 95 read back before SetDesired returned", s)
	}
}

func TestAFailedWriteIsLoggedOncePerDistinctError(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	m, drv := runManager(t, Options{Log: slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil))})
	must(t, m.PutModel(testModel()))
	must(t, m.PutDevice(testDevice("a", "")))

	for _, msg := range []string{"timeout", "timeout", "timeout", "exception 03", "exception 03", "timeout"} {
		drv.failWrites("default/a/2", msg)
		if err := m.SetDesired("default", "a", "setpoint", "7"); err == nil {
			t.Fatal("SetDesired succeeded")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "level=WARN msg=\"writing desired value failed\""); n != 3 {
		t.Errorf("%d warnings; want 3, one per change of error:\n%s", n, logs.String())
	}
}

func TestDesiredWritesFromEdgeCoreDoNotWait(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	must(t, m.PutDevice(testDevice("a", "")))
	gate := drv.hold(t, &drv.writeGate)
	promptly(t, "PutDevice with a new desired value", func() {
		if err := m.PutDevice(testDevice("a", "77")); err != nil {
			t.Error(err)
		}
	})
	await.Until(t, "the write to be held", func() bool { return drv.gated.Load() == 1 })
	// SetDesired waits no longer than its context.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := m.SetDesiredContext(ctx, "default", "a", "setpoint", "78"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SetDesiredContext while the bus is busy = %v; want the context's deadline", err)
	}
	drv.release(gate)
	await.Until(t, "78 read back", func() bool { s, ok := latest(m, "a", "setpoint"); return ok && s.Value == 78 })
}

func TestADesiredValueForADeviceNotRunningIsWrittenWhenItStarts(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutDevice(testDevice("a", "")))
	err := m.SetDesired("default", "a", "setpoint", "33")
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "waiting for model default/thermo") {
		t.Fatalf("SetDesired = %v; want ErrNotRunning saying why", err)
	}
	must(t, m.PutModel(testModel()))
	await.Until(t, "33 written and read back", func() bool { s, ok := latest(m, "a", "setpoint"); return ok && s.Value == 33 })
	if got := drv.writeLog(); got != "[default/a/2=33]" {
		t.Errorf("writes %s; want the kept value written once", got)
	}
}

// A changed desired value is acknowledged with the value read back after
// its write, never beside one read before: while the write waits for the
// bus, the reporter has nothing new to acknowledge, and a call it makes
// keeps the observedDesired it sent before. (It used to send
// "setpoint=10|42", and the read-back of 42 then waited behind every
// ordinary change in line.)
func TestAWriteIsAcknowledgedWithItsReadBack(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	drv.set("default/w/1", 20)
	must(t, m.PutDevice(testDevice("w", "10")))
	await.Until(t, "10 read back", func() bool { s, ok := latest(m, "w", "setpoint"); return ok && s.Value == 10 })
	await.Until(t, "20 sampled", func() bool { s, ok := latest(m, "w", "temp"); return ok && s.Value == 20 })
	s := &recordingSender{}
	rp := NewReporter(m, s, nil)
	ctx := context.Background()
	rp.Flush(ctx)
	if st, _ := s.sent(); len(st) != 1 || st[0] != "default/w temp=20| setpoint=10|10" {
		t.Fatalf("first report %q; want the written 10 acknowledged", st)
	}

	drv.set("default/w/1", 21) // a change for the next call
	await.Until(t, "21 sampled", func() bool { s, _ := latest(m, "w", "temp"); return s.Value == 21 })
	gate := drv.hold(t, &drv.writeGate)
	done := make(chan error, 1)
	go func() { done <- m.SetDesired("default", "w", "setpoint", "42") }()
	await.Until(t, "the write to be held", func() bool { return drv.gated.Load() == 1 })
	for _, d := range rp.scan(time.Now()) {
		if d.class == dueDesired {
			t.Errorf("%s due to acknowledge a desired value not yet written", d.st.key)
		}
	}
	rp.Flush(ctx)
	if st, _ := s.sent(); st[len(st)-1] != "default/w temp=21| setpoint=10|10" {
		t.Errorf("report while the write waits %q; want the 10 acknowledged before", st[len(st)-1])
	}

	drv.release(gate)
	must(t, <-done)
	due := rp.scan(time.Now())
	if len(due) != 1 || due[0].class != dueDesired {
		t.Errorf("after the read-back %d devices due (%+v); want w, to acknowledge 42", len(due), due)
	}
	rp.Flush(ctx)
	if st, _ := s.sent(); st[len(st)-1] != "default/w temp=21| setpoint=42|42" {
		t.Errorf("report after the read-back %q; want 42 acknowledged with 42", st[len(st)-1])
	}
}
