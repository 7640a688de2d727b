package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
)

// client is one broker's session: at most one connection, used by Send
// (the destination's goroutine) and by the keep-alive timer, one at a time
// under mu.
type client struct {
	broker string // "tcp://host:port" or "ssl://host:port"
	id     string
	k      Kind

	mu       sync.Mutex
	nc       net.Conn // nil when not connected
	closed   bool
	conns    int       // connections made, for tests
	lastSent time.Time // of the latest packet written on nc
	ping     *time.Timer

	out   []byte // the batch's packets, reused
	pay   []byte // one payload, reused
	in    [4096]byte
	r, w  int // in[r:w] is read and not parsed yet
	lowat int // the socket's SO_RCVLOWAT
	// lastChance allows next one short read past the deadline (drain:
	// in it, with no wait for more bytes).
	lastChance, drain bool
	// The flush under way: its context, final deadline and nudge.
	ctx   context.Context
	final time.Time
	nudge time.Duration

	// The write in flight: packet id i+1 is record slot[i] of the batch
	// and state[i] says how far it got.
	slot   []int32
	state  []byte
	done   []bool // per record: acknowledged as its QoS requires
	relbuf []byte // PUBRELs to write
}

// How far a QoS 1 or 2 publish got.
const (
	waitAck1 = iota // QoS 1: PUBACK due
	waitRec         // QoS 2: PUBREC due
	waitComp        // QoS 2: PUBREL sent, PUBCOMP due
	acked
)

var stateNames = [...]string{"PUBACK due", "PUBREC due", "PUBCOMP due", "already acknowledged"}

var errTimeout = errors.New("timed out")

