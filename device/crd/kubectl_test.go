package crd_test

import (
	"strings"
	"testing"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device/crd"
)

// exportedYAML is a DeviceModel and a Device as `kubectl get -o yaml` prints
// them: with the fields the API server and EdgeCore fill in.
const exportedYAML = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"devices.kubeedge.io/v1beta1","kind":"DeviceModel","metadata":{"annotations":{},"name":"tmp102","namespace":"default"}}
  creationTimestamp: "2026-11-20T09:14:03Z"
  generation: 1
  name: tmp102
  namespace: default
  resourceVersion: "81234"
  uid: 3f0c2a51-9a7e-4c55-8d1b-2f8e0c6b7d11
spec:
  properties:
  - accessMode: ReadOnly
    name: temperature
    type: FLOAT
  protocol: i2c
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  creationTimestamp: "2026-11-20T09:14:03Z"
  finalizers:
  - devices.kubeedge.io/finalizer
  generation: 3
  labels:
    model: tmp102
  managedFields:
  - apiVersion: devices.kubeedge.io/v1beta1
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:nodeName: {}
    manager: kubectl-client-side-apply
    operation: Update
    time: "2026-11-20T09:14:03Z"
  name: room-sensor
  namespace: default
  ownerReferences:
  - apiVersion: devices.kubeedge.io/v1beta1
    kind: DeviceModel
    name: tmp102
    uid: 3f0c2a51-9a7e-4c55-8d1b-2f8e0c6b7d11
  resourceVersion: "81301"
  uid: 9b7d4e2c-1f3a-4e8b-a6c5-0d2e4f6a8b10
spec:
  deviceModelRef:
    name: tmp102
  nodeName: edge-node-1
  properties:
  - collectCycle: 1000
    desired:
      value: ""
    name: temperature
    reportCycle: 10000
    reportToCloud: true
    visitors:
      configData:
        dataType: int16
        register: 0
      protocolName: i2c
  protocol:
    configData:
      address: 72
      bus: 1
    protocolName: i2c
status:
  lastOnlineTime: "2026-11-20T09:20:00Z"
  reportCycle: 10000
  reportToCloud: true
  state: online
  twins:
  - observedDesired:
      value: ""
    propertyName: temperature
    reported:
      metadata:
        timestamp: "1795000800000"
        type: float
      value: "22.5625"
`

func TestParseReadsAFileExportedWithKubectl(t *testing.T) {
	set, err := crd.Parse([]byte(exportedYAML))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Models) != 1 || len(set.Devices) != 1 || len(set.Warnings) != 0 {
		t.Fatalf("got %d models, %d devices, warnings %q; want 1, 1 and none", len(set.Models), len(set.Devices), set.Warnings)
	}
	d := set.Devices[0]
	if d.Name != "room-sensor" || d.Model != "tmp102" || d.Config.Values["address"] != bus.NumberValue(72) || len(d.Properties) != 1 {
		t.Errorf("device = %+v", d)
	}
	// Kubernetes' fields are ignored; typos in what we read are still errors.
	for _, typo := range []struct{ from, to string }{
		{"  nodeName: edge-node-1", "  nodename: edge-node-1"},
		{"  uid: 9b7d4e2c", "  uuid: 9b7d4e2c"},
		{"    reportToCloud: true\n    visitors", "    reportToCLoud: true\n    visitors"},
	} {
		if !strings.Contains(exportedYAML, typo.from) {
			t.Fatalf("test YAML lacks %q", typo.from)
		}
		doc := strings.Replace(exportedYAML, typo.from, typo.to, 1)
		if _, err := crd.Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), "unknown key `"+strings.TrimSuffix(strings.Fields(typo.to)[0], ":")+"`") {
			t.Errorf("with %q: error %v; want the unknown field named", typo.to, err)
		}
	}
}
