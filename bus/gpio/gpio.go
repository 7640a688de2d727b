// Package gpio is the "gpio" protocol: properties that are GPIO pins, read
// as levels, driven as outputs, or counting edges.
//
// A device is a group of pins (a relay board, a flow meter, a door contact);
// every property names its own pin, so the device's configData needs no keys.
// All pins share one bus worker ("gpio"): reads are one ioctl, or one atomic
// load for counters, and never block.
//
// Property configData (spec.properties[].visitors.configData):
//
//	pin        the pin: a name ("GPIO17"), a number (17, meaning GPIO17), a
//	           header position ("P1_11") or a chip and line offset
//	           ("gpiochip0/17", or the chip's label, for lines the kernel
//	           left unnamed) (required)
//	mode       input, output or counter (default input)
//	pull       up, down or none; absent: leave the pull as it is
//	activeLow  true when the signal is active low: 1 reads and drives the
//	           pin low (default false)
//	initial    output only: the level to drive when the device opens: 0 or
//	           1, low or high, false or true, after activeLow (default 0, or
//	           the level already driven when a device update reopens the pin)
//	edge       counter only: rising, falling or both (default rising), after
//	           activeLow: a rising edge of an active-low signal is the pin
//	           going low
//	measure    counter only: count (edges since the pin started counting) or
//	           frequency (Hz) (default count)
//	windowMs   frequency only: the measuring window in ms, 10 to 3600000
//	           (default 1000)
//
// Values are 0 and 1 for input and output (a BOOLEAN or INT property), the
// number of edges for count (INT), cycles per second for frequency (FLOAT):
// edges per second, halved when both edges are counted.
//
// An output is set from the desired value (the property must be ReadWrite):
// 1 drives the active level. It reads back the level this mapper last drove,
// without touching the line: periph's gpioioctl driver answers Read on an
// output line by requesting it again as an input, which would stop it
// driving. A ReadWrite count can be set too (0 to reset it).
//
// Edges are counted by one goroutine per counting pin (shared by every
// property on the pin), blocked on the line's edge events: edges are events
// the kernel delivers as they happen, which polling would miss. Where hal
// can open the events (hal.OpenEdges: a GPIO character-device line, which
// hal requests itself, or a sim pin) the goroutine reads every queued event
// at once into a buffer of its own, without allocating; periph's
// WaitForEdge, used for other pins, allocates an event per edge. While a
// line counts, an input on it reads through the same request. The
// property's Read loads the count from an atomic, so it never blocks and
// never allocates. A
// frequency is the count's change over the last windowMs to 2×windowMs (over
// the time since the device opened at first), updated by each read. The
// count goes on across a device update (the pin stays open); it starts from 0
// when a pin starts counting.
//
// The counting goroutine waits at most a second at a time, never with -1 or
// 0: periph's gpioioctl driver returns false at once for -1 and waits forever
// for 0, its sysfs driver waits forever for -1 and polls for 0. A second
// means the same to both, and lets the goroutine notice that it should stop
// (gpioioctl's Halt only interrupts a wait already in progress).
//
// A pin used by several properties is configured once: input and counter
// properties may share a pin (they must agree on pull and edge), an output
// may not share its pin with another property of the same device. Across
// devices the latest device opened sets the pin up.
//
// A line another consumer holds (another process, a kernel driver) fails
// to open with an error wrapping hal.ErrPinBusy and syscall.EBUSY, which
// periph's gpioioctl leaves as text.
//
// Unknown keys are not errors; Device returns them from Warnings.
package gpio

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/hal"
)

// Driver opens GPIO devices. The zero value is ready to use.
type Driver struct{}

// Protocol returns "gpio".
func (Driver) Protocol() string { return "gpio" }

var propertyKeys = []string{"pin", "mode", "pull", "activeLow", "initial", "edge", "measure", "windowMs"}

type mode uint8

const (
	modeInput mode = iota
	modeOutput
	modeCounter
)

