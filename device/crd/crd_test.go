package crd_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/crd"
)

// The objects as a KubeEdge user writes them; %s parts are filled in by tests.
const modelYAML = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  name: tmp102
spec:
  protocol: i2c
  properties:
    - name: temperature
      type: float
      accessMode: ReadOnly
      unit: celsius
`

// deviceYAML returns a Device whose spec.protocol.configData has key v set to
// devValue and whose property "temperature" has visitor key v set to propValue.
func deviceYAML(devValue, propValue string) string {
	return `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: room-sensor
spec:
  deviceModelRef:
    name: tmp102
  protocol:
    protocolName: i2c
    configData:
      v: ` + devValue + `
  properties:
    - name: temperature
      collectCycle: 1000
      reportCycle: 10000
      reportToCloud: true
      visitors:
        protocolName: i2c
        configData:
          v: ` + propValue + `
`
}

func TestParseSimExample(t *testing.T) {
	set, err := crd.LoadFile("../../deploy/examples/i2c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Warnings) != 0 {
		t.Errorf("warnings: %q", set.Warnings)
	}
	if len(set.Models) != 2 || len(set.Devices) != 2 {
		t.Fatalf("got %d models and %d devices, want 2 and 2", len(set.Models), len(set.Devices))
	}
	if m := set.Models[0]; m.Name != "tmp102" || m.Namespace != "default" || m.Protocol != "i2c" ||
		len(m.Properties) != 2 || m.Properties[0].Type != device.TypeFloat || m.Properties[1].AccessMode != device.ReadWrite {
		t.Errorf("model 0 = %+v", m)
	}
	if m := set.Models[1]; m.Name != "eeprom-24c02" || len(m.Properties) != 1 || m.Properties[0].Type != device.TypeInt {
		t.Errorf("model 1 = %+v", m)
	}

	room := set.Devices[0]
	if room.Name != "room-sensor" || room.Model != "tmp102" || room.Protocol != "i2c" {
		t.Errorf("device 0 = %s model %s protocol %s", room.Name, room.Model, room.Protocol)
	}
	if got := room.Config.Values["address"]; got != bus.NumberValue(72) {
		t.Errorf("room-sensor address = %+v, want number 72 (0x48)", got)
	}
	if got := room.Config.Values["bus"]; got != bus.NumberValue(1) {
		t.Errorf("room-sensor bus = %+v, want number 1", got)
	}
	if len(room.Properties) != 2 {
		t.Fatalf("room-sensor has %d properties, want 2", len(room.Properties))
	}
	temp, limit := room.Properties[0], room.Properties[1]
	if got := temp.Visitor.Values["register"]; got != bus.NumberValue(0) {
		t.Errorf("temperature register = %+v, want 0", got)
	}
	if got := temp.Visitor.Values["scale"]; got != bus.NumberValue(0.0625) {
		t.Errorf("temperature scale = %+v, want 0.0625", got)
	}
	if got := temp.Visitor.Values["dataType"]; got != bus.StringValue("int16") {
		t.Errorf("temperature dataType = %+v", got)
	}
	if temp.CollectCycle != time.Second || temp.ReportCycle != 10*time.Second || !temp.ReportToCloud {
		t.Errorf("temperature cycles = %v/%v, reportToCloud %v", temp.CollectCycle, temp.ReportCycle, temp.ReportToCloud)
	}
	if got := limit.Visitor.Values["register"]; got != bus.NumberValue(3) {
		t.Errorf("high-limit register = %+v, want 3", got)
	}
	if limit.Desired != "30" {
		t.Errorf("high-limit desired = %q, want \"30\"", limit.Desired)
	}

	eeprom := set.Devices[1]
	if got := eeprom.Config.Values["address"]; got != bus.StringValue("0x50") {
		t.Errorf("config-eeprom address = %+v, want the string \"0x50\"", got)
	}
	if len(eeprom.Properties) != 1 || eeprom.Properties[0].Visitor.Values["register"] != bus.NumberValue(16) {
		t.Errorf("config-eeprom properties = %+v, want register 16", eeprom.Properties)
	}
	if eeprom.Properties[0].Visitor.Path != "spec.properties[boot-count].visitors.configData" {
		t.Errorf("visitor path = %q", eeprom.Properties[0].Visitor.Path)
	}
	if n, err := eeprom.Config.Int("address", 0, 0, 127); err != nil || n != 0x50 {
		t.Errorf("config-eeprom address as int = %d, %v; want 80", n, err)
	}
}

func TestParseErrors(t *testing.T) {
	dev := deviceYAML("1", "2")
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{"typo in a property field",
			strings.Replace(dev, "collectCycle", "colectCycle", 1),
			[]string{"document 1 (Device room-sensor)", "colectCycle"}},
		{"typo in spec",
			strings.Replace(dev, "deviceModelRef", "deviceModelref", 1),
			[]string{"deviceModelref"}},
		{"typo in a model property",
			strings.Replace(modelYAML, "accessMode", "acessMode", 1),
			[]string{"document 1 (DeviceModel tmp102)", "acessMode"}},
		{"old apiVersion",
			strings.Replace(dev, "v1beta1", "v1alpha2", 1),
			[]string{`"devices.kubeedge.io/v1alpha2" is not supported`, "use devices.kubeedge.io/v1beta1"}},
		{"apiVersion missing",
			strings.Replace(modelYAML, "apiVersion: devices.kubeedge.io/v1beta1\n", "", 1),
			[]string{`apiVersion "" is not supported`}},
		{"negative collectCycle",
			strings.Replace(dev, "collectCycle: 1000", "collectCycle: -1000", 1),
			[]string{"spec.properties[0]", "collectCycle", "negative"}},
		{"negative reportCycle",
			strings.Replace(dev, "reportCycle: 10000", "reportCycle: -1", 1),
			[]string{"spec.properties[0]", "reportCycle", "negative"}},
		{"cycle that is not a number",
			strings.Replace(dev, "collectCycle: 1000", "collectCycle: 1s", 1),
			[]string{"1s"}},
		{"device without a name",
			strings.Replace(dev, "  name: room-sensor\n", "", 1),
			[]string{"metadata.name is required"}},
		{"model without a name",
			strings.Replace(modelYAML, "  name: tmp102\n", "", 1),
			[]string{"metadata.name is required"}},
		{"malformed YAML in the second document",
			modelYAML + "---\nkind: Device\n  bad indent: [\n",
			[]string{"document 2"}},
		{"a document that is not a mapping",
			"just a string\n",
			[]string{"document 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := crd.Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestParseErrorLineIsTheFileLine checks that a field error points at the line
// of the file the user has open, not at a line of some re-encoded copy.
func TestParseErrorLineIsTheFileLine(t *testing.T) {
	in := modelYAML + "---\n" + strings.Replace(deviceYAML("1", "2"), "collectCycle", "colectCycle", 1)
	line := 0
	for i, l := range strings.Split(in, "\n") {
		if strings.Contains(l, "colectCycle") {
			line = i + 1
		}
	}
	_, err := crd.Parse([]byte(in))
	if err == nil {
		t.Fatal("no error")
	}
	if want := "unknown key `colectCycle` at line " + strconv.Itoa(line) + " (in spec.properties[0]); did you mean `collectCycle`?"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not point at %q", err, want)
	}
}

func TestParseSkipsOtherKinds(t *testing.T) {
	in := `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: b
