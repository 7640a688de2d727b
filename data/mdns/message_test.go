package mdns

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func testZone() *zone {
	return newZone("gw-1", "gw-1", 7777, Info{Version: "v1", Board: "sim", Protocols: []string{"i2c", "spi"}, APIPath: "/api/v1"}.txt(3))
}

func TestZoneAnswersWhatIsAsked(t *testing.T) {
	z := testZone()
	for _, tc := range []struct {
		name             string
		qs               []question
		answer, addition kinds
	}{
		{"browse: PTR with SRV, TXT and A added", []question{{name: serviceName, typ: dnsmessage.TypePTR}}, kindPTR, kindSRV | kindTXT | kindA},
		{"service type enumeration", []question{{name: servicesName, typ: dnsmessage.TypePTR}}, kindServices, 0},
		{"resolve: SRV with A added", []question{{name: "gw-1._tinymapper._tcp.local.", typ: dnsmessage.TypeSRV}}, kindSRV, kindA},
		{"TXT alone", []question{{name: "gw-1._tinymapper._tcp.local.", typ: dnsmessage.TypeTXT}}, kindTXT, 0},
		{"ANY on the instance", []question{{name: "gw-1._tinymapper._tcp.local.", typ: dnsmessage.TypeALL}}, kindSRV | kindTXT, kindA},
		{"the host's A", []question{{name: "gw-1.local.", typ: dnsmessage.TypeA}}, kindA, 0},
		{"added records already answered are not repeated", []question{{name: serviceName, typ: dnsmessage.TypePTR}, {name: "gw-1.local.", typ: dnsmessage.TypeA}}, kindPTR | kindA, kindSRV | kindTXT},
		{"another service", []question{{name: "_http._tcp.local.", typ: dnsmessage.TypePTR}}, 0, 0},
		{"another instance", []question{{name: "gw-2._tinymapper._tcp.local.", typ: dnsmessage.TypeSRV}}, 0, 0},
		{"AAAA is not ours", []question{{name: "gw-1.local.", typ: dnsmessage.TypeAAAA}}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, add := z.answer(tc.qs)
			if a != tc.answer || add != tc.addition {
				t.Errorf("answer %05b additional %05b, want %05b %05b", a, add, tc.answer, tc.addition)
			}
		})
	}
}

func TestPackedRecordsParseBack(t *testing.T) {
	z := testZone()
	ip := [4]byte{192, 0, 2, 1}
	for _, tc := range []struct {
		name     string
		mode     ttlMode
		set      kinds
		wantTTL  map[dnsmessage.Type]uint32
		wantQs   int
		wantID   uint16
		wantName string
	}{
		{"announcement", ttlNormal, kindsAll, map[dnsmessage.Type]uint32{dnsmessage.TypePTR: otherTTL, dnsmessage.TypeSRV: hostTTL, dnsmessage.TypeTXT: otherTTL, dnsmessage.TypeA: hostTTL}, 0, 0, ""},
		{"goodbye", ttlGoodbye, kindsService, map[dnsmessage.Type]uint32{dnsmessage.TypePTR: 0, dnsmessage.TypeSRV: 0, dnsmessage.TypeTXT: 0}, 0, 0, ""},
		{"legacy unicast echoes the id and question, TTL ≤ 10", ttlLegacy, kindPTR | kindSRV, map[dnsmessage.Type]uint32{dnsmessage.TypePTR: legacyTTL, dnsmessage.TypeSRV: legacyTTL}, 1, 0x1234, serviceName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf [MaxPacket]byte
			qs := []question{{name: serviceName, typ: dnsmessage.TypePTR}}
			b, err := z.pack(buf[:], tc.set, 0, ip, tc.mode, 0x1234, qs)
			if err != nil {
				t.Fatal(err)
			}
			var p packet
			if err := parse(b, &p); err != nil {
				t.Fatal(err)
			}
			if !p.response || p.id != tc.wantID || len(p.questions) != tc.wantQs {
				t.Fatalf("response %v id %#x questions %d", p.response, p.id, len(p.questions))
			}
			got := map[dnsmessage.Type]uint32{}
			for _, r := range p.records {
				got[r.typ] = r.ttl
				switch r.typ {
				case dnsmessage.TypeSRV:
					if r.target != "gw-1.local." || r.port != 7777 {
						t.Errorf("SRV %s:%d", r.target, r.port)
					}
				case dnsmessage.TypeA:
					if r.a != ip {
						t.Errorf("A %v", r.a)
					}
				case dnsmessage.TypeTXT:
					if !slices.Contains(r.txt, "devices=3") || !slices.Contains(r.txt, "protocols=i2c,spi") {
						t.Errorf("TXT %q", r.txt)
					}
				}
			}
			if len(got) != len(tc.wantTTL) {
				t.Errorf("record types %v, want %v", got, tc.wantTTL)
			}
			for typ, ttl := range tc.wantTTL {
				if got[typ] != ttl {
					t.Errorf("%v TTL %d, want %d", typ, got[typ], ttl)
				}
			}
		})
	}
}

