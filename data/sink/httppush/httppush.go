// Package httppush is the pushMethod.http sink: every sample is POSTed, as
// the JSON object sink.AppendJSON writes (Content-Type application/json), to
// hostName:port/requestPath.
//
// One http.Client per URL, keeping its connection alive, shared by every
// property that names the URL. A 2xx answer is delivery. A 5xx answer, a
// connection error or a timeout is retried, in order, with the
// destination's back-off, for as long as the sample fits the buffer. A 4xx
// answer means this sample will never be taken: it is counted as dropped
// and logged (once per distinct answer), and the next one is sent.
// pushMethod.http.timeout (milliseconds; default 5000) bounds each request.
package httppush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
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
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 1
	return &client{url: strings.TrimPrefix(key, "http "), hc: &http.Client{Transport: tr}}, nil
}

type client struct {
	url  string
	hc   *http.Client
	buf  []byte
	body bytes.Reader
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
	c.body.Reset(c.buf)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, &c.body)
	if err != nil {
		return errors.Join(sink.ErrRejected, err)
	}
	req.ContentLength = int64(len(c.buf))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err // *url.Error: Post "URL": dial tcp ...: connection refused
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection is kept
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return fmt.Errorf("POST %s: %s: %w", c.url, resp.Status, sink.ErrRejected)
	}
	return fmt.Errorf("POST %s: %s", c.url, resp.Status)
}

func (c *client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}
