package device

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinymapper/tinymapper/bus"
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
	// Now replaces time.Now: sample times, write times, retry times and
	// the reporter's clock all read it.
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

// Manager keeps models and devices and runs them. See the package comment
// for who owns what.
//
// Calls that change a device (PutDevice, RemoveDevice, SetDesired, and the
// restarts PutModel and RemoveModel cause) are applied one at a time per
// device, in the order they were made; calls for different devices run side
// by side. Opening a device (Driver.Open), closing it and waiting for its bus
// worker happen outside the lock, so readers never wait for bus I/O. One
// goroutine retries the devices waiting for their hardware, however many
// there are.
type Manager struct {
	drivers map[string]bus.Driver
	log     *slog.Logger
	history int
	now     func() time.Time

	retryMin, retryMax time.Duration
	retryWake          chan struct{} // a device started waiting for its hardware

	ran     atomic.Bool    // Run was called
	workers sync.WaitGroup // bus worker goroutines
	stopped chan struct{}  // closed when Run has closed every device

	// queues holds, by device key, the line of calls changing that device
	// (see turnKey).
	queueMu sync.Mutex
	queues  map[string]*keyQueue

	// mu guards the maps and closing. It is held to look up and swap
	// entries, never across bus I/O.
	mu      sync.Mutex
	models  map[string]*Model
	devices map[string]*entry
	buses   map[string]*worker // by bus name
	// removed keeps, by device key, the stamp of its removal, so that a
	// spec received before it cannot bring the device back (see putDevice).
	removed map[string]uint64
	closing bool // Run is closing every device: none opens any more

	snap    atomic.Pointer[[]*entry] // every entry, sorted; replaced, never changed
	stamps  atomic.Uint64            // the latest stamp handed out (see Stamp)
	opened  atomic.Uint64            // devices opened so far
	gen     atomic.Uint64            // counts changes of devices (see Generation)
	changed chan struct{}            // wakes the reporter
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
		devices:   map[string]*entry{},
		buses:     map[string]*worker{},
		removed:   map[string]uint64{},
		queues:    map[string]*keyQueue{},
		changed:   make(chan struct{}, 1),
		stopped:   make(chan struct{}),
	}
	m.snap.Store(new([]*entry))
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

// Run watches device states and retries devices waiting for their hardware
// until ctx ends; then it closes every device, waits for the bus workers to
// stop, and returns. Devices are sampled from the moment they are put,
// before Run too; after Run returns, the manager takes no more devices
// (ErrStopped). A manager runs once: a second Run returns ErrRunTwice.
func (m *Manager) Run(ctx context.Context) error {
	if m.ran.Swap(true) {
		return ErrRunTwice
	}
	retried := make(chan struct{})
	go func() {
		defer close(retried)
		m.retryOpens(ctx)
	}()
	m.watchStates(ctx)
	<-retried
	m.mu.Lock()
	m.closing = true
	keys := make([]string, 0, len(m.devices))
	for key := range m.devices {
		keys = append(keys, key)
	}
	m.mu.Unlock()
	sort.Strings(keys)
	for _, key := range keys {
		m.removeDevice(key, 0)
	}
	m.workers.Wait()
	close(m.stopped)
	return nil
}

// takeWorker returns the worker of busName for one more device, starting
// it if the bus has none. Called with m.mu held.
func (m *Manager) takeWorker(busName string) *worker {
	w := m.buses[busName]
	if w == nil {
		w = newWorker(busName, m.now)
		m.buses[busName] = w
		m.workers.Add(1)
		go func() {
			defer m.workers.Done()
			w.run()
		}()
	}
	w.users++
	return w
}

// releaseWorker gives back w for a device that closed, and stops w if that
// was its last device.
func (m *Manager) releaseWorker(w *worker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w.users--; w.users == 0 {
		delete(m.buses, w.bus)
		close(w.quit)
	}
}

// ErrRunTwice is returned by a second call of Manager.Run.
var ErrRunTwice = errors.New("device: the manager runs once")

// ErrStopped is returned for changes made after Run has ended.
var ErrStopped = errors.New("device: the manager has stopped")

func (m *Manager) notify() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}
