package gpio

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/hal"
)

// A line is one physical pin as this package uses it, shared by every
// property on it (in this device and others): the configuration the latest
// Open asked for, the level last driven, and the edge counter.
//
// The device manager opens a changed device before it closes the old one, so
// a pin is often held twice for a moment; the line is what survives, so an
// update neither glitches an output nor resets a counter.
type line struct {
	pin  gpio.PinIO
	name string

	// Guarded by lines.mu.
	refs     int
	counters int // counter properties on the line
	// counting is the counter properties on the line by device: a second
	// device may count the line only on the same edges.
	counting map[string]int
	cfg      lineConfig
	stop     chan struct{} // closes to stop the counting goroutine; nil when none runs
	done     chan struct{} // closed by the counting goroutine when it returns

	driven  atomic.Int32  // physical level last driven: -1 none, 0 low, 1 high
	edges   atomic.Uint64 // edges counted since the line started counting
	base    atomic.Uint64 // edges at which the count read 0
	failing atomic.Bool   // waiting for edges fails at once

	// events is the line's edge events while it counts, when hal can read
	// them from the line's event descriptor (nil: the counter waits in
	// WaitForEdge). Set with lines.mu held; swapping is true while a
	// reconfiguration replaces it.
	events   atomic.Pointer[hal.Edges]
	swapping atomic.Bool
}

// lineConfig is how a line is requested.
type lineConfig struct {
	mode mode
	pull gpio.Pull
	edge gpio.Edge // physical; counters only
}

var lines = struct {
	mu sync.Mutex
	m  map[string]*line
}{m: map[string]*line{}}

// realPin returns the pin behind a gpioreg alias.
func realPin(p gpio.PinIO) gpio.PinIO {
	for {
		r, ok := p.(gpio.RealPin)
		if !ok {
			return p
		}
		p = r.Real()
	}
}

// use is one device's claim on a line: how it wants the line configured.
type use struct {
	pin      gpio.PinIO // the real pin
	key      string     // its name, or the name it was found by for an unnamed line
	cfg      lineConfig
	counters int
	initial  int        // output: physical level to drive, -1 to keep a level already driven
	inactive int        // output: physical level of logical 0, driven when there is none to keep
	line     *line      // set by acquire
	conf     bus.Config // of the first property on the pin, for errors
	owner    string     // the device ("namespace/name")
}

// acquire claims the lines of uses, configures them and starts counters. On
// error, a *bus.FieldError naming the pin, it releases what it claimed.
func acquire(uses []*use) error {
	lines.mu.Lock()
	defer lines.mu.Unlock()
	for i, u := range uses {
		l := lines.m[u.key]
		if l == nil {
			l = &line{pin: u.pin, name: u.key}
			l.driven.Store(-1)
			lines.m[u.key] = l
		}
		u.line = l
		if err := l.configure(u); err != nil {
			err = u.conf.Errorf("pin", "%w", err)
			if l.refs == 0 {
				delete(lines.m, u.key)
			}
			for _, v := range uses[:i] {
				if stop := v.line.releaseLocked(v); stop != nil {
					go stop()
				}
			}
			return err
		}
	}
	return nil
}

// configure applies u to the line. Called with lines.mu held.
func (l *line) configure(u *use) error {
	switch u.cfg.mode {
	case modeOutput:
		level := u.initial
		if level < 0 {
			level = int(l.driven.Load())
			if l.cfg.mode != modeOutput || l.refs == 0 || level < 0 {
				level = u.inactive
			}
		}
		if l.cfg.mode != modeOutput || l.refs == 0 || int(l.driven.Load()) != level {
			if err := l.pin.Out(level == 1); err != nil {
				return fmt.Errorf("drive %s: %w", l.name, hal.PinError(err))
			}
			l.driven.Store(int32(level))
		}
	default:
		cfg := u.cfg
		if u.counters > 0 && l.counters > 0 && cfg.edge != l.cfg.edge {
			// Counting other edges would change the other device's
			// count (20 Hz for 10): refuse, unless the counts are this
			// device's own (its old version, closed once this opens).
			for owner, n := range l.counting {
				if owner != u.owner && n > 0 {
					return fmt.Errorf("%s is counted by device %s on %s; a second device may count it only on the same edges, not on %s",
						l.name, owner, edgeWords(l.cfg.edge), edgeWords(cfg.edge))
				}
			}
		}
		if cfg.mode == modeInput && l.counters > 0 {
			// Another device counts on this line: keep its edges.
			cfg.mode, cfg.edge = modeCounter, l.cfg.edge
		}
		if l.cfg != cfg || l.refs == 0 {
			if err := l.request(cfg); err != nil {
				return err
			}
			l.driven.Store(-1)
		}
		u.cfg = cfg
	}
	l.cfg = u.cfg
	l.refs++
	l.counters += u.counters
	if u.counters > 0 {
		if l.counting == nil {
			l.counting = map[string]int{}
		}
		l.counting[u.owner] += u.counters
	}
	if l.counters > 0 && l.stop == nil {
		l.stop, l.done = make(chan struct{}), make(chan struct{})
		l.failing.Store(false)
		go l.count(l.stop, l.done)
	}
	return nil
}

