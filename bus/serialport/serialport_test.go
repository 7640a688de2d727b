package serialport_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/serialport"
	"github.com/tinymapper/tinymapper/hal"
)

var (
	lineDefaults   = serialport.Config{Mode: hal.SerialMode{Baud: 9600}, Timeout: time.Second}
	modbusDefaults = serialport.Config{Mode: hal.SerialMode{Baud: 19200, Parity: hal.ParityEven}, Timeout: 500 * time.Millisecond}
)

func config(kv ...any) bus.Config {
	c := bus.Config{Path: "configData", Values: map[string]bus.Value{}}
	for i := 0; i < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case string:
			c.Values[kv[i].(string)] = bus.StringValue(v)
		case float64:
			c.Values[kv[i].(string)] = bus.NumberValue(v)
		case bool:
			c.Values[kv[i].(string)] = bus.BoolValue(v)
		}
	}
	return c
}

func TestParseFillsInTheProtocolsDefaults(t *testing.T) {
	tests := []struct {
		name    string
		def     serialport.Config
		c       bus.Config
		port    string
		mode    string
		timeout time.Duration
	}{
		{"serial defaults", lineDefaults, config("port", "ttyUSB0"), "ttyUSB0", "9600 8N1", time.Second},
		{"modbus defaults", modbusDefaults, config("port", "/dev/ttyUSB0"), "/dev/ttyUSB0", "19200 8E1", 500 * time.Millisecond},
		{"KubeEdge's serialPort", modbusDefaults, config("serialPort", " /dev/ttyS1 "), "/dev/ttyS1", "19200 8E1", 500 * time.Millisecond},
		{"mapper-framework's serialName", modbusDefaults, config("serialName", "/dev/ttyS2"), "/dev/ttyS2", "19200 8E1", 500 * time.Millisecond},
		{"every key", modbusDefaults, config("port", "ttyACM0", "baudRate", "250000", "dataBits", 5.0, "parity", "Mark", "stopBits", "1.5", "timeoutMs", "0x10"),
			"ttyACM0", "250000 5M1.5", 16 * time.Millisecond},
		{"parity none over an even default", modbusDefaults, config("port", "p", "parity", "none", "stopBits", 2.0), "p", "19200 8N2", 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc, err := serialport.Parse(tt.c, tt.def)
			if err != nil {
				t.Fatal(err)
			}
			if pc.Port != tt.port || pc.Mode.String() != tt.mode || pc.Timeout != tt.timeout {
				t.Errorf("= %q %s %v, want %q %s %v", pc.Port, pc.Mode, pc.Timeout, tt.port, tt.mode, tt.timeout)
			}
		})
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		c    bus.Config
		key  string
		want string
	}{
		{"no port", config(), "configData.port", "is required"},
		{"two ports", config("port", "a", "serialPort", "b"), "configData.serialPort", "another port"},
		{"two ports by two aliases", config("serialPort", "a", "serialName", "b"), "configData.serialName", "another port"},
		{"parity N unquoted", config("port", "a", "parity", false), "configData.parity", `quote the value (parity: "N")`},
		{"1.5 stop bits at 8 data bits", config("port", "a", "stopBits", 1.5), "configData.stopBits", "1.5 needs 5 data bits, not 8"},
		{"timeout 0", config("port", "a", "timeoutMs", 0.0), "configData.timeoutMs", "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := serialport.Parse(tt.c, lineDefaults)
			var fe *bus.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.key || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("= %v, want a FieldError on %s saying %q", err, tt.key, tt.want)
			}
		})
	}
	if !errors.Is(mustErr(serialport.Parse(config(), lineDefaults)), bus.ErrMissing) {
		t.Error("a missing port does not wrap bus.ErrMissing")
	}
}

func mustErr(_ serialport.Config, err error) error { return err }
