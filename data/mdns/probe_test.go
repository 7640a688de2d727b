package mdns

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// fakeWire is one interface (index 1, 192.0.2.1), or those in more,
// and keeps what is sent.
type fakeWire struct {
	mu   sync.Mutex
	sent []sentPacket
	more map[int]ifaceAddr
	last map[int]ifaceAddr
}

type sentPacket struct {
	at  time.Time
	idx int
	p   packet
}

func (w *fakeWire) scan() (map[int]ifaceAddr, []int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := map[int]ifaceAddr{1: {name: "eth0", ip: [4]byte{192, 0, 2, 1}}}
	for idx, ia := range w.more {
		now[idx] = ia
	}
	var changed []int
	for idx, ia := range now {
		if prev, ok := w.last[idx]; !ok || prev != ia {
			changed = append(changed, idx)
		}
	}
	w.last = maps.Clone(now)
	return now, changed
}

func (w *fakeWire) send(idx int, b []byte) {
	var p packet
	if err := parse(b, &p); err != nil {
		panic(err)
	}
	p.questions = append([]question(nil), p.questions...)
	p.records = append([]record(nil), p.records...)
	w.mu.Lock()
	w.sent = append(w.sent, sentPacket{time.Now(), idx, p})
	w.mu.Unlock()
}

// take returns what was sent since the last take, as "+offset kind names"
// lines, offsets from t0.
func (w *fakeWire) take(t0 time.Time) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, s := range w.sent {
		kind := "announce"
		if !s.p.response {
			kind = "probe"
		}
		var srv string
		for _, r := range s.p.records {
			if r.typ == dnsmessage.TypeSRV {
				srv = fmt.Sprintf("%s→%s", strings.TrimSuffix(r.name, "."+serviceName), r.target)
			}
		}
		out = append(out, fmt.Sprintf("%s %s %s", s.at.Sub(t0).Round(time.Millisecond), kind, srv))
	}
	w.sent = nil
	return out
}

// runLoop runs an advertiser's loop for instance gw on the fake wire, in
// the current synctest bubble, looking at interfaces every rescan.
func runLoop(t *testing.T, logs *lockedBuffer, rescan time.Duration) (*Advertiser, *fakeWire, context.CancelFunc) {
	a := &Advertiser{Info: Info{Instance: "gw", Port: 7777}, Rescan: rescan}
	a.reset()
	w := &fakeWire{}
	ctx, cancel := context.WithCancel(t.Context())
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{ReplaceAttr: func(_ []string, at slog.Attr) slog.Attr {
		if at.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return at
	}}))
	go a.loop(ctx, w, log)
	return a, w, cancel
}

// lockedBuffer is a log the loop writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// clashNow reports c against the advertiser's current zone.
func clashNow(a *Advertiser, c clash) { a.events <- clashEvent{a.zone.Load(), c} }

func TestProbeScheduleThenAnnouncements(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs lockedBuffer
		a, w, cancel := runLoop(t, &logs, time.Hour)
		t0 := time.Now()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		got := w.take(t0)
		if len(got) != 5 {
			t.Fatalf("sent %q, want 3 probes and 2 announcements", got)
		}
		// The first probe comes 0–250 ms after start; then every 250 ms,
		// the announcement 250 ms after the third, repeated 1 s later.
		first := w0(t, got[0])
		for i, want := range []string{"probe gw→gw.local.", "probe gw→gw.local.", "probe gw→gw.local.", "announce gw→gw.local.", "announce gw→gw.local."} {
			at := first + []time.Duration{0, 250, 500, 750, 1750}[i]*time.Millisecond
			if got[i] != fmt.Sprintf("%s %s", at, want) {
				t.Errorf("packet %d: %q, want %q", i, got[i], fmt.Sprintf("%s %s", at, want))
			}
		}
		if first < 0 || first >= probeInterval {
			t.Errorf("first probe after %s", first)
		}
		if !a.zone.Load().claimed {
			t.Error("not claimed after three quiet probes")
		}
		cancel()
		synctest.Wait()
		if bye := w.take(t0); len(bye) != 1 || !strings.Contains(bye[0], "announce") {
			t.Errorf("on stop sent %q, want one goodbye", bye)
		}
	})
}

