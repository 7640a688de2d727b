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
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/i2c/i2creg"
	// The kernel's interfaces only: /dev/i2c-N and /dev/spidevB.C (sysfs),
	// GPIO lines through /dev/gpiochipN (gpioioctl). Not periph's host.Init,
	// whose SoC drivers (bcm283x, allwinner, pine64, rpi, ...) map registers
	// through /dev/gpiomem for nothing hal uses, at 458 752 bytes of the
	// arm64 binary (docs/architecture.md, Size).
	_ "periph.io/x/host/v3/gpioioctl"
	_ "periph.io/x/host/v3/sysfs"

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
	// Warnings are what the operator must know about the board, for the
	// log and `tinymapper board`: above all that --board auto found no
	// hardware and is running the simulated board. Open also logs them
	// (slog's default logger).
	Warnings []string
}

// Detect names the board this process runs on: "sim" when it finds no
// hardware (see Hardware), else the Raspberry Pi model from
// /proc/device-tree/model (such as "Raspberry Pi 4 Model B Rev 1.4"), else
// "linux".
func Detect() string { return detect(os.DirFS("/")) }

func detect(root fs.FS) string {
	if len(Hardware(root)) == 0 {
		return "sim"
	}
	if model := readModel(root); isRaspberryPi(model) {
		return model
	}
	return "linux"
}

// Hardware lists the bus devices found under root (a host's "/"), as paths
// relative to it: I²C buses (dev/i2c-*), SPI ports (dev/spidev*), GPIO chips
// (dev/gpiochip*) and serial ports. Serial ports count when they certainly
// are hardware: a USB adapter or CDC ACM device (dev/ttyUSB*, dev/ttyACM*), a
// PL011 UART (dev/ttyAMA*), or any of these or a ttyS* that sysfs shows with
// a device behind it (sys/class/tty/NAME/device). The kernel creates
// /dev/ttyS0 to ttyS31 on most PCs whether or not a UART is there; such a
// placeholder has a device too, but its sys/class/tty/NAME/type is 0
// (PORT_UNKNOWN), so it does not count.
func Hardware(root fs.FS) []string {
	var found []string
	for _, pattern := range []string{"dev/i2c-*", "dev/spidev*", "dev/gpiochip*", "dev/ttyUSB*", "dev/ttyACM*", "dev/ttyAMA*"} {
		m, _ := fs.Glob(root, pattern)
		found = append(found, m...)
	}
	ttys, _ := fs.Glob(root, "sys/class/tty/tty*")
	for _, dir := range ttys {
		name := path.Base(dir)
		if !serialName(name) || slices.Contains(found, "dev/"+name) {
			continue
		}
		if _, err := fs.Stat(root, dir+"/device"); err != nil {
			continue
		}
		if strings.HasPrefix(name, "ttyS") {
			typ, err := fs.ReadFile(root, dir+"/type")
			if err != nil || strings.TrimSpace(string(typ)) == "0" {
				continue
			}
		}
		found = append(found, dir)
	}
	return found
}

// serialName reports whether a tty's name is one of a UART or a USB serial
// device, the kinds of port a gateway reaches RS-232 and RS-485 lines by.
func serialName(name string) bool {
	for _, prefix := range []string{"ttyUSB", "ttyACM", "ttyAMA", "ttyS"} {
		if rest, ok := strings.CutPrefix(name, prefix); ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
			return true
		}
	}
	return false
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
func Open(name string) (*Board, error) { return open(name, os.DirFS("/")) }

// open is Open with the host's "/" at root, for --board auto.
func open(name string, root fs.FS) (*Board, error) {
	switch name {
	case "auto":
		switch d := detect(root); {
		case d == "sim":
			b, err := openSim()
			if err == nil {
				b.warn(autoSim)
			}
			return b, err
		case d == "linux":
			return openHost("linux", readModel(root))
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

// autoSim is the warning of --board auto on a host without hardware.
const autoSim = "--board auto found no I²C bus, SPI port, GPIO chip or serial port " +
	"(/dev/i2c-*, /dev/spidev*, /dev/gpiochip*, /dev/ttyUSB*, /dev/ttyACM*, /dev/ttyAMA*, a UART in /sys/class/tty): " +
	"running the SIMULATED board, every value is simulated; pass --board linux (or rpi) to use the host's devices"

func openSim() (*Board, error) {
	if err := sim.Register(); err != nil {
		return nil, fmt.Errorf("board sim: %w", err)
	}
	b := &Board{Name: "sim", I2C: []string{sim.I2C1}}
	for _, w := range sim.Warnings() {
		b.warn(w)
	}
	return b, nil
}

// warn records a warning and logs it.
func (b *Board) warn(msg string) {
	b.Warnings = append(b.Warnings, msg)
	slog.Warn("board " + b.Name + ": " + msg)
}

// openHost starts the host drivers board imports (sysfs and gpioioctl).
func openHost(name, model string) (*Board, error) {
	state, err := driverreg.Init()
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
