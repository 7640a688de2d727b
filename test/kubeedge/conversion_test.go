package kubeedge

import (
	"math"
	"reflect"
	"testing"
	"time"

	devices "github.com/kubeedge/api/apis/devices/v1beta1"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/crd"
	"github.com/tinymapper/tinymapper/dmi"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// thermometerYAML is a Device as a user writes it.
const thermometerYAML = `
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: thermo-1
  namespace: plant
spec:
  deviceModelRef:
    name: tmp102
  nodeName: edge-1
  protocol:
    protocolName: i2c
    configData:
      bus: "1"
      address: 0x48
      speedHz: 400000
      quoted: "0x49"
  properties:
    - name: temperature
      collectCycle: 500
      reportCycle: 10000
      reportToCloud: true
      desired:
        value: ""
      visitors:
        protocolName: i2c
        configData:
          register: 0
          dataType: int16
          shift: 4
          scale: 0.0625
          offset: 0.1
          signed: true
      pushMethod:
        mqtt:
          address: tcp://127.0.0.1:1883
          topic: plant/thermo-1
          qos: 1
    - name: alert
      collectCycle: 1000
      desired:
        value: "false"
      visitors:
        protocolName: i2c
        configData:
          register: 1
          dataType: bool
`

// tmp102YAML is the DeviceModel thermo-1 refers to.
const tmp102YAML = `
apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  name: tmp102
  namespace: plant
spec:
  protocol: i2c
  properties:
    - name: temperature
      type: FLOAT
      accessMode: ReadOnly
      unit: Cel
      minimum: "-40"
      maximum: "125"
    - name: alert
      type: BOOLEAN
      accessMode: ReadWrite
`

// fromEdgeCore parses a Device CRD, converts it as EdgeCore does, and
// returns it as tinymapper's generated type, decoded from the wire bytes.
func fromEdgeCore(t *testing.T, doc string) *pb.Device {
	t.Helper()
	var d devices.Device
	if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	ke, err := edgeCoreDevice(&d)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(ke)
	if err != nil {
		t.Fatal(err)
	}
	var ours pb.Device
	if err := proto.Unmarshal(b, &ours); err != nil {
		t.Fatal(err)
	}
	return &ours
}

func TestAUsersDeviceArrivesAsWritten(t *testing.T) {
	d, err := dmi.DeviceFromProto(fromEdgeCore(t, thermometerYAML))
	if err != nil {
		t.Fatal(err)
	}
	if d.Namespace != "plant" || d.Name != "thermo-1" || d.Model != "tmp102" || d.Protocol != "i2c" {
		t.Errorf("identity = %s/%s model %q protocol %q", d.Namespace, d.Name, d.Model, d.Protocol)
	}
	ints := []struct {
		cfg  bus.Config
		key  string
		want int64
	}{
		{d.Config, "address", 72},  // 0x48 in YAML, FloatValue 72 on the wire
		{d.Config, "quoted", 0x49}, // "0x49", a StringValue
		{d.Config, "bus", 1},       // "1", a StringValue
		{d.Config, "speedHz", 400000},
		{d.Properties[0].Visitor, "register", 0},
		{d.Properties[0].Visitor, "shift", 4},
		{d.Properties[1].Visitor, "register", 1},
	}
	for _, tt := range ints {
		if got, err := tt.cfg.Int(tt.key, -1, 0, math.MaxInt32); got != tt.want || err != nil {
			t.Errorf("%s.%s = %d, %v; want %d", tt.cfg.Path, tt.key, got, err, tt.want)
		}
	}
	if got := d.Config.Values["address"]; got != bus.NumberValue(72) {
		t.Errorf("address arrived as %#v, want the number 72", got)
	}
	if got, _ := d.Properties[0].Visitor.Float("scale", 0); got != 0.0625 {
		t.Errorf("scale = %v", got)
	}
	// 0.1 travels as a float32 and comes back as the 0.1 the user wrote.
	if got, _ := d.Properties[0].Visitor.Float("offset", 0); got != 0.1 {
		t.Errorf("offset = %v, want 0.1", got)
	}
	if got, _ := d.Properties[0].Visitor.Bool("signed", false); !got {
		t.Error("signed = false")
	}
	if got, _ := d.Properties[0].Visitor.String("dataType", ""); got != "int16" {
		t.Errorf("dataType = %q", got)
	}
	p := d.Properties[0]
	if p.Name != "temperature" || p.CollectCycle != 500*time.Millisecond || p.ReportCycle != 10*time.Second || !p.ReportToCloud {
		t.Errorf("temperature = %+v", p)
	}
	if d.Properties[1].Desired != "false" {
		t.Errorf("alert desired = %q", d.Properties[1].Desired)
	}
	if p.Visitor.Path != "spec.properties[temperature].visitors.configData" {
		t.Errorf("visitor path = %q", p.Visitor.Path)
	}
}

func TestAFractionalAddressIsRefusedNamingTheField(t *testing.T) {
	doc := `
metadata: {name: thermo-2}
spec:
  deviceModelRef: {name: tmp102}
  protocol:
    protocolName: i2c
    configData: {address: 72.5}
`
	d, err := dmi.DeviceFromProto(fromEdgeCore(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	if d.Namespace != "default" {
		t.Errorf("namespace = %q, want default", d.Namespace)
	}
	_, err = d.Config.Int("address", 0, 0, 127)
	if err == nil || err.Error() != "spec.protocol.configData.address: 72.5 is not a whole number" {
		t.Errorf("err = %v", err)
	}
}

func TestEveryWrapperEdgeCoreMakesIsDecoded(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want bus.Value
	}{
		{"string", "0x48", bus.StringValue("0x48")},
		{"JSON number", float64(72), bus.NumberValue(72)},
		{"JSON fraction", 0.5, bus.NumberValue(0.5)},
		{"bool", true, bus.BoolValue(true)},
		{"int", int(7), bus.NumberValue(7)},
		{"int8", int8(-8), bus.NumberValue(-8)},
		{"int16", int16(300), bus.NumberValue(300)},
		{"int32", int32(-70000), bus.NumberValue(-70000)},
		{"int64", int64(1) << 40, bus.NumberValue(1 << 40)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := wrapConfig(map[string]any{"k": tt.in})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := dmi.DecodeConfig("spec.protocol.configData", data)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Values["k"] != tt.want {
				t.Errorf("decoded %#v, want %#v", cfg.Values["k"], tt.want)
			}
		})
	}
}

func TestAUsersModelArrivesAsWritten(t *testing.T) {
	var m devices.DeviceModel
	if err := yaml.Unmarshal([]byte(tmp102YAML), &m); err != nil {
		t.Fatal(err)
	}
	ke, err := edgeCoreModel(&m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(ke)
	if err != nil {
		t.Fatal(err)
	}
	var ours pb.DeviceModel
	if err := proto.Unmarshal(b, &ours); err != nil {
		t.Fatal(err)
	}
	got, err := dmi.ModelFromProto(&ours)
	if err != nil {
		t.Fatal(err)
	}
	want := []device.ModelProperty{
		{Name: "temperature", Type: device.TypeFloat, AccessMode: device.ReadOnly, Unit: "Cel", Minimum: "-40", Maximum: "125"},
		{Name: "alert", Type: device.TypeBoolean, AccessMode: device.ReadWrite},
	}
	if got.Namespace != "plant" || got.Name != "tmp102" || len(got.Properties) != len(want) {
		t.Fatalf("model = %+v", got)
	}
	for i := range want {
		if got.Properties[i] != want[i] {
			t.Errorf("property %d = %+v, want %+v", i, got.Properties[i], want[i])
		}
	}
}

// TestAFileMeansTheSameStandaloneAndOnTheCluster: kubectl reads YAML 1.1
// (unquoted y/n, yes/no, on/off are booleans); tinymapper --devices must read
// the same configData out of the same file.
func TestAFileMeansTheSameStandaloneAndOnTheCluster(t *testing.T) {
	const doc = `
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: line
spec:
  deviceModelRef:
    name: line-sensor
  nodeName: edge-1
  protocol:
    protocolName: serial
    configData:
      port: /dev/ttyUSB0
      parity: N
      quotedParity: "N"
      a: y
      b: Yes
      c: NO
      d: on
      e: Off
      f: TRUE
      g: nO
      h: 2024-05-01
      i: 0x10
  properties:
    - name: level
      visitors:
        protocolName: serial
        configData:
          activeLow: yes
          command: 'ON'
          other: off
`
	cluster, err := dmi.DeviceFromProto(fromEdgeCore(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	set, err := crd.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	standalone := set.Devices[0]
	if !reflect.DeepEqual(standalone.Config.Values, cluster.Config.Values) {
		t.Errorf("spec.protocol.configData\nstandalone %v\ncluster    %v", standalone.Config.Values, cluster.Config.Values)
	}
	if !reflect.DeepEqual(standalone.Properties[0].Visitor.Values, cluster.Properties[0].Visitor.Values) {
		t.Errorf("visitors.configData\nstandalone %v\ncluster    %v", standalone.Properties[0].Visitor.Values, cluster.Properties[0].Visitor.Values)
	}
	if got := cluster.Config.Values["parity"]; got != bus.BoolValue(false) {
		t.Errorf("parity: N arrives from EdgeCore as %v; this test assumes the boolean false", got)
	}
}
