// Package otlp is the pushMethod.otel sink: samples as OTLP/HTTP metrics
// (protobuf), POSTed to endpointURL (for an OpenTelemetry Collector,
// http://HOST:4318/v1/metrics), many per request.
//
// Each property is a gauge named after the property, with the model's unit;
// each sample is one data point (as_double, its time). Each device is one
// resource, with the attributes k8s.namespace.name and device.name (and
// service.name "tinymapper"). The protobuf is written by hand with
// protowire, which the binary already links for DMI, instead of the
// OpenTelemetry SDK (about 8 MB) or its generated protos; the test decodes
// what we send with the official generated protos.
//
// A 2xx answer is delivery; 5xx, 408, 429 and connection errors are retried;
// another 4xx drops the batch's first sample and the next try sends the rest.
package otlp

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/internal/post"
	"github.com/tinymapper/tinymapper/device"
)

const requestTimeout = 10 * time.Second

// Kind is the otel method. The zero value works.
type Kind struct{}

// Method is "otel".
func (Kind) Method() string { return "otel" }

// Target returns "otel <endpointURL>".
func (Kind) Target(_ sink.Where, p *device.PushMethod, field string) (string, any, error) {
	return "otel " + p.OTEL.EndpointURL, nil, nil
}

// Open returns the client of one endpoint.
func (Kind) Open(key string, _ *slog.Logger) (sink.Client, error) {
	u := strings.TrimPrefix(key, "otel ")
	pc, err := post.New(u)
	if err != nil {
		return nil, err
	}
	return &client{url: u, pc: pc}, nil
}

type client struct {
	url                   string
	pc                    *post.Client
	req, res, scope, metr []byte // the request and its nested messages being built
}

// Field numbers of opentelemetry-proto (collector/metrics/v1, metrics/v1,
// common/v1, resource/v1).
const (
	exportResourceMetrics = 1 // ExportMetricsServiceRequest.resource_metrics
	rmResource            = 1 // ResourceMetrics.resource
	rmScopeMetrics        = 2 // ResourceMetrics.scope_metrics
	resourceAttributes    = 1 // Resource.attributes
	smScope               = 1 // ScopeMetrics.scope
	smMetrics             = 2 // ScopeMetrics.metrics
	scopeName             = 1 // InstrumentationScope.name
	metricName            = 1 // Metric.name
	metricUnit            = 3 // Metric.unit
	metricGauge           = 5 // Metric.gauge
	gaugeDataPoints       = 1 // Gauge.data_points
	ndpTimeUnixNano       = 3 // NumberDataPoint.time_unix_nano (fixed64)
	ndpAsDouble           = 4 // NumberDataPoint.as_double (double)
	kvKey                 = 1 // KeyValue.key
	kvValue               = 2 // KeyValue.value
	anyString             = 1 // AnyValue.string_value
)

// AppendRequest appends an ExportMetricsServiceRequest for recs to dst:
// one ResourceMetrics per run of records of one device, one Metric per run
// of one property within it.
func (c *client) AppendRequest(dst []byte, recs []sink.Record) []byte {
	for i := 0; i < len(recs); {
		b := recs[i].B
		c.scope = c.scope[:0]
		c.scope = protowire.AppendTag(c.scope, smScope, protowire.BytesType)
		c.scope = protowire.AppendVarint(c.scope, uint64(2+len("tinymapper")))
		c.scope = appendString(c.scope, scopeName, "tinymapper")
		for i < len(recs) && recs[i].B.Namespace == b.Namespace && recs[i].B.Device == b.Device {
			p := recs[i].B
			c.metr = c.metr[:0]
			c.metr = appendString(c.metr, metricName, p.Property)
			if p.Unit != "" {
				c.metr = appendString(c.metr, metricUnit, p.Unit)
			}
			// The gauge's data points: each is 9+9 bytes plus two tags.
			n := 0
			for j := i; j < len(recs) && recs[j].B == p; j++ {
				n++
			}
			const point = 1 + 8 + 1 + 8
			c.metr = protowire.AppendTag(c.metr, metricGauge, protowire.BytesType)
			c.metr = protowire.AppendVarint(c.metr, uint64(n*(1+protowire.SizeVarint(point)+point)))
			for ; i < len(recs) && recs[i].B == p; i++ {
				c.metr = protowire.AppendTag(c.metr, gaugeDataPoints, protowire.BytesType)
				c.metr = protowire.AppendVarint(c.metr, point)
				c.metr = protowire.AppendTag(c.metr, ndpTimeUnixNano, protowire.Fixed64Type)
				c.metr = protowire.AppendFixed64(c.metr, uint64(recs[i].Time))
				c.metr = protowire.AppendTag(c.metr, ndpAsDouble, protowire.Fixed64Type)
				c.metr = protowire.AppendFixed64(c.metr, math.Float64bits(recs[i].Value))
			}
			c.scope = protowire.AppendTag(c.scope, smMetrics, protowire.BytesType)
			c.scope = protowire.AppendBytes(c.scope, c.metr)
		}
		c.res = c.res[:0]
		c.res = protowire.AppendTag(c.res, rmResource, protowire.BytesType)
		attrs := sizeAttr("k8s.namespace.name", b.Namespace) + sizeAttr("device.name", b.Device) + sizeAttr("service.name", "tinymapper")
		c.res = protowire.AppendVarint(c.res, uint64(attrs))
		c.res = appendAttr(c.res, "service.name", "tinymapper")
		c.res = appendAttr(c.res, "k8s.namespace.name", b.Namespace)
		c.res = appendAttr(c.res, "device.name", b.Device)
		c.res = protowire.AppendTag(c.res, rmScopeMetrics, protowire.BytesType)
		c.res = protowire.AppendBytes(c.res, c.scope)
		dst = protowire.AppendTag(dst, exportResourceMetrics, protowire.BytesType)
		dst = protowire.AppendBytes(dst, c.res)
	}
	return dst
}

func appendString(dst []byte, num protowire.Number, s string) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendString(dst, s)
}

// kvSize is the size of KeyValue{key, value: AnyValue{string_value}}.
func kvSize(k, v string) int {
	anyv := 1 + protowire.SizeBytes(len(v))
	return 1 + protowire.SizeBytes(len(k)) + 1 + protowire.SizeBytes(anyv)
}

// sizeAttr is the size of one Resource.attributes entry, tag included.
func sizeAttr(k, v string) int {
	return 1 + protowire.SizeBytes(kvSize(k, v))
}

func appendAttr(dst []byte, k, v string) []byte {
	dst = protowire.AppendTag(dst, resourceAttributes, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(kvSize(k, v)))
	dst = appendString(dst, kvKey, k)
	dst = protowire.AppendTag(dst, kvValue, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(1+protowire.SizeBytes(len(v))))
	return appendString(dst, anyString, v)
}

// Send exports recs in one request.
func (c *client) Send(ctx context.Context, recs []sink.Record) (int, error) {
	c.req = c.AppendRequest(c.req[:0], recs)
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	status, msg, err := c.pc.Post(ctx, "application/x-protobuf", "", c.req)
	if err != nil {
		return 0, err
	}
	switch {
	case status >= 200 && status < 300:
		return len(recs), nil
	case post.Refused(status):
		return 0, fmt.Errorf("export: %s %q: %w", http.StatusText(status), msg, sink.ErrRejected)
	}
	return 0, fmt.Errorf("export: %s", http.StatusText(status))
}

func (c *client) Close() error {
	c.pc.Close()
	return nil
}