// hostile returns packets a parser must refuse without trouble.
func hostile() map[string][]byte {
	hdr := func(qd, an uint16, resp bool) []byte {
		b := make([]byte, 12)
		if resp {
			b[2] = 0x84
		}
		binary.BigEndian.PutUint16(b[4:], qd)
		binary.BigEndian.PutUint16(b[6:], an)
		return b
	}
	// A name that points at itself.
	loop := append(hdr(1, 0, false), 0xC0, 12, 0, 12, 0, 1)
	// Two names pointing at each other.
	pingpong := append(hdr(2, 0, false), 0xC0, 18, 0, 12, 0, 1, 0xC0, 12, 0, 12, 0, 1)
	// A label longer than the packet.
	truncated := append(hdr(1, 0, false), 60, 'a', 'b')
	// More questions than allowed, each a valid root question.
	many := hdr(maxQuestions+1, 0, false)
	for range maxQuestions + 1 {
		many = append(many, 0, 0, 12, 0, 1)
	}
	// A TXT record whose length says 60000 bytes.
	hugeTXT := append(hdr(0, 1, true), 0, 0, 16, 0, 1, 0, 0, 0, 10, 0xEA, 0x60, 5, 'a', '=', 'b', 'c', 'd')
	// A count of 65535 answers with none there.
	lying := hdr(0, 0xFFFF, true)
	// A name of 300 bytes in 5 labels of 60.
	long := hdr(1, 0, false)
	for range 5 {
		long = append(long, 60)
		long = append(long, bytes.Repeat([]byte{'x'}, 60)...)
	}
	long = append(long, 0, 0, 12, 0, 1)
	return map[string][]byte{
		"empty": nil, "short header": {0, 1, 2}, "compression loop": loop, "pointer ping-pong": pingpong,
		"truncated label": truncated, "too many questions": many, "huge TXT": hugeTXT, "lying count": lying,
		"name too long": long, "oversized": make([]byte, MaxPacket+1),
	}
}

func TestParseRefusesHostilePackets(t *testing.T) {
	for name, b := range hostile() {
		t.Run(name, func(t *testing.T) {
			var p packet
			if err := parse(b, &p); err == nil {
				t.Errorf("parsed: %+v", p)
			}
			if len(p.questions) > maxQuestions || len(p.records) > maxRecords {
				t.Errorf("kept %d questions, %d records", len(p.questions), len(p.records))
			}
		})
	}
}

// TestAQueryWithManyKnownAnswersIsStillAnswered: past maxRecords, a
// query's known answers are dropped, not the query.
func TestAQueryWithManyKnownAnswersIsStillAnswered(t *testing.T) {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(serviceName), Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET})
	b.StartAnswers()
	for i := range maxRecords + 10 {
		h := dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(serviceName), Class: dnsmessage.ClassINET, TTL: otherTTL}
		b.PTRResource(h, dnsmessage.PTRResource{PTR: dnsmessage.MustNewName(fmt.Sprintf("gw-%d.%s", i, serviceName))})
	}
	q, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	var p packet
	if err := parse(q, &p); err != nil || len(p.questions) != 1 || len(p.records) != maxRecords {
		t.Errorf("parse: %v, %d questions, %d records", err, len(p.questions), len(p.records))
	}
}

func TestLabelsAreMadeSafe(t *testing.T) {
	for _, tc := range []struct{ in, instance, host string }{
		{"gw-1", "gw-1", "gw-1"},
		{"node.example.com", "node-example-com", "node"},
		{"Plant Floor 2", "Plant Floor 2", "Plant-Floor-2"},
		{strings.Repeat("a", 80), strings.Repeat("a", 63), strings.Repeat("a", 63)},
		{"", "", "tinymapper"},
	} {
		if got := instanceLabel(tc.in); got != tc.instance {
			t.Errorf("instanceLabel(%q) = %q, want %q", tc.in, got, tc.instance)
		}
		if got := hostLabel(tc.in); got != tc.host {
			t.Errorf("hostLabel(%q) = %q, want %q", tc.in, got, tc.host)
		}
	}
}

// FuzzParse: no input crashes the parser, and what it keeps stays within
// its limits. The seeds are in testdata/fuzz/FuzzParse (real queries and
// answers, and the hostile packets above).
func FuzzParse(f *testing.F) {
	z := testZone()
	var buf [MaxPacket]byte
	if b, err := z.pack(buf[:], kindsAll, 0, [4]byte{192, 0, 2, 1}, ttlNormal, 0, nil); err == nil {
		f.Add(bytes.Clone(b))
	}
	if b, err := newFinds().query(7); err == nil {
		f.Add(b)
	}
	if b, err := z.probe(buf[:], [4]byte{192, 0, 2, 1}); err == nil {
		f.Add(bytes.Clone(b))
	}
	for _, b := range hostile() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p packet
		err := parse(b, &p)
		if len(p.questions) > maxQuestions || len(p.records) > maxRecords {
			t.Fatalf("kept %d questions, %d records", len(p.questions), len(p.records))
		}
		if err != nil {
			return
		}
		for _, r := range p.records {
			if len(r.txt) > maxTXTStrings {
				t.Fatalf("TXT of %d strings", len(r.txt))
			}
		}
		// What parses can be judged and answered without trouble.
		// (A reply that does not fit is an error, not a crash.)
		z.judge(&p, [4]byte{192, 0, 2, 1}, func([4]byte) bool { return false })
		z.known(&p, [4]byte{192, 0, 2, 1})
		a, add := z.answer(p.questions)
		z.pack(buf[:], a, add, [4]byte{}, ttlLegacy, p.id, p.questions)
	})
}
