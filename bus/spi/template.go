package spi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A template is the bytes of one transaction: constant bytes, and bytes
// computed from the channel, the register or the value being written.
//
// Grammar (fields separated by spaces or commas):
//
//	field  = hex | "{" expr "}"
//	hex    = ["0x"] hex digits: one byte ("01", "0x1"), or several when the
//	         digits are more than two and even in number ("018000", "0x018000")
//	expr   = term { "|" term }
//	term   = atom { ("<<" | ">>" | "&") number }
//	atom   = number | "ch" | "channel" | "reg" | "register" | "value"
//	number = decimal, or with a 0x, 0o or 0b prefix
//
// An expression yields one byte: its low 8 bits. "ch" is the property's
// channel key, "reg" its register key (for chips addressed by register, such
// as an MCP23S17 or an accelerometer: "{reg|0x80} 00" reads one); "value"
// (writeTx only) is the raw integer the codec encodes the written value to.
type template struct {
	bytes        []tbyte
	usesChannel  bool
	usesRegister bool
	usesValue    bool
}

// tbyte is one byte of a template: const, OR-ed with its terms.
type tbyte struct {
	terms []term // nil for a constant byte
	konst uint64
}

type term struct {
	src int // srcConst, srcChannel or srcValue
	k   uint64
	ops []op
}

const (
	srcConst = iota
	srcChannel
	srcRegister
	srcValue
)

type op struct {
	kind byte // '<', '>' or '&'
	n    uint64
}

// maxTx is the longest transaction a template may describe. spidev's
// default buffer is 4096 bytes; a property reads one value.
const maxTx = 256

// parseTemplate parses s. value says whether "value" is allowed.
func parseTemplate(s string, value bool) (template, error) {
	var t template
	fields, err := splitFields(s)
	if err != nil {
		return t, err
	}
	if len(fields) == 0 {
		return t, errors.New("has no bytes")
	}
	for _, f := range fields {
		if strings.HasPrefix(f, "{") {
			b, err := parseExpr(strings.Join(strings.Fields(f[1:len(f)-1]), ""), value)
			if err != nil {
				return t, fmt.Errorf("%q: %w", f, err)
			}
			for _, tm := range b.terms {
				t.usesChannel = t.usesChannel || tm.src == srcChannel
				t.usesRegister = t.usesRegister || tm.src == srcRegister
				t.usesValue = t.usesValue || tm.src == srcValue
			}
			t.bytes = append(t.bytes, b)
			continue
		}
		hex := f
		prefixed := strings.HasPrefix(hex, "0x") || strings.HasPrefix(hex, "0X")
		if prefixed {
			hex = hex[2:]
		}
		if hex == "" || (len(hex) > 2 && len(hex)%2 != 0) || (len(hex) == 1 && !prefixed) {
			return t, fmt.Errorf("%q is not a byte in hex (write 01, 0x1, or an even number of digits)", f)
		}
		if len(hex) == 1 {
			hex = "0" + hex
		}
		for i := 0; i < len(hex); i += 2 {
			v, err := strconv.ParseUint(hex[i:i+2], 16, 8)
			if err != nil {
				return t, fmt.Errorf("%q is not hex", f)
			}
			t.bytes = append(t.bytes, tbyte{konst: v})
		}
	}
	if len(t.bytes) > maxTx {
		return t, fmt.Errorf("has %d bytes, more than %d", len(t.bytes), maxTx)
	}
	return t, nil
}

// splitFields splits a template at spaces and commas, keeping each {...}
// whole, spaces and all.
func splitFields(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == ',' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '{':
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return nil, fmt.Errorf("%q: { without }", s[i:])
			}
			out = append(out, s[i:i+j+1])
			i += j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" ,\t\n\r{", rune(s[j])) {
				j++
			}
			if j < len(s) && s[j] == '{' {
				return nil, fmt.Errorf("%q: put a space before {", s[i:j+1])
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, nil
}

func parseExpr(s string, value bool) (tbyte, error) {
	var b tbyte
	for _, ts := range strings.Split(s, "|") {
		tm, err := parseTerm(ts, value)
		if err != nil {
			return b, err
		}
		if tm.src == srcConst && len(tm.ops) == 0 {
			b.konst |= tm.k
			continue
		}
		b.terms = append(b.terms, tm)
	}
	return b, nil
}

func parseTerm(s string, value bool) (term, error) {
	var tm term
	// Split at the operators, keeping them.
	i := strings.IndexAny(s, "<>&")
	atom := s
	if i >= 0 {
		atom = s[:i]
	}
	switch atom {
	case "ch", "channel":
		tm.src = srcChannel
	case "reg", "register":
		tm.src = srcRegister
	case "value":
		if !value {
			return tm, errors.New("value is only known when writing: use it in writeTx")
		}
		tm.src = srcValue
	default:
		n, err := parseNumber(atom)
		if err != nil {
			return tm, err
		}
		tm.k = n
	}
	for i >= 0 {
		s = s[i:]
		var kind byte
		switch {
		case strings.HasPrefix(s, "<<"):
			kind, s = '<', s[2:]
		case strings.HasPrefix(s, ">>"):
			kind, s = '>', s[2:]
		case strings.HasPrefix(s, "&"):
			kind, s = '&', s[1:]
		default:
			return tm, fmt.Errorf("%q: want <<, >> or &", s)
		}
		i = strings.IndexAny(s, "<>&")
		num := s
		if i >= 0 {
			num = s[:i]
		}
		n, err := parseNumber(num)
		if err != nil {
			return tm, err
		}
		if kind != '&' && n > 63 {
			return tm, fmt.Errorf("shift by %d: at most 63", n)
		}
		tm.ops = append(tm.ops, op{kind, n})
	}
	return tm, nil
}

func parseNumber(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("a number, ch, reg or value is missing")
	}
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number, ch, reg or value", s)
	}
	return n, nil
}

// fill writes the template's bytes into b (len(b) == len(t.bytes)) for the
// given channel, register and value. It does not allocate.
func (t *template) fill(b []byte, channel, register, value uint64) {
	for i := range t.bytes {
		tb := &t.bytes[i]
		v := tb.konst
		for j := range tb.terms {
			tm := &tb.terms[j]
			x := tm.k
			switch tm.src {
			case srcChannel:
				x = channel
			case srcRegister:
				x = register
			case srcValue:
				x = value
			}
			for _, o := range tm.ops {
				switch o.kind {
				case '<':
					x <<= o.n
				case '>':
					x >>= o.n
				case '&':
					x &= o.n
				}
			}
			v |= x
		}
		b[i] = byte(v)
	}
}
