package otlp_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/otlp"
	"github.com/tinymapper/tinymapper/data/sink/sinktest"
	"github.com/tinymapper/tinymapper/device"
)

// receiver is an OTLP/HTTP metrics endpoint decoding with the official
// generated protos; it answers 503 while down.
type receiver struct {
	mu       sync.Mutex
	down     bool
	got      []sinktest.Message
	requests int
	bad      []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req colmetrics.ExportMetricsServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil || r.Header.Get("Content-Type") != "application/x-protobuf" || r.URL.Path != "/v1/metrics" {
		rc.bad = append(rc.bad, fmt.Sprintf("%s %s %v", r.URL.Path, r.Header.Get("Content-Type"), err))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.requests++
	for _, rm := range req.ResourceMetrics {
		attrs := map[string]string{}
		for _, kv := range rm.GetResource().GetAttributes() {
			attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		if attrs["service.name"] != "tinymapper" {
			rc.bad = append(rc.bad, fmt.Sprint("resource ", attrs))
		}
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				for _, dp := range m.GetGauge().GetDataPoints() {
					v, _ := device.AppendValue(nil, device.TypeFloat, dp.GetAsDouble())
					rc.got = append(rc.got, sinktest.Message{Namespace: attrs["k8s.namespace.name"], Device: attrs["device.name"],
						Property: m.GetName(), Unit: m.GetUnit(), Type: "float", Value: json.Number(v), Timestamp: int64(dp.GetTimeUnixNano()) / 1e6})
				}
			}
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (rc *receiver) received() ([]sinktest.Message, int, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]sinktest.Message(nil), rc.got...), rc.requests, rc.bad
}

func (rc *receiver) setDown(down bool) {
	rc.mu.Lock()
	rc.down = down
	rc.mu.Unlock()
}

func TestGaugesArriveAcrossAnOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 5 s")
	}
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	push := "        otel: {endpointURL: " + strconv.Quote(srv.URL+"/v1/metrics") + "}\n"
	mgr, sinks := sinktest.Run(t, sinktest.Thermometer(50*time.Millisecond, push), sink.Options{}, otlp.Kind{})
	sinktest.WaitFor(t, 10*time.Second, "data points", func() bool { got, _, _ := rc.received(); return len(got) >= 10 })
	rc.setDown(true)
	time.Sleep(2 * time.Second)
	rc.setDown(false)
	back := time.Now()
	sinktest.WaitFor(t, 10*time.Second, "the backlog", func() bool {
		st, _ := sinktest.StatsOf(sinks, "otel ")
		got, _, _ := rc.received()
		return st.Buffered == 0 && got[len(got)-1].Timestamp > back.UnixMilli()
	})
	got, requests, bad := rc.received()
	if len(bad) > 0 {
		t.Fatalf("the receiver refused: %q", bad)
	}
	if n := sinktest.Check(t, mgr, got); n != 0 {
		t.Fatalf("%d samples missing", n)
	}
	if requests >= len(got) {
		t.Errorf("%d requests for %d data points: not batched", requests, len(got))
	}
}
