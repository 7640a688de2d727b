package mdns

// Probing and conflict resolution (RFC 6762 §8 and §9).
//
// Gateways flashed in a batch often share one host name. Before its
// records are answered or announced, an Advertiser probes for its two
// unique names, the instance ("name._tinymapper._tcp.local.": SRV and TXT)
// and the host ("name.local.": A): three queries 250 ms apart asking for
// them (QU, ANY), with the records it proposes in the authority section.
// Another host that answers with other data owns the name: the instance
// becomes "name (2)", "name (3)"..., the host "name-2", "name-3"... (as
// avahi and Bonjour do), and probing starts again. Two hosts probing at
// once compare their proposed records (§8.2): the lexicographically later
// set wins, the other waits a second and probes again, when the winner
// answers it. After the names are claimed, a response with other data for
// them (§9) sends the Advertiser back to probing, under the same names.
//
// Bounds (§8.1): after 15 conflicts, each within 10 s of the one before (as
// mDNSResponder counts them), each further probe round waits 5 s, until
// 10 s pass without one; after maxRename renames a name stays as it is.

import (
	"bytes"
	"cmp"
	"context"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	probes         = 3
	probeInterval  = 250 * time.Millisecond
	tieDefer       = time.Second // §8.2: the loser of a tie-break waits, then probes again
	conflictBurst  = 15
	conflictWindow = 10 * time.Second
	conflictWait   = 5 * time.Second
	// maxRename bounds the suffix: a network that contradicts every name
	// does not make the Advertiser count without end.
	maxRename = 64
)

// clash is what a received packet says against our unique records.
type clash uint8

const (
	clashHost     clash = 1 << iota // another address for our host name
	clashInstance                   // another SRV for our instance name
	clashTieLost                    // a simultaneous probe for our names, with later data (§8.2)
)

// clashEvent is a clash against zone z; the loop ignores it once z is no
// longer the current zone.
type clashEvent struct {
	z *zone
	c clash
}

// wire is what the Advertiser's loop sends through: the mDNS socket, or a
// test's fake network.
type wire interface {
	// scan returns the interfaces to advertise on now, and the indexes of
	// those that are new or whose address changed.
	scan() (map[int]ifaceAddr, []int)
	send(idx int, b []byte)
}

// names are the labels in use: the bases, or renamed ("name (2)", "name-2").
type names struct {
	instance, host string // base labels
	ni, nh         int    // 1: the base
}

func (n names) instanceName() string {
	if n.ni <= 1 {
		return n.instance
	}
	suffix := " (" + strconv.Itoa(n.ni) + ")"
	base := n.instance
	for len(base)+len(suffix) > 63 {
		base = base[:len(base)-1]
	}
	return strings.ToValidUTF8(base, "") + suffix
}

func (n names) hostName() string {
	if n.nh <= 1 {
		return n.host
	}
	suffix := "-" + strconv.Itoa(n.nh)
	base := n.host
	if len(base)+len(suffix) > 63 {
		base = strings.TrimRight(base[:63-len(suffix)], "-")
	}
	return base + suffix
}

// prober is the probing state the loop keeps.
type prober struct {
	names
	sent      int       // probes sent in this round
	conflicts int       // in a row, each within conflictWindow of the one before
	lastAt    time.Time // the last conflict
	capped    bool      // warned that maxRename is reached
}

// conflict notes a conflict at now and returns the least wait before the
// next probe: conflictWait from the conflictBurst-th conflict in a row.
func (p *prober) conflict(now time.Time) time.Duration {
	if now.Sub(p.lastAt) >= conflictWindow {
		p.conflicts = 0
	}
	p.conflicts = min(p.conflicts+1, conflictBurst)
	p.lastAt = now
	if p.conflicts >= conflictBurst {
		return conflictWait
	}
	return 0
}

// jitter is the random wait before a round's first probe (§8.1: 0–250 ms).
func jitter() time.Duration { return rand.N(probeInterval) }

