package data_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data"
)

const testToken = "0123456789abcdef0123456789abcdef"

func TestAuthRules(t *testing.T) {
	type req struct{ method, path, token string }
	get := func(p string) req { return req{"GET", p, ""} }
	tests := []struct {
		name string
		auth data.Auth
		req  req
		want int
	}{
		{"write without a token", data.Auth{Token: testToken, OpenReads: true, OpenProbes: true}, req{"PUT", "/api/v1/device/default/room/setpoint", ""}, 401},
		{"write with a wrong token", data.Auth{Token: testToken, OpenReads: true}, req{"PUT", "/api/v1/device/default/room/setpoint", "x" + testToken[1:]}, 401},
		{"write with a prefix of the token", data.Auth{Token: testToken, OpenReads: true}, req{"PUT", "/api/v1/device/default/room/setpoint", testToken[:8]}, 401},
		{"write with the token", data.Auth{Token: testToken}, req{"PUT", "/api/v1/device/default/room/setpoint", testToken}, 200},
		{"open read", data.Auth{Token: testToken, OpenReads: true}, get("/api/v1/devices"), 200},
		{"closed read without a token", data.Auth{Token: testToken}, get("/api/v1/devices"), 401},
		{"closed read with the token", data.Auth{Token: testToken}, req{"GET", "/api/v1/devices", testToken}, 200},
		{"open probe", data.Auth{Token: testToken, OpenProbes: true}, get("/healthz"), 200},
		{"open metrics", data.Auth{Token: testToken, OpenProbes: true}, get("/readyz"), 200},
		{"closed probe", data.Auth{Token: testToken}, get("/healthz"), 401},
		{"mapper-framework's method call is a write", data.Auth{Token: testToken, OpenReads: true, OpenProbes: true}, get("/api/v1/devicemethod/default/room/set/setpoint/42"), 401},
		{"mapper-framework's method list is a read", data.Auth{Token: testToken, OpenReads: true}, get("/api/v1/devicemethod/default/room"), 200},
		{"a POST is a write", data.Auth{Token: testToken, OpenReads: true, OpenProbes: true}, req{"POST", "/healthz", ""}, 401},
		{"no token configured refuses writes", data.Auth{OpenReads: true}, req{"PUT", "/api/v1/device/default/room/setpoint", ""}, 401},
		{"off", data.Auth{Off: true}, req{"PUT", "/api/v1/device/default/room/setpoint", ""}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startServer(t, tt.auth.Wrap(data.Handler(newFake(), nil, nil)), data.Limits{})
			body := io.Reader(nil)
			if tt.req.method == "PUT" {
				body = strings.NewReader(`{"value":"42"}`)
			}
			r, err := http.NewRequest(tt.req.method, "http://"+addr+tt.req.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.req.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.req.token)
			}
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s: %d, want %d", tt.req.method, tt.req.path, resp.StatusCode, tt.want)
			}
			if resp.StatusCode == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
		})
	}
}

func TestLoadTokenCreatesASecretFileOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "token")
	tok, created, err := data.LoadToken(path)
	if err != nil || !created || len(tok) != 64 {
		t.Fatalf("LoadToken = %q, %v, %v; want a new token of 64 hex digits", tok, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, mode %v; want 0600", err, fi.Mode())
	}
	if di, err := os.Stat(filepath.Dir(path)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("token directory mode %v, want 0700", di.Mode())
	}
	again, created, err := data.LoadToken(path)
	if err != nil || created || again != tok {
		t.Errorf("second LoadToken = %q, %v, %v; want the same token, not created", again, created, err)
	}
	other, _, _ := data.LoadToken(filepath.Join(t.TempDir(), "token"))
	if other == tok {
		t.Error("two token files hold the same token")
	}
}

func TestLoadTokenRefusesFilesThatAreNotSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path, want string }{
		{"readable by others", write("shared", testToken, 0o644), "chmod 600"},
		{"too short", write("short", "abc", 0o600), "at least 16"},
		{"two words", write("words", testToken+" "+testToken, 0o600), "no spaces"},
		{"a FIFO", fifo, "not a regular file"},
		{"a directory", t.TempDir(), "not a regular file"},
		{"no path", "", "no token file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := data.LoadToken(tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadToken = %v; want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7777": true, "[::1]:7777": true, "localhost:7777": true, "127.0.0.2:1": true,
		"0.0.0.0:7777": false, ":7777": false, "[::]:7777": false, "192.168.1.5:7777": false, "nonsense": false,
	} {
		if got := data.Loopback(addr); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// serveTLS serves the REST handler over HTTPS with a self-signed
// certificate until the test ends; it returns the listener, the pool that
// trusts the certificate, its directory and the certificate file.
func serveTLS(t *testing.T) (ln net.Listener, pool *x509.CertPool, dir, certFile string) {
	t.Helper()
	dir = t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	conf, err := data.LoadTLS(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := data.NewServer(data.Handler(newFake(), nil, nil), data.Limits{})
	srv.TLSConfig = conf
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln, pool, dir, certFile
}

// TestServerServesTLS: with a certificate the server speaks HTTPS only,
// and the connection cap still holds.
func TestServerServesTLS(t *testing.T) {
	ln, pool, dir, certFile := serveTLS(t)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	resp, err := client.Get("https://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("HTTPS /healthz: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	if resp, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP is answered 200 on the TLS port")
	}
	if _, err := data.LoadTLS(certFile, filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("LoadTLS accepted a missing key file")
	}
}

// TestServerSpeaksHTTP1OverTLS: a client that offers h2 first is answered
// in HTTP/1.1, with or without net/http's bundled HTTP/2 (the release build
// leaves it out: -tags nethttpomithttp2), never offered an h2 that fails.
func TestServerSpeaksHTTP1OverTLS(t *testing.T) {
	ln, pool, _, _ := serveTLS(t)
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Fatalf("ALPN chose %q; want http/1.1", p)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 1 {
		t.Errorf("GET /healthz over TLS: %d %s; want 200 HTTP/1.1", resp.StatusCode, resp.Proto)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tinymapper test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}