// w0 reads the offset of a take line.
func w0(t *testing.T, line string) time.Duration {
	d, err := time.ParseDuration(strings.Fields(line)[0])
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestAnInterfaceThatAppearsLaterIsProbedOnFirst: with the names claimed
// on eth0, a new interface gets three probes of its own and no answers
// until they pass; eth0 is left alone.
func TestAnInterfaceThatAppearsLaterIsProbedOnFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs lockedBuffer
		a, w, _ := runLoop(t, &logs, time.Second)
		t0 := time.Now()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		w.take(t0)
		w.mu.Lock()
		w.more = map[int]ifaceAddr{2: {name: "wlan0", ip: [4]byte{198, 51, 100, 1}}}
		w.mu.Unlock()
		time.Sleep(time.Second) // the next rescan
		synctest.Wait()
		if ia := (*a.ifaces.Load())[2]; !ia.pending || !a.zone.Load().claimed {
			t.Errorf("wlan0 %+v, claimed %v: want wlan0 pending, the names still claimed", ia, a.zone.Load().claimed)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		w.mu.Lock()
		var got []string
		for _, s := range w.sent {
			kind := "announce"
			if !s.p.response {
				kind = "probe"
			}
			got = append(got, fmt.Sprintf("%d %s", s.idx, kind))
		}
		w.mu.Unlock()
		if want := []string{"2 probe", "2 probe", "2 probe", "2 announce", "2 announce"}; !slices.Equal(got, want) {
			t.Errorf("sent %q, want %q", got, want)
		}
		if (*a.ifaces.Load())[2].pending {
			t.Error("wlan0 still pending after three quiet probes")
		}
	})
}

func TestConflictsRenameHostThenInstance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs lockedBuffer
		a, w, _ := runLoop(t, &logs, time.Hour)
		t0 := time.Now()
		time.Sleep(300 * time.Millisecond) // one or two probes out
		synctest.Wait()
		clashNow(a, clashHost)
		synctest.Wait()
		stale := a.zone.Load()
		time.Sleep(300 * time.Millisecond)
		clashNow(a, clashInstance)
		synctest.Wait()
		a.events <- clashEvent{stale, clashInstance} // about a zone since replaced: ignored
		time.Sleep(5 * time.Second)
		synctest.Wait()
		got := w.take(t0)
		last := got[len(got)-1]
		if !strings.HasSuffix(last, "announce gw (2)→gw-2.local.") {
			t.Errorf("last packet %q, sent %q", last, got)
		}
		for _, want := range []string{
			`msg="mdns: host name taken on the network, renamed" from=gw.local to=gw-2.local`,
			`msg="mdns: instance name taken on the network, renamed" from=gw to="gw (2)"`,
			`msg="mdns: announcing" instance="gw (2)" host=gw-2.local`,
		} {
			if strings.Count(logs.String(), want) != 1 {
				t.Errorf("log lacks %s once:\n%s", want, logs.String())
			}
		}
		if strings.Count(logs.String(), "renamed") != 2 {
			t.Errorf("more than two renames:\n%s", logs.String())
		}
	})
}

func TestATieLostWaitsASecondAndProbesTheSameNames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs lockedBuffer
		a, w, _ := runLoop(t, &logs, time.Hour)
		t0 := time.Now()
		time.Sleep(probeInterval) // the first probe is out
		synctest.Wait()
		clashNow(a, clashTieLost)
		synctest.Wait()
		lost := time.Since(t0)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		got := w.take(t0)
		var after []string
		for _, l := range got {
			if w0(t, l) > lost {
				after = append(after, l)
			}
		}
		if len(after) != 5 || w0(t, after[0])-lost < tieDefer || w0(t, after[0])-lost >= tieDefer+probeInterval {
			t.Errorf("after losing at %s: %q", lost, after)
		}
		if !strings.HasSuffix(got[len(got)-1], "announce gw→gw.local.") || strings.Contains(logs.String(), "renamed") {
			t.Errorf("names changed: %q\n%s", got, logs.String())
		}
	})
}

func TestAConflictAfterClaimingProbesAgainUnderTheSameNames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs lockedBuffer
		a, w, _ := runLoop(t, &logs, time.Hour)
		t0 := time.Now()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		w.take(t0)
		clashNow(a, clashHost) // §9: another host answers for our host name
		synctest.Wait()
		if a.zone.Load().claimed {
			t.Fatal("still answering after a conflict")
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		got := w.take(t0)
		if len(got) != 5 || !strings.HasSuffix(got[0], "probe gw→gw.local.") || !strings.HasSuffix(got[4], "announce gw→gw.local.") {
			t.Errorf("after the conflict: %q", got)
		}
		if !strings.Contains(logs.String(), "probing again") || strings.Contains(logs.String(), "renamed") {
			t.Errorf("log:\n%s", logs.String())
		}
	})
}

