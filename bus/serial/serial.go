// Package serial is the "serial" protocol: devices that talk in lines of
// text over a serial port, such as "T=23.4 H=45.1\r\n".
//
// A device is a port and its mode. Each property is one number found in the
// device's lines by a regular expression with one capture group. A property
// is read in one of two ways:
//
//   - polled: with a command, each read sends the command and waits (up to
//     timeoutMs) for a line the pattern matches; lines that do not match
//     (echoes, prompts, other readings) are skipped.
//   - unsolicited: without a command, a reader goroutine per port cuts
//     everything the port sends into lines and keeps, per property, the
//     newest value its pattern matched. A read returns that value, or an
//     error when there is none younger than maxAgeMs.
//
// Device configData (spec.protocol.configData):
//
//	port        the port: "/dev/ttyUSB0", "ttyUSB0", "/dev/serial/by-id/..." (required)
//	baudRate    bits per second (default 9600); 250000 and other non-standard rates work where the UART does
//	dataBits    5, 6, 7 or 8 (default 8)
//	parity      none, even, odd, mark or space (default none)
//	stopBits    1, 1.5 (5 data bits only) or 2 (default 1)
//	timeoutMs   how long a command waits for its reply (default 1000)
//	eol         line end: "\n" (default; reads CR LF lines too), "\r\n" or "\r";
//	            also LF, CRLF, CR. Sent after every command that does not end with it.
//
// Property configData (spec.properties[].visitors.configData):
//
//	command       poll string sent for each read, with escapes \r \n \t \xHH
//	              (default: none, the property is unsolicited)
//	pattern       regular expression (Go RE2 syntax) with exactly one capture
//	              group around the value (default: the first decimal number)
//	dataType      how the capture is written: float (default), int (decimal or
//	              0x.. prefixed), hex (bare hex digits), bool (1/0, true/false,
//	              on/off, yes/no; the default for BOOLEAN properties)
//	scale         multiplier (default 1)
//	offset        added after scaling (default 0)
//	maxAgeMs      unsolicited only: how old the newest value may be (default 10000)
//	writeCommand  ReadWrite only (required there): the command a desired value
//	              sends, with {value} replaced by (value - offset) / scale in
//	              the dataType: "SP={value}"
//	writeAck      ReadWrite only: a pattern the reply to writeCommand must
//	              match within timeoutMs, such as "^OK$" (default: no reply awaited)
//
// value = capture × scale + offset.
//
// Samples are float64, so properties of type STRING are refused for now:
// capture a number and use INT, FLOAT, DOUBLE or BOOLEAN.
//
// Every device on one port shares one handle on it and one bus worker:
// Device.Bus is "serial:" and the port's canonical name, the same key
// bus/modbus uses, so a command and its reply are never interleaved with
// another device's. A port with unsolicited properties is read only by its
// reader goroutine; polled properties of that port then take their replies
// from it. So a port with unsolicited properties cannot also carry Modbus
// RTU devices (the reader would take their replies): Open refuses a device
// with unsolicited properties on a port bus/modbus uses (see ClaimReplies),
// and bus/modbus refuses a slave on a port such a device uses, with an
// error naming the port.
//
// Reading a polled or unsolicited property does not allocate, except for
// one small allocation per matching line inside regexp (see matcher.match).
package serial

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/hal"
)

// Driver opens serial line devices. The zero value is ready to use.
type Driver struct{}

// Protocol returns "serial".
func (Driver) Protocol() string { return "serial" }

