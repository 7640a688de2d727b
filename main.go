// Command tinymapper is a KubeEdge device mapper for embedded gateways: it reads
// GPIO, I²C, SPI and serial devices, keeps their twins current in EdgeCore over
// DMI, and serves their samples on a local REST data plane.
//
//	tinymapper [flags]              run (under EdgeCore, or standalone with --devices)
//	tinymapper help [COMMAND]       the flags and commands, or a command's flags
//	tinymapper version              print version, commit and build date (also --version)
//	tinymapper board                print the board, its buses, pins and serial ports
//	tinymapper scan i2c --bus 1     list the I²C addresses that answer, like i2cdetect
//	tinymapper ports                list serial ports, with USB VID:PID where known
//	tinymapper discover             list the tinymapper gateways on the LAN (mDNS)
//	tinymapper discover i2c --bus 1 name the chips on a bus; --yaml writes their Devices
//	tinymapper discover modbus      list the slaves that answer on a serial line
//
// See the README for flags and the config file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tinymapper/tinymapper/board"
	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/gpio"
	"github.com/tinymapper/tinymapper/bus/i2c"
	"github.com/tinymapper/tinymapper/bus/modbus"
	"github.com/tinymapper/tinymapper/bus/serial"
	"github.com/tinymapper/tinymapper/bus/spi"
	"github.com/tinymapper/tinymapper/data"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/dmi"
	"github.com/tinymapper/tinymapper/internal/cut"
)

// Stamped by the Makefile with -ldflags -X.
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

// shutdownBudget bounds the last report and the socket cleanup on exit.
const shutdownBudget = 3 * time.Second

// gcPercent is the GOGC tinymapper runs with unless the environment sets
// one: a gateway has more CPU to spare than memory, so the heap may grow by
// half its live size between collections instead of doubling. At 1000
// devices this lowers peak RSS by about 8 MiB at no CPU cost we could
// measure (README, Performance).
const gcPercent = 50

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tinymapper:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	usageOut := stderr
	if len(args) > 0 {
		switch args[0] {
		case "version", "--version", "-version":
			fmt.Fprintf(stdout, "tinymapper %s (commit %s, built %s)\n", version, commit, date)
			return nil
		case "help", "--help", "-help", "-h":
			if len(args) > 1 && args[0] == "help" {
				if cmd, ok := commands[args[1]]; ok {
					return helped(cmd([]string{"-h"}, stdout))
				}
				return fmt.Errorf("help: no command %q; tinymapper help lists them", args[1])
			}
			usageOut, args = stdout, []string{"-h"}
		}
		if cmd, ok := commands[args[0]]; ok {
			return helped(cmd(args[1:], stdout))
		}
	}
	cfg, err := parseConfig(args, usageOut)
	if errors.Is(err, flagHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, stderr)
	slog.SetDefault(log) // board/ logs its warnings (such as --board auto choosing sim) through it
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, log)
}

