package device

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tinymapper/tinymapper/bus"
)

// changeDesired makes s p's desired value and writes it (writeDesired).
// Until the bus worker begins the write, no sample acknowledges s: the
// reporter keeps sending the observedDesired it sent before, so that the
// cloud never sees the new desired value acknowledged beside a value read
// before it was written.
func (m *Manager) changeDesired(key string, e *entry, p *prop, s string) <-chan error {
	if p.writable {
		p.desiredAt.Store(writePending)
	}
	p.setDesired(s)
	return m.writeDesired(key, e, p, s)
}

// writeDesired writes a desired value on e's bus worker and reads it back,
// without waiting. The outcome is kept as the property's write status and
// sent on the returned channel (nil: written); a nil channel means nothing
// is written, the property being ReadOnly.
func (m *Manager) writeDesired(key string, e *entry, p *prop, s string) <-chan error {
	if !p.writable {
		m.log.Debug("desired value ignored: property is ReadOnly", "device", key, "property", p.name)
		return nil
	}
	done := make(chan error, 1)
	w := e.worker
	v, err := p.parseDesired(s)
	if err != nil {
		// planProps and SetDesired check the value first; this is a slip.
		p.desiredAt.CompareAndSwap(writePending, 0)
		done <- m.wrote(key, w, p, s, err)
		return done
	}
	wr, ok := p.point.(bus.Writer)
	if !ok {
		p.desiredAt.CompareAndSwap(writePending, 0)
		done <- m.wrote(key, w, p, s, bus.ErrReadOnly)
		return done
	}
	w.post(func() {
		// From now on a read follows the write. An older write of a value
		// since changed again leaves the wait to the newer one.
		began := w.now().UnixNano()
		ours := p.Desired() == s && p.desiredAt.CompareAndSwap(writePending, began)
		err := m.wrote(key, w, p, s, wr.Write(v))
		if err == nil {
			w.readNow(p)
		} else if ours {
			// Nothing will be read back: acknowledge with what is read.
			p.desiredAt.CompareAndSwap(began, 0)
		}
		m.notify() // the reporter acknowledges it with the value read back
		done <- err
	})
	return done
}

// wrote keeps the outcome of a write of s to p, counts it on w and logs it:
// a failure at warn when its error differs from the one kept, else at
// debug. It returns the *WriteError, or nil when err is nil.
func (m *Manager) wrote(key string, w *worker, p *prop, s string, err error) error {
	w.writes.Add(1)
	if err == nil {
		p.write.Store(nil)
		m.log.Info("desired value written", "device", key, "property", p.name, "value", s)
		return nil
	}
	w.writeFailures.Add(1)
	we := &WriteError{Property: p.name, Value: s, Err: err}
	prev := p.write.Swap(&writeStatus{err: we, at: m.now()})
	if prev != nil && prev.err.Err.Error() == err.Error() {
		m.log.Debug("writing desired value failed again", "device", key, "property", p.name, "value", s, "err", err)
	} else {
		m.log.Warn("writing desired value failed", "device", key, "property", p.name, "value", s, "err", err)
	}
	return we
}

// WriteWait is how long SetDesired waits for a write to be done.
const WriteWait = 5 * time.Second

// SetDesired is SetDesiredContext waiting at most WriteWait.
func (m *Manager) SetDesired(namespace, name, property, value string) error {
	ctx, cancel := context.WithTimeout(context.Background(), WriteWait)
	defer cancel()
	return m.SetDesiredContext(ctx, namespace, name, property, value)
}

// SetDesiredContext sets one property's desired value, as an UpdateDevice
// changing only that value would, writes it even when it is the value
// already desired (so that calling again retries a failed write), and waits
// until the device took it and it was read back, or ctx ends.
//
// It returns nil once the value is written; a *WriteError when the device
// refused it (kept as the property's write status until a write succeeds);
// an error wrapping ErrNotRunning when the device is not running (the value
// is kept and written when it starts); an error wrapping ctx.Err() when ctx
// ended first (the write still happens); a *bus.FieldError when the
// property is ReadOnly or the value is outside the model's range; and
// ErrNotFound for an unknown device or property.
func (m *Manager) SetDesiredContext(ctx context.Context, namespace, name, property, value string) error {
	if namespace == "" {
		namespace = "default"
	}
	key := Key(namespace, name)
	stamp, unlock := m.turnKey(key)
	done, err := m.setDesired(key, property, value, stamp)
	unlock() // the write is queued on the worker: later changes may go on
	if err != nil || done == nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("write %s=%s: not done yet: %w", property, value, ctx.Err())
	case <-m.stopped:
		return fmt.Errorf("write %s=%s: the manager stopped", property, value)
	}
}

// setDesired is SetDesiredContext in the device's turn, up to the write: it
// swaps in an entry whose spec has the new value, stamped with the call's
// place in line.
func (m *Manager) setDesired(key, property, value string, stamp uint64) (<-chan error, error) {
	m.mu.Lock()
	old := m.devices[key]
	m.mu.Unlock()
	if old == nil {
		return nil, ErrNotFound
	}
	i := slices.IndexFunc(old.spec.Properties, func(p Property) bool { return p.Name == property })
	p := old.byName[property]
	if i < 0 || (old.dev != nil && p == nil) {
		return nil, ErrNotFound
	}
	if p != nil && !p.writable {
		return nil, &bus.FieldError{Field: "property " + property, Err: errors.New("is ReadOnly in its model")}
	}
	e := *old
	e.spec.Properties = slices.Clone(e.spec.Properties)
	e.spec.Properties[i].Desired = value
	e.spec.Stamp = stamp
	if old.dev == nil {
		if old.model != nil {
			if _, err := planProps(e.spec, old.model); err != nil {
				return nil, err
			}
		}
		m.mu.Lock()
		m.set(key, &e, true)
		m.mu.Unlock()
		return nil, fmt.Errorf("%w (%s): %s=%s is kept and written when it starts", ErrNotRunning, old.st.Err(), property, value)
	}
	if _, err := p.parseDesired(value); err != nil {
		return nil, &bus.FieldError{Field: "device.spec.properties[" + property + "].desired.value", Err: err}
	}
	m.mu.Lock()
	m.set(key, &e, true)
	m.mu.Unlock()
	return m.changeDesired(key, &e, p, value), nil
}

// ErrNotFound is returned for unknown devices and properties.
var ErrNotFound = errors.New("not found")

// ErrNotRunning is wrapped by SetDesired's error when the device is not
// running, waiting for its model or its hardware.
var ErrNotRunning = errors.New("device is not running")
