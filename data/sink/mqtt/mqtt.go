// Package mqtt is the pushMethod.mqtt sink: every sample as one JSON
// message (sink.AppendJSON) to the property's topic on its broker, through
// eclipse/paho.mqtt.golang.
//
// One client per broker address, shared by every property that names it.
// The client connects when it first has something to send and again after
// the connection is lost, with the destination's back-off between tries
// (paho's own auto-reconnect is off, so that a batch whose
// acknowledgements were lost is sent again by us, in order). The session
// is clean: samples taken while the broker is away wait in the
// destination's buffer, not in paho's store. QoS 1 and 2 are at least
// once across a reconnect: a batch in flight when the connection broke is
// sent again whole.
//
// The default topic, when pushMethod.mqtt.topic is empty, is
// "tinymapper/<namespace>/<device>/<property>".
package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/device"
)

// Timeouts of one connection attempt and of one batch's acknowledgements.
const (
	connectTimeout = 5 * time.Second
	ackTimeout     = 10 * time.Second
)

// Kind is the mqtt method. The zero value works.
type Kind struct {
	// Username and Password, when set, log in to every broker
	// (main fills them from the environment: USERNAME, PASSWORD).
	Username, Password string
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
	host, _ := os.Hostname()
	id := fmt.Sprintf("tinymapper-%s-%d-%d", host, os.Getpid(), clients.Add(1))
	if len(id) > 64 {
		id = id[len(id)-64:]
	}
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(id).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(connectTimeout).SetWriteTimeout(connectTimeout).
		SetKeepAlive(30 * time.Second).SetPingTimeout(10 * time.Second).
		SetOrderMatters(false)
	if k.Username != "" {
		o.SetUsername(k.Username)
	}
	if k.Password != "" {
		o.SetPassword(k.Password)
	}
	return &client{c: paho.NewClient(o), broker: broker}, nil
}

type client struct {
	c      paho.Client
	broker string
	bufs   [][]byte
	toks   []paho.Token
	// tm bounds a connect or a batch; timedOut is closed once it fired
	// during this batch.
	tm       *time.Timer
	timedOut chan struct{}
}

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Send publishes recs, each from its own payload buffer, then waits for
// every token: paho keeps a reference to a payload until its token
// completes, so a buffer is reused only after that.
func (c *client) Send(ctx context.Context, recs []sink.Record) (int, error) {
	if c.tm == nil {
		c.tm = time.NewTimer(time.Hour)
	}
	if !c.c.IsConnectionOpen() {
		c.timedOut = nil
		c.tm.Reset(connectTimeout)
		if err := c.wait(ctx, c.c.Connect()); err != nil {
			return 0, fmt.Errorf("connect to %s: %w", c.broker, err)
		}
	}
	for len(c.bufs) < len(recs) {
		c.bufs = append(c.bufs, make([]byte, 0, 256))
		c.toks = append(c.toks, nil)
	}
	n := 0
	for i, r := range recs {
		o := r.B.Opts.(opts)
		c.bufs[i] = sink.AppendJSON(c.bufs[i][:0], r)
		c.toks[i] = c.c.Publish(o.topic, o.qos, o.retained, c.bufs[i])
		n++
	}
	var first error
	delivered := 0
	c.timedOut = nil
	c.tm.Reset(ackTimeout)
	for i := range n {
		err := c.wait(ctx, c.toks[i])
		if err != nil && first == nil {
			first = err
		}
		if first == nil {
			delivered++
		}
		c.toks[i] = nil
	}
	if first != nil {
		// A token that timed out may still hold its payload: let paho
		// keep those buffers and take new ones.
		for i := range n {
			c.bufs[i] = make([]byte, 0, 256)
		}
		return delivered, fmt.Errorf("publish to %s: %w", c.broker, first)
	}
	return n, nil
}

var errTimeout = errors.New("timed out")

// wait waits for t, until c.tm fires (once it has, every later wait of
// the batch times out at once).
func (c *client) wait(ctx context.Context, t paho.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-c.timedOut:
		return errTimeout
	case <-c.tm.C:
		c.timedOut = closed
		return errTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *client) Close() error {
	c.c.Disconnect(250)
	return nil
}
