package mdns

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/net/ipv4"
)

// Gateway is one instance found by Browse.
type Gateway struct {
	Name    string            `json:"name"`    // instance name
	Host    string            `json:"host"`    // SRV target, without ".local."
	Address string            `json:"address"` // IPv4:port; empty when no A record came
	Port    int               `json:"port"`
	TXT     map[string]string `json:"txt"`
}

// maxGateways bounds what one browse keeps.
const maxGateways = 1024

// Browse asks for _tinymapper._tcp instances on the given interfaces (by
// default every up, multicast-capable, non-loopback one) until ctx ends, and
// returns those that answered, sorted by name. It queries as a one-shot
// querier from its own port (RFC 6762 §5.1), so it runs beside a responder
// on the same host, and repeats the query with growing intervals, asking
// for the SRV, TXT and A records an answer lacked. ctx must have a deadline
// or be cancelled: Browse waits for it.
func Browse(ctx context.Context, ifaceNames []string) ([]Gateway, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	pc := ipv4.NewPacketConn(c)
	pc.SetMulticastTTL(255)
	pc.SetMulticastLoopback(true)
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()

	ifs := interfaces(ifaceNames)
	if len(ifs) == 0 && len(ifaceNames) == 0 {
		// A host with only loopback: a responder on this host still answers.
		if lo := interfaces([]string{"lo"}); len(lo) > 0 {
			ifs = lo
		}
	}
	if len(ifs) == 0 {
		return nil, errors.New("mdns: no interface to browse on")
	}
	var idb [2]byte
	rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])

	found := newFinds()
	query := func() {
		b, err := found.query(id)
		if err != nil {
			return
		}
		for i := range ifs {
			pc.WriteTo(b, &ipv4.ControlMessage{IfIndex: ifs[i].Index}, group)
		}
	}
	query()
	var buf [MaxPacket]byte
	var p packet
	wait := 250 * time.Millisecond
	next := time.Now().Add(wait)
	for {
		deadline := next
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		if ctx.Err() == nil {
			c.SetReadDeadline(deadline)
		}
		n, _, err := c.ReadFromUDP(buf[:])
		if ctx.Err() != nil {
			return found.gateways(), nil
		}
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return found.gateways(), err
			}
		}
		if n > 0 && parse(buf[:n], &p) == nil && p.response {
			found.add(&p)
		}
		if time.Now().After(next) {
			query()
			wait = min(2*wait, 4*time.Second)
			next = time.Now().Add(wait)
		}
	}
}

// finds is what the answers said so far.
type finds struct {
	instances map[string]bool // PTR targets, lower case
	srv       map[string]record
	txt       map[string][]string
	a         map[string][4]byte // host (lower case) → address
}

func newFinds() *finds {
	return &finds{instances: map[string]bool{}, srv: map[string]record{}, txt: map[string][]string{}, a: map[string][4]byte{}}
}

func (f *finds) add(p *packet) {
	for _, r := range p.records {
		name := strings.ToLower(r.name)
		switch r.typ {
		case dnsmessage.TypePTR:
			if name != serviceName || !strings.HasSuffix(strings.ToLower(r.target), "."+serviceName) {
				continue
			}
			t := strings.ToLower(r.target)
			if r.ttl == 0 {
				delete(f.instances, t)
			} else if len(f.instances) < maxGateways {
				f.instances[t] = true
			}
		case dnsmessage.TypeSRV:
			if len(f.srv) < maxGateways {
				f.srv[name] = r
			}
		case dnsmessage.TypeTXT:
			if len(f.txt) < maxGateways {
				f.txt[name] = append([]string(nil), r.txt...)
			}
		case dnsmessage.TypeA:
			if len(f.a) < maxGateways {
				f.a[name] = r.a
			}
		}
	}
}

// query builds the next query: the PTR question, and the SRV, TXT and A
// questions of what is still missing (at most maxQuestions in all).
func (f *finds) query(id uint16) ([]byte, error) {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id})
	b.EnableCompression()
	b.StartQuestions()
	q := func(name string, t dnsmessage.Type) error {
		n, err := dnsmessage.NewName(name)
		if err != nil {
			return err
		}
		return b.Question(dnsmessage.Question{Name: n, Type: t, Class: dnsmessage.ClassINET})
	}
	if err := q(serviceName, dnsmessage.TypePTR); err != nil {
		return nil, err
	}
	asked := 1
	for inst := range f.instances {
		if asked >= maxQuestions-2 {
			break
		}
		if _, ok := f.srv[inst]; !ok {
			q(inst, dnsmessage.TypeSRV)
			asked++
		} else if _, ok := f.a[strings.ToLower(f.srv[inst].target)]; !ok {
			q(f.srv[inst].target, dnsmessage.TypeA)
			asked++
		}
		if _, ok := f.txt[inst]; !ok {
			q(inst, dnsmessage.TypeTXT)
			asked++
		}
	}
	return b.Finish()
}

// gateways assembles what was found.
func (f *finds) gateways() []Gateway {
	var out []Gateway
	for inst := range f.instances {
		srv, ok := f.srv[inst]
		if !ok {
			continue
		}
		g := Gateway{
			Name: strings.TrimSuffix(inst, "."+serviceName),
			Host: strings.TrimSuffix(strings.TrimSuffix(srv.target, "."), ".local"),
			Port: int(srv.port),
			TXT:  map[string]string{},
		}
		// The instance label keeps its case in the SRV record's name.
		if n := strings.TrimSuffix(srv.name, "."+ServiceType+"."+domain); len(n) == len(g.Name) {
			g.Name = n
		}
		if a, ok := f.a[strings.ToLower(srv.target)]; ok {
			g.Address = netip.AddrPortFrom(netip.AddrFrom4(a), srv.port).String()
		}
		for _, kv := range f.txt[inst] {
			k, v, _ := strings.Cut(kv, "=")
			if k != "" {
				g.TXT[strings.ToLower(k)] = v
			}
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Devices is the TXT record's device count, -1 when it has none.
func (g Gateway) Devices() int {
	n, err := strconv.Atoi(g.TXT["devices"])
	if err != nil {
		return -1
	}
	return n
}

// Hostname is the default instance name: $NODE_NAME (what a DaemonSet
// sets from spec.nodeName), else the host name.
func Hostname() string {
	if n := os.Getenv("NODE_NAME"); n != "" {
		return n
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "tinymapper"
	}
	return h
}