// prop is one property's parsed configData.
type prop struct {
	cfg       bus.Config
	pin       gpio.PinIO
	key       string
	mode      mode
	pull      gpio.Pull
	activeLow bool
	initial   int // -1: not given
	edge      gpio.Edge
	frequency bool
	window    time.Duration
}

// Open checks cfg, requests every pin as its properties say and builds one
// Point per property. Errors in configData are *bus.FieldError naming the key.
func (Driver) Open(cfg bus.DeviceConfig) (bus.Device, error) {
	d := &Device{}
	d.warn(cfg.Config, nil)
	props := make([]*prop, len(cfg.Properties))
	for i, p := range cfg.Properties {
		pc := propertyConfig(p)
		var err error
		if props[i], err = parseProp(pc); err != nil {
			return nil, err
		}
		d.warn(pc, propertyKeys)
	}
	uses, err := plan(props)
	if err != nil {
		return nil, err
	}
	for _, u := range uses {
		u.owner = cfg.Name
	}
	if err := acquire(uses); err != nil {
		return nil, err
	}
	d.uses = uses
	byKey := map[string]*use{}
	for _, u := range uses {
		byKey[u.key] = u
	}
	now := time.Now().UnixNano()
	for i, p := range props {
		l := byKey[p.key].line
		var pt bus.Point
		switch {
		case p.mode == modeInput:
			pt = &input{line: l, activeLow: p.activeLow}
		case p.mode == modeOutput && cfg.Properties[i].Writable:
			pt = output{&outputReader{line: l, activeLow: p.activeLow}}
		case p.mode == modeOutput:
			pt = &outputReader{line: l, activeLow: p.activeLow}
		case p.frequency:
			div := 1.0
			if p.edge == gpio.BothEdges {
				div = 2
			}
			c := l.edges.Load()
			pt = &frequency{line: l, window: int64(p.window), div: div,
				base: snapshot{now, c}, mid: snapshot{now, c}}
		case cfg.Properties[i].Writable:
			pt = counterWriter{&counter{line: l}}
		default:
			pt = &counter{line: l}
		}
		d.points = append(d.points, pt)
	}
	return d, nil
}

func propertyConfig(p bus.PropertyConfig) bus.Config {
	c := p.Config
	if c.Path == "" {
		c.Path = "properties[" + p.Name + "]"
	}
	return c
}

func parseProp(c bus.Config) (*prop, error) {
	p := &prop{cfg: c, initial: -1}
	if err := c.Require("pin"); err != nil {
		return nil, err
	}
	name, err := pinName(c)
	if err != nil {
		return nil, err
	}
	m, err := c.OneOf("mode", "input", "input", "output", "counter")
	if err != nil {
		return nil, err
	}
	p.mode = map[string]mode{"input": modeInput, "output": modeOutput, "counter": modeCounter}[m]

	pull, err := c.OneOf("pull", "", "", "up", "down", "none")
	if err != nil {
		return nil, err
	}
	p.pull = map[string]gpio.Pull{"": gpio.PullNoChange, "up": gpio.PullUp, "down": gpio.PullDown, "none": gpio.Float}[pull]
	if p.pull != gpio.PullNoChange && p.mode == modeOutput {
		return nil, c.Errorf("pull", "does not apply to an output")
	}
	if p.activeLow, err = c.Bool("activeLow", false); err != nil {
		return nil, err
	}

	if c.Has("initial") {
		if p.mode != modeOutput {
			return nil, c.Errorf("initial", "applies to mode output only")
		}
		on, err := level(c, "initial")
		if err != nil {
			return nil, err
		}
		p.initial = physical(on, p.activeLow)
	}

	for _, k := range []string{"edge", "measure"} {
		if c.Has(k) && p.mode != modeCounter {
			return nil, c.Errorf(k, "applies to mode counter only")
		}
	}
	e, err := c.OneOf("edge", "rising", "rising", "falling", "both")
	if err != nil {
		return nil, err
	}
	p.edge = map[string]gpio.Edge{"rising": gpio.RisingEdge, "falling": gpio.FallingEdge, "both": gpio.BothEdges}[e]
	if p.activeLow && p.edge != gpio.BothEdges {
		p.edge ^= gpio.RisingEdge | gpio.FallingEdge // the other edge of the pin
	}
	meas, err := c.OneOf("measure", "count", "count", "frequency")
	if err != nil {
		return nil, err
	}
	p.frequency = meas == "frequency"
	if c.Has("windowMs") && !p.frequency {
		return nil, c.Errorf("windowMs", "applies to measure frequency only")
	}
	ms, err := c.Int("windowMs", 1000, 10, 3_600_000)
	if err != nil {
		return nil, err
	}
	p.window = time.Duration(ms) * time.Millisecond

	pin, err := hal.Pin(name)
	if err != nil {
		return nil, c.Errorf("pin", "%w", err)
	}
	p.pin = realPin(pin)
	if p.key = p.pin.Name(); p.key == "" {
		p.key = name
	}
	return p, nil
}

