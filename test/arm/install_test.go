package arm_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// makeInstall runs `make install` with vars, as a user would on a gateway
// or to stage a tree for one.
func makeInstall(t *testing.T, vars ...string) string {
	t.Helper()
	args := append([]string{"--no-print-directory", "-C", repoRoot(t), "install"}, vars...)
	out, err := exec.Command("make", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMakeInstall stages an install for a Pi (the arm64 release binary) in
// a DESTDIR and checks every file, then installs again over an edited
// config.
func TestMakeInstall(t *testing.T) {
	arm64 := binary(t, targets[0])
	root := repoRoot(t)
	dest := t.TempDir()
	makeInstall(t, "DESTDIR="+dest, "PREFIX=/usr/local", "INSTALL_BIN="+arm64)

	bin := filepath.Join(dest, "usr/local/bin/tinymapper")
	if fi, err := os.Stat(bin); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("binary: %v, %v; want mode 0755", fi, err)
	}
	if !bytes.Equal(readFile(t, bin), readFile(t, arm64)) {
		t.Error("installed binary differs from INSTALL_BIN")
	}
	cfg := filepath.Join(dest, "etc/tinymapper/config.yaml")
	if !bytes.Equal(readFile(t, cfg), readFile(t, filepath.Join(root, "deploy/config.yaml"))) {
		t.Error("installed config differs from deploy/config.yaml")
	}
	unit := string(readFile(t, filepath.Join(dest, "etc/systemd/system/tinymapper.service")))
	if !strings.Contains(unit, "\nExecStart=/usr/local/bin/tinymapper --config /etc/tinymapper/config.yaml\n") {
		t.Errorf("unit's ExecStart does not run the installed binary with the installed config:\n%s", unit)
	}
	for _, want := range []string{"Restart=on-failure", "ProtectSystem=strict", "ReadWritePaths=-/etc/kubeedge",
		"PrivateTmp=yes", "NoNewPrivileges=yes", "DevicePolicy=closed", "DeviceAllow=char-i2c rw",
		"DeviceAllow=char-spi rw", "DeviceAllow=char-gpiochip rw", "DeviceAllow=char-ttyUSB rw"} {
		if !strings.Contains(unit, "\n"+want+"\n") {
			t.Errorf("unit lacks %q", want)
		}
	}
	for _, dir := range []string{"deploy/examples", "deploy/examples/push"} {
		examples, _ := filepath.Glob(filepath.Join(root, dir, "*.yaml"))
		if len(examples) == 0 {
			t.Fatalf("no examples in %s", dir)
		}
		for _, e := range examples {
			rel, _ := filepath.Rel(filepath.Join(root, "deploy/examples"), e)
			if _, err := os.Stat(filepath.Join(dest, "usr/local/share/tinymapper/examples", rel)); err != nil {
				t.Errorf("example: %v", err)
			}
		}
	}

	// A second install keeps the edited config.
	edited := []byte("# edited on the gateway\nlog_level: debug\n")
	if err := os.WriteFile(cfg, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := makeInstall(t, "DESTDIR="+dest, "INSTALL_BIN="+arm64); !strings.Contains(out, "keeping") {
		t.Errorf("second install did not say it kept the config:\n%s", out)
	}
	if !bytes.Equal(readFile(t, cfg), edited) {
		t.Error("second install overwrote the edited config")
	}
}

// TestInstalledUnitVerifies installs to a relocated PREFIX on this machine,
// so that the unit's paths exist, and runs systemd-analyze verify on the
// unit: no warning at all is allowed.
func TestInstalledUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("systemd-analyze not found, and CI=%s: `make test` installs systemd", ci)
		}
		t.Skip("systemd-analyze not found: apt-get install systemd (make test does)")
	}
	dir := t.TempDir()
	makeInstall(t, "PREFIX="+dir+"/usr", "SYSCONFDIR="+dir+"/etc", "UNITDIR="+dir+"/unit",
		"INSTALL_BIN="+binary(t, targets[0]))
	unit := filepath.Join(dir, "unit", "tinymapper.service")
	if !strings.Contains(string(readFile(t, unit)), "ExecStart="+dir+"/usr/bin/tinymapper --config "+dir+"/etc/tinymapper/config.yaml") {
		t.Errorf("PREFIX and SYSCONFDIR did not reach ExecStart:\n%s", readFile(t, unit))
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestMakeStampsOnce runs `make -n cross image` with a git and a date that
// answer something new on each call: every binary and image tag of one run
// must carry the same version, commit and date, so each is asked once.
func TestMakeStampsOnce(t *testing.T) {
	fake := t.TempDir()
	for _, name := range []string{"git", "date"} {
		script := "#!/bin/sh\n" +
			"n=$(cat \"$0.n\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$0.n\"\n" +
			"echo fake" + name + "$n\n"
		if err := os.WriteFile(filepath.Join(fake, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("make", "--no-print-directory", "-C", repoRoot(t), "-n", "cross", "image")
	cmd.Env = []string{"PATH=" + fake + string(os.PathListSeparator) + os.Getenv("PATH")}
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "PATH", "VERSION", "COMMIT", "DATE", "MAKEFLAGS": // the Makefile computes the stamps
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n cross image: %v\n%s", err, out)
	}
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(string(out), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}) {
		if strings.HasPrefix(f, "fakegit") || strings.HasPrefix(f, "fakedate") {
			seen[f] = true
		}
	}
	// One git answer for VERSION, one for COMMIT, one date.
	if len(seen) != 3 || !seen["fakegit1"] || !seen["fakegit2"] || !seen["fakedate1"] {
		t.Errorf("make -n cross image used the stamps %v; want fakegit1, fakegit2 and fakedate1 only:\n%s", keys(seen), out)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
