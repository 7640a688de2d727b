package device

import (
	"fmt"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/gpio"
	"github.com/tinymapper/tinymapper/bus/i2c"
	"github.com/tinymapper/tinymapper/bus/spi"
)

// BenchmarkSamplingPath is the sampling path as a bus worker runs it on the
// simulated board: pop the due reads from the heap, read the bus through the
// protocol's Point (or Batcher), decode, push to the ring, reschedule. One op
// is one round of readDue with every property due; ns/sample divides by the
// properties read. The clock is fake, so nothing sleeps and every round finds
// every task due. The budget is 0 allocs/op.
func BenchmarkSamplingPath(b *testing.B) {
	if err := sim.Register(); err != nil {
		b.Fatal(err)
	}
	tmp102 := []benchProp{
		{"temperature", TypeFloat, []any{"register", 0, "dataType", "int16", "shift", 4, "scale", 0.0625}},
		{"config", TypeInt, []any{"register", 1, "dataType", "uint16"}},
		{"tlow", TypeFloat, []any{"register", 2, "dataType", "int16", "shift", 4, "scale", 0.0625}},
		{"thigh", TypeFloat, []any{"register", 3, "dataType", "int16", "shift", 4, "scale", 0.0625}},
		{"temperature-f", TypeFloat, []any{"register", 0, "dataType", "int16", "shift", 4, "scale", 0.1125, "offset", 32}},
	}
	i2cDev := []any{"bus", 1, "address", 0x48}
	mcp3008 := benchProp{"ch2", TypeFloat, []any{"tx", "01 {0x80|ch<<4} 00", "channel", 2, "rxStart", 1, "dataType", "uint16", "mask", "0x3FF", "scale", 3.3 / 1024}}
	for _, bc := range []struct {
		name    string
		drv     bus.Driver
		dev     []any
		props   []benchProp
		devices int
	}{
		{"i2c-tmp102/1-property", i2c.Driver{}, i2cDev, tmp102[:1], 1},
		{"i2c-tmp102/5-properties", i2c.Driver{}, i2cDev, tmp102, 1},
		{"i2c-tmp102/1000-devices-x5", i2c.Driver{}, i2cDev, tmp102, 1000},
		{"i2c-bme280/3-fields-one-burst", i2c.Driver{}, []any{"bus", 1, "address", 0x76}, []benchProp{
			{"temperature", TypeFloat, []any{"part", "bme280", "field", "temperature"}},
			{"pressure", TypeFloat, []any{"part", "bme280", "field", "pressure"}},
			{"humidity", TypeFloat, []any{"part", "bme280", "field", "humidity"}},
		}, 1},
		{"spi-mcp3008/1-property", spi.Driver{}, []any{"bus", "0.0"}, []benchProp{mcp3008}, 1},
		{"gpio-input/1-property", gpio.Driver{}, nil, []benchProp{{"in", TypeBoolean, []any{"pin", "GPIO27"}}}, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w, clock, samples := benchWorker(b, bc.drv, bc.dev, bc.props, bc.devices)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				*clock = clock.Add(time.Second)
				w.readDue()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(samples), "ns/sample")
			if f := w.failures.Load(); f > 0 {
				b.Fatalf("%d of %d reads failed", f, w.reads.Load())
			}
		})
	}
}

type benchProp struct {
	name, typ string
	config    []any
}

func benchConfig(path string, kv []any) bus.Config {
	c := bus.Config{Path: path, Values: map[string]bus.Value{}}
	for i := 0; i+1 < len(kv); i += 2 {
		var v bus.Value
		switch x := kv[i+1].(type) {
		case int:
			v = bus.NumberValue(float64(x))
		case float64:
			v = bus.NumberValue(x)
		case string:
			v = bus.StringValue(x)
		}
		c.Values[kv[i].(string)] = v
	}
	return c
}

// benchWorker opens devices × props (collectCycle 1 s) through a Manager,
// without sharing them, and schedules their properties on a worker whose
// goroutine is not started, so it is driven by hand, on a fake clock the
// caller moves; it returns the worker, the clock and the properties read
// per round.
func benchWorker(b *testing.B, drv bus.Driver, dev []any, props []benchProp, devices int) (*worker, *time.Time, int) {
	b.Helper()
	const cycle = time.Second
	clock := new(time.Time)
	*clock = time.Unix(1_700_000_000, 0)
	m := NewManager(Options{Now: func() time.Time { return *clock }}, drv)
	model := &Model{Namespace: "default", Name: "bench"}
	var spec []Property
	for _, p := range props {
		model.Properties = append(model.Properties, ModelProperty{Name: p.name, Type: p.typ, AccessMode: ReadOnly})
		spec = append(spec, Property{Name: p.name, Visitor: benchConfig("visitors.configData", p.config),
			CollectCycle: cycle, ReportCycle: cycle, ReportToCloud: true})
	}
	var w *worker
	for i := range devices {
		d := Device{Namespace: "default", Name: fmt.Sprintf("dev-%04d", i), Model: "bench", Protocol: drv.Protocol(),
			Config: benchConfig("spec.protocol.configData", dev), Properties: spec}
		if err := m.check(d); err != nil {
			b.Fatal(err)
		}
		plan, err := planProps(d, model)
		if err != nil {
			b.Fatal(err)
		}
		e, _, err := m.open(Key(d.Namespace, d.Name), d, model, plan, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { e.dev.Close() })
		if w == nil {
			w = newWorker(e.dev.Bus(), m.now)
		} else if w.bus != e.dev.Bus() {
			b.Fatalf("devices on %s and %s; want one bus", w.bus, e.dev.Bus())
		}
		for _, p := range e.props {
			w.add(p, p.collectCycle)
		}
	}
	w.readDue() // the first round sizes the scratch space
	return w, clock, devices * len(props)
}
