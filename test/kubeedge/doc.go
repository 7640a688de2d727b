// Package kubeedge checks tinymapper's DMI package against KubeEdge's own
// generated code and Device types (github.com/kubeedge/api v1.23.0, and v1.20.0
// as kubeedge.invalid/api-v1-20, see go.mod): the proto files describe the
// same wire format (v1.23's exactly, v1.20's as a subset), messages built by KubeEdge's
// code decode into ours and back unchanged, each side's gRPC stubs talk to the
// other's, and a Device as a user writes it, converted the way EdgeCore
// converts it, reaches package device with its values intact.
//
// It is a separate module so that the main module does not depend on KubeEdge
// and its Kubernetes dependencies. Run it with:
//
//	cd test/kubeedge && go test ./...
package kubeedge

// Both generated packages register the same proto names; see protoconflict.
import _ "github.com/tinymapper/tinymapper/test/kubeedge/internal/protoconflict"
