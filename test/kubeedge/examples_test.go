package kubeedge

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	devices "github.com/kubeedge/api/apis/devices/v1beta1"
	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/tinymapper/tinymapper/device/crd"
	"github.com/tinymapper/tinymapper/dmi"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// These tests hold the files users apply: every DeviceModel and Device in
// deploy/examples decodes strictly into KubeEdge's v1beta1 types, converts
// the way EdgeCore converts it, and arrives in package device through dmi;
// every manifest in deploy/kubernetes decodes strictly into its Kubernetes
// type.

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// document is one YAML document of a file.
type document struct {
	name string // file:index, for messages
	kind string
	body []byte
}

// examples are every example file: the ones `make run` loads
// (deploy/examples) and those in its subdirectories, which it does not
// (deploy/examples/push: destinations a fresh machine does not run).
var examples = []string{"deploy/examples/*.yaml", "deploy/examples/*/*.yaml"}

// documents splits every file matching the patterns (relative to the
// repository root) into its non-empty YAML documents.
func documents(t *testing.T, patterns ...string) []document {
	t.Helper()
	files := globs(t, patterns...)
	var out []document
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, part := range docSeparator.Split(string(b), -1) {
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(part), &meta); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if meta.Kind == "" && isBlank(part) {
				continue
			}
			out = append(out, document{name: fmt.Sprintf("%s#%d", filepath.Base(f), i), kind: meta.Kind, body: []byte(part)})
		}
	}
	return out
}

// globs returns the files matching each pattern (relative to the repository
// root); a pattern that matches nothing fails the test.
func globs(t *testing.T, patterns ...string) []string {
	t.Helper()
	var files []string
	for _, pattern := range patterns {
		f, err := filepath.Glob(filepath.Join("..", "..", pattern))
		if err != nil {
			t.Fatal(err)
		}
		if len(f) == 0 {
			t.Fatalf("no files match %s", pattern)
		}
		files = append(files, f...)
	}
	return files
}

