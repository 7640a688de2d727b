package kubeedge

import (
	"reflect"
	"testing"

	devices "github.com/kubeedge/api/apis/devices/v1beta1"
	"google.golang.org/protobuf/proto"
	devices120 "kubeedge.invalid/api-v1-20/apis/devices/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/crd"
	"github.com/tinymapper/tinymapper/dmi"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// viaEdgeCore123 returns the Devices of the example files matching patterns
// as tinymapper receives them from EdgeCore v1.23: merged with their model,
// converted, sent, decoded by dmi. By namespace/name.
func viaEdgeCore123(t *testing.T, patterns ...string) map[string]device.Device {
	t.Helper()
	models := map[string]*devices.DeviceModel{}
	var devs []*devices.Device
	for _, d := range documents(t, patterns...) {
		switch d.kind {
		case "DeviceModel":
			m := new(devices.DeviceModel)
			if err := yaml.UnmarshalStrict(d.body, m); err != nil {
				t.Fatalf("%s: %v", d.name, err)
			}
			models[nsName(m.Namespace, m.Name)] = m
		case "Device":
			dev := new(devices.Device)
			if err := yaml.UnmarshalStrict(d.body, dev); err != nil {
				t.Fatalf("%s: %v", d.name, err)
			}
			devs = append(devs, dev)
		}
	}
	out := map[string]device.Device{}
	for _, d := range devs {
		m := models[nsName(d.Namespace, d.Spec.DeviceModelRef.Name)]
		if m == nil {
			t.Fatalf("Device %s: no model; EdgeCore v1.23 would not send it", d.Name)
		}
		name := nsName(d.Namespace, d.Name)
		ours := toOurs[pb.Device](t, name, func() (proto.Message, error) { return edgeCoreDevice(edgeCoreMerge(d, m)) })
		if ours == nil {
			continue
		}
		got, err := dmi.DeviceFromProto(ours)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = got
	}
	return out
}

// standalone returns the Devices `tinymapper --devices` reads from the files
// matching patterns, by namespace/name.
func standalone(t *testing.T, patterns ...string) map[string]device.Device {
	t.Helper()
	out := map[string]device.Device{}
	for _, f := range globs(t, patterns...) {
		set, err := crd.LoadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range set.Devices {
			out[nsName(d.Namespace, d.Name)] = d
		}
	}
	return out
}

// configOf is what the drivers read of a device: both levels of configData
// (an empty map and none read the same).
func configOf(d device.Device) map[string]map[string]bus.Value {
	out := map[string]map[string]bus.Value{}
	add := func(name string, v map[string]bus.Value) {
		if len(v) > 0 {
			out[name] = v
		}
	}
	add("spec.protocol", d.Config.Values)
	for _, p := range d.Properties {
		add(p.Name, p.Visitor.Values)
	}
	return out
}

// Every example Device reaches the drivers with the same configData from
// EdgeCore v1.23 (which merges model-level configData before DMI) and from
// the file in standalone mode (which merges it the same way).
func TestEveryExampleArrivesTheSameFromEdgeCoreAndStandalone(t *testing.T) {
	cluster, local := viaEdgeCore123(t, examples...), standalone(t, examples...)
	if len(cluster) != len(local) {
		t.Fatalf("%d devices from EdgeCore, %d standalone", len(cluster), len(local))
	}
	for name, c := range cluster {
		l, ok := local[name]
		if !ok {
			t.Errorf("%s: not loaded standalone", name)
			continue
		}
		if !reflect.DeepEqual(configOf(c), configOf(l)) {
			t.Errorf("%s:\n from EdgeCore %v\n standalone    %v", name, configOf(c), configOf(l))
		}
	}
}

// The model-level example: the model sets bus, address and the temperature
// visitors; the device overrides one visitor key (scale). Both paths see the
// model's address and the device's scale.
func TestTheModelLevelExampleMergesAsEdgeCore123Does(t *testing.T) {
	const pattern = "deploy/examples/model-level-configdata.yaml"
	want := map[string]map[string]bus.Value{
		"spec.protocol": {"bus": bus.StringValue("1"), "address": bus.NumberValue(0x48)},
		"temperature": {
			"register": bus.NumberValue(0), "dataType": bus.StringValue("int16"),
			"shift": bus.NumberValue(4), "scale": bus.NumberValue(0.125),
		},
	}
	for path, devs := range map[string]map[string]device.Device{
		"EdgeCore v1.23": viaEdgeCore123(t, pattern),
		"standalone":     standalone(t, pattern),
	} {
		d, ok := devs["default/coarse-sensor"]
		if !ok {
			t.Fatalf("%s: no default/coarse-sensor in %v", path, devs)
		}
		if got := configOf(d); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got  %v\n want %v", path, got, want)
		}
	}
}

// An example that uses no field newer than v1.20 decodes strictly into
// v1.20's types too, so that it works on every cluster tinymapper supports;
// the others use a field of v1.22 or v1.23 and say which.
func TestExamplesWithoutNewFieldsDecodeIntoV120(t *testing.T) {
	newer := 0
	for _, d := range documents(t, examples...) {
		var err120 error
		var uses string
		switch d.kind {
		case "DeviceModel":
			err120 = yaml.UnmarshalStrict(d.body, new(devices120.DeviceModel))
			var m devices.DeviceModel
			if err := yaml.UnmarshalStrict(d.body, &m); err != nil {
				t.Fatalf("%s: %v", d.name, err)
			}
			if m.Spec.ProtocolConfigData != nil {
				uses = "spec.protocolConfigData (v1.22)"
			}
			for _, p := range m.Spec.Properties {
				if p.Visitors != nil {
					uses = "spec.properties[].visitors (v1.22)"
				}
			}
		case "Device":
			err120 = yaml.UnmarshalStrict(d.body, new(devices120.Device))
			var dev devices.Device
			if err := yaml.UnmarshalStrict(d.body, &dev); err != nil {
				t.Fatalf("%s: %v", d.name, err)
			}
			if dev.Spec.StateReport != nil {
				uses = "spec.stateReport (v1.23)"
			}
			for _, p := range dev.Spec.Properties {
				if p.PushMethod != nil && p.PushMethod.AnomalyDetection != nil {
					uses = "pushMethod.anomalyDetection (v1.23)"
				}
			}
		}
		switch {
		case uses == "" && err120 != nil:
			t.Errorf("%s: uses no newer field but does not decode into v1.20's %s: %v", d.name, d.kind, err120)
		case uses != "" && err120 == nil:
			t.Errorf("%s: uses %s, yet decodes into v1.20's %s", d.name, uses, d.kind)
		case uses != "":
			newer++
			t.Logf("%s: uses %s", d.name, uses)
		}
	}
	if newer == 0 {
		t.Error("no example uses a field newer than v1.20; the model-level example should")
	}
}
