package data_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/internal/await"
)

// mfClient is an application written against mapper-framework's REST API
// (KubeEdge's mapper-framework pkg/httpserver), with the response types it
// declares there, written anew: BaseResponse embedded by pointer, Message and
// Data without JSON tags. It decodes strictly, so a field tinymapper names
// differently, or adds, fails the test.
type mfClient struct {
	base string
	http *http.Client
}

type MFBaseResponse struct {
	APIVersion string `json:"apiVersion"`
	StatusCode int    `json:"statusCode"`
	TimeStamp  string `json:"timeStamp"`
}

type mfPingResponse struct {
	*MFBaseResponse
	Message string
}

type mfDataModel struct {
	DeviceName   string
	PropertyName string
	Namespace    string
	Value        string
	Type         string
	TimeStamp    int64
}

type mfDeviceReadResponse struct {
	*MFBaseResponse
	Data *mfDataModel
}

type mfDataMethod struct{ Methods []mfMethod }

type mfMethod struct {
	Name       string
	Path       string
	Parameters []mfParameter
}

type mfParameter struct{ PropertyName, ValueType string }

type mfDeviceMethodReadResponse struct {
	*MFBaseResponse
	Data *mfDataMethod
}

type MFDeviceModel struct {
	ID          string            `json:"id,omitempty"`
	Name        string            `json:"name,omitempty"`
	Namespace   string            `json:"namespace,omitempty"`
	Description string            `json:"description,omitempty"`
	Properties  []mfModelProperty `json:"properties,omitempty"`
}

type mfModelProperty struct {
	Name        string `json:"name,omitempty"`
	DataType    string `json:"dataType,omitempty"`
	Description string `json:"description,omitempty"`
	AccessMode  string `json:"accessMode,omitempty"`
	Minimum     string `json:"minimum,omitempty"`
	Maximum     string `json:"maximum,omitempty"`
	Unit        string `json:"unit,omitempty"`
}

type mfMetaGetModelResponse struct {
	*MFBaseResponse
	*MFDeviceModel
}

// get GETs path and decodes a 200 answer strictly into out; any other
// status is an error carrying the body.
func (c mfClient) get(path string, out any) error {
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Correlation-ID", "abc-123")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	if got := resp.Header.Get("X-Correlation-ID"); got != "abc-123" {
		return fmt.Errorf("X-Correlation-ID %q, want it echoed", got)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("Content-Type %q", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s: %w", b, err)
	}
	return nil
}

func checkBase(t *testing.T, b *MFBaseResponse) {
	t.Helper()
	if b == nil || b.APIVersion != "v1" || b.StatusCode != http.StatusOK {
		t.Fatalf("base = %+v", b)
	}
	if _, err := time.Parse(time.RFC3339, b.TimeStamp); err != nil {
		t.Errorf("timeStamp %q: %v", b.TimeStamp, err)
	}
}

// fanManager runs a Manager with a "fan" device: speed (INT, ReadWrite,
// 0..200) behind a register that refuses values over 100, and two methods.
func fanManager(t *testing.T) *device.Manager {
	t.Helper()
	return fanManagerWith(t, device.Options{})
}

