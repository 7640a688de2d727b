package bustest

import (
	"testing"

	"github.com/tinymapper/tinymapper/bus"
)

func TestConfigTypesValuesAsEdgeCoreSendsThem(t *testing.T) {
	c := Config(DevicePath, "address", 72, "scale", 0.5, "port", "/dev/ttyUSB0", "swap", true)
	want := map[string]bus.Value{
		"address": bus.NumberValue(72), "scale": bus.NumberValue(0.5),
		"port": bus.StringValue("/dev/ttyUSB0"), "swap": bus.BoolValue(true),
	}
	if c.Path != "spec.protocol.configData" || len(c.Values) != len(want) {
		t.Fatalf("Config = %+v", c)
	}
	for k, v := range want {
		if c.Values[k] != v {
			t.Errorf("%s = %#v; want %#v", k, c.Values[k], v)
		}
	}
	if PropertyPath("temp") != "spec.properties[temp].visitors.configData" {
		t.Errorf("PropertyPath = %q", PropertyPath("temp"))
	}
}
