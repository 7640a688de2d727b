package device

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"sort"
	"time"

	"github.com/tinymapper/tinymapper/ringbuf"
)

// ErrRateLimited is wrapped by Sender errors that mean EdgeCore refused the
// call with its rate limiter ("too many request"). The reporter backs off.
var ErrRateLimited = errors.New("rate limited by EdgeCore")

// Reporter keeps twins and states current in EdgeCore. It is one goroutine:
// it looks at every device a few times a second and sends, one call per
// device, the changes (a device's changed twins, or its new state) in the
// order they happened, then the devices whose reportCycle passed (oldest
// first). Every call is paced by the Sender.
type Reporter struct {
	m    *Manager
	s    Sender
	log  *slog.Logger
	tick time.Duration

	seen    map[*running]*reportState
	gen     uint64 // scans so far; a state not seen in the latest is dropped
	list    []due  // what scan returns, reused
	scratch []byte
	twins   []Twin
	values  []float64 // the numbers behind twins
}

type reportState struct {
	key       string
	sent      map[*prop][]byte // last value sent per property
	sentValue map[*prop]float64
	seenLen   map[*prop]uint64 // ring length when last looked at
	lastSent  time.Time
	changedAt int64 // sample time of the oldest unsent change; 0 when none
	sentState string
	stateAt   int64  // when the unsent state change was first seen; 0 when none
	gen       uint64 // the last scan that found the device
}

// NewReporter returns a reporter for m's devices that sends through s.
func NewReporter(m *Manager, s Sender, log *slog.Logger) *Reporter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reporter{m: m, s: s, log: log, tick: 100 * time.Millisecond, seen: map[*running]*reportState{}}
}

type due struct {
	r     *running
	st    *reportState
	state bool  // the state changed
	at    int64 // change time, or heartbeat due time
	heart bool
}

// Run reports until ctx ends.
func (rp *Reporter) Run(ctx context.Context) error {
	t := time.NewTicker(rp.tick)
	defer t.Stop()
	backoff := time.Duration(0)
	failing := false
	for {
		list := rp.scan(rp.m.now())
		scanned := time.Now()
		for _, d := range list {
			if time.Since(scanned) > time.Second {
				break // rescan so that newer changes take their place in line
			}
			if err := rp.s.Wait(ctx); err != nil {
				return nil
			}
			err := rp.send(ctx, d)
			if err == nil {
				if failing {
					rp.log.Info("reporting to EdgeCore again")
				}
				failing, backoff = false, 0
				continue
			}
			if ctx.Err() != nil {
				return nil
			}
			backoff = min(max(2*backoff, time.Second), 30*time.Second)
			if errors.Is(err, ErrRateLimited) {
				rp.log.Warn("EdgeCore rate limit hit; backing off", "device", d.st.key, "wait", backoff)
			} else if !failing {
				rp.log.Warn("reporting to EdgeCore failed; retrying", "device", d.st.key, "err", err)
			}
			failing = true
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-rp.m.changed:
		}
	}
}

// Flush sends every device whose twins changed since the last report, until
// ctx ends. It is for shutdown.
func (rp *Reporter) Flush(ctx context.Context) int {
	n := 0
	for _, d := range rp.scan(rp.m.now()) {
		if d.heart {
			continue
		}
		if rp.s.Wait(ctx) != nil || rp.send(ctx, d) != nil {
			break
		}
		n++
	}
	return n
}

