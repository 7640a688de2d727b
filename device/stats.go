package device

import "sort"

// BusStats describes one bus worker, for metrics.
type BusStats struct {
	Bus string
	// Reads and Failures count property reads since the worker started;
	// Batches counts coalesced transactions (each covering several reads).
	// A worker stops when the last device on its bus goes, and its counts
	// with it.
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
	tasks := map[*worker]int{}
	for _, e := range m.entries() {
		if e.worker != nil {
			tasks[e.worker] += len(e.props)
		}
	}
	out := make([]BusStats, 0, len(tasks))
	for w, n := range tasks {
		out = append(out, BusStats{Bus: w.bus, Reads: w.reads.Load(), Failures: w.failures.Load(),
			Writes: w.writes.Load(), WriteFailures: w.writeFailures.Load(), Batches: w.batches.Load(),
			LateNs: w.lateNs.Load(), MaxLateNs: w.maxLate.Load(), Tasks: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Bus < out[j].Bus })
	return out
}

// StateCounts returns how many devices are in each state.
func (m *Manager) StateCounts() map[string]int {
	out := map[string]int{StateOnline: 0, StateUnhealthy: 0, StateOffline: 0, StateUnknown: 0}
	for _, e := range m.entries() {
		out[e.st.State()]++
	}
	return out
}

// DeviceKeys returns "namespace/name" of every device of protocol, sorted.
func (m *Manager) DeviceKeys(protocol string) []string {
	var out []string
	for _, e := range m.entries() {
		if e.spec.Protocol == protocol {
			out = append(out, e.key)
		}
	}
	sort.Strings(out)
	return out
}
