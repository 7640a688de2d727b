package main

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/tinymapper/tinymapper/data/mdns"
	"github.com/tinymapper/tinymapper/device"
)

// MDNSConfig is the mdns: section of the config file.
type MDNSConfig struct {
	// Enabled: unset, the data plane is advertised when it listens on an
	// address other hosts can reach (not loopback); true or false decides.
	Enabled *bool `yaml:"enabled"`
	// Name is the instance name; default $NODE_NAME, else the host name.
	Name string `yaml:"name"`
	// Interfaces to advertise on; default every up, multicast-capable,
	// non-loopback interface.
	Interfaces []string `yaml:"interfaces"`
}

// restTokenRequired says whether the REST data plane asks writers for a
// token, for the TXT record.
func restTokenRequired(cfg Config) bool { return cfg.HTTP.Auth != "off" }

// startMDNS advertises the data plane listening on addr, when the config
// asks for it (see MDNSConfig.Enabled). stop withdraws the advertisement
// (goodbye packets) and waits for it, at most until ctx ends.
func startMDNS(cfg Config, addr net.Addr, boardName string, mgr *device.Manager, log *slog.Logger) (stop func(ctx context.Context)) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !mdnsWanted(cfg.MDNS.Enabled, tcp.IP) {
		return func(context.Context) {}
	}
	name := cfg.MDNS.Name
	if name == "" {
		name = mdns.Hostname()
	}
	ifaces := cfg.MDNS.Interfaces
	if len(ifaces) == 0 && !tcp.IP.IsUnspecified() {
		ifaces = interfaceWith(tcp.IP) // listening on one address: advertise it only
	}
	a := &mdns.Advertiser{
		Info: mdns.Info{
			Instance: name, Port: tcp.Port, Version: version, Board: boardName,
			Protocols: mgr.Protocols(), APIPath: "/api/v1", TokenRequired: restTokenRequired(cfg),
		},
		Devices: mgr, Interfaces: ifaces, Log: log,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Run(ctx); err != nil {
			log.Error("mdns: not advertising", "err", err)
		}
	}()
	// The names announced (renamed if another host holds them) are logged
	// by the advertiser once probing is done: "mdns: announcing".
	log.Info("mdns: probing for the data plane's names", "service", mdns.ServiceType, "instance", name, "port", tcp.Port)
	return func(wait context.Context) {
		cancel()
		select {
		case <-done:
		case <-wait.Done():
		case <-time.After(time.Second):
		}
	}
}

// mdnsWanted: explicit true or false wins; unset, advertise when the data
// plane is reachable from other hosts.
func mdnsWanted(enabled *bool, ip net.IP) bool {
	if enabled != nil {
		return *enabled
	}
	return !ip.IsLoopback()
}

// interfaceWith names the interface that has ip, if one does.
func interfaceWith(ip net.IP) []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	for _, ifi := range ifs {
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
				return []string{ifi.Name}
			}
		}
	}
	return nil
}
