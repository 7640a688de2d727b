package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tinymapper/tinymapper/data"
	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/secret"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/crd"
	"github.com/tinymapper/tinymapper/internal/yamlkeys"
)

// Config is tinymapper's configuration. Every key can be set in the YAML file
// given by --config and overridden by the flag of the same meaning.
type Config struct {
	GRPCServer struct {
		// SocketPath is our DeviceMapperService socket (--sock).
		SocketPath string `yaml:"socket_path"`
	} `yaml:"grpc_server"`
	Common struct {
		Name         string   `yaml:"name"`          // --name
		EdgeCoreSock string   `yaml:"edgecore_sock"` // --edgecore-sock
		Protocols    []string `yaml:"protocols"`     // --protocols
		HTTPAddress  string   `yaml:"http_address"`  // --http
		Board        string   `yaml:"board"`         // --board
	} `yaml:"common"`
	Report struct {
		Rate     float64 `yaml:"rate"`     // --report-rate
		Burst    int     `yaml:"burst"`    // --report-burst
		Parallel int     `yaml:"parallel"` // --report-parallel
	} `yaml:"report"`
	// HTTP bounds and secures the data plane's REST server.
	HTTP HTTPConfig `yaml:"http"`
	// MDNS is the DNS-SD advertisement of the data plane (README, Finding
	// gateways and hardware).
	MDNS MDNSConfig `yaml:"mdns"`
	// Push configures the push sinks (README, Data plane).
	Push PushConfig `yaml:"push"`
	// Devices is a KubeEdge Device/DeviceModel YAML file; set, it selects
	// standalone mode (--devices).
	Devices  string `yaml:"devices"`
	LogLevel string `yaml:"log_level"` // --log-level
}

// HTTPConfig is the http section: the REST server's limits (zero: the
// defaults of data.Limits).
type HTTPConfig struct {
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	MaxConnections    int           `yaml:"max_connections"`
	ProbeConnections  int           `yaml:"probe_connections"`
	// Auth is "token" (writes need the token) or "off" (--auth).
	Auth string `yaml:"auth"`
	// TokenFile holds the token; created 0600 at first start (--token-file).
	TokenFile string `yaml:"token_file"`
	// OpenReads says when GETs need no token: "loopback" (when the server
	// listens on a loopback address only), "always" or "never".
	OpenReads string `yaml:"open_reads"`
	// OpenProbes lets /healthz, /readyz and /metrics be read without the token.
	OpenProbes bool `yaml:"open_probes"`
	// TLSServerConfig serves HTTPS, as the Prometheus exporters' web config.
	TLSServerConfig struct {
		CertFile string `yaml:"cert_file"`
		KeyFile  string `yaml:"key_file"`
	} `yaml:"tls_server_config"`
}

// PushConfig is the push section.
type PushConfig struct {
	// Buffer is each destination's buffer, in samples (default 10000).
	Buffer int `yaml:"buffer"`
	// MaxDestinations bounds the destinations pushed to at once (default
	// 100); a property naming one more gets an error naming its field.
	MaxDestinations int `yaml:"max_destinations"`
	// Default is the pushMethod of every property that has none, written
	// as in a Device (for users without KubeEdge: "every property to this
	// MQTT broker"), and read as strictly as the rest of the file.
	Default *crd.PushMethodDoc `yaml:"default"`
	// Credentials maps a database destination ("redis 10.0.0.5:6379",
	// "influxdb2 http://10.0.0.7:8086") to a file holding its password or
	// token, so two databases can have different ones; without one, the
	// sink reads PASSWORD or TOKEN from the environment (README, Data plane).
	Credentials map[string]string `yaml:"credentials"`
	// Spool puts on disk what a destination's full buffer cannot hold,
	// for gateways that must ride out hours (README, Data plane).
	Spool SpoolConfig `yaml:"spool"`
}

// SpoolConfig is push.spool.
type SpoolConfig struct {
	// Dir is where each destination spools (a directory per destination,
	// created 0700); "" (the default) turns the spool off.
	Dir string `yaml:"dir"`
	// MaxBytes bounds each destination's spool (default 64 MiB); past
	// it the oldest spooled samples are dropped and counted.
	MaxBytes int64 `yaml:"max_bytes"`
}

// flagHelp is returned when -h was asked for: usage was printed, exit 0.
var flagHelp = errors.New("help requested")

