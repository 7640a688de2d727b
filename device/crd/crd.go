// Package crd reads KubeEdge DeviceModel and Device objects
// (devices.kubeedge.io/v1beta1) from multi-document YAML, for standalone mode:
// the same files a user applies to the cluster run here without EdgeCore.
//
// configData is read the way kubectl reads it and converted the way EdgeCore
// converts it before sending it over DMI. kubectl and the API server read YAML
// 1.1 (sigs.k8s.io/yaml, on gopkg.in/yaml.v2), where the plain words y, yes,
// on, n, no, off (in their spellings of go-yaml v2's table) are booleans, and
// so they are here, although gopkg.in/yaml.v3 reads YAML 1.2: `parity: N`
// arrives as the boolean false in both places. Then strings stay strings,
// booleans stay booleans, and every number becomes a float32. A number that
// float32 cannot hold exactly is reported as a warning, because on the cluster
// it would arrive changed; write such numbers as strings.
package crd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/internal/cut"
	"github.com/tinymapper/tinymapper/internal/yamlkeys"
)

// APIVersion is the only apiVersion accepted.
const APIVersion = "devices.kubeedge.io/v1beta1"

// Set is what one file holds.
type Set struct {
	Models  []device.Model
	Devices []device.Device
	// Warnings are things that work here but deserve a look (skipped kinds,
	// numbers that change on the way through EdgeCore).
	Warnings []string
}

// Parse reads every document in b, and merges each Device with its
// DeviceModel in b (see mergeModel).
func Parse(b []byte) (Set, error) {
	p, err := parse(b, "")
	if err != nil {
		return p.set, err
	}
	return p.resolve()
}

// parse reads every document in b; where prefixes the place of a Device
// in the errors resolve returns.
func parse(b []byte, where string) (parsed, error) {
	var p parsed
	dec := yaml.NewDecoder(bytes.NewReader(b))
	// strict reads the same documents in step with dec, straight into the
	// typed structs, so that KnownFields flags typos such as "colectCycle"
	// with their line in the file.
	strict := yaml.NewDecoder(bytes.NewReader(b))
	strict.KnownFields(true)
	for i := 1; ; i++ {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return p, fmt.Errorf("document %d: %w", i, err)
		}
		if len(node.Content) == 0 || node.Content[0].Kind == 0 || node.Content[0].ShortTag() == "!!null" {
			strict.Decode(new(yaml.Node))
			continue // empty document ("---" with nothing or only comments after it)
		}
		var h header
		if err := node.Decode(&h); err != nil {
			return p, fmt.Errorf("document %d: %w", i, err)
		}
		doc := fmt.Sprintf("document %d (%s %s)", i, cut.String(h.Kind), cut.String(h.Metadata.Name))
		if h.Kind != "Device" && h.Kind != "DeviceModel" {
			p.set.Warnings = append(p.set.Warnings, doc+": skipped: only Device and DeviceModel are read")
			strict.Decode(new(yaml.Node))
			continue
		}
		if h.APIVersion != APIVersion {
			return p, fmt.Errorf("%s: apiVersion %q is not supported; use %s", doc, cut.String(h.APIVersion), APIVersion)
		}
		if err := yamlkeys.Check(&node, docTypes[h.Kind]); err != nil {
			return p, fmt.Errorf("%s: %w", doc, err)
		}
		if err := p.decode(strict, h.Kind, where+doc); err != nil {
			return p, fmt.Errorf("%s: %w", doc, err)
		}
	}
	return p, nil
}

// decode decodes dec's next document, which is of the given kind.
func (p *parsed) decode(dec *yaml.Decoder, kind, where string) error {
	if kind == "DeviceModel" {
		var d modelDoc
		if err := dec.Decode(&d); err != nil {
			return err
		}
		m, err := toModel(d)
		if err != nil {
			return err
		}
		p.set.Models = append(p.set.Models, m)
		p.models = append(p.models, d)
		return nil
	}
	var d deviceDoc
	if err := dec.Decode(&d); err != nil {
		return err
	}
	if d.Metadata.Name == "" {
		return errors.New("metadata.name is required")
	}
	p.devices = append(p.devices, pendingDevice{where: where, doc: d})
	return nil
}

func toModel(d modelDoc) (device.Model, error) {
	if d.Metadata.Name == "" {
		return device.Model{}, errors.New("metadata.name is required")
	}
	m := device.Model{Namespace: orDefault(d.Metadata.Namespace), Name: d.Metadata.Name, Protocol: d.Spec.Protocol}
	for _, p := range d.Spec.Properties {
		m.Properties = append(m.Properties, device.ModelProperty{
			Name: p.Name, Description: p.Description, Type: strings.ToUpper(p.Type),
			AccessMode: p.AccessMode, Minimum: p.Minimum, Maximum: p.Maximum, Unit: p.Unit,
		})
	}
	return m, device.CheckModel(m)
}

