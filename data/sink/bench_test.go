package sink

import (
	"context"
	"iter"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/ringbuf"
)

type benchSource []device.DeviceView

func (b benchSource) Snapshot() iter.Seq[device.DeviceView] { return slices.Values(b) }
func (b benchSource) Generation() uint64                    { return 1 }

type benchKind struct{}

func (benchKind) Method() string { return "mqtt" }
func (benchKind) Target(at Where, p *device.PushMethod, field string) (string, any, error) {
	return "mqtt " + p.MQTT.Address, nil, nil
}
func (benchKind) Open(string, *slog.Logger) (Client, error) { return &benchClient{}, nil }

// benchClient does what a client does before its library's publish call:
// it encodes each record into a reused buffer.
type benchClient struct {
	buf   []byte
	bytes int
}

func (c *benchClient) Send(_ context.Context, recs []Record) (int, error) {
	for _, r := range recs {
		c.buf = AppendJSON(c.buf[:0], r)
		c.bytes += len(c.buf)
	}
	return len(recs), nil
}
func (c *benchClient) Close() error { return nil }

// BenchmarkRingToClient is our part of a sample's way out, for 100
// properties pushed to one destination: the pump reads every ring into the
// destination's buffer, the destination peeks batches, the client encodes
// each record to JSON, and the batch is committed. One op is one sample.
// The budget is 0 allocs/op.
func BenchmarkRingToClient(b *testing.B) {
	const props = 100
	v := device.DeviceView{Namespace: "plant", Name: "thermo"}
	for i := range props {
		v.Properties = append(v.Properties, device.PropertyView{Name: "p" + string(rune('a'+i%26)) + string(rune('a'+i/26)),
			Type: device.TypeFloat, Unit: "Cel", Ring: ringbuf.New(64),
			Push: &device.PushMethod{MQTT: &device.PushMQTT{Address: "h:1"}}})
	}
	s := New(benchSource{v}, Options{Buffer: 4 * props}, benchKind{})
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.reconcile(ctx, &wg)
	var d *dest
	for _, x := range s.dests {
		d = x
	}
	d.stop() // this benchmark drives the destination itself
	wg.Wait()
	batch := make([]Record, 64)
	b.ReportAllocs()
	b.ResetTimer()
	t := int64(0)
	for i := 0; i < b.N; i += props {
		t += 1e9
		for _, p := range v.Properties {
			p.Ring.Push(ringbuf.Sample{Time: t, Value: 21.5})
		}
		s.pump()
		for {
			from, n := d.buf.peek(batch)
			if n == 0 {
				break
			}
			d.client.Send(ctx, batch[:n])
			d.buf.finish(from, n)
		}
	}
}

// BenchmarkReconcileUnchanged is one rebuild of the bindings when nothing
// changed (the Generation moves for another device, say), at 1000 devices
// × 5 properties pushed to one destination: what a loading mapper pays
// every poll. One op is one rebuild.
func BenchmarkReconcileUnchanged(b *testing.B) {
	views := make(benchSource, 1000)
	push := &device.PushMethod{MQTT: &device.PushMQTT{Address: "h:1"}}
	for d := range views {
		views[d] = device.DeviceView{Namespace: "plant", Name: "thermo-" + string(rune('a'+d%26)) + string(rune('a'+d/26%26)) + string(rune('a'+d/676))}
		for p := range 5 {
			views[d].Properties = append(views[d].Properties, device.PropertyView{Name: "p" + string(rune('a'+p)),
				Type: device.TypeFloat, Unit: "Cel", Ring: ringbuf.New(64), Push: push})
		}
	}
	s := New(views, Options{}, benchKind{})
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	s.reconcile(ctx, &wg)
	if len(s.bindings) != 5000 || len(s.dests) != 1 {
		b.Fatalf("%d bindings to %d destinations, want 5000 to 1", len(s.bindings), len(s.dests))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.reconcile(ctx, &wg)
	}
	b.StopTimer()
	cancel()
	wg.Wait()
}
