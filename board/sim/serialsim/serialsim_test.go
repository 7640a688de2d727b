package serialsim_test

import (
	"bytes"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim/rtuslave"
	"github.com/tinymapper/tinymapper/board/sim/serialsim"
	"github.com/tinymapper/tinymapper/hal"
)

func frame(b ...byte) []byte {
	crc := rtuslave.CRC(b)
	return append(b, byte(crc), byte(crc>>8))
}

func start(t *testing.T) *serialsim.Board {
	t.Helper()
	b, err := serialsim.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if again, err := serialsim.Start(); again != b || err != nil {
		t.Fatalf("second Start = %p, %v; want the first board", again, err)
	}
	return b
}

// exchange sends req and reads a reply of want bytes.
func exchange(t *testing.T, s *hal.Serial, req []byte, want int) []byte {
	t.Helper()
	got := make([]byte, want)
	if n, err := s.Exchange(hal.SerialTx{Send: req, Timeout: 2 * time.Second, Reply: hal.FixedLen(want)}, got); err != nil {
		t.Fatalf("after %d of %d bytes: %v", n, want, err)
	}
	return got
}

func TestModbusSlavesAnswerOnTtyUSB0(t *testing.T) {
	b := start(t)
	for _, name := range []string{"/dev/ttyUSB0", "ttyUSB0"} {
		s, err := hal.OpenSerial(name, hal.SerialMode{Baud: 19200, Parity: hal.ParityEven})
		if err != nil {
			t.Fatal(err)
		}
		if s.Port() != serialsim.ModbusPort || s.Path() != b.Modbus.Path {
			t.Errorf("%q opens %q at %q, want %q at the pty %q", name, s.Port(), s.Path(), serialsim.ModbusPort, b.Modbus.Path)
		}
		for _, id := range []byte{rtuslave.ID, rtuslave.SecondID} {
			got := exchange(t, s, frame(id, 3, 0, 1, 0, 1), 7)
			if !bytes.Equal(got, frame(id, 3, 2, 0, 50)) {
				t.Errorf("slave %d fan speed reply % x", id, got)
			}
		}
		got := exchange(t, s, frame(1, 4, 0, 20, 0, 1), 5)
		if !bytes.Equal(got, frame(1, 0x84, 2)) {
			t.Errorf("reply to a read past the map % x, want exception 02", got)
		}
		s.Close()
	}
}

func TestModbusLineIgnoresACorruptedFrame(t *testing.T) {
	b := start(t)
	s, err := hal.OpenSerial(serialsim.ModbusPort, hal.SerialMode{Baud: 19200, Parity: hal.ParityEven})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := b.Slaves[0].CRCErrors()
	bad := frame(1, 3, 0, 0, 0, 1)
	bad[3] ^= 0x40 // a bit flipped on the wire
	if n, err := s.Exchange(hal.SerialTx{Send: bad, Timeout: 100 * time.Millisecond, Reply: hal.FixedLen(1)}, make([]byte, 16)); n != 0 || !errors.Is(err, hal.ErrTimeout) {
		t.Fatalf("a corrupted frame got %d bytes of reply (%v)", n, err)
	}
	if b.Slaves[0].CRCErrors() == before {
		t.Error("the slave did not count the CRC error")
	}
	// The line works on after it.
	if got := exchange(t, s, frame(1, 3, 0, 0, 0, 1), 7); got[1] != 3 {
		t.Errorf("reply after the corrupted frame: % x", got)
	}
}

func TestLineSensorTalksOnTtyACM0(t *testing.T) {
	b := start(t)
	s, err := hal.OpenSerial("ttyACM0", hal.SerialMode{Baud: 9600})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Port() != serialsim.LinePort || s.Path() != b.Line.Path {
		t.Errorf("ttyACM0 opens %q at %q", s.Port(), s.Path())
	}
	reading := regexp.MustCompile(`^T=\d+\.\d H=\d+\.\d$`)
	var lines []string
	twoLines := &hal.Lines{EOL: '\n', Line: func(line []byte) bool {
		lines = append(lines, string(line))
		return len(lines) == 2 // the reply, and an unsolicited line within a second
	}}
	if _, err := s.Exchange(hal.SerialTx{Send: []byte("READ?\r\n"), Timeout: 3 * time.Second, Reply: twoLines}, make([]byte, hal.MaxLine+1)); err != nil {
		t.Fatalf("%v after %q", err, lines)
	}
	for _, line := range lines {
		if !reading.MatchString(line) {
			t.Errorf("line %q is not a reading", line)
		}
	}
}

