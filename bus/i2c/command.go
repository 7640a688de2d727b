package i2c

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/hal"
)

// Command properties: parts without registers (Sensirion SHT3x/SHT4x, HTU21D,
// SHT2x, Si70xx) are read by writing a command of one to four bytes and
// reading a reply, in which the value sits at byte rxStart and each 16-bit
// word may be followed by a CRC-8. The keys (see the package comment) are
// command, readLength, delayMs, rxStart and crc8; they replace register.

// maxCommand is the most bytes a command holds; maxDelay bounds delayMs.
const (
	maxCommand = 4
	maxDelay   = 500 * time.Millisecond
)

// crcKind is the CRC-8 that follows each 16-bit word of a reply.
type crcKind uint8

const (
	crcNone crcKind = iota
	crcSensirion
	crcHTU21D
)

// crcNames are the crc8 key's values, by crcKind.
var crcNames = [...]string{crcNone: "none", crcSensirion: "sensirion", crcHTU21D: "htu21d"}

// crcInit is each kind's initial value; all use the polynomial x⁸+x⁵+x⁴+1 (0x31).
var crcInit = [...]byte{crcSensirion: 0xFF, crcHTU21D: 0x00}

// SensirionCRC is the CRC-8 Sensirion parts (SHT3x, SHT4x) send after each
// 16-bit word: polynomial 0x31, initial value 0xFF.
func SensirionCRC(word []byte) byte { return crc8(crcInit[crcSensirion], word) }

// crc8 is the CRC-8 (polynomial 0x31, MSB first, no final XOR) of b from init.
func crc8(init byte, b []byte) byte {
	crc := init
	for _, x := range b {
		crc ^= x
		for range 8 {
			if crc&0x80 != 0 {
				crc = crc<<1 ^ 0x31
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// command is what a command property sends and reads. Two properties with
// equal commands (an SHT3x's temperature and humidity) share one exchange
// when they are due together.
type command struct {
	bytes    [maxCommand]byte
	n        uint8
	split    bool          // delayMs given: write, wait, then read in a second transaction
	delay    time.Duration // the wait when split
	readLen  uint8
	crc      crcKind
	hasValue bool // the point is a command point
}

// parseCommand reads the command keys of c but rxStart and readLength. It
// returns the zero command when c has no command key.
func parseCommand(c bus.Config) (command, error) {
	var k command
	if !c.Has("command") {
		for _, key := range []string{"readLength", "delayMs", "rxStart", "crc8"} {
			if c.Has(key) {
				return k, c.Errorf(key, "applies only with command (a register is read from its first byte)")
			}
		}
		return k, nil
	}
	if c.Has("register") {
		return k, c.Errorf("command", "and register are both set: a property is read by one of them")
	}
	b, err := commandBytes(c)
	if err != nil {
		return k, err
	}
	k.n = uint8(copy(k.bytes[:], b))
	k.hasValue = true
	if c.Has("delayMs") {
		ms, err := c.Int("delayMs", 0, 0, maxDelay.Milliseconds())
		if err != nil {
			return k, err
		}
		k.split, k.delay = true, time.Duration(ms)*time.Millisecond
	}
	name, err := c.OneOf("crc8", "none", crcNames[:]...)
	if err != nil {
		return k, err
	}
	for i, n := range crcNames {
		if n == name {
			k.crc = crcKind(i)
		}
	}
	return k, nil
}

// commandBytes reads the command key: a string of hex digits with 0x
// ("0x2400", whose digits give the width: "0x00F3" is two bytes), or a
// number, sent in as few bytes as hold it, most significant first.
func commandBytes(c bus.Config) ([]byte, error) {
	v := c.Values["command"]
	if v.Kind == bus.String {
		s := strings.TrimSpace(v.Str)
		hex, ok := strings.CutPrefix(strings.ToLower(s), "0x")
		if !ok || len(hex) == 0 || len(hex)%2 != 0 || len(hex) > 2*maxCommand {
			return nil, c.Errorf("command", "%q is not 1 to %d bytes in hex, such as \"0x2400\" or \"0xF3\"", s, maxCommand)
		}
		n, err := strconv.ParseUint(hex, 16, 32)
		if err != nil {
			return nil, c.Errorf("command", "%q is not 1 to %d bytes in hex, such as \"0x2400\" or \"0xF3\"", s, maxCommand)
		}
		b := make([]byte, len(hex)/2)
		for i := range b {
			b[i] = byte(n >> (8 * (len(b) - 1 - i)))
		}
		return b, nil
	}
	n, err := c.Int("command", 0, 0, 1<<(8*maxCommand)-1)
	if err != nil {
		return nil, err
	}
	width := 1
	for n>>(8*width) != 0 {
		width++
	}
	b := make([]byte, width)
	for i := range b {
		b[i] = byte(n >> (8 * (width - 1 - i)))
	}
	return b, nil
}

// reply checks readLength and rxStart against a value of size bytes and
// returns the offset of the value and the length of the reply.
func (k *command) reply(c bus.Config, size int) (int, error) {
	rx, err := c.Int("rxStart", 0, 0, maxSpan-1)
	if err != nil {
		return 0, err
	}
	def := int(rx) + size
	if k.crc != crcNone {
		if int(rx)%3+size > 2 {
			return 0, c.Errorf("rxStart", "%d: the %d bytes of the value would cross a CRC byte (with crc8 a reply is 16-bit words, each followed by its CRC: values start at 0, 3, 6…)", rx, size)
		}
		def = (int(rx)/3 + 1) * 3
	}
	n, err := c.Int("readLength", int64(def), 1, maxSpan)
	if err != nil {
		return 0, err
	}
	switch {
	case int(n) < int(rx)+size:
		return 0, c.Errorf("readLength", "%d is too short for the %d bytes of the value from byte %d", n, size, rx)
	case k.crc != crcNone && n%3 != 0:
		return 0, c.Errorf("readLength", "%d is not a whole number of words with their CRC (3 bytes each)", n)
	}
	k.readLen = uint8(n)
	return int(rx), nil
}

// exchange sends the command and reads the reply into r, checking its CRCs.
// It does not allocate unless it fails.
func (k *command) exchange(h *hal.I2C, addr uint16, r []byte) error {
	cmd := k.bytes[:k.n]
	if !k.split {
		if err := h.Tx(addr, cmd, r); err != nil {
			return err
		}
	} else {
		if err := h.Tx(addr, cmd, nil); err != nil {
			return err
		}
		if k.delay > 0 {
			// The bus worker owns the bus: the conversion time delays the
			// other devices on this bus, as it would any driver's.
			time.Sleep(k.delay)
		}
		if err := h.Tx(addr, nil, r); err != nil {
			return fmt.Errorf("read %d bytes after %v: %w", len(r), k.delay, err)
		}
	}
	if k.crc == crcNone {
		return nil
	}
	for i := 0; i+3 <= len(r); i += 3 {
		if got := crc8(crcInit[k.crc], r[i:i+2]); got != r[i+2] {
			return fmt.Errorf("crc8 (%s) of the word at byte %d (0x%02X%02X) is 0x%02X, the part sent 0x%02X",
				crcNames[k.crc], i, r[i], r[i+1], got, r[i+2])
		}
	}
	return nil
}

// same reports whether k and o send the same command and read the same reply.
func (k *command) same(o *command) bool { return *k == *o }

// String is the command in hex, such as 0x2400, for errors.
func (k *command) String() string {
	var b strings.Builder
	b.WriteString("0x")
	for _, x := range k.bytes[:k.n] {
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}
