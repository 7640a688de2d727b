package mqtt

import (
	"errors"
	"fmt"
)

// The MQTT 3.1.1 packets a publisher needs (OASIS MQTT 3.1.1, section 2
// and 3). Control packet types, in the high nibble of the first byte.
const (
	typeConnect  = 1
	typeConnack  = 2
	typePublish  = 3
	typePuback   = 4
	typePubrec   = 5
	typePubrel   = 6
	typePubcomp  = 7
	typePingreq  = 12
	typePingresp = 13
	typeDisconn  = 14
)

var typeNames = [16]string{"reserved 0", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "reserved 15"}

// maxPublish bounds the remaining length of a PUBLISH we encode (topic,
// packet id, payload); the protocol's own limit is 268 435 455. Ours are
// a few hundred bytes: a topic of at most device.maxPushString and one
// JSON sample.
const maxPublish = 1 << 16

// appendLength appends MQTT's variable-length "remaining length".
func appendLength(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

func appendString(b []byte, s string) []byte {
	return append(append(b, byte(len(s)>>8), byte(len(s))), s...)
}

// appendConnect appends a CONNECT with a clean session. A password is sent
// only with a user name (3.1.1 forbids one alone; Open refuses that).
func appendConnect(b []byte, clientID, user, pass string, keepAlive uint16) []byte {
	flags := byte(0x02) // clean session
	n := 10 + 2 + len(clientID)
	if user != "" {
		flags |= 0x80
		n += 2 + len(user)
		if pass != "" {
			flags |= 0x40
			n += 2 + len(pass)
		}
	}
	b = append(b, typeConnect<<4)
	b = appendLength(b, n)
	b = appendString(b, "MQTT")
	b = append(b, 4, flags, byte(keepAlive>>8), byte(keepAlive)) // protocol level 4 = 3.1.1
	b = appendString(b, clientID)
	if user != "" {
		b = appendString(b, user)
		if pass != "" {
			b = appendString(b, pass)
		}
	}
	return b
}

// appendPublish appends one PUBLISH. id is ignored at QoS 0. The caller
// keeps the topic to 65 535 bytes and the packet within maxRemaining.
func appendPublish(b []byte, topic string, qos byte, retain bool, id uint16, payload []byte) []byte {
	h := byte(typePublish<<4) | qos<<1
	if retain {
		h |= 1
	}
	n := 2 + len(topic) + len(payload)
	if qos > 0 {
		n += 2
	}
	b = append(b, h)
	b = appendLength(b, n)
	b = appendString(b, topic)
	if qos > 0 {
		b = append(b, byte(id>>8), byte(id))
	}
	return append(b, payload...)
}

// appendPubrel appends a PUBREL (its fixed header flags are 0010), the
// only acknowledgement a publisher sends.
func appendPubrel(b []byte, id uint16) []byte {
	return append(b, typePubrel<<4|0x02, 2, byte(id>>8), byte(id))
}

// packet is one packet from the broker.
type packet struct {
	typ  byte   // typeConnack, typePuback, typePubrec, typePubcomp, typePingresp
	id   uint16 // PUBACK, PUBREC, PUBCOMP
	code byte   // CONNACK's return code
}

// errMalformed marks a packet from the broker that breaks the protocol;
// the connection is dropped.
var errMalformed = errors.New("malformed packet from the broker")

// parse decodes the packet at the start of b. It returns the packet and
// its length, or n == 0 and no error when b holds only part of one. A
// broker sends a publisher only CONNACK, PUBACK, PUBREC, PUBCOMP and
// PINGRESP, each with a fixed length of 2 (0 for PINGRESP): anything else,
// longer, or with reserved flags set is an error, told at once from the
// first bytes, so a hostile broker costs no memory.
func parse(b []byte) (p packet, n int, err error) {
	if len(b) < 2 {
		return p, 0, nil
	}
	p.typ = b[0] >> 4
	if b[0]&0x0f != 0 {
		return p, 0, fmt.Errorf("%w: %s with flags %#x (want 0)", errMalformed, typeNames[p.typ], b[0]&0x0f)
	}
	want := 2
	switch p.typ {
	case typeConnack, typePuback, typePubrec, typePubcomp:
	case typePingresp:
		want = 0
	default:
		return p, 0, fmt.Errorf("%w: unexpected %s (type %d) sent to a publisher", errMalformed, typeNames[p.typ], p.typ)
	}
	// The remaining length of these packets fits in one byte; a
	// continuation bit is a packet far too long.
	if rl := int(b[1]); rl != want {
		return p, 0, fmt.Errorf("%w: %s with remaining length %s (want %d)", errMalformed, typeNames[p.typ], lengthOf(b[1:]), want)
	}
	if len(b) < 2+want {
		return p, 0, nil
	}
	switch p.typ {
	case typeConnack:
		if b[2]&^1 != 0 {
			return p, 0, fmt.Errorf("%w: CONNACK with acknowledge flags %#x", errMalformed, b[2])
		}
		p.code = b[3]
	case typePuback, typePubrec, typePubcomp:
		p.id = uint16(b[2])<<8 | uint16(b[3])
		if p.id == 0 {
			return p, 0, fmt.Errorf("%w: %s for packet id 0", errMalformed, typeNames[p.typ])
		}
	}
	return p, 2 + want, nil
}

// lengthOf describes the remaining length at b for an error: its value
// when b holds it whole, else "over 127".
func lengthOf(b []byte) string {
	n, mul := 0, 1
	for i := 0; i < len(b) && i < 4; i++ {
		n += int(b[i]&0x7f) * mul
		if b[i]&0x80 == 0 {
			return fmt.Sprint(n)
		}
		mul *= 128
	}
	return "over 127"
}

// connackError is the meaning of a CONNACK return code (3.2.2.3), or nil
// for 0, accepted.
func connackError(code byte) error {
	switch code {
	case 0:
		return nil
	case 1:
		return errors.New("refused: unacceptable protocol version (the broker does not speak MQTT 3.1.1)")
	case 2:
		return errors.New("refused: client identifier rejected")
	case 3:
		return errors.New("refused: server unavailable")
	case 4:
		return errors.New("refused: bad user name or password")
	case 5:
		return errors.New("refused: not authorized (a wrong or missing user name or password?)")
	}
	return fmt.Errorf("%w: CONNACK return code %d", errMalformed, code)
}
