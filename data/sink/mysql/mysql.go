// Package mysql is the pushMethod.dbMethod.mysql sink: samples are rows of
// one table, tinymapper_samples, in mysqlClientConfig.database at
// mysqlClientConfig.addr, as mysqlClientConfig.userName. The table is
// created when missing (the database must exist):
//
//	CREATE TABLE IF NOT EXISTS tinymapper_samples (
//	  namespace VARCHAR(63)  NOT NULL,
//	  device    VARCHAR(253) NOT NULL,
//	  property  VARCHAR(128) NOT NULL,
//	  time_ns   BIGINT       NOT NULL,  -- the sample time, Unix nanoseconds
//	  ts        DATETIME(6)  NOT NULL,  -- the same in UTC, for SQL's date functions
//	  value     DOUBLE       NULL,      -- NULL when the value has no number (NaN)
//	  type      VARCHAR(16)  NOT NULL,  -- the model's type, lower case
//	  unit      VARCHAR(64)  NOT NULL,
//	  PRIMARY KEY (namespace, device, property, time_ns)
//	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
//
// A batch is one INSERT IGNORE of many rows, one statement and so one
// transaction, in one round trip. Strings are sent as hex literals (X'..'),
// so no escaping, and no SQL mode, can let a name change the statement. The primary key makes a resend after a broken connection
// idempotent: rows already in are ignored. value holds int and boolean
// samples exactly (boolean as 0 or 1; int up to 2^53).
//
// The password is the destination's push.credentials file ("mysql
// host:port"), else PASSWORD, as mapper-framework reads it; it is read at
// every connect and never logged. One connection per destination, over
// our own client of the MySQL protocol (wire.go: the handshake with
// mysql_native_password or caching_sha2_password's fast path, and COM_QUERY;
// no TLS): github.com/go-sql-driver/mysql costs 262 144 bytes of arm64
// binary, more than the whole budget has left (docs/architecture.md).
package mysql

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/secret"
	"github.com/tinymapper/tinymapper/device"
)

// Table is the table samples go to.
const Table = "tinymapper_samples"

const createTable = "CREATE TABLE IF NOT EXISTS `" + Table + "` (" +
	"`namespace` VARCHAR(63) NOT NULL, `device` VARCHAR(253) NOT NULL, `property` VARCHAR(128) NOT NULL, " +
	"`time_ns` BIGINT NOT NULL, `ts` DATETIME(6) NOT NULL, `value` DOUBLE NULL, " +
	"`type` VARCHAR(16) NOT NULL, `unit` VARCHAR(64) NOT NULL, " +
	"PRIMARY KEY (`namespace`, `device`, `property`, `time_ns`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"

const insertHead = "INSERT IGNORE INTO `" + Table + "` (`namespace`, `device`, `property`, `time_ns`, `ts`, `value`, `type`, `unit`) VALUES "

// Timeouts of a connect and of a batch's round trip.
const (
	DialTimeout  = 5 * time.Second
	BatchTimeout = 10 * time.Second
)

// Kind is the dbMethod.mysql method.
type Kind struct {
	// Secrets finds the password: push.credentials, else PASSWORD.
	Secrets *secret.Store
}

// Method is "dbMethod.mysql".
func (Kind) Method() string { return "dbMethod.mysql" }

// Target returns "mysql user@addr/database".
func (Kind) Target(_ sink.Where, p *device.PushMethod, _ string) (string, any, error) {
	m := p.DB.MySQL
	return "mysql " + m.UserName + "@" + m.Addr + "/" + m.Database, nil, nil
}

// Open returns the client of one destination; it connects when it first
// sends.
func (k Kind) Open(key string, log *slog.Logger) (sink.Client, error) {
	rest, _ := strings.CutPrefix(key, "mysql ")
	at := strings.LastIndexByte(rest, '@')
	slash := strings.LastIndexByte(rest, '/')
	if at < 0 || slash < at {
		return nil, fmt.Errorf("bad destination %q", key)
	}
	return &client{user: rest[:at], addr: rest[at+1 : slash], db: rest[slash+1:], secrets: k.Secrets}, nil
}

type client struct {
	user, addr, db string
	secrets        *secret.Store
	w              *wire
	ready          bool // the table exists
	q              []byte
}

