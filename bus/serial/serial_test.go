package serial_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/serialsim"
	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/serial"
	"github.com/tinymapper/tinymapper/hal"
	"github.com/tinymapper/tinymapper/internal/await"
)

// These tests run over real pseudo-terminals: the sim board's line sensor on
// /dev/ttyACM0, and devices of their own that the tests script.

func TestMain(m *testing.M) {
	if err := sim.Register(); err != nil {
		fmt.Fprintln(os.Stderr, "register the sim board:", err)
		os.Exit(1)
	}
	if _, err := serialsim.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start the sim serial ports:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// config builds configData as EdgeCore sends it (see bustest).
var config = bustest.Config

const devicePath = bustest.DevicePath

func property(name string, writable bool, kv ...any) bus.PropertyConfig {
	return bus.PropertyConfig{Name: name, Type: "FLOAT", Writable: writable,
		Config: config(bustest.PropertyPath(name), kv...)}
}

// open opens a device and closes it when the test ends.
func open(t testing.TB, dev bus.Config, props ...bus.PropertyConfig) bus.Device {
	t.Helper()
	return bustest.Open(t, serial.Driver{}, dev, props...)
}

// read and write fail the test on an error.
var read = bustest.Read

// eventually reads p until it returns want (or, with want NaN, any value).
func eventually(t *testing.T, p bus.Point, want float64) float64 {
	t.Helper()
	var v float64
	var err error
	await.Until(t, fmt.Sprintf("a read of %v", want), func() bool {
		v, err = p.Read()
		return err == nil && (math.IsNaN(want) || v == want)
	})
	return v
}

// scripted is a device on a pty of its own: for every line it receives,
// reply returns the lines it sends back (with the line end they need).
type scripted struct {
	path   string
	master *os.File
	mu     sync.Mutex
	reply  func(line string) []string
	got    []string
}

func newScripted(t testing.TB, reply func(line string) []string) *scripted {
	t.Helper()
	p, err := serialsim.NewPty()
	if err != nil {
		t.Fatalf("open a pty: %v", err)
	}
	s := &scripted{path: p.Path, master: p.Master, reply: reply}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(p.Master)
		sc.Split(splitCRorLF)
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				continue
			}
			s.mu.Lock()
			s.got = append(s.got, line)
			r := s.reply
			s.mu.Unlock()
			for _, out := range r(line) {
				p.Master.Write([]byte(out))
			}
		}
	}()
	t.Cleanup(func() { p.Close(); <-done })
	return s
}

