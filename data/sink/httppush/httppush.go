// Package httppush is the pushMethod.http sink: every sample is POSTed, as
// the JSON object sink.AppendJSON writes (Content-Type application/json), to
// hostName:port/requestPath.
//
// One client per URL (sink/internal/post: one kept-alive connection), shared by every
// property that names the URL. A 2xx answer is delivery. A 5xx answer, a
// connection error or a timeout is retried, in order, with the
// destination's back-off, for as long as the sample fits the buffer. A 4xx
// answer means this sample will never be taken: it is counted as dropped
// and logged (once per distinct answer), and the next one is sent.
// pushMethod.http.timeout (milliseconds; default 5000) bounds each request.
package httppush

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/internal/post"
	"github.com/tinymapper/tinymapper/device"
)

// DefaultTimeout bounds a request when pushMethod.http.timeout is 0.
const DefaultTimeout = 5 * time.Second

// Kind is the http method. The zero value works.
type Kind struct{}

// Method is "http".
func (Kind) Method() string { return "http" }

// Target returns "http <url>" and the property's request timeout.
func (Kind) Target(_ sink.Where, p *device.PushMethod, field string) (string, any, error) {
	u, err := p.HTTP.URL(field)
	if err != nil {
		return "", nil, err
	}
	t := p.HTTP.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return "http " + u, t, nil
}

// Open returns the client of one URL.
func (Kind) Open(key string, _ *slog.Logger) (sink.Client, error) {
	u := strings.TrimPrefix(key, "http ")
	pc, err := post.New(u)
	if err != nil {
		return nil, err
	}
	return &client{url: u, pc: pc}, nil
}

type client struct {
	url string
	pc  *post.Client
	buf []byte
}

// Send POSTs recs one by one, in order.
func (c *client) Send(ctx context.Context, recs []sink.Record) (int, error) {
	for i, r := range recs {
		if err := c.post(ctx, r); err != nil {
			return i, err
		}
	}
	return len(recs), nil
}

func (c *client) post(ctx context.Context, r sink.Record) error {
	ctx, cancel := context.WithTimeout(ctx, r.B.Opts.(time.Duration))
	defer cancel()
	c.buf = sink.AppendJSON(c.buf[:0], r)
	status, _, err := c.pc.Post(ctx, "application/json", "", c.buf)
	if err != nil {
		return fmt.Errorf("POST %s: %w", c.url, err)
	}
	switch {
	case status >= 200 && status < 300:
		return nil
	case post.Refused(status):
		return fmt.Errorf("POST %s: %d %s: %w", c.url, status, http.StatusText(status), sink.ErrRejected)
	}
	return fmt.Errorf("POST %s: %d %s", c.url, status, http.StatusText(status))
}

func (c *client) Close() error {
	c.pc.Close()
	return nil
}
