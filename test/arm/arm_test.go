// Package arm_test runs tinymapper's ARM release binaries (linux arm64, armv7
// and armv6, as `make cross` builds them) under qemu user-mode emulation, each
// on the oldest CPU it is for (Cortex-A53, Cortex-A7, ARM1176), on the
// simulated board: standalone with the REST data plane, and under the
// EdgeCore stand-in over DMI. It also holds the size budgets of the arm64
// binary, with every push sink and without any (size_test.go).
//
// The binaries are built once per test binary: `make test-arm` builds them
// with `make cross` and passes their directory in TINYMAPPER_DIST; without
// it the first test that needs them runs `make cross` into a temporary
// directory. The tests need qemu-aarch64-static and qemu-arm-static
// (Debian's qemu-user-static, which `make test` installs); without them they
// skip, except under CI, where they fail.
package arm_test

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// target is one ARM build and the emulator that runs it.
type target struct {
	name          string // suffix of dist/tinymapper-linux-NAME
	qemu          string
	cpu           string // qemu -cpu: the oldest core the build is for
	goarch, goarm string
	machine       elf.Machine
}

// The emulated CPU is the oldest one each build must run on: qemu-user's
// default is its "max" CPU, on which an armv7 (or newer) binary in the armv6
// slot would pass. The arm1176 is the Pi Zero's and Pi 1's core, the
// Cortex-A7 the Pi 2's, the Cortex-A53 (ARMv8.0) the Pi 3's and Zero 2 W's.
var targets = []target{
	{"arm64", "qemu-aarch64-static", "cortex-a53", "arm64", "", elf.EM_AARCH64},
	{"armv7", "qemu-arm-static", "cortex-a7", "arm", "7", elf.EM_ARM},
	{"armv6", "qemu-arm-static", "arm1176", "arm", "6", elf.EM_ARM},
}

// amd64 is the fourth release binary: it runs natively (no qemu), so only
// the checks of the binary itself and its version cover it here; the image
// test runs it too.
var amd64 = target{"amd64", "", "", "amd64", "", elf.EM_X86_64}

// releases are the binaries of `make cross`.
var releases = append(append([]target(nil), targets...), amd64)

var (
	buildOnce sync.Once
	dist      string // directory holding the binaries
	tmpDist   string // dist, when this test binary made it
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tmpDist != "" {
		os.RemoveAll(tmpDist)
	}
	os.Exit(code)
}

// repoRoot is the module root, two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// binary returns the path of the release binary of tg, building them all on
// first use.
func binary(t *testing.T, tg target) string {
	t.Helper()
	buildOnce.Do(func() {
		if d := os.Getenv("TINYMAPPER_DIST"); d != "" {
			dist = d
			return
		}
		tmpDist, buildErr = os.MkdirTemp("", "tm-dist")
		if buildErr != nil {
			return
		}
		dist = tmpDist
		var names []string
		for _, tg := range releases {
			names = append(names, tg.name)
		}
		cmd := exec.Command("make", "--no-print-directory", "-C", repoRoot(t), "cross",
			"CROSS="+strings.Join(names, " "), "DIST="+tmpDist)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("make cross: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	p := filepath.Join(dist, "tinymapper-linux-"+tg.name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("release binary: %v (TINYMAPPER_DIST=%q)", err, os.Getenv("TINYMAPPER_DIST"))
	}
	return p
}

// emulated returns the command that runs bin with args under the emulator
// of tg, as tg's CPU; with no emulator (amd64), natively.
func emulated(t *testing.T, tg target, bin string, args ...string) *exec.Cmd {
	t.Helper()
	if tg.qemu == "" {
		if runtime.GOARCH != tg.goarch {
			if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
				t.Fatalf("the %s binary runs natively only, on %s; CI=%s runs on amd64", tg.name, runtime.GOARCH, ci)
			}
			t.Skipf("the %s binary runs natively only, not on %s", tg.name, runtime.GOARCH)
		}
		return exec.Command(bin, args...)
	}
	return exec.Command(emulator(t, tg), append([]string{"-cpu", tg.cpu, bin}, args...)...)
}

// emulator returns the path of the qemu user-mode emulator of tg. It skips
// the test when it is missing, unless CI is set.
func emulator(t *testing.T, tg target) string {
	t.Helper()
	p, err := exec.LookPath(tg.qemu)
	if err == nil {
		return p
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatalf("%s not found, and CI=%s: `make test` installs qemu-user-static", tg.qemu, ci)
	}
	t.Skipf("%s not found: apt-get install qemu-user-static (make test does)", tg.qemu)
	return ""
}

// TestBinariesAreStaticStrippedReleaseBuilds reads the ELF headers and the
// Go build information of each release binary.
func TestBinariesAreStaticStrippedReleaseBuilds(t *testing.T) {
	for _, tg := range releases {
		t.Run(tg.name, func(t *testing.T) {
			checkRelease(t, binary(t, tg), tg)
		})
	}
}

// TestMakeBuildIsAReleaseBuild builds with `make build` (the binary for this
// machine) and checks it as a release binary: the same flags.
func TestMakeBuildIsAReleaseBuild(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != amd64.goarch {
		t.Skipf("checks make build on linux/amd64, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	bin := filepath.Join(t.TempDir(), "tinymapper")
	cmd := exec.Command("make", "--no-print-directory", "-C", repoRoot(t), "build", "BIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	checkRelease(t, bin, amd64)
	checkVersion(t, exec.Command(bin, "version"))
}

// checkRelease checks that the binary at path is a static, stripped
// linux/tg build without DWARF, with the Makefile's flags and stamps, and
// the build tags every build has followed by tags (make's TAGS).
func checkRelease(t *testing.T, path string, tg target, tags ...string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != tg.machine {
		t.Errorf("ELF machine %v, want %v", f.Machine, tg.machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("has a %v program header: not a static binary", p.Type)
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("has a symbol table: not stripped (-ldflags -s)")
	}
	var dwarf []string
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			dwarf = append(dwarf, s.Name)
		}
	}
	if len(dwarf) > 0 {
		t.Errorf("has DWARF sections %v: not built with -ldflags -w", dwarf)
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "-tags": strings.Join(append([]string{"grpcnotrace", "nethttpomithttp2"}, tags...), ","),
		"GOOS": "linux", "GOARCH": tg.goarch, "GOARM": tg.goarm}
	got := map[string]string{}
	for _, s := range info.Settings {
		got[s.Key] = s.Value
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("built with %s=%q, want %q", k, got[k], v)
		}
	}
	// -trimpath keeps -ldflags out of the build information: the version
	// stamps (-X) are checked by running the binary (checkVersion).
}

func TestVersionIsStampedUnderEmulation(t *testing.T) {
	for _, tg := range releases {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			checkVersion(t, emulated(t, tg, binary(t, tg), "version"))
		})
	}
}