// maxNudge is the longest wait for acknowledgements without a nudge (see
// next); Linux delays an ACK by 40 ms at least.
const maxNudge = 16 * time.Millisecond

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// connect dials the broker, sends CONNECT and reads the CONNACK, within
// the connect timeout (or ctx's deadline if earlier).
func (c *client) connect(ctx context.Context) error {
	deadline := time.Now().Add(c.k.connectTimeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	user, password, err := c.k.login(c.broker)
	if err != nil {
		return err
	}
	scheme, addr, _ := strings.Cut(c.broker, "://")
	var nc net.Conn
	switch {
	case c.k.dial != nil:
		nc, err = c.k.dial(ctx, addr)
	case scheme == "ssl":
		host, _, _ := net.SplitHostPort(addr)
		cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if c.k.tls != nil {
			cfg = c.k.tls.Clone()
		}
		nc, err = (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", addr)
	default:
		nc, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	nc.SetDeadline(deadline)
	c.out = appendConnect(c.out[:0], c.id, user, password, uint16(c.k.keepAlive()/time.Second))
	if _, err := nc.Write(c.out); err != nil {
		nc.Close()
		return ctxErr(ctx, err)
	}
	c.nc, c.r, c.w = nc, 0, 0
	c.lowat = 1 // a new socket's
	c.lastChance, c.drain, c.final, c.ctx = false, false, time.Time{}, ctx
	p, err := c.next(4)
	if err == nil && p.typ != typeConnack {
		err = fmt.Errorf("%w: %s before CONNACK", errMalformed, typeNames[p.typ])
	}
	if err == nil {
		err = connackError(p.code)
	}
	if err != nil {
		c.drop()
		if errors.Is(err, errTimeout) {
			return errors.New("no CONNACK within the connect timeout")
		}
		return ctxErr(ctx, err)
	}
	c.lastSent = time.Now()
	c.conns++
	if c.ping == nil {
		c.ping = time.AfterFunc(c.k.keepAlive()/2, c.keepAlive)
	} else {
		c.ping.Reset(c.k.keepAlive() / 2)
	}
	return nil
}

// ctxErr prefers ctx's error to the one a deadline it set caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// drop closes the connection without a DISCONNECT: the broker is gone,
// or broke the protocol, or is too slow.
func (c *client) drop() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

// next returns the next packet from the broker, reading when in holds
// none. Before a read it writes the PUBRELs queued in relbuf; the read
// waits for want bytes (all the packets due), not fewer (see waitFor),
// but until c.final it wakes after 1, 2, 4 ... maxNudge ms without them
// to acknowledge what came (a broker with Nagle on sends its next
// PUBACKs only then).
// When the conn's deadline passes, a last read of at most a millisecond
// takes what did arrive, if c.lastChance; then it is errTimeout.
func (c *client) next(want int) (packet, error) {
	for {
		p, n, err := parse(c.in[c.r:c.w])
		if err != nil {
			return p, err
		}
		if n > 0 {
			c.r += n
			return p, nil
		}
		if c.r > 0 { // keep the partial packet at the start
			c.w = copy(c.in[:], c.in[c.r:c.w])
			c.r = 0
		}
		if len(c.relbuf) > 0 {
			_, err := c.nc.Write(c.relbuf)
			c.relbuf = c.relbuf[:0]
			if err != nil {
				return p, fmt.Errorf("connection lost: %w", err)
			}
		}
		if c.drain {
			want = 1
		}
		waitFor(c.nc, max(1, min(want-c.w, len(c.in)-c.w)), &c.lowat)
		m, err := c.nc.Read(c.in[c.w:])
		c.w += m
		if m > 0 {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if now := time.Now(); now.Before(c.final) && c.ctx.Err() == nil {
				// A nudge: waitFor's TCP_QUICKACK sends the ACK a
				// broker with Nagle on waits for.
				c.nudge = min(2*c.nudge, maxNudge)
				c.nc.SetReadDeadline(minTime(now.Add(c.nudge), c.final))
				continue
			}
			if c.lastChance {
				c.lastChance, c.drain = false, true
				c.nc.SetReadDeadline(time.Now().Add(time.Millisecond))
				continue
			}
			return p, errTimeout
		}
		if err == nil {
			err = errors.New("empty read")
		}
		return p, fmt.Errorf("connection lost: %w", err)
	}
}

// keepAlive runs on the timer every half keep-alive period: when nothing
// was written for that long it sends PINGREQ and waits for PINGRESP, so
// that the broker keeps an idle session and a dead connection is found
// before the next batch.
func (c *client) keepAlive() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.nc == nil {
		return
	}
	half := c.k.keepAlive() / 2
	if idle := time.Since(c.lastSent); idle < half {
		c.ping.Reset(half - idle)
		return
	}
	c.nc.SetDeadline(time.Now().Add(c.k.ackTimeout()))
	c.lastChance, c.drain, c.final, c.ctx = false, false, time.Time{}, context.Background()
	_, err := c.nc.Write([]byte{typePingreq << 4, 0})
	var p packet
	if err == nil {
		p, err = c.next(2)
	}
	if err == nil && p.typ != typePingresp {
		err = fmt.Errorf("%w: %s with no batch in flight", errMalformed, typeNames[p.typ])
	}
	if err != nil {
		c.drop() // the next Send connects again
		return
	}
	c.lastSent = time.Now()
	c.ping.Reset(half)
}

// Send writes the batch's PUBLISH packets in one write, then reads
// acknowledgements until every QoS 1 and 2 record is acknowledged or the
// ack timeout passes (one deadline on the conn for the whole batch). It
// returns how many of the first records were delivered: at QoS 0, written
// is delivered.
func (c *client) Send(ctx context.Context, recs []sink.Record) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, errors.New("client closed")
	}
	if c.nc == nil {
		if err := c.connect(ctx); err != nil {
			return 0, fmt.Errorf("connect to %s: %w", c.broker, err)
		}
	}
	n, err := c.publish(ctx, recs)
	if err != nil {
		if !errors.Is(err, sink.ErrRejected) {
			c.drop()
		}
		return n, fmt.Errorf("publish to %s: %w", c.broker, err)
	}
	return n, nil
}

// maxChunk is how many records one write carries at most: packet ids are
// 16 bits, and the write buffer stays bounded whatever the batch size.
const maxChunk = 4096

func (c *client) publish(ctx context.Context, recs []sink.Record) (int, error) {
	c.done = append(c.done[:0], make([]bool, len(recs))...)
	for from := 0; from < len(recs); from += maxChunk {
		if err := c.encode(ctx, recs, from, min(len(recs), from+maxChunk)); err != nil {
			return c.delivered(), err
		}
	}
	return c.delivered(), nil
}

