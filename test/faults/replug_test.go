package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim/linesensor"
	"github.com/tinymapper/tinymapper/board/sim/serialsim"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/serial"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/hal"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// serialReplug runs a line sensor on a pty behind the real serial driver
// and device manager (in this process: the sim's ptys are the mapper's
// own), closes the pty n times (the adapter pulled out) and opens a new
// one under the same port name (plugged in again).
func serialReplug(t *testing.T, tb *table, n int) {
	const port = "SIM-FAULTS-REPLUG"
	m := device.NewManager(device.Options{RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond}, serial.Driver{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	plug := func() *serialsim.Pty {
		p, err := serialsim.NewPty()
		if err != nil {
			t.Fatal(err)
		}
		go linesensor.New(time.Now).Serve(p.Master, time.Hour)
		hal.UnregisterSerial(port)
		if err := hal.RegisterSerial(port, nil, p.Path); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := plug()
	defer func() { p.Close(); hal.UnregisterSerial(port) }()
	if err := m.PutModel(device.Model{Name: "th", Properties: []device.ModelProperty{{Name: "humidity", Type: device.TypeFloat}}}); err != nil {
		t.Fatal(err)
	}
	if err := m.PutDevice(device.Device{Name: "th", Model: "th", Protocol: "serial",
		Config: bustest.Config(bustest.DevicePath, "port", port, "eol", `\r\n`, "timeoutMs", 200),
		Properties: []device.Property{{Name: "humidity", CollectCycle: 50 * time.Millisecond,
			Visitor: bustest.Config("v", "command", "READ?", "pattern", `H=(\d+\.\d)`)}},
	}); err != nil {
		t.Fatal(err)
	}
	fresh := func(since time.Time) bool {
		pv, ok := m.Property("default", "th", "humidity")
		if !ok {
			return false
		}
		return pv.LastError == "" && pv.Ring.Len() > 0 && latest(pv) > since.UnixNano()
	}
	if !within(10*time.Second, func() bool { return fresh(time.Time{}) }) {
		t.Fatal("no first value")
	}
	var maxNotice, maxBack time.Duration
	failed := 0
	for range n {
		p.Close()
		out := time.Now()
		if within(5*time.Second, func() bool {
			v, _ := m.Device("default", "th")
			pv, _ := m.Property("default", "th", "humidity")
			return v.State != device.StateOnline || pv.LastError != ""
		}) {
			maxNotice = max(maxNotice, time.Since(out))
		} else {
			failed++
		}
		time.Sleep(300 * time.Millisecond)
		p = plug()
		in := time.Now()
		if within(10*time.Second, func() bool {
			v, _ := m.Device("default", "th")
			return v.State == device.StateOnline && fresh(in)
		}) {
			maxBack = max(maxBack, time.Since(in))
		} else {
			failed++
		}
	}
	tb.section(fmt.Sprintf("serial device unplugged and plugged in %d times (pty closed, reopened)", n))
	tb.add("replugs noticed and recovered", fmt.Sprintf("%d of %d", n-failed/2, n), "all", failed == 0)
	tb.add("time to notice the unplug, max", secs(maxNotice), "≤ 2 s", failed == 0 && maxNotice <= 2*time.Second)
	tb.add("time to fresh values after the replug, max", secs(maxBack), "≤ 5 s", failed == 0 && maxBack <= 5*time.Second)
}

// latest returns the time of the property's latest good sample (0: none).
func latest(pv device.PropertyView) int64 {
	var s ringbuf.Sample
	if !pv.Ring.Latest(&s) || s.Err != 0 {
		return 0
	}
	return s.Time
}
