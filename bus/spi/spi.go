// Package spi is the "spi" protocol: devices on an SPI port whose properties
// are read, and optionally written, with one full-duplex transaction each.
//
// An SPI port is one chip select of a controller (/dev/spidev0.0: controller
// 0, chip select 0), so a device is one chip. Reading a property clocks out
// the bytes of its tx template and clocks in as many bytes; the value is
// decoded from the reply, starting at byte rxStart, by a bus.Codec. The
// template fills in the property's channel, so eight properties of one ADC
// differ only in their channel key.
//
// Device configData (spec.protocol.configData):
//
//	bus          the port: "0.0" (controller 0, chip select 0), "SPI0.0",
//	             "/dev/spidev0.0", or a registered port number such as 0
//	             (default "0.0")
//	speedHz      clock in Hz, 100 to 1e9: 1000000, "3600000" or "3.6MHz"
//	             (default 1 MHz). Write large values as strings: EdgeCore
//	             sends numbers as float32, exact only up to 16777216.
//	mode         SPI mode 0 to 3: clock polarity and phase (default 0)
//	bitsPerWord  1 to 32 (default 8). A Raspberry Pi's controller only does 8.
//
// A numeric bus is read as a port number; YAML turns an unquoted 0.1 into a
// number, which is read as "0.1" too, but quote it ("0.1") to be clear.
//
// Property configData (spec.properties[].visitors.configData):
//
//	tx         the bytes of the read transaction, in hex, with {expressions}
//	           for computed bytes: "01 80 00", "0x018000", "01 {0x80|ch<<4} 00"
//	           (required unless writeTx is given)
//	channel    the value of ch in the templates, 0 to 255 (required when a
//	           template uses ch)
//	register   the value of reg in the templates, 0 to 65535 (required when
//	           a template uses reg): "{reg|0x80} 00" reads register reg of a
//	           chip that sets bit 7 for a read
//	rxStart    the first byte of the reply that holds the value (default 0)
//	dataType   uint8, int8, uint16, int16, uint32, int32, float32 or bool
//	           (default uint8)
//	byteOrder  big or little (default big)
//	shift, mask, scale, offset
//	           as for every register: value = ((raw >> shift) & mask) × scale + offset
//	writeTx    the bytes of the write transaction, with {value} for the raw
//	           integer the written value encodes to: "{0x30|value>>8} {value}"
//
// A template is a list of bytes separated by spaces or commas. A byte is two
// hex digits, optionally after 0x ("0x1" is one byte too); a longer even run of
// digits is several bytes. An expression in braces computes one byte, the low
// 8 bits of terms OR-ed together: a term is a number (decimal, 0x, 0o, 0b), ch
// reg or value, each followed by any of <<n, >>n and &n.
//
// An MCP3008 reads channel 3 single-ended with
//
//	tx: "01 {0x80|ch<<4} 00"
//	channel: 3
//	rxStart: 1
//	dataType: uint16
//	mask: "0x3FF"
//	scale: 0.00322265625   # 3.3 V / 1024
//
// and an MCP3208 (12 bits) with tx "{0x06|ch>>2} {ch<<6} 00", rxStart 1,
// uint16, mask "0xFFF".
//
// A property is written only when it is ReadWrite and has a writeTx: its
// Point is then a bus.Writer. The value is encoded by the codec (scale,
// offset, range of dataType and mask) into the raw integer {value}. A
// property with a writeTx and no tx reads back the last value written (an
// error before the first write); a property with both reads the chip.
//
// Unknown keys are not errors; Device returns them from Warnings.
package spi

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"periph.io/x/conn/v3/physic"
	pspi "periph.io/x/conn/v3/spi"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/hal"
)

// Driver opens SPI devices. The zero value is ready to use.
type Driver struct{}

// Protocol returns "spi".
func (Driver) Protocol() string { return "spi" }

// DefaultSpeed is the clock when speedHz is not given.
const DefaultSpeed = physic.MegaHertz

var (
	deviceKeys   = []string{"bus", "speedHz", "mode", "bitsPerWord"}
	propertyKeys = append([]string{"tx", "writeTx", "channel", "register", "rxStart"}, bus.CodecKeys()...)
)

