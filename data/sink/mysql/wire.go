package mysql

import (
	"bufio"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// The client side of the MySQL protocol that the sink needs: the
// handshake with mysql_native_password or caching_sha2_password's fast
// path, and COM_QUERY answered by OK or ERR. No TLS.

// maxPacket bounds a packet we read; OK, ERR and handshake packets are
// small.
const maxPacket = 1 << 20

// Capability flags we ask for.
const (
	capLongPassword     = 1 << 0
	capConnectWithDB    = 1 << 3
	capProtocol41       = 1 << 9
	capTransactions     = 1 << 13
	capSecureConnection = 1 << 15
	capPluginAuth       = 1 << 19
)

// ServerError is an ERR packet: the server refused a command.
type ServerError struct {
	Code    uint16
	State   string
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("Error %d (%s): %s", e.Code, e.State, e.Message)
}

type wire struct {
	conn net.Conn
	r    *bufio.Reader
	seq  byte
	out  []byte
}

// readPacket returns the next packet's payload (valid until the next read).
func (w *wire) readPacket() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(w.r, h[:]); err != nil {
		return nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	if n > maxPacket {
		return nil, fmt.Errorf("mysql: packet of %d bytes", n)
	}
	w.seq = h[3] + 1
	b, err := w.r.Peek(n)
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			b = make([]byte, n)
			_, err = io.ReadFull(w.r, b)
			return b, err
		}
		return nil, err
	}
	w.r.Discard(n)
	return b, nil
}

// writePacket sends w.out[4:] as one packet (w.out[:4] is room for the
// header).
func (w *wire) writePacket() error {
	n := len(w.out) - 4
	if n >= 1<<24-1 {
		return errors.New("mysql: statement too long")
	}
	w.out[0], w.out[1], w.out[2], w.out[3] = byte(n), byte(n>>8), byte(n>>16), w.seq
	w.seq++
	_, err := w.conn.Write(w.out)
	return err
}

// result reads the answer to a command: nil for OK, a *ServerError for ERR.
func (w *wire) result() error {
	p, err := w.readPacket()
	if err != nil {
		return err
	}
	return parseResult(p)
}

// parseResult reads an OK or ERR packet.
func parseResult(p []byte) error {
	if len(p) == 0 {
		return errors.New("mysql: empty packet")
	}
	switch p[0] {
	case 0x00, 0xfe:
		return nil
	case 0xff:
		return parseError(p)
	}
	return fmt.Errorf("mysql: unexpected packet 0x%02x where OK or ERR was due", p[0])
}

func parseError(p []byte) error {
	if len(p) < 3 {
		return errors.New("mysql: short ERR packet")
	}
	e := &ServerError{Code: binary.LittleEndian.Uint16(p[1:3])}
	msg := p[3:]
	if len(msg) >= 6 && msg[0] == '#' {
		e.State, msg = string(msg[1:6]), msg[6:]
	}
	if len(msg) > 300 {
		msg = msg[:300]
	}
	e.Message = string(msg)
	return e
}

// handshake is the server's first packet, as far as we need it.
type handshake struct {
	salt   []byte
	plugin string
}

// parseHandshake reads a Protocol::HandshakeV10 packet.
func parseHandshake(p []byte) (handshake, error) {
	var h handshake
	if len(p) > 0 && p[0] == 0xff {
		return h, parseError(p)
	}
	if len(p) < 1 || p[0] != 10 {
		return h, errors.New("mysql: not a protocol 10 handshake")
	}
	i := 1
	for i < len(p) && p[i] != 0 { // server version
		i++
	}
	i++ // NUL
	if i+4+8+1+2 > len(p) {
		return h, errors.New("mysql: short handshake")
	}
	i += 4 // connection id
	h.salt = append(h.salt, p[i:i+8]...)
	i += 8 + 1
	caps := uint32(binary.LittleEndian.Uint16(p[i:]))
	i += 2
	if i+1+2+2+1+10 > len(p) {
		return h, nil // a pre-4.1 server: only 8 bytes of salt
	}
	i += 1 + 2 // charset, status
	caps |= uint32(binary.LittleEndian.Uint16(p[i:])) << 16
	i += 2
	authLen := int(p[i])
	i += 1 + 10
	if caps&capSecureConnection != 0 {
		n := max(13, authLen-8)
		if i+n > len(p) {
			return h, errors.New("mysql: short handshake salt")
		}
		part := p[i : i+n]
		if part[len(part)-1] == 0 {
			part = part[:len(part)-1]
		}
		h.salt = append(h.salt, part...)
		i += n
	}
	if caps&capPluginAuth != 0 && i < len(p) {
		end := i
		for end < len(p) && p[end] != 0 {
			end++
		}
		h.plugin = string(p[i:end])
	}
	return h, nil
}

