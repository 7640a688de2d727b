package device

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// fakeDriver is a protocol whose registers live in memory: register r of a
// device holds regs[r]. It counts opens so tests can tell a reopen from a write.
type fakeDriver struct {
	mu     sync.Mutex
	regs   map[string]float64 // "device/register" -> value
	fail   map[string]bool    // "device/register" -> reads fail
	opens  atomic.Int32
	closes atomic.Int32
	writes []string
	wfail  map[string]string // "device/register" -> the error writes fail with
	// Open on a bus in openFail fails with openErr that many more times
	// (-1: always); attempts are the times of every Open past the config.
	openFail map[string]int
	openErr  error
	attempts []time.Time
	// openGate, closeGate and writeGate, when set, hold Open, Close and
	// Write until they are closed; gated counts the calls held.
	openGate, closeGate, writeGate chan struct{}
	gated                          atomic.Int32
}

// hold makes the calls of one gate (&d.openGate, &d.closeGate or
// &d.writeGate) wait until the returned channel is closed, which the
// test's cleanup does if the test did not.
func (d *fakeDriver) hold(t *testing.T, gate *chan struct{}) chan struct{} {
	g := make(chan struct{})
	d.mu.Lock()
	*gate = g
	d.mu.Unlock()
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { d.release(g) }) })
	return g
}

// release lets the calls held at g go, and stops holding new ones.
func (d *fakeDriver) release(g chan struct{}) {
	d.mu.Lock()
	if d.openGate == g {
		d.openGate = nil
	}
	if d.closeGate == g {
		d.closeGate = nil
	}
	if d.writeGate == g {
		d.writeGate = nil
	}
	d.mu.Unlock()
	select {
	case <-g:
	default:
		close(g)
	}
}

func (d *fakeDriver) wait(gate *chan struct{}) {
	d.mu.Lock()
	g := *gate
	d.mu.Unlock()
	if g != nil {
		d.gated.Add(1)
		<-g
		d.gated.Add(-1)
	}
}

func newFakeDriver() *fakeDriver {
	return &fakeDriver{regs: map[string]float64{}, fail: map[string]bool{}, wfail: map[string]string{}, openFail: map[string]int{}}
}

func (d *fakeDriver) Protocol() string { return "fake" }

func (d *fakeDriver) set(key string, v float64) {
	d.mu.Lock()
	d.regs[key] = v
	d.mu.Unlock()
}

func (d *fakeDriver) Open(cfg bus.DeviceConfig) (bus.Device, error) {
	d.wait(&d.openGate)
	busName, err := cfg.Config.String("bus", "0")
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.attempts = append(d.attempts, time.Now())
	if n := d.openFail[busName]; n != 0 {
		if n > 0 {
			d.openFail[busName] = n - 1
		}
		err := d.openErr
		d.mu.Unlock()
		return nil, err
	}
	d.mu.Unlock()
	dev := &fakeDevice{d: d, bus: "fake:" + busName}
	for _, p := range cfg.Properties {
		reg, err := p.Config.Int("register", 0, 0, 255)
		if err != nil {
			return nil, err
		}
		pt := &fakePoint{d: d, key: fmt.Sprintf("%s/%d", cfg.Name, reg)}
		if p.Writable {
			dev.points = append(dev.points, &fakeWriter{pt})
		} else {
			dev.points = append(dev.points, pt)
		}
	}
	d.opens.Add(1)
	return dev, nil
}

type fakeDevice struct {
	d      *fakeDriver
	bus    string
	points []bus.Point
}

func (f *fakeDevice) Bus() string         { return f.bus }
func (f *fakeDevice) Points() []bus.Point { return f.points }
func (f *fakeDevice) Close() error        { f.d.wait(&f.d.closeGate); f.d.closes.Add(1); return nil }

type fakePoint struct {
	d   *fakeDriver
	key string
}

func (p *fakePoint) Read() (float64, error) {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	if p.d.fail[p.key] {
		return 0, errors.New("no answer from " + p.key)
	}
	return p.d.regs[p.key], nil
}

type fakeWriter struct{ *fakePoint }

func (w *fakeWriter) Write(v float64) error {
	w.d.wait(&w.d.writeGate)
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	w.d.writes = append(w.d.writes, fmt.Sprintf("%s=%g", w.key, v))
	if msg := w.d.wfail[w.key]; msg != "" {
		return errors.New(msg)
	}
	w.d.regs[w.key] = v
	return nil
}

func cfg(path string, kv ...any) bus.Config {
	c := bus.Config{Path: path, Values: map[string]bus.Value{}}
	for i := 0; i < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case int:
			c.Values[kv[i].(string)] = bus.NumberValue(float64(v))
		case string:
			c.Values[kv[i].(string)] = bus.StringValue(v)
		}
	}
	return c
}

func testModel() Model {
	return Model{Namespace: "default", Name: "thermo", Properties: []ModelProperty{
		{Name: "temp", Type: TypeFloat, AccessMode: ReadOnly},
		{Name: "setpoint", Type: TypeInt, AccessMode: ReadWrite, Minimum: "0", Maximum: "100"},
	}}
}

func testDevice(name string, desired string) Device {
	return Device{Namespace: "default", Name: name, Model: "thermo", Protocol: "fake",
		Config: cfg("spec.protocol.configData", "bus", "1"),
		Properties: []Property{
			{Name: "temp", Visitor: cfg("v", "register", 1), CollectCycle: 10 * time.Millisecond, ReportToCloud: true},
			{Name: "setpoint", Desired: desired, Visitor: cfg("v", "register", 2), CollectCycle: 10 * time.Millisecond, ReportToCloud: true},
		}}
}

// startManager runs a manager with the fake driver until the test ends.
func startManager(t *testing.T) (*Manager, *fakeDriver) {
	t.Helper()
	return runManager(t, Options{History: 64})
}

// runManager runs a manager with opts and a new fake driver until the test
// ends.
func runManager(t *testing.T, opts Options) (*Manager, *fakeDriver) {
	t.Helper()
	drv := newFakeDriver()
	m := NewManager(opts, drv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return m, drv
}

func latest(m *Manager, dev, prop string) (ringbuf.Sample, bool) {
	var s ringbuf.Sample
	p, ok := m.Property("default", dev, prop)
	if !ok {
		return s, false
	}
	return s, p.Ring.Latest(&s)
}
