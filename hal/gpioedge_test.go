package hal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/tinymapper/tinymapper/board/sim/pins"
)

// eventPin is a line whose edge events arrive on a pipe, as a kernel line
// request's do on its descriptor: the test writes the events.
type eventPin struct {
	*pins.Pin
	w          *os.File
	pull, edge []any
}

func (p *eventPin) RequestEdges(pull gpio.Pull, edge gpio.Edge) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p.w = w
	p.pull, p.edge = append(p.pull, pull), append(p.edge, edge)
	return r, nil
}

// event returns one gpio_v2_line_event as the kernel writes it.
func event(seq uint32) []byte {
	b := make([]byte, EdgeEventSize)
	binary.LittleEndian.PutUint64(b, uint64(time.Now().UnixNano()))
	binary.LittleEndian.PutUint32(b[8:], 1) // GPIO_V2_LINE_EVENT_RISING_EDGE
	binary.LittleEndian.PutUint32(b[16:], seq)
	return b
}

func openEvents(t *testing.T) (*Edges, *eventPin) {
	t.Helper()
	w := pins.NewWire()
	w.NewPin("DRIVER", 1).Out(gpio.High)
	p := &eventPin{Pin: w.NewPin("EVENTS", 2)}
	e, err := OpenEdges(p, gpio.PullDown, gpio.BothEdges)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(); p.w.Close() })
	return e, p
}

func TestEdgesWaitTakesEveryQueuedEvent(t *testing.T) {
	e, p := openEvents(t)
	if fmt.Sprint(p.pull, p.edge) != fmt.Sprint([]any{gpio.PullDown}, []any{gpio.BothEdges}) {
		t.Errorf("requested with pull %v, edge %v; want Down and Both", p.pull, p.edge)
	}
	tests := []struct {
		name  string
		write int // bytes of events
		want  []int
	}{
		{"one event", EdgeEventSize, []int{1}},
		{"three queued events in one wait", 3 * EdgeEventSize, []int{3}},
		{"twenty queued events in two waits of at most 16", 20 * EdgeEventSize, []int{16, 4}},
		{"half an event waits for its rest", EdgeEventSize + EdgeEventSize/2, []int{1}},
		{"the rest of the half", EdgeEventSize - EdgeEventSize/2, []int{1}},
	}
	var seq uint32
	for _, tt := range tests {
		var b []byte
		for len(b) < tt.write+EdgeEventSize {
			seq++
			b = append(b, event(seq)...)
		}
		if _, err := p.w.Write(b[:tt.write]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		for i, want := range tt.want {
			n, err := e.Wait(time.Second)
			if n != want || err != nil {
				t.Errorf("%s: wait %d = %d, %v; want %d", tt.name, i, n, err, want)
			}
		}
	}
	if n, err := e.Wait(10 * time.Millisecond); n != 0 || !errors.Is(err, ErrTimeout) {
		t.Errorf("wait with nothing queued = %d, %v; want ErrTimeout", n, err)
	}
	if l, err := e.Level(); l != gpio.High || err != nil {
		t.Errorf("Level = %v, %v; want High, what the wire's driver drives", l, err)
	}
}

func TestEdgesHaltInterruptsAWait(t *testing.T) {
	e, _ := openEvents(t)
	done := make(chan error)
	go func() { _, err := e.Wait(10 * time.Second); done <- err }()
	time.Sleep(20 * time.Millisecond)
	e.Halt()
	select {
	case err := <-done:
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("halted Wait = %v, want ErrTimeout", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Halt did not interrupt the Wait")
	}
}

func TestEdgesEndWhenEitherSideCloses(t *testing.T) {
	e, p := openEvents(t)
	p.w.Close()
	if _, err := e.Wait(time.Second); !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "EVENTS") {
		t.Errorf("Wait after the requester went away = %v, want io.EOF naming the pin", err)
	}
	e, _ = openEvents(t)
	done := make(chan error)
	go func() { _, err := e.Wait(10 * time.Second); done <- err }()
	time.Sleep(20 * time.Millisecond)
	e.Close()
	if err := <-done; !errors.Is(err, os.ErrClosed) {
		t.Errorf("Wait during Close = %v, want os.ErrClosed", err)
	}
	if _, err := e.Level(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Level after Close = %v, want os.ErrClosed", err)
	}
}

func TestEdgesWaitDoesNotAllocate(t *testing.T) {
	e, p := openEvents(t)
	ev := event(1)
	var got int
	if n := testing.AllocsPerRun(200, func() {
		p.w.Write(ev)
		k, _ := e.Wait(time.Second)
		got += k
	}); n != 0 {
		t.Errorf("Wait allocates %v times per event", n)
	}
	if got != 201 {
		t.Errorf("counted %d events, want 201", got)
	}
}

func TestOpenEdgesNeedsAnEventDescriptor(t *testing.T) {
	// Only the methods of a gpio.PinIO, as periph's sysfs pins have.
	sysfsLike := struct{ gpio.PinIO }{pins.NewWire().NewPin("SYSFS-LIKE", 3)}
	_, err := OpenEdges(sysfsLike, gpio.PullNoChange, gpio.RisingEdge)
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "SYSFS-LIKE") {
		t.Errorf("OpenEdges of a pin without events = %v, want errors.ErrUnsupported naming it", err)
	}
}

