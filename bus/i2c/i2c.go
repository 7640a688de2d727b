// Package i2c is the "i2c" protocol: devices on an I²C bus whose properties
// are registers.
//
// A device is one chip: a bus and a 7-bit address. Each property is one
// register: reading it writes the register number and reads the register's
// bytes after a repeated START (the pointer-register convention of most I²C
// sensors and of 24Cxx EEPROMs); writing it writes the register number followed
// by the value's bytes. A bus.Codec turns the bytes into the property's value.
//
// Device configData (spec.protocol.configData):
//
//	bus            the I²C bus: 1, "1", "I2C1" or "/dev/i2c-1" (default "1")
//	address        the chip's 7-bit address, 0x03 to 0x77: 72 or "0x48" (required)
//	autoIncrement  the chip continues a read at the next register, as EEPROMs
//	               and most multi-register sensors do (default false). Then
//	               properties due together are read in one transaction
//	               spanning their registers (up to 32 bytes).
//	pageSize       the chip's write page in bytes, a power of two up to 256:
//	               8 for a 24C01/24C02, 16 for a 24C04 to 24C16 (default 0:
//	               no pages). An EEPROM's page write wraps within its page,
//	               so a value that crosses a page boundary is written as one
//	               write per page, each followed by the ACK poll.
//
// Property configData (spec.properties[].visitors.configData):
//
//	register   the register number, 0 to 255 (this or command is required)
//	dataType   uint8, int8, uint16, int16, uint32, int32, float32 or bool (default uint8)
//	byteOrder  big or little (default big: most significant byte first)
//	shift      right shift of the raw register (default 0)
//	mask       bits kept after the shift, such as "0x0FFF" (default: all);
//	           with a signed dataType, low bits: the field's two's complement width
//	scale      multiplier (default 1)
//	offset     added after scaling (default 0)
//
// value = ((raw >> shift) & mask) * scale + offset; see bus.Codec. A TMP102's
// temperature is register 0, dataType int16, shift 4, scale 0.0625.
//
// Parts without registers (SHT3x, SHT4x, HTU21D, SHT2x, Si70xx) are read by a
// command instead of a register, with these keys:
//
//	command     1 to 4 bytes to write, such as "0x2400" (the hex digits give
//	            the width) or a number (sent in as few bytes as hold it)
//	delayMs     0 to 500: write the command, wait, then read in a second
//	            transaction (the conversion time). Without it the command and
//	            the read are one transaction with a repeated START (clock
//	            stretching parts, 16-bit register pointers). The wait holds
//	            the bus worker, so it delays the other devices on the bus.
//	readLength  bytes to read, 1 to 32 (default: up to the value's end, or
//	            its word's CRC)
//	rxStart     the value's first byte in the reply (default 0)
//	crc8        none, sensirion (poly 0x31, init 0xFF: SHT3x, SHT4x) or
//	            htu21d (poly 0x31, init 0x00: HTU21D, SHT2x): the reply is
//	            16-bit words each followed by its CRC, and every word's CRC is
//	            checked (default none)
//
// An SHT3x's temperature is command "0x2400", delayMs 15, readLength 6,
// crc8 sensirion, dataType uint16, scale 175/65535 (0.0026703288), offset -45;
// its humidity the same with rxStart 3, scale 100/65535 and no offset.
// Properties of one device that send the same command and are due together
// share one exchange. Command properties are read only.
//
// A Bosch BME280 or BMP280 is read by part instead: part bme280 (or
// bmp280), field temperature (°C), pressure (hPa) or humidity (%RH), and
// optionally scale and offset. The driver identifies the part by its chip
// ID before it writes anything, reads its calibration, keeps it measuring,
// and compensates the readings (see part.go and package bmx280).
//
// A ReadWrite property's Point is a bus.Writer. When shift or mask leave part
// of the register to other fields, Write reads the register first and changes
// only the field's bits.
//
// Unknown keys are not errors (they may belong to a newer version); Device
// returns them from Warnings for the log.
package i2c

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"

	"periph.io/x/conn/v3/i2c/i2creg"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/hal"
)

// Driver opens I²C devices. The zero value is ready to use.
type Driver struct{}

// Protocol returns "i2c".
func (Driver) Protocol() string { return "i2c" }

var (
	deviceKeys   = []string{"bus", "address", "autoIncrement", "pageSize"}
	propertyKeys = append([]string{"register", "command", "readLength", "delayMs", "rxStart", "crc8", "part", "field"}, bus.CodecKeys()...)
)

