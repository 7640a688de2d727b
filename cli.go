package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"go.bug.st/serial/enumerator"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/spi/spireg"

	"github.com/tinymapper/tinymapper/board"
	"github.com/tinymapper/tinymapper/bus/i2c"
	"github.com/tinymapper/tinymapper/device/crd"
	"github.com/tinymapper/tinymapper/hal"
)

// commands are the subcommands besides running the mapper.
var commands = map[string]func(args []string, out io.Writer) error{
	"board": boardCommand,
	"scan":  scanCommand,
	"ports": portsCommand,
	// cli_discover.go
	"discover": discoverCommand,
}

// openBoardFor parses --board for a subcommand and opens the board.
func openBoardFor(name string, args []string, extra func(*flag.FlagSet)) (*board.Board, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("tinymapper "+name, flag.ContinueOnError)
	which := fs.String("board", "auto", "board: auto, sim, rpi, linux")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	b, err := board.Open(*which)
	return b, fs, err
}

// boardCommand prints the board and the buses, ports and pins it offers.
// With --devices FILE, it names the devices it has no bus for.
func boardCommand(args []string, out io.Writer) error {
	var devicesFile *string
	b, _, err := openBoardFor("board", args, func(fs *flag.FlagSet) {
		devicesFile = fs.String("devices", "", "a devices file or directory: name the devices this board has no bus for")
	})
	if err != nil {
		return err
	}
	defer b.Close()
	needs := map[string][]string{}
	if *devicesFile != "" {
		set, err := crd.Load(*devicesFile)
		if err != nil {
			return err
		}
		needs = needsOf(set.Devices)
	} else {
		for proto := range busKinds {
			needs[proto] = nil
		}
	}
	fmt.Fprintf(out, "board: %s\n", b.Name)
	if b.Model != "" {
		fmt.Fprintf(out, "model: %s\n", b.Model)
	}
	fmt.Fprintln(out, "i2c buses:")
	for _, r := range i2creg.All() {
		fmt.Fprintf(out, "  %-12s number %d, aliases %s\n", r.Name, r.Number, strings.Join(r.Aliases, " "))
	}
	fmt.Fprintln(out, "spi ports:")
	for _, r := range spireg.All() {
		fmt.Fprintf(out, "  %-12s number %d, aliases %s\n", r.Name, r.Number, strings.Join(r.Aliases, " "))
	}
	aliases := map[string][]string{}
	for _, a := range gpioreg.Aliases() {
		if r, ok := a.(gpio.RealPin); ok {
			aliases[r.Real().Name()] = append(aliases[r.Real().Name()], a.Name())
		}
	}
	fmt.Fprintln(out, "gpio pins:")
	for _, p := range gpioreg.All() {
		fmt.Fprintf(out, "  %-12s %s\n", p.Name(), strings.Join(aliases[p.Name()], " "))
	}
	fmt.Fprintln(out, "serial ports:")
	for _, p := range serialPorts() {
		fmt.Fprintf(out, "  %s\n", p)
	}
	for _, f := range b.Failed {
		fmt.Fprintf(out, "driver failed: %s\n", f)
	}
	for _, w := range b.Warnings {
		fmt.Fprintf(out, "warning: %s\n", w)
	}
	for _, g := range busGaps(b.Name, busCounts(), needs) {
		fmt.Fprintf(out, "missing: %s\n", g)
	}
	return nil
}

// scanCommand lists the addresses that answer on an I²C bus, as i2cdetect -r
// does: it reads one byte from each address 0x03..0x77. An address nobody
// acknowledges is "--"; any other error (a stuck bus, a controller that
// cannot read, no permission) ends the scan and is returned, naming the
// address, instead of hiding as "--".
func scanCommand(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "i2c" {
		return errors.New("usage: tinymapper scan i2c [--bus 1] [--board auto]")
	}
	var busName *string
	b, _, err := openBoardFor("scan i2c", args[1:], func(fs *flag.FlagSet) {
		busName = fs.String("bus", "1", "I²C bus name or number")
	})
	if err != nil {
		return err
	}
	defer b.Close()
	bus, err := hal.OpenI2C(*busName)
	if err != nil {
		return err
	}
	defer bus.Close()
	fmt.Fprintln(out, "     0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f")
	var buf [1]byte
	for row := 0; row < 0x80; row += 16 {
		fmt.Fprintf(out, "%02x:", row)
		for addr := row; addr < row+16; addr++ {
			if addr < 0x03 || addr > 0x77 {
				fmt.Fprint(out, "   ")
				continue
			}
			switch err := bus.Tx(uint16(addr), nil, buf[:]); {
			case err == nil:
				fmt.Fprintf(out, " %02x", addr)
			case i2c.IsNoAck(err):
				fmt.Fprint(out, " --")
			default:
				fmt.Fprintln(out)
				return fmt.Errorf("scan i2c bus %s: address 0x%02x: %w (the bus fails, not only this address: scan stopped)", *busName, addr, err)
			}
		}
		fmt.Fprintln(out)
	}
	return nil
}

// portsCommand lists serial ports: those the board registered (the sim's
// pseudo-terminals) and those the system has, with USB VID:PID where known.
func portsCommand(args []string, out io.Writer) error {
	b, _, err := openBoardFor("ports", args, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	for _, p := range serialPorts() {
		fmt.Fprintln(out, p)
	}
	return nil
}

// serialPorts describes every serial port, one line each, sorted.
func serialPorts() []string {
	var out []string
	for _, p := range hal.SerialPorts() {
		out = append(out, fmt.Sprintf("%s (%s) -> %s", p.Name, strings.Join(p.Aliases, ", "), p.Path))
	}
	ports, err := enumerator.GetDetailedPortsList()
	if err != nil {
		out = append(out, "system ports: "+err.Error())
	}
	for _, p := range ports {
		line := p.Name
		if p.IsUSB {
			line += fmt.Sprintf(" usb %s:%s", strings.ToLower(p.VID), strings.ToLower(p.PID))
			if p.Product != "" {
				line += " " + p.Product
			}
			if p.SerialNumber != "" {
				line += " serial " + p.SerialNumber
			}
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

// commandSummaries say what each of commands does, for the help; every
// command has one (TestEveryCommandIsInTheHelp).
var commandSummaries = map[string]string{
	"board":    "print the board, its buses, pins and serial ports, and which protocols it has no bus for",
	"discover": "list the tinymapper gateways on the LAN (mDNS); discover i2c|modbus: the parts on a bus or line (--yaml)",
	"ports":    "list serial ports, with USB VID:PID where known",
	"scan":     "scan i2c [--bus 1]: list the I²C addresses that answer, like i2cdetect",
}

// usage prints the help: how to run, the commands, the flags of running.
func usage(out io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(out, `Usage:
  tinymapper [flags]            run the mapper: under EdgeCore, or standalone with --devices FILE
  tinymapper COMMAND [flags]    one of the commands below
  tinymapper help [COMMAND]     this help, or a command's flags
  tinymapper version            version, commit and build date (also --version)

Commands:
`)
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(out, "  %-10s %s\n", name, commandSummaries[name])
	}
	fmt.Fprint(out, "\nFlags (each also a key of the --config file, in parentheses):\n")
	fs.PrintDefaults()
}
