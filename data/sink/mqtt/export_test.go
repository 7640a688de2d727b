package mqtt

import (
	"crypto/tls"
	"time"
)

// WithTimeouts returns k with shorter connect and ack timeouts and
// keep-alive, for tests; zero keeps the default.
func WithTimeouts(k Kind, connect, ack, keepAlive time.Duration) Kind {
	k.connectT, k.ackT, k.keepAliveT = connect, ack, keepAlive
	return k
}

// WithTLS returns k verifying brokers with cfg.
func WithTLS(k Kind, cfg *tls.Config) Kind {
	k.tls = cfg
	return k
}

// Connections returns how many connections c (an Open result) has made.
func Connections(c any) int {
	cl := c.(*client)
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.conns
}