// TestAFloodOfConflictsBacksOffAndStopsRenaming: a host that contradicts
// every probe makes the advertiser wait 5 s per round after 15 conflicts
// in a row, and rename at most maxRename times; 10 s of quiet end the wait.
func TestAFloodOfConflictsBacksOffAndStopsRenaming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs lockedBuffer
		a, w, _ := runLoop(t, &logs, time.Hour)
		t0 := time.Now()
		var at []time.Duration // when each round's first probe went
		for range 200 {
			for {
				time.Sleep(time.Millisecond)
				synctest.Wait()
				if got := w.take(t0); len(got) > 0 {
					at = append(at, w0(t, got[0]))
					break
				}
			}
			clashNow(a, clashHost|clashInstance)
		}
		synctest.Wait()
		for i := conflictBurst; i < len(at); i++ {
			if gap := at[i] - at[i-1]; gap < conflictWait {
				t.Fatalf("round %d began %s after the one before, want ≥ %s", i, gap, conflictWait)
			}
		}
		if fast := at[conflictBurst-1] - at[0]; fast > 5*time.Second {
			t.Errorf("the first %d rounds took %s: no back-off needed before", conflictBurst, fast)
		}
		z := a.zone.Load()
		if want := fmt.Sprintf("gw (%d)._tinymapper._tcp.local.", maxRename); z.instance != want || z.host != fmt.Sprintf("gw-%d.local.", maxRename) {
			t.Errorf("names %s %s, want %s", z.instance, z.host, want)
		}
		if n := strings.Count(logs.String(), "keeping them"); n != 1 {
			t.Errorf("%d warnings that renaming stopped, want 1", n)
		}
		// 10 s without a conflict: the next one waits no more than a jitter.
		time.Sleep(conflictWindow + time.Second)
		synctest.Wait()
		w.take(t0)
		clashNow(a, clashHost)
		quiet := time.Since(t0)
		time.Sleep(probeInterval)
		synctest.Wait()
		if got := w.take(t0); len(got) == 0 || w0(t, got[0])-quiet >= probeInterval {
			t.Errorf("after 10 s of quiet, a conflict at %s, then %q", quiet, got)
		}
	})
}

func TestRenamedLabelsStayLabels(t *testing.T) {
	long := strings.Repeat("a", 63)
	for _, tc := range []struct {
		n              names
		instance, host string
	}{
		{names{"raspberrypi", "raspberrypi", 1, 1}, "raspberrypi", "raspberrypi"},
		{names{"raspberrypi", "raspberrypi", 2, 3}, "raspberrypi (2)", "raspberrypi-3"},
		{names{long, long, 12, 12}, long[:58] + " (12)", long[:60] + "-12"},
		{names{"Halle Ü", "a-" + strings.Repeat("-", 61), 2, 2}, "Halle Ü (2)", "a-2"},
		{names{strings.Repeat("é", 31) + "x", "h", 2, 1}, strings.Repeat("é", 29) + " (2)", "h"},
	} {
		if got := tc.n.instanceName(); got != tc.instance || len(got) > 63 {
			t.Errorf("%+v instance %q, want %q", tc.n, got, tc.instance)
		}
		if got := tc.n.hostName(); got != tc.host || len(got) > 63 {
			t.Errorf("%+v host %q, want %q", tc.n, got, tc.host)
		}
	}
}

