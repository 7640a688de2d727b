package dmi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/connectivity"

	"github.com/tinymapper/tinymapper/device"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// Run registers every protocol with EdgeCore, then watches the connection
// and registers again whenever EdgeCore comes back after going away (or
// answers a report with Unavailable). While EdgeCore cannot be reached it
// retries with exponential backoff, from half a second up to 30 seconds, and
// logs one warning per outage. Run returns nil when ctx ends.
func (c *Client) Run(ctx context.Context) error {
	outage := false
	for {
		if err := c.registerAll(ctx, &outage); err != nil {
			return nil // ctx ended
		}
		if err := c.watch(ctx); err != nil {
			return nil // ctx ended
		}
		c.log.Warn("lost EdgeCore; registering again when it is back", "socket", c.cfg.Socket)
		outage = true
	}
}

// registerAll registers every protocol, retrying those that fail until all
// have succeeded or ctx ends. *outage says whether the current outage has
// been logged already.
//
// A round stops at the first failure that is not EdgeCore's limiter: when
// EdgeCore cannot be reached, the other protocols would fail the same way.
// Protocols that succeeded before such a failure registered with an EdgeCore
// that may have gone away since, so the next round registers them again;
// a round that failed before any success retries only what is left, so a
// mapper that starts before EdgeCore registers each protocol once.
func (c *Client) registerAll(ctx context.Context, outage *bool) error {
	pending := slices.Clone(c.cfg.Protocols)
	delay := c.retryMin
	for {
		var failed []string
		var firstErr error
		succeeded, lostAfterSuccess := false, false
		for i, p := range pending {
			err := c.Register(ctx, p)
			if err == nil {
				succeeded = true
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if firstErr == nil {
				firstErr = err
			}
			if errors.Is(err, ErrRateLimited) {
				failed = append(failed, p)
				continue
			}
			// EdgeCore itself failed: leave the rest for the next round.
			failed = append(failed, pending[i:]...)
			lostAfterSuccess = succeeded
			break
		}
		if len(failed) == 0 {
			// Reports that found EdgeCore unavailable until now found the
			// EdgeCore this registration replaced: their news is stale. Once
			// the client says it is registered, a report's news is kept for
			// watch, even if watch has not started yet.
			select {
			case <-c.unavailable:
			default:
			}
			c.log.Info("registered with EdgeCore", "socket", c.cfg.Socket, "protocols", c.cfg.Protocols)
			c.registered.Store(true)
			*outage = false
			return nil
		}
		if !*outage {
			c.log.Warn("cannot register with EdgeCore; retrying until it answers", "socket", c.cfg.Socket, "err", firstErr)
			*outage = true
		} else {
			c.log.Debug("still cannot register with EdgeCore", "err", firstErr, "retry_in", delay)
		}
		pending = failed
		if lostAfterSuccess {
			pending = slices.Clone(c.cfg.Protocols)
		}
		if err := c.sleepUntilReady(ctx, delay); err != nil {
			return err
		}
		delay = min(delay*2, c.retryMax)
	}
}

// sleepUntilReady waits for d, or less if the connection to EdgeCore
// becomes ready meanwhile (EdgeCore is back: register at once), or until
// ctx ends.
func (c *Client) sleepUntilReady(ctx context.Context, d time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		st := c.conn.GetState()
		if st == connectivity.Ready {
			return ctx.Err()
		}
		if st == connectivity.Idle {
			c.conn.Connect()
		}
		if !c.conn.WaitForStateChange(wctx, st) {
			return ctx.Err() // d is up, or ctx ended
		}
	}
}