// defaults returns the configuration with nothing set.
func defaults() Config {
	var c Config
	c.GRPCServer.SocketPath = "/etc/kubeedge/tinymapper.sock"
	c.Common.Name = "tinymapper"
	c.Common.EdgeCoreSock = "/etc/kubeedge/dmi.sock"
	c.Common.Protocols = []string{"i2c", "spi", "gpio", "serial", "modbus-rtu"}
	c.Common.HTTPAddress = "127.0.0.1:7777"
	c.Common.Board = "auto"
	// EdgeCore allows 1 call/s with a burst of 100 for every mapper on the
	// node together: stay well inside it.
	c.Report.Rate = 0.5
	c.Report.Burst = 20
	c.Report.Parallel = device.DefaultParallel
	c.HTTP.ReadHeaderTimeout = data.DefaultReadHeaderTimeout
	c.HTTP.ReadTimeout = data.DefaultReadTimeout
	c.HTTP.WriteTimeout = data.DefaultWriteTimeout
	c.HTTP.IdleTimeout = data.DefaultIdleTimeout
	c.HTTP.MaxConnections = data.DefaultMaxConns
	c.HTTP.ProbeConnections = data.DefaultProbeConns
	c.HTTP.Auth = "token"
	c.HTTP.TokenFile = "/var/lib/tinymapper/token"
	c.HTTP.OpenReads = "loopback"
	c.HTTP.OpenProbes = true
	c.Push.Buffer = 10000
	c.LogLevel = "info"
	return c
}

// loadConfig parses args: the config file first, then the flags over it.
func loadConfig(args []string) (Config, error) { return parseConfig(args, os.Stderr) }

