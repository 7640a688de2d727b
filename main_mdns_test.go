package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestMDNSIsOnWhenTheDataPlaneIsReachable(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		name    string
		enabled *bool
		ip      string
		want    bool
	}{
		{"loopback, unset: off", nil, "127.0.0.1", false},
		{"every address, unset: on", nil, "0.0.0.0", true},
		{"one LAN address, unset: on", nil, "192.0.2.1", true},
		{"loopback, enabled: on", &on, "127.0.0.1", true},
		{"every address, disabled: off", &off, "0.0.0.0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mdnsWanted(tc.enabled, net.ParseIP(tc.ip)); got != tc.want {
				t.Errorf("mdnsWanted = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMDNSConfigKeys(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(f, []byte("mdns:\n  enabled: false\n  name: gw-7\n  interfaces: [eth0, wlan0]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig([]string{"--config", f})
	if err != nil {
		t.Fatal(err)
	}
	if c.MDNS.Enabled == nil || *c.MDNS.Enabled || c.MDNS.Name != "gw-7" || len(c.MDNS.Interfaces) != 2 {
		t.Errorf("mdns config %+v", c.MDNS)
	}
}
