package sink

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// dest is one destination: its client, its buffer, the goroutine that
// drains the buffer, and its figures.
type dest struct {
	key    string
	client Client
	buf    *Buffer
	sp     *spool // nil without push.spool; the goroutine owns it
	opt    Options
	log    *slog.Logger

	kick   chan struct{}
	cancel context.CancelFunc
	ctx    context.Context
	stopMu sync.Once

	sent, failed atomic.Uint64
	rejected     atomic.Uint64
	err          atomic.Pointer[string]
	spoolErr     atomic.Pointer[string]
}

// Stats are one destination's figures, as /metrics shows them.
type Stats struct {
	Destination string // the key: "mqtt tcp://127.0.0.1:1883"
	// Sent counts samples delivered; Failed counts delivery attempts that
	// failed (each is retried, unless the server rejected it); Dropped
	// counts samples lost: pushed out of a full buffer, lapped in the ring,
	// or rejected by the server.
	Sent, Failed, Dropped uint64
	// Buffered is how many samples wait in memory, Spooled how many on
	// disk (push.spool); Lag is how old the oldest is.
	Buffered, Spooled int
	Lag               time.Duration
	// Error is the latest failure, "" once a send succeeds, and the
	// spool's disk error if it has one (it then stays).
	Error string
}

func newDest(key string, c Client, opt Options) *dest {
	ctx, cancel := context.WithCancel(context.Background())
	d := &dest{key: key, client: c, buf: NewBuffer(opt.Buffer), opt: opt,
		log: opt.Log.With("destination", key), kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
	if opt.SpoolDir != "" {
		d.sp = newSpool(spoolDir(opt.SpoolDir, key), opt.SpoolBytes, opt.Batch)
		d.buf.setSpill(uint64(max(opt.Buffer, spillRoom)))
	}
	return d
}

func (d *dest) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *dest) stop() { d.stopMu.Do(d.cancel) }

func (d *dest) lastError() string {
	e, se := d.err.Load(), d.spoolErr.Load()
	switch {
	case e != nil && se != nil:
		return *e + "; " + *se
	case e != nil:
		return *e
	case se != nil:
		return *se
	}
	return ""
}

func (d *dest) sendError() string {
	if e := d.err.Load(); e != nil {
		return *e
	}
	return ""
}

// dropped returns how many samples were lost in all.
func (d *dest) dropped() uint64 {
	_, _, n := d.buf.state()
	n += d.rejected.Load()
	if d.sp != nil {
		n += d.sp.dropped.Load()
	}
	return n
}

func (d *dest) stats() Stats {
	n, oldest, _ := d.buf.state()
	s := Stats{Destination: d.key, Sent: d.sent.Load(), Failed: d.failed.Load(),
		Dropped: d.dropped(), Buffered: n, Error: d.lastError()}
	if d.sp != nil {
		if s.Spooled = d.sp.len(); s.Spooled > 0 {
			oldest = d.sp.oldest.Load()
		}
	}
	if n+s.Spooled > 0 {
		s.Lag = max(0, time.Since(time.Unix(0, oldest)))
	}
	return s
}

// openSpool opens the destination's spool; if it cannot, the destination
// runs without.
func (d *dest) openSpool() {
	if d.sp == nil {
		return
	}
	if err := d.sp.open(); err != nil {
		d.spoolFailed(d.sp.fail(err))
	}
}

// spoolFailed logs a disk error once, shows it in the destination's error,
// and falls back to dropping the oldest samples of a full buffer.
func (d *dest) spoolFailed(err error) {
	d.buf.setSpill(0)
	if d.spoolErr.Load() != nil {
		return
	}
	msg := err.Error() + " (the spool is off: a full buffer drops its oldest samples)"
	d.spoolErr.Store(&msg)
	d.log.Error("push spool failed; samples are buffered in memory only", "err", err)
}

