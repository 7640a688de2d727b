package pins

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// EventSize is the size of one edge event RequestEdges delivers (struct
// gpio_v2_line_event).
const EventSize = 48

// Event ids, as the kernel's (GPIO_V2_LINE_EVENT_RISING_EDGE, _FALLING_EDGE).
const (
	EventRising  = 1
	EventFalling = 2
)

// RequestEdges requests the line as an input with pull and edge detection,
// as In does, and returns a file in non-blocking mode that delivers its edges
// as the kernel's line request descriptor does: one EventSize record per
// edge, little endian, with timestamp_ns (wall clock), id (EventRising or
// EventFalling), offset (the pin's number) and seqno/line_seqno (1, 2, ...).
// Closing the file ends the request.
func (p *Pin) RequestEdges(pull gpio.Pull, edge gpio.Edge) (*os.File, error) {
	if pull > gpio.PullUp {
		return nil, fmt.Errorf("%s: invalid pull %s", p.name, pull)
	}
	if edge < gpio.NoEdge || edge > gpio.BothEdges {
		return nil, fmt.Errorf("%s: invalid edge %s", p.name, edge)
	}
	r, wf, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	p.inputRequests.Add(1)
	w := p.wire
	w.mu.Lock()
	p.in(pull, edge)
	stop := make(chan struct{})
	p.feed = stop
	w.mu.Unlock()
	go p.serveEdges(wf, stop)
	return r, nil
}

// endFeed stops the RequestEdges goroutine, if one runs. Called with w.mu
// held.
func (p *Pin) endFeed() {
	if p.feed != nil {
		close(p.feed)
		p.feed = nil
	}
}

// serveEdges writes an event to out for every edge, until stop closes or
// nobody reads out any more.
func (p *Pin) serveEdges(out *os.File, stop <-chan struct{}) {
	defer out.Close()
	var ev [EventSize]byte
	var seq uint32
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	w := p.wire
	for {
		w.mu.Lock()
		select {
		case <-stop:
			w.mu.Unlock()
			return
		default:
		}
		got, rising, wait := false, false, time.Hour
		var at int64 // the edge's time, as the kernel stamps it at the interrupt
		switch {
		case w.half != 0:
			var ok bool
			if ok, wait = p.nextPulse(); ok {
				got, rising = true, p.last%2 == 0
				at = p.last * w.half // when the pulse generator made the edge
			}
		case p.pending > 0:
			p.pending--
			got, rising = true, w.level == gpio.High
			at = time.Now().UnixNano()
		}
		w.mu.Unlock()
		if got {
			seq++
			id := uint32(EventFalling)
			if rising {
				id = EventRising
			}
			binary.LittleEndian.PutUint64(ev[0:], uint64(at))
			binary.LittleEndian.PutUint32(ev[8:], id)
			binary.LittleEndian.PutUint32(ev[12:], uint32(p.number))
			binary.LittleEndian.PutUint32(ev[16:], seq)
			binary.LittleEndian.PutUint32(ev[20:], seq)
			out.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := out.Write(ev[:]); errors.Is(err, os.ErrDeadlineExceeded) {
				p.overflows.Add(1) // nobody reads: the kernel drops events too
			} else if err != nil {
				return // the reader closed its end
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-p.notify:
		case <-stop:
			return
		}
	}
}

// Pull returns the pull set by In.
func (p *Pin) Pull() gpio.Pull {
	w := p.wire
	w.mu.Lock()
	defer w.mu.Unlock()
	return p.pull
}

// DefaultPull returns PullNoChange: the kernel does not say (as gpioioctl).
func (p *Pin) DefaultPull() gpio.Pull { return gpio.PullNoChange }

// Out requests the line as an output, if it is not one, and drives l. As
// with gpioioctl, becoming an output clears the pull and edge detection.
func (p *Pin) Out(l gpio.Level) error {
	w := p.wire
	if w.half != 0 {
		return fmt.Errorf("%s: %w", p.name, errPulseOut)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if p.dir != Output {
		p.endFeed()
		p.dir, p.pull, p.edge, p.pending = Output, gpio.PullNoChange, gpio.NoEdge, 0
	}
	p.out = l
	w.driver = p
	w.settle()
	return nil
}

// PWM is not supported, as with gpioioctl.
func (p *Pin) PWM(gpio.Duty, physic.Frequency) error {
	return fmt.Errorf("%s: PWM is not supported", p.name)
}

// Dir returns the pin's direction.
func (p *Pin) Dir() Dir {
	w := p.wire
	w.mu.Lock()
	defer w.mu.Unlock()
	return p.dir
}

// Edge returns the edge detection In set.
func (p *Pin) Edge() gpio.Edge {
	w := p.wire
	w.mu.Lock()
	defer w.mu.Unlock()
	return p.edge
}

// InputRequests counts the times the line was requested as an input: by In,
// and by Read on a line that was not an input.
func (p *Pin) InputRequests() int64 { return p.inputRequests.Load() }

// NegativeWaits counts calls of WaitForEdge with a negative timeout, which
// gpioioctl answers with false at once.
func (p *Pin) NegativeWaits() int64 { return p.negativeWaits.Load() }
