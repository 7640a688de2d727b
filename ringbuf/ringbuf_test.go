package ringbuf

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// pushSeq pushes samples from..to-1, each with Time and Value equal to its
// sequence number.
func pushSeq(r *Ring, from, to int) {
	for i := from; i < to; i++ {
		r.Push(Sample{Time: int64(i), Value: float64(i)})
	}
}

func TestNewKeepsOneLessThanAPowerOfTwo(t *testing.T) {
	tests := []struct {
		size, want int
	}{
		{-5, 1},
		{0, 1},
		{1, 1},
		{2, 3},
		{3, 3},
		{4, 7},
		{5, 7},
		{1000, 1023},
		{1023, 1023},
		{1024, 2047},
	}
	for _, tt := range tests {
		if got := New(tt.size).Cap(); got != tt.want {
			t.Errorf("New(%d).Cap() = %d, want %d", tt.size, got, tt.want)
		}
	}
}

func TestLatest(t *testing.T) {
	tests := []struct {
		name   string
		pushed int // samples 0..pushed-1 go into a ring of 4
		ok     bool
		want   int64
	}{
		{"empty ring has no latest", 0, false, 0},
		{"one sample", 1, true, 0},
		{"partly full", 3, true, 2},
		{"exactly full", 4, true, 3},
		{"after overwriting", 11, true, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(4)
			pushSeq(r, 0, tt.pushed)
			var s Sample
			ok := r.Latest(&s)
			if ok != tt.ok {
				t.Fatalf("Latest ok = %v, want %v", ok, tt.ok)
			}
			if ok && (s.Time != tt.want || s.Value != float64(tt.want)) {
				t.Errorf("Latest = %+v, want sample %d", s, tt.want)
			}
			if got := r.Len(); got != uint64(tt.pushed) {
				t.Errorf("Len = %d, want %d", got, tt.pushed)
			}
		})
	}
}

func TestPushKeepsEveryField(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		in   Sample
		want Sample
	}{
		{"a value", Sample{Time: -1234567890123, Value: -0.1}, Sample{Time: -1234567890123, Value: -0.1}},
		{"an error carries no value", Sample{Time: 5, Value: 3, Err: 7}, Sample{Time: 5, Err: 7}},
		{"the largest error code", Sample{Time: 5, Err: math.MaxUint32}, Sample{Time: 5, Err: math.MaxUint32}},
		{"infinity", Sample{Time: 1, Value: math.Inf(-1)}, Sample{Time: 1, Value: math.Inf(-1)}},
		{"the largest float64", Sample{Time: 1, Value: math.MaxFloat64}, Sample{Time: 1, Value: math.MaxFloat64}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(2)
			r.Push(tt.in)
			var out Sample
			if !r.Latest(&out) || out != tt.want {
				t.Fatalf("Latest = %+v, want %+v", out, tt.want)
			}
		})
	}
	// NaNs stay NaNs without an error, even one whose bits look like an
	// error's.
	for _, bits := range []uint64{math.Float64bits(nan), errTag | 7, errTag} {
		r := New(2)
		r.Push(Sample{Time: 1, Value: math.Float64frombits(bits)})
		var out Sample
		if !r.Latest(&out) || !math.IsNaN(out.Value) || out.Err != 0 {
			t.Errorf("pushed NaN bits %#x, read %+v; want a NaN without an error", bits, out)
		}
	}
}

func TestSlotIsTwoWords(t *testing.T) {
	if size := unsafe.Sizeof(slot{}); size != 16 {
		t.Errorf("a slot is %d bytes; want 16 (5000 properties x 64 slots = 5 MiB)", size)
	}
}

// drain reads c until it catches up and returns the times seen and the total
// missed.
func drain(r *Ring, c *Cursor) (seen []int64, missed uint64) {
	var s Sample
	for {
		ok, m := r.Next(c, &s)
		missed += m
		if !ok {
			return seen, missed
		}
		seen = append(seen, s.Time)
	}
}

