package redis

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/secret"
	"github.com/tinymapper/tinymapper/data/sink/sinktest"
)

// TestACredentialsFileWinsOverPASSWORD: the file push.credentials names
// for the destination gives the password; a missing file is an error that
// names push.credentials and the destination, and no error carries the
// password.
func TestACredentialsFileWinsOverPASSWORD(t *testing.T) {
	srv := newServer(t)
	addr := fmt.Sprintf("127.0.0.1:%d", srv.port)
	dir := t.TempDir()
	good := filepath.Join(dir, "redis-password")
	if err := os.WriteFile(good, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, file, err string
	}{
		{"the file's password is used", good, ""},
		{"a missing file names the destination", filepath.Join(dir, "missing"), `push.credentials["redis ` + addr + `"]: open `},
	} {
		t.Run(c.name, func(t *testing.T) {
			push := fmt.Sprintf("        dbMethod:\n          redis:\n            redisClientConfig: {addr: %q, db: 2}\n", addr)
			k := Kind{Password: "wrong-from-env", Secrets: &secret.Store{Files: map[string]string{"redis " + addr: c.file}}}
			_, sinks := sinktest.Run(t, sinktest.Thermometer(100*time.Millisecond, push), sink.Options{Poll: 50 * time.Millisecond}, k)
			if c.err == "" {
				sinktest.WaitFor(t, 10*time.Second, "samples", func() bool { st, _ := sinktest.StatsOf(sinks, "redis "); return st.Sent >= 3 })
				return
			}
			var errs []string
			sinktest.WaitFor(t, 10*time.Second, "the error", func() bool { errs = sinks.PushErrors("plant", "thermo"); return len(errs) > 0 })
			if !strings.HasPrefix(errs[0], "spec.properties[temperature].pushMethod.dbMethod.redis: ") ||
				!strings.Contains(errs[0], c.err) || strings.Contains(errs[0], "s3cret") {
				t.Errorf("PushErrors = %q, want the field and %q", errs, c.err)
			}
		})
	}
}

// FuzzReply feeds the reply reader what a server (or something posing as
// one) may send: it returns, and never panics or recurses without bound.
func FuzzReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "-ERR x\r\n", ":1\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*2\r\n$1\r\na\r\n-ERR b\r\n", "*-1\r\n", "$2\r\nab", strings.Repeat("*1\r\n", 20) + ":1\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &client{r: bufio.NewReaderSize(strings.NewReader(string(b)), 64)}
		for range 100 {
			var re replyError
			if err := c.reply(); err != nil && !errors.As(err, &re) {
				return
			}
		}
	})
}

func TestARepliesNestedTooDeepAreRefused(t *testing.T) {
	c := &client{r: bufio.NewReader(strings.NewReader(strings.Repeat("*1\r\n", 20) + ":1\r\n"))}
	if err := c.reply(); err == nil || err.Error() != "reply nested too deep" {
		t.Errorf("err = %v", err)
	}
}
