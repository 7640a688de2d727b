package mqtt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/device"
)

// fakeBroker is a scripted broker on a loopback port: handle runs for
// the k-th connection (from 0) and speaks for the broker.
type fakeBroker struct {
	ln    net.Listener
	conns atomic.Int32
	wg    sync.WaitGroup
}

// bconn is the broker's side of one connection.
type bconn struct {
	t    *testing.T
	c    net.Conn
	br   *bufio.Reader
	body []byte // reused by read
}

// read returns the next packet from the client: its first byte and body.
func (b *bconn) read() (byte, []byte, error) {
	h, err := b.br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for i := 0; ; i++ {
		d, err := b.br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(d&0x7f) * mul
		mul *= 128
		if d&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, nil, errors.New("bad length")
		}
	}
	if cap(b.body) < n {
		b.body = make([]byte, n)
	}
	b.body = b.body[:n]
	_, err = io.ReadFull(b.br, b.body)
	return h, b.body, err
}

// connect reads the CONNECT and answers CONNACK code.
func (b *bconn) connect(code byte) {
	if h, _, err := b.read(); err != nil || h>>4 != typeConnect {
		b.t.Errorf("broker: want CONNECT, got %#x, %v", h, err)
		return
	}
	b.c.Write([]byte{0x20, 2, 0, code})
}

// publish reads one PUBLISH and returns its QoS and packet id.
func (b *bconn) publish() (qos byte, id uint16, ok bool) {
	h, body, err := b.read()
	if err != nil || h>>4 != typePublish {
		return 0, 0, false
	}
	qos = h >> 1 & 3
	if qos > 0 {
		tl := int(body[0])<<8 | int(body[1])
		id = uint16(body[2+tl])<<8 | uint16(body[3+tl])
	}
	return qos, id, true
}

func newFakeBroker(t *testing.T, handle func(k int, b *bconn)) *fakeBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeBroker{ln: ln}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			k := int(f.conns.Add(1)) - 1
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				handle(k, &bconn{t: t, c: c, br: bufio.NewReader(c)})
				io.Copy(io.Discard, c) // until the client closes
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

func (f *fakeBroker) addr() string { return "mqtt tcp://" + f.ln.Addr().String() }

// records returns n records at QoS qos.
func records(n int, qos byte) []sink.Record {
	bd := sink.NewTestBinding("plant", "thermo", "temperature", device.TypeFloat, "Cel", opts{topic: "t/x", qos: qos})
	recs := make([]sink.Record, n)
	for i := range recs {
		recs[i] = sink.Record{B: bd, Time: int64(i+1) * 1e9, Value: float64(i)}
	}
	return recs
}

func open(t *testing.T, f *fakeBroker, k Kind) *client {
	t.Helper()
	c, err := k.Open(f.addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*client)
}

var quick = Kind{connectT: 300 * time.Millisecond, ackT: 300 * time.Millisecond}

