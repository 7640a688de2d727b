package device

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/internal/await"
)

func TestDeviceIsSampledIntoItsRings(t *testing.T) {
	m, drv := startManager(t)
	drv.set("default/a/1", 21.5)
	if err := m.PutModel(testModel()); err != nil {
		t.Fatal(err)
	}
	if err := m.PutDevice(testDevice("a", "")); err != nil {
		t.Fatal(err)
	}
	await.Until(t, "a sample of 21.5", func() bool {
		s, ok := latest(m, "a", "temp")
		return ok && s.Value == 21.5 && s.Err == 0
	})
	await.Until(t, "device online", func() bool { v, _ := m.Device("default", "a"); return v.State == StateOnline })
}

func TestDeviceWaitsForItsModel(t *testing.T) {
	m, drv := startManager(t)
	drv.set("default/a/1", 3)
	if err := m.PutDevice(testDevice("a", "")); err != nil {
		t.Fatal(err)
	}
	v, ok := m.Device("default", "a")
	if !ok || v.Error == "" || drv.opens.Load() != 0 {
		t.Fatalf("device without model: view %+v, opens %d; want waiting and unopened", v, drv.opens.Load())
	}
	if err := m.PutModel(testModel()); err != nil {
		t.Fatal(err)
	}
	await.Until(t, "sample after the model arrived", func() bool { s, ok := latest(m, "a", "temp"); return ok && s.Value == 3 })
}

func TestDesiredChangeIsAWriteNotAReopen(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	if err := m.PutDevice(testDevice("a", "10")); err != nil {
		t.Fatal(err)
	}
	await.Until(t, "setpoint 10 read back", func() bool { s, ok := latest(m, "a", "setpoint"); return ok && s.Value == 10 })
	if err := m.PutDevice(testDevice("a", "55")); err != nil {
		t.Fatal(err)
	}
	await.Until(t, "setpoint 55 read back", func() bool { s, ok := latest(m, "a", "setpoint"); return ok && s.Value == 55 })
	if got := drv.opens.Load(); got != 1 {
		t.Errorf("device opened %d times; a desired change must not reopen it", got)
	}
	twins, _, _ := m.Twins("default", "a")
	if twins[1].ObservedDesired != "55" || twins[1].Reported != "55" {
		t.Errorf("twin = %+v; want observedDesired 55 and reported 55", twins[1])
	}
}

func TestInvalidSpecIsRefusedAndTheOldOneKeepsRunning(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	if err := m.PutDevice(testDevice("a", "")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		edit  func(*Device)
		field string
	}{
		{"unknown protocol", func(d *Device) { d.Protocol = "canbus" }, "device.spec.protocol.protocolName"},
		{"bad register", func(d *Device) { d.Properties[0].Visitor = cfg("v", "register", 999) }, "v.register"},
		{"property not in model", func(d *Device) { d.Properties[0].Name = "humidity" }, "device.spec.properties[humidity].name"},
		{"desired above maximum", func(d *Device) { d.Properties[1].Desired = "101" }, "device.spec.properties[setpoint].desired.value"},
		{"desired not a number", func(d *Device) { d.Properties[1].Desired = "warm" }, "device.spec.properties[setpoint].desired.value"},
		{"duplicate property", func(d *Device) { d.Properties[1].Name = "temp" }, "device.spec.properties[1].name"},
		{"negative cycle", func(d *Device) { d.Properties[0].CollectCycle = -1 }, "device.spec.properties[0].collectCycle"},
		{"no model reference", func(d *Device) { d.Model = "" }, "device.spec.deviceModelRef"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := testDevice("a", "")
			tc.edit(&d)
			err := m.PutDevice(d)
			var fe *bus.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("PutDevice error = %v; want a FieldError for %s", err, tc.field)
			}
		})
	}
	if drv.opens.Load() != 1 || drv.closes.Load() != 0 {
		t.Errorf("opens %d closes %d; the running device must not be disturbed", drv.opens.Load(), drv.closes.Load())
	}
	drv.set("default/a/1", 42)
	await.Until(t, "the original device still sampling", func() bool { s, ok := latest(m, "a", "temp"); return ok && s.Value == 42 })
}

