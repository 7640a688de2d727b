// Package redis is the dbMethod.redis sink: every sample is appended to a
// Redis stream per property, over a hand-written RESP2 client (a few
// hundred lines instead of a client library: see docs/architecture.md).
//
// Key layout: one stream per property,
//
//	tinymapper:<namespace>:<device>:<property>
//
// with one entry per sample, ID <unix ms>-<the sample's nanoseconds within
// the ms>, and the fields value (as the twin formats it), type and unit.
// Each XADD trims the stream to about MaxLen entries (MAXLEN ~). The IDs
// make a retry idempotent: an entry that already went in is refused by
// Redis as "equal or smaller than the top item", which counts as delivered.
//
// One connection per addr and db (redisClientConfig.poolsize and
// minIdleConns are accepted and ignored: one ordered pipeline is what a
// sink needs). PASSWORD from the environment, as mapper-framework reads
// it, is sent with AUTH; never logged.
package redis

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/secret"
	"github.com/tinymapper/tinymapper/device"
)

// MaxLen bounds each property's stream (approximately: MAXLEN ~).
const MaxLen = 100000

// ioTimeout bounds a connect and a batch's round trip.
const ioTimeout = 5 * time.Second

// Kind is the dbMethod.redis method.
type Kind struct {
	// Password is sent with AUTH when set (main reads $PASSWORD).
	Password string
	// Secrets, when it names a file for "redis ADDR" (push.credentials),
	// gives the password instead, read at every connect.
	Secrets *secret.Store
}

// Method is "dbMethod.redis".
func (Kind) Method() string { return "dbMethod.redis" }

// StreamKey is the stream of one property.
func StreamKey(namespace, dev, property string) string {
	return "tinymapper:" + namespace + ":" + dev + ":" + property
}

type opts struct{ key string }

// Target returns "redis ADDR/DB" and the property's stream key.
func (Kind) Target(at sink.Where, p *device.PushMethod, field string) (string, any, error) {
	r := p.DB.Redis
	return "redis " + r.Addr + "/" + strconv.Itoa(int(r.DB)), opts{key: StreamKey(at.Namespace, at.Device, at.Property)}, nil
}

// Open returns the client of one server and database; it connects on the
// first Send.
func (k Kind) Open(key string, _ *slog.Logger) (sink.Client, error) {
	addr, db, _ := strings.Cut(strings.TrimPrefix(key, "redis "), "/")
	return &client{addr: addr, db: db, password: k.Password, secrets: k.Secrets}, nil
}

type client struct {
	addr, db, password string
	secrets            *secret.Store
	conn               net.Conn
	r                  *bufio.Reader
	buf                []byte
}

func (c *client) connect() error {
	password := c.password
	if p, ok, err := c.secrets.File("redis " + c.addr); err != nil {
		return err
	} else if ok {
		password = p
	}
	conn, err := net.DialTimeout("tcp", c.addr, ioTimeout)
	if err != nil {
		return err
	}
	c.conn, c.r = conn, bufio.NewReaderSize(conn, 4096)
	conn.SetDeadline(time.Now().Add(ioTimeout))
	if password != "" {
		c.buf = appendCommand(c.buf[:0], "AUTH", password)
		if err := c.roundTrip(); err != nil {
			c.close()
			return fmt.Errorf("AUTH: %w", err) // the password is not in err: Redis answers WRONGPASS ...
		}
	}
	if c.db != "0" {
		c.buf = appendCommand(c.buf[:0], "SELECT", c.db)
		if err := c.roundTrip(); err != nil {
			c.close()
			return fmt.Errorf("SELECT %s: %w", c.db, err)
		}
	}
	return nil
}

// roundTrip sends c.buf and reads one reply.
func (c *client) roundTrip() error {
	if _, err := c.conn.Write(c.buf); err != nil {
		return err
	}
	return c.reply()
}

