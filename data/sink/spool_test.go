package sink

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// spoolRecords returns n records of bd with times from..from+n-1.
func spoolRecords(bd *Binding, from, n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{B: bd, Time: int64(from + i), Value: float64(from+i) / 4}
	}
	return recs
}

// drainSpool reads s to the end in batches of batch and returns the times.
func drainSpool(t *testing.T, s *spool, batch int) []int64 {
	t.Helper()
	var out []int64
	dst := make([]Record, batch)
	for {
		n := s.read(dst)
		if n == 0 {
			return out
		}
		for _, r := range dst[:n] {
			if r.Value != float64(r.Time)/4 || r.B == nil {
				t.Fatalf("record %+v came back changed", r)
			}
			out = append(out, r.Time)
		}
		s.commit(n)
	}
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func openTestSpool(t *testing.T, maxBytes int64, batch int) *spool {
	t.Helper()
	s := newSpool(filepath.Join(t.TempDir(), "spool", "mqtt-1"), maxBytes, batch)
	if err := s.open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s
}

func TestASpoolGivesBackWhatItTookInOrder(t *testing.T) {
	bd := NewTestBinding("plant", "t", "p", "int", "", nil)
	other := NewTestBinding("plant", "t", "q", "int", "", nil)
	// MinSpoolBytes: 25 records a segment, 8 segments.
	for _, tc := range []struct {
		name         string
		write, batch int      // records written per append, read per batch
		rounds       [][2]int // records written then read, per round
	}{
		{"one partial segment", 7, 256, [][2]int{{10, 10}}},
		{"exactly one segment", 25, 256, [][2]int{{25, 25}}},
		{"across segments in small batches", 3, 4, [][2]int{{180, 180}}},
		{"reading while writing wraps the segments around", 11, 9, [][2]int{{150, 100}, {120, 100}, {100, 170}}},
		{"a batch larger than a segment", 256, 256, [][2]int{{199, 199}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestSpool(t, MinSpoolBytes, tc.batch)
			next, want := 0, 0
			var got []int64
			for _, r := range tc.rounds {
				for w := 0; w < r[0]; {
					k := min(tc.write, r[0]-w)
					recs := spoolRecords(bd, next, k)
					if next%2 == 1 {
						recs[0].B = other
					}
					n, err := s.append(recs)
					if err != nil || n != k {
						t.Fatalf("append %d = %d, %v", k, n, err)
					}
					w += k
					next += k
				}
				dst := make([]Record, tc.batch)
				for read := 0; read < r[1]; {
					n := s.read(dst[:min(tc.batch, r[1]-read)])
					if n == 0 {
						t.Fatalf("read nothing with %d spooled", s.len())
					}
					for _, rec := range dst[:n] {
						got = append(got, rec.Time)
					}
					s.commit(n)
					read += n
				}
				want += r[1]
			}
			for i, tm := range got {
				if tm != int64(i) {
					t.Fatalf("record %d has time %d: out of order", i, tm)
				}
			}
			if len(got) != want || s.len() != next-want || s.dropped.Load() != 0 {
				t.Errorf("read %d, %d spooled, %d dropped; want %d, %d, 0", len(got), s.len(), s.dropped.Load(), want, next-want)
			}
			// Consumed segments go; the newest stays open for more.
			if s.len() == 0 && len(segFiles(t, s.dir)) > 1 {
				t.Errorf("an empty spool leaves %q", segFiles(t, s.dir))
			}
			s.close()
			if files := segFiles(t, s.dir); len(files) != 0 {
				t.Errorf("a closed spool leaves %q", files)
			}
		})
	}
}

func TestASpoolPastItsBoundDropsTheOldestSegmentsAndCountsThem(t *testing.T) {
	bd := NewTestBinding("plant", "t", "p", "int", "", nil)
	for _, tc := range []struct {
		name          string
		write, before int // written, and read (then committed) before writing on
		dropped       int
	}{
		{"just fits", 200, 0, 0},
		{"one record over drops a segment", 201, 0, 25},
		{"twice the bound", 400, 0, 200},
		{"what was read is not counted", 230, 10, 15 + 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestSpool(t, MinSpoolBytes, 256)
			if s.segRecs != 25 || s.maxSegs != 8 {
				t.Fatalf("segments of %d records, %d of them; the cases assume 25 and 8", s.segRecs, s.maxSegs)
			}
			first := min(tc.write, 100)
			if _, err := s.append(spoolRecords(bd, 0, first)); err != nil {
				t.Fatal(err)
			}
			dst := make([]Record, tc.before)
			if n := s.read(dst); n != tc.before {
				t.Fatalf("read %d, want %d", n, tc.before)
			}
			s.commit(tc.before)
			if _, err := s.append(spoolRecords(bd, first, tc.write-first)); err != nil {
				t.Fatal(err)
			}
			got := drainSpool(t, s, 64)
			if int(s.dropped.Load()) != tc.dropped || len(got)+tc.before+tc.dropped != tc.write {
				t.Errorf("dropped %d, read %d+%d of %d; want %d dropped and the rest read", s.dropped.Load(), tc.before, len(got), tc.write, tc.dropped)
			}
			for i, tm := range got {
				if tm != int64(tc.before+tc.dropped+i) {
					t.Fatalf("after the drop record %d has time %d, want %d", i, tm, tc.before+tc.dropped+i)
				}
			}
			if files := segFiles(t, s.dir); len(files) > 1 {
				t.Errorf("drained spool leaves %q", files)
			}
		})
	}
}

