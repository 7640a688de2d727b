package gpio_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/physic"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/gpio"
	"github.com/tinymapper/tinymapper/hal"
)

// ioctlLine behaves like a periph gpioioctl line (host/v3 v3.8.5) where it
// matters here: its edge events arrive on a descriptor (a pipe the test
// writes gpio_v2_line_events to), WaitForEdge reads one with binary.Read
// into a new struct, as gpioioctl does (allocating per edge), with a read
// deadline (0: none, negative: in the past), Halt moves the deadline to the
// past, and errors are flattened text, as gpioioctl's errors.New(ep.Error()).
// RequestEdges hands the descriptor over, as the kernel's line request does
// for hal.
type ioctlLine struct {
	name string
	busy bool // every request fails with EBUSY, another consumer holds the line

	mu      sync.Mutex
	edge    pgpio.Edge
	r, w    *os.File
	level   pgpio.Level
	handed  bool // RequestEdges gave r away
	waiters int  // WaitForEdge calls
}

func newIoctlLine(t testing.TB, name string, busy bool) *ioctlLine {
	t.Helper()
	l := &ioctlLine{name: name, busy: busy}
	if err := gpioreg.Register(l); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		gpioreg.Unregister(name)
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.w != nil {
			l.w.Close()
			l.r.Close()
		}
	})
	return l
}

var errFlatBusy = errors.New(syscall.EBUSY.Error()) // what gpioioctl's ioctl wrappers return

func (l *ioctlLine) request(edge pgpio.Edge) error {
	if l.busy {
		return fmt.Errorf("line_request ioctl: %w", errFlatBusy)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.edge = edge
	if l.r == nil {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		l.r, l.w = r, w
	}
	return nil
}

func (l *ioctlLine) In(pull pgpio.Pull, edge pgpio.Edge) error { return l.request(edge) }

func (l *ioctlLine) RequestEdges(pull pgpio.Pull, edge pgpio.Edge) (*os.File, error) {
	if err := l.request(edge); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.handed = true
	return l.r, nil
}

type lineEvent struct { // struct gpio_v2_line_event
	Timestamp        uint64
	ID, Offset       uint32
	Seqno, LineSeqno uint32
	Padding          [6]uint32
}

func (l *ioctlLine) WaitForEdge(timeout time.Duration) bool {
	l.mu.Lock()
	r, edge := l.r, l.edge
	l.waiters++
	l.mu.Unlock()
	if r == nil || edge == pgpio.NoEdge {
		return false
	}
	if timeout == 0 {
		r.SetReadDeadline(time.Time{})
	} else {
		r.SetReadDeadline(time.Now().Add(timeout))
	}
	var ev lineEvent
	return binary.Read(r, binary.LittleEndian, &ev) == nil
}

func (l *ioctlLine) Halt() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.r != nil {
		l.r.SetReadDeadline(time.Unix(0, 0))
	}
	return nil
}

