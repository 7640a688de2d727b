package mqtt

import (
	"crypto/tls"
	"net"
	"syscall"
)

// waitFor tunes nc before a read that needs at least lowat bytes:
//
//   - SO_RCVLOWAT: wake the reader only once lowat bytes are in (or the
//     connection ends). A broker that writes each PUBACK apart (mosquitto
//     with set_tcp_nodelay true) would otherwise wake us once per
//     acknowledgement, a read and a trip through the poller each: most of
//     a sample's cost.
//   - TCP_QUICKACK: acknowledge what arrives at once, for the next while
//     (the kernel turns it off again). A broker with Nagle on (mosquitto's
//     default) holds back its second PUBACK write until our ACK of the
//     first, which our kernel would delay by up to 40 ms, as we send
//     nothing in return.
//
// Errors are ignored: without these a read only costs more.
func waitFor(nc net.Conn, lowat int, last *int) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		if lowat != *last {
			if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, lowat) == nil {
				*last = lowat
			}
		}
	})
}
