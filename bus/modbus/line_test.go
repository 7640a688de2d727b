package modbus_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim/rtuslave"
	"github.com/tinymapper/tinymapper/board/sim/serialsim"
	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/modbus"
	"github.com/tinymapper/tinymapper/bus/serial"
	"github.com/tinymapper/tinymapper/hal"
	"github.com/tinymapper/tinymapper/internal/await"
)

// These tests run the master against slaves on ptys of their own: framing,
// dead slaves, the silence between frames, an unplugged adapter, a port
// shared with line devices.

// fakeSlave is a slave on a pty of its own whose replies the test scripts:
// each request (one write of the master) gets the chunks reply returns,
// written 20 ms apart.
type fakeSlave struct {
	path    string
	mu      sync.Mutex
	reply   func(req []byte) [][]byte
	arrived []time.Time
	replied []time.Time
}

func newFakeSlave(t *testing.T, reply func(req []byte) [][]byte) *fakeSlave {
	t.Helper()
	p, err := serialsim.NewPty()
	if err != nil {
		t.Fatalf("open a pty: %v", err)
	}
	s := &fakeSlave{path: p.Path, reply: reply}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 512)
		for {
			n, err := p.Master.Read(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.arrived = append(s.arrived, time.Now())
			chunks := s.reply(append([]byte(nil), buf[:n]...))
			s.mu.Unlock()
			for i, c := range chunks {
				if i > 0 {
					time.Sleep(20 * time.Millisecond)
				}
				s.mu.Lock()
				s.replied = append(s.replied, time.Now())
				s.mu.Unlock()
				p.Master.Write(c)
			}
		}
	}()
	t.Cleanup(func() { p.Close(); <-done })
	return s
}

func (s *fakeSlave) setReply(reply func(req []byte) [][]byte) {
	s.mu.Lock()
	s.reply = reply
	s.mu.Unlock()
}

func frame(b ...byte) []byte {
	c := modbus.CRC(b)
	return append(b, byte(c), byte(c>>8))
}

// register7 answers any request with holding register value 7 from slave 1.
func register7(req []byte) [][]byte { return [][]byte{frame(1, 3, 2, 0, 7)} }

