package dmi

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// defaultNamespace is the namespace of objects that arrive without one.
const defaultNamespace = "default"

// namespaceOr returns ns, or "default" when it is empty.
func namespaceOr(ns string) string {
	if ns == "" {
		return defaultNamespace
	}
	return ns
}

// fieldError returns a *bus.FieldError for field.
func fieldError(field, format string, args ...any) error {
	return &bus.FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// missing returns the *bus.FieldError for a required field that is absent.
func missing(field string) error {
	return &bus.FieldError{Field: field, Err: bus.ErrMissing}
}

// propertyTypes maps the property types a model may declare, in any case, to
// KubeEdge's spelling.
var propertyTypes = map[string]string{
	device.TypeInt:     device.TypeInt,
	device.TypeFloat:   device.TypeFloat,
	device.TypeDouble:  device.TypeDouble,
	device.TypeBoolean: device.TypeBoolean,
	device.TypeString:  device.TypeString,
	device.TypeBytes:   device.TypeBytes,
	device.TypeStream:  device.TypeStream,
	"":                 "", // the CRD allows it; such a property is not sampled
}

// ModelFromProto converts a DeviceModel as EdgeCore sends it. An empty
// namespace means "default"; a model without a spec has no properties.
// Property types are accepted in any case and returned as KubeEdge spells
// them (INT, FLOAT, ...), or empty when the model leaves the type out (the
// device manager does not sample BYTES, STREAM and untyped properties); an
// empty accessMode means ReadOnly. Errors are
// *bus.FieldError values naming the field, such as
// "model.spec.properties[temperature].type".
func ModelFromProto(m *pb.DeviceModel) (device.Model, error) {
	if m == nil {
		return device.Model{}, missing("model")
	}
	if m.GetName() == "" {
		return device.Model{}, missing("model.name")
	}
	out := device.Model{Namespace: namespaceOr(m.GetNamespace()), Name: m.GetName()}
	props := m.GetSpec().GetProperties()
	if err := checkNames("model", out.Namespace, out.Name, len(props)); err != nil {
		return device.Model{}, err
	}
	if len(props) > 0 {
		out.Properties = make([]device.ModelProperty, 0, len(props))
	}
	seen := make(map[string]bool, len(props))
	for i, p := range props {
		if p.GetName() == "" {
			return device.Model{}, missing(fmt.Sprintf("model.spec.properties[%d].name", i))
		}
		if err := device.CheckPropertyName(fmt.Sprintf("model.spec.properties[%d].name", i), p.GetName()); err != nil {
			return device.Model{}, err
		}
		field := "model.spec.properties[" + p.GetName() + "]"
		if seen[p.GetName()] {
			return device.Model{}, fieldError(field, "is listed twice")
		}
		seen[p.GetName()] = true
		typ, ok := propertyTypes[strings.ToUpper(p.GetType())]
		if !ok {
			return device.Model{}, fieldError(field+".type", "%q is not one of INT, FLOAT, DOUBLE, BOOLEAN, STRING, BYTES, STREAM", p.GetType())
		}
		var access string
		switch {
		case p.GetAccessMode() == "" || strings.EqualFold(p.GetAccessMode(), device.ReadOnly):
			access = device.ReadOnly
		case strings.EqualFold(p.GetAccessMode(), device.ReadWrite):
			access = device.ReadWrite
		default:
			return device.Model{}, fieldError(field+".accessMode", "%q is not ReadOnly or ReadWrite", p.GetAccessMode())
		}
		out.Properties = append(out.Properties, device.ModelProperty{
			Name:        p.GetName(),
			Description: p.GetDescription(),
			Type:        typ,
			AccessMode:  access,
			Minimum:     p.GetMinimum(),
			Maximum:     p.GetMaximum(),
			Unit:        p.GetUnit(),
		})
	}
	if err := device.CheckModel(out); err != nil {
		return device.Model{}, err
	}
	return out, nil
}

// checkNames checks what a request is known by before anything else is
// read from it: its namespace and name, as Kubernetes bounds them, and the
// number of its properties.
func checkNames(kind, namespace, name string, properties int) error {
	if err := device.CheckNamespace(kind+".namespace", namespace); err != nil {
		return err
	}
	if err := device.CheckName(kind+".name", name); err != nil {
		return err
	}
	return device.CheckCount(kind+".spec.properties", properties, device.MaxProperties)
}

// DeviceFromProto converts a Device as EdgeCore sends it. An empty namespace
// means "default". The device must name its model and protocol; configData
// maps are decoded with DecodeConfig under the paths
// "spec.protocol.configData" and "spec.properties[NAME].visitors.configData";
// collectCycle and reportCycle are milliseconds. Errors are *bus.FieldError
// values naming the field, such as "device.spec.protocol".
func DeviceFromProto(d *pb.Device) (device.Device, error) {
	if d == nil {
		return device.Device{}, missing("device")
	}
	if d.GetName() == "" {
		return device.Device{}, missing("device.name")
	}
	spec := d.GetSpec()
	switch {
	case spec == nil:
		return device.Device{}, missing("device.spec")
	case spec.GetDeviceModelReference() == "":
		return device.Device{}, missing("device.spec.deviceModelReference")
	case spec.GetProtocol() == nil:
		return device.Device{}, missing("device.spec.protocol")
	case spec.GetProtocol().GetProtocolName() == "":
		return device.Device{}, missing("device.spec.protocol.protocolName")
	}
	if err := checkNames("device", namespaceOr(d.GetNamespace()), d.GetName(), len(spec.GetProperties())); err != nil {
		return device.Device{}, err
	}
	cfg, err := DecodeConfig("spec.protocol.configData", spec.GetProtocol().GetConfigData().GetData())
	if err != nil {
		return device.Device{}, err
	}
	out := device.Device{
		Namespace: namespaceOr(d.GetNamespace()),
		Name:      d.GetName(),
		Model:     spec.GetDeviceModelReference(),
		Protocol:  spec.GetProtocol().GetProtocolName(),
		Config:    cfg,
	}
	// EdgeCore sends a status on every Device (an empty one when nothing is
	// set), and KubeEdge's fields are omitempty: false and 0 are "unset".
	if st := d.GetStatus(); st.GetReportToCloud() || st.GetReportCycle() != 0 {
		cycle, err := millis("device.status.reportCycle", st.GetReportCycle())
		if err != nil {
			return device.Device{}, err
		}
		out.StateReport = &device.StateReport{ReportToCloud: st.GetReportToCloud(), ReportCycle: cycle}
	}
	for _, m := range spec.GetMethods() {
		out.Methods = append(out.Methods, device.Method{Name: m.GetName(), Description: m.GetDescription(), PropertyNames: m.GetPropertyNames()})
	}
	props := spec.GetProperties()
	if len(props) > 0 {
		out.Properties = make([]device.Property, 0, len(props))
	}
	seen := make(map[string]bool, len(props))
	for i, p := range props {
		if p.GetName() == "" {
			return device.Device{}, missing(fmt.Sprintf("device.spec.properties[%d].name", i))
		}
		if err := device.CheckPropertyName(fmt.Sprintf("device.spec.properties[%d].name", i), p.GetName()); err != nil {
			return device.Device{}, err
		}
		if seen[p.GetName()] {
			return device.Device{}, fieldError("device.spec.properties["+p.GetName()+"]", "is listed twice")
		}
		seen[p.GetName()] = true
		prop, err := propertyFromProto(p)
		if err != nil {
			return device.Device{}, err
		}
		out.Properties = append(out.Properties, prop)
	}
	if err := device.CheckDevice(out); err != nil {
		return device.Device{}, err
	}
	return out, nil
}

// propertyFromProto converts one property of a device.
func propertyFromProto(p *pb.DeviceProperty) (device.Property, error) {
	field := "device.spec.properties[" + p.GetName() + "]"
	visitor, err := DecodeConfig("spec.properties["+p.GetName()+"].visitors.configData", p.GetVisitors().GetConfigData().GetData())
	if err != nil {
		return device.Property{}, err
	}
	collect, err := millis(field+".collectCycle", p.GetCollectCycle())
	if err != nil {
		return device.Property{}, err
	}
	report, err := millis(field+".reportCycle", p.GetReportCycle())
	if err != nil {
		return device.Property{}, err
	}
	return device.Property{
		Name:          p.GetName(),
		Desired:       p.GetDesired().GetValue(),
		Visitor:       visitor,
		CollectCycle:  collect,
		ReportCycle:   report,
		ReportToCloud: p.GetReportToCloud(),
		Push:          pushFromProto(p.GetPushMethod()),
	}, nil
}

// millis converts a cycle in milliseconds to a Duration.
func millis(field string, ms int64) (time.Duration, error) {
	if ms < 0 {
		return 0, fieldError(field, "%d is negative", ms)
	}
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return 0, fieldError(field, "%d ms is too long", ms)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// TwinToProto converts a twin for ReportDeviceStatus. Both Reported and
// ObservedDesired are set, since EdgeCore reads both without checking for
// nil. Reported carries the metadata EdgeCore and KubeEdge's mappers use:
// "timestamp" (the sample time in unix milliseconds, "0" when unknown) and
// "type" (the property type in lower case, such as "int" or "boolean").
func TwinToProto(t device.Twin) *pb.Twin {
	return &pb.Twin{
		PropertyName:    t.Property,
		ObservedDesired: &pb.TwinProperty{Value: t.ObservedDesired},
		Reported: &pb.TwinProperty{Value: t.Reported, Metadata: map[string]string{
			metadataTimestamp: strconv.FormatInt(timestamp(t), 10),
			metadataType:      device.TypeName(t.Type),
		}},
	}
}
