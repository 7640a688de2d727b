package data

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// This file is mapper-framework's REST API (KubeEdge's
// staging/src/github.com/kubeedge/mapper-framework/pkg/httpserver), served
// beside tinymapper's own so that an application written for a
// mapper-framework mapper works unchanged:
//
//	GET /api/v1/ping
//	GET /api/v1/device/{ns}/{name}/{property}                          (compatProperty)
//	GET /api/v1/devicemethod/{ns}/{name}
//	GET /api/v1/devicemethod/{ns}/{name}/{method}/{property}/{data}
//	GET /api/v1/meta/model/{ns}/{name}
//
// The responses have mapper-framework's JSON shape: apiVersion, statusCode
// and timeStamp, then Message, Data or the model, with its Go field names as
// keys (it sets no JSON tags on them). Where mapper-framework answers every
// failure with 500 and a line of text, tinymapper answers as its own API
// does, {"error": "..."} with the status that says what went wrong (404
// unknown, 400 refused value, 503 no sample yet, ...).

// CompatAPIVersion is the apiVersion of mapper-framework's responses.
const CompatAPIVersion = "v1"

// FormatParam selects tinymapper's own answer on the one path both APIs
// have: GET /api/v1/device/{ns}/{name}/{property}?format=tinymapper.
const FormatParam = "format"

// compatBase is what every mapper-framework response starts with.
type compatBase struct {
	APIVersion string `json:"apiVersion"`
	StatusCode int    `json:"statusCode"`
	TimeStamp  string `json:"timeStamp"` // RFC 3339, the server's clock
}

func newCompatBase(code int) compatBase {
	return compatBase{APIVersion: CompatAPIVersion, StatusCode: code, TimeStamp: time.Now().Format(time.RFC3339)}
}

// CompatMessage is mapper-framework's PingResponse and DeviceWriteResponse.
type CompatMessage struct {
	compatBase
	Message string
}

// CompatData is mapper-framework's common.DataModel: one property's value.
type CompatData struct {
	DeviceName   string
	PropertyName string
	Namespace    string
	Value        string // formatted as the twin is
	Type         string // the model's type, as KubeEdge spells it (FLOAT, ...)
	TimeStamp    int64  // the sample's time, unix milliseconds
}

// CompatRead is mapper-framework's DeviceReadResponse.
type CompatRead struct {
	compatBase
	Data *CompatData
}

// CompatMethods is mapper-framework's common.DataMethod.
type CompatMethods struct {
	Methods []CompatMethod
}

// CompatMethod is mapper-framework's common.Method.
type CompatMethod struct {
	Name       string
	Path       string
	Parameters []CompatParameter
}

// CompatParameter is mapper-framework's common.Parameter.
type CompatParameter struct {
	PropertyName string
	ValueType    string // the property's type in lower case
}

// CompatMethodRead is mapper-framework's DeviceMethodReadResponse.
type CompatMethodRead struct {
	compatBase
	Data *CompatMethods
}

// CompatModel is mapper-framework's common.DeviceModel, inlined in its
// MetaGetModelResponse.
type CompatModel struct {
	ID          string                `json:"id,omitempty"`
	Name        string                `json:"name,omitempty"`
	Namespace   string                `json:"namespace,omitempty"`
	Description string                `json:"description,omitempty"`
	Properties  []CompatModelProperty `json:"properties,omitempty"`
}

// CompatModelProperty is mapper-framework's common.ModelProperty.
type CompatModelProperty struct {
	Name        string `json:"name,omitempty"`
	DataType    string `json:"dataType,omitempty"`
	Description string `json:"description,omitempty"`
	AccessMode  string `json:"accessMode,omitempty"`
	Minimum     string `json:"minimum,omitempty"`
	Maximum     string `json:"maximum,omitempty"`
	Unit        string `json:"unit,omitempty"`
}

// CompatModelRead is mapper-framework's MetaGetModelResponse.
type CompatModelRead struct {
	compatBase
	*CompatModel
}