func TestFraming(t *testing.T) {
	bad := frame(1, 3, 2, 0, 7)
	bad[5] ^= 0xFF
	tests := []struct {
		name  string
		reply func(req []byte) [][]byte
		want  float64
		err   error
		says  string
	}{
		{"a plain reply", register7, 7, nil, ""},
		{"noise before the reply", func([]byte) [][]byte {
			return [][]byte{append([]byte{0x00, 0xFF, 0x01, 0x03, 0x55}, frame(1, 3, 2, 0, 7)...)}
		}, 7, nil, ""},
		{"an adapter's echo before the reply", func(req []byte) [][]byte {
			return [][]byte{append(append([]byte(nil), req...), frame(1, 3, 2, 0, 7)...)}
		}, 7, nil, ""},
		{"a reply in two pieces", func([]byte) [][]byte { f := frame(1, 3, 2, 0, 7); return [][]byte{f[:3], f[3:]} }, 7, nil, ""},
		{"a bad CRC", func([]byte) [][]byte { return [][]byte{bad} }, 0, modbus.ErrCRC, "CRC error"},
		{"noise only", func([]byte) [][]byte { return [][]byte{{0xDE, 0xAD, 0xBE, 0xEF}} }, 0, modbus.ErrFrame, "de ad be ef"},
		{"another slave's reply", func([]byte) [][]byte { return [][]byte{frame(2, 3, 2, 0, 7)} }, 0, modbus.ErrFrame, ""},
		{"a reply of the wrong length", func([]byte) [][]byte { return [][]byte{frame(1, 3, 4, 0, 7, 0, 8)} }, 0, modbus.ErrFrame, ""},
		{"nothing", func([]byte) [][]byte { return nil }, 0, modbus.ErrNoResponse, "no response within 100ms: serial port timed out"},
		{"exception 01", func([]byte) [][]byte { return [][]byte{frame(1, 0x83, 1)} }, 0, modbus.IllegalFunction, "illegal function (exception 01)"},
		{"exception 04", func([]byte) [][]byte { return [][]byte{frame(1, 0x83, 4)} }, 0, modbus.ServerDeviceFailure, "server device failure"},
		{"exception 06 after noise", func([]byte) [][]byte { return [][]byte{{0x01}, frame(1, 0x83, 6)} }, 0, modbus.ServerDeviceBusy, "busy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeSlave(t, tt.reply)
			d := open(t, config(devicePath, "port", s.path, "slaveID", 1, "timeoutMs", 100),
				property("r", false, "register", "HoldingRegister", "offset", 0))
			c := &clock{t: time.Now()}
			d.SetClock(c.Now)
			v, err := d.Points()[0].Read()
			if tt.err == nil {
				if err != nil || v != tt.want {
					t.Fatalf("Read = %v, %v; want %v", v, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("Read = %v; want %v saying %q", err, tt.err, tt.says)
			}
			// The next exchange starts clean (after the back-off of a
			// slave that did not answer).
			c.Advance(time.Minute)
			s.setReply(register7)
			if v := read(t, d.Points()[0]); v != 7 {
				t.Errorf("after the failure: %v", v)
			}
		})
	}
}

// clock is a settable clock for the back-off.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// ownSlave runs a sim slave with address id on a pty of its own.
func ownSlave(t *testing.T, id byte) (*rtuslave.Slave, string) {
	t.Helper()
	p, err := serialsim.NewPty()
	if err != nil {
		t.Fatalf("open a pty: %v", err)
	}
	s := rtuslave.New(id, nil)
	line := &rtuslave.Line{Master: p.Master, TTY: p.TTY, Slaves: []*rtuslave.Slave{s}}
	done := make(chan error, 1)
	go func() { done <- line.Serve() }()
	t.Cleanup(func() { p.Close(); <-done })
	return s, p.Path
}

func TestADeadSlaveCostsItsLineOneTimeoutPerRound(t *testing.T) {
	dead := simBoard.Slaves[1] // slave 2
	dead.SetOffline(true)
	t.Cleanup(func() { dead.SetOffline(false) })
	// Six properties in six requests (four tables, gaps between registers).
	d := open(t, slave(2, "timeoutMs", 300),
		property("t", false, "register", "InputRegister", "offset", 0, "dataType", "int16"),
		property("p", false, "register", "InputRegister", "offset", 3, "dataType", "float32"),
		property("o", false, "register", "InputRegister", "offset", 7, "dataType", "int16"),
		property("sp", false, "register", "HoldingRegister", "offset", 0),
		property("c", false, "register", "CoilRegister", "offset", 0),
		property("di", false, "register", "DiscreteInputRegister", "offset", 4))
	alive := open(t, slave(1, "timeoutMs", 300), property("fan", false, "register", "HoldingRegister", "offset", 1))

	idx := []int{0, 1, 2, 3, 4, 5}
	vals, errs := make([]float64, 6), make([]error, 6)
	start := time.Now()
	d.ReadPoints(idx, vals, errs)
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("a round of 6 points of a dead slave took %v, want one timeout (300 ms), not six", took)
	}
	nothing := 0
	for i, err := range errs {
		switch {
		case errors.Is(err, modbus.ErrNotAnswering):
			if !strings.Contains(err.Error(), "slave 2 not answering; next try in") {
				t.Errorf("point %d: %q does not say when the next try is", i, err)
			}
		case errors.Is(err, modbus.ErrNoResponse):
			nothing++
		default:
			t.Errorf("point %d: %v, want ErrNoResponse or ErrNotAnswering", i, err)
		}
		if !errors.Is(err, hal.ErrTimeout) {
			t.Errorf("point %d: %v does not wrap hal.ErrTimeout", i, err)
		}
	}
	if nothing != 1 {
		t.Errorf("%d requests went unanswered, want 1: the rest of the round is not sent", nothing)
	}
	// The next rounds within the back-off cost the line nothing, and the
	// other slave on it answers at once.
	start = time.Now()
	for i := 0; i < 3; i++ {
		d.ReadPoints(idx, vals, errs)
		if v := read(t, alive.Points()[0]); v != 50 {
			t.Errorf("slave 1 fan speed %v", v)
		}
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("three backed-off rounds and three reads of the live slave took %v", took)
	}
}