// scramble answers the server's salt for plugin; ok is false for a plugin
// we do not speak.
func scramble(plugin string, salt []byte, password string) (out []byte, ok bool) {
	if password == "" {
		return nil, plugin == "mysql_native_password" || plugin == "caching_sha2_password" || plugin == ""
	}
	switch plugin {
	case "mysql_native_password", "":
		// SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw)))
		if len(salt) > 20 {
			salt = salt[:20]
		}
		h1 := sha1.Sum([]byte(password))
		h2 := sha1.Sum(h1[:])
		s := sha1.New()
		s.Write(salt)
		s.Write(h2[:])
		h3 := s.Sum(nil)
		for i := range h3 {
			h3[i] ^= h1[i]
		}
		return h3, true
	case "caching_sha2_password":
		// SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + salt)
		if len(salt) > 20 {
			salt = salt[:20]
		}
		h1 := sha256.Sum256([]byte(password))
		h2 := sha256.Sum256(h1[:])
		s := sha256.New()
		s.Write(h2[:])
		s.Write(salt)
		h3 := s.Sum(nil)
		for i := range h3 {
			h3[i] ^= h1[i]
		}
		return h3, true
	}
	return nil, false
}

// login answers the handshake as user with password, into database.
func (w *wire) login(user, password, database string) error {
	p, err := w.readPacket()
	if err != nil {
		return err
	}
	h, err := parseHandshake(p)
	if err != nil {
		return err
	}
	plugin := h.plugin
	auth, ok := scramble(plugin, h.salt, password)
	if !ok {
		plugin = "mysql_native_password" // ask to switch
		auth, _ = scramble(plugin, h.salt, password)
	}
	w.out = append(w.out[:0], 0, 0, 0, 0)
	w.out = binary.LittleEndian.AppendUint32(w.out, capLongPassword|capConnectWithDB|capProtocol41|capTransactions|capSecureConnection|capPluginAuth)
	w.out = binary.LittleEndian.AppendUint32(w.out, maxPacket)
	w.out = append(w.out, 45) // utf8mb4_general_ci
	w.out = append(w.out, make([]byte, 23)...)
	w.out = append(append(w.out, user...), 0)
	w.out = append(append(w.out, byte(len(auth))), auth...)
	w.out = append(append(w.out, database...), 0)
	w.out = append(append(w.out, plugin...), 0)
	err = w.writePacket()
	clear(w.out) // the scramble
	if err != nil {
		return err
	}
	for range 4 {
		p, err := w.readPacket()
		if err != nil {
			return err
		}
		switch {
		case len(p) == 0:
			return errors.New("mysql: empty packet in the login")
		case p[0] == 0x00:
			return nil
		case p[0] == 0xff:
			return parseError(p)
		case p[0] == 0xfe: // switch plugin: name NUL salt
			end := 1
			for end < len(p) && p[end] != 0 {
				end++
			}
			plugin = string(p[1:end])
			var salt []byte
			if end+1 < len(p) {
				salt = p[end+1:]
				if salt[len(salt)-1] == 0 {
					salt = salt[:len(salt)-1]
				}
			}
			auth, ok := scramble(plugin, salt, password)
			if !ok {
				return fmt.Errorf("mysql: the server wants authentication plugin %q; this sink speaks mysql_native_password and caching_sha2_password (fast path)", cut(plugin))
			}
			w.out = append(append(w.out[:0], 0, 0, 0, 0), auth...)
			if err := w.writePacket(); err != nil {
				return err
			}
		case p[0] == 0x01 && len(p) == 2 && p[1] == 3: // caching_sha2 fast auth: OK follows
		case p[0] == 0x01 && len(p) == 2 && p[1] == 4:
			return errors.New("mysql: caching_sha2_password wants full authentication, which needs TLS (not supported): log in once with the mysql client to fill the server's cache, or give the user mysql_native_password")
		default:
			return fmt.Errorf("mysql: unexpected packet 0x%02x in the login", p[0])
		}
	}
	return errors.New("mysql: login did not end")
}

// query runs one statement that returns no rows.
func (w *wire) query(q []byte) error {
	w.seq = 0
	w.out = append(append(w.out[:0], 0, 0, 0, 0, 0x03), q...)
	if err := w.writePacket(); err != nil {
		return err
	}
	return w.result()
}

func cut(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