---
` + deviceYAML("1", "2") + `---
apiVersion: devices.kubeedge.io/v1alpha2
kind: DeviceStatus
metadata:
  name: old
`
	set, err := crd.Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Devices) != 1 || len(set.Models) != 0 || set.Devices[0].Name != "room-sensor" {
		t.Errorf("got devices %+v and %d models, want room-sensor only", set.Devices, len(set.Models))
	}
	if len(set.Warnings) != 2 ||
		!strings.Contains(set.Warnings[0], "document 1 (ConfigMap settings)") || !strings.Contains(set.Warnings[0], "skipped") ||
		!strings.Contains(set.Warnings[1], "document 3 (DeviceStatus old)") {
		t.Errorf("warnings = %q, want one per skipped document naming it", set.Warnings)
	}
}

func TestParseIgnoresEmptyDocuments(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		devices int
	}{
		{"empty input", "", 0},
		{"only a separator", "---\n", 0},
		{"only comments", "# nothing here\n", 0},
		{"leading separator", "---\n" + deviceYAML("1", "2"), 1},
		{"trailing separator", deviceYAML("1", "2") + "---\n", 1},
		{"empty document between two", deviceYAML("1", "2") + "---\n---\n" + deviceYAML("1", "2"), 2},
		{"comment-only document", "# header\n---\n" + deviceYAML("1", "2") + "---\n# the end\n", 1},
		{"explicit null document", "--- ~\n---\n" + deviceYAML("1", "2"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := crd.Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Devices) != tt.devices || len(set.Warnings) != 0 {
				t.Errorf("got %d devices and warnings %q, want %d devices and no warnings", len(set.Devices), set.Warnings, tt.devices)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	in := modelYAML + "---\n" + strings.Replace(deviceYAML("1", "2"), "      collectCycle: 1000\n      reportCycle: 10000\n", "", 1)
	set, err := crd.Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Models[0]; got.Namespace != "default" || got.Properties[0].Type != device.TypeFloat {
		t.Errorf("model namespace %q, type %q; want default and FLOAT", got.Namespace, got.Properties[0].Type)
	}
	d := set.Devices[0]
	if d.Namespace != "default" {
		t.Errorf("device namespace %q, want default", d.Namespace)
	}
	if p := d.Properties[0]; p.CollectCycle != 0 || p.ReportCycle != 0 || p.Desired != "" {
		t.Errorf("property without cycles: %v/%v desired %q; want 0/0 and none", p.CollectCycle, p.ReportCycle, p.Desired)
	}
	if d.Config.Path != "spec.protocol.configData" {
		t.Errorf("config path %q", d.Config.Path)
	}
}

func TestParseKeepsNamespace(t *testing.T) {
	in := strings.Replace(deviceYAML("1", "2"), "  name: room-sensor\n", "  name: room-sensor\n  namespace: plant-3\n", 1)
	set, err := crd.Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if d := set.Devices[0]; d.Namespace != "plant-3" || device.Key(d.Namespace, d.Name) != "plant-3/room-sensor" {
		t.Errorf("namespace = %q", d.Namespace)
	}
}

// FuzzParse checks that Parse never panics, and that what it accepts holds
// named objects with non-negative cycles. Seeds: testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(modelYAML + "---\n" + deviceYAML("0x48", `"0x48"`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		set, err := crd.Parse(b)
		if err != nil {
			return
		}
		for _, m := range set.Models {
			if err := device.CheckModel(m); err != nil {
				t.Fatalf("accepted a model out of bounds: %v", err)
			}
		}
		for _, d := range set.Devices {
			if err := device.CheckDevice(d); err != nil {
				t.Fatalf("accepted a device out of bounds: %v", err)
			}
		}
		for _, m := range set.Models {
			if m.Name == "" || m.Namespace == "" {
				t.Fatalf("model without a name: %+v", m)
			}
		}
		for _, d := range set.Devices {
			if d.Name == "" || d.Namespace == "" {
				t.Fatalf("device without a name: %+v", d)
			}
			for _, p := range d.Properties {
				if p.CollectCycle < 0 || p.ReportCycle < 0 {
					t.Fatalf("negative cycle: %+v", p)
				}
			}
		}
	})
}
