package device

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/tinymapper/tinymapper/ringbuf"
)

// ErrRateLimited is wrapped by Sender errors that mean EdgeCore refused the
// call with its rate limiter ("too many request"). The reporter backs off.
var ErrRateLimited = errors.New("rate limited by EdgeCore")

// Reporter keeps twins and states current in EdgeCore. Its Run is one
// goroutine: it looks at every device a few times a second and sends, one call per
// device, what the cloud waits for first: a new observedDesired (a write's
// acknowledgement), a device's first twins, a new state; then ordinary
// changes of twins, oldest first; then the devices whose reportCycle passed,
// oldest first (see byUrgency). Every call is paced by the Sender, and what
// it carries is picked once the Sender lets it go: after a long Wait the
// devices are scanned again, so that a write acknowledged meanwhile goes in
// the next call, not behind the changes already in line.
//
// When the Sender lets calls go faster than one round trip (an unpaced
// Sender, or a burst), up to SetParallel's number of calls (DefaultParallel)
// are in flight at once, from goroutines that live for one round, issued in
// queue order: one connection carrying several calls wakes fewer goroutines
// and makes fewer system calls per call than one call at a time.
type Reporter struct {
	m    *Manager
	s    Sender
	log  *slog.Logger
	tick time.Duration

	seen    map[string]*reportState // by device key
	gen     uint64                  // scans so far; a state not seen in the latest is dropped
	list    []due                   // what scan returns, reused
	scratch []byte
	bufs    []*callBuf // one per call in flight, reused
}

// DefaultParallel is how many calls a Reporter has in flight at most.
const DefaultParallel = 8

// callBuf is the scratch space of one call.
type callBuf struct {
	twins  []Twin
	values []float64 // the numbers behind twins
	text   []byte    // the twins' values, formatted one after the other
	ends   []int     // where each twin's value ends in text
}

// result is the outcome of one call.
type result struct {
	d   due
	err error
}

type reportState struct {
	key       string
	run       uint64       // the opening of the device these props are of (entry.run)
	props     []propReport // by position in the device's props, which never change
	lastSent  time.Time
	changedAt int64 // sample time of the oldest unsent change; 0 when none
	sentState string
	stateAt   int64     // when the unsent state change was first seen; 0 when none
	desiredAt int64     // when an unsent observedDesired was first seen; 0 when none
	stateSent time.Time // when the state was last sent, for stateReport.reportCycle
	gen       uint64    // the last scan that found the device
}

// propReport is what the reporter knows of one property.
type propReport struct {
	sent      []byte // the last value sent; nil before the first
	sentValue float64
	// sentDesired is the observedDesired last sent (strings are immutable:
	// keeping one copies no bytes).
	sentDesired string
	seenLen     uint64 // ring length when last looked at
}

// NewReporter returns a reporter for m's devices that sends through s.
func NewReporter(m *Manager, s Sender, log *slog.Logger) *Reporter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rp := &Reporter{m: m, s: s, log: log, tick: 100 * time.Millisecond, seen: map[string]*reportState{}}
	rp.SetParallel(DefaultParallel)
	return rp
}

// SetParallel sets how many calls may be in flight at once (at least 1).
// Call it before Run.
func (rp *Reporter) SetParallel(n int) {
	rp.bufs = rp.bufs[:0]
	for range max(n, 1) {
		rp.bufs = append(rp.bufs, &callBuf{})
	}
}

type due struct {
	e     *entry
	st    *reportState
	class class
	state bool  // a state call, not a twins call
	at    int64 // when the change was first seen, or the heartbeat due time
}

// heart reports whether d is only a heartbeat.
func (d due) heart() bool { return d.class == dueHeartbeat }

// A class is how urgent a due device is, most urgent first: what the cloud
// waits for goes ahead of sensor noise (issue 10, defect 9).
type class uint8

const (
	// dueDesired: a property's observedDesired differs from the one last
	// sent, such as a write's acknowledgement.
	dueDesired class = iota
	// dueFirst: the device's first twins since it opened.
	dueFirst
	// dueState: the device's state changed.
	dueState
	// dueChange: twins changed.
	dueChange
	// dueHeartbeat: twins or a state whose reportCycle passed.
	dueHeartbeat
)

// Run reports until ctx ends. It never fails: a failed call is retried
// with back-off, and logged once per outage.
func (rp *Reporter) Run(ctx context.Context) {
	t := time.NewTicker(rp.tick)
	defer t.Stop()
	backoff := time.Duration(0)
	failing := false
	for {
		// After a second of sending, scan again so that newer changes take
		// their place in line.
		sent, failed := rp.sendAll(ctx, rp.scan(rp.m.now()), time.Second, false)
		if ctx.Err() != nil {
			return
		}
		if failed.err == nil && sent > 0 && failing {
			rp.log.Info("reporting to EdgeCore again")
			failing, backoff = false, 0
		}
		if failed.err != nil {
			backoff = min(max(2*backoff, time.Second), 30*time.Second)
			if errors.Is(failed.err, ErrRateLimited) {
				rp.log.Warn("EdgeCore rate limit hit; backing off", "device", failed.d.st.key, "wait", backoff)
			} else if !failing {
				rp.log.Warn("reporting to EdgeCore failed; retrying", "device", failed.d.st.key, "err", failed.err)
			}
			failing = true
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-rp.m.changed:
		}
	}
}

