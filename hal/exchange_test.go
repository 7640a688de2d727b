package hal_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/hal"
	"github.com/tinymapper/tinymapper/internal/await"
)

// lineReply is a Lines framer that takes the first line starting with
// prefix as the reply, and keeps the other lines.
type lineReply struct {
	hal.Lines
	prefix string
	reply  string
	others []string
}

func newLineReply(prefix string) *lineReply {
	r := &lineReply{prefix: prefix}
	r.Lines = hal.Lines{EOL: '\n', Line: func(line []byte) bool {
		if bytes.HasPrefix(line, []byte(r.prefix)) {
			r.reply = string(line)
			return true
		}
		r.others = append(r.others, string(line))
		return false
	}}
	return r
}

func TestExchangeEndsWhenTheFramerSaysSo(t *testing.T) {
	long := strings.Repeat("x", hal.MaxLine+100)
	tests := []struct {
		name   string
		answer string
		reply  string
		others []string
	}{
		{"one line", "V=1\n", "V=1", nil},
		{"CR LF trimmed", "V=2\r\n", "V=2", nil},
		{"lines before the reply are skipped", "echo\r\n> prompt\nV=3\n", "V=3", []string{"echo", "> prompt"}},
		{"an over-long line is dropped whole", long + "V=9\nV=4\n", "V=4", nil},
		{"bytes after the reply are left", "V=5\nV=6\n", "V=5", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			master, path := newPty(t)
			s := openSerial(t, path, mode9600)
			serve(t, master, func([]byte) []byte { return []byte(tt.answer) })
			r := newLineReply("V=")
			if _, err := s.Exchange(hal.SerialTx{Send: []byte("GET\n"), Timeout: time.Second, Reply: r}, make([]byte, hal.MaxLine+1)); err != nil {
				t.Fatal(err)
			}
			if r.reply != tt.reply || fmt.Sprint(r.others) != fmt.Sprint(tt.others) {
				t.Errorf("reply %q after %q, want %q after %q", r.reply, r.others, tt.reply, tt.others)
			}
		})
	}
}

// The lock is inside the exchange: users of one port that exchange at once
// never get each other's replies.
func TestExchangesOfTwoHandlesNeverInterleave(t *testing.T) {
	master, path := newPty(t)
	serve(t, master, func(req []byte) []byte { // answers "A7\n" with "A7=ok\n", slowly
		time.Sleep(time.Millisecond)
		return append(bytes.TrimSpace(req), "=ok\n"...)
	})
	var wg sync.WaitGroup
	for _, who := range []string{"A", "B"} {
		s := openSerial(t, path, mode9600)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				req := fmt.Sprintf("%s%d", who, i)
				r := newLineReply(req + "=")
				if _, err := s.Exchange(hal.SerialTx{Send: []byte(req + "\n"), Timeout: time.Second, Reply: r}, make([]byte, hal.MaxLine+1)); err != nil {
					t.Errorf("%s: %v", req, err)
					return
				}
				if r.reply != req+"=ok" || len(r.others) > 0 {
					t.Errorf("%s: reply %q after %q", req, r.reply, r.others)
				}
			}
		}()
	}
	wg.Wait()
}

// lineLog collects the lines a listener gets.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) add(line []byte) {
	l.mu.Lock()
	l.lines = append(l.lines, string(line))
	l.mu.Unlock()
}

func (l *lineLog) has(line string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, got := range l.lines {
		if got == line {
			return true
		}
	}
	return false
}

