package device_test

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tinymapper/tinymapper/device"
)

// edgeCoreTwinValue is the pattern EdgeCore checks every twin value against
// before it keeps it (KubeEdge edge/pkg/devicetwin).
var edgeCoreTwinValue = regexp.MustCompile(`^[a-zA-Z0-9-_.,:/@#]{1,512}$`)

// edgeCoreAccepts reports whether EdgeCore keeps s as a twin value of type
// typ: it must match the pattern and parse as the type the way EdgeCore
// parses it (base-10 int, float, exactly "true"/"false").
func edgeCoreAccepts(typ, s string) bool {
	if !edgeCoreTwinValue.MatchString(s) {
		return false
	}
	switch typ {
	case device.TypeInt:
		_, err := strconv.ParseInt(s, 10, 64)
		return err == nil
	case device.TypeFloat, device.TypeDouble:
		_, err := strconv.ParseFloat(s, 64)
		return err == nil
	case device.TypeBoolean:
		return s == "true" || s == "false"
	}
	return true
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		in   float64
		want string
		ok   bool
	}{
		{"INT whole number", device.TypeInt, 42, "42", true},
		{"INT rounds to nearest", device.TypeInt, 21.6, "22", true},
		{"INT rounds down below half", device.TypeInt, 21.4, "21", true},
		{"INT rounds half away from zero", device.TypeInt, 2.5, "3", true},
		{"INT rounds negative half away from zero", device.TypeInt, -2.5, "-3", true},
		{"INT negative", device.TypeInt, -7.2, "-7", true},
		{"INT small negative rounds to 0, not -0", device.TypeInt, -0.4, "0", true},
		{"INT negative zero", device.TypeInt, math.Copysign(0, -1), "0", true},
		{"INT beyond int64 refused", device.TypeInt, 1e19, "", false},
		{"INT 2^63 refused", device.TypeInt, math.Ldexp(1, 63), "", false},
		{"INT -2^63 kept", device.TypeInt, -math.Ldexp(1, 63), "-9223372036854775808", true},
		{"INT below int64 refused", device.TypeInt, -1e19, "", false},
		{"INT large without exponent", device.TypeInt, 1e15, "1000000000000000", true},
		{"INT NaN refused", device.TypeInt, math.NaN(), "", false},

		{"FLOAT float32 precision of 0.1", device.TypeFloat, 0.1, "0.1", true},
		{"FLOAT float32-rounded 0.1 prints as 0.1", device.TypeFloat, float64(float32(0.1)), "0.1", true},
		{"FLOAT float32-rounded 22.3 prints as 22.3", device.TypeFloat, float64(float32(22.3)), "22.3", true},
		{"FLOAT exact half", device.TypeFloat, 22.5, "22.5", true},
		{"FLOAT TMP102 step", device.TypeFloat, 0.0625, "0.0625", true},
		{"FLOAT negative", device.TypeFloat, -40.25, "-40.25", true},
		{"FLOAT negative zero prints 0", device.TypeFloat, math.Copysign(0, -1), "0", true},
		{"FLOAT zero", device.TypeFloat, 0, "0", true},
		{"FLOAT negative below float32 range prints 0", device.TypeFloat, -1e-50, "0", true},
		{"FLOAT positive below float32 range prints 0", device.TypeFloat, 1e-50, "0", true},
		{"FLOAT tiny without exponent", device.TypeFloat, 1e-7, "0.0000001", true},
		{"FLOAT huge without exponent", device.TypeFloat, 1e20, "100000000000000000000", true},
		{"FLOAT whole number has no point", device.TypeFloat, 3, "3", true},
		{"FLOAT max float32 kept", device.TypeFloat, math.MaxFloat32, "340282350000000000000000000000000000000", true},
		{"FLOAT beyond float32 refused", device.TypeFloat, 1e39, "", false},
		{"FLOAT NaN refused", device.TypeFloat, math.NaN(), "", false},
		{"FLOAT +Inf refused", device.TypeFloat, math.Inf(1), "", false},
		{"FLOAT -Inf refused", device.TypeFloat, math.Inf(-1), "", false},

		{"DOUBLE keeps float64 digits", device.TypeDouble, 0.1, "0.1", true},
		{"DOUBLE shows float32 rounding it was given", device.TypeDouble, float64(float32(0.1)), "0.10000000149011612", true},
		{"DOUBLE tiny without exponent", device.TypeDouble, 1e-7, "0.0000001", true},
		{"DOUBLE huge without exponent", device.TypeDouble, 1e20, "100000000000000000000", true},
		{"DOUBLE beyond float32 kept", device.TypeDouble, 1e39, "1" + strings.Repeat("0", 39), true},
		{"DOUBLE negative zero prints 0", device.TypeDouble, math.Copysign(0, -1), "0", true},
		{"DOUBLE NaN refused", device.TypeDouble, math.NaN(), "", false},
		{"DOUBLE -Inf refused", device.TypeDouble, math.Inf(-1), "", false},

		{"BOOLEAN zero is false", device.TypeBoolean, 0, "false", true},
		{"BOOLEAN one is true", device.TypeBoolean, 1, "true", true},
		{"BOOLEAN any non-zero is true", device.TypeBoolean, -0.5, "true", true},
		{"BOOLEAN negative zero is false", device.TypeBoolean, math.Copysign(0, -1), "false", true},
		{"BOOLEAN NaN refused", device.TypeBoolean, math.NaN(), "", false},

		{"STRING formats like DOUBLE", device.TypeString, 1.5, "1.5", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := device.FormatValue(tt.typ, tt.in)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("FormatValue(%s, %v) = %q, %v; want %q, %v", tt.typ, tt.in, got, ok, tt.want, tt.ok)
			}
			if !ok {
				return
			}
			if !device.ValidTwinValue(got) {
				t.Errorf("ValidTwinValue(%q) = false", got)
			}
			if !edgeCoreAccepts(tt.typ, got) {
				t.Errorf("EdgeCore would drop %q as %s", got, tt.typ)
			}
		})
	}
}

