package device

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// Defaults for properties that leave their cycles unset.
const (
	DefaultCollectCycle = time.Second
	DefaultReportCycle  = 60 * time.Second
	DefaultHistory      = 63 // samples kept per property (64 slots of 16 bytes: 1 KiB)
)

// Options configure a Manager. The zero value works.
type Options struct {
	Log *slog.Logger
	// History is how many samples each property's ring keeps.
	History int
	// Now replaces time.Now in tests.
	Now func() time.Time
	// RetryMin and RetryMax bound the back-off between tries to open a
	// device whose hardware is missing: the first retry comes after
	// RetryMin, each next one twice as late, at most RetryMax. Zero means
	// DefaultRetryMin and DefaultRetryMax.
	RetryMin, RetryMax time.Duration
}

// Default back-off for devices waiting for their hardware.
const (
	DefaultRetryMin = time.Second
	DefaultRetryMax = time.Minute
)

// Manager keeps models and devices and runs them.
//
// Calls that change a device (PutDevice, RemoveDevice, SetDesired, and the
// restarts PutModel and RemoveModel cause) are applied one at a time per
// device, in the order they were made; calls for different devices run side
// by side. Opening a device (Driver.Open), closing it and waiting for its bus
// worker happen outside the lock that readers take, so the views, twins,
// stats and the reporter never wait for bus I/O: mu is held only to look up
// and swap entries. One goroutine retries the devices waiting for their
// hardware, however many there are.
type Manager struct {
	drivers map[string]bus.Driver
	log     *slog.Logger
	history int
	now     func() time.Time

	retryMin, retryMax time.Duration
	retryWake          chan struct{} // a device started waiting for its hardware

	// life guards ctx and live, and runs, one at a time, the worker jobs
	// that find the workers not running (before Run, after it).
	life    sync.Mutex
	ctx     context.Context // set by Run
	live    bool            // the workers are running
	wg      sync.WaitGroup  // workers
	stopped chan struct{}   // closed once Run's workers have returned
	ran     atomic.Bool     // Run was called

	// queues holds, by device key, the line of calls changing that device.
	queueMu sync.Mutex
	queues  map[string]*keyQueue

	// mu guards the maps and the fields of a running that change (spec,
	// model, dev). Those are written with the device's turn in line (see
	// lockKey) and mu held, so either one is enough to read them.
	mu      sync.RWMutex
	models  map[string]*Model
	devices map[string]*running
	workers map[string]*worker
	// removed keeps, by device key, the stamp of its removal, so that a
	// spec received before it cannot bring the device back (see putDevice).
	removed map[string]uint64
	stamps  atomic.Uint64 // the latest stamp handed out (see Stamp)
	opened  atomic.Uint64 // devices opened so far
	gen     atomic.Uint64 // counts changes of devices (see Generation)
	changed chan struct{}
}

// keyQueue is the line of calls changing one device.
type keyQueue struct {
	tail chan struct{} // closed when the last call in line is done
	n    int           // calls in line, the one running included
}

// running is one device as the manager runs it.
type running struct {
	spec  Device
	model *Model     // nil while the model is missing
	dev   bus.Device // nil while not running
	// While the hardware is missing: when to try to open it again, and the
	// wait after that. Guarded by Manager.mu.
	retryAt time.Time
	backoff time.Duration
	worker  *worker
	props   []*prop
	byName  map[string]*prop
	state   atomic.Value // string
	err     atomic.Value // string: why the device is not running
}

// prop is one property of a running device.
type prop struct {
	name          string
	typ           string
	unit          string
	writable      bool
	min, max      float64
	point         bus.Point
	device        uint64      // sequence number of the opened device, for batching
	index         int         // position in the device's Points
	batcher       bus.Batcher // the device, when it reads several points at once
	ring          *ringbuf.Ring
	desired       atomic.Value // string
	reportToCloud bool
	reportCycle   time.Duration
	collectCycle  time.Duration
	deadband      float64                     // changes up to this size are not reported early
	push          *PushMethod                 // immutable
	task          *task                       // owned by the worker goroutine
	lastErr       atomic.Pointer[string]      // the latest read's error
	write         atomic.Pointer[writeStatus] // the latest write, when it failed
}

// writeStatus is a desired value the device did not take. It stays until a
// write of the property succeeds; reads leave it alone.
type writeStatus struct {
	err *WriteError
	at  time.Time
}

// A WriteError is a desired value that was not written: the device, the bus
// or the driver refused it.
type WriteError struct {
	Property string
	Value    string
	Err      error
}

func (e *WriteError) Error() string {
	return "write " + e.Property + "=" + e.Value + ": " + e.Err.Error()
}

func (e *WriteError) Unwrap() error { return e.Err }

func (p *prop) setErr(err error) {
	if cur := p.lastErr.Load(); cur != nil && *cur == err.Error() {
		return
	}
	s := err.Error()
	p.lastErr.Store(&s)
}

