package crd_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/device/crd"
)

// TestLoadRefusesWhatIsNotABoundedRegularFile: /dev/zero, a FIFO named
// x.yaml, a socket and an oversized file are refused at once with an error
// saying what they are; nothing waits or grows.
func TestLoadRefusesWhatIsNotABoundedRegularFile(t *testing.T) {
	mkfifo := func(dir string) string {
		p := filepath.Join(dir, "x.yaml")
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := func(dir string) string {
		p := filepath.Join(dir, "big.yaml")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(crd.MaxFileSize + 1); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path func(dir string) string // the --devices argument
		want string
	}{
		{"/dev/zero", func(string) string { return "/dev/zero" }, "not a regular file (a character device)"},
		{"a FIFO", mkfifo, "not a regular file (a FIFO)"},
		{"a FIFO named x.yaml in a directory", func(dir string) string { mkfifo(dir); return dir }, "x.yaml is not a regular file (a FIFO)"},
		{"a symbolic link to /dev/zero in a directory", func(dir string) string {
			if err := os.Symlink("/dev/zero", filepath.Join(dir, "z.yaml")); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "z.yaml is not a regular file"},
		{"a file over the cap", big, "a devices file may hold at most"},
		{"a directory with a file over the cap", func(dir string) string { big(dir); return dir }, "a devices file may hold at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path(t.TempDir())
			done := make(chan error, 1)
			go func() { _, err := crd.Load(path); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Load(%s) = %v; want an error saying %q", path, err, tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("Load(%s) still running after 5 s", path)
			}
		})
	}
}

func TestLoadFileNamesTheFile(t *testing.T) {
	if _, err := crd.LoadFile("testdata/does-not-exist.yaml"); err == nil {
		t.Error("no error for a missing file")
	}
	_, err := crd.LoadFile("testdata/typo.yaml")
	for _, want := range []string{"testdata/typo.yaml: ", "document 2 (Device meter)", "unknown key `colectCycle` at line 18"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestLoadReadsEveryYAMLFileOfADirectory(t *testing.T) {
	set, err := crd.Load("../../deploy/examples")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../deploy/examples/*.yaml")
	if len(files) < 2 || len(set.Devices) < len(files) || len(set.Models) < len(files) {
		t.Errorf("%d files gave %d models and %d devices; want at least one of each per file", len(files), len(set.Models), len(set.Devices))
	}
	if _, err := crd.Load("../../deploy/examples/nope.yaml"); err == nil {
		t.Error("loading a missing file succeeded")
	}
}
