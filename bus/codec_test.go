package bus

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// cfg builds a Config from key, value pairs; values are float64, int, string or bool.
func cfg(kv ...any) Config {
	c := Config{Values: map[string]Value{}}
	for i := 0; i < len(kv); i += 2 {
		var v Value
		switch x := kv[i+1].(type) {
		case float64:
			v = NumberValue(x)
		case int:
			v = NumberValue(float64(x))
		case string:
			v = StringValue(x)
		case bool:
			v = BoolValue(x)
		}
		c.Values[kv[i].(string)] = v
	}
	return c
}

func mustCodec(t testing.TB, c Config) Codec {
	t.Helper()
	k, err := ParseCodec(c, "uint8")
	if err != nil {
		t.Fatalf("ParseCodec: %v", err)
	}
	return k
}

func TestParseCodecDefaults(t *testing.T) {
	k := mustCodec(t, cfg())
	if k.Type() != "uint8" || k.Size() != 1 || k.Partial() {
		t.Errorf("empty config: got %s, size %d, partial %v; want uint8, 1, false", k.Type(), k.Size(), k.Partial())
	}
	k, err := ParseCodec(cfg(), "float32")
	if err != nil || k.Type() != "float32" || k.Size() != 4 {
		t.Errorf("default float32: got %s size %d err %v", k.Type(), k.Size(), err)
	}
}

