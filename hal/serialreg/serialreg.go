// Package serialreg is the registry of serial port names, as periph's i2creg
// is for I²C buses: a board says here what a name means (the sim board: that
// /dev/ttyUSB0 is the pseudo-terminal its Modbus slaves listen on), and
// hal.OpenSerial looks names up here. It imports nothing of tinymapper's, so
// boards and hal can both use it.
package serialreg

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Ref is one registered port.
type Ref struct {
	// Name is the port's canonical name.
	Name    string
	Aliases []string
	// Path is the device that opens it, such as /dev/pts/3.
	Path string
}

var reg struct {
	mu    sync.Mutex
	ports map[string]Ref    // by name
	names map[string]string // name or alias -> name
}

// Register makes name and each of aliases open the serial device at path.
// It fails when name or an alias is already registered.
func Register(name string, aliases []string, path string) error {
	if name == "" || path == "" {
		return errors.New("serialreg: name and path are required")
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.ports == nil {
		reg.ports, reg.names = map[string]Ref{}, map[string]string{}
	}
	all := append([]string{name}, aliases...)
	for _, n := range all {
		if owner, ok := reg.names[n]; ok {
			return fmt.Errorf("serialreg: register %q: %q is already a name of %q", name, n, owner)
		}
	}
	reg.ports[name] = Ref{Name: name, Aliases: append([]string(nil), aliases...), Path: path}
	for _, n := range all {
		reg.names[n] = name
	}
	return nil
}

// Unregister forgets the port registered as name, and its aliases.
func Unregister(name string) error {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	r, ok := reg.ports[name]
	if !ok {
		return fmt.Errorf("serialreg: unregister %q: not registered", name)
	}
	delete(reg.ports, name)
	delete(reg.names, name)
	for _, a := range r.Aliases {
		delete(reg.names, a)
	}
	return nil
}

// Lookup returns the port that name or an alias names.
func Lookup(name string) (Ref, bool) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	r, ok := reg.ports[reg.names[name]]
	return r, ok
}

// All returns every registered port, sorted by name.
func All() []Ref {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	out := make([]Ref, 0, len(reg.ports))
	for _, r := range reg.ports {
		r.Aliases = append([]string(nil), r.Aliases...)
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
