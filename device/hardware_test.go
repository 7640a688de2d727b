package device

import (
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/internal/await"
)

// startRetrying runs a manager with the fake driver and a fast back-off.
func startRetrying(t *testing.T) (*Manager, *fakeDriver) {
	t.Helper()
	m, drv := runManager(t, Options{History: 64, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	must(t, m.PutModel(testModel()))
	return m, drv
}

func (d *fakeDriver) failOpens(busName string, n int, err error) {
	d.mu.Lock()
	d.openFail[busName], d.openErr = n, err
	d.mu.Unlock()
}

func (d *fakeDriver) openAttempts() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.attempts...)
}

func TestADeviceWhoseHardwareIsMissingWaitsAndStartsWhenItAppears(t *testing.T) {
	cases := []struct {
		name string
		err  error
	}{
		{"an error that names no field", errors.New("usb adapter unplugged")},
		{"the port is not there", &bus.FieldError{Field: "spec.protocol.configData.port",
			Err: &fs.PathError{Op: "open", Path: "/dev/ttyUSB0", Err: syscall.ENOENT}}},
		{"the line is busy", &bus.FieldError{Field: "spec.properties[relay].visitors.configData.pin",
			Err: fmt.Errorf("line_request ioctl: %w", syscall.EBUSY)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m, drv := startRetrying(t)
				drv.failOpens("1", 3, tc.err)
				drv.set("default/a/1", 21)
				if err := m.PutDevice(testDevice("a", "")); err != nil {
					t.Fatalf("PutDevice = %v; want the device kept, waiting for its hardware", err)
				}
				v, ok := m.Device("default", "a")
				if !ok || v.State != StateOffline || v.Error != "waiting for hardware: "+tc.err.Error() {
					t.Errorf("waiting device = %+v; want offline, waiting for hardware: %v", v, tc.err)
				}
				if err := m.SetDesired("default", "a", "setpoint", "12"); !errors.Is(err, ErrNotRunning) {
					t.Errorf("SetDesired while waiting = %v; want ErrNotRunning", err)
				}
				await.Until(t, "the device sampled once its hardware answers", func() bool {
					s, ok := latest(m, "a", "temp")
					return ok && s.Value == 21
				})
				await.Until(t, "online", func() bool { v, _ := m.Device("default", "a"); return v.State == StateOnline && v.Error == "" })
				await.Until(t, "the kept desired value written", func() bool { s, ok := latest(m, "a", "setpoint"); return ok && s.Value == 12 })
				at := drv.openAttempts()
				if len(at) != 4 {
					t.Fatalf("%d opens; want 3 failures and a success", len(at))
				}
				for i, want := range []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond} {
					if gap := at[i+1].Sub(at[i]); gap < want {
						t.Errorf("retry %d after %v; want at least %v (back-off doubling up to RetryMax)", i+1, gap, want)
					}
				}
			})
		})
	}
}

func TestAnOpenErrorNamingAFieldIsRefusedAndNotRetried(t *testing.T) {
	cases := []struct {
		name string
		err  error
	}{
		{"a bad value", &bus.FieldError{Field: "spec.protocol.configData.address", Err: errors.New("72.5 is not an integer")}},
		{"a bus no board has", &bus.FieldError{Field: "spec.protocol.configData.bus",
			Err: errors.New(`open i2c bus "7": i2creg: can't open unknown bus: "7"`)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m, drv := startRetrying(t)
				drv.failOpens("1", -1, tc.err)
				err := m.PutDevice(testDevice("a", ""))
				var fe *bus.FieldError
				if !errors.As(err, &fe) || err.Error() != tc.err.Error() {
					t.Fatalf("PutDevice = %v; want %v", err, tc.err)
				}
				if _, ok := m.Device("default", "a"); ok {
					t.Error("the refused device is listed")
				}
				time.Sleep(50 * time.Millisecond) // ten back-offs, in the bubble's time
				if n := len(drv.openAttempts()); n != 1 {
					t.Errorf("%d opens; want 1, no retry", n)
				}
			})
		})
	}
}

func TestAWaitingDeviceCanBeChanged(t *testing.T) {
	missing := &bus.FieldError{Field: "spec.protocol.configData.port", Err: &fs.PathError{Op: "open", Path: "/dev/ttyUSB0", Err: syscall.ENOENT}}
	onBus2 := testDevice("a", "")
	onBus2.Config = cfg("spec.protocol.configData", "bus", "2")
	cases := []struct {
		name   string
		change func(m *Manager) error
		check  func(t *testing.T, m *Manager)
	}{
		{"removed", func(m *Manager) error { return m.RemoveDevice("default", "a") }, func(t *testing.T, m *Manager) {
			if _, ok := m.Device("default", "a"); ok {
				t.Error("the removed device is listed")
			}
		}},
		{"moved to hardware that is there", func(m *Manager) error { return m.PutDevice(onBus2) }, func(t *testing.T, m *Manager) {
			if st := m.Stats(); !hasTasks(st, "fake:2", 2) {
				t.Errorf("stats %+v; want the device running on fake:2 at once", st)
			}
		}},
		{"left without its model", func(m *Manager) error { return m.RemoveModel("default", "thermo") }, func(t *testing.T, m *Manager) {
			if v, _ := m.Device("default", "a"); v.State != StateUnknown || !strings.Contains(v.Error, "model default/thermo was removed") {
				t.Errorf("device %+v; want it waiting for its model", v)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m, drv := startRetrying(t)
				drv.failOpens("1", -1, missing)
				if err := m.PutDevice(testDevice("a", "")); err != nil {
					t.Fatal(err)
				}
				await.Until(t, "a retry", func() bool { return len(drv.openAttempts()) >= 2 })
				if err := tc.change(m); err != nil {
					t.Fatal(err)
				}
				tc.check(t, m)
				n := len(drv.openAttempts())
				time.Sleep(50 * time.Millisecond) // several back-offs, in the bubble's time
				if after := len(drv.openAttempts()); after != n {
					t.Errorf("%d more opens of the old spec after the change; want none", after-n)
				}
			})
		})
	}
}

func TestWaitingDevicesShareOneRetryLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, drv := startRetrying(t)
		drv.failOpens("1", -1, errors.New("usb adapter unplugged"))
		before := runtime.NumGoroutine()
		for i := range 100 {
			if err := m.PutDevice(testDevice(fmt.Sprintf("d%d", i), "")); err != nil {
				t.Fatal(err)
			}
		}
		await.Until(t, "every device retried", func() bool { return len(drv.openAttempts()) >= 300 })
		if after := runtime.NumGoroutine(); after > before+5 {
			t.Errorf("%d goroutines for 100 waiting devices, %d before", after, before)
		}
		if n := m.StateCounts()[StateOffline]; n != 100 {
			t.Errorf("%d devices offline; want 100", n)
		}
	})
}

func TestAWaitingDeviceIsReportedOfflineOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, drv := startRetrying(t)
		drv.failOpens("1", 1<<20, errors.New("usb adapter unplugged"))
		if err := m.PutDevice(testDevice("a", "")); err != nil {
			t.Fatal(err)
		}
		s := &recordingSender{}
		startReporter(t, m, s)
		await.Until(t, "the offline state", func() bool { _, st := s.sent(); return contains(st, "default/a offline") })
		time.Sleep(100 * time.Millisecond) // many retries at 5-20 ms, in the bubble's time
		status, states := s.sent()
		if len(states) != 1 || len(status) != 0 {
			t.Errorf("states %v, twin reports %v; want one offline state and no twins while it waits", states, status)
		}
	})
}
