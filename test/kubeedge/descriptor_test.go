package kubeedge

import (
	"testing"

	kepb "github.com/kubeedge/api/apis/dmi/v1beta1"
	"google.golang.org/protobuf/reflect/protoreflect"
	kepb120 "kubeedge.invalid/api-v1-20/apis/dmi/v1beta1"

	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// The proto files must agree on everything that reaches the wire: package,
// message and field names, field numbers, types and cardinality, services
// and methods. Comments and options may differ. Ours is v1.23's file exactly.
func TestOurProtoDescribesKubeEdgesWireFormat(t *testing.T) {
	compareFiles(t, kepb.File_api_proto, pb.File_api_proto)
	compareMessages(t, pb.File_api_proto.Messages(), kepb.File_api_proto.Messages()) // nothing extra in ours
}

// Against v1.20 ours holds all of v1.20's file, and what it has beyond is
// what v1.23 added: a field an EdgeCore of v1.20 neither sends nor reads.
func TestOurProtoHoldsKubeEdge120sWireFormat(t *testing.T) {
	compareFiles(t, kepb120.File_api_proto, pb.File_api_proto)
	added := map[protoreflect.FullName]bool{}
	extra(kepb120.File_api_proto.Messages(), pb.File_api_proto.Messages(), added)
	want := map[protoreflect.FullName]bool{"v1beta1.AnomalyDetection": true, "v1beta1.PushMethod.anomalyDetection": true}
	if len(added) != len(want) {
		t.Errorf("ours has %v beyond v1.20; want exactly %v", added, want)
	}
	for name := range want {
		if !added[name] {
			t.Errorf("ours has %v beyond v1.20; want exactly %v", added, want)
		}
	}
}

// extra records the messages and fields of got that want does not have.
func extra(want, got protoreflect.MessageDescriptors, out map[protoreflect.FullName]bool) {
	for i := 0; i < got.Len(); i++ {
		g := got.Get(i)
		w := want.ByName(g.Name())
		if w == nil {
			out[g.FullName()] = true
			continue
		}
		for j := 0; j < g.Fields().Len(); j++ {
			if f := g.Fields().Get(j); w.Fields().ByName(f.Name()) == nil {
				out[f.FullName()] = true
			}
		}
		extra(w.Messages(), g.Messages(), out)
	}
}

// compareFiles checks that ours has every message, field, service and method
// of theirs, with the same wire meaning.
func compareFiles(t *testing.T, theirs, ours protoreflect.FileDescriptor) {
	t.Helper()
	if theirs.Package() != ours.Package() {
		t.Fatalf("package %q, KubeEdge's %q", ours.Package(), theirs.Package())
	}
	compareMessages(t, theirs.Messages(), ours.Messages())

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

// compareFields checks that every field of want has a twin in got.
// (Comparing in both directions checks that they have as many.)
func compareFields(t *testing.T, want, got protoreflect.MessageDescriptor) {
	t.Helper()
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
