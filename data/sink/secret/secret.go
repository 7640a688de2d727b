// Package secret finds the credentials of push destinations. The DMI
// messages carry none, so, like KubeEdge's mapper-framework, a sink takes
// them from the environment (TOKEN for InfluxDB, PASSWORD for Redis and
// MySQL); and so that two databases can have different ones, the config's
// push.credentials names a file per destination, which wins:
//
//	push:
//	  credentials:
//	    "redis 10.0.0.5:6379": /etc/tinymapper/redis-password
//	    "mysql 10.0.0.6:3306": /etc/tinymapper/mysql-password
//	    "influxdb2 http://10.0.0.7:8086": /etc/tinymapper/influx-token
//	    "mqtt tcp://10.0.0.8:1883": /etc/tinymapper/broker-login
//
// A destination is the method and the server: host:port for redis and
// mysql, scheme://host:port of the URL for influxdb2 and otel, the broker
// (tcp:// or ssl://host:port) for mqtt. A file holds the secret alone (for
// mqtt, "user:password"); a trailing newline is not part of it. Redis and MySQL
// read it at every connect, so a rotated password is taken without a
// restart. No error of this package contains a secret.
package secret

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
)

// MaxSize bounds a credentials file.
const MaxSize = 4096

// Store finds credentials. The zero value reads the environment only.
type Store struct {
	// Files maps a destination ("redis 10.0.0.5:6379") to the file
	// holding its secret.
	Files map[string]string
	// Getenv reads the environment (nil: os.Getenv).
	Getenv func(string) string
}

// Get returns the secret of dest: the content of its file if push.credentials
// names one, else the environment variable env ("" when unset).
func (s *Store) Get(dest, env string) (string, error) {
	if v, ok, err := s.File(dest); ok || err != nil {
		return v, err
	}
	getenv := os.Getenv
	if s != nil && s.Getenv != nil {
		getenv = s.Getenv
	}
	return getenv(env), nil
}

// File returns the secret in the file push.credentials names for dest;
// ok is false when it names none.
func (s *Store) File(dest string) (secret string, ok bool, err error) {
	if s == nil {
		return "", false, nil
	}
	name, ok := s.Files[dest]
	if !ok {
		return "", false, nil
	}
	b, err := readFile(name)
	if err != nil {
		return "", true, fmt.Errorf("push.credentials[%q]: %w", dest, err)
	}
	return Parse(b), true, nil
}

// Origin returns the scheme://host:port of an http(s) URL, the credentials
// key of influxdb2 and otel destinations ("" when rawURL does not parse).
func Origin(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port)
}

// Parse returns the secret a file's content holds: the content without
// its trailing line ending.
func Parse(b []byte) string {
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	return string(b)
}

func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err // *PathError: names the file, not the content
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, errors.New(name + ": longer than 4096 bytes")
	}
	return b, nil
}
