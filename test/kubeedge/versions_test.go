package kubeedge

import (
	"reflect"
	"testing"
	"time"

	devices "github.com/kubeedge/api/apis/devices/v1beta1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
	devices120 "kubeedge.invalid/api-v1-20/apis/devices/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/crd"
	"github.com/tinymapper/tinymapper/dmi"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// fromEdgeCore120 is fromEdgeCore for an EdgeCore of v1.20.
func fromEdgeCore120(t *testing.T, doc string) *pb.Device {
	t.Helper()
	var d devices120.Device
	if err := yaml.UnmarshalStrict([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	ke, err := edgeCore120Device(&d)
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

// A Device that uses nothing new arrives the same from EdgeCore v1.20 and v1.23.
func TestADeviceArrivesTheSameFromEdgeCore120And123(t *testing.T) {
	old, err := dmi.DeviceFromProto(fromEdgeCore120(t, thermometerYAML))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := dmi.DeviceFromProto(fromEdgeCore(t, thermometerYAML))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(old, cur) {
		t.Errorf("from v1.20\n %+v\nfrom v1.23\n %+v", old, cur)
	}
}

// anomalyYAML is a v1.23 Device whose property has pushMethod.anomalyDetection
// and whose state reporting is set in spec.stateReport.
const anomalyYAML = `
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: {name: thermo-3, namespace: plant}
spec:
  deviceModelRef: {name: tmp102}
  nodeName: edge-1
  stateReport: {reportToCloud: true, reportCycle: 60000}
  protocol:
    protocolName: i2c
    configData: {bus: "1", address: 0x48}
  properties:
    - name: temperature
      collectCycle: 500
      visitors:
        protocolName: i2c
        configData: {register: 0, dataType: int16, shift: 4, scale: 0.0625}
      pushMethod:
        mqtt: {address: "tcp://127.0.0.1:1883", topic: plant/thermo-3}
        anomalyDetection:
          model: zscore
          window: 60
          threshold: 3.5
`

// A property with anomalyDetection (v1.23) arrives, is read like any other,
// and the settings cross the wire intact.
func TestAPropertyWithAnomalyDetectionArrives(t *testing.T) {
	var d devices.Device
	if err := yaml.UnmarshalStrict([]byte(anomalyYAML), &d); err != nil {
		t.Fatal(err)
	}
	wire := fromEdgeCore(t, anomalyYAML)
	data := wire.GetSpec().GetProperties()[0].GetPushMethod().GetAnomalyDetection().GetData()
	var model wrapperspb.StringValue
	var window wrapperspb.FloatValue
	if err := data["model"].UnmarshalTo(&model); err != nil || model.GetValue() != "zscore" {
		t.Errorf("anomalyDetection.model = %v, %v", model.GetValue(), err)
	}
	if err := data["window"].UnmarshalTo(&window); err != nil || window.GetValue() != 60 {
		t.Errorf("anomalyDetection.window = %v, %v", window.GetValue(), err)
	}
	if len(data) != 3 {
		t.Errorf("anomalyDetection has %d keys, want 3", len(data))
	}
	got, err := dmi.DeviceFromProto(wire)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Properties) != 1 || got.Properties[0].Name != "temperature" {
		t.Fatalf("properties = %+v", got.Properties)
	}
	if v, _ := got.Properties[0].Visitor.Float("scale", 0); v != 0.0625 {
		t.Errorf("scale = %v", v)
	}
}

// spec.stateReport (v1.23) and status.reportToCloud/reportCycle (v1.20)
// both reach the mapper as DeviceStatus.reportToCloud and reportCycle.
func TestStateReportArrivesInDeviceStatus(t *testing.T) {
	const old = `
metadata: {name: thermo-4, namespace: plant}
spec:
  deviceModelRef: {name: tmp102}
  protocol: {protocolName: i2c}
status: {reportToCloud: true, reportCycle: 60000}
`
	tests := []struct {
		name string
		dev  *pb.Device
	}{
		{"v1.23 spec.stateReport", fromEdgeCore(t, anomalyYAML)},
		{"v1.20 status", fromEdgeCore120(t, old)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.dev.GetStatus()
			if !st.GetReportToCloud() || st.GetReportCycle() != 60000 {
				t.Errorf("status = %v", st)
			}
		})
	}
	if st := fromEdgeCore(t, thermometerYAML).GetStatus(); st.GetReportToCloud() || st.GetReportCycle() != 0 {
		t.Errorf("a Device without stateReport arrives with status %v", st)
	}
}

// Whether and how often a device's state is reported reads the same from
// EdgeCore and from the file, for each way of writing it.
func TestStateReportReadsTheSameFromEdgeCoreAndStandalone(t *testing.T) {
	tests := []struct {
		name, spec, status string
		want               *device.StateReport
	}{
		{"unset", "", "", nil},
		{"reported, with a heartbeat", "  stateReport: {reportToCloud: true, reportCycle: 60000}\n", "", &device.StateReport{ReportToCloud: true, ReportCycle: time.Minute}},
		{"reported on change", "  stateReport: {reportToCloud: true}\n", "", &device.StateReport{ReportToCloud: true}},
		{"off, said with a cycle", "  stateReport: {reportToCloud: false, reportCycle: 1000}\n", "", &device.StateReport{ReportCycle: time.Second}},
		{"false alone is unset on the wire", "  stateReport: {reportToCloud: false}\n", "", nil},
		{"v1.20's status", "", "status: {reportToCloud: true, reportCycle: 5000}\n", &device.StateReport{ReportToCloud: true, ReportCycle: 5 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata: {name: s, namespace: plant}\nspec:\n  deviceModelRef: {name: tmp102}\n  protocol: {protocolName: i2c}\n" + tt.spec + tt.status
			cluster, err := dmi.DeviceFromProto(fromEdgeCore(t, doc))
			if err != nil {
				t.Fatal(err)
			}
			set, err := crd.Parse([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cluster.StateReport, tt.want) || !reflect.DeepEqual(set.Devices[0].StateReport, tt.want) {
				t.Errorf("from EdgeCore %+v, standalone %+v; want %+v", cluster.StateReport, set.Devices[0].StateReport, tt.want)
			}
		})
	}
}
