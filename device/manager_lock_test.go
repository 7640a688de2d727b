package device

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/internal/await"
)

// promptly fails the test when f does not return within a second.
func promptly(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Errorf("%s waited for the driver", what)
	}
}

// inLine returns how many changing calls for key are in line, the running
// one included.
func inLine(m *Manager, key string) int {
	m.queueMu.Lock()
	defer m.queueMu.Unlock()
	if q := m.queues[key]; q != nil {
		return q.n
	}
	return 0
}

func opening(d *fakeDriver) *chan struct{} { return &d.openGate }
func closing(d *fakeDriver) *chan struct{} { return &d.closeGate }

func TestReadersDoNotWaitForADeviceOpeningOrClosing(t *testing.T) {
	reopened := testDevice("a", "")
	reopened.Properties[0].CollectCycle = 20 * time.Millisecond
	cases := []struct {
		name   string
		gate   func(*fakeDriver) *chan struct{}
		change func(m *Manager) error
	}{
		{"a new device opening", opening, func(m *Manager) error { return m.PutDevice(testDevice("b", "")) }},
		{"a changed device opening", opening, func(m *Manager) error { return m.PutDevice(reopened) }},
		{"a removed device closing", closing, func(m *Manager) error { return m.RemoveDevice("default", "a") }},
		{"a changed device closing", closing, func(m *Manager) error { return m.PutDevice(reopened) }},
		{"a model's device closing", closing, func(m *Manager) error { return m.RemoveModel("default", "thermo") }},
		{"a changed model's device closing", closing, func(m *Manager) error {
			mod := testModel()
			mod.Properties[0].Unit = "kelvin"
			return m.PutModel(mod)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, drv := startManager(t)
			must(t, m.PutModel(testModel()))
			if err := m.PutDevice(testDevice("a", "")); err != nil {
				t.Fatal(err)
			}
			await.Until(t, "a sample", func() bool { _, ok := latest(m, "a", "temp"); return ok })
			gate := drv.hold(t, tc.gate(drv))
			changed := make(chan error, 1)
			go func() { changed <- tc.change(m) }()
			await.Until(t, "the driver to hold the call", func() bool { return drv.gated.Load() == 1 })

			rp := NewReporter(m, &recordingSender{}, nil)
			readers := []struct {
				name string
				read func()
			}{
				{"Devices", func() { m.Devices() }},
				{"Device", func() { m.Device("default", "a") }},
				{"Property", func() { m.Property("default", "a", "temp") }},
				{"Twins", func() { m.Twins("default", "a") }},
				{"Stats", func() { m.Stats() }},
				{"StateCounts", func() { m.StateCounts() }},
				{"DeviceKeys", func() { m.DeviceKeys("fake") }},
				{"the reporter's scan", func() { rp.scan(time.Now()) }},
				{"a change of another device", func() { m.RemoveDevice("default", "other") }},
			}
			for _, r := range readers {
				promptly(t, r.name, r.read)
			}
			drv.release(gate)
			if err := <-changed; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestChangesOfOneDeviceApplyInCallOrder(t *testing.T) {
	onBus2 := testDevice("a", "")
	onBus2.Config = cfg("spec.protocol.configData", "bus", "2")
	put := func(d Device) func(*Manager) error { return func(m *Manager) error { return m.PutDevice(d) } }
	remove := func(m *Manager) error { return m.RemoveDevice("default", "a") }
	cases := []struct {
		name  string
		calls []func(*Manager) error // the first is held in Open
		bus   string                 // the bus the device ends on; "" when removed
	}{
		{"put, remove", []func(*Manager) error{put(testDevice("a", "")), remove}, ""},
		{"put, remove, put", []func(*Manager) error{put(testDevice("a", "")), remove, put(onBus2)}, "fake:2"},
		{"put, put, remove", []func(*Manager) error{put(testDevice("a", "")), put(onBus2), remove}, ""},
		{"put, put", []func(*Manager) error{put(onBus2), put(testDevice("a", ""))}, "fake:1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, drv := startManager(t)
			must(t, m.PutModel(testModel()))
			gate := drv.hold(t, &drv.openGate)
			var wg sync.WaitGroup
			for i, call := range tc.calls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := call(m); err != nil {
						t.Error(err)
					}
				}()
				// Each call is in line before the next is made.
				await.Until(t, fmt.Sprintf("call %d in line", i), func() bool { return inLine(m, "default/a") == i+1 })
			}
			drv.release(gate)
			wg.Wait()
			v, ok := m.Device("default", "a")
			switch {
			case tc.bus == "" && ok:
				t.Errorf("device %+v is there; want it removed", v)
			case tc.bus != "" && !ok:
				t.Errorf("device is gone; want it on %s", tc.bus)
			case tc.bus != "":
				if st := m.Stats(); !hasTasks(st, tc.bus, 2) {
					t.Errorf("stats %+v; want the device's 2 properties on %s", st, tc.bus)
				}
			}
			if open := drv.opens.Load() - drv.closes.Load(); open != int32(len(m.Devices())) {
				t.Errorf("%d devices open in the driver, %d in the manager", open, len(m.Devices()))
			}
		})
	}
}

// hasTasks reports whether bus has n properties to sample and no other bus has any.
func hasTasks(st []BusStats, bus string, n int) bool {
	found := false
	for _, s := range st {
		switch {
		case s.Bus == bus:
			found = s.Tasks == n
		case s.Tasks != 0:
			return false
		}
	}
	return found
}

func TestConcurrentChangesOfOneDeviceLeaveNothingOpenBehind(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	onBus2 := testDevice("a", "7")
	onBus2.Config = cfg("spec.protocol.configData", "bus", "2")
	calls := []func() error{
		func() error { return m.PutDevice(testDevice("a", "")) },
		func() error { return m.PutDevice(onBus2) },
		func() error { return m.RemoveDevice("default", "a") },
		func() error { return m.SetDesired("default", "a", "setpoint", "9") },
		func() error { mod := testModel(); mod.Properties[0].Unit = "K"; return m.PutModel(mod) },
		func() error { return m.PutModel(testModel()) },
		func() error { m.Devices(); m.Twins("default", "a"); m.Stats(); return nil },
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 50 {
				if err := calls[r.IntN(len(calls))](); err != nil && err != ErrNotFound {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := m.PutModel(testModel()); err != nil {
		t.Fatal(err)
	}
	if err := m.PutDevice(testDevice("a", "")); err != nil {
		t.Fatal(err)
	}
	if open := drv.opens.Load() - drv.closes.Load(); open != 1 {
		t.Errorf("%d devices open in the driver after the last put; want 1", open)
	}
	await.Until(t, "the last put's device sampled", func() bool {
		st := m.Stats()
		return hasTasks(st, "fake:1", 2)
	})
}
