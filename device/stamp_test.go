package device

import (
	"errors"
	"testing"

	"github.com/tinymapper/tinymapper/internal/await"
)

// TestAnOlderSpecNeverReplacesANewerOne: a registration answer is EdgeCore's
// view when it handled the request; an UpdateDevice (or RemoveDevice, or a
// REST write) received while the answer was on its way is newer, and must
// survive the answer being applied after it (issue 10, defect 1).
func TestAnOlderSpecNeverReplacesANewerOne(t *testing.T) {
	stamped := func(d Device, stamp uint64) Device { d.Stamp = stamp; return d }
	cases := []struct {
		name string
		// before runs before the registration request is sent; meanwhile
		// runs after it was sent (stamp taken) and before its answer is
		// applied; answer applies the answer (or its drops) with the stamp.
		before, meanwhile func(t *testing.T, m *Manager)
		answer            func(m *Manager, stamp uint64) error
		wantErr           error
		present           bool
		desired           string // the setpoint desired and written at the end
	}{
		{
			name:      "an update of a new device before the answer's older spec",
			meanwhile: func(t *testing.T, m *Manager) { must(t, m.PutDevice(testDevice("a", "77"))) },
			answer:    func(m *Manager, s uint64) error { return m.PutDevice(stamped(testDevice("a", "42"), s)) },
			wantErr:   ErrStale, present: true, desired: "77",
		},
		{
			name:      "an update of a running device before the answer's older spec",
			before:    func(t *testing.T, m *Manager) { must(t, m.PutDevice(testDevice("a", "10"))) },
			meanwhile: func(t *testing.T, m *Manager) { must(t, m.PutDevice(testDevice("a", "77"))) },
			answer:    func(m *Manager, s uint64) error { return m.PutDevice(stamped(testDevice("a", "42"), s)) },
			wantErr:   ErrStale, present: true, desired: "77",
		},
		{
			name:   "a REST write before the answer's older spec",
			before: func(t *testing.T, m *Manager) { must(t, m.PutDevice(testDevice("a", "10"))) },
			meanwhile: func(t *testing.T, m *Manager) {
				must(t, m.SetDesired("default", "a", "setpoint", "77"))
			},
			answer:  func(m *Manager, s uint64) error { return m.PutDevice(stamped(testDevice("a", "42"), s)) },
			wantErr: ErrStale, present: true, desired: "77",
		},
		{
			name:      "a removal before the answer's older spec",
			before:    func(t *testing.T, m *Manager) { must(t, m.PutDevice(testDevice("a", "10"))) },
			meanwhile: func(t *testing.T, m *Manager) { must(t, m.RemoveDevice("default", "a")) },
			answer:    func(m *Manager, s uint64) error { return m.PutDevice(stamped(testDevice("a", "42"), s)) },
			wantErr:   ErrStale, present: false,
		},
		{
			name:      "a new device before the answer that does not list it",
			meanwhile: func(t *testing.T, m *Manager) { must(t, m.PutDevice(testDevice("a", "77"))) },
			answer:    func(m *Manager, s uint64) error { return m.RemoveDeviceAsOf("default", "a", s) },
			wantErr:   ErrStale, present: true, desired: "77",
		},
		{
			name:    "the answer applies when nothing came meanwhile",
			before:  func(t *testing.T, m *Manager) { must(t, m.PutDevice(testDevice("a", "10"))) },
			answer:  func(m *Manager, s uint64) error { return m.PutDevice(stamped(testDevice("a", "42"), s)) },
			present: true, desired: "42",
		},
		{
			name:    "the answer's drop applies when nothing came meanwhile",
			before:  func(t *testing.T, m *Manager) { must(t, m.PutDevice(testDevice("a", "10"))) },
			answer:  func(m *Manager, s uint64) error { return m.RemoveDeviceAsOf("default", "a", s) },
			present: false,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, drv := startManager(t)
			must(t, m.PutModel(testModel()))
			if tc.before != nil {
				tc.before(t, m)
			}
			stamp := m.Stamp() // the registration request is sent
			if tc.meanwhile != nil {
				tc.meanwhile(t, m)
			}
			err := tc.answer(m, stamp)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("applying the answer: %v; want %v", err, tc.wantErr)
			}
			v, ok := m.Device("default", "a")
			if ok != tc.present {
				t.Fatalf("device present %v; want %v", ok, tc.present)
			}
			if !ok {
				return
			}
			if got := v.Properties[1].Desired; got != tc.desired {
				t.Errorf("desired setpoint %q; want %q", got, tc.desired)
			}
			await.Until(t, "setpoint "+tc.desired+" written", func() bool {
				drv.mu.Lock()
				defer drv.mu.Unlock()
				n := len(drv.writes)
				return n > 0 && drv.writes[n-1] == "default/a/2="+tc.desired
			})
		})
	}
}

// must fails the test on a set-up error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
