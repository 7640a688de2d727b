package pins_test

import (
	"encoding/binary"
	"io"
	"os"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/tinymapper/tinymapper/board/sim/pins"
)

func loop() (out, in *pins.Pin) {
	w := pins.NewWire()
	return w.NewPin("OUT", 1), w.NewPin("IN", 2)
}

func TestLoopbackCarriesTheDrivenLevel(t *testing.T) {
	out, in := loop()
	if err := in.In(gpio.Float, gpio.NoEdge); err != nil {
		t.Fatal(err)
	}
	for _, l := range []gpio.Level{gpio.High, gpio.Low, gpio.High} {
		if err := out.Out(l); err != nil {
			t.Fatal(err)
		}
		if got := in.Read(); got != l {
			t.Errorf("after Out(%s) the input reads %s", l, got)
		}
	}
}

func TestAnUndrivenWireReadsItsPull(t *testing.T) {
	w := pins.NewWire()
	p := w.NewPin("P", 1)
	for _, tt := range []struct {
		pull gpio.Pull
		want gpio.Level
	}{
		{gpio.PullUp, gpio.High},
		{gpio.PullDown, gpio.Low},
		{gpio.Float, gpio.Low},
		{gpio.PullUp, gpio.High},
		{gpio.PullNoChange, gpio.High}, // keeps the pull-up
	} {
		if err := p.In(tt.pull, gpio.NoEdge); err != nil {
			t.Fatal(err)
		}
		if got := p.Read(); got != tt.want {
			t.Errorf("pull %s reads %s, want %s", tt.pull, got, tt.want)
		}
	}
}

func TestReadOnAnOutputRequestsItAgainAsAnInput(t *testing.T) {
	// gpioioctl's trap, emulated: the output stops driving.
	out, in := loop()
	in.In(gpio.Float, gpio.NoEdge)
	out.Out(gpio.Low)
	before := out.InputRequests()
	if got := out.Read(); got != gpio.High {
		t.Errorf("Read on the output driving Low = %s, want High: it let go and its own pull-up wins", got)
	}
	if out.Dir() != pins.Input || out.Pull() != gpio.PullUp {
		t.Errorf("after Read the output is %s with %s, want an input with pull-up", out.Dir(), out.Pull())
	}
	if out.InputRequests() != before+1 {
		t.Errorf("InputRequests went from %d to %d, want one more", before, out.InputRequests())
	}
}

func TestEdgesAreQueuedForWaitForEdge(t *testing.T) {
	out, in := loop()
	out.Out(gpio.Low)
	in.In(gpio.Float, gpio.RisingEdge)
	for i := 0; i < 3; i++ {
		out.Out(gpio.High)
		out.Out(gpio.Low)
	}
	for i := 0; i < 3; i++ {
		if !in.WaitForEdge(time.Second) {
			t.Fatalf("rising edge %d was not delivered", i)
		}
	}
	if in.WaitForEdge(time.Millisecond) {
		t.Error("a fourth edge was delivered; falling edges must not be")
	}
}

func TestTheEventQueueDropsTheOldestBeyondItsSize(t *testing.T) {
	out, in := loop()
	out.Out(gpio.Low)
	in.In(gpio.Float, gpio.BothEdges)
	for i := 0; i < pins.EventQueue+4; i++ {
		if i%2 == 0 {
			out.Out(gpio.High)
		} else {
			out.Out(gpio.Low)
		}
	}
	n := 0
	for in.WaitForEdge(time.Millisecond) {
		n++
	}
	if n != pins.EventQueue || in.Overflows() != 4 {
		t.Errorf("delivered %d edges with %d overflows, want %d and 4", n, in.Overflows(), pins.EventQueue)
	}
}

func TestWaitForEdgeTimeouts(t *testing.T) {
	_, in := loop()
	in.In(gpio.Float, gpio.BothEdges)
	if in.WaitForEdge(-1) {
		t.Error("WaitForEdge(-1) = true, want false at once as with gpioioctl")
	}
	if in.NegativeWaits() != 1 {
		t.Errorf("NegativeWaits = %d, want 1", in.NegativeWaits())
	}
	if in.WaitForEdge(10 * time.Millisecond) {
		t.Error("WaitForEdge with nothing happening = true")
	}
	plain := pins.NewWire().NewPin("P", 1)
	plain.In(gpio.Float, gpio.NoEdge)
	if plain.WaitForEdge(0) {
		t.Error("WaitForEdge without edge detection = true, want false at once")
	}
}

