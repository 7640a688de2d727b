package dmi

import (
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/anypb"

	"github.com/tinymapper/tinymapper/bus"
)

func TestDecodeConfigAcceptsEveryWrapper(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want bus.Value
	}{
		{"string", "0x48", bus.StringValue("0x48")},
		{"bool", true, bus.BoolValue(true)},
		{"float comes back as the decimal the user wrote", float32(0.1), bus.NumberValue(0.1)},
		{"float beyond 2^24 keeps its float32 value", float32(16777217), bus.NumberValue(16777216)},
		{"float whole number", float32(72), bus.NumberValue(72)},
		{"double", 72.25, bus.NumberValue(72.25)},
		{"int32", int32(-5), bus.NumberValue(-5)},
		{"int64", int64(1) << 40, bus.NumberValue(1 << 40)},
		{"uint32", uint32(4000000000), bus.NumberValue(4000000000)},
		{"uint64", uint64(1) << 63, bus.NumberValue(1 << 63)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeConfig("spec.protocol.configData", map[string]*anypb.Any{"k": anyOf(t, tt.in)})
			if err != nil {
				t.Fatal(err)
			}
			if c.Path != "spec.protocol.configData" {
				t.Errorf("Path = %q", c.Path)
			}
			if got := c.Values["k"]; got != tt.want {
				t.Errorf("value = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeConfigRejectsWhatItCannotRead(t *testing.T) {
	tests := []struct {
		name      string
		in        map[string]*anypb.Any
		wantField string
		wantText  string
	}{
		{"nil value", map[string]*anypb.Any{"address": nil}, "spec.protocol.configData.address", "has no value"},
		{"unknown type", map[string]*anypb.Any{"address": {TypeUrl: "type.googleapis.com/google.protobuf.Timestamp"}},
			"spec.protocol.configData.address", "google.protobuf.Timestamp"},
		{"empty type URL", map[string]*anypb.Any{"bus": {}}, "spec.protocol.configData.bus", "unsupported type"},
		{"corrupt payload", map[string]*anypb.Any{"bus": {TypeUrl: "type.googleapis.com/google.protobuf.StringValue", Value: []byte{0x0a, 0x05, 'x'}}},
			"spec.protocol.configData.bus", "cannot decode"},
		{"first bad key in sorted order", map[string]*anypb.Any{"zeta": nil, "alpha": nil, "mid": nil},
			"spec.protocol.configData.alpha", "has no value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeConfig("spec.protocol.configData", tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			if got := fieldOf(err); got != tt.wantField {
				t.Errorf("field = %q, want %q (err %v)", got, tt.wantField, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
		})
	}
}

func TestDecodeConfigOfNothingIsEmpty(t *testing.T) {
	c, err := DecodeConfig("spec.properties[t].visitors.configData", nil)
	if err != nil || len(c.Values) != 0 || c.Path != "spec.properties[t].visitors.configData" {
		t.Fatalf("got %+v, %v", c, err)
	}
	if n, err := c.Int("address", 7, 0, 127); n != 7 || err != nil {
		t.Errorf("default not used: %d, %v", n, err)
	}
}

// What arrives from EdgeCore is checked by bus.Config where it is used:
// whole float32 numbers are integers, fractions are refused with the field
// named, and numeric strings are parsed.
func TestDecodedNumbersAreCheckedWhereUsed(t *testing.T) {
	tests := []struct {
		name    string
		in      any
		want    int64
		wantErr string
	}{
		{"FloatValue 72", float32(72), 72, ""},
		{"StringValue 0x48", "0x48", 72, ""},
		{"Int32Value 72", int32(72), 72, ""},
		{"FloatValue 72.5", float32(72.5), 0, "spec.protocol.configData.address: 72.5 is not a whole number"},
		{"FloatValue too large", float32(1e30), 0, "spec.protocol.configData.address"},
		{"UInt64Value beyond int64", uint64(math.MaxUint64), 0, "out of range"},
		{"DoubleValue NaN", math.NaN(), 0, "not a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeConfig("spec.protocol.configData", map[string]*anypb.Any{"address": anyOf(t, tt.in)})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Int("address", 0, 0, 127)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Int = %d, %v; want %d", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Int error = %v, want one containing %q", err, tt.wantErr)
			}
			var fe *bus.FieldError
			if !errors.As(err, &fe) || fe.Field != "spec.protocol.configData.address" {
				t.Errorf("error does not name spec.protocol.configData.address: %v", err)
			}
		})
	}
}

func TestEncodeConfigWrapsLikeEdgeCore(t *testing.T) {
	in := bus.Config{Path: "spec.protocol.configData", Values: map[string]bus.Value{
		"bus":       bus.StringValue("1"),
		"address":   bus.NumberValue(72),
		"scale":     bus.NumberValue(0.5),
		"activeLow": bus.BoolValue(true),
	}}
	m, err := EncodeConfig(in)
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := map[string]string{
		"bus":       "type.googleapis.com/google.protobuf.StringValue",
		"address":   "type.googleapis.com/google.protobuf.FloatValue",
		"scale":     "type.googleapis.com/google.protobuf.FloatValue",
		"activeLow": "type.googleapis.com/google.protobuf.BoolValue",
	}
	for k, want := range wantTypes {
		if got := m[k].GetTypeUrl(); got != want {
			t.Errorf("%s: type %q, want %q", k, got, want)
		}
	}
	back, err := DecodeConfig(in.Path, m)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range in.Values {
		if back.Values[k] != v {
			t.Errorf("%s: round trip gave %v, want %v", k, back.Values[k], v)
		}
	}
}

func TestEncodeConfigRefusesEmptyValues(t *testing.T) {
	_, err := EncodeConfig(bus.Config{Path: "p", Values: map[string]bus.Value{"k": {}}})
	if fieldOf(err) != "p.k" {
		t.Fatalf("err = %v, want a FieldError for p.k", err)
	}
}

// fuzzTypeURLs are the type URLs FuzzDecodeConfig pairs payloads with.
var fuzzTypeURLs = []string{
	"type.googleapis.com/" + typeString,
	"type.googleapis.com/" + typeBool,
	"type.googleapis.com/" + typeFloat,
	"type.googleapis.com/" + typeDouble,
	"type.googleapis.com/" + typeInt32,
	"type.googleapis.com/" + typeInt64,
	"type.googleapis.com/" + typeUint32,
	"type.googleapis.com/" + typeUint64,
	typeFloat, // no prefix
	"type.googleapis.com/google.protobuf.Struct",
	"",
}

func FuzzDecodeConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		url := fuzzTypeURLs[int(which)%len(fuzzTypeURLs)]
		m := map[string]*anypb.Any{"k": {TypeUrl: url, Value: payload}}
		c, err := DecodeConfig("spec.protocol.configData", m)
		if err != nil {
			if fieldOf(err) != "spec.protocol.configData.k" {
				t.Fatalf("error does not name the key: %v", err)
			}
			return
		}
		v, ok := c.Values["k"]
		if !ok || v.Kind == 0 {
			t.Fatalf("decoded without a value: %+v", c)
		}
		// Whatever was decoded, the getters answer without panicking.
		_, _ = c.Int("k", 0, math.MinInt64, math.MaxInt64)
		_, _ = c.Float("k", 0)
		_, _ = c.Bool("k", false)
		_, _ = c.String("k", "")
	})
}

func BenchmarkDecodeConfig(b *testing.B) {
	data := thermometer(b, "thermo").GetSpec().GetProtocol().GetConfigData().GetData()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeConfig("spec.protocol.configData", data); err != nil {
			b.Fatal(err)
		}
	}
}
