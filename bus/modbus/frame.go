package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Function codes.
const (
	fcReadCoils              = 0x01
	fcReadDiscreteInputs     = 0x02
	fcReadHoldingRegisters   = 0x03
	fcReadInputRegisters     = 0x04
	fcWriteSingleCoil        = 0x05
	fcWriteSingleRegister    = 0x06
	fcWriteMultipleCoils     = 0x0F
	fcWriteMultipleRegisters = 0x10
)

// Limits of one request (MODBUS Application Protocol Specification 6.1-6.12).
const (
	maxReadBits       = 2000
	maxReadRegisters  = 125
	maxWriteRegisters = 123
	maxADU            = 256 // address, PDU (253), CRC
)

// An Exception is a slave's exception response: the function was
// understood as a Modbus request and refused.
type Exception byte

// Exception codes (Application Protocol Specification section 7).
const (
	IllegalFunction        Exception = 0x01
	IllegalDataAddress     Exception = 0x02
	IllegalDataValue       Exception = 0x03
	ServerDeviceFailure    Exception = 0x04
	Acknowledge            Exception = 0x05
	ServerDeviceBusy       Exception = 0x06
	MemoryParityError      Exception = 0x08
	GatewayPathUnavailable Exception = 0x0A
	GatewayTargetNoReply   Exception = 0x0B
)

var exceptionNames = map[Exception]string{
	IllegalFunction:        "illegal function",
	IllegalDataAddress:     "illegal data address",
	IllegalDataValue:       "illegal data value",
	ServerDeviceFailure:    "server device failure",
	Acknowledge:            "acknowledge",
	ServerDeviceBusy:       "server device busy",
	MemoryParityError:      "memory parity error",
	GatewayPathUnavailable: "gateway path unavailable",
	GatewayTargetNoReply:   "gateway target device failed to respond",
}

func (e Exception) Error() string {
	name, ok := exceptionNames[e]
	if !ok {
		name = "unknown exception"
	}
	return fmt.Sprintf("%s (exception %02X)", name, byte(e))
}

// Errors of a response that is not a valid reply.
var (
	// ErrCRC: a frame of the expected shape came with a wrong CRC.
	ErrCRC = errors.New("CRC error in the response")
	// ErrFrame: bytes came, but no valid reply could be found in them.
	ErrFrame = errors.New("garbled or incomplete response")
)

// CRC returns the CRC-16/MODBUS of b (polynomial 0xA001 reflected, initial
// 0xFFFF). Frames carry it low byte first.
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

// appendCRC appends the CRC of b to b.
func appendCRC(b []byte) []byte {
	c := CRC(b)
	return append(b, byte(c), byte(c>>8))
}

func crcOK(frame []byte) bool {
	n := len(frame)
	return n >= 4 && CRC(frame[:n-2]) == binary.LittleEndian.Uint16(frame[n-2:])
}

// readRequest builds a read request for qty registers or bits at addr into dst.
func readRequest(dst []byte, slave, fc byte, addr, qty uint16) []byte {
	b := append(dst[:0], slave, fc, byte(addr>>8), byte(addr), byte(qty>>8), byte(qty))
	return appendCRC(b)
}

// replyLen returns the length of a normal reply to req.
func replyLen(req []byte) int {
	switch req[1] {
	case fcReadCoils, fcReadDiscreteInputs:
		return 5 + (int(binary.BigEndian.Uint16(req[4:]))+7)/8
	case fcReadHoldingRegisters, fcReadInputRegisters:
		return 5 + 2*int(binary.BigEndian.Uint16(req[4:]))
	}
	return 8 // the writes echo address and quantity or value
}

// scan looks for the reply to req in buf, which holds what the port sent
// after the request: a valid reply, possibly after noise (or the echo of an
// RS-485 adapter). It returns the reply's data (the register or coil bytes
// of a read, nil for a write), or the slave's Exception; found is false when
// buf holds no complete reply yet, and crcBad then says whether a frame of
// the right shape failed its CRC.
func scan(req, buf []byte) (data []byte, err error, found, crcBad bool) {
	slave, fc, normal := req[0], req[1], replyLen(req)
	for i := 0; i+1 < len(buf); i++ {
		if buf[i] != slave {
			continue
		}
		var n int
		switch buf[i+1] {
		case fc:
			n = normal
			if fc <= fcReadInputRegisters && (i+2 >= len(buf) || int(buf[i+2]) != normal-5) {
				continue // a read's byte count is part of its shape
			}
		case fc | 0x80:
			n = 5
		default:
			continue
		}
		if i+n > len(buf) {
			continue
		}
		frame := buf[i : i+n]
		if !crcOK(frame) {
			crcBad = true
			continue
		}
		data, err, ok := decode(req, frame)
		if ok {
			return data, err, true, false
		}
	}
	return nil, nil, false, crcBad
}

// decode checks frame, a complete frame with a valid CRC from the slave req
// was sent to, against req. ok is false when it is not a reply to req.
func decode(req, frame []byte) (data []byte, err error, ok bool) {
	if len(frame) < 5 || frame[0] != req[0] {
		return nil, nil, false
	}
	if frame[1] == req[1]|0x80 {
		if len(frame) != 5 {
			return nil, nil, false
		}
		return nil, Exception(frame[2]), true
	}
	if frame[1] != req[1] || len(frame) != replyLen(req) {
		return nil, nil, false
	}
	switch req[1] {
	case fcReadCoils, fcReadDiscreteInputs, fcReadHoldingRegisters, fcReadInputRegisters:
		if int(frame[2]) != len(frame)-5 {
			return nil, nil, false
		}
		return frame[3 : len(frame)-2], nil, true
	}
	// A write's reply echoes address and quantity (15, 16) or value (5, 6).
	for i := 2; i < 6; i++ {
		if frame[i] != req[i] {
			return nil, nil, false
		}
	}
	return nil, nil, true
}

// DecodeResponse returns the data of the reply to req found in buf (see
// scan), or an error: the slave's Exception, ErrCRC or ErrFrame. It is the
// frame decoder the master uses once a response is complete, exported for
// tools and fuzzing.
func DecodeResponse(req, buf []byte) ([]byte, error) {
	if len(req) < 8 || !crcOK(req) {
		return nil, errors.New("not a request frame")
	}
	data, err, found, crcBad := scan(req, buf)
	switch {
	case found:
		return data, err
	case crcBad:
		return nil, ErrCRC
	}
	return nil, ErrFrame
}
