package device

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// nopSender takes every call at once and sends nothing.
type nopSender struct{}

func (nopSender) Wait(ctx context.Context) error { return ctx.Err() }
func (nopSender) ReportStatus(context.Context, string, string, []Twin) error {
	return nil
}
func (nopSender) ReportState(context.Context, string, string, string) error { return nil }

// BenchmarkReportRound is one round of the reporter with 10 devices due: a
// scan that finds and orders them, and one call per device, each built from
// the device's latest samples, through a Sender that sends nothing. allocs/op
// are the report path's own, per round (divide by 10 for one device).
func BenchmarkReportRound(b *testing.B) {
	for _, parallel := range []int{1, DefaultParallel} {
		b.Run(fmt.Sprintf("parallel-%d", parallel), func(b *testing.B) {
			drv := newFakeDriver()
			m := NewManager(Options{History: 64}, drv)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { m.Run(ctx); close(done) }()
			b.Cleanup(func() { cancel(); <-done })
			if err := m.PutModel(testModel()); err != nil {
				b.Fatal(err)
			}
			for i := range 10 {
				name := fmt.Sprintf("d%02d", i)
				drv.set("default/"+name+"/1", float64(20+i))
				if err := m.PutDevice(testDevice(name, "40")); err != nil {
					b.Fatal(err)
				}
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
				if _, ok := latest(m, "d09", "setpoint"); ok {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("no samples")
				}
			}
			rp := NewReporter(m, nopSender{}, nil)
			rp.SetParallel(parallel)
			rp.Flush(ctx)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, st := range rp.seen {
					st.changedAt = 1 // every device has a change to send
				}
				if n, _ := rp.sendAll(ctx, rp.scan(m.now()), time.Hour, true); n != 10 {
					b.Fatalf("sent %d devices; want 10", n)
				}
			}
		})
	}
}
