// Package sim is the simulated board: emulated chips that answer at the
// register level, behind the same periph.io interfaces real hardware uses.
//
// The sim plugs in at the lowest level. Register adds an I²C bus to periph's
// i2creg registry under bus number 1, so i2creg.Open("1") and hal.OpenI2C("1")
// (or "I2C1", or "/dev/i2c-1") reach it, and every layer above (hal, bus/i2c,
// the scheduler, the decoders) runs the same code as on a Raspberry Pi. A
// Device CRD that reads a TMP102 on the sim reads a TMP102 on a Pi, byte for
// byte. Nothing above board/ knows which it got.
//
//	board.Open("sim")  // or, directly: sim.Register()
//
// Values are deterministic functions of wall time, so two runs, or a test and a
// dashboard, agree.
// What is written to a part (a configuration register, the EEPROM) stays for
// the process, as on a powered board; PowerCycle puts bus 1's parts back in
// their power-on state.
//
// # I²C bus 1 ("SIM-I2C1", also "1", "I2C1", "/dev/i2c-1")
//
//	address  part     what it is (folder)
//	0x18     MCP9808  temperature sensor, 0.0625 °C per LSB (mcp9808)
//	0x44     SHT3x    humidity and temperature by command, CRC-8 (sht3x)
//	0x48     TMP102   temperature sensor, 12-bit, 0.0625 °C per LSB (tmp102)
//	0x49     ADS1115  16-bit ADC (ads1115)
//	0x50     24C02    2-Kbit EEPROM, 256 bytes, 8-byte pages (at24c02)
//	0x76     BME280   temperature, pressure, humidity (bme280)
//	0x77     BMP280   temperature, pressure (bme280)
//
// The README's "The simulated board" table gives every part's registers; the
// TMP102 and the 24C02 are described below.
//
// Any other address does not acknowledge: the transaction fails with an error
// that names the address and wraps ErrNACK, as a real bus fails with "remote
// I/O error". A transaction with both a write and a read is a write, a repeated
// START and a read, as i2c.Bus.Tx does on hardware.
//
// # TMP102 at 0x48 (board/sim/tmp102)
//
// The first byte written is the pointer register; it selects the register that
// later reads return. Write 1 byte to set the pointer, or 3 bytes (pointer, MSB,
// LSB) to set the pointer and write the register. A read returns the pointed
// register, 2 bytes, MSB first.
//
//	pointer  register      access  power-on  format
//	0x00     temperature   read    -         12-bit two's complement, left-justified: °C = int16(v) >> 4 × 0.0625
//	0x01     configuration r/w     0x60A0    OS R1 R0 F1 F0 POL TM SD | CR1 CR0 AL EM 0 0 0 0
//	0x02     TLOW          r/w     0x4B00    as temperature (75 °C)
//	0x03     THIGH         r/w     0x5000    as temperature (80 °C)
//
// The temperature follows a one-minute sine around 22.5 °C:
//
//	T(t) = 22.5 + 2.5·sin(2π·t / 60 s) °C, quantized to 0.0625 °C
//
// with t the time since the Unix epoch, so every reading is between 20.0 and
// 25.0 °C: 22.5 °C on each minute, 25.0 °C at second 15, 20.0 °C at second 45.
// Setting EM in the configuration switches the temperature to 13-bit format
// (>> 3); SD holds the last reading, and writing OS while shut down takes a new
// one. R1, R0 and AL are read only; the ALERT comparison, fault queue and
// conversion time are not emulated. To read the temperature through bus/i2c:
// register 0, dataType int16, shift 4, scale 0.0625.
//
// # 24C02 EEPROM at 0x50 (board/sim/at24c02)
//
// 256 bytes, erased to 0xFF at start, kept for the life of the process. There
// are no registers, only an address counter:
//
//	write [addr]                set the address counter
//	write [addr, d0, d1, ...]   page write from addr; wraps within the 8-byte page
//	read  n bytes               sequential read from the counter, wrapping at 0xFF
//
// Every byte read or written advances the counter, so a read with no write
// first continues where the last transaction stopped. Through bus/i2c each
// property is one address: register 0x10, dataType uint8. The self-timed
// write cycle is emulated: for 5 ms after a write with data the part NACKs
// every transaction, as the real one does, so a driver that reads back at once
// without polling for the ACK fails here as it would on hardware.
//
// # Adding a part
//
// A part is a folder under board/sim with registers.go (the datasheet's
// register map as named constants, datasheet link at the top) and one short
// file of logic implementing Part. Attach it to a bus in Register, and add it
// to the table above.
package sim
