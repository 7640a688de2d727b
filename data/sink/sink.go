// Package sink sends every sample of a property where its pushMethod says:
// an MQTT broker, an HTTP endpoint, a database. It is the data plane's push
// side; the clients themselves live in subpackages (sink/mqtt,
// sink/httppush), one per method, each a Kind that main hands to New.
//
// The pieces:
//
//   - A destination is one (method, address) pair, such as
//     "mqtt tcp://127.0.0.1:1883". It has one Client (one connection or
//     session), one bounded Buffer and one goroutine that drains the
//     buffer into the client. Every property naming the same destination
//     shares it; it lives until no property names it any more.
//   - A binding is one property sending to one destination: the property's
//     ring, this reader's cursor in it, and what the kind needs per property
//     (an MQTT topic, say).
//   - Sinks.Run is one goroutine: when the Source's Generation changes it
//     rebuilds the bindings (keeping the cursors and destinations that did
//     not change), and a few times a second it moves new samples from every
//     bound ring into its destination's buffer. It never waits for a
//     client: a full buffer drops its oldest sample and counts it.
//
// So sampling never waits for a sink, one slow or dead destination costs
// only its own buffer, and delivery resumes by itself, in sample order per
// property, once the server is back.
package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// Source is what the sinks read devices through; *device.Manager
// implements it.
type Source interface {
	Snapshot() iter.Seq[device.DeviceView]
	Generation() uint64
}

// A Kind is one push method: it says which destination a pushMethod names
// and opens the client of a destination.
type Kind interface {
	// Method is the pushMethod field the kind serves: "mqtt", "http",
	// "otel", "dbMethod.influxdb2", ...
	Method() string
	// Target returns the destination p names for this method (key, one
	// client per key) and what a binding needs per property (opts, which
	// must be comparable: a change of opts is a change of the binding).
	// field is the method's field ("spec.properties[t].pushMethod.mqtt");
	// errors name a field under it.
	Target(at Where, p *device.PushMethod, field string) (key string, opts any, err error)
	// Open returns the client of a destination. It must not block on the
	// network: connecting is Send's business.
	Open(key string, log *slog.Logger) (Client, error)
}

// Where names the property a binding is for.
type Where struct{ Namespace, Device, Property string }

// ErrRejected marks a Send error after which retrying cannot help (an HTTP
// 4xx, say): the record it is about is counted as dropped and not sent
// again.
var ErrRejected = errors.New("rejected by the server")

// A Client delivers records to one destination.
type Client interface {
	// Send delivers recs in order and returns how many of the first it
	// delivered (ignored when err is nil: all were). With an error
	// wrapping ErrRejected, recs[n] was refused for good and is dropped;
	// with any other error, recs[n:] are sent again after a back-off.
	Send(ctx context.Context, recs []Record) (n int, err error)
	Close() error
}

// Record is one sample on its way to one destination.
type Record struct {
	B     *Binding
	Time  int64 // Unix nanoseconds
	Value float64
}

// Binding is one property bound to one destination. It is immutable once
// built; records point to it.
type Binding struct {
	Namespace, Device, Property string
	Type, Unit                  string
	// Field is the pushMethod field of the destination, as errors name it.
	Field string
	// Opts is what the Kind's Target returned for this property.
	Opts any
	// prefix is the payload up to the value (see AppendJSON).
	prefix []byte
}

// Options configures Sinks. The zero value works.
type Options struct {
	// Buffer is each destination's buffer, in samples (default 10000).
	Buffer int
	// Batch is how many records one Send carries at most (DefaultBatch).
	Batch int
	// Poll is how often the rings are read (default 100 ms).
	Poll time.Duration
	// MaxBackoff caps the wait between failed sends (default 5 s).
	MaxBackoff time.Duration
	// MaxDestinations bounds the destinations that run at once, each
	// with its goroutine, client and buffer (default 100).
	MaxDestinations int
	// SpoolDir, when set, is where each destination spools to disk what
	// its full buffer cannot hold, up to SpoolBytes per destination
	// (DefaultSpoolBytes; bounded by MinSpoolBytes and MaxSpoolBytes).
	// The spool does not survive a restart: Run clears it.
	SpoolDir   string
	SpoolBytes int64
	// Default is the pushMethod of properties that have none (standalone
	// mode's push.default); nil sends those nowhere.
	Default *device.PushMethod
	Log     *slog.Logger
}

// DefaultBatch is how many records one Send carries at most by default. A
// broker that delays its acknowledgements (mosquitto without
// set_tcp_nodelay: Nagle against our delayed ACKs, about 40 ms) costs that
// delay once per batch, so batches are large.
const DefaultBatch = 256

// DefaultMaxDestinations is how many destinations run at once by default.
const DefaultMaxDestinations = 100

// Sinks runs every destination the Source's devices name.
type Sinks struct {
	src   Source
	kinds []Kind
	opt   Options

	mu       sync.RWMutex // guards what REST and /metrics read
	dests    map[string]*dest
	bindings []*bound
	errs     map[string][]string // "ns/device" -> errors found in the specs

	picks map[pick]chosen // what reconcile found last time; Run owns it
}

