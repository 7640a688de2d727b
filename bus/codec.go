package bus

import (
	"fmt"
	"math"
	"math/bits"
)

// A Codec turns the bytes of a register into a property value and back.
//
// Decoding reads the register as an integer (or float32) of the given type and
// byte order, cuts a bit field out of it and scales the field:
//
//	value = ((raw >> shift) & mask) * scale + offset
//
// The shift is arithmetic for signed types, so a left-justified signed field
// (a TMP102's temperature: int16, shift 4) keeps its sign. A mask of 0 keeps
// every bit. For a signed type the mask must be low bits (0x1FFF, not 0x1FF0):
// the field is two's complement at the mask's width and is sign-extended from
// its top bit, so a right-justified signed field with flag bits above it (an
// MCP9808's ambient temperature: int16, mask 0x1FFF, 13 bits) keeps its sign.
// float32 registers take no shift or mask; bool registers decode to 1 when the
// field is non-zero and 0 otherwise, and take no scale or offset.
//
// Encoding is the inverse: raw = round((value - offset) / scale), checked
// against the range the field can hold, shifted into place. When the field does
// not cover the whole register (see Partial), Encode changes only the field's
// bits and keeps the others in the buffer, so a caller that reads the register
// into the buffer first does a read-modify-write.
//
// Build a Codec with ParseCodec; the zero Codec is not valid. Codecs are small
// values, safe to copy and to use from many goroutines. Decode and Encode do not
// allocate.
type Codec struct {
	typ    dataType
	size   uint8 // dataTypes[typ].size, kept here for the data path
	signed bool
	little bool
	shift  uint8
	mask   uint32 // 0: the whole register above shift
	ext    uint8  // signed and masked: 64 - the mask's width, to sign-extend the field
	scale  float64
	offset float64
}

type dataType uint8

const (
	typeUint8 dataType = iota
	typeInt8
	typeUint16
	typeInt16
	typeUint32
	typeInt32
	typeFloat32
	typeBool
)

// dataTypes is indexed by dataType.
var dataTypes = [...]struct {
	name   string
	size   int // bytes
	signed bool
}{
	typeUint8:   {"uint8", 1, false},
	typeInt8:    {"int8", 1, true},
	typeUint16:  {"uint16", 2, false},
	typeInt16:   {"int16", 2, true},
	typeUint32:  {"uint32", 4, false},
	typeInt32:   {"int32", 4, true},
	typeFloat32: {"float32", 4, false},
	typeBool:    {"bool", 1, false},
}

// CodecKeys returns the configData keys ParseCodec reads, for drivers that
// report the keys they do not know.
func CodecKeys() []string {
	return []string{"dataType", "byteOrder", "shift", "mask", "scale", "offset"}
}

// ParseCodec reads a Codec from the keys of c:
//
//	dataType   uint8, int8, uint16, int16, uint32, int32, float32 or bool, in any
//	           case (default defaultType)
//	byteOrder  big or little (also BigEndian, LittleEndian; default big)
//	shift      right shift of the raw integer, 0..31 and less than its width (default 0)
//	mask       bits kept after the shift, such as 4095 or "0x0FFF" (default 0: all);
//	           for a signed dataType low bits only, the field's two's complement width
//	scale      multiplier, not 0 (default 1)
//	offset     added after scaling (default 0)
//
// Errors are *FieldError naming the key.
func ParseCodec(c Config, defaultType string) (Codec, error) {
	names := make([]string, len(dataTypes))
	for i, t := range dataTypes {
		names[i] = t.name
	}
	name, err := c.OneOf("dataType", defaultType, names...)
	if err != nil {
		return Codec{}, err
	}
	var k Codec
	for i, t := range dataTypes {
		if t.name == name {
			k.typ, k.size, k.signed = dataType(i), uint8(t.size), t.signed
		}
	}
	order, err := c.OneOf("byteOrder", "big", "big", "little", "BigEndian", "LittleEndian")
	if err != nil {
		return Codec{}, err
	}
	k.little = order == "little" || order == "LittleEndian"

	nbits := k.bits()
	shift, err := c.Int("shift", 0, 0, 31)
	if err != nil {
		return Codec{}, err
	}
	mask, err := c.Int("mask", 0, 0, math.MaxUint32)
	if err != nil {
		return Codec{}, err
	}
	switch {
	case k.typ == typeFloat32 && c.Has("shift"):
		return Codec{}, c.Errorf("shift", "does not apply to float32")
	case k.typ == typeFloat32 && c.Has("mask"):
		return Codec{}, c.Errorf("mask", "does not apply to float32")
	case shift >= int64(nbits):
		return Codec{}, c.Errorf("shift", "%d leaves no bits of a %d-bit %s", shift, nbits, name)
	case mask>>(int64(nbits)-shift) != 0:
		return Codec{}, c.Errorf("mask", "%#x is wider than the %d bits of a %s left after shift %d",
			mask, int64(nbits)-shift, name, shift)
	}
	if k.signed && mask != 0 && mask&(mask+1) != 0 {
		return Codec{}, c.Errorf("mask", "%#x is not low bits (such as 0x1FFF): a %s field is sign-extended at the mask's width; use shift to drop low bits",
			mask, name)
	}
	k.shift, k.mask = uint8(shift), uint32(mask)
	if k.signed && mask != 0 {
		k.ext = uint8(64 - bits.Len32(uint32(mask)))
	}

	if k.typ == typeBool {
		for _, key := range []string{"scale", "offset"} {
			if c.Has(key) {
				return Codec{}, c.Errorf(key, "does not apply to bool")
			}
		}
	}
	if k.scale, err = c.Float("scale", 1); err != nil {
		return Codec{}, err
	}
	if k.scale == 0 {
		return Codec{}, c.Errorf("scale", "must not be 0")
	}
	if k.offset, err = c.Float("offset", 0); err != nil {
		return Codec{}, err
	}
	return k, nil
}

