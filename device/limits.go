package device

import (
	"fmt"

	"github.com/tinymapper/tinymapper/bus"
	quote "github.com/tinymapper/tinymapper/internal/cut"
)

// The bounds every model and device is checked against before anything is
// kept, whether it comes over DMI or from a standalone file. Names are
// bounded as Kubernetes bounds them; the rest generously above what a real
// CRD holds, so that a hostile or broken sender cannot make the mapper keep
// or log megabytes.
const (
	// MaxNamespace is the length of a namespace (a DNS-1123 label).
	MaxNamespace = 63
	// MaxName is the length of a device or model name (a DNS-1123 subdomain).
	MaxName = 253
	// MaxPropertyName is the length of a property name: EdgeCore's twin
	// key pattern, ^[a-zA-Z0-9-_.,:/@#]{1,128}$ (devicetwin/dtcommon).
	MaxPropertyName = 128
	// MaxProperties is the number of properties of one model or device.
	MaxProperties = 256
	// MaxConfigKeys is the number of keys of one configData map.
	MaxConfigKeys = 64
	// MaxConfigKey is the length of a configData key.
	MaxConfigKey = 128
	// MaxConfigString is the length of a configData string value (a
	// serial command, a regular expression, SPI bytes in hex).
	MaxConfigString = 1024
	// MaxText is the length of the other strings a spec carries: a
	// desired value (EdgeCore's twin values are at most 512), a protocol
	// name, a description, a unit, a minimum or maximum.
	MaxText = 1024
)

// CheckNamespace checks a namespace as Kubernetes does: a DNS-1123 label,
// lower-case letters, digits and '-', at most 63 bytes, starting and ending
// with a letter or digit. Errors are *bus.FieldError values for field.
func CheckNamespace(field, ns string) error {
	if len(ns) > MaxNamespace {
		return tooLong(field, ns, MaxNamespace)
	}
	if !isLabel(ns) {
		return badName(field, ns, "a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit")
	}
	return nil
}

// CheckName checks a device or model name as Kubernetes does: a DNS-1123
// subdomain, labels joined by '.', at most 253 bytes.
func CheckName(field, name string) error {
	if len(name) > MaxName {
		return tooLong(field, name, MaxName)
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			if !isLabel(name[start:i]) {
				return badName(field, name, "a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', each part starting and ending with a letter or digit")
			}
			start = i + 1
		}
	}
	return nil
}

// CheckPropertyName checks a property name against EdgeCore's twin key
// pattern: 1 to 128 of a-z A-Z 0-9 - _ . , : / @ #. EdgeCore drops twins
// whose name does not match it.
func CheckPropertyName(field, name string) error {
	if len(name) > MaxPropertyName {
		return tooLong(field, name, MaxPropertyName)
	}
	if name == "" {
		return &bus.FieldError{Field: field, Err: bus.ErrMissing}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == ',', c == ':', c == '/', c == '@', c == '#':
		default:
			return badName(field, name, "1 to 128 of the characters a-z A-Z 0-9 - _ . , : / @ # (EdgeCore's twin key pattern)")
		}
	}
	return nil
}

// CheckText checks that a free-text field is at most max bytes long.
func CheckText(field, s string, max int) error {
	if len(s) > max {
		return tooLong(field, s, max)
	}
	return nil
}

// CheckCount checks that a list has at most max entries.
func CheckCount(field string, n, max int) error {
	if n > max {
		return &bus.FieldError{Field: field, Err: fmt.Errorf("has %d entries; at most %d are accepted", n, max)}
	}
	return nil
}

// CheckConfig checks the size of a configData map: at most MaxConfigKeys
// keys of at most MaxConfigKey bytes, string values of at most
// MaxConfigString bytes.
func CheckConfig(c bus.Config) error {
	if len(c.Values) > MaxConfigKeys {
		return &bus.FieldError{Field: c.Path, Err: fmt.Errorf("has %d keys; at most %d are accepted", len(c.Values), MaxConfigKeys)}
	}
	for k, v := range c.Values {
		if len(k) > MaxConfigKey {
			return tooLong(c.Path+" key", k, MaxConfigKey)
		}
		if v.Kind == bus.String && len(v.Str) > MaxConfigString {
			return c.Errorf(k, "is %d bytes long; at most %d are accepted", len(v.Str), MaxConfigString)
		}
	}
	return nil
}

