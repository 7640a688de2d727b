package device

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// AppendValue appends v formatted for a twin of the given model type to dst.
//
// EdgeCore keeps a twin value only when it matches ^[a-zA-Z0-9-_.,:/@#]{1,512}$
// and parses as the declared type, so numbers are written without exponent or
// '+', integers are rounded, booleans are "true"/"false", and FLOAT (float32 on
// the cloud side) is written with float32 precision. ok is false for values no
// type can carry (NaN, ±Inf, integers beyond int64).
func AppendValue(dst []byte, typ string, v float64) (out []byte, ok bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return dst, false
	}
	switch typ {
	case TypeInt:
		r := math.Round(v)
		if r < math.MinInt64 || r >= math.MaxInt64 {
			return dst, false
		}
		return strconv.AppendInt(dst, int64(r), 10), true
	case TypeBoolean:
		return strconv.AppendBool(dst, v != 0), true
	case TypeFloat:
		if math.Abs(v) > math.MaxFloat32 {
			return dst, false
		}
		return appendFixed(dst, v, 32), true
	default: // DOUBLE, STRING and anything else numeric
		return appendFixed(dst, v, 64), true
	}
}

// appendFixed formats without exponent and turns "-0" into "0", including
// negative values too small for float32 that round to -0 there.
func appendFixed(dst []byte, v float64, bits int) []byte {
	if v == 0 || (bits == 32 && float32(v) == 0) {
		return append(dst, '0')
	}
	return strconv.AppendFloat(dst, v, 'f', -1, bits)
}

// FormatValue is AppendValue into a new string.
func FormatValue(typ string, v float64) (string, bool) {
	b, ok := AppendValue(nil, typ, v)
	return string(b), ok
}

// ValidTwinValue reports whether EdgeCore will accept s as a twin value.
func ValidTwinValue(s string) bool {
	if len(s) < 1 || len(s) > 512 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_.,:/@#", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ParseValue parses a desired value of the given model type into the number a
// bus.Writer takes.
func ParseValue(typ, s string) (float64, error) {
	s = strings.TrimSpace(s)
	switch typ {
	case TypeBoolean:
		switch strings.ToLower(s) {
		case "true", "1", "on":
			return 1, nil
		case "false", "0", "off":
			return 0, nil
		}
		return 0, fmt.Errorf("%q is not true or false", s)
	case TypeInt:
		// Decimal first, as EdgeCore reads INT twins: "010" is ten, not
		// octal eight. Prefixed forms ("0x2A", "0b101", "0o17") still work.
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			n, err = strconv.ParseInt(s, 0, 64)
		}
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", s)
		}
		return float64(n), nil
	default:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		return f, nil
	}
}