// compatMethodBase is the prefix of a device method's write path.
const compatMethodBase = "/api/v1/devicemethod/"

// IsWrite reports whether r changes a device: every method but GET and
// HEAD, and mapper-framework's method call, which is a GET. Whatever guards
// writes must guard what IsWrite says is one.
func IsWrite(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return true
	}
	rest, ok := strings.CutPrefix(r.URL.Path, compatMethodBase)
	return ok && strings.Count(strings.Trim(rest, "/"), "/") >= 4
}

// registerCompat adds mapper-framework's routes to mux, and returns the
// handler of the path both APIs share: mapper-framework's answer, or
// tinymapper's own (own) with ?format=tinymapper or ?history=N.
func registerCompat(mux *http.ServeMux, h *api, own http.HandlerFunc) http.HandlerFunc {
	c := &compat{api: h, mux: mux}
	mux.HandleFunc("GET /api/v1/ping", c.ping)
	mux.HandleFunc("GET /api/v1/devicemethod/{ns}/{name}", c.methods)
	mux.HandleFunc("GET /api/v1/devicemethod/{ns}/{name}/{method}/{property}/{data}", c.call)
	mux.HandleFunc("GET /api/v1/meta/model/{ns}/{name}", c.model)
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get(FormatParam) == "tinymapper" || q.Has("history") {
			own(w, r)
			return
		}
		c.property(w, r)
	}
}

type compat struct {
	*api
	mux *http.ServeMux
}