// Open checks cfg, opens the port through hal (shared with every other
// device on it) and builds one Point per property.
func (Driver) Open(cfg bus.DeviceConfig) (bus.Device, error) {
	dc, err := ParseConfig(cfg.Config)
	if err != nil {
		return nil, err
	}
	props := make([]Property, len(cfg.Properties))
	for i, p := range cfg.Properties {
		if props[i], err = ParseProperty(p); err != nil {
			return nil, err
		}
	}
	d := &Device{}
	d.warn(cfg.Config, deviceKeys)
	for _, p := range cfg.Properties {
		d.warn(propertyConfig(p), propertyKeys)
	}

	unsolicited := false
	for _, pr := range props {
		unsolicited = unsolicited || pr.Command == ""
	}
	lp, err := acquirePort(dc, unsolicited)
	if err != nil {
		return nil, cfg.Config.Errorf("port", "%w", err)
	}
	d.port, d.unsolicited = lp, unsolicited
	for i, pr := range props {
		pt := newPoint(lp, cfg.Properties[i].Name, dc, pr)
		d.all = append(d.all, pt)
		if pt.cmd == nil {
			d.listening = append(d.listening, pt)
		}
		if cfg.Properties[i].Writable {
			d.points = append(d.points, writer{pt})
		} else {
			d.points = append(d.points, pt)
		}
	}
	lp.subscribe(d.listening)
	return d, nil
}

// Device is an opened serial line device.
type Device struct {
	port        *linePort
	unsolicited bool // has properties without a command
	points      []bus.Point
	all         []*point
	listening   []*point
	warnings    []string
	closed      atomic.Bool
}

// Bus returns "serial:" and the port's canonical name, such as
// "serial:/dev/ttyUSB0", whatever spelling the device was configured with.
func (d *Device) Bus() string { return "serial:" + d.port.name }

// Points returns one Point per property, in order. A ReadWrite property's
// Point is also a bus.Writer.
func (d *Device) Points() []bus.Point { return d.points }

// Warnings returns one line per configData key the driver ignored.
func (d *Device) Warnings() []string { return d.warnings }

// Close stops the device's unsolicited properties and releases its share of
// the port.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	d.port.unsubscribe(d.listening)
	for _, p := range d.all {
		p.timer.Stop()
	}
	return releasePort(d.port, d.unsolicited)
}

func (d *Device) warn(c bus.Config, known []string) {
	d.warnings = append(d.warnings, c.Ignored(known...)...)
}

// # Ports

var ports struct {
	mu      sync.Mutex
	m       map[string]*linePort
	replies map[string]int // ClaimReplies by canonical port name
}

// linePort is one port as the line devices on it share it.
type linePort struct {
	name string
	h    *hal.Serial
	eol  string
	refs int // guarded by ports.mu
	// unsolicited counts the devices on the port with unsolicited
	// properties; guarded by ports.mu.
	unsolicited int

	subMu     sync.Mutex               // serializes subscribe and unsubscribe
	subs      atomic.Pointer[[]*point] // unsolicited points; read by the reader
	listening bool                     // the reader runs; guarded by h.Lock
	stop      atomic.Bool
	done      chan struct{}
	waiter    atomic.Pointer[waiter] // a polled exchange waiting for the reader

	direct lineReader // polled exchanges without a reader; used under h.Lock
	listen lineReader // the reader's
	first  firstLine  // the first line of a reply that matched nothing, for errors; under h.Lock
}

func acquirePort(dc Config, unsolicited bool) (*linePort, error) {
	canon, _ := hal.SerialPort(dc.Port)
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if unsolicited && ports.replies[canon] > 0 {
		return nil, fmt.Errorf("port %s carries Modbus RTU devices: a property without a command is read by a reader that takes every byte the port receives, their replies too; give this device a port of its own, or poll it with a command", canon)
	}
	if lp := ports.m[canon]; lp != nil {
		if lp.h.Mode() != dc.Mode {
			return nil, fmt.Errorf("port %s is open at %s by another device; it cannot also run at %s", canon, lp.h.Mode(), dc.Mode)
		}
		if lp.eol != dc.EOL {
			return nil, fmt.Errorf("port %s has devices with eol %q; one line has one line end, not also %q", canon, lp.eol, dc.EOL)
		}
		lp.refs++
		if unsolicited {
			lp.unsolicited++
		}
		return lp, nil
	}
	h, err := hal.OpenSerial(dc.Port, dc.Mode)
	if err != nil {
		return nil, err
	}
	term := dc.EOL[len(dc.EOL)-1]
	lp := &linePort{name: h.Port(), h: h, eol: dc.EOL, refs: 1,
		direct: *newLineReader(term, MaxLine), listen: *newLineReader(term, MaxLine)}
	if unsolicited {
		lp.unsolicited = 1
	}
	lp.subs.Store(new([]*point))
	if ports.m == nil {
		ports.m = map[string]*linePort{}
	}
	ports.m[canon] = lp
	return lp, nil
}

