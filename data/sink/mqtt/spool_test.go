package mqtt_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/mqtt"
	"github.com/tinymapper/tinymapper/data/sink/sinktest"
)

// The spool end to end: a simulated thermometer read every 20 ms, a
// buffer of 20 samples, a spool on disk, a real mosquitto stopped for a
// few seconds and started again.
func TestASpoolRidesOutAnOutageTheBufferCannot(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 10 s")
	}
	for _, tc := range []struct {
		name     string
		maxBytes int64
		outage   time.Duration
		dropped  bool // whether the outage overflows the spool
	}{
		// ~150 samples: 20 in memory, the rest on disk; nothing is lost.
		{"every sample arrives in order", 0, 3 * time.Second, false},
		// ~200 samples a second for 4 s past 20 in memory and 200 on disk
		// (sink.MinSpoolBytes): the oldest go, counted exactly.
		{"a full spool drops the oldest and counts them", sink.MinSpoolBytes, 4 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBroker(t)
			sub := newSubscriber(t, b) // its session outlives the broker
			dir := filepath.Join(t.TempDir(), "spool")
			cycle := 20 * time.Millisecond
			if tc.dropped {
				cycle = 5 * time.Millisecond
			}
			push := fmt.Sprintf("        mqtt: {address: tcp://127.0.0.1:%d, qos: 1}\n", b.port)
			mgr, sinks := sinktest.Run(t, sinktest.Thermometer(cycle, push),
				sink.Options{Buffer: 20, SpoolDir: dir, SpoolBytes: tc.maxBytes}, mqtt.Kind{})
			sinktest.WaitFor(t, 10*time.Second, "samples to arrive", func() bool { return len(sub.messages(t, topic)) >= 10 })

			b.stop()
			sinktest.WaitFor(t, 10*time.Second, "the spool to fill", func() bool {
				st, _ := sinktest.StatsOf(sinks, "mqtt ")
				return st.Spooled > 40 && st.Failed > 0
			})
			time.Sleep(tc.outage)
			st, _ := sinktest.StatsOf(sinks, "mqtt ")
			if st.Buffered > 20+1024 || st.Spooled == 0 || (st.Dropped != 0) != tc.dropped {
				t.Errorf("during the outage %+v: want at most 20 buffered (and what waits to be spooled), the rest spooled", st)
			}
			segs, err := filepath.Glob(filepath.Join(dir, "mqtt-*", "*.seg"))
			if err != nil || len(segs) == 0 {
				t.Errorf("segments on disk: %q, %v", segs, err)
			}
			for _, f := range segs {
				if fi, err := os.Stat(f); err == nil && fi.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
				}
			}
			outageEnd := time.Now()
			b.start()
			sinktest.WaitFor(t, 30*time.Second, "the spool and the buffer to drain", func() bool {
				st, _ := sinktest.StatsOf(sinks, "mqtt ")
				return st.Spooled == 0 && st.Buffered < 20 && st.Error == ""
			})
			sinktest.WaitFor(t, 10*time.Second, "samples after the outage", func() bool {
				got := sub.messages(t, topic)
				return len(got) > 0 && got[len(got)-1].Timestamp > outageEnd.UnixMilli()+500
			})
			time.Sleep(300 * time.Millisecond) // the last acknowledged ones reach the subscriber
			st, _ = sinktest.StatsOf(sinks, "mqtt ")
			missing := sinktest.Check(t, mgr, sub.messages(t, topic))
			switch {
			case !tc.dropped && (missing != 0 || st.Dropped != 0):
				t.Errorf("%d samples missing, %d counted dropped; want none", missing, st.Dropped)
			case tc.dropped && (missing < 100 || uint64(missing) != st.Dropped):
				t.Errorf("%d samples missing, dropped counter %d: want them equal, and hundreds", missing, st.Dropped)
			}
			t.Logf("after the outage: %+v, %d missing", st, missing)
		})
	}
}
