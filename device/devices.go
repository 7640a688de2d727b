package device

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// PutModel adds or replaces a model. Devices waiting for it start; devices
// using the old version restart with the new one. A model equal to the one
// kept changes nothing: EdgeCore sends the model again before every device
// update and once per device at registration.
func (m *Manager) PutModel(model Model) error {
	model, err := checkModel(model)
	if err != nil {
		return err
	}
	key := Key(model.Namespace, model.Name)
	m.mu.Lock()
	old := m.models[key]
	same := old != nil && reflect.DeepEqual(*old, model)
	if !same {
		m.models[key] = &model
		for _, p := range model.Properties {
			if !Sampled(p.Type) {
				m.log.Warn("property not sampled or reported: its type carries no number", "model", key, "property", p.Name, "type", p.Type)
			}
		}
	}
	var restart []string
	for k, e := range m.devices {
		if e.spec.Namespace == model.Namespace && e.spec.Model == model.Name && (!same || e.model == nil) {
			restart = append(restart, k)
		}
	}
	m.mu.Unlock()
	sort.Strings(restart)
	for _, k := range restart {
		m.restart(k, key)
	}
	return nil
}

// restart applies a device's spec again, after its model changed.
func (m *Manager) restart(key, modelKey string) {
	defer m.lockKey(key)()
	m.mu.Lock()
	e := m.devices[key]
	m.mu.Unlock()
	if e == nil || Key(e.spec.Namespace, e.spec.Model) != modelKey {
		return // removed or changed since
	}
	if err := m.putDevice(key, e.spec); err != nil {
		m.log.Warn("device cannot run with the new model", "device", key, "model", modelKey, "err", err)
	}
}

// RemoveModel forgets a model. Devices using it stop and wait for it.
func (m *Manager) RemoveModel(namespace, name string) error {
	if namespace == "" {
		namespace = "default"
	}
	modelKey := Key(namespace, name)
	m.mu.Lock()
	delete(m.models, modelKey)
	var stop []string
	for k, e := range m.devices {
		if e.spec.Namespace == namespace && e.spec.Model == name && e.model != nil {
			stop = append(stop, k)
		}
	}
	m.mu.Unlock()
	sort.Strings(stop)
	for _, key := range stop {
		m.waitForModel(key, modelKey)
	}
	return nil
}

// waitForModel closes a device whose model was removed; it waits for the
// model to come back.
func (m *Manager) waitForModel(key, modelKey string) {
	defer m.lockKey(key)()
	m.mu.Lock()
	old := m.devices[key]
	if old == nil || old.model == nil || m.models[modelKey] != nil || Key(old.spec.Namespace, old.spec.Model) != modelKey {
		m.mu.Unlock()
		return // changed since, or the model is back (PutModel restarts it)
	}
	m.set(key, &entry{key: key, spec: old.spec, st: newStatus(StateUnknown, "model "+modelKey+" was removed")}, true)
	m.mu.Unlock()
	m.closeDevice(old)
}

// ErrStale is returned (wrapped) by PutDevice and RemoveDeviceAsOf for a
// change stamped before the device's current spec or its removal: the
// change is ignored.
var ErrStale = errors.New("a later change of the device was applied first")

// maxRemoved bounds the removal stamps kept; past it the older half goes.
const maxRemoved = 1024

// PutDevice adds a device or applies a changed spec. A change of desired
// values only is written to the device; any other change reopens it. A spec
// that is invalid is refused with a *bus.FieldError and whatever ran before
// keeps running. A device whose model is not known yet waits for it. A
// device whose driver cannot open it because the hardware is missing
// (HardwareMissing) is kept offline, with the error as its Error, and
// opened again with back-off (Options.RetryMin to RetryMax) until it opens
// or is changed or removed; PutDevice then returns nil.
//
// Specs of one device apply in the order of their stamps (Device.Stamp; an
// unstamped spec is stamped as it joins the device's line of changes): a
// spec stamped before the device's current spec, or before its removal, is
// ignored, and PutDevice returns an error wrapping ErrStale. So the newest
// desired value of every property wins, whatever order the specs arrive in.
func (m *Manager) PutDevice(d Device) error {
	if d.Namespace == "" {
		d.Namespace = "default"
	}
	if err := m.check(d); err != nil {
		return err
	}
	key := Key(d.Namespace, d.Name)
	stamp, unlock := m.turnKey(key)
	defer unlock()
	if d.Stamp == 0 {
		d.Stamp = stamp
	}
	return m.putDevice(key, d)
}

