package device

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tinymapper/tinymapper/bus"
)

// checkModel validates a model and returns the copy the manager keeps, its
// types upper-cased and its namespace filled in.
func checkModel(model Model) (Model, error) {
	if model.Name == "" {
		return model, &bus.FieldError{Field: "model.name", Err: bus.ErrMissing}
	}
	if model.Namespace == "" {
		model.Namespace = "default"
	}
	// Keep a copy of our own: the caller may reuse its slice.
	model.Properties = slices.Clone(model.Properties)
	seen := map[string]bool{}
	for i, p := range model.Properties {
		field := fmt.Sprintf("model.spec.properties[%d]", i)
		if p.Name == "" {
			return model, &bus.FieldError{Field: field + ".name", Err: bus.ErrMissing}
		}
		if seen[p.Name] {
			return model, &bus.FieldError{Field: field + ".name", Err: fmt.Errorf("%q is listed twice", p.Name)}
		}
		seen[p.Name] = true
		t, ok := bus.ParsePropertyType(p.Type)
		if !ok {
			return model, &bus.FieldError{Field: field + ".type", Err: fmt.Errorf("%q is not one of INT, FLOAT, DOUBLE, BOOLEAN, STRING, BYTES, STREAM", p.Type)}
		}
		model.Properties[i].Type = string(t)
		if _, _, err := bounds(model.Properties[i]); err != nil {
			return model, &bus.FieldError{Field: field, Err: err}
		}
	}
	return model, nil
}

// check validates what does not depend on the model.
func (m *Manager) check(d Device) error {
	if d.Name == "" {
		return &bus.FieldError{Field: "device.name", Err: bus.ErrMissing}
	}
	if d.Model == "" {
		return &bus.FieldError{Field: "device.spec.deviceModelRef", Err: bus.ErrMissing}
	}
	if _, ok := m.drivers[d.Protocol]; !ok {
		return &bus.FieldError{Field: "device.spec.protocol.protocolName",
			Err: fmt.Errorf("%q is not served here (protocols: %s)", d.Protocol, strings.Join(m.Protocols(), ", "))}
	}
	seen := map[string]bool{}
	for i, p := range d.Properties {
		field := fmt.Sprintf("device.spec.properties[%d]", i)
		if p.Name == "" {
			return &bus.FieldError{Field: field + ".name", Err: bus.ErrMissing}
		}
		if seen[p.Name] {
			return &bus.FieldError{Field: field + ".name", Err: fmt.Errorf("%q is listed twice", p.Name)}
		}
		seen[p.Name] = true
		if p.CollectCycle < 0 {
			return &bus.FieldError{Field: field + ".collectCycle", Err: errors.New("must not be negative")}
		}
		if p.ReportCycle < 0 {
			return &bus.FieldError{Field: field + ".reportCycle", Err: errors.New("must not be negative")}
		}
	}
	return nil
}

type propPlan struct {
	props   []*prop
	configs []bus.PropertyConfig
}

