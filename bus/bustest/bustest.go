// Package bustest builds configData as it reaches protocol drivers, for the
// tests of the bus/* packages: every number a bus.Number (EdgeCore sends each
// JSON number as a float32 FloatValue), strings and booleans as themselves.
package bustest

import (
	"fmt"

	"github.com/tinymapper/tinymapper/bus"
)

// DevicePath is the path of a device's configData in error messages.
const DevicePath = "spec.protocol.configData"

// PropertyPath is the path of a property's visitor configData.
func PropertyPath(name string) string {
	return "spec.properties[" + name + "].visitors.configData"
}

// Config builds a Config at path from key, value pairs. Values may be int,
// float64, string or bool; anything else panics, since it is a broken test.
func Config(path string, kv ...any) bus.Config {
	c := bus.Config{Path: path, Values: map[string]bus.Value{}}
	for i := 0; i+1 < len(kv); i += 2 {
		var v bus.Value
		switch x := kv[i+1].(type) {
		case float64:
			v = bus.NumberValue(x)
		case int:
			v = bus.NumberValue(float64(x))
		case string:
			v = bus.StringValue(x)
		case bool:
			v = bus.BoolValue(x)
		default:
			panic(fmt.Sprintf("bustest.Config: %s: unsupported value %T", kv[i], x))
		}
		c.Values[kv[i].(string)] = v
	}
	return c
}
