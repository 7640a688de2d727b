package bus

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func cfgOf(kv ...any) Config {
	c := Config{Path: "spec.protocol.configData", Values: map[string]Value{}}
	for i := 0; i < len(kv); i += 2 {
		switch x := kv[i+1].(type) {
		case float64:
			c.Values[kv[i].(string)] = NumberValue(x)
		case string:
			c.Values[kv[i].(string)] = StringValue(x)
		case bool:
			c.Values[kv[i].(string)] = BoolValue(x)
		}
	}
	return c
}

func TestIntAcceptsWholeNumbersAndPrefixedStrings(t *testing.T) {
	tests := []struct {
		name    string
		v       any
		want    int64
		wantErr string
	}{
		{"float32-borne number", 72.0, 72, ""},
		{"hex string", "0x48", 72, ""},
		{"octal string", "0o17", 15, ""},
		{"binary string", "0b101", 5, ""},
		{"underscores", "0b1_000", 8, ""},
		{"spaces", " 72 ", 72, ""},
		{"fraction", 72.5, 0, "spec.protocol.configData.address: 72.5 is not a whole number"},
		{"fraction as string", "72.5", 0, "is not a whole number"},
		{"garbage", "zz", 0, `"zz" is not an integer`},
		{"boolean", true, 0, "true is not an integer"},
		{"below range", -1.0, 0, "-1 is out of range [0, 127]"},
		{"above range", "0x80", 0, "128 is out of range [0, 127]"},
		{"huge", 1e300, 0, "out of range"},
		{"NaN", math.NaN(), 0, "not a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cfgOf("address", tt.v).Int("address", 0, 0, 127)
			if tt.wantErr != "" {
				var fe *FieldError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &fe) || fe.Field != "spec.protocol.configData.address" {
					t.Fatalf("Int = %v, %v; want a FieldError containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Int = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if got, err := cfgOf().Int("address", 9, 0, 127); got != 9 || err != nil {
		t.Errorf("absent key = %v, %v; want the default 9", got, err)
	}
}

func TestFloatBoolStringAndOneOf(t *testing.T) {
	c := cfgOf("scale", "0.5", "hex", "0x10", "inf", "Inf", "on", "TRUE", "one", 1.0, "two", 2.0, "n", 3.0, "mode", "Output")
	if v, err := c.Float("scale", 1); v != 0.5 || err != nil {
		t.Errorf("Float(scale) = %v, %v", v, err)
	}
	if v, err := c.Float("hex", 1); v != 16 || err != nil {
		t.Errorf("Float(hex) = %v, %v", v, err)
	}
	if _, err := c.Float("inf", 1); err == nil {
		t.Error("Float accepted Inf")
	}
	if v, err := c.Bool("on", false); !v || err != nil {
		t.Errorf("Bool(TRUE) = %v, %v", v, err)
	}
	if v, err := c.Bool("one", false); !v || err != nil {
		t.Errorf("Bool(1) = %v, %v", v, err)
	}
	if _, err := c.Bool("two", false); err == nil || !strings.Contains(err.Error(), "two") {
		t.Errorf("Bool(2) = %v; want an error naming the key", err)
	}
	if s, err := c.String("n", ""); s != "3" || err != nil {
		t.Errorf("String(3) = %q, %v", s, err)
	}
	if s, err := c.OneOf("mode", "input", "input", "output"); s != "output" || err != nil {
		t.Errorf("OneOf = %q, %v; want the canonical spelling", s, err)
	}
	if _, err := c.OneOf("mode", "", "input", "counter"); err == nil || !strings.Contains(err.Error(), "input, counter") {
		t.Errorf("OneOf with no match = %v; want the choices listed", err)
	}
	if err := c.Require("scale", "port"); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "configData.port") {
		t.Errorf("Require = %v; want port missing", err)
	}
	if got := c.Ignored("scale", "hex", "inf", "on", "one", "two", "n"); len(got) != 1 || !strings.Contains(got[0], "configData.mode: unknown key") {
		t.Errorf("Ignored = %q; want mode", got)
	}
}

// TestTextKeysRefuseBooleans: kubectl turns an unquoted N, yes or off into a
// boolean, and the word the user wrote is gone; text keys say to quote it
// rather than read "false".
func TestTextKeysRefuseBooleans(t *testing.T) {
	c := cfgOf("command", true, "mode", false, "eol", "\n", "baud", 9600.0)
	tests := []struct {
		name string
		get  func() (string, error)
		want []string // in the message; empty: no error
	}{
		{"String refuses true", func() (string, error) { return c.String("command", "") }, []string{"configData.command", "boolean", "(true)", `quote the value (command: "...")`}},
		{"OneOf refuses false and lists the choices", func() (string, error) { return c.OneOf("mode", "input", "input", "output") },
			[]string{"configData.mode", "(false)", "quote the value", "or write one of input, output"}},
		{"String takes a string", func() (string, error) { return c.String("eol", "") }, nil},
		{"String formats a number", func() (string, error) { return c.String("baud", "") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.get()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("error %v; want none", err)
				}
				return
			}
			var fe *FieldError
			if !errors.Is(err, ErrBoolean) || !errors.As(err, &fe) {
				t.Fatalf("error %v; want a FieldError wrapping ErrBoolean", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestFromFloat32RecoversTheDecimal(t *testing.T) {
	tests := []struct {
		in   float32
		want float64
	}{{0.1, 0.1}, {0.0625, 0.0625}, {72, 72}, {-40.5, -40.5}, {16777217, 16777216}, {3.3e-5, 3.3e-5}}
	for _, tt := range tests {
		if got := FromFloat32(tt.in); got != tt.want {
			t.Errorf("FromFloat32(%v) = %v; want %v", tt.in, got, tt.want)
		}
	}
	if got := FromFloat32(float32(math.Inf(1))); !math.IsInf(got, 1) {
		t.Errorf("FromFloat32(+Inf) = %v", got)
	}
}

// FuzzConfigGetters feeds outside strings and numbers to every getter: they
// must never panic, and an error must always name the field.
func FuzzConfigGetters(f *testing.F) {
	for _, s := range []string{"0x48", "72", "72.5", "", "-0", "1e400", "0b", "true", " 0o7 ", "NaN"} {
		f.Add(s, 72.0)
	}
	f.Fuzz(func(t *testing.T, s string, n float64) {
		for _, c := range []Config{cfgOf("k", s), cfgOf("k", n)} {
			check := func(err error) {
				var fe *FieldError
				if err != nil && (!errors.As(err, &fe) || fe.Field != "spec.protocol.configData.k") {
					t.Fatalf("error %v does not name the field", err)
				}
			}
			_, err := c.Int("k", 0, math.MinInt64, math.MaxInt64)
			check(err)
			v, err := c.Float("k", 0)
			check(err)
			if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
				t.Fatalf("Float returned %v without error", v)
			}
			_, err = c.Bool("k", false)
			check(err)
			_, err = c.OneOf("k", "", "a", "b")
			check(err)
		}
	})
}
