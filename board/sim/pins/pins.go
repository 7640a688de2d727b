// Package pins simulates GPIO lines as periph gpio.PinIOs, the way periph's
// Linux character-device driver (host/v3/gpioioctl) behaves, traps included,
// so that code tested against them is ready for the real driver.
//
// Pins sit on a Wire. A plain wire carries the level its output pins drive
// (the latest driver wins when several do); with no output on it, it reads
// high if an input has a pull-up, low if one has a pull-down, and low when it
// floats. Every change of the level is an edge for the input pins on the
// wire that asked for it with In(pull, edge). A pulse wire is driven by a
// square wave instead: see NewPulse.
//
// Like a gpioioctl line, a Pin
//
//   - goes back to being an input (with pull-up) when Read is called while it
//     is an output: the line is requested again, and the level it drove is
//     gone (InputRequests counts requests, so tests can tell);
//   - treats WaitForEdge(0) as "wait forever" and returns false at once for a
//     negative timeout, -1 included (NegativeWaits counts such calls);
//   - returns false from WaitForEdge at once unless In asked for edges;
//   - queues up to EventQueue edges that happen while nobody waits, dropping
//     the oldest beyond that (Overflows counts them), as the kernel's event
//     buffer does;
//   - interrupts a WaitForEdge in progress on Halt, and only one in
//     progress: a Halt that comes before the wait is lost;
//   - allocates in every WaitForEdge (gpioioctl's does binary.Read into a
//     new event; the sim a timer).
//
// Like the kernel's GPIO character device, and unlike periph's driver, a Pin
// also hands out the descriptor its edges arrive on: RequestEdges requests
// it as an input with edge detection and returns a file that delivers one
// 48-byte struct gpio_v2_line_event per edge, which is what hal.OpenEdges
// reads from a kernel line request. A goroutine of the pin writes them (so
// the file is a pipe, which holds more than the kernel's 16 events; an event
// that does not fit within a second is dropped and counted in Overflows).
// The request ends when the file is closed, or when the pin is requested
// again (In, Out, RequestEdges): the file then reads EOF.
//
// Pins are safe for concurrent use.
package pins

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/pin"
)

// EventQueue is how many edges a pin keeps for WaitForEdge: the kernel's
// default event buffer for a one-line request.
const EventQueue = 16

// Dir is a pin's direction.
type Dir uint8

// Directions. A pin starts NotSet, as a line nobody requested.
const (
	NotSet Dir = iota
	Input
	Output
)

func (d Dir) String() string {
	switch d {
	case Input:
		return "input"
	case Output:
		return "output"
	}
	return "not set"
}

// A Wire connects pins.
type Wire struct {
	mu    sync.Mutex
	pins  []*Pin
	level gpio.Level
	// driver is the output that drove the wire last; nil when no pin does.
	driver *Pin
	// half is half the period of a pulse wire; 0 on a plain wire.
	half int64
	now  func() time.Time
}

// NewWire returns a plain wire with nothing on it.
func NewWire() *Wire { return &Wire{} }

// NewPulse returns a wire driven by a square wave of the given period: high
// for the first half of each period, low for the second, with periods counted
// from the Unix epoch. It rises at every whole multiple of the period (10 Hz:
// at .0, .1, .2 s) and falls half a period later. Its pins are inputs only.
func NewPulse(period time.Duration) *Wire {
	if period < 2 {
		period = 2
	}
	return &Wire{half: int64(period / 2), now: time.Now}
}

// NewPin puts a new pin called name with the given number on the wire.
func (w *Wire) NewPin(name string, number int) *Pin {
	p := &Pin{name: name, number: number, wire: w, halt: make(chan struct{}), notify: make(chan struct{}, 1)}
	w.mu.Lock()
	w.pins = append(w.pins, p)
	w.mu.Unlock()
	return p
}