func TestParseCodecAcceptsSpellingsUsersWrite(t *testing.T) {
	tests := []struct {
		name     string
		c        Config
		wantType string
		in       []byte
		want     float64
	}{
		{"dataType in any case", cfg("dataType", "INT16"), "int16", []byte{0xff, 0xfe}, -2},
		{"byteOrder little", cfg("dataType", "uint16", "byteOrder", "little"), "uint16", []byte{0x34, 0x12}, 0x1234},
		{"byteOrder LittleEndian", cfg("dataType", "uint16", "byteOrder", "LittleEndian"), "uint16", []byte{0x34, 0x12}, 0x1234},
		{"byteOrder BigEndian", cfg("dataType", "uint16", "byteOrder", "BigEndian"), "uint16", []byte{0x12, 0x34}, 0x1234},
		{"mask as hex string", cfg("dataType", "uint16", "mask", "0x0FFF"), "uint16", []byte{0xab, 0xcd}, 0xbcd},
		{"mask as number", cfg("dataType", "uint16", "mask", 4095), "uint16", []byte{0xab, 0xcd}, 0xbcd},
		{"shift as string", cfg("dataType", "uint16", "shift", "4"), "uint16", []byte{0xab, 0xcd}, 0xabc},
		{"scale as string", cfg("scale", "0.5"), "uint8", []byte{9}, 4.5},
		{"offset as number", cfg("offset", -40), "uint8", []byte{65}, 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := mustCodec(t, tt.c)
			if k.Type() != tt.wantType {
				t.Errorf("Type() = %s, want %s", k.Type(), tt.wantType)
			}
			if got := k.Decode(tt.in); got != tt.want {
				t.Errorf("Decode(% x) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseCodecRejectsBadKeysWithFieldError(t *testing.T) {
	tests := []struct {
		name  string
		c     Config
		field string
		msg   string
	}{
		{"unknown dataType", cfg("dataType", "uint9"), "dataType", "not one of"},
		{"dataType a boolean", cfg("dataType", true), "dataType", "quote the value"},
		{"unknown byteOrder", cfg("byteOrder", "middle"), "byteOrder", "not one of"},
		{"shift negative", cfg("shift", -1), "shift", "out of range"},
		{"shift above 31", cfg("dataType", "uint32", "shift", 32), "shift", "out of range"},
		{"shift fractional", cfg("shift", 1.5), "shift", "whole number"},
		{"shift as wide as the type", cfg("dataType", "uint8", "shift", 8), "shift", "leaves no bits"},
		{"shift on float32", cfg("dataType", "float32", "shift", 0), "shift", "does not apply"},
		{"mask not a number", cfg("mask", "zz"), "mask", "not an integer"},
		{"mask negative", cfg("mask", -1), "mask", "out of range"},
		{"mask above 32 bits", cfg("dataType", "uint32", "mask", "0x100000000"), "mask", "out of range"},
		{"mask wider than the type", cfg("dataType", "uint8", "mask", "0x100"), "mask", "wider than the 8 bits"},
		{"mask wider than what shift leaves", cfg("dataType", "uint8", "shift", 4, "mask", "0x1f"), "mask", "wider than the 4 bits"},
		{"mask on float32", cfg("dataType", "float32", "mask", 1), "mask", "does not apply"},
		{"signed mask not low bits", cfg("dataType", "int16", "mask", "0x1FF0"), "mask", "not low bits"},
		{"scale zero", cfg("scale", 0), "scale", "must not be 0"},
		{"scale zero as string", cfg("scale", "0.0"), "scale", "must not be 0"},
		{"scale not a number", cfg("scale", "fast"), "scale", "not a number"},
		{"scale NaN", cfg("scale", math.NaN()), "scale", "not a finite number"},
		{"scale on bool", cfg("dataType", "bool", "scale", 2), "scale", "does not apply to bool"},
		{"offset on bool", cfg("dataType", "bool", "offset", 1), "offset", "does not apply to bool"},
		{"offset infinite", cfg("offset", math.Inf(1)), "offset", "not a finite number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.Path = "spec.properties[p].visitors.configData"
			_, err := ParseCodec(tt.c, "uint8")
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseCodec error = %v, want a *FieldError", err)
			}
			if want := tt.c.Path + "." + tt.field; fe.Field != want {
				t.Errorf("Field = %q, want %q", fe.Field, want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

// mcp9808 is an MCP9808's ambient temperature register: flags in bits 15..13,
// °C × 16 as 13-bit two's complement in bits 12..0.
var mcp9808 = cfg("dataType", "int16", "mask", "0x1FFF", "scale", 0.0625)

func TestDecode(t *testing.T) {
	tmp102 := cfg("dataType", "int16", "shift", 4, "scale", 0.0625)
	tests := []struct {
		name string
		c    Config
		in   []byte
		want float64
	}{
		{"uint8 is the byte", cfg(), []byte{0xab}, 0xab},
		{"int8 is signed", cfg("dataType", "int8"), []byte{0xff}, -1},
		{"uint16 is big endian by default", cfg("dataType", "uint16"), []byte{0x12, 0x34}, 0x1234},
		{"int16 is signed", cfg("dataType", "int16"), []byte{0x80, 0x00}, -32768},
		{"uint32 big endian", cfg("dataType", "uint32"), []byte{0xde, 0xad, 0xbe, 0xef}, 0xdeadbeef},
		{"int32 little endian", cfg("dataType", "int32", "byteOrder", "little"), []byte{0xfe, 0xff, 0xff, 0xff}, -2},
		{"float32 big endian", cfg("dataType", "float32"), []byte{0x3f, 0xc0, 0, 0}, 1.5},
		{"float32 little endian scaled", cfg("dataType", "float32", "byteOrder", "little", "scale", 2), []byte{0, 0, 0xc0, 0x3f}, 3},
		{"TMP102 25 °C", tmp102, []byte{0x19, 0x00}, 25},
		{"TMP102 0.0625 °C", tmp102, []byte{0x00, 0x10}, 0.0625},
		{"TMP102 -25 °C keeps its sign through the shift", tmp102, []byte{0xe7, 0x00}, -25},
		{"TMP102 ignores the low 4 bits", tmp102, []byte{0x19, 0x0f}, 25},
		{"shift then mask cuts a field", cfg("dataType", "uint16", "shift", 4, "mask", 0xf), []byte{0x12, 0x34}, 3},
		{"mask on a signed type is sign-extended at its width", cfg("dataType", "int16", "mask", 0xff), []byte{0x00, 0xfe}, -2},
		{"mask on a signed type: positive field", cfg("dataType", "int16", "mask", 0xff), []byte{0xff, 0x7e}, 0x7e},
		{"MCP9808 +25 °C", mcp9808, []byte{0x01, 0x90}, 25},
		{"MCP9808 -0.0625 °C", mcp9808, []byte{0x1f, 0xff}, -0.0625},
		{"MCP9808 -25 °C", mcp9808, []byte{0x1e, 0x70}, -25},
		{"MCP9808 -40 °C", mcp9808, []byte{0x1d, 0x80}, -40},
		{"MCP9808 alert flags (bits 15..13) are dropped", mcp9808, []byte{0xe1, 0x90}, 25},
		{"MCP9808 flags and a negative value", mcp9808, []byte{0xfe, 0x70}, -25},
		{"signed field after shift", cfg("dataType", "int8", "shift", 4, "mask", 0x7), []byte{0x50}, -3},
		{"int32 24-bit signed field", cfg("dataType", "int32", "mask", 0xffffff), []byte{0x12, 0x80, 0x00, 0x00}, -8388608},
		{"scale then offset", cfg("scale", 0.5, "offset", -10), []byte{100}, 40},
		{"negative scale", cfg("scale", -1), []byte{3}, -3},
		{"bool is 1 when non-zero", cfg("dataType", "bool"), []byte{2}, 1},
		{"bool is 0 when zero", cfg("dataType", "bool"), []byte{0}, 0},
		{"bool bit set", cfg("dataType", "bool", "shift", 5, "mask", 1), []byte{0xa0}, 1},
		{"bool bit clear", cfg("dataType", "bool", "shift", 6, "mask", 1), []byte{0xa0}, 0},
		{"longer buffer reads the first bytes", cfg("dataType", "uint16"), []byte{0, 1, 2, 3}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := mustCodec(t, tt.c)
			if got := k.Decode(tt.in); got != tt.want {
				t.Errorf("Decode(% x) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeShortBufferIsNaN(t *testing.T) {
	k := mustCodec(t, cfg("dataType", "uint32"))
	if got := k.Decode([]byte{1, 2, 3}); !math.IsNaN(got) {
		t.Errorf("Decode of 3 bytes for uint32 = %v, want NaN", got)
	}
}

func TestEncode(t *testing.T) {
	tmp102 := cfg("dataType", "int16", "shift", 4, "scale", 0.0625)
	tests := []struct {
		name string
		c    Config
		v    float64
		buf  []byte // the register before; Encode writes into a copy
		want []byte
	}{
		{"uint8", cfg(), 200, []byte{0}, []byte{0xc8}},
		{"int8 minimum", cfg("dataType", "int8"), -128, []byte{0}, []byte{0x80}},
		{"uint16 big endian", cfg("dataType", "uint16"), 0x1234, []byte{0, 0}, []byte{0x12, 0x34}},
		{"uint16 little endian", cfg("dataType", "uint16", "byteOrder", "little"), 0x1234, []byte{0, 0}, []byte{0x34, 0x12}},
		{"int32 little endian", cfg("dataType", "int32", "byteOrder", "little"), -2, []byte{0, 0, 0, 0}, []byte{0xfe, 0xff, 0xff, 0xff}},
		{"uint32 maximum", cfg("dataType", "uint32"), math.MaxUint32, []byte{0, 0, 0, 0}, []byte{0xff, 0xff, 0xff, 0xff}},
		{"float32", cfg("dataType", "float32"), 1.5, []byte{0, 0, 0, 0}, []byte{0x3f, 0xc0, 0, 0}},
		{"float32 scaled", cfg("dataType", "float32", "scale", 2, "offset", 1), 4, []byte{0, 0, 0, 0}, []byte{0x3f, 0xc0, 0, 0}},
		{"rounds to the nearest step", cfg("scale", 0.5), 10.3, []byte{0}, []byte{21}},
		{"rounds half away from zero", cfg("dataType", "int8", "scale", 0.5), -10.25, []byte{0}, []byte{0xeb}},
		{"offset then scale", cfg("scale", 0.5, "offset", -10), 40, []byte{0}, []byte{100}},
		{"TMP102 80 °C keeps the low 4 bits", tmp102, 80, []byte{0, 0x0f}, []byte{0x50, 0x0f}},
		{"TMP102 -25 °C", tmp102, -25, []byte{0, 0}, []byte{0xe7, 0x00}},
		{"masked field keeps the other bits", cfg("dataType", "uint16", "shift", 8, "mask", 1), 1, []byte{0x60, 0xa0}, []byte{0x61, 0xa0}},
		{"masked field clears its bits", cfg("dataType", "uint16", "shift", 4, "mask", 0xf), 0, []byte{0xff, 0xff}, []byte{0xff, 0x0f}},
		{"bool true sets the bit", cfg("dataType", "bool", "shift", 5, "mask", 1), 1, []byte{0x80}, []byte{0xa0}},
		{"bool false clears the bit", cfg("dataType", "bool", "shift", 7, "mask", 1), 0, []byte{0xa0}, []byte{0x20}},
		{"bool true is 1", cfg("dataType", "bool"), 1, []byte{0}, []byte{1}},
		{"bool true sets every bit of a wider mask", cfg("dataType", "bool", "shift", 4, "mask", 3), 1, []byte{0x81}, []byte{0xb1}},
		{"MCP9808 -25 °C keeps the flags", mcp9808, -25, []byte{0xa0, 0x00}, []byte{0xbe, 0x70}},
		{"MCP9808 +25 °C clears the sign", mcp9808, 25, []byte{0x1f, 0xff}, []byte{0x01, 0x90}},
		{"signed field after shift", cfg("dataType", "int8", "shift", 4, "mask", 0x7), -3, []byte{0x8f}, []byte{0xdf}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := mustCodec(t, tt.c)
			b := slices.Clone(tt.buf)
			if err := k.Encode(tt.v, b); err != nil {
				t.Fatalf("Encode(%v): %v", tt.v, err)
			}
			if !bytes.Equal(b, tt.want) {
				t.Errorf("Encode(%v) = % x, want % x", tt.v, b, tt.want)
			}
		})
	}
}

func TestEncodeRejectsValuesTheFieldCannotHold(t *testing.T) {
	tmp102 := cfg("dataType", "int16", "shift", 4, "scale", 0.0625)
	tests := []struct {
		name string
		c    Config
		v    float64
		size int
		msg  string
	}{
		{"uint8 above 255", cfg(), 256, 1, "out of range [0, 255]"},
		{"uint8 negative", cfg(), -1, 1, "out of range [0, 255]"},
		{"rounding up past the maximum", cfg(), 255.5, 1, "out of range"},
		{"int8 below -128", cfg("dataType", "int8"), -129, 1, "out of range [-128, 127]"},
		{"range is in scaled units", tmp102, 128, 2, "out of range [-128, 127.9375]"},
		{"range with negative scale", cfg("scale", -1), 1, 1, "out of range [-255, 0]"},
		{"masked field", cfg("dataType", "uint16", "mask", 0xfff), 4096, 2, "out of range [0, 4095]"},
		{"signed masked field above", mcp9808, 256, 2, "out of range [-256, 255.9375]"},
		{"signed masked field below", mcp9808, -256.0625, 2, "out of range [-256, 255.9375]"},
		{"bool 2", cfg("dataType", "bool"), 2, 1, "not 0 or 1"},
		{"float32 overflow", cfg("dataType", "float32"), 1e39, 4, "out of range"},
		{"NaN", cfg(), math.NaN(), 1, "not a finite number"},
		{"infinity", cfg("dataType", "float32"), math.Inf(-1), 4, "not a finite number"},
		{"short buffer", cfg("dataType", "uint16"), 1, 1, "buffer holds 1 bytes, want 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := mustCodec(t, tt.c)
			b := bytes.Repeat([]byte{0x5a}, tt.size)
			err := k.Encode(tt.v, b)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Encode(%v) error = %v, want one saying %q", tt.v, err, tt.msg)
			}
			if !bytes.Equal(b, bytes.Repeat([]byte{0x5a}, tt.size)) {
				t.Errorf("failed Encode changed the buffer to % x", b)
			}
		})
	}
}

func TestEncodeThenDecodeRoundTrips(t *testing.T) {
	configs := []Config{
		cfg(), cfg("dataType", "int8"), cfg("dataType", "uint16", "byteOrder", "little"),
		cfg("dataType", "int16", "shift", 4, "scale", 0.0625), cfg("dataType", "uint32"),
		cfg("dataType", "int32", "scale", 0.01, "offset", 100), cfg("dataType", "float32"),
		cfg("dataType", "uint16", "shift", 3, "mask", 0x3f, "scale", 10),
		mcp9808, cfg("dataType", "int8", "shift", 2, "mask", 0xf),
	}
	values := []float64{0, 1, -1, 2.5, 100, -128, 127, 63, 630, 4095, 2047.9375, -8, 7, -40.0625, -256}
	for _, c := range configs {
		k := mustCodec(t, c)
		for _, v := range values {
			b := make([]byte, k.Size())
			if err := k.Encode(v, b); err != nil {
				continue // out of this codec's range
			}
			got := k.Decode(b)
			// Encode rounds to the codec's step; within half a step is a round trip.
			if step := math.Abs(k.scale) / 2; math.Abs(got-v) > step+1e-9 {
				t.Errorf("%s %v: Decode(Encode(%v)) = %v", k.Type(), c.Values, v, got)
			}
		}
	}
}

func TestCodecKeysAreTheKeysParseCodecReads(t *testing.T) {
	c := cfg("dataType", "int16", "byteOrder", "big", "shift", 1, "mask", 1, "scale", 1, "offset", 0, "register", 0)
	if got := c.Unknown(CodecKeys()...); !slices.Equal(got, []string{"register"}) {
		t.Errorf("Unknown(CodecKeys()...) = %v, want [register]", got)
	}
}

func TestDecodeAndEncodeDoNotAllocate(t *testing.T) {
	for _, c := range []Config{cfg("dataType", "int16", "shift", 4, "scale", 0.0625), mcp9808} {
		k := mustCodec(t, c)
		b := []byte{0x19, 0x00}
		if n := testing.AllocsPerRun(100, func() { k.Decode(b) }); n != 0 {
			t.Errorf("%v: Decode allocates %v times", c.Values, n)
		}
		if n := testing.AllocsPerRun(100, func() { _ = k.Encode(-25, b) }); n != 0 {
			t.Errorf("%v: Encode allocates %v times", c.Values, n)
		}
	}
}

var sink float64

func BenchmarkDecode(b *testing.B) {
	for _, c := range []Config{
		cfg("dataType", "int16", "shift", 4, "scale", 0.0625),
		cfg("dataType", "float32", "byteOrder", "little"),
	} {
		k := mustCodec(b, c)
		buf := make([]byte, k.Size())
		b.Run(k.Type(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink = k.Decode(buf)
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, c := range []Config{
		cfg("dataType", "int16", "shift", 4, "scale", 0.0625),
		cfg("dataType", "float32", "byteOrder", "little"),
	} {
		k := mustCodec(b, c)
		buf := make([]byte, k.Size())
		b.Run(k.Type(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := k.Encode(25.5, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzParseCodec builds a Config from fuzzed values. The bits of keys say which
// keys are present. It checks that ParseCodec only fails with a FieldError naming
// one of its keys, and that a parsed codec decodes any bytes without panicking
// and, unscaled, encodes what it decoded back to the same bytes.
func FuzzParseCodec(f *testing.F) {
	f.Fuzz(func(t *testing.T, dataType, byteOrder, mask string, shift, scale, offset float64, keys uint8, data []byte) {
		c := Config{Path: "p", Values: map[string]Value{}}
		set := func(bit uint8, key string, v Value) {
			if keys&bit != 0 {
				c.Values[key] = v
			}
		}
		set(1<<0, "dataType", StringValue(dataType))
		set(1<<1, "byteOrder", StringValue(byteOrder))
		set(1<<2, "shift", NumberValue(shift))
		set(1<<3, "mask", StringValue(mask))
		set(1<<4, "scale", NumberValue(scale))
		set(1<<5, "offset", NumberValue(offset))
		if keys&(1<<6) != 0 { // shift as a string, as YAML users quote it
			set(1<<2, "shift", StringValue(strconv.FormatFloat(shift, 'f', -1, 64)))
		}

		k, err := ParseCodec(c, "uint8")
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || !slices.Contains(CodecKeys(), strings.TrimPrefix(fe.Field, "p.")) {
				t.Fatalf("ParseCodec error %v is not a FieldError naming a codec key", err)
			}
			return
		}
		if n := k.Size(); n != 1 && n != 2 && n != 4 {
			t.Fatalf("Size() = %d", n)
		}
		if k.scale == 0 || math.IsNaN(k.scale) || math.IsInf(k.offset, 0) {
			t.Fatalf("accepted scale %v offset %v", k.scale, k.offset)
		}
		v := k.Decode(data)
		if len(data) < k.Size() {
			if !math.IsNaN(v) {
				t.Fatalf("Decode of %d bytes for %s = %v, want NaN", len(data), k.Type(), v)
			}
			return
		}
		buf := slices.Clone(data[:k.Size()])
		err = k.Encode(v, buf)
		if k.scale != 1 || k.offset != 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return // only check it does not panic
		}
		if err != nil {
			t.Fatalf("%s: Encode(Decode(% x) = %v): %v", k.Type(), data[:k.Size()], v, err)
		}
		if got := k.Decode(buf); got != v {
			t.Fatalf("%s: Decode(Encode(%v)) = %v", k.Type(), v, got)
		}
		// Integers come back bit for bit (a bool's 2 comes back as 1; a float32's
		// -0 decodes as 0).
		if k.typ != typeBool && k.typ != typeFloat32 && !bytes.Equal(buf, data[:k.Size()]) {
			t.Fatalf("%s: Encode(Decode(% x)) = % x", k.Type(), data[:k.Size()], buf)
		}
	})
}
