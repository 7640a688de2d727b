package device

import (
	"strings"
	"time"

	"github.com/tinymapper/tinymapper/bus"
)

// Model is a KubeEdge DeviceModel: the typed properties devices of this model have.
type Model struct {
	Namespace string
	Name      string
	// Protocol is spec.protocol (informational; devices name their own).
	Protocol   string
	Properties []ModelProperty
}

// Property types, as KubeEdge's DeviceModel spells them: bus.PropertyType's,
// as the text ModelProperty.Type holds.
const (
	TypeInt     = string(bus.TypeInt)
	TypeFloat   = string(bus.TypeFloat)
	TypeDouble  = string(bus.TypeDouble)
	TypeBoolean = string(bus.TypeBoolean)
	TypeString  = string(bus.TypeString)
	TypeBytes   = string(bus.TypeBytes)
	TypeStream  = string(bus.TypeStream)
)

// TypeName returns a property type as twin metadata and the push payloads
// spell it, in lower case ("float"), without allocating for the types
// above.
func TypeName(t string) string {
	switch t {
	case TypeInt:
		return "int"
	case TypeFloat:
		return "float"
	case TypeDouble:
		return "double"
	case TypeBoolean:
		return "boolean"
	case TypeString:
		return "string"
	case TypeBytes:
		return "bytes"
	case TypeStream:
		return "stream"
	}
	return strings.ToLower(t)
}

// Access modes.
const (
	ReadWrite = "ReadWrite"
	ReadOnly  = "ReadOnly"
)

// ModelProperty is one property of a model.
type ModelProperty struct {
	Name        string
	Description string
	Type        string // TypeInt, TypeFloat, ...
	AccessMode  string // ReadWrite or ReadOnly
	Minimum     string // empty when unbounded
	Maximum     string
	Unit        string
}

// Device is a KubeEdge Device: an instance of a model on one protocol.
type Device struct {
	Namespace string
	Name      string
	// Model names the DeviceModel, in the device's namespace.
	Model    string
	Protocol string
	// Config is spec.protocol.configData.
	Config     bus.Config
	Properties []Property
	// Methods is spec.methods: named sets of properties written together
	// (mapper-framework's device methods).
	Methods []Method
	// StateReport is spec.stateReport (KubeEdge v1.23; status.reportToCloud
	// and status.reportCycle before): whether and how often the device's
	// state is reported. nil when unset: states are reported as they change.
	StateReport *StateReport
	// Stamp orders the specs of one device by when they were received
	// (see Manager.Stamp): the manager never lets a spec replace one with a
	// later stamp. 0 means "now": PutDevice stamps it as it joins the
	// device's line of changes.
	Stamp uint64
}

// StateReport says how a device's state (online, offline, ...) is reported
// to EdgeCore with ReportDeviceStates.
type StateReport struct {
	// ReportToCloud false: the state is not reported at all.
	ReportToCloud bool
	// ReportCycle, when set, is the state's heartbeat: reported again this
	// often when it has not changed (changes are reported as they happen).
	ReportCycle time.Duration
}

// Method is one of spec.methods: a name for the properties it may write.
type Method struct {
	Name          string
	Description   string
	PropertyNames []string
}

// Property is one property of a device: how to reach it and how often.
type Property struct {
	Name string
	// Desired is spec.properties[].desired.value, as given ("" when unset).
	Desired string
	// Visitor is spec.properties[].visitors.configData.
	Visitor bus.Config
	// CollectCycle is how often the property is read (0: the default).
	CollectCycle time.Duration
	// ReportCycle is how often its twin is reported at least (0: the default).
	ReportCycle   time.Duration
	ReportToCloud bool
	// Push is spec.properties[].pushMethod (nil when unset).
	Push *PushMethod
}

// Key returns "namespace/name".
func Key(namespace, name string) string { return namespace + "/" + name }

// Twin is one property's twin as reported to EdgeCore.
type Twin struct {
	Property string
	// Reported is the latest value formatted for EdgeCore ("" before the first good read).
	Reported string
	// ObservedDesired echoes the desired value the device was given.
	ObservedDesired string
	// Type is the model's property type.
	Type string
	// Time is the sample time of Reported.
	Time time.Time
}

// Device states reported to EdgeCore.
const (
	StateOnline    = "online"
	StateOffline   = "offline"
	StateUnhealthy = "unhealthy"
	StateUnknown   = "unknown"
)