// Open checks cfg, connects the device's port through hal (shared with every
// device on it with the same settings) and builds one Point per property.
// Errors in configData are *bus.FieldError naming the key.
func (Driver) Open(cfg bus.DeviceConfig) (bus.Device, error) {
	c := cfg.Config
	name, err := portName(c)
	if err != nil {
		return nil, err
	}
	speed, err := speedHz(c)
	if err != nil {
		return nil, err
	}
	mode, err := c.Int("mode", 0, 0, 3)
	if err != nil {
		return nil, err
	}
	bits, err := c.Int("bitsPerWord", 8, 1, 32)
	if err != nil {
		return nil, err
	}
	d := &Device{}
	d.warn(c, deviceKeys)

	points := make([]*point, len(cfg.Properties))
	for i, p := range cfg.Properties {
		pc := propertyConfig(p)
		if points[i], err = newPoint(pc); err != nil {
			return nil, err
		}
		d.warn(pc, propertyKeys)
	}

	h, err := hal.OpenSPI(name, speed, pspi.Mode(mode), int(bits))
	if err != nil {
		return nil, c.Errorf("bus", "%w", err)
	}
	d.spi = h
	d.points = make([]bus.Point, len(points))
	for i, p := range points {
		p.conn = h
		d.points[i] = p
		if cfg.Properties[i].Writable && p.writeLen > 0 {
			d.points[i] = writer{p}
		}
	}
	return d, nil
}

// portName reads the bus key. "B.C" means controller B, chip select C, which
// both periph's Linux driver and the sim register as "SPIB.C".
func portName(c bus.Config) (string, error) {
	v, ok := c.Values["bus"]
	var s string
	switch {
	case !ok:
		return "SPI0.0", nil
	case v.Kind == bus.Number:
		if v.Num < 0 || v.Num > math.MaxInt32 || math.IsNaN(v.Num) {
			return "", c.Errorf("bus", "%s is not a port number or name", v)
		}
		s = strconv.FormatFloat(v.Num, 'f', -1, 64)
	case v.Kind == bus.String && strings.TrimSpace(v.Str) != "":
		s = strings.TrimSpace(v.Str)
	default:
		return "", c.Errorf("bus", "%s is not a port number or name", v)
	}
	if b, cs, ok := strings.Cut(s, "."); ok && isDigits(b) && isDigits(cs) {
		return "SPI" + s, nil
	}
	if v.Kind == bus.Number && !isDigits(s) {
		return "", c.Errorf("bus", "%s is not a port number or name", v)
	}
	return s, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// speedHz reads speedHz: a number of Hz, or a string with a unit ("3.6MHz").
func speedHz(c bus.Config) (physic.Frequency, error) {
	v, ok := c.Values["speedHz"]
	if !ok {
		return DefaultSpeed, nil
	}
	var f physic.Frequency
	if v.Kind == bus.String {
		s := strings.TrimSpace(v.Str)
		if n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64); err == nil {
			f = physic.Frequency(n) * physic.Hertz
		} else if err := f.Set(s); err != nil {
			return 0, c.Errorf("speedHz", "%s is not a frequency: %v", v, err)
		}
	} else {
		n, err := c.Int("speedHz", 0, 100, int64(physic.GigaHertz/physic.Hertz))
		if err != nil {
			return 0, err
		}
		f = physic.Frequency(n) * physic.Hertz
	}
	if f < 100*physic.Hertz || f > physic.GigaHertz {
		return 0, c.Errorf("speedHz", "%s is out of range [100Hz, 1GHz]", f)
	}
	return f, nil
}

// Device is an opened SPI device.
type Device struct {
	spi      *hal.SPI
	points   []bus.Point
	warnings []string
}

// Bus returns "spi:" and the port's registered name, such as
// "spi:SIM-SPI0.0" or "spi:/dev/spidev0.0", whatever alias the device was
// configured with. Every device on a port is served by one worker.
func (d *Device) Bus() string { return "spi:" + d.spi.Port() }

// Points returns one Point per property, in order. A ReadWrite property with
// a writeTx has a Point that is also a bus.Writer.
func (d *Device) Points() []bus.Point { return d.points }

// Warnings returns one line per configData key the driver ignored.
func (d *Device) Warnings() []string { return d.warnings }

// Close releases the device's share of the port.
func (d *Device) Close() error { return d.spi.Close() }

