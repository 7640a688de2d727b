package main

import "testing"

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