// spill moves what exceeds the buffer's limit to the spool, oldest first.
func (d *dest) spill(batch []Record) {
	if d.sp == nil || d.sp.err != nil {
		return
	}
	for {
		from, n := d.buf.over(batch)
		if n == 0 {
			return
		}
		k, err := d.sp.append(batch[:n])
		clear(batch[:n])
		d.buf.finish(from, k)
		if err != nil {
			d.spoolFailed(err)
			return
		}
	}
}

// peek returns the oldest records: the spool's, older than any in the
// buffer, then the buffer's.
func (d *dest) peek(batch []Record) (from uint64, n int, spooled bool) {
	if d.sp != nil && d.sp.len() > 0 {
		if n := d.sp.read(batch); n > 0 {
			return 0, n, true
		}
	}
	from, n = d.buf.peek(batch)
	return from, n, false
}

// finish consumes the first handled records of what peek returned.
func (d *dest) finish(from uint64, handled int, spooled bool) {
	if spooled {
		d.sp.commit(handled)
		return
	}
	d.buf.finish(from, handled)
}

// run drains the buffer into the client until parent or the destination
// is stopped; then it gives the client a second to send what is left, and
// closes it.
func (d *dest) run(parent context.Context) {
	defer d.client.Close()
	d.openSpool()
	if d.sp != nil {
		defer d.sp.close()
	}
	go func() {
		select {
		case <-parent.Done():
			d.stop()
		case <-d.ctx.Done():
		}
	}()
	batch := make([]Record, d.opt.Batch)
	backoff := time.Duration(0)
	down := false
	var droppedAtDown uint64
	for {
		d.spill(batch)
		from, n, spooled := d.peek(batch)
		if n == 0 {
			select {
			case <-d.ctx.Done():
				return
			case <-d.kick:
			}
			continue
		}
		if d.ctx.Err() != nil {
			d.finish(from, 0, spooled)
			d.flush(batch)
			return
		}
		k, err := d.client.Send(d.ctx, batch[:n])
		clear(batch[:n])
		k = max(0, min(k, n))
		if err == nil {
			k = n
		}
		d.sent.Add(uint64(k))
		switch {
		case err == nil:
			d.finish(from, n, spooled)
			if down {
				d.log.Info("push destination delivering again", "dropped_meanwhile", d.dropped()-droppedAtDown)
				down = false
			}
			d.err.Store(nil)
			backoff = 0
			continue
		case errors.Is(err, ErrRejected) && k < n:
			d.finish(from, k+1, spooled)
			d.failed.Add(1)
			d.rejected.Add(1)
			msg := err.Error()
			if d.sendError() != msg {
				d.log.Warn("push destination rejected a sample; it is dropped (logged once per distinct error)", "err", msg)
			}
			d.err.Store(&msg)
			continue
		}
		d.finish(from, k, spooled)
		d.failed.Add(1)
		msg := err.Error()
		d.err.Store(&msg)
		if !down {
			down = true
			droppedAtDown = d.dropped()
			what := "the oldest are dropped when the buffer is full"
			if d.sp != nil && d.sp.err == nil {
				what = "what the buffer cannot hold goes to the spool on disk"
			}
			d.log.Warn("push destination failing; samples are buffered ("+what+")",
				"buffer", d.opt.Buffer, "err", msg)
		}
		backoff = min(max(2*backoff, 100*time.Millisecond), d.opt.MaxBackoff)
		d.wait(backoff, batch)
	}
}

// wait waits for d, moving to the spool what the pump brings meanwhile.
func (d *dest) wait(dt time.Duration, batch []Record) {
	t := time.NewTimer(dt)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
			return
		case <-d.kick:
			d.spill(batch)
		}
	}
}

// flush tries once more, for a second, to send what the buffer holds.
func (d *dest) flush(batch []Record) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for ctx.Err() == nil {
		from, n, spooled := d.peek(batch)
		if n == 0 {
			return
		}
		k, err := d.client.Send(ctx, batch[:n])
		if err == nil {
			k = n
		}
		k = max(0, min(k, n))
		d.finish(from, k, spooled)
		d.sent.Add(uint64(k))
		if err != nil {
			return
		}
	}
}
