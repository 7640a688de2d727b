package hal

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3/gpioioctl"
)

// ErrNoPin is wrapped by the error Pin returns for a name nothing answers to.
var ErrNoPin = errors.New("no such GPIO pin")

// Pin returns the GPIO pin called name. It tries, in order:
//
//	a name or alias registered in periph's gpioreg   "GPIO17", "P1_11" (header pin 11), "17"
//	a number, as the line named GPIO<n>              "17" → "GPIO17"
//	a chip and a line offset, "<chip>/<offset>"      "gpiochip0/17", "pinctrl-rp1/17"
//
// The chip of the last form is the kernel's name for it ("gpiochip0") or its
// label ("pinctrl-bcm2711"), as gpioinfo prints them; this is how to reach a
// line the kernel left unnamed, which periph does not put in gpioreg. Chips
// are the ones periph's gpioioctl driver found when the board was opened.
//
// Pins are not reference-counted: a gpio.PinIO is a handle on a line that
// stays requested for the life of the process, as periph's drivers keep them.
// The caller configures the pin (In or Out) itself.
func Pin(name string) (gpio.PinIO, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, fmt.Errorf("gpio pin %q: %w: the name is empty", name, ErrNoPin)
	}
	if p := gpioreg.ByName(name); p != nil {
		return p, nil
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		if p := gpioreg.ByName("GPIO" + name); p != nil {
			return p, nil
		}
	}
	if chip, off, ok := strings.Cut(name, "/"); ok && chip != "" && !strings.HasPrefix(name, "/") {
		n, err := strconv.Atoi(off)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("gpio pin %q: line offset %q is not a number", name, off)
		}
		for _, c := range gpioChips() {
			if c.Name() != chip && c.Label() != chip {
				continue
			}
			if n >= c.LineCount() {
				return nil, fmt.Errorf("gpio pin %q: %w: %s has lines 0 to %d", name, ErrNoPin, chip, c.LineCount()-1)
			}
			return c.Line(n), nil
		}
		return nil, fmt.Errorf("gpio pin %q: %w: no GPIO chip named %q (chips: %s)", name, ErrNoPin, chip, chipNames())
	}
	return nil, fmt.Errorf("gpio pin %q: %w (pins: %s)", name, ErrNoPin, pinNames())
}

// gpioChip is the part of a gpioioctl.GPIOChip Pin uses.
type gpioChip interface {
	Name() string
	Label() string
	LineCount() int
	Line(offset int) gpio.PinIO
}

type ioctlChip struct{ *gpioioctl.GPIOChip }

func (c ioctlChip) Line(offset int) gpio.PinIO { return c.ByNumber(offset) }

// gpioChips lists the GPIO chips; tests replace it.
var gpioChips = func() []gpioChip {
	var out []gpioChip
	for _, c := range gpioioctl.Chips {
		out = append(out, ioctlChip{c})
	}
	return out
}

func chipNames() string {
	var names []string
	for _, c := range gpioChips() {
		names = append(names, c.Name()+" ("+c.Label()+")")
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// pinNames lists up to 20 registered pin names, in gpioreg's natural order,
// for an error message.
func pinNames() string {
	var names []string
	for _, p := range gpioreg.All() {
		names = append(names, p.Name())
	}
	if len(names) == 0 {
		return "none registered"
	}
	if len(names) > 20 {
		names = append(names[:20], "...")
	}
	return strings.Join(names, ", ")
}
