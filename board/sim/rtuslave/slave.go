// Package rtuslave simulates Modbus RTU slaves on an RS-485 line (see
// board/sim/serialsim, which puts the line behind a pseudo-terminal).
//
// The slave is a small environment controller whose input registers follow
// deterministic functions of wall time t (seconds since the Unix epoch):
//
//	T(t) = 22.5 + 2.5·sin(2π·t/60)   °C   (the TMP102's curve)
//	H(t) = 45 + 10·sin(2π·t/300)     %RH
//	P(t) = 1013.25 + 5·sin(2π·t/600) hPa
//	O(t) = -5 + 10·sin(2π·t/60)      °C   (below zero half of each minute)
//
// and whose holding registers and coils are plain read/write memory (see
// registers.go for the map). Requests are checked as a real slave checks
// them: a frame with a bad CRC, or for another address, gets no reply; a
// function it does not serve gets exception 01, an address outside the map
// exception 02, a bad quantity, byte count or value exception 03. A request
// to address 0 (broadcast) is carried out and not answered.
package rtuslave

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Slave is one simulated slave. Its methods may be called from any goroutine.
type Slave struct {
	id  byte
	now func() time.Time

	mu      sync.Mutex
	holding [HoldingRegisters]uint16
	coils   [Coils]bool

	offline   atomic.Bool
	requests  atomic.Uint64
	crcErrors atomic.Uint64
}

// New returns a slave at address id in its power-on state, whose input
// registers follow the clock now (time.Now when nil).
func New(id byte, now func() time.Time) *Slave {
	if now == nil {
		now = time.Now
	}
	s := &Slave{id: id, now: now}
	s.holding[HoldSetpoint] = DefaultSetpoint
	s.holding[HoldFanSpeed] = DefaultFanSpeed
	return s
}

// Reset puts the slave back in its power-on state: holding registers and
// coils as at New, online.
func (s *Slave) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holding = [HoldingRegisters]uint16{HoldSetpoint: DefaultSetpoint, HoldFanSpeed: DefaultFanSpeed}
	s.coils = [Coils]bool{}
	s.offline.Store(false)
}

// ID returns the slave's address.
func (s *Slave) ID() byte { return s.id }

// SetOffline switches the slave off (it answers nothing, as if unplugged) or
// back on. Its registers are kept.
func (s *Slave) SetOffline(off bool) { s.offline.Store(off) }

// Requests returns how many frames addressed to the slave it has answered
// or carried out: a batch read counts once.
func (s *Slave) Requests() uint64 { return s.requests.Load() }

// CRCErrors returns how many frames with a bad CRC the slave has seen.
func (s *Slave) CRCErrors() uint64 { return s.crcErrors.Load() }

// Holding returns holding register r, for tests.
func (s *Slave) Holding(r int) uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holding[r]
}

// Coil returns coil c, for tests.
func (s *Slave) Coil(c int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.coils[c]
}

// The value functions, at t.

func wave(t time.Time, mean, amplitude float64, period int64) float64 {
	p := int64(period) * int64(time.Second)
	phase := float64(t.UnixNano()%p) / float64(p)
	return mean + amplitude*math.Sin(2*math.Pi*phase)
}

// Temperature returns T(t) in °C.
func Temperature(t time.Time) float64 { return wave(t, 22.5, 2.5, 60) }

// Humidity returns H(t) in %RH.
func Humidity(t time.Time) float64 { return wave(t, 45, 10, 300) }

// Pressure returns P(t) in hPa.
func Pressure(t time.Time) float64 { return wave(t, 1013.25, 5, 600) }

// Outdoor returns O(t) in °C.
func Outdoor(t time.Time) float64 { return wave(t, -5, 10, 60) }

// inputs returns the input registers at t.
func inputs(t time.Time) [InputRegisters]uint16 {
	var r [InputRegisters]uint16
	r[InTemperature] = uint16(int16(math.Round(Temperature(t) * 10)))
	r[InHumidity] = uint16(math.Round(Humidity(t) * 10))
	r[InSeconds] = uint16(t.Unix())
	p := math.Float32bits(float32(Pressure(t)))
	r[InPressure], r[InPressure+1] = uint16(p>>16), uint16(p)
	u := uint32(t.Unix())
	r[InUnixTime], r[InUnixTime+1] = uint16(u>>16), uint16(u)
	r[InOutdoor] = uint16(int16(math.Round(Outdoor(t) * 10)))
	fixed := int32(FixedInt32)
	f := uint32(fixed)
	r[InFixedInt32], r[InFixedInt32+1] = uint16(f>>16), uint16(f)
	return r
}