// isBlank reports whether a YAML document holds only comments and space.
func isBlank(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

func TestEveryExampleDecodesStrictlyAndConvertsAsEdgeCoreDoes(t *testing.T) {
	docs := documents(t, examples...)
	models := map[string]*devices.DeviceModel{} // by namespace/name
	var devs []*devices.Device
	var devDocs []string
	for _, d := range docs {
		switch d.kind {
		case "DeviceModel":
			var m devices.DeviceModel
			if err := yaml.UnmarshalStrict(d.body, &m); err != nil {
				t.Errorf("%s: DeviceModel: %v", d.name, err)
				continue
			}
			checkAPIVersion(t, d.name, m.APIVersion)
			models[nsName(m.Namespace, m.Name)] = &m
		case "Device":
			var dev devices.Device
			if err := yaml.UnmarshalStrict(d.body, &dev); err != nil {
				t.Errorf("%s: Device: %v", d.name, err)
				continue
			}
			checkAPIVersion(t, d.name, dev.APIVersion)
			devs = append(devs, &dev)
			devDocs = append(devDocs, d.name)
		default:
			t.Errorf("%s: kind %q; deploy/examples holds DeviceModels and Devices", d.name, d.kind)
		}
	}
	if len(devs) == 0 || len(models) == 0 {
		t.Fatalf("%d models and %d devices in deploy/examples; want some of each", len(models), len(devs))
	}

	for key, m := range models {
		ours := toOurs[pb.DeviceModel](t, key, func() (proto.Message, error) { return edgeCoreModel(m) })
		if ours == nil {
			continue
		}
		if _, err := dmi.ModelFromProto(ours); err != nil {
			t.Errorf("DeviceModel %s: dmi.ModelFromProto: %v", key, err)
		}
	}
	protocols := map[string]bool{}
	for i, d := range devs {
		name := devDocs[i] + " Device " + nsName(d.Namespace, d.Name)
		if d.Spec.DeviceModelRef == nil {
			t.Errorf("%s: no deviceModelRef", name)
			continue
		}
		m := models[nsName(d.Namespace, d.Spec.DeviceModelRef.Name)]
		switch {
		case m == nil:
			t.Errorf("%s: its DeviceModel %s is not in deploy/examples", name, d.Spec.DeviceModelRef.Name)
		case m.Spec.Protocol != d.Spec.Protocol.ProtocolName:
			t.Errorf("%s: protocol %q, its model's is %q", name, d.Spec.Protocol.ProtocolName, m.Spec.Protocol)
		}
		protocols[d.Spec.Protocol.ProtocolName] = true
		sent := d
		if m != nil {
			sent = edgeCoreMerge(d, m)
		}
		ours := toOurs[pb.Device](t, name, func() (proto.Message, error) { return edgeCoreDevice(sent) })
		if ours == nil {
			continue
		}
		// DeviceFromProto decodes both levels of configData with
		// dmi.DecodeConfig.
		got, err := dmi.DeviceFromProto(ours)
		if err != nil {
			t.Errorf("%s: dmi.DeviceFromProto: %v", name, err)
			continue
		}
		if len(got.Properties) != len(d.Spec.Properties) {
			t.Errorf("%s: %d properties arrived, %d written", name, len(got.Properties), len(d.Spec.Properties))
		}
		for _, p := range got.Properties {
			if p.Visitor.Path == "" {
				t.Errorf("%s: property %s has no visitor config path", name, p.Name)
			}
		}
		if m != nil {
			for _, p := range d.Spec.Properties {
				if !slices.ContainsFunc(m.Spec.Properties, func(mp devices.ModelProperty) bool { return mp.Name == p.Name }) {
					t.Errorf("%s: property %s is not in its model %s", name, p.Name, m.Name)
				}
			}
		}
	}
	t.Logf("%d documents, %d models, %d devices, protocols %v", len(docs), len(models), len(devs), keys(protocols))
	// One example at least per protocol tinymapper registers for, and no other.
	if want := []string{"gpio", "i2c", "modbus-rtu", "serial", "spi"}; !slices.Equal(keys(protocols), want) {
		t.Errorf("deploy/examples' devices use protocols %q; want exactly %q", keys(protocols), want)
	}
}

// TestEveryExampleLoadsStandalone loads each example file the way
// `tinymapper --devices FILE` does.
func TestEveryExampleLoadsStandalone(t *testing.T) {
	for _, f := range globs(t, examples...) {
		if _, err := crd.LoadFile(f); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}

// toOurs converts with conv (KubeEdge's generated type), marshals it and
// unmarshals the wire bytes into our generated type T.
func toOurs[T any, PT interface {
	*T
	proto.Message
}](t *testing.T, name string, conv func() (proto.Message, error)) PT {
	t.Helper()
	ke, err := conv()
	if err != nil {
		t.Errorf("%s: converting as EdgeCore does: %v", name, err)
		return nil
	}
	b, err := proto.Marshal(ke)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return nil
	}
	out := PT(new(T))
	if err := proto.Unmarshal(b, out); err != nil {
		t.Errorf("%s: %v", name, err)
		return nil
	}
	return out
}

func checkAPIVersion(t *testing.T, name, v string) {
	t.Helper()
	if want := devices.SchemeGroupVersion.String(); v != want {
		t.Errorf("%s: apiVersion %q, want %q", name, v, want)
	}
}

func nsName(ns, name string) string {
	if ns == "" {
		ns = "default"
	}
	return ns + "/" + name
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestEveryManifestDecodesStrictly(t *testing.T) {
	docs := documents(t, "deploy/kubernetes/*.yaml")
	seen := map[string]int{}
	var ds *appsv1.DaemonSet
	var cms []*corev1.ConfigMap
	for _, d := range docs {
		seen[d.kind]++
		var err error
		switch d.kind {
		case "DaemonSet":
			ds = new(appsv1.DaemonSet)
			err = yaml.UnmarshalStrict(d.body, ds)
		case "ConfigMap":
			cm := new(corev1.ConfigMap)
			err = yaml.UnmarshalStrict(d.body, cm)
			cms = append(cms, cm)
		default:
			t.Errorf("%s: kind %q has no Kubernetes type in this test", d.name, d.kind)
			continue
		}
		if err != nil {
			t.Errorf("%s: %s: %v", d.name, d.kind, err)
		}
	}
	if ds == nil || len(cms) == 0 {
		t.Fatalf("deploy/kubernetes holds %v; want a DaemonSet and a ConfigMap", seen)
	}
	checkDaemonSet(t, ds, cms)
}

// checkDaemonSet holds what the README promises about the DaemonSet.
func checkDaemonSet(t *testing.T, ds *appsv1.DaemonSet, cms []*corev1.ConfigMap) {
	spec := ds.Spec.Template.Spec
	if v, ok := spec.NodeSelector["node-role.kubernetes.io/edge"]; !ok || v != "" {
		t.Errorf("nodeSelector %v; want node-role.kubernetes.io/edge: \"\"", spec.NodeSelector)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	if sc := c.SecurityContext; sc == nil || sc.Privileged != nil && *sc.Privileged ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("securityContext %+v; want not privileged, every capability dropped", c.SecurityContext)
	}
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil || pr.probe.HTTPGet.Path != pr.path || pr.probe.HTTPGet.Port.IntValue() != 7777 {
			t.Errorf("%s probe %+v; want GET %s on port 7777", pr.name, pr.probe, pr.path)
		}
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v; want memory requests and limits", c.Resources)
	}
	checkMemoryLimit(t, c)

	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]string{} // mount path -> host path
	var configMap string
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		switch {
		case !ok:
			t.Errorf("volumeMount %s has no volume", m.Name)
		case v.HostPath != nil:
			mounts[m.MountPath] = v.HostPath.Path
			if strings.HasPrefix(m.MountPath, "/dev/") && (v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathCharDev) {
				t.Errorf("device %s: hostPath type %v, want CharDevice", m.MountPath, v.HostPath.Type)
			}
		case v.ConfigMap != nil:
			configMap = v.ConfigMap.Name
		}
	}
	want := map[string]string{"/etc/kubeedge": "/etc/kubeedge", "/dev/i2c-1": "/dev/i2c-1", "/dev/spidev0.0": "/dev/spidev0.0",
		"/dev/gpiochip0": "/dev/gpiochip0", "/dev/ttyUSB0": "/dev/ttyUSB0"}
	for path, host := range want {
		if mounts[path] != host {
			t.Errorf("mount %s from host %q, want %q", path, mounts[path], host)
		}
	}

	// The ConfigMap is the config the pod reads: the same keys as
	// deploy/config.yaml, REST where the probes look.
	var cm *corev1.ConfigMap
	for _, x := range cms {
		if x.Name == configMap {
			cm = x
		}
	}
	if cm == nil {
		t.Fatalf("the DaemonSet mounts ConfigMap %q, which deploy/kubernetes does not define", configMap)
	}
	var inPod, reference map[string]any
	if err := yaml.UnmarshalStrict([]byte(cm.Data["config.yaml"]), &inPod); err != nil {
		t.Fatalf("ConfigMap %s config.yaml: %v", cm.Name, err)
	}
	ref, err := os.ReadFile(filepath.Join("..", "..", "deploy", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(ref, &reference); err != nil {
		t.Fatal(err)
	}
	if a, b := flatKeys("", inPod), flatKeys("", reference); !slices.Equal(a, b) {
		t.Errorf("ConfigMap config.yaml keys %v; deploy/config.yaml has %v", a, b)
	}
	if common, _ := inPod["common"].(map[string]any); common["http_address"] != "127.0.0.1:7777" || !spec.HostNetwork {
		t.Errorf("http_address %v with hostNetwork %v; the probes GET 127.0.0.1:7777 on the node", common["http_address"], spec.HostNetwork)
	}
	for _, a := range c.Args {
		if bytes.Contains([]byte(a), []byte("--http")) {
			t.Errorf("args %q override the ConfigMap's http_address", c.Args)
		}
	}
}

// flatKeys lists the dotted key paths of a decoded YAML map, sorted.
func flatKeys(prefix string, m map[string]any) []string {
	var out []string
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			out = append(out, flatKeys(prefix+k+".", sub)...)
		} else {
			out = append(out, prefix+k)
		}
	}
	slices.Sort(out)
	return out
}

