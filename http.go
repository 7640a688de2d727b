package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/tinymapper/tinymapper/data"
)

// restSecurity is the REST server's authentication and TLS as the http
// section configures them. The token is read, or created, here; it is never
// logged, its file is.
type restSecurity struct {
	auth data.Auth
	tls  *tls.Config
}

func loadRESTSecurity(cfg Config, log *slog.Logger) (restSecurity, error) {
	hc := cfg.HTTP
	sec := restSecurity{auth: data.Auth{OpenProbes: hc.OpenProbes, Off: hc.Auth == "off"}}
	switch hc.OpenReads {
	case "always":
		sec.auth.OpenReads = true
	case "loopback":
		sec.auth.OpenReads = data.Loopback(cfg.Common.HTTPAddress)
	}
	if sec.auth.Off {
		log.Warn("REST authentication is off (http.auth: off): anyone who can reach the data plane can read devices and write their outputs",
			"address", cfg.Common.HTTPAddress)
	} else {
		token, created, err := data.LoadToken(hc.TokenFile)
		if err != nil {
			return sec, fmt.Errorf("data plane: %w", err)
		}
		sec.auth.Token = token
		if created {
			log.Info("created the REST token", "file", hc.TokenFile)
		}
		log.Info("REST writes need the token", "file", hc.TokenFile, "reads_open", sec.auth.OpenReads, "probes_open", sec.auth.OpenProbes)
	}
	if tc := hc.TLSServerConfig; tc.CertFile != "" {
		t, err := data.LoadTLS(tc.CertFile, tc.KeyFile)
		if err != nil {
			return sec, fmt.Errorf("data plane: %w", err)
		}
		sec.tls = t
	}
	return sec, nil
}

// restServer returns the REST server for h with the http section's limits
// and sec.
func restServer(cfg Config, sec restSecurity, h http.Handler) *data.Server {
	hc := cfg.HTTP
	srv := data.NewServer(sec.auth.Wrap(h), data.Limits{
		ReadHeaderTimeout: hc.ReadHeaderTimeout, ReadTimeout: hc.ReadTimeout,
		WriteTimeout: hc.WriteTimeout, IdleTimeout: hc.IdleTimeout,
		MaxConns: hc.MaxConnections, ProbeConns: hc.ProbeConnections,
	})
	srv.TLSConfig = sec.tls
	return srv
}

// restURL is the data plane's base URL on ln.
func restURL(srv *data.Server, ln net.Listener) string {
	if srv.TLSConfig != nil {
		return "https://" + ln.Addr().String()
	}
	return "http://" + ln.Addr().String()
}
