package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/tinymapper/tinymapper/internal/await"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
	"github.com/tinymapper/tinymapper/internal/edgecore"
)

// These tests run the whole mapper (serve, as main runs it) on the simulated
// board against the EdgeCore stand-in, over real unix sockets.

// fast are the cycles of the devices these tests deploy.
var fast = edgecore.Cycles{CollectMs: 200, ReportMs: 1000}

func tmp102Model() *pb.DeviceModel { return edgecore.TMP102Model() }
func eepromModel() *pb.DeviceModel { return edgecore.EEPROMModel() }

func tmp102Device(t *testing.T, name string, address any) *pb.Device {
	return edgecore.TMP102Device(name, address, fast)
}

func eepromDevice(t *testing.T, desired string) *pb.Device {
	return edgecore.EEPROMDevice(desired, fast)
}

// syncBuffer is a log sink tests can read while the mapper writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	dir, sock, edgecore string
	logs                *syncBuffer
	stop                func() error
}

// startMapper runs serve with the sim board until the test ends.
func startMapper(t *testing.T, extra ...string) *harness {
	t.Helper()
	dir, err := os.MkdirTemp("", "tm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return startMapperIn(t, dir, extra...)
}

// startMapperIn is startMapper with its sockets in dir.
func startMapperIn(t *testing.T, dir string, extra ...string) *harness {
	t.Helper()
	h := &harness{dir: dir, sock: filepath.Join(dir, "mapper.sock"), edgecore: filepath.Join(dir, "dmi.sock"), logs: &syncBuffer{}}
	args := append([]string{"--board", "sim", "--sock", h.sock, "--edgecore-sock", h.edgecore, "--http", "",
		"--token-file", filepath.Join(dir, "token")}, extra...)
	cfg, err := loadConfig(args)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, cfg, log) }()
	var once sync.Once
	var serveErr error
	h.stop = func() error {
		once.Do(func() { cancel(); serveErr = <-errc })
		return serveErr
	}
	t.Cleanup(func() {
		if err := h.stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("mapper log:\n%s", h.logs.String())
		}
	})
	return h
}