func releasePort(lp *linePort, unsolicited bool) error {
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if unsolicited {
		lp.unsolicited--
	}
	lp.refs--
	if lp.refs > 0 {
		return nil
	}
	for k, v := range ports.m {
		if v == lp {
			delete(ports.m, k)
		}
	}
	return lp.h.Close()
}

// ClaimReplies records that a device reads its own replies on the port
// with canonical name port (hal.SerialPort), as a Modbus RTU master does,
// and returns the function that ends the claim. It fails when a serial
// device with unsolicited properties uses the port, since their reader
// takes every byte the port receives; while the claim lasts, Open refuses
// such devices on the port.
func ClaimReplies(port string) (release func(), err error) {
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if lp := ports.m[port]; lp != nil && lp.unsolicited > 0 {
		return nil, fmt.Errorf("port %s is read by serial line devices with properties without a command: their reader takes every byte the port receives, Modbus replies too; give the Modbus slaves a port of their own, or poll the line device with commands", port)
	}
	if ports.replies == nil {
		ports.replies = map[string]int{}
	}
	ports.replies[port]++
	var once sync.Once
	return func() {
		once.Do(func() {
			ports.mu.Lock()
			defer ports.mu.Unlock()
			if ports.replies[port]--; ports.replies[port] <= 0 {
				delete(ports.replies, port)
			}
		})
	}, nil
}

// subscribe adds unsolicited points and starts the reader if it is the first.
func (lp *linePort) subscribe(pts []*point) {
	if len(pts) == 0 {
		return
	}
	lp.subMu.Lock()
	defer lp.subMu.Unlock()
	old := *lp.subs.Load()
	subs := append(append(make([]*point, 0, len(old)+len(pts)), old...), pts...)
	lp.subs.Store(&subs)
	if len(old) == 0 {
		lp.h.Lock() // no polled exchange is under way
		lp.stop.Store(false)
		lp.done = make(chan struct{})
		lp.listen.reset()
		lp.h.SetReadDeadline(time.Time{})
		lp.listening = true
		go lp.read(lp.done)
		lp.h.Unlock()
	}
}

// unsubscribe removes points and stops the reader after the last.
func (lp *linePort) unsubscribe(pts []*point) {
	if len(pts) == 0 {
		return
	}
	lp.subMu.Lock()
	defer lp.subMu.Unlock()
	var subs []*point
	for _, p := range *lp.subs.Load() {
		keep := true
		for _, q := range pts {
			if p == q {
				keep = false
			}
		}
		if keep {
			subs = append(subs, p)
		}
	}
	lp.subs.Store(&subs)
	if len(subs) == 0 {
		lp.h.Lock()
		lp.stop.Store(true)
		lp.h.SetReadDeadline(time.Now()) // wakes the reader: it sees stop
		<-lp.done
		lp.listening = false
		lp.h.Unlock()
	}
}

// read is the reader goroutine of a port with unsolicited properties.
func (lp *linePort) read(done chan struct{}) {
	defer close(done)
	for {
		line, err := lp.listen.line(lp.h)
		if lp.stop.Load() {
			return
		}
		if err != nil {
			if errors.Is(err, hal.ErrPortGone) {
				// Unplugged: hal opens the device again on a later
				// read; a line cut in half is not a line.
				lp.listen.reset()
			}
			if !errors.Is(err, hal.ErrTimeout) {
				time.Sleep(100 * time.Millisecond) // a port that hung up: do not spin
			}
			continue
		}
		now := time.Now().UnixNano()
		for _, p := range *lp.subs.Load() {
			if v, ok, err := p.m.match(line); ok && err == nil {
				p.latest.store(v, now)
			} else if ok {
				p.latest.fail(err)
			}
		}
		if w := lp.waiter.Load(); w != nil {
			w.offer(lp, line)
		}
	}
}

// firstLine keeps a copy of the first line of a reply that did not match,
// for error messages: it is most often the device's error reply.
type firstLine struct {
	buf   [80]byte
	n     int
	lines int
}