func TestRemovedDeviceStopsSampling(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	must(t, m.PutDevice(testDevice("a", "")))
	await.Until(t, "first sample", func() bool { _, ok := latest(m, "a", "temp"); return ok })
	if err := m.RemoveDevice("default", "a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Device("default", "a"); ok {
		t.Fatal("device still listed after removal")
	}
	if drv.closes.Load() != 1 {
		t.Errorf("device closed %d times; want 1", drv.closes.Load())
	}
	if err := m.RemoveDevice("default", "a"); err != nil {
		t.Errorf("removing twice: %v; want no error", err)
	}
}

func TestFailingReadsMakeTheDeviceOffline(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	drv.mu.Lock()
	drv.fail["default/a/1"] = true
	drv.fail["default/a/2"] = true
	drv.mu.Unlock()
	must(t, m.PutDevice(testDevice("a", "")))
	await.Until(t, "offline", func() bool { v, _ := m.Device("default", "a"); return v.State == StateOffline })
	p, _ := m.Property("default", "a", "temp")
	if p.LastError == "" {
		t.Error("LastError empty for a failing property")
	}
	drv.mu.Lock()
	drv.fail["default/a/1"] = false
	drv.mu.Unlock()
	await.Until(t, "unhealthy", func() bool { v, _ := m.Device("default", "a"); return v.State == StateUnhealthy })
}

func TestModelUpdateRestartsItsDevices(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	must(t, m.PutDevice(testDevice("a", "")))
	mod := testModel()
	mod.Properties[0].Unit = "kelvin"
	if err := m.PutModel(mod); err != nil {
		t.Fatal(err)
	}
	if drv.opens.Load() != 2 || drv.closes.Load() != 1 {
		t.Errorf("opens %d closes %d after a model change; want a reopen", drv.opens.Load(), drv.closes.Load())
	}
	if p, _ := m.Property("default", "a", "temp"); p.Unit != "kelvin" {
		t.Errorf("unit %q; want the new model's", p.Unit)
	}
}

func TestBadModelIsRefused(t *testing.T) {
	m, _ := startManager(t)
	cases := []struct {
		name  string
		edit  func(*Model)
		field string
	}{
		{"no name", func(m *Model) { m.Name = "" }, "model.name"},
		{"unknown type", func(m *Model) { m.Properties[0].Type = "DECIMAL" }, "model.spec.properties[0].type"},
		{"minimum not a number", func(m *Model) { m.Properties[1].Minimum = "low" }, "model.spec.properties[1]"},
		{"duplicate property", func(m *Model) { m.Properties[1].Name = "temp" }, "model.spec.properties[1].name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mod := testModel()
			tc.edit(&mod)
			var fe *bus.FieldError
			if err := m.PutModel(mod); !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("PutModel error = %v; want a FieldError for %s", err, tc.field)
			}
		})
	}
}

func TestSetDesiredChecksAccessMode(t *testing.T) {
	m, _ := startManager(t)
	must(t, m.PutModel(testModel()))
	must(t, m.PutDevice(testDevice("a", "")))
	if err := m.SetDesired("default", "a", "temp", "3"); err == nil {
		t.Error("SetDesired on a ReadOnly property succeeded")
	}
	if err := m.SetDesired("default", "a", "nope", "3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown property: %v; want ErrNotFound", err)
	}
	if err := m.SetDesired("default", "a", "setpoint", "12"); err != nil {
		t.Fatal(err)
	}
	await.Until(t, "setpoint 12", func() bool { s, ok := latest(m, "a", "setpoint"); return ok && s.Value == 12 })
}