// Open checks cfg, opens the device's bus through hal (shared with every other
// device on it) and builds one Point per property. Errors in configData are
// *bus.FieldError naming the key.
func (Driver) Open(cfg bus.DeviceConfig) (bus.Device, error) {
	c := cfg.Config
	name, err := busName(c)
	if err != nil {
		return nil, err
	}
	if err := c.Require("address"); err != nil {
		return nil, err
	}
	addr, err := c.Int("address", 0, 0x03, 0x77)
	if err != nil {
		return nil, err
	}
	autoInc, err := c.Bool("autoIncrement", false)
	if err != nil {
		return nil, err
	}
	page, err := c.Int("pageSize", 0, 0, 256)
	if err != nil {
		return nil, err
	}
	if page&(page-1) != 0 {
		return nil, c.Errorf("pageSize", "%d is not a power of two (EEPROM pages are 8, 16, 32, 64, 128 or 256 bytes; 0 for none)", page)
	}
	d := &Device{addr: uint16(addr), autoIncrement: autoInc}
	d.warn(c, deviceKeys)

	points := make([]*point, len(cfg.Properties))
	for i, p := range cfg.Properties {
		pc := propertyConfig(p)
		if points[i], err = newPoint(pc); err != nil {
			return nil, err
		}
		if p.Writable && points[i].cmd.hasValue {
			return nil, pc.Errorf("command", "a command property is read only: set the property's accessMode to ReadOnly")
		}
		if p.Writable && points[i].part.name != "" {
			return nil, pc.Errorf("part", "a part property is read only: set the property's accessMode to ReadOnly")
		}
		d.warn(pc, propertyKeys)
	}

	h, err := hal.OpenI2C(name)
	if err != nil {
		return nil, c.Errorf("bus", "%w", err)
	}
	d.i2c, d.busName = h, canonical(name)
	d.points = make([]bus.Point, len(points))
	d.regs = points
	for i, p := range points {
		p.bus, p.addr, p.page = h, d.addr, int(page)
		d.points[i] = p
		if cfg.Properties[i].Writable {
			d.points[i] = writer{p}
		}
		if p.part.name != "" {
			if d.bme == nil {
				d.bme = &bmePart{bus: h, addr: d.addr}
			}
			p.bme = d.bme
		}
	}
	if err := d.openPart(cfg); err != nil {
		h.Close()
		return nil, err
	}
	return d, nil
}

// busName reads the bus key: a bus number or a name registered in i2creg.
func busName(c bus.Config) (string, error) {
	v, ok := c.Values["bus"]
	switch {
	case !ok:
		return "1", nil
	case v.Kind == bus.Number:
		n, err := c.Int("bus", 1, 0, math.MaxInt32)
		return strconv.FormatInt(n, 10), err
	case v.Kind == bus.String && strings.TrimSpace(v.Str) != "":
		return strings.TrimSpace(v.Str), nil
	}
	return "", c.Errorf("bus", "%s is not a bus number or name", v)
}

// canonical returns the registered name of the bus called name, so that every
// spelling of one bus gives the same Device.Bus (and so one worker).
func canonical(name string) string {
	for _, r := range i2creg.All() {
		if r.Name == name || (r.Number >= 0 && strconv.Itoa(r.Number) == name) {
			return r.Name
		}
		for _, a := range r.Aliases {
			if a == name {
				return r.Name
			}
		}
	}
	return name
}

// Device is an opened I²C device. When autoIncrement is set it is a
// bus.Batcher.
type Device struct {
	i2c           *hal.I2C
	busName       string
	addr          uint16
	autoIncrement bool
	points        []bus.Point
	regs          []*point
	warnings      []string
	bme           *bmePart      // the BME280/BMP280 of part properties
	span          [maxSpan]byte // one coalesced read
	start         [1]byte       // its first register
}

// maxSpan is the most bytes one coalesced read covers.
const maxSpan = 32

