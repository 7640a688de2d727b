// Package data is tinymapper's data plane: it serves the samples the bus
// workers put in the rings to applications, without going through EdgeCore.
// This file is the REST API; push sinks and metrics sit beside it.
package data

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// Source is what the REST API reads; *device.Manager implements it.
type Source interface {
	Devices() []device.DeviceView
	Device(namespace, name string) (device.DeviceView, bool)
	Property(namespace, name, property string) (device.PropertyView, bool)
	// SetDesiredContext sets a desired value and waits until it is written
	// or ctx ends (see device.Manager.SetDesiredContext for its errors).
	SetDesiredContext(ctx context.Context, namespace, name, property, value string) error
}

// MaxHistory caps ?history=N.
const MaxHistory = 4096

// MaxBody is the largest PUT body accepted; a larger one is refused with 413.
const MaxBody = 4096

// Handler returns the REST API:
//
//	GET /healthz                                  liveness
//	GET /readyz                                   readiness (ready() true)
//	GET /api/v1/devices                           every device and its state
//	GET /api/v1/device/{ns}/{name}                one device, latest value of each property
//	GET /api/v1/device/{ns}/{name}/{property}     latest sample; ?history=N adds the last N
//	PUT /api/v1/device/{ns}/{name}/{property}     set the desired value: {"value":"42"}; waits for the write
//	GET /metrics                                  Prometheus text (when src is a StatsSource)
func Handler(src Source, ready func() bool, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &api{src: src, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready != nil && !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /api/v1/devices", h.devices)
	mux.HandleFunc("GET /api/v1/device/{ns}/{name}", h.device)
	mux.HandleFunc("GET /api/v1/device/{ns}/{name}/{property}", registerCompat(mux, h, h.property)) // compat.go
	mux.HandleFunc("PUT /api/v1/device/{ns}/{name}/{property}", h.setDesired)
	if ss, ok := src.(StatsSource); ok {
		mux.Handle("GET /metrics", Metrics(ss))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

type api struct {
	src Source
	log *slog.Logger
}

// Sample is one sample as the API shows it.
type Sample struct {
	Value     any       `json:"value"`
	Timestamp time.Time `json:"timestamp"`
	Error     bool      `json:"error,omitempty"`
}

// Property is the JSON of one property.
type Property struct {
	Namespace string     `json:"namespace"`
	Device    string     `json:"device"`
	Property  string     `json:"property"`
	Type      string     `json:"type"`
	Unit      string     `json:"unit,omitempty"`
	Value     any        `json:"value"`
	Timestamp *time.Time `json:"timestamp,omitempty"`
	Desired   string     `json:"desired,omitempty"`
	Writable  bool       `json:"writable"`
	Error     string     `json:"error,omitempty"`
	// WriteError is why the latest desired write failed, until one succeeds.
	WriteError string     `json:"writeError,omitempty"`
	WriteTime  *time.Time `json:"writeTime,omitempty"`
	History    []Sample   `json:"history,omitempty"`
}

// Device is the JSON of one device.
type Device struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Model     string `json:"model"`
	Protocol  string `json:"protocol"`
	State     string `json:"state"`
	Error     string `json:"error,omitempty"`
	// PushErrors are what is wrong with the device's pushMethods, each
	// naming its field (when the source is a PushReporter).
	PushErrors []string   `json:"pushErrors,omitempty"`
	Properties []Property `json:"properties,omitempty"`
}

// PushReporter is what the device views also show when the source has it
// (*sink.Sinks implements it).
type PushReporter interface {
	PushErrors(namespace, name string) []string
}

// pushErrors returns the device's pushMethod errors, if src reports them.
func (h *api) pushErrors(ns, name string) []string {
	if pr, ok := h.src.(PushReporter); ok {
		return pr.PushErrors(ns, name)
	}
	return nil
}

func (h *api) devices(w http.ResponseWriter, r *http.Request) {
	views := h.src.Devices()
	out := make([]Device, 0, len(views))
	for _, v := range views {
		d := deviceJSON(v)
		d.Properties = nil
		d.PushErrors = h.pushErrors(v.Namespace, v.Name)
		out = append(out, d)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *api) device(w http.ResponseWriter, r *http.Request) {
	v, ok := h.src.Device(r.PathValue("ns"), r.PathValue("name"))
	if !ok {
		writeError(w, http.StatusNotFound, "device "+r.PathValue("ns")+"/"+r.PathValue("name")+" not found")
		return
	}
	d := deviceJSON(v)
	d.PushErrors = h.pushErrors(v.Namespace, v.Name)
	writeJSON(w, http.StatusOK, d)
}

func deviceJSON(v device.DeviceView) Device {
	d := Device{Namespace: v.Namespace, Name: v.Name, Model: v.Model, Protocol: v.Protocol, State: v.State, Error: v.Error}
	for _, p := range v.Properties {
		d.Properties = append(d.Properties, propertyJSON(v.Namespace, v.Name, p))
	}
	return d
}

func propertyJSON(ns, name string, p device.PropertyView) Property {
	out := Property{Namespace: ns, Device: name, Property: p.Name, Type: p.Type, Unit: p.Unit,
		Desired: p.Desired, Writable: p.Writable, Error: p.LastError, WriteError: p.WriteError}
	if !p.WriteTime.IsZero() {
		t := p.WriteTime.UTC()
		out.WriteTime = &t
	}
	var s ringbuf.Sample
	if p.Ring.Latest(&s) {
		if s.Err == 0 {
			out.Value = typed(p.Type, s.Value)
			if out.Error == "" {
				out.Error = notANumber(s.Value)
			}
		}
		t := time.Unix(0, s.Time).UTC()
		out.Timestamp = &t
	}
	return out
}

// notANumber says why a value read shows as null: NaN or ±Inf, which JSON
// and EdgeCore's twins cannot carry. "" for any other value.
func notANumber(v float64) string {
	switch {
	case math.IsNaN(v):
		return "the value read is NaN (not a number; an erased float32 cell reads ff ff ff ff): shown as null and not reported to EdgeCore"
	case math.IsInf(v, 0):
		return "the value read is infinite (" + strconv.FormatFloat(v, 'f', -1, 64) + "): shown as null and not reported to EdgeCore"
	}
	return ""
}

func (h *api) property(w http.ResponseWriter, r *http.Request) {
	ns, name, prop := r.PathValue("ns"), r.PathValue("name"), r.PathValue("property")
	p, ok := h.src.Property(ns, name, prop)
	if !ok {
		writeError(w, http.StatusNotFound, "property "+ns+"/"+name+"/"+prop+" not found")
		return
	}
	out := propertyJSON(ns, name, p)
	if q := r.URL.Query().Get("history"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "history: "+strconv.Quote(q)+" is not a non-negative integer")
			return
		}
		n = min(n, MaxHistory, p.Ring.Cap())
		buf := make([]ringbuf.Sample, n)
		buf = buf[:p.Ring.Last(buf)]
		out.History = make([]Sample, 0, len(buf))
		for _, s := range buf {
			hs := Sample{Timestamp: time.Unix(0, s.Time).UTC(), Error: s.Err != 0}
			if s.Err == 0 {
				hs.Value = typed(p.Type, s.Value)
			}
			out.History = append(out.History, hs)
		}
	}
	if out.Timestamp == nil {
		writeJSON(w, http.StatusServiceUnavailable, out)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *api) setDesired(w http.ResponseWriter, r *http.Request) {
	ns, name, prop := r.PathValue("ns"), r.PathValue("name"), r.PathValue("property")
	var body struct {
		Value json.RawMessage `json:"value"`
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, "body: larger than "+strconv.Itoa(MaxBody)+" bytes")
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&body); err != nil || len(body.Value) == 0 {
		writeError(w, http.StatusBadRequest, `body: want {"value": ...}`)
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, `body: data after {"value": ...}`)
		return
	}
	value := string(body.Value)
	var s string
	if json.Unmarshal(body.Value, &s) == nil {
		value = s
	}
	ctx, cancel := context.WithTimeout(r.Context(), device.WriteWait)
	defer cancel()
	err = h.src.SetDesiredContext(ctx, ns, name, prop, value)
	var fe *bus.FieldError
	var we *device.WriteError
	switch {
	case err == nil:
		// The manager logs every write once, at Info, whoever asked for it.
		h.log.Debug("desired value written over REST", "device", ns+"/"+name, "property", prop, "value", value)
		writeJSON(w, http.StatusOK, map[string]string{"desired": value})
	case errors.Is(err, device.ErrNotRunning):
		writeJSON(w, http.StatusAccepted, map[string]string{"desired": value, "pending": err.Error()})
	case errors.Is(err, device.ErrNotFound):
		writeError(w, http.StatusNotFound, "property "+ns+"/"+name+"/"+prop+" not found")
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.As(err, &we):
		writeError(w, http.StatusBadGateway, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

// typed turns a sample into the JSON value of its model type.
func typed(typ string, v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	if strings.ToUpper(typ) == device.TypeBoolean {
		return v != 0
	}
	// The twin's own formatting: integers rounded, FLOAT at float32 precision.
	s, ok := device.FormatValue(strings.ToUpper(typ), v)
	if !ok {
		return nil
	}
	return json.Number(s)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
