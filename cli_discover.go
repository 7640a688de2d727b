package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tinymapper/tinymapper/bus/i2c/identify"
	"github.com/tinymapper/tinymapper/data/mdns"
	"github.com/tinymapper/tinymapper/hal"
)

// maxDiscoverTimeout bounds --timeout.
const maxDiscoverTimeout = time.Minute

// discoverCommand lists the tinymapper gateways that answer on the LAN
// (mDNS, _tinymapper._tcp), one line each, or as JSON.
func discoverCommand(args []string, out io.Writer) error {
	if len(args) > 0 && args[0] == "i2c" {
		return discoverI2C(args[1:], out)
	}
	if len(args) > 0 && args[0] == "modbus" {
		return discoverModbus(args[1:], out) // cli_discover_modbus.go
	}
	fs := flag.NewFlagSet("tinymapper discover", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for answers (at most 1m)")
	asJSON := fs.Bool("json", false, "print a JSON array")
	ifaces := fs.String("interfaces", "", "interfaces to ask on, comma-separated (default: every up, multicast, non-loopback one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (usage: tinymapper discover [--timeout 3s] [--json])", fs.Arg(0))
	}
	if *timeout <= 0 || *timeout > maxDiscoverTimeout {
		return errors.New("--timeout must be between 0 and 1m")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	gws, err := mdns.Browse(ctx, splitList(*ifaces))
	if err != nil {
		return err
	}
	return printGateways(out, gws, *asJSON, *timeout)
}

// discoveredGateway is one line of `discover --json`.
type discoveredGateway struct {
	Name    string            `json:"name"`
	Address string            `json:"address"`
	Host    string            `json:"host"`
	Version string            `json:"version"`
	Board   string            `json:"board"`
	Devices int               `json:"devices"`
	TXT     map[string]string `json:"txt"`
}

func printGateways(out io.Writer, gws []mdns.Gateway, asJSON bool, waited time.Duration) error {
	list := make([]discoveredGateway, 0, len(gws))
	for _, g := range gws {
		addr := g.Address
		if addr == "" {
			addr = fmt.Sprintf("%s.local:%d", g.Host, g.Port)
		}
		list = append(list, discoveredGateway{Name: g.Name, Address: addr, Host: g.Host,
			Version: g.TXT["version"], Board: g.TXT["board"], Devices: g.Devices(), TXT: g.TXT})
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if len(list) == 0 {
		fmt.Fprintf(out, "no tinymapper gateway answered within %s\n", waited)
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tVERSION\tBOARD\tDEVICES")
	for _, g := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", g.Name, g.Address, g.Version, g.Board, g.Devices)
	}
	return tw.Flush()
}

// discoverI2C probes an I²C bus and names the parts it knows (see package
// identify); with --yaml it prints a DeviceModel and a Device per part.
func discoverI2C(args []string, out io.Writer) error {
	var busName, node *string
	var asYAML *bool
	b, fs, err := openBoardFor("discover i2c", args, func(fs *flag.FlagSet) {
		busName = fs.String("bus", "1", "I²C bus name or number")
		asYAML = fs.Bool("yaml", false, "print a KubeEdge DeviceModel and Device per part found")
		node = fs.String("node", mdns.Hostname(), "spec.nodeName of the Devices (--yaml)")
	})
	if err != nil {
		return err
	}
	defer b.Close()
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (usage: tinymapper discover i2c [--bus 1] [--yaml] [--board auto])", fs.Arg(0))
	}
	bus, err := hal.OpenI2C(*busName)
	if err != nil {
		return err
	}
	defer bus.Close()
	parts, err := identify.Probe(bus)
	if err != nil {
		return fmt.Errorf("discover i2c bus %s: %w (the bus fails, not only this address: probe stopped)", *busName, err)
	}
	if *asYAML {
		return identify.WriteYAML(out, parts, *busName, *node)
	}
	if len(parts) == 0 {
		fmt.Fprintf(out, "no device answered on I²C bus %s\n", *busName)
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tPART\tIDENTIFIED BY")
	for _, p := range parts {
		kind := string(p.Kind)
		if kind == "" {
			kind = "?"
		}
		fmt.Fprintf(tw, "0x%02x\t%s\t%s\n", p.Addr, kind, p.Info)
	}
	return tw.Flush()
}
