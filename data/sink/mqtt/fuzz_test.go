package mqtt

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// scriptConn is a net.Conn whose reads return what a broker sent, then
// time out; writes are taken whole.
type scriptConn struct {
	net.Conn // nil: the methods below are the ones used
	in       []byte
	written  int
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func (c *scriptConn) Read(b []byte) (int, error) {
	if len(c.in) == 0 {
		return 0, timeoutErr{}
	}
	n := copy(b, c.in[:min(len(c.in), 3)]) // a few bytes at a time
	c.in = c.in[n:]
	return n, nil
}
func (c *scriptConn) Write(b []byte) (int, error) {
	c.written += len(b)
	if c.written > 1<<20 {
		return 0, errors.New("the client wrote more than 1 MiB")
	}
	return len(b), nil
}
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzSend runs a batch of QoS 0, 1 and 2 records against any bytes a
// broker could send after CONNECT: Send never panics, returns (a broker
// that stops talking costs the ack timeout), delivers at most the batch,
// and with no error delivers all of it.
func FuzzSend(f *testing.F) {
	for _, s := range [][]byte{
		{0x20, 2, 0, 0, 0x40, 2, 0, 1, 0x50, 2, 0, 2, 0x70, 2, 0, 2, 0x40, 2, 0, 3, 0x40, 2, 0, 4}, // all delivered
		{0x20, 2, 0, 0, 0x40, 2, 0, 3, 0x50, 2, 0, 2, 0x40, 2, 0, 1, 0xd0, 0, 0x70, 2, 0, 2},
		{0x20, 2, 0, 0, 0x40, 2, 0, 1},
		{0x20, 2, 0, 5},
		{0x20, 2, 0, 0, 0x40, 2, 0, 9},
		{0x20, 2, 0, 0, 0x30, 0xff, 0xff, 0xff, 0x7f},
	} {
		f.Add(s)
	}
	recs := records(5, 1)
	r2 := records(5, 2)
	r0 := records(5, 0)
	recs[1], recs[3] = r2[1], r0[3] // QoS 1, 2, 1, 0, 1: ids 1, 2, 3, -, 4
	f.Fuzz(func(t *testing.T, in []byte) {
		sc := &scriptConn{in: in}
		k := Kind{connectT: time.Millisecond, ackT: time.Millisecond,
			dial: func(context.Context, string) (net.Conn, error) { return sc, nil }}
		cl, err := k.Open("mqtt tcp://fuzz:1883", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		n, err := cl.Send(context.Background(), recs)
		if n < 0 || n > len(recs) || (err == nil && n != len(recs)) {
			t.Fatalf("Send = %d, %v", n, err)
		}
	})
}
