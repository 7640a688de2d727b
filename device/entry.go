package device

import (
	"cmp"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// entry is one device as the manager runs it. An entry is immutable once it
// is in Manager.devices: a change builds a new entry (see Manager.set). Its
// status and its props are shared with the entries that replace it while
// the device stays open (a new desired value, a retry rescheduled).
type entry struct {
	key    string
	spec   Device
	model  *Model     // nil while the model is missing
	dev    bus.Device // nil while not running
	run    uint64     // the opening of dev (see Manager.opened); 0 while not running
	worker *worker    // dev's bus worker; nil while not running
	props  []*prop
	byName map[string]*prop
	// While the hardware is missing: when to try to open it again, and the
	// wait after that.
	retryAt time.Time
	backoff time.Duration
	st      *status
}

// status is what changes of a device without a new entry.
type status struct {
	state atomic.Pointer[string]
	err   atomic.Pointer[string] // why the device is not running; "" when it is
}

func newStatus(state, err string) *status {
	st := &status{}
	st.state.Store(&state)
	st.err.Store(&err)
	return st
}

func (st *status) State() string { return *st.state.Load() }
func (st *status) Err() string   { return *st.err.Load() }

func (st *status) setState(s string) { st.state.Store(&s) }

// setErr stores s and returns the error it replaced.
func (st *status) setErr(s string) string { return *st.err.Swap(&s) }

// waitingForHardware reports whether e waits for its hardware.
func (e *entry) waitingForHardware() bool {
	return e.dev == nil && e.model != nil && !e.retryAt.IsZero()
}

// prop is one property of an opened device. Its fields are set before the
// device is shared and never change after, but for the atomics (and task,
// which the bus worker owns).
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
	reportToCloud bool
	reportCycle   time.Duration
	collectCycle  time.Duration
	deadband      float64     // changes up to this size are not reported early
	push          *PushMethod // immutable
	task          *task       // owned by the worker goroutine

	desired atomic.Pointer[string]
	// desiredAt is when the bus worker began writing a changed desired value
	// (the Manager's clock, Unix ns): a sample older than that was read
	// before the write and does not acknowledge the value (see
	// acknowledges). writePending while the write waits for the worker; 0
	// when nothing is waited for.
	desiredAt atomic.Int64
	lastErr   atomic.Pointer[string]      // the latest read's error
	write     atomic.Pointer[writeStatus] // the latest write, when it failed
}

// writePending is prop.desiredAt while a changed desired value waits for
// its write: no sample acknowledges it yet.
const writePending = math.MaxInt64

func (p *prop) Desired() string { return *p.desired.Load() }

func (p *prop) setDesired(s string) { p.desired.Store(&s) }

// acknowledges reports whether s, p's latest good sample, may go with p's
// desired value as the twin's observedDesired: s was read after the value's
// write began, or the value has no write to wait for. Load the desired value
// before calling: changeDesired stores desiredAt before the value, so a
// desired value seen is never newer than the desiredAt seen after it.
func (p *prop) acknowledges(s *ringbuf.Sample) bool {
	return s.Time >= p.desiredAt.Load()
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

// set puts e in place of the device key's entry (e nil: removes it) and
// publishes the new list of entries; spec says whether the device was
// added, removed or given a new spec or model (see Generation). Called with
// m.mu held.
func (m *Manager) set(key string, e *entry, spec bool) {
	old := *m.snap.Load()
	cur := m.devices[key]
	var next []*entry
	switch {
	case e == nil && cur == nil:
		return
	case e == nil:
		delete(m.devices, key)
		i, _ := slices.BinarySearchFunc(old, cur, byName)
		next = slices.Delete(slices.Clone(old), i, i+1)
	case cur == nil:
		m.devices[key] = e
		i, _ := slices.BinarySearchFunc(old, e, byName)
		next = slices.Insert(slices.Clone(old), i, e)
	default:
		m.devices[key] = e
		i, _ := slices.BinarySearchFunc(old, e, byName)
		next = slices.Clone(old)
		next[i] = e
	}
	m.snap.Store(&next)
	if spec {
		m.gen.Add(1)
	}
}

// byName orders entries by namespace, then name.
func byName(a, b *entry) int {
	if c := cmp.Compare(a.spec.Namespace, b.spec.Namespace); c != 0 {
		return c
	}
	return cmp.Compare(a.spec.Name, b.spec.Name)
}

// entries returns every device, sorted by namespace and name. The slice and
// the entries are shared: never change them.
func (m *Manager) entries() []*entry { return *m.snap.Load() }

// lookup returns the current entry of a device, or nil.
func (m *Manager) lookup(namespace, name string) *entry {
	if namespace == "" {
		namespace = "default"
	}
	list := m.entries()
	i, found := slices.BinarySearchFunc(list, &entry{spec: Device{Namespace: namespace, Name: name}}, byName)
	if !found {
		return nil
	}
	return list[i]
}