// Flush sends every device whose twins changed since the last report, until
// ctx ends. It is for shutdown.
func (rp *Reporter) Flush(ctx context.Context) int {
	n, _ := rp.sendAll(ctx, rp.scan(rp.m.now()), time.Duration(math.MaxInt64), true)
	return n
}

// sendAll sends what list holds, in its order, each call after the Sender's
// Wait, with up to len(rp.bufs) calls in flight. When a Wait took a tick or
// more, what it lets go is picked again: the calls in flight are let finish
// and the devices scanned anew, so that what was urgent while the reporter
// waited goes first. It stops at the first failure, when ctx ends, or once
// budget has passed, and returns when every call it made has returned: how
// many succeeded, and the first that failed. changesOnly skips heartbeats.
func (rp *Reporter) sendAll(ctx context.Context, list []due, budget time.Duration, changesOnly bool) (sent int, failed result) {
	start := rp.m.now()
	scanned := start
	pos := 0
	next := func() (due, bool) {
		for pos < len(list) {
			d := list[pos]
			pos++
			if !changesOnly || !d.heart() {
				return d, true
			}
		}
		return due{}, false
	}
	k := min(len(rp.bufs), len(list))
	var (
		jobs     chan due
		results  chan result
		wg       sync.WaitGroup
		inflight int
	)
	if k > 1 {
		jobs, results = make(chan due), make(chan result, k)
		for _, b := range rp.bufs[:k] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for d := range jobs {
					results <- result{d, rp.send(ctx, d, b)}
				}
			}()
		}
	}
	collect := func() {
		r := <-results
		inflight--
		switch {
		case r.err == nil:
			sent++
		case failed.err == nil:
			failed = r
		}
	}
	for failed.err == nil {
		d, ok := next()
		if !ok || rp.m.now().Sub(start) > budget || rp.s.Wait(ctx) != nil {
			break
		}
		if now := rp.m.now(); now.Sub(scanned) >= rp.tick {
			// The Wait was long: pick again from what is due now. The
			// report state is the scan's once no call is in flight.
			for inflight > 0 {
				collect()
			}
			if failed.err != nil {
				break
			}
			list, pos, scanned = rp.scan(now), 0, now
			if d, ok = next(); !ok {
				break
			}
		}
		if k <= 1 {
			if err := rp.send(ctx, d, rp.bufs[0]); err != nil {
				failed = result{d, err}
				break
			}
			sent++
			continue
		}
		for inflight == k {
			collect()
		}
		if failed.err != nil {
			break
		}
		// inflight < k workers hold a call, so one is free to take d.
		jobs <- d
		inflight++
	}
	if k > 1 {
		close(jobs)
		for inflight > 0 {
			collect()
		}
		wg.Wait()
	}
	return sent, failed
}

// scan finds the devices that are due, most urgent first, in the latest
// snapshot of the devices. The slice it returns is reused: it is valid until
// the next scan.
func (rp *Reporter) scan(now time.Time) []due {
	rp.gen++
	list := rp.list[:0]
	var s ringbuf.Sample
	for _, e := range rp.m.entries() {
		st := rp.seen[e.key]
		if st != nil {
			st.gen = rp.gen
		}
		if e.dev == nil && !e.waitingForHardware() {
			continue // waiting for its model: nothing to say yet
		}
		if st == nil || st.run != e.run || len(st.props) != len(e.props) {
			st = &reportState{key: e.key, run: e.run, props: make([]propReport, len(e.props)), gen: rp.gen}
			rp.seen[e.key] = st
		}
		// spec.stateReport: unset, states go as they change; reportToCloud
		// false, they never go; a reportCycle sends an unchanged one again.
		state, sr := e.st.State(), e.spec.StateReport
		switch {
		case sr != nil && !sr.ReportToCloud, state == StateUnknown:
		case state != st.sentState:
			if st.stateAt == 0 {
				st.stateAt = now.UnixNano()
			}
			list = append(list, due{e: e, st: st, class: dueState, state: true, at: st.stateAt})
		case sr != nil && sr.ReportCycle > 0 && now.Sub(st.stateSent) >= sr.ReportCycle:
			list = append(list, due{e: e, st: st, class: dueHeartbeat, state: true, at: st.stateSent.Add(sr.ReportCycle).UnixNano()})
		}
		heartbeat := time.Duration(0)
		hasValue, desired := false, false
		for i, p := range e.props {
			if !p.reportToCloud {
				continue
			}
			if heartbeat == 0 || p.reportCycle < heartbeat {
				heartbeat = p.reportCycle
			}
			pr := &st.props[i]
			// A new observedDesired goes with the next call, if the
			// property has a value read since its write began to send it
			// with (see send).
			if !desired && p.Desired() != pr.sentDesired && latestGood(p.ring, &s) && p.acknowledges(&s) {
				rp.scratch, desired = AppendValue(rp.scratch[:0], p.typ, s.Value)
			}
			n := p.ring.Len()
			if pr.seenLen == n {
				if pr.sent != nil {
					hasValue = true
				}
				continue
			}
			pr.seenLen = n
			if !latestGood(p.ring, &s) {
				continue
			}
			hasValue = true
			var ok bool
			rp.scratch, ok = AppendValue(rp.scratch[:0], p.typ, s.Value)
			changed := ok && !bytes.Equal(rp.scratch, pr.sent)
			if changed && p.deadband > 0 && pr.sent != nil && math.Abs(s.Value-pr.sentValue) <= p.deadband {
				changed = false // within the deadband: wait for the heartbeat
			}
			if changed && st.changedAt == 0 {
				st.changedAt = s.Time
			}
		}
		if !desired {
			st.desiredAt = 0
		} else if st.desiredAt == 0 {
			st.desiredAt = now.UnixNano()
		}
		switch {
		case !hasValue:
		case desired:
			list = append(list, due{e: e, st: st, class: dueDesired, at: st.desiredAt})
		case st.changedAt != 0 && st.lastSent.IsZero():
			list = append(list, due{e: e, st: st, class: dueFirst, at: st.changedAt})
		case st.changedAt != 0:
			list = append(list, due{e: e, st: st, class: dueChange, at: st.changedAt})
		case now.Sub(st.lastSent) >= heartbeat:
			list = append(list, due{e: e, st: st, class: dueHeartbeat, at: st.lastSent.Add(heartbeat).UnixNano()})
		}
	}
	for key, st := range rp.seen {
		if st.gen != rp.gen {
			delete(rp.seen, key)
		}
	}
	byUrgency(list)
	rp.list = list
	return list
}

