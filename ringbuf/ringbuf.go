// Package ringbuf is a lock-free ring of fixed-size samples with one writer and
// any number of readers.
//
// The writer (the bus worker that read the property) calls Push; it never blocks
// and, once the ring is full, overwrites the oldest sample. Each reader keeps its
// own Cursor: Next hands out samples in order and tells how many were
// overwritten before the reader got to them. Latest reads the newest sample
// without a cursor. Nothing allocates after New.
//
// Every slot carries a sequence number written before and after its fields
// (a seqlock), and every field is an atomic, so a reader that races the writer
// sees either a whole sample or a retry, never a torn one.
package ringbuf

import (
	"math"
	"sync/atomic"
)

// Sample is one reading of a property.
type Sample struct {
	// Time is the reading's time in Unix nanoseconds.
	Time int64
	// Value is the decoded, scaled value.
	Value float64
	// Err is zero for a good reading; otherwise a code the producer defines
	// (the device manager uses it to mark failed reads).
	Err uint32
}

type slot struct {
	seq   atomic.Uint64 // 2n+1 while sample n is written, 2n+2 once it is whole
	time  atomic.Int64
	value atomic.Uint64
	err   atomic.Uint32
}

// Ring is the sample ring. Create it with New.
type Ring struct {
	slots []slot
	mask  uint64
	head  atomic.Uint64 // number of samples pushed so far
}

// New returns a ring holding the newest size samples; size is rounded up to a
// power of two (at least 2).
func New(size int) *Ring {
	n := 2
	for n < size {
		n <<= 1
	}
	return &Ring{slots: make([]slot, n), mask: uint64(n - 1)}
}

// Cap returns how many samples the ring keeps.
func (r *Ring) Cap() int { return len(r.slots) }

// Len returns how many samples have been pushed in all.
func (r *Ring) Len() uint64 { return r.head.Load() }

// Push appends s, overwriting the oldest sample when the ring is full. Only one
// goroutine may call Push.
func (r *Ring) Push(s Sample) {
	n := r.head.Load()
	sl := &r.slots[n&r.mask]
	sl.seq.Store(2*n + 1)
	sl.time.Store(s.Time)
	sl.value.Store(math.Float64bits(s.Value))
	sl.err.Store(s.Err)
	sl.seq.Store(2*n + 2)
	r.head.Store(n + 1)
}

// read copies sample n into s. It returns false when sample n is no longer (or
// not yet) in its slot.
func (r *Ring) read(n uint64, s *Sample) bool {
	sl := &r.slots[n&r.mask]
	want := 2*n + 2
	if sl.seq.Load() != want {
		return false
	}
	t := sl.time.Load()
	v := sl.value.Load()
	e := sl.err.Load()
	if sl.seq.Load() != want {
		return false
	}
	s.Time, s.Value, s.Err = t, math.Float64frombits(v), e
	return true
}

// Latest copies the newest sample into s. It returns false when nothing has
// been pushed yet.
func (r *Ring) Latest(s *Sample) bool {
	for {
		h := r.head.Load()
		if h == 0 {
			return false
		}
		if r.read(h-1, s) {
			return true
		}
	}
}

// A Cursor is one reader's position in a ring. The zero Cursor starts at the
// oldest sample still kept; use Ring.Tail to start at the newest.
type Cursor struct {
	next uint64
}

// Tail returns a cursor that will see only samples pushed from now on.
func (r *Ring) Tail() Cursor { return Cursor{next: r.head.Load()} }

// Next copies the cursor's next sample into s and advances. ok is false when
// the reader has caught up. missed counts samples overwritten before this
// reader got to them (skipped over by this call).
func (r *Ring) Next(c *Cursor, s *Sample) (ok bool, missed uint64) {
	for {
		h := r.head.Load()
		if c.next >= h {
			return false, missed
		}
		if oldest := h - uint64(len(r.slots)); h > uint64(len(r.slots)) && c.next < oldest {
			missed += oldest - c.next
			c.next = oldest
		}
		if r.read(c.next, s) {
			c.next++
			return true, missed
		}
		// The writer lapped us while we read: loop to recount from the new head.
	}
}

// Last copies up to len(dst) of the newest samples into dst, oldest first, and
// returns how many it copied. It is for history queries; it does not allocate.
func (r *Ring) Last(dst []Sample) int {
	for {
		h := r.head.Load()
		n := uint64(len(dst))
		if n > h {
			n = h
		}
		if n > uint64(len(r.slots)) {
			n = uint64(len(r.slots))
		}
		start := h - n
		ok := true
		for i := uint64(0); i < n; i++ {
			if !r.read(start+i, &dst[i]) {
				ok = false
				break
			}
		}
		if ok {
			return int(n)
		}
	}
}
