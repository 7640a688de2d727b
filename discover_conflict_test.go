package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/internal/await"
)

// netnsSegment is n network namespaces on one Ethernet segment: a bridge
// in the last one (192.0.2.n/24 on the bridge itself), and a veth from each
// of the others to it (namespace i has 192.0.2.(i+1)/24). Multicast is on
// everywhere, 224.0.0.0/4 routed to the segment, the bridge floods it.
// Deleted when the test ends.
func newNetnsSegment(t *testing.T, n int) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, a bridge and veth pairs (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("ip (iproute2, in the Makefile's APT_PACKAGES) not found: %v", err)
	}
	id := os.Getpid() % 100000
	ns := make([]string, n)
	for i := range ns {
		ns[i] = fmt.Sprintf("tm-s%d-%d", i, id)
	}
	t.Cleanup(func() {
		for _, s := range ns {
			exec.Command("ip", "netns", "del", s).Run()
		}
	})
	last := ns[n-1]
	cmds := [][]string{}
	for _, s := range ns {
		cmds = append(cmds, []string{"netns", "add", s}, []string{"-n", s, "link", "set", "lo", "up"})
	}
	cmds = append(cmds,
		[]string{"-n", last, "link", "add", "tmbr0", "type", "bridge", "mcast_snooping", "0"},
		[]string{"-n", last, "addr", "add", fmt.Sprintf("192.0.2.%d/24", n), "dev", "tmbr0"},
		[]string{"-n", last, "link", "set", "tmbr0", "up", "multicast", "on"},
		[]string{"-n", last, "route", "add", "224.0.0.0/4", "dev", "tmbr0"},
	)
	for i, s := range ns[:n-1] {
		va, vb := fmt.Sprintf("tmsa%d-%d", i, id), fmt.Sprintf("tmsb%d-%d", i, id)
		cmds = append(cmds,
			[]string{"link", "add", va, "type", "veth", "peer", "name", vb},
			[]string{"link", "set", va, "netns", s},
			[]string{"link", "set", vb, "netns", last},
			[]string{"-n", last, "link", "set", vb, "master", "tmbr0", "up"},
			[]string{"-n", s, "addr", "add", fmt.Sprintf("192.0.2.%d/24", i+1), "dev", va},
			[]string{"-n", s, "link", "set", va, "up", "multicast", "on"},
			[]string{"-n", s, "route", "add", "224.0.0.0/4", "dev", va},
		)
	}
	ipRun(t, cmds)
	return ns
}