// Type returns the codec's dataType, such as "int16".
func (c Codec) Type() string { return dataTypes[c.typ].name }

// Size returns the number of register bytes the codec reads and writes.
func (c Codec) Size() int { return int(c.size) }

// Partial reports whether the field leaves some bits of the register alone
// (a shift or a mask). Writing such a field should read the register into the
// buffer first, since Encode keeps the bits outside the field.
func (c Codec) Partial() bool { return c.fieldBits() != c.wordBits() }

func (c Codec) bits() int { return 8 * int(c.size) }

// wordBits is every bit of the register.
func (c Codec) wordBits() uint32 { return uint32(uint64(1)<<c.bits() - 1) }

// fieldBits is the bits of the register the field occupies, in place.
func (c Codec) fieldBits() uint32 {
	if c.mask != 0 {
		return c.mask << c.shift
	}
	return c.wordBits() &^ (uint32(1)<<c.shift - 1)
}

// rawRange is the range of the field's integer value (after shift and mask).
func (c Codec) rawRange() (lo, hi int64) {
	if c.typ == typeBool {
		return 0, 1
	}
	if c.ext != 0 {
		half := int64(c.mask>>1) + 1 // 2^(width-1)
		return -half, half - 1
	}
	if c.mask != 0 {
		return 0, int64(c.mask)
	}
	bits := c.bits()
	if c.signed {
		return -(int64(1) << (bits - 1)) >> c.shift, (int64(1)<<(bits-1) - 1) >> c.shift
	}
	return 0, (int64(1)<<bits - 1) >> c.shift
}

// word reads the register from b, which holds at least Size bytes.
func (c Codec) word(b []byte) uint32 {
	switch c.Size() {
	case 1:
		return uint32(b[0])
	case 2:
		if c.little {
			return uint32(b[0]) | uint32(b[1])<<8
		}
		return uint32(b[0])<<8 | uint32(b[1])
	}
	if c.little {
		return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// putWord writes the register to b, which holds at least Size bytes.
func (c Codec) putWord(b []byte, w uint32) {
	n := c.Size()
	for i := 0; i < n; i++ {
		s := 8 * (n - 1 - i) // big endian: most significant byte first
		if c.little {
			s = 8 * i
		}
		b[i] = byte(w >> s)
	}
}

// Decode returns the value of the register held in b. b must hold Size bytes;
// Decode returns NaN when it is shorter. A float32 register can decode to NaN
// or an infinity.
func (c Codec) Decode(b []byte) float64 {
	if len(b) < c.Size() {
		return math.NaN()
	}
	w := c.word(b)
	if c.typ == typeFloat32 {
		return float64(math.Float32frombits(w))*c.scale + c.offset
	}
	var field int64
	if c.signed {
		bits := c.bits()
		field = int64(int32(w<<(32-bits))>>(32-bits)) >> c.shift // sign-extend, then shift
	} else {
		field = int64(w >> c.shift)
	}
	if c.mask != 0 {
		field &= int64(c.mask)
		field = field << c.ext >> c.ext // sign-extend a signed field at the mask's width
	}
	if c.typ == typeBool {
		if field != 0 {
			return 1
		}
		return 0
	}
	return float64(field)*c.scale + c.offset
}

// Encode writes v into the register bytes in b, which must hold Size bytes.
// For a Partial codec only the field's bits change. It returns an error, and
// leaves b alone, when v is not finite or does not fit the field. A bool takes
// 0 or 1; true sets every bit of a masked field.
func (c Codec) Encode(v float64, b []byte) error {
	if len(b) < c.Size() {
		return fmt.Errorf("encode %s: buffer holds %d bytes, want %d", c.Type(), len(b), c.Size())
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("encode %s: %v is not a finite number", c.Type(), v)
	}
	x := (v - c.offset) / c.scale
	if c.typ == typeFloat32 {
		if math.Abs(x) > math.MaxFloat32 {
			return fmt.Errorf("encode float32: %v is out of range", v)
		}
		c.putWord(b, math.Float32bits(float32(x)))
		return nil
	}
	if c.typ == typeBool && v != 0 && v != 1 {
		return fmt.Errorf("encode bool: %v is not 0 or 1", v)
	}
	raw := math.Round(x)
	lo, hi := c.rawRange()
	if math.IsNaN(raw) || raw < float64(lo) || raw > float64(hi) {
		return c.rangeError(v, lo, hi)
	}
	if c.typ == typeBool && raw == 1 && c.mask != 0 {
		raw = float64(c.mask) // true sets every bit of the field
	}
	field := c.fieldBits()
	w := uint32(int64(raw)) << c.shift & field
	if field != c.wordBits() {
		w |= c.word(b) &^ field
	}
	c.putWord(b, w)
	return nil
}

// rangeError reports v outside the field's range, in the units of v.
func (c Codec) rangeError(v float64, lo, hi int64) error {
	min, max := float64(lo)*c.scale+c.offset, float64(hi)*c.scale+c.offset
	if min > max {
		min, max = max, min
	}
	return fmt.Errorf("encode %s: %v is out of range [%v, %v]", c.Type(), v, min, max)
}
