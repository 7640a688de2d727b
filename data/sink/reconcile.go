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
	type want struct {
		v  device.DeviceView
		p  device.PropertyView
		dk string
		t  target
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
	var wants []want
	newDests := map[string]*dest{}
	for v := range s.src.Snapshot() {
		dk := device.Key(v.Namespace, v.Name)
		for _, p := range v.Properties {
			push := p.Push
			if push == nil {
				push = s.opt.Default
			}
			if push == nil || p.Ring == nil {
				continue
			}
			ts, bad := s.targets(Where{v.Namespace, v.Name, p.Name}, push, device.PushField(p.Name))
			for _, e := range bad {
				refuse(dk, e)
			}
			for _, t := range ts {
				wants = append(wants, want{v, p, dk, t})
				if d := s.dests[t.key]; d != nil {
					newDests[t.key] = d
				}
			}
		}
	}
	// Then the bindings, starting the destinations that fit.
	var next []*bound
	for _, w := range wants {
		t, p := w.t, w.p
		d := newDests[t.key]
		if d == nil && len(newDests) >= s.opt.MaxDestinations {
			refuse(w.dk, fmt.Sprintf("%s: not started: %d push destinations run already, the most push.max_destinations allows; these samples are not sent",
				t.field, s.opt.MaxDestinations))
			continue
		}
		if d == nil {
			c, err := t.kind.Open(t.key, s.opt.Log)
			if err != nil {
				refuse(w.dk, t.field+": "+err.Error())
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
			Binding: newBinding(w.v, p, t.field, t.opts),
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
