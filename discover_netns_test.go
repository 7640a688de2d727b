package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// netnsPair is two network namespaces joined by a veth pair: a has
// 192.0.2.1/24, b 192.0.2.2/24 (TEST-NET-1, never routed), multicast on,
// 224.0.0.0/4 routed to the veth. Deleted when the test ends.
type netnsPair struct{ a, b string }

// newNetnsPair makes the pair, or skips when not root (making namespaces
// needs CAP_SYS_ADMIN; CI runs as root, so it runs there).
func newNetnsPair(t *testing.T) netnsPair {
	t.Helper()
	p := newNetnsHosts(t)
	p.link(t)
	return p
}

// newNetnsHosts makes the two namespaces with only loopback up; link joins
// them.
func newNetnsHosts(t *testing.T) netnsPair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and a veth pair (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("ip (iproute2, in the Makefile's APT_PACKAGES) not found: %v", err)
	}
	id := os.Getpid() % 100000
	p := netnsPair{a: fmt.Sprintf("tm-a-%d", id), b: fmt.Sprintf("tm-b-%d", id)}
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", p.a).Run()
		exec.Command("ip", "netns", "del", p.b).Run()
	})
	ipRun(t, [][]string{
		{"netns", "add", p.a},
		{"netns", "add", p.b},
		{"-n", p.a, "link", "set", "lo", "up"},
		{"-n", p.b, "link", "set", "lo", "up"},
	})
	return p
}

// link adds the veth pair between the namespaces.
func (p netnsPair) link(t *testing.T) {
	t.Helper()
	id := os.Getpid() % 100000
	va, vb := fmt.Sprintf("tmva%d", id), fmt.Sprintf("tmvb%d", id)
	ipRun(t, [][]string{
		{"link", "add", va, "type", "veth", "peer", "name", vb},
		{"link", "set", va, "netns", p.a},
		{"link", "set", vb, "netns", p.b},
		{"-n", p.a, "addr", "add", "192.0.2.1/24", "dev", va},
		{"-n", p.b, "addr", "add", "192.0.2.2/24", "dev", vb},
		{"-n", p.a, "link", "set", va, "up", "multicast", "on"},
		{"-n", p.b, "link", "set", vb, "up", "multicast", "on"},
		{"-n", p.a, "route", "add", "224.0.0.0/4", "dev", va},
		{"-n", p.b, "route", "add", "224.0.0.0/4", "dev", vb},
	})
}

func ipRun(t *testing.T, cmds [][]string) {
	t.Helper()
	for _, c := range cmds {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
}

// tinymapperIn starts this test binary as tinymapper in namespace ns (see
// TestMain), with env added.
func tinymapperIn(ns string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, os.Args[0], "--"}, args...)...)
	cmd.Env = append(append(os.Environ(), "TINYMAPPER_MAIN=1"), env...)
	return cmd
}

// gateway is a tinymapper started by gatewayIn.
type gateway struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{} // closed once it exited; err is how
	err  error
}

// gatewayIn starts tinymapper in ns as node NODE_NAME on the sim board, its
// data plane at httpAddr: standalone on the devices file when devices is
// not "", else under EdgeCore (sockets in a temporary directory; no
// EdgeCore answers). When the test ends it is killed, and its log shown if
// the test failed.
func gatewayIn(t *testing.T, ns, node, httpAddr, devices string) *gateway {
	t.Helper()
	dir := t.TempDir()
	args := []string{"--board", "sim", "--http", httpAddr, "--token-file", filepath.Join(dir, "token")}
	if devices != "" {
		abs, err := filepath.Abs(devices)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--devices", abs)
	} else {
		args = append(args, "--sock", filepath.Join(dir, "tm.sock"), "--edgecore-sock", filepath.Join(dir, "dmi.sock"))
	}
	g := &gateway{cmd: tinymapperIn(ns, []string{"NODE_NAME=" + node}, args...), logs: &syncBuffer{}, done: make(chan struct{})}
	g.cmd.Stdout, g.cmd.Stderr = io.Discard, g.logs
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.err = g.cmd.Wait(); close(g.done) }()
	t.Cleanup(func() {
		g.cmd.Process.Kill()
		<-g.done
		if t.Failed() {
			t.Logf("tinymapper %s in %s, log:\n%s", node, ns, g.logs.String())
		}
	})
	return g
}

