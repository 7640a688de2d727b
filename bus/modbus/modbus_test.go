package modbus_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/rtuslave"
	"github.com/tinymapper/tinymapper/board/sim/serialsim"
	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/modbus"
	"github.com/tinymapper/tinymapper/bus/serial"
	"github.com/tinymapper/tinymapper/hal"
)

// These tests run the RTU master over real pseudo-terminals: against the sim
// board's slaves 1 and 2 on /dev/ttyUSB0, and against scripted slaves on
// ptys of their own.

var simBoard *serialsim.Board

func TestMain(m *testing.M) {
	if err := sim.Register(); err != nil {
		fmt.Fprintln(os.Stderr, "register the sim board:", err)
		os.Exit(1)
	}
	b, err := serialsim.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the sim serial ports:", err)
		os.Exit(1)
	}
	simBoard = b
	os.Exit(m.Run())
}

// config builds configData as EdgeCore sends it (see bustest).
var config = bustest.Config

const devicePath = bustest.DevicePath

func property(name string, writable bool, kv ...any) bus.PropertyConfig {
	return bus.PropertyConfig{Name: name, Type: "FLOAT", Writable: writable,
		Config: config(bustest.PropertyPath(name), kv...)}
}

// slave returns the configData of a slave on the sim's Modbus line, at the
// line's mode: the driver's default, 19200 8E1.
func slave(id int, kv ...any) bus.Config {
	return config(devicePath, append([]any{"port", "/dev/ttyUSB0", "slaveID", id}, kv...)...)
}

// open opens a device and closes it when the test ends.
func open(t testing.TB, dev bus.Config, props ...bus.PropertyConfig) *modbus.Device {
	t.Helper()
	return bustest.Open(t, modbus.Driver{}, dev, props...).(*modbus.Device)
}

// read and write fail the test on an error.
var read, write = bustest.Read, bustest.Write

func TestProtocolIsModbusRTU(t *testing.T) {
	if got := (modbus.Driver{}).Protocol(); got != "modbus-rtu" {
		t.Errorf("Protocol() = %q", got)
	}
}

func TestReadsEveryTableAndType(t *testing.T) {
	now := float64(time.Now().Unix())
	tests := []struct {
		name   string
		kv     []any
		lo, hi float64
	}{
		{"int16 temperature ×0.1", []any{"register", "InputRegister", "offset", 0, "dataType", "int16", "scale", 0.1}, 20, 25},
		{"uint16 humidity ×0.1", []any{"register", "InputRegister", "offset", 1, "dataType", "uint16", "scale", 0.1}, 35, 55},
		{"float32 pressure", []any{"register", "InputRegister", "offset", 3, "dataType", "float32"}, 1008.25, 1018.25},
		{"uint32 unix time", []any{"register", "InputRegister", "offset", 5, "dataType", "uint32"}, now - 5, now + 5},
		{"negative int16 ×0.1", []any{"register", "inputregister", "offset", 7, "dataType", "int16", "scale", 0.1}, -15, 5},
		{"int32", []any{"register", "InputRegister", "offset", 8, "dataType", "int32"}, -123456, -123456},
		{"limit 2, no dataType: uint32", []any{"register", "InputRegister", "offset", 8, "limit", 2}, 0xFFFE1DC0, 0xFFFE1DC0},
		{"the mapper's int: unsigned", []any{"register", "InputRegister", "offset", 8, "limit", 2, "dataType", "int"}, 0xFFFE1DC0, 0xFFFE1DC0},
		{"the mapper's float", []any{"register", "InputRegister", "offset", 3, "limit", 2, "dataType", "float"}, 1008.25, 1018.25},
		{"offset as a string", []any{"register", "InputRegister", "offset", "0x0008", "dataType", "int32"}, -123456, -123456},
		{"holding setpoint default", []any{"register", "HoldingRegister", "offset", 0, "scale", 0.1}, 10, 40},
		{"coil", []any{"register", "CoilRegister", "offset", 7}, 0, 1},
		{"discrete input", []any{"register", "DiscreteInputRegister", "offset", 6, "dataType", "bool"}, 0, 1},
		{"eight coils as uint8", []any{"register", "CoilRegister", "offset", 0, "limit", 8, "dataType", "uint8"}, 0, 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := open(t, slave(1), property("p", false, tt.kv...))
			if v := read(t, d.Points()[0]); v < tt.lo-1e-9 || v > tt.hi+1e-9 || math.IsNaN(v) {
				t.Errorf("read %v, want within [%v, %v]", v, tt.lo, tt.hi)
			}
		})
	}
}