func TestAppendValueAppends(t *testing.T) {
	dst := []byte("t=")
	out, ok := device.AppendValue(dst, device.TypeFloat, 22.5)
	if !ok || string(out) != "t=22.5" {
		t.Errorf("AppendValue = %q, %v; want \"t=22.5\", true", out, ok)
	}
	out, ok = device.AppendValue([]byte("t="), device.TypeInt, math.NaN())
	if ok || string(out) != "t=" {
		t.Errorf("AppendValue(NaN) = %q, %v; want dst unchanged, false", out, ok)
	}
}

func TestAppendValueDoesNotAllocateIntoRoom(t *testing.T) {
	buf := make([]byte, 0, 64)
	for _, typ := range []string{device.TypeInt, device.TypeFloat, device.TypeDouble, device.TypeBoolean} {
		n := testing.AllocsPerRun(100, func() { device.AppendValue(buf[:0], typ, 22.3) })
		if n != 0 {
			t.Errorf("AppendValue(%s) allocates %v times", typ, n)
		}
	}
}

func TestValidTwinValue(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"22.5", true},
		{"-40", true},
		{"true", true},
		{"0.0000001", true},
		{"a-z_A.Z,0:9/@#", true},
		{strings.Repeat("9", 512), true},
		{strings.Repeat("9", 513), false},
		{"", false},
		{"22 5", false},
		{" 22", false},
		{"+1", false},
		{"1e+07", false},
		{"1e-07", true}, // no '+': the pattern allows it, though FLOAT output never has it
		{"NaN", true},   // the pattern alone allows it; AppendValue never writes it
		{"°C", false},
		{"a\nb", false},
		{"x=1", false},
		{`"1"`, false},
	}
	for _, tt := range tests {
		if got := device.ValidTwinValue(tt.in); got != tt.want {
			t.Errorf("ValidTwinValue(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if got := edgeCoreTwinValue.MatchString(tt.in); got != tt.want {
			t.Errorf("test table disagrees with EdgeCore's pattern on %q", tt.in)
		}
	}
}

