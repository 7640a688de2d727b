package bus

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Kind says which field of a Value is set.
type Kind uint8

// The kinds of configData values. EdgeCore sends JSON numbers as float32
// wrappers, strings as StringValue and booleans as BoolValue.
const (
	Number Kind = iota + 1
	String
	Bool
)

// Value is one configData value.
type Value struct {
	Kind Kind
	Bool bool // next to Kind: a Value is 32 bytes, not 40
	Num  float64
	Str  string
}

// NumberValue, StringValue and BoolValue build Values.
func NumberValue(f float64) Value { return Value{Kind: Number, Num: f} }

// StringValue returns a string Value.
func StringValue(s string) Value { return Value{Kind: String, Str: s} }

// BoolValue returns a boolean Value.
func BoolValue(b bool) Value { return Value{Kind: Bool, Bool: b} }

// FromFloat32 turns a float32 from EdgeCore back into the decimal the user
// most likely wrote: 0.1 travels as float32 0.100000001490116..., and comes
// back as float64 0.1. Whole numbers up to 2^24 are exact either way.
func FromFloat32(f float32) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	if err != nil { // ±Inf, NaN
		return float64(f)
	}
	return v
}

// String formats v as a user would have written it.
func (v Value) String() string {
	switch v.Kind {
	case Number:
		return strconv.FormatFloat(v.Num, 'f', -1, 64)
	case String:
		return strconv.Quote(v.Str)
	case Bool:
		return strconv.FormatBool(v.Bool)
	}
	return "<none>"
}

// Config is one configData map, with the path of the map for error messages
// (such as "spec.protocol.configData").
type Config struct {
	Path   string
	Values map[string]Value
}

// A FieldError names the configData field that is wrong.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Errorf returns a FieldError for key.
func (c Config) Errorf(key, format string, args ...any) error {
	return &FieldError{Field: c.field(key), Err: fmt.Errorf(format, args...)}
}

func (c Config) field(key string) string {
	if c.Path == "" {
		return key
	}
	return c.Path + "." + key
}

// Has reports whether key is set.
func (c Config) Has(key string) bool {
	_, ok := c.Values[key]
	return ok
}