// planProps joins the device's properties with the model's.
func planProps(d Device, model *Model) (propPlan, error) {
	var plan propPlan
	for _, p := range d.Properties {
		field := "device.spec.properties[" + p.Name + "]"
		var mp *ModelProperty
		for i := range model.Properties {
			if model.Properties[i].Name == p.Name {
				mp = &model.Properties[i]
			}
		}
		if mp == nil {
			return plan, &bus.FieldError{Field: field + ".name", Err: fmt.Errorf("model %s has no property %q", model.Name, p.Name)}
		}
		if !Sampled(mp.Type) {
			continue // PutModel warned about it
		}
		lo, hi, _ := bounds(*mp)
		deadband, err := p.Visitor.Float(DeadbandKey, 0)
		if err == nil && deadband < 0 {
			err = p.Visitor.Errorf(DeadbandKey, "must not be negative")
		}
		if err != nil {
			return plan, err
		}
		q := &prop{
			name: p.Name, typ: mp.Type, unit: mp.Unit,
			writable:      mp.AccessMode == ReadWrite,
			min:           lo,
			max:           hi,
			reportToCloud: p.ReportToCloud,
			reportCycle:   cmp0(p.ReportCycle, DefaultReportCycle),
			collectCycle:  cmp0(p.CollectCycle, DefaultCollectCycle),
			deadband:      deadband,
			push:          p.Push,
		}
		q.setDesired(p.Desired)
		if p.Desired != "" && q.writable {
			if _, err := q.parseDesired(p.Desired); err != nil {
				return plan, &bus.FieldError{Field: field + ".desired.value", Err: err}
			}
		}
		plan.props = append(plan.props, q)
		plan.configs = append(plan.configs, bus.PropertyConfig{
			Name: p.Name, Type: bus.PropertyType(mp.Type), Writable: q.writable, Config: withoutKey(p.Visitor, DeadbandKey),
		})
	}
	return plan, nil
}

// cmp0 returns d, or def when d is zero.
func cmp0(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Sampled reports whether properties of type t are sampled and reported: the
// numeric types, BOOLEAN and STRING (whose drivers decide what they can
// read). BYTES, STREAM and a missing type carry no number for a ring; such
// properties are kept in the spec and otherwise left alone.
func Sampled(t string) bool {
	switch t {
	case TypeBytes, TypeStream, "":
		return false
	}
	return true
}

// DeadbandKey is the visitor configData key the manager reads itself: a
// change of the property's value by at most this much does not make the
// device due for a report before its reportCycle. Drivers never see it.
const DeadbandKey = "deadband"

// withoutKey returns c without key, sharing nothing with c.
func withoutKey(c bus.Config, key string) bus.Config {
	if !c.Has(key) {
		return c
	}
	out := bus.Config{Path: c.Path, Values: make(map[string]bus.Value, len(c.Values))}
	for k, v := range c.Values {
		if k != key {
			out.Values[k] = v
		}
	}
	return out
}

// bounds parses a model property's minimum and maximum.
func bounds(p ModelProperty) (lo, hi float64, err error) {
	lo, hi = math.Inf(-1), math.Inf(1)
	if p.Minimum != "" {
		if lo, err = strconv.ParseFloat(strings.TrimSpace(p.Minimum), 64); err != nil {
			return lo, hi, fmt.Errorf("minimum %q is not a number", p.Minimum)
		}
	}
	if p.Maximum != "" {
		if hi, err = strconv.ParseFloat(strings.TrimSpace(p.Maximum), 64); err != nil {
			return lo, hi, fmt.Errorf("maximum %q is not a number", p.Maximum)
		}
	}
	if lo > hi {
		return lo, hi, fmt.Errorf("minimum %s is above maximum %s", p.Minimum, p.Maximum)
	}
	return lo, hi, nil
}

// parseDesired parses a desired value and checks it against the model bounds.
func (p *prop) parseDesired(s string) (float64, error) {
	v, err := ParseValue(p.typ, s)
	if err != nil {
		return 0, err
	}
	if v < p.min || v > p.max {
		return 0, fmt.Errorf("%s is outside the model's range [%g, %g]", s, p.min, p.max)
	}
	return v, nil
}

// sameModel reports whether a device opened with model a may keep running
// with model b: the same model, or one with the same content.
func sameModel(a, b *Model) bool {
	return a == b || (a != nil && b != nil && reflect.DeepEqual(*a, *b))
}

// sameButDesired reports whether a and b differ at most in desired values
// (and stamps).
func sameButDesired(a, b Device) bool {
	if len(a.Properties) != len(b.Properties) {
		return false
	}
	a.Stamp = b.Stamp
	a.Properties = append([]Property(nil), a.Properties...)
	for i := range a.Properties {
		a.Properties[i].Desired = b.Properties[i].Desired
	}
	return reflect.DeepEqual(a, b)
}