func (d *Device) warn(c bus.Config, known []string) {
	d.warnings = append(d.warnings, c.Ignored(known...)...)
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

// point is one property. Its buffers are allocated when it is built, so Read
// and Write do not allocate.
type point struct {
	conn     pspi.Conn
	codec    bus.Codec
	little   bool // byteOrder, to turn the encoded bytes back into {value}
	channel  uint64
	register uint64
	rxStart  int

	txLen int // 0: no tx, Read returns the last value written
	w, r  []byte

	write    template
	writeLen int
	ww, wr   []byte
	enc      [4]byte

	written    float64
	hasWritten bool
}

var errNotWritten = errors.New("nothing written yet: the property has a writeTx and no tx to read it with")

func newPoint(c bus.Config) (*point, error) {
	if !c.Has("tx") && !c.Has("writeTx") {
		return nil, c.Require("tx")
	}
	codec, err := bus.ParseCodec(c, "uint8")
	if err != nil {
		return nil, err
	}
	order, _ := c.OneOf("byteOrder", "big", "big", "little", "BigEndian", "LittleEndian")
	p := &point{codec: codec, little: order == "little" || order == "LittleEndian"}

	var read, write template
	if c.Has("tx") {
		s, err := c.String("tx", "")
		if err != nil {
			return nil, err
		}
		if read, err = parseTemplate(s, false); err != nil {
			return nil, c.Errorf("tx", "%w", err)
		}
	}
	if c.Has("writeTx") {
		s, err := c.String("writeTx", "")
		if err != nil {
			return nil, err
		}
		if write, err = parseTemplate(s, true); err != nil {
			return nil, c.Errorf("writeTx", "%w", err)
		}
		if !write.usesValue {
			return nil, c.Errorf("writeTx", "has no {value}: the written value would not be sent")
		}
	}

	ch, err := c.Int("channel", 0, 0, 255)
	if err != nil {
		return nil, err
	}
	p.channel = uint64(ch)
	switch uses := read.usesChannel || write.usesChannel; {
	case uses && !c.Has("channel"):
		return nil, c.Require("channel")
	case !uses && c.Has("channel"):
		return nil, c.Errorf("channel", "is not used: no template has a ch")
	}
	reg, err := c.Int("register", 0, 0, 65535)
	if err != nil {
		return nil, err
	}
	p.register = uint64(reg)
	switch uses := read.usesRegister || write.usesRegister; {
	case uses && !c.Has("register"):
		return nil, c.Require("register")
	case !uses && c.Has("register"):
		return nil, c.Errorf("register", "is not used: no template has a reg")
	}

	rx, err := c.Int("rxStart", 0, 0, maxTx-1)
	if err != nil {
		return nil, err
	}
	p.rxStart = int(rx)
	if n := len(read.bytes); n > 0 {
		if p.rxStart+codec.Size() > n {
			return nil, c.Errorf("rxStart", "%d: the %d bytes of a %s from byte %d run past the %d bytes of tx",
				rx, codec.Size(), codec.Type(), rx, n)
		}
		p.txLen = n
		p.w, p.r = make([]byte, n), make([]byte, n)
		read.fill(p.w, p.channel, p.register, 0)
	} else if c.Has("rxStart") {
		return nil, c.Errorf("rxStart", "is not used: there is no tx")
	}
	if n := len(write.bytes); n > 0 {
		p.write, p.writeLen = write, n
		p.ww, p.wr = make([]byte, n), make([]byte, n)
	}
	return p, nil
}

// Read does the tx transaction and decodes the reply; without a tx it
// returns the last value written.
func (p *point) Read() (float64, error) {
	if p.txLen == 0 {
		if !p.hasWritten {
			return 0, errNotWritten
		}
		return p.written, nil
	}
	if err := p.conn.Tx(p.w, p.r); err != nil {
		return 0, fmt.Errorf("spi %s: tx % x: %w", p.conn, p.w, err)
	}
	return p.codec.Decode(p.r[p.rxStart : p.rxStart+p.codec.Size()]), nil
}

// writer is the Point of a ReadWrite property with a writeTx.
type writer struct{ *point }

// Write encodes v with the codec, fills the writeTx template with the raw
// value and does the transaction.
func (p writer) Write(v float64) error {
	clear(p.enc[:])
	b := p.enc[:p.codec.Size()]
	if err := p.codec.Encode(v, b); err != nil {
		return fmt.Errorf("spi %s: write: %w", p.conn, err)
	}
	var raw uint64
	for i := range b {
		j := i
		if p.little {
			j = len(b) - 1 - i
		}
		raw = raw<<8 | uint64(b[j])
	}
	p.write.fill(p.ww, p.channel, p.register, raw)
	if err := p.conn.Tx(p.ww, p.wr); err != nil {
		return fmt.Errorf("spi %s: write tx % x: %w", p.conn, p.ww, err)
	}
	p.written, p.hasWritten = v, true
	return nil
}
