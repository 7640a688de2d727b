package dmi

import (
	"fmt"
	"strconv"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tinymapper/tinymapper/device"
)

// statusCall is one ReportDeviceStatus request as the reporter has it: a
// device's twins, not yet protobuf messages. statusCodec writes it in the
// wire format of v1beta1.ReportDeviceStatusRequest directly.
//
// Why not the generated code: protobuf-go marshals map fields through
// reflection, and every twin's reported.metadata is a map ("timestamp",
// "type"). For the five twins of one call that was 37 of the client's 139
// allocations per call and the largest single source of garbage at 1000
// devices. The message is small and fixed, so it is written here with
// protowire's primitives; TestStatusCodecMatchesGeneratedCode checks the
// bytes against proto.Marshal of the same request, and test/kubeedge decodes
// them with KubeEdge's own generated code.
type statusCall struct {
	namespace, name string
	twins           []device.Twin
}

// Field numbers of the messages statusCall is written as (api.proto).
const (
	fieldRequestDeviceName      = 1 // ReportDeviceStatusRequest.deviceName
	fieldRequestReportedDevice  = 2 // ReportDeviceStatusRequest.reportedDevice
	fieldRequestDeviceNamespace = 3 // ReportDeviceStatusRequest.deviceNamespace
	fieldStatusTwins            = 1 // DeviceStatus.twins
	fieldStatusReportToCloud    = 2 // DeviceStatus.reportToCloud
	fieldTwinPropertyName       = 1 // Twin.propertyName
	fieldTwinObservedDesired    = 2 // Twin.observedDesired
	fieldTwinReported           = 3 // Twin.reported
	fieldPropertyValue          = 1 // TwinProperty.value
	fieldPropertyMetadata       = 2 // TwinProperty.metadata (map<string, string>)
	fieldMapKey                 = 1 // a map entry's key
	fieldMapValue               = 2 // a map entry's value
)

// Metadata keys of a twin's reported value.
const (
	metadataTimestamp = "timestamp"
	metadataType      = "type"
)

// timestamp returns the "timestamp" metadata of t: its sample time in unix
// milliseconds, 0 when unknown.
func timestamp(t device.Twin) int64 {
	if t.Time.IsZero() {
		return 0
	}
	return t.Time.UnixMilli()
}

// stringField is the size of a string field, 0 when it is empty (proto3
// leaves empty strings out).
func stringField(s string) int {
	if s == "" {
		return 0
	}
	return protowire.SizeTag(1) + protowire.SizeBytes(len(s))
}

// entrySize is the size of one map<string, string> entry's contents.
func entrySize(key string, valueLen int) int {
	return stringField(key) + protowire.SizeTag(fieldMapValue) + protowire.SizeBytes(valueLen)
}

// decimalLen is the length of strconv.FormatInt(n, 10).
func decimalLen(n int64) int {
	var buf [20]byte
	return len(strconv.AppendInt(buf[:0], n, 10))
}

// reportedSize is the size of a twin's reported TwinProperty contents.
func reportedSize(t device.Twin) int {
	ts := entrySize(metadataTimestamp, decimalLen(timestamp(t)))
	typ := entrySize(metadataType, len(device.TypeName(t.Type)))
	return stringField(t.Reported) +
		protowire.SizeTag(fieldPropertyMetadata) + protowire.SizeBytes(ts) +
		protowire.SizeTag(fieldPropertyMetadata) + protowire.SizeBytes(typ)
}

// twinSize is the size of one Twin's contents.
func twinSize(t device.Twin) int {
	return stringField(t.Property) +
		protowire.SizeTag(fieldTwinObservedDesired) + protowire.SizeBytes(stringField(t.ObservedDesired)) +
		protowire.SizeTag(fieldTwinReported) + protowire.SizeBytes(reportedSize(t))
}

// statusSize is the size of the DeviceStatus contents.
func (c *statusCall) statusSize() int {
	n := protowire.SizeTag(fieldStatusReportToCloud) + protowire.SizeVarint(1)
	for _, t := range c.twins {
		n += protowire.SizeTag(fieldStatusTwins) + protowire.SizeBytes(twinSize(t))
	}
	return n
}

// size is the size of the whole request.
func (c *statusCall) size() int {
	return stringField(c.name) + stringField(c.namespace) +
		protowire.SizeTag(fieldRequestReportedDevice) + protowire.SizeBytes(c.statusSize())
}

// appendString appends field num unless s is empty.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendMessageHeader appends the tag and length of an embedded message.
func appendMessageHeader(b []byte, num protowire.Number, size int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(size))
}

// appendTo appends the request in the field order protobuf-go uses, so the
// bytes equal proto.Marshal's (with the metadata entries in key order).
func (c *statusCall) appendTo(b []byte) []byte {
	b = appendString(b, fieldRequestDeviceName, c.name)
	b = appendMessageHeader(b, fieldRequestReportedDevice, c.statusSize())
	for _, t := range c.twins {
		b = appendMessageHeader(b, fieldStatusTwins, twinSize(t))
		b = appendString(b, fieldTwinPropertyName, t.Property)
		b = appendMessageHeader(b, fieldTwinObservedDesired, stringField(t.ObservedDesired))
		b = appendString(b, fieldPropertyValue, t.ObservedDesired)
		b = appendMessageHeader(b, fieldTwinReported, reportedSize(t))
		b = appendString(b, fieldPropertyValue, t.Reported)

		ts := timestamp(t)
		b = appendMessageHeader(b, fieldPropertyMetadata, entrySize(metadataTimestamp, decimalLen(ts)))
		b = appendString(b, fieldMapKey, metadataTimestamp)
		b = protowire.AppendTag(b, fieldMapValue, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(decimalLen(ts)))
		b = strconv.AppendInt(b, ts, 10)

		typ := device.TypeName(t.Type)
		b = appendMessageHeader(b, fieldPropertyMetadata, entrySize(metadataType, len(typ)))
		b = appendString(b, fieldMapKey, metadataType)
		b = protowire.AppendTag(b, fieldMapValue, protowire.BytesType)
		b = protowire.AppendString(b, typ)
	}
	b = protowire.AppendTag(b, fieldStatusReportToCloud, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	b = appendString(b, fieldRequestDeviceNamespace, c.namespace)
	return b
}

// statusCodec is the codec of ReportDeviceStatus calls: it writes a
// *statusCall itself and hands every other message (the response) to gRPC's
// proto codec. Its name is "proto", so the call's content type is the usual
// application/grpc+proto.
type statusCodec struct{}

var protoCodec = encoding.GetCodecV2(grpcproto.Name)

func (statusCodec) Name() string { return grpcproto.Name }

func (statusCodec) Marshal(v any) (mem.BufferSlice, error) {
	c, ok := v.(*statusCall)
	if !ok {
		return protoCodec.Marshal(v)
	}
	size := c.size()
	b := c.appendTo(make([]byte, 0, size))
	if len(b) != size {
		return nil, fmt.Errorf("dmi: report status of %s: encoded %d bytes, sized %d", device.Key(c.namespace, c.name), len(b), size)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (statusCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return protoCodec.Unmarshal(data, v)
}
