// Package modbus is the "modbus-rtu" protocol: a Modbus RTU master on a
// serial port (RS-485 or RS-232), over the same hal serial layer as
// bus/serial.
//
// A device is one slave: a port, its mode and a slave address. Each
// property is a run of registers or coils, read with functions 1, 2, 3 and 4
// and written with 5, 6, 15 and 16. The visitor keys are those of KubeEdge's
// modbus mapper, so its Device CRDs move over by changing protocolName to
// modbus-rtu.
//
// Device configData (spec.protocol.configData):
//
//	port        the port: "/dev/ttyUSB0", "ttyUSB0", "/dev/serial/by-id/..." (required;
//	            serialPort, the mapper's name for it, works too)
//	slaveID     the slave address, 1 to 247 (required)
//	baudRate    bits per second (default 19200)
//	dataBits    5 to 8 (default 8)
//	parity      none, even, odd, mark, space (default even)
//	stopBits    1, 1.5 or 2 (default 1)
//	timeoutMs   how long to wait for a reply after the request is sent (default 500)
//
// The defaults are the Modbus over Serial Line specification's (19200 8E1).
//
// Property configData (spec.properties[].visitors.configData):
//
//	register        CoilRegister, DiscreteInputRegister, HoldingRegister or
//	                InputRegister (required; case does not matter)
//	offset          the first register or coil, 0 to 65535: the protocol address,
//	                0-based, not 40001-style numbering (default 0)
//	limit           how many registers or coils (default: what dataType takes)
//	dataType        registers: int16, uint16, int32, uint32, int64, uint64, float32,
//	                float64, bool (non-zero is true), uint8 (low byte); coils and
//	                discrete inputs: bool, or an unsigned type for several bits
//	                (the first coil is bit 0). The mapper's int (unsigned, by
//	                limit), float (float32), double (float64) and boolean work too.
//	                Default: bool for 1 bit, uint16/uint32/uint64 for 1/2/4 registers.
//	scale           multiplier (default 1)
//	isSwap          the two bytes of each register are exchanged (default false)
//	isRegisterSwap  the registers come least significant first (default false)
//
// value = registers (big endian, after the swaps) as dataType × scale.
//
// Registers of one device that are contiguous (or overlap) and of one table
// are read in one request when the bus worker reads them together (the
// Device is a bus.Batcher); when the slave refuses such a request with an
// exception, each property is read on its own, so that the exception
// lands on the properties it concerns. Devices on one port share one handle
// on it and one bus worker (Device.Bus is "serial:" and the port's
// canonical name), and each request and its reply hold the port, so frames
// of two slaves never interleave. A port that serial line devices with
// unsolicited properties use is refused (their reader takes every byte),
// and they are refused on a port a slave uses (see serial.ClaimReplies).
// Before each request the master waits for
// 3.5 character times of silence (1.75 ms above 19200 baud) since the last
// byte on the line, and throws away anything that arrived unasked. A reply is
// found by its address, function and CRC even after noise or an adapter's
// echo; a frame of the right shape with a bad CRC is reported as ErrCRC.
//
// A ReadWrite property of coils or holding registers is a bus.Writer: one
// coil is written with function 5, several with 15; one register with 6,
// several with 16. DiscreteInputRegister and InputRegister properties
// cannot be ReadWrite. Slave exceptions come back as errors wrapping an
// Exception, such as "illegal data address (exception 02)".
//
// A slave that does not answer at all (no byte within timeoutMs) is backed
// off, so that one dead slave does not starve the others on its line: the
// first request it leaves unanswered fails the rest of the round (the other
// points due with it) without a request, and its reads are then skipped
// for 1 s, then 2, 4, 8, 16 and at most 30 s after each unanswered try,
// failing at once with an error wrapping ErrNotAnswering ("slave 3 not
// answering; next try in 4s"). Any answer (a reply, an exception, even a
// frame with a bad CRC) ends the back-off. Writes are always sent.
//
// Reading does not allocate.
package modbus

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/serial"
	"github.com/tinymapper/tinymapper/bus/serialport"
	"github.com/tinymapper/tinymapper/hal"
)