func TestWritesReadBack(t *testing.T) {
	d := open(t, slave(1),
		property("setpoint", true, "register", "HoldingRegister", "offset", 0, "dataType", "int16", "scale", 0.1),
		property("counter", true, "register", "HoldingRegister", "offset", 4, "dataType", "int32"),
		property("ratio", true, "register", "HoldingRegister", "offset", 6, "dataType", "float32", "isRegisterSwap", true),
		property("relay", true, "register", "CoilRegister", "offset", 2),
		property("relays", true, "register", "CoilRegister", "offset", 0, "limit", 8, "dataType", "uint8"),
		property("feedback", false, "register", "DiscreteInputRegister", "offset", 2),
		property("flag", true, "register", "HoldingRegister", "offset", 9, "dataType", "bool"),
	)
	p := d.Points()
	t.Cleanup(func() {
		p[0].(bus.Writer).Write(21.5)
		p[4].(bus.Writer).Write(0)
	})
	for _, step := range []struct {
		point int
		v     float64
	}{{0, 23.5}, {0, -4.2}, {1, -100000}, {1, 2147483647}, {2, 1.25}, {3, 1}, {4, 0xA5}, {6, 1}, {3, 0}, {6, 0}} {
		write(t, p[step.point], step.v)
		if got := read(t, p[step.point]); math.Abs(got-step.v) > 1e-9 {
			t.Errorf("%d: read back %v after writing %v", step.point, got, step.v)
		}
	}
	write(t, p[4], 0b00000100)
	if v := read(t, p[5]); v != 1 {
		t.Errorf("discrete input 2 = %v after setting coil 2 with function 15", v)
	}
	if got := int16(simBoard.Slaves[0].Holding(0)); got != -42 {
		t.Errorf("slave holds %d in register 0, want -42 from -4.2 × 10 (FC6)", got)
	}
	if _, ok := d.Points()[5].(bus.Writer); ok {
		t.Error("a ReadOnly property is a bus.Writer")
	}
}

func TestWritesOutOfRangeAreRefusedBeforeTheBus(t *testing.T) {
	d := open(t, slave(1),
		property("small", true, "register", "HoldingRegister", "offset", 2, "dataType", "uint16"),
		property("relay", true, "register", "CoilRegister", "offset", 2),
	)
	before := simBoard.Slaves[0].Requests()
	for _, tt := range []struct {
		p int
		v float64
	}{{0, 65536}, {0, -1}, {0, math.NaN()}, {1, 2}, {1, 0.5}} {
		if err := d.Points()[tt.p].(bus.Writer).Write(tt.v); err == nil {
			t.Errorf("Write(%v) succeeded", tt.v)
		}
	}
	if simBoard.Slaves[0].Requests() != before {
		t.Error("refused writes reached the slave")
	}
}

