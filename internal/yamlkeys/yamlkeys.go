// Package yamlkeys finds the keys of a YAML document that the Go type it is
// decoded into does not have, and says so as a person would: "unknown key
// `colectCycle` at line 49; did you mean `collectCycle`?", where
// gopkg.in/yaml.v3's KnownFields prints the Go struct type.
//
// Check walks a yaml.Node beside a reflect.Type: a mapping against a struct
// (by its yaml tags, inline structs included), a sequence against a slice or
// array, a mapping against a map (any keys). It does not look inside values
// whose type decodes itself (yaml.Unmarshaler), nor inside yaml.Node, any,
// or free-form maps of any: those take any key.
package yamlkeys

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// UnknownKeyError is a key the type does not have.
type UnknownKeyError struct {
	Key  string
	Line int
	// Path is where the key is, such as "spec.properties[0]" ("" at the top).
	Path string
	// Suggest is the known key nearest to Key, "" when none is near.
	Suggest string
}

func (e *UnknownKeyError) Error() string {
	s := fmt.Sprintf("unknown key `%s` at line %d", e.Key, e.Line)
	if e.Path != "" {
		s += " (in " + e.Path + ")"
	}
	if e.Suggest != "" {
		s += "; did you mean `" + e.Suggest + "`?"
	}
	return s
}

var (
	nodeType        = reflect.TypeFor[yaml.Node]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// Check returns an *UnknownKeyError for the first key under n (in document
// order) that t, the type n is decoded into, does not have, or nil.
func Check(n *yaml.Node, t reflect.Type) error {
	return check(n, t, "")
}

func check(n *yaml.Node, t reflect.Type, path string) error {
	if n == nil {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nodeType || t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := check(c, t, path); err != nil {
				return err
			}
		}
	case yaml.AliasNode:
		return check(n.Alias, t, path)
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return nil // a type error, yaml's to report
		}
		for i, c := range n.Content {
			if err := check(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		switch t.Kind() {
		case reflect.Map:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if err := check(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
					return err
				}
			}
		case reflect.Struct:
			fields := map[string]reflect.Type{}
			var names []string
			collect(t, fields, &names)
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Value == "<<" {
					continue // a merge key: its mapping is checked where it is defined
				}
				ft, ok := fields[k.Value]
				if !ok {
					return &UnknownKeyError{Key: k.Value, Line: k.Line, Path: path, Suggest: Nearest(k.Value, names)}
				}
				if err := check(n.Content[i+1], ft, join(path, k.Value)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// collect adds the YAML keys of struct t, inline structs included.
func collect(t reflect.Type, fields map[string]reflect.Type, names *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collect(ft, fields, names)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default
		}
		fields[name] = f.Type
		*names = append(*names, name)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Nearest returns the candidate closest to s by edit distance, ignoring
// case, when it is near enough to be a typo of s (at most 2 edits, or 3 for
// words of 9 letters or more), else "".
func Nearest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	ls := strings.ToLower(s)
	for _, c := range candidates {
		if d := distance(ls, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) >= 9 {
		limit = 3
	}
	if bestD > limit || bestD >= len(s) {
		return ""
	}
	return best
}

// distance is the Levenshtein distance of a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