func TestSendAgainstAScriptedBroker(t *testing.T) {
	for _, tc := range []struct {
		name   string
		qos    byte
		n      int
		broker func(b *bconn)
		want   int    // records delivered
		err    string // part of the error; "" for none
	}{
		{"QoS 0: written is delivered", 0, 5, func(b *bconn) {
			b.connect(0)
			for range 5 {
				b.publish()
			}
		}, 5, ""},
		{"QoS 1: acks in reverse order", 1, 5, func(b *bconn) {
			b.connect(0)
			var ids []uint16
			for range 5 {
				_, id, _ := b.publish()
				ids = append(ids, id)
			}
			for i := len(ids) - 1; i >= 0; i-- {
				b.c.Write([]byte{0x40, 2, byte(ids[i] >> 8), byte(ids[i])})
			}
		}, 5, ""},
		{"QoS 2: PUBREC, PUBREL, PUBCOMP", 2, 3, func(b *bconn) {
			b.connect(0)
			var ids []uint16
			for range 3 {
				_, id, _ := b.publish()
				ids = append(ids, id)
				b.c.Write([]byte{0x50, 2, byte(id >> 8), byte(id)})
			}
			for _, id := range ids {
				h, body, err := b.read()
				if err != nil || h != 0x62 || len(body) != 2 || uint16(body[0])<<8|uint16(body[1]) != id {
					b.t.Errorf("want PUBREL %d, got %#x % x %v", id, h, body, err)
					return
				}
				b.c.Write([]byte{0x70, 2, byte(id >> 8), byte(id)})
			}
		}, 3, ""},
		{"QoS 1: two of four acknowledged, then silence", 1, 4, func(b *bconn) {
			b.connect(0)
			for i := range 4 {
				_, id, _ := b.publish()
				if i < 2 {
					b.c.Write([]byte{0x40, 2, byte(id >> 8), byte(id)})
				}
			}
		}, 2, "2 of 4 acknowledgements missing after"},
		{"the third acknowledged first, then silence", 1, 4, func(b *bconn) {
			b.connect(0)
			for range 4 {
				b.publish()
			}
			b.c.Write([]byte{0x40, 2, 0, 3})
		}, 0, "3 of 4 acknowledgements missing"},
		{"never acknowledges", 1, 3, func(b *bconn) { b.connect(0) }, 0, "3 of 3 acknowledgements missing"},
		{"never answers CONNECT", 1, 3, func(b *bconn) {}, 0, "no CONNACK within the connect timeout"},
		{"bad credentials", 1, 3, func(b *bconn) { b.connect(4) }, 0, "bad user name or password"},
		{"not authorized", 1, 3, func(b *bconn) { b.connect(5) }, 0, "not authorized"},
		{"old broker", 1, 3, func(b *bconn) { b.connect(1) }, 0, "unacceptable protocol version"},
		{"PUBACK before CONNACK", 1, 3, func(b *bconn) { b.read(); b.c.Write([]byte{0x40, 2, 0, 1}) }, 0, "PUBACK before CONNACK"},
		{"an id not in flight", 1, 3, func(b *bconn) {
			b.connect(0)
			b.publish()
			b.c.Write([]byte{0x40, 2, 0, 1, 0x40, 2, 0, 9})
		}, 1, "PUBACK for packet id 9, which is not in flight"},
		{"an ack twice", 1, 3, func(b *bconn) {
			b.connect(0)
			b.publish()
			b.c.Write([]byte{0x40, 2, 0, 1, 0x40, 2, 0, 1})
		}, 1, "unexpected PUBACK for packet id 1 (already acknowledged)"},
		{"PUBACK for QoS 2", 2, 1, func(b *bconn) { b.connect(0); b.publish(); b.c.Write([]byte{0x40, 2, 0, 1}) }, 0, "unexpected PUBACK for packet id 1 (PUBREC due)"},
		{"PUBCOMP before PUBREC", 2, 1, func(b *bconn) { b.connect(0); b.publish(); b.c.Write([]byte{0x70, 2, 0, 1}) }, 0, "unexpected PUBCOMP"},
		{"a PUBLISH to a publisher", 1, 1, func(b *bconn) { b.connect(0); b.c.Write([]byte{0x30, 3, 0, 1, 't'}) }, 0, "unexpected PUBLISH"},
		{"an endless remaining length", 1, 1, func(b *bconn) { b.connect(0); b.c.Write([]byte{0x40, 0xff, 0xff, 0xff, 0xff, 0xff}) }, 0, "remaining length over 127"},
		{"a second CONNACK", 1, 1, func(b *bconn) { b.connect(0); b.c.Write([]byte{0x20, 2, 0, 0}) }, 0, "CONNACK on a connected session"},
		{"the broker closes mid-batch", 1, 3, func(b *bconn) {
			b.connect(0)
			b.publish()
			b.c.Write([]byte{0x40, 2, 0, 1})
			b.c.Close()
		}, 1, "connection lost: EOF"},
		{"acks split across reads", 1, 2, func(b *bconn) {
			b.connect(0)
			b.publish()
			b.publish()
			for _, x := range []byte{0x40, 2, 0, 1, 0x40, 2, 0, 2} {
				b.c.Write([]byte{x})
				time.Sleep(time.Millisecond)
			}
		}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeBroker(t, func(k int, b *bconn) { tc.broker(b) })
			c := open(t, f, quick)
			start := time.Now()
			n, err := c.Send(context.Background(), records(tc.n, tc.qos))
			took := time.Since(start)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Send: %d, %v", n, err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Send: %d, %v; want an error with %q", n, err, tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), "tcp://"+f.ln.Addr().String()):
				t.Errorf("error %q does not name the broker", err)
			case tc.err != "" && c.nc != nil:
				t.Errorf("connection kept after %v", err)
			}
			if n != tc.want {
				t.Errorf("delivered %d, want %d", n, tc.want)
			}
			if took > time.Second {
				t.Errorf("Send took %v, want within the 300 ms timeouts", took)
			}
		})
	}
}

// TestUnacknowledgedRecordsAreSentAgain: a broker that takes a batch and
// never acknowledges it fails Send within the ack timeout; the next Send
// of the same records connects again and delivers them.
func TestUnacknowledgedRecordsAreSentAgain(t *testing.T) {
	var got [2]atomic.Int32
	f := newFakeBroker(t, func(k int, b *bconn) {
		b.connect(0)
		for {
			_, id, ok := b.publish()
			if !ok || k > 1 {
				return
			}
			got[k].Add(1)
			if k == 1 {
				b.c.Write([]byte{0x40, 2, byte(id >> 8), byte(id)})
			}
		}
	})
	c := open(t, f, quick)
	recs := records(10, 1)
	if n, err := c.Send(context.Background(), recs); err == nil || n != 0 {
		t.Fatalf("first Send = %d, %v; want 0 and an error", n, err)
	}
	if n, err := c.Send(context.Background(), recs); err != nil {
		t.Fatalf("second Send = %d, %v", n, err)
	}
	if got[0].Load() != 10 || got[1].Load() != 10 || f.conns.Load() != 2 {
		t.Errorf("publishes per connection %d, %d over %d connections; want 10, 10 over 2", got[0].Load(), got[1].Load(), f.conns.Load())
	}
}