func (l *firstLine) keep(line []byte) {
	if l.lines == 0 {
		l.n = copy(l.buf[:], line)
	}
	l.lines++
}

func (l *firstLine) clear() { l.lines = 0 }

func (l *firstLine) String() string {
	switch l.lines {
	case 0:
		return "no line came"
	case 1:
		return fmt.Sprintf("the one line that came was %q", l.buf[:l.n])
	}
	return fmt.Sprintf("%d lines came, the first %q", l.lines, l.buf[:l.n])
}

// # Points

// latest is the newest value of an unsolicited property: a seqlock of atomics
// written by the port's reader, read by the bus worker.
type latest struct {
	seq  atomic.Uint64
	bits atomic.Uint64 // math.Float64bits
	at   atomic.Int64  // unix nanoseconds; 0: no value yet
	err  atomic.Pointer[string]
}

func (l *latest) store(v float64, at int64) {
	l.seq.Add(1)
	l.bits.Store(math.Float64bits(v))
	l.at.Store(at)
	l.seq.Add(1)
}

func (l *latest) fail(err error) {
	s := err.Error()
	l.err.Store(&s)
}

func (l *latest) load() (v float64, at int64) {
	for {
		s := l.seq.Load()
		if s&1 != 0 {
			continue
		}
		v, at = math.Float64frombits(l.bits.Load()), l.at.Load()
		if l.seq.Load() == s {
			return v, at
		}
	}
}

// waiter is a polled exchange (or a write awaiting its ack) on a port whose
// reader takes all input: the reader offers it every line.
type waiter struct {
	m  *matcher
	ch chan result // capacity 1
}

type result struct {
	v   float64
	err error
}

func (w *waiter) offer(lp *linePort, line []byte) {
	v, ok, err := w.m.match(line)
	if !ok {
		return
	}
	if lp.waiter.CompareAndSwap(w, nil) {
		select {
		case w.ch <- result{v, err}:
		default:
		}
	}
}

// point is one property. Its buffers are allocated when it is built.
type point struct {
	lp      *linePort
	name    string
	cmd     []byte // the command and eol; nil: unsolicited
	m       matcher
	timeout time.Duration
	maxAge  time.Duration
	latest  latest
	rw      waiter
	timer   *time.Timer

	// writes
	wpre, wpost []byte // writeCommand around {value}, wpost ending in eol
	hasValue    bool
	wbuf        []byte
	ack         *matcher
	aw          waiter
}

func newPoint(lp *linePort, name string, dc Config, pr Property) *point {
	p := &point{lp: lp, name: name, timeout: dc.Timeout, maxAge: pr.MaxAge,
		m: matcher{re: pr.Pattern, kind: kindNames[pr.DataType], scale: pr.Scale, offset: pr.Offset}}
	if pr.Command != "" {
		p.cmd = []byte(withEOL(pr.Command, dc.EOL))
	}
	p.rw = waiter{m: &p.m, ch: make(chan result, 1)}
	p.timer = time.NewTimer(time.Hour)
	p.timer.Stop()
	if pr.WriteCommand != "" {
		wc := withEOL(pr.WriteCommand, dc.EOL)
		pre, post, found := strings.Cut(wc, "{value}")
		p.wpre, p.wpost, p.hasValue = []byte(pre), []byte(post), found
		p.wbuf = make([]byte, 0, len(wc)+40)
		if pr.WriteAck != nil {
			p.ack = &matcher{re: pr.WriteAck, noValue: true}
			p.aw = waiter{m: p.ack, ch: make(chan result, 1)}
		}
	}
	return p
}

func withEOL(s, eol string) string {
	if strings.HasSuffix(s, eol) {
		return s
	}
	return s + eol
}

// Read returns the property's value: polled, it sends the command and waits
// for a matching line; unsolicited, it returns the newest value the reader
// matched.
func (p *point) Read() (float64, error) {
	if p.cmd == nil {
		return p.readLatest()
	}
	v, _, err := p.exchange(p.cmd, &p.m, &p.rw)
	return v, err
}

