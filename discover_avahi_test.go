package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/internal/await"
)

// avahi is an avahi-daemon in a namespace, on a D-Bus system bus of its
// own (avahi-browse and avahi-publish talk to the daemon over D-Bus).
type avahi struct {
	ns, bus string
}

// startAvahi starts dbus-daemon and avahi-daemon in ns until the test ends.
func startAvahi(t *testing.T, ns string) avahi {
	t.Helper()
	for _, c := range []string{"dbus-daemon", "avahi-daemon", "avahi-browse", "avahi-publish", "unshare"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("%s (dbus-daemon, avahi-daemon, avahi-utils in the Makefile's APT_PACKAGES) not found: %v", c, err)
		}
	}
	dir := t.TempDir()
	a := avahi{ns: ns, bus: "unix:path=" + filepath.Join(dir, "bus")}
	conf := filepath.Join(dir, "avahi.conf")
	if err := os.WriteFile(conf, []byte("[server]\nuse-ipv4=yes\nuse-ipv6=no\nhost-name=browser\n[publish]\npublish-workstation=no\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func(args ...string) {
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
		cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+a.bus)
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			if t.Failed() {
				t.Logf("%s:\n%s", args[0], out.String())
			}
		})
	}
	start("dbus-daemon", "--config-file=/usr/share/dbus-1/system.conf", "--address="+a.bus, "--nopidfile", "--nofork")
	await.Within(t, 5*time.Second, "the D-Bus socket", func() bool {
		_, err := os.Stat(filepath.Join(dir, "bus"))
		return err == nil
	})
	// avahi-daemon refuses to start while /run/avahi-daemon/pid names a
	// live daemon, and /run is shared by every namespace: each test's
	// daemon gets a /run/avahi-daemon of its own, so test runs in parallel
	// (two go test processes) do not clash.
	start("unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mkdir -p /run/avahi-daemon && mount -t tmpfs tmpfs /run/avahi-daemon && exec avahi-daemon -f "$0" --no-drop-root --no-chroot --no-rlimits`, conf)
	await.Within(t, 10*time.Second, "avahi-daemon on D-Bus", func() bool {
		return a.command("avahi-browse", "-apt").Run() == nil
	})
	return a
}

func (a avahi) command(args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", a.ns}, args...)...)
	cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+a.bus)
	return cmd
}

// browse returns avahi-browse's resolved _tinymapper._tcp lines ("=;..."),
// from the network, or from avahi's cache only.
func (a avahi) browse(t *testing.T, cacheOnly bool) []string {
	t.Helper()
	args := []string{"avahi-browse", "-rpt", "_tinymapper._tcp"}
	if cacheOnly {
		args = append(args, "-c")
	}
	out, err := a.command(args...).Output()
	if err != nil {
		t.Fatalf("avahi-browse: %v", err)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "=;") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestAvahiSeesTheGatewayAndForgetsItAfterTheGoodbye: avahi-browse in the
// other namespace resolves the gateway with its TXT record, and after
// SIGTERM the goodbye packets empty avahi's cache of it (without them it
// would keep the records for their TTL).
func TestAvahiSeesTheGatewayAndForgetsItAfterTheGoodbye(t *testing.T) {
	p := newNetnsPair(t)
	av := startAvahi(t, p.b)
	gw := gatewayIn(t, p.a, "gw-avahi", "192.0.2.1:7777", "deploy/examples/i2c.yaml")
	var seen []string
	await.Within(t, 10*time.Second, "avahi-browse resolving gw-avahi", func() bool {
		seen = av.browse(t, false)
		return len(seen) == 1
	})
	// =;IFACE;IPv4;NAME;TYPE;DOMAIN;HOST;ADDRESS;PORT;"k=v" "k=v" ...
	f := strings.SplitN(seen[0], ";", 10)
	if len(f) != 10 || f[3] != "gw-avahi" || f[6] != "gw-avahi.local" || f[7] != "192.0.2.1" || f[8] != "7777" {
		t.Errorf("avahi-browse: %q", seen[0])
	}
	for _, kv := range []string{`"board=sim"`, `"devices=2"`, `"api=/api/v1"`, `"token=true"`, fmt.Sprintf(`"version=%s"`, version)} {
		if len(f) == 10 && !strings.Contains(f[9], kv) {
			t.Errorf("TXT %s missing in %s", kv, f[9])
		}
	}
	if got := av.browse(t, true); len(got) != 1 {
		t.Fatalf("avahi's cache before the goodbye: %q", got)
	}
	gw.stop(t)
	await.Within(t, 3*time.Second, "avahi's cache dropping gw-avahi after the goodbye", func() bool {
		return len(av.browse(t, true)) == 0
	})
}

// TestDiscoverListsWhatAvahiPublishes: avahi-publish announces a
// _tinymapper._tcp service; discover in the other namespace lists it.
func TestDiscoverListsWhatAvahiPublishes(t *testing.T) {
	p := newNetnsPair(t)
	av := startAvahi(t, p.b)
	pub := av.command("avahi-publish", "-s", "fake-av", "_tinymapper._tcp", "8081", "version=v0.0.2", "board=rpi", "devices=3")
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Process.Kill(); pub.Wait() })
	var got string
	await.Within(t, 15*time.Second, "discover listing fake-av", func() bool {
		out, err := tinymapperIn(p.a, nil, "discover", "--timeout", "1500ms").Output()
		got = string(out)
		lines := strings.Split(strings.TrimSpace(got), "\n")
		return err == nil && len(lines) == 2 && strings.Join(strings.Fields(lines[1]), " ") == "fake-av 192.0.2.2:8081 v0.0.2 rpi 3"
	})
	if t.Failed() {
		t.Logf("discover:\n%s", got)
	}
}
