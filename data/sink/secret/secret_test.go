package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := &Store{
		Files: map[string]string{
			"redis a:1":    file("a", "s3cret\n"),
			"redis b:1":    file("b", "other\r\n"),
			"redis big:1":  file("big", strings.Repeat("x", MaxSize+1)),
			"redis gone:1": filepath.Join(dir, "missing"),
		},
		Getenv: func(k string) string { return map[string]string{"PASSWORD": "fromenv"}[k] },
	}
	for _, c := range []struct {
		dest, env, want, err string
	}{
		{"redis a:1", "PASSWORD", "s3cret", ""},
		{"redis b:1", "PASSWORD", "other", ""},
		{"redis c:1", "PASSWORD", "fromenv", ""},
		{"redis c:1", "TOKEN", "", ""},
		{"redis big:1", "PASSWORD", "", `push.credentials["redis big:1"]: `},
		{"redis gone:1", "PASSWORD", "", `push.credentials["redis gone:1"]: open `},
	} {
		got, err := s.Get(c.dest, c.env)
		if c.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), c.err) {
				t.Errorf("Get(%q) error %v, want prefix %q", c.dest, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Get(%q, %q) = %q, %v; want %q", c.dest, c.env, got, err, c.want)
		}
	}
	if got, _ := (*Store)(nil).Get("x", "TINYMAPPER_SURELY_UNSET"); got != "" {
		t.Errorf("nil store: %q", got)
	}
}

func TestOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"http://h:8086":                  "http://h:8086",
		"http://h:8086/api/v2/write?x=1": "http://h:8086",
		"https://h/v1/metrics":           "https://h:443",
		"http://[::1]/":                  "http://[::1]:80",
		"h:1":                            "",
	} {
		if got := Origin(in); got != want {
			t.Errorf("Origin(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse: a file's secret is its content less one trailing line ending,
// never more.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"pw\n", "pw\r\n", "pw", "", "\n", "a\n\n", "tab\t\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := Parse(b)
		if !strings.HasPrefix(string(b), got) || len(b)-len(got) > 2 {
			t.Errorf("Parse(%q) = %q", b, got)
		}
	})
}