func TestSwapsFollowKubeEdgesMapper(t *testing.T) {
	raw := open(t, slave(1), property("raw", true, "register", "HoldingRegister", "offset", 4, "dataType", "uint32"))
	t.Cleanup(func() { raw.Points()[0].(bus.Writer).Write(0) })
	write(t, raw.Points()[0], 0x11223344) // registers 4, 5 = 0x1122, 0x3344
	tests := []struct {
		name string
		kv   []any
		want float64
	}{
		{"no swap", nil, 0x11223344},
		{"isRegisterSwap", []any{"isRegisterSwap", true}, 0x33441122},
		{"isSwap", []any{"isSwap", true}, 0x22114433},
		{"both", []any{"isSwap", "true", "isRegisterSwap", 1}, 0x44332211},
	}
	for _, tt := range tests {
		kv := append([]any{"register", "HoldingRegister", "offset", 4, "limit", 2}, tt.kv...)
		d := open(t, slave(1), property("p", false, kv...))
		if v := read(t, d.Points()[0]); v != tt.want {
			t.Errorf("%s: %#x, want %#x", tt.name, uint32(v), uint32(tt.want))
		}
	}
}

func TestExceptionsNameTheirCause(t *testing.T) {
	d := open(t, slave(1),
		property("missing", false, "register", "InputRegister", "offset", 20),
		property("fan", true, "register", "HoldingRegister", "offset", 1),
		property("coil", true, "register", "CoilRegister", "offset", 9),
	)
	_, err := d.Points()[0].Read()
	var x modbus.Exception
	if !errors.As(err, &x) || x != modbus.IllegalDataAddress {
		t.Fatalf("read past the map = %v, want IllegalDataAddress", err)
	}
	for _, want := range []string{"/dev/ttyUSB0", "slave 1", "InputRegister 20", "missing", "illegal data address (exception 02)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	err = d.Points()[1].(bus.Writer).Write(101)
	if !errors.As(err, &x) || x != modbus.IllegalDataValue || !strings.Contains(err.Error(), "illegal data value") {
		t.Errorf("fan speed 101 = %v, want IllegalDataValue", err)
	}
	if err := d.Points()[2].(bus.Writer).Write(1); !errors.As(err, &x) || x != modbus.IllegalDataAddress {
		t.Errorf("coil 9 = %v, want IllegalDataAddress", err)
	}
	if v := read(t, d.Points()[1]); v != 50 {
		t.Errorf("fan speed %v after the refused write, want 50", v)
	}
}

func TestBatchReadsContiguousRegistersInOneRequest(t *testing.T) {
	d := open(t, slave(1),
		property("outdoor", false, "register", "InputRegister", "offset", 7, "dataType", "int16", "scale", 0.1),
		property("temperature", false, "register", "InputRegister", "offset", 0, "dataType", "int16", "scale", 0.1),
		property("humidity", false, "register", "InputRegister", "offset", 1, "scale", 0.1),
		property("seconds", false, "register", "InputRegister", "offset", 2),
		property("pressure", false, "register", "InputRegister", "offset", 3, "dataType", "float32"),
		property("unix", false, "register", "InputRegister", "offset", 5, "dataType", "uint32"),
		property("unix-low", false, "register", "InputRegister", "offset", 6), // overlaps "unix"
		property("fixed", false, "register", "InputRegister", "offset", 8, "dataType", "int32"),
		property("setpoint", false, "register", "HoldingRegister", "offset", 0),
		property("coil", false, "register", "CoilRegister", "offset", 1),
	)
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	vals, errs := make([]float64, len(idx)), make([]error, len(idx))
	before := simBoard.Slaves[0].Requests()
	d.ReadPoints(idx, vals, errs)
	if n := simBoard.Slaves[0].Requests() - before; n != 3 {
		t.Errorf("%d requests, want 3: input registers 0-9, holding 0, coil 1", n)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("point %d: %v", i, err)
		}
	}
	if vals[0] < -15 || vals[0] > 5 || vals[1] < 20 || vals[1] > 25 || vals[7] != -123456 {
		t.Errorf("values %v", vals)
	}
	if uint16(vals[5]) != uint16(vals[6]) {
		t.Errorf("unix %v and its low register %v disagree", vals[5], vals[6])
	}
	for _, i := range []int{7, 8} { // the values that do not change with time
		if v := read(t, d.Points()[i]); v != vals[i] {
			t.Errorf("point %d alone = %v, batched %v", i, v, vals[i])
		}
	}
}