// pulseIndex returns the index of the latest edge of a pulse wire at or
// before t: edge h is at h·half nanoseconds; even edges rise, odd ones fall.
func (w *Wire) pulseIndex(t time.Time) int64 { return floorDiv(t.UnixNano(), w.half) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// settle recomputes a plain wire's level after a change and queues edges.
// Called with w.mu held.
func (w *Wire) settle() {
	if w.driver == nil || w.driver.dir != Output {
		w.driver = nil
		for _, p := range w.pins {
			if p.dir == Output {
				w.driver = p
			}
		}
	}
	var level gpio.Level
	switch {
	case w.driver != nil:
		level = w.driver.out
	default:
		for _, p := range w.pins {
			if p.dir == Input && p.pull == gpio.PullUp {
				level = gpio.High
			}
		}
	}
	if level == w.level {
		return
	}
	w.level = level
	for _, p := range w.pins {
		if p.dir != Input || !wants(p.edge, level) {
			continue
		}
		if p.pending == EventQueue {
			p.overflows.Add(1)
		} else {
			p.pending++
		}
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}
}

// wants reports whether edge detection e sees a change to level.
func wants(e gpio.Edge, level gpio.Level) bool {
	switch e {
	case gpio.RisingEdge:
		return level == gpio.High
	case gpio.FallingEdge:
		return level == gpio.Low
	case gpio.BothEdges:
		return true
	}
	return false
}

// Pin is a simulated GPIO line. It implements gpio.PinIO.
type Pin struct {
	name   string
	number int
	wire   *Wire

	// Guarded by wire.mu.
	dir     Dir
	pull    gpio.Pull
	edge    gpio.Edge
	out     gpio.Level
	pending int   // queued edges (plain wire)
	last    int64 // pulse wire: index of the last edge delivered or dropped
	halt    chan struct{}
	feed    chan struct{} // closes to stop the RequestEdges goroutine; nil when none

	notify        chan struct{} // a queued edge, cap 1
	inputRequests atomic.Int64
	negativeWaits atomic.Int64
	overflows     atomic.Int64
}

var errPulseOut = errors.New("is driven by the simulated pulse generator; it can only be an input")

// String returns the pin's name and number, as periph's pins do.
func (p *Pin) String() string { return p.name + "(" + strconv.Itoa(p.number) + ")" }

// Name returns the pin's name, such as "GPIO17".
func (p *Pin) Name() string { return p.name }

// Number returns the pin's number, such as 17.
func (p *Pin) Number() int { return p.number }

// Function returns Func as a string.
func (p *Pin) Function() string { return string(p.Func()) }

// Func returns IN or OUT_HIGH/OUT_LOW, or FuncNone before the pin is
// requested. Unlike gpioioctl's, it does not read (and so reconfigure) the
// line.
func (p *Pin) Func() pin.Func {
	w := p.wire
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case p.dir == Input:
		return gpio.IN
	case p.dir == Output && p.out == gpio.High:
		return gpio.OUT_HIGH
	case p.dir == Output:
		return gpio.OUT_LOW
	}
	return pin.FuncNone
}

// SupportedFuncs returns IN and OUT.
func (p *Pin) SupportedFuncs() []pin.Func { return []pin.Func{gpio.IN, gpio.OUT} }

// SetFunc sets IN (no pull change, no edges), OUT_HIGH or OUT/OUT_LOW.
func (p *Pin) SetFunc(f pin.Func) error {
	switch f {
	case gpio.IN:
		return p.In(gpio.PullNoChange, gpio.NoEdge)
	case gpio.OUT_HIGH:
		return p.Out(gpio.High)
	case gpio.OUT, gpio.OUT_LOW:
		return p.Out(gpio.Low)
	}
	return fmt.Errorf("%s: function %q is not supported", p.name, f)
}

// Halt interrupts a WaitForEdge in progress, which returns false.
func (p *Pin) Halt() error {
	w := p.wire
	w.mu.Lock()
	close(p.halt)
	p.halt = make(chan struct{})
	w.mu.Unlock()
	return nil
}

// In requests the line as an input with the given pull (PullNoChange keeps
// the current one) and edge detection. Edges queued before are dropped.
func (p *Pin) In(pull gpio.Pull, edge gpio.Edge) error {
	if pull > gpio.PullUp {
		return fmt.Errorf("%s: invalid pull %s", p.name, pull)
	}
	if edge < gpio.NoEdge || edge > gpio.BothEdges {
		return fmt.Errorf("%s: invalid edge %s", p.name, edge)
	}
	p.inputRequests.Add(1)
	w := p.wire
	w.mu.Lock()
	defer w.mu.Unlock()
	p.in(pull, edge)
	return nil
}

