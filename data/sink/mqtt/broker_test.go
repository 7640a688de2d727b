package mqtt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/dbtest"
	"github.com/tinymapper/tinymapper/data/sink/mqtt"
	"github.com/tinymapper/tinymapper/data/sink/secret"
	"github.com/tinymapper/tinymapper/data/sink/sinktest"
	"github.com/tinymapper/tinymapper/device"
)

// mosquitto starts a broker on a loopback port with conf (after the
// listener line) and returns its port; the test stops it.
func mosquitto(t *testing.T, conf string) int {
	t.Helper()
	dbtest.Need(t, "mosquitto", "mosquitto")
	dbtest.Need(t, "mosquitto_sub", "mosquitto-clients")
	port := sinktest.FreePort(t)
	file := filepath.Join(t.TempDir(), "m.conf")
	if err := os.WriteFile(file, []byte(fmt.Sprintf("user root\nlistener %d 127.0.0.1\n%s", port, conf)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("mosquitto", "-c", file)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sinktest.WaitFor(t, 5*time.Second, "mosquitto to listen", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return port
}

// open returns k's client of the broker at address, for property prop.
func open(t *testing.T, k mqtt.Kind, address string, qos int, retained bool, prop string) (sink.Client, []sink.Record) {
	t.Helper()
	p := &device.PushMethod{MQTT: &device.PushMQTT{Address: address, QoS: int32(qos), Retained: retained}}
	key, opts, err := k.Target(sink.Where{Namespace: "plant", Device: "thermo", Property: prop}, p, "f")
	if err != nil {
		t.Fatal(err)
	}
	c, err := k.Open(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	bd := sink.NewTestBinding("plant", "thermo", prop, device.TypeFloat, "Cel", opts)
	return c, []sink.Record{{B: bd, Time: 1764931200123e6, Value: 21.5}}
}

// retainedOn reads the retained message of topic with mosquitto_sub.
func retainedOn(t *testing.T, port int, topic string, args ...string) string {
	t.Helper()
	args = append([]string{"-p", strconv.Itoa(port), "-t", topic, "-C", "1", "-W", "5"}, args...)
	out, err := exec.Command("mosquitto_sub", args...).Output()
	if err != nil {
		t.Fatalf("mosquitto_sub -t %s: %v", topic, err)
	}
	return strings.TrimSpace(string(out))
}

const payload = `{"namespace":"plant","device":"thermo","property":"%s","type":"float","unit":"Cel","value":21.5,"timestamp":1764931200123}`

// TestEachQoSRetainedReachesMosquitto: a retained message at QoS 0, 1 and
// 2 is stored by the broker as sent (the retain flag, the QoS handshakes
// and the topic encoding, checked by the broker itself).
func TestEachQoSRetainedReachesMosquitto(t *testing.T) {
	port := mosquitto(t, "allow_anonymous true\n")
	for qos := range 3 {
		t.Run(fmt.Sprintf("qos %d", qos), func(t *testing.T) {
			prop := fmt.Sprintf("q%d", qos)
			c, recs := open(t, mqtt.Kind{}, fmt.Sprintf("127.0.0.1:%d", port), qos, true, prop)
			if _, err := c.Send(context.Background(), recs); err != nil {
				t.Fatal(err)
			}
			if qos == 0 { // nothing tells a QoS 0 publisher it arrived
				time.Sleep(100 * time.Millisecond)
			}
			if got, want := retainedOn(t, port, mqtt.DefaultTopic("plant", "thermo", prop)), fmt.Sprintf(payload, prop); got != want {
				t.Errorf("retained %s, want %s", got, want)
			}
		})
	}
}

// TestCredentials: a broker with a password file accepts the right user
// name and password and refuses the wrong ones with an error naming the
// broker and saying why.
func TestCredentials(t *testing.T) {
	dbtest.Need(t, "mosquitto_passwd", "mosquitto")
	pw := filepath.Join(t.TempDir(), "passwd")
	if out, err := exec.Command("mosquitto_passwd", "-c", "-b", pw, "gateway", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	port := mosquitto(t, "allow_anonymous false\npassword_file "+pw+"\n")
	addr := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	// push.credentials files, which win over the Kind's user and password.
	dir, n := t.TempDir(), 0
	withFile := func(content string) mqtt.Kind {
		t.Helper()
		n++
		f := filepath.Join(dir, fmt.Sprintf("cred%d", n))
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		s := &secret.Store{Files: map[string]string{"mqtt " + addr: f}}
		return mqtt.Kind{Username: "nobody", Password: "guess", Secrets: s}
	}
	for _, tc := range []struct {
		name string
		k    mqtt.Kind
		err  string
	}{
		{"right", mqtt.Kind{Username: "gateway", Password: "s3cret"}, ""},
		{"wrong password", mqtt.Kind{Username: "gateway", Password: "guess"}, "not authorized"},
		{"unknown user", mqtt.Kind{Username: "nobody", Password: "s3cret"}, "not authorized"},
		{"anonymous", mqtt.Kind{}, "not authorized"},
		{"right in its file", withFile("gateway:s3cret\n"), ""},
		{"wrong in its file", withFile("gateway:guess\n"), "not authorized"},
		{"no user name in its file", withFile(":s3cret\n"), "no user name before the"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, recs := open(t, tc.k, addr, 1, false, "temperature")
			_, err := c.Send(context.Background(), recs)
			switch {
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "connect to "+addr+": ")):
				t.Fatalf("Send = %v, want an error naming %s and saying %q", err, addr, tc.err)
			case tc.err != "" && (strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "guess")):
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

// TestKeepAliveHoldsAnIdleSession: mosquitto drops a client that sends
// nothing for 1.5 keep-alive periods; our pings keep an idle session up.
func TestKeepAliveHoldsAnIdleSession(t *testing.T) {
	port := mosquitto(t, "allow_anonymous true\n")
	k := mqtt.WithTimeouts(mqtt.Kind{}, 0, 0, time.Second)
	c, recs := open(t, k, fmt.Sprintf("127.0.0.1:%d", port), 1, false, "temperature")
	if _, err := c.Send(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	if _, err := c.Send(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if n := mqtt.Connections(c); n != 1 {
		t.Errorf("%d connections, want 1: the idle session was dropped", n)
	}
}

// TestTLS: ssl:// addresses speak TLS and verify the broker's
// certificate (here against the test's own CA; the system's roots
// otherwise).
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	pool := selfSigned(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	port := mosquitto(t, fmt.Sprintf("allow_anonymous true\ncertfile %s/cert.pem\nkeyfile %s/key.pem\n", dir, dir))
	addr := fmt.Sprintf("ssl://127.0.0.1:%d", port)
	c, recs := open(t, mqtt.WithTLS(mqtt.Kind{}, &tls.Config{RootCAs: pool}), addr, 1, false, "temperature")
	if _, err := c.Send(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	c, recs = open(t, mqtt.Kind{}, addr, 1, false, "temperature") // the system's roots
	if _, err := c.Send(context.Background(), recs); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Send to an unknown certificate = %v, want a certificate error", err)
	}
	c, recs = open(t, mqtt.Kind{}, fmt.Sprintf("tcp://127.0.0.1:%d", port), 1, false, "temperature")
	if _, err := c.Send(context.Background(), recs); err == nil {
		t.Errorf("plain MQTT to a TLS listener succeeded")
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key,
// and returns a pool holding it.
func selfSigned(t *testing.T, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}