// packed packs with build and parses the result, as serve would see it.
func packed(t *testing.T, build func(buf []byte) ([]byte, error)) *packet {
	t.Helper()
	var buf [MaxPacket]byte
	b, err := build(buf[:])
	if err != nil {
		t.Fatal(err)
	}
	var p packet
	if err := parse(b, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func TestJudgeConflictsAndTieBreaks(t *testing.T) {
	ours, other := [4]byte{192, 0, 2, 1}, [4]byte{192, 0, 2, 2}
	mine := func(ip [4]byte) bool { return ip == ours || ip == [4]byte{10, 0, 0, 1} }
	z := newZone("gw", "gw", 7777, []string{"txtvers=1"})
	claimed := *z
	claimed.claimed = true
	same := func(instance, host string, port uint16, txt ...string) *zone {
		return newZone(instance, host, port, txt)
	}
	for _, tc := range []struct {
		name string
		z    *zone
		p    func(buf []byte) ([]byte, error)
		want clash
	}{
		{"an answer with our host name at another address", z, func(b []byte) ([]byte, error) {
			return same("other", "gw", 7777).pack(b, kindA, 0, other, ttlNormal, 0, nil)
		}, clashHost},
		{"our own A, looped back or from another interface of ours", z, func(b []byte) ([]byte, error) {
			return same("gw", "gw", 7777).pack(b, kindA, 0, [4]byte{10, 0, 0, 1}, ttlNormal, 0, nil)
		}, 0},
		{"a goodbye claims nothing", z, func(b []byte) ([]byte, error) {
			return same("gw", "gw", 7777).pack(b, kindA|kindSRV, 0, other, ttlGoodbye, 0, nil)
		}, 0},
		{"an SRV for our instance on another host", &claimed, func(b []byte) ([]byte, error) {
			return same("gw", "gw-9", 7777).pack(b, kindSRV, 0, other, ttlNormal, 0, nil)
		}, clashInstance},
		{"an SRV for our instance on another port", z, func(b []byte) ([]byte, error) {
			return same("gw", "gw", 8080).pack(b, kindSRV, 0, other, ttlNormal, 0, nil)
		}, clashInstance},
		{"the same SRV is no conflict", z, func(b []byte) ([]byte, error) {
			return same("gw", "GW", 7777).pack(b, kindSRV|kindTXT, 0, other, ttlNormal, 0, nil)
		}, 0},
		{"both names taken", z, func(b []byte) ([]byte, error) {
			return same("gw", "gw", 1).pack(b, kindsAll, 0, other, ttlNormal, 0, nil)
		}, clashHost | clashInstance},
		{"another instance's records", z, func(b []byte) ([]byte, error) {
			return same("gw-x", "gw-x", 7777).pack(b, kindsAll, 0, other, ttlNormal, 0, nil)
		}, 0},
		{"a simultaneous probe with a later address wins", z, func(b []byte) ([]byte, error) {
			return same("gw", "gw", 7777, "txtvers=1").probe(b, other)
		}, clashTieLost},
		{"a simultaneous probe with an earlier address loses", z, func(b []byte) ([]byte, error) {
			return same("gw", "gw", 7777, "txtvers=1").probe(b, [4]byte{192, 0, 2, 0})
		}, 0},
		{"a simultaneous probe with a later SRV wins", z, func(b []byte) ([]byte, error) {
			return same("gw", "gw-other", 7777, "txtvers=1").probe(b, [4]byte{192, 0, 2, 0})
		}, clashTieLost},
		{"our own probe", z, func(b []byte) ([]byte, error) { return z.probe(b, ours) }, 0},
		{"a probe for names we hold is answered, not judged", &claimed, func(b []byte) ([]byte, error) {
			return same("gw", "gw", 7777).probe(b, other)
		}, 0},
		{"a plain query", z, func(b []byte) ([]byte, error) { return newFinds().query(1) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.z.judge(packed(t, tc.p), ours, mine); got != tc.want {
				t.Errorf("judge = %03b, want %03b", got, tc.want)
			}
		})
	}
}

func TestKnownAnswersAreNotSentAgain(t *testing.T) {
	ip := [4]byte{192, 0, 2, 1}
	z := testZone()
	// query builds a PTR query listing set as known answers from zone k.
	query := func(k *zone, set kinds, mode ttlMode) func([]byte) ([]byte, error) {
		return func(buf []byte) ([]byte, error) {
			b := dnsmessage.NewBuilder(buf[:0], dnsmessage.Header{})
			b.StartQuestions()
			b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(serviceName), Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET})
			b.StartAnswers()
			if err := k.add(&b, set, ip, mode); err != nil {
				return nil, err
			}
			return b.Finish()
		}
	}
	stale := *z
	stale.txt = []string{"devices=1"}
	for _, tc := range []struct {
		name string
		p    func([]byte) ([]byte, error)
		want kinds
	}{
		{"every record known", query(z, kindsAll, ttlNormal), kindsAll},
		{"PTR and SRV known", query(z, kindPTR|kindSRV, ttlNormal), kindPTR | kindSRV},
		{"less than half the TTL left", query(z, kindsAll, ttlLegacy), 0},
		{"an old TXT", query(&stale, kindTXT, ttlNormal), 0},
		{"another gateway's PTR", query(newZone("gw-2", "gw-2", 7777, nil), kindPTR|kindSRV|kindA, ttlNormal), 0},
		{"no known answers", func(b []byte) ([]byte, error) { return newFinds().query(1) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := z.known(packed(t, tc.p), ip); got != tc.want {
				t.Errorf("known = %05b, want %05b", got, tc.want)
			}
		})
	}
}