// scan finds the devices that are due, most urgent first. The slice it
// returns is reused: it is valid until the next scan.
func (rp *Reporter) scan(now time.Time) []due {
	rp.m.mu.RLock()
	rp.gen++
	list := rp.list[:0]
	var s ringbuf.Sample
	for key, r := range rp.m.devices {
		st := rp.seen[r]
		if st != nil {
			st.gen = rp.gen
		}
		if r.dev == nil {
			continue
		}
		if st == nil {
			st = &reportState{key: key, sent: map[*prop][]byte{}, sentValue: map[*prop]float64{}, seenLen: map[*prop]uint64{}, gen: rp.gen}
			rp.seen[r] = st
		}
		state := r.state.Load().(string)
		if state != st.sentState && state != StateUnknown {
			if st.stateAt == 0 {
				st.stateAt = now.UnixNano()
			}
			list = append(list, due{r: r, st: st, state: true, at: st.stateAt})
		}
		heartbeat := time.Duration(0)
		hasValue := false
		for _, p := range r.props {
			if !p.reportToCloud {
				continue
			}
			if heartbeat == 0 || p.reportCycle < heartbeat {
				heartbeat = p.reportCycle
			}
			n := p.ring.Len()
			if st.seenLen[p] == n {
				if st.sent[p] != nil {
					hasValue = true
				}
				continue
			}
			st.seenLen[p] = n
			if !latestGood(p.ring, &s) {
				continue
			}
			hasValue = true
			var ok bool
			rp.scratch, ok = AppendValue(rp.scratch[:0], p.typ, s.Value)
			changed := ok && !bytes.Equal(rp.scratch, st.sent[p])
			if changed && p.deadband > 0 && st.sent[p] != nil && math.Abs(s.Value-st.sentValue[p]) <= p.deadband {
				changed = false // within the deadband: wait for the heartbeat
			}
			if changed && st.changedAt == 0 {
				st.changedAt = s.Time
			}
		}
		switch {
		case !hasValue:
		case st.changedAt != 0:
			list = append(list, due{r: r, st: st, at: st.changedAt})
		case now.Sub(st.lastSent) >= heartbeat:
			list = append(list, due{r: r, st: st, at: st.lastSent.Add(heartbeat).UnixNano(), heart: true})
		}
	}
	rp.m.mu.RUnlock()
	for r, st := range rp.seen {
		if st.gen != rp.gen {
			delete(rp.seen, r)
		}
	}
	byUrgency(list)
	rp.list = list
	return list
}

// byUrgency orders what is due: changes first, twins and states alike,
// oldest first, so that under EdgeCore's limiter neither starves the other;
// heartbeats after, oldest due first.
func byUrgency(list []due) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.heart != b.heart {
			return !a.heart
		}
		return a.at < b.at
	})
}

// send makes one call for d, with the values as they are now.
func (rp *Reporter) send(ctx context.Context, d due) error {
	rp.m.mu.RLock()
	gone := rp.m.devices[d.st.key] != d.r || d.r.dev == nil
	ns, name := d.r.spec.Namespace, d.r.spec.Name // spec changes under the lock
	rp.m.mu.RUnlock()
	if gone {
		return nil // removed or replaced while we waited
	}
	if d.state {
		state := d.r.state.Load().(string)
		if err := rp.s.ReportState(ctx, ns, name, state); err != nil {
			return err
		}
		d.st.sentState = state
		d.st.stateAt = 0
		return nil
	}
	rp.twins = rp.twins[:0]
	rp.values = rp.values[:0]
	var s ringbuf.Sample
	for _, p := range d.r.props {
		if !p.reportToCloud || !latestGood(p.ring, &s) {
			continue
		}
		v, ok := FormatValue(p.typ, s.Value)
		if !ok {
			continue
		}
		rp.values = append(rp.values, s.Value)
		rp.twins = append(rp.twins, Twin{Property: p.name, Reported: v,
			ObservedDesired: p.desired.Load().(string), Type: p.typ, Time: time.Unix(0, s.Time)})
	}
	if len(rp.twins) == 0 {
		return nil
	}
	if err := rp.s.ReportStatus(ctx, ns, name, rp.twins); err != nil {
		return err
	}
	i := 0
	for _, p := range d.r.props {
		if i < len(rp.twins) && rp.twins[i].Property == p.name {
			d.st.sent[p] = append(d.st.sent[p][:0], rp.twins[i].Reported...)
			d.st.sentValue[p] = rp.values[i]
			i++
		}
	}
	d.st.lastSent = rp.m.now()
	d.st.changedAt = 0
	return nil
}