func (l *ioctlLine) Out(v pgpio.Level) error {
	if l.busy {
		return fmt.Errorf("GPIOLine.Out(): line_request ioctl: %w", errFlatBusy)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.level, l.edge = v, pgpio.NoEdge
	return nil
}

func (l *ioctlLine) Read() pgpio.Level {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.level
}

func (l *ioctlLine) String() string          { return l.name }
func (l *ioctlLine) Name() string            { return l.name }
func (l *ioctlLine) Number() int             { return 99 }
func (l *ioctlLine) Function() string        { return "" }
func (l *ioctlLine) Pull() pgpio.Pull        { return pgpio.PullNoChange }
func (l *ioctlLine) DefaultPull() pgpio.Pull { return pgpio.PullNoChange }
func (l *ioctlLine) PWM(pgpio.Duty, physic.Frequency) error {
	return errors.New("PWM() not implemented")
}

var _ pgpio.PinIO = (*ioctlLine)(nil)

// writeEdges writes n rising-edge events where the kernel would.
func (l *ioctlLine) writeEdges(t testing.TB, n int) {
	t.Helper()
	b := make([]byte, n*hal.EdgeEventSize)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(b[i*hal.EdgeEventSize+8:], 1)
	}
	l.mu.Lock()
	w := l.w
	l.mu.Unlock()
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestCountingEdgesDoesNotAllocate(t *testing.T) {
	l := newIoctlLine(t, "FAKE-IOCTL", false)
	p := open(t, property("n", false, "pin", "FAKE-IOCTL", "mode", "counter", "edge", "both"),
		property("level", false, "pin", "FAKE-IOCTL")).Points()
	count, level := p[0], p[1]
	counted := func(n float64) func() bool { return func() bool { v, _ := count.Read(); return v >= n } }
	l.writeEdges(t, 16) // warm up
	waitFor(t, "16 edges", counted(16))

	const edges = 1024
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for sent := 0; sent < edges; sent += 64 {
		l.writeEdges(t, 64)
		for v, _ := count.Read(); v < float64(16+sent+64); v, _ = count.Read() {
			time.Sleep(100 * time.Microsecond)
		}
	}
	runtime.ReadMemStats(&after)
	if v := read(t, count); v != 16+edges {
		t.Fatalf("counted %v edges, want %d", v, 16+edges)
	}
	if per := float64(after.Mallocs-before.Mallocs) / edges; per > 0.25 {
		t.Errorf("%.2f allocations per counted edge, want none (periph's WaitForEdge does binary.Read into a new event per edge)", per)
	}
	l.mu.Lock()
	handed, waits := l.handed, l.waiters
	l.mu.Unlock()
	if !handed || waits != 0 {
		t.Errorf("the line's events were handed over: %v, WaitForEdge calls: %d; want the descriptor read directly", handed, waits)
	}

	// An input sharing the counted line reads through the same request.
	l.Out(pgpio.High)
	if v := read(t, level); v != 1 {
		t.Errorf("the input on the counted line reads %v, want 1", v)
	}
}

func TestABusyLineIsErrPinBusy(t *testing.T) {
	newIoctlLine(t, "FAKE-BUSY", true)
	for _, mode := range []string{"input", "output", "counter"} {
		t.Run(mode, func(t *testing.T) {
			_, err := gpio.Driver{}.Open(bus.DeviceConfig{Config: config(devicePath),
				Properties: []bus.PropertyConfig{property("p", mode == "output", "pin", "FAKE-BUSY", "mode", mode)}})
			if !errors.Is(err, hal.ErrPinBusy) || !errors.Is(err, syscall.EBUSY) {
				t.Fatalf("Open on a line another consumer holds = %v, want hal.ErrPinBusy and syscall.EBUSY", err)
			}
			var fe *bus.FieldError
			if !errors.As(err, &fe) || fe.Field != bustest.PropertyPath("p")+".pin" {
				t.Errorf("error %v does not name the pin field", err)
			}
			if !strings.Contains(err.Error(), "FAKE-BUSY") {
				t.Errorf("error %q does not name the line", err)
			}
		})
	}
}

// BenchmarkCountEdges counts batches of 16 edges (what the kernel queues for a
// line) on a line like gpioioctl's: one op is 16 edges written and counted.
func BenchmarkCountEdges(b *testing.B) {
	l := newIoctlLine(b, "FAKE-IOCTL-BENCH", false)
	count := open(b, property("n", false, "pin", "FAKE-IOCTL-BENCH", "mode", "counter")).Points()[0]
	batch := make([]byte, 16*hal.EdgeEventSize)
	for i := 0; i < 16; i++ {
		binary.LittleEndian.PutUint32(batch[i*hal.EdgeEventSize+8:], 1)
	}
	l.writeEdges(b, 1) // requested, and counted once
	waitFor(b, "the first edge", func() bool { v, _ := count.Read(); return v == 1 })
	want := 1.0
	b.ReportAllocs()
	for b.Loop() {
		l.w.Write(batch)
		want += 16
		for v, _ := count.Read(); v < want; v, _ = count.Read() {
			runtime.Gosched()
		}
	}
}
