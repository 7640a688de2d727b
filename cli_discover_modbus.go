package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tinymapper/tinymapper/bus/modbus"
	"github.com/tinymapper/tinymapper/data/mdns"
	"github.com/tinymapper/tinymapper/hal"
)

// modbusAnswer is what one slave ID answered.
type modbusAnswer struct {
	slave     int
	value     uint16 // the register's value, when err is nil
	exception error  // the slave's exception: it is there, the register is not
}

// discoverModbus scans slave IDs on a serial line with one harmless read
// each (function 3 or 4, one register) and lists those that answer.
func discoverModbus(args []string, out io.Writer) error {
	var (
		port, parity, node     *string
		baud, dataBits, stop   *int
		from, to, fn, register *int
		timeout                *time.Duration
		asYAML                 *bool
	)
	b, fs, err := openBoardFor("discover modbus", args, func(fs *flag.FlagSet) {
		port = fs.String("port", "/dev/ttyUSB0", "serial port")
		baud = fs.Int("baud", 19200, "baud rate")
		dataBits = fs.Int("data-bits", 8, "data bits")
		parity = fs.String("parity", "even", "none, even or odd (Modbus RTU's default is even)")
		stop = fs.Int("stop-bits", 1, "stop bits: 1 or 2")
		from = fs.Int("from", 1, "first slave ID")
		to = fs.Int("to", 247, "last slave ID")
		fn = fs.Int("function", 3, "read function: 3 (holding registers) or 4 (input registers)")
		register = fs.Int("register", 0, "the register read, 0-based")
		timeout = fs.Duration("timeout", 100*time.Millisecond, "how long each slave ID may take to answer")
		asYAML = fs.Bool("yaml", false, "print a KubeEdge DeviceModel and a Device per slave that answered with a value")
		node = fs.String("node", mdns.Hostname(), "spec.nodeName of the Devices (--yaml)")
	})
	if err != nil {
		return err
	}
	defer b.Close()
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q (usage: tinymapper discover modbus --port /dev/ttyUSB0 [--baud 19200] [--parity even] [--from 1 --to 247])", fs.Arg(0))
	case *from < 1 || *to > 247 || *from > *to:
		return errors.New("--from and --to must be slave IDs 1 to 247, from ≤ to")
	case *fn != 3 && *fn != 4:
		return errors.New("--function must be 3 (holding registers) or 4 (input registers)")
	case *register < 0 || *register > 0xFFFF:
		return errors.New("--register must be 0 to 65535")
	case *timeout <= 0 || *timeout > 5*time.Second:
		return errors.New("--timeout must be between 0 and 5s")
	}
	mode := hal.SerialMode{Baud: *baud, DataBits: *dataBits, StopBits: hal.StopBits(2 * *stop)}
	switch strings.ToLower(*parity) {
	case "none", "n":
		mode.Parity = hal.ParityNone
	case "even", "e":
		mode.Parity = hal.ParityEven
	case "odd", "o":
		mode.Parity = hal.ParityOdd
	default:
		return fmt.Errorf("--parity %q: none, even or odd", *parity)
	}
	s, err := hal.OpenSerial(*port, mode)
	if err != nil {
		return err
	}
	defer s.Close()
	var found []modbusAnswer
	for id := *from; id <= *to; id++ {
		a, ok, err := probeSlave(s, mode, id, byte(*fn), uint16(*register), *timeout)
		if err != nil {
			return fmt.Errorf("discover modbus %s: slave %d: %w", *port, id, err)
		}
		if ok {
			found = append(found, a)
		}
	}
	table := "holding"
	if *fn == 4 {
		table = "input"
	}
	if *asYAML {
		return writeModbusYAML(out, found, *port, *parity, mode, table, *register, *node)
	}
	if len(found) == 0 {
		fmt.Fprintf(out, "no slave %d..%d answered on %s at %s\n", *from, *to, *port, mode)
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLAVE\tANSWER")
	for _, a := range found {
		if a.exception != nil {
			fmt.Fprintf(tw, "%d\t%s (the slave is there)\n", a.slave, a.exception)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s register %d = %d\n", a.slave, table, *register, a.value)
	}
	return tw.Flush()
}

// rtuReply frames a Modbus RTU reply: 5 bytes for an exception, else 3 +
// byte count + 2.
type rtuReply struct{}

func (rtuReply) Frame(rx []byte) (int, bool) {
	switch {
	case len(rx) < 5:
		return 0, false
	case rx[1]&0x80 != 0:
		return 0, true
	}
	return 0, len(rx) >= 3+int(rx[2])+2
}

// probeSlave reads one register of slave id. ok: the slave answered (a
// value or an exception). A silent or garbled answer is not ok; err is
// only a port that fails.
func probeSlave(s *hal.Serial, mode hal.SerialMode, id int, fn byte, reg uint16, timeout time.Duration) (a modbusAnswer, ok bool, err error) {
	req := []byte{byte(id), fn, byte(reg >> 8), byte(reg), 0, 1, 0, 0}
	crc := modbus.CRC(req[:6])
	req[6], req[7] = byte(crc), byte(crc>>8)
	var rx [64]byte
	n, err := s.Exchange(hal.SerialTx{Send: req, Quiet: 4 * mode.CharTime(), Timeout: timeout, Reply: rtuReply{}}, rx[:])
	if err != nil {
		if errors.Is(err, hal.ErrTimeout) {
			return a, false, nil
		}
		return a, false, err
	}
	data, derr := modbus.DecodeResponse(req, rx[:n])
	var exc modbus.Exception
	switch {
	case errors.As(derr, &exc):
		return modbusAnswer{slave: id, exception: exc}, true, nil
	case derr != nil || len(data) < 2:
		return a, false, nil
	}
	return modbusAnswer{slave: id, value: uint16(data[0])<<8 | uint16(data[1])}, true, nil
}

// writeModbusYAML writes one DeviceModel and a Device per slave that
// answered with a value: the register read as uint16.
func writeModbusYAML(w io.Writer, found []modbusAnswer, port, parity string, mode hal.SerialMode, table string, reg int, node string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Found by `tinymapper discover modbus --port %s`: a Device per slave that\n# answered, reading the register the scan read. Add the properties you need.\n", port)
	prop := fmt.Sprintf("%s-%d", table, reg)
	register := map[string]string{"holding": "HoldingRegister", "input": "InputRegister"}[table]
	portName := strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, strings.TrimPrefix(port, "/dev/")), "-")
	model := false
	for _, a := range found {
		if a.exception != nil {
			fmt.Fprintf(&b, "# slave %d: %s: no Device written\n", a.slave, a.exception)
			continue
		}
		if !model {
			model = true
			fmt.Fprintf(&b, "---\napiVersion: devices.kubeedge.io/v1beta1\nkind: DeviceModel\nmetadata:\n  name: discovered-modbus-%s\n  namespace: default\nspec:\n  protocol: modbus-rtu\n  properties:\n    - name: %s\n      description: %s register %d as read by the scan\n      type: INT\n      accessMode: ReadOnly\n      minimum: \"0\"\n      maximum: \"65535\"\n",
				prop, prop, table, reg)
		}
		fmt.Fprintf(&b, "---\napiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata:\n  name: modbus-%s-%d\n  namespace: default\nspec:\n  nodeName: %s\n  deviceModelRef:\n    name: discovered-modbus-%s\n  protocol:\n    protocolName: modbus-rtu\n    configData:\n      slaveID: %d\n      serialPort: %s\n      baudRate: %d\n      dataBits: %d\n      parity: %s\n      stopBits: %d\n      timeoutMs: 500\n  properties:\n    - name: %s\n      collectCycle: 1000\n      reportCycle: 10000\n      reportToCloud: true\n      visitors:\n        protocolName: modbus-rtu\n        configData:\n          register: %s\n          offset: %d\n          limit: 1\n          dataType: uint16\n",
			portName, a.slave, node, prop, a.slave, port, mode.Baud, mode.DataBits, strings.ToLower(parity), int(mode.StopBits)/2, prop, register, reg)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
