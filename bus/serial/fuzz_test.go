package serial

import (
	"bytes"
	"errors"
	"math"
	"regexp"
	"testing"

	"github.com/tinymapper/tinymapper/bus"
)

// FuzzSerialConfig decodes arbitrary device and property configData: it
// must never panic, every error must name a field, and what is accepted must
// be usable.
func FuzzSerialConfig(f *testing.F) {
	f.Add("/dev/ttyUSB0", 9600.0, 8.0, "none", "1", "1000", `\r\n`, "READ?", `T=(-?\d+\.\d)`, "float", 1.0, "", false)
	f.Add("ttyACM0", 250000.0, 5.0, "M", "1.5", "0x10", "CR", "", "", "bool", 0.0, "SET {value}", true)
	f.Add("", 0.0, 9.0, "X", "3", "-1", ";", `\q`, "(a)(b)", "decimal", 0.0, "{value}{value}", true)
	f.Fuzz(func(t *testing.T, port string, baud, dataBits float64, parity, stopBits, timeout, eol, command, pattern, dataType string, scale float64, writeCommand string, writable bool) {
		dev := bus.Config{Path: "d", Values: map[string]bus.Value{
			"port": bus.StringValue(port), "baudRate": bus.NumberValue(baud), "dataBits": bus.NumberValue(dataBits),
			"parity": bus.StringValue(parity), "stopBits": bus.StringValue(stopBits),
			"timeoutMs": bus.StringValue(timeout), "eol": bus.StringValue(eol),
		}}
		if c, err := ParseConfig(dev); err != nil {
			var fe *bus.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("device error %v is not a FieldError", err)
			}
		} else {
			if err := c.Mode.Check(); err != nil {
				t.Fatalf("accepted mode %s: %v", c.Mode, err)
			}
			if c.Port == "" || c.Timeout <= 0 || (c.EOL != "\n" && c.EOL != "\r\n" && c.EOL != "\r") {
				t.Fatalf("accepted %+v", c)
			}
		}
		vals := map[string]bus.Value{"dataType": bus.StringValue(dataType), "scale": bus.NumberValue(scale)}
		for k, v := range map[string]string{"command": command, "pattern": pattern, "writeCommand": writeCommand} {
			if v != "" {
				vals[k] = bus.StringValue(v)
			}
		}
		pr, err := ParseProperty(bus.PropertyConfig{Name: "p", Type: "FLOAT", Writable: writable, Config: bus.Config{Path: "p", Values: vals}})
		if err != nil {
			var fe *bus.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("property error %v is not a FieldError", err)
			}
			return
		}
		if pr.Pattern.NumSubexp() != 1 || pr.Scale == 0 || math.IsNaN(pr.Scale) || (writable != (pr.WriteCommand != "")) {
			t.Fatalf("accepted %+v", pr)
		}
		m := matcher{re: pr.Pattern, kind: kindNames[pr.DataType], scale: pr.Scale, offset: pr.Offset}
		m.match([]byte(command))
		m.appendValue(nil, scale)
	})
}

// BenchmarkMatchLine is the matching and parsing of one line: the one
// allocation is regexp's FindSubmatchIndex result.
func BenchmarkMatchLine(b *testing.B) {
	m := &matcher{re: regexp.MustCompile(`T=(-?\d+\.\d)`), kind: kindFloat, scale: 1}
	line := []byte("T=23.4 H=45.1")
	b.ReportAllocs()
	for b.Loop() {
		if v, ok, err := m.match(line); !ok || err != nil || v != 23.4 {
			b.Fatal(v, ok, err)
		}
	}
}

// BenchmarkSkipLine is a line the pattern does not match: no allocation.
func BenchmarkSkipLine(b *testing.B) {
	m := &matcher{re: regexp.MustCompile(`^SP=(-?\d+\.\d)$`), kind: kindFloat, scale: 1}
	line := []byte("T=23.4 H=45.1")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := m.match(line); ok {
			b.Fatal("matched")
		}
	}
}

func TestUnescape(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"READ?", "READ?", ""},
		{`READ?\r\n`, "READ?\r\n", ""},
		{"READ?\r\n", "READ?\r\n", ""},
		{`\x1b[0m\t\\\0`, "\x1b[0m\t\\\x00", ""},
		{`\x4`, "", "two hex digits"},
		{`\xZZ`, "", "two hex digits"},
		{`end\`, "", "lone backslash"},
		{`\a`, "", `unknown escape \a`},
	}
	for _, tt := range tests {
		got, err := unescape(tt.in)
		if tt.err != "" {
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.err)) {
				t.Errorf("unescape(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("unescape(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
