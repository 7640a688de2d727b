package device

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/tinymapper/tinymapper/bus"
)

// The patterns Kubernetes (apimachinery validation) and EdgeCore
// (devicetwin/dtcommon.ValidateTwinKey) check names with.
var (
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	twinKey          = regexp.MustCompile(`^[a-zA-Z0-9-_.,:/@#]{1,128}$`)
)

func TestCheckNames(t *testing.T) {
	tests := []struct {
		name  string
		check func(field, s string) error
		in    string
		ok    bool
	}{
		{"namespace", CheckNamespace, "default", true},
		{"namespace of 63", CheckNamespace, strings.Repeat("a", 63), true},
		{"namespace of 64", CheckNamespace, strings.Repeat("a", 64), false},
		{"namespace with a dot", CheckNamespace, "kube.system", false},
		{"namespace starting with '-'", CheckNamespace, "-a", false},
		{"empty namespace", CheckNamespace, "", false},
		{"name with dots", CheckName, "tmp102.sensors.example.com", true},
		{"name of 253", CheckName, strings.Repeat("a", 253), true},
		{"name of 254", CheckName, strings.Repeat("a", 254), false},
		{"name in upper case", CheckName, "Thermo", false},
		{"name with '_'", CheckName, "thermo_1", false},
		{"name with an empty part", CheckName, "a..b", false},
		{"property", CheckPropertyName, "temperature", true},
		{"property with every allowed sign", CheckPropertyName, "Temp-_.,:/@#1", true},
		{"property of 128", CheckPropertyName, strings.Repeat("p", 128), true},
		{"property of 129", CheckPropertyName, strings.Repeat("p", 129), false},
		{"property with a space", CheckPropertyName, "room temperature", false},
		{"property with a quote", CheckPropertyName, `a"b`, false},
		{"empty property", CheckPropertyName, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check("f", tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("check(%q) = %v, want ok %v", tt.in, err, tt.ok)
			}
			var fe *bus.FieldError
			if err != nil && (!errors.As(err, &fe) || fe.Field != "f") {
				t.Errorf("error %v does not name the field", err)
			}
		})
	}
}

func TestCheckConfigBoundsSizes(t *testing.T) {
	many := map[string]bus.Value{}
	for i := range MaxConfigKeys + 1 {
		many[strings.Repeat("k", i+1)] = bus.NumberValue(1)
	}
	tests := []struct {
		name   string
		values map[string]bus.Value
		ok     bool
	}{
		{"small", map[string]bus.Value{"bus": bus.StringValue("1")}, true},
		{"string at the bound", map[string]bus.Value{"tx": bus.StringValue(strings.Repeat("0", MaxConfigString))}, true},
		{"string over the bound", map[string]bus.Value{"tx": bus.StringValue(strings.Repeat("0", MaxConfigString+1))}, false},
		{"key over the bound", map[string]bus.Value{strings.Repeat("k", MaxConfigKey+1): bus.NumberValue(1)}, false},
		{"too many keys", many, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckConfig(bus.Config{Path: "spec.protocol.configData", Values: tt.values})
			if (err == nil) != tt.ok {
				t.Errorf("CheckConfig = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// FuzzCheckNames: what the checks accept is what Kubernetes and EdgeCore
// accept, and an error never quotes more than a cut of the input.
// Seeds: testdata/fuzz/FuzzCheckNames.
func FuzzCheckNames(f *testing.F) {
	f.Add("default")
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []struct {
			check func(field, s string) error
			re    *regexp.Regexp
			max   int
		}{
			{CheckNamespace, dns1123Label, MaxNamespace},
			{CheckName, dns1123Subdomain, MaxName},
			{CheckPropertyName, twinKey, MaxPropertyName},
		} {
			err := c.check("f", s)
			want := c.re.MatchString(s) && len(s) <= c.max
			if (err == nil) != want {
				t.Fatalf("%q: check says %v, the pattern says %v", s, err, want)
			}
			if err != nil && len(err.Error()) > 1200 { // %q may write a cut byte as 4
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
		}
	})
}
