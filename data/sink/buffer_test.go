package sink

import (
	"testing"
)

// drain takes every record out of b in batches of n and returns their
// times.
func drain(b *Buffer, n int) []int64 {
	var out []int64
	batch := make([]Record, n)
	for {
		from, k := b.peek(batch)
		if k == 0 {
			return out
		}
		for _, r := range batch[:k] {
			out = append(out, r.Time)
		}
		b.finish(from, k)
	}
}

func TestABufferKeepsTheNewestInOrderAndCountsWhatItDrops(t *testing.T) {
	for _, tc := range []struct {
		name         string
		limit, push  int
		wantLen      int // the room it ends with
		wantDropped  uint64
		drainedFirst int // records taken out before the pushes (kept up with)
	}{
		{name: "one record", limit: 1, push: 5, wantLen: 1, wantDropped: 4},
		{name: "below the first room", limit: 100, push: 60, wantLen: 100, wantDropped: 0},
		{name: "fits the first room", limit: 10000, push: 200, wantLen: firstRecords, wantDropped: 0},
		{name: "grows twice", limit: 10000, push: 1000, wantLen: 4 * firstRecords, wantDropped: 0},
		{name: "grows to the bound and drops", limit: 1000, push: 2500, wantLen: 1000, wantDropped: 1500},
		{name: "a bound that is not a doubling", limit: 300, push: 301, wantLen: 300, wantDropped: 1},
		{name: "wrapped before growing", limit: 10000, push: 400, drainedFirst: 200, wantLen: 2 * firstRecords, wantDropped: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuffer(tc.limit)
			next := int64(0)
			// Records pushed and taken out at once leave the room as it
			// was, but move the sequence numbers past a wrap.
			for range tc.drainedFirst {
				b.push(Record{Time: next})
				next++
				if got := drain(b, 7); len(got) != 1 || got[0] != next-1 {
					t.Fatalf("kept up: drained %v, want [%d]", got, next-1)
				}
			}
			first := next
			for range tc.push {
				b.push(Record{Time: next})
				next++
			}
			if len(b.recs) != tc.wantLen {
				t.Errorf("room %d records, want %d", len(b.recs), tc.wantLen)
			}
			n, oldest, dropped := b.state()
			if dropped != tc.wantDropped {
				t.Errorf("dropped %d, want %d", dropped, tc.wantDropped)
			}
			kept := int64(tc.push) - int64(tc.wantDropped)
			if n != int(kept) || oldest != next-kept {
				t.Errorf("state: %d buffered, oldest %d; want %d, oldest %d", n, oldest, kept, next-kept)
			}
			got := drain(b, 64)
			if int64(len(got)) != kept {
				t.Fatalf("drained %d records, want %d", len(got), kept)
			}
			for i, v := range got {
				if want := first + int64(tc.wantDropped) + int64(i); v != want {
					t.Fatalf("record %d is %d, want %d (the newest, in order)", i, v, want)
				}
			}
		})
	}
}

// A batch in flight while pushes grow the buffer stays where finish
// expects it: its records leave, and those pushed out count once.
func TestABufferGrowingUnderABatchInFlight(t *testing.T) {
	b := NewBuffer(1000)
	for i := range 200 {
		b.push(Record{Time: int64(i)})
	}
	batch := make([]Record, 100)
	from, k := b.peek(batch)
	for i := 200; i < 1100; i++ { // grows to 1000, then pushes out 100
		b.push(Record{Time: int64(i)})
	}
	b.finish(from, k) // delivered: the 100 in flight (pushed out meanwhile)
	n, oldest, dropped := b.state()
	if n != 1000 || oldest != 100 || dropped != 0 {
		t.Errorf("after a delivered batch: %d buffered, oldest %d, dropped %d; want 1000, 100, 0", n, oldest, dropped)
	}
	from, k = b.peek(batch)
	for i := 1100; i < 1150; i++ {
		b.push(Record{Time: int64(i)})
	}
	b.finish(from, 0) // failed: the 50 pushed out of it are lost
	if _, oldest, dropped := b.state(); oldest != 150 || dropped != 50 {
		t.Errorf("after a failed batch: oldest %d, dropped %d; want 150, 50", oldest, dropped)
	}
}

func BenchmarkBufferKeptUp(b *testing.B) {
	buf := NewBuffer(10_000_000)
	batch := make([]Record, DefaultBatch)
	b.ReportAllocs()
	for i := range b.N {
		buf.push(Record{Time: int64(i)})
		if i%DefaultBatch == DefaultBatch-1 {
			from, k := buf.peek(batch)
			buf.finish(from, k)
		}
	}
	if len(buf.recs) != firstRecords {
		b.Fatalf("room %d records while kept up, want %d", len(buf.recs), firstRecords)
	}
}

func TestABufferWithASpoolHandsOverWhatExceedsItsLimit(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		pushed, pushedDuring int // before over, and while its batch is out
		written              int // what the spool took of the batch
		wantOver, wantDrop   int
	}{
		{"nothing over the limit", 10, 0, 0, 0, 0},
		{"what is over goes, the newest stay", 25, 0, 15, 15, 0},
		{"pushed out while being written: not dropped", 40, 10, 30, 30, 0},
		{"pushed out while being written, then not written: dropped", 40, 10, 0, 30, 10},
		{"partly written", 40, 10, 4, 30, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuffer(10)
			b.setSpill(30) // holds 40 at most
			for i := range tc.pushed {
				b.push(Record{Time: int64(i)})
			}
			dst := make([]Record, 64)
			from, n := b.over(dst)
			if n != tc.wantOver {
				t.Fatalf("over = %d, want %d", n, tc.wantOver)
			}
			for i := range n {
				if dst[i].Time != int64(i) {
					t.Fatalf("over[%d] = %d: not the oldest", i, dst[i].Time)
				}
			}
			for i := range tc.pushedDuring {
				b.push(Record{Time: int64(tc.pushed + i)})
			}
			b.finish(from, tc.written)
			if got, _, dropped := b.state(); dropped != uint64(tc.wantDrop) || got+tc.written+tc.wantDrop != tc.pushed+tc.pushedDuring {
				t.Errorf("%d buffered, %d dropped, %d written of %d", got, dropped, tc.written, tc.pushed+tc.pushedDuring)
			}
		})
	}
}