// helped turns the flag package's "help requested" (a command's -h, whose
// usage it printed) into success.
func helped(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// drivers returns the protocol drivers for the configured protocols.
func drivers(protocols []string) []bus.Driver {
	all := []bus.Driver{i2c.Driver{}, spi.Driver{}, gpio.Driver{}, serial.Driver{}, modbus.Driver{}}
	var out []bus.Driver
	for _, d := range all {
		if slices.Contains(protocols, d.Protocol()) {
			out = append(out, d)
		}
	}
	return out
}

func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	// One instance per socket: the lock first, then every listener, and
	// only then the hardware, so that a second instance fails having
	// touched nothing (no socket replaced, no device opened or written).
	unlock, err := lockInstance(cfg)
	if err != nil {
		return err
	}
	defer unlock()
	unlockSpool, err := lockSpool(cfg.Push.Spool.Dir)
	if err != nil {
		return err
	}
	defer unlockSpool()
	ls, err := listen(cfg, log)
	if err != nil {
		return err
	}
	defer ls.close() // those not handed to a server yet

	b, err := board.Open(cfg.Common.Board)
	if err != nil {
		return err // it names the board
	}
	defer b.Close()
	log.Info("tinymapper starting", "version", version, "board", b.Name)
	if len(b.Failed) > 0 {
		log.Info("host drivers that did not start (their buses are missing)", "drivers", strings.Join(b.Failed, "; "))
	}

	drv := drivers(cfg.Common.Protocols)
	if len(drv) == 0 {
		return fmt.Errorf("none of the protocols %s has a driver", strings.Join(cfg.Common.Protocols, ", "))
	}
	mgr := device.NewManager(device.Options{Log: log}, drv...)
	sinks, err := newSinks(cfg.Push, mgr, log)
	if err != nil {
		return err
	}

	var sender device.Sender
	// ready is what /readyz answers: standalone, once the devices file is
	// loaded; under EdgeCore, once registration has succeeded.
	ready := func() bool { return false }
	var wg sync.WaitGroup
	work, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	errc := make(chan error, 4)

	var refused []device.DeviceView // standalone: the devices of the file refused
	if cfg.Devices != "" {
		devs, refusedViews, err := loadDevices(mgr, cfg.Devices, log)
		if err != nil {
			return err
		}
		refused = refusedViews
		for _, g := range busGaps(b.Name, busCounts(), needsOf(devs)) {
			log.Warn("the board has no bus for these devices: they cannot run and wait offline; enable the bus, or use the simulated board (--board sim)",
				"board", g.Board, "missing", g.Kind+" ("+g.Where+")", "protocol", g.Protocol, "devices", strings.Join(g.Devices, ","))
		}
		log.Info("standalone mode: EdgeCore is not contacted", "devices", cfg.Devices)
		ready = func() bool { return true }
	} else {
		srv := dmi.NewServer(mgr, log)
		dmiLn := ls.take(&ls.dmi)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.ServeListener(work, dmiLn, cfg.GRPCServer.SocketPath); err != nil {
				errc <- fmt.Errorf("DMI server: %w", err)
			}
		}()
		client, err := dmi.NewClient(dmi.ClientConfig{
			Socket: cfg.Common.EdgeCoreSock, Address: cfg.GRPCServer.SocketPath,
			Name: cfg.Common.Name, Version: version, Protocols: mgr.Protocols(),
			Rate: cfg.Report.Rate, Burst: cfg.Report.Burst, Log: log, Server: srv,
		}, mgr)
		if err != nil {
			return err
		}
		defer client.Close()
		sender = client
		ready = client.Registered
		wg.Add(1)
		go func() {
			defer wg.Done()
			// EdgeCore calls our socket as soon as we register: listen first.
			select {
			case <-srv.Ready():
			case <-work.Done():
				return
			}
			client.Run(work)
		}()
	}

	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := mgr.Run(work); err != nil {
			errc <- fmt.Errorf("devices: %w", err)
		}
	}()

	wg.Add(1)
	go func() {
		defer wg.Done()
		sinks.Run(work)
	}()

	var reporter *device.Reporter
	reportCtx, stopReports := context.WithCancel(work)
	reportDone := make(chan struct{})
	if sender != nil {
		reporter = device.NewReporter(mgr, sender, log)
		reporter.SetParallel(cfg.Report.Parallel)
		go func() {
			defer close(reportDone)
			reporter.Run(reportCtx)
		}()
	} else {
		close(reportDone)
	}

	var httpSrv *data.Server
	stopMDNS := func(context.Context) {}
	if ls.rest != nil {
		ln := ls.take(&ls.rest)
		var src data.Source = plane{mgr, sinks}
		if cfg.Devices != "" {
			src = &standalone{plane{mgr, sinks}, refused}
		}
		httpSrv = restServer(cfg, ls.sec, data.Handler(src, ready, log))
		log.Info("data plane listening", "address", restURL(httpSrv, ln))
		stopMDNS = startMDNS(cfg, ln.Addr(), b.Name, mgr, log)
		go func() {
			if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("data plane: %w", err)
			}
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case runErr = <-errc:
		log.Error("stopping", "err", runErr)
	}

	// Stop reporting, send what changed since the last report, then stop
	// sampling and serving. All of it within shutdownBudget.
	stopReports()
	<-reportDone
	final, cancel := context.WithTimeout(context.Background(), shutdownBudget)
	defer cancel()
	if reporter != nil {
		n := reporter.Flush(final)
		log.Info("last report sent", "devices", n)
	}
	stopMDNS(final) // goodbye packets before the data plane closes
	if httpSrv != nil {
		httpSrv.Shutdown(final)
	}
	stopWork()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-final.Done():
		log.Warn("shutdown budget exceeded")
	}
	log.Info("stopped")
	return runErr
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	// Every line quotes at most cut.Max bytes of any one input.
	return slog.New(cut.Handler(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})))
}