// connect dials and logs in; the password is read now, so a rotated one
// is taken without a restart.
func (c *client) connect(ctx context.Context) error {
	pass, err := c.secrets.Get("mysql "+c.addr, "PASSWORD")
	if err != nil {
		return err
	}
	d := net.Dialer{Timeout: DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	w := &wire{conn: conn, r: bufio.NewReaderSize(conn, 4096)}
	conn.SetDeadline(time.Now().Add(DialTimeout))
	if err := w.login(c.user, pass, c.db); err != nil {
		conn.Close()
		return fmt.Errorf("login as %q: %w", cut(c.user), err) // the server's words, never the password
	}
	c.w = w
	return nil
}

// Send inserts recs in one statement.
func (c *client) Send(ctx context.Context, recs []sink.Record) (int, error) {
	if c.w == nil {
		if err := c.connect(ctx); err != nil {
			return 0, classify("connect to "+c.addr, err)
		}
	}
	d := time.Now().Add(BatchTimeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	c.w.conn.SetDeadline(d)
	conn := c.w.conn
	defer context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })()
	if !c.ready {
		if err := c.run([]byte(createTable)); err != nil {
			return 0, classify("CREATE TABLE "+Table, err)
		}
		c.ready = true
	}
	c.q = append(c.q[:0], insertHead...)
	for i, r := range recs {
		if i > 0 {
			c.q = append(c.q, ',')
		}
		c.q = appendRow(c.q, r)
	}
	if err := c.run(c.q); err != nil {
		var se *ServerError
		if errors.As(err, &se) && se.Code == 1146 { // the table went away
			c.ready = false
		}
		return 0, classify("INSERT INTO "+Table, err)
	}
	return len(recs), nil
}

// run runs one statement; a failure other than the server's refusal drops
// the connection.
func (c *client) run(q []byte) error {
	err := c.w.query(q)
	var se *ServerError
	if err != nil && !errors.As(err, &se) {
		c.w.conn.Close()
		c.w = nil
	}
	return err
}

// appendRow appends r's row: (X'ns',X'dev',X'prop',time_ns,'ts',value,X'type',X'unit').
func appendRow(q []byte, r sink.Record) []byte {
	q = append(q, '(')
	q = appendHex(q, r.B.Namespace)
	q = append(q, ',')
	q = appendHex(q, r.B.Device)
	q = append(q, ',')
	q = appendHex(q, r.B.Property)
	q = append(q, ',')
	q = strconv.AppendInt(q, r.Time, 10)
	q = append(q, ",'"...)
	q = time.Unix(0, r.Time).UTC().AppendFormat(q, "2006-01-02 15:04:05.000000")
	q = append(q, "',"...)
	switch v := r.Value; {
	case math.IsNaN(v) || math.IsInf(v, 0):
		q = append(q, "NULL"...)
	case r.B.Type == device.TypeBoolean && v != 0:
		q = append(q, '1')
	default:
		q = strconv.AppendFloat(q, v, 'g', -1, 64)
	}
	q = append(q, ',')
	q = appendHex(q, strings.ToLower(r.B.Type))
	q = append(q, ',')
	q = appendHex(q, r.B.Unit)
	return append(q, ')')
}

// appendHex appends s as a hex literal; ” for "" (X” is a binary
// string too, but ” reads better).
func appendHex(q []byte, s string) []byte {
	if s == "" {
		return append(q, "''"...)
	}
	q = append(q, "X'"...)
	q = hex.AppendEncode(q, []byte(s))
	return append(q, '\'')
}

// classify marks a server's refusal that no retry can cure (a table of
// another shape, say) as sink.ErrRejected; connection failures, access,
// locks and a missing database or table are retried.
func classify(what string, err error) error {
	var se *ServerError
	if !errors.As(err, &se) {
		return fmt.Errorf("%s: %w", what, err)
	}
	switch se.Code {
	case 1040, 1044, 1045, 1049, 1053, 1142, 1146, 1205, 1213, 1290, 1836:
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w: %w", what, err, sink.ErrRejected)
}

func (c *client) Close() error {
	if c.w != nil {
		c.w.conn.Close()
		c.w = nil
	}
	return nil
}