// Driver opens Modbus RTU slaves. The zero value is ready to use.
type Driver struct{}

// Protocol returns "modbus-rtu".
func (Driver) Protocol() string { return "modbus-rtu" }

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
	if strings.EqualFold(p.Type, "STRING") {
		return s, nil, &bus.FieldError{Field: c.Path, Err: errors.New("type STRING is not supported: samples are numbers; make the property INT, FLOAT, DOUBLE or BOOLEAN")}
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
		return s, nil, c.Errorf("register", "%s cannot be written in Modbus, but the model makes %s ReadWrite; make it ReadOnly", s.table, p.Name)
	}
	if p.Writable && !bits && s.count > maxWriteRegisters {
		return s, nil, c.Errorf("limit", "%d registers are more than one write can carry", s.count)
	}
	return s, warnings, nil
}

// Open checks cfg, opens the port through hal (shared with every other
// device on it) and builds one Point per property.
func (Driver) Open(cfg bus.DeviceConfig) (bus.Device, error) {
	dc, err := ParseConfig(cfg.Config)
	if err != nil {
		return nil, err
	}
	d := &Device{slave: dc.SlaveID, timeout: dc.Timeout, now: time.Now}
	d.warnings = append(d.warnings, cfg.Config.Ignored(deviceKeys...)...)
	specs := make([]spec, len(cfg.Properties))
	for i, p := range cfg.Properties {
		var w []string
		if specs[i], w, err = parseProperty(p); err != nil {
			return nil, err
		}
		d.warnings = append(d.warnings, w...)
		c := p.Config
		if c.Path == "" {
			c.Path = "properties[" + p.Name + "]"
		}
		d.warnings = append(d.warnings, c.Ignored(propertyKeys...)...)
	}
	h, err := hal.OpenSerial(dc.Port, dc.Mode)
	if err != nil {
		return nil, cfg.Config.Errorf("port", "%w", err)
	}
	release, err := serial.ClaimReplies(h.Port())
	if err != nil {
		h.Close()
		return nil, cfg.Config.Errorf("port", "%w", err)
	}
	d.h, d.release = h, release
	d.silence = 1750 * time.Microsecond
	if dc.Mode.Baud <= 19200 {
		d.silence = dc.Mode.CharTime() * 7 / 2
	}
	d.order = make([]int, len(specs))
	for i, s := range specs {
		pt := &point{d: d, spec: s, name: cfg.Properties[i].Name}
		d.all = append(d.all, pt)
		if cfg.Properties[i].Writable {
			d.points = append(d.points, writer{pt})
		} else {
			d.points = append(d.points, pt)
		}
	}
	return d, nil
}

// Device is one opened slave.
type Device struct {
	h        *hal.Serial
	slave    byte
	timeout  time.Duration
	silence  time.Duration
	points   []bus.Point
	all      []*point
	warnings []string
	closed   atomic.Bool
	release  func() // the claim on the port's replies (serial.ClaimReplies)

	// Back-off of a slave that does not answer; used with the port held.
	now     func() time.Time
	misses  int       // unanswered tries in a row
	nextTry time.Time // reads before it fail without a request
	missed  error     // the last unanswered try's error

	// Buffers, used with the port held.
	tx    [maxADU]byte
	rx    [2 * maxADU]byte
	wbuf  [maxADU]byte
	order []int // ReadPoints' sort of its indices
}

// Bus returns "serial:" and the port's canonical name, such as
// "serial:/dev/ttyUSB0": the devices of one port share one bus worker.
func (d *Device) Bus() string { return "serial:" + d.h.Port() }

// Points returns one Point per property, in order. A ReadWrite property's
// Point is also a bus.Writer.
func (d *Device) Points() []bus.Point { return d.points }

// Warnings returns one line per configData key the driver ignored.
func (d *Device) Warnings() []string { return d.warnings }

// Close releases the device's share of the port.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	d.release()
	return d.h.Close()
}

