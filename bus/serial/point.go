package serial

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/hal"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// point is one property. Its buffers are allocated when it is built.
type point struct {
	d       *Device
	name    string
	cmd     []byte // the command and eol; nil: unsolicited
	m       matcher
	timeout time.Duration
	maxAge  time.Duration
	refusal *regexp.Regexp // the device's error reply (Config.ErrorPattern)
	latest  latest
	opened  time.Time // when the point was built; see readLatest

	// The exchange under way: lines hands reply each line of the answer;
	// want is the matcher of the reply, v and verr what it found.
	lines hal.Lines
	want  *matcher
	v     float64
	verr  error
	first firstLine

	// writes
	wpre, wpost []byte // writeCommand around {value}, wpost ending in eol
	hasValue    bool
	wbuf        []byte
	ack         *matcher
}

func newPoint(d *Device, name string, dc Config, pr Property) *point {
	p := &point{d: d, name: name, timeout: dc.Timeout, maxAge: pr.MaxAge, refusal: dc.ErrorPattern, opened: time.Now(),
		m: matcher{re: pr.Pattern, kind: kindNames[pr.DataType], scale: pr.Scale, offset: pr.Offset}}
	if pr.Command != "" {
		p.cmd = []byte(withEOL(pr.Command, dc.EOL))
	} else {
		p.latest.ring = ringbuf.New(3)
	}
	p.lines = hal.Lines{EOL: dc.EOL[len(dc.EOL)-1], Line: p.reply}
	if pr.WriteCommand != "" {
		wc := withEOL(pr.WriteCommand, dc.EOL)
		pre, post, found := strings.Cut(wc, "{value}")
		p.wpre, p.wpost, p.hasValue = []byte(pre), []byte(post), found
		p.wbuf = make([]byte, 0, len(wc)+40)
		if pr.WriteAck != nil {
			p.ack = &matcher{re: pr.WriteAck, noValue: true}
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
	return p.exchange(p.cmd, &p.m)
}

func (p *point) readLatest() (float64, error) {
	v, at := p.latest.load()
	if at == 0 {
		why := ""
		e := p.latest.err.Load()
		if e != nil {
			why = " (last match: " + *e + ")"
		}
		if e == nil && time.Since(p.opened) <= p.maxAge {
			// Not late yet: a sensor may take its first period to speak.
			return 0, fmt.Errorf("serial %s %s: no line matching %s yet: %w", p.d.h.Port(), p.name, p.m.re, bus.ErrNoValueYet)
		}
		return 0, fmt.Errorf("serial %s %s: no line matching %s yet%s", p.d.h.Port(), p.name, p.m.re, why)
	}
	if age := time.Duration(time.Now().UnixNano() - at); age > p.maxAge {
		return 0, fmt.Errorf("serial %s %s: the newest match is %v old, more than maxAgeMs %d",
			p.d.h.Port(), p.name, age.Round(time.Millisecond), p.maxAge.Milliseconds())
	}
	return v, nil
}

// exchange sends out and waits for a line m matches, within the timeout.
func (p *point) exchange(out []byte, m *matcher) (float64, error) {
	p.want, p.v, p.verr = m, 0, nil
	p.first.clear()
	p.lines.Reset()
	_, err := p.d.h.Exchange(hal.SerialTx{Send: out, Timeout: p.timeout, Reply: &p.lines}, p.d.rx)
	switch {
	case errors.Is(err, hal.ErrTimeout):
		return 0, p.errorf("no reply to %q matching %s in %v (%s)", out, m.re, p.timeout, p.first.String(), err)
	case err != nil:
		return 0, p.errorf("send %q", out, err)
	case p.verr != nil:
		return 0, p.errorf("reply to %q", out, p.verr)
	}
	return p.v, nil
}

// reply takes one line of the answer to an exchange and says whether it is
// the reply.
func (p *point) reply(line []byte) bool {
	v, ok, err := p.want.match(line)
	if !ok {
		if p.refusal != nil && p.refusal.Match(line) {
			// The device refused the command: it will send no reply.
			p.verr = &RefusedError{Reply: strings.TrimRight(string(line), "\r\n")}
			return true
		}
		p.first.keep(line)
		return false
	}
	p.v, p.verr = v, err
	return true
}

// A RefusedError is a device's answer that matches errorPattern: it refused
// the command (a value out of its range, an unknown command).
type RefusedError struct{ Reply string }

func (e *RefusedError) Error() string { return fmt.Sprintf("the device answered %q", e.Reply) }

// errorf formats an error about the property; the last argument is the
// error it wraps.
func (p *point) errorf(format string, args ...any) error {
	return fmt.Errorf("serial %s %s: "+format+": %w", append([]any{p.d.h.Port(), p.name}, args...)...)
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
		_, err := p.exchange(b, p.ack)
		return err
	}
	if _, err := p.d.h.Exchange(hal.SerialTx{Send: b, Timeout: p.timeout}, nil); err != nil {
		return p.errorf("send %q", b, err)
	}
	return nil
}

// latest is the newest value of an unsolicited property: a ring the port's
// reader pushes to and the bus worker reads, wait-free (a read never waits
// for the writer, as the old seqlock did while its sequence was odd).
type latest struct {
	ring *ringbuf.Ring
	err  atomic.Pointer[string] // the last match that was not a value
}

func (l *latest) store(v float64, at int64) {
	l.ring.Push(ringbuf.Sample{Time: at, Value: v})
}

func (l *latest) fail(err error) {
	s := err.Error()
	l.err.Store(&s)
}

// load returns the newest value and its time in unix nanoseconds; at is 0
// when there is none yet.
func (l *latest) load() (v float64, at int64) {
	var s ringbuf.Sample
	if !l.ring.Latest(&s) {
		return 0, 0
	}
	return s.Value, s.Time
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
