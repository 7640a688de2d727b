package device

import (
	"context"
	"time"

	"github.com/tinymapper/tinymapper/ringbuf"
)

// stateOf derives a device's state from its properties' latest samples.
func stateOf(e *entry) string {
	if e.waitingForHardware() {
		return StateOffline
	}
	if e.dev == nil || len(e.props) == 0 {
		return StateUnknown
	}
	good, bad := 0, 0
	var s ringbuf.Sample
	for _, p := range e.props {
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
		for _, e := range m.entries() {
			state := stateOf(e)
			if old := e.st.State(); old == state {
				continue
			}
			e.st.setState(state)
			args := []any{"device", e.key, "state", state}
			if state != StateOnline {
				for _, p := range e.props {
					if err := p.lastErr.Load(); err != nil {
						args = append(args, "property", p.name, "err", *err)
						break
					}
				}
			}
			m.log.Info("device "+state, args...)
			m.notify()
		}
	}
}