func TestASpoolThatCannotWriteSaysWhyAndKeepsCount(t *testing.T) {
	bd := NewTestBinding("plant", "t", "p", "int", "", nil)
	t.Run("the directory is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "spool")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		s := newSpool(filepath.Join(file, "mqtt-1"), MinSpoolBytes, 16)
		err := s.open()
		if err == nil || !strings.Contains(s.fail(err).Error(), "spool "+file) {
			t.Fatalf("open = %v, want an error naming %s", err, file)
		}
		if n, err := s.append(spoolRecords(bd, 0, 3)); n != 0 || err == nil {
			t.Errorf("append after a failure = %d, %v", n, err)
		}
	})
	t.Run("the directory goes away under it", func(t *testing.T) {
		s := openTestSpool(t, MinSpoolBytes, 256)
		if _, err := s.append(spoolRecords(bd, 0, 30)); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(s.dir); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(s.dir, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		n, err := s.append(spoolRecords(bd, 30, 30))
		if err == nil || !strings.Contains(err.Error(), s.dir) || n != 20 {
			t.Fatalf("append = %d, %v; want the 20 that fit the open segment and an error naming %s", n, err, s.dir)
		}
		got := drainSpool(t, s, 64)
		// The first segment's file is gone and was never opened: dropped;
		// the second is still open for writing but cannot be opened for
		// reading either.
		if len(got)+int(s.dropped.Load()) != 50 || s.len() != 0 {
			t.Errorf("read %d, dropped %d, %d spooled: want 50 accounted for", len(got), s.dropped.Load(), s.len())
		}
	})
}

func TestARecordNamingNoBindingIsSkippedAndCounted(t *testing.T) {
	bd := NewTestBinding("plant", "t", "p", "int", "", nil)
	var src []byte
	for i, id := range []uint32{0, 0, 7, 0} {
		src = appendRecord(src, id, int64(i), 1)
	}
	dst := make([]Record, 8)
	byID := []*Binding{bd}
	for _, want := range []struct{ n, used int }{{2, 2}, {0, 1}, {1, 1}} {
		n, used := decodeRecords(dst, src, byID)
		if n != want.n || used != want.used {
			t.Fatalf("decode = %d, %d; want %d, %d", n, used, want.n, want.used)
		}
		src = src[used*spoolRec:]
	}
}

