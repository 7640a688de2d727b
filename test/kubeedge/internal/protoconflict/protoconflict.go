// Package protoconflict lets KubeEdge's generated DMI package and
// tinymapper's be linked into one test binary.
//
// Both register the same proto file ("api.proto") and the same message names
// (v1beta1.Device, ...), since the names are the wire contract. The protobuf
// runtime panics at start-up on such a conflict unless the
// GOLANG_PROTOBUF_REGISTRATION_CONFLICT environment variable says otherwise,
// and it reads that variable at registration time. This package sets it in
// its init function; Go initializes packages in import-path order among those
// whose imports are ready, and this one imports only os, so it runs before the
// protobuf runtime, which both generated packages need. Importing it (blank)
// from the test files is enough.
//
// The second registration is then skipped: the global registry knows one of
// the two packages' types. The tests use the generated Go types directly and
// never look types up by name, so that does not matter to them.
package protoconflict

import "os"

func init() {
	if os.Getenv("GOLANG_PROTOBUF_REGISTRATION_CONFLICT") == "" {
		os.Setenv("GOLANG_PROTOBUF_REGISTRATION_CONFLICT", "ignore")
	}
}
