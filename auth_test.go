package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nobody is the uid and gid a local user without privileges runs as.
const nobody = 65534

// asNobody runs curl with args as uid nobody and returns the HTTP status it
// printed (-w %{http_code}) and its error output.
func asNobody(t *testing.T, args ...string) (string, string) {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl is needed (APT_PACKAGES): %v", err)
	}
	cmd := exec.Command(curl, append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Run() // curl's exit status says less than the code it printed
	return out.String(), errOut.String()
}

// TestALocalUserCannotWriteWithoutTheToken runs the mapper standalone on
// loopback as root, then tries it as uid nobody, as the attacker
// did: nobody can read, cannot read the token file, and cannot write
// without the token; with the token a write goes through.
func TestALocalUserCannotWriteWithoutTheToken(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run curl as another uid")
	}
	h := startMapper(t, "--http", "127.0.0.1:0", "--devices", "deploy/examples/i2c.yaml")
	url := h.dataPlane(t)
	tokenFile := filepath.Join(h.dir, "token")
	fi, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %04o, want 0600", fi.Mode().Perm())
	}
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	// The temporary directory is root's 0700: let nobody reach the file,
	// so that only the file's own mode keeps it out.
	if err := os.Chmod(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "token")); err != nil {
		t.Fatal(err)
	}
	put := url + "/api/v1/device/default/config-eeprom/boot-count"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"read on loopback", []string{url + "/api/v1/devices"}, "200"},
		{"probe", []string{url + "/healthz"}, "200"},
		{"write without the token", []string{"-X", "PUT", "-d", `{"value":"7"}`, put}, "401"},
		{"write with a wrong token", []string{"-X", "PUT", "-H", "Authorization: Bearer " + strings.Repeat("0", 64), "-d", `{"value":"7"}`, put}, "401"},
		{"write with the token", []string{"-X", "PUT", "-H", "Authorization: Bearer " + strings.TrimSpace(string(token)), "-d", `{"value":"7"}`, put}, "200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, errOut := asNobody(t, tt.args...); got != tt.want {
				t.Errorf("curl %q as nobody: %q %s, want %s", tt.args, got, errOut, tt.want)
			}
		})
	}
	t.Run("the token file", func(t *testing.T) {
		cmd := exec.Command("cat", tokenFile)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("nobody read the token file: %q", out)
		}
	})
	if strings.Contains(h.logs.String(), strings.TrimSpace(string(token))) {
		t.Error("the token is in the log")
	}
}

func TestAuthOffIsWarnedAtStart(t *testing.T) {
	h := startMapper(t, "--http", "127.0.0.1:0", "--devices", "deploy/examples/i2c.yaml", "--auth", "off")
	h.dataPlane(t)
	if n := h.logLines("level=WARN", "REST authentication is off"); n != 1 {
		t.Errorf("%d warnings that authentication is off, want 1:\n%s", n, h.logs.String())
	}
	if _, err := os.Stat(filepath.Join(h.dir, "token")); err == nil {
		t.Error("a token file was created with authentication off")
	}
}
