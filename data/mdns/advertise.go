// Package mdns announces tinymapper's REST data plane on the local network as
// a DNS-SD service over multicast DNS (RFC 6762, RFC 6763), and finds the
// gateways that announce it.
//
// An Advertiser is a small responder: it owns the records of one service
// instance (PTR, SRV, TXT and the host's A record), answers the queries for
// them on the interfaces it is given or finds, announces them when they
// appear or change, and withdraws them (TTL 0, "goodbye") when it stops.
// Browse is the other side: a one-shot querier that lists the instances
// that answer within a bounded time.
//
// Before it answers or announces, an Advertiser probes for its instance
// and host names and renames itself when another host holds them (see
// probe.go). It speaks IPv4 only.
package mdns

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"

	"github.com/tinymapper/tinymapper/device"
)

// Port is the mDNS port.
const Port = 5353

// group is the mDNS IPv4 multicast group.
var group = &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: Port}

// Devices is what the advertiser reads the device count through;
// *device.Manager implements it.
type Devices interface {
	Snapshot() iter.Seq[device.DeviceView]
	Generation() uint64
}

// Info is what the service record says.
type Info struct {
	Instance      string   // instance name: the node or host name
	Host          string   // host name the SRV record points at; Instance when empty
	Port          int      // the REST data plane's port
	Version       string   // TXT version
	Board         string   // TXT board
	Protocols     []string // TXT protocols
	APIPath       string   // TXT api, e.g. /api/v1
	TokenRequired bool     // TXT token: whether REST writes need a token
}

// Advertiser announces one service instance. Set its fields, then Run it.
type Advertiser struct {
	Info Info
	// Devices, when set, gives the TXT record's devices count; a change is
	// announced within one Rescan.
	Devices Devices
	// Interfaces names the interfaces to advertise on. Empty: every
	// interface that is up, multicast-capable, not loopback and has an IPv4
	// address.
	Interfaces []string
	// Rescan is how often interfaces and the device count are looked at
	// again (default 2 s).
	Rescan time.Duration
	Log    *slog.Logger

	zone   atomic.Pointer[zone]
	ifaces atomic.Pointer[map[int]ifaceAddr] // by index; written by Run only
	events chan clashEvent                   // conflicts, from serve to the loop
}

// ifaceAddr is an interface advertised on, and the address its A record has.
type ifaceAddr struct {
	name string
	ip   [4]byte
	// pending: the interface appeared after the names were claimed, and
	// is being probed on before it is answered on.
	pending bool
}

// txt returns the TXT strings for n devices.
func (in Info) txt(n int) []string {
	cut := func(k, v string) string {
		s := k + "=" + v
		if len(s) > 255 {
			s = s[:255]
		}
		return s
	}
	return []string{
		"txtvers=1",
		cut("version", in.Version),
		cut("board", in.Board),
		cut("protocols", strings.Join(in.Protocols, ",")),
		cut("devices", strconv.Itoa(n)),
		cut("api", in.APIPath),
		cut("token", strconv.FormatBool(in.TokenRequired)),
	}
}

func (a *Advertiser) count() (n int, gen uint64) {
	if a.Devices == nil {
		return 0, 0
	}
	gen = a.Devices.Generation()
	for range a.Devices.Snapshot() {
		n++
	}
	return n, gen
}

// Run advertises until ctx ends, then sends the goodbye packets and
// returns. It returns an error only when the mDNS socket cannot be opened;
// a host with no interface to advertise on waits for one to appear.
func (a *Advertiser) Run(ctx context.Context) error {
	log := a.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if a.Info.Port <= 0 || a.Info.Port > 65535 {
		return fmt.Errorf("mdns: port %d", a.Info.Port)
	}
	a.reset()
	pc, err := listen()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() { a.serve(pc, log) })
	defer func() {
		pc.Close()
		wg.Wait()
	}()
	a.loop(ctx, socketWire{a, pc, log}, log)
	return nil
}

