package sink_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// pushPaced pushes samples from..to-1 into r in steps the pump keeps up
// with (the ring holds 64), waiting until s has taken each step.
func pushPaced(t *testing.T, s *sink.Sinks, r *ringbuf.Ring, from, to int) {
	t.Helper()
	for i := from; i < to; i += 32 {
		push(r, i, min(i+32, to))
		waitFor(t, "the pump", func() bool {
			st := s.Stats()
			return len(st) == 1 && uint64(st[0].Buffered+st[0].Spooled)+st[0].Sent+st[0].Dropped == uint64(min(i+32, to)-1)
		})
	}
}

// values returns the values of what k received for key, in order.
func values(t *testing.T, k *kind, key string) []int {
	t.Helper()
	var out []int
	for _, m := range k.received(key) {
		_, v, _ := strings.Cut(m, `"value":`)
		v, _, _ = strings.Cut(v, ",")
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("message %s: %v", m, err)
		}
		out = append(out, n)
	}
	return out
}

func TestASpoolKeepsWhatTheBufferCannotHoldInOrder(t *testing.T) {
	for _, tc := range []struct {
		name       string
		buffer     int
		spoolBytes int64
		samples    int
		dropped    int // exact
	}{
		// 4096 bytes: 8 segments of 25 records on disk.
		{"all of it fits buffer and spool", 20, sink.MinSpoolBytes, 200, 0},
		// 480 past the buffer fill 20 segments; the newest 8 stay.
		{"the spool fills: its oldest segments go", 20, sink.MinSpoolBytes, 500, 12 * 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, k, rs := &source{}, newKind(), []*ringbuf.Ring{ringbuf.New(64)}
			k.setFail("mqtt a:1", errors.New("connection refused"))
			src.set(thermo("t1", rs, "a:1", "x"))
			dir := filepath.Join(t.TempDir(), "spool")
			s := run(t, src, sink.Options{Buffer: tc.buffer, SpoolDir: dir, SpoolBytes: tc.spoolBytes}, k)
			pushPaced(t, s, rs[0], 1, tc.samples+1)
			waitFor(t, "the spool", func() bool { st := s.Stats(); return st[0].Buffered <= tc.buffer })
			st := s.Stats()[0]
			if st.Spooled+st.Buffered+int(st.Dropped) != tc.samples || st.Spooled == 0 || int(st.Dropped) != tc.dropped {
				t.Fatalf("during the outage %+v: want %d samples spooled, buffered or dropped, %d dropped", st, tc.samples, tc.dropped)
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("spool directory: %v, %v; want mode 0700", fi, err)
			}
			segs, _ := filepath.Glob(filepath.Join(dir, "*", "*.seg"))
			for _, f := range segs {
				if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("segment %s: %v; want mode 0600", f, err)
				}
			}
			k.setFail("mqtt a:1", nil)
			waitFor(t, "delivery", func() bool { st := s.Stats()[0]; return st.Buffered == 0 && st.Spooled == 0 })
			got := values(t, k, "mqtt a:1")
			if len(got) != tc.samples-tc.dropped {
				t.Fatalf("received %d, want %d", len(got), tc.samples-tc.dropped)
			}
			for i, v := range got {
				if v != tc.dropped+1+i {
					t.Fatalf("message %d has value %d, want %d: the oldest go, the rest arrive once in order", i, v, tc.dropped+1+i)
				}
			}
			if st := s.Stats()[0]; int(st.Dropped) != tc.dropped || st.Error != "" {
				t.Errorf("after delivery %+v", st)
			}
		})
	}
}

func TestAnUnusableSpoolFallsBackToDroppingAndSaysWhy(t *testing.T) {
	file := filepath.Join(t.TempDir(), "spool")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	src, k, rs := &source{}, newKind(), rings(1)
	k.setFail("mqtt a:1", errors.New("connection refused"))
	src.set(thermo("t1", rs, "a:1", "x"))
	s := run(t, src, sink.Options{Buffer: 10, SpoolDir: file}, k)
	pushPaced(t, s, rs[0], 1, 51)
	st := s.Stats()[0]
	if st.Dropped != 40 || st.Buffered != 10 || st.Spooled != 0 {
		t.Errorf("stats %+v: want 10 buffered and 40 dropped, as without a spool", st)
	}
	errs := s.PushErrors("plant", "t1")
	if len(errs) != 1 || !strings.Contains(errs[0], "connection refused; spool "+file) || !strings.Contains(errs[0], "not a directory") {
		t.Errorf("PushErrors = %q, want the send error and the spool's", errs)
	}
	k.setFail("mqtt a:1", nil)
	waitFor(t, "delivery", func() bool { return len(k.received("mqtt a:1")) == 10 })
	if got := values(t, k, "mqtt a:1"); got[0] != 41 || got[9] != 50 {
		t.Errorf("received %v, want 41..50", got)
	}
}

func TestASpoolDoesNotOutliveItsRunOrItsDestination(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "mqtt-0123456789abcdef", "0000000000000000.seg")
	if err := os.MkdirAll(filepath.Dir(old), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("TMSPOOL1"), 0o600); err != nil {
		t.Fatal(err)
	}
	src, k, rs := &source{}, newKind(), rings(1)
	k.setFail("mqtt a:1", errors.New("connection refused"))
	src.set(thermo("t1", rs, "a:1", "x"))
	s := run(t, src, sink.Options{Buffer: 10, SpoolDir: dir}, k)
	pushPaced(t, s, rs[0], 1, 41)
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("a previous run's segment is still there: %v", err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "mqtt-*", "*.seg"))
	if st := s.Stats()[0]; st.Spooled != 30 || len(segs) != 1 || st.Lag <= 0 {
		t.Fatalf("stats %+v, segments %q: want 30 spooled in one segment, and a lag", st, segs)
	}
	src.set(thermo("t1", rs, "b:1", "x"))
	waitFor(t, "a:1 to stop", func() bool { _, c := k.openedAndClosed(); return len(c) == 1 })
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(segs[0]), "*.seg")); len(left) != 0 {
		t.Errorf("a stopped destination leaves %q", left)
	}
}