// TestTwoGatewaysFlashedWithOneNameAreBothFound: two tinymappers with the
// same node name (batch-flashed gateways are all "raspberrypi") start at
// the same time on one segment. They probe, one keeps the names and the
// other renames itself to "raspberrypi (2)" on host raspberrypi-2.local
// and says so in its log. python3-zeroconf on a third host sees two
// instances, each resolving to its own gateway's address, and `tinymapper
// discover --json` lists both.
func TestTwoGatewaysFlashedWithOneNameAreBothFound(t *testing.T) {
	ns := newNetnsSegment(t, 3)
	browser := ns[2]
	events := startZeroconfBrowser(t, browser)
	next(t, events, 10*time.Second, "ready")

	logs := make([]*syncBuffer, 2)
	for i := range 2 {
		logs[i] = gatewayIn(t, ns[i], "raspberrypi", fmt.Sprintf("192.0.2.%d:7777", i+1), "").logs
	}

	// The address each instance resolves to, as python3-zeroconf saw it.
	want := map[string]bool{"raspberrypi._tinymapper._tcp.local.": true, "raspberrypi (2)._tinymapper._tcp.local.": true}
	seen := map[string]zeroconfEvent{}
	for len(seen) < 2 {
		e := next(t, events, 15*time.Second, "added", "updated")
		if !want[e.Name] {
			t.Fatalf("python3-zeroconf saw an instance named %q: %+v", e.Name, e)
		}
		seen[e.Name] = e
	}
	a, b := seen["raspberrypi._tinymapper._tcp.local."], seen["raspberrypi (2)._tinymapper._tcp.local."]
	if len(a.Addresses) != 1 || len(b.Addresses) != 1 || a.Addresses[0] == b.Addresses[0] {
		t.Fatalf("the two instances resolve to %v and %v, want one address each, not the same", a.Addresses, b.Addresses)
	}
	if a.Server != "raspberrypi.local." || b.Server != "raspberrypi-2.local." {
		t.Errorf("hosts %q and %q, want raspberrypi.local. and raspberrypi-2.local.", a.Server, b.Server)
	}
	// The renamed gateway is the one whose address "raspberrypi (2)" has,
	// and its log names both names, once.
	renamed := slices.Index([]string{"192.0.2.1", "192.0.2.2"}, b.Addresses[0])
	if renamed < 0 {
		t.Fatalf("raspberrypi (2) at %v, not a gateway's address", b.Addresses)
	}
	if got := logs[renamed].String(); strings.Count(got, `renamed" from=raspberrypi to="raspberrypi (2)"`) != 1 ||
		strings.Count(got, `renamed" from=raspberrypi.local to=raspberrypi-2.local`) != 1 ||
		!strings.Contains(got, `announcing" instance="raspberrypi (2)" host=raspberrypi-2.local`) {
		t.Errorf("the renamed gateway's log does not say it was renamed, once each:\n%s", got)
	}
	if got := logs[1-renamed].String(); strings.Contains(got, "renamed") || !strings.Contains(got, `announcing" instance=raspberrypi host=raspberrypi.local`) {
		t.Errorf("the gateway that kept its names logs:\n%s", got)
	}

	out, err := tinymapperIn(browser, nil, "discover", "--timeout", "2s", "--json").Output()
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	var got []discoveredGateway
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("discover --json: %v: %s", err, out)
	}
	if len(got) != 2 || got[0].Name != "raspberrypi" || got[1].Name != "raspberrypi (2)" ||
		got[0].Address != a.Addresses[0]+":7777" || got[1].Address != b.Addresses[0]+":7777" ||
		got[0].Host != "raspberrypi" || got[1].Host != "raspberrypi-2" {
		t.Errorf("discover --json lists %+v; python3-zeroconf saw raspberrypi at %v, raspberrypi (2) at %v", got, a.Addresses, b.Addresses)
	}
}

// TestAvahiAndTinymapperSettleAClashingInstanceName: avahi (an
// independent responder, in the other namespace) publishes "gw-clash"
// first; tinymapper starting with that name hears avahi answer its probe
// and becomes "gw-clash (2)". Then avahi-publish asks for "gw-clash (2)",
// which tinymapper holds: tinymapper answers avahi's probe and avahi picks
// another name. avahi-browse resolves each instance to its own host.
func TestAvahiAndTinymapperSettleAClashingInstanceName(t *testing.T) {
	p := newNetnsPair(t)
	av := startAvahi(t, p.b)
	publish := func(name string) *syncBuffer {
		pub := av.command("avahi-publish", "-s", name, "_tinymapper._tcp", "8081", "board=avahi")
		out := &syncBuffer{}
		pub.Stdout, pub.Stderr = out, out
		if err := pub.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			pub.Process.Kill()
			pub.Wait()
			if t.Failed() {
				t.Logf("avahi-publish %s:\n%s", name, out.String())
			}
		})
		return out
	}
	first := publish("gw-clash")
	await.Within(t, 10*time.Second, "avahi-publish established", func() bool {
		return strings.Contains(first.String(), "Established")
	})

	logs := gatewayIn(t, p.a, "gw-clash", "192.0.2.1:7777", "").logs
	await.Within(t, 10*time.Second, "tinymapper renamed and announcing", func() bool {
		return strings.Contains(logs.String(), `announcing" instance="gw-clash (2)" host=gw-clash.local`)
	})
	if !strings.Contains(logs.String(), `renamed" from=gw-clash to="gw-clash (2)"`) {
		t.Errorf("no rename logged")
	}

	second := publish("gw-clash (2)")
	await.Within(t, 10*time.Second, "avahi-publish giving way to tinymapper", func() bool {
		return strings.Contains(second.String(), "collision") && strings.Contains(second.String(), "Established")
	})
	// =;IFACE;IPv4;NAME;TYPE;DOMAIN;HOST;ADDRESS;PORT;TXT
	want := map[string]string{"gw-clash": "192.0.2.2;8081", "gw-clash (2)": "192.0.2.1;7777"}
	var lines []string
	await.Within(t, 10*time.Second, "avahi-browse resolving three instances on the veth, two of them as above", func() bool {
		lines = lines[:0]
		ok := 0
		for _, l := range av.browse(t, false) {
			f := strings.Split(l, ";")
			if len(f) < 9 || f[1] == "lo" { // avahi lists its own services on lo too
				continue
			}
			lines = append(lines, l)
			if want[unescapeAvahi(f[3])] == f[7]+";"+f[8] {
				ok++
			}
		}
		if len(lines) != 3 || ok != 2 {
			t.Logf("avahi-browse:\n%s", strings.Join(lines, "\n"))
			return false
		}
		return true
	})
}

