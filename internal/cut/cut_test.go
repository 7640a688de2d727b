package cut

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"short input unchanged", "thermo-1", "thermo-1"},
		{"exactly Max unchanged", strings.Repeat("a", Max), strings.Repeat("a", Max)},
		{"long input cut with its length", strings.Repeat("a", 1<<20), strings.Repeat("a", Max) + "…(1048576 bytes)"},
		{"cut on a whole character", strings.Repeat("a", Max-1) + "é" + "bbb", strings.Repeat("a", Max-1) + "…(204 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := String(tt.in)
			if got != tt.want {
				t.Errorf("String = %.40q… (%d bytes), want %.40q… (%d bytes)", got, len(got), tt.want, len(tt.want))
			}
			if !utf8.ValidString(got) {
				t.Errorf("String cut a character: %q", got)
			}
		})
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

// TestHandlerCutsEveryInput logs a megabyte through every kind of attribute:
// the line stays short.
func TestHandlerCutsEveryInput(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	tests := []struct {
		name string
		log  func(*slog.Logger)
	}{
		{"message", func(l *slog.Logger) { l.Info(big) }},
		{"string", func(l *slog.Logger) { l.Info("m", "device", big) }},
		{"error", func(l *slog.Logger) { l.Warn("m", "err", errors.New(big)) }},
		{"stringer", func(l *slog.Logger) { l.Info("m", "v", stringer(big)) }},
		{"bytes", func(l *slog.Logger) { l.Info("m", "v", []byte(big)) }},
		{"group", func(l *slog.Logger) { l.Info("m", slog.Group("g", "device", big)) }},
		{"with", func(l *slog.Logger) { l.With("device", big).Info("m") }},
		{"with group", func(l *slog.Logger) { l.WithGroup(big).Info("m", "k", "v") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(slog.New(Handler(slog.NewTextHandler(&buf, nil))))
			if buf.Len() > 2*Max+100 {
				t.Errorf("line of %d bytes: %.120s…", buf.Len(), buf.String())
			}
			if !strings.Contains(buf.String(), "1048576 bytes") {
				t.Errorf("line does not say how long the input was: %.300s", buf.String())
			}
		})
	}
}

func TestHandlerKeepsShortValues(t *testing.T) {
	var buf bytes.Buffer
	slog.New(Handler(slog.NewTextHandler(&buf, nil))).Info("device registered", "device", "default/thermo", "n", 3)
	for _, want := range []string{`msg="device registered"`, "device=default/thermo", "n=3"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("line %q lacks %q", buf.String(), want)
		}
	}
}