func TestABatchTheSlaveRefusesIsReadPointByPoint(t *testing.T) {
	d := open(t, slave(1),
		property("fixed", false, "register", "InputRegister", "offset", 8, "dataType", "int32"),
		property("beyond", false, "register", "InputRegister", "offset", 10),
	)
	vals, errs := make([]float64, 2), make([]error, 2)
	d.ReadPoints([]int{1, 0}, vals, errs)
	var x modbus.Exception
	if errs[1] != nil || vals[1] != -123456 {
		t.Errorf("fixed = %v, %v; want -123456", vals[1], errs[1])
	}
	if !errors.As(errs[0], &x) || x != modbus.IllegalDataAddress || !strings.Contains(errs[0].Error(), "beyond") {
		t.Errorf("beyond = %v, want its own illegal data address", errs[0])
	}
}

func TestTwoSlavesShareOnePort(t *testing.T) {
	one := open(t, slave(1), property("r", true, "register", "HoldingRegister", "offset", 3))
	two := open(t, config(devicePath, "port", "ttyUSB0", "slaveID", 2, "baudRate", 19200, "parity", "even"),
		property("r", true, "register", "HoldingRegister", "offset", 3))
	if one.Bus() != "serial:/dev/ttyUSB0" || two.Bus() != one.Bus() {
		t.Errorf("Bus() = %q and %q, want serial:/dev/ttyUSB0 for both", one.Bus(), two.Bus())
	}
	t.Cleanup(func() {
		one.Points()[0].(bus.Writer).Write(0)
		two.Points()[0].(bus.Writer).Write(0)
	})
	write(t, one.Points()[0], 111)
	write(t, two.Points()[0], 222)
	// Hammer both from two goroutines: the port is held per exchange, so
	// frames never interleave and every reply is the right slave's.
	var wg sync.WaitGroup
	for _, c := range []struct {
		d    *modbus.Device
		want float64
	}{{one, 111}, {two, 222}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				v, err := c.d.Points()[0].Read()
				if err != nil || v != c.want {
					t.Errorf("read %v, %v; want %v", v, err, c.want)
					return
				}
			}
		}()
	}
	wg.Wait()
	if simBoard.Slaves[0].CRCErrors()+simBoard.Slaves[1].CRCErrors() != 0 {
		t.Errorf("the slaves saw %d and %d CRC errors: frames were interleaved", simBoard.Slaves[0].CRCErrors(), simBoard.Slaves[1].CRCErrors())
	}
	_, err := modbus.Driver{}.Open(bus.DeviceConfig{Name: "default/slow", Config: config(devicePath, "port", "/dev/ttyUSB0", "slaveID", 3, "baudRate", 9600),
		Properties: []bus.PropertyConfig{property("r", false, "register", "HoldingRegister")}})
	if err == nil || !strings.Contains(err.Error(), "already open at 19200 8E1") {
		t.Errorf("a slave at another baud rate on the same port = %v", err)
	}
}

