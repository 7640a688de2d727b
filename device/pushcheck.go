package device

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Limits on the strings of a pushMethod (addresses, topics, names), so a
// hostile spec cannot make the sinks keep or send megabytes.
const (
	maxPushString = 512
	maxPushTags   = 32
)

// A PushError names the pushMethod field that is wrong, as in
// "spec.properties[temp].pushMethod.mqtt.address: missing".
type PushError struct {
	Field string
	Err   error
}

func (e *PushError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *PushError) Unwrap() error { return e.Err }

func pushErr(field, format string, args ...any) error {
	return &PushError{Field: field, Err: fmt.Errorf(format, args...)}
}

// PushField returns the path of property's pushMethod, the prefix of every
// field Check names: "spec.properties[temp].pushMethod".
func PushField(property string) string {
	return "spec.properties[" + property + "].pushMethod"
}

// Check reports the first thing wrong with p, as a *PushError naming the
// field under field (PushField of the property). A nil p is fine. Check looks
// at the spec only: whether a server answers is the sink's business.
func (p *PushMethod) Check(field string) error {
	if p == nil {
		return nil
	}
	if h := p.HTTP; h != nil {
		if _, err := h.URL(field + ".http"); err != nil {
			return err
		}
		if h.Timeout < 0 {
			return pushErr(field+".http.timeout", "%d ms is negative", h.Timeout.Milliseconds())
		}
	}
	if m := p.MQTT; m != nil {
		if _, err := m.Broker(field + ".mqtt.address"); err != nil {
			return err
		}
		if m.QoS < 0 || m.QoS > 2 {
			return pushErr(field+".mqtt.qos", "%d is not 0, 1 or 2", m.QoS)
		}
		if err := checkTopic(field+".mqtt.topic", m.Topic); err != nil {
			return err
		}
	}
	if o := p.OTEL; o != nil {
		if _, err := webURL(field+".otel.endpointURL", o.EndpointURL); err != nil {
			return err
		}
	}
	if p.DB != nil {
		return p.DB.check(field + ".dbMethod")
	}
	return nil
}

func (d *DBMethod) check(field string) error {
	if i := d.Influxdb2; i != nil {
		f := field + ".influxdb2"
		if _, err := webURL(f+".influxdb2ClientConfig.url", i.URL); err != nil {
			return err
		}
		for _, kv := range [...][3]string{
			{"influxdb2ClientConfig.org", i.Org, "required"}, {"influxdb2ClientConfig.bucket", i.Bucket, "required"},
			{"influxdb2DataConfig.measurement", i.Measurement, ""}, {"influxdb2DataConfig.fieldKey", i.FieldKey, ""},
		} {
			if kv[1] == "" && kv[2] != "" {
				return pushErr(f+"."+kv[0], "missing")
			}
			if len(kv[1]) > maxPushString {
				return pushErr(f+"."+kv[0], "longer than %d bytes", maxPushString)
			}
		}
		if len(i.Tags) > maxPushTags {
			return pushErr(f+".influxdb2DataConfig.tag", "more than %d tags", maxPushTags)
		}
		for k, v := range i.Tags {
			if k == "" || len(k) > maxPushString || len(v) > maxPushString {
				return pushErr(f+".influxdb2DataConfig.tag", "a key is empty or a key or value is longer than %d bytes", maxPushString)
			}
		}
	}
	if r := d.Redis; r != nil {
		f := field + ".redis.redisClientConfig"
		if err := checkHostPort(f+".addr", r.Addr); err != nil {
			return err
		}
		if r.DB < 0 || r.DB > 1<<16 {
			return pushErr(f+".db", "%d is not a database number", r.DB)
		}
		if r.PoolSize < 0 || r.PoolSize > 1024 {
			return pushErr(f+".poolsize", "%d is not between 0 and 1024", r.PoolSize)
		}
		if r.MinIdleConns < 0 || r.MinIdleConns > 1024 {
			return pushErr(f+".minIdleConns", "%d is not between 0 and 1024", r.MinIdleConns)
		}
	}
	if t := d.TDEngine; t != nil {
		f := field + ".TDEngine.TDEngineClientConfig"
		if err := checkHostPort(f+".addr", t.Addr); err != nil {
			return err
		}
		if err := checkIdent(f+".dbName", t.DBName); err != nil {
			return err
		}
	}
	if m := d.MySQL; m != nil {
		f := field + ".mysql.mysqlClientConfig"
		if err := checkHostPort(f+".addr", m.Addr); err != nil {
			return err
		}
		if err := checkIdent(f+".database", m.Database); err != nil {
			return err
		}
		if len(m.UserName) > maxPushString {
			return pushErr(f+".userName", "longer than %d bytes", maxPushString)
		}
	}
	return nil
}

