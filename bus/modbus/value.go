package modbus

import (
	"fmt"
	"math"
)

// table is one of the four Modbus data tables.
type table uint8

const (
	coils table = iota
	discreteInputs
	holdingRegisters
	inputRegisters
)

var tables = [...]struct {
	name   string // as KubeEdge's modbus mapper spells it
	alias  string
	readFC byte
	bits   bool
	write  bool
}{
	coils:            {"CoilRegister", "coil", fcReadCoils, true, true},
	discreteInputs:   {"DiscreteInputRegister", "discreteinput", fcReadDiscreteInputs, true, false},
	holdingRegisters: {"HoldingRegister", "holding", fcReadHoldingRegisters, false, true},
	inputRegisters:   {"InputRegister", "input", fcReadInputRegisters, false, false},
}

func (t table) String() string { return tables[t].name }

// maxRead is how many registers or bits one read request may ask for.
func (t table) maxRead() int {
	if tables[t].bits {
		return maxReadBits
	}
	return maxReadRegisters
}

// dataType is how a property's registers or bits make a number.
type dataType uint8

const (
	typeBool dataType = iota
	typeUint8
	typeInt16
	typeUint16
	typeInt32
	typeUint32
	typeInt64
	typeUint64
	typeFloat32
	typeFloat64
)

var dataTypes = [...]struct {
	name   string
	regs   int // registers it takes; 0: bool, any
	signed bool
}{
	typeBool:    {"bool", 0, false},
	typeUint8:   {"uint8", 1, false},
	typeInt16:   {"int16", 1, true},
	typeUint16:  {"uint16", 1, false},
	typeInt32:   {"int32", 2, true},
	typeUint32:  {"uint32", 2, false},
	typeInt64:   {"int64", 4, true},
	typeUint64:  {"uint64", 4, false},
	typeFloat32: {"float32", 2, false},
	typeFloat64: {"float64", 4, false},
}

// legacyTypes are the dataType names of KubeEdge's modbus mapper, read as
// it reads them: there the dataType is only the format of the output, so
// "int", "float", "double" and "string" all read `limit` raw 16-bit
// registers (or coils) as one unsigned number and multiply it by scale
// ("" here: unsigned by limit), and "boolean" is that number being non-zero.
// So a KubeEdge CRD with dataType "float" and limit 1 reads the register the
// way it did there. The explicit names (int16, float32, ...) keep their
// two's-complement and IEEE 754 meaning: use them for signed or real values.
var legacyTypes = map[string]string{
	"int": "", "integer": "", "uint": "", "float": "", "double": "", "string": "",
	"boolean": "bool",
}

// spec is how to read and write one property.
type spec struct {
	table     table
	addr      uint16 // the first register or bit
	count     uint16 // registers or bits
	typ       dataType
	scale     float64
	swapBytes bool // isSwap: the two bytes of each register are exchanged
	swapRegs  bool // isRegisterSwap: the registers come least significant first
}

// end is one past the last register or bit.
func (s spec) end() int { return int(s.addr) + int(s.count) }

// decode returns the value held in data, the register bytes (or coil bytes)
// of a read that started at start.
func (s spec) decode(data []byte, start int) (float64, error) {
	off := int(s.addr) - start
	if tables[s.table].bits {
		var raw uint64
		for i := 0; i < int(s.count); i++ {
			bit := off + i
			if bit/8 >= len(data) {
				return 0, fmt.Errorf("reply holds %d bytes, too few for bit %d", len(data), bit)
			}
			if data[bit/8]&(1<<(bit%8)) != 0 {
				raw |= 1 << i
			}
		}
		if s.typ == typeBool {
			return float64(raw), nil
		}
		return float64(raw) * s.scale, nil
	}
	if 2*(off+int(s.count)) > len(data) {
		return 0, fmt.Errorf("reply holds %d bytes, too few for %d registers at %d", len(data), s.count, off)
	}
	var b [8]byte
	n := 2 * int(s.count)
	copy(b[:n], data[2*off:2*off+n])
	s.swap(b[:n])
	var u uint64
	for _, c := range b[:n] {
		u = u<<8 | uint64(c)
	}
	var v float64
	switch s.typ {
	case typeBool:
		if u != 0 {
			return 1, nil
		}
		return 0, nil
	case typeUint8:
		v = float64(uint8(u))
	case typeInt16:
		v = float64(int16(u))
	case typeInt32:
		v = float64(int32(u))
	case typeInt64:
		v = float64(int64(u))
	case typeFloat32:
		v = float64(math.Float32frombits(uint32(u)))
	case typeFloat64:
		v = math.Float64frombits(u)
	default:
		v = float64(u)
	}
	return v * s.scale, nil
}

// swap applies isRegisterSwap, then isSwap, to the register bytes in b (as
// KubeEdge's mapper does). Each is its own inverse and they commute, so the
// same call turns a value's big-endian bytes into register bytes.
func (s spec) swap(b []byte) {
	if s.swapRegs {
		for i, j := 0, len(b)-2; i < j; i, j = i+2, j-2 {
			b[i], b[i+1], b[j], b[j+1] = b[j], b[j+1], b[i], b[i+1]
		}
	}
	if s.swapBytes {
		for i := 0; i+1 < len(b); i += 2 {
			b[i], b[i+1] = b[i+1], b[i]
		}
	}
}

// encode turns v into the register bytes (or the bits, low bit first) to
// write, in b, and returns them.
func (s spec) encode(v float64, b []byte) ([]byte, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("%v is not a finite number", v)
	}
	if tables[s.table].bits {
		raw := v
		if s.typ != typeBool {
			raw = math.Round(v / s.scale)
		} else if v != 0 && v != 1 {
			return nil, fmt.Errorf("%v is not 0 or 1", v)
		}
		if raw < 0 || raw >= math.Ldexp(1, int(s.count)) {
			return nil, fmt.Errorf("%v does not fit %d coils", v, s.count)
		}
		u := uint64(raw)
		n := (int(s.count) + 7) / 8
		for i := 0; i < n; i++ {
			b[i] = byte(u >> (8 * i))
		}
		return b[:n], nil
	}
	n := 2 * int(s.count)
	x := v / s.scale
	var u uint64
	switch s.typ {
	case typeFloat32:
		if math.Abs(x) > math.MaxFloat32 {
			return nil, fmt.Errorf("%v is out of range for float32", v)
		}
		u = uint64(math.Float32bits(float32(x)))
	case typeFloat64:
		u = math.Float64bits(x)
	case typeBool:
		if v != 0 && v != 1 {
			return nil, fmt.Errorf("%v is not 0 or 1", v)
		}
		u = uint64(v)
	default:
		r := math.Round(x)
		bits := 16 * int(s.count)
		lo, hi := 0.0, math.Ldexp(1, bits) // [lo, hi)
		if dataTypes[s.typ].signed {
			lo, hi = -math.Ldexp(1, bits-1), math.Ldexp(1, bits-1)
		}
		if s.typ == typeUint8 {
			hi = 256
		}
		if r < lo || r >= hi {
			return nil, fmt.Errorf("%v is out of range for %s: [%v, %v]", v, dataTypes[s.typ].name, lo*s.scale, (hi-1)*s.scale)
		}
		if r < 0 {
			u = uint64(int64(r))
		} else {
			u = uint64(r)
		}
	}
	for i := n - 1; i >= 0; i-- {
		b[i] = byte(u)
		u >>= 8
	}
	s.swap(b[:n])
	return b[:n], nil
}
