// Package v1beta1 is the generated code for KubeEdge's DMI v1beta1 gRPC API
// (api.proto beside this file): the messages, the DeviceManagerService client
// that talks to EdgeCore, and the DeviceMapperService server interface a
// mapper implements.
//
// The proto package is "v1beta1", as in KubeEdge, because the package name is
// part of every RPC's path on the wire. A binary that links both this package
// and KubeEdge's own generated package registers the same message names twice;
// only tests comparing the two do that (see test/kubeedge).
package v1beta1