// putDevice is PutDevice in the device's turn.
func (m *Manager) putDevice(key string, d Device) error {
	m.mu.Lock()
	old := m.devices[key]
	model := m.models[Key(d.Namespace, d.Model)]
	latest, closing := m.removed[key], m.closing
	if old != nil {
		latest = old.spec.Stamp
	}
	m.mu.Unlock()
	if closing {
		return ErrStopped
	}
	if d.Stamp < latest {
		m.log.Debug("older spec ignored", "device", key, "stamp", d.Stamp, "applied", latest)
		return fmt.Errorf("device %s: spec %d: %w (%d)", key, d.Stamp, ErrStale, latest)
	}
	if model == nil {
		e := &entry{key: key, spec: d, st: newStatus(StateUnknown, "waiting for model "+Key(d.Namespace, d.Model))}
		if err := m.commit(key, e, old); err != nil {
			return err
		}
		m.log.Info("device waits for its model", "device", key, "model", Key(d.Namespace, d.Model))
		return nil
	}
	plan, err := planProps(d, model)
	if err != nil {
		return err
	}
	if old != nil && old.dev != nil && sameModel(old.model, model) && sameButDesired(old.spec, d) {
		m.putDesired(key, old, d)
		return nil
	}
	e, missing, err := m.open(key, d, model, plan, old)
	if missing {
		return m.waitForHardware(key, d, model, err, old)
	}
	if err != nil {
		return err
	}
	return m.start(key, e, old)
}

// putDesired applies d, which differs from the running old in desired values
// only, and writes the changed ones.
func (m *Manager) putDesired(key string, old *entry, d Device) {
	e := *old
	e.spec = d
	m.mu.Lock()
	m.set(key, &e, true)
	m.mu.Unlock()
	for _, dp := range d.Properties {
		if p := old.byName[dp.Name]; p != nil && dp.Desired != p.Desired() {
			m.changeDesired(key, &e, p, dp.Desired)
		}
	}
}

// commit swaps e in for old, which it then closes, unless the manager is
// stopping. e runs nothing.
func (m *Manager) commit(key string, e, old *entry) error {
	m.mu.Lock()
	if m.closing {
		m.mu.Unlock()
		return ErrStopped
	}
	m.set(key, e, true)
	m.mu.Unlock()
	m.closeDevice(old)
	m.notify()
	return nil
}

// start swaps in e, which open returned, in place of old, closes old's
// device, and starts sampling e on its bus worker, which it takes (starting
// it if it is the bus's first device).
func (m *Manager) start(key string, e, old *entry) error {
	m.mu.Lock()
	if m.closing {
		m.mu.Unlock()
		e.dev.Close()
		return ErrStopped
	}
	e.worker = m.takeWorker(e.dev.Bus())
	m.set(key, e, true)
	m.mu.Unlock()
	m.closeDevice(old)
	e.worker.post(func() {
		for _, p := range e.props {
			e.worker.add(p, p.collectCycle)
		}
	})
	for _, p := range e.props {
		if d := p.Desired(); d != "" {
			m.writeDesired(key, e, p, d)
		}
	}
	m.log.Info("device started", "device", key, "protocol", e.spec.Protocol, "bus", e.worker.bus, "properties", len(e.props))
	m.notify()
	return nil
}