func TestAnUnansweringSlaveIsBackedOffExponentiallyAndRecovers(t *testing.T) {
	s, path := ownSlave(t, 9)
	d := open(t, config(devicePath, "port", path, "slaveID", 9, "baudRate", 9600, "parity", "none", "timeoutMs", 250),
		property("fan", true, "register", "HoldingRegister", "offset", 1))
	c := &clock{t: time.Now()}
	d.SetClock(c.Now)
	fan := d.Points()[0]
	if v := read(t, fan); v != 50 {
		t.Fatalf("fan %v", v)
	}
	s.SetOffline(true)
	for _, next := range []string{"1s", "2s", "4s", "8s", "16s", "30s", "30s"} {
		if _, err := fan.Read(); !errors.Is(err, modbus.ErrNoResponse) {
			t.Fatalf("a try at the offline slave = %v, want ErrNoResponse", err)
		}
		start := time.Now()
		_, err := fan.Read()
		if !errors.Is(err, modbus.ErrNotAnswering) || !strings.Contains(err.Error(), "slave 9 not answering; next try in "+next) {
			t.Fatalf("read right after = %v, want ErrNotAnswering, next try in %s", err, next)
		}
		// Shorter than the 250 ms timeout, with room for a busy machine.
		if took := time.Since(start); took > 100*time.Millisecond {
			t.Errorf("a backed-off read took %v: it must not wait for the slave", took)
		}
		c.Advance(time.Minute)
	}

	// It answers again: the first try after the back-off reads it, and
	// the back-off is over.
	s.SetOffline(false)
	if v := read(t, fan); v != 50 {
		t.Errorf("back online: %v", v)
	}
	if v := read(t, fan); v != 50 {
		t.Errorf("the read after: %v", v)
	}

	// Writes are always sent, and an answer to one ends a back-off.
	s.SetOffline(true)
	fan.Read()
	s.SetOffline(false)
	write(t, fan, 60)
	if v := read(t, fan); v != 60 {
		t.Errorf("read after the write that ended the back-off: %v, want 60", v)
	}
}

func TestRequestsWaitForTheInterFrameSilence(t *testing.T) {
	s := newFakeSlave(t, register7)
	// 1200 baud 8E1: a character is 11 bits, 9.17 ms; 3.5 of them 32 ms.
	d := open(t, config(devicePath, "port", s.path, "slaveID", 1, "baudRate", 1200),
		property("r", false, "register", "HoldingRegister"))
	for i := 0; i < 4; i++ {
		read(t, d.Points()[0])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	const silence = 3500 * 11 * time.Second / 1200 / 1000
	for i := 1; i < len(s.arrived); i++ {
		if gap := s.arrived[i].Sub(s.replied[i-1]); gap < silence {
			t.Errorf("request %d came %v after the reply before it, want at least %v", i, gap, silence)
		}
	}
}

func TestExceptionStrings(t *testing.T) {
	for x, want := range map[modbus.Exception]string{
		modbus.IllegalFunction:      "illegal function (exception 01)",
		modbus.IllegalDataAddress:   "illegal data address (exception 02)",
		modbus.IllegalDataValue:     "illegal data value (exception 03)",
		modbus.GatewayTargetNoReply: "gateway target device failed to respond (exception 0B)",
		0x42:                        "unknown exception (exception 42)",
	} {
		if x.Error() != want {
			t.Errorf("%d: %q, want %q", x, x.Error(), want)
		}
	}
}

func TestCRCOfTheSpecificationsExample(t *testing.T) {
	if c := modbus.CRC([]byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A}); c != 0xCDC5 {
		t.Errorf("CRC = %#04x, want 0xcdc5 (sent C5 CD)", c)
	}
}