func seq(from, to int) []int64 {
	var out []int64
	for i := from; i < to; i++ {
		out = append(out, int64(i))
	}
	return out
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNextFromZeroCursor(t *testing.T) {
	tests := []struct {
		name       string
		pushed     int // into a ring that keeps 3
		wantSeen   []int64
		wantMissed uint64
	}{
		{"empty ring: nothing to read", 0, nil, 0},
		{"partly full: everything in order", 2, seq(0, 2), 0},
		{"exactly full: nothing lost", 3, seq(0, 3), 0},
		{"one overwritten: starts at the oldest kept", 4, seq(1, 4), 1},
		{"many overwritten: counts all of them", 10, seq(7, 10), 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(3)
			pushSeq(r, 0, tt.pushed)
			var c Cursor
			seen, missed := drain(r, &c)
			if !equal(seen, tt.wantSeen) || missed != tt.wantMissed {
				t.Errorf("saw %v missed %d, want %v missed %d", seen, missed, tt.wantSeen, tt.wantMissed)
			}
			if uint64(len(seen))+missed != uint64(tt.pushed) {
				t.Errorf("seen %d + missed %d != pushed %d", len(seen), missed, tt.pushed)
			}
		})
	}
}

func TestNextReportsMissedOnTheCallThatSkips(t *testing.T) {
	r := New(3)
	var c Cursor
	var s Sample
	pushSeq(r, 0, 2)
	if ok, m := r.Next(&c, &s); !ok || m != 0 || s.Time != 0 {
		t.Fatalf("first Next = %v, %d, %+v; want sample 0, none missed", ok, m, s)
	}
	// The reader is at 1; the writer pushes up to 9, and the ring keeps
	// only 7..9, so 1..6 are lost.
	pushSeq(r, 2, 10)
	ok, m := r.Next(&c, &s)
	if !ok || m != 6 || s.Time != 7 {
		t.Fatalf("Next after lap = %v, missed %d, %+v; want sample 7, 6 missed", ok, m, s)
	}
	ok, m = r.Next(&c, &s)
	if !ok || m != 0 || s.Time != 8 {
		t.Fatalf("Next = %v, missed %d, %+v; want sample 8, none missed", ok, m, s)
	}
}

func TestNextCaughtUpThenNewSamples(t *testing.T) {
	r := New(4)
	var c Cursor
	var s Sample
	if ok, m := r.Next(&c, &s); ok || m != 0 {
		t.Fatalf("Next on empty ring = %v, %d; want false, 0", ok, m)
	}
	pushSeq(r, 0, 1)
	if ok, _ := r.Next(&c, &s); !ok || s.Time != 0 {
		t.Fatalf("Next = %v %+v; want sample 0", ok, s)
	}
	if ok, m := r.Next(&c, &s); ok || m != 0 {
		t.Fatalf("Next when caught up = %v, %d; want false, 0", ok, m)
	}
	pushSeq(r, 1, 3)
	seen, missed := drain(r, &c)
	if !equal(seen, seq(1, 3)) || missed != 0 {
		t.Errorf("saw %v missed %d, want [1 2] missed 0", seen, missed)
	}
}

func TestReaderExactlyOneLapBehindMissesNothing(t *testing.T) {
	r := New(3)
	var c Cursor
	pushSeq(r, 0, 3) // reader at 0, ring full: sample 0 is still kept
	seen, missed := drain(r, &c)
	if !equal(seen, seq(0, 3)) || missed != 0 {
		t.Errorf("saw %v missed %d, want 0..2 missed 0", seen, missed)
	}
}

func TestTailSeesOnlyNewSamples(t *testing.T) {
	tests := []struct {
		name     string
		before   int
		after    int
		wantSeen []int64
		wantMiss uint64
		ringSize int
	}{
		{name: "empty ring", before: 0, after: 2, wantSeen: seq(0, 2), ringSize: 3},
		{name: "old samples are skipped", before: 3, after: 2, wantSeen: seq(3, 5), ringSize: 3},
		{name: "nothing new", before: 7, after: 0, wantSeen: nil, ringSize: 3},
		{name: "new samples overrun the tail", before: 2, after: 7, wantSeen: seq(6, 9), wantMiss: 4, ringSize: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.ringSize)
			pushSeq(r, 0, tt.before)
			c := r.Tail()
			pushSeq(r, tt.before, tt.before+tt.after)
			seen, missed := drain(r, &c)
			if !equal(seen, tt.wantSeen) || missed != tt.wantMiss {
				t.Errorf("saw %v missed %d, want %v missed %d", seen, missed, tt.wantSeen, tt.wantMiss)
			}
		})
	}
}