// in is In with w.mu held.
func (p *Pin) in(pull gpio.Pull, edge gpio.Edge) {
	w := p.wire
	p.endFeed()
	p.dir, p.edge, p.pending = Input, edge, 0
	if pull != gpio.PullNoChange {
		p.pull = pull
	}
	select {
	case <-p.notify:
	default:
	}
	if w.half != 0 {
		p.last = w.pulseIndex(w.now())
		return
	}
	w.settle()
}

// Read returns the level on the wire. On a pin that is not an input it first
// requests the line as an input with pull-up, as gpioioctl does: an output
// stops driving.
func (p *Pin) Read() gpio.Level {
	w := p.wire
	w.mu.Lock()
	defer w.mu.Unlock()
	if p.dir != Input {
		p.inputRequests.Add(1)
		p.in(gpio.PullUp, gpio.NoEdge)
	}
	if w.half != 0 {
		return w.pulseIndex(w.now())%2 == 0
	}
	return w.level
}

// WaitForEdge waits for an edge In asked for and returns true, or false
// when timeout passes (0: never), on Halt, at once for a negative timeout, and
// at once when the pin does not detect edges.
func (p *Pin) WaitForEdge(timeout time.Duration) bool {
	if timeout < 0 {
		// gpioioctl sets the read deadline to now+timeout, in the past.
		p.negativeWaits.Add(1)
		return false
	}
	var expire <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expire = t.C
	}
	w := p.wire
	for {
		w.mu.Lock()
		if p.dir != Input || p.edge == gpio.NoEdge {
			w.mu.Unlock()
			return false
		}
		halt := p.halt
		var next *time.Timer
		if w.half != 0 {
			ok, wait := p.nextPulse()
			if ok {
				w.mu.Unlock()
				return true
			}
			next = time.NewTimer(wait)
		} else if p.pending > 0 {
			p.pending--
			w.mu.Unlock()
			return true
		}
		w.mu.Unlock()
		if !p.wait(next, expire, halt) {
			return false
		}
	}
}

// wait blocks until next fires (a pulse edge is due), an edge is queued,
// expire fires or halt is closed; it returns false for the last two.
func (p *Pin) wait(next *time.Timer, expire <-chan time.Time, halt <-chan struct{}) bool {
	var due <-chan time.Time
	if next != nil {
		defer next.Stop()
		due = next.C
	}
	select {
	case <-due:
	case <-p.notify:
	case <-expire:
		return false
	case <-halt:
		return false
	}
	return true
}

// nextPulse takes the next edge of a pulse wire that has happened, or says how
// long until it does. Called with w.mu held.
func (p *Pin) nextPulse() (bool, time.Duration) {
	w := p.wire
	now := w.now()
	cur := w.pulseIndex(now)
	step := int64(2)
	if p.edge == gpio.BothEdges {
		step = 1
	}
	next := p.nextMatch(p.last)
	if next <= cur {
		if queued := (cur-next)/step + 1; queued > EventQueue {
			p.overflows.Add(queued - EventQueue)
			next += (queued - EventQueue) * step
		}
		p.last = next
		return true, 0
	}
	return false, time.Duration(next*w.half - now.UnixNano())
}

// nextMatch returns the index of the first edge after h that the pin's edge
// detection sees.
func (p *Pin) nextMatch(h int64) int64 {
	h++
	switch p.edge {
	case gpio.RisingEdge:
		if h%2 != 0 {
			h++
		}
	case gpio.FallingEdge:
		if h%2 == 0 {
			h++
		}
	}
	return h
}

// Overflows counts edges dropped because EventQueue edges were waiting.
func (p *Pin) Overflows() int64 { return p.overflows.Load() }

var _ gpio.PinIO = (*Pin)(nil)
var _ pin.PinFunc = (*Pin)(nil)
