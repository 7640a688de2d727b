package mdns

import (
	"bytes"
	"context"
	"iter"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/net/ipv4"

	"github.com/tinymapper/tinymapper/device"
)

// fakeDevices is a device set of n devices; every change bumps the generation.
type fakeDevices struct{ n, gen atomic.Uint64 }

func (f *fakeDevices) set(n uint64)       { f.n.Store(n); f.gen.Add(1) }
func (f *fakeDevices) Generation() uint64 { return f.gen.Load() }
func (f *fakeDevices) Snapshot() iter.Seq[device.DeviceView] {
	return func(yield func(device.DeviceView) bool) {
		for range f.n.Load() {
			if !yield(device.DeviceView{}) {
				return
			}
		}
	}
}

// loopback returns the name of the loopback interface, or skips.
func loopback(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 && ifi.Flags&net.FlagUp != 0 {
			return ifi.Name
		}
	}
	t.Skip("no loopback interface is up")
	return ""
}

// startAdvertiser runs a until the test ends and waits until it has
// probed and claimed its names; stop stops it and waits for Run to return.
func startAdvertiser(t *testing.T, a *Advertiser) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once atomic.Bool
	stop = func() {
		if once.CompareAndSwap(false, true) {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(5 * time.Second)
	for z := a.zone.Load(); z == nil || !z.claimed; z = a.zone.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the advertiser did not claim its names within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return stop
}

func browse(t *testing.T, iface string, d time.Duration) map[string]Gateway {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	gws, err := Browse(ctx, []string{iface})
	if err != nil {
		t.Fatalf("Browse: %v", err)
	}
	m := map[string]Gateway{}
	for _, g := range gws {
		m[g.Name] = g
	}
	return m
}

// TestBrowseFindsTheAdvertiserAndItsDeviceCount runs both ends on the
// loopback interface: Browse sees the instance, its address, port and TXT,
// and the TXT follows the device count.
func TestBrowseFindsTheAdvertiserAndItsDeviceCount(t *testing.T) {
	lo := loopback(t)
	devs := &fakeDevices{}
	devs.set(2)
	name := "test-" + time.Now().Format("150405.000000")
	startAdvertiser(t, &Advertiser{
		Info:    Info{Instance: name, Port: 7777, Version: "v9", Board: "sim", Protocols: []string{"i2c"}, APIPath: "/api/v1", TokenRequired: true},
		Devices: devs, Interfaces: []string{lo}, Rescan: 50 * time.Millisecond,
	})
	g, ok := browse(t, lo, 700*time.Millisecond)[instanceLabel(name)]
	if !ok {
		t.Fatalf("instance %q not found", instanceLabel(name))
	}
	for k, want := range map[string]string{"version": "v9", "board": "sim", "protocols": "i2c", "devices": "2", "api": "/api/v1", "token": "true"} {
		if g.TXT[k] != want {
			t.Errorf("TXT %s=%q, want %q (all: %v)", k, g.TXT[k], want, g.TXT)
		}
	}
	if g.Address != "127.0.0.1:7777" || g.Devices() != 2 {
		t.Errorf("address %q devices %d", g.Address, g.Devices())
	}

	devs.set(5)
	deadline := time.Now().Add(3 * time.Second)
	for {
		g = browse(t, lo, 300*time.Millisecond)[instanceLabel(name)]
		if g.Devices() == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("devices still %d after the count changed to 5", g.Devices())
		}
	}
}

// TestStopSendsGoodbyes: when Run ends, the PTR, SRV and TXT records go out
// again with TTL 0.
func TestStopSendsGoodbyes(t *testing.T) {
	lo := loopback(t)
	ifi, err := net.InterfaceByName(lo)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := listen()
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.JoinGroup(ifi, group); err != nil {
		t.Fatal(err)
	}
	name := "bye-" + time.Now().Format("150405.000000")
	stop := startAdvertiser(t, &Advertiser{Info: Info{Instance: name, Port: 7777}, Interfaces: []string{lo}, Rescan: 50 * time.Millisecond})
	time.Sleep(200 * time.Millisecond) // announced
	stop()
	goodbye := map[dnsmessage.Type]bool{}
	var buf [MaxPacket]byte
	var p packet
	pc.SetReadDeadline(time.Now().Add(2 * time.Second))
	for len(goodbye) < 3 {
		n, _, _, err := pc.ReadFrom(buf[:])
		if err != nil {
			t.Fatalf("goodbyes seen %v: %v", goodbye, err)
		}
		if parse(buf[:n], &p) != nil || !p.response {
			continue
		}
		for _, r := range p.records {
			if r.ttl == 0 && (r.name == instanceLabel(name)+"."+serviceName || r.target == instanceLabel(name)+"."+serviceName) {
				goodbye[r.typ] = true
			}
		}
	}
}

