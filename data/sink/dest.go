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
	opt    Options
	log    *slog.Logger

	kick   chan struct{}
	cancel context.CancelFunc
	ctx    context.Context
	stopMu sync.Once

	sent, failed atomic.Uint64
	rejected     atomic.Uint64
	err          atomic.Pointer[string]
}

// Stats are one destination's figures, as /metrics shows them.
type Stats struct {
	Destination string // the key: "mqtt tcp://127.0.0.1:1883"
	// Sent counts samples delivered; Failed counts delivery attempts that
	// failed (each is retried, unless the server rejected it); Dropped
	// counts samples lost: pushed out of a full buffer, lapped in the ring,
	// or rejected by the server.
	Sent, Failed, Dropped uint64
	// Buffered is how many samples wait; Lag is how old the oldest is.
	Buffered int
	Lag      time.Duration
	// Error is the latest failure, "" once a send succeeds.
	Error string
}

func newDest(key string, c Client, opt Options) *dest {
	ctx, cancel := context.WithCancel(context.Background())
	return &dest{key: key, client: c, buf: NewBuffer(opt.Buffer), opt: opt,
		log: opt.Log.With("destination", key), kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
}

func (d *dest) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *dest) stop() { d.stopMu.Do(d.cancel) }

func (d *dest) lastError() string {
	if e := d.err.Load(); e != nil {
		return *e
	}
	return ""
}

func (d *dest) stats() Stats {
	n, oldest, dropped := d.buf.state()
	s := Stats{Destination: d.key, Sent: d.sent.Load(), Failed: d.failed.Load(),
		Dropped: dropped + d.rejected.Load(), Buffered: n, Error: d.lastError()}
	if n > 0 {
		s.Lag = max(0, time.Since(time.Unix(0, oldest)))
	}
	return s
}

// run drains the buffer into the client until parent or the destination
// is stopped; then it gives the client a second to send what is left, and
// closes it.
func (d *dest) run(parent context.Context) {
	defer d.client.Close()
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
		from, n := d.buf.peek(batch)
		if n == 0 {
			select {
			case <-d.ctx.Done():
				return
			case <-d.kick:
			}
			continue
		}
		if d.ctx.Err() != nil {
			d.buf.finish(from, 0)
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
			d.buf.finish(from, n)
			if down {
				_, _, dropped := d.buf.state()
				d.log.Info("push destination delivering again", "dropped_meanwhile", dropped-droppedAtDown)
				down = false
			}
			d.err.Store(nil)
			backoff = 0
			continue
		case errors.Is(err, ErrRejected) && k < n:
			d.buf.finish(from, k+1)
			d.failed.Add(1)
			d.rejected.Add(1)
			msg := err.Error()
			if d.lastError() != msg {
				d.log.Warn("push destination rejected a sample; it is dropped (logged once per distinct error)", "err", msg)
			}
			d.err.Store(&msg)
			continue
		}
		d.buf.finish(from, k)
		d.failed.Add(1)
		msg := err.Error()
		d.err.Store(&msg)
		if !down {
			down = true
			_, _, droppedAtDown = d.buf.state()
			d.log.Warn("push destination failing; samples are buffered (the oldest are dropped when the buffer is full)",
				"buffer", d.opt.Buffer, "err", msg)
		}
		backoff = min(max(2*backoff, 100*time.Millisecond), d.opt.MaxBackoff)
		select {
		case <-d.ctx.Done():
		case <-time.After(backoff):
		}
	}
}

// flush tries once more, for a second, to send what the buffer holds.
func (d *dest) flush(batch []Record) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for ctx.Err() == nil {
		from, n := d.buf.peek(batch)
		if n == 0 {
			return
		}
		k, err := d.client.Send(ctx, batch[:n])
		if err == nil {
			k = n
		}
		k = max(0, min(k, n))
		d.buf.finish(from, k)
		d.sent.Add(uint64(k))
		if err != nil {
			return
		}
	}
}
