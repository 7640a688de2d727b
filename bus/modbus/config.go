package modbus

import (
	"errors"
	"strings"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/serialport"
	"github.com/tinymapper/tinymapper/hal"
)

var defaultPort = serialport.Config{
	Mode:    hal.SerialMode{Baud: 19200, DataBits: 8, Parity: hal.ParityEven, StopBits: hal.Stop1},
	Timeout: 500 * time.Millisecond,
}

var (
	deviceKeys   = append(serialport.Keys(), "slaveID")
	propertyKeys = []string{"register", "offset", "limit", "dataType", "scale", "isSwap", "isRegisterSwap"}
)

// Config is a device's configData as the driver reads it.
type Config struct {
	serialport.Config
	SlaveID byte
}

// ParseConfig reads a device's configData. Errors are *bus.FieldError.
func ParseConfig(c bus.Config) (Config, error) {
	pc, err := serialport.Parse(c, defaultPort)
	if err != nil {
		return Config{}, err
	}
	if err := c.Require("slaveID"); err != nil {
		return Config{}, err
	}
	id, err := c.Int("slaveID", 0, 1, 247)
	if err != nil {
		return Config{}, err
	}
	return Config{Config: pc, SlaveID: byte(id)}, nil
}

// parseProperty reads one property's visitor configData.
func parseProperty(p bus.PropertyConfig) (spec, []string, error) {
	c := p.Config
	if c.Path == "" {
		c.Path = "properties[" + p.Name + "]"
	}
	var s spec
	var warnings []string
	if p.Type == bus.TypeString {
		return s, nil, &bus.FieldError{Field: c.Path, Err: errors.New("type STRING is not supported: make it INT, FLOAT, DOUBLE or BOOLEAN")}
	}
	if err := c.Require("register"); err != nil {
		return s, nil, err
	}
	reg, err := c.String("register", "")
	if err != nil {
		return s, nil, err
	}
	found := false
	for i, t := range tables {
		n := strings.ToLower(strings.TrimSpace(reg))
		if n == strings.ToLower(t.name) || n == t.alias {
			s.table, found = table(i), true
		}
	}
	if !found {
		return s, nil, c.Errorf("register", "%q is not one of CoilRegister, DiscreteInputRegister, HoldingRegister, InputRegister", reg)
	}
	addr, err := c.Int("offset", 0, 0, 65535)
	if err != nil {
		return s, nil, err
	}
	s.addr = uint16(addr)
	bits := tables[s.table].bits

	// dataType and limit decide each other.
	name, err := c.String("dataType", "")
	if err != nil {
		return s, nil, err
	}
	name = strings.ToLower(strings.TrimSpace(name))
	if l, ok := legacyTypes[name]; ok {
		name = l
	}
	maxLimit := int64(s.table.maxRead())
	if bits {
		maxLimit = 64
	}
	limit, err := c.Int("limit", 0, 1, maxLimit)
	if err != nil {
		return s, nil, err
	}
	if name == "" { // the mapper's "int", or nothing: unsigned, by limit
		switch {
		case bits && limit <= 1:
			name = "bool"
		case bits:
			name = "uint64"
		case limit == 0 || limit == 1:
			name = "uint16"
		case limit == 2:
			name = "uint32"
		case limit == 4:
			name = "uint64"
		default:
			return s, nil, c.Errorf("limit", "%d registers make no number: give 1, 2 or 4, or a dataType", limit)
		}
	}
	s.typ = 255
	for i, t := range dataTypes {
		if t.name == name {
			s.typ = dataType(i)
		}
	}
	if s.typ == 255 {
		return s, nil, c.Errorf("dataType", "%q is not one of int16, uint16, int32, uint32, int64, uint64, float32, float64, bool, uint8", name)
	}
	dt := dataTypes[s.typ]
	switch {
	case bits && s.typ == typeBool:
		if limit > 1 {
			return s, nil, c.Errorf("limit", "%d coils do not make a bool; use an unsigned dataType", limit)
		}
		s.count = 1
	case bits && (dt.signed || s.typ == typeFloat32 || s.typ == typeFloat64):
		return s, nil, c.Errorf("dataType", "%s does not apply to %s: use bool or an unsigned type", name, s.table)
	case bits:
		width := map[dataType]int64{typeUint8: 8, typeUint16: 16, typeUint32: 32, typeUint64: 64}[s.typ]
		if limit == 0 {
			limit = width
		}
		if limit > width {
			return s, nil, c.Errorf("limit", "%d coils do not fit a %s", limit, name)
		}
		s.count = uint16(limit)
	default:
		want := int64(max(dt.regs, 1))
		if limit != 0 && limit != want {
			return s, nil, c.Errorf("limit", "%d registers, but a %s takes %d", limit, name, want)
		}
		s.count = uint16(want)
	}
	if s.end() > 65536 {
		return s, nil, c.Errorf("offset", "%d + %d runs past address 65535", s.addr, s.count)
	}

	if s.scale, err = c.Float("scale", 1); err != nil {
		return s, nil, err
	}
	if s.scale == 0 {
		return s, nil, c.Errorf("scale", "must not be 0")
	}
	if s.swapBytes, err = c.Bool("isSwap", false); err != nil {
		return s, nil, err
	}
	if s.swapRegs, err = c.Bool("isRegisterSwap", false); err != nil {
		return s, nil, err
	}
	if bits && (s.swapBytes || s.swapRegs) {
		s.swapBytes, s.swapRegs = false, false
		warnings = append(warnings, c.Errorf("isSwap", "isSwap and isRegisterSwap do not apply to %s, ignored", s.table).Error())
	}
	if p.Writable && !tables[s.table].write {
		return s, nil, c.Errorf("register", "%s is read-only in Modbus; make %s ReadOnly", s.table, p.Name)
	}
	if p.Writable && !bits && s.count > maxWriteRegisters {
		return s, nil, c.Errorf("limit", "%d registers are more than one write can carry", s.count)
	}
	return s, warnings, nil
}
