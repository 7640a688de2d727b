package sim

import (
	"fmt"
	"strconv"
	"time"

	"periph.io/x/conn/v3/gpio/gpioreg"

	"github.com/tinymapper/tinymapper/board/sim/pins"
)

// PulsePeriod is the period of the simulated pulse on GPIO22: 10 Hz.
const PulsePeriod = 100 * time.Millisecond

// The simulated GPIO pins, registered in periph's gpioreg under their names,
// their positions on the Raspberry Pi's 40-pin header and their chip and
// line offset:
//
//	pin     aliases              what it does
//	GPIO17  P1_11, gpiochip0/17  wired to GPIO27: drive one, read the other
//	GPIO27  P1_13, gpiochip0/27  wired to GPIO17
//	GPIO22  P1_15, gpiochip0/22  a 10 Hz square wave: rises at every 100 ms of
//	                             the clock (.0, .1, .2 s), falls 50 ms later;
//	                             input only
//	GPIO4   P1_7,  gpiochip0/4   connected to nothing: reads its pull (up 1,
//	                             down 0, none 0)
//
// hal.Pin also finds them by number (17 is GPIO17). The loopback wire carries the level its output drives; with no output it
// reads high if an input on it has a pull-up, else low. Inputs that asked for
// edges see every change of the wire; the pulse's edges are computed from the
// clock, so counts are exact and deterministic.
//
// The pins behave as periph's gpioioctl lines do on a Raspberry Pi, traps
// included (see board/sim/pins): Read on an output turns it back into an
// input, WaitForEdge(-1) returns false at once and 0 waits forever, Halt only
// interrupts a wait in progress, at most 16 edges are queued. Tests may look
// at the pins (Dir, InputRequests, NegativeWaits) to check what a driver did.
var (
	loopback = pins.NewWire()
	// GPIO17 (header pin 11) is wired to GPIO27.
	GPIO17 = loopback.NewPin("GPIO17", 17)
	// GPIO27 (header pin 13) is wired to GPIO17.
	GPIO27 = loopback.NewPin("GPIO27", 27)
	// GPIO22 (header pin 15) carries a 10 Hz square wave.
	GPIO22 = pins.NewPulse(PulsePeriod).NewPin("GPIO22", 22)
	// GPIO4 (header pin 7) is connected to nothing: it reads its pull.
	GPIO4 = pins.NewWire().NewPin("GPIO4", 4)
)

// simPins are the pins and their header positions on the 40-pin header (P1).
var simPins = []struct {
	pin    *pins.Pin
	header int
}{
	{GPIO4, 7},
	{GPIO17, 11},
	{GPIO27, 13},
	{GPIO22, 15},
}

// GPIOChip is the name of the simulated GPIO chip: "gpiochip0/17" is GPIO17.
const GPIOChip = "gpiochip0"

func registerGPIO() error {
	for _, sp := range simPins {
		p := sp.pin
		if err := gpioreg.Register(p); err != nil {
			return fmt.Errorf("sim: register GPIO pin: %w", err)
		}
		for _, alias := range []string{
			"P1_" + strconv.Itoa(sp.header),
			GPIOChip + "/" + strconv.Itoa(p.Number()),
		} {
			if err := gpioreg.RegisterAlias(alias, p.Name()); err != nil {
				return fmt.Errorf("sim: register GPIO alias %s: %w", alias, err)
			}
		}
	}
	return nil
}