// fixedSlave answers every request with reply, without allocating, so that
// a benchmark counts the master's allocations only (the sim's slaves frame
// by a read deadline, and each deadline allocates an error in package os).
func fixedSlave(b *testing.B, reply []byte) string {
	p, err := serialsim.NewPty()
	if err != nil {
		b.Fatalf("open a pty: %v", err)
	}
	go func() {
		buf := make([]byte, 256)
		for {
			if _, err := p.Master.Read(buf); err != nil {
				return
			}
			p.Master.Write(reply)
		}
	}()
	b.Cleanup(func() { p.Close() })
	return p.Path
}

// BenchmarkRead is one sample of one register: the silence, the request,
// the reply found and checked, the value decoded.
func BenchmarkRead(b *testing.B) {
	path := fixedSlave(b, frame(1, 4, 2, 0, 250))
	d := open(b, config(devicePath, "port", path, "slaveID", 1, "baudRate", 115200),
		property("t", false, "register", "InputRegister", "offset", 0, "dataType", "int16", "scale", 0.1))
	p := d.Points()[0]
	b.ReportAllocs()
	for b.Loop() {
		if v, err := p.Read(); err != nil || v != 25 {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkReadPoints10 is ten registers read in one request.
func BenchmarkReadPoints10(b *testing.B) {
	reply := []byte{1, 4, 20}
	for i := 0; i < 10; i++ {
		reply = append(reply, 0, byte(i))
	}
	path := fixedSlave(b, frame(reply...))
	var props []bus.PropertyConfig
	for i := 0; i < 10; i++ {
		props = append(props, property(fmt.Sprint(i), false, "register", "InputRegister", "offset", i))
	}
	d := open(b, config(devicePath, "port", path, "slaveID", 1, "baudRate", 115200), props...)
	idx := []int{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}
	vals, errs := make([]float64, 10), make([]error, 10)
	b.ReportAllocs()
	for b.Loop() {
		d.ReadPoints(idx, vals, errs)
		if errs[0] != nil || vals[0] != 9 {
			b.Fatal(vals[0], errs[0])
		}
	}
}

func TestAReplugedAdapterIsUsedAgainWithoutARestart(t *testing.T) {
	const name = "/dev/ttyTEST-rs485"
	line := func() (*serialsim.Pty, *rtuslave.Slave) {
		p, err := serialsim.NewPty()
		if err != nil {
			t.Fatalf("open a pty: %v", err)
		}
		s := rtuslave.New(5, nil)
		done := make(chan error, 1)
		go func() {
			done <- (&rtuslave.Line{Master: p.Master, TTY: p.TTY, Slaves: []*rtuslave.Slave{s}}).Serve()
		}()
		t.Cleanup(func() { p.Close(); <-done })
		return p, s
	}
	first, _ := line()
	if err := hal.RegisterSerial(name, nil, first.Path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hal.UnregisterSerial(name) })
	d := open(t, config(devicePath, "port", name, "slaveID", 5, "baudRate", 9600, "timeoutMs", 100),
		property("fan", true, "register", "HoldingRegister", "offset", 1))
	fan := d.Points()[0]
	write(t, fan, 70)

	first.Close() // the USB adapter is unplugged
	_, err := fan.Read()
	if !errors.Is(err, hal.ErrPortGone) {
		t.Fatalf("read with the adapter unplugged = %v, want hal.ErrPortGone", err)
	}
	if errors.Is(err, modbus.ErrNoResponse) {
		t.Errorf("%v blames the slave for the port", err)
	}

	hal.UnregisterSerial(name)
	second, _ := line()
	if err := hal.RegisterSerial(name, nil, second.Path); err != nil {
		t.Fatal(err)
	}
	var v float64
	await.Until(t, "the port to come back", func() bool {
		v, err = fan.Read()
		return err == nil
	})
	if v != 50 {
		t.Errorf("fan speed %v from the new line's slave, want its power-on 50", v)
	}
}

func TestModbusAndUnsolicitedLinePropertiesDoNotShareAPort(t *testing.T) {
	const name = "/dev/ttyTEST-mixed"
	_, path := ownSlave(t, 1)
	if err := hal.RegisterSerial(name, nil, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hal.UnregisterSerial(name) })
	lineDev := func(props ...bus.PropertyConfig) (bus.Device, error) {
		return serial.Driver{}.Open(bus.DeviceConfig{Name: "default/line",
			Config: config(devicePath, "port", name, "baudRate", 19200, "parity", "even"), Properties: props})
	}
	unsolicited := property("t", false, "pattern", `T=(\d+)`)
	polled := property("id", false, "command", "ID?")
	slaveDev := func() (bus.Device, error) {
		return modbus.Driver{}.Open(bus.DeviceConfig{Name: "default/slave",
			Config: config(devicePath, "port", name, "slaveID", 1), Properties: []bus.PropertyConfig{property("fan", false, "register", "HoldingRegister", "offset", 1)}})
	}
	refused := func(t *testing.T, what string, d bus.Device, err error) {
		t.Helper()
		if err == nil {
			d.Close()
			t.Fatalf("%s opened", what)
		}
		var fe *bus.FieldError
		if !errors.As(err, &fe) || fe.Field != devicePath+".port" || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error of %s.port naming %s", what, err, devicePath, name)
		}
	}

	t.Run("a slave on a port with unsolicited properties", func(t *testing.T) {
		line, err := lineDev(unsolicited)
		if err != nil {
			t.Fatal(err)
		}
		defer line.Close()
		d, err := slaveDev()
		refused(t, "the Modbus device", d, err)
	})
	t.Run("unsolicited properties on a port with a slave", func(t *testing.T) {
		slave, err := slaveDev()
		if err != nil {
			t.Fatal(err)
		}
		d, err := lineDev(polled, unsolicited)
		refused(t, "the line device", d, err)
		// Closing the slave ends its claim.
		slave.Close()
		if d, err = lineDev(unsolicited); err != nil {
			t.Errorf("after the slave closed: %v", err)
		} else {
			d.Close()
		}
	})
	t.Run("polled line properties share a port with a slave", func(t *testing.T) {
		slave, err := slaveDev()
		if err != nil {
			t.Fatal(err)
		}
		defer slave.Close()
		line, err := lineDev(polled)
		if err != nil {
			t.Fatalf("a polled line device next to a slave: %v", err)
		}
		line.Close()
		if v := read(t, slave.Points()[0]); v != 50 {
			t.Errorf("fan %v", v)
		}
	})
}

func TestACRDWithTheWrongModeFailsOnTheSimAsOnHardware(t *testing.T) {
	// The sim's line runs at 19200 8E1 (serialsim.ModbusMode).
	for _, kv := range [][]any{{"baudRate", 9600}, {"parity", "odd"}, {"stopBits", 2}} {
		t.Run(fmt.Sprint(kv...), func(t *testing.T) {
			d := open(t, slave(1, append(kv, "timeoutMs", 100)...), property("fan", false, "register", "HoldingRegister", "offset", 1))
			if _, err := d.Points()[0].Read(); !errors.Is(err, modbus.ErrNoResponse) {
				t.Errorf("read at the wrong mode = %v, want no response", err)
			}
		})
	}
}
