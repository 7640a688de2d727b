package modbus

import (
	"sort"
	"strings"

	"github.com/tinymapper/tinymapper/bus"
)

// KubeEdge's modbus mapper (mapper-framework's, as in KubeEdge's
// temperature-sensor demo) reads keys that mean nothing to a Modbus RTU
// driver. A CRD written for it still opens here, with one warning per such
// key saying why it is ignored: never an error.

// kubeedgeDeviceKeys are its device keys tinymapper ignores, and why.
var kubeedgeDeviceKeys = map[string]string{
	"communicateMode": "KubeEdge's modbus mapper key (TCP or RTU); modbus-rtu always speaks RTU over the serial port, ignored",
	"ip":              "KubeEdge's modbus mapper key for Modbus TCP; modbus-rtu speaks RTU over the serial port, ignored",
}

// kubeedgePropertyKeys are its visitor keys tinymapper ignores, and why.
var kubeedgePropertyKeys = map[string]string{
	"max": "KubeEdge's modbus mapper key, ignored: the DeviceModel's maximum bounds desired values",
	"min": "KubeEdge's modbus mapper key, ignored: the DeviceModel's minimum bounds desired values",
}

// leftovers returns one warning, naming the field, per key of c in keys,
// sorted by key.
func leftovers(c bus.Config, keys map[string]string) []string {
	var names []string
	for k := range keys {
		if c.Has(k) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var out []string
	for _, k := range names {
		why := keys[k]
		if mode, _ := c.String(k, ""); k == "communicateMode" && strings.EqualFold(mode, "TCP") {
			why = "TCP is Modbus TCP, which modbus-rtu does not speak: it reads the serial port this device names (port or serialPort)"
		}
		out = append(out, c.Errorf(k, "%s", why).Error())
	}
	return out
}

// keysOf returns the keys of m and then more.
func keysOf(m map[string]string, more ...string) []string {
	out := append([]string(nil), more...)
	for k := range m {
		out = append(out, k)
	}
	return out
}
