package device

import (
	"cmp"
	"container/heap"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// A worker owns one physical bus. It keeps a heap of due reads, runs them in
// due order, and runs management jobs (add, remove, write) between reads, so
// a bus is never used by two goroutines and no lock is held across bus I/O.
//
// The manager starts a worker's goroutine with the first device opened on
// its bus and stops it once the last one has closed (see takeWorker).
type worker struct {
	bus  string
	jobs chan func()
	quit chan struct{} // closed to stop the goroutine
	due  taskHeap
	now  func() time.Time
	// users counts the open devices on the bus; guarded by Manager.mu.
	users int

	// Scratch space for readDue, reused so the sampling path does not allocate.
	batch []*task
	idx   []int
	vals  []float64
	errs  []error

	reads         atomic.Uint64
	failures      atomic.Uint64
	writes        atomic.Uint64 // desired writes
	writeFailures atomic.Uint64
	batches       atomic.Uint64 // coalesced transactions
	lateNs        atomic.Int64  // how late the most recent round of reads started (jitter)
	maxLate       atomic.Int64
}

// task is one property's periodic read.
type task struct {
	due    int64 // unix nanoseconds
	period int64
	prop   *prop
	index  int // position in the heap; -1 once removed
}

func newWorker(bus string, now func() time.Time) *worker {
	return &worker{bus: bus, jobs: make(chan func(), 64), quit: make(chan struct{}), now: now}
}

// post runs f on the worker's goroutine without waiting. A worker stops
// only once no device uses it, so no job is posted after.
func (w *worker) post(f func()) {
	select {
	case w.jobs <- f:
	case <-w.quit:
	}
}

// run is the worker's goroutine; it returns once quit is closed.
func (w *worker) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if len(w.due) > 0 {
			timer.Reset(time.Duration(w.due[0].due - w.now().UnixNano()))
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case <-w.quit:
			return
		case f := <-w.jobs:
			f()
		case <-timer.C:
			w.readDue()
		}
	}
}

// readDue reads every task that is due. Tasks of one device that are due
// together and whose device is a bus.Batcher are read in one transaction.
// The round's start time schedules the next reads (the phase is kept); each
// sample carries the time its own read completed. This is the sampling path:
// it must not allocate.
func (w *worker) readDue() {
	now := w.now().UnixNano()
	w.batch = w.batch[:0]
	for len(w.due) > 0 && w.due[0].due <= now {
		w.batch = append(w.batch, heap.Pop(&w.due).(*task))
	}
	if len(w.batch) == 0 {
		return
	}
	late := now - w.batch[0].due
	w.lateNs.Store(late)
	if late > w.maxLate.Load() {
		w.maxLate.Store(late)
	}
	if len(w.batch) > 1 {
		slices.SortFunc(w.batch, byDeviceThenIndex)
	}
	for i := 0; i < len(w.batch); {
		p := w.batch[i].prop
		j := i + 1
		for j < len(w.batch) && p.batcher != nil && w.batch[j].prop.device == p.device {
			j++
		}
		if j-i == 1 {
			w.sample(p)
		} else {
			w.sampleBatch(w.batch[i:j])
		}
		i = j
	}
	for _, t := range w.batch {
		// Keep the phase; skip whole periods that were missed.
		t.due += t.period
		if t.due <= now {
			t.due += ((now-t.due)/t.period + 1) * t.period
		}
		heap.Push(&w.due, t)
	}
}

func byDeviceThenIndex(a, b *task) int {
	if c := cmp.Compare(a.prop.device, b.prop.device); c != 0 {
		return c
	}
	return cmp.Compare(a.prop.index, b.prop.index)
}

// sample reads one property and pushes the result to its ring, stamped
// with the time the read completed: a part read after a slow one in the same
// round (an SHT3x waits out its measurement) carries its own time.
func (w *worker) sample(p *prop) {
	v, err := p.point.Read()
	w.push(p, v, err, w.now().UnixNano())
}

// sampleBatch reads several properties of one device in one transaction;
// their samples carry the time the transaction completed.
func (w *worker) sampleBatch(tasks []*task) {
	n := len(tasks)
	if cap(w.idx) < n {
		w.idx, w.vals, w.errs = make([]int, n), make([]float64, n), make([]error, n)
	}
	idx, vals, errs := w.idx[:n], w.vals[:n], w.errs[:n]
	for i, t := range tasks {
		idx[i] = t.prop.index
		errs[i] = nil
	}
	tasks[0].prop.batcher.ReadPoints(idx, vals, errs)
	now := w.now().UnixNano()
	w.batches.Add(1)
	for i, t := range tasks {
		w.push(t.prop, vals[i], errs[i], now)
	}
}

func (w *worker) push(p *prop, v float64, err error, now int64) {
	w.reads.Add(1)
	if err != nil {
		if errors.Is(err, bus.ErrNoValueYet) {
			return // no sample, and no change of state (see bus.ErrNoValueYet)
		}
		w.failures.Add(1)
		p.setErr(err)
		p.ring.Push(ringbuf.Sample{Time: now, Err: 1})
		return
	}
	p.clearErr()
	p.ring.Push(ringbuf.Sample{Time: now, Value: v})
}

// add schedules p every period, first read now. Call on the worker goroutine.
func (w *worker) add(p *prop, period time.Duration) {
	t := &task{due: w.now().UnixNano(), period: int64(period), prop: p}
	p.task = t
	heap.Push(&w.due, t)
}

// remove unschedules p. Call on the worker goroutine.
func (w *worker) remove(p *prop) {
	if t := p.task; t != nil && t.index >= 0 {
		heap.Remove(&w.due, t.index)
		p.task = nil
	}
}

// readNow reads p at once (after a write) and keeps its schedule.
func (w *worker) readNow(p *prop) {
	w.sample(p)
}

type taskHeap []*task

func (h taskHeap) Len() int           { return len(h) }
func (h taskHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h taskHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *taskHeap) Push(x any) {
	t := x.(*task)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