// request requests the line as an input as cfg says. A counter's line is
// requested through hal.OpenEdges when hal can read its events (a GPIO
// character-device line, a sim pin), so that counting does not allocate;
// otherwise, and for inputs, with the pin's In. Called with lines.mu held.
func (l *line) request(cfg lineConfig) error {
	old := l.events.Load()
	if old != nil { // the kernel grants a line to one request: end ours first
		l.swapping.Store(true)
		defer l.swapping.Store(false)
		l.events.Store(nil)
		old.Close()
	}
	if cfg.mode == modeCounter {
		ev, err := hal.OpenEdges(l.pin, cfg.pull, cfg.edge)
		if err == nil {
			l.events.Store(ev)
			return nil
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			return fmt.Errorf("request %s for edge events: %w", l.name, err)
		}
	}
	edge := gpio.NoEdge
	if cfg.mode == modeCounter {
		edge = cfg.edge
	}
	if err := l.pin.In(cfg.pull, edge); err != nil {
		return fmt.Errorf("request %s as an input: %w", l.name, hal.PinError(err))
	}
	return nil
}

// level reads an input line: from its edge events' request while it counts
// through them, else with the pin's Read.
func (l *line) level() (bool, error) {
	if ev := l.events.Load(); ev != nil {
		lv, err := ev.Level()
		return lv == gpio.High, err
	}
	return l.pin.Read() == gpio.High, nil
}

// release gives back a claim made by acquire.
func release(uses []*use) error {
	var stops []func() error
	lines.mu.Lock()
	for _, u := range uses {
		if s := u.line.releaseLocked(u); s != nil {
			stops = append(stops, s)
		}
	}
	lines.mu.Unlock()
	var err error
	for _, s := range stops {
		if e := s(); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// releaseLocked drops one claim and returns a function that stops the
// counting goroutine when no counter is left (to be run without the lock).
func (l *line) releaseLocked(u *use) func() error {
	l.refs--
	l.counters -= u.counters
	if u.counters > 0 {
		if l.counting[u.owner] -= u.counters; l.counting[u.owner] <= 0 {
			delete(l.counting, u.owner)
		}
	}
	var stop func() error
	if l.counters == 0 && l.stop != nil {
		d := l.done
		close(l.stop)
		l.stop, l.done = nil, nil
		stop = func() error { return l.awaitStop(d) }
		if ev := l.events.Swap(nil); ev != nil {
			ev.Close() // wakes the counting goroutine too
		}
		if l.cfg.mode == modeCounter {
			// Stop the kernel queueing edges for nobody (and, after
			// the events' request, request the line for the inputs
			// still on it).
			l.cfg.mode, l.cfg.edge = modeInput, gpio.NoEdge
			l.pin.In(l.cfg.pull, gpio.NoEdge)
		}
	}
	if l.refs == 0 {
		delete(lines.m, l.name)
	}
	return stop
}

// waitTimeout bounds each WaitForEdge of the counting goroutine.
//
// Why neither -1 nor 0: periph's gpioioctl driver (lines of /dev/gpiochipN)
// turns the timeout into a read deadline, so -1 is a deadline in the past
// (false at once) and 0 means forever; periph's sysfs driver takes -1 as
// forever and 0 as a poll (false at once). A positive timeout means the same
// on both, and wakes the goroutine now and then to see whether to stop
// (gpioioctl's Halt only interrupts a wait already in progress).
const waitTimeout = time.Second

// count counts edges until stop closes. It is the one goroutine per counting
// pin: edges are events, delivered by the kernel as they happen, not levels a
// poll could see, so something must be waiting for them all the time; one
// goroutine per pin (not per property, not per read) keeps Read a load of an
// atomic that never blocks.
//
// It reads the line's edge events itself when hal could open them (every
// queued event in one read, without allocating); otherwise it waits in the
// pin's WaitForEdge, which on periph's gpioioctl allocates an event per edge.
func (l *line) count(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	backoff := time.Millisecond
	for {
		start := time.Now()
		n, ok, replaced := 0, false, false
		if ev := l.events.Load(); ev != nil {
			var err error
			n, err = ev.Wait(waitTimeout)
			ok = err == nil
			replaced = !ok && (l.swapping.Load() || l.events.Load() != ev)
		} else if ok = l.pin.WaitForEdge(waitTimeout); ok {
			n = 1
		}
		select {
		case <-stop:
			return
		default:
		}
		if replaced { // a reconfiguration closed the request for a new one
			time.Sleep(time.Millisecond)
			continue
		}
		if ok {
			l.edges.Add(uint64(n))
			l.failing.Store(false)
			backoff = time.Millisecond
			continue
		}
		if time.Since(start) >= waitTimeout/2 {
			l.failing.Store(false)
			continue // a quiet second
		}
		// False at once: the line is not detecting edges (reconfigured by
		// something else, or the driver cannot). Do not spin.
		l.failing.Store(true)
		t := time.NewTimer(backoff)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		if backoff < time.Second {
			backoff *= 2
		}
	}
}

// awaitStop waits for the counting goroutine whose stop channel was closed
// to return, interrupting its wait with Halt.
func (l *line) awaitStop(done <-chan struct{}) error {
	deadline := time.Now().Add(2 * waitTimeout)
	for {
		l.pin.Halt()
		select {
		case <-done:
			return nil
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gpio %s: the edge counter did not stop", l.name)
		}
	}
}

// edgeWords names an edge setting as configData spells it.
func edgeWords(e gpio.Edge) string {
	switch e {
	case gpio.RisingEdge:
		return "rising edges"
	case gpio.FallingEdge:
		return "falling edges"
	case gpio.BothEdges:
		return "both edges"
	}
	return "no edges"
}