func (p *prop) clearErr() {
	if p.lastErr.Load() != nil {
		p.lastErr.Store(nil)
	}
}

// NewManager returns a manager that opens devices with drivers.
func NewManager(opts Options, drivers ...bus.Driver) *Manager {
	m := &Manager{
		drivers:   map[string]bus.Driver{},
		log:       opts.Log,
		history:   opts.History,
		now:       opts.Now,
		retryMin:  opts.RetryMin,
		retryMax:  opts.RetryMax,
		retryWake: make(chan struct{}, 1),
		models:    map[string]*Model{},
		devices:   map[string]*running{},
		workers:   map[string]*worker{},
		queues:    map[string]*keyQueue{},
		removed:   map[string]uint64{},
		changed:   make(chan struct{}, 1),
		stopped:   make(chan struct{}),
		ctx:       context.Background(),
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.history <= 0 {
		m.history = DefaultHistory
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.retryMin <= 0 {
		m.retryMin = DefaultRetryMin
	}
	if m.retryMax <= 0 {
		m.retryMax = DefaultRetryMax
	}
	m.retryMax = max(m.retryMax, m.retryMin)
	for _, d := range drivers {
		m.drivers[d.Protocol()] = d
	}
	return m
}

// Protocols returns the protocols the manager has drivers for, sorted.
func (m *Manager) Protocols() []string {
	out := make([]string, 0, len(m.drivers))
	for p := range m.drivers {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Run starts the bus workers and the state watcher, and blocks until ctx ends;
// then it closes every device. Devices put before Run start when it does.
// A manager runs once: a second Run returns ErrRunTwice at once.
func (m *Manager) Run(ctx context.Context) error {
	if m.ran.Swap(true) {
		return ErrRunTwice
	}
	m.life.Lock()
	m.ctx = ctx
	m.live = true
	m.mu.RLock()
	for _, w := range m.workers {
		m.startWorker(w)
	}
	m.mu.RUnlock()
	m.life.Unlock()
	retried := make(chan struct{})
	go func() {
		defer close(retried)
		m.retryOpens(ctx)
	}()
	m.watchStates(ctx)
	m.wg.Wait()
	m.life.Lock()
	m.live = false
	m.life.Unlock()
	close(m.stopped)
	<-retried
	m.mu.RLock()
	keys := make([]string, 0, len(m.devices))
	for key := range m.devices {
		keys = append(keys, key)
	}
	m.mu.RUnlock()
	for _, key := range keys {
		m.removeDevice(key, 0)
	}
	return nil
}

// lockKey waits for the device key's turn among the calls changing it, in
// the order they called lockKey, and returns the function that ends the
// turn. It is turnKey without the stamp.
func (m *Manager) lockKey(key string) (unlock func()) {
	_, unlock = m.turnKey(key)
	return unlock
}

// turnKey is lockKey returning also a stamp (see Stamp) taken as the call
// joined the line: for one device, later in line is later stamped.
func (m *Manager) turnKey(key string) (stamp uint64, unlock func()) {
	m.queueMu.Lock()
	stamp = m.Stamp()
	q := m.queues[key]
	if q == nil {
		q = &keyQueue{}
		m.queues[key] = q
	}
	prev, mine := q.tail, make(chan struct{})
	q.tail = mine
	q.n++
	m.queueMu.Unlock()
	if prev != nil {
		<-prev
	}
	return stamp, func() {
		m.queueMu.Lock()
		if q.n--; q.n == 0 {
			delete(m.queues, key)
		}
		m.queueMu.Unlock()
		close(mine)
	}
}

// startWorker starts w. Called with m.life held.
func (m *Manager) startWorker(w *worker) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		w.run(m.ctx)
	}()
}

// onWorker runs f on w's goroutine without waiting for it, or at once when
// the workers are not running (before Run and after it, such jobs run one at
// a time under m.life, so nothing else touches a bus meanwhile).
func (m *Manager) onWorker(w *worker, f func()) {
	m.life.Lock()
	if !m.live {
		defer m.life.Unlock()
		f()
		return
	}
	ctx := m.ctx
	m.life.Unlock()
	w.post(ctx, f)
}

// PutModel adds or replaces a model. Devices waiting for it start; devices
// using the old version restart with the new one. A model equal to the one
// kept changes nothing: EdgeCore sends the model again before every device
// update and once per device at registration.
func (m *Manager) PutModel(model Model) error {
	if model.Name == "" {
		return &bus.FieldError{Field: "model.name", Err: bus.ErrMissing}
	}
	if model.Namespace == "" {
		model.Namespace = "default"
	}
	// Keep a copy of our own: the caller may reuse its slice.
	model.Properties = slices.Clone(model.Properties)
	seen := map[string]bool{}
	for i, p := range model.Properties {
		field := fmt.Sprintf("model.spec.properties[%d]", i)
		if p.Name == "" {
			return &bus.FieldError{Field: field + ".name", Err: bus.ErrMissing}
		}
		if seen[p.Name] {
			return &bus.FieldError{Field: field + ".name", Err: fmt.Errorf("%q is listed twice", p.Name)}
		}
		seen[p.Name] = true
		switch t := strings.ToUpper(p.Type); t {
		case TypeInt, TypeFloat, TypeDouble, TypeBoolean, TypeString, TypeBytes, TypeStream, "":
			model.Properties[i].Type = t
		default:
			return &bus.FieldError{Field: field + ".type", Err: fmt.Errorf("%q is not one of INT, FLOAT, DOUBLE, BOOLEAN, STRING, BYTES, STREAM", p.Type)}
		}
		if _, _, err := bounds(model.Properties[i]); err != nil {
			return &bus.FieldError{Field: field, Err: err}
		}
	}
	key := Key(model.Namespace, model.Name)
	m.mu.Lock()
	old := m.models[key]
	same := old != nil && reflect.DeepEqual(*old, model)
	if !same {
		m.models[key] = &model
		for _, p := range model.Properties {
			if !Sampled(p.Type) {
				m.log.Warn("property not sampled or reported: its type carries no number", "model", key, "property", p.Name, "type", p.Type)
			}
		}
	}
	var restart []string
	for k, r := range m.devices {
		if r.spec.Namespace == model.Namespace && r.spec.Model == model.Name {
			if !same || r.model == nil {
				restart = append(restart, k)
			}
		}
	}
	m.mu.Unlock()
	sort.Strings(restart)
	for _, k := range restart {
		m.restart(k, key)
	}
	return nil
}

// restart applies a device's spec again, after its model changed.
func (m *Manager) restart(key, modelKey string) {
	defer m.lockKey(key)()
	m.mu.RLock()
	r := m.devices[key]
	m.mu.RUnlock()
	if r == nil || Key(r.spec.Namespace, r.spec.Model) != modelKey {
		return // removed or changed since
	}
	if err := m.putDevice(key, r.spec); err != nil {
		m.log.Warn("device cannot run with the new model", "device", key, "model", modelKey, "err", err)
	}
}

// RemoveModel forgets a model. Devices using it stop and wait for it.
func (m *Manager) RemoveModel(namespace, name string) error {
	if namespace == "" {
		namespace = "default"
	}
	modelKey := Key(namespace, name)
	m.mu.Lock()
	delete(m.models, modelKey)
	var stop []string
	for k, r := range m.devices {
		if r.spec.Namespace == namespace && r.spec.Model == name && r.model != nil {
			stop = append(stop, k)
		}
	}
	m.mu.Unlock()
	sort.Strings(stop)
	for _, key := range stop {
		m.waitForModel(key, modelKey)
	}
	return nil
}

// waitForModel closes a device whose model was removed; it waits for the
// model to come back.
func (m *Manager) waitForModel(key, modelKey string) {
	defer m.lockKey(key)()
	m.mu.RLock()
	r := m.devices[key]
	back := m.models[modelKey] != nil
	m.mu.RUnlock()
	if r == nil || r.model == nil || back || Key(r.spec.Namespace, r.spec.Model) != modelKey {
		return // changed since, or the model is back (PutModel restarts it)
	}
	m.closeDevice(key, r)
	m.mu.Lock()
	r.model = nil
	m.mu.Unlock()
	r.err.Store("model " + modelKey + " was removed")
	r.state.Store(StateUnknown)
}

// Stamp returns a receive stamp, later than every one returned before. A
// caller that learns devices from a snapshot taken elsewhere (EdgeCore's
// answer to a registration) takes a stamp before asking for it and puts
// every device of the answer with it: a device changed or removed after the
// stamp was taken keeps its newer spec.
func (m *Manager) Stamp() uint64 { return m.stamps.Add(1) }

// ErrStale is returned (wrapped) by PutDevice and RemoveDeviceAsOf for a
// change stamped before the device's current spec or its removal: the
// change is ignored.
var ErrStale = errors.New("a later change of the device was applied first")

// maxRemoved bounds the removal stamps kept; past it the older half goes.
const maxRemoved = 1024

// PutDevice adds a device or applies a changed spec. A change of desired
// values only is written to the device; any other change reopens it. A spec
// that is invalid is refused with a *bus.FieldError and whatever ran before
// keeps running. A device whose model is not known yet waits for it. A
// device whose driver cannot open it because the hardware is missing
// (HardwareMissing) is kept offline, with the error as its Error, and
// opened again with back-off (Options.RetryMin to RetryMax) until it opens
// or is changed or removed; PutDevice then returns nil.
//
// Specs of one device apply in the order of their stamps (Device.Stamp; an
// unstamped spec is stamped as it joins the device's line of changes): a spec stamped before
// the device's current spec, or before its removal, is ignored, and
// PutDevice returns an error wrapping ErrStale. So the newest desired value
// of every property wins, whatever order the specs arrive in.
func (m *Manager) PutDevice(d Device) error {
	if d.Namespace == "" {
		d.Namespace = "default"
	}
	if err := m.check(d); err != nil {
		return err
	}
	key := Key(d.Namespace, d.Name)
	stamp, unlock := m.turnKey(key)
	defer unlock()
	if d.Stamp == 0 {
		d.Stamp = stamp
	}
	return m.putDevice(key, d)
}

// putDevice is PutDevice in the device's turn.
func (m *Manager) putDevice(key string, d Device) error {
	m.mu.RLock()
	old := m.devices[key]
	model := m.models[Key(d.Namespace, d.Model)]
	latest := m.removed[key]
	if old != nil {
		latest = old.spec.Stamp
	}
	m.mu.RUnlock()
	if d.Stamp < latest {
		m.log.Debug("older spec ignored", "device", key, "stamp", d.Stamp, "applied", latest)
		return fmt.Errorf("device %s: spec %d: %w (%d)", key, d.Stamp, ErrStale, latest)
	}
	if model == nil {
		if old != nil {
			m.closeDevice(key, old)
		}
		r := &running{spec: d}
		r.state.Store(StateUnknown)
		r.err.Store("waiting for model " + Key(d.Namespace, d.Model))
		m.mu.Lock()
		m.devices[key] = r
		m.gen.Add(1)
		m.mu.Unlock()
		m.log.Info("device waits for its model", "device", key, "model", Key(d.Namespace, d.Model))
		return nil
	}
	plan, err := planProps(d, model)
	if err != nil {
		return err
	}
	if old != nil && old.dev != nil && sameModel(old.model, model) && sameButDesired(old.spec, d) {
		var changed []*prop
		m.mu.Lock()
		old.spec = d
		m.gen.Add(1)
		m.mu.Unlock()
		for _, dp := range d.Properties {
			p := old.byName[dp.Name]
			if p == nil {
				continue // not sampled
			}
			if want := dp.Desired; want != p.desired.Load().(string) {
				p.desired.Store(want)
				changed = append(changed, p)
			}
		}
		for _, p := range changed {
			m.writeDesired(key, old, p, p.desired.Load().(string))
		}
		return nil
	}
	r, missing, err := m.open(key, d, model, plan, old)
	if missing {
		if old != nil {
			m.closeDevice(key, old)
		}
		m.waitForHardware(key, d, model, err)
		return nil
	}
	if err != nil {
		return err
	}
	if old != nil {
		m.closeDevice(key, old)
	}
	m.mu.Lock()
	m.devices[key] = r
	m.gen.Add(1)
	m.mu.Unlock()
	m.startDevice(key, r)
	return nil
}

// waitForHardware keeps d, which its driver could not open because the
// hardware is missing, offline until a retry opens it (see retryOpens).
func (m *Manager) waitForHardware(key string, d Device, model *Model, err error) {
	r := &running{spec: d, model: model, backoff: m.retryMin}
	r.state.Store(StateOffline)
	r.err.Store("waiting for hardware: " + err.Error())
	m.mu.Lock()
	r.retryAt = time.Now().Add(r.backoff)
	m.devices[key] = r
	m.gen.Add(1)
	m.mu.Unlock()
	m.log.Warn("device waits for its hardware", "device", key, "err", err, "retry", r.backoff)
	select {
	case m.retryWake <- struct{}{}:
	default:
	}
	m.notify()
}

// waitingForHardware reports whether r waits for its hardware. Called with
// m.mu held.
func (r *running) waitingForHardware() bool {
	return r.dev == nil && r.model != nil && !r.retryAt.IsZero()
}

// retryOpens tries again, with back-off, to open the devices waiting for
// their hardware, one at a time, until ctx ends. It is the only goroutine
// doing so, however many devices wait.
func (m *Manager) retryOpens(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	type waiting struct {
		key string
		r   *running
	}
	var due []waiting
	for {
		now := time.Now()
		var next time.Time
		due = due[:0]
		m.mu.RLock()
		for key, r := range m.devices {
			switch {
			case !r.waitingForHardware():
			case !r.retryAt.After(now):
				due = append(due, waiting{key, r})
			case next.IsZero() || r.retryAt.Before(next):
				next = r.retryAt
			}
		}
		m.mu.RUnlock()
		if len(due) > 0 {
			for _, w := range due {
				if ctx.Err() != nil {
					return
				}
				m.retryOpen(w.key, w.r)
			}
			continue
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = time.Until(next)
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.retryWake:
		}
	}
}

// retryOpen tries to open r, which waits for its hardware, in its turn.
func (m *Manager) retryOpen(key string, r *running) {
	defer m.lockKey(key)()
	m.mu.RLock()
	current := m.devices[key] == r && r.waitingForHardware()
	m.mu.RUnlock()
	if !current {
		return // changed or removed since
	}
	plan, err := planProps(r.spec, r.model)
	var nr *running
	if err == nil {
		nr, _, err = m.open(key, r.spec, r.model, plan, nil)
	}
	if err != nil {
		// Whatever the error, the spec was accepted: keep trying.
		msg := "waiting for hardware: " + err.Error()
		m.mu.Lock()
		r.backoff = min(2*r.backoff, m.retryMax)
		r.retryAt = time.Now().Add(r.backoff)
		m.mu.Unlock()
		if r.err.Swap(msg) != msg {
			m.log.Warn("device still waits for its hardware", "device", key, "err", err, "retry", r.backoff)
		} else {
			m.log.Debug("device still waits for its hardware", "device", key, "retry", r.backoff)
		}
		return
	}
	m.mu.Lock()
	m.devices[key] = nr
	m.gen.Add(1)
	m.mu.Unlock()
	m.log.Info("device hardware found", "device", key)
	m.startDevice(key, nr)
}

// HardwareMissing reports whether err, from a Driver's Open, means that the
// hardware cannot be reached now (not there, busy, not permitted, gone)
// rather than that the spec is wrong. A *bus.FieldError names a wrong
// configData value, unless it wraps an error of the operating system (a
// syscall.Errno, *fs.PathError or *os.SyscallError: ENOENT for a port not
// plugged in, EBUSY, EACCES, ENODEV), which the drivers report against the
// key naming the port, bus or pin. Any other error is the hardware's.
func HardwareMissing(err error) bool {
	var fe *bus.FieldError
	if !errors.As(err, &fe) {
		return true
	}
	var errno syscall.Errno
	var pe *fs.PathError
	var se *os.SyscallError
	return errors.As(err, &errno) || errors.As(err, &pe) || errors.As(err, &se)
}

// open opens d through its driver, outside every lock: Open may take as long
// as the hardware does. Rings of old's properties are kept. missing is true
// when the driver's error says the hardware is missing (HardwareMissing).
func (m *Manager) open(key string, d Device, model *Model, plan propPlan, old *running) (r *running, missing bool, err error) {
	dev, err := m.drivers[d.Protocol].Open(bus.DeviceConfig{Name: key, Config: d.Config, Properties: plan.configs})
	if err != nil {
		return nil, HardwareMissing(err), err
	}
	points := dev.Points()
	if len(points) != len(plan.props) {
		dev.Close()
		return nil, false, fmt.Errorf("driver %s returned %d points for %d properties", d.Protocol, len(points), len(plan.props))
	}
	if w, ok := dev.(bus.Warner); ok {
		for _, msg := range w.Warnings() {
			m.log.Warn("device configData", "device", key, "warning", msg)
		}
	}
	seq := m.opened.Add(1)
	batcher, _ := dev.(bus.Batcher)
	r = &running{spec: d, model: model, dev: dev, byName: map[string]*prop{}}
	r.state.Store(StateUnknown)
	r.err.Store("")
	for i, p := range plan.props {
		p.point = points[i]
		p.device, p.index, p.batcher = seq, i, batcher
		// Keep history across a restart when the property is unchanged in kind.
		if old != nil {
			if op := old.byName[p.name]; op != nil && op.typ == p.typ {
				p.ring = op.ring
			}
		}
		if p.ring == nil {
			p.ring = ringbuf.New(m.history)
		}
		r.props = append(r.props, p)
		r.byName[p.name] = p
	}
	r.worker = m.workerFor(dev.Bus())
	return r, false, nil
}

// check validates what does not depend on the model.
func (m *Manager) check(d Device) error {
	if d.Name == "" {
		return &bus.FieldError{Field: "device.name", Err: bus.ErrMissing}
	}
	if d.Model == "" {
		return &bus.FieldError{Field: "device.spec.deviceModelRef", Err: bus.ErrMissing}
	}
	if _, ok := m.drivers[d.Protocol]; !ok {
		return &bus.FieldError{Field: "device.spec.protocol.protocolName",
			Err: fmt.Errorf("%q is not served here (protocols: %s)", d.Protocol, strings.Join(m.Protocols(), ", "))}
	}
	seen := map[string]bool{}
	for i, p := range d.Properties {
		field := fmt.Sprintf("device.spec.properties[%d]", i)
		if p.Name == "" {
			return &bus.FieldError{Field: field + ".name", Err: bus.ErrMissing}
		}
		if seen[p.Name] {
			return &bus.FieldError{Field: field + ".name", Err: fmt.Errorf("%q is listed twice", p.Name)}
		}
		seen[p.Name] = true
		if p.CollectCycle < 0 {
			return &bus.FieldError{Field: field + ".collectCycle", Err: errors.New("must not be negative")}
		}
		if p.ReportCycle < 0 {
			return &bus.FieldError{Field: field + ".reportCycle", Err: errors.New("must not be negative")}
		}
	}
	return nil
}

type propPlan struct {
	props   []*prop
	configs []bus.PropertyConfig
}

// planProps joins the device's properties with the model's.
func planProps(d Device, model *Model) (propPlan, error) {
	var plan propPlan
	for _, p := range d.Properties {
		field := "device.spec.properties[" + p.Name + "]"
		var mp *ModelProperty
		for i := range model.Properties {
			if model.Properties[i].Name == p.Name {
				mp = &model.Properties[i]
			}
		}
		if mp == nil {
			return plan, &bus.FieldError{Field: field + ".name", Err: fmt.Errorf("model %s has no property %q", model.Name, p.Name)}
		}
		if !Sampled(mp.Type) {
			continue // PutModel warned about it
		}
		lo, hi, _ := bounds(*mp)
		deadband, err := p.Visitor.Float(DeadbandKey, 0)
		if err == nil && deadband < 0 {
			err = p.Visitor.Errorf(DeadbandKey, "must not be negative")
		}
		if err != nil {
			return plan, err
		}
		q := &prop{
			name: p.Name, typ: mp.Type, unit: mp.Unit,
			writable:      mp.AccessMode == ReadWrite,
			min:           lo,
			max:           hi,
			reportToCloud: p.ReportToCloud,
			reportCycle:   p.ReportCycle,
			collectCycle:  p.CollectCycle,
			deadband:      deadband,
			push:          p.Push,
		}
		if q.collectCycle == 0 {
			q.collectCycle = DefaultCollectCycle
		}
		if q.reportCycle == 0 {
			q.reportCycle = DefaultReportCycle
		}
		q.desired.Store(p.Desired)
		if p.Desired != "" && q.writable {
			if _, err := q.parseDesired(p.Desired); err != nil {
				return plan, &bus.FieldError{Field: field + ".desired.value", Err: err}
			}
		}
		plan.props = append(plan.props, q)
		plan.configs = append(plan.configs, bus.PropertyConfig{
			Name: p.Name, Type: mp.Type, Writable: q.writable, Config: withoutKey(p.Visitor, DeadbandKey),
		})
	}
	return plan, nil
}

// Sampled reports whether properties of type t are sampled and reported: the
// numeric types, BOOLEAN and STRING (whose drivers decide what they can
// read). BYTES, STREAM and a missing type carry no number for a ring; such
// properties are kept in the spec and otherwise left alone.
func Sampled(t string) bool {
	switch t {
	case TypeBytes, TypeStream, "":
		return false
	}
	return true
}

// DeadbandKey is the visitor configData key the manager reads itself: a
// change of the property's value by at most this much does not make the
// device due for a report before its reportCycle. Drivers never see it.
const DeadbandKey = "deadband"

// withoutKey returns c without key, sharing nothing with c.
func withoutKey(c bus.Config, key string) bus.Config {
	if !c.Has(key) {
		return c
	}
	out := bus.Config{Path: c.Path, Values: make(map[string]bus.Value, len(c.Values))}
	for k, v := range c.Values {
		if k != key {
			out.Values[k] = v
		}
	}
	return out
}

// bounds parses a model property's minimum and maximum.
func bounds(p ModelProperty) (lo, hi float64, err error) {
	lo, hi = math.Inf(-1), math.Inf(1)
	if p.Minimum != "" {
		if lo, err = strconv.ParseFloat(strings.TrimSpace(p.Minimum), 64); err != nil {
			return lo, hi, fmt.Errorf("minimum %q is not a number", p.Minimum)
		}
	}
	if p.Maximum != "" {
		if hi, err = strconv.ParseFloat(strings.TrimSpace(p.Maximum), 64); err != nil {
			return lo, hi, fmt.Errorf("maximum %q is not a number", p.Maximum)
		}
	}
	if lo > hi {
		return lo, hi, fmt.Errorf("minimum %s is above maximum %s", p.Minimum, p.Maximum)
	}
	return lo, hi, nil
}

// parseDesired parses a desired value and checks it against the model bounds.
func (p *prop) parseDesired(s string) (float64, error) {
	v, err := ParseValue(p.typ, s)
	if err != nil {
		return 0, err
	}
	if v < p.min || v > p.max {
		return 0, fmt.Errorf("%s is outside the model's range [%g, %g]", s, p.min, p.max)
	}
	return v, nil
}

// sameModel reports whether a device opened with model a may keep running
// with model b: the same model, or one with the same content.
func sameModel(a, b *Model) bool {
	return a == b || (a != nil && b != nil && reflect.DeepEqual(*a, *b))
}

// sameButDesired reports whether a and b differ at most in desired values.
func sameButDesired(a, b Device) bool {
	if len(a.Properties) != len(b.Properties) {
		return false
	}
	a.Stamp = b.Stamp
	a.Properties = append([]Property(nil), a.Properties...)
	for i := range a.Properties {
		a.Properties[i].Desired = b.Properties[i].Desired
	}
	return reflect.DeepEqual(a, b)
}

func (m *Manager) workerFor(busName string) *worker {
	m.life.Lock()
	defer m.life.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.workers[busName]
	if w == nil {
		w = newWorker(busName, m.now)
		m.workers[busName] = w
		if m.live {
			m.startWorker(w)
		}
	}
	return w
}

// startDevice schedules the device's reads and writes its desired values.
func (m *Manager) startDevice(key string, r *running) {
	props := r.props
	m.onWorker(r.worker, func() {
		for _, p := range props {
			r.worker.add(p, p.collectCycle)
		}
	})
	for _, p := range r.props {
		if d := p.desired.Load().(string); d != "" {
			m.writeDesired(key, r, p, d)
		}
	}
	m.log.Info("device started", "device", key, "protocol", r.spec.Protocol, "bus", r.worker.bus, "properties", len(r.props))
	m.notify()
}

// closeDevice unschedules and closes a device on its bus worker and waits
// for it. Called in the device's turn, without m.mu: the worker may be in
// the middle of a slow read, and Close is bus I/O.
func (m *Manager) closeDevice(key string, r *running) {
	m.mu.Lock()
	dev, props, w := r.dev, r.props, r.worker
	r.dev = nil
	m.mu.Unlock()
	if dev == nil {
		return
	}
	var once sync.Once
	done := make(chan struct{})
	job := func() {
		once.Do(func() {
			for _, p := range props {
				w.remove(p)
			}
			if err := dev.Close(); err != nil {
				m.log.Warn("closing device", "device", key, "err", err)
			}
			close(done)
		})
	}
	m.onWorker(w, job)
	select {
	case <-done:
	case <-m.stopped:
		// The workers stopped before this job's turn: close it here.
		m.life.Lock()
		job()
		m.life.Unlock()
	}
}

// writeDesired writes a desired value on the bus worker and reads it back,
// without waiting. The outcome is kept as the property's write status and
// sent on the returned channel (nil: written); a nil channel means nothing
// is written, the property being ReadOnly.
func (m *Manager) writeDesired(key string, r *running, p *prop, s string) <-chan error {
	if !p.writable {
		m.log.Debug("desired value ignored: property is ReadOnly", "device", key, "property", p.name)
		return nil
	}
	done := make(chan error, 1)
	w := r.worker
	v, err := p.parseDesired(s)
	if err != nil {
		// planProps and SetDesired check the value first; this is a slip.
		done <- m.wrote(key, w, p, s, err)
		return done
	}
	wr, ok := p.point.(bus.Writer)
	if !ok {
		done <- m.wrote(key, w, p, s, bus.ErrReadOnly)
		return done
	}
	m.onWorker(w, func() {
		err := m.wrote(key, w, p, s, wr.Write(v))
		if err == nil {
			w.readNow(p)
		}
		done <- err
	})
	return done
}

// wrote keeps the outcome of a write of s to p, counts it on w and logs it:
// a failure at warn when its error differs from the one kept, else at
// debug. It returns the *WriteError, or nil when err is nil.
func (m *Manager) wrote(key string, w *worker, p *prop, s string, err error) error {
	w.writes.Add(1)
	if err == nil {
		p.write.Store(nil)
		m.log.Info("desired value written", "device", key, "property", p.name, "value", s)
		return nil
	}
	w.writeFailures.Add(1)
	we := &WriteError{Property: p.name, Value: s, Err: err}
	prev := p.write.Swap(&writeStatus{err: we, at: m.now()})
	if prev != nil && prev.err.Err.Error() == err.Error() {
		m.log.Debug("writing desired value failed again", "device", key, "property", p.name, "value", s, "err", err)
	} else {
		m.log.Warn("writing desired value failed", "device", key, "property", p.name, "value", s, "err", err)
	}
	return we
}

// RemoveDevice stops and forgets a device. Removing an unknown device is not an error.
func (m *Manager) RemoveDevice(namespace, name string) error {
	return m.RemoveDeviceAsOf(namespace, name, 0)
}

// RemoveDeviceAsOf is RemoveDevice for a removal learnt at stamp (see
// Stamp; 0 is now): a device whose spec is stamped later is kept, and the
// error wraps ErrStale.
func (m *Manager) RemoveDeviceAsOf(namespace, name string, stamp uint64) error {
	if namespace == "" {
		namespace = "default"
	}
	key := Key(namespace, name)
	removed, err := m.removeDevice(key, stamp)
	if removed {
		m.log.Info("device removed", "device", key)
		m.notify()
	}
	return err
}

// removeDevice closes and forgets a device in its turn, and reports whether
// there was one. The removal's stamp (0: its place in line) is kept (see
// putDevice).
func (m *Manager) removeDevice(key string, stamp uint64) (bool, error) {
	turn, unlock := m.turnKey(key)
	defer unlock()
	if stamp == 0 {
		stamp = turn
	}
	m.mu.RLock()
	r := m.devices[key]
	m.mu.RUnlock()
	if r != nil && stamp < r.spec.Stamp {
		return false, fmt.Errorf("device %s: removal %d: %w (%d)", key, stamp, ErrStale, r.spec.Stamp)
	}
	if r != nil {
		m.closeDevice(key, r)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if stamp > m.removed[key] {
		m.keepRemoved(key, stamp)
	}
	if r == nil {
		return false, nil
	}
	delete(m.devices, key)
	m.gen.Add(1)
	return true, nil
}

// keepRemoved keeps the stamp of a device's removal, dropping the older
// half of those kept when there are too many. Called with m.mu held.
func (m *Manager) keepRemoved(key string, stamp uint64) {
	if len(m.removed) >= maxRemoved {
		stamps := make([]uint64, 0, len(m.removed))
		for _, s := range m.removed {
			stamps = append(stamps, s)
		}
		slices.Sort(stamps)
		median := stamps[len(stamps)/2]
		for k, s := range m.removed {
			if s < median {
				delete(m.removed, k)
			}
		}
	}
	m.removed[key] = stamp
}

// WriteWait is how long SetDesired waits for a write to be done.
const WriteWait = 5 * time.Second

// SetDesired is SetDesiredContext waiting at most WriteWait.
func (m *Manager) SetDesired(namespace, name, property, value string) error {
	ctx, cancel := context.WithTimeout(context.Background(), WriteWait)
	defer cancel()
	return m.SetDesiredContext(ctx, namespace, name, property, value)
}

// SetDesiredContext sets one property's desired value, as an UpdateDevice
// changing only that value would, writes it even when it is the value
// already desired (so that calling again retries a failed write), and waits
// until the device took it and it was read back, or ctx ends.
//
// It returns nil once the value is written; a *WriteError when the device
// refused it (kept as the property's write status until a write succeeds);
// an error wrapping ErrNotRunning when the device is not running (the value
// is kept and written when it starts); an error wrapping ctx.Err() when ctx
// ended first (the write still happens); a *bus.FieldError when the
// property is ReadOnly or the value is outside the model's range; and
// ErrNotFound for an unknown device or property.
func (m *Manager) SetDesiredContext(ctx context.Context, namespace, name, property, value string) error {
	if namespace == "" {
		namespace = "default"
	}
	key := Key(namespace, name)
	stamp, unlock := m.turnKey(key)
	done, err := m.setDesired(key, property, value, stamp)
	unlock() // the write is queued on the worker: later changes may go on
	if err != nil || done == nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("write %s=%s: not done yet: %w", property, value, ctx.Err())
	case <-m.stopped:
		return fmt.Errorf("write %s=%s: the manager stopped", property, value)
	}
}

// setDesired is SetDesiredContext in the device's turn, up to the write.
func (m *Manager) setDesired(key, property, value string, stamp uint64) (<-chan error, error) {
	m.mu.RLock()
	r := m.devices[key]
	m.mu.RUnlock()
	if r == nil {
		return nil, ErrNotFound
	}
	i := slices.IndexFunc(r.spec.Properties, func(p Property) bool { return p.Name == property })
	p := r.byName[property]
	if i < 0 || (r.dev != nil && p == nil) {
		return nil, ErrNotFound
	}
	if p != nil && !p.writable {
		return nil, &bus.FieldError{Field: "property " + property, Err: errors.New("is ReadOnly in its model")}
	}
	spec := r.spec
	spec.Properties = slices.Clone(spec.Properties)
	spec.Properties[i].Desired = value
	spec.Stamp = stamp
	if r.dev == nil {
		if r.model != nil {
			if _, err := planProps(spec, r.model); err != nil {
				return nil, err
			}
		}
		m.mu.Lock()
		r.spec = spec
		m.mu.Unlock()
		return nil, fmt.Errorf("%w (%s): %s=%s is kept and written when it starts", ErrNotRunning, r.err.Load(), property, value)
	}
	if _, err := p.parseDesired(value); err != nil {
		return nil, &bus.FieldError{Field: "device.spec.properties[" + property + "].desired.value", Err: err}
	}
	m.mu.Lock()
	r.spec = spec
	m.mu.Unlock()
	p.desired.Store(value)
	return m.writeDesired(key, r, p, value), nil
}

// ErrRunTwice is returned by a second call of Manager.Run.
var ErrRunTwice = errors.New("device: the manager runs once")

// ErrNotFound is returned for unknown devices and properties.
var ErrNotFound = errors.New("not found")

// ErrNotRunning is wrapped by SetDesired's error when the device is not
// running, waiting for its model or its hardware.
var ErrNotRunning = errors.New("device is not running")

func (m *Manager) notify() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}