// level reads a logical level: 0 or 1, false or true, low or high (as
// numbers, strings or booleans).
func level(c bus.Config, key string) (bool, error) {
	if v := c.Values[key]; v.Kind == bus.String {
		switch strings.ToLower(strings.TrimSpace(v.Str)) {
		case "0", "low":
			return false, nil
		case "1", "high":
			return true, nil
		}
	}
	on, err := c.Bool(key, false)
	if err != nil {
		return false, c.Errorf(key, "%s is not 0, 1, low, high, false or true", c.Values[key])
	}
	return on, nil
}

// physical returns the pin level (0 or 1) for a logical on/off.
func physical(on, activeLow bool) int {
	if on != activeLow {
		return 1
	}
	return 0
}

// pinName reads the pin key: a name, or a whole number n meaning GPIOn.
func pinName(c bus.Config) (string, error) {
	v := c.Values["pin"]
	switch v.Kind {
	case bus.Number:
		n, err := c.Int("pin", 0, 0, math.MaxInt32)
		return strconv.FormatInt(n, 10), err
	case bus.String:
		if s := strings.TrimSpace(v.Str); s != "" {
			return s, nil
		}
	}
	return "", c.Errorf("pin", "%s is not a pin name or number", v)
}

// plan groups the properties by pin, checks that properties sharing a pin
// agree, and returns one use per pin.
func plan(props []*prop) ([]*use, error) {
	var uses []*use
	first := map[string]*prop{}
	byKey := map[string]*use{}
	for _, p := range props {
		u := byKey[p.key]
		if u == nil {
			u = &use{pin: p.pin, key: p.key, cfg: lineConfig{mode: p.mode, pull: p.pull},
				initial: p.initial, inactive: physical(false, p.activeLow), conf: p.cfg}
			if p.mode == modeCounter {
				u.cfg.edge, u.counters = p.edge, 1
			}
			byKey[p.key], first[p.key] = u, p
			uses = append(uses, u)
			continue
		}
		f := first[p.key]
		switch {
		case p.mode == modeOutput || f.mode == modeOutput:
			return nil, p.cfg.Errorf("pin", "%s is also used by %s: an output cannot share its pin", p.key, f.cfg.Path)
		case p.pull != f.pull && p.pull != gpio.PullNoChange && f.pull != gpio.PullNoChange:
			return nil, p.cfg.Errorf("pull", "%s is also used by %s with another pull", p.key, f.cfg.Path)
		case p.mode == modeCounter && u.counters > 0 && p.edge != u.cfg.edge:
			return nil, p.cfg.Errorf("edge", "%s is also counted by %s on another edge", p.key, f.cfg.Path)
		}
		if p.pull != gpio.PullNoChange {
			u.cfg.pull = p.pull
		}
		if p.mode == modeCounter {
			u.cfg.mode, u.cfg.edge = modeCounter, p.edge
			u.counters++
		}
	}
	return uses, nil
}

// Device is an opened GPIO device.
type Device struct {
	uses     []*use
	points   []bus.Point
	warnings []string
}

