package serial

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/serialport"
	"github.com/tinymapper/tinymapper/hal"
)

// Defaults of the device keys.
var defaultPort = serialport.Config{Mode: hal.SerialMode{Baud: 9600}, Timeout: time.Second}

const defaultMaxAge = 10 * time.Second

var (
	deviceKeys   = append(serialport.Keys(), "eol", "errorPattern")
	propertyKeys = []string{"command", "pattern", "dataType", "scale", "offset", "maxAgeMs", "writeCommand", "writeAck"}
)

// Config is a device's configData as the driver reads it.
type Config struct {
	serialport.Config
	// EOL is the line end.
	EOL string
	// ErrorPattern matches a line by which the device refuses a command
	// (errorPattern, default DefaultErrorPattern; "none" turns it off): an
	// exchange ends at once with that line as its error, instead of
	// waiting out the timeout for a reply that will not come.
	ErrorPattern *regexp.Regexp
}

// DefaultErrorPattern is errorPattern's default: a line starting with ERR or
// ERROR as a word ("ERR range", "ERROR: bad value").
const DefaultErrorPattern = `^(?:ERR|ERROR)\b`

// ParseConfig reads a device's configData. Errors are *bus.FieldError.
func ParseConfig(c bus.Config) (Config, error) {
	pc, err := serialport.Parse(c, defaultPort)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Config: pc, EOL: "\n"}
	eol, err := c.String("eol", "\n")
	if err != nil {
		return cfg, err
	}
	switch strings.ToUpper(eol) {
	case "LF":
		eol = "\n"
	case "CRLF":
		eol = "\r\n"
	case "CR":
		eol = "\r"
	}
	if eol, err = unescape(eol); err != nil {
		return cfg, c.Errorf("eol", "%v", err)
	}
	switch eol {
	case "\n", "\r\n", "\r":
		cfg.EOL = eol
	default:
		return cfg, c.Errorf("eol", "%q is not \\n, \\r\\n or \\r", eol)
	}
	if s, _ := c.String("errorPattern", ""); s != "none" {
		if cfg.ErrorPattern, err = pattern(c, "errorPattern", DefaultErrorPattern, -1); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// Property is one property's configData as the driver reads it.
type Property struct {
	Command      string // with escapes resolved, without the eol; "" when unsolicited
	Pattern      *regexp.Regexp
	DataType     string
	Scale        float64
	Offset       float64
	MaxAge       time.Duration
	WriteCommand string // "" when not writable
	WriteAck     *regexp.Regexp
}

// ParseProperty reads one property's configData. Errors are *bus.FieldError.
func ParseProperty(p bus.PropertyConfig) (Property, error) {
	c := propertyConfig(p)
	var pr Property
	if p.Type == bus.TypeString {
		return pr, &bus.FieldError{Field: c.Path, Err: errors.New("type STRING is not supported: make it INT, FLOAT, DOUBLE or BOOLEAN")}
	}
	cmd, err := c.String("command", "")
	if err != nil {
		return pr, err
	}
	if pr.Command, err = unescape(cmd); err != nil {
		return pr, c.Errorf("command", "%v", err)
	}
	if c.Has("command") && pr.Command == "" {
		return pr, c.Errorf("command", "is empty; leave it out for a device that talks on its own")
	}
	if pr.Pattern, err = pattern(c, "pattern", DefaultPattern, 1); err != nil {
		return pr, err
	}
	defType := "float"
	if p.Type == bus.TypeBoolean {
		defType = "bool"
	}
	if pr.DataType, err = c.String("dataType", defType); err != nil {
		return pr, err
	}
	pr.DataType = strings.ToLower(strings.TrimSpace(pr.DataType))
	kind, ok := kindNames[pr.DataType]
	if !ok {
		return pr, c.Errorf("dataType", "%q is not one of float, int, hex, bool", pr.DataType)
	}
	if kind == kindBool {
		for _, k := range []string{"scale", "offset"} {
			if c.Has(k) {
				return pr, c.Errorf(k, "does not apply to bool")
			}
		}
	}
	if pr.Scale, err = c.Float("scale", 1); err != nil {
		return pr, err
	}
	if pr.Scale == 0 {
		return pr, c.Errorf("scale", "must not be 0")
	}
	if pr.Offset, err = c.Float("offset", 0); err != nil {
		return pr, err
	}
	ms, err := c.Int("maxAgeMs", defaultMaxAge.Milliseconds(), 1, 86_400_000)
	if err != nil {
		return pr, err
	}
	pr.MaxAge = time.Duration(ms) * time.Millisecond
	if c.Has("maxAgeMs") && pr.Command != "" {
		return pr, c.Errorf("maxAgeMs", "applies only to properties without a command")
	}

	wc, err := c.String("writeCommand", "")
	if err != nil {
		return pr, err
	}
	if pr.WriteCommand, err = unescape(wc); err != nil {
		return pr, c.Errorf("writeCommand", "%v", err)
	}
	if pr.WriteAck, err = pattern(c, "writeAck", "", -1); err != nil {
		return pr, err
	}
	switch {
	case p.Writable && pr.WriteCommand == "":
		return pr, c.Errorf("writeCommand", "is required: %s is ReadWrite (such as \"SP={value}\")", p.Name)
	case !p.Writable && pr.WriteCommand != "":
		return pr, c.Errorf("writeCommand", "is set but the model makes %s ReadOnly; set its accessMode to ReadWrite", p.Name)
	case pr.WriteAck != nil && pr.WriteCommand == "":
		return pr, c.Errorf("writeAck", "applies only with writeCommand")
	case strings.Count(pr.WriteCommand, "{value}") > 1:
		return pr, c.Errorf("writeCommand", "has {value} more than once")
	}
	return pr, nil
}

// pattern compiles the regexp at key (def when absent, nil when def is
// empty), which must have groups capture groups (any number when < 0).
func pattern(c bus.Config, key, def string, groups int) (*regexp.Regexp, error) {
	s, err := c.String(key, def)
	if err != nil || s == "" {
		if err == nil && c.Has(key) {
			return nil, c.Errorf(key, "is empty")
		}
		return nil, err
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, c.Errorf(key, "%q is not a regular expression: %v", s, err)
	}
	if groups >= 0 && re.NumSubexp() != groups {
		return nil, c.Errorf(key, "%q has %d capture groups, want %d (write others as (?:...))", s, re.NumSubexp(), groups)
	}
	return re, nil
}

func propertyConfig(p bus.PropertyConfig) bus.Config {
	c := p.Config
	if c.Path == "" {
		c.Path = "properties[" + p.Name + "]"
	}
	return c
}

// unescape turns the escapes users write in YAML's plain and single-quoted
// strings into bytes: \r \n \t \\ \0 and \xHH. Real control characters (from
// a double-quoted YAML string) pass through.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("%q ends with a lone backslash", s)
		}
		i++
		switch s[i] {
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '0':
			b.WriteByte(0)
		case '\\':
			b.WriteByte('\\')
		case 'x':
			if i+2 >= len(s) {
				return "", fmt.Errorf(`%q: \x needs two hex digits`, s)
			}
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf(`%q: \x needs two hex digits`, s)
			}
			b.WriteByte(byte(n))
			i += 2
		default:
			return "", fmt.Errorf(`%q: unknown escape \%c (want \r, \n, \t, \0, \\ or \xHH)`, s, s[i])
		}
	}
	return b.String(), nil
}

// finite reports whether f is a finite number.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
