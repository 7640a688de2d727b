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

	"github.com/tinymapper/tinymapper/data/mdns"
)

// maxDiscoverTimeout bounds --timeout.
const maxDiscoverTimeout = time.Minute

// discoverCommand lists the tinymapper gateways that answer on the LAN
// (mDNS, _tinymapper._tcp), one line each, or as JSON.
func discoverCommand(args []string, out io.Writer) error {
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