func toDevice(d deviceDoc) (device.Device, []string, error) {
	var warns []string
	if d.Metadata.Name == "" {
		return device.Device{}, nil, errors.New("metadata.name is required")
	}
	dev := device.Device{
		Namespace: orDefault(d.Metadata.Namespace), Name: d.Metadata.Name,
		Model: d.Spec.DeviceModelRef.Name, Protocol: d.Spec.Protocol.ProtocolName,
	}
	if err := device.CheckNamespace("metadata.namespace", dev.Namespace); err != nil {
		return dev, nil, err
	}
	if err := device.CheckName("metadata.name", dev.Name); err != nil {
		return dev, nil, err
	}
	if err := device.CheckCount("spec.properties", len(d.Spec.Properties), device.MaxProperties); err != nil {
		return dev, nil, err
	}
	var err error
	dev.Config, warns, err = convert("spec.protocol.configData", d.Spec.Protocol.ConfigData, warns)
	if err != nil {
		return dev, nil, err
	}
	for i, p := range d.Spec.Properties {
		path := fmt.Sprintf("spec.properties[%d]", i)
		if err := device.CheckPropertyName(path+".name", p.Name); err != nil {
			return dev, nil, err
		}
		if p.ReportCycle < 0 || p.CollectCycle < 0 {
			return dev, nil, fmt.Errorf("%s: reportCycle and collectCycle must not be negative", path)
		}
		prop := device.Property{
			Name: p.Name, Desired: p.Desired.Value,
			CollectCycle:  time.Duration(p.CollectCycle) * time.Millisecond,
			ReportCycle:   time.Duration(p.ReportCycle) * time.Millisecond,
			ReportToCloud: p.ReportToCloud,
		}
		prop.Push, warns = pushMethod(p.Name, p.PushMethod, warns)
		prop.Visitor, warns, err = convert("spec.properties["+p.Name+"].visitors.configData", p.Visitors.ConfigData, warns)
		if err != nil {
			return dev, nil, err
		}
		dev.Properties = append(dev.Properties, prop)
	}
	sr, err := stateReport(d)
	if err != nil {
		return dev, nil, err
	}
	dev.StateReport = sr
	for _, m := range d.Spec.Methods {
		dev.Methods = append(dev.Methods, device.Method{Name: m.Name, Description: m.Description, PropertyNames: m.PropertyNames})
	}
	if err := device.CheckDevice(dev); err != nil {
		return dev, nil, err
	}
	return dev, warns, nil
}

// stateReport returns spec.stateReport (v1.23), or else status.reportToCloud
// and status.reportCycle (where v1.20 kept them), or nil when neither is set
// or both are zero, as dmi.DeviceFromProto reads what EdgeCore sends.
func stateReport(d deviceDoc) (*device.StateReport, error) {
	var v struct {
		ReportToCloud bool  `yaml:"reportToCloud"`
		ReportCycle   int64 `yaml:"reportCycle"`
	}
	field := "spec.stateReport"
	switch {
	case d.Spec.StateReport != nil:
		v.ReportToCloud, v.ReportCycle = d.Spec.StateReport.ReportToCloud, d.Spec.StateReport.ReportCycle
	case d.Status.Kind == yaml.MappingNode:
		field = "status"
		var st struct {
			ReportToCloud *bool  `yaml:"reportToCloud"`
			ReportCycle   *int64 `yaml:"reportCycle"`
		}
		if err := d.Status.Decode(&st); err != nil {
			return nil, fmt.Errorf("status: %w", err)
		}
		if st.ReportToCloud == nil && st.ReportCycle == nil {
			return nil, nil
		}
		if st.ReportToCloud != nil {
			v.ReportToCloud = *st.ReportToCloud
		}
		if st.ReportCycle != nil {
			v.ReportCycle = *st.ReportCycle
		}
	default:
		return nil, nil
	}
	if v.ReportCycle < 0 {
		return nil, fmt.Errorf("%s.reportCycle must not be negative", field)
	}
	if !v.ReportToCloud && v.ReportCycle == 0 {
		// What EdgeCore sends for this is what it sends when nothing is set
		// (KubeEdge's fields are omitempty): read it the same way here.
		return nil, nil
	}
	return &device.StateReport{ReportToCloud: v.ReportToCloud, ReportCycle: time.Duration(v.ReportCycle) * time.Millisecond}, nil
}

// convert turns YAML configData into bus.Config the way EdgeCore would.
func convert(path string, in configData, warns []string) (bus.Config, []string, error) {
	if len(in) > device.MaxConfigKeys {
		return bus.Config{}, warns, &bus.FieldError{Field: path, Err: fmt.Errorf("has %d keys; at most %d are accepted", len(in), device.MaxConfigKeys)}
	}
	c := bus.Config{Path: path, Values: make(map[string]bus.Value, len(in))}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(k) > device.MaxConfigKey {
			return c, warns, &bus.FieldError{Field: path, Err: fmt.Errorf("key %q is %d bytes long; at most %d are accepted", cut.String(k), len(k), device.MaxConfigKey)}
		}
		v, warn, err := value(in[k])
		if err != nil {
			return c, warns, &bus.FieldError{Field: path + "." + k, Err: err}
		}
		if warn != "" {
			warns = append(warns, path+"."+k+": "+warn)
		}
		c.Values[k] = v
	}
	return c, warns, nil
}

func value(x any) (bus.Value, string, error) {
	var f float64
	switch v := x.(type) {
	case string:
		return bus.StringValue(v), "", nil
	case bool:
		return bus.BoolValue(v), "", nil
	case int:
		f = float64(v)
	case int64:
		f = float64(v)
	case uint64:
		f = float64(v)
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return bus.Value{}, "", fmt.Errorf("%v cannot be sent: JSON, which kubectl sends, has no infinity or NaN", v)
		}
		f = v
	case nil:
		return bus.Value{}, "", errors.New("has no value")
	default:
		return bus.Value{}, "", fmt.Errorf("must be a string, number or boolean (EdgeCore cannot pass a %T)", x)
	}
	got := bus.FromFloat32(float32(f))
	warn := ""
	if got != f && !math.IsInf(f, 0) {
		warn = fmt.Sprintf("%v arrives from EdgeCore as %v (numbers travel as float32); write it as a string", f, got)
	}
	return bus.NumberValue(got), warn, nil
}

func orDefault(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}