// ReadPoints reads the registers of the points at idx. With autoIncrement,
// and when they fit in maxSpan bytes, that is one transaction from the lowest
// register; otherwise each is read alone. It does not allocate.
func (d *Device) ReadPoints(idx []int, vals []float64, errs []error) {
	if d.readShared(idx, vals, errs) || d.readPart(idx, vals, errs) {
		return
	}
	lo, hi, alone := 256, 0, false
	for _, i := range idx {
		p := d.regs[i]
		lo = min(lo, int(p.reg[0]))
		hi = max(hi, int(p.reg[0])+p.size)
		alone = alone || p.cmd.hasValue || p.part.name != ""
	}
	if alone || !d.autoIncrement || hi-lo > maxSpan || len(idx) < 2 {
		for k, i := range idx {
			vals[k], errs[k] = d.regs[i].Read()
		}
		return
	}
	first := d.regs[idx[0]]
	d.start[0] = byte(lo)
	buf := d.span[:hi-lo]
	if err := d.i2c.Tx(d.addr, d.start[:], buf); err != nil {
		if nack(err) {
			err = fmt.Errorf("%w: %w", ErrNoAck, err)
		}
		err = fmt.Errorf("i2c bus %s address 0x%02x registers 0x%02x-0x%02x: read: %w", first.bus.Name(), d.addr, lo, hi-1, err)
		for k := range idx {
			vals[k], errs[k] = 0, err
		}
		return
	}
	for k, i := range idx {
		p := d.regs[i]
		off := int(p.reg[0]) - lo
		vals[k], errs[k] = p.codec.Decode(buf[off:off+p.size]), nil
	}
}

// readShared reads points that send the same command (an SHT3x's
// temperature and humidity) with one exchange, and reports whether idx
// was such a set.
func (d *Device) readShared(idx []int, vals []float64, errs []error) bool {
	first := d.regs[idx[0]]
	if len(idx) < 2 || !first.cmd.hasValue {
		return false
	}
	for _, i := range idx[1:] {
		if !d.regs[i].cmd.same(&first.cmd) {
			return false
		}
	}
	err := first.cmd.exchange(first.bus, first.addr, first.reply)
	for k, i := range idx {
		p := d.regs[i]
		if err != nil {
			vals[k], errs[k] = 0, p.errorf("read", err)
			continue
		}
		vals[k], errs[k] = p.codec.Decode(first.reply[p.rxStart:p.rxStart+p.size]), nil
	}
	return true
}

// Bus returns "i2c:" and the bus's registered name, such as "i2c:SIM-I2C1" or
// "i2c:/dev/i2c-1", whatever alias the device was configured with.
func (d *Device) Bus() string { return "i2c:" + d.busName }

// Points returns one Point per property, in order. A ReadWrite property's
// Point is also a bus.Writer.
func (d *Device) Points() []bus.Point { return d.points }

// Warnings returns one line per configData key the driver ignored.
func (d *Device) Warnings() []string { return d.warnings }

// Close releases the device's share of the bus.
func (d *Device) Close() error { return d.i2c.Close() }

func (d *Device) warn(c bus.Config, known []string) {
	d.warnings = append(d.warnings, c.Ignored(known...)...)
}

// point is one register. Its buffers live in the struct, so Read and Write do
// not allocate.
type point struct {
	bus   *hal.I2C
	addr  uint16
	codec bus.Codec
	size  int
	page  int // write page size; 0: none
	reg   [1]byte
	rbuf  [4]byte // rbuf[:size] is the register
	wbuf  [1 + 4]byte
	pbuf  [1 + 4]byte // one page's share of a write that crosses pages

	cmd     command // cmd.hasValue: a command property, read by exchange
	rxStart int     // the value's first byte in reply
	reply   []byte  // cmd.readLen bytes, allocated once by newPoint

	part partSpec // part.name != "": a part property, read through bme
	bme  *bmePart
}

// propertyConfig returns p's configData, with a path naming the property when
// the caller gave none.
func propertyConfig(p bus.PropertyConfig) bus.Config {
	c := p.Config
	if c.Path == "" {
		c.Path = "properties[" + p.Name + "]"
	}
	return c
}

func newPoint(c bus.Config) (*point, error) {
	part, err := parsePart(c)
	if err != nil || part.name != "" {
		return &point{part: part, size: 1}, err
	}
	codec, err := bus.ParseCodec(c, "uint8")
	if err != nil {
		return nil, err
	}
	cmd, err := parseCommand(c)
	if err != nil {
		return nil, err
	}
	pt := &point{codec: codec, size: codec.Size(), cmd: cmd}
	if cmd.hasValue {
		if pt.rxStart, err = pt.cmd.reply(c, pt.size); err != nil {
			return nil, err
		}
		pt.reply = make([]byte, pt.cmd.readLen)
		return pt, nil
	}
	if !c.Has("register") {
		return nil, c.Errorf("register", "is required (or command, for a part read by commands)")
	}
	reg, err := c.Int("register", 0, 0, 255)
	if err != nil {
		return nil, err
	}
	pt.reg[0] = byte(reg)
	pt.wbuf[0] = byte(reg)
	return pt, nil
}

