package sink

import "sync"

// Buffer is a destination's bounded FIFO of records. The pump pushes; the
// destination's goroutine peeks a batch, sends it, and commits it. When it
// is full, Push drops the oldest record (even one being sent: its commit
// then skips it) and counts it. Nothing allocates after NewBuffer.
type Buffer struct {
	mu         sync.Mutex
	recs       []Record
	start, end uint64 // sequence numbers of the oldest and next record
	dropped    uint64
	// flight is the end of the batch peek handed out (0: none); a record
	// below it pushed out while being sent is counted in lost, and only
	// as dropped if the send fails.
	flight, lost uint64
}

// NewBuffer returns a buffer holding up to n records.
func NewBuffer(n int) *Buffer { return &Buffer{recs: make([]Record, max(n, 1))} }

func (b *Buffer) push(r Record) {
	b.mu.Lock()
	if b.end-b.start == uint64(len(b.recs)) {
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
	b.mu.Lock()
	defer b.mu.Unlock()
	for n < len(dst) && b.start+uint64(n) < b.end {
		dst[n] = b.recs[(b.start+uint64(n))%uint64(len(b.recs))]
		n++
	}
	b.flight, b.lost = b.start+uint64(n), 0
	return b.start, n
}

// retry ends a batch that was not delivered: it stays buffered, and the
// records of it pushed out meanwhile count as dropped.
func (b *Buffer) retry() {
	b.mu.Lock()
	b.dropped += b.lost
	b.flight, b.lost = 0, 0
	b.mu.Unlock()
}

// commit ends a batch that was delivered (or rejected for good): it
// removes the n records peek returned from from, unless pushes have
// removed them already.
func (b *Buffer) commit(from uint64, n int) {
	b.mu.Lock()
	b.flight, b.lost = 0, 0
	for end := from + uint64(n); b.start < end && b.start < b.end; b.start++ {
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