// TestSendEndsWithItsContext: a cancelled context ends the wait for
// acknowledgements at once.
func TestSendEndsWithItsContext(t *testing.T) {
	f := newFakeBroker(t, func(k int, b *bconn) { b.connect(0) })
	c := open(t, f, Kind{ackT: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Send(ctx, records(3, 1))
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Errorf("Send = %v after %v, want context.Canceled after ~100 ms", err, time.Since(start))
	}
}

// TestKeepAlivePingsWhenIdle: idle for more than half the keep-alive, the
// client sends PINGREQ, and a PINGRESP keeps the connection.
func TestKeepAlivePingsWhenIdle(t *testing.T) {
	pings := make(chan int, 10)
	f := newFakeBroker(t, func(k int, b *bconn) {
		b.connect(0)
		for {
			h, _, err := b.read()
			if err != nil {
				return
			}
			switch h >> 4 {
			case typePingreq:
				pings <- k
				b.c.Write([]byte{0xd0, 0})
			case typePublish:
				b.c.Write([]byte{0x40, 2, 0, 1})
			}
		}
	})
	c := open(t, f, Kind{ackT: 300 * time.Millisecond, keepAliveT: 400 * time.Millisecond})
	if _, err := c.Send(context.Background(), records(1, 1)); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		select {
		case k := <-pings:
			if k != 0 {
				t.Fatalf("ping %d on connection %d", i, k)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no ping %d", i)
		}
	}
	if c.conns != 1 {
		t.Fatalf("%d connections, want 1", c.conns)
	}
	// The same connection is still good after the pings.
	if _, err := c.Send(context.Background(), records(1, 1)); err != nil || Connections(c) != 1 {
		t.Fatalf("Send after pings: %v, %d connections", err, Connections(c))
	}
}

func TestOpenRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		k    Kind
		key  string
		err  string
	}{
		{"a password without a user name", Kind{Password: "pw"}, "mqtt tcp://h:1883", "no user name"},
		{"a scheme Broker does not return", Kind{}, "mqtt ws://h:1883", "not tcp:// or ssl://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.k.Open(tc.key, nil); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Open = %v, want %q", err, tc.err)
			}
		})
	}
}

// BenchmarkSendLoopback is one QoS 1 message through Send to a loopback
// reader that acknowledges each batch in one write: the client's own
// cost, batches of sink.DefaultBatch.
func BenchmarkSendLoopback(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		bc := &bconn{c: nc, br: bufio.NewReaderSize(nc, 1<<16)}
		bc.read()
		nc.Write([]byte{0x20, 2, 0, 0})
		acks := make([]byte, 0, 4*sink.DefaultBatch)
		for {
			_, id, ok := bc.publish()
			if !ok {
				return
			}
			acks = append(acks, 0x40, 2, byte(id>>8), byte(id))
			if bc.br.Buffered() == 0 {
				nc.Write(acks)
				acks = acks[:0]
			}
		}
	}()
	c, _ := Kind{}.Open("mqtt tcp://"+ln.Addr().String(), nil)
	defer c.Close()
	recs := records(sink.DefaultBatch, 1)
	ctx := context.Background()
	if _, err := c.Send(ctx, recs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n += len(recs) {
		if _, err := c.Send(ctx, recs[:min(len(recs), b.N-n)]); err != nil {
			b.Fatal(fmt.Errorf("after %d: %w", n, err))
		}
	}
}

// TestAnUnansweredPingDropsTheConnection: a broker that does not answer
// PINGREQ within the ack timeout loses the connection; the next Send
// connects again.
func TestAnUnansweredPingDropsTheConnection(t *testing.T) {
	f := newFakeBroker(t, func(k int, b *bconn) {
		b.connect(0)
		for {
			h, _, err := b.read()
			if err != nil {
				return
			}
			if h>>4 == typePublish {
				b.c.Write([]byte{0x40, 2, 0, 1})
			}
		}
	})
	c := open(t, f, Kind{ackT: 200 * time.Millisecond, keepAliveT: 200 * time.Millisecond})
	if _, err := c.Send(context.Background(), records(1, 1)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		c.mu.Lock()
		gone := c.nc == nil
		c.mu.Unlock()
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection outlived an unanswered ping")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := c.Send(context.Background(), records(1, 1)); err != nil || Connections(c) != 2 {
		t.Fatalf("Send after the lost ping: %v, %d connections (want 2)", err, Connections(c))
	}
}