func TestLast(t *testing.T) {
	tests := []struct {
		name   string
		pushed int // into a ring that keeps 3
		dst    int
		want   []int64
	}{
		{"empty ring", 0, 3, nil},
		{"empty dst", 5, 0, nil},
		{"fewer pushed than asked", 2, 3, seq(0, 2)},
		{"newest two, oldest first", 6, 2, seq(4, 6)},
		{"whole ring", 9, 3, seq(6, 9)},
		{"more than the ring keeps", 9, 10, seq(6, 9)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(3)
			pushSeq(r, 0, tt.pushed)
			dst := make([]Sample, tt.dst)
			n := r.Last(dst)
			var got []int64
			for _, s := range dst[:n] {
				if s.Value != float64(s.Time) {
					t.Fatalf("torn sample %+v", s)
				}
				got = append(got, s.Time)
			}
			if !equal(got, tt.want) {
				t.Errorf("Last(%d) = %v, want %v", tt.dst, got, tt.want)
			}
		})
	}
}

func TestNothingAllocates(t *testing.T) {
	r := New(64)
	pushSeq(r, 0, 100)
	var s Sample
	var c Cursor
	dst := make([]Sample, 16)
	i := 0
	tests := []struct {
		name string
		f    func()
	}{
		{"Push", func() { i++; r.Push(Sample{Time: int64(i), Value: float64(i)}) }},
		{"Latest", func() { r.Latest(&s) }},
		{"Next", func() {
			if ok, _ := r.Next(&c, &s); !ok {
				c = Cursor{}
			}
		}},
		{"Last", func() { r.Last(dst) }},
		{"Tail", func() { c = r.Tail() }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tt.name, n)
		}
	}
}

// TestConcurrentReadersSeeEverySampleOrCountIt runs one writer and several
// readers on a small ring, so readers are lapped often. Each reader must see
// whole samples in strictly increasing order, and what it saw plus what it was
// told it missed must add up to what was pushed.
func TestConcurrentReadersSeeEverySampleOrCountIt(t *testing.T) {
	const (
		readers = 4
		pushed  = 200000
	)
	if testing.Short() {
		t.Skip("stress test")
	}
	r := New(64)
	var done atomic.Bool
	var wg sync.WaitGroup
	type result struct {
		seen, missed uint64
		laps         bool
	}
	results := make([]result, readers)
	errs := make(chan string, readers*3)
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var c Cursor
			var s, latest Sample
			var hist [8]Sample
			last := int64(-1)
			var seen, missed uint64
			for {
				finished := done.Load() // read before draining: nothing new after it
				for {
					ok, m := r.Next(&c, &s)
					missed += m
					if m > 0 {
						results[i].laps = true
					}
					if !ok {
						break
					}
					if s.Value != float64(s.Time) {
						errs <- "torn sample"
						return
					}
					if s.Time <= last {
						errs <- "samples out of order"
						return
					}
					if want := last + 1 + int64(m); s.Time != want {
						errs <- "missed count does not match the gap"
						return
					}
					last = s.Time
					seen++
				}
				// Latest must be a whole sample and never older than what
				// this reader already read.
				if r.Latest(&latest) && (latest.Value != float64(latest.Time) || latest.Time < last) {
					errs <- "Latest went backwards or is torn"
					return
				}
				// Last must return consecutive whole samples, oldest first.
				n := r.Last(hist[:])
				for j := 0; j < n; j++ {
					if hist[j].Value != float64(hist[j].Time) || (j > 0 && hist[j].Time != hist[j-1].Time+1) {
						errs <- "Last returned torn or non-consecutive samples"
						return
					}
				}
				if finished {
					break
				}
				runtime.Gosched() // caught up: let the writer run
			}
			results[i].seen, results[i].missed = seen, missed
		}(i)
	}
	for i := 0; i < pushed; i++ {
		r.Push(Sample{Time: int64(i), Value: float64(i)})
		if i%16 == 0 {
			// Let readers run now and then so that some keep up and some
			// are lapped, rather than all being lapped all the time.
			runtime.Gosched()
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for i, res := range results {
		if res.seen+res.missed != pushed {
			t.Errorf("reader %d: seen %d + missed %d = %d, want %d", i, res.seen, res.missed, res.seen+res.missed, pushed)
		}
		t.Logf("reader %d: seen %d, missed %d", i, res.seen, res.missed)
	}
}

func BenchmarkPush(b *testing.B) {
	r := New(1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Push(Sample{Time: int64(i), Value: float64(i)})
	}
}

func BenchmarkLatest(b *testing.B) {
	r := New(1024)
	pushSeq(r, 0, 10)
	var s Sample
	b.ReportAllocs()
	for b.Loop() {
		r.Latest(&s)
	}
}

func BenchmarkNext(b *testing.B) {
	r := New(1024)
	pushSeq(r, 0, 1024)
	var s Sample
	var c Cursor
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := r.Next(&c, &s); !ok {
			c = Cursor{}
		}
	}
}