// loop probes, announces, follows interfaces and the device count, and
// renames on conflicts, until ctx ends; then it sends the goodbyes.
func (a *Advertiser) loop(ctx context.Context, w wire, log *slog.Logger) {
	host := a.Info.Host
	if host == "" {
		host = a.Info.Instance
	}
	pr := prober{names: names{instance: instanceLabel(a.Info.Instance), host: hostLabel(host), ni: 1, nh: 1}}
	n, gen := a.count()
	setZone := func(claimed bool) {
		z := newZone(pr.instanceName(), pr.hostName(), uint16(a.Info.Port), a.Info.txt(n))
		z.claimed = claimed
		a.zone.Store(z)
	}
	setZone(false)

	rescan := a.Rescan
	if rescan <= 0 {
		rescan = 2 * time.Second
	}
	tick := time.NewTicker(rescan)
	defer tick.Stop()
	announce := time.NewTimer(time.Hour)
	announce.Stop()
	defer announce.Stop()
	probe := time.NewTimer(jitter())
	defer probe.Stop()
	probing := true // probe is armed
	restart := func(d time.Duration) {
		pr.sent = 0
		probe.Reset(d)
		probing = true
	}

	var buf [MaxPacket]byte
	ifs := map[int]ifaceAddr{}
	warned := false
	// repeat is the set of interfaces whose announcement is due again a
	// second later: RFC 6762 §8.3 asks for at least two.
	repeat := map[int]bool{}
	send := func(idx int, ia ifaceAddr, set kinds, mode ttlMode) {
		b, err := a.zone.Load().pack(buf[:], set, 0, ia.ip, mode, 0, nil)
		if err != nil {
			log.Debug("mdns: pack", "err", err)
			return
		}
		w.send(idx, b)
	}
	// pending marks the interfaces that appeared after the names were
	// claimed: they are probed on alone, then announced on.
	// serve reads the stored map: a change stores a copy.
	setPending := func(idx []int, on bool) {
		m := maps.Clone(ifs)
		for _, i := range idx {
			if ia, ok := m[i]; ok {
				ia.pending = on
				m[i] = ia
			}
		}
		ifs = m
		a.ifaces.Store(&m)
	}
	update := func() {
		old := ifs
		now, changed := w.scan()
		for idx, ia := range now {
			ia.pending = old[idx].pending && old[idx].ip == ia.ip
			now[idx] = ia
		}
		ifs = now
		a.ifaces.Store(&now)
		if len(now) == 0 && !warned {
			log.Warn("mdns: no interface to advertise on yet (up, multicast, IPv4, not loopback)", "interfaces", strings.Join(a.Interfaces, ","))
		}
		warned = len(now) == 0
		if !a.zone.Load().claimed {
			if !probing && len(now) > 0 {
				restart(jitter()) // probing waited for an interface
			}
			return
		}
		// A new interface is probed on before it is answered on; one whose
		// address changed is announced at once.
		var fresh []int
		for _, idx := range changed {
			if _, had := old[idx]; !had {
				fresh = append(fresh, idx)
				continue
			}
			send(idx, now[idx], kindsAll, ttlNormal)
			repeat[idx] = true
			announce.Reset(time.Second)
		}
		if len(fresh) > 0 {
			setPending(fresh, true)
			if !probing {
				restart(jitter())
			}
		}
	}
	update()
	for {
		select {
		case <-ctx.Done():
			if a.zone.Load().claimed {
				for idx, ia := range ifs {
					send(idx, ia, kindsService, ttlGoodbye)
				}
			}
			return
		case <-tick.C:
			if a.Devices != nil && a.Devices.Generation() != gen {
				var m int
				if m, gen = a.count(); m != n {
					n = m
					z := *a.zone.Load()
					z.txt = a.Info.txt(n)
					a.zone.Store(&z)
					if z.claimed {
						for idx, ia := range ifs {
							if ia.pending {
								continue // announced with the new TXT once probed on
							}
							send(idx, ia, kindTXT, ttlNormal)
							repeat[idx] = true
						}
						announce.Reset(time.Second)
					}
				}
			}
			update()
		case <-announce.C:
			if a.zone.Load().claimed {
				for idx := range repeat {
					if ia, ok := ifs[idx]; ok {
						send(idx, ia, kindsAll, ttlNormal)
					}
				}
			}
			clear(repeat)
		case <-probe.C:
			probing = false
			claimed := a.zone.Load().claimed
			var to []int // where this round probes: everywhere, or the pending interfaces
			for idx, ia := range ifs {
				if !claimed || ia.pending {
					to = append(to, idx)
				}
			}
			if len(to) == 0 {
				pr.sent = 0 // update starts again when an interface appears
				continue
			}
			if pr.sent < probes {
				z := a.zone.Load()
				for _, idx := range to {
					b, err := z.probe(buf[:], ifs[idx].ip)
					if err != nil {
						log.Debug("mdns: pack a probe", "err", err)
						continue
					}
					w.send(idx, b)
				}
				pr.sent++
				probe.Reset(probeInterval)
				probing = true
				continue
			}
			// Three probes and no answer: the names are ours (there too).
			pr.sent = 0
			if !claimed {
				setZone(true)
				log.Info("mdns: announcing", "instance", pr.instanceName(), "host", pr.hostName()+".local")
			}
			setPending(to, false)
			for _, idx := range to {
				send(idx, ifs[idx], kindsAll, ttlNormal)
				repeat[idx] = true
			}
			announce.Reset(time.Second)
		case ev := <-a.events:
			z := a.zone.Load()
			if ev.z != z {
				continue // about names or records since replaced
			}
			wait := max(pr.conflict(time.Now()), jitter())
			switch {
			case z.claimed:
				log.Info("mdns: another host answers for our names, probing again", "instance", pr.instanceName(), "host", pr.hostName()+".local")
			case ev.c&(clashHost|clashInstance) != 0:
				pr.rename(ev.c, log)
			default: // lost a tie-break
				wait = max(wait, tieDefer)
			}
			setZone(false)
			announce.Stop()
			clear(repeat)
			setPending(slices.Collect(maps.Keys(ifs)), false) // the next round probes everywhere
			restart(wait)
		}
	}
}

