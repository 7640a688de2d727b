//go:build !linux

package mqtt

import "net"

// waitFor is Linux's SO_RCVLOWAT and TCP_QUICKACK (sockopt_linux.go);
// elsewhere every read wakes on the first byte and ACKs stay delayed.
func waitFor(net.Conn, int, *int) {}
