// Package dmi speaks KubeEdge's Device Management Interface (DMI v1beta1), the
// gRPC API between EdgeCore and a mapper, over unix sockets on the node.
//
// DMI has two directions, each its own service:
//
//   - DeviceManagerService is EdgeCore's (at /etc/kubeedge/dmi.sock). A mapper
//     registers there once per protocol it serves and gets back the models and
//     devices of that protocol; afterwards it reports device twins and states
//     there. Client does this over one persistent connection, paced so that
//     EdgeCore's rate limiter (1 call/s, burst 100, shared by every mapper on
//     the node) is not drained.
//   - DeviceMapperService is the mapper's, on the socket it named when it
//     registered. EdgeCore calls it when a Device or DeviceModel is created,
//     updated or removed, and to read a device back. Server serves it.
//
// Both hand models and devices, converted to package device's types, to a
// Registry (the device manager). DMI is the management plane only: samples
// never travel here, only twins (the latest value of each property).
//
// configData, the free-form maps in Device CRDs, arrives as
// google.protobuf.Any values wrapping wrapperspb types; DecodeConfig turns such
// a map into a bus.Config for the protocol drivers. EdgeCore wraps every JSON
// number as a FloatValue (float32), so `address: 0x48` arrives as 72.
package dmi