func TestStatsCountReadsPerBus(t *testing.T) {
	m, drv := startManager(t)
	must(t, m.PutModel(testModel()))
	drv.mu.Lock()
	drv.fail["default/a/2"] = true
	drv.mu.Unlock()
	must(t, m.PutDevice(testDevice("a", "")))
	await.Until(t, "some reads and failures", func() bool {
		st := m.Stats()
		return len(st) == 1 && st[0].Reads >= 4 && st[0].Failures >= 2
	})
	st := m.Stats()[0]
	if st.Bus != "fake:1" || st.Tasks != 2 || st.Failures > st.Reads {
		t.Errorf("stats %+v; want bus fake:1 with 2 tasks", st)
	}
	await.Until(t, "the device unhealthy", func() bool { return m.StateCounts()[StateUnhealthy] == 1 })
}

func TestDeviceKeysListOneProtocol(t *testing.T) {
	m, _ := startManager(t)
	must(t, m.PutModel(testModel()))
	must(t, m.PutDevice(testDevice("b", "")))
	must(t, m.PutDevice(testDevice("a", "")))
	if got := fmt.Sprint(m.DeviceKeys("fake")); got != "[default/a default/b]" {
		t.Errorf("DeviceKeys(fake) = %s", got)
	}
	if got := m.DeviceKeys("i2c"); len(got) != 0 {
		t.Errorf("DeviceKeys(i2c) = %v; want none", got)
	}
}

