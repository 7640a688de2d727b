package serial_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/serial"
)

func TestUnknownKeysAreWarnings(t *testing.T) {
	d := open(t, config(devicePath, "port", "ttyACM0", "baudrate", 9600),
		property("t", false, "command", "READ?", "patern", "x"))
	w := d.(interface{ Warnings() []string }).Warnings()
	if len(w) != 2 || !strings.Contains(w[0], "spec.protocol.configData.baudrate") || !strings.Contains(w[1], "patern") {
		t.Errorf("Warnings() = %q", w)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	port := []any{"port", "ttyACM0"}
	tests := []struct {
		name  string
		dev   []any
		prop  bus.PropertyConfig
		field string
		want  string
	}{
		{"no port", nil, property("t", false), "spec.protocol.configData.port", "is required"},
		{"empty port", []any{"port", " "}, property("t", false), "configData.port", "is empty"},
		{"port and serialPort disagree", []any{"port", "ttyACM0", "serialPort", "ttyUSB0"}, property("t", false), "configData.serialPort", "another port"},
		{"baud rate 0", append(port, "baudRate", 0), property("t", false), "configData.baudRate", "out of range"},
		{"fractional baud rate", append(port, "baudRate", 9600.5), property("t", false), "configData.baudRate", "not a whole number"},
		{"9 data bits", append(port, "dataBits", 9), property("t", false), "configData.dataBits", "out of range"},
		{"parity X", append(port, "parity", "X"), property("t", false), "configData.parity", "not one of"},
		{"parity N unquoted (kubectl: false)", append(port, "parity", false), property("t", false), "configData.parity", `quote the value (parity: "N") or write none, even, odd, mark or space`},
		{"parity Y unquoted (kubectl: true)", append(port, "parity", true), property("t", false), "configData.parity", "a boolean, not text (true)"},
		{"command ON unquoted (kubectl: true)", port, property("t", false, "command", true), "configData.command", `quote the value (command: "...")`},
		{"eol unquoted boolean", append(port, "eol", false), property("t", false), "configData.eol", "quote the value"},
		{"stop bits 3", append(port, "stopBits", 3), property("t", false), "configData.stopBits", "not 1, 1.5 or 2"},
		{"1.5 stop bits with 8 data bits", append(port, "stopBits", 1.5), property("t", false), "configData.stopBits", "1.5 needs 5 data bits, not 8"},
		{"timeout 0", append(port, "timeoutMs", 0), property("t", false), "configData.timeoutMs", "out of range"},
		{"eol semicolon", append(port, "eol", ";"), property("t", false), "configData.eol", "is not"},
		{"pattern without a group", port, property("t", false, "pattern", `T=\d+`), "configData.pattern", "has 0 capture groups, want 1"},
		{"pattern with two groups", port, property("t", false, "pattern", `(T)=(\d+)`), "configData.pattern", "has 2 capture groups"},
		{"pattern that does not compile", port, property("t", false, "pattern", `T=(\d+`), "configData.pattern", "not a regular expression"},
		{"empty pattern", port, property("t", false, "pattern", ""), "configData.pattern", "is empty"},
		{"unknown dataType", port, property("t", false, "dataType", "decimal"), "configData.dataType", "not one of"},
		{"scale 0", port, property("t", false, "scale", 0), "configData.scale", "must not be 0"},
		{"bool with scale", port, property("t", false, "dataType", "bool", "scale", 2), "configData.scale", "does not apply to bool"},
		{"empty command", port, property("t", false, "command", ""), "configData.command", "is empty"},
		{"bad escape", port, property("t", false, "command", `READ\q`), "configData.command", `unknown escape \q`},
		{"short hex escape", port, property("t", false, "command", `READ\x4`), "configData.command", "two hex digits"},
		{"maxAgeMs with a command", port, property("t", false, "command", "READ?", "maxAgeMs", 100), "configData.maxAgeMs", "only to properties without a command"},
		{"ReadWrite without writeCommand", port, property("t", true, "command", "SP?"), "configData.writeCommand", "is required"},
		{"writeCommand on a ReadOnly property", port, property("t", false, "writeCommand", "SP={value}"), "configData.writeCommand", "ReadOnly"},
		{"{value} twice", port, property("t", true, "writeCommand", "{value}{value}"), "configData.writeCommand", "more than once"},
		{"writeAck without writeCommand", port, property("t", false, "writeAck", "OK"), "configData.writeAck", "only with writeCommand"},
		{"STRING property", port, bus.PropertyConfig{Name: "id", Type: "STRING", Config: config("spec.properties[id].visitors.configData")}, "spec.properties[id]", "STRING is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := bustest.Refused(t, serial.Driver{}, bus.DeviceConfig{Name: "default/bad",
				Config: config(devicePath, tt.dev...), Properties: []bus.PropertyConfig{tt.prop}})
			if !strings.Contains(fe.Field, tt.field) || !strings.Contains(fe.Error(), tt.want) {
				t.Errorf("error %q (field %s), want field %s saying %q", fe, fe.Field, tt.field, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := serial.ParseConfig(config(devicePath, "port", "ttyS1"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode.String() != "9600 8N1" || c.Timeout != time.Second || c.EOL != "\n" {
		t.Errorf("defaults: %s, timeout %v, eol %q", c.Mode, c.Timeout, c.EOL)
	}
	c, err = serial.ParseConfig(config(devicePath, "port", "ttyS1", "baudRate", "250000", "dataBits", 5,
		"parity", "Mark", "stopBits", "1.5", "timeoutMs", "0x10", "eol", "\r"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode.String() != "250000 5M1.5" || c.Timeout != 16*time.Millisecond || c.EOL != "\r" {
		t.Errorf("parsed: %s, timeout %v, eol %q", c.Mode, c.Timeout, c.EOL)
	}
	p, err := serial.ParseProperty(bus.PropertyConfig{Name: "on", Type: "BOOLEAN", Config: config("p")})
	if err != nil || p.DataType != "bool" || p.Pattern.String() != serial.DefaultPattern || p.MaxAge != 10*time.Second {
		t.Errorf("BOOLEAN defaults: %+v, %v", p, err)
	}
}