// TestEveryExampleDeviceNamesItsNode: KubeEdge's cloud devicecontroller sends
// a Device to an edge node only when spec.nodeName is set.
func TestEveryExampleDeviceNamesItsNode(t *testing.T) {
	for _, d := range documents(t, examples...) {
		if d.kind != "Device" {
			continue
		}
		var dev devices.Device
		if err := yaml.Unmarshal(d.body, &dev); err != nil {
			t.Errorf("%s: %v", d.name, err)
			continue
		}
		if dev.Spec.NodeName == "" {
			t.Errorf("%s: Device %s has no spec.nodeName; the cloud would send it to no edge node", d.name, dev.Name)
		}
	}
}

// TestEveryExampleModelHasItsDevicesProtocol: EdgeCore routes DeviceModel
// calls by the model's spec.protocol and Device calls by the device's
// protocolName, so a model reaches the mapper of its devices only when the
// two agree, and only when tinymapper serves that protocol.
func TestEveryExampleModelHasItsDevicesProtocol(t *testing.T) {
	served := []string{"i2c", "spi", "gpio", "serial", "modbus-rtu"} // the default --protocols
	models := map[string]string{}                                    // namespace/name -> spec.protocol
	modelDocs := map[string]*devices.DeviceModel{}
	var devs []devices.Device
	var names []string
	for _, d := range documents(t, examples...) {
		switch d.kind {
		case "DeviceModel":
			var m devices.DeviceModel
			if err := yaml.Unmarshal(d.body, &m); err != nil {
				t.Fatalf("%s: %v", d.name, err)
			}
			if !slices.Contains(served, m.Spec.Protocol) {
				t.Errorf("%s: DeviceModel %s: spec.protocol %q is not one tinymapper registers (%v)", d.name, m.Name, m.Spec.Protocol, served)
			}
			models[nsName(m.Namespace, m.Name)] = m.Spec.Protocol
			modelDocs[nsName(m.Namespace, m.Name)] = &m
		case "Device":
			var dev devices.Device
			if err := yaml.Unmarshal(d.body, &dev); err != nil {
				t.Fatalf("%s: %v", d.name, err)
			}
			devs = append(devs, dev)
			names = append(names, d.name)
		}
	}
	for i, dev := range devs {
		if dev.Spec.DeviceModelRef == nil {
			t.Errorf("%s: Device %s has no deviceModelRef", names[i], dev.Name)
			continue
		}
		key := nsName(dev.Namespace, dev.Spec.DeviceModelRef.Name)
		want, ok := models[key]
		if !ok {
			continue // reported by TestEveryExampleDecodesStrictlyAndConvertsAsEdgeCoreDoes
		}
		dev = *edgeCoreMerge(&dev, modelDocs[key]) // visitors may come from the model
		if got := dev.Spec.Protocol.ProtocolName; got != want {
			t.Errorf("%s: Device %s: protocolName %q, its DeviceModel's spec.protocol %q", names[i], dev.Name, got, want)
		}
		for _, p := range dev.Spec.Properties {
			if got := p.Visitors.ProtocolName; got != want {
				t.Errorf("%s: Device %s property %s: visitors.protocolName %q, its DeviceModel's spec.protocol %q", names[i], dev.Name, p.Name, got, want)
			}
		}
	}
}
