package sink

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/tinymapper/tinymapper/device"
)

// AppendJSON appends the payload of r to dst: one JSON object per sample,
//
//	{"namespace":"plant","device":"thermo-1","property":"temperature",
//	 "type":"float","unit":"Cel","value":21.5,"timestamp":1764931200123}
//
// value is a JSON number for int, float and double (int rounded, float at
// float32 precision, never an exponent) and true or false for boolean;
// null when the value has no JSON form (NaN). type is the model's type in
// lower case; unit is "" when the model has none; timestamp is the sample
// time in Unix milliseconds. It does not allocate when dst has room.
func AppendJSON(dst []byte, r Record) []byte {
	dst = append(dst, r.B.prefix...)
	out, ok := device.AppendValue(dst, r.B.Type, r.Value)
	if !ok {
		out = append(dst, "null"...)
	}
	out = append(out, `,"timestamp":`...)
	out = strconv.AppendInt(out, r.Time/1e6, 10)
	return append(out, '}')
}

// newBinding builds the binding of property p of device v to a
// destination, with its payload prefix.
func newBinding(v device.DeviceView, p device.PropertyView, field string, opts any) *Binding {
	b := &Binding{Namespace: v.Namespace, Device: v.Name, Property: p.Name,
		Type: strings.ToUpper(p.Type), Unit: p.Unit, Field: field, Opts: opts}
	q := func(s string) string { j, _ := json.Marshal(s); return string(j) }
	b.prefix = []byte(`{"namespace":` + q(b.Namespace) + `,"device":` + q(b.Device) + `,"property":` + q(b.Property) +
		`,"type":` + q(device.TypeName(b.Type)) + `,"unit":` + q(b.Unit) + `,"value":`)
	return b
}

// NewTestBinding returns a binding for tests of the client packages.
func NewTestBinding(namespace, dev, property, typ, unit string, opts any) *Binding {
	return newBinding(device.DeviceView{Namespace: namespace, Name: dev},
		device.PropertyView{Name: property, Type: typ, Unit: unit}, "spec.properties["+property+"].pushMethod", opts)
}
