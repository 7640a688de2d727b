package device

import "sort"

// BusStats describes one bus worker, for metrics.
type BusStats struct {
	Bus string
	// Reads and Failures count property reads since start; Batches counts
	// coalesced transactions (each covering several reads).
	Reads, Failures, Batches uint64
	// Writes and WriteFailures count desired writes since start.
	Writes, WriteFailures uint64
	// LateNs is how late the most recent round of reads started after it was
	// due; MaxLateNs is the largest such delay since start (schedule jitter).
	LateNs, MaxLateNs int64
	// Tasks is how many properties the worker samples.
	Tasks int
}

// Stats returns the state of every bus worker, sorted by bus.
func (m *Manager) Stats() []BusStats {
	m.mu.RLock()
	out := make([]BusStats, 0, len(m.workers))
	tasks := map[*worker]int{}
	for _, r := range m.devices {
		if r.dev != nil {
			tasks[r.worker] += len(r.props)
		}
	}
	for name, w := range m.workers {
		out = append(out, BusStats{Bus: name, Reads: w.reads.Load(), Failures: w.failures.Load(),
			Writes: w.writes.Load(), WriteFailures: w.writeFailures.Load(), Batches: w.batches.Load(), LateNs: w.lateNs.Load(), MaxLateNs: w.maxLate.Load(), Tasks: tasks[w]})
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Bus < out[j].Bus })
	return out
}

// StateCounts returns how many devices are in each state.
func (m *Manager) StateCounts() map[string]int {
	out := map[string]int{StateOnline: 0, StateUnhealthy: 0, StateOffline: 0, StateUnknown: 0}
	m.mu.RLock()
	for _, r := range m.devices {
		out[r.state.Load().(string)]++
	}
	m.mu.RUnlock()
	return out
}

// DeviceKeys returns "namespace/name" of every device of protocol, sorted.
func (m *Manager) DeviceKeys(protocol string) []string {
	m.mu.RLock()
	var out []string
	for key, r := range m.devices {
		if r.spec.Protocol == protocol {
			out = append(out, key)
		}
	}
	m.mu.RUnlock()
	sort.Strings(out)
	return out
}
