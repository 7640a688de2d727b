package modbus

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/tinymapper/tinymapper/bus"
)

var fuzzFCs = [...]byte{fcReadCoils, fcReadDiscreteInputs, fcReadHoldingRegisters, fcReadInputRegisters,
	fcWriteSingleCoil, fcWriteSingleRegister, fcWriteMultipleCoils, fcWriteMultipleRegisters}

// fuzzRequest builds a valid request from fuzz input.
func fuzzRequest(fcIndex uint8, addr, qty uint16) []byte {
	fc := fuzzFCs[int(fcIndex)%len(fuzzFCs)]
	switch fc {
	case fcReadCoils, fcReadDiscreteInputs:
		return readRequest(nil, 1, fc, addr, qty%maxReadBits+1)
	case fcReadHoldingRegisters, fcReadInputRegisters:
		return readRequest(nil, 1, fc, addr, qty%maxReadRegisters+1)
	case fcWriteSingleCoil, fcWriteSingleRegister:
		return appendCRC([]byte{1, fc, byte(addr >> 8), byte(addr), byte(qty >> 8), byte(qty)})
	case fcWriteMultipleCoils:
		n := qty%64 + 1
		b := []byte{1, fc, byte(addr >> 8), byte(addr), 0, byte(n), byte((n + 7) / 8)}
		return appendCRC(append(b, make([]byte, (n+7)/8)...))
	}
	n := qty%maxWriteRegisters + 1
	b := []byte{1, fc, byte(addr >> 8), byte(addr), 0, byte(n), byte(2 * n)}
	return appendCRC(append(b, make([]byte, 2*n)...))
}

// FuzzDecodeFrame feeds arbitrary bytes to the response decoder as the reply
// to a valid request: it must never panic, and what it accepts must be a
// frame with a valid CRC, from the slave asked, of the length the request
// implies.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(uint8(2), uint16(0), uint16(0), []byte{1, 3, 2, 0, 7, 0xF9, 0x86})
	f.Add(uint8(3), uint16(0), uint16(9), append([]byte{0xFF, 0x00}, appendCRC([]byte{1, 4, 20, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8, 0, 9, 0, 10})...))
	f.Add(uint8(2), uint16(0), uint16(0), appendCRC([]byte{1, 0x83, 2}))
	f.Add(uint8(5), uint16(1), uint16(0x0065), appendCRC([]byte{1, 6, 0, 1, 0, 0x65}))
	f.Fuzz(func(t *testing.T, fcIndex uint8, addr, qty uint16, buf []byte) {
		req := fuzzRequest(fcIndex, addr, qty)
		data, err := DecodeResponse(req, buf)
		var x Exception
		switch {
		case errors.As(err, &x):
			return
		case errors.Is(err, ErrCRC), errors.Is(err, ErrFrame):
			return
		case err != nil:
			t.Fatalf("error %v", err)
		}
		n := replyLen(req)
		if req[1] <= fcReadInputRegisters {
			if len(data) != n-5 {
				t.Fatalf("data of %d bytes, want %d", len(data), n-5)
			}
			i := cap(buf) - cap(data) - 3 // data is a slice of buf
			if i < 0 || i+n > len(buf) || !bytes.Equal(buf[i+3:i+3+len(data)], data) || !crcOK(buf[i:i+n]) || buf[i] != 1 || buf[i+1] != req[1] {
				t.Fatalf("accepted data % x not inside a valid frame of % x", data, buf)
			}
			tb := table(req[1] - 1)
			s := spec{table: tb, addr: addr, count: 1, typ: typeUint16, scale: 1}
			if tables[tb].bits {
				s.typ = typeBool
			}
			if _, err := s.decode(data, int(addr)); err != nil {
				t.Fatalf("decode the first item: %v", err)
			}
		} else if data != nil {
			t.Fatalf("a write's reply gave data % x", data)
		}
	})
}