func TestValidTwinValueMatchesEdgeCoreOnEveryByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		s := "1" + string([]byte{byte(c)})
		if got, want := device.ValidTwinValue(s), edgeCoreTwinValue.MatchString(s); got != want {
			t.Errorf("byte %#x: ValidTwinValue = %v, EdgeCore's pattern = %v", c, got, want)
		}
	}
}

func TestParseValue(t *testing.T) {
	tests := []struct {
		typ    string
		in     string
		want   float64
		wantOK bool
	}{
		{device.TypeBoolean, "true", 1, true},
		{device.TypeBoolean, "false", 0, true},
		{device.TypeBoolean, "TRUE", 1, true},
		{device.TypeBoolean, "1", 1, true},
		{device.TypeBoolean, "0", 0, true},
		{device.TypeBoolean, "on", 1, true},
		{device.TypeBoolean, "off", 0, true},
		{device.TypeBoolean, " true\n", 1, true},
		{device.TypeBoolean, "yes", 0, false},
		{device.TypeBoolean, "2", 0, false},
		{device.TypeBoolean, "", 0, false},

		{device.TypeInt, "42", 42, true},
		{device.TypeInt, "-7", -7, true},
		{device.TypeInt, " 42 ", 42, true},
		{device.TypeInt, "0x2A", 42, true},
		{device.TypeInt, "0b101", 5, true},
		{device.TypeInt, "0o17", 15, true},
		{device.TypeInt, "010", 10, true}, // decimal, as EdgeCore reads it: not octal 8
		{device.TypeInt, "08", 8, true},
		{device.TypeInt, "4.2", 0, false},
		{device.TypeInt, "1e3", 0, false},
		{device.TypeInt, "", 0, false},
		{device.TypeInt, "forty", 0, false},
		{device.TypeInt, "9223372036854775808", 0, false},

		{device.TypeFloat, "22.5", 22.5, true},
		{device.TypeFloat, "-0.1", -0.1, true},
		{device.TypeFloat, "1e3", 1000, true},
		{device.TypeFloat, " 3 ", 3, true},
		{device.TypeFloat, "NaN", 0, false},
		{device.TypeFloat, "Inf", 0, false},
		{device.TypeFloat, "-Infinity", 0, false},
		{device.TypeFloat, "1e400", 0, false},
		{device.TypeFloat, "", 0, false},
		{device.TypeFloat, "22,5", 0, false},
		{device.TypeDouble, "0.1", 0.1, true},
		{device.TypeDouble, "abc", 0, false},
		{device.TypeString, "12.5", 12.5, true},
	}
	for _, tt := range tests {
		got, err := device.ParseValue(tt.typ, tt.in)
		if (err == nil) != tt.wantOK {
			t.Errorf("ParseValue(%s, %q) error = %v, want ok %v", tt.typ, tt.in, err, tt.wantOK)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("ParseValue(%s, %q) = %v, want %v", tt.typ, tt.in, got, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), strconv.Quote(strings.TrimSpace(tt.in))) {
			t.Errorf("ParseValue(%s, %q) error %q does not quote the value", tt.typ, tt.in, err)
		}
	}
}

// TestFormatThenParseRoundTrips checks that what the twin reports is what a
// desired value of the same text would write.
func TestFormatThenParseRoundTrips(t *testing.T) {
	tests := []struct {
		typ  string
		in   float64
		want float64
	}{
		{device.TypeInt, -3.6, -4},
		{device.TypeFloat, float64(float32(22.3)), 22.3},
		{device.TypeDouble, 1e-7, 1e-7},
		{device.TypeBoolean, 5, 1},
	}
	for _, tt := range tests {
		s, ok := device.FormatValue(tt.typ, tt.in)
		if !ok {
			t.Fatalf("FormatValue(%s, %v) refused", tt.typ, tt.in)
		}
		got, err := device.ParseValue(tt.typ, s)
		if err != nil || got != tt.want {
			t.Errorf("ParseValue(%s, %q) = %v, %v; want %v", tt.typ, s, got, err, tt.want)
		}
	}
}

