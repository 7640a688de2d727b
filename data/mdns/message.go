package mdns

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// Limits on what is read from the network. A packet is read into a buffer
// of MaxPacket bytes (RFC 6762 §17: 9000 bytes); what a packet says counts
// for nothing until these hold.
const (
	MaxPacket = 9000
	// maxQuestions and maxRecords bound the work one packet can ask for;
	// a real query asks a handful of questions, a real answer carries a
	// dozen records.
	maxQuestions = 32
	maxRecords   = 64
	// maxTXTStrings bounds the key=value strings kept from one TXT record.
	maxTXTStrings = 32
)

// ServiceType is the DNS-SD service tinymapper advertises and browses.
const ServiceType = "_tinymapper._tcp"

const (
	domain       = "local."
	serviceName  = ServiceType + "." + domain // _tinymapper._tcp.local.
	servicesName = "_services._dns-sd._udp." + domain
	// cacheFlush is the top bit of the class of a unique record in a
	// multicast response (RFC 6762 §10.2).
	cacheFlush = dnsmessage.Class(1 << 15)
	// unicastResponse is the top bit of a question's class: the querier
	// asks for a unicast answer (RFC 6762 §5.4).
	unicastResponse = dnsmessage.Class(1 << 15)
)

// TTLs (RFC 6762 §10): records naming a host 120 s, the others 75 min.
const (
	hostTTL  = 120
	otherTTL = 4500
	// legacyTTL caps the TTLs of an answer to a one-shot (legacy unicast)
	// querier (RFC 6762 §6.7).
	legacyTTL = 10
)

// question is one parsed question.
type question struct {
	name    string // lower case, with the trailing dot
	typ     dnsmessage.Type
	unicast bool
}

// record is one parsed resource record of the types DNS-SD uses. Other
// types are skipped.
type record struct {
	sec    section
	name   string // as received, with the trailing dot
	typ    dnsmessage.Type
	ttl    uint32
	target string   // PTR: the instance; SRV: the host
	port   uint16   // SRV
	txt    []string // TXT, at most maxTXTStrings
	a      [4]byte  // A
}

// section is where a record was in its packet.
type section uint8

const (
	secAnswer     section = iota // a response's answer, or a query's known answer (RFC 6762 §7.1)
	secAuthority                 // a probe's proposed record (RFC 6762 §8.2)
	secAdditional                // a response's additional record
)

// packet is one parsed mDNS message.
type packet struct {
	id        uint16
	response  bool
	questions []question
	records   []record // a response's answers and additional records; a query's known answers and proposed records
}

var (
	errTooManyQuestions = errors.New("mdns: too many questions")
	errTooManyRecords   = errors.New("mdns: too many records")
	errTooLong          = errors.New("mdns: packet longer than 9000 bytes")
)

// parse reads b into p, reusing p's slices. It never reads more than
// maxQuestions questions or maxRecords records: a response or a query
// asking more questions is refused as a whole; a query's records past
// maxRecords are dropped (it is still answered, perhaps with what the
// querier knew). A response's authority records and a query's additional
// records are skipped.
func parse(b []byte, p *packet) error {
	p.questions = p.questions[:0]
	p.records = p.records[:0]
	if len(b) > MaxPacket {
		return errTooLong
	}
	var ps dnsmessage.Parser
	h, err := ps.Start(b)
	if err != nil {
		return err
	}
	p.id, p.response = h.ID, h.Response
	if h.OpCode != 0 || h.RCode != dnsmessage.RCodeSuccess {
		return fmt.Errorf("mdns: opcode %d rcode %d", h.OpCode, h.RCode)
	}
	for {
		q, err := ps.Question()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return err
		}
		if len(p.questions) == maxQuestions {
			return errTooManyQuestions
		}
		p.questions = append(p.questions, question{
			name:    strings.ToLower(q.Name.String()),
			typ:     q.Type,
			unicast: q.Class&unicastResponse != 0,
		})
	}
	if !p.response {
		// Known answers, then a probe's proposed records.
		if err := parseSection(&ps, p, secAnswer, false); err != nil {
			return err
		}
		return parseSection(&ps, p, secAuthority, false)
	}
	if err := parseSection(&ps, p, secAnswer, true); err != nil {
		return err
	}
	if err := ps.SkipAllAuthorities(); err != nil {
		return err
	}
	return parseSection(&ps, p, secAdditional, true)
}

// parseSection reads the records of section sec. Past maxRecords, strict
// refuses the packet; otherwise the rest are skipped.
func parseSection(ps *dnsmessage.Parser, p *packet, sec section, strict bool) error {
	next, skip := (*dnsmessage.Parser).AdditionalHeader, (*dnsmessage.Parser).SkipAdditional
	switch sec {
	case secAnswer:
		next, skip = (*dnsmessage.Parser).AnswerHeader, (*dnsmessage.Parser).SkipAnswer
	case secAuthority:
		next, skip = (*dnsmessage.Parser).AuthorityHeader, (*dnsmessage.Parser).SkipAuthority
	}
	for {
		h, err := next(ps)
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(p.records) == maxRecords {
			if strict {
				return errTooManyRecords
			}
			if err := skip(ps); err != nil {
				return err
			}
			continue
		}
		r := record{sec: sec, name: h.Name.String(), typ: h.Type, ttl: h.TTL}
		switch h.Type {
		case dnsmessage.TypePTR:
			v, err := ps.PTRResource()
			if err != nil {
				return err
			}
			r.target = v.PTR.String()
		case dnsmessage.TypeSRV:
			v, err := ps.SRVResource()
			if err != nil {
				return err
			}
			r.target, r.port = v.Target.String(), v.Port
		case dnsmessage.TypeTXT:
			v, err := ps.TXTResource()
			if err != nil {
				return err
			}
			r.txt = v.TXT[:min(len(v.TXT), maxTXTStrings)]
		case dnsmessage.TypeA:
			v, err := ps.AResource()
			if err != nil {
				return err
			}
			r.a = v.A
		default:
			if err := skip(ps); err != nil {
				return err
			}
			continue
		}
		p.records = append(p.records, r)
	}
}

// instanceLabel makes s one DNS label: dots and control characters become
// '-', and it is cut to 63 bytes (RFC 6763 §4.1.1 allows any UTF-8, but a
// dot would split the label here and in many clients).
func instanceLabel(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '.' || r < 0x20 || r == 0x7f {
			return '-'
		}
		return r
	}, strings.TrimSpace(s))
	for len(s) > 63 {
		s = s[:len(s)-1]
	}
	return strings.ToValidUTF8(s, "")
}

// hostLabel makes s a host name label: letters, digits and '-', at most 63.
func hostLabel(s string) string {
	s, _, _ = strings.Cut(s, ".")
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			return r
		}
		return '-'
	}, s)
	s = strings.Trim(s, "-")
	if len(s) > 63 {
		s = s[:63]
	}
	if s == "" {
		s = "tinymapper"
	}
	return s
}