// FuzzSpoolSegment parses arbitrary bytes as a segment file the way read
// does: the header, then records against a table of two bindings (one
// removed); it must never panic, and what it decodes must encode back to
// the same bytes.
func FuzzSpoolSegment(f *testing.F) {
	bd := NewTestBinding("plant", "t", "p", "int", "", nil)
	seg := []byte(spoolMagic)
	seg = appendRecord(seg, 0, 1764931200123e6, 21.5)
	seg = appendRecord(seg, 1, 1, -1)
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add([]byte("TMSPOOL0"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if checkHeader(data) != nil {
			return
		}
		src := data[spoolHead:]
		byID := []*Binding{bd, nil}
		dst := make([]Record, 16)
		for len(src) >= spoolRec {
			n, used := decodeRecords(dst, src, byID)
			if used == 0 || used > len(src)/spoolRec || n > used || n > len(dst) {
				t.Fatalf("decode = %d, %d of %d bytes", n, used, len(src))
			}
			var again []byte
			for _, r := range dst[:n] {
				if r.B != bd {
					t.Fatalf("decoded %+v", r)
				}
				again = appendRecord(again, 0, r.Time, r.Value)
			}
			if string(again) != string(src[:n*spoolRec]) {
				t.Fatalf("decoded records encode to %x, not %x", again, src[:n*spoolRec])
			}
			src = src[used*spoolRec:]
		}
	})
}

// BenchmarkSpoolOverflowAndReadBack is one record through the spool:
// pushed into a full buffer, moved to disk by spill's steps (over, append,
// finish) in batches of DefaultBatch, then read back and committed.
// allocs/op is per record; the budget is 0 (a segment file every 200,000
// records costs a few, amortised).
func BenchmarkSpoolOverflowAndReadBack(b *testing.B) {
	s := newSpool(filepath.Join(b.TempDir(), "mqtt-1"), DefaultSpoolBytes, DefaultBatch)
	if err := s.open(); err != nil {
		b.Fatal(err)
	}
	defer s.close()
	buf := NewBuffer(1)
	buf.setSpill(spillRoom)
	bd := NewTestBinding("plant", "t", "p", "int", "", nil)
	batch := make([]Record, DefaultBatch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += DefaultBatch {
		k := min(DefaultBatch, b.N-i)
		for j := range k {
			buf.push(Record{B: bd, Time: int64(i + j), Value: 1})
		}
		from, n := buf.over(batch)
		w, err := s.append(batch[:n])
		if err != nil {
			b.Fatal(err)
		}
		buf.finish(from, w)
		for s.len() > 0 {
			n := s.read(batch)
			s.commit(n)
		}
	}
}

func TestASpoolsSegmentsFollowItsBound(t *testing.T) {
	for _, tc := range []struct {
		maxBytes        int64
		segRecs, segs   int
		bytesAtMostUsed int64
	}{
		{0, (4<<20 - 8) / 20, 16, DefaultSpoolBytes},
		{1, 25, 8, MinSpoolBytes},
		{MinSpoolBytes, 25, 8, MinSpoolBytes},
		{1 << 20, (128<<10 - 8) / 20, 8, 1 << 20},
		{1 << 41, (4<<20 - 8) / 20, 1 << 40 / (8 + (4<<20-8)/20*20), MaxSpoolBytes},
	} {
		s := newSpool(t.TempDir(), tc.maxBytes, 16)
		used := int64(s.maxSegs) * int64(spoolHead+s.segRecs*spoolRec)
		if s.segRecs != tc.segRecs || s.maxSegs != tc.segs || used > tc.bytesAtMostUsed {
			t.Errorf("max_bytes %d: %d segments of %d records (%d bytes); want %d of %d, at most %d bytes",
				tc.maxBytes, s.maxSegs, s.segRecs, used, tc.segs, tc.segRecs, tc.bytesAtMostUsed)
		}
	}
}