// FuzzModbusConfig decodes arbitrary device and property configData: no
// panics, errors that name a field, and what is accepted reads and writes
// consistently.
func FuzzModbusConfig(f *testing.F) {
	f.Add("/dev/ttyUSB0", 1.0, 9600.0, "even", "1", "HoldingRegister", "0", 1.0, "int16", 0.1, "false", false, true, 21.5)
	f.Add("ttyUSB0", 247.0, 115200.0, "N", "2", "InputRegister", "0x0003", 2.0, "float", 1.0, "true", true, false, 1013.25)
	f.Add("COM1", 0.0, 0.0, "X", "1.5", "CoilRegister", "8", 3.0, "bool", 0.0, "maybe", true, true, 1.0)
	f.Add("/dev/ttyS0", 16.0, 19200.0, "none", "1", "coil", "65535", 8.0, "uint8", 1.0, "0", false, true, 165.0)
	f.Fuzz(func(t *testing.T, port string, slaveID, baud float64, parity, stopBits, register, offset string, limit float64,
		dataType string, scale float64, isSwap string, isRegisterSwap, writable bool, v float64) {
		dev := bus.Config{Path: "d", Values: map[string]bus.Value{
			"port": bus.StringValue(port), "slaveID": bus.NumberValue(slaveID), "baudRate": bus.NumberValue(baud),
			"parity": bus.StringValue(parity), "stopBits": bus.StringValue(stopBits),
		}}
		if c, err := ParseConfig(dev); err != nil {
			var fe *bus.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("device error %v is not a FieldError", err)
			}
		} else if c.SlaveID < 1 || c.SlaveID > 247 || c.Mode.Check() != nil {
			t.Fatalf("accepted %+v", c)
		}
		vals := map[string]bus.Value{
			"register": bus.StringValue(register), "offset": bus.StringValue(offset), "limit": bus.NumberValue(limit),
			"scale": bus.NumberValue(scale), "isSwap": bus.StringValue(isSwap), "isRegisterSwap": bus.BoolValue(isRegisterSwap),
		}
		if dataType != "" {
			vals["dataType"] = bus.StringValue(dataType)
		}
		s, _, err := parseProperty(bus.PropertyConfig{Name: "p", Type: "FLOAT", Writable: writable, Config: bus.Config{Path: "p", Values: vals}})
		if err != nil {
			var fe *bus.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("property error %v is not a FieldError", err)
			}
			return
		}
		if s.count < 1 || s.end() > 65536 || int(s.count) > s.table.maxRead() || s.scale == 0 {
			t.Fatalf("accepted %+v", s)
		}
		if writable && !tables[s.table].write {
			t.Fatalf("accepted a write to %s", s.table)
		}
		// What encodes decodes to the same value.
		var buf [maxADU]byte
		data, err := s.encode(v, buf[:])
		if err != nil {
			return
		}
		if tables[s.table].bits {
			regs := make([]byte, len(data))
			copy(regs, data)
			data = regs
		}
		got, err := s.decode(data, int(s.addr))
		if err != nil {
			t.Fatalf("decode what encode made: %v", err)
		}
		want := v
		switch {
		case s.typ == typeFloat32:
			want = float64(float32(v/s.scale)) * s.scale
		case s.typ == typeFloat64:
			want = v / s.scale * s.scale
		case s.typ != typeBool:
			want = math.Round(v/s.scale) * s.scale
		}
		if got != want && !(math.IsNaN(got) && math.IsNaN(want)) && math.Abs(got-want) > 1e-9*math.Abs(want) {
			t.Fatalf("%+v: wrote %v, read %v, want %v", s, v, got, want)
		}
	})
}

func BenchmarkDecodeResponse(b *testing.B) {
	req := readRequest(nil, 1, fcReadInputRegisters, 0, 10)
	resp := []byte{1, 4, 20}
	for i := 0; i < 10; i++ {
		resp = append(resp, 0, byte(i))
	}
	resp = appendCRC(resp)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeResponse(req, resp); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSpecDecodesSignedUnsignedAndFloats(t *testing.T) {
	regs := []byte{0xFF, 0xFE, 0x1D, 0xC0, 0x3F, 0xC0, 0x00, 0x00}
	tests := []struct {
		s    spec
		want float64
	}{
		{spec{table: holdingRegisters, addr: 0, count: 1, typ: typeInt16, scale: 1}, -2},
		{spec{table: holdingRegisters, addr: 0, count: 1, typ: typeUint16, scale: 1}, 65534},
		{spec{table: holdingRegisters, addr: 1, count: 1, typ: typeUint8, scale: 1}, 0xC0},
		{spec{table: holdingRegisters, addr: 0, count: 2, typ: typeInt32, scale: 1}, -123456},
		{spec{table: holdingRegisters, addr: 0, count: 2, typ: typeUint32, scale: 1}, 0xFFFE1DC0},
		{spec{table: holdingRegisters, addr: 2, count: 2, typ: typeFloat32, scale: 1}, 1.5},
		{spec{table: holdingRegisters, addr: 2, count: 2, typ: typeFloat32, scale: 2, swapRegs: true}, 2 * float64(math.Float32frombits(0x00003FC0))},
		{spec{table: holdingRegisters, addr: 0, count: 4, typ: typeInt64, scale: 1}, -530238412947456},
		{spec{table: holdingRegisters, addr: 3, count: 1, typ: typeBool, scale: 1}, 0},
		{spec{table: holdingRegisters, addr: 2, count: 1, typ: typeBool, scale: 1}, 1},
		{spec{table: coils, addr: 1, count: 1, typ: typeBool, scale: 1}, 1},   // 0xFF bit 1
		{spec{table: coils, addr: 8, count: 4, typ: typeUint8, scale: 1}, 14}, // 0xFE bits 0-3
	}
	for _, tt := range tests {
		got, err := tt.s.decode(regs, 0)
		if err != nil || got != tt.want {
			t.Errorf("%+v: %v, %v; want %v", tt.s, got, err, tt.want)
		}
	}
	if _, err := (spec{table: holdingRegisters, addr: 3, count: 2, typ: typeInt32, scale: 1}).decode(regs, 0); err == nil {
		t.Error("decoding past the reply succeeded")
	}
}
