package device

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// slowPart is a part whose reads take delay on the test's fake clock, as an
// SHT3x waits out its measurement (delayMs) before its answer; it records
// the clock when each read completes.
type slowPart struct {
	clock *time.Time
	delay time.Duration
	err   error
	done  []int64 // the clock as each read completed, Unix nanoseconds
}

func (p *slowPart) Read() (float64, error) {
	*p.clock = p.clock.Add(p.delay)
	p.done = append(p.done, p.clock.UnixNano())
	return 1, p.err
}

// slowBatch reads the points of one device in one transaction that takes
// delay, as a Batcher does.
type slowBatch struct {
	clock *time.Time
	delay time.Duration
	done  []int64
}

func (b *slowBatch) ReadPoints(idx []int, vals []float64, errs []error) {
	*b.clock = b.clock.Add(b.delay)
	b.done = append(b.done, b.clock.UnixNano())
	for i := range idx {
		vals[i], errs[i] = 1, nil
	}
}

// A sample carries the time its own read completed, not the time the round
// of reads started: a part that waits out a measurement delays the parts
// read after it in the same round, and their samples must say so.
func TestSamplesCarryTheTimeTheirOwnReadCompleted(t *testing.T) {
	const ms = time.Millisecond
	type part struct {
		device uint64 // parts of one device with batch set share a transaction
		delay  time.Duration
		fail   bool
	}
	for _, tc := range []struct {
		name  string
		parts []part
		batch time.Duration // > 0: device 1 is a Batcher whose transaction takes this long
		want  []time.Duration
	}{
		{"a delayed part, then a fast one",
			[]part{{device: 1, delay: 16 * ms}, {device: 2}}, 0, []time.Duration{16 * ms, 16 * ms}},
		{"two delayed parts",
			[]part{{device: 1, delay: 16 * ms}, {device: 2, delay: 16 * ms}}, 0, []time.Duration{16 * ms, 32 * ms}},
		{"a failed read after a delayed one",
			[]part{{device: 1, delay: 16 * ms}, {device: 2, delay: 5 * ms, fail: true}}, 0, []time.Duration{16 * ms, 21 * ms}},
		{"one transaction: one time, then the next device's own",
			[]part{{device: 1}, {device: 1}, {device: 2, delay: 3 * ms}}, 16 * ms, []time.Duration{16 * ms, 16 * ms, 19 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Unix(1_700_000_000, 0)
			clock := start
			w := newWorker("fake:1", func() time.Time { return clock })
			var batch *slowBatch
			if tc.batch > 0 {
				batch = &slowBatch{clock: &clock, delay: tc.batch}
			}
			var props []*prop
			var parts []*slowPart
			for i, pt := range tc.parts {
				sp := &slowPart{clock: &clock, delay: pt.delay}
				if pt.fail {
					sp.err = errors.New("no answer")
				}
				p := &prop{point: sp, device: pt.device, index: i, ring: ringbuf.New(4)}
				if batch != nil && pt.device == 1 {
					p.batcher = batch
				}
				w.add(p, time.Second)
				props, parts = append(props, p), append(parts, sp)
			}
			w.readDue()

			for i, p := range props {
				var s ringbuf.Sample
				if !p.ring.Latest(&s) {
					t.Fatalf("part %d: no sample", i)
				}
				if got := time.Duration(s.Time - start.UnixNano()); got != tc.want[i] {
					t.Errorf("part %d: sample at start+%v; want start+%v", i, got, tc.want[i])
				}
				if (s.Err != 0) != tc.parts[i].fail {
					t.Errorf("part %d: error code %d; want a failure: %v", i, s.Err, tc.parts[i].fail)
				}
				if p.batcher == nil && (len(parts[i].done) != 1 || parts[i].done[0] != s.Time) {
					t.Errorf("part %d: sample at %d; its read completed at %v", i, s.Time, parts[i].done)
				}
			}
			if batch != nil && len(batch.done) != 1 {
				t.Errorf("%d transactions; want 1", len(batch.done))
			}
		})
	}
}

// A read that says the part has no value yet (bus.ErrNoValueYet: a serial
// sensor before its first line) leaves no sample and no error, so the
// device's state is not changed by it; any other error is a failed sample.
func TestAPartWithNoValueYetLeavesNoSample(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		wantSample bool
		wantErr    string
	}{
		{"no value yet", fmt.Errorf("serial ttyACM0 t: no line matching T= yet: %w", bus.ErrNoValueYet), false, ""},
		{"a failure", errors.New("serial ttyACM0 t: no line matching T= yet"), true, "serial ttyACM0 t: no line matching T= yet"},
		{"a value", nil, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := time.Unix(1_700_000_000, 0)
			w := newWorker("fake:1", func() time.Time { return clock })
			p := &prop{point: &slowPart{clock: &clock, err: tc.err}, device: 1, ring: ringbuf.New(4)}
			w.add(p, time.Second)
			w.readDue()
			var s ringbuf.Sample
			if got := p.ring.Latest(&s); got != tc.wantSample {
				t.Errorf("a sample in the ring: %v, want %v", got, tc.wantSample)
			}
			got := ""
			if e := p.lastErr.Load(); e != nil {
				got = *e
			}
			if got != tc.wantErr {
				t.Errorf("the property's error %q, want %q", got, tc.wantErr)
			}
			if failures := w.failures.Load(); (failures != 0) != (tc.wantErr != "") {
				t.Errorf("%d failures counted", failures)
			}
		})
	}
}
