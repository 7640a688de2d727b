package sink

import "sync"

// Buffer is a destination's bounded FIFO of records. The pump pushes; the
// destination's goroutine peeks a batch, sends it, and commits it. When it
// is full, Push drops the oldest record (even one being sent: its commit
// then skips it) and counts it.
//
// Its memory follows what waits, not the bound: it starts small and
// doubles while records pile up, up to the bound, so a destination that
// keeps up costs a few KB however large push.buffer is, and a hundred
// destinations cost nothing until they fall behind. Once grown it stays
// (an outage is likely to come back); nothing allocates at its size.
type Buffer struct {
	mu         sync.Mutex
	recs       []Record
	limit      uint64 // the bound, or with a spool where moving to disk starts
	bound      uint64 // what it holds at most: limit, or limit+room with a spool
	start, end uint64 // sequence numbers of the oldest and next record
	dropped    uint64
	// flight is the end of the batch peek handed out (0: none); a record
	// below it pushed out while being sent is counted in lost, and only
	// as dropped if the send fails.
	flight, lost uint64
}

// firstRecords is how many records a buffer holds before it first grows.
const firstRecords = 256

// NewBuffer returns a buffer holding up to n records (at least 1).
func NewBuffer(n int) *Buffer {
	limit := uint64(max(n, 1))
	return &Buffer{recs: make([]Record, min(limit, firstRecords)), limit: limit, bound: limit}
}

// spillRoom is how many records beyond its limit a buffer with a spool
// holds at most (at least): those wait in memory while the destination's
// goroutine is busy in a send, before it moves them to disk.
const spillRoom = 1024

// setSpill lets the buffer hold room records beyond its limit for the
// destination's goroutine to move to its spool (over); 0 turns that off,
// and the next push drops what exceeds the limit.
func (b *Buffer) setSpill(room uint64) {
	b.mu.Lock()
	b.bound = b.limit + room
	b.mu.Unlock()
}

// grow doubles the records' room, up to the bound, keeping every record
// at its sequence number modulo the new length.
func (b *Buffer) grow() {
	n := min(2*uint64(len(b.recs)), b.bound)
	recs := make([]Record, n)
	for s := b.start; s < b.end; s++ {
		recs[s%n] = b.recs[s%uint64(len(b.recs))]
	}
	b.recs = recs
}

func (b *Buffer) push(r Record) {
	b.mu.Lock()
	if b.end-b.start == uint64(len(b.recs)) && uint64(len(b.recs)) < b.bound {
		b.grow()
	}
	for b.end-b.start >= min(uint64(len(b.recs)), b.bound) {
		b.recs[b.start%uint64(len(b.recs))] = Record{}
		if b.start < b.flight {
			b.lost++
		} else {
			b.dropped++
		}
		b.start++
	}
	b.recs[b.end%uint64(len(b.recs))] = r
	b.end++
	b.mu.Unlock()
}

// drop counts n records lost before they reached the buffer (the reader
// was lapped in the ring).
func (b *Buffer) drop(n uint64) {
	b.mu.Lock()
	b.dropped += n
	b.mu.Unlock()
}

// peek copies the oldest records into dst and returns the sequence number
// of the first and how many it copied.
func (b *Buffer) peek(dst []Record) (from uint64, n int) {
	return b.peekN(dst, ^uint64(0))
}

// over is peek of the records beyond the limit only: those the
// destination's goroutine moves to its spool.
func (b *Buffer) over(dst []Record) (from uint64, n int) {
	return b.peekN(dst, b.limit)
}

// peekN is peek, leaving the newest keep records out.
func (b *Buffer) peekN(dst []Record, keep uint64) (from uint64, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	avail := uint64(0)
	if c := b.end - b.start; c > keep {
		avail = c - keep
	}
	if keep == ^uint64(0) {
		avail = b.end - b.start
	}
	for n < len(dst) && uint64(n) < avail {
		dst[n] = b.recs[(b.start+uint64(n))%uint64(len(b.recs))]
		n++
	}
	b.flight, b.lost = b.start+uint64(n), 0
	return b.start, n
}

// finish ends the batch peek handed out from from: its first handled
// records were delivered (or refused for good) and leave the buffer, unless
// pushes removed them already; the rest stay, and those of them pushed out
// meanwhile (always the oldest, so after the handled ones) count as
// dropped.
func (b *Buffer) finish(from uint64, handled int) {
	b.mu.Lock()
	if b.lost > uint64(handled) {
		b.dropped += b.lost - uint64(handled)
	}
	b.flight, b.lost = 0, 0
	for end := from + uint64(handled); b.start < end && b.start < b.end; b.start++ {
		b.recs[b.start%uint64(len(b.recs))] = Record{} // let removed bindings go
	}
	b.mu.Unlock()
}

// state returns how many records are buffered, the time of the oldest
// (0 when none) and how many were dropped in all.
func (b *Buffer) state() (n int, oldest int64, dropped uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = int(b.end - b.start)
	if n > 0 {
		oldest = b.recs[b.start%uint64(len(b.recs))].Time
	}
	return n, oldest, b.dropped
}