func TestSimPortsNeverShadowTheHostsDevices(t *testing.T) {
	tests := []struct {
		name      string
		host      []string
		familiar  string
		sim       string
		wantName  string
		wantAlias []string
		warns     bool
	}{
		{"a host without the device lends its familiar name", nil, serialsim.ModbusPort, serialsim.SimModbusPort,
			"/dev/ttyUSB0", []string{"ttyUSB0", "/dev/ttySIM0", "ttySIM0"}, false},
		{"a host with a USB adapter keeps /dev/ttyUSB0", []string{"/dev/ttyUSB0"}, serialsim.ModbusPort, serialsim.SimModbusPort,
			"/dev/ttySIM0", []string{"ttySIM0"}, true},
		{"a host with a CDC device keeps /dev/ttyACM0", []string{"/dev/ttyACM0", "/dev/ttyUSB0"}, serialsim.LinePort, serialsim.SimLinePort,
			"/dev/ttySIM1", []string{"ttySIM1"}, true},
		{"another device on the host does not matter", []string{"/dev/ttyUSB1"}, serialsim.LinePort, serialsim.SimLinePort,
			"/dev/ttyACM0", []string{"ttyACM0", "/dev/ttySIM1", "ttySIM1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exists := func(p string) bool { return slices.Contains(tt.host, p) }
			name, aliases, warning := serialsim.Names(tt.familiar, tt.sim, exists)
			if name != tt.wantName || !slices.Equal(aliases, tt.wantAlias) {
				t.Errorf("Names = %q %q, want %q %q", name, aliases, tt.wantName, tt.wantAlias)
			}
			if (warning != "") != tt.warns || tt.warns && !strings.Contains(warning, tt.familiar) {
				t.Errorf("warning %q, want one naming %s: %v", warning, tt.familiar, tt.warns)
			}
		})
	}
}

func TestSimPortsAnswerToTheirSimNames(t *testing.T) {
	b := start(t)
	for _, tc := range []struct{ name, canonical, path string }{
		{"ttySIM0", b.ModbusName, b.Modbus.Path},
		{serialsim.SimLinePort, b.LineName, b.Line.Path},
	} {
		if c, p := hal.SerialPort(tc.name); c != tc.canonical || p != tc.path {
			t.Errorf("SerialPort(%q) = %q, %q; want %q, %q", tc.name, c, p, tc.canonical, tc.path)
		}
	}
}

func TestTheModbusLineAnswersAtItsModeOnly(t *testing.T) {
	b := start(t)
	tests := []struct {
		name    string
		mode    hal.SerialMode
		answers bool
	}{
		{"19200 8E1, the line's mode", hal.SerialMode{Baud: 19200, Parity: hal.ParityEven}, true},
		{"9600 8E1", hal.SerialMode{Baud: 9600, Parity: hal.ParityEven}, false},
		{"115200 8E1", hal.SerialMode{Baud: 115200, Parity: hal.ParityEven}, false},
		{"19200 8O1", hal.SerialMode{Baud: 19200, Parity: hal.ParityOdd}, false},
		{"19200 8E2", hal.SerialMode{Baud: 19200, Parity: hal.ParityEven, StopBits: hal.Stop2}, false},
		// A pty cannot show PARENB: no parity passes for even.
		{"19200 8N1, which a pty cannot tell from 8E1", hal.SerialMode{Baud: 19200}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := hal.OpenSerial(serialsim.ModbusPort, tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			dropped := b.RTU.WrongMode()
			got := make([]byte, 7)
			n, err := s.Exchange(hal.SerialTx{Send: frame(1, 3, 0, 1, 0, 1), Timeout: 200 * time.Millisecond, Reply: hal.FixedLen(7)}, got)
			switch {
			case tt.answers && (err != nil || !bytes.Equal(got, frame(1, 3, 2, 0, 50))):
				t.Errorf("reply % x, %v; want the fan speed", got[:n], err)
			case !tt.answers && n > 0:
				t.Errorf("a frame at %s got % x; a slave at 19200 8E1 cannot read it", tt.mode, got[:n])
			case !tt.answers && b.RTU.WrongMode() != dropped+1:
				t.Errorf("WrongMode went from %d to %d, want one more", dropped, b.RTU.WrongMode())
			}
		})
	}
}

func TestTheLineSensorGarblesAtAnotherMode(t *testing.T) {
	start(t)
	reading := regexp.MustCompile(`T=\d+\.\d H=\d+\.\d`)
	for _, tt := range []struct {
		name string
		mode hal.SerialMode
		ok   bool
	}{
		{"9600 8N1, the sensor's mode", hal.SerialMode{Baud: 9600}, true},
		{"115200 8N1", hal.SerialMode{Baud: 115200}, false},
		{"9600 8O1", hal.SerialMode{Baud: 9600, Parity: hal.ParityOdd}, false},
		{"9600 8N2", hal.SerialMode{Baud: 9600, StopBits: hal.Stop2}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := hal.OpenSerial(serialsim.LinePort, tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// The reply, or the unsolicited line within a second.
			buf := make([]byte, 64)
			n, _ := s.Exchange(hal.SerialTx{Send: []byte("READ?\r\n"), Timeout: 1500 * time.Millisecond, Reply: hal.FixedLen(15)}, buf)
			got := buf[:min(n, len(buf))]
			if len(got) == 0 {
				t.Fatal("the sensor sent nothing")
			}
			if reading.Match(got) != tt.ok {
				t.Errorf("at %s the sensor sent %q; readable: %v, want %v", tt.mode, got, !tt.ok, tt.ok)
			}
		})
	}
}