func TestWaitForEdgeZeroWaitsUntilAnEdge(t *testing.T) {
	out, in := loop()
	out.Out(gpio.Low)
	in.In(gpio.Float, gpio.RisingEdge)
	got := make(chan bool)
	go func() { got <- in.WaitForEdge(0) }()
	select {
	case <-got:
		t.Fatal("WaitForEdge(0) returned before any edge; 0 means forever")
	case <-time.After(20 * time.Millisecond):
	}
	out.Out(gpio.High)
	if !<-got {
		t.Error("WaitForEdge(0) = false after an edge")
	}
}

func TestHaltInterruptsAWaitInProgressOnly(t *testing.T) {
	_, in := loop()
	in.In(gpio.Float, gpio.RisingEdge)
	in.Halt() // before the wait: lost, as with gpioioctl
	if in.WaitForEdge(20 * time.Millisecond) {
		t.Fatal("edge out of nowhere")
	}
	got := make(chan bool)
	go func() { got <- in.WaitForEdge(0) }()
	// Halt until the wait has started and returned.
	for {
		in.Halt()
		select {
		case ok := <-got:
			if ok {
				t.Error("halted WaitForEdge = true")
			}
			return
		case <-time.After(time.Millisecond):
		}
	}
}

func TestOutputClearsPullAndEdges(t *testing.T) {
	p := pins.NewWire().NewPin("P", 1)
	p.In(gpio.PullUp, gpio.BothEdges)
	p.Out(gpio.High)
	if p.Dir() != pins.Output || p.Pull() != gpio.PullNoChange || p.Edge() != gpio.NoEdge {
		t.Errorf("after Out: %s, %s, %s; want output, PullNoChange, NoEdge", p.Dir(), p.Pull(), p.Edge())
	}
	if p.Func() != gpio.OUT_HIGH || p.Dir() != pins.Output {
		t.Errorf("Func = %s, want Out/High without reconfiguring", p.Func())
	}
}

func TestPulseIsASquareWaveFromTheEpoch(t *testing.T) {
	const period = 40 * time.Millisecond
	p := pins.NewPulse(period).NewPin("PULSE", 22)
	if err := p.Out(gpio.High); err == nil {
		t.Error("Out on the pulse pin succeeded, want an error")
	}
	p.In(gpio.Float, gpio.RisingEdge)
	for i := 0; i < 3; i++ {
		if !p.WaitForEdge(0) {
			t.Fatal("no rising edge")
		}
		// The edge was at a whole multiple of the period, in the past.
		now := time.Now()
		edge := now.Truncate(period)
		if now.Sub(edge) >= period/2 {
			// Woken late: the level is already low again. Nothing to check.
			continue
		}
		if p.Read() != gpio.High {
			t.Errorf("right after a rising edge the pulse reads Low")
		}
	}
}

func TestPulseEdgesMatchTheClock(t *testing.T) {
	const period = 20 * time.Millisecond
	p := pins.NewPulse(period).NewPin("PULSE", 22)
	for _, e := range []gpio.Edge{gpio.RisingEdge, gpio.FallingEdge, gpio.BothEdges} {
		before := time.Now()
		p.In(gpio.Float, e)
		const n = 5
		for i := 0; i < n; i++ {
			if !p.WaitForEdge(time.Second) {
				t.Fatalf("%s: edge %d missing", e, i)
			}
		}
		end := time.Now()
		// No edge is delivered before the clock reaches it.
		if had := edges(e, period, before, end); n > had {
			t.Errorf("%s: delivered %d edges after In, but the clock had only %d by then", e, n, had)
		}
	}
	if p.NegativeWaits() != 0 {
		t.Error("negative waits counted")
	}
}

// edges counts the edges of kind e of a square wave of the period in (from, to].
func edges(e gpio.Edge, period time.Duration, from, to time.Time) int {
	half := int64(period / 2)
	a, b := from.UnixNano()/half, to.UnixNano()/half
	n := 0
	for h := a + 1; h <= b; h++ {
		if e == gpio.BothEdges || (e == gpio.RisingEdge) == (h%2 == 0) {
			n++
		}
	}
	return n
}

