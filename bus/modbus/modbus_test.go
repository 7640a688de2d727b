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
	"github.com/tinymapper/tinymapper/board/sim/serialsim"
	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/modbus"
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
		{"the mapper's float: limit raw registers × scale", []any{"register", "InputRegister", "offset", 0, "limit", 1, "dataType", "float", "scale", 0.1}, 20, 25},
		{"the mapper's float with limit 2: unsigned, not IEEE", []any{"register", "InputRegister", "offset", 8, "limit", 2, "dataType", "float"}, 0xFFFE1DC0, 0xFFFE1DC0},
		{"the mapper's double", []any{"register", "InputRegister", "offset", 1, "limit", 1, "dataType", "double", "scale", 0.1}, 35, 55},
		{"the mapper's string: the raw number", []any{"register", "InputRegister", "offset", 8, "limit", 1, "dataType", "string"}, 0xFFFE, 0xFFFE},
		{"the mapper's Float, any case", []any{"register", "InputRegister", "offset", 0, "limit", 1, "dataType", "Float", "scale", 0.1}, 20, 25},
		{"the mapper's boolean", []any{"register", "InputRegister", "offset", 8, "limit", 1, "dataType", "boolean"}, 1, 1},
		{"float32 keeps its IEEE meaning", []any{"register", "InputRegister", "offset", 3, "limit", 2, "dataType", "float32"}, 1008.25, 1018.25},
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

// KubeEdge's modbus mapper keys that mean nothing here are warned about,
// each once, saying why; unknown keys are warned about as such.
func TestKubeEdgesLeftoverKeysAreWarnings(t *testing.T) {
	d := open(t, slave(1, "communicateMode", "RTU", "ip", "10.0.0.9"),
		property("p", false, "register", "InputRegister", "dataType", "float", "limit", 1, "max", 100.0, "min", 1.0, "maxx", 3))
	want := []string{
		"configData.communicateMode: KubeEdge's modbus mapper key (TCP or RTU)",
		"configData.ip: KubeEdge's modbus mapper key for Modbus TCP",
		"configData.max: KubeEdge's modbus mapper key, ignored: the DeviceModel's maximum",
		"configData.min: KubeEdge's modbus mapper key, ignored: the DeviceModel's minimum",
		"configData.maxx: unknown key, ignored",
	}
	w := d.Warnings()
	if len(w) != len(want) {
		t.Fatalf("Warnings() = %q, want %d", w, len(want))
	}
	for i := range want {
		if !strings.Contains(w[i], want[i]) {
			t.Errorf("warning %d = %q, want %q", i, w[i], want[i])
		}
	}
}

func TestCommunicateModeTCPSaysModbusTCPIsNotSpoken(t *testing.T) {
	d := open(t, slave(1, "communicateMode", "tcp"), property("p", false, "register", "InputRegister"))
	if w := d.Warnings(); len(w) != 1 || !strings.Contains(w[0], "configData.communicateMode: TCP is Modbus TCP, which modbus-rtu does not speak") {
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
		{"writing an input register", ok, []any{"register", "InputRegister"}, true, "configData.register", "is read-only in Modbus"},
		{"writing discrete inputs", ok, []any{"register", "DiscreteInputRegister"}, true, "configData.register", "is read-only in Modbus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := bustest.Refused(t, modbus.Driver{}, bus.DeviceConfig{Name: "default/bad", Config: config(devicePath, tt.dev...),
				Properties: []bus.PropertyConfig{property("p", tt.writable, tt.prop...)}})
			if !strings.Contains(fe.Field, tt.field) || !strings.Contains(fe.Error(), tt.want) {
				t.Errorf("error %q (field %s), want field %s saying %q", fe, fe.Field, tt.field, tt.want)
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