// Handle carries out one request frame (address, PDU, CRC) and writes the
// reply frame into resp, which must hold 256 bytes. It returns the reply's
// length, 0 when the slave does not answer: the frame is too short, its CRC
// is wrong, it is for another slave, it is a broadcast, or the slave is
// offline.
func (s *Slave) Handle(req, resp []byte) int {
	if s.offline.Load() || len(req) < 4 {
		return 0
	}
	if CRC(req[:len(req)-2]) != binary.LittleEndian.Uint16(req[len(req)-2:]) {
		s.crcErrors.Add(1)
		return 0
	}
	addr := req[0]
	if addr != s.id && addr != 0 {
		return 0
	}
	s.requests.Add(1)
	pdu := req[1 : len(req)-2]
	resp[0] = s.id
	n := s.pdu(pdu, resp[1:254])
	if addr == 0 {
		return 0
	}
	binary.LittleEndian.PutUint16(resp[1+n:], CRC(resp[:1+n]))
	return 1 + n + 2
}

// pdu carries out one request PDU and writes the reply PDU into out.
func (s *Slave) pdu(pdu, out []byte) int {
	fn := pdu[0]
	exception := func(code byte) int {
		out[0], out[1] = fn|0x80, code
		return 2
	}
	u16 := func(i int) int { return int(binary.BigEndian.Uint16(pdu[i:])) }
	s.mu.Lock()
	defer s.mu.Unlock()
	switch fn {
	case ReadCoils, ReadDiscreteInputs:
		if len(pdu) != 5 {
			return exception(IllegalDataValue)
		}
		start, qty := u16(1), u16(3)
		if qty < 1 || qty > maxReadBits {
			return exception(IllegalDataValue)
		}
		if start+qty > Coils { // discrete inputs mirror the coils
			return exception(IllegalDataAddress)
		}
		nb := (qty + 7) / 8
		out[0], out[1] = fn, byte(nb)
		clear(out[2 : 2+nb])
		for i := 0; i < qty; i++ {
			if s.coils[start+i] {
				out[2+i/8] |= 1 << (i % 8)
			}
		}
		return 2 + nb
	case ReadHoldingRegisters, ReadInputRegisters:
		if len(pdu) != 5 {
			return exception(IllegalDataValue)
		}
		start, qty := u16(1), u16(3)
		if qty < 1 || qty > maxReadRegisters {
			return exception(IllegalDataValue)
		}
		var regs []uint16
		if fn == ReadHoldingRegisters {
			regs = s.holding[:]
		} else {
			in := inputs(s.now())
			regs = in[:]
		}
		if start+qty > len(regs) {
			return exception(IllegalDataAddress)
		}
		out[0], out[1] = fn, byte(2*qty)
		for i := 0; i < qty; i++ {
			binary.BigEndian.PutUint16(out[2+2*i:], regs[start+i])
		}
		return 2 + 2*qty
	case WriteSingleCoil:
		if len(pdu) != 5 {
			return exception(IllegalDataValue)
		}
		addr, v := u16(1), u16(3)
		if v != 0xFF00 && v != 0x0000 {
			return exception(IllegalDataValue)
		}
		if addr >= Coils {
			return exception(IllegalDataAddress)
		}
		s.coils[addr] = v == 0xFF00
		return copy(out, pdu)
	case WriteSingleRegister:
		if len(pdu) != 5 {
			return exception(IllegalDataValue)
		}
		addr, v := u16(1), u16(3)
		if addr >= HoldingRegisters {
			return exception(IllegalDataAddress)
		}
		if addr == HoldFanSpeed && v > MaxFanSpeed {
			return exception(IllegalDataValue)
		}
		s.holding[addr] = uint16(v)
		return copy(out, pdu)
	case WriteMultipleCoils:
		if len(pdu) < 6 {
			return exception(IllegalDataValue)
		}
		start, qty, nb := u16(1), u16(3), int(pdu[5])
		if qty < 1 || qty > maxWriteBits || nb != (qty+7)/8 || len(pdu) != 6+nb {
			return exception(IllegalDataValue)
		}
		if start+qty > Coils {
			return exception(IllegalDataAddress)
		}
		for i := 0; i < qty; i++ {
			s.coils[start+i] = pdu[6+i/8]&(1<<(i%8)) != 0
		}
		return copy(out, pdu[:5])
	case WriteMultipleRegisters:
		if len(pdu) < 6 {
			return exception(IllegalDataValue)
		}
		start, qty, nb := u16(1), u16(3), int(pdu[5])
		if qty < 1 || qty > maxWriteRegisters || nb != 2*qty || len(pdu) != 6+nb {
			return exception(IllegalDataValue)
		}
		if start+qty > HoldingRegisters {
			return exception(IllegalDataAddress)
		}
		for i := 0; i < qty; i++ {
			if start+i == HoldFanSpeed && u16(6+2*i) > MaxFanSpeed {
				return exception(IllegalDataValue)
			}
		}
		for i := 0; i < qty; i++ {
			s.holding[start+i] = uint16(u16(6 + 2*i))
		}
		return copy(out, pdu[:5])
	}
	return exception(IllegalFunction)
}

// CRC returns the CRC-16/MODBUS of b (polynomial 0xA001 reflected, initial
// value 0xFFFF). It is sent low byte first.
func CRC(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for i := 0; i < 8; i++ {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}
