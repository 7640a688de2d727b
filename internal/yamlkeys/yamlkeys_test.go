package yamlkeys_test

import (
	"errors"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tinymapper/tinymapper/internal/yamlkeys"
)

type free map[string]any

func (f *free) UnmarshalYAML(n *yaml.Node) error { return nil }

type doc struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Properties []struct {
			Name         string `yaml:"name"`
			CollectCycle int64  `yaml:"collectCycle"`
			ConfigData   free   `yaml:"configData"`
			Raw          any    `yaml:"raw"`
		} `yaml:"properties"`
		Labels map[string]struct {
			Value string `yaml:"value"`
		} `yaml:"labels"`
		Extra *struct {
			Inline `yaml:",inline"`
		} `yaml:"extra"`
	} `yaml:"spec"`
	Status yaml.Node `yaml:"status"`
	Plain  string
}

type Inline struct {
	HTTPAddress string `yaml:"http_address"`
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" for no error
	}{
		{"every key known", "kind: Device\nspec:\n  properties:\n    - name: t\n      collectCycle: 5\n", ""},
		{"a typo, with the line and the key it means", "kind: Device\nspec:\n  properties:\n    - name: t\n      colectCycle: 5\n",
			"unknown key `colectCycle` at line 5 (in spec.properties[0]); did you mean `collectCycle`?"},
		{"case only", "Kind: Device\n", "unknown key `Kind` at line 1; did you mean `kind`?"},
		{"nothing near", "spec:\n  wholly: 1\n", "unknown key `wholly` at line 2 (in spec)"},
		{"free-form values take any key", "spec:\n  properties:\n    - configData: {anything: 1}\n      raw: {x: {y: 2}}\nstatus: {whatever: 1}\n", ""},
		{"map values are checked", "spec:\n  labels:\n    a: {valeu: 1}\n",
			"unknown key `valeu` at line 3 (in spec.labels.a); did you mean `value`?"},
		{"inline structs give their keys", "spec:\n  extra:\n    http_adress: x\n",
			"unknown key `http_adress` at line 3 (in spec.extra); did you mean `http_address`?"},
		{"an untagged field is its lower-case name", "plain: x\n", ""},
		{"a type mismatch is left to yaml", "spec: [1, 2]\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(tt.in), &n); err != nil {
				t.Fatal(err)
			}
			err := yamlkeys.Check(&n, reflect.TypeFor[doc]())
			got := ""
			if err != nil {
				got = err.Error()
				var uk *yamlkeys.UnknownKeyError
				if !errors.As(err, &uk) {
					t.Errorf("%T is not an *UnknownKeyError", err)
				}
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestNearest(t *testing.T) {
	keys := []string{"collectCycle", "reportCycle", "reportToCloud", "name", "http_address", "board"}
	tests := []struct{ in, want string }{
		{"colectCycle", "collectCycle"},
		{"reportcycle", "reportCycle"},
		{"reportToClod", "reportToCloud"},
		{"nmae", "name"},
		{"http_adress", "http_address"},
		{"bord", "board"},
		{"x", ""},
		{"frobnicate", ""},
	}
	for _, tt := range tests {
		if got := yamlkeys.Nearest(tt.in, keys); got != tt.want {
			t.Errorf("Nearest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Check never panics, whatever the document.
func FuzzCheck(f *testing.F) {
	f.Add("kind: Device\nspec:\n  properties:\n    - name: t\n      colectCycle: 5\n")
	f.Add("a: &x {b: 1}\nspec: *x\n<<: *x\n")
	f.Add("spec:\n  labels:\n    a: [1, {value: 2}]\n")
	f.Fuzz(func(t *testing.T, in string) {
		var n yaml.Node
		if yaml.Unmarshal([]byte(in), &n) != nil {
			return
		}
		yamlkeys.Check(&n, reflect.TypeFor[doc]())
	})
}
