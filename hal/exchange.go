package hal

import (
	"errors"
	"sync"
	"time"
)

// A Framer tells where a reply ends in what a port receives: a Modbus frame
// by its length and CRC, a line by its line end (see Lines).
//
// Exchange calls Frame after every read with the bytes received since the
// request that the Framer has not dropped yet. Frame returns how many leading
// bytes it is done with (noise, lines that are not the reply; Exchange drops
// them before the next read) and whether the reply is complete. A Framer
// keeps what it found (the value, the frame) for its caller, and is reset by
// its caller before each exchange. rx is the caller's buffer: the Framer may
// keep slices of it once the reply is complete, and nothing else.
type Framer interface {
	Frame(rx []byte) (drop int, done bool)
}

// SerialTx is one exchange on a serial port (see Serial.Exchange).
type SerialTx struct {
	// Send is written first; nil writes nothing (a reply is awaited only).
	Send []byte
	// Quiet is the silence the line must have had, since the last byte read
	// or written on the port, before Send is written: 3.5 characters for
	// Modbus RTU. Exchange waits it out.
	Quiet time.Duration
	// Timeout bounds the exchange from the start of the write to the end
	// of the reply; it must be positive.
	Timeout time.Duration
	// Reply frames the reply; nil: no reply is awaited, and Exchange
	// returns once Send is written.
	Reply Framer
}

// FixedLen is a Framer for replies of a known length: the reply is complete
// once that many bytes have come.
type FixedLen int

// Frame reports whether rx holds n bytes.
func (n FixedLen) Frame(rx []byte) (int, bool) { return 0, len(rx) >= int(n) }

// Exchange holds the port for one request and its reply: it waits for the
// line to be quiet, discards what arrived unasked (when it sends a request
// and awaits a reply), writes tx.Send and reads
// into rx, calling tx.Reply.Frame after every read, until the reply is
// complete. When rx fills up and the Framer drops nothing, the older half of
// rx is dropped: a reply is the newest bytes. rx must hold the longest reply.
//
// It returns how many bytes came in all (0: nothing answered), and an error
// wrapping ErrTimeout when tx.Timeout passes first, or ErrPortGone when the
// device went away. On a port with a listener (see Listen) the bytes come
// from the reader, which sees them too. Exchange does not allocate.
func (s *Serial) Exchange(tx SerialTx, rx []byte) (int, error) {
	switch {
	case tx.Timeout <= 0:
		return 0, errors.New("serial exchange: no timeout")
	case tx.Reply != nil && len(rx) == 0:
		return 0, errors.New("serial exchange: no buffer for the reply")
	}
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if tx.Quiet > 0 {
		if wait := time.Until(time.Unix(0, p.last.Load()).Add(tx.Quiet)); wait > 0 {
			time.Sleep(wait)
		}
	}
	deadline := time.Now().Add(tx.Timeout)
	if p.reading {
		return p.exchangeViaReader(tx, rx, deadline)
	}
	c, err := p.current()
	if err != nil {
		return 0, err
	}
	if tx.Reply != nil && len(tx.Send) > 0 {
		if err := c.ctl.ResetInputBuffer(); err != nil {
			return 0, p.drop(c, "discard input: ", err)
		}
	}
	if err := p.write(c, tx.Send, deadline); err != nil || tx.Reply == nil {
		return 0, err
	}
	c.f.SetReadDeadline(deadline)
	a := assembler{rx: rx}
	for {
		k, err := c.f.Read(rx[a.n:])
		if k > 0 {
			p.last.Store(time.Now().UnixNano())
			if a.add(k, tx.Reply) {
				return a.total, nil
			}
		}
		if err != nil {
			return a.total, p.ioError(c, err)
		}
	}
}

// write writes b to c, within deadline.
func (p *serialPort) write(c *portConn, b []byte, deadline time.Time) error {
	if len(b) == 0 {
		return nil
	}
	c.f.SetWriteDeadline(deadline)
	n, err := c.f.Write(b)
	if n > 0 {
		p.last.Store(time.Now().UnixNano())
	}
	if err != nil {
		return p.ioError(c, err)
	}
	return nil
}

// assembler collects the bytes of a reply in rx for a Framer.
type assembler struct {
	rx    []byte
	n     int // rx[:n] is what the Framer has not dropped
	total int // bytes added in all
}

// add takes k bytes just read into rx[n:] and reports whether the reply is
// complete.
func (a *assembler) add(k int, f Framer) bool {
	a.n += k
	a.total += k
	drop, done := f.Frame(a.rx[:a.n])
	if done {
		return true
	}
	switch {
	case drop > 0:
		a.n = copy(a.rx, a.rx[min(drop, a.n):a.n])
	case a.n == len(a.rx):
		a.n = copy(a.rx, a.rx[a.n/2:a.n])
	}
	return false
}

// push adds b (bytes the reader read) and reports whether the reply is
// complete.
func (a *assembler) push(b []byte, f Framer) bool {
	for len(b) > 0 {
		k := copy(a.rx[a.n:], b)
		b = b[k:]
		if a.add(k, f) {
			return true
		}
	}
	return false
}

// pending is the exchange the reader serves on a port with a listener.
// Guarded by its mu: the reader and the exchange both use it.
type pending struct {
	mu     sync.Mutex
	active bool
	a      assembler
	f      Framer
	err    error         // the reader's, when the port failed
	done   chan struct{} // capacity 1: the reply is complete or err is set
}

// exchangeViaReader is Exchange on a port whose reader takes every byte: it
// hands the reader a buffer and a Framer, writes, and waits. The caller holds
// p.mu.
func (p *serialPort) exchangeViaReader(tx SerialTx, rx []byte, deadline time.Time) (int, error) {
	f := &p.feed
	select { // a completion left by an exchange that had given up
	case <-f.done:
	default:
	}
	if tx.Reply != nil {
		f.mu.Lock()
		f.active, f.a, f.f, f.err = true, assembler{rx: rx}, tx.Reply, nil
		f.mu.Unlock()
	}
	c, err := p.current()
	if err == nil {
		err = p.write(c, tx.Send, deadline)
	}
	if err != nil || tx.Reply == nil {
		p.endFeed()
		return 0, err
	}
	p.wake.Reset(time.Until(deadline))
	select {
	case <-f.done:
	case <-p.wake.C:
	}
	p.wake.Stop()
	f.mu.Lock()
	total, complete, ferr := f.a.total, !f.active && f.err == nil, f.err
	f.mu.Unlock()
	p.endFeed()
	switch {
	case complete:
		return total, nil
	case ferr != nil:
		return total, ferr
	}
	return total, ErrTimeout
}

func (p *serialPort) endFeed() {
	f := &p.feed
	f.mu.Lock()
	f.active, f.a, f.f = false, assembler{}, nil
	f.mu.Unlock()
}

// offer hands b, read by the reader, to the exchange it serves, if any.
func (p *serialPort) offer(b []byte) {
	f := &p.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.active || f.err != nil {
		return
	}
	if f.a.push(b, f.f) {
		f.active = false
		f.signal()
	}
}

// fail ends the exchange the reader serves with err.
func (p *serialPort) fail(err error) {
	f := &p.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.active && f.err == nil {
		f.err = err
		f.signal()
	}
}

func (f *pending) signal() {
	select {
	case f.done <- struct{}{}:
	default:
	}
}
