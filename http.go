package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/tinymapper/tinymapper/data"
)

// restServer returns the REST server for h as the http section configures
// it: its limits, its authentication and, with a certificate, TLS. The
// token is read, or created, here; it is never logged, its file is.
func restServer(cfg Config, h http.Handler, log *slog.Logger) (*data.Server, error) {
	hc := cfg.HTTP
	auth := data.Auth{OpenProbes: hc.OpenProbes, Off: hc.Auth == "off"}
	switch hc.OpenReads {
	case "always":
		auth.OpenReads = true
	case "loopback":
		auth.OpenReads = data.Loopback(cfg.Common.HTTPAddress)
	}
	if auth.Off {
		log.Warn("REST authentication is off (http.auth: off): anyone who can reach the data plane can read devices and write their outputs",
			"address", cfg.Common.HTTPAddress)
	} else {
		token, created, err := data.LoadToken(hc.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("data plane: %w", err)
		}
		auth.Token = token
		if created {
			log.Info("created the REST token", "file", hc.TokenFile)
		}
		log.Info("REST writes need the token", "file", hc.TokenFile, "reads_open", auth.OpenReads, "probes_open", auth.OpenProbes)
	}
	srv := data.NewServer(auth.Wrap(h), data.Limits{
		ReadHeaderTimeout: hc.ReadHeaderTimeout, ReadTimeout: hc.ReadTimeout,
		WriteTimeout: hc.WriteTimeout, IdleTimeout: hc.IdleTimeout,
		MaxConns: hc.MaxConnections, ProbeConns: hc.ProbeConnections,
	})
	if tc := hc.TLSServerConfig; tc.CertFile != "" {
		t, err := data.LoadTLS(tc.CertFile, tc.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("data plane: %w", err)
		}
		srv.TLSConfig = t
	}
	return srv, nil
}

// restURL is the data plane's base URL on ln.
func restURL(srv *data.Server, ln net.Listener) string {
	if srv.TLSConfig != nil {
		return "https://" + ln.Addr().String()
	}
	return "http://" + ln.Addr().String()
}