// ErrNoResponse is wrapped by the error of a request nothing answered
// within timeoutMs (not a byte came back); it wraps hal.ErrTimeout too.
var ErrNoResponse = errors.New("no response")

// ErrNotAnswering is wrapped by the error of a read skipped because the
// slave left the requests before it unanswered (see the package comment).
var ErrNotAnswering = errors.New("not answering")

// Back-off of reads of a slave that does not answer: after the n-th
// unanswered try in a row, the next is min(backoffFirst·2^(n-1), backoffMax)
// later.
const (
	backoffFirst = time.Second
	backoffMax   = 30 * time.Second
)

// skip returns the error of a read that is not sent because the slave is
// backed off, or nil. The caller holds the port.
func (d *Device) skip() error {
	if d.misses == 0 {
		return nil
	}
	wait := d.nextTry.Sub(d.now())
	if wait <= 0 {
		return nil
	}
	return fmt.Errorf("slave %d %w; next try in %v (%d requests unanswered in a row, the last: %w)",
		d.slave, ErrNotAnswering, wait.Round(100*time.Millisecond), d.misses, d.missed)
}

// heard updates the back-off with the outcome of an exchange. The caller
// holds the port.
func (d *Device) heard(err error) {
	switch {
	case errors.Is(err, ErrNoResponse):
		d.misses++
		wait := backoffMax
		if d.misses < 6 {
			wait = min(backoffFirst<<(d.misses-1), backoffMax)
		}
		d.nextTry, d.missed = d.now().Add(wait), err
	case err == nil || errors.Is(err, ErrCRC) || errors.Is(err, ErrFrame) || isException(err):
		d.misses, d.missed = 0, nil // the slave answered
	}
}

func isException(err error) bool {
	var x Exception
	return errors.As(err, &x)
}

// exchange sends req (built in d.tx) and returns the data of the slave's
// reply, and keeps the back-off up to date. The caller holds the port.
func (d *Device) exchange(req []byte) ([]byte, error) {
	data, err := d.transact(req)
	d.heard(err)
	return data, err
}

func (d *Device) transact(req []byte) ([]byte, error) {
	h := d.h
	if wait := time.Until(h.LastActivity().Add(d.silence)); wait > 0 {
		time.Sleep(wait)
	}
	if err := h.ResetInput(); err != nil {
		return nil, err
	}
	char := h.Mode().CharTime()
	deadline := time.Now().Add(time.Duration(len(req)+replyLen(req))*char + d.timeout)
	h.SetWriteDeadline(deadline)
	if _, err := h.Write(req); err != nil {
		return nil, err
	}
	h.SetReadDeadline(deadline)
	n := 0
	for {
		k, err := h.Read(d.rx[n:])
		n += k
		if k > 0 {
			data, xerr, found, _ := scan(req, d.rx[:n])
			if found {
				return data, xerr
			}
		}
		if errors.Is(err, hal.ErrTimeout) {
			_, _, _, crcBad := scan(req, d.rx[:n])
			switch {
			case n == 0:
				return nil, fmt.Errorf("%w within %v: %w", ErrNoResponse, d.timeout, hal.ErrTimeout)
			case crcBad:
				return nil, ErrCRC
			}
			return nil, fmt.Errorf("%w (%d bytes: % x)", ErrFrame, n, d.rx[:min(n, 16)])
		}
		if err != nil {
			return nil, err
		}
		if n == len(d.rx) { // noise: keep the newer half
			n = copy(d.rx[:], d.rx[maxADU:])
		}
	}
}

// read reads count registers or bits of t from addr, with the port held.
func (d *Device) read(t table, addr, count uint16) ([]byte, error) {
	return d.exchange(readRequest(d.tx[:0], d.slave, tables[t].readFC, addr, count))
}