// open opens d through its driver, outside every lock: Open may take as long
// as the hardware does, and returns its entry, not yet shared and without a
// worker (see start). Rings of old's properties are kept. missing is true
// when the driver's error says the hardware is missing (HardwareMissing).
func (m *Manager) open(key string, d Device, model *Model, plan propPlan, old *entry) (e *entry, missing bool, err error) {
	dev, err := m.drivers[d.Protocol].Open(bus.DeviceConfig{Name: key, Config: d.Config, Properties: plan.configs})
	if err != nil {
		return nil, HardwareMissing(err), err
	}
	points := dev.Points()
	if len(points) != len(plan.props) {
		dev.Close()
		return nil, false, fmt.Errorf("driver %s returned %d points for %d properties", d.Protocol, len(points), len(plan.props))
	}
	if w, ok := dev.(bus.Warner); ok {
		for _, msg := range w.Warnings() {
			m.log.Warn("device configData", "device", key, "warning", msg)
		}
	}
	seq := m.opened.Add(1)
	batcher, _ := dev.(bus.Batcher)
	e = &entry{key: key, spec: d, model: model, dev: dev, run: seq, props: plan.props,
		byName: make(map[string]*prop, len(plan.props)), st: newStatus(StateUnknown, "")}
	for i, p := range plan.props {
		e.byName[p.name] = p
		p.point = points[i]
		p.device, p.index, p.batcher = seq, i, batcher
		// Keep history across a restart when the property is unchanged in kind.
		if old != nil {
			if op := old.byName[p.name]; op != nil && op.typ == p.typ {
				p.ring = op.ring
			}
		}
		if p.ring == nil {
			p.ring = ringbuf.New(m.history)
		}
	}
	return e, false, nil
}

// closeDevice unschedules and closes e's device on its bus worker, waits for
// it, and lets the worker go if it was the last device on its bus. Called
// in the device's turn, after e left Manager.devices (or was replaced),
// without m.mu: the worker may be in the middle of a slow read, and Close
// is bus I/O. Nothing to do for an entry that is nil or not running.
func (m *Manager) closeDevice(e *entry) {
	if e == nil || e.dev == nil {
		return
	}
	done := make(chan struct{})
	e.worker.post(func() {
		for _, p := range e.props {
			e.worker.remove(p)
		}
		if err := e.dev.Close(); err != nil {
			m.log.Warn("closing device", "device", e.key, "err", err)
		}
		close(done)
	})
	<-done
	m.releaseWorker(e.worker)
}

// RemoveDevice stops and forgets a device. Removing an unknown device is not an error.
func (m *Manager) RemoveDevice(namespace, name string) error {
	return m.RemoveDeviceAsOf(namespace, name, 0)
}

// RemoveDeviceAsOf is RemoveDevice for a removal learnt at stamp (see
// Stamp; 0 is now): a device whose spec is stamped later is kept, and the
// error wraps ErrStale.
func (m *Manager) RemoveDeviceAsOf(namespace, name string, stamp uint64) error {
	if namespace == "" {
		namespace = "default"
	}
	key := Key(namespace, name)
	removed, err := m.removeDevice(key, stamp)
	if removed {
		m.log.Info("device removed", "device", key)
		m.notify()
	}
	return err
}

// removeDevice closes and forgets a device in its turn, and reports whether
// there was one. The removal's stamp (0: its place in line) is kept (see
// putDevice).
func (m *Manager) removeDevice(key string, stamp uint64) (bool, error) {
	turn, unlock := m.turnKey(key)
	defer unlock()
	if stamp == 0 {
		stamp = turn
	}
	m.mu.Lock()
	e := m.devices[key]
	if e != nil && stamp < e.spec.Stamp {
		m.mu.Unlock()
		return false, fmt.Errorf("device %s: removal %d: %w (%d)", key, stamp, ErrStale, e.spec.Stamp)
	}
	if stamp > m.removed[key] {
		m.keepRemoved(key, stamp)
	}
	m.set(key, nil, true)
	m.mu.Unlock()
	m.closeDevice(e)
	return e != nil, nil
}

// keepRemoved keeps the stamp of a device's removal, dropping the older
// half of those kept when there are too many. Called with m.mu held.
func (m *Manager) keepRemoved(key string, stamp uint64) {
	if len(m.removed) >= maxRemoved {
		stamps := make([]uint64, 0, len(m.removed))
		for _, s := range m.removed {
			stamps = append(stamps, s)
		}
		slices.Sort(stamps)
		median := stamps[len(stamps)/2]
		for k, s := range m.removed {
			if s < median {
				delete(m.removed, k)
			}
		}
	}
	m.removed[key] = stamp
}
