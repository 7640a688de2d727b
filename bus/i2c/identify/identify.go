// Package identify finds the chips on an I²C bus and names the ones it
// knows by registers that identify them.
//
// Probing is read-only in the sense that matters: it never writes a
// register's contents. Every address is probed as `i2cdetect -r` does, with
// a one-byte read. An address that answers is then asked only what a
// candidate part at that address documents as identifying it: a register
// read (the register number written as the pointer, then a read: the
// SMBus "read word" every driver starts with), or, for an SHT3x at 0x44 or
// 0x45, its read-serial-number command, which changes nothing on the part.
// Parts:
//
//	TMP102      0x48–0x4B  config 0x01 resets to 0x60A0 (R1, R0 read-only 1s), TLOW 0x02 ≠ 0x8000
//	ADS1115     0x48–0x4B  config 0x01 resets to 0x8583; thresholds 0x02/0x03 reset to 0x8000/0x7FFF
//	MCP9808     0x18–0x1F  manufacturer ID 0x06 = 0x0054, device ID 0x07 high byte 0x04
//	BME280      0x76–0x77  chip ID 0xD0 = 0x60 (BMP280: 0x58)
//	SHT3x       0x44–0x45  read serial number (0x3780): two words with valid CRC-8
//	24Cxx       0x50–0x57  answers a read (an EEPROM's memory)
package identify

import (
	"errors"
	"fmt"

	"periph.io/x/conn/v3/i2c"

	tmi2c "github.com/tinymapper/tinymapper/bus/i2c"
)

// Part is what was found at one address.
type Part struct {
	Addr uint16
	Kind Kind   // KindUnknown when nothing matched
	Info string // what identified it: "config 0x60A0", "chip id 0x60"
}

// Kind is a known part.
type Kind string

// The parts Probe knows.
const (
	KindUnknown Kind = ""
	TMP102      Kind = "TMP102"
	ADS1115     Kind = "ADS1115"
	MCP9808     Kind = "MCP9808"
	BME280      Kind = "BME280"
	BMP280      Kind = "BMP280"
	SHT3x       Kind = "SHT3x"
	EEPROM24    Kind = "24Cxx"
)

// Probe reads one byte from every address 0x03..0x77 and identifies each
// one that answers (and each SHT3x address, whose part NACKs a read with no
// command before it). An error that is not a NACK stops the probe: the bus
// itself fails.
func Probe(bus i2c.Bus) ([]Part, error) {
	var found []Part
	var b [1]byte
	for addr := uint16(0x03); addr <= 0x77; addr++ {
		err := bus.Tx(addr, nil, b[:])
		if err != nil && !tmi2c.IsNoAck(err) {
			return found, fmt.Errorf("address 0x%02x: %w", addr, err)
		}
		if err != nil {
			if addr == 0x44 || addr == 0x45 {
				if p, ok := readSHT3x(bus, addr); ok {
					found = append(found, p)
				}
			}
			continue
		}
		found = append(found, identify(bus, addr))
	}
	return found, nil
}

// identify tries the candidates of an address that answered.
func identify(bus i2c.Bus, addr uint16) Part {
	switch {
	case addr >= 0x48 && addr <= 0x4B:
		cfg, err1 := word(bus, addr, 0x01)
		lo, err2 := word(bus, addr, 0x02)
		hi, err3 := word(bus, addr, 0x03)
		if err := errors.Join(err1, err2, err3); err == nil {
			switch {
			case cfg == 0x8583 || (lo == 0x8000 && hi == 0x7FFF):
				return Part{addr, ADS1115, fmt.Sprintf("config 0x%04X, thresholds 0x%04X/0x%04X", cfg, lo, hi)}
			case cfg&0x601F == 0x6000 && lo&0x000F == 0 && hi&0x000F == 0:
				return Part{addr, TMP102, fmt.Sprintf("config 0x%04X (reset 0x60A0)", cfg)}
			}
		}
	case addr >= 0x18 && addr <= 0x1F:
		m, err1 := word(bus, addr, 0x06)
		d, err2 := word(bus, addr, 0x07)
		if err1 == nil && err2 == nil && m == 0x0054 && d>>8 == 0x04 {
			return Part{addr, MCP9808, fmt.Sprintf("manufacturer 0x%04X, device 0x%02X rev %d", m, d>>8, d&0xFF)}
		}
	case addr == 0x76 || addr == 0x77:
		var id [1]byte
		if bus.Tx(addr, []byte{0xD0}, id[:]) == nil {
			switch id[0] {
			case 0x60:
				return Part{addr, BME280, "chip id 0x60"}
			case 0x56, 0x57, 0x58:
				return Part{addr, BMP280, fmt.Sprintf("chip id 0x%02X", id[0])}
			}
		}
	case addr == 0x44 || addr == 0x45:
		if p, ok := readSHT3x(bus, addr); ok {
			return p
		}
	case addr >= 0x50 && addr <= 0x57:
		var v [1]byte
		if bus.Tx(addr, []byte{0x00}, v[:]) == nil {
			return Part{addr, EEPROM24, "answers memory reads (24Cxx EEPROM; taken as a 24C02: 8-byte pages)"}
		}
	}
	return Part{Addr: addr}
}

// word reads a 16-bit register, MSB first.
func word(bus i2c.Bus, addr uint16, reg byte) (uint16, error) {
	var r [2]byte
	if err := bus.Tx(addr, []byte{reg}, r[:]); err != nil {
		return 0, err
	}
	return uint16(r[0])<<8 | uint16(r[1]), nil
}

// readSHT3x sends the read-serial-number command and checks both words' CRC.
func readSHT3x(bus i2c.Bus, addr uint16) (Part, bool) {
	if bus.Tx(addr, []byte{0x37, 0x80}, nil) != nil {
		return Part{}, false
	}
	var r [6]byte
	if bus.Tx(addr, nil, r[:]) != nil {
		return Part{}, false
	}
	hi, lo := uint16(r[0])<<8|uint16(r[1]), uint16(r[3])<<8|uint16(r[4])
	if tmi2c.SensirionCRC(r[0:2]) != r[2] || tmi2c.SensirionCRC(r[3:5]) != r[5] {
		return Part{}, false
	}
	return Part{addr, SHT3x, fmt.Sprintf("serial number 0x%04X%04X", hi, lo)}, true
}
