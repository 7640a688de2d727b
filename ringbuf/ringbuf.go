// Package ringbuf is a lock-free ring of fixed-size samples with one writer and
// any number of readers.
//
// The writer (the bus worker that read the property) calls Push; it never blocks
// and, once the ring is full, overwrites the oldest sample. Each reader keeps its
// own Cursor: Next hands out samples in order and tells how many were
// overwritten before the reader got to them. Latest reads the newest sample
// without a cursor. Nothing allocates after New.
//
// Every field is an atomic, so the ring is clean under the race detector. A
// slot is two words, the value and the time; a failed reading's error code
// travels in the value word as a NaN payload no decoded value can have. A
// push is three atomic stores: the slot's value and time, then the head. A
// reader loads a slot's words and then the head: if the head shows the writer
// may have started on the slot again, the read is retried. Go's atomics are
// sequentially consistent, so a reader that saw either word of a newer sample
// also sees the head that preceded it.
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
	// (the device manager uses it to mark failed reads). A sample with an
	// error carries no value: it reads back with Value 0.
	Err uint32
}

// A slot's value word holds math.Float64bits(Value), or, for a sample with
// an error, errTag|Err: a signalling NaN with a payload marker that Push
// never stores for a value (it stores such NaNs as the quiet NaN instead).
const (
	errTag  = 0x7FF4_0000_0000_0000
	tagMask = 0xFFFF_FFFF_0000_0000
)

type slot struct {
	value atomic.Uint64 // math.Float64bits(Value), or errTag|Err
	time  atomic.Int64
}

// valueWord returns what a slot's value word holds for s.
func valueWord(s Sample) uint64 {
	if s.Err != 0 {
		return errTag | uint64(s.Err)
	}
	v := math.Float64bits(s.Value)
	if v&tagMask == errTag {
		return math.Float64bits(math.NaN()) // a NaN that would read as an error
	}
	return v
}

// Ring is the sample ring. Create it with New.
type Ring struct {
	slots []slot
	mask  uint64
	keep  uint64        // samples kept: len(slots)-1
	head  atomic.Uint64 // number of samples pushed so far
}

// New returns a ring keeping at least the newest size samples: it has a power
// of two of slots, and keeps one less than that (the slot the writer may be
// filling is never read).
func New(size int) *Ring {
	n := 2
	for n < size+1 {
		n <<= 1
	}
	return &Ring{slots: make([]slot, n), mask: uint64(n - 1), keep: uint64(n - 1)}
}

// Cap returns how many samples the ring keeps.
func (r *Ring) Cap() int { return int(r.keep) }

// Len returns how many samples have been pushed in all.
func (r *Ring) Len() uint64 { return r.head.Load() }

// Push appends s, overwriting the oldest sample when the ring is full. Only one
// goroutine may call Push.
func (r *Ring) Push(s Sample) {
	n := r.head.Load()
	sl := &r.slots[n&r.mask]
	sl.value.Store(valueWord(s))
	sl.time.Store(s.Time)
	r.head.Store(n + 1)
}

// read copies sample n, which the caller saw published (n < head), into s.
// It returns false when the writer may have begun overwriting it.
func (r *Ring) read(n uint64, s *Sample) bool {
	sl := &r.slots[n&r.mask]
	v := sl.value.Load()
	t := sl.time.Load()
	// The writer starts on sample n+len(slots), in n's slot, only after
	// publishing head = n+len(slots). If we saw any of its stores, we see
	// that head now.
	if r.head.Load()-n > r.keep {
		return false
	}
	s.Time = t
	if v&tagMask == errTag {
		s.Value, s.Err = 0, uint32(v)
	} else {
		s.Value, s.Err = math.Float64frombits(v), 0
	}
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
		if oldest := h - r.keep; h > r.keep && c.next < oldest {
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
		if n > r.keep {
			n = r.keep
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
