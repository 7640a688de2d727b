package dmi

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/internal/await"
)

var fiveProtocols = []string{"i2c", "spi", "gpio", "serial", "modbus-rtu"}

// TestRegistrationIsNotPacedLikeReports: with the report pacing run dry
// (reports queued while EdgeCore was away), every protocol still
// registers within 3 s of EdgeCore answering.
func TestRegistrationIsNotPacedLikeReports(t *testing.T) {
	sock := filepath.Join(socketDir(t), "dmi.sock")
	edge := &fakeEdgeCore{}
	edge.start(t, sock)
	c := newTestClient(t, ClientConfig{Socket: sock, Protocols: fiveProtocols, Rate: 0.5, Burst: 20}, newFakeRegistry(), nil)
	c.limiter.ReserveN(time.Now(), 20)
	c.limiter.ReserveN(time.Now(), 10) // 20 s of reports owed
	start := time.Now()
	run(t, c)
	await.Within(t, 3*time.Second, "every protocol registered", func() bool { return edge.registered() == len(fiveProtocols) })
	t.Logf("registered %d protocols in %v", len(fiveProtocols), time.Since(start))
}

// TestReRegistrationWithin3sOfEdgeCoreComingBack: EdgeCore goes away for
// long enough that a back-off would have grown, its socket deleted; once it
// listens again every protocol is registered within 3 s. The client runs
// with its default retry and reconnect timing.
func TestReRegistrationWithin3sOfEdgeCoreComingBack(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a 9 s outage")
	}
	sock := filepath.Join(socketDir(t), "dmi.sock")
	first := &fakeEdgeCore{}
	stop := first.start(t, sock)
	c, err := NewClient(ClientConfig{Socket: sock, Address: "/run/tinymapper.sock", Protocols: fiveProtocols}, newFakeRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	run(t, c)
	await.Until(t, "first registration", func() bool { return first.registered() == len(fiveProtocols) })
	stop()
	os.Remove(sock)
	time.Sleep(9 * time.Second)
	second := &fakeEdgeCore{}
	second.start(t, sock)
	back := time.Now()
	await.Within(t, 10*time.Second, "registration again", func() bool { return second.registered() >= len(fiveProtocols) })
	d := time.Since(back)
	t.Logf("every protocol registered %v after EdgeCore came back", d)
	if d > 3*time.Second {
		t.Errorf("every protocol registered %v after EdgeCore came back; want at most 3 s", d)
	}
}