// ReadPoints reads the points at idx, one request per run of contiguous
// registers of one table (see bus.Batcher). It does not allocate.
func (d *Device) ReadPoints(idx []int, vals []float64, errs []error) {
	order := d.order[:len(idx)]
	for i := range order {
		order[i] = i
	}
	// Insertion sort by table and address: a device has few points.
	less := func(a, b int) bool {
		sa, sb := d.all[idx[a]].spec, d.all[idx[b]].spec
		return sa.table < sb.table || sa.table == sb.table && sa.addr < sb.addr
	}
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && less(order[j], order[j-1]); j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	d.h.Lock()
	defer d.h.Unlock()
	for i := 0; i < len(order); {
		first := d.all[idx[order[i]]].spec
		start, end := int(first.addr), first.end()
		j := i + 1
		for ; j < len(order); j++ {
			s := d.all[idx[order[j]]].spec
			if s.table != first.table || int(s.addr) > end || max(end, s.end())-start > first.table.maxRead() {
				break
			}
			end = max(end, s.end())
		}
		group := order[i:j]
		i = j
		if err := d.skip(); err != nil { // backed off, or unanswered earlier in this round
			for _, k := range group {
				vals[k], errs[k] = 0, d.all[idx[k]].wrap("read", err)
			}
			continue
		}
		if len(group) == 1 {
			k := group[0]
			vals[k], errs[k] = d.all[idx[k]].readLocked()
			continue
		}
		data, err := d.read(first.table, uint16(start), uint16(end-start))
		if _, refused := err.(Exception); refused { // one of them is refused: find out which
			for _, k := range group {
				vals[k], errs[k] = d.all[idx[k]].readLocked()
			}
			continue
		}
		for _, k := range group {
			p := d.all[idx[k]]
			if err != nil {
				vals[k], errs[k] = 0, p.wrap("read", err)
				continue
			}
			v, derr := p.spec.decode(data, start)
			vals[k], errs[k] = v, p.wrap("read", derr)
		}
	}
}

// point is one property.
type point struct {
	d    *Device
	spec spec
	name string
}

// Read reads the property's registers or bits and decodes them.
func (p *point) Read() (float64, error) {
	p.d.h.Lock()
	defer p.d.h.Unlock()
	return p.readLocked()
}

func (p *point) readLocked() (float64, error) {
	if err := p.d.skip(); err != nil {
		return 0, p.wrap("read", err)
	}
	data, err := p.d.read(p.spec.table, p.spec.addr, p.spec.count)
	if err != nil {
		return 0, p.wrap("read", err)
	}
	v, err := p.spec.decode(data, int(p.spec.addr))
	return v, p.wrap("read", err)
}

// wrap names the port, slave and registers in err; nil stays nil.
func (p *point) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("modbus %s slave %d %s %d (%s): %s: %w", p.d.h.Port(), p.d.slave, p.spec.table, p.spec.addr, p.name, op, err)
}

// writer is the Point of a ReadWrite property.
type writer struct{ *point }

// Write encodes v and writes it: function 5 or 15 for coils, 6 or 16 for
// holding registers.
func (p writer) Write(v float64) error {
	d, s := p.d, p.spec
	d.h.Lock()
	defer d.h.Unlock()
	data, err := s.encode(v, d.wbuf[:])
	if err != nil {
		return p.wrap("write", err)
	}
	b := append(d.tx[:0], d.slave)
	switch {
	case s.table == coils && s.count == 1:
		on := byte(0)
		if data[0]&1 != 0 {
			on = 0xFF
		}
		b = append(b, fcWriteSingleCoil, byte(s.addr>>8), byte(s.addr), on, 0)
	case s.table == coils:
		b = append(b, fcWriteMultipleCoils, byte(s.addr>>8), byte(s.addr), byte(s.count>>8), byte(s.count), byte(len(data)))
		b = append(b, data...)
	case s.count == 1:
		b = append(b, fcWriteSingleRegister, byte(s.addr>>8), byte(s.addr), data[0], data[1])
	default:
		b = append(b, fcWriteMultipleRegisters, byte(s.addr>>8), byte(s.addr), byte(s.count>>8), byte(s.count), byte(len(data)))
		b = append(b, data...)
	}
	if _, err := d.exchange(appendCRC(b)); err != nil {
		return p.wrap("write", err)
	}
	return nil
}