func fanManagerWith(t *testing.T, opts device.Options) *device.Manager {
	t.Helper()
	m := device.NewManager(opts, &fanDriver{reg: 50})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := m.PutModel(device.Model{Namespace: "plant", Name: "fan-model", Properties: []device.ModelProperty{
		{Name: "speed", Type: device.TypeInt, AccessMode: device.ReadWrite, Minimum: "0", Maximum: "200", Unit: "rpm", Description: "fan speed"},
		{Name: "temperature", Type: device.TypeFloat, AccessMode: device.ReadOnly, Unit: "celsius"},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := m.PutDevice(device.Device{Namespace: "plant", Name: "fan", Model: "fan-model", Protocol: "fan",
		Properties: []device.Property{
			{Name: "speed", CollectCycle: 5 * time.Millisecond},
			{Name: "temperature", CollectCycle: 5 * time.Millisecond},
		},
		Methods: []device.Method{
			{Name: "setSpeed", Description: "set the fan speed", PropertyNames: []string{"speed"}},
			{Name: "readOnly", PropertyNames: []string{"temperature"}},
		}}); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Property("plant", "fan", "speed")
	await.Until(t, "a speed sample", func() bool { return p.Ring.Len() > 0 })
	return m
}

// An application written for mapper-framework runs against tinymapper
// unchanged: ping, read, list and call methods, read the model.
func TestAMapperFrameworkClientWorksUnchanged(t *testing.T) {
	m := fanManager(t)
	srv := httptest.NewServer(data.Handler(m, nil, nil))
	t.Cleanup(srv.Close)
	c := mfClient{base: srv.URL, http: srv.Client()}

	var ping mfPingResponse
	if err := c.get("/api/v1/ping", &ping); err != nil {
		t.Fatal(err)
	}
	checkBase(t, ping.MFBaseResponse)
	if ping.Message != "This is v1 API, the server is running normally." {
		t.Errorf("ping message %q", ping.Message)
	}

	var read mfDeviceReadResponse
	if err := c.get("/api/v1/device/plant/fan/speed", &read); err != nil {
		t.Fatal(err)
	}
	checkBase(t, read.MFBaseResponse)
	if d := read.Data; d == nil || d.DeviceName != "fan" || d.PropertyName != "speed" || d.Namespace != "plant" ||
		d.Value != "50" || d.Type != "INT" || time.Since(time.UnixMilli(d.TimeStamp)) > 10*time.Second {
		t.Errorf("read data = %+v", read.Data)
	}

	var methods mfDeviceMethodReadResponse
	if err := c.get("/api/v1/devicemethod/plant/fan", &methods); err != nil {
		t.Fatal(err)
	}
	checkBase(t, methods.MFBaseResponse)
	want := []mfMethod{
		{Name: "setSpeed", Path: "/api/v1/devicemethod/plant/fan/setSpeed/{propertyName}/{data}", Parameters: []mfParameter{{"speed", "int"}}},
		{Name: "readOnly", Path: "/api/v1/devicemethod/plant/fan/readOnly/{propertyName}/{data}", Parameters: []mfParameter{{"temperature", "float"}}},
	}
	if got := fmt.Sprint(methods.Data.Methods); got != fmt.Sprint(want) {
		t.Errorf("methods = %s, want %s", got, fmt.Sprint(want))
	}

	var wrote mfPingResponse
	if err := c.get("/api/v1/devicemethod/plant/fan/setSpeed/speed/80", &wrote); err != nil {
		t.Fatal(err)
	}
	checkBase(t, wrote.MFBaseResponse)
	if wrote.Message != "Write data 80 to device plant/fan successfully." {
		t.Errorf("write message %q", wrote.Message)
	}
	if p, _ := m.Property("plant", "fan", "speed"); p.Desired != "80" {
		t.Errorf("desired after the method call = %q, want 80", p.Desired)
	}
	await.Until(t, "speed 80 read back", func() bool {
		return c.get("/api/v1/device/plant/fan/speed", &read) == nil && read.Data.Value == "80"
	})

	var model mfMetaGetModelResponse
	if err := c.get("/api/v1/meta/model/plant/fan", &model); err != nil {
		t.Fatal(err)
	}
	checkBase(t, model.MFBaseResponse)
	wantModel := MFDeviceModel{ID: "plant/fan-model", Name: "fan-model", Namespace: "plant", Properties: []mfModelProperty{
		{Name: "speed", DataType: "INT", Description: "fan speed", AccessMode: "ReadWrite", Minimum: "0", Maximum: "200", Unit: "rpm"},
		{Name: "temperature", DataType: "FLOAT", AccessMode: "ReadOnly", Unit: "celsius"},
	}}
	if model.MFDeviceModel == nil || fmt.Sprint(*model.MFDeviceModel) != fmt.Sprint(wantModel) {
		t.Errorf("model = %+v, want %+v", model.MFDeviceModel, wantModel)
	}
}

// What mapper-framework refuses, tinymapper refuses, with the status that
// says why and {"error": ...}.
func TestMapperFrameworkCallsThatFail(t *testing.T) {
	m := fanManager(t)
	h := data.Handler(m, nil, nil)
	tests := []struct {
		name, path string
		code       int
		says       string
	}{
		{"unknown device", "/api/v1/device/plant/nope/speed", http.StatusNotFound, "plant/nope/speed"},
		{"unknown property", "/api/v1/device/plant/fan/nope", http.StatusNotFound, "plant/fan/nope"},
		{"methods of an unknown device", "/api/v1/devicemethod/plant/nope", http.StatusNotFound, "plant/nope"},
		{"unknown method", "/api/v1/devicemethod/plant/fan/nope/speed/1", http.StatusNotFound, "deviceMethod name nope"},
		{"a property the method does not list", "/api/v1/devicemethod/plant/fan/setSpeed/temperature/1", http.StatusBadRequest, "not in the list"},
		{"a value the model refuses", "/api/v1/devicemethod/plant/fan/setSpeed/speed/300", http.StatusBadRequest, "300"},
		{"a value the device refuses", "/api/v1/devicemethod/plant/fan/setSpeed/speed/150", http.StatusBadGateway, "exception 03"},
		{"a read-only property", "/api/v1/devicemethod/plant/fan/readOnly/temperature/1", http.StatusBadRequest, "temperature"},
		{"model of an unknown device", "/api/v1/meta/model/plant/nope", http.StatusNotFound, "plant/nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ctype, body := do(t, h, "GET", tt.path, "")
			if code != tt.code || ctype != "application/json" || !strings.Contains(body, tt.says) {
				t.Errorf("status %d (%s), %s; want %d saying %q", code, ctype, body, tt.code, tt.says)
			}
			if m := fields(t, body); m["error"] == nil {
				t.Errorf("%s has no error field", body)
			}
		})
	}
}

// The path both APIs have answers mapper-framework's shape by default and
// tinymapper's own with ?format=tinymapper or ?history=N.
func TestTheSharedPathAnswersBothShapes(t *testing.T) {
	h := data.Handler(newFake(), nil, nil)
	tests := []struct {
		query string
		has   string // a top-level key only that shape has
	}{
		{"", "Data"},
		{"?format=tinymapper", "writable"},
		{"?history=2", "history"},
		{"?format=other", "Data"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			code, _, body := do(t, h, "GET", "/api/v1/device/default/room/temperature"+tt.query, "")
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			if fields(t, body)[tt.has] == nil {
				t.Errorf("%s has no %q", body, tt.has)
			}
		})
	}
}

func TestIsWrite(t *testing.T) {
	tests := []struct {
		method, path string
		want         bool
	}{
		{"GET", "/api/v1/device/default/room/temperature", false},
		{"PUT", "/api/v1/device/default/room/temperature", true},
		{"POST", "/api/v1/ping", true},
		{"GET", "/api/v1/devicemethod/default/room", false},
		{"GET", "/api/v1/devicemethod/default/room/set/speed/80", true},
		{"HEAD", "/api/v1/devicemethod/default/room/set/speed/80", true},
		{"GET", "/api/v1/meta/model/default/room", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		if got := data.IsWrite(r); got != tt.want {
			t.Errorf("IsWrite(%s %s) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
}

// Running a device method is a write, although a GET: it needs the token
// where a PUT needs it, also when reads are open.
func TestADeviceMethodCallNeedsTheTokenAPutNeeds(t *testing.T) {
	m := fanManager(t)
	const token = "0123456789abcdef0123456789abcdef"
	h := data.Auth{Token: token, OpenReads: true}.Wrap(data.Handler(m, nil, nil))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tests := []struct {
		name, method, path, auth string
		want                     int
	}{
		{"a read, no token", "GET", "/api/v1/device/plant/fan/speed", "", http.StatusOK},
		{"the method list, no token", "GET", "/api/v1/devicemethod/plant/fan", "", http.StatusOK},
		{"a method call, no token", "GET", "/api/v1/devicemethod/plant/fan/setSpeed/speed/60", "", http.StatusUnauthorized},
		{"a method call, wrong token", "GET", "/api/v1/devicemethod/plant/fan/setSpeed/speed/60", "Bearer nope", http.StatusUnauthorized},
		{"a PUT, no token", "PUT", "/api/v1/device/plant/fan/speed", "", http.StatusUnauthorized},
		{"a method call with the token", "GET", "/api/v1/devicemethod/plant/fan/setSpeed/speed/60", "Bearer " + token, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(`{"value":60}`))
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, bytes.TrimSpace(b), tt.want)
			}
		})
	}
	if p, _ := m.Property("plant", "fan", "speed"); p.Desired != "60" {
		t.Errorf("desired = %q after the call with the token, want 60", p.Desired)
	}
}

// A write over REST, by PUT or by a device method, is logged once at Info
// (by the manager, which logs every write whoever asked for it).
func TestAWriteIsLoggedOnce(t *testing.T) {
	for _, tt := range []struct{ name, method, path, body string }{
		{"PUT", "PUT", "/api/v1/device/plant/fan/speed", `{"value":70}`},
		{"device method", "GET", "/api/v1/devicemethod/plant/fan/setSpeed/speed/70", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			m := fanManagerWith(t, device.Options{Log: log})
			code, _, body := do(t, data.Handler(m, nil, log), tt.method, tt.path, tt.body)
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			if n := strings.Count(logs.String(), "desired value written"); n != 1 {
				t.Errorf("%d log lines about the write, want 1:\n%s", n, logs.String())
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the manager's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
