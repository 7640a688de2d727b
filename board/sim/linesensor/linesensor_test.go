package linesensor_test

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim/linesensor"
	"github.com/tinymapper/tinymapper/board/sim/serialsim"
)

// at is 12:00:15 UTC: T = 25.0 °C, the top of its sine.
var at = time.Date(2026, 1, 1, 12, 0, 15, 0, time.UTC)

func TestSensorRepliesToCommands(t *testing.T) {
	tests := []struct {
		cmds []string
		want string
	}{
		{[]string{"READ?"}, "T=25.0 H=" + strings.TrimPrefix(linesensor.Reading(at), "T=25.0 H=")},
		{[]string{"  read? "}, linesensor.Reading(at)},
		{[]string{"SP?"}, "SP=21.5"},
		{[]string{"SP=30"}, "OK"},
		{[]string{"SP=30", "SP?"}, "SP=30.0"},
		{[]string{"sp=-12.34", "SP?"}, "SP=-12.3"},
		{[]string{"SP=126"}, "ERR range"},
		{[]string{"SP=-41", "SP?"}, "SP=21.5"},
		{[]string{"SP=warm"}, "ERR value"},
		{[]string{"SP=NaN"}, "ERR value"},
		{[]string{"ID?"}, linesensor.Identity},
		{[]string{"HELLO"}, "ERR unknown command"},
	}
	for _, tt := range tests {
		s := linesensor.New(func() time.Time { return at })
		var got string
		for _, c := range tt.cmds {
			var ok bool
			if got, ok = s.Reply(c); !ok {
				t.Errorf("%q: no reply to %q", tt.cmds, c)
			}
		}
		if got != tt.want {
			t.Errorf("%q: reply %q, want %q", tt.cmds, got, tt.want)
		}
	}
	if _, ok := linesensor.New(nil).Reply("  "); ok {
		t.Error("an empty line got a reply")
	}
	if !strings.HasPrefix(linesensor.Reading(at), "T=25.0 H=") {
		t.Errorf("Reading at second 15 = %q", linesensor.Reading(at))
	}
}

var readingLine = regexp.MustCompile(`^T=(-?\d+\.\d) H=(\d+\.\d)$`)

func TestReadingsStayInTheirRanges(t *testing.T) {
	for sec := 0; sec < 300; sec += 3 {
		tt := at.Add(time.Duration(sec) * time.Second)
		line := linesensor.Reading(tt)
		if !readingLine.MatchString(line) {
			t.Fatalf("reading %q does not match %v", line, readingLine)
		}
		if v := linesensor.Temperature(tt); v < 20 || v > 25 {
			t.Errorf("T = %v, out of [20, 25]", v)
		}
		if v := linesensor.Humidity(tt); v < 35 || v > 55 {
			t.Errorf("H = %v, out of [35, 55]", v)
		}
	}
}

// open opens a pty with the sensor serving its master, and the other side as
// software would.
func open(t *testing.T, s *linesensor.Sensor, period time.Duration) (*os.File, *bufio.Reader) {
	t.Helper()
	p, err := serialsim.NewPty()
	if err != nil {
		t.Fatalf("open a pty: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(p.Master, period) }()
	t.Cleanup(func() {
		p.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	f, err := os.OpenFile(p.Path, os.O_RDWR|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	f.SetReadDeadline(time.Now().Add(5 * time.Second))
	return f, bufio.NewReader(f)
}

func TestSensorPrintsUnsolicitedLines(t *testing.T) {
	_, r := open(t, linesensor.New(nil), 20*time.Millisecond)
	for i := 0; i < 3; i++ {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(line, "\r\n") || !readingLine.MatchString(strings.TrimSuffix(line, "\r\n")) {
			t.Errorf("unsolicited line %q, want a reading ending in CR LF", line)
		}
	}
}

func TestSensorAnswersOverTheLine(t *testing.T) {
	s := linesensor.New(nil)
	s.SetQuiet(true)
	f, r := open(t, s, time.Hour)
	for _, step := range []struct{ send, want string }{
		{"SP=19.5\r\n", "OK"},
		{"SP?\r", "SP=19.5"},
		{"ID?\n", linesensor.Identity},
		{"\r\nNOPE\r\n", "ERR unknown command"},
	} {
		if _, err := f.Write([]byte(step.send)); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line != step.want+"\r\n" {
			t.Errorf("sent %q, got %q; want %q", step.send, line, step.want+"\r\n")
		}
	}
}
