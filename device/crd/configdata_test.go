package crd_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device/crd"
)

// TestParseConfigDataValues checks that configData values come out as
// EdgeCore would hand them over DMI: numbers as float32, strings as strings.
func TestParseConfigDataValues(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want bus.Value
		warn bool
	}{
		{"decimal number", "72", bus.NumberValue(72), false},
		{"hex number", "0x48", bus.NumberValue(72), false},
		{"negative hex number", "-0x10", bus.NumberValue(-16), false},
		{"octal number", "0o17", bus.NumberValue(15), false},
		{"exponent", "1e3", bus.NumberValue(1000), false},
		{"quoted hex stays a string", `"0x48"`, bus.StringValue("0x48"), false},
		{"quoted number stays a string", `"72"`, bus.StringValue("72"), false},
		{"decimal fraction comes back as written", "0.1", bus.NumberValue(0.1), false},
		{"float32-exact fraction", "0.0625", bus.NumberValue(0.0625), false},
		{"negative fraction", "-12.5", bus.NumberValue(-12.5), false},
		{"2^24 is exact", "16777216", bus.NumberValue(16777216), false},
		{"2^24+1 changes in float32", "16777217", bus.NumberValue(16777216), true},
		{"many digits change in float32", "3.14159265358979", bus.NumberValue(3.1415927), true},
		{"boolean", "true", bus.BoolValue(true), false},
		{"quoted boolean stays a string", `"false"`, bus.StringValue("false"), false},
		{"plain string", "int16", bus.StringValue("int16"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := crd.Parse([]byte(deviceYAML(tt.yaml, tt.yaml)))
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Devices) != 1 || len(set.Devices[0].Properties) != 1 {
				t.Fatalf("got %+v", set.Devices)
			}
			d := set.Devices[0]
			if got := d.Config.Values["v"]; got != tt.want {
				t.Errorf("spec.protocol.configData.v = %+v, want %+v", got, tt.want)
			}
			if got := d.Properties[0].Visitor.Values["v"]; got != tt.want {
				t.Errorf("visitors.configData.v = %+v, want %+v", got, tt.want)
			}
			if !tt.warn {
				if len(set.Warnings) != 0 {
					t.Errorf("unexpected warnings %q", set.Warnings)
				}
				return
			}
			if len(set.Warnings) != 2 {
				t.Fatalf("warnings %q, want one per field", set.Warnings)
			}
			for i, field := range []string{"spec.protocol.configData.v", "spec.properties[temperature].visitors.configData.v"} {
				if w := set.Warnings[i]; !strings.HasPrefix(w, field+":") || !strings.Contains(w, "string") {
					t.Errorf("warning %q does not name %s or suggest a string", w, field)
				}
			}
		})
	}
}

// TestParseReadsConfigDataAsKubectlDoes: kubectl reads YAML 1.1, where more
// plain words are booleans than in YAML 1.2; a file must mean the same here
// as on the cluster.
func TestParseReadsConfigDataAsKubectlDoes(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want bus.Value
	}{
		{"plain N is false", "N", bus.BoolValue(false)},
		{"plain n is false", "n", bus.BoolValue(false)},
		{"plain no is false", "no", bus.BoolValue(false)},
		{"plain No is false", "No", bus.BoolValue(false)},
		{"plain NO is false", "NO", bus.BoolValue(false)},
		{"plain off is false", "off", bus.BoolValue(false)},
		{"plain Off is false", "Off", bus.BoolValue(false)},
		{"plain OFF is false", "OFF", bus.BoolValue(false)},
		{"plain False is false", "False", bus.BoolValue(false)},
		{"plain Y is true", "Y", bus.BoolValue(true)},
		{"plain y is true", "y", bus.BoolValue(true)},
		{"plain yes is true", "yes", bus.BoolValue(true)},
		{"plain Yes is true", "Yes", bus.BoolValue(true)},
		{"plain YES is true", "YES", bus.BoolValue(true)},
		{"plain on is true", "on", bus.BoolValue(true)},
		{"plain On is true", "On", bus.BoolValue(true)},
		{"plain ON is true", "ON", bus.BoolValue(true)},
		{"plain TRUE is true", "TRUE", bus.BoolValue(true)},
		{"other casings are strings", "nO", bus.StringValue("nO")},
		{"longer words are strings", "none", bus.StringValue("none")},
		{"double-quoted N stays a string", `"N"`, bus.StringValue("N")},
		{"single-quoted yes stays a string", `'yes'`, bus.StringValue("yes")},
		{"tagged !!str off stays a string", `!!str off`, bus.StringValue("off")},
		{"a date stays a string", "2024-05-01", bus.StringValue("2024-05-01")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := crd.Parse([]byte(deviceYAML(tt.yaml, tt.yaml)))
			if err != nil {
				t.Fatal(err)
			}
			d := set.Devices[0]
			if got := d.Config.Values["v"]; got != tt.want {
				t.Errorf("spec.protocol.configData.v = %+v, want %+v", got, tt.want)
			}
			if got := d.Properties[0].Visitor.Values["v"]; got != tt.want {
				t.Errorf("visitors.configData.v = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseReadsAPlainBooleanKeyAsKubectlDoes(t *testing.T) {
	doc := strings.Replace(deviceYAML("1", "2"), "      v: 1\n", "      v: 1\n      on: 3\n", 1)
	set, err := crd.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := set.Devices[0].Config.Values["true"]; !ok || got != bus.NumberValue(3) {
		t.Errorf("configData %v; want the key on read as \"true\", as kubectl sends it", set.Devices[0].Config.Values)
	}
}

func TestParseRefusesConfigDataEdgeCoreCannotCarry(t *testing.T) {
	tests := []struct {
		name      string
		devValue  string
		propValue string
		field     string
	}{
		{"map in device configData", "{a: 1}", "1", "spec.protocol.configData.v"},
		{"list in device configData", "[1, 2]", "1", "spec.protocol.configData.v"},
		{"null in device configData", "~", "1", "spec.protocol.configData.v"},
		{"map in a visitor", "1", "{a: 1}", "spec.properties[temperature].visitors.configData.v"},
		{"list in a visitor", "1", "[0x48]", "spec.properties[temperature].visitors.configData.v"},
		{"empty value in a visitor", "1", "", "spec.properties[temperature].visitors.configData.v"},
		{"infinity in a visitor", "1", ".inf", "spec.properties[temperature].visitors.configData.v"},
		{"NaN in device configData", ".nan", "1", "spec.protocol.configData.v"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := crd.Parse([]byte(modelYAML + "---\n" + deviceYAML(tt.devValue, tt.propValue)))
			if err == nil {
				t.Fatal("no error")
			}
			var fe *bus.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("error %q is not a FieldError for %s", err, tt.field)
			}
			if !strings.Contains(err.Error(), "document 2 (Device room-sensor)") {
				t.Errorf("error %q does not say which document", err)
			}
		})
	}
}