// CheckModel checks the names and sizes of a model: its namespace and name,
// the number of its properties, their names and texts.
func CheckModel(m Model) error {
	if err := CheckNamespace("model.namespace", m.Namespace); err != nil {
		return err
	}
	if err := CheckName("model.name", m.Name); err != nil {
		return err
	}
	if err := CheckText("model.spec.protocol", m.Protocol, MaxText); err != nil {
		return err
	}
	if err := CheckCount("model.spec.properties", len(m.Properties), MaxProperties); err != nil {
		return err
	}
	for i, p := range m.Properties {
		field := fmt.Sprintf("model.spec.properties[%d]", i)
		if err := CheckPropertyName(field+".name", p.Name); err != nil {
			return err
		}
		for _, t := range []struct{ name, s string }{
			{"description", p.Description}, {"type", p.Type}, {"accessMode", p.AccessMode},
			{"minimum", p.Minimum}, {"maximum", p.Maximum}, {"unit", p.Unit},
		} {
			if err := CheckText(field+"."+t.name, t.s, MaxText); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckDevice checks the names and sizes of a device: its namespace, name
// and model reference (when set), its protocol name, the number of its properties,
// their names and desired values, and every configData map.
func CheckDevice(d Device) error {
	if err := CheckNamespace("device.namespace", d.Namespace); err != nil {
		return err
	}
	if err := CheckName("device.name", d.Name); err != nil {
		return err
	}
	if d.Model != "" { // a missing model is the registry's to report
		if err := CheckName("device.spec.deviceModelRef", d.Model); err != nil {
			return err
		}
	}
	if err := CheckText("device.spec.protocol.protocolName", d.Protocol, MaxText); err != nil {
		return err
	}
	if err := CheckConfig(d.Config); err != nil {
		return err
	}
	if err := CheckCount("device.spec.properties", len(d.Properties), MaxProperties); err != nil {
		return err
	}
	for i, p := range d.Properties {
		field := fmt.Sprintf("device.spec.properties[%d]", i)
		if err := CheckPropertyName(field+".name", p.Name); err != nil {
			return err
		}
		if err := CheckText(field+".desired.value", p.Desired, MaxText); err != nil {
			return err
		}
		if err := CheckConfig(p.Visitor); err != nil {
			return err
		}
	}
	return checkMethods(d.Methods)
}

// checkMethods bounds spec.methods as properties are bounded: their count,
// names and the property names each lists.
func checkMethods(ms []Method) error {
	if err := CheckCount("device.spec.methods", len(ms), MaxProperties); err != nil {
		return err
	}
	for i, m := range ms {
		field := fmt.Sprintf("device.spec.methods[%d]", i)
		if err := CheckPropertyName(field+".name", m.Name); err != nil {
			return err
		}
		if err := CheckText(field+".description", m.Description, MaxText); err != nil {
			return err
		}
		if err := CheckCount(field+".propertyNames", len(m.PropertyNames), MaxProperties); err != nil {
			return err
		}
		for j, n := range m.PropertyNames {
			if err := CheckPropertyName(fmt.Sprintf("%s.propertyNames[%d]", field, j), n); err != nil {
				return err
			}
		}
	}
	return nil
}

// isLabel reports whether s is a DNS-1123 label, ignoring its length:
// [a-z0-9]([-a-z0-9]*[a-z0-9])?
func isLabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func tooLong(field, s string, max int) error {
	return &bus.FieldError{Field: field, Err: fmt.Errorf("%q is %d bytes long; at most %d are accepted", quote.String(s), len(s), max)}
}

func badName(field, s, want string) error {
	return &bus.FieldError{Field: field, Err: fmt.Errorf("%q is not %s", quote.String(s), want)}
}
