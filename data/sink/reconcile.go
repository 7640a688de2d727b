package sink

import (
	"context"
	"fmt"
	"sync"

	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// target is one destination a property's pushMethod names.
type target struct {
	kind  Kind
	key   string
	opts  any
	field string
}

// targets returns the destinations p names; errs are the fields it cannot
// serve.
func (s *Sinks) targets(at Where, p *device.PushMethod, field string) (out []target, errs []string) {
	if err := p.Check(field); err != nil {
		return nil, []string{err.Error()}
	}
	for _, m := range methods(p) {
		f := field + "." + m
		var k Kind
		for _, c := range s.kinds {
			if c.Method() == m {
				k = c
				break
			}
		}
		switch {
		case k == nil && m == "dbMethod.TDEngine":
			errs = append(errs, f+": TDengine is not supported (no TDengine server to test against); these samples are not stored")
			continue
		case k == nil:
			errs = append(errs, f+": this build has no "+m+" sink; these samples are not sent")
			continue
		}
		key, opts, err := k.Target(at, p, f)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, target{kind: k, key: key, opts: opts, field: f})
	}
	return out, errs
}

// methods lists the methods p uses, as Kind.Method spells them.
func methods(p *device.PushMethod) []string {
	var m []string
	if p.HTTP != nil {
		m = append(m, "http")
	}
	if p.MQTT != nil {
		m = append(m, "mqtt")
	}
	if p.OTEL != nil {
		m = append(m, "otel")
	}
	if db := p.DB; db != nil {
		if db.Influxdb2 != nil {
			m = append(m, "dbMethod.influxdb2")
		}
		if db.Redis != nil {
			m = append(m, "dbMethod.redis")
		}
		if db.TDEngine != nil {
			m = append(m, "dbMethod.TDEngine")
		}
		if db.MySQL != nil {
			m = append(m, "dbMethod.mysql")
		}
	}
	return m
}

// pick is a pushMethod at one property; chosen is what targets said of it.
// A pushMethod is immutable, so reconcile keeps the answer while the
// property keeps its pushMethod: an unchanged property costs a map lookup
// per rebuild, not a fresh check of its fields.
type (
	pick struct {
		push *device.PushMethod
		at   Where
	}
	chosen struct {
		ts  []target
		bad []string
	}
)

// reconcile rebuilds the bindings from the Source. A binding whose ring,
// destination and pushMethod are unchanged keeps its cursor; a destination
// still named keeps its client and buffer; one no longer named is stopped.
// At most MaxDestinations run: those running stay, new ones start in the
// snapshot's order while there is room, and the properties naming one
// that did not fit get an error naming their field.
func (s *Sinks) reconcile(ctx context.Context, wg *sync.WaitGroup) {
	type id struct {
		ring *ringbuf.Ring
		key  string
		name string
	}
	// A want is one destination a property names: indices into views,
	// not copies of them (5000 properties would copy megabytes).
	type want struct {
		v, p int
		t    target
	}
	old := make(map[id]*bound, len(s.bindings))
	for _, b := range s.bindings {
		old[id{b.ring, b.dest.key, b.Property}] = b
	}
	errs := map[string][]string{}
	refuse := func(dk, e string) {
		if !containsString(s.errs[dk], e) {
			s.opt.Log.Warn("push destination refused", "device", dk, "err", e)
		}
		errs[dk] = append(errs[dk], e)
	}
	// First what every property names, and which destinations stay.
	var views []device.DeviceView
	wants := make([]want, 0, len(s.bindings))
	newDests := map[string]*dest{}
	picks := make(map[pick]chosen, len(s.picks))
	for v := range s.src.Snapshot() {
		views = append(views, v)
		dk := device.Key(v.Namespace, v.Name)
		for pi, p := range v.Properties {
			push := p.Push
			if push == nil {
				push = s.opt.Default
			}
			if push == nil || p.Ring == nil {
				continue
			}
			at := Where{v.Namespace, v.Name, p.Name}
			c, ok := s.picks[pick{push, at}]
			if !ok {
				c.ts, c.bad = s.targets(at, push, device.PushField(p.Name))
			}
			picks[pick{push, at}] = c
			ts, bad := c.ts, c.bad
			for _, e := range bad {
				refuse(dk, e)
			}
			for _, t := range ts {
				wants = append(wants, want{len(views) - 1, pi, t})
				if d := s.dests[t.key]; d != nil {
					newDests[t.key] = d
				}
			}
		}
	}
	// Then the bindings, starting the destinations that fit.
	next := make([]*bound, 0, len(wants))
	for _, w := range wants {
		v := &views[w.v]
		t, p := w.t, &v.Properties[w.p]
		d := newDests[t.key]
		if d == nil && len(newDests) >= s.opt.MaxDestinations {
			refuse(device.Key(v.Namespace, v.Name), fmt.Sprintf("%s: not started: %d push destinations run already, the most push.max_destinations allows; these samples are not sent",
				t.field, s.opt.MaxDestinations))
			continue
		}
		if d == nil {
			c, err := t.kind.Open(t.key, s.opt.Log)
			if err != nil {
				refuse(device.Key(v.Namespace, v.Name), t.field+": "+err.Error())
				continue
			}
			d = newDest(t.key, c, s.opt)
			wg.Add(1)
			go func() { defer wg.Done(); d.run(ctx) }()
			s.opt.Log.Info("push destination started", "destination", t.key)
			newDests[t.key] = d
		}
		if b := old[id{p.Ring, t.key, p.Name}]; b != nil && b.push == p.Push && b.Opts == t.opts {
			next = append(next, b)
			continue
		}
		b := &bound{
			Binding: newBinding(*v, *p, t.field, t.opts),
			ring:    p.Ring, dest: d, push: p.Push,
		}
		if ob := old[id{p.Ring, t.key, p.Name}]; ob != nil {
			b.cur = ob.cur // same ring, new options: no sample twice
		}
		next = append(next, b)
	}
	s.mu.Lock()
	for k, d := range s.dests {
		if newDests[k] == nil {
			d.stop()
			s.opt.Log.Info("push destination stopped: no property names it", "destination", k)
		}
	}
	s.dests, s.bindings, s.errs = newDests, next, errs
	s.picks = picks
	s.mu.Unlock()
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