// Read reads the register and decodes it.
func (p *point) Read() (float64, error) {
	if p.part.name != "" {
		return p.readPartPoint()
	}
	if p.cmd.hasValue {
		if err := p.cmd.exchange(p.bus, p.addr, p.reply); err != nil {
			return 0, p.errorf("read", err)
		}
		return p.codec.Decode(p.reply[p.rxStart : p.rxStart+p.size]), nil
	}
	r := p.rbuf[:p.size]
	if err := p.bus.Tx(p.addr, p.reg[:], r); err != nil {
		return 0, p.errorf("read", err)
	}
	return p.codec.Decode(r), nil
}

// ErrNoAck is wrapped by errors of transactions no device acknowledged: a
// wrong address, a device without power, a loose wire.
//
// periph's Linux I²C driver formats the kernel's EREMOTEIO with %v, so
// errors.Is cannot find it; the driver recognises the kernel's text
// ("remote I/O error") instead and wraps ErrNoAck, so callers can.
var ErrNoAck = errors.New("no device acknowledged (NACK)")

// IsNoAck reports whether err says that no device acknowledged: it wraps
// ErrNoAck or syscall.EREMOTEIO, or says so in the text a bus driver
// flattened the errno to. Tools that probe addresses (tinymapper scan i2c)
// tell an empty address from a failing bus by it.
func IsNoAck(err error) bool { return err != nil && (errors.Is(err, ErrNoAck) || nack(err)) }

// nack reports whether err is a bus's way of saying nobody acknowledged.
func nack(err error) bool {
	if errors.Is(err, syscall.EREMOTEIO) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "remote I/O error") || strings.Contains(msg, "NACK")
}

func (p *point) errorf(op string, err error) error {
	what := fmt.Sprintf("register 0x%02x", p.reg[0])
	if p.cmd.hasValue {
		what = "command " + p.cmd.String()
	}
	if nack(err) && !errors.Is(err, ErrNoAck) {
		return fmt.Errorf("i2c bus %s address 0x%02x %s: %s: %w: %w", p.bus.Name(), p.addr, what, op, ErrNoAck, err)
	}
	return fmt.Errorf("i2c bus %s address 0x%02x %s: %s: %w", p.bus.Name(), p.addr, what, op, err)
}

// writer is the Point of a ReadWrite property.
type writer struct{ *point }

// Write encodes v and writes the register. A partial field (shift or mask) is
// read first, so the register's other bits keep their values.
func (p writer) Write(v float64) error {
	b := p.wbuf[:1+p.size]
	if p.codec.Partial() {
		if err := p.bus.Tx(p.addr, p.reg[:], b[1:]); err != nil {
			return p.errorf("read before write", err)
		}
	}
	if err := p.codec.Encode(v, b[1:]); err != nil {
		return p.errorf("write", err)
	}
	if p.page == 0 || int(p.reg[0])/p.page == (int(p.reg[0])+p.size-1)/p.page {
		if err := p.bus.Tx(p.addr, b, nil); err != nil {
			return p.errorf("write", err)
		}
		p.ackPoll()
		return nil
	}
	// The value crosses a page boundary: a page write would wrap to the
	// start of its page, so write each page's bytes on their own.
	for off := 0; off < p.size; {
		reg := int(p.reg[0]) + off
		n := min(p.size-off, p.page-reg%p.page)
		chunk := p.pbuf[:1+n]
		chunk[0] = byte(reg)
		copy(chunk[1:], b[1+off:1+off+n])
		if err := p.bus.Tx(p.addr, chunk, nil); err != nil {
			return p.errorf(pageOp(off), err)
		}
		p.ackPoll()
		off += n
	}
	return nil
}

// pageOp names the part of a paged write that failed.
func pageOp(off int) string {
	if off == 0 {
		return "write"
	}
	return "write of the next page (the bytes before it are written)"
}

// ackPollLimit bounds how long Write waits for a device busy with a write.
const ackPollLimit = 20 * time.Millisecond

// ackPoll waits until the device acknowledges again. EEPROMs (24Cxx) and
// some sensors NACK their address during a self-timed write cycle of a few
// milliseconds; polling by writing the register pointer, as their datasheets
// advise, makes a read right after the write succeed. A device that is not
// busy answers the first poll. Write runs on the bus worker, which owns the
// bus, so the short wait delays nobody else's transaction.
func (p *point) ackPoll() {
	deadline := time.Now().Add(ackPollLimit)
	for {
		err := p.bus.Tx(p.addr, p.reg[:], nil)
		if err == nil || !nack(err) || time.Now().After(deadline) {
			return
		}
		time.Sleep(250 * time.Microsecond)
	}
}
