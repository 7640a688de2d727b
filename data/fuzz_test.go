package data_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tinymapper/tinymapper/data"
)

// FuzzRequestFromOutside sends a fuzzed PUT body and Authorization header
// through Auth and the REST handler, as a client on the network would. It
// never answers 5xx; a write goes through only with the token, and only
// when the body is one JSON object with a value, white space around it.
// Seeds: testdata/fuzz/FuzzRequestFromOutside.
func FuzzRequestFromOutside(f *testing.F) {
	f.Add(`{"value":"42"}`, "Bearer "+testToken)
	f.Fuzz(func(t *testing.T, body, authorization string) {
		src := newFake()
		h := data.Auth{Token: testToken, OpenReads: true, OpenProbes: true}.Wrap(data.Handler(src, nil, nil))
		r := httptest.NewRequest("PUT", "/api/v1/device/default/room/setpoint", strings.NewReader(body))
		r.Header.Set("Authorization", authorization)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%d for body %q: %s", w.Code, body, w.Body)
		}
		if w.Code != http.StatusOK {
			return
		}
		scheme, token, _ := strings.Cut(authorization, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) != testToken {
			t.Fatalf("written with Authorization %q", authorization)
		}
		var one struct {
			Value json.RawMessage `json:"value"`
		}
		dec := json.NewDecoder(strings.NewReader(body))
		if err := dec.Decode(&one); err != nil || len(one.Value) == 0 || dec.More() || len(body) > data.MaxBody {
			t.Fatalf("accepted the body %q", body)
		}
	})
}