// byUrgency orders what is due by class, then oldest first: a new
// observedDesired (a write's acknowledgement), a device's first twins and a
// state change, which the cloud waits for, go ahead of ordinary changes of
// twins, which go ahead of heartbeats. Under EdgeCore's limiter, with
// devices changing faster than the pacing sends, a write is acknowledged in
// the next call instead of after every device that changed before it.
func byUrgency(list []due) {
	slices.SortStableFunc(list, func(a, b due) int {
		if c := cmp.Compare(a.class, b.class); c != 0 {
			return c
		}
		return cmp.Compare(a.at, b.at)
	})
}

// send makes one call for d, with the values as they are now, building it
// in b. Calls for different devices may run at once.
func (rp *Reporter) send(ctx context.Context, d due, b *callBuf) error {
	// A device waiting for its hardware has a state (offline) and no twins.
	ns, name := d.e.spec.Namespace, d.e.spec.Name
	now := rp.m.lookup(ns, name)
	if now == nil || now.run != d.e.run || now.st != d.e.st || (d.e.dev == nil && !d.state) {
		return nil // removed or replaced while we waited
	}
	if d.state {
		state := d.e.st.State()
		if err := rp.s.ReportState(ctx, ns, name, state); err != nil {
			return err
		}
		d.st.sentState = state
		d.st.stateAt = 0
		d.st.stateSent = rp.m.now()
		return nil
	}
	b.twins, b.values, b.text, b.ends = b.twins[:0], b.values[:0], b.text[:0], b.ends[:0]
	var s ringbuf.Sample
	for j, p := range d.e.props {
		desired := p.Desired() // before the sample: see acknowledges
		if !p.reportToCloud || !latestGood(p.ring, &s) {
			continue
		}
		var ok bool
		if b.text, ok = AppendValue(b.text, p.typ, s.Value); !ok {
			continue
		}
		if !p.acknowledges(&s) {
			// Read before the new desired value's write: keep what was
			// acknowledged before.
			desired = d.st.props[j].sentDesired
		}
		b.ends = append(b.ends, len(b.text))
		b.values = append(b.values, s.Value)
		b.twins = append(b.twins, Twin{Property: p.name,
			ObservedDesired: desired, Type: p.typ, Time: time.Unix(0, s.Time)})
	}
	if len(b.twins) == 0 {
		return nil
	}
	// One string for every value of the call; each twin's is a slice of it.
	text, start := string(b.text), 0
	for i, end := range b.ends {
		b.twins[i].Reported = text[start:end]
		start = end
	}
	if err := rp.s.ReportStatus(ctx, ns, name, b.twins); err != nil {
		return err
	}
	i := 0
	for j, p := range d.e.props {
		if i < len(b.twins) && b.twins[i].Property == p.name {
			pr := &d.st.props[j]
			pr.sent = append(pr.sent[:0], b.twins[i].Reported...)
			pr.sentValue = b.values[i]
			pr.sentDesired = b.twins[i].ObservedDesired
			i++
		}
	}
	d.st.lastSent = rp.m.now()
	d.st.changedAt = 0
	d.st.desiredAt = 0
	return nil
}