// reset sets the state serve reads before the loop runs: no interface
// yet, and the unclaimed zone of the base names.
func (a *Advertiser) reset() {
	host := a.Info.Host
	if host == "" {
		host = a.Info.Instance
	}
	a.zone.Store(newZone(a.Info.Instance, host, uint16(a.Info.Port), nil))
	a.ifaces.Store(&map[int]ifaceAddr{})
	a.events = make(chan clashEvent, 16)
}

// socketWire is the loop's wire on the mDNS socket.
type socketWire struct {
	a   *Advertiser
	pc  *ipv4.PacketConn
	log *slog.Logger
}

func (w socketWire) scan() (map[int]ifaceAddr, []int) { return w.a.scan(w.pc, w.log) }

func (w socketWire) send(idx int, b []byte) {
	if _, err := w.pc.WriteTo(b, &ipv4.ControlMessage{IfIndex: idx}, group); err != nil {
		w.log.Debug("mdns: send", "interface", idx, "err", err)
	}
}

// mine says whether ip is the address of an interface we advertise on.
func (a *Advertiser) mine(ip [4]byte) bool {
	for _, ia := range *a.ifaces.Load() {
		if ia.ip == ip {
			return true
		}
	}
	return false
}

// scan lists the interfaces to advertise on, joins the group on new ones
// and leaves it on those gone. It returns the new set and the indexes that
// are new or whose address changed; the loop stores the set.
func (a *Advertiser) scan(pc *ipv4.PacketConn, log *slog.Logger) (map[int]ifaceAddr, []int) {
	old := *a.ifaces.Load()
	now := map[int]ifaceAddr{}
	var changed []int
	for _, ifi := range interfaces(a.Interfaces) {
		ip, ok := ipv4Of(&ifi)
		if !ok {
			continue
		}
		prev, had := old[ifi.Index]
		if !had || prev.name != ifi.Name {
			if err := pc.JoinGroup(&ifi, group); err != nil && !errors.Is(err, syscall.EADDRINUSE) {
				log.Warn("mdns: join the multicast group", "interface", ifi.Name, "err", err)
				continue
			}
			log.Info("mdns: advertising", "interface", ifi.Name, "address", net.IP(ip[:]).String())
		}
		now[ifi.Index] = ifaceAddr{name: ifi.Name, ip: ip}
		if !had || prev.name != ifi.Name || prev.ip != ip {
			changed = append(changed, ifi.Index)
		}
	}
	for idx, ia := range old {
		if _, ok := now[idx]; !ok {
			if ifi, err := net.InterfaceByIndex(idx); err == nil {
				pc.LeaveGroup(ifi, group) // gone or down: an error says only that
			}
			log.Info("mdns: interface gone", "interface", ia.name)
		}
	}
	return now, changed // the loop stores them
}

// interfaces returns the named interfaces that are up, or by default every
// up, multicast-capable, non-loopback interface.
func interfaces(names []string) []net.Interface {
	all, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []net.Interface
	for _, ifi := range all {
		if ifi.Flags&net.FlagUp == 0 {
			continue
		}
		if len(names) > 0 {
			for _, n := range names {
				if n == ifi.Name {
					out = append(out, ifi)
				}
			}
			continue
		}
		if ifi.Flags&net.FlagMulticast != 0 && ifi.Flags&net.FlagLoopback == 0 {
			out = append(out, ifi)
		}
	}
	return out
}

// ipv4Of returns the first IPv4 address of ifi.
func ipv4Of(ifi *net.Interface) (ip [4]byte, ok bool) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return ip, false
	}
	for _, ad := range addrs {
		if n, isNet := ad.(*net.IPNet); isNet {
			if v4 := n.IP.To4(); v4 != nil {
				return [4]byte(v4), true
			}
		}
	}
	return ip, false
}

