package sim

import (
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c/i2creg"

	"github.com/tinymapper/tinymapper/board/sim/ads1115"
	"github.com/tinymapper/tinymapper/board/sim/at24c02"
	"github.com/tinymapper/tinymapper/board/sim/bme280"
	"github.com/tinymapper/tinymapper/board/sim/mcp9808"
	"github.com/tinymapper/tinymapper/board/sim/serialsim"
	"github.com/tinymapper/tinymapper/board/sim/sht3x"
	"github.com/tinymapper/tinymapper/board/sim/tmp102"
)

// I2C1 is the registered name of the simulated I²C bus 1. It also answers to
// "1", "I2C1" and "/dev/i2c-1".
const I2C1 = "SIM-I2C1"

// Register puts the simulated board into periph's registries: I²C bus 1 with a
// TMP102 at 0x48, a 24C02 at 0x50, an MCP9808 at 0x18, an SHT3x at 0x44, an
// ADS1115 at 0x49, a BME280 at 0x76 and a BMP280 at 0x77, SPI port 0.0 with
// an MCP3008, and GPIO pins 4, 17, 22 and 27; and, in hal's serial registry, /dev/ttyUSB0 (Modbus
// RTU slaves 1 and 2) and /dev/ttyACM0 (a line sensor), pseudo-terminals with
// the simulated devices on their far side (board/sim/serialsim). The first
// call registers; later calls
// return the first call's result, so it is safe to call from every user. The
// registration lasts for the process, as periph's own drivers' do.
//
// A serial name the host has a device of stays the host's (see
// serialsim.Names); Warnings says which.
//
// It fails when another driver (sysfs, on a board with /dev/i2c-1) already
// registered bus 1 or one of its names.
func Register() error { return register() }

// Warnings returns what Register had to tell the operator: the familiar
// serial names it left to the host's devices.
func Warnings() []string {
	if b, err := serialsim.Start(); err == nil {
		return b.Warnings
	}
	return nil
}

// bus1Parts are the parts of I²C bus 1, each made in its power-on state.
var bus1Parts = []struct {
	addr uint16
	make func() Part
}{
	{tmp102.Address, func() Part { return tmp102.New(time.Now) }},
	{at24c02.Address, func() Part { return at24c02.New() }},
	{mcp9808.Address, func() Part { return mcp9808.New(time.Now) }},
	{sht3x.Address, func() Part { return sht3x.New(time.Now) }},
	{ads1115.Address, func() Part { return ads1115.New(time.Now) }},
	{bme280.Address, func() Part { return bme280.New(bme280.ChipIDBME280, time.Now) }},
	{bme280.Address + 1, func() Part { return bme280.New(bme280.ChipIDBMP280, time.Now) }},
}

// bus1 is I²C bus 1 once Register made it.
var bus1 *I2CBus

// PowerCycle puts every part on I²C bus 1 back in its power-on state, as
// switching the board off and on would: configuration registers at their
// reset values, the EEPROM erased. It fails before Register succeeded.
// Tests call it so that what one test wrote to a part does not leak into
// the next.
func PowerCycle() error {
	if err := Register(); err != nil {
		return err
	}
	for _, p := range bus1Parts {
		bus1.replace(p.addr, p.make())
	}
	return nil
}

var register = sync.OnceValue(func() error {
	bus := NewI2CBus(I2C1)
	for _, p := range bus1Parts {
		if err := bus.Attach(p.addr, p.make()); err != nil {
			return err
		}
	}
	bus1 = bus
	if err := i2creg.Register(I2C1, []string{"I2C1", "/dev/i2c-1"}, 1, bus.Open); err != nil {
		return fmt.Errorf("sim: register I²C bus 1: %w", err)
	}
	if err := registerSPI(); err != nil {
		return err
	}
	if err := registerGPIO(); err != nil {
		return err
	}
	if _, err := serialsim.Start(); err != nil {
		return fmt.Errorf("sim: serial ports: %w", err)
	}
	return nil
})