// unescapeAvahi undoes avahi-browse -p's escapes of a name ("\032" for a
// space, "\040" for "(", "\041" for ")"): decimal, three digits.
func unescapeAvahi(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var n int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03d", &n); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TestThreeGatewaysFlashedWithOneNameGetThreeNames: a batch of three on one
// segment, started together. Each announces names no other has, and
// python3-zeroconf and discover resolve each instance to the address of
// the gateway whose log announced it.
func TestThreeGatewaysFlashedWithOneNameGetThreeNames(t *testing.T) {
	const n = 3
	ns := newNetnsSegment(t, n+1)
	browser := ns[n]
	events := startZeroconfBrowser(t, browser)
	next(t, events, 10*time.Second, "ready")
	logs := make([]*syncBuffer, n)
	for i := range n {
		logs[i] = gatewayIn(t, ns[i], "raspberrypi", fmt.Sprintf("192.0.2.%d:7777", i+1), "").logs
	}
	// instance → the address of the gateway that announced it, from the logs.
	want := map[string]string{}
	hosts := map[string]bool{}
	await.Within(t, 20*time.Second, "three gateways announcing", func() bool {
		clear(want)
		clear(hosts)
		for i, l := range logs {
			for line := range strings.SplitSeq(l.String(), "\n") {
				if _, rest, ok := strings.Cut(line, `msg="mdns: announcing" instance=`); ok {
					inst, host, _ := strings.Cut(rest, " host=")
					if u, err := strconv.Unquote(inst); err == nil {
						inst = u
					}
					want[inst] = fmt.Sprintf("192.0.2.%d", i+1) // the last one counts
					hosts[host] = true
				}
			}
		}
		return len(want) == n && len(hosts) == n
	})
	seen := map[string]string{}
	for len(seen) < n {
		e := next(t, events, 15*time.Second, "added", "updated")
		inst := strings.TrimSuffix(e.Name, "._tinymapper._tcp.local.")
		if _, ok := want[inst]; !ok || len(e.Addresses) != 1 {
			t.Fatalf("python3-zeroconf saw %+v; the gateways announced %v", e, want)
		}
		seen[inst] = e.Addresses[0]
	}
	for inst, addr := range want {
		if seen[inst] != addr {
			t.Errorf("python3-zeroconf resolved %q to %s, announced by %s", inst, seen[inst], addr)
		}
	}
	out, err := tinymapperIn(browser, nil, "discover", "--timeout", "2s", "--json").Output()
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	var got []discoveredGateway
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("discover --json: %v: %s", err, out)
	}
	listed := map[string]string{}
	for _, g := range got {
		listed[g.Name] = strings.TrimSuffix(g.Address, ":7777")
	}
	if len(got) != n || !maps.Equal(listed, want) {
		t.Errorf("discover --json lists %v, the gateways announced %v", listed, want)
	}
}