// checkVersion runs `tinymapper version` and checks that the Makefile
// stamped the version, commit and date (-ldflags -X).
func checkVersion(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("version: %v\n%s", err, out)
	}
	line := strings.TrimSpace(string(out))
	var v, c, d string
	if _, err := fmt.Sscanf(line, "tinymapper %s (commit %s built %s", &v, &c, &d); err != nil {
		t.Fatalf("version printed %q: %v", line, err)
	}
	c, d = strings.TrimSuffix(c, ","), strings.TrimSuffix(d, ")")
	if v == "dev" || c == "unknown" || d == "unknown" || v == "" || c == "" || d == "" {
		t.Errorf("version printed %q; want version, commit and date stamped by the Makefile", line)
	}
	if _, err := time.Parse(time.RFC3339, d); err != nil {
		t.Errorf("build date %q: %v", d, err)
	}
}

// TestEmulatedCPUsAreTheOldestSupported runs each ARM build on the CPU of
// the next older target: the armv7 binary must not run on the armv6 slot's
// arm1176 (it dies of SIGILL there), or the armv6 tests could not tell an
// armv7 build from an armv6 one.
func TestEmulatedCPUsAreTheOldestSupported(t *testing.T) {
	newer, older := targets[1], targets[2]
	if newer.name != "armv7" || older.name != "armv6" {
		t.Fatalf("targets[1:3] are %s and %s; want armv7 and armv6", newer.name, older.name)
	}
	out, err := emulated(t, older, binary(t, newer), "version").CombinedOutput()
	if err == nil {
		t.Fatalf("the armv7 binary runs under %s -cpu %s:\n%s\nthe emulator does not stand for an ARMv6 core", older.qemu, older.cpu, out)
	}
	t.Logf("the armv7 binary under %s -cpu %s: %v (as on a Pi Zero)", older.qemu, older.cpu, err)
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a release binary running under emulation.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // from Wait, once done is closed
}

// start runs the binary of tg under its emulator until the test ends.
func start(t *testing.T, tg target, args ...string) *proc {
	t.Helper()
	p := &proc{out: &syncBuffer{}, done: make(chan struct{})}
	// The REST token in the test's directory, not in /var/lib.
	args = append(args, "--token-file", filepath.Join(t.TempDir(), "token"))
	p.cmd = emulated(t, tg, binary(t, tg), args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("tinymapper (%s under %s -cpu %s) output:\n%s", tg.name, tg.qemu, tg.cpu, p.out.String())
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// terminate sends SIGTERM and waits for the process to exit; it fails the
// test unless the exit code is 0.
func (p *proc) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !p.exited() {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("still running 20 s after SIGTERM")
	}
	if p.err != nil {
		t.Fatalf("exit after SIGTERM: %v; want exit code 0", p.err)
	}
}

// eventually polls cond until it holds, failing the test after within, or
// at once if the process has exited.
func eventually(t *testing.T, p *proc, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if p.exited() {
			t.Fatalf("tinymapper exited (%v) while waiting for %s", p.err, what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