// Broker returns the MQTT broker address as data/sink/mqtt dials it,
// "scheme://host:port": a bare "host:port" is tcp, a missing port is 1883
// (8883 for ssl, tls and mqtts), and mqtt:// is tcp://.
func (m *PushMQTT) Broker(field string) (string, error) {
	a := m.Address
	if a == "" {
		return "", pushErr(field, "missing")
	}
	if len(a) > maxPushString {
		return "", pushErr(field, "longer than %d bytes", maxPushString)
	}
	if !strings.Contains(a, "://") {
		a = "tcp://" + a
	}
	u, err := url.Parse(a)
	if err != nil {
		return "", pushErr(field, "%q is not a broker address: %v", cut(m.Address), errors.Unwrap(err))
	}
	scheme, port := "tcp", "1883"
	switch u.Scheme {
	case "tcp", "mqtt":
	case "ssl", "tls", "mqtts":
		scheme, port = "ssl", "8883"
	default:
		return "", pushErr(field, "scheme %q is not tcp, mqtt, ssl, tls or mqtts", cut(u.Scheme))
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", pushErr(field, "%q is not scheme://host:port", cut(m.Address))
	}
	if p := u.Port(); p != "" {
		if err := checkPort(field, p); err != nil {
			return "", err
		}
		port = p
	}
	return scheme + "://" + net.JoinHostPort(u.Hostname(), port), nil
}

func checkTopic(field, t string) error {
	switch {
	case len(t) > maxPushString:
		return pushErr(field, "longer than %d bytes", maxPushString)
	case strings.ContainsAny(t, "+#\x00"):
		return pushErr(field, "%q has a wildcard (+ or #) or a NUL; a topic to publish to has none", cut(t))
	}
	return nil
}

// URL returns the URL samples are posted to: hostName (with or without
// http:// or https://), port (0: the scheme's) and requestPath, joined the
// way mapper-framework joins them.
func (h *PushHTTP) URL(field string) (string, error) {
	host := h.HostName
	if host == "" {
		return "", pushErr(field+".hostName", "missing")
	}
	if len(host) > maxPushString || len(h.RequestPath) > maxPushString {
		return "", pushErr(field, "hostName or requestPath longer than %d bytes", maxPushString)
	}
	scheme := "http"
	if s, rest, ok := strings.Cut(host, "://"); ok {
		scheme, host = strings.ToLower(s), rest
	}
	if scheme != "http" && scheme != "https" {
		return "", pushErr(field+".hostName", "scheme %q is not http or https", cut(scheme))
	}
	if host == "" || strings.ContainsAny(host, "/?#@ ") {
		return "", pushErr(field+".hostName", "%q is not a host name", cut(h.HostName))
	}
	if h.Port < 0 || h.Port > 65535 {
		return "", pushErr(field+".port", "%d is not a port", h.Port)
	}
	if h.Port > 0 {
		host = net.JoinHostPort(strings.Trim(host, "[]"), strconv.FormatInt(h.Port, 10))
	}
	path := h.RequestPath
	if path != "" && path[0] != '/' {
		path = "/" + path
	}
	u, err := url.Parse(scheme + "://" + host + path)
	if err != nil || u.Host == "" {
		return "", pushErr(field+".requestPath", "%q does not make a URL with hostName %q", cut(h.RequestPath), cut(h.HostName))
	}
	return u.String(), nil
}

// webURL checks an http(s) URL.
func webURL(field, s string) (*url.URL, error) {
	if s == "" {
		return nil, pushErr(field, "missing")
	}
	if len(s) > maxPushString {
		return nil, pushErr(field, "longer than %d bytes", maxPushString)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, pushErr(field, "%q is not an http:// or https:// URL", cut(s))
	}
	return u, nil
}

func checkHostPort(field, s string) error {
	if s == "" {
		return pushErr(field, "missing")
	}
	if len(s) > maxPushString {
		return pushErr(field, "longer than %d bytes", maxPushString)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return pushErr(field, "%q is not host:port", cut(s))
	}
	return checkPort(field, port)
}

func checkPort(field, p string) error {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return pushErr(field, "port %q is not between 1 and 65535", cut(p))
	}
	return nil
}

// checkIdent accepts the database and table names the sinks quote safely.
func checkIdent(field, s string) error {
	if s == "" {
		return pushErr(field, "missing")
	}
	if len(s) > 64 {
		return pushErr(field, "longer than 64 bytes")
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || c == '$' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
			return pushErr(field, "%q has a character other than letters, digits, _, - and $", cut(s))
		}
	}
	return nil
}

// cut shortens quoted input for messages.
func cut(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
