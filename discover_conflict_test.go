package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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
		dir := t.TempDir()
		gw := tinymapperIn(ns[i], []string{"NODE_NAME=raspberrypi"}, "--board", "sim",
			"--http", fmt.Sprintf("192.0.2.%d:7777", i+1), "--token-file", filepath.Join(dir, "token"),
			"--sock", filepath.Join(dir, "tm.sock"), "--edgecore-sock", filepath.Join(dir, "dmi.sock"))
		logs[i] = &syncBuffer{}
		gw.Stdout, gw.Stderr = io.Discard, logs[i]
		if err := gw.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			gw.Process.Kill()
			gw.Wait()
			if t.Failed() {
				t.Logf("tinymapper %d log:\n%s", i+1, logs[i].String())
			}
		})
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
