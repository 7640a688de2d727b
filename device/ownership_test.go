package device

import (
	"slices"
	"testing"
	"time"
)

// buses returns the names of the buses that have a worker.
func buses(m *Manager) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for name := range m.buses {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func TestABusWorkerStopsWithItsLastDevice(t *testing.T) {
	m, _ := startManager(t)
	must(t, m.PutModel(testModel()))
	must(t, m.PutDevice(testDevice("a", "")))
	must(t, m.PutDevice(testDevice("b", "")))
	m.mu.Lock()
	first := m.buses["fake:1"]
	m.mu.Unlock()
	if got := buses(m); !slices.Equal(got, []string{"fake:1"}) {
		t.Fatalf("workers %q; want one for fake:1", got)
	}

	must(t, m.RemoveDevice("default", "a"))
	if got := buses(m); !slices.Equal(got, []string{"fake:1"}) {
		t.Fatalf("workers %q after one of two devices left; want fake:1 kept", got)
	}
	moved := testDevice("b", "")
	moved.Config = cfg("spec.protocol.configData", "bus", "2")
	must(t, m.PutDevice(moved))
	if got := buses(m); !slices.Equal(got, []string{"fake:2"}) {
		t.Errorf("workers %q after the last device left fake:1; want only fake:2", got)
	}
	select {
	case <-first.quit:
	default:
		t.Error("the worker of fake:1 was not told to stop")
	}
	must(t, m.RemoveDevice("default", "b"))
	if got := buses(m); len(got) != 0 {
		t.Errorf("workers %q with no device left; want none", got)
	}
	if st := m.Stats(); len(st) != 0 {
		t.Errorf("stats %+v with no device left; want none", st)
	}
}

// TestReadersNeverTakeTheManagersLock: every reader, the reporter's scan
// included, reads the published snapshot; none waits for the lock that
// changes hold.
func TestReadersNeverTakeTheManagersLock(t *testing.T) {
	m, _ := startManager(t)
	must(t, m.PutModel(testModel()))
	must(t, m.PutDevice(testDevice("a", "")))
	rp := NewReporter(m, &recordingSender{}, nil)
	m.mu.Lock()
	defer m.mu.Unlock()
	readers := []struct {
		name string
		read func() bool
	}{
		{"Snapshot", func() bool {
			n := 0
			for range m.Snapshot() {
				n++
			}
			return n == 1
		}},
		{"Devices", func() bool { return len(m.Devices()) == 1 }},
		{"Device", func() bool { _, ok := m.Device("default", "a"); return ok }},
		{"Property", func() bool { _, ok := m.Property("default", "a", "temp"); return ok }},
		{"Twins", func() bool { tw, _, ok := m.Twins("default", "a"); return ok && len(tw) == 2 }},
		{"Stats", func() bool { return len(m.Stats()) == 1 }},
		{"StateCounts", func() bool { return len(m.StateCounts()) == 4 }},
		{"DeviceKeys", func() bool { return len(m.DeviceKeys("fake")) == 1 }},
		{"Generation", func() bool { return m.Generation() > 0 }},
		{"the reporter's scan", func() bool { rp.scan(time.Now()); return true }},
	}
	for _, r := range readers {
		promptly(t, r.name, func() {
			if !r.read() {
				t.Errorf("%s did not see the device", r.name)
			}
		})
	}
}