// rename takes the next name for what c clashed with.
func (p *prober) rename(c clash, log *slog.Logger) {
	if p.ni >= maxRename || p.nh >= maxRename {
		if !p.capped {
			log.Warn("mdns: names still taken after many renames; keeping them and probing again", "instance", p.instanceName(), "host", p.hostName()+".local")
		}
		p.capped = true
		return
	}
	if c&clashInstance != 0 {
		from := p.instanceName()
		p.ni++
		log.Info("mdns: instance name taken on the network, renamed", "from", from, "to", p.instanceName())
	}
	if c&clashHost != 0 {
		from := p.hostName()
		p.nh++
		log.Info("mdns: host name taken on the network, renamed", "from", from+".local", "to", p.hostName()+".local")
	}
}

// probe builds a probe (§8.1): QU questions of type ANY for the instance
// and host names, and the records proposed for them, with ip for the A
// record, in the authority section.
func (z *zone) probe(buf []byte, ip [4]byte) ([]byte, error) {
	b := dnsmessage.NewBuilder(buf[:0], dnsmessage.Header{})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	for _, s := range []string{z.instance, z.host} {
		n, err := dnsmessage.NewName(s)
		if err != nil {
			return nil, err
		}
		if err := b.Question(dnsmessage.Question{Name: n, Type: dnsmessage.TypeALL, Class: dnsmessage.ClassINET | unicastResponse}); err != nil {
			return nil, err
		}
	}
	if err := b.StartAuthorities(); err != nil {
		return nil, err
	}
	if err := z.add(&b, kindSRV|kindTXT|kindA, ip, ttlProbe); err != nil {
		return nil, err
	}
	return b.Finish()
}

