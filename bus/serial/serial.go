// Package serial is the "serial" protocol: devices that talk in lines of
// text over a serial port, such as "T=23.4 H=45.1\r\n".
//
// A device is a port and its mode. Each property is one number found in the
// device's lines by a regular expression with one capture group. A property
// is read in one of two ways:
//
//   - polled: with a command, each read sends the command and waits (up to
//     timeoutMs) for a line the pattern matches; lines that do not match
//     (echoes, prompts, other readings) are skipped.
//   - unsolicited: without a command, the port's reader (hal.Serial.Listen)
//     cuts everything the port sends into lines, and the device keeps, per
//     property, the newest value its pattern matched. A read returns that
//     value, or an error when there is none younger than maxAgeMs.
//
// Device configData (spec.protocol.configData):
//
//	port        the port: "/dev/ttyUSB0", "ttyUSB0", "/dev/serial/by-id/..." (required)
//	baudRate    bits per second (default 9600); 250000 and other non-standard rates work where the UART does
//	dataBits    5, 6, 7 or 8 (default 8)
//	parity      none, even, odd, mark or space (default none)
//	stopBits    1, 1.5 (5 data bits only) or 2 (default 1)
//	timeoutMs   how long a command waits for its reply (default 1000)
//	eol         line end: "\n" (default; reads CR LF lines too), "\r\n" or "\r";
//	            also LF, CRLF, CR. Sent after every command that does not end with it.
//
// Property configData (spec.properties[].visitors.configData):
//
//	command       poll string sent for each read, with escapes \r \n \t \xHH
//	              (default: none, the property is unsolicited)
//	pattern       regular expression (Go RE2 syntax) with exactly one capture
//	              group around the value (default: the first decimal number)
//	dataType      how the capture is written: float (default), int (decimal or
//	              0x.. prefixed), hex (bare hex digits), bool (1/0, true/false,
//	              on/off, yes/no; the default for BOOLEAN properties)
//	scale         multiplier (default 1)
//	offset        added after scaling (default 0)
//	maxAgeMs      unsolicited only: how old the newest value may be (default 10000)
//	writeCommand  ReadWrite only (required there): the command a desired value
//	              sends, with {value} replaced by (value - offset) / scale in
//	              the dataType: "SP={value}"
//	writeAck      ReadWrite only: a pattern the reply to writeCommand must
//	              match within timeoutMs, such as "^OK$" (default: no reply awaited)
//
// value = capture × scale + offset.
//
// Samples are float64, so properties of type STRING are refused for now:
// capture a number and use INT, FLOAT, DOUBLE or BOOLEAN.
//
// Every device on one port holds a handle on it (hal shares the port) and
// is served by one bus worker: Device.Bus is "serial:" and the port's
// canonical name, the same key bus/modbus uses. hal holds the port for each
// command and its reply, so exchanges of two devices never interleave. On a
// port with unsolicited properties hal's reader takes every byte, and polled
// properties of that port take their replies from it. So a port with
// unsolicited properties cannot also carry Modbus RTU devices, whose binary
// replies the reader would take: hal refuses the second of the two (see
// hal.Serial.ClaimReplies), with an error naming the port. The devices that
// listen on one port agree on its line end.
//
// Reading a polled or unsolicited property does not allocate, except for
// one small allocation per matching line inside regexp (see matcher.match).
package serial

import (
	"sync/atomic"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/hal"
)

// Driver opens serial line devices. The zero value is ready to use.
type Driver struct{}

// Protocol returns "serial".
func (Driver) Protocol() string { return "serial" }

// Open checks cfg, opens the port through hal (shared with every other
// device on it) and builds one Point per property.
func (Driver) Open(cfg bus.DeviceConfig) (bus.Device, error) {
	dc, err := ParseConfig(cfg.Config)
	if err != nil {
		return nil, err
	}
	props := make([]Property, len(cfg.Properties))
	for i, p := range cfg.Properties {
		if props[i], err = ParseProperty(p); err != nil {
			return nil, err
		}
	}
	d := &Device{}
	d.warn(cfg.Config, deviceKeys)
	for _, p := range cfg.Properties {
		d.warn(propertyConfig(p), propertyKeys)
	}
	h, err := hal.OpenSerial(dc.Port, dc.Mode)
	if err != nil {
		return nil, cfg.Config.Errorf("port", "%w", err)
	}
	d.h, d.rx = h, make([]byte, hal.MaxLine+1)
	for i, pr := range props {
		pt := newPoint(d, cfg.Properties[i].Name, dc, pr)
		if pt.cmd == nil {
			d.listening = append(d.listening, pt)
		}
		if cfg.Properties[i].Writable {
			d.points = append(d.points, writer{pt})
		} else {
			d.points = append(d.points, pt)
		}
	}
	if len(d.listening) > 0 {
		if err := h.Listen(dc.EOL[len(dc.EOL)-1], d.hear); err != nil {
			h.Close()
			return nil, cfg.Config.Errorf("port", "%w", err)
		}
	}
	return d, nil
}

// Device is an opened serial line device.
type Device struct {
	h         *hal.Serial
	points    []bus.Point
	listening []*point // the unsolicited properties
	warnings  []string
	closed    atomic.Bool
	rx        []byte // replies; used by one point at a time (one bus worker)
}

// Bus returns "serial:" and the port's canonical name, such as
// "serial:/dev/ttyUSB0", whatever spelling the device was configured with.
func (d *Device) Bus() string { return "serial:" + d.h.Port() }

// Points returns one Point per property, in order. A ReadWrite property's
// Point is also a bus.Writer.
func (d *Device) Points() []bus.Point { return d.points }

// Warnings returns one line per configData key the driver ignored.
func (d *Device) Warnings() []string { return d.warnings }

// Close stops the device's unsolicited properties and releases its handle
// on the port.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	return d.h.Close()
}

func (d *Device) warn(c bus.Config, known []string) {
	d.warnings = append(d.warnings, c.Ignored(known...)...)
}

// hear takes a line the port's reader cut: each unsolicited property whose
// pattern matches it keeps its value.
func (d *Device) hear(line []byte) {
	now := time.Now().UnixNano()
	for _, p := range d.listening {
		if v, ok, err := p.m.match(line); ok && err == nil {
			p.latest.store(v, now)
		} else if ok {
			p.latest.fail(err)
		}
	}
}