// listen opens the shared mDNS socket: port 5353 on every address, with
// SO_REUSEADDR and SO_REUSEPORT so that avahi or another responder on the
// host keeps working beside it.
func listen() (*ipv4.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			if serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := lc.ListenPacket(context.Background(), "udp4", ":"+strconv.Itoa(Port))
	if err != nil {
		return nil, fmt.Errorf("mdns: %w", err)
	}
	pc := ipv4.NewPacketConn(c)
	if err := pc.SetControlMessage(ipv4.FlagInterface, true); err != nil {
		c.Close()
		return nil, fmt.Errorf("mdns: %w", err)
	}
	// RFC 6762 §11: sent with TTL 255; looped back so a browser on this
	// host sees us too.
	pc.SetMulticastTTL(255)
	pc.SetTTL(255)
	pc.SetMulticastLoopback(true)
	return pc, nil
}

// serve answers queries until pc is closed, and passes what clashes with
// our names to the loop. Answers are rate limited, a record is multicast
// on an interface at most once a second (RFC 6762 §6) except to a probe, so
// a flood of queries is not amplified, and records the querier lists as
// known answers are left out (§7.1).
func (a *Advertiser) serve(pc *ipv4.PacketConn, log *slog.Logger) {
	var in, out [MaxPacket]byte
	var p packet
	limit := rate.NewLimiter(20, 40)
	type key struct {
		idx  int
		kind kinds
	}
	last := map[key]time.Time{}
	for {
		n, cm, src, err := pc.ReadFrom(in[:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // a failing socket must not spin
			continue
		}
		if cm == nil || parse(in[:n], &p) != nil {
			continue
		}
		ia, ok := (*a.ifaces.Load())[cm.IfIndex]
		if !ok {
			continue // not an interface we advertise on
		}
		z := a.zone.Load()
		if c := z.judge(&p, ia.ip, a.mine); c != 0 {
			select {
			case a.events <- clashEvent{z, c}:
			default: // the loop has enough to act on
			}
		}
		if p.response || len(p.questions) == 0 || !z.claimed || ia.pending {
			continue
		}
		answer, additional := z.answer(p.questions)
		known := z.known(&p, ia.ip)
		answer &^= known
		additional &^= known
		if answer == 0 || !limit.Allow() {
			continue
		}
		probe := isProbe(&p)
		udp, _ := src.(*net.UDPAddr)
		mode, dst := ttlNormal, net.Addr(group)
		switch {
		case udp != nil && udp.Port != Port: // one-shot querier (§6.7)
			mode, dst = ttlLegacy, udp
		case probe: // multicast, so that every socket on the prober's host hears it
		case udp != nil && allUnicast(p.questions):
			dst = udp
		}
		if dst == net.Addr(group) && !probe {
			now := time.Now()
			for k := kindPTR; k <= kindServices; k <<= 1 {
				if answer&k == 0 {
					continue
				}
				if t, ok := last[key{cm.IfIndex, k}]; ok && now.Sub(t) < time.Second {
					answer &^= k
				}
			}
			if answer == 0 {
				continue
			}
			if len(last) > 256 {
				clear(last)
			}
			for k := kindPTR; k <= kindServices; k <<= 1 {
				if answer&k != 0 {
					last[key{cm.IfIndex, k}] = now
				}
			}
		}
		b, err := z.pack(out[:], answer, additional, ia.ip, mode, p.id, p.questions)
		if err != nil {
			log.Debug("mdns: pack", "err", err)
			continue
		}
		pc.WriteTo(b, &ipv4.ControlMessage{IfIndex: cm.IfIndex}, dst)
	}
}

// isProbe: a query with proposed records in its authority section (§8.1).
func isProbe(p *packet) bool {
	for _, r := range p.records {
		if r.sec == secAuthority {
			return true
		}
	}
	return false
}

func allUnicast(qs []question) bool {
	for _, q := range qs {
		if !q.unicast {
			return false
		}
	}
	return true
}
