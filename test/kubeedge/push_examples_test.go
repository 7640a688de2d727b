package kubeedge

import (
	"slices"
	"testing"

	devices "github.com/kubeedge/api/apis/devices/v1beta1"
	"sigs.k8s.io/yaml"
)

// TestThePushExamplesCoverEverySinkAndMakeRunLoadsNone: deploy/examples/push
// has a Device per sink tinymapper builds in; deploy/examples, which
// `make run` loads (its subdirectories are not read), names no destination,
// so a first run on a fresh machine retries no server that is not running.
func TestThePushExamplesCoverEverySinkAndMakeRunLoadsNone(t *testing.T) {
	sinks := func(pattern string) []string {
		seen := map[string]bool{}
		for _, d := range documents(t, pattern) {
			if d.kind != "Device" {
				continue
			}
			var dev devices.Device
			if err := yaml.UnmarshalStrict(d.body, &dev); err != nil {
				t.Fatalf("%s: %v", d.name, err)
			}
			for _, p := range dev.Spec.Properties {
				pm := p.PushMethod
				if pm == nil {
					continue
				}
				seen["mqtt"] = seen["mqtt"] || pm.MQTT != nil
				seen["http"] = seen["http"] || pm.HTTP != nil
				seen["otel"] = seen["otel"] || pm.OTEL != nil
				if db := pm.DBMethod; db != nil {
					seen["influxdb2"] = seen["influxdb2"] || db.Influxdb2 != nil
					seen["redis"] = seen["redis"] || db.Redis != nil
					seen["mysql"] = seen["mysql"] || db.Mysql != nil
					seen["tdengine"] = seen["tdengine"] || db.TDEngine != nil
				}
			}
		}
		var out []string
		for k, v := range seen {
			if v {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}
	if got, want := sinks("deploy/examples/push/*.yaml"), []string{"http", "influxdb2", "mqtt", "mysql", "otel", "redis"}; !slices.Equal(got, want) {
		t.Errorf("deploy/examples/push pushes to %q; want a Device for each of %q", got, want)
	}
	if got := sinks("deploy/examples/*.yaml"); len(got) > 0 {
		t.Errorf("deploy/examples (make run) pushes to %q; push examples belong in deploy/examples/push", got)
	}
}