// stop sends SIGTERM and wants a clean exit within 5 s.
func (g *gateway) stop(t *testing.T) {
	t.Helper()
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.done:
		if g.err != nil {
			t.Errorf("tinymapper exited: %v", g.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("tinymapper still running 5 s after SIGTERM")
	}
}

// zeroconfBrowser is python3-zeroconf's ServiceBrowser: one JSON line per
// event (added, updated, removed), the added ones resolved.
const zeroconfBrowser = `
import json, queue
from zeroconf import Zeroconf, ServiceBrowser, ServiceStateChange, IPVersion
T = "_tinymapper._tcp.local."
zc = Zeroconf(ip_version=IPVersion.V4Only)
q = queue.Queue()
def on(zeroconf, service_type, name, state_change):
    q.put((name, state_change))
ServiceBrowser(zc, T, handlers=[on])
print(json.dumps({"event": "ready"}), flush=True)
while True:
    name, st = q.get()
    if st is ServiceStateChange.Removed:
        print(json.dumps({"event": "removed", "name": name}), flush=True)
        continue
    info = zc.get_service_info(T, name, timeout=3000)
    if info is None:
        print(json.dumps({"event": "unresolved", "name": name}), flush=True)
        continue
    txt = {k.decode(): (v.decode() if v is not None else None) for k, v in info.properties.items()}
    print(json.dumps({"event": st.name.lower(), "name": name, "addresses": info.parsed_addresses(),
                      "port": info.port, "server": info.server, "txt": txt}), flush=True)
`

type zeroconfEvent struct {
	Event     string            `json:"event"`
	Name      string            `json:"name"`
	Addresses []string          `json:"addresses"`
	Port      int               `json:"port"`
	Server    string            `json:"server"`
	TXT       map[string]string `json:"txt"`
}

// startZeroconfBrowser runs the python browser in ns; its events arrive on
// the channel.
func startZeroconfBrowser(t *testing.T, ns string) <-chan zeroconfEvent {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import zeroconf").Run(); err != nil {
		t.Fatalf("python3-zeroconf (in the Makefile's APT_PACKAGES) is missing: %v", err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, "/usr/bin/python3", "-c", zeroconfBrowser)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("python3-zeroconf stderr:\n%s", stderr.String())
		}
	})
	events := make(chan zeroconfEvent, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var e zeroconfEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				events <- e
			}
		}
		close(events)
	}()
	return events
}

// next returns the next event that is one of kinds, failing after within.
func next(t *testing.T, events <-chan zeroconfEvent, within time.Duration, kinds ...string) zeroconfEvent {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("python3-zeroconf ended before %v", kinds)
			}
			for _, k := range kinds {
				if e.Event == k {
					return e
				}
			}
			t.Logf("python3-zeroconf: %+v", e)
		case <-deadline:
			t.Fatalf("no %v from python3-zeroconf within %s", kinds, within)
		}
	}
}