func TestUnknownKeysAreWarnings(t *testing.T) {
	d := open(t, slave(1, "slaveId", 1), property("p", false, "register", "CoilRegister", "ofset", 1, "isSwap", true))
	w := d.Warnings()
	if len(w) != 3 || !strings.Contains(w[0], "slaveId") || !strings.Contains(w[1], "do not apply to CoilRegister") || !strings.Contains(w[2], "ofset") {
		t.Errorf("Warnings() = %q", w)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	ok := []any{"port", "/dev/ttyUSB0", "slaveID", 1, "baudRate", 115200}
	reg := func(kv ...any) []any { return append([]any{"register", "HoldingRegister"}, kv...) }
	tests := []struct {
		name     string
		dev      []any
		prop     []any
		writable bool
		field    string
		want     string
	}{
		{"no slaveID", []any{"port", "ttyUSB0"}, reg(), false, "configData.slaveID", "is required"},
		{"slaveID 0", []any{"port", "ttyUSB0", "slaveID", 0}, reg(), false, "configData.slaveID", "out of range [1, 247]"},
		{"slaveID 248", []any{"port", "ttyUSB0", "slaveID", 248}, reg(), false, "configData.slaveID", "out of range"},
		{"no port", []any{"slaveID", 1}, reg(), false, "configData.port", "is required"},
		{"parity", append(ok, "parity", "evenly"), reg(), false, "configData.parity", "not one of"},
		{"no register", ok, []any{"offset", 1}, false, "configData.register", "is required"},
		{"unknown register", ok, []any{"register", "Coils"}, false, "configData.register", "not one of CoilRegister"},
		{"offset too big", ok, reg("offset", 65536), false, "configData.offset", "out of range"},
		{"runs past 65535", ok, reg("offset", 65535, "dataType", "int32"), false, "configData.offset", "runs past"},
		{"unknown dataType", ok, reg("dataType", "int24"), false, "configData.dataType", "not one of"},
		{"limit that makes no number", ok, reg("limit", 3), false, "configData.limit", "give 1, 2 or 4"},
		{"limit against dataType", ok, reg("limit", 1, "dataType", "float32"), false, "configData.limit", "a float32 takes 2"},
		{"limit over 125", ok, reg("limit", 126), false, "configData.limit", "out of range"},
		{"float on coils", ok, []any{"register", "CoilRegister", "dataType", "float32"}, false, "configData.dataType", "does not apply to CoilRegister"},
		{"bool of three coils", ok, []any{"register", "CoilRegister", "limit", 3, "dataType", "bool"}, false, "configData.limit", "do not make a bool"},
		{"nine coils in a uint8", ok, []any{"register", "CoilRegister", "limit", 9, "dataType", "uint8"}, false, "configData.limit", "do not fit a uint8"},
		{"scale 0", ok, reg("scale", 0), false, "configData.scale", "must not be 0"},
		{"isSwap not a bool", ok, reg("isSwap", "yes"), false, "configData.isSwap", "not true or false"},
		{"writing an input register", ok, []any{"register", "InputRegister"}, true, "configData.register", "cannot be written"},
		{"writing discrete inputs", ok, []any{"register", "DiscreteInputRegister"}, true, "configData.register", "cannot be written"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := modbus.Driver{}.Open(bus.DeviceConfig{Name: "default/bad", Config: config(devicePath, tt.dev...),
				Properties: []bus.PropertyConfig{property("p", tt.writable, tt.prop...)}})
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			var fe *bus.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%v is not a *bus.FieldError", err)
			}
			if !strings.Contains(fe.Field, tt.field) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q (field %s), want field %s saying %q", err, fe.Field, tt.field, tt.want)
			}
		})
	}
	_, err := modbus.Driver{}.Open(bus.DeviceConfig{Name: "default/bad", Config: config(devicePath, ok...),
		Properties: []bus.PropertyConfig{{Name: "s", Type: "STRING", Config: config("s", "register", "HoldingRegister")}}})
	if err == nil || !strings.Contains(err.Error(), "STRING is not supported") {
		t.Errorf("STRING property = %v", err)
	}
}

func TestConfigDefaultsAreTheSpecifications(t *testing.T) {
	c, err := modbus.ParseConfig(config(devicePath, "serialPort", "/dev/ttyS0", "slaveID", "0x10"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode.String() != "19200 8E1" || c.Timeout != 500*time.Millisecond || c.SlaveID != 16 || c.Port != "/dev/ttyS0" {
		t.Errorf("defaults: %+v", c)
	}
}

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
		t.Skip(err)
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
		t.Skip(err)
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
	d := open(t, config(devicePath, "port", path, "slaveID", 9, "baudRate", 9600, "parity", "none", "timeoutMs", 30),
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
		if took := time.Since(start); took > 20*time.Millisecond {
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
		b.Skip(err)
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
			t.Skip(err)
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
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := fan.Read()
		if err == nil {
			if v != 50 {
				t.Errorf("fan speed %v from the new line's slave, want its power-on 50", v)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the port did not come back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
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
