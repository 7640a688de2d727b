// Package device runs devices: it keeps the models and devices EdgeCore (or a
// standalone YAML file) describes, opens each through its protocol's bus.Driver,
// samples every property on one worker goroutine per physical bus into a
// ringbuf.Ring, writes desired values, and reports twins and states through a
// Sender.
//
// # Ownership
//
// A device entry is immutable once the Manager shares it: every change (a
// put, a desired value, a model change, hardware found, a retry
// rescheduled) builds a new entry and swaps it in, under the manager's lock,
// in the device's turn among the calls changing it (one at a time per
// device, in the order they were made). The lock is held only to look up and
// swap, never across bus I/O. Each swap publishes a new sorted list of the
// entries, which readers (the Reporter, REST, the sinks, the metrics) load
// without a lock, through Snapshot, Device, Property, Twins and the other
// read methods; none of them touches the lock or the map. What changes
// without a new entry is atomic: a device's state and error, a property's
// desired value, last read error and write status, and the samples in its
// ring. A bus worker owns its bus, its heap of due reads and the tasks in
// it; the manager starts one with the first device opened on a bus and stops
// it when the last one closes.
//
// # Sample times
//
// A sample carries the time (Options.Now) its own read completed, so a part
// read after a slow one in the same round (an SHT3x waiting out delayMs) is
// not stamped early; the properties read in one bus.Batcher transaction share
// the time it completed. The round's start time only schedules the next reads.
package device