// logLines counts the mapper's log lines that contain every one of parts.
func (h *harness) logLines(parts ...string) int {
	n := 0
	for _, line := range strings.Split(h.logs.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

func TestRegistersPerProtocolAndReportsTheSimSensor(t *testing.T) {
	h := startMapper(t, "--report-rate", "5", "--report-burst", "5")
	stub, err := edgecore.Start(h.edgecore, edgecore.Options{
		Models: []*pb.DeviceModel{tmp102Model()}, Devices: []*pb.Device{tmp102Device(t, "room", 0x48)}})
	if err != nil {
		t.Fatal(err)
	}
	defer stub.Close()

	await.Within(t, 10*time.Second, "a temperature twin", func() bool { _, ok := stub.Twin("default", "room", "temperature"); return ok })
	// One registration per protocol with a driver, each named for it, all
	// with our socket.
	served := drivers(defaults().Common.Protocols)
	await.Within(t, 10*time.Second, "every protocol registered", func() bool { return len(stub.Mappers()) >= len(served) })
	mappers := stub.Mappers()
	if len(mappers) != len(served) {
		t.Errorf("%d mappers registered; want one per driver (%d)", len(mappers), len(served))
	}
	for _, d := range served {
		m := mappers[d.Protocol()]
		if m == nil || m.Name != "tinymapper-"+d.Protocol() || string(m.Address) != h.sock {
			t.Errorf("mapper for %s = %+v; want name tinymapper-%s and address %s", d.Protocol(), m, d.Protocol(), h.sock)
		}
	}
	if c := stub.Counts(); c.Registrations != len(served) {
		t.Errorf("%d registrations; want exactly one per protocol", c.Registrations)
	}
	tw, _ := stub.Twin("default", "room", "temperature")
	v, err := strconv.ParseFloat(tw.Reported, 64)
	if err != nil || v < 20 || v > 25 {
		t.Errorf("temperature twin %q; want a number in the sim's range [20, 25]", tw.Reported)
	}
	await.Within(t, 5*time.Second, "state online", func() bool {
		return strings.Contains(strings.Join(stub.States("default", "room"), ","), "online")
	})
	if bad := stub.Invalid(); len(bad) > 0 {
		t.Errorf("EdgeCore would drop: %v", bad)
	}
	if c := stub.Counts(); c.Rejected > 0 {
		t.Errorf("%d calls refused by the rate limiter", c.Rejected)
	}
}

// dataPlane returns the base URL the mapper's REST data plane logged.
func (h *harness) dataPlane(t *testing.T) string {
	t.Helper()
	re := regexp.MustCompile(`msg="data plane listening" address=(http://\S+)`)
	var url string
	await.Within(t, 10*time.Second, "the data plane", func() bool {
		m := re.FindStringSubmatch(h.logs.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})
	return url
}

// httpStatus GETs url and returns the status code (0 when it cannot connect).
func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestReadinessMeansRegisteredOrLoaded(t *testing.T) {
	t.Run("under EdgeCore: not ready until registered", func(t *testing.T) {
		h := startMapper(t, "--http", "127.0.0.1:0")
		url := h.dataPlane(t)
		time.Sleep(300 * time.Millisecond) // registration is failing meanwhile
		if code := httpStatus(url + "/readyz"); code != http.StatusServiceUnavailable {
			t.Errorf("/readyz without EdgeCore = %d; want 503", code)
		}
		if code := httpStatus(url + "/healthz"); code != http.StatusOK {
			t.Errorf("/healthz without EdgeCore = %d; want 200", code)
		}
		stub, err := edgecore.Start(h.edgecore, edgecore.Options{Unlimited: true})
		if err != nil {
			t.Fatal(err)
		}
		defer stub.Close()
		await.Within(t, 20*time.Second, "/readyz 200 once registered", func() bool { return httpStatus(url+"/readyz") == http.StatusOK })
		if len(stub.Mappers()) != len(drivers(defaults().Common.Protocols)) {
			t.Errorf("ready with %d of the protocols registered", len(stub.Mappers()))
		}
	})
	t.Run("standalone: ready once the devices are loaded", func(t *testing.T) {
		h := startMapper(t, "--http", "127.0.0.1:0", "--devices", "deploy/examples/i2c.yaml")
		url := h.dataPlane(t)
		if code := httpStatus(url + "/readyz"); code != http.StatusOK {
			t.Errorf("/readyz standalone = %d; want 200", code)
		}
	})
}

func TestRegistersOnlyOnceItsSocketListens(t *testing.T) {
	dir, err := os.MkdirTemp("", "tm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// EdgeCore is up first, so the mapper registers at once on start.
	stub, err := edgecore.Start(filepath.Join(dir, "dmi.sock"), edgecore.Options{Unlimited: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stub.Close()
	startMapperIn(t, dir)
	served := drivers(defaults().Common.Protocols)
	await.Within(t, 10*time.Second, "every protocol registered", func() bool { return len(stub.Mappers()) == len(served) })
	if u := stub.Unreachable(); len(u) > 0 {
		t.Errorf("registered before its socket listened: %q", u)
	}
}

func TestDeviceLifecycleOverDMI(t *testing.T) {
	// EdgeCore's limiter (1/s, burst 100) and the mapper's pacing: the
	// default burst, a rate under EdgeCore's but above the default 0.5/s,
	// so that the test stays quick.
	h := startMapper(t, "--report-rate", "0.9", "--report-burst", "20")
	stub, err := edgecore.Start(h.edgecore, edgecore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer stub.Close()
	await.Within(t, 10*time.Second, "registration", func() bool { return stub.Mappers()["i2c"] != nil })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// RegisterDevice: the sensor and the EEPROM with a desired value.
	if err := stub.Deploy(ctx, tmp102Model(), tmp102Device(t, "room", 0x48)); err != nil {
		t.Fatal(err)
	}
	if err := stub.Deploy(ctx, eepromModel(), eepromDevice(t, "7")); err != nil {
		t.Fatal(err)
	}
	await.Within(t, 5*time.Second, "EEPROM twin 7", func() bool {
		tw, _ := stub.Twin("default", "eeprom", "byte16")
		return tw.Reported == "7" && tw.ObservedDesired == "7"
	})

	// UpdateDevice with a new desired value is a write, read back as
	// reported, even after the unchanged model that EdgeCore sends before
	// every UpdateDevice: the device is not reopened.
	c, done, err := stub.Mapper("i2c")
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	if _, err := c.UpdateDeviceModel(ctx, &pb.UpdateDeviceModelRequest{Model: eepromModel()}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateDevice(ctx, &pb.UpdateDeviceRequest{Device: eepromDevice(t, "99")}); err != nil {
		t.Fatal(err)
	}
	await.Within(t, 5*time.Second, "EEPROM twin 99", func() bool {
		tw, _ := stub.Twin("default", "eeprom", "byte16")
		return tw.Reported == "99" && tw.ObservedDesired == "99"
	})
	if n := h.logLines(`msg="device started"`, "device=default/eeprom"); n != 1 {
		t.Errorf("the EEPROM was started %d times; want once: a desired change is a write, not a reopen", n)
	}

	// GetDevice returns the spec and the current twins.
	got, err := c.GetDevice(ctx, &pb.GetDeviceRequest{DeviceName: "eeprom", DeviceNamespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Device.GetSpec().GetDeviceModelReference() != "eeprom" || len(got.Device.GetStatus().GetTwins()) != 1 ||
		got.Device.Status.Twins[0].GetReported().GetValue() != "99" {
		t.Errorf("GetDevice = %v; want the eeprom spec with twin byte16=99", got.Device)
	}

	// An invalid device is refused with the field named; the others keep reporting.
	_, err = c.RegisterDevice(ctx, &pb.RegisterDeviceRequest{Device: tmp102Device(t, "broken", 72.5)})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "address") {
		t.Errorf("RegisterDevice(address 72.5) = %v; want InvalidArgument naming address", err)
	}
	before := stub.ReportsFor("default", "room")
	await.Within(t, 5*time.Second, "the sensor still reporting", func() bool { return stub.ReportsFor("default", "room") > before+1 })

	// RemoveDevice: no reports after it.
	if _, err := c.RemoveDevice(ctx, &pb.RemoveDeviceRequest{DeviceName: "room", DeviceNamespace: "default"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a report already in flight may land
	after := stub.ReportsFor("default", "room")
	time.Sleep(1500 * time.Millisecond)
	if n := stub.ReportsFor("default", "room"); n != after {
		t.Errorf("%d reports for a removed device", n-after)
	}
	if _, err := c.GetDevice(ctx, &pb.GetDeviceRequest{DeviceName: "room", DeviceNamespace: "default"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetDevice after removal = %v; want NotFound", err)
	}
	if bad := stub.Invalid(); len(bad) > 0 {
		t.Errorf("EdgeCore would drop: %v", bad)
	}
	if n := stub.Counts().Rejected; n != 0 {
		t.Errorf("%d calls refused by EdgeCore's limiter; want 0", n)
	}
}

func TestEdgeCoreAbsentAtStartIsRetriedQuietly(t *testing.T) {
	h := startMapper(t)
	time.Sleep(1500 * time.Millisecond) // several retries without EdgeCore
	stub, err := edgecore.Start(h.edgecore, edgecore.Options{
		Models: []*pb.DeviceModel{tmp102Model()}, Devices: []*pb.Device{tmp102Device(t, "room", 0x48)}})
	if err != nil {
		t.Fatal(err)
	}
	defer stub.Close()
	await.Within(t, 40*time.Second, "registration once EdgeCore is up", func() bool { return stub.Mappers()["i2c"] != nil })
	await.Within(t, 10*time.Second, "the device from registration reporting", func() bool { _, ok := stub.Twin("default", "room", "temperature"); return ok })
	logs := h.logs.String()
	var failures int
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			failures++
		}
	}
	if failures == 0 || failures > 2 {
		t.Errorf("%d warning lines while EdgeCore was absent; want it said once, not per retry:\n%s", failures, logs)
	}
}

func TestHundredDevicesStayInsideEdgeCoresLimiter(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	var devices []*pb.Device
	for i := 0; i < 100; i++ {
		devices = append(devices, tmp102Device(t, fmt.Sprintf("sensor-%03d", i), 0x48))
	}
	h := startMapper(t) // default pacing
	stub, err := edgecore.Start(h.edgecore, edgecore.Options{Models: []*pb.DeviceModel{tmp102Model()}, Devices: devices})
	if err != nil {
		t.Fatal(err)
	}
	defer stub.Close()
	await.Within(t, 10*time.Second, "registration", func() bool { return stub.Mappers()["i2c"] != nil })
	time.Sleep(6 * time.Second)
	c := stub.Counts()
	if c.Rejected != 0 {
		t.Errorf("%d calls refused by EdgeCore's limiter; want 0", c.Rejected)
	}
	// Default pacing: a burst of 20 less one token per registration, then
	// 0.5/s. Ask for a quarter of that, so a loaded machine still passes.
	if c.Reports < 4 {
		t.Errorf("%d reports in 6 s; the reporter should use its budget", c.Reports)
	}
	if len(stub.Invalid()) > 0 {
		t.Errorf("EdgeCore would drop: %v", stub.Invalid()[:1])
	}
}