// Register registers one protocol with EdgeCore, asking for its data, and
// loads the models and devices EdgeCore returns into the Registry: models
// first, then devices. A model or device that is rejected is logged and the
// others are still loaded.
//
// Register does not wait for the report pacing: registering every
// protocol is a handful of calls once per EdgeCore start, well inside
// EdgeCore's burst, while reports waiting for EdgeCore to come back may
// have run the pacer dry for many seconds. A refusal by EdgeCore's limiter
// is retried by Run.
func (c *Client) Register(ctx context.Context, protocol string) error {
	info, ok := c.mappers[protocol]
	if !ok {
		return fmt.Errorf("dmi: register %s: protocol not in the client's configuration", protocol)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// The answer is EdgeCore's view when it handled the request: what it
	// sends us after that (an UpdateDevice racing the answer) is newer.
	stamp := c.reg.Stamp()
	resp, err := c.api.MapperRegister(ctx, &pb.MapperRegisterRequest{WithData: true, Mapper: info})
	if err != nil {
		return c.callError("register "+protocol, err, false)
	}
	c.load(protocol, resp, stamp)
	return nil
}

// load hands the models and devices of one registration, asked for at
// stamp, to the Registry. A device changed since stamp keeps its newer spec.
func (c *Client) load(protocol string, resp *pb.MapperRegisterResponse, stamp uint64) {
	models, devices := 0, 0
	for _, m := range resp.GetModelList() {
		if err := c.putModel(m); err != nil {
			c.log.Warn("rejected model from EdgeCore", "protocol", protocol, "model", m.GetName(), "err", err)
			continue
		}
		models++
	}
	listed := make(map[string]bool, len(resp.GetDeviceList()))
	for _, d := range resp.GetDeviceList() {
		listed[device.Key(namespaceOr(d.GetNamespace()), d.GetName())] = true
		if err := c.putDevice(d, stamp); errors.Is(err, device.ErrStale) {
			c.log.Info("kept a device's newer spec, received during registration", "protocol", protocol, "device", d.GetName())
			continue
		} else if err != nil {
			c.log.Warn("rejected device from EdgeCore", "protocol", protocol, "device", d.GetName(), "err", err)
			continue
		}
		devices++
	}
	// EdgeCore's list is the whole truth for this protocol: a device it no
	// longer has was deleted while we could not hear about it.
	dropped := 0
	for _, key := range c.reg.DeviceKeys(protocol) {
		if listed[key] {
			continue
		}
		ns, name, _ := strings.Cut(key, "/")
		if err := c.removeDevice(ns, name, stamp); errors.Is(err, device.ErrStale) {
			continue // added during registration
		} else if err != nil {
			c.log.Warn("cannot drop a device EdgeCore no longer has", "device", key, "err", err)
			continue
		}
		c.log.Info("dropped a device EdgeCore no longer has", "device", key)
		dropped++
	}
	c.log.Info("loaded from EdgeCore", "protocol", protocol, "models", models, "devices", devices, "dropped", dropped)
}

// removeDevice removes a device from the Registry as of stamp (through the
// Server, if there is one, so that it forgets the spec).
func (c *Client) removeDevice(namespace, name string, stamp uint64) error {
	if c.cfg.Server != nil {
		return c.cfg.Server.removeDeviceInto(c.reg, namespace, name, stamp)
	}
	return c.reg.RemoveDeviceAsOf(namespace, name, stamp)
}

// putModel converts m and hands it to the Registry.
func (c *Client) putModel(m *pb.DeviceModel) error {
	if c.cfg.Server != nil {
		_, err := c.cfg.Server.putModelInto(c.reg, m)
		return err
	}
	model, err := ModelFromProto(m)
	if err != nil {
		return err
	}
	return c.reg.PutModel(model)
}

// putDevice converts d and hands it, stamped, to the Registry (through the
// Server, if there is one, so that it remembers the spec).
func (c *Client) putDevice(d *pb.Device, stamp uint64) error {
	if c.cfg.Server != nil {
		_, err := c.cfg.Server.putDeviceInto(c.reg, d, stamp)
		return err
	}
	dev, err := DeviceFromProto(d)
	if err != nil {
		return err
	}
	dev.Stamp = stamp
	return c.reg.PutDevice(dev)
}

// watch returns nil when the connection to EdgeCore is lost (it leaves
// READY, or a report found EdgeCore unavailable since registerAll
// succeeded), and ctx's error when ctx ends. Right after a registration the
// channel may still say CONNECTING or IDLE for a moment; that is waited out,
// not taken for a loss, so a healthy start does not register twice.
func (c *Client) watch(ctx context.Context) error {
	wasReady := false
	for {
		st := c.conn.GetState()
		switch st {
		case connectivity.Ready:
			wasReady = true
		case connectivity.TransientFailure, connectivity.Shutdown:
			return nil
		default: // Idle or Connecting
			if wasReady {
				return nil
			}
			if st == connectivity.Idle {
				c.conn.Connect()
			}
		}
		lost, err := c.waitForChange(ctx, st)
		if err != nil {
			return err
		}
		if lost {
			return nil
		}
	}
}

// waitForChange waits until the channel leaves state st (false), a report
// finds EdgeCore unavailable (true), or ctx ends (its error).
func (c *Client) waitForChange(ctx context.Context, st connectivity.State) (lost bool, err error) {
	wctx, cancel := context.WithCancel(ctx)
	changed := make(chan struct{})
	go func() {
		c.conn.WaitForStateChange(wctx, st)
		close(changed)
	}()
	select {
	case <-changed:
	case <-c.unavailable:
		lost = true
	case <-ctx.Done():
	}
	cancel()
	<-changed
	return lost, ctx.Err()
}
