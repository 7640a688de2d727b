// Package cut bounds the outside input tinymapper quotes in log lines and
// error messages: a device name, a configData string or a request path may
// be a megabyte long, and the log must not be.
//
// String cuts one string; Handler wraps a slog.Handler so that every string,
// error and Stringer attribute of every record, and the message, is cut
// before it is written. main installs Handler on the process logger, so a
// log line never carries more than Max bytes of any one input.
package cut

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"unicode/utf8"
)

// Max is how many bytes of an input a log line or an error quotes.
const Max = 200

// String returns s when it is at most Max bytes long, otherwise its first
// Max bytes (ending on a whole UTF-8 character) followed by
// "…(N bytes)", N being the length of s.
func String(s string) string {
	if len(s) <= Max {
		return s
	}
	n := Max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

// Handler returns a slog.Handler that cuts the message and the string,
// error and fmt.Stringer attributes of each record with String, then hands
// the record to h.
func Handler(h slog.Handler) slog.Handler {
	if _, ok := h.(handler); ok {
		return h
	}
	return handler{h}
}

type handler struct{ h slog.Handler }

func (c handler) Enabled(ctx context.Context, l slog.Level) bool { return c.h.Enabled(ctx, l) }

func (c handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(attr(a))
		return true
	})
	return c.h.Handle(ctx, out)
}

func (c handler) WithAttrs(as []slog.Attr) slog.Handler {
	cut := make([]slog.Attr, len(as))
	for i, a := range as {
		cut[i] = attr(a)
	}
	return handler{c.h.WithAttrs(cut)}
}

func (c handler) WithGroup(name string) slog.Handler { return handler{c.h.WithGroup(String(name))} }

// attr cuts one attribute, and the attributes of a group.
func attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); len(s) > Max {
			return slog.String(a.Key, String(s))
		}
	case slog.KindGroup:
		g := v.Group()
		cut := make([]slog.Attr, len(g))
		for i, ga := range g {
			cut[i] = attr(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(cut...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, String(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, String(x.String()))
		case []byte:
			return slog.String(a.Key, String(string(x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