// Bus returns "gpio": every pin of the board is served by one worker.
func (d *Device) Bus() string { return "gpio" }

// Points returns one Point per property, in order.
func (d *Device) Points() []bus.Point { return d.points }

// Warnings returns one line per configData key the driver ignored.
func (d *Device) Warnings() []string { return d.warnings }

// Close releases the device's pins and stops counters nobody else uses.
// Outputs keep the level they drive.
func (d *Device) Close() error {
	uses := d.uses
	d.uses = nil
	return release(uses)
}

func (d *Device) warn(c bus.Config, known []string) {
	d.warnings = append(d.warnings, c.Ignored(known...)...)
}

// input reads a pin's level.
type input struct {
	line      *line
	activeLow bool
}

// Read reads the pin, unless another device made it an output since: then
// it returns the level driven, as Read would request the line as an input
// again on gpioioctl.
func (p *input) Read() (float64, error) {
	level := p.line.driven.Load()
	high := level == 1
	if level < 0 {
		var err error
		if high, err = p.line.level(); err != nil {
			return 0, fmt.Errorf("gpio %s: %w", p.line.name, err)
		}
	}
	if high != p.activeLow {
		return 1, nil
	}
	return 0, nil
}

// outputReader reads an output back: the level last driven, from memory.
type outputReader struct {
	line      *line
	activeLow bool
}

var errNotDriven = errors.New("the output is not driven by this mapper (another device took the pin)")

func (p *outputReader) Read() (float64, error) {
	level := p.line.driven.Load()
	if level < 0 {
		return 0, fmt.Errorf("gpio %s: %w", p.line.name, errNotDriven)
	}
	if (level == 1) != p.activeLow {
		return 1, nil
	}
	return 0, nil
}

// output is the Point of a ReadWrite output.
type output struct{ *outputReader }

// Write drives the pin: 1 is the active level, 0 the other.
func (p output) Write(v float64) error {
	if v != 0 && v != 1 {
		return fmt.Errorf("gpio %s: %v is not 0 or 1", p.line.name, v)
	}
	level := physical(v == 1, p.activeLow)
	if err := p.line.pin.Out(level == 1); err != nil {
		return fmt.Errorf("gpio %s: drive: %w", p.line.name, hal.PinError(err))
	}
	p.line.driven.Store(int32(level))
	return nil
}

// counter reads the edge count.
type counter struct{ line *line }

var errEdges = errors.New("edge detection is not working: waiting for an edge fails at once")

func (p *counter) Read() (float64, error) {
	if p.line.failing.Load() {
		return 0, fmt.Errorf("gpio %s: %w", p.line.name, errEdges)
	}
	return float64(p.line.edges.Load() - p.line.base.Load()), nil
}

// counterWriter is the Point of a ReadWrite count.
type counterWriter struct{ *counter }

// Write sets the count to v, a whole number from 0.
func (p counterWriter) Write(v float64) error {
	if v < 0 || v != math.Trunc(v) || v > 1<<53 {
		return fmt.Errorf("gpio %s: count %v is not a whole number from 0", p.line.name, v)
	}
	p.line.base.Store(p.line.edges.Load() - uint64(v))
	return nil
}

type snapshot struct {
	t int64 // unix ns
	c uint64
}

// frequency measures the edge rate. Its state is touched only by Read, on
// the bus worker.
type frequency struct {
	line   *line
	window int64 // ns
	div    float64
	base   snapshot // the start of the measured span
	mid    snapshot // the start of the next span
}

func (p *frequency) Read() (float64, error) {
	if p.line.failing.Load() {
		return 0, fmt.Errorf("gpio %s: %w", p.line.name, errEdges)
	}
	now := time.Now().UnixNano()
	c := p.line.edges.Load()
	if now-p.mid.t >= p.window {
		p.base, p.mid = p.mid, snapshot{now, c}
	}
	dt := now - p.base.t
	if dt <= 0 {
		return 0, nil
	}
	return float64(c-p.base.c) / p.div / (float64(dt) / 1e9), nil
}