// Unknown returns the keys of c that are not in known, sorted. Drivers log them:
// they are most often typos.
func (c Config) Unknown(known ...string) []string {
	var out []string
	for k := range c.Values {
		found := false
		for _, n := range known {
			if k == n {
				found = true
				break
			}
		}
		if !found {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Ignored returns one warning per key of c not in known, naming the field, for
// the log: drivers do not fail on unknown keys (they may belong to a newer
// version) but say that they ignored them.
func (c Config) Ignored(known ...string) []string {
	var out []string
	for _, k := range c.Unknown(known...) {
		out = append(out, c.Errorf(k, "unknown key, ignored").Error())
	}
	return out
}

// String returns the string at key, or def when it is absent. Numbers are
// accepted and formatted, since YAML writers often leave off quotes. A
// boolean is refused with BooleanError: what the user wrote (N, yes, ON) is
// lost by the time it arrives as true or false.
func (c Config) String(key, def string) (string, error) {
	v, ok := c.Values[key]
	if !ok {
		return def, nil
	}
	switch v.Kind {
	case String:
		return v.Str, nil
	case Number:
		return strconv.FormatFloat(v.Num, 'f', -1, 64), nil
	case Bool:
		return "", c.BooleanError(key, "", "")
	}
	return "", c.Errorf(key, "has no value")
}

// ErrBoolean is wrapped by the errors for a boolean where text is expected.
var ErrBoolean = errors.New("arrived as a boolean, not text")

// BooleanError returns the FieldError for key holding a boolean where text is
// expected. kubectl reads YAML 1.1, in which unquoted y, yes, on, n, no and
// off (and true, false) are booleans, so `parity: N` arrives as false. The
// message says to quote the value, as in key: example (example "..." when
// empty), or to write one of want (when not empty).
func (c Config) BooleanError(key, example, want string) error {
	v := c.Values[key]
	if example == "" {
		example = "..."
	}
	msg := fmt.Sprintf("YAML 1.1, which kubectl reads, makes unquoted y, yes, on, n, no and off booleans; quote the value (%s: %q)", key, example)
	if want != "" {
		msg += " or write " + want
	}
	return &FieldError{Field: c.field(key), Err: fmt.Errorf("%w (%t): %s", ErrBoolean, v.Bool, msg)}
}

// Int returns the integer at key, or def when it is absent. The value must be a
// whole number within [min, max]. Strings are parsed with base prefixes
// ("0x48", "0o17", "0b101", "72").
func (c Config) Int(key string, def, min, max int64) (int64, error) {
	v, ok := c.Values[key]
	if !ok {
		return def, nil
	}
	var n int64
	switch v.Kind {
	case Number:
		if v.Num != math.Trunc(v.Num) || math.IsInf(v.Num, 0) || math.IsNaN(v.Num) {
			return 0, c.Errorf(key, "%s is not a whole number", v)
		}
		if v.Num < -(1<<63) || v.Num >= 1<<63 {
			return 0, c.Errorf(key, "%s is out of range [%d, %d]", v, min, max)
		}
		n = int64(v.Num)
	case String:
		s := strings.TrimSpace(v.Str)
		var err error
		n, err = strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
		if err != nil {
			if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && f != math.Trunc(f) {
				return 0, c.Errorf(key, "%s is not a whole number", v)
			}
			return 0, c.Errorf(key, "%s is not an integer", v)
		}
	default:
		return 0, c.Errorf(key, "%s is not an integer", v)
	}
	if n < min || n > max {
		return 0, c.Errorf(key, "%d is out of range [%d, %d]", n, min, max)
	}
	return n, nil
}

// Float returns the number at key, or def when it is absent. Strings are parsed
// as decimal or hexadecimal numbers.
func (c Config) Float(key string, def float64) (float64, error) {
	v, ok := c.Values[key]
	if !ok {
		return def, nil
	}
	switch v.Kind {
	case Number:
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			return 0, c.Errorf(key, "%s is not a finite number", v)
		}
		return v.Num, nil
	case String:
		s := strings.TrimSpace(v.Str)
		if n, err := strconv.ParseInt(s, 0, 64); err == nil {
			return float64(n), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, c.Errorf(key, "%s is not a number", v)
		}
		return f, nil
	}
	return 0, c.Errorf(key, "%s is not a number", v)
}

// Bool returns the boolean at key, or def when it is absent. The strings "true"
// and "false" (any case) and the numbers 0 and 1 are accepted.
func (c Config) Bool(key string, def bool) (bool, error) {
	v, ok := c.Values[key]
	if !ok {
		return def, nil
	}
	switch v.Kind {
	case Bool:
		return v.Bool, nil
	case String:
		switch strings.ToLower(strings.TrimSpace(v.Str)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	case Number:
		switch v.Num {
		case 0:
			return false, nil
		case 1:
			return true, nil
		}
	}
	return false, c.Errorf(key, "%s is not true or false", v)
}

// OneOf returns the string at key (def when absent), which must be one of
// choices, compared without regard to case. It returns the matching choice.
func (c Config) OneOf(key, def string, choices ...string) (string, error) {
	if v, ok := c.Values[key]; ok && v.Kind == Bool {
		return "", c.BooleanError(key, "", "one of "+strings.Join(choices, ", "))
	}
	s, err := c.String(key, def)
	if err != nil {
		return "", err
	}
	for _, ch := range choices {
		if strings.EqualFold(s, ch) {
			return ch, nil
		}
	}
	return "", c.Errorf(key, "%q is not one of %s", s, strings.Join(choices, ", "))
}

// ErrMissing is wrapped by the FieldError Require returns.
var ErrMissing = errors.New("is required")

// Require returns a FieldError for the first of keys that is absent.
func (c Config) Require(keys ...string) error {
	for _, k := range keys {
		if !c.Has(k) {
			return &FieldError{Field: c.field(k), Err: ErrMissing}
		}
	}
	return nil
}
