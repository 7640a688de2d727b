package device

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/tinymapper/tinymapper/bus"
)

// waitForHardware keeps d, which its driver could not open because the
// hardware is missing, offline in place of old until a retry opens it (see
// retryOpens).
func (m *Manager) waitForHardware(key string, d Device, model *Model, err error, old *entry) error {
	e := &entry{key: key, spec: d, model: model, backoff: m.retryMin,
		retryAt: m.now().Add(m.retryMin), st: newStatus(StateOffline, "waiting for hardware: "+err.Error())}
	if err := m.commit(key, e, old); err != nil {
		return err
	}
	m.log.Warn("device waits for its hardware", "device", key, "err", err, "retry", e.backoff)
	select {
	case m.retryWake <- struct{}{}:
	default:
	}
	return nil
}

// retryOpens tries again, with back-off, to open the devices waiting for
// their hardware, one at a time, until ctx ends. It is the only goroutine
// doing so, however many devices wait.
func (m *Manager) retryOpens(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var due []*entry
	for {
		now := m.now()
		var next time.Time
		due = due[:0]
		for _, e := range m.entries() {
			switch {
			case !e.waitingForHardware():
			case !e.retryAt.After(now):
				due = append(due, e)
			case next.IsZero() || e.retryAt.Before(next):
				next = e.retryAt
			}
		}
		if len(due) > 0 {
			for _, e := range due {
				if ctx.Err() != nil {
					return
				}
				m.retryOpen(e)
			}
			continue
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(now)
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.retryWake:
		}
	}
}

// retryOpen tries to open e, which waits for its hardware, in its turn.
func (m *Manager) retryOpen(e *entry) {
	key := e.key
	defer m.lockKey(key)()
	m.mu.Lock()
	current := m.devices[key] == e
	m.mu.Unlock()
	if !current {
		return // changed or removed since
	}
	plan, err := planProps(e.spec, e.model)
	var opened *entry
	if err == nil {
		opened, _, err = m.open(key, e.spec, e.model, plan, nil)
	}
	if err == nil {
		if m.start(key, opened, e) == nil {
			m.log.Info("device hardware found", "device", key)
		}
		return
	}
	// Whatever the error, the spec was accepted: keep trying.
	later := *e
	later.backoff = min(2*e.backoff, m.retryMax)
	later.retryAt = m.now().Add(later.backoff)
	m.mu.Lock()
	m.set(key, &later, false)
	m.mu.Unlock()
	msg := "waiting for hardware: " + err.Error()
	if e.st.setErr(msg) != msg {
		m.log.Warn("device still waits for its hardware", "device", key, "err", err, "retry", later.backoff)
	} else {
		m.log.Debug("device still waits for its hardware", "device", key, "retry", later.backoff)
	}
}

// HardwareMissing reports whether err, from a Driver's Open, means that the
// hardware cannot be reached now (not there, busy, not permitted, gone)
// rather than that the spec is wrong. A *bus.FieldError names a wrong
// configData value, unless it wraps an error of the operating system (a
// syscall.Errno, *fs.PathError or *os.SyscallError: ENOENT for a port not
// plugged in, EBUSY, EACCES, ENODEV), which the drivers report against the
// key naming the port, bus or pin. Any other error is the hardware's.
func HardwareMissing(err error) bool {
	var fe *bus.FieldError
	if !errors.As(err, &fe) {
		return true
	}
	var errno syscall.Errno
	var pe *fs.PathError
	var se *os.SyscallError
	return errors.As(err, &errno) || errors.As(err, &pe) || errors.As(err, &se)
}
