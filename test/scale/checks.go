package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tinymapper/tinymapper/board/sim/tmp102"
	"github.com/tinymapper/tinymapper/internal/edgecore"
)

// tracker keeps, in the order the stand-in accepted them, the temperature
// twin of every report: enough to tell whether changes reached EdgeCore in
// the order they happened.
type tracker struct {
	mu      sync.Mutex
	records []record
	// firstSamples is each device's first sample time (from its REST
	// history), the change a device's first report carries, by
	// "namespace/name".
	firstSamples map[string]time.Time
}

type record struct {
	device     string
	value      float64
	sampleTime time.Time // reported.metadata["timestamp"], milliseconds
	at         time.Time
}

func newTracker() *tracker { return &tracker{} }

func (t *tracker) onReport(device string, twins []edgecore.Delivery) {
	for _, d := range twins {
		if d.Property != temperature {
			continue
		}
		v, err := strconv.ParseFloat(d.Value, 64)
		if err != nil {
			continue
		}
		t.mu.Lock()
		t.records = append(t.records, record{device: device, value: v, sampleTime: d.SampleTime, at: d.At})
		t.mu.Unlock()
	}
}

// OrderCheck says whether changed twins reached EdgeCore in change order.
//
// A report carries a change when its temperature differs from the one the
// device reported before, or when it is the device's first. The change
// happened at the device's first sample after its previous report whose value
// differs: the sim's temperature is a known function of time
// (tmp102.Temperature) and a device is sampled every cycle at a fixed phase,
// so that sample is found by stepping from the previous report's sample
// time. The read follows the sample's timestamp by up to a few milliseconds
// and the twin's timestamp has millisecond resolution, so the change is known
// to lie in an interval [lo, hi]. A first report's change is the device's
// first sample (from its REST history). A report is out of order when its
// change certainly happened before that of a report that arrived earlier
// (its hi is before their largest lo) by more than orderSlack.
type OrderCheck struct {
	Changes    int // changed reports whose change time is known
	First      int // of which first reports
	Heartbeats int // reports without a change
	Unknown    int // first reports without a known first sample
	// OutOfOrder counts reports out of order by more than orderSlack;
	// Jitter those out of order by less: sample times are the start of
	// their bus's round of reads, which is late by up to the bus's
	// lateness, so the phase stepped to from the previous report is known
	// to that precision only.
	OutOfOrder, Jitter int
	Worst              time.Duration // the largest amount out of order
}

// orderSlack is how far out of order a report may seem from schedule jitter.
const orderSlack = 50 * time.Millisecond

func (o OrderCheck) String() string {
	s := fmt.Sprintf("%d changed reports checked (%d first reports), %d heartbeats", o.Changes, o.First, o.Heartbeats)
	if o.Unknown > 0 {
		s += fmt.Sprintf(", %d first reports not checked", o.Unknown)
	}
	if o.Jitter > 0 {
		s += fmt.Sprintf(", %d out of order within the %v schedule jitter", o.Jitter, orderSlack)
	}
	if o.OutOfOrder == 0 {
		return s + ": in change order"
	}
	return s + fmt.Sprintf(": %d OUT OF ORDER, by up to %v", o.OutOfOrder, o.Worst.Round(time.Millisecond))
}

// readSlack is how long after a round's timestamp a read may happen.
const readSlack = 50 * time.Millisecond

func (t *tracker) check(cycle time.Duration) OrderCheck {
	t.mu.Lock()
	records := slices.Clone(t.records)
	t.mu.Unlock()
	var o OrderCheck
	prev := map[string]record{}
	var maxLo time.Time
	for _, r := range records {
		var lo, hi time.Time
		p, seen := prev[r.device]
		prev[r.device] = r
		switch {
		case !seen:
			first, ok := t.firstSamples[r.device]
			if !ok {
				o.Unknown++
				continue
			}
			lo, hi = first, first
			o.First++
		case r.value == p.value:
			o.Heartbeats++
			continue
		default:
			lo, hi = changeInterval(p.sampleTime, p.value, r.sampleTime, cycle)
		}
		o.Changes++
		if !maxLo.IsZero() && hi.Before(maxLo) {
			by := maxLo.Sub(hi)
			if by <= orderSlack {
				o.Jitter++
			} else {
				o.OutOfOrder++
			}
			o.Worst = max(o.Worst, by)
		}
		if lo.After(maxLo) {
			maxLo = lo
		}
	}
	return o
}

