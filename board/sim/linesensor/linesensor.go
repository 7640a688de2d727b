// Package linesensor simulates an ASCII temperature and humidity sensor on a
// serial line, the kind that prints a reading once a second and answers a
// few commands (see board/sim/serialsim, which puts it behind a
// pseudo-terminal).
//
// It talks in lines ending in CR LF. Given its tty and its mode with
// Expect (serialsim gives it 9600 8N1), it garbles every byte it sends and
// ignores what it receives while the port is set to another mode, as far as
// a pty shows one (baud rate, stop bits, odd/mark/space parity; see
// ttymode), as a real sensor at another baud rate would; without Expect it
// talks at any mode. Once a second, on the second, it prints a reading
// unsolicited:
//
//	T=23.4 H=45.1
//
// with T(t) = 22.5 + 2.5·sin(2π·t/60) °C and H(t) = 45 + 10·sin(2π·t/300) %RH,
// rounded to 0.1 (the same curves as the sim's TMP102 and Modbus slave), t
// being seconds since the Unix epoch. Commands end in CR, LF or CR LF;
// surrounding spaces are ignored and the case of the command is not:
//
//	READ?     → T=23.4 H=45.1       the reading now
//	SP?       → SP=21.5             the setpoint, °C (power-on 21.5)
//	SP=<v>    → OK                  sets the setpoint, -40 to 125 °C, kept to 0.1
//	            ERR range           when v is outside that
//	            ERR value           when v is not a number
//	ID?       → TINYMAPPER-SIM-LINE,1.0
//	other     → ERR unknown command
//
// Empty lines get no reply. A reply and an unsolicited line never mix within
// a line.
package linesensor

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tinymapper/tinymapper/board/sim/ttymode"
)

// Identity is the reply to "ID?".
const Identity = "TINYMAPPER-SIM-LINE,1.0"

// DefaultSetpoint is the power-on setpoint, °C.
const DefaultSetpoint = 21.5

// Sensor is one simulated sensor. Its methods may be called from any goroutine.
type Sensor struct {
	now func() time.Time

	mu       sync.Mutex
	setpoint int // °C × 10
	quiet    bool
	tty      *os.File // with mode, set by Expect
	mode     ttymode.Mode
}

// Expect makes the sensor check the mode of tty, its pty's slave side,
// before it sends or takes a line: at another mode than mode it garbles what
// it sends and ignores what it receives.
func (s *Sensor) Expect(tty *os.File, mode ttymode.Mode) {
	s.mu.Lock()
	s.tty, s.mode = tty, mode
	s.mu.Unlock()
}

// wrongMode reports whether the port is set to another mode than Expect's.
func (s *Sensor) wrongMode() bool {
	s.mu.Lock()
	tty, mode := s.tty, s.mode
	s.mu.Unlock()
	return tty != nil && mode.Check(tty) != nil
}

// garble is what a UART at another baud rate or parity makes of the bytes
// of text: a deterministic mess with no line ends left.
func garble(text string) []byte {
	b := []byte(text)
	for i := range b {
		b[i] = ^b[i]
	}
	return b
}

// New returns a sensor in its power-on state following the clock now
// (time.Now when nil).
func New(now func() time.Time) *Sensor {
	if now == nil {
		now = time.Now
	}
	return &Sensor{now: now, setpoint: int(DefaultSetpoint * 10)}
}

// Temperature returns T(t) in °C, rounded to 0.1.
func Temperature(t time.Time) float64 { return round1(wave(t, 22.5, 2.5, 60)) }

// Humidity returns H(t) in %RH, rounded to 0.1.
func Humidity(t time.Time) float64 { return round1(wave(t, 45, 10, 300)) }

func wave(t time.Time, mean, amplitude float64, period int64) float64 {
	p := period * int64(time.Second)
	phase := float64(t.UnixNano()%p) / float64(p)
	return mean + amplitude*math.Sin(2*math.Pi*phase)
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// Reading returns the line the sensor prints at t, without CR LF.
func Reading(t time.Time) string {
	return "T=" + strconv.FormatFloat(Temperature(t), 'f', 1, 64) +
		" H=" + strconv.FormatFloat(Humidity(t), 'f', 1, 64)
}

// SetQuiet stops (or restarts) the unsolicited lines; commands are still
// answered.
func (s *Sensor) SetQuiet(q bool) {
	s.mu.Lock()
	s.quiet = q
	s.mu.Unlock()
}

// Reply returns the reply to one command line (without its line end), and
// false when the line gets none.
func (s *Sensor) Reply(cmd string) (string, bool) {
	cmd = strings.TrimSpace(cmd)
	up := strings.ToUpper(cmd)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case cmd == "":
		return "", false
	case up == "READ?":
		return Reading(s.now()), true
	case up == "SP?":
		return "SP=" + strconv.FormatFloat(float64(s.setpoint)/10, 'f', 1, 64), true
	case strings.HasPrefix(up, "SP="):
		v, err := strconv.ParseFloat(strings.TrimSpace(cmd[3:]), 64)
		if err != nil || math.IsNaN(v) {
			return "ERR value", true
		}
		if v < -40 || v > 125 {
			return "ERR range", true
		}
		s.setpoint = int(math.Round(v * 10))
		return "OK", true
	case up == "ID?":
		return Identity, true
	}
	return "ERR unknown command", true
}

// Serve answers commands read from line and prints a reading every period
// (on multiples of period of wall time), until line is closed. line is the
// master of a pty in non-blocking mode (so that write deadlines work): a
// line nobody reads is dropped after a second, as bytes sent to an
// unplugged cable are.
func (s *Sensor) Serve(line *os.File, period time.Duration) error {
	var wmu sync.Mutex
	write := func(text string) error {
		wmu.Lock()
		defer wmu.Unlock()
		line.SetWriteDeadline(time.Now().Add(time.Second))
		out := []byte(text + "\r\n")
		if s.wrongMode() {
			out = garble(text + "\r\n")
		}
		_, err := line.Write(out)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		return err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			now := s.now()
			wait := period - time.Duration(now.UnixNano()%int64(period))
			select {
			case <-done:
				return
			case <-time.After(wait):
			}
			s.mu.Lock()
			quiet := s.quiet
			s.mu.Unlock()
			if !quiet {
				if err := write(Reading(s.now())); err != nil {
					return
				}
			}
		}
	}()
	r := bufio.NewScanner(line)
	r.Split(splitLine)
	for r.Scan() {
		if s.wrongMode() {
			continue // noise to the sensor
		}
		if reply, ok := s.Reply(r.Text()); ok {
			if err := write(reply); err != nil {
				return err
			}
		}
	}
	if err := r.Err(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("linesensor: %w", err)
	}
	return nil
}

// splitLine splits at CR or LF; an LF right after a CR ends an empty line,
// which gets no reply.
func splitLine(data []byte, atEOF bool) (int, []byte, error) {
	for i, c := range data {
		if c == '\r' || c == '\n' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	if len(data) > 4096 {
		return len(data), nil, nil // no line end in 4 KiB: noise, dropped
	}
	return 0, nil, nil
}
