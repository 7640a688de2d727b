package kubeedge

import (
	"testing"

	kepb "github.com/kubeedge/api/apis/dmi/v1beta1"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// The proto files must agree on everything that reaches the wire: package,
// message and field names, field numbers, types and cardinality, services
// and methods. Comments and options may differ.
func TestOurProtoDescribesKubeEdgesWireFormat(t *testing.T) {
	theirs, ours := kepb.File_api_proto, pb.File_api_proto
	if theirs.Package() != ours.Package() {
		t.Fatalf("package %q, KubeEdge's %q", ours.Package(), theirs.Package())
	}
	compareMessages(t, theirs.Messages(), ours.Messages())
	compareMessages(t, ours.Messages(), theirs.Messages()) // nothing extra in ours

	if theirs.Services().Len() != ours.Services().Len() {
		t.Errorf("%d services, KubeEdge has %d", ours.Services().Len(), theirs.Services().Len())
	}
	for i := 0; i < theirs.Services().Len(); i++ {
		theirSvc := theirs.Services().Get(i)
		ourSvc := ours.Services().ByName(theirSvc.Name())
		if ourSvc == nil {
			t.Errorf("service %s missing", theirSvc.FullName())
			continue
		}
		if theirSvc.Methods().Len() != ourSvc.Methods().Len() {
			t.Errorf("%s: %d methods, KubeEdge has %d", theirSvc.FullName(), ourSvc.Methods().Len(), theirSvc.Methods().Len())
		}
		for j := 0; j < theirSvc.Methods().Len(); j++ {
			tm := theirSvc.Methods().Get(j)
			om := ourSvc.Methods().ByName(tm.Name())
			switch {
			case om == nil:
				t.Errorf("method %s missing", tm.FullName())
			case om.Input().FullName() != tm.Input().FullName() || om.Output().FullName() != tm.Output().FullName():
				t.Errorf("%s: (%s) %s, KubeEdge's (%s) %s", tm.FullName(),
					om.Input().FullName(), om.Output().FullName(), tm.Input().FullName(), tm.Output().FullName())
			case om.IsStreamingClient() != tm.IsStreamingClient() || om.IsStreamingServer() != tm.IsStreamingServer():
				t.Errorf("%s: streaming differs", tm.FullName())
			}
		}
	}
}

// compareMessages checks that every message in want, nested ones included,
// has a twin in got with the same fields.
func compareMessages(t *testing.T, want, got protoreflect.MessageDescriptors) {
	t.Helper()
	for i := 0; i < want.Len(); i++ {
		w := want.Get(i)
		g := got.ByName(w.Name())
		if g == nil {
			t.Errorf("message %s has no counterpart", w.FullName())
			continue
		}
		compareFields(t, w, g)
		compareMessages(t, w.Messages(), g.Messages())
	}
}

// compareFields checks that every field of want has a twin in got, and that
// they have as many fields.
func compareFields(t *testing.T, want, got protoreflect.MessageDescriptor) {
	t.Helper()
	if want.Fields().Len() != got.Fields().Len() {
		t.Errorf("%s: %d fields against %d", want.FullName(), got.Fields().Len(), want.Fields().Len())
	}
	for i := 0; i < want.Fields().Len(); i++ {
		w := want.Fields().Get(i)
		g := got.Fields().ByName(w.Name())
		if g == nil {
			t.Errorf("field %s has no counterpart", w.FullName())
			continue
		}
		if g.Number() != w.Number() || g.Kind() != w.Kind() || g.Cardinality() != w.Cardinality() ||
			g.IsMap() != w.IsMap() || g.HasPresence() != w.HasPresence() || g.JSONName() != w.JSONName() {
			t.Errorf("field %s: #%d %v %v, counterpart #%d %v %v", w.FullName(),
				w.Number(), w.Cardinality(), w.Kind(), g.Number(), g.Cardinality(), g.Kind())
		}
		if w.Message() != nil && (g.Message() == nil || g.Message().FullName() != w.Message().FullName()) {
			t.Errorf("field %s: type %s, counterpart %v", w.FullName(), w.Message().FullName(), g.Message())
		}
	}
}
