package hal

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// MaxLine is the longest line Lines keeps, in bytes, without its line end.
// Longer lines are dropped whole: they are noise or a wrong line end.
const MaxLine = 512

// Lines is a Framer for devices that talk in lines of text. It cuts what
// comes into lines ending in EOL, trims CR and LF around each (so EOL '\n'
// reads CR LF lines too), drops lines longer than Max whole and hands each
// other line to Line, which says whether it is the reply. The line is valid
// only during the call. Exchange with Lines needs an rx of at least Max+1
// bytes.
type Lines struct {
	EOL  byte
	Line func(line []byte) (reply bool)
	Max  int // the longest line kept; 0: MaxLine

	skip    bool // dropping the rest of an over-long line
	dropped int
}

// Reset forgets a line cut in half; call it before each exchange.
func (l *Lines) Reset() { l.skip = false }

// Dropped returns how many over-long lines were dropped.
func (l *Lines) Dropped() int { return l.dropped }

// Frame hands Line each complete line of rx and drops it.
func (l *Lines) Frame(rx []byte) (drop int, done bool) {
	for {
		i := bytes.IndexByte(rx[drop:], l.EOL)
		if i < 0 {
			break
		}
		line := rx[drop : drop+i]
		drop += i + 1
		if l.skip {
			l.skip = false
			continue
		}
		if l.Line(trimLineEnds(line)) {
			return drop, true
		}
	}
	max := l.Max
	if max == 0 {
		max = MaxLine
	}
	if len(rx)-drop > max {
		if !l.skip {
			l.dropped++
		}
		l.skip = true
		return len(rx), false
	}
	return drop, false
}

func trimLineEnds(b []byte) []byte {
	for len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

// listening is a port's listeners and reply claims, and its reader. The
// reader runs while the port has a listener. Guarded by the port's mu, but
// for subs and stop, which the reader reads.
type listening struct {
	eol    byte
	subs   atomic.Pointer[[]*listener]
	claims int
	stop   atomic.Bool
	done   chan struct{} // closed when the reader returns
}

type listener struct{ fn func(line []byte) }

// Listen hands fn every line the port receives, as Lines cuts them with eol,
// until Close: devices that talk on their own (a sensor sending a reading
// every second) are read this way. The lines come from a reader goroutine
// hal starts with the port's first listener and stops after its last; while
// it runs, it reads every byte, and Exchange takes its replies from it.
//
// Listen fails when the port's replies are claimed (see ClaimReplies), when
// its listeners cut lines at another eol, and on a second call for the same
// handle. fn runs on the reader and must not block.
func (s *Serial) Listen(eol byte, fn func(line []byte)) error {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	L := &p.lines
	switch {
	case s.listener != nil:
		return fmt.Errorf("serial port %s: this handle listens already", p.name)
	case L.claims > 0:
		return fmt.Errorf("serial port %s: its replies are claimed (Modbus RTU); a line listener would take them", p.name)
	case p.reading && L.eol != eol:
		return fmt.Errorf("serial port %s: listened to with line end %q, not %q", p.name, L.eol, eol)
	}
	l := &listener{fn}
	var subs []*listener
	if old := L.subs.Load(); old != nil {
		subs = append(subs, *old...)
	}
	subs = append(subs, l)
	L.subs.Store(&subs)
	s.listener = l
	if !p.reading {
		if c := p.conn.Load(); c != nil {
			c.f.SetReadDeadline(time.Time{})
		}
		L.eol = eol
		L.stop.Store(false)
		L.done = make(chan struct{})
		p.reading = true
		go p.read(L.done)
	}
	return nil
}

// unlisten ends the handle's listener, and stops the reader after the last.
func (s *Serial) unlisten() {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.listener == nil {
		return
	}
	L := &p.lines
	var subs []*listener
	for _, l := range *L.subs.Load() {
		if l != s.listener {
			subs = append(subs, l)
		}
	}
	L.subs.Store(&subs)
	s.listener = nil
	if len(subs) > 0 {
		return
	}
	L.stop.Store(true)
	for { // wake the reader: a deadline in the past ends its read
		if c := p.conn.Load(); c != nil {
			c.f.SetReadDeadline(time.Now())
		}
		select {
		case <-L.done:
			p.reading = false
			return
		case <-time.After(20 * time.Millisecond): // it may have opened the port again
		}
	}
}

// ClaimReplies says that this handle reads its replies itself, as binary
// frames that a line reader must not take (a Modbus RTU master does), until
// Close. It fails while the port has a listener, and Listen fails while the
// claim lasts.
func (s *Serial) ClaimReplies() error {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.claimed {
		return nil
	}
	if p.reading {
		return fmt.Errorf("serial port %s: a line listener takes every byte; claimed replies need a port without one", p.name)
	}
	p.lines.claims++
	s.claimed = true
	return nil
}

func (s *Serial) unclaim() {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.claimed {
		s.p.lines.claims--
		s.claimed = false
	}
}

// read is the port's reader: it cuts what comes into lines for the
// listeners, and hands it to the exchange under way too.
func (p *serialPort) read(done chan struct{}) {
	defer close(done)
	L := &p.lines
	var chunk [256]byte
	a := assembler{rx: make([]byte, MaxLine+1)}
	lines := Lines{EOL: L.eol, Line: p.dispatch}
	for !L.stop.Load() {
		c, err := p.current()
		if err == nil {
			var k int
			k, err = c.f.Read(chunk[:])
			if L.stop.Load() {
				return
			}
			if k > 0 {
				p.last.Store(time.Now().UnixNano())
				p.offer(chunk[:k])
				a.push(chunk[:k], &lines)
			}
			if err != nil {
				err = p.ioError(c, err)
			}
		}
		if err == nil || errors.Is(err, ErrTimeout) {
			continue
		}
		// The port failed or went away (hal opens it again on a later
		// try): a line cut in half is not a line.
		p.fail(err)
		a.n = 0
		lines.Reset()
		time.Sleep(100 * time.Millisecond)
	}
}

// dispatch hands a line to every listener; it is never a reply.
func (p *serialPort) dispatch(line []byte) bool {
	for _, l := range *p.lines.subs.Load() {
		l.fn(line)
	}
	return false
}
