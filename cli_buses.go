package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.bug.st/serial/enumerator"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/spi/spireg"

	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/hal"
)

// busKinds names, per protocol, the kind of bus it runs on and where Linux
// shows one, for the messages of busGaps.
var busKinds = map[string]struct{ kind, where string }{
	"i2c":        {"I²C bus", "no /dev/i2c-*; on a Pi, raspi-config enables it"},
	"spi":        {"SPI port", "no /dev/spidev*; on a Pi, raspi-config enables it"},
	"gpio":       {"GPIO pin", "no /dev/gpiochip*"},
	"serial":     {"serial port", "no /dev/tty* port"},
	"modbus-rtu": {"serial port", "no /dev/tty* port"},
}

// busCounts counts the buses of each kind the opened board registered.
func busCounts() map[string]int {
	serial := len(hal.SerialPorts())
	if ports, err := enumerator.GetDetailedPortsList(); err == nil {
		serial += len(ports)
	}
	return map[string]int{
		"i2c": len(i2creg.All()), "spi": len(spireg.All()), "gpio": len(gpioreg.All()),
		"serial": serial, "modbus-rtu": serial,
	}
}

// gap is a protocol the devices use whose kind of bus the board has none of.
type gap struct {
	Board, Protocol string
	Kind, Where     string   // from busKinds
	Devices         []string // "namespace/name", sorted; none when not known
}

func (g gap) String() string {
	s := fmt.Sprintf("board %s has no %s (%s): the %s devices", g.Board, g.Kind, g.Where, g.Protocol)
	if len(g.Devices) > 0 {
		s += " " + strings.Join(g.Devices, ", ")
	}
	return s + " cannot run and wait offline; enable the bus, or use the simulated board (--board sim)"
}

// busGaps returns, for each protocol the devices use (protocol → device
// keys) that has no bus at all on the board (counts from busCounts), a gap,
// sorted by protocol. Protocols tinymapper has no driver for are not its to
// judge.
func busGaps(boardName string, counts map[string]int, needs map[string][]string) []gap {
	var out []gap
	for proto, devs := range needs {
		k, ok := busKinds[proto]
		if !ok || counts[proto] > 0 {
			continue
		}
		devs = slices.Clone(devs)
		sort.Strings(devs)
		out = append(out, gap{Board: boardName, Protocol: proto, Kind: k.kind, Where: k.where, Devices: devs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Protocol < out[j].Protocol })
	return out
}

// needsOf returns the devices of each protocol.
func needsOf(devs []device.Device) map[string][]string {
	out := map[string][]string{}
	for _, d := range devs {
		out[d.Protocol] = append(out[d.Protocol], device.Key(d.Namespace, d.Name))
	}
	return out
}