func TestPulseQueuesAtMostEventQueueEdges(t *testing.T) {
	const period = 2 * time.Millisecond
	p := pins.NewPulse(period).NewPin("PULSE", 22)
	p.In(gpio.Float, gpio.BothEdges)
	time.Sleep(50 * period) // 100 edges nobody waited for
	n := 0
	start := time.Now()
	for p.WaitForEdge(time.Nanosecond) {
		n++
		if n > 1000 {
			t.Fatal("edges without end")
		}
	}
	extra := edges(gpio.BothEdges, period, start, time.Now())
	if n < pins.EventQueue || n > pins.EventQueue+extra {
		t.Errorf("after a long sleep %d edges were waiting, want %d (plus %d that happened while draining)", n, pins.EventQueue, extra)
	}
	if p.Overflows() == 0 {
		t.Error("no overflow counted")
	}
}

// readEvents reads n edge events from f within a second.
func readEvents(t *testing.T, f *os.File, n int) [][pins.EventSize]byte {
	t.Helper()
	f.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, n*pins.EventSize)
	if _, err := io.ReadFull(f, buf); err != nil {
		t.Fatalf("reading %d events: %v", n, err)
	}
	out := make([][pins.EventSize]byte, n)
	for i := range out {
		copy(out[i][:], buf[i*pins.EventSize:])
	}
	return out
}

func TestRequestEdgesDeliversKernelStyleEvents(t *testing.T) {
	out, in := loop()
	out.Out(gpio.Low)
	f, err := in.RequestEdges(gpio.Float, gpio.BothEdges)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if in.Dir() != pins.Input || in.Edge() != gpio.BothEdges {
		t.Errorf("after RequestEdges the pin is %s with edge %s, want an input detecting both", in.Dir(), in.Edge())
	}
	out.Out(gpio.High)
	time.Sleep(5 * time.Millisecond)
	out.Out(gpio.Low)
	evs := readEvents(t, f, 2)
	for i, want := range []uint32{pins.EventRising, pins.EventFalling} {
		ev := evs[i]
		if id := binary.LittleEndian.Uint32(ev[8:]); id != want {
			t.Errorf("event %d id %d, want %d", i, id, want)
		}
		if off := binary.LittleEndian.Uint32(ev[12:]); off != 2 {
			t.Errorf("event %d offset %d, want the pin's number 2", i, off)
		}
		if seq := binary.LittleEndian.Uint32(ev[16:]); seq != uint32(i+1) {
			t.Errorf("event %d seqno %d, want %d", i, seq, i+1)
		}
		if ts := time.Unix(0, int64(binary.LittleEndian.Uint64(ev[0:]))); time.Since(ts) > time.Minute || time.Until(ts) > 0 {
			t.Errorf("event %d timestamp %v is not now", i, ts)
		}
	}
}

func TestRequestEdgesOfThePulseFollowsTheClock(t *testing.T) {
	p := pins.NewPulse(20*time.Millisecond).NewPin("PULSE", 22)
	f, err := p.RequestEdges(gpio.PullNoChange, gpio.RisingEdge)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, ev := range readEvents(t, f, 5) {
		ts := int64(binary.LittleEndian.Uint64(ev[0:]))
		if binary.LittleEndian.Uint32(ev[8:]) != pins.EventRising {
			t.Errorf("event %d is not a rising edge", i)
		}
		if off := time.Duration(ts % int64(20*time.Millisecond)); off != 0 {
			t.Errorf("rising edge %d stamped %v after its multiple of 20 ms, want the edge's own time", i, off)
		}
		if time.Since(time.Unix(0, ts)) > time.Minute {
			t.Errorf("rising edge %d stamped %v, not now", i, time.Unix(0, ts))
		}
	}
}

func TestAnotherRequestEndsTheEventFile(t *testing.T) {
	for _, again := range []struct {
		name string
		do   func(p *pins.Pin)
	}{
		{"In", func(p *pins.Pin) { p.In(gpio.PullUp, gpio.NoEdge) }},
		{"Out", func(p *pins.Pin) { p.Out(gpio.High) }},
		{"RequestEdges", func(p *pins.Pin) { f, _ := p.RequestEdges(gpio.PullUp, gpio.RisingEdge); f.Close() }},
	} {
		t.Run(again.name, func(t *testing.T) {
			_, in := loop()
			f, err := in.RequestEdges(gpio.Float, gpio.RisingEdge)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			again.do(in)
			f.SetReadDeadline(time.Now().Add(time.Second))
			if n, err := f.Read(make([]byte, pins.EventSize)); n != 0 || err != io.EOF {
				t.Errorf("read after %s = %d, %v; want EOF", again.name, n, err)
			}
		})
	}
}
