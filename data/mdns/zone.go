package mdns

import (
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// kinds is a set of the records an advertiser owns.
type kinds uint8

const (
	kindPTR      kinds = 1 << iota // _tinymapper._tcp.local. → instance
	kindSRV                        // instance → host:port
	kindTXT                        // instance → key=value
	kindA                          // host → the interface's IPv4 address
	kindServices                   // _services._dns-sd._udp.local. → _tinymapper._tcp.local.

	kindsAll     = kindPTR | kindSRV | kindTXT | kindA | kindServices
	kindsService = kindPTR | kindSRV | kindTXT | kindServices // what a goodbye withdraws
)

// ttlMode says how a packet's TTLs are set.
type ttlMode uint8

const (
	ttlNormal  ttlMode = iota // RFC 6762 §10
	ttlLegacy                 // capped at 10 s, no cache-flush bit (§6.7)
	ttlGoodbye                // 0: withdraw the records (§10.1)
	ttlProbe                  // a probe's proposed records: no cache-flush bit (§8.1)
)

// zone is what one advertiser answers for. It is immutable: a change builds
// a new one.
type zone struct {
	instance string // "<instance>._tinymapper._tcp.local."
	host     string // "<host>.local."
	port     uint16
	txt      []string
	// claimed: probing found no other owner of the instance and host
	// names, so the zone's records are answered (RFC 6762 §8).
	claimed bool
}

func newZone(instance, host string, port uint16, txt []string) *zone {
	return &zone{
		instance: instanceLabel(instance) + "." + serviceName,
		host:     hostLabel(host) + "." + domain,
		port:     port,
		txt:      txt,
	}
}

// answer returns the records that answer qs, and those to add as
// additional records (RFC 6763 §12).
func (z *zone) answer(qs []question) (answer, additional kinds) {
	any := func(q question, t dnsmessage.Type) bool { return q.typ == t || q.typ == dnsmessage.TypeALL }
	for _, q := range qs {
		switch q.name {
		case serviceName:
			if any(q, dnsmessage.TypePTR) {
				answer |= kindPTR
				additional |= kindSRV | kindTXT | kindA
			}
		case servicesName:
			if any(q, dnsmessage.TypePTR) {
				answer |= kindServices
			}
		case strings.ToLower(z.instance):
			if any(q, dnsmessage.TypeSRV) {
				answer |= kindSRV
				additional |= kindA
			}
			if any(q, dnsmessage.TypeTXT) {
				answer |= kindTXT
			}
		case strings.ToLower(z.host):
			if any(q, dnsmessage.TypeA) {
				answer |= kindA
			}
		}
	}
	return answer, additional &^ answer
}

// pack builds a response carrying the answer and additional records, the
// A record with ip. With ttlLegacy it echoes id and the questions qs.
func (z *zone) pack(buf []byte, answer, additional kinds, ip [4]byte, mode ttlMode, id uint16, qs []question) ([]byte, error) {
	h := dnsmessage.Header{Response: true, Authoritative: true}
	if mode == ttlLegacy {
		h.ID = id
	}
	b := dnsmessage.NewBuilder(buf[:0], h)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if mode == ttlLegacy {
		for _, q := range qs {
			n, err := dnsmessage.NewName(q.name)
			if err != nil {
				return nil, err
			}
			if err := b.Question(dnsmessage.Question{Name: n, Type: q.typ, Class: dnsmessage.ClassINET}); err != nil {
				return nil, err
			}
		}
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if err := z.add(&b, answer, ip, mode); err != nil {
		return nil, err
	}
	if err := b.StartAdditionals(); err != nil {
		return nil, err
	}
	if err := z.add(&b, additional, ip, mode); err != nil {
		return nil, err
	}
	return b.Finish()
}

// add appends the records of set to the current section of b.
func (z *zone) add(b *dnsmessage.Builder, set kinds, ip [4]byte, mode ttlMode) error {
	hdr := func(name string, ttl uint32, unique bool) (dnsmessage.ResourceHeader, error) {
		n, err := dnsmessage.NewName(name)
		class := dnsmessage.ClassINET
		switch mode {
		case ttlLegacy:
			ttl = min(ttl, legacyTTL)
		case ttlGoodbye:
			ttl = 0
		}
		if unique && mode != ttlLegacy && mode != ttlProbe {
			class |= cacheFlush
		}
		return dnsmessage.ResourceHeader{Name: n, Class: class, TTL: ttl}, err
	}
	name := func(s string) dnsmessage.Name { n, _ := dnsmessage.NewName(s); return n }
	if set&kindPTR != 0 {
		h, err := hdr(serviceName, otherTTL, false)
		if err == nil {
			err = b.PTRResource(h, dnsmessage.PTRResource{PTR: name(z.instance)})
		}
		if err != nil {
			return err
		}
	}
	if set&kindServices != 0 {
		h, err := hdr(servicesName, otherTTL, false)
		if err == nil {
			err = b.PTRResource(h, dnsmessage.PTRResource{PTR: name(serviceName)})
		}
		if err != nil {
			return err
		}
	}
	if set&kindSRV != 0 {
		h, err := hdr(z.instance, hostTTL, true)
		if err == nil {
			err = b.SRVResource(h, dnsmessage.SRVResource{Target: name(z.host), Port: z.port})
		}
		if err != nil {
			return err
		}
	}
	if set&kindTXT != 0 {
		h, err := hdr(z.instance, otherTTL, true)
		if err == nil {
			err = b.TXTResource(h, dnsmessage.TXTResource{TXT: z.txt})
		}
		if err != nil {
			return err
		}
	}
	if set&kindA != 0 {
		h, err := hdr(z.host, hostTTL, true)
		if err == nil {
			err = b.AResource(h, dnsmessage.AResource{A: ip})
		}
		if err != nil {
			return err
		}
	}
	return nil
}
