package data

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"

	"github.com/tinymapper/tinymapper/device"
)

// StatsSource is what the metrics endpoint reads; *device.Manager implements it.
type StatsSource interface {
	Stats() []device.BusStats
	StateCounts() map[string]int
}

// Metrics serves the mapper's own figures in the Prometheus text format:
// reads, read failures, desired writes, write failures, coalesced
// transactions and schedule lateness per bus,
// devices per state, and the Go runtime's goroutines and heap.
func Metrics(src StatsSource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		writeMetrics(w, src)
	})
}

// PushMetrics is what /metrics also shows when the source has it: the push
// sinks' figures per destination (*sink.Sinks implements it).
type PushMetrics interface {
	WritePushMetrics(w io.Writer)
}

func writeMetrics(w io.Writer, src StatsSource) {
	stats := src.Stats()
	family := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	perBus := func(name, typ, help string, v func(device.BusStats) string) {
		family(name, typ, help)
		for _, s := range stats {
			fmt.Fprintf(w, "%s{bus=%s} %s\n", name, strconv.Quote(s.Bus), v(s))
		}
	}
	u := func(x uint64) string { return strconv.FormatUint(x, 10) }
	sec := func(ns int64) string { return strconv.FormatFloat(float64(ns)/1e9, 'f', -1, 64) }
	perBus("tinymapper_bus_reads_total", "counter", "Property reads.", func(s device.BusStats) string { return u(s.Reads) })
	perBus("tinymapper_bus_read_failures_total", "counter", "Property reads that failed.", func(s device.BusStats) string { return u(s.Failures) })
	perBus("tinymapper_bus_writes_total", "counter", "Desired values written or tried.", func(s device.BusStats) string { return u(s.Writes) })
	perBus("tinymapper_bus_write_failures_total", "counter", "Desired values the device, bus or driver refused.", func(s device.BusStats) string { return u(s.WriteFailures) })
	perBus("tinymapper_bus_batches_total", "counter", "Coalesced transactions reading several properties.", func(s device.BusStats) string { return u(s.Batches) })
	perBus("tinymapper_bus_properties", "gauge", "Properties sampled on the bus.", func(s device.BusStats) string { return strconv.Itoa(s.Tasks) })
	perBus("tinymapper_bus_schedule_lateness_seconds", "gauge", "How late the latest round of reads started.", func(s device.BusStats) string { return sec(s.LateNs) })
	perBus("tinymapper_bus_schedule_lateness_max_seconds", "gauge", "Largest lateness since start.", func(s device.BusStats) string { return sec(s.MaxLateNs) })

	states := src.StateCounts()
	family("tinymapper_devices", "gauge", "Devices by state.")
	for _, st := range []string{device.StateOnline, device.StateUnhealthy, device.StateOffline, device.StateUnknown} {
		fmt.Fprintf(w, "tinymapper_devices{state=%q} %d\n", st, states[st])
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	family("go_goroutines", "gauge", "Goroutines.")
	fmt.Fprintf(w, "go_goroutines %d\n", runtime.NumGoroutine())
	family("go_memstats_heap_inuse_bytes", "gauge", "Heap in use.")
	fmt.Fprintf(w, "go_memstats_heap_inuse_bytes %d\n", ms.HeapInuse)
	family("go_memstats_sys_bytes", "gauge", "Memory obtained from the OS.")
	fmt.Fprintf(w, "go_memstats_sys_bytes %d\n", ms.Sys)
	if pm, ok := src.(PushMetrics); ok {
		pm.WritePushMetrics(w)
	}
}
