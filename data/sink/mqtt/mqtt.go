// Package mqtt is the pushMethod.mqtt sink: every sample as one JSON
// message (sink.AppendJSON) to the property's topic on its broker, through
// our own MQTT 3.1.1 publisher (wire.go: the packets; conn.go: the
// session).
//
// One client per broker address, shared by every property that names it.
// The client connects when it first has something to send and again after
// the connection is lost, with the destination's back-off between tries.
// The session is clean: samples taken while the broker is away wait in the
// destination's buffer, not in a client store. A batch is written in one
// write (every PUBLISH of it), then its acknowledgements are read until
// each is in or the ack timeout (10 s) passes; then the connection is
// dropped. QoS 1 and 2 are at least once across a reconnect: a batch in
// flight when the connection broke is sent again whole. When nothing is
// sent for half the keep-alive (30 s), a PINGREQ keeps the session.
//
// Broker addresses are tcp://host:port or ssl://host:port (TLS, verified
// against the system's roots), as device.PushMQTT.Broker spells them.
//
// The default topic, when pushMethod.mqtt.topic is empty, is
// "tinymapper/<namespace>/<device>/<property>".
package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/secret"
	"github.com/tinymapper/tinymapper/device"
)

// Defaults of the timeouts: of one connection attempt (dial, CONNECT,
// CONNACK), of one batch's acknowledgements, and the keep-alive the
// client asks for.
const (
	connectTimeout   = 5 * time.Second
	ackTimeout       = 10 * time.Second
	keepAliveDefault = 30 * time.Second
)

// Kind is the mqtt method. The zero value works.
type Kind struct {
	// Username and Password, when set, log in to every broker that
	// Secrets has no file for (main fills them from MQTT_USERNAME and
	// MQTT_PASSWORD). MQTT 3.1.1 sends a password only with a user name.
	Username, Password string
	// Secrets, when set, holds a file per broker ("mqtt tcp://host:port"
	// in push.credentials) with "user:password", read at every connect.
	Secrets *secret.Store

	// Tests shorten these (export_test.go); zero is the default.
	connectT, ackT, keepAliveT time.Duration
	tls                        *tls.Config
	// dial, when set, replaces the TCP dial (tests: a scripted broker).
	dial func(ctx context.Context, addr string) (net.Conn, error)
}

func (k Kind) connectTimeout() time.Duration { return or(k.connectT, connectTimeout) }
func (k Kind) ackTimeout() time.Duration     { return or(k.ackT, ackTimeout) }
func (k Kind) keepAlive() time.Duration      { return or(k.keepAliveT, keepAliveDefault) }

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Method is "mqtt".
func (Kind) Method() string { return "mqtt" }

type opts struct {
	topic    string
	qos      byte
	retained bool
}

// DefaultTopic is the topic of a property whose pushMethod.mqtt.topic is empty.
func DefaultTopic(namespace, dev, property string) string {
	return "tinymapper/" + namespace + "/" + dev + "/" + property
}

// Target returns "mqtt <broker>" and the property's topic, QoS and retain flag.
func (Kind) Target(at sink.Where, p *device.PushMethod, field string) (string, any, error) {
	broker, err := p.MQTT.Broker(field + ".address")
	if err != nil {
		return "", nil, err
	}
	topic := p.MQTT.Topic
	if topic == "" {
		topic = DefaultTopic(at.Namespace, at.Device, at.Property)
	}
	return "mqtt " + broker, opts{topic: topic, qos: byte(p.MQTT.QoS), retained: p.MQTT.Retained}, nil
}

var clients atomic.Uint64

// Open returns the client of a broker; it connects on the first Send.
func (k Kind) Open(key string, log *slog.Logger) (sink.Client, error) {
	broker := strings.TrimPrefix(key, "mqtt ")
	if !strings.HasPrefix(broker, "tcp://") && !strings.HasPrefix(broker, "ssl://") {
		return nil, fmt.Errorf("address %q is not tcp:// or ssl://", broker)
	}
	if _, ok, _ := k.Secrets.File(key); !ok && k.Password != "" && k.Username == "" {
		return nil, errors.New("a password but no user name: MQTT 3.1.1 sends a password only with a user name")
	}
	host, _ := os.Hostname()
	id := fmt.Sprintf("tinymapper-%s-%d-%d", host, os.Getpid(), clients.Add(1))
	if len(id) > 64 {
		id = id[len(id)-64:]
	}
	return &client{broker: broker, id: id, k: k}, nil
}

// login returns the user name and password to connect to broker with: from
// its push.credentials file when there is one ("user:password", or a user
// name alone), else the Kind's.
func (k Kind) login(broker string) (user, password string, err error) {
	v, ok, err := k.Secrets.File("mqtt " + broker)
	if err != nil || !ok {
		return k.Username, k.Password, err
	}
	user, password, _ = strings.Cut(v, ":")
	if user == "" {
		return "", "", fmt.Errorf(`push.credentials[%q]: no user name before the ":" (MQTT 3.1.1 sends a password only with a user name)`, "mqtt "+broker)
	}
	return user, password, nil
}