// TestHostilePacketsLeaveTheResponderAnswering sends the hostile packets to
// a running advertiser, then browses it.
func TestHostilePacketsLeaveTheResponderAnswering(t *testing.T) {
	lo := loopback(t)
	name := "hostile-" + time.Now().Format("150405.000000")
	startAdvertiser(t, &Advertiser{Info: Info{Instance: name, Port: 7777}, Interfaces: []string{lo}, Rescan: 50 * time.Millisecond})
	time.Sleep(100 * time.Millisecond)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc := ipv4.NewPacketConn(c)
	ifi, _ := net.InterfaceByName(lo)
	for range 10 {
		for _, b := range hostile() {
			pc.WriteTo(b, &ipv4.ControlMessage{IfIndex: ifi.Index}, group)
		}
	}
	if _, ok := browse(t, lo, 1500*time.Millisecond)[instanceLabel(name)]; !ok {
		t.Fatal("the advertiser stopped answering after hostile packets")
	}
}

// TestBrowseCyclesLeakNothing: 1000 browses leave no goroutine and no file
// descriptor behind.
func TestBrowseCyclesLeakNothing(t *testing.T) {
	lo := loopback(t)
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	browse(t, lo, time.Millisecond) // warm up the runtime's own goroutines
	g0, f0 := runtime.NumGoroutine(), fds()
	for range 1000 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		if _, err := Browse(ctx, []string{lo}); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	time.Sleep(50 * time.Millisecond)
	if g, f := runtime.NumGoroutine(), fds(); g > g0 || f > f0 {
		t.Errorf("after 1000 browses: %d goroutines (was %d), %d fds (was %d)", g, g0, f, f0)
	}
}

// TestMulticastAnswersAreRateLimitedExceptToProbes asks a running
// advertiser from port 5353 (so its answers are multicast): a question
// repeated within a second is answered once (RFC 6762 §6), a probe every
// time, and a query that lists our records as known answers not at all.
func TestMulticastAnswersAreRateLimitedExceptToProbes(t *testing.T) {
	lo := loopback(t)
	ifi, err := net.InterfaceByName(lo)
	if err != nil {
		t.Fatal(err)
	}
	name := "limit-" + time.Now().Format("150405.000000")
	a := &Advertiser{Info: Info{Instance: name, Port: 7777}, Interfaces: []string{lo}, Rescan: time.Hour}
	startAdvertiser(t, a)
	time.Sleep(1200 * time.Millisecond) // the second announcement is out
	pc, err := listen()
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.JoinGroup(ifi, group); err != nil {
		t.Fatal(err)
	}
	z := a.zone.Load()
	ptrQuery := func(known kinds) []byte {
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{})
		b.StartQuestions()
		b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(serviceName), Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET})
		b.StartAnswers()
		if err := z.add(&b, known, [4]byte{127, 0, 0, 1}, ttlNormal); err != nil {
			t.Fatal(err)
		}
		q, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	var buf [MaxPacket]byte
	probe, err := newZone(name, name, 8080, nil).probe(buf[:], [4]byte{192, 0, 2, 9})
	if err != nil {
		t.Fatal(err)
	}
	probe = bytes.Clone(probe)
	// answers sends q twice, 100 ms apart, and counts our answers.
	answers := func(q []byte) int {
		n := 0
		for range 2 {
			if _, err := pc.WriteTo(q, &ipv4.ControlMessage{IfIndex: ifi.Index}, group); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		var p packet
		pc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		for {
			m, _, _, err := pc.ReadFrom(buf[:])
			if err != nil {
				return n
			}
			if parse(buf[:m], &p) != nil || !p.response {
				continue
			}
			for _, r := range p.records {
				if r.sec == secAnswer && strings.EqualFold(r.name, z.instance) && r.typ == dnsmessage.TypeSRV ||
					r.sec == secAnswer && r.typ == dnsmessage.TypePTR && strings.EqualFold(r.target, z.instance) {
					n++
					break
				}
			}
		}
	}
	for _, tc := range []struct {
		name string
		q    []byte
		want int
	}{
		{"a browse asked twice is answered once", ptrQuery(0), 1},
		{"a probe is answered every time", probe, 2},
		{"every record known: no answer", ptrQuery(kindsAll), 0},
	} {
		time.Sleep(1100 * time.Millisecond) // past the last answer's second
		if got := answers(tc.q); got != tc.want {
			t.Errorf("%s: %d answers, want %d", tc.name, got, tc.want)
		}
	}
}