// changeInterval finds the sample that first saw a temperature other than
// prevValue after the sample at prevTime, stepping by cycle up to newTime.
// Sample times have millisecond resolution and the read follows its sample
// time by up to readSlack, so the answer is an interval of sample times: lo
// is the first sample whose read may have seen the change, hi the first that
// certainly did.
func changeInterval(prevTime time.Time, prevValue float64, newTime time.Time, cycle time.Duration) (lo, hi time.Time) {
	differs := func(at time.Time) bool { return math.Abs(tmp102.Temperature(at)-prevValue) > 1e-9 }
	for ts := prevTime.Add(cycle); !ts.After(newTime); ts = ts.Add(cycle) {
		if lo.IsZero() && differs(ts.Add(readSlack)) {
			lo = ts
		}
		if differs(ts) {
			if lo.IsZero() {
				lo = ts
			}
			return lo, ts
		}
	}
	if lo.IsZero() {
		lo = newTime
	}
	return lo, newTime
}

// restProperty is the part of GET /api/v1/device/{ns}/{name}/{property} read here.
type restProperty struct {
	History []struct {
		Value     any       `json:"value"`
		Timestamp time.Time `json:"timestamp"`
		Error     bool      `json:"error"`
	} `json:"history"`
}

func getHistory(c *http.Client, base, device string) (restProperty, error) {
	var p restProperty
	resp, err := c.Get(fmt.Sprintf("%s/api/v1/device/%s/%s/%s?history=4096", base, namespace, device, temperature))
	if err != nil {
		return p, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return p, fmt.Errorf("GET history of %s: %s", device, resp.Status)
	}
	return p, json.NewDecoder(resp.Body).Decode(&p)
}

// firstSampleTimes reads every device's oldest temperature sample, which
// is its first while its ring has not wrapped: call it right after start.
func firstSampleTimes(c *http.Client, base string, n int) map[string]time.Time {
	out := make(map[string]time.Time, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				p, err := getHistory(c, base, deviceName(i))
				if err != nil || len(p.History) == 0 {
					continue
				}
				mu.Lock()
				out[namespace+"/"+deviceName(i)] = p.History[0].Timestamp // as the stand-in keys devices
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// historyCollector gathers one device's temperature samples from the REST
// history, polled often enough that the ring never wraps between polls.
type historyCollector struct {
	device  string
	samples map[time.Time]bool // sample time → error
	errs    int                // failed polls
}

func (h *historyCollector) collect(c *http.Client, base string) {
	p, err := getHistory(c, base, h.device)
	if err != nil {
		h.errs++
		return
	}
	if h.samples == nil {
		h.samples = map[time.Time]bool{}
	}
	for _, s := range p.History {
		h.samples[s.Timestamp] = s.Error
	}
}

// HistoryCheck says whether the data plane kept every sample of the window.
type HistoryCheck struct {
	Device   string
	Samples  int // in the window
	Expected int // window / cycle
	Missing  int // samples missing from gaps, and at either end of the window
	Failed   int // samples that are read errors
	Polls    int // polls that failed
	MaxGap   time.Duration
}

func (h HistoryCheck) OK() bool { return h.Missing == 0 && h.Failed == 0 && h.Polls == 0 }

func (h HistoryCheck) String() string {
	verdict := "every sample kept"
	if !h.OK() {
		verdict = fmt.Sprintf("NOT every sample: %d missing, %d failed reads, %d failed polls", h.Missing, h.Failed, h.Polls)
	}
	return fmt.Sprintf("%s: %d samples in the window (expected ~%d), largest gap %v: %s",
		h.Device, h.Samples, h.Expected, h.MaxGap.Round(time.Millisecond), verdict)
}

func (h *historyCollector) check(from, to time.Time, cycle time.Duration) HistoryCheck {
	out := HistoryCheck{Device: h.device, Polls: h.errs, Expected: int(to.Sub(from) / cycle)}
	var ts []time.Time
	for t, failed := range h.samples {
		if t.Before(from) || t.After(to) {
			continue
		}
		ts = append(ts, t)
		if failed {
			out.Failed++
		}
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	out.Samples = len(ts)
	if len(ts) == 0 {
		out.Missing = out.Expected
		return out
	}
	// Gaps, counting the window's ends as samples one cycle out.
	points := append(append([]time.Time{from.Add(-cycle / 2)}, ts...), to.Add(cycle/2))
	for i := 1; i < len(points); i++ {
		d := points[i].Sub(points[i-1])
		if i > 1 && i < len(points)-1 {
			out.MaxGap = max(out.MaxGap, d)
		}
		if d > cycle*3/2 {
			out.Missing += int(math.Round(float64(d)/float64(cycle))) - 1
		}
	}
	return out
}