func TestAResentModelLeavesItsDevicesAlone(t *testing.T) {
	cases := []struct {
		name string
		// resend sends the model (and possibly the device) again, as EdgeCore does.
		resend func(t *testing.T, m *Manager)
	}{
		{"UpdateDeviceModel before every UpdateDevice", func(t *testing.T, m *Manager) {
			if err := m.PutModel(testModel()); err != nil {
				t.Fatal(err)
			}
		}},
		{"re-registration: the model once per device, then the devices", func(t *testing.T, m *Manager) {
			for range 3 {
				if err := m.PutModel(testModel()); err != nil {
					t.Fatal(err)
				}
			}
			if err := m.PutDevice(testDevice("a", "10")); err != nil {
				t.Fatal(err)
			}
			if err := m.PutDevice(testDevice("b", "20")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, drv := startManager(t)
			must(t, m.PutModel(testModel()))
			if err := m.PutDevice(testDevice("a", "10")); err != nil {
				t.Fatal(err)
			}
			if err := m.PutDevice(testDevice("b", "20")); err != nil {
				t.Fatal(err)
			}
			await.Until(t, "setpoint 10 read back", func() bool { s, ok := latest(m, "a", "setpoint"); return ok && s.Value == 10 })
			tc.resend(t, m)
			if got := drv.opens.Load(); got != 2 {
				t.Errorf("opens %d after the resend; want 2 (no reopen)", got)
			}
			if err := m.PutDevice(testDevice("a", "55")); err != nil {
				t.Fatal(err)
			}
			await.Until(t, "setpoint 55 read back", func() bool { s, ok := latest(m, "a", "setpoint"); return ok && s.Value == 55 })
			if o, c := drv.opens.Load(), drv.closes.Load(); o != 2 || c != 0 {
				t.Errorf("opens %d closes %d after a desired change; want 2 and 0: a write, not a reopen", o, c)
			}
			drv.mu.Lock()
			writes := fmt.Sprint(drv.writes)
			drv.mu.Unlock()
			if writes != "[default/a/2=10 default/b/2=20 default/a/2=55]" {
				t.Errorf("writes %s; want each desired value written once", writes)
			}
		})
	}
}

func TestAModelChangedInPlaceStillRestartsItsDevices(t *testing.T) {
	m, drv := startManager(t)
	mod := testModel()
	must(t, m.PutModel(mod))
	must(t, m.PutDevice(testDevice("a", "")))
	// The caller edits the slice it passed before: the manager must have
	// kept its own copy, or the change would look like no change.
	mod.Properties[0].Unit = "kelvin"
	if err := m.PutModel(mod); err != nil {
		t.Fatal(err)
	}
	if o, c := drv.opens.Load(), drv.closes.Load(); o != 2 || c != 1 {
		t.Errorf("opens %d closes %d after a model change; want a reopen", o, c)
	}
	if p, _ := m.Property("default", "a", "temp"); p.Unit != "kelvin" {
		t.Errorf("unit %q; want the new model's", p.Unit)
	}
	// And a desired change after the model change is a write again.
	if err := m.PutDevice(testDevice("a", "5")); err != nil {
		t.Fatal(err)
	}
	if o := drv.opens.Load(); o != 2 {
		t.Errorf("opens %d after a desired change following a model change; want 2", o)
	}
}

func TestPropertiesThatCarryNoNumberAreKeptButNotSampled(t *testing.T) {
	for _, typ := range []string{"BYTES", "stream", ""} {
		t.Run("type "+strconv.Quote(typ), func(t *testing.T) {
			var logs strings.Builder
			var mu sync.Mutex
			m, drv := runManager(t, Options{Log: slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil))})

			model := testModel()
			model.Properties = append([]ModelProperty{{Name: "snapshot", Type: typ, AccessMode: ReadWrite}}, model.Properties...)
			for range 2 { // sent again, as EdgeCore does
				if err := m.PutModel(model); err != nil {
					t.Fatalf("PutModel refused a model with a %q property: %v", typ, err)
				}
			}
			dev := testDevice("a", "10")
			dev.Properties = append([]Property{{Name: "snapshot", Desired: "AAEC", Visitor: cfg("v", "register", 9)}}, dev.Properties...)
			if err := m.PutDevice(dev); err != nil {
				t.Fatal(err)
			}
			drv.set("default/a/1", 21.5)
			await.Until(t, "the other properties sampled", func() bool { s, ok := latest(m, "a", "temp"); return ok && s.Value == 21.5 })
			if _, ok := m.Property("default", "a", "snapshot"); ok {
				t.Error("the property is sampled")
			}
			twins, _, _ := m.Twins("default", "a")
			for _, tw := range twins {
				if tw.Property == "snapshot" {
					t.Errorf("the property has a twin: %+v", tw)
				}
			}
			if err := m.SetDesired("default", "a", "snapshot", "AAEC"); !errors.Is(err, ErrNotFound) {
				t.Errorf("SetDesired on it = %v; want ErrNotFound", err)
			}
			// A desired change of a sampled property beside it is still a write.
			dev.Properties[2].Desired = "55"
			if err := m.PutDevice(dev); err != nil {
				t.Fatal(err)
			}
			await.Until(t, "setpoint 55", func() bool { s, ok := latest(m, "a", "setpoint"); return ok && s.Value == 55 })
			if n := drv.opens.Load(); n != 1 {
				t.Errorf("%d opens; want 1", n)
			}
			mu.Lock()
			defer mu.Unlock()
			if n := strings.Count(logs.String(), "property=snapshot"); n != 1 {
				t.Errorf("the property was logged %d times; want one warning:\n%s", n, logs.String())
			}
		})
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestAManagerRunsOnce(t *testing.T) {
	m := NewManager(Options{}, newFakeDriver())
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- m.Run(ctx) }()
	await.Until(t, "the first Run", m.ran.Load)
	if err := m.Run(ctx); !errors.Is(err, ErrRunTwice) {
		t.Errorf("second Run = %v; want ErrRunTwice", err)
	}
	cancel()
	if err := <-first; err != nil {
		t.Errorf("first Run = %v", err)
	}
	if err := m.PutDevice(testDevice("a", "")); !errors.Is(err, ErrStopped) {
		t.Errorf("PutDevice after Run = %v; want ErrStopped", err)
	}
}
