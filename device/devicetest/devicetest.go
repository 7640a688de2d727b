// Package devicetest helps tests that run drivers the way the mapper does,
// through a device.Manager: it runs a manager until the test ends, deploys
// an example CRD file into it, and waits for samples. Bus-level fakes live
// in bus/bustest; waiting for a condition is internal/await.
package devicetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/crd"
	"github.com/tinymapper/tinymapper/internal/await"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// RunManager runs a device manager with drivers until the test ends; the
// test fails if Run does.
func RunManager(t testing.TB, drivers ...bus.Driver) *device.Manager {
	t.Helper()
	return RunManagerWith(t, device.Options{History: 64}, drivers...)
}

// RunManagerWith is RunManager with options.
func RunManagerWith(t testing.TB, opts device.Options, drivers ...bus.Driver) *device.Manager {
	t.Helper()
	m := device.NewManager(opts, drivers...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Manager.Run: %v", err)
		}
	})
	return m
}

// Latest returns the newest sample of a property of a device in "default".
func Latest(m *device.Manager, dev, prop string) (ringbuf.Sample, bool) {
	var s ringbuf.Sample
	p, ok := m.Property("default", dev, prop)
	if !ok {
		return s, false
	}
	return s, p.Ring.Latest(&s)
}

// LatestValue waits until a property of a device in "default" has a good
// sample for which ok holds, and returns it.
func LatestValue(t testing.TB, m *device.Manager, dev, prop string, ok func(float64) bool) float64 {
	t.Helper()
	var s ringbuf.Sample
	var pv device.PropertyView
	var found bool
	more := func() string { return fmt.Sprintf("found %v, latest %+v, last error %q", found, s, pv.LastError) }
	await.Until(detailed{t, more}, dev+"/"+prop+": a good sample", func() bool {
		pv, found = m.Property("default", dev, prop)
		return found && pv.Ring.Latest(&s) && s.Err == 0 && ok(s.Value)
	})
	return s.Value
}

// detailed adds what more says to the message of a failed wait.
type detailed struct {
	testing.TB
	more func() string
}

func (d detailed) Fatalf(format string, args ...any) {
	d.TB.Helper()
	d.TB.Fatalf(format+" (%s)", append(args, d.more())...)
}

// Deploy loads an example CRD file and puts its models and devices into m,
// failing the test on a load error, a warning, an empty file or a refused
// object. It returns what the file held.
func Deploy(t testing.TB, m *device.Manager, path string) crd.Set {
	t.Helper()
	set, err := crd.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Warnings) > 0 {
		t.Errorf("%s: warnings: %q", path, set.Warnings)
	}
	if len(set.Devices) == 0 {
		t.Fatalf("%s: no devices", path)
	}
	for _, model := range set.Models {
		if err := m.PutModel(model); err != nil {
			t.Fatalf("%s: model %s: %v", path, model.Name, err)
		}
	}
	for _, d := range set.Devices {
		if err := m.PutDevice(d); err != nil {
			t.Fatalf("%s: device %s: %v", path, d.Name, err)
		}
	}
	return set
}