func TestListenersGetEveryLineAndExchangesTheirReplies(t *testing.T) {
	master, path := newPty(t)
	serve(t, master, func(req []byte) []byte {
		if string(req) == "SP?\n" {
			return []byte("T=9.9\r\nSP=21.5\r\n") // an unsolicited line first
		}
		return nil
	})
	a, b := openSerial(t, path, mode9600), openSerial(t, path, mode9600)
	var la, lb lineLog
	if err := a.Listen('\n', la.add); err != nil {
		t.Fatal(err)
	}
	if err := b.Listen('\n', lb.add); err != nil {
		t.Fatal(err)
	}
	master.Write([]byte("T=1.5\r\n"))
	await.Until(t, "both listeners to get T=1.5", func() bool { return la.has("T=1.5") && lb.has("T=1.5") })

	// A polled exchange on the listening port gets its reply from the reader.
	r := newLineReply("SP=")
	if _, err := a.Exchange(hal.SerialTx{Send: []byte("SP?\n"), Timeout: time.Second, Reply: r}, make([]byte, hal.MaxLine+1)); err != nil {
		t.Fatal(err)
	}
	if r.reply != "SP=21.5" {
		t.Errorf("reply through the reader %q", r.reply)
	}
	await.Until(t, "the listener to see the lines around the reply", func() bool { return la.has("T=9.9") && la.has("SP=21.5") })

	// After the last listener the port is read directly again.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	c := openSerial(t, path, mode9600)
	r = newLineReply("SP=")
	if _, err := c.Exchange(hal.SerialTx{Send: []byte("SP?\n"), Timeout: time.Second, Reply: r}, make([]byte, hal.MaxLine+1)); err != nil || r.reply != "SP=21.5" {
		t.Errorf("direct exchange after the reader stopped: %q, %v", r.reply, err)
	}
}

func TestListenersAndReplyClaimsExcludeEachOther(t *testing.T) {
	_, path := newPty(t)
	tests := []struct {
		name  string
		first func(*hal.Serial) error
		then  func(*hal.Serial) error
		want  string
	}{
		{"listen on a claimed port", (*hal.Serial).ClaimReplies, func(s *hal.Serial) error { return s.Listen('\n', func([]byte) {}) }, "replies are claimed"},
		{"claim a port with a listener", func(s *hal.Serial) error { return s.Listen('\n', func([]byte) {}) }, (*hal.Serial).ClaimReplies, "line listener takes every byte"},
		{"listen at another line end", func(s *hal.Serial) error { return s.Listen('\n', func([]byte) {}) }, func(s *hal.Serial) error { return s.Listen('\r', func([]byte) {}) }, `line end '\n', not '\r'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := openSerial(t, path, mode9600), openSerial(t, path, mode9600)
			if err := tt.first(a); err != nil {
				t.Fatal(err)
			}
			err := tt.then(b)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("= %v, want an error naming the port and saying %q", err, tt.want)
			}
			// The first ends with its handle; then the second works.
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if err := tt.then(b); err != nil {
				t.Errorf("after the first handle closed: %v", err)
			}
			b.Close()
		})
	}
}

func TestExchangesWithoutABoundOrABufferAreRefused(t *testing.T) {
	_, path := newPty(t)
	s := openSerial(t, path, mode9600)
	tests := []struct {
		name string
		tx   hal.SerialTx
		rx   []byte
		want string
	}{
		{"no timeout", hal.SerialTx{Send: []byte("x")}, nil, "no timeout"},
		{"a reply and no buffer", hal.SerialTx{Send: []byte("x"), Timeout: time.Second, Reply: hal.FixedLen(1)}, nil, "no buffer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Exchange(tt.tx, tt.rx); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("= %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// An exchange that the reader serves ends when the device goes away, with
// ErrPortGone, rather than waiting out its timeout.
func TestAnUnplugEndsAnExchangeTheReaderServes(t *testing.T) {
	master, path, unplug := replugPty(t)
	s := openSerial(t, path, mode9600)
	if err := s.Listen('\n', func([]byte) {}); err != nil {
		t.Fatal(err)
	}
	serve(t, master, func([]byte) []byte { unplug(); return nil }) // the request pulls the plug
	start := time.Now()
	_, err := s.Exchange(hal.SerialTx{Send: []byte("GET\n"), Timeout: 5 * time.Second, Reply: newLineReply("V=")}, make([]byte, hal.MaxLine+1))
	if !errors.Is(err, hal.ErrPortGone) {
		t.Fatalf("= %v, want ErrPortGone", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v: the exchange waited for its timeout", d)
	}
}