// bound is a binding with its reader state; Run owns it.
type bound struct {
	*Binding
	ring *ringbuf.Ring
	cur  ringbuf.Cursor
	dest *dest
	push *device.PushMethod // as in the spec, to tell a change
}

// New returns sinks reading src, with a client for each of kinds.
func New(src Source, opt Options, kinds ...Kind) *Sinks {
	if opt.Buffer <= 0 {
		opt.Buffer = 10000
	}
	if opt.Batch <= 0 {
		opt.Batch = DefaultBatch
	}
	if opt.Poll <= 0 {
		opt.Poll = 100 * time.Millisecond
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 5 * time.Second
	}
	if opt.MaxDestinations <= 0 {
		opt.MaxDestinations = DefaultMaxDestinations
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Sinks{src: src, kinds: kinds, opt: opt, dests: map[string]*dest{}, errs: map[string][]string{}}
}

// Run reads the rings until ctx ends, then stops every destination (each
// gets up to a second to send what it holds) and returns.
func (s *Sinks) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if s.opt.SpoolDir != "" {
		s.clearSpool()
	}
	gen := ^uint64(0)
	t := time.NewTicker(s.opt.Poll)
	defer t.Stop()
	for {
		if g := s.src.Generation(); g != gen {
			gen = g
			s.reconcile(ctx, &wg)
		}
		s.pump()
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for _, d := range s.dests {
				d.stop()
			}
			s.mu.Unlock()
			wg.Wait()
			return
		case <-t.C:
		}
	}
}

// pump moves new samples from every bound ring into its destination's
// buffer. Samples with an error carry no value and are skipped.
func (s *Sinks) pump() {
	var smp ringbuf.Sample
	for _, b := range s.bindings {
		n := 0
		for {
			ok, missed := b.ring.Next(&b.cur, &smp)
			if missed > 0 {
				b.dest.buf.drop(missed)
			}
			if !ok {
				break
			}
			if smp.Err == 0 {
				b.dest.buf.push(Record{B: b.Binding, Time: smp.Time, Value: smp.Value})
				n++
			}
		}
		if n > 0 {
			b.dest.wake()
		}
	}
}

// PushErrors returns what is wrong with the pushMethods of one device:
// fields the specs get wrong, and destinations that are failing now, each
// naming the field ("spec.properties[t].pushMethod.mqtt: ...").
func (s *Sinks) PushErrors(namespace, name string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := append([]string(nil), s.errs[device.Key(namespace, name)]...)
	for _, b := range s.bindings {
		if b.Namespace != namespace || b.Device != name {
			continue
		}
		if e := b.dest.lastError(); e != "" {
			out = append(out, b.Field+": "+e)
		}
	}
	sort.Strings(out)
	return out
}

// Stats returns every destination's figures, sorted by key.
func (s *Sinks) Stats() []Stats {
	s.mu.RLock()
	out := make([]Stats, 0, len(s.dests))
	for _, d := range s.dests {
		out = append(out, d.stats())
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Destination < out[j].Destination })
	return out
}

// Method returns the method of a destination key ("mqtt" of
// "mqtt tcp://...").
func Method(key string) string {
	m, _, _ := strings.Cut(key, " ")
	return m
}

// WritePushMetrics writes every destination's figures in the Prometheus
// text format (data.Metrics calls it).
func (s *Sinks) WritePushMetrics(w io.Writer) {
	st := s.Stats()
	for _, m := range []struct {
		name, typ, help string
		v               func(Stats) string
	}{
		{"tinymapper_push_sent_total", "counter", "Samples delivered, per push destination.", func(s Stats) string { return strconv.FormatUint(s.Sent, 10) }},
		{"tinymapper_push_failed_total", "counter", "Delivery attempts that failed (retried unless rejected).", func(s Stats) string { return strconv.FormatUint(s.Failed, 10) }},
		{"tinymapper_push_dropped_total", "counter", "Samples lost: pushed out of a full buffer, or rejected by the server.", func(s Stats) string { return strconv.FormatUint(s.Dropped, 10) }},
		{"tinymapper_push_buffered", "gauge", "Samples waiting in the destination's buffer.", func(s Stats) string { return strconv.Itoa(s.Buffered) }},
		{"tinymapper_push_spooled", "gauge", "Samples waiting in the destination's spool on disk (push.spool).", func(s Stats) string { return strconv.Itoa(s.Spooled) }},
		{"tinymapper_push_lag_seconds", "gauge", "Age of the oldest buffered sample.", func(s Stats) string { return strconv.FormatFloat(s.Lag.Seconds(), 'f', 3, 64) }},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.typ)
		for _, d := range st {
			fmt.Fprintf(w, "%s{destination=%s} %s\n", m.name, strconv.Quote(d.Destination), m.v(d))
		}
	}
}