var fuzzTypes = []string{device.TypeInt, device.TypeFloat, device.TypeDouble, device.TypeBoolean, device.TypeString}

// FuzzAppendValue checks that every value AppendValue accepts is a twin value
// EdgeCore keeps, and parses back as its type. The second argument picks the
// type from fuzzTypes. Seeds: testdata/fuzz/FuzzAppendValue.
func FuzzAppendValue(f *testing.F) {
	f.Add(22.5, uint8(1))
	f.Fuzz(func(t *testing.T, v float64, ti uint8) {
		typ := fuzzTypes[int(ti)%len(fuzzTypes)]
		out, ok := device.AppendValue(nil, typ, v)
		s := string(out)
		if !ok {
			if len(out) != 0 {
				t.Fatalf("refused %v as %s but wrote %q", v, typ, s)
			}
			switch {
			case math.IsNaN(v), math.IsInf(v, 0):
			case typ == device.TypeInt && math.Abs(math.Round(v)) >= math.Ldexp(1, 63):
			case typ == device.TypeFloat && math.Abs(v) > math.MaxFloat32:
			default:
				t.Fatalf("refused %v as %s", v, typ)
			}
			return
		}
		if !edgeCoreTwinValue.MatchString(s) || !device.ValidTwinValue(s) {
			t.Fatalf("%v as %s = %q: EdgeCore would drop it", v, typ, s)
		}
		if s == "-0" {
			t.Fatalf("%v as %s = %q, want 0", v, typ, s)
		}
		switch typ {
		case device.TypeInt:
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || float64(n) != math.Round(v) {
				t.Fatalf("%v as INT = %q: parses as %d, %v", v, s, n, err)
			}
		case device.TypeFloat:
			g, err := strconv.ParseFloat(s, 32)
			if err != nil || float32(g) != float32(v) {
				t.Fatalf("%v as FLOAT = %q: parses as %v, %v; want float32 %v", v, s, g, err, float32(v))
			}
		case device.TypeBoolean:
			if s != strconv.FormatBool(v != 0) {
				t.Fatalf("%v as BOOLEAN = %q", v, s)
			}
		default:
			g, err := strconv.ParseFloat(s, 64)
			if err != nil || g != v {
				t.Fatalf("%v as %s = %q: parses as %v, %v", v, typ, s, g, err)
			}
		}
	})
}

// FuzzParseValue checks that ParseValue never panics and that what it accepts
// is finite, whole for INT, and 0 or 1 for BOOLEAN. Seeds:
// testdata/fuzz/FuzzParseValue.
func FuzzParseValue(f *testing.F) {
	f.Add(uint8(0), "42")
	f.Fuzz(func(t *testing.T, ti uint8, s string) {
		typ := fuzzTypes[int(ti)%len(fuzzTypes)]
		v, err := device.ParseValue(typ, s)
		if err != nil {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("ParseValue(%s, %q) = %v", typ, s, v)
		}
		switch typ {
		case device.TypeInt:
			if v != math.Trunc(v) {
				t.Fatalf("ParseValue(INT, %q) = %v, not whole", s, v)
			}
		case device.TypeBoolean:
			if v != 0 && v != 1 {
				t.Fatalf("ParseValue(BOOLEAN, %q) = %v", s, v)
			}
		}
	})
}

func TestTypeNameIsTheTypeInLowerCase(t *testing.T) {
	for _, typ := range []string{device.TypeInt, device.TypeFloat, device.TypeDouble, device.TypeBoolean, device.TypeString, device.TypeBytes, device.TypeStream, "Custom"} {
		if got, want := device.TypeName(typ), strings.ToLower(typ); got != want {
			t.Errorf("device.TypeName(%q) = %q, want %q", typ, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = device.TypeName(device.TypeFloat) }); n != 0 {
		t.Errorf("TypeName of a known type allocates %v times", n)
	}
}