// parseConfig is loadConfig printing the usage (for -h, or after a flag it
// does not know) to out.
func parseConfig(args []string, out io.Writer) (Config, error) {
	c := defaults()
	fs := flag.NewFlagSet("tinymapper", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { usage(out, fs) }
	configFile := fs.String("config", "", "YAML config file (keys as in deploy/config.yaml)")
	sock := fs.String("sock", c.GRPCServer.SocketPath, "unix socket for EdgeCore to call us on (grpc_server.socket_path)")
	edgecore := fs.String("edgecore-sock", c.Common.EdgeCoreSock, "EdgeCore's DMI socket (common.edgecore_sock)")
	name := fs.String("name", c.Common.Name, "mapper name; registered as NAME-PROTOCOL (common.name)")
	protocols := fs.String("protocols", strings.Join(c.Common.Protocols, ","), "protocols to serve, comma-separated (common.protocols)")
	httpAddr := fs.String("http", c.Common.HTTPAddress, "data plane REST address; empty disables it (common.http_address)")
	board := fs.String("board", c.Common.Board, "board: auto, sim, rpi, linux (common.board)")
	rate := fs.Float64("report-rate", c.Report.Rate, "DMI calls per second to EdgeCore; 0 = unpaced (report.rate)")
	burst := fs.Int("report-burst", c.Report.Burst, "DMI call burst (report.burst)")
	parallel := fs.Int("report-parallel", c.Report.Parallel, "DMI calls in flight at most, when the pacing lets them go at once (report.parallel)")
	devices := fs.String("devices", "", "standalone mode: run the Devices and DeviceModels in this YAML file (or every *.yaml in this directory) without EdgeCore (devices)")
	auth := fs.String("auth", c.HTTP.Auth, "REST authentication: token (writes need the token) or off (http.auth)")
	tokenFile := fs.String("token-file", c.HTTP.TokenFile, "file holding the REST token, created 0600 if missing (http.token_file)")
	logLevel := fs.String("log-level", c.LogLevel, "debug, info, warn or error (log_level)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, flagHelp
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *configFile != "" {
		b, err := os.ReadFile(*configFile)
		if err != nil {
			return c, err
		}
		var n yaml.Node
		if err := yaml.Unmarshal(b, &n); err != nil {
			return c, fmt.Errorf("%s: %w", *configFile, err)
		}
		if err := yamlkeys.Check(&n, reflect.TypeFor[Config]()); err != nil {
			return c, fmt.Errorf("%s: %w", *configFile, err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("%s: %w", *configFile, err)
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	over := func(flagName string, apply func()) {
		if set[flagName] {
			apply()
		}
	}
	over("sock", func() { c.GRPCServer.SocketPath = *sock })
	over("edgecore-sock", func() { c.Common.EdgeCoreSock = *edgecore })
	over("name", func() { c.Common.Name = *name })
	over("protocols", func() { c.Common.Protocols = splitList(*protocols) })
	over("http", func() { c.Common.HTTPAddress = *httpAddr })
	over("board", func() { c.Common.Board = *board })
	over("report-rate", func() { c.Report.Rate = *rate })
	over("report-burst", func() { c.Report.Burst = *burst })
	over("report-parallel", func() { c.Report.Parallel = *parallel })
	over("devices", func() { c.Devices = *devices })
	over("log-level", func() { c.LogLevel = *logLevel })
	over("auth", func() { c.HTTP.Auth = *auth })
	over("token-file", func() { c.HTTP.TokenFile = *tokenFile })
	return c, c.check()
}

func (c Config) check() error {
	switch {
	case c.Common.Name == "":
		return errors.New("common.name (--name) must not be empty")
	case c.Report.Rate < 0:
		return errors.New("report.rate (--report-rate) must not be negative")
	case c.Report.Rate > 0 && c.Report.Burst < 1:
		return errors.New("report.burst (--report-burst) must be at least 1")
	case c.Report.Parallel < 1 || c.Report.Parallel > 64:
		return fmt.Errorf("report.parallel (--report-parallel) must be 1 to 64, not %d", c.Report.Parallel)
	case len(c.Common.Protocols) == 0:
		return errors.New("common.protocols (--protocols) must name at least one protocol")
	case c.HTTP.MaxConnections < 0 || c.HTTP.ProbeConnections < 0:
		return errors.New("http.max_connections and http.probe_connections must not be negative")
	case c.HTTP.ReadHeaderTimeout < 0 || c.HTTP.ReadTimeout < 0 || c.HTTP.WriteTimeout < 0 || c.HTTP.IdleTimeout < 0:
		return errors.New("http timeouts must not be negative")
	case c.HTTP.Auth != "token" && c.HTTP.Auth != "off":
		return fmt.Errorf("http.auth (--auth) must be token or off, not %q", c.HTTP.Auth)
	case c.HTTP.Auth == "token" && c.HTTP.TokenFile == "" && c.Common.HTTPAddress != "":
		return errors.New("http.token_file (--token-file) must be set unless http.auth is off")
	case c.HTTP.OpenReads != "loopback" && c.HTTP.OpenReads != "always" && c.HTTP.OpenReads != "never":
		return fmt.Errorf("http.open_reads must be loopback, always or never, not %q", c.HTTP.OpenReads)
	case (c.HTTP.TLSServerConfig.CertFile == "") != (c.HTTP.TLSServerConfig.KeyFile == ""):
		return errors.New("http.tls_server_config needs both cert_file and key_file")
	case c.Push.Buffer < 0 || c.Push.Buffer > 10_000_000:
		return fmt.Errorf("push.buffer must be 0 (the default) to 10000000 samples, not %d", c.Push.Buffer)
	case c.Push.MaxDestinations < 0 || c.Push.MaxDestinations > 10_000:
		return fmt.Errorf("push.max_destinations must be 0 (the default, %d) to 10000, not %d", sink.DefaultMaxDestinations, c.Push.MaxDestinations)
	case c.Push.Spool.MaxBytes != 0 && (c.Push.Spool.MaxBytes < sink.MinSpoolBytes || c.Push.Spool.MaxBytes > sink.MaxSpoolBytes):
		return fmt.Errorf("push.spool.max_bytes must be 0 (the default, %d) or %d to %d, not %d", sink.DefaultSpoolBytes, sink.MinSpoolBytes, int64(sink.MaxSpoolBytes), c.Push.Spool.MaxBytes)
	case c.Devices == "" && c.GRPCServer.SocketPath == "":
		return errors.New("grpc_server.socket_path (--sock) must be set unless --devices is")
	}
	return checkCredentials(c.Push.Credentials)
}

// checkCredentials refuses a push.credentials key no sink would look up (a
// typo would silently fall back on the environment) and an empty file name.
func checkCredentials(files map[string]string) error {
	for k, f := range files {
		method, server, _ := strings.Cut(k, " ")
		ok := server != "" && !strings.ContainsAny(server, " /")
		switch method {
		case "redis", "mysql":
		case "influxdb2":
			ok = server != "" && secret.Origin(server) == server
		case "mqtt":
			broker, err := (&device.PushMQTT{Address: server}).Broker("")
			ok = err == nil && broker == server
		default:
			ok = false
		}
		if !ok {
			return fmt.Errorf(`push.credentials[%q]: the key must be "redis host:port", "mysql host:port", "influxdb2 scheme://host:port" or "mqtt tcp://host:port" (ssl:// for TLS)`, k)
		}
		if f == "" {
			return fmt.Errorf("push.credentials[%q]: no file named", k)
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