func TestLineFlagsAreTheKernels(t *testing.T) {
	// The values of enum gpio_v2_line_flag in linux/gpio.h.
	const input, rising, falling, pullUp, pullDown = 0x4, 0x10, 0x20, 0x100, 0x200
	tests := []struct {
		pull gpio.Pull
		edge gpio.Edge
		want uint64
	}{
		{gpio.PullNoChange, gpio.RisingEdge, input | rising},
		{gpio.PullUp, gpio.FallingEdge, input | falling | pullUp},
		{gpio.PullDown, gpio.BothEdges, input | rising | falling | pullDown},
		{gpio.Float, gpio.NoEdge, input},
	}
	for _, tt := range tests {
		if got := lineFlags(tt.pull, tt.edge); got != tt.want {
			t.Errorf("lineFlags(%s, %s) = %#x, want %#x", tt.pull, tt.edge, got, tt.want)
		}
	}
}

func TestPinErrorFindsTheErrnoPeriphFlattened(t *testing.T) {
	// periph's gpioioctl: errors.New(ep.Error()), wrapped with %w.
	flat := func(errno syscall.Errno) error {
		return fmt.Errorf("line_request ioctl: %w", errors.New(errno.Error()))
	}
	tests := []struct {
		name   string
		err    error
		is     []error
		isNot  []error
		inText []string
	}{
		{"EBUSY as text", flat(syscall.EBUSY), []error{ErrPinBusy, syscall.EBUSY}, nil,
			[]string{"in use by another consumer", "line_request ioctl: device or resource busy"}},
		{"EBUSY as an errno", fmt.Errorf("request: %w", syscall.EBUSY), []error{ErrPinBusy, syscall.EBUSY}, nil, nil},
		{"EACCES is a permission error", flat(syscall.EACCES), []error{syscall.EACCES, fs.ErrPermission}, []error{ErrPinBusy}, nil},
		{"EINVAL", flat(syscall.EINVAL), []error{syscall.EINVAL}, []error{ErrPinBusy}, nil},
		{"another error stays as it is", errors.New("GPIOLine.Out(): gremlins"), nil, []error{ErrPinBusy, syscall.EBUSY}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := PinError(tt.err)
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("%v does not wrap %v", err, target)
				}
			}
			for _, target := range tt.isNot {
				if errors.Is(err, target) {
					t.Errorf("%v wraps %v", err, target)
				}
			}
			for _, s := range tt.inText {
				if strings.Count(err.Error(), s) != 1 {
					t.Errorf("%q does not say %q once", err, s)
				}
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("%v lost the original error", err)
			}
		})
	}
	if PinError(nil) != nil {
		t.Error("PinError(nil) is not nil")
	}
	once := PinError(flat(syscall.EBUSY))
	if twice := PinError(once); twice != once {
		t.Errorf("PinError of a mapped error = %v, want it unchanged", twice)
	}
}

func BenchmarkEdgesWait(b *testing.B) {
	p := &eventPin{Pin: pins.NewWire().NewPin("BENCH", 1)}
	e, err := OpenEdges(p, gpio.PullNoChange, gpio.RisingEdge)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	batch := make([]byte, 0, edgeBatch*EdgeEventSize)
	for i := 0; i < edgeBatch; i++ {
		batch = append(batch, event(uint32(i))...)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.w.Write(batch)
		for n := 0; n < edgeBatch; {
			k, err := e.Wait(time.Second)
			if err != nil {
				b.Fatal(err)
			}
			n += k
		}
	}
}