// TestAnotherHostSeesTheGatewayAndItsGoodbye: tinymapper runs standalone
// on the sim in one namespace with REST on 192.0.2.1:7777; in the other,
// python3-zeroconf (an independent DNS-SD implementation) sees the instance
// with its address, port and TXT, `tinymapper discover` lists it, and after
// SIGTERM the goodbye packets remove it from python's view.
func TestAnotherHostSeesTheGatewayAndItsGoodbye(t *testing.T) {
	p := newNetnsPair(t)
	events := startZeroconfBrowser(t, p.b)
	next(t, events, 10*time.Second, "ready")

	gw := gatewayIn(t, p.a, "gw-netns", "192.0.2.1:7777", "deploy/examples/i2c.yaml") // two Devices

	e := next(t, events, 10*time.Second, "added")
	if e.Name != "gw-netns._tinymapper._tcp.local." || e.Port != 7777 || len(e.Addresses) != 1 || e.Addresses[0] != "192.0.2.1" {
		t.Errorf("python3-zeroconf saw %+v", e)
	}
	for k, want := range map[string]string{"board": "sim", "devices": "2", "api": "/api/v1", "token": "true", "version": version} {
		if e.TXT[k] != want {
			t.Errorf("TXT %s=%q, want %q (all: %v)", k, e.TXT[k], want, e.TXT)
		}
	}
	if !strings.Contains(e.TXT["protocols"], "i2c") {
		t.Errorf("TXT protocols=%q", e.TXT["protocols"])
	}

	t.Run("discover lists it", func(t *testing.T) {
		out, err := tinymapperIn(p.b, nil, "discover", "--timeout", "2s", "--json").Output()
		if err != nil {
			t.Fatalf("discover: %v", err)
		}
		var got []discoveredGateway
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("discover --json: %v: %s", err, out)
		}
		if len(got) != 1 || got[0].Name != "gw-netns" || got[0].Address != "192.0.2.1:7777" || got[0].Board != "sim" || got[0].Devices != 2 || got[0].Version != version {
			t.Errorf("discover --json: %+v", got)
		}
		text, err := tinymapperIn(p.b, nil, "discover", "--timeout", "1500ms").Output()
		if err != nil {
			t.Fatalf("discover: %v", err)
		}
		if lines := strings.Split(strings.TrimSpace(string(text)), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "gw-netns") || !strings.Contains(lines[1], "192.0.2.1:7777") {
			t.Errorf("discover:\n%s", text)
		}
	})

	gw.stop(t)
	// python-zeroconf drops a record a second after its goodbye; without
	// one it would keep it for the TTL (120 s for the SRV, 75 min for the PTR).
	if e := next(t, events, 5*time.Second, "removed"); e.Name != "gw-netns._tinymapper._tcp.local." {
		t.Errorf("removed %+v", e)
	}
}

// zeroconfService registers a fake gateway with python3-zeroconf.
const zeroconfService = `
import socket, time
from zeroconf import Zeroconf, ServiceInfo, IPVersion
zc = Zeroconf(ip_version=IPVersion.V4Only)
info = ServiceInfo("_tinymapper._tcp.local.", "fake-gw._tinymapper._tcp.local.",
                   addresses=[socket.inet_aton("192.0.2.2")], port=8080, server="fake-gw.local.",
                   properties={"version": "v0.0.1", "board": "rpi", "devices": "7"})
zc.register_service(info)
print("registered", flush=True)
time.sleep(60)
`

// TestDiscoverListsAServiceAnotherImplementationPublishes: python3-zeroconf
// publishes a _tinymapper._tcp instance in one namespace; `tinymapper
// discover` in the other lists it.
func TestDiscoverListsAServiceAnotherImplementationPublishes(t *testing.T) {
	p := newNetnsPair(t)
	if err := exec.Command("/usr/bin/python3", "-c", "import zeroconf").Run(); err != nil {
		t.Fatalf("python3-zeroconf (in the Makefile's APT_PACKAGES) is missing: %v", err)
	}
	pub := exec.Command("ip", "netns", "exec", p.b, "/usr/bin/python3", "-c", zeroconfService)
	out, err := pub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Process.Kill(); pub.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "registered\n" {
		t.Fatalf("python3-zeroconf: %q %v", line, err)
	}
	got, err := tinymapperIn(p.a, nil, "discover", "--timeout", "2s").Output()
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[1]), " ") != "fake-gw 192.0.2.2:8080 v0.0.1 rpi 7" {
		t.Errorf("discover:\n%s", got)
	}
}

// TestAGatewayStartedWithoutANetworkAdvertisesOnceItHasOne: tinymapper
// starts in a namespace with loopback only (REST on every address), which
// must not stop it; once the veth appears, python3-zeroconf in the other
// namespace sees the instance on it.
func TestAGatewayStartedWithoutANetworkAdvertisesOnceItHasOne(t *testing.T) {
	p := newNetnsHosts(t)
	logs := gatewayIn(t, p.a, "gw-late", "0.0.0.0:7777", "").logs
	time.Sleep(time.Second) // started, and found no interface
	p.link(t)
	events := startZeroconfBrowser(t, p.b)
	next(t, events, 10*time.Second, "ready")
	e := next(t, events, 10*time.Second, "added")
	if e.Name != "gw-late._tinymapper._tcp.local." || len(e.Addresses) != 1 || e.Addresses[0] != "192.0.2.1" || e.Port != 7777 {
		t.Errorf("python3-zeroconf saw %+v", e)
	}
	if !strings.Contains(logs.String(), "no interface to advertise on yet") {
		t.Errorf("no warning that there was no interface at first")
	}
}