func (p *point) readLatest() (float64, error) {
	v, at := p.latest.load()
	if at == 0 {
		why := ""
		if e := p.latest.err.Load(); e != nil {
			why = " (last match: " + *e + ")"
		}
		return 0, fmt.Errorf("serial %s %s: no line matching %s received yet%s", p.lp.name, p.name, p.m.re, why)
	}
	if age := time.Duration(time.Now().UnixNano() - at); age > p.maxAge {
		return 0, fmt.Errorf("serial %s %s: the newest line matching %s is %v old, more than maxAgeMs %d",
			p.lp.name, p.name, p.m.re, age.Round(time.Millisecond), p.maxAge.Milliseconds())
	}
	return v, nil
}

// exchange sends out and waits for a line m matches, within the timeout.
func (p *point) exchange(out []byte, m *matcher, w *waiter) (float64, bool, error) {
	lp := p.lp
	lp.h.Lock()
	defer lp.h.Unlock()
	deadline := time.Now().Add(p.timeout)
	if lp.listening {
		return p.exchangeViaReader(out, w, deadline)
	}
	if err := lp.h.ResetInput(); err != nil {
		return 0, false, p.errorf("send %q", out, err)
	}
	lp.h.SetWriteDeadline(deadline)
	if _, err := lp.h.Write(out); err != nil {
		return 0, false, p.errorf("send %q", out, err)
	}
	lp.h.SetReadDeadline(deadline)
	lp.direct.reset()
	lp.first.clear()
	for {
		line, err := lp.direct.line(lp.h)
		if errors.Is(err, hal.ErrTimeout) {
			return 0, false, p.errorf("no reply to %q matching %s within %v (%s)", out, m.re, p.timeout, lp.first.String(), hal.ErrTimeout)
		}
		if err != nil {
			return 0, false, p.errorf("read reply to %q", out, err)
		}
		v, ok, err := m.match(line)
		if !ok {
			lp.first.keep(line)
			continue
		}
		if err != nil {
			return 0, true, p.errorf("reply to %q", out, err)
		}
		return v, true, nil
	}
}

func (p *point) exchangeViaReader(out []byte, w *waiter, deadline time.Time) (float64, bool, error) {
	lp := p.lp
	select { // a reply that came after an earlier exchange gave up
	case <-w.ch:
	default:
	}
	lp.waiter.Store(w)
	defer lp.waiter.CompareAndSwap(w, nil)
	lp.h.SetWriteDeadline(deadline)
	if _, err := lp.h.Write(out); err != nil {
		return 0, false, p.errorf("send %q", out, err)
	}
	p.timer.Reset(time.Until(deadline))
	defer p.timer.Stop()
	select {
	case r := <-w.ch:
		if r.err != nil {
			return 0, true, p.errorf("reply to %q", out, r.err)
		}
		return r.v, true, nil
	case <-p.timer.C:
		return 0, false, p.errorf("no reply to %q matching %s within %v", out, w.m.re, p.timeout, hal.ErrTimeout)
	}
}

// errorf formats an error about the property; the last argument is the
// error it wraps.
func (p *point) errorf(format string, args ...any) error {
	return fmt.Errorf("serial %s %s: "+format+": %w", append([]any{p.lp.name, p.name}, args...)...)
}

// writer is the Point of a ReadWrite property.
type writer struct{ *point }

// Write sends the writeCommand with {value} replaced by (v - offset) / scale
// in the property's dataType and, with writeAck, waits for the reply.
func (p writer) Write(v float64) error {
	b := append(p.wbuf[:0], p.wpre...)
	if p.hasValue {
		var err error
		if b, err = p.m.appendValue(b, v); err != nil {
			return p.errorf("write", err)
		}
	}
	b = append(b, p.wpost...)
	p.wbuf = b[:0]
	if p.ack != nil {
		_, _, err := p.exchange(b, p.ack, &p.aw)
		return err
	}
	lp := p.lp
	lp.h.Lock()
	defer lp.h.Unlock()
	lp.h.SetWriteDeadline(time.Now().Add(p.timeout))
	if _, err := lp.h.Write(b); err != nil {
		return p.errorf("send %q", b, err)
	}
	return nil
}
