// Package influxdb2 is the dbMethod.influxdb2 sink: samples as InfluxDB line
// protocol, many per request, POSTed to url/api/v2/write?org=ORG&bucket=BUCKET
// &precision=ns, with "Authorization: Token $TOKEN" when the TOKEN
// environment variable is set (as mapper-framework reads it).
//
// One line per sample:
//
//	MEASUREMENT,TAGS,namespace=NS,device=DEV,property=PROP FIELDKEY=VALUE TIME
//
// MEASUREMENT is influxdb2DataConfig.measurement (default: the device name),
// TAGS are influxdb2DataConfig.tag (sorted), FIELDKEY is
// influxdb2DataConfig.fieldKey (default: the property name); VALUE is a
// float, an integer with the i suffix for INT, or true/false for BOOLEAN;
// TIME is in nanoseconds. A 2xx answer is delivery; 5xx and connection
// errors are retried; another 4xx drops the batch's first sample and the
// next try sends the rest.
package influxdb2

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/internal/post"
	"github.com/tinymapper/tinymapper/data/sink/secret"
	"github.com/tinymapper/tinymapper/device"
)

// requestTimeout bounds one write request.
const requestTimeout = 10 * time.Second

// Kind is the dbMethod.influxdb2 method.
type Kind struct {
	// Token is sent as "Authorization: Token ..." (main reads $TOKEN).
	Token string
	// Secrets, when it names a file for "influxdb2 scheme://host:port"
	// (push.credentials), gives the token instead, read when the
	// destination opens.
	Secrets *secret.Store
}

// Method is "dbMethod.influxdb2".
func (Kind) Method() string { return "dbMethod.influxdb2" }

// opts is a binding's line up to the value: "m,tags f=" (comparable).
type opts struct{ prefix string }

// Target returns "influxdb2 URL/api/v2/write?org=..&bucket=..&precision=ns"
// and the property's line prefix.
func (Kind) Target(at sink.Where, p *device.PushMethod, field string) (string, any, error) {
	i := p.DB.Influxdb2
	u, err := url.Parse(strings.TrimSuffix(i.URL, "/") + "/api/v2/write")
	if err != nil {
		return "", nil, fmt.Errorf("%s.influxdb2ClientConfig.url: %v", field, err)
	}
	u.RawQuery = url.Values{"org": {i.Org}, "bucket": {i.Bucket}, "precision": {"ns"}}.Encode()
	m := i.Measurement
	if m == "" {
		m = at.Device
	}
	f := i.FieldKey
	if f == "" {
		f = at.Property
	}
	tags := map[string]string{"namespace": at.Namespace, "device": at.Device, "property": at.Property}
	for k, v := range i.Tags {
		tags[k] = v
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(escape(m, ", "))
	for _, k := range keys {
		if tags[k] == "" {
			continue // line protocol has no empty tag values
		}
		b.WriteString("," + escape(k, ",= ") + "=" + escape(tags[k], ",= "))
	}
	b.WriteString(" " + escape(f, ",= ") + "=")
	return "influxdb2 " + u.String(), opts{prefix: b.String()}, nil
}

// escape backslash-escapes the characters line protocol gives a meaning.
func escape(s, special string) string {
	var b strings.Builder
	for _, c := range s {
		if c == '\\' || strings.ContainsRune(special, c) {
			b.WriteByte('\\')
		}
		if c == '\n' {
			b.WriteString("\\n")
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Open returns the client of one write URL.
func (k Kind) Open(key string, _ *slog.Logger) (sink.Client, error) {
	u := strings.TrimPrefix(key, "influxdb2 ")
	pc, err := post.New(u)
	if err != nil {
		return nil, err
	}
	c := &client{url: u, pc: pc}
	token := k.Token
	if t, ok, err := k.Secrets.File("influxdb2 " + secret.Origin(c.url)); err != nil {
		return nil, err
	} else if ok {
		token = t
	}
	if token != "" {
		c.auth = "Token " + token
	}
	return c, nil
}

type client struct {
	url, auth string
	pc        *post.Client
	buf       []byte
}

// AppendLine appends r's line (with its newline) to dst.
func AppendLine(dst []byte, r sink.Record) []byte {
	dst = append(dst, r.B.Opts.(opts).prefix...)
	out, ok := device.AppendValue(dst, r.B.Type, r.Value)
	if !ok {
		return dst[:len(dst)-len(r.B.Opts.(opts).prefix)] // NaN has no line
	}
	if r.B.Type == device.TypeInt {
		out = append(out, 'i')
	}
	out = append(out, ' ')
	out = strconv.AppendInt(out, r.Time, 10)
	return append(out, '\n')
}

// Send writes recs in one request.
func (c *client) Send(ctx context.Context, recs []sink.Record) (int, error) {
	c.buf = c.buf[:0]
	for _, r := range recs {
		c.buf = AppendLine(c.buf, r)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	status, msg, err := c.pc.Post(ctx, "text/plain; charset=utf-8", c.auth, c.buf)
	if err != nil {
		return 0, err
	}
	switch {
	case status >= 200 && status < 300:
		return len(recs), nil
	case post.Refused(status):
		return 0, fmt.Errorf("write: %s %q: %w", http.StatusText(status), strings.TrimSpace(string(msg)), sink.ErrRejected)
	}
	return 0, fmt.Errorf("write: %s %q", http.StatusText(status), strings.TrimSpace(string(msg)))
}

func (c *client) Close() error {
	c.pc.Close()
	return nil
}