// Send pipelines one XADD per record, then reads the replies in order.
func (c *client) Send(ctx context.Context, recs []sink.Record) (int, error) {
	if c.conn == nil {
		if err := c.connect(); err != nil {
			return 0, fmt.Errorf("connect to %s: %w", c.addr, err)
		}
	}
	deadline := time.Now().Add(ioTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.conn.SetDeadline(deadline)
	c.buf = c.buf[:0]
	for _, r := range recs {
		c.buf = appendXAdd(c.buf, r)
	}
	if _, err := c.conn.Write(c.buf); err != nil {
		c.close()
		return 0, err
	}
	for i := range recs {
		err := c.reply()
		var re replyError
		switch {
		case err == nil:
		case errors.As(err, &re) && strings.Contains(string(re), "equal or smaller than the target stream top item"):
			// already written by an earlier try
		case errors.As(err, &re):
			// the other replies are still to be read: drop the connection
			c.close()
			return i, fmt.Errorf("XADD %s: %w: %w", recs[i].B.Opts.(opts).key, err, sink.ErrRejected)
		default:
			c.close()
			return i, err
		}
	}
	return len(recs), nil
}

// appendXAdd appends XADD key MAXLEN ~ N ms-ns value V type T unit U.
func appendXAdd(dst []byte, r sink.Record) []byte {
	b := r.B
	var vb [40]byte
	v, ok := device.AppendValue(vb[:0], b.Type, r.Value)
	if !ok {
		v = append(v[:0], "NaN"...)
	}
	dst = append(dst, "*12\r\n$4\r\nXADD\r\n"...)
	dst = appendBulk(dst, b.Opts.(opts).key)
	dst = append(dst, "$6\r\nMAXLEN\r\n$1\r\n~\r\n"...)
	dst = appendBulkInt(dst, MaxLen)
	var id [40]byte
	n := strconv.AppendInt(id[:0], r.Time/1e6, 10)
	n = append(n, '-')
	n = strconv.AppendInt(n, r.Time%1e6, 10)
	dst = appendBulkBytes(dst, n)
	dst = append(dst, "$5\r\nvalue\r\n"...)
	dst = appendBulkBytes(dst, v)
	dst = append(dst, "$4\r\ntype\r\n"...)
	dst = appendBulk(dst, device.TypeName(b.Type))
	dst = append(dst, "$4\r\nunit\r\n"...)
	return appendBulk(dst, b.Unit)
}

func appendCommand(dst []byte, args ...string) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, "\r\n"...)
	for _, a := range args {
		dst = appendBulk(dst, a)
	}
	return dst
}

func appendBulk(dst []byte, s string) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, s...)
	return append(dst, "\r\n"...)
}

func appendBulkBytes(dst, s []byte) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, s...)
	return append(dst, "\r\n"...)
}

func appendBulkInt(dst []byte, n int) []byte {
	var b [20]byte
	return appendBulkBytes(dst, strconv.AppendInt(b[:0], int64(n), 10))
}

// replyError is a RESP error reply ("-ERR ...").
type replyError string

func (e replyError) Error() string { return string(e) }

// reply reads one reply and discards it, returning an error reply as a
// replyError.
func (c *client) reply() error { return c.replyAt(0) }

// replyAt reads a reply nested depth arrays deep: a server cannot make us
// recurse without bound.
func (c *client) replyAt(depth int) error {
	if depth > 8 {
		return errors.New("reply nested too deep")
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return errors.New("malformed reply")
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+', ':':
		return nil
	case '-':
		return replyError(body)
	case '$':
		n, err := strconv.Atoi(string(body))
		if err != nil || n > 1<<20 {
			return errors.New("malformed bulk reply")
		}
		if n >= 0 {
			_, err = c.r.Discard(n + 2)
		}
		return err
	case '*':
		n, err := strconv.Atoi(string(body))
		if err != nil || n > 1<<16 {
			return errors.New("malformed array reply")
		}
		for range max(n, 0) {
			if err := c.replyAt(depth + 1); err != nil {
				var re replyError
				if !errors.As(err, &re) {
					return err
				}
			}
		}
		return nil
	}
	return fmt.Errorf("unexpected reply %q", line[0])
}

func (c *client) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

func (c *client) Close() error {
	c.close()
	return nil
}
