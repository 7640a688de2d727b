// Package serialport reads the serial port keys of a device's configData
// (port, baudRate, dataBits, parity, stopBits, timeoutMs), which the
// "serial" and "modbus-rtu" protocols share. It sits below both, so neither
// imports the other.
package serialport

import (
	"strconv"
	"strings"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/hal"
)

// Config is a serial port as a device's configData describes it.
type Config struct {
	// Port is the port's name as given, such as "/dev/ttyUSB0" or "ttyUSB0".
	Port string
	Mode hal.SerialMode
	// Timeout bounds one exchange: a command and its reply.
	Timeout time.Duration
}

// portAliases are the other names of the port key: serialPort (KubeEdge's
// mappers-go modbus mapper) and serialName (mapper-framework's modbus mapper,
// as in KubeEdge's temperature-sensor demo).
var portAliases = []string{"serialPort", "serialName"}

// Keys returns the configData keys Parse reads.
func Keys() []string {
	return []string{"port", "serialPort", "serialName", "baudRate", "dataBits", "parity", "stopBits", "timeoutMs"}
}

// Parse reads a serial port from the keys of c, with def supplying
// what c leaves out (def.Port empty: the port is required):
//
//	port        the port: "/dev/ttyUSB0", "ttyUSB0", "/dev/serial/by-id/...";
//	            serialPort and serialName, the names KubeEdge's modbus mappers
//	            use, are accepted too
//	baudRate    bits per second, 1 to 16000000; rates that are not termios
//	            speeds (250000, 31250) are set with termios2 on Linux
//	dataBits    5, 6, 7 or 8
//	parity      none, even, odd, mark or space (or N, E, O, M, S; any case;
//	            unquoted N arrives from kubectl as the boolean false and is
//	            refused, saying to quote it)
//	stopBits    1, 1.5 (with 5 data bits only) or 2
//	timeoutMs   how long to wait for a reply, 1 to 600000 ms
//
// Errors are *bus.FieldError naming the key.
func Parse(c bus.Config, def Config) (Config, error) {
	pc := def
	port, err := c.String("port", "")
	if err != nil {
		return pc, err
	}
	port = strings.TrimSpace(port)
	for _, key := range portAliases {
		alias, err := c.String(key, "")
		if err != nil {
			return pc, err
		}
		alias = strings.TrimSpace(alias)
		switch {
		case port != "" && alias != "" && port != alias:
			return pc, c.Errorf(key, "%q names another port than %q; give one of port, %s", alias, port, strings.Join(portAliases, ", "))
		case port == "":
			port = alias
		}
	}
	if port != "" {
		pc.Port = port
	}
	if pc.Port == "" {
		if c.Has("port") {
			return pc, c.Errorf("port", "is empty")
		}
		return pc, c.Require("port")
	}

	baud, err := c.Int("baudRate", int64(def.Mode.Baud), 1, 16_000_000)
	if err != nil {
		return pc, err
	}
	pc.Mode.Baud = int(baud)
	dataBits := int64(def.Mode.DataBits)
	if dataBits == 0 {
		dataBits = 8
	}
	if dataBits, err = c.Int("dataBits", dataBits, 5, 8); err != nil {
		return pc, err
	}
	pc.Mode.DataBits = int(dataBits)

	defParity := "none"
	if def.Mode.Parity != 0 {
		defParity = string(rune(def.Mode.Parity))
	}
	if v, ok := c.Values["parity"]; ok && v.Kind == bus.Bool {
		return pc, c.BooleanError("parity", "N", "none, even, odd, mark or space")
	}
	parity, err := c.String("parity", defParity)
	if err != nil {
		return pc, err
	}
	switch strings.ToLower(strings.TrimSpace(parity)) {
	case "none", "n", "no":
		pc.Mode.Parity = hal.ParityNone
	case "even", "e":
		pc.Mode.Parity = hal.ParityEven
	case "odd", "o":
		pc.Mode.Parity = hal.ParityOdd
	case "mark", "m":
		pc.Mode.Parity = hal.ParityMark
	case "space", "s":
		pc.Mode.Parity = hal.ParitySpace
	default:
		return pc, c.Errorf("parity", "%q is not one of none, even, odd, mark, space", parity)
	}

	if pc.Mode.StopBits, err = stopBits(c, def.Mode.StopBits); err != nil {
		return pc, err
	}
	if pc.Mode.StopBits == hal.Stop1Half && pc.Mode.DataBits != 5 {
		return pc, c.Errorf("stopBits", "1.5 needs 5 data bits, not %d", pc.Mode.DataBits)
	}
	ms, err := c.Int("timeoutMs", def.Timeout.Milliseconds(), 1, 600_000)
	if err != nil {
		return pc, err
	}
	pc.Timeout = time.Duration(ms) * time.Millisecond
	if err := pc.Mode.Check(); err != nil {
		return pc, &bus.FieldError{Field: c.Path, Err: err}
	}
	return pc, nil
}

func stopBits(c bus.Config, def hal.StopBits) (hal.StopBits, error) {
	if def == 0 {
		def = hal.Stop1
	}
	v, ok := c.Values["stopBits"]
	if !ok {
		return def, nil
	}
	var f float64
	switch v.Kind {
	case bus.Number:
		f = v.Num
	case bus.String:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(v.Str), 64); err != nil {
			return 0, c.Errorf("stopBits", "%s is not 1, 1.5 or 2", v)
		}
	default:
		return 0, c.Errorf("stopBits", "%s is not 1, 1.5 or 2", v)
	}
	switch f {
	case 1:
		return hal.Stop1, nil
	case 1.5:
		return hal.Stop1Half, nil
	case 2:
		return hal.Stop2, nil
	}
	return 0, c.Errorf("stopBits", "%s is not 1, 1.5 or 2", v)
}
