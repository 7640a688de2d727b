package mysql

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/tinymapper/tinymapper/data/sink"
)

// packet frames payload with seq.
func packet(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

// mariadbHello is a MariaDB 10.11 handshake (salt "abcdefgh" +
// "ijklmnopqrst", mysql_native_password).
var mariadbHello = func() []byte {
	p := []byte{10}
	p = append(p, "5.5.5-10.11.6-MariaDB\x00"...)
	p = append(p, 1, 0, 0, 0)
	p = append(p, "abcdefgh"...)
	p = append(p, 0, 0xff, 0xf7, 45, 2, 0, 0xff, 0x81, 21)
	p = append(p, make([]byte, 10)...)
	p = append(p, "ijklmnopqrst\x00"...)
	return append(p, "mysql_native_password\x00"...)
}()

func TestParseHandshake(t *testing.T) {
	h, err := parseHandshake(mariadbHello)
	if err != nil || string(h.salt) != "abcdefghijklmnopqrst" || h.plugin != "mysql_native_password" {
		t.Fatalf("got %q %q %v", h.salt, h.plugin, err)
	}
	for _, bad := range [][]byte{nil, {9}, {10, 'x'}, mariadbHello[:20]} {
		if _, err := parseHandshake(bad); err == nil {
			t.Errorf("parseHandshake(%q) took it", bad)
		}
	}
}

func TestParseResult(t *testing.T) {
	for _, c := range []struct {
		name string
		p    []byte
		code uint16 // 0: OK
		bad  bool
	}{
		{"OK", []byte{0, 1, 0, 2, 0, 0, 0}, 0, false},
		{"ERR with state", append([]byte{0xff, 0x15, 0x04, '#'}, "28000Access denied"...), 1045, false},
		{"ERR without state", append([]byte{0xff, 0x15, 0x04}, "x"...), 1045, false},
		{"short ERR", []byte{0xff, 1}, 0, true},
		{"empty", nil, 0, true},
		{"a result set", []byte{1}, 0, true},
	} {
		err := parseResult(c.p)
		var se *ServerError
		switch {
		case c.bad && (err == nil || errors.As(err, &se)):
			t.Errorf("%s: %v, want a protocol error", c.name, err)
		case !c.bad && c.code == 0 && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.code != 0 && (!errors.As(err, &se) || se.Code != c.code):
			t.Errorf("%s: %v, want code %d", c.name, err, c.code)
		}
	}
	if err := classify("x", &ServerError{Code: 1054}); !errors.Is(err, sink.ErrRejected) {
		t.Errorf("an unknown column is not refused for good: %v", err)
	}
	if err := classify("x", &ServerError{Code: 1045}); errors.Is(err, sink.ErrRejected) {
		t.Errorf("access denied is refused for good: %v", err)
	}
}

// discard is a connection whose writes go nowhere (the server's side is
// scripted in the reader).
type discard struct{ net.Conn }

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// login runs the client's login against a scripted server.
func login(_ testing.TB, script []byte) error {
	w := &wire{conn: discard{}, r: bufio.NewReaderSize(bytes.NewReader(script), 4096)}
	return w.login("tm", "pw", "plant")
}

// FuzzLogin feeds the login what a server (or something posing as one)
// may send: it returns, and never panics.
func FuzzLogin(f *testing.F) {
	ok := append(packet(0, mariadbHello), packet(2, []byte{0, 0, 0, 2, 0, 0, 0})...)
	f.Add(ok)
	f.Add(append(packet(0, mariadbHello), packet(2, append([]byte{0xff, 0x15, 0x04, '#'}, "28000Access denied"...))...))
	f.Add(append(packet(0, mariadbHello), packet(2, append([]byte{0xfe}, "caching_sha2_password\x00abcdefghijklmnopqrst\x00"...))...))
	f.Add(append(packet(0, mariadbHello), packet(2, []byte{1, 4})...))
	f.Add([]byte{0xff, 0xff, 0xff, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = login(t, b)
	})
}

func TestLoginAgainstScripts(t *testing.T) {
	if err := login(t, append(packet(0, mariadbHello), packet(2, []byte{0, 0, 0, 2, 0, 0, 0})...)); err != nil {
		t.Errorf("OK: %v", err)
	}
	err := login(t, append(packet(0, mariadbHello), packet(2, []byte{1, 4})...))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("full authentication")) {
		t.Errorf("full auth: %v", err)
	}
}
