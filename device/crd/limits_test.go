package crd_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tinymapper/tinymapper/device/crd"
)

// TestParseRefusesHostileNamesAndSizes: a standalone file is bounded as a
// DMI request is, and the error quotes a cut of the input only.
func TestParseRefusesHostileNamesAndSizes(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	dev := deviceYAML(`"0x48"`, `"0x48"`)
	var props strings.Builder
	for i := range 257 {
		fmt.Fprintf(&props, "    - name: p%d\n", i)
	}
	var keys strings.Builder
	for i := range 65 {
		fmt.Fprintf(&keys, "      k%d: 1\n", i)
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"device name of 1 MB", strings.Replace(dev, "name: room-sensor", "name: "+big, 1), "metadata.name"},
		{"device name in upper case", strings.Replace(dev, "name: room-sensor", "name: Room-Sensor", 1), "metadata.name"},
		{"namespace of 64 bytes", strings.Replace(dev, "name: room-sensor", "name: room-sensor\n  namespace: "+strings.Repeat("a", 64), 1), "metadata.namespace"},
		{"property name of 1 MB", strings.Replace(dev, "- name: temperature", "- name: "+big, 1), "spec.properties[0].name"},
		{"property name with a space", strings.Replace(dev, "- name: temperature", "- name: room temperature", 1), "spec.properties[0].name"},
		{"257 properties", strings.Replace(dev, "  properties:\n", "  properties:\n"+props.String(), 1), "spec.properties"},
		{"configData string of 1 MB", deviceYAML(`"`+big+`"`, "1"), "spec.protocol.configData.v"},
		{"configData key of 1000 bytes", strings.Replace(dev, "      v: ", "      "+strings.Repeat("k", 1000)+": 1\n      v: ", 1), "spec.protocol.configData"},
		{"configData of 65 keys", strings.Replace(dev, "    configData:\n", "    configData:\n"+keys.String(), 1), "spec.protocol.configData"},
		{"desired value of 1 MB", strings.Replace(dev, "      collectCycle: 1000", "      desired:\n        value: "+big+"\n      collectCycle: 1000", 1), "desired.value"},
		{"model name of 1 MB", strings.Replace(modelYAML, "name: tmp102", "name: "+big, 1), "model.name"},
		{"model property name of 1 MB", strings.Replace(modelYAML, "- name: temperature", "- name: "+big, 1), "model.spec.properties[0].name"},
		{"model unit of 1 MB", strings.Replace(modelYAML, "unit: celsius", "unit: "+big, 1), "model.spec.properties[0].unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := crd.Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %.300v; want one naming %s", err, tt.want)
			}
			if len(err.Error()) > 2048 {
				t.Errorf("error of %d bytes quotes the input whole", len(err.Error()))
			}
		})
	}
}
