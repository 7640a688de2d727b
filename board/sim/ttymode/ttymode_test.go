package ttymode_test

import (
	"strings"
	"testing"

	"github.com/tinymapper/tinymapper/board/sim/serialsim"
	"github.com/tinymapper/tinymapper/board/sim/ttymode"
	"github.com/tinymapper/tinymapper/hal"
)

func TestCheckSeesWhatAPtyKeeps(t *testing.T) {
	modbus := ttymode.Mode{Baud: 19200, DataBits: 8, Parity: 'E', StopBits: 1}
	tests := []struct {
		name string
		set  hal.SerialMode
		want string // "" when the mode agrees
	}{
		{"the device's own mode", hal.SerialMode{Baud: 19200, Parity: hal.ParityEven}, ""},
		{"no parity cannot be told from even", hal.SerialMode{Baud: 19200}, ""},
		{"7 data bits cannot be seen", hal.SerialMode{Baud: 19200, DataBits: 7, Parity: hal.ParityEven}, ""},
		{"another baud rate", hal.SerialMode{Baud: 9600, Parity: hal.ParityEven}, "runs at 9600 baud"},
		{"odd parity", hal.SerialMode{Baud: 19200, Parity: hal.ParityOdd}, "parity is O"},
		{"mark parity", hal.SerialMode{Baud: 19200, Parity: hal.ParityMark}, "parity is M"},
		{"space parity", hal.SerialMode{Baud: 19200, Parity: hal.ParitySpace}, "parity is S"},
		{"two stop bits", hal.SerialMode{Baud: 19200, Parity: hal.ParityEven, StopBits: hal.Stop2}, "2 stop bits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := serialsim.NewPty()
			if err != nil {
				t.Fatalf("open a pty: %v", err)
			}
			defer p.Close()
			s, err := hal.OpenSerial(p.Path, tt.set)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = modbus.Check(p.TTY)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Check = %v, want agreement", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Check = %v, want an error saying %q", err, tt.want)
			}
		})
	}
	if got := modbus.String(); got != "19200 8E1" {
		t.Errorf("String() = %q", got)
	}
}