// encode encodes recs[from:to] into c.out and flushes it. Records at QoS
// 1 or 2 take the packet ids 1, 2, ... in order: all of them are
// acknowledged, or the connection is dropped, before the next write.
func (c *client) encode(ctx context.Context, recs []sink.Record, from, to int) error {
	c.slot, c.state = c.slot[:0], c.state[:0]
	c.out = c.out[:0]
	for i := from; i < to; i++ {
		r := recs[i]
		o := r.B.Opts.(opts)
		c.pay = sink.AppendJSON(c.pay[:0], r)
		if len(o.topic)+len(c.pay)+4 > maxPublish {
			// Only with names no Device can have; say so and drop it.
			if err := c.flush(ctx); err != nil {
				return err
			}
			return fmt.Errorf("%w: a message of %d bytes to %q is larger than %d", sink.ErrRejected, len(o.topic)+len(c.pay), o.topic, maxPublish)
		}
		id := uint16(0)
		switch o.qos {
		case 0:
			c.done[i] = true
		default:
			id = uint16(len(c.slot) + 1)
			c.slot = append(c.slot, int32(i))
			c.state = append(c.state, waitAck1+o.qos-1)
		}
		c.out = appendPublish(c.out, o.topic, o.qos, o.retained, id, c.pay)
	}
	return c.flush(ctx)
}

// flush writes c.out in one write and reads acknowledgements until every
// id in c.state is acked, under one deadline on the conn: the ack timeout
// or ctx's deadline, whichever is first; ctx's end cuts it short.
func (c *client) flush(ctx context.Context) error {
	if len(c.out) == 0 {
		return nil
	}
	deadline := time.Now().Add(c.k.ackTimeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.nc.SetDeadline(deadline)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	_, err := c.nc.Write(c.out)
	c.out = c.out[:0]
	if err != nil {
		return ctxErr(ctx, err)
	}
	c.lastSent = time.Now()
	pending := len(c.state)
	c.lastChance, c.drain, c.final, c.ctx, c.nudge = true, false, deadline, ctx, time.Millisecond
	c.nc.SetReadDeadline(minTime(time.Now().Add(c.nudge), deadline))
	defer func() { c.ctx = nil }()
	for pending > 0 {
		p, err := c.next(4 * pending)
		if err == nil {
			var done bool
			done, err = c.ack(p)
			if done {
				pending--
			}
		}
		if err != nil {
			c.relbuf = c.relbuf[:0]
			if errors.Is(err, errTimeout) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("%d of %d acknowledgements missing after %v", pending, len(c.state), time.Since(c.lastSent).Round(time.Millisecond))
			}
			return ctxErr(ctx, err)
		}
	}
	return nil
}

// ack applies one packet from the broker to the write in flight; done
// says a record is now acknowledged as its QoS requires. A PUBREC queues
// a PUBREL in relbuf.
func (c *client) ack(p packet) (done bool, err error) {
	switch p.typ {
	case typePingresp: // the answer to a ping sent before this batch
		return false, nil
	case typeConnack:
		return false, fmt.Errorf("%w: CONNACK on a connected session", errMalformed)
	}
	k := int(p.id) - 1
	if k < 0 || k >= len(c.state) {
		return false, fmt.Errorf("%w: %s for packet id %d, which is not in flight", errMalformed, typeNames[p.typ], p.id)
	}
	switch {
	case p.typ == typePubrec && c.state[k] == waitRec:
		c.state[k] = waitComp
		c.relbuf = appendPubrel(c.relbuf, p.id)
		return false, nil
	case p.typ == typePuback && c.state[k] == waitAck1, p.typ == typePubcomp && c.state[k] == waitComp:
		c.state[k] = acked
		c.done[c.slot[k]] = true
		return true, nil
	}
	return false, fmt.Errorf("%w: unexpected %s for packet id %d (%s)", errMalformed, typeNames[p.typ], p.id, stateNames[c.state[k]])
}

// delivered is how many of the batch's first records are acknowledged.
func (c *client) delivered() int {
	for i, d := range c.done {
		if !d {
			return i
		}
	}
	return len(c.done)
}

// Close sends DISCONNECT (so that the broker drops the session without
// publishing a will) and closes the connection.
func (c *client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.ping != nil {
		c.ping.Stop()
	}
	if c.nc != nil {
		c.nc.SetDeadline(time.Now().Add(250 * time.Millisecond))
		c.nc.Write([]byte{typeDisconn << 4, 0})
		c.drop()
	}
	return nil
}
