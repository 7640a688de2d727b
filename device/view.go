package device

import (
	"iter"
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

func (e *entry) view() DeviceView {
	v := DeviceView{
		Namespace: e.spec.Namespace, Name: e.spec.Name, Model: e.spec.Model,
		Protocol: e.spec.Protocol, State: e.st.State(), Error: e.st.Err(),
		Methods: e.spec.Methods, ModelSpec: e.model,
	}
	if len(e.props) > 0 {
		v.Properties = make([]PropertyView, len(e.props))
		for i, p := range e.props {
			v.Properties[i] = p.view()
		}
	}
	return v
}

func (p *prop) view() PropertyView {
	v := PropertyView{Name: p.name, Type: p.typ, Unit: p.unit, Writable: p.writable,
		Desired: p.Desired(), Ring: p.ring, Push: p.push}
	if e := p.lastErr.Load(); e != nil {
		v.LastError = *e
	}
	if w := p.write.Load(); w != nil {
		v.WriteError, v.WriteTime = w.err.Error(), w.at
	}
	return v
}

// Snapshot yields a view of every device as it is now, sorted by namespace
// and name. It takes no lock: the devices are those of the latest change
// published when Snapshot was called, and each view is built as it is
// yielded. The views are values: a reader may keep them.
func (m *Manager) Snapshot() iter.Seq[DeviceView] {
	list := m.entries()
	return func(yield func(DeviceView) bool) {
		for _, e := range list {
			if !yield(e.view()) {
				return
			}
		}
	}
}

// Generation returns a number that changes whenever a device is added,
// removed or given a new spec or model. Readers that keep something per
// device (the sinks) compare it to know when to look again.
func (m *Manager) Generation() uint64 { return m.gen.Load() }

// Devices returns every device, sorted by namespace and name.
func (m *Manager) Devices() []DeviceView {
	list := m.entries()
	out := make([]DeviceView, len(list))
	for i, e := range list {
		out[i] = e.view()
	}
	return out
}

// Device returns one device.
func (m *Manager) Device(namespace, name string) (DeviceView, bool) {
	e := m.lookup(namespace, name)
	if e == nil {
		return DeviceView{}, false
	}
	return e.view(), true
}

// Property returns one property of one device.
func (m *Manager) Property(namespace, name, property string) (PropertyView, bool) {
	e := m.lookup(namespace, name)
	if e == nil {
		return PropertyView{}, false
	}
	p := e.byName[property]
	if p == nil {
		return PropertyView{}, false
	}
	return p.view(), true
}

// Twins returns a device's twins (every property, reportToCloud or not) and
// its state.
func (m *Manager) Twins(namespace, name string) ([]Twin, string, bool) {
	e := m.lookup(namespace, name)
	if e == nil {
		return nil, "", false
	}
	twins := make([]Twin, 0, len(e.props))
	var s ringbuf.Sample
	for _, p := range e.props {
		t := Twin{Property: p.name, ObservedDesired: p.Desired(), Type: p.typ}
		if latestGood(p.ring, &s) {
			t.Reported, _ = FormatValue(p.typ, s.Value)
			t.Time = time.Unix(0, s.Time)
		}
		twins = append(twins, t)
	}
	return twins, e.st.State(), true
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
