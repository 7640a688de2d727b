package crd_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device/crd"
)

// A DeviceModel (KubeEdge v1.22+) with protocolConfigData and visitors on
// two of its three properties.
const defaultsModelYAML = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: {name: tmp102, namespace: plant}
spec:
  protocol: i2c
  protocolConfigData: {bus: "1", address: 0x48}
  properties:
    - name: temperature
      type: FLOAT
      visitors:
        protocolName: i2c
        configData: {register: 0, dataType: int16, shift: 4, scale: 0.0625}
    - name: alert
      type: BOOLEAN
      visitors:
        protocolName: i2c
        configData: {register: 1, dataType: bool}
    - name: config
      type: INT
`

func num(f float64) bus.Value { return bus.NumberValue(f) }

func TestADeviceIsMergedWithItsModelAsEdgeCore123Does(t *testing.T) {
	tests := []struct {
		name   string
		device string // the Device's spec, under "spec:"
		config map[string]bus.Value
		props  map[string]map[string]bus.Value // visitor configData by property
	}{{
		name: "the device writes no configData: the model's",
		device: `
  protocol: {protocolName: i2c}
  properties:
    - name: temperature
    - name: alert`,
		config: map[string]bus.Value{"bus": bus.StringValue("1"), "address": num(0x48)},
		props: map[string]map[string]bus.Value{
			"temperature": {"register": num(0), "dataType": bus.StringValue("int16"), "shift": num(4), "scale": num(0.0625)},
			"alert":       {"register": num(1), "dataType": bus.StringValue("bool")},
		},
	}, {
		name: "the device's keys win, key by key, at both levels",
		device: `
  protocol:
    protocolName: i2c
    configData: {address: 0x49, speedHz: 100000}
  properties:
    - name: temperature
      visitors:
        protocolName: i2c
        configData: {scale: 0.125}
    - name: alert`,
		config: map[string]bus.Value{"bus": bus.StringValue("1"), "address": num(0x49), "speedHz": num(100000)},
		props: map[string]map[string]bus.Value{
			"temperature": {"register": num(0), "dataType": bus.StringValue("int16"), "shift": num(4), "scale": num(0.125)},
			"alert":       {"register": num(1), "dataType": bus.StringValue("bool")},
		},
	}, {
		name: "properties the model gives no visitors, or does not list, keep their own",
		device: `
  protocol: {protocolName: i2c}
  properties:
    - name: config
      visitors: {protocolName: i2c, configData: {register: 2, dataType: uint16}}
    - name: extra
      visitors: {protocolName: i2c, configData: {register: 3}}`,
		config: map[string]bus.Value{"bus": bus.StringValue("1"), "address": num(0x48)},
		props: map[string]map[string]bus.Value{
			"config": {"register": num(2), "dataType": bus.StringValue("uint16")},
			"extra":  {"register": num(3)},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := defaultsModelYAML + `---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: {name: thermo, namespace: plant}
spec:
  deviceModelRef: {name: tmp102}` + tt.device + "\n"
			set, err := crd.Parse([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			d := set.Devices[0]
			if !reflect.DeepEqual(d.Config.Values, tt.config) {
				t.Errorf("configData = %v, want %v", d.Config.Values, tt.config)
			}
			if len(d.Properties) != len(tt.props) {
				t.Errorf("%d properties, want %d (the model adds none)", len(d.Properties), len(tt.props))
			}
			for _, p := range d.Properties {
				if !reflect.DeepEqual(p.Visitor.Values, tt.props[p.Name]) {
					t.Errorf("%s visitors = %v, want %v", p.Name, p.Visitor.Values, tt.props[p.Name])
				}
			}
		})
	}
}

// A model of another namespace is not this device's, and a device merged
// once does not change its model's defaults for the next.
func TestMergingIsPerNamespaceAndLeavesTheModelAlone(t *testing.T) {
	doc := defaultsModelYAML + `---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: {name: a, namespace: plant}
spec:
  deviceModelRef: {name: tmp102}
  protocol: {protocolName: i2c, configData: {address: 0x49}}
  properties: [{name: temperature, visitors: {configData: {scale: 2}}}]
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: {name: b, namespace: plant}
spec:
  deviceModelRef: {name: tmp102}
  protocol: {protocolName: i2c}
  properties: [{name: temperature}]
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: {name: c, namespace: other}
spec:
  deviceModelRef: {name: tmp102}
  protocol: {protocolName: i2c}
`
	set, err := crd.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	b, c := set.Devices[1], set.Devices[2]
	if got := b.Config.Values["address"]; got != num(0x48) {
		t.Errorf("b's address = %v, want the model's 72", got)
	}
	if got := b.Properties[0].Visitor.Values["scale"]; got != num(0.0625) {
		t.Errorf("b's scale = %v, want the model's 0.0625", got)
	}
	if len(c.Config.Values) != 0 {
		t.Errorf("c, in another namespace, got configData %v", c.Config.Values)
	}
}

// In a directory the model may be in another file than its devices.
func TestADirectoryMergesAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a-device.yaml": `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: {name: thermo, namespace: plant}
spec:
  deviceModelRef: {name: tmp102}
  protocol: {protocolName: i2c}
  properties: [{name: temperature}]
`,
		"b-model.yaml": defaultsModelYAML,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	set, err := crd.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Devices) != 1 || len(set.Models) != 1 {
		t.Fatalf("%d devices, %d models", len(set.Devices), len(set.Models))
	}
	if got := set.Devices[0].Config.Values["address"]; got != num(0x48) {
		t.Errorf("address = %v, want the model's 72", got)
	}
	if got := set.Devices[0].Properties[0].Visitor.Values["register"]; got != num(0) {
		t.Errorf("register = %v, want the model's 0", got)
	}
}

// KubeEdge v1.23 fields load: spec.stateReport and pushMethod.anomalyDetection.
func TestV123FieldsLoad(t *testing.T) {
	doc := defaultsModelYAML + `---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: {name: thermo, namespace: plant}
spec:
  deviceModelRef: {name: tmp102}
  stateReport: {reportToCloud: true, reportCycle: 60000}
  protocol: {protocolName: i2c}
  properties:
    - name: temperature
      pushMethod:
        anomalyDetection: {model: zscore, window: 60}
`
	set, err := crd.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Devices) != 1 || len(set.Devices[0].Properties) != 1 {
		t.Fatalf("devices = %+v", set.Devices)
	}
}

func TestMethodsLoad(t *testing.T) {
	doc := defaultsModelYAML + `---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: {name: thermo, namespace: plant}
spec:
  deviceModelRef: {name: tmp102}
  protocol: {protocolName: i2c}
  properties: [{name: alert}]
  methods:
    - name: setAlert
      description: raise or clear the alert
      propertyNames: [alert]
`
	set, err := crd.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	ms := set.Devices[0].Methods
	if len(ms) != 1 || ms[0].Name != "setAlert" || ms[0].Description != "raise or clear the alert" || !reflect.DeepEqual(ms[0].PropertyNames, []string{"alert"}) {
		t.Errorf("methods = %+v", ms)
	}
}
