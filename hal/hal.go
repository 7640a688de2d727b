package hal

import (
	"fmt"
	"io"
	"sync"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
)

// shared is a registry of reference-counted open handles keyed by name.
type shared[T io.Closer] struct {
	mu   sync.Mutex
	open map[string]*entry[T]
}

type entry[T io.Closer] struct {
	v    T
	refs int
}

func (s *shared[T]) get(name string, canon func(string) string, open func(string) (T, error)) (T, func() error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open == nil {
		s.open = map[string]*entry[T]{}
	}
	key := canon(name)
	e, ok := s.open[key]
	if !ok {
		v, err := open(name)
		if err != nil {
			var zero T
			return zero, nil, err
		}
		e = &entry[T]{v: v}
		s.open[key] = e
	}
	e.refs++
	var once sync.Once
	release := func() error {
		var err error
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			e.refs--
			if e.refs == 0 {
				delete(s.open, key)
				err = e.v.Close()
			}
		})
		return err
	}
	return e.v, release, nil
}

var i2cBuses shared[i2c.BusCloser]

// I2C is a shared handle on an I²C bus. It implements i2c.Bus; Close releases
// this handle.
type I2C struct {
	i2c.Bus
	name    string
	release func() error
}

// Name returns the name the bus was opened by.
func (b *I2C) Name() string { return b.name }

// Close releases this handle; the bus closes when its last handle does.
func (b *I2C) Close() error { return b.release() }

// OpenI2C opens the I²C bus called name ("1", "I2C1", "/dev/i2c-1"; "" for the
// first bus). Every name of one bus shares one open handle.
func OpenI2C(name string) (*I2C, error) {
	bus, release, err := i2cBuses.get(name, canonicalI2C, func(n string) (i2c.BusCloser, error) {
		b, err := i2creg.Open(n)
		if err != nil {
			return openUnregisteredI2C(n, err)
		}
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return &I2C{Bus: bus, name: name, release: release}, nil
}

// canonicalI2C maps any alias of a registered bus to its registered name, so
// "1" and "/dev/i2c-1" share a handle.
func canonicalI2C(name string) string {
	for _, r := range i2creg.All() {
		if r.Name == name || (name != "" && fmt.Sprint(r.Number) == name) {
			return r.Name
		}
		for _, a := range r.Aliases {
			if a == name {
				return r.Name
			}
		}
	}
	return name
}
