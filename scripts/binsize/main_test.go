package main

import (
	"debug/elf"
	"os"
	"path/filepath"
	"testing"
)

func TestPackageOf(t *testing.T) {
	tests := []struct{ sym, want string }{
		{"google.golang.org/grpc/internal/transport.(*http2Server).operateHeaders", "google.golang.org/grpc/internal/transport"},
		{"runtime.mallocgc", "runtime"},
		{"type:*github.com/tinymapper/tinymapper/device.Manager", "github.com/tinymapper/tinymapper/device"},
		{"type:[]net/http.Header", "net/http"},
		{"vendor/golang.org/x/net/idna.idnaValues", "vendor/golang.org/x/net/idna"},
		{"golang.org/x/net/idna.idnaValues", "golang.org/x/net/idna"},
		{"gopkg.in/yaml%2ev3.(*parser).parse", "gopkg.in/yaml.v3"},
		{"go:func.*", "(go:func.*: func metadata, itabs, strings)"},
		{"type:int", "(other)"},
	}
	for _, tt := range tests {
		if got := packageOf(tt.sym); got != tt.want {
			t.Errorf("packageOf(%q) = %q, want %q", tt.sym, got, tt.want)
		}
	}
}

// TestContentIsTheFileWithoutPadding reads this test binary (an ELF file on
// Linux): its content is all of its text section and less than the file.
func TestContentIsTheFileWithoutPadding(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Skipf("not an ELF binary: %v", err)
	}
	text := f.Section(".text")
	f.Close()
	fi, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
	n, err := contentOf(exe)
	if err != nil {
		t.Fatal(err)
	}
	if text == nil || n < int64(text.Size) || n >= fi.Size() {
		t.Errorf("content %d bytes; want at least .text (%v) and less than the file's %d", n, text, fi.Size())
	}
	if _, err := contentOf(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("contentOf a missing file: no error")
	}
}