// judge says what p, received on an interface where our A record holds ip,
// says against z's unique records. mine tells our own addresses: an A
// record with one of them is ours (looped back, or heard on another of our
// interfaces), never a conflict.
func (z *zone) judge(p *packet, ip [4]byte, mine func([4]byte) bool) (c clash) {
	inst, host := strings.ToLower(z.instance), strings.ToLower(z.host)
	if p.response {
		for _, r := range p.records {
			if r.ttl == 0 {
				continue // a goodbye claims nothing
			}
			switch strings.ToLower(r.name) {
			case host:
				if r.typ == dnsmessage.TypeA && !mine(r.a) {
					c |= clashHost
				}
			case inst:
				if r.typ == dnsmessage.TypeSRV && (!strings.EqualFold(r.target, z.host) || r.port != z.port) {
					c |= clashInstance
				}
			}
		}
		return c
	}
	if z.claimed {
		return 0 // a probe for names we hold is answered
	}
	var theirHost, theirInst [][]byte
	for _, r := range p.records {
		if r.sec != secAuthority {
			continue
		}
		switch strings.ToLower(r.name) {
		case host:
			if r.typ == dnsmessage.TypeA {
				if mine(r.a) {
					return 0 // our own probe
				}
				theirHost = append(theirHost, rdata(r.typ, r.a, "", 0, nil))
			}
		case inst:
			if r.typ == dnsmessage.TypeSRV || r.typ == dnsmessage.TypeTXT {
				theirInst = append(theirInst, rdata(r.typ, r.a, r.target, r.port, r.txt))
			}
		}
	}
	ourHost := [][]byte{rdata(dnsmessage.TypeA, ip, "", 0, nil)}
	ourInst := [][]byte{rdata(dnsmessage.TypeSRV, ip, z.host, z.port, nil), rdata(dnsmessage.TypeTXT, ip, "", 0, z.txt)}
	if len(theirHost) > 0 && compareSets(ourHost, theirHost) < 0 || len(theirInst) > 0 && compareSets(ourInst, theirInst) < 0 {
		c |= clashTieLost
	}
	return c
}

// rdata is a record's type and data as §8.2 compares them (the class is
// IN for all: the cache-flush bit does not count). SRV priority and weight
// are taken as 0, as everyone publishes them.
func rdata(typ dnsmessage.Type, a [4]byte, target string, port uint16, txt []string) []byte {
	b := []byte{byte(typ >> 8), byte(typ)}
	switch typ {
	case dnsmessage.TypeA:
		b = append(b, a[:]...)
	case dnsmessage.TypeSRV:
		b = append(b, 0, 0, 0, 0, byte(port>>8), byte(port))
		for l := range strings.SplitSeq(strings.TrimSuffix(strings.ToLower(target), "."), ".") {
			b = append(b, byte(len(l)))
			b = append(b, l...)
		}
		b = append(b, 0)
	case dnsmessage.TypeTXT:
		for _, s := range txt {
			b = append(b, byte(len(s)))
			b = append(b, s...)
		}
	}
	return b
}

// compareSets orders two sets of records as §8.2 does: each sorted, then
// compared record by record; a set that is a prefix of the other is earlier.
func compareSets(ours, theirs [][]byte) int {
	slices.SortFunc(ours, bytes.Compare)
	slices.SortFunc(theirs, bytes.Compare)
	for i := 0; i < len(ours) && i < len(theirs); i++ {
		if c := bytes.Compare(ours[i], theirs[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(ours), len(theirs))
}

// known returns our records that p, a query, lists as known answers with at
// least half their TTL left (§7.1): they are not sent again.
func (z *zone) known(p *packet, ip [4]byte) (k kinds) {
	for _, r := range p.records {
		if r.sec != secAnswer {
			continue
		}
		name := strings.ToLower(r.name)
		switch {
		case r.typ == dnsmessage.TypePTR && name == serviceName && strings.EqualFold(r.target, z.instance) && r.ttl >= otherTTL/2:
			k |= kindPTR
		case r.typ == dnsmessage.TypePTR && name == servicesName && strings.EqualFold(r.target, serviceName) && r.ttl >= otherTTL/2:
			k |= kindServices
		case r.typ == dnsmessage.TypeSRV && strings.EqualFold(name, z.instance) && strings.EqualFold(r.target, z.host) && r.port == z.port && r.ttl >= hostTTL/2:
			k |= kindSRV
		case r.typ == dnsmessage.TypeTXT && strings.EqualFold(name, z.instance) && slices.Equal(r.txt, z.txt) && r.ttl >= otherTTL/2:
			k |= kindTXT
		case r.typ == dnsmessage.TypeA && strings.EqualFold(name, z.host) && r.a == ip && r.ttl >= hostTTL/2:
			k |= kindA
		}
	}
	return k
}
