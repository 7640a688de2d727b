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
// lands on the properties it concerns. Devices on one port share the port
// (hal) and one bus worker (Device.Bus is "serial:" and the port's
// canonical name), and each request and its reply is one hal exchange, so
// frames of two slaves never interleave. A device claims the port's replies
// (hal.Serial.ClaimReplies): a port that serial line devices with
// unsolicited properties listen on is refused (their reader takes every
// byte), and they are refused on a port a slave uses.
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
	"sync/atomic"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/hal"
)

// Driver opens Modbus RTU slaves. The zero value is ready to use.
type Driver struct{}

// Protocol returns "modbus-rtu".
func (Driver) Protocol() string { return "modbus-rtu" }

// Open checks cfg, opens the port through hal (shared with every other
// device on it) and builds one Point per property.
func (Driver) Open(cfg bus.DeviceConfig) (bus.Device, error) {
	dc, err := ParseConfig(cfg.Config)
	if err != nil {
		return nil, err
	}
	d := &Device{slave: dc.SlaveID, timeout: dc.Timeout, now: time.Now}
	d.warnings = append(d.warnings, leftovers(cfg.Config, kubeedgeDeviceKeys)...)
	d.warnings = append(d.warnings, cfg.Config.Ignored(keysOf(kubeedgeDeviceKeys, deviceKeys...)...)...)
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
		d.warnings = append(d.warnings, leftovers(c, kubeedgePropertyKeys)...)
		d.warnings = append(d.warnings, c.Ignored(keysOf(kubeedgePropertyKeys, propertyKeys...)...)...)
	}
	h, err := hal.OpenSerial(dc.Port, dc.Mode)
	if err != nil {
		return nil, cfg.Config.Errorf("port", "%w", err)
	}
	if err := h.ClaimReplies(); err != nil {
		h.Close()
		return nil, cfg.Config.Errorf("port", "%w", err)
	}
	d.h = h
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

	// The Device is used by its bus worker only (bus.Device), so what
	// follows needs no lock.

	// Back-off of a slave that does not answer.
	now     func() time.Time
	misses  int       // unanswered tries in a row
	nextTry time.Time // reads before it fail without a request
	missed  error     // the last unanswered try's error

	// Buffers.
	rep   reply // the Framer of the exchange under way
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

// Close releases the device's handle on the port, and its claim.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
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
// backed off, or nil.
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

// heard updates the back-off with the outcome of an exchange.
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
// reply, and keeps the back-off up to date.
func (d *Device) exchange(req []byte) ([]byte, error) {
	data, err := d.transact(req)
	d.heard(err)
	return data, err
}

// transact is one request and its reply: one hal exchange, after 3.5
// characters of silence on the line, within the time the request and a
// normal reply take on the wire plus timeoutMs.
func (d *Device) transact(req []byte) ([]byte, error) {
	d.rep = reply{req: req}
	wire := time.Duration(len(req)+replyLen(req)) * d.h.Mode().CharTime()
	n, err := d.h.Exchange(hal.SerialTx{Send: req, Quiet: d.silence, Timeout: wire + d.timeout, Reply: &d.rep}, d.rx[:])
	switch {
	case err == nil:
		return d.rep.data, d.rep.err
	case !errors.Is(err, hal.ErrTimeout):
		return nil, err
	case n == 0:
		return nil, fmt.Errorf("%w within %v: %w", ErrNoResponse, d.timeout, err)
	case d.rep.crcBad:
		return nil, ErrCRC
	}
	return nil, fmt.Errorf("%w (%d bytes: % x)", ErrFrame, n, d.rx[:min(d.rep.seen, 16)])
}

// reply is the Framer of one request: it finds the reply to req in what
// came (see scan), noise and an adapter's echo before it included.
type reply struct {
	req    []byte
	data   []byte // the reply's data, in the exchange's buffer
	err    error  // the slave's Exception
	crcBad bool   // a frame of the right shape failed its CRC
	seen   int    // bytes held at the last look
}

// Frame reports whether rx holds the reply.
func (r *reply) Frame(rx []byte) (int, bool) {
	data, err, found, crcBad := scan(r.req, rx)
	r.seen = len(rx)
	if found {
		r.data, r.err = data, err
		return 0, true
	}
	r.crcBad = crcBad
	return 0, false
}

// read reads count registers or bits of t from addr.
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
			vals[k], errs[k] = d.all[idx[k]].Read()
			continue
		}
		data, err := d.read(first.table, uint16(start), uint16(end-start))
		if _, refused := err.(Exception); refused { // one of them is refused: find out which
			for _, k := range group {
				vals[k], errs[k] = d.all[idx[k]].Read()
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
