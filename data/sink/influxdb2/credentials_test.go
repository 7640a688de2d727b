package influxdb2_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/influxdb2"
	"github.com/tinymapper/tinymapper/data/sink/secret"
	"github.com/tinymapper/tinymapper/data/sink/sinktest"
)

// TestTheTokenComesFromTheCredentialsFileElseTOKEN: the file
// push.credentials names for "influxdb2 scheme://host:port" wins over
// TOKEN; a missing file is an error naming push.credentials.
func TestTheTokenComesFromTheCredentialsFileElseTOKEN(t *testing.T) {
	var mu sync.Mutex
	var auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	push := "        dbMethod:\n          influxdb2:\n            influxdb2ClientConfig: {url: " + srv.URL + ", org: o, bucket: b}\n"
	for _, c := range []struct {
		name  string
		files map[string]string
		want  string // the Authorization header; "" with err
		err   string
	}{
		{"TOKEN", nil, "Token from-env", ""},
		{"the file", map[string]string{"influxdb2 " + srv.URL: file}, "Token from-file", ""},
		{"a missing file", map[string]string{"influxdb2 " + srv.URL: file + ".gone"}, "", `push.credentials["influxdb2 ` + srv.URL + `"]: open `},
	} {
		t.Run(c.name, func(t *testing.T) {
			mu.Lock()
			auths = nil
			mu.Unlock()
			k := influxdb2.Kind{Token: "from-env", Secrets: &secret.Store{Files: c.files}}
			_, sinks := sinktest.Run(t, sinktest.Thermometer(100*time.Millisecond, push), sink.Options{Poll: 50 * time.Millisecond}, k)
			if c.err != "" {
				var errs []string
				sinktest.WaitFor(t, 5*time.Second, "the error", func() bool { errs = sinks.PushErrors("plant", "thermo"); return len(errs) > 0 })
				if !strings.HasPrefix(errs[0], "spec.properties[temperature].pushMethod.dbMethod.influxdb2: ") || !strings.Contains(errs[0], c.err) {
					t.Errorf("PushErrors = %q, want the field and %q", errs, c.err)
				}
				return
			}
			sinktest.WaitFor(t, 5*time.Second, "a write", func() bool { mu.Lock(); defer mu.Unlock(); return len(auths) > 0 })
			mu.Lock()
			defer mu.Unlock()
			if auths[0] != c.want {
				t.Errorf("Authorization %q, want %q", auths[0], c.want)
			}
		})
	}
}
