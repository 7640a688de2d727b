package mqtt

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestAppendLength(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0}},
		{127, []byte{0x7f}},
		{128, []byte{0x80, 0x01}},
		{16383, []byte{0xff, 0x7f}},
		{16384, []byte{0x80, 0x80, 0x01}},
		{2097151, []byte{0xff, 0xff, 0x7f}},
		{268435455, []byte{0xff, 0xff, 0xff, 0x7f}},
	} {
		if got := appendLength(nil, tc.n); !bytes.Equal(got, tc.want) {
			t.Errorf("appendLength(%d) = % x, want % x", tc.n, got, tc.want)
		}
	}
}

func TestAppendConnect(t *testing.T) {
	for _, tc := range []struct {
		name, user, pass string
		want             []byte
	}{
		{"anonymous", "", "", []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 30, 0, 1, 'c'}},
		{"user", "u", "", []byte{0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x82, 0, 30, 0, 1, 'c', 0, 1, 'u'}},
		{"user and password", "u", "pw", []byte{0x10, 20, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xc2, 0, 30, 0, 1, 'c', 0, 1, 'u', 0, 2, 'p', 'w'}},
		{"password alone is not sent", "", "pw", []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 30, 0, 1, 'c'}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := appendConnect(nil, "c", tc.user, tc.pass, 30); !bytes.Equal(got, tc.want) {
				t.Errorf("got  % x\nwant % x", got, tc.want)
			}
		})
	}
}

func TestAppendPublish(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, 200)
	for _, tc := range []struct {
		name    string
		qos     byte
		retain  bool
		id      uint16
		payload []byte
		want    []byte
	}{
		{"qos 0 has no packet id", 0, false, 7, []byte("v"), []byte{0x30, 4, 0, 1, 't', 'v'}},
		{"qos 0 retained", 0, true, 0, []byte("v"), []byte{0x31, 4, 0, 1, 't', 'v'}},
		{"qos 1", 1, false, 0x0102, []byte("v"), []byte{0x32, 6, 0, 1, 't', 1, 2, 'v'}},
		{"qos 2 retained", 2, true, 9, nil, []byte{0x35, 5, 0, 1, 't', 0, 9}},
		{"two-byte length", 1, false, 1, long, append([]byte{0x32, 0xcd, 0x01, 0, 1, 't', 0, 1}, long...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := appendPublish([]byte("x"), "t", tc.qos, tc.retain, tc.id, tc.payload); !bytes.Equal(got, append([]byte("x"), tc.want...)) {
				t.Errorf("got  % x\nwant x % x", got, tc.want)
			}
		})
	}
	if got, want := appendPubrel(nil, 0x0a0b), []byte{0x62, 2, 0x0a, 0x0b}; !bytes.Equal(got, want) {
		t.Errorf("PUBREL = % x, want % x", got, want)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want packet
		n    int
		err  string // a part of the error; "" for none
	}{
		{"empty: more to read", nil, packet{}, 0, ""},
		{"one byte: more to read", []byte{0x40}, packet{}, 0, ""},
		{"three bytes: more to read", []byte{0x40, 2, 0}, packet{}, 0, ""},
		{"CONNACK accepted", []byte{0x20, 2, 0, 0}, packet{typ: typeConnack}, 4, ""},
		{"CONNACK session present, refused 5", []byte{0x20, 2, 1, 5}, packet{typ: typeConnack, code: 5}, 4, ""},
		{"PUBACK", []byte{0x40, 2, 0x12, 0x34, 0xff}, packet{typ: typePuback, id: 0x1234}, 4, ""},
		{"PUBREC", []byte{0x50, 2, 0, 1}, packet{typ: typePubrec, id: 1}, 4, ""},
		{"PUBCOMP", []byte{0x70, 2, 0xff, 0xff}, packet{typ: typePubcomp, id: 0xffff}, 4, ""},
		{"PINGRESP", []byte{0xd0, 0}, packet{typ: typePingresp}, 2, ""},
		{"PUBACK with flags", []byte{0x42, 2, 0, 1}, packet{}, 0, "PUBACK with flags 0x2"},
		{"PUBACK too long", []byte{0x40, 3, 0, 1, 0}, packet{}, 0, "PUBACK with remaining length 3 (want 2)"},
		{"PUBACK huge", []byte{0x40, 0xff, 0xff, 0xff, 0x7f}, packet{}, 0, "remaining length 268435455"},
		{"PUBACK length never ends", []byte{0x40, 0xff, 0xff, 0xff, 0xff, 0xff}, packet{}, 0, "remaining length over 127"},
		{"PINGRESP with a body", []byte{0xd0, 2, 0, 0}, packet{}, 0, "PINGRESP with remaining length 2 (want 0)"},
		{"PUBACK id 0", []byte{0x40, 2, 0, 0}, packet{}, 0, "PUBACK for packet id 0"},
		{"CONNACK bad flags", []byte{0x20, 2, 2, 0}, packet{}, 0, "CONNACK with acknowledge flags 0x2"},
		{"PUBLISH to a publisher", []byte{0x30, 5, 0, 1, 't', 'x', 'y'}, packet{}, 0, "unexpected PUBLISH (type 3)"},
		{"PUBREL to a publisher", []byte{0x62, 2, 0, 1}, packet{}, 0, "PUBREL with flags 0x2"},
		{"SUBACK", []byte{0x90, 3, 0, 1, 0}, packet{}, 0, "unexpected SUBACK"},
		{"reserved type 0", []byte{0x00, 0}, packet{}, 0, "unexpected reserved 0"},
		{"reserved type 15", []byte{0xf0, 0}, packet{}, 0, "unexpected reserved 15"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, n, err := parse(tc.in)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, errMalformed)):
				t.Fatalf("error %v, want one with %q wrapping errMalformed", err, tc.err)
			case tc.err != "":
				return
			}
			if n != tc.n || (n > 0 && p != tc.want) {
				t.Errorf("parse = %+v, %d; want %+v, %d", p, n, tc.want, tc.n)
			}
		})
	}
}

func TestConnackErrors(t *testing.T) {
	for code, want := range map[byte]string{
		1: "unacceptable protocol version", 2: "identifier rejected", 3: "server unavailable",
		4: "bad user name or password", 5: "not authorized", 6: "return code 6", 255: "return code 255",
	} {
		if err := connackError(code); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("code %d: %v, want %q", code, err, want)
		}
	}
	if err := connackError(0); err != nil {
		t.Errorf("code 0: %v", err)
	}
}

// FuzzParse feeds the decoder any bytes a broker could send: it never
// panics, consumes only a whole known packet (2 or 4 bytes) it holds,
// and needs at most 4 bytes to tell.
func FuzzParse(f *testing.F) {
	for _, s := range [][]byte{{0x20, 2, 0, 0}, {0x40, 2, 0, 1}, {0x50, 2, 0, 1}, {0x70, 2, 0, 1}, {0xd0, 0},
		{0x40, 0xff, 0xff, 0xff, 0x7f}, {0x30, 3, 0, 1, 't'}, {0x20, 2, 0, 5}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, n, err := parse(b)
		if err != nil {
			if n != 0 || !errors.Is(err, errMalformed) {
				t.Fatalf("n %d with error %v", n, err)
			}
			return
		}
		if n == 0 {
			if len(b) >= 4 {
				t.Fatalf("% x: wants more than 4 bytes", b)
			}
			return
		}
		if n > len(b) || (n != 2 && n != 4) {
			t.Fatalf("% x: n %d", b, n)
		}
		if p.typ != b[0]>>4 {
			t.Fatalf("% x: type %d", b, p.typ)
		}
	})
}
