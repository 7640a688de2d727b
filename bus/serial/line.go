package serial

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unsafe"
)

// valueKind is how a captured number is written.
type valueKind uint8

const (
	kindFloat valueKind = iota // decimal, with a fraction or exponent or not
	kindInt                    // integer, decimal or with 0x, 0o, 0b prefixes
	kindHex                    // bare hexadecimal digits: 1A3F
	kindBool                   // 1/0, true/false, on/off, yes/no
)

var kindNames = map[string]valueKind{
	"float": kindFloat, "float32": kindFloat, "float64": kindFloat, "double": kindFloat, "number": kindFloat,
	"int": kindInt, "integer": kindInt, "int8": kindInt, "int16": kindInt, "int32": kindInt, "int64": kindInt,
	"uint8": kindInt, "uint16": kindInt, "uint32": kindInt, "uint64": kindInt,
	"hex":  kindHex,
	"bool": kindBool, "boolean": kindBool,
}

// matcher finds a property's value in a line: a regexp with one capture
// group around the value, which is parsed and scaled.
type matcher struct {
	re      *regexp.Regexp
	noValue bool // only whether a line matches counts (writeAck)
	kind    valueKind
	scale   float64
	offset  float64
}

// DefaultPattern captures the first decimal number of a line.
const DefaultPattern = `([-+]?[0-9]+(?:\.[0-9]+)?)`

// match reports whether line matches and, when it does, the value. err is
// set when the line matches and its capture is not a value.
//
// regexp offers no way to get submatch positions into a caller's slice:
// FindSubmatchIndex allocates its result (4 ints) on a match, so this is
// the one allocation of reading a line. A line that does not match costs
// none.
func (m *matcher) match(line []byte) (v float64, ok bool, err error) {
	if m.noValue {
		return 0, m.re.Match(line), nil
	}
	loc := m.re.FindSubmatchIndex(line)
	if loc == nil {
		return 0, false, nil
	}
	if len(loc) < 4 || loc[2] < 0 {
		return 0, true, fmt.Errorf("line %q matched %s without its capture group", line, m.re)
	}
	v, err = m.parse(line[loc[2]:loc[3]])
	return v, true, err
}

// parse turns captured text into the property's value.
func (m *matcher) parse(text []byte) (float64, error) {
	// The string shares text's bytes: strconv does not keep its argument
	// (its errors copy it), so nothing outlives the call.
	s := unsafe.String(unsafe.SliceData(text), len(text))
	var v float64
	switch m.kind {
	case kindFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || !finite(f) {
			return 0, fmt.Errorf("captured %q is not a number", text)
		}
		v = f
	case kindInt:
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			return 0, fmt.Errorf("captured %q is not an integer", text)
		}
		v = float64(n)
	case kindHex:
		n, err := strconv.ParseUint(s, 16, 64)
		if err != nil {
			return 0, fmt.Errorf("captured %q is not hexadecimal", text)
		}
		v = float64(n)
	case kindBool:
		switch {
		case s == "1" || strings.EqualFold(s, "true") || strings.EqualFold(s, "on") || strings.EqualFold(s, "yes"):
			return 1, nil
		case s == "0" || strings.EqualFold(s, "false") || strings.EqualFold(s, "off") || strings.EqualFold(s, "no"):
			return 0, nil
		}
		return 0, fmt.Errorf("captured %q is not a boolean (1/0, true/false, on/off, yes/no)", text)
	}
	return v*m.scale + m.offset, nil
}

// appendValue appends the text a write command carries for v: v unscaled,
// in the property's kind.
func (m *matcher) appendValue(dst []byte, v float64) ([]byte, error) {
	if !finite(v) {
		return dst, fmt.Errorf("%v is not a finite number", v)
	}
	raw := (v - m.offset) / m.scale
	switch m.kind {
	case kindInt:
		r := math.Round(raw)
		if r < math.MinInt64 || r >= math.MaxInt64 {
			return dst, fmt.Errorf("%v is out of range", v)
		}
		return strconv.AppendInt(dst, int64(r), 10), nil
	case kindHex:
		r := math.Round(raw)
		if r < 0 || r >= math.MaxUint64 {
			return dst, fmt.Errorf("%v is out of range for hex", v)
		}
		return strconv.AppendUint(dst, uint64(r), 16), nil
	case kindBool:
		if v != 0 && v != 1 {
			return dst, fmt.Errorf("%v is not 0 or 1", v)
		}
		return append(dst, '0'+byte(v)), nil
	}
	if raw == 0 {
		return append(dst, '0'), nil // never "-0"
	}
	return strconv.AppendFloat(dst, raw, 'f', -1, 64), nil
}
