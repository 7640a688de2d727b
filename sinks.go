package main

import (
	"io"
	"log/slog"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/secret"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/crd"
)

// sinkKinds are the push methods built in; each sink_*.go file adds its
// own unless its build tag leaves it out (README, Data plane).
var sinkKinds []sink.Kind

// pushSecrets finds the database sinks' credentials in the files
// push.credentials names (newSinks fills them in); the kinds fall back on
// the environment.
var pushSecrets = &secret.Store{}

// newSinks returns the push sinks of the push section.
func newSinks(cfg PushConfig, mgr *device.Manager, log *slog.Logger) (*sink.Sinks, error) {
	def, err := crd.DecodePushMethod("push.default", cfg.Default)
	if err != nil {
		return nil, err
	}
	pushSecrets.Files = cfg.Credentials
	if def != nil {
		log.Info("push.default: properties without a pushMethod are pushed too")
	}
	if cfg.Spool.Dir != "" {
		log.Info("push.spool: what a full buffer cannot hold goes to disk (cleared at every start)", "dir", cfg.Spool.Dir)
	}
	return sink.New(mgr, sink.Options{Buffer: cfg.Buffer, MaxDestinations: cfg.MaxDestinations, Default: def, Log: log,
		SpoolDir: cfg.Spool.Dir, SpoolBytes: cfg.Spool.MaxBytes}, sinkKinds...), nil
}

// plane is what the REST API serves: the devices, plus the sinks' errors
// and figures. (Not embedded: Stats would be ambiguous.)
type plane struct {
	*device.Manager
	sinks *sink.Sinks
}

func (p plane) PushErrors(namespace, name string) []string {
	return p.sinks.PushErrors(namespace, name)
}
func (p plane) WritePushMetrics(w io.Writer) { p.sinks.WritePushMetrics(w) }
