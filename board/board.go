// Package board knows the boards tinymapper runs on. It detects the board,
// starts whatever serves its buses, and names them.
//
// A board profile is how a bus name such as "1" comes to mean something. On
// Linux ("linux", "rpi") Open starts periph's host drivers, which register the
// kernel's /dev/i2c-N buses in periph's registries; on the simulated board
// ("sim") Open registers the parts of board/sim there instead. Everything above
// (hal, bus/*) opens buses from those registries by name and does not know
// which board it is on.
package board

import (
	"fmt"
	"io/fs"
	"os"
	"strings"

	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/host/v3"

	"github.com/tinymapper/tinymapper/board/sim"
)

// Board is an opened board profile.
type Board struct {
	// Name is the profile: "sim", "linux" or "rpi".
	Name string
	// Model is the board's model from the device tree, such as
	// "Raspberry Pi 4 Model B Rev 1.4"; empty when unknown.
	Model string
	// I2C names the I²C buses registered in periph's i2creg when the board
	// was opened (every bus of the process, sorted). hal.OpenI2C takes these,
	// their aliases and their numbers.
	I2C []string
	// Failed lists the host drivers that failed to start, for the log: a bus
	// whose driver failed (often for lack of permission on /dev/i2c-N) is
	// missing from I2C.
	Failed []string
}

// Detect names the board this process runs on: "sim" when there are no
// /dev/i2c-*, /dev/spidev* or /dev/gpiochip* devices, else the Raspberry Pi
// model from /proc/device-tree/model (such as "Raspberry Pi 4 Model B Rev
// 1.4"), else "linux".
func Detect() string { return detect(os.DirFS("/")) }

func detect(root fs.FS) string {
	hardware := false
	for _, pattern := range []string{"dev/i2c-*", "dev/spidev*", "dev/gpiochip*"} {
		if m, _ := fs.Glob(root, pattern); len(m) > 0 {
			hardware = true
		}
	}
	if !hardware {
		return "sim"
	}
	if model := readModel(root); isRaspberryPi(model) {
		return model
	}
	return "linux"
}

// readModel returns the device tree's model string, or "".
func readModel(root fs.FS) string {
	b, err := fs.ReadFile(root, "proc/device-tree/model")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
}

func isRaspberryPi(model string) bool { return strings.HasPrefix(model, "Raspberry Pi") }

// Open opens the board profile called name:
//
//	auto   the board Detect finds
//	sim    the simulated board (board/sim); works anywhere
//	linux  any Linux board, through periph's host drivers
//	rpi    a Raspberry Pi, through periph's host drivers; fails elsewhere
//
// Opening registers the board's buses in periph's registries for the rest of
// the process; opening "sim" again, or a second Board, is harmless.
func Open(name string) (*Board, error) {
	switch name {
	case "auto":
		switch d := Detect(); {
		case d == "sim":
			return openSim()
		case d == "linux":
			return openHost("linux", readModel(os.DirFS("/")))
		default:
			b, err := openHost("rpi", d)
			if err == nil {
				aliasHeader()
			}
			return b, err
		}
	case "sim":
		return openSim()
	case "linux":
		return openHost("linux", readModel(os.DirFS("/")))
	case "rpi":
		model := readModel(os.DirFS("/"))
		if !isRaspberryPi(model) {
			return nil, fmt.Errorf("board rpi: not a Raspberry Pi (/proc/device-tree/model is %q); use linux", model)
		}
		b, err := openHost("rpi", model)
		if err == nil {
			aliasHeader()
		}
		return b, err
	}
	return nil, fmt.Errorf("board %q: unknown; want auto, sim, linux or rpi", name)
}

func openSim() (*Board, error) {
	if err := sim.Register(); err != nil {
		return nil, fmt.Errorf("board sim: %w", err)
	}
	return &Board{Name: "sim", I2C: []string{sim.I2C1}}, nil
}

func openHost(name, model string) (*Board, error) {
	state, err := host.Init()
	if err != nil {
		return nil, fmt.Errorf("board %s: start periph host drivers: %w", name, err)
	}
	b := &Board{Name: name, Model: model}
	for _, f := range state.Failed {
		b.Failed = append(b.Failed, f.String())
	}
	for _, r := range i2creg.All() {
		b.I2C = append(b.I2C, r.Name)
	}
	return b, nil
}

// Close releases what Open started. Registrations in periph's registries last
// for the process (periph has no way to undo host.Init), so today Close has
// nothing to release and returns nil.
func (b *Board) Close() error { return nil }
