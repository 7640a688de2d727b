package arm_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// need is one command or file that `make test` or the tests use, and the
// Debian 12 package that provides it.
type need struct {
	what, why, pkg string
	owned          bool // dpkg lists what as a file of pkg (false: generated at install)
}

// needs: everything `make test` runs besides make and Go themselves, which
// must be there before the Makefile can do anything.
var needs = []need{
	{"gcc", "cgo, which go test -race needs", "gcc", true},
	{"/usr/include/stdio.h", "the C library headers and crt files cgo links with", "libc6-dev", true},
	{"protoc", "check-generate", "protobuf-compiler", true},
	{"/usr/include/google/protobuf/any.proto", "check-generate (-I /usr/include)", "libprotobuf-dev", true},
	{"qemu-aarch64-static", "test-arm", "qemu-user-static", true},
	{"qemu-arm-static", "test-arm", "qemu-user-static", true},
	{"systemd-analyze", "test-arm (the unit)", "systemd", true},
	{"buildah", "make image", "buildah", true},
	{"skopeo", "test-image", "skopeo", true},
	{"/etc/ssl/certs/ca-certificates.crt", "make image-context", "ca-certificates", false},
	{"git", "VERSION and COMMIT, lint (git ls-files)", "git", true},
	{"diff", "check-generate", "diffutils", true},
	{"nproc", "test/scale", "coreutils", true},
	{"tar", "make image", "tar", true},
	{"install", "make install, image-context", "coreutils", true},
	{"sed", "make install", "sed", true},
	{"grep", "lint, unit", "grep", true},
	{"ip", "the mDNS tests' network namespaces and veth pair (discover_netns_test.go)", "iproute2", true},
	{"/usr/lib/python3/dist-packages/zeroconf/__init__.py", "the mDNS tests' independent DNS-SD client", "python3-zeroconf", true},
	{"avahi-daemon", "the mDNS tests' avahi (discover_avahi_test.go)", "avahi-daemon", true},
	{"avahi-browse", "the mDNS tests' avahi browser", "avahi-utils", true},
	{"avahi-publish", "the mDNS tests' avahi publisher", "avahi-utils", true},
	{"unshare", "a /run/avahi-daemon of its own for each test's avahi-daemon", "util-linux", true},
	{"mount", "that /run/avahi-daemon (a tmpfs)", "mount", true},
	{"dbus-daemon", "the D-Bus the mDNS tests' avahi tools talk over", "dbus-daemon", true},
	{"/usr/share/dbus-1/system.conf", "that D-Bus's configuration", "dbus-system-bus-common", true},
	{"mosquitto", "unit (data/sink/mqtt: the broker)", "mosquitto", true},
	{"mosquitto_sub", "unit (data/sink/mqtt: the subscriber)", "mosquitto-clients", true},
	{"mosquitto_passwd", "unit (data/sink/mqtt: the broker's password file)", "mosquitto", true},
	{"victoria-metrics", "unit (data/sink/influxdb2: InfluxDB line protocol on /api/v2/write)", "victoria-metrics", true},
	{"redis-server", "unit (data/sink/redis: the server)", "redis-server", true},
	{"redis-cli", "unit (data/sink/redis: reading the streams back)", "redis-tools", true},
	{"mariadbd", "unit (data/sink/mysql: the server)", "mariadb-server-core", true},
	{"mariadb-install-db", "unit (data/sink/mysql: the server's data directory)", "mariadb-server-core", true},
	{"mariadb", "unit (data/sink/mysql: reading the rows back)", "mariadb-client-core", true},
}

// TestMakefileInstallsWhatTheTestsUse checks, on Debian, that each package
// of needs is one the Makefile installs (APT_PACKAGES) or one every Debian
// system has (Essential: yes), and that it does provide the command or file.
func TestMakefileInstallsWhatTheTestsUse(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("dpkg-query not found, and CI=%s: CI runs on Debian 12", ci)
		}
		t.Skip("not a Debian system: the Makefile installs Debian packages")
	}
	out, err := exec.Command("make", "--no-print-directory", "-C", repoRoot(t), "-pn", "help").Output()
	if err != nil {
		t.Fatalf("make -pn help: %v", err)
	}
	var apt []string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "APT_PACKAGES := "); ok {
			apt = strings.Fields(v)
		}
	}
	if len(apt) == 0 {
		t.Fatal("no APT_PACKAGES in the Makefile's variables")
	}
	for _, n := range needs {
		if !slices.Contains(apt, n.pkg) {
			ess, err := exec.Command("dpkg-query", "-W", "-f", "${Essential}", n.pkg).Output()
			if err != nil || strings.TrimSpace(string(ess)) != "yes" {
				t.Errorf("%s (%s) comes from %s, which is not Essential and not in the Makefile's APT_PACKAGES %q",
					n.what, n.why, n.pkg, apt)
				continue
			}
		}
		if !n.owned {
			continue
		}
		if owner := owner(t, n.what); owner != n.pkg {
			t.Errorf("%s (%s): dpkg says package %q provides it, want %q", n.what, n.why, owner, n.pkg)
		}
	}
}

// owner returns the Debian package that holds the file what (a command is
// looked up on PATH), or "" when none does.
func owner(t *testing.T, what string) string {
	t.Helper()
	path := what
	if !filepath.IsAbs(what) {
		p, err := exec.LookPath(what)
		if err != nil {
			t.Errorf("%s: not on PATH", what)
			return ""
		}
		path = p
	}
	// With merged /usr, dpkg may list the file under /bin or /usr/bin.
	candidates := []string{path}
	if rest, ok := strings.CutPrefix(path, "/usr"); ok {
		candidates = append(candidates, rest)
	} else {
		candidates = append(candidates, "/usr"+path)
	}
	for _, p := range candidates {
		out, err := exec.Command("dpkg-query", "-S", p).Output()
		if err != nil {
			continue
		}
		// "pkg[:arch]: /path", one line per package.
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			pkg, file, ok := strings.Cut(line, ": ")
			if ok && file == p {
				pkg, _, _ = strings.Cut(pkg, ":")
				return pkg
			}
		}
	}
	return ""
}