// send writes v as mapper-framework does: JSON, the correlation ID echoed.
func (c *compat) send(w http.ResponseWriter, r *http.Request, code int, v any) {
	if id := r.Header.Get("X-Correlation-ID"); id != "" {
		w.Header().Set("X-Correlation-ID", id)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (c *compat) ping(w http.ResponseWriter, r *http.Request) {
	c.send(w, r, http.StatusOK, CompatMessage{newCompatBase(http.StatusOK),
		"This is " + CompatAPIVersion + " API, the server is running normally."})
}

func (c *compat) property(w http.ResponseWriter, r *http.Request) {
	ns, name, prop := r.PathValue("ns"), r.PathValue("name"), r.PathValue("property")
	p, ok := c.src.Property(ns, name, prop)
	if !ok {
		writeError(w, http.StatusNotFound, "Get device data error: property "+ns+"/"+name+"/"+prop+" not found")
		return
	}
	var s ringbuf.Sample
	if !p.Ring.Latest(&s) {
		writeError(w, http.StatusServiceUnavailable, "Get device data error: no sample yet")
		return
	}
	if s.Err != 0 {
		writeError(w, http.StatusBadGateway, "Get device data error: "+p.LastError)
		return
	}
	value, ok := device.FormatValue(p.Type, s.Value)
	if !ok {
		writeError(w, http.StatusBadGateway, "Get device data error: the sample has no value of type "+p.Type)
		return
	}
	c.send(w, r, http.StatusOK, CompatRead{newCompatBase(http.StatusOK), &CompatData{
		DeviceName: name, PropertyName: prop, Namespace: ns,
		Value: value, Type: p.Type, TimeStamp: s.Time / int64(time.Millisecond),
	}})
}

func (c *compat) methods(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	v, ok := c.src.Device(ns, name)
	if !ok {
		writeError(w, http.StatusNotFound, "Get device method error: device "+ns+"/"+name+" not found")
		return
	}
	out := &CompatMethods{Methods: make([]CompatMethod, 0, len(v.Methods))}
	for _, m := range v.Methods {
		cm := CompatMethod{Name: m.Name, Path: compatMethodBase + ns + "/" + name + "/" + m.Name + "/{propertyName}/{data}",
			Parameters: make([]CompatParameter, 0, len(m.PropertyNames))}
		for _, pn := range m.PropertyNames {
			i := slices.IndexFunc(v.Properties, func(p device.PropertyView) bool { return p.Name == pn })
			if i < 0 {
				writeError(w, http.StatusInternalServerError, "Get device method error: unable to find device property "+pn+" defined in device method "+m.Name)
				return
			}
			cm.Parameters = append(cm.Parameters, CompatParameter{PropertyName: pn, ValueType: strings.ToLower(v.Properties[i].Type)})
		}
		out.Methods = append(out.Methods, cm)
	}
	c.send(w, r, http.StatusOK, CompatMethodRead{newCompatBase(http.StatusOK), out})
}

// call runs a device method: it writes data to one property the method
// lists, as PUT /api/v1/device/{ns}/{name}/{property} does, through the same
// handler, so it waits for the write and logs it the same way.
func (c *compat) call(w http.ResponseWriter, r *http.Request) {
	ns, name, method, prop, data := r.PathValue("ns"), r.PathValue("name"), r.PathValue("method"), r.PathValue("property"), r.PathValue("data")
	v, ok := c.src.Device(ns, name)
	if !ok {
		writeError(w, http.StatusNotFound, "Write device data error: device "+ns+"/"+name+" not found")
		return
	}
	i := slices.IndexFunc(v.Methods, func(m device.Method) bool { return m.Name == method })
	if i < 0 {
		writeError(w, http.StatusNotFound, "Write device data error: deviceMethod name "+method+" does not exist in device instance")
		return
	}
	if !slices.Contains(v.Methods[i].PropertyNames, prop) {
		writeError(w, http.StatusBadRequest, "Write device data error: deviceProperty "+prop+" to be written is not in the list defined by devicemethod")
		return
	}
	body, _ := json.Marshal(map[string]string{"value": data})
	put, err := http.NewRequestWithContext(r.Context(), http.MethodPut, "/api/v1/device/"+ns+"/"+name+"/"+prop, bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Write device data error: "+err.Error())
		return
	}
	put.Header = r.Header.Clone()
	put.RemoteAddr = r.RemoteAddr
	rec := new(recorder)
	c.mux.ServeHTTP(rec, put)
	if rec.code == http.StatusAccepted { // the device is not running: written when it is
		c.send(w, r, http.StatusAccepted, CompatMessage{newCompatBase(http.StatusAccepted),
			fmt.Sprintf("Data %s for device %s is kept and written when the device runs.", data, ns+"/"+name)})
		return
	}
	if rec.code != http.StatusOK {
		var e struct {
			Error, Pending string
		}
		json.Unmarshal(rec.body.Bytes(), &e)
		msg := e.Error
		if msg == "" {
			msg = e.Pending
		}
		writeError(w, rec.code, "Write device data error: "+msg)
		return
	}
	c.send(w, r, http.StatusOK, CompatMessage{newCompatBase(http.StatusOK),
		fmt.Sprintf("Write data %s to device %s successfully.", data, ns+"/"+name)})
}

func (c *compat) model(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	v, ok := c.src.Device(ns, name)
	if !ok {
		writeError(w, http.StatusNotFound, "Get device error: device "+ns+"/"+name+" not found")
		return
	}
	m := v.ModelSpec
	if m == nil {
		writeError(w, http.StatusNotFound, "Get device model error: deviceModel "+ns+"/"+v.Model+" not found")
		return
	}
	out := &CompatModel{ID: m.Namespace + "/" + m.Name, Name: m.Name, Namespace: m.Namespace}
	for _, p := range m.Properties {
		out.Properties = append(out.Properties, CompatModelProperty{Name: p.Name, DataType: p.Type, Description: p.Description,
			AccessMode: p.AccessMode, Minimum: p.Minimum, Maximum: p.Maximum, Unit: p.Unit})
	}
	c.send(w, r, http.StatusOK, CompatModelRead{newCompatBase(http.StatusOK), out})
}

// recorder keeps the status and body of an answer given to another handler.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header {
	if r.header == nil {
		r.header = http.Header{}
	}
	return r.header
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if r.body.Len()+len(b) > MaxBody {
		return 0, errors.New("answer too long")
	}
	return r.body.Write(b)
}
