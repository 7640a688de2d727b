package device

import (
	"context"
	"iter"
	"sort"
	"time"

	"github.com/tinymapper/tinymapper/ringbuf"
)

// PropertyView is what the data plane sees of one property.
type PropertyView struct {
	Name     string
	Type     string
	Unit     string
	Writable bool
	Desired  string
	// Ring holds the property's samples; read it, never push.
	Ring *ringbuf.Ring
	// LastError is the error of the latest read, "" when it succeeded.
	LastError string
	// WriteError is why the latest desired write failed, and WriteTime
	// when; both are zero once a write succeeds (reads leave them alone).
	WriteError string
	WriteTime  time.Time
	// Push is the property's pushMethod (nil when unset); immutable.
	Push *PushMethod
}

// DeviceView is what the data plane sees of one device.
type DeviceView struct {
	Namespace  string
	Name       string
	Model      string
	Protocol   string
	State      string
	Error      string // why the device is not running, if it is not
	Properties []PropertyView
	Methods    []Method // spec.methods; immutable
	// ModelSpec is the device's model, nil while it is missing; immutable.
	ModelSpec *Model
}

func (r *running) view() DeviceView {
	v := DeviceView{
		Namespace: r.spec.Namespace, Name: r.spec.Name, Model: r.spec.Model,
		Protocol: r.spec.Protocol, State: r.state.Load().(string), Error: r.err.Load().(string),
		Methods: r.spec.Methods, ModelSpec: r.model,
	}
	for _, p := range r.props {
		v.Properties = append(v.Properties, p.view())
	}
	return v
}

func (p *prop) view() PropertyView {
	v := PropertyView{Name: p.name, Type: p.typ, Unit: p.unit, Writable: p.writable,
		Desired: p.desired.Load().(string), Ring: p.ring, Push: p.push}
	if e := p.lastErr.Load(); e != nil {
		v.LastError = *e
	}
	if w := p.write.Load(); w != nil {
		v.WriteError, v.WriteTime = w.err.Error(), w.at
	}
	return v
}

// Devices returns every device, sorted by namespace and name.
func (m *Manager) Devices() []DeviceView {
	m.mu.RLock()
	out := make([]DeviceView, 0, len(m.devices))
	for _, r := range m.devices {
		out = append(out, r.view())
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Snapshot yields a view of every device as it is now, sorted by namespace
// and name. The views are values: a reader may keep them.
func (m *Manager) Snapshot() iter.Seq[DeviceView] {
	return func(yield func(DeviceView) bool) {
		for _, v := range m.Devices() {
			if !yield(v) {
				return
			}
		}
	}
}

// Generation returns a number that changes whenever a device is added,
// removed or given a new spec or model. Readers that keep something per
// device (the sinks) compare it to know when to look again.
func (m *Manager) Generation() uint64 { return m.gen.Load() }

// Device returns one device.
func (m *Manager) Device(namespace, name string) (DeviceView, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r := m.devices[Key(namespace, name)]
	if r == nil {
		return DeviceView{}, false
	}
	return r.view(), true
}

// Property returns one property of one device.
func (m *Manager) Property(namespace, name, property string) (PropertyView, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r := m.devices[Key(namespace, name)]
	if r == nil {
		return PropertyView{}, false
	}
	p := r.byName[property]
	if p == nil {
		return PropertyView{}, false
	}
	return p.view(), true
}

// Twins returns a device's twins (every property, reportToCloud or not) and
// its state.
func (m *Manager) Twins(namespace, name string) ([]Twin, string, bool) {
	if namespace == "" {
		namespace = "default"
	}
	m.mu.RLock()
	r := m.devices[Key(namespace, name)]
	m.mu.RUnlock()
	if r == nil {
		return nil, "", false
	}
	twins := make([]Twin, 0, len(r.props))
	var s ringbuf.Sample
	for _, p := range r.props {
		t := Twin{Property: p.name, ObservedDesired: p.desired.Load().(string), Type: p.typ}
		if latestGood(p.ring, &s) {
			t.Reported, _ = FormatValue(p.typ, s.Value)
			t.Time = time.Unix(0, s.Time)
		}
		twins = append(twins, t)
	}
	return twins, r.state.Load().(string), true
}

// latestGood finds the newest good sample among the last few.
func latestGood(r *ringbuf.Ring, s *ringbuf.Sample) bool {
	if !r.Latest(s) {
		return false
	}
	if s.Err == 0 {
		return true
	}
	var buf [8]ringbuf.Sample
	n := r.Last(buf[:])
	for i := n - 1; i >= 0; i-- {
		if buf[i].Err == 0 {
			*s = buf[i]
			return true
		}
	}
	return false
}

// stateOf derives a device's state from its properties' latest samples.
func stateOf(r *running) string {
	if r.waitingForHardware() {
		return StateOffline
	}
	if r.dev == nil || len(r.props) == 0 {
		return StateUnknown
	}
	good, bad := 0, 0
	var s ringbuf.Sample
	for _, p := range r.props {
		if !p.ring.Latest(&s) {
			continue
		}
		if s.Err == 0 {
			good++
		} else {
			bad++
		}
	}
	switch {
	case good == 0 && bad == 0:
		return StateUnknown
	case bad == 0:
		return StateOnline
	case good == 0:
		return StateOffline
	default:
		return StateUnhealthy
	}
}

// watchStates derives device states a few times a second, logs changes and
// wakes the reporter. It returns when ctx ends.
func (m *Manager) watchStates(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.mu.RLock()
		for key, r := range m.devices {
			state := stateOf(r)
			if old := r.state.Load().(string); old != state {
				r.state.Store(state)
				args := []any{"device", key, "state", state}
				if state != StateOnline {
					for _, p := range r.props {
						if e := p.lastErr.Load(); e != nil {
							args = append(args, "property", p.name, "err", *e)
							break
						}
					}
				}
				m.log.Info("device "+state, args...)
				m.notify()
			}
		}
		m.mu.RUnlock()
	}
}
