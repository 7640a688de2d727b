// Package post is a small HTTP/1.1 client for the sinks that POST (http,
// influxdb2, otel): one kept-alive connection to one URL, a request and its
// answer at a time. It exists for size: net/http's client side (Transport,
// HTTP/2, proxies, cookies) costs about 390 KB of the arm64 binary, which the
// REST server does not otherwise link. TLS (https://) uses crypto/tls, which
// the REST server links already.
package post

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxHeader and maxBody bound what is read of an answer.
const (
	maxHeader = 64 << 10
	maxBody   = 1 << 20
	maxMsg    = 512
)

// Client posts to one URL. It is not safe for concurrent use: a sink's
// destination has one goroutine.
type Client struct {
	host, addr, target string
	serverName         string
	tls                bool
	// Timeout bounds a request when its context has no earlier deadline.
	Timeout time.Duration

	conn   net.Conn
	r      *bufio.Reader
	head   []byte
	msg    []byte
	reused bool
}

// New returns a client for rawURL (http:// or https://).
func New(rawURL string) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	c := &Client{host: u.Host, target: u.RequestURI(), Timeout: 10 * time.Second}
	port := u.Port()
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		c.tls = true
		if port == "" {
			port = "443"
		}
	default:
		return nil, fmt.Errorf("%q is not an http:// or https:// URL", rawURL)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%q has no host", rawURL)
	}
	c.addr, c.serverName = net.JoinHostPort(u.Hostname(), port), u.Hostname()
	return c, nil
}

// Post sends body and returns the answer's status code and the start of its
// body. A connection kept from an earlier request that turns out closed is
// replaced once.
func (c *Client) Post(ctx context.Context, contentType, authorization string, body []byte) (int, []byte, error) {
	status, msg, err := c.post(ctx, contentType, authorization, body)
	if err != nil && c.reused && ctx.Err() == nil {
		status, msg, err = c.post(ctx, contentType, authorization, body)
	}
	return status, msg, err
}

func (c *Client) post(ctx context.Context, contentType, authorization string, body []byte) (int, []byte, error) {
	deadline := time.Now().Add(c.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.reused = c.conn != nil
	if c.conn == nil {
		d := net.Dialer{Deadline: deadline}
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return 0, nil, err
		}
		if c.tls {
			conn = tls.Client(conn, &tls.Config{ServerName: c.serverName, MinVersion: tls.VersionTLS12})
		}
		c.conn, c.r = conn, bufio.NewReaderSize(conn, 4096)
	}
	conn := c.conn // the func may run after Close has dropped c.conn
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c.conn.SetDeadline(deadline)
	c.head = append(c.head[:0], "POST "...)
	c.head = append(c.head, c.target...)
	c.head = append(c.head, " HTTP/1.1\r\nHost: "...)
	c.head = append(c.head, c.host...)
	c.head = append(c.head, "\r\nUser-Agent: tinymapper\r\nContent-Type: "...)
	c.head = append(c.head, contentType...)
	if authorization != "" {
		c.head = append(c.head, "\r\nAuthorization: "...)
		c.head = append(c.head, authorization...)
	}
	c.head = append(c.head, "\r\nContent-Length: "...)
	c.head = strconv.AppendInt(c.head, int64(len(body)), 10)
	c.head = append(c.head, "\r\n\r\n"...)
	bufs := net.Buffers{c.head, body}
	if _, err := bufs.WriteTo(c.conn); err != nil {
		c.Close()
		return 0, nil, err
	}
	status, keep, err := c.readAnswer()
	if err != nil || !keep {
		c.Close()
	}
	if err != nil {
		return 0, nil, err
	}
	c.reused = false
	return status, c.msg, nil
}

var errMalformed = errors.New("malformed HTTP answer")

// readAnswer reads one answer, keeping up to maxMsg bytes of its body in
// c.msg. keep is false when the connection cannot be used again.
func (c *Client) readAnswer() (status int, keep bool, err error) {
	line, err := c.line()
	if err != nil {
		return 0, false, err
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err = strconv.Atoi(code)
	if err != nil || !strings.HasPrefix(proto, "HTTP/1.") || status < 100 || status > 999 {
		return 0, false, errMalformed
	}
	keep = proto == "HTTP/1.1"
	length, chunked := int64(-1), false
	for n := 0; ; n++ {
		h, err := c.line()
		if err != nil {
			return 0, false, err
		}
		if h == "" {
			break
		}
		if n > 100 {
			return 0, false, errMalformed
		}
		k, v, _ := strings.Cut(h, ":")
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "content-length":
			if length, err = strconv.ParseInt(v, 10, 64); err != nil || length < 0 {
				return 0, false, errMalformed
			}
		case "transfer-encoding":
			chunked = strings.EqualFold(v, "chunked")
		case "connection":
			if strings.EqualFold(v, "close") {
				keep = false
			} else if strings.EqualFold(v, "keep-alive") {
				keep = true
			}
		}
	}
	c.msg = c.msg[:0]
	switch {
	case status < 200 || status == 204 || status == 304:
		if status < 200 {
			return c.readAnswer() // 1xx: the real answer follows
		}
		return status, keep, nil
	case chunked:
		for {
			l, err := c.line()
			if err != nil {
				return 0, false, err
			}
			l, _, _ = strings.Cut(l, ";")
			size, err := strconv.ParseInt(strings.TrimSpace(l), 16, 64)
			if err != nil || size < 0 || size > maxBody {
				return 0, false, errMalformed
			}
			if size == 0 {
				for { // trailers
					if t, err := c.line(); err != nil || t == "" {
						return status, keep && err == nil, err
					}
				}
			}
			if err := c.body(size); err != nil {
				return 0, false, err
			}
			if l, err := c.line(); err != nil || l != "" {
				return 0, false, errMalformed
			}
		}
	case length >= 0:
		if length > maxBody {
			return status, false, nil
		}
		return status, keep, c.body(length)
	default: // to the end of the connection
		b, _ := io.ReadAll(io.LimitReader(c.r, maxMsg))
		c.msg = append(c.msg, b...)
		io.Copy(io.Discard, io.LimitReader(c.r, maxBody))
		return status, false, nil
	}
}

// body reads n bytes of body, keeping the first ones.
func (c *Client) body(n int64) error {
	keep := min(int64(maxMsg-len(c.msg)), n)
	if keep > 0 {
		start := len(c.msg)
		c.msg = append(c.msg, make([]byte, keep)...)
		if _, err := io.ReadFull(c.r, c.msg[start:]); err != nil {
			c.msg = c.msg[:start]
			return err
		}
	}
	_, err := c.r.Discard(int(n - keep))
	return err
}

// line reads one header line without its CRLF.
func (c *Client) line() (string, error) {
	b, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", errMalformed
		}
		return "", err
	}
	return string(bytes.TrimRight(b, "\r\n")), nil
}

// Refused reports whether an answer's status refuses the request for good:
// a 4xx other than 408 (Request Timeout) and 429 (Too Many Requests), which
// sending it again cannot mend. The sinks drop such a record (wrapping
// sink.ErrRejected) and retry every other failure.
func Refused(status int) bool {
	return status >= 400 && status < 500 && status != 408 && status != 429
}

// Close drops the connection.
func (c *Client) Close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.r = nil, nil
	}
}