// splitCRorLF ends lines at CR or LF.
func splitCRorLF(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

func (s *scripted) setReply(reply func(line string) []string) {
	s.mu.Lock()
	s.reply = reply
	s.mu.Unlock()
}

// say sends lines unsolicited.
func (s *scripted) say(lines ...string) {
	for _, l := range lines {
		s.master.Write([]byte(l))
	}
}

func (s *scripted) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func silent(string) []string { return nil }

func TestProtocolIsSerial(t *testing.T) {
	if got := (serial.Driver{}).Protocol(); got != "serial" {
		t.Errorf("Protocol() = %q", got)
	}
}

func TestPolledReadsOfTheSimSensor(t *testing.T) {
	d := open(t, config(devicePath, "port", "/dev/ttyACM0", "baudRate", 9600, "eol", `\r\n`),
		property("temperature", false, "command", "READ?", "pattern", `T=(-?\d+\.\d)`),
		property("humidity", false, "command", `READ?\r\n`, "pattern", `H=(\d+\.\d)`, "dataType", "float"),
		property("setpoint", false, "command", "SP?", "pattern", `^SP=(-?[\d.]+)$`),
		property("fahrenheit", false, "command", "READ?", "pattern", `T=(-?\d+\.\d)`, "scale", 1.8, "offset", 32),
	)
	for i := 0; i < 3; i++ {
		if v := read(t, d.Points()[0]); v < 20 || v > 25 {
			t.Errorf("temperature %v, want within [20, 25]", v)
		}
		if v := read(t, d.Points()[1]); v < 35 || v > 55 {
			t.Errorf("humidity %v, want within [35, 55]", v)
		}
		if v := read(t, d.Points()[3]); v < 68 || v > 77 {
			t.Errorf("temperature %v °F, want within [68, 77]", v)
		}
	}
	if v := read(t, d.Points()[2]); v < -40 || v > 125 {
		t.Errorf("setpoint %v", v)
	}
}

func TestPolledReadSkipsLinesThatDoNotMatch(t *testing.T) {
	dev := newScripted(t, func(line string) []string {
		if line == "MEAS" {
			return []string{"MEAS\r\n", "> \x00\xff\xfe garbage\r\n", "\r\n", "V=12.5 V\r\n"}
		}
		return nil
	})
	d := open(t, config(devicePath, "port", dev.path, "timeoutMs", 2000),
		property("voltage", false, "command", "MEAS", "pattern", `^V=([\d.]+) V$`))
	if v := read(t, d.Points()[0]); v != 12.5 {
		t.Errorf("voltage %v, want 12.5 from the third line", v)
	}
	if got := dev.received(); len(got) != 1 || got[0] != "MEAS" {
		t.Errorf("device received %q, want one MEAS with the default \\n line end", got)
	}
}

func TestPolledReadTimesOutAndRecovers(t *testing.T) {
	dev := newScripted(t, func(string) []string { return []string{"BUSY\n"} })
	d := open(t, config(devicePath, "port", dev.path, "timeoutMs", 100),
		property("v", false, "command", "V?", "pattern", `^V=(\w+)$`, "dataType", "int"))
	_, err := d.Points()[0].Read()
	if !errors.Is(err, hal.ErrTimeout) {
		t.Fatalf("Read from a device that never answers right = %v, want hal.ErrTimeout", err)
	}
	for _, want := range []string{dev.path, `"V?\n"`, `matching ^V=(\w+)$`, "100ms", `the one line that came was "BUSY"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %s", err, want)
		}
	}
	dev.setReply(func(string) []string { return []string{"V=0x2A\n"} })
	if v := read(t, d.Points()[0]); v != 42 {
		t.Errorf("after recovery: %v, want 42", v)
	}
}

func TestRepliesWithBadValuesAreErrors(t *testing.T) {
	dev := newScripted(t, func(line string) []string { return []string{"V=" + line + "\n"} })
	tests := []struct {
		name, cmd, dataType, want string
	}{
		{"not a number", "abc", "float", `captured "abc" is not a number`},
		{"infinite", "Inf", "float", "is not a number"},
		{"not an integer", "1.5", "int", "is not an integer"},
		{"not hex", "xyz", "hex", "is not hexadecimal"},
		{"not a boolean", "maybe", "bool", "is not a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := open(t, config(devicePath, "port", dev.path),
				property("v", false, "command", tt.cmd, "pattern", `^V=(.*)$`, "dataType", tt.dataType))
			_, err := d.Points()[0].Read()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Read = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCapturesInEveryDataType(t *testing.T) {
	dev := newScripted(t, func(line string) []string { return []string{line + "\r\n"} }) // an echo
	tests := []struct {
		name     string
		cmd      string
		dataType string
		extra    []any
		want     float64
	}{
		{"float", "X=-12.75", "float", nil, -12.75},
		{"float with exponent", "X=1.5e3", "double", nil, 1500},
		{"int with 0x", "X=0x1F", "int", nil, 31},
		{"negative int", "X=-40", "int16", nil, -40},
		{"bare hex", "X=ff", "hex", nil, 255},
		{"hex, scaled", "X=01F4", "hex", []any{"scale", 0.1}, 50},
		{"bool on", "X=ON", "bool", nil, 1},
		{"bool false", "X=false", "boolean", nil, 0},
		{"scaled and offset", "X=100", "int", []any{"scale", 0.5, "offset", -10}, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := append([]any{"command", tt.cmd, "pattern", `^X=(\S+)$`, "dataType", tt.dataType}, tt.extra...)
			d := open(t, config(devicePath, "port", dev.path), property("x", false, kv...))
			if v := read(t, d.Points()[0]); v != tt.want {
				t.Errorf("read %v, want %v", v, tt.want)
			}
		})
	}
}

func TestLineEnds(t *testing.T) {
	tests := []struct {
		eol, send string
	}{
		{"", "V=1\n"},
		{"", "V=1\r\n"},
		{`\r\n`, "V=1\r\n"},
		{"CRLF", "\nV=1\r\n"},
		{`\r`, "V=1\r"},
		{"CR", "\nV=1\r"},
		{"\n", "V=1\n"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q sends %q", tt.eol, tt.send), func(t *testing.T) {
			var got []string
			dev := newScripted(t, func(string) []string { return []string{tt.send} })
			c := config(devicePath, "port", dev.path)
			if tt.eol != "" {
				c = config(devicePath, "port", dev.path, "eol", tt.eol)
			}
			d := open(t, c, property("v", false, "command", "GET", "pattern", `^V=(\d)$`))
			if v := read(t, d.Points()[0]); v != 1 {
				t.Errorf("read %v", v)
			}
			got = dev.received()
			if len(got) == 0 || got[0] != "GET" {
				t.Errorf("device received %q", got)
			}
		})
	}
}

func TestOverlongLinesAreDroppedWhole(t *testing.T) {
	long := strings.Repeat("V=9", hal.MaxLine) + "\n" // 1.5 KiB
	dev := newScripted(t, func(string) []string { return []string{long, "V=7\n"} })
	d := open(t, config(devicePath, "port", dev.path),
		property("v", false, "command", "GET", "pattern", `V=(\d)$`))
	if v := read(t, d.Points()[0]); v != 7 {
		t.Errorf("read %v, want 7: the tail of the long line must not count as a line", v)
	}
}

func TestDesiredWriteReadsBack(t *testing.T) {
	d := open(t, config(devicePath, "port", "/dev/ttyACM0", "eol", `\r\n`, "timeoutMs", 500),
		property("setpoint", true, "command", "SP?", "pattern", `^SP=(-?[\d.]+)$`,
			"writeCommand", "SP={value}", "writeAck", "^OK$"))
	w := d.Points()[0].(bus.Writer)
	t.Cleanup(func() { w.Write(21.5) })
	for _, v := range []float64{30.5, -12, 0} {
		if err := w.Write(v); err != nil {
			t.Fatalf("Write(%v): %v", v, err)
		}
		if got := read(t, w); got != v {
			t.Errorf("read back %v after writing %v", got, v)
		}
	}
}

// TestARefusedWriteFailsAtOnceWithTheDevicesAnswer: "ERR range" ends the
// write at once, with the device's words, not after the timeout as "no
// reply"; errorPattern none waits for the timeout as before.
func TestARefusedWriteFailsAtOnceWithTheDevicesAnswer(t *testing.T) {
	dev := newScripted(t, func(line string) []string {
		if line == "SP=200" {
			return []string{"ERR range\n"}
		}
		return []string{"OK\n"}
	})
	d := open(t, config(devicePath, "port", dev.path, "timeoutMs", 2000),
		property("sp", true, "command", "SP?", "writeCommand", "SP={value}", "writeAck", "^OK$"))
	w := d.Points()[0].(bus.Writer)
	if err := w.Write(20); err != nil {
		t.Fatalf("Write(20): %v", err)
	}
	start := time.Now()
	err := w.Write(200)
	var re *serial.RefusedError
	if !errors.As(err, &re) || re.Reply != "ERR range" || errors.Is(err, hal.ErrTimeout) {
		t.Errorf("Write(200) = %v, want the device's ERR range", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("the refused write took %v; the timeout is 2 s, the answer came at once", d)
	}

	quiet := newScripted(t, func(line string) []string { return []string{"ERR range\n"} })
	d = open(t, config(devicePath, "port", quiet.path, "timeoutMs", 100, "errorPattern", "none"),
		property("sp", true, "command", "SP?", "writeCommand", "SP={value}", "writeAck", "^OK$"))
	err = d.Points()[0].(bus.Writer).Write(200)
	if !errors.Is(err, hal.ErrTimeout) || !strings.Contains(err.Error(), `was "ERR range"`) {
		t.Errorf("with errorPattern none, Write(200) = %v; want a timeout showing the device's ERR range", err)
	}
}

func TestWriteCommandsAsSent(t *testing.T) {
	dev := newScripted(t, silent)
	tests := []struct {
		name  string
		kv    []any
		v     float64
		sends string
	}{
		{"float", []any{"writeCommand", "SET {value}"}, 21.25, "SET 21.25"},
		{"int", []any{"writeCommand", "FAN={value}", "dataType", "int"}, 49.6, "FAN=50"},
		{"scaled int", []any{"writeCommand", "SP{value}", "dataType", "int", "scale", 0.1}, 21.5, "SP215"},
		{"hex", []any{"writeCommand", "W{value}", "dataType", "hex"}, 255, "Wff"},
		{"bool", []any{"writeCommand", "RELAY {value}", "dataType", "bool"}, 1, "RELAY 1"},
		{"no value", []any{"writeCommand", `RESET\x21`}, 1, "RESET!"},
		{"zero", []any{"writeCommand", "Z{value}", "offset", 5}, 5, "Z0"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := append([]any{"command", "X?"}, tt.kv...)
			d := open(t, config(devicePath, "port", dev.path), property("p", true, kv...))
			if err := d.Points()[0].(bus.Writer).Write(tt.v); err != nil {
				t.Fatal(err)
			}
			await.Until(t, "the device to receive the write", func() bool { return len(dev.received()) > i })
			if got := dev.received(); len(got) <= i || got[i] != tt.sends {
				t.Errorf("device received %q, want %q last", got, tt.sends)
			}
		})
	}
	d := open(t, config(devicePath, "port", dev.path),
		property("b", true, "command", "X?", "writeCommand", "B{value}", "dataType", "bool"))
	if err := d.Points()[0].(bus.Writer).Write(0.5); err == nil {
		t.Error("writing 0.5 to a bool succeeded")
	}
}

func TestReadOnlyPropertiesAreNotWriters(t *testing.T) {
	d := open(t, config(devicePath, "port", "ttyACM0"), property("t", false, "command", "READ?"))
	if _, ok := d.Points()[0].(bus.Writer); ok {
		t.Error("a ReadOnly property's Point is a bus.Writer")
	}
}

func TestEverySpellingOfAPortIsOneBus(t *testing.T) {
	for _, port := range []string{"/dev/ttyACM0", "ttyACM0", " ttyACM0 "} {
		d := open(t, config(devicePath, "port", port), property("t", false, "command", "READ?"))
		if got := d.Bus(); got != "serial:"+serialsim.LinePort {
			t.Errorf("port %q: Bus() = %q", port, got)
		}
	}
	d := open(t, config(devicePath, "serialPort", "ttyACM0"), property("t", false, "command", "READ?"))
	if got := d.Bus(); got != "serial:/dev/ttyACM0" {
		t.Errorf("serialPort: Bus() = %q", got)
	}
}

func TestDevicesOnOnePortAgreeOnItsMode(t *testing.T) {
	open(t, config(devicePath, "port", "ttyACM0", "baudRate", 9600), property("t", false, "command", "READ?"))
	_, err := serial.Driver{}.Open(bus.DeviceConfig{Name: "default/other",
		Config:     config(devicePath, "port", "/dev/ttyACM0", "baudRate", 19200),
		Properties: []bus.PropertyConfig{property("t", false, "command", "READ?")}})
	var fe *bus.FieldError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "9600 8N1") {
		t.Errorf("second device at another baud rate = %v, want a FieldError naming the mode in use", err)
	}
	// The devices that listen on one port cut its lines at one line end.
	open(t, config(devicePath, "port", "ttyACM0", "eol", "CRLF"), property("t", false))
	_, err = serial.Driver{}.Open(bus.DeviceConfig{Name: "default/other",
		Config:     config(devicePath, "port", "/dev/ttyACM0", "eol", "CR"),
		Properties: []bus.PropertyConfig{property("t", false)}})
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "line end") {
		t.Errorf("second listening device with another eol = %v, want a FieldError", err)
	}
}

// A device that answers without allocating, for the benchmarks: any line
// gets reply.
func serveFixed(b *testing.B, reply []byte) string {
	p, err := serialsim.NewPty()
	if err != nil {
		b.Fatalf("open a pty: %v", err)
	}
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := p.Master.Read(buf)
			if err != nil {
				return
			}
			if bytes.IndexByte(buf[:n], '\n') >= 0 {
				p.Master.Write(reply)
			}
		}
	}()
	b.Cleanup(func() { p.Close() })
	return p.Path
}

// BenchmarkPolledRead is one sample of a polled property: flush, command,
// reply line, match, parse. The allocation is regexp's (see matcher.match).
func BenchmarkPolledRead(b *testing.B) {
	path := serveFixed(b, []byte("T=23.4 H=45.1\r\n"))
	d := open(b, config(devicePath, "port", path, "timeoutMs", 5000),
		property("t", false, "command", "READ?", "pattern", `T=(-?\d+\.\d)`))
	p := d.Points()[0]
	b.ReportAllocs()
	for b.Loop() {
		if v, err := p.Read(); err != nil || v != 23.4 {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkUnsolicitedRead is one sample of an unsolicited property: the
// newest value, read from its ring.
func BenchmarkUnsolicitedRead(b *testing.B) {
	dev := newScripted(b, silent)
	d := open(b, config(devicePath, "port", dev.path),
		property("t", false, "pattern", `T=(-?\d+\.\d)`, "maxAgeMs", 3_600_000))
	dev.say("T=23.4\n")
	p := d.Points()[0]
	await.Until(b, "the first value", func() bool { _, err := p.Read(); return err == nil })
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Read(); err != nil {
			b.Fatal(err)
		}
	}
}
