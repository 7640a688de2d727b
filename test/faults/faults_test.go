package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
	"github.com/tinymapper/tinymapper/internal/edgecore"
)

// counts are how often each fault is made: a few minutes in `make test`,
// longer with FAULTS_SOAK=1.
type counts struct {
	restarts, kills, replugs, hostileDMI, hostileREST, slowloris, churn int
}

func suiteCounts() counts {
	if os.Getenv("FAULTS_SOAK") != "" {
		return counts{restarts: 20, kills: 10, replugs: 20, hostileDMI: 10000, hostileREST: 12000, slowloris: 1000, churn: 1000}
	}
	return counts{restarts: 4, kills: 2, replugs: 3, hostileDMI: 1000, hostileREST: 1500, slowloris: 200, churn: 200}
}

// TestFaults runs every part and prints the table; any FAIL fails it.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite takes minutes")
	}
	n := suiteCounts()
	tb := &table{}
	start := time.Now()
	t.Run("edgecore restarts", func(t *testing.T) { edgeCoreRestarts(t, tb, n.restarts) })
	t.Run("mapper killed", func(t *testing.T) { mapperKilled(t, tb, n.kills) })
	t.Run("serial replug", func(t *testing.T) { serialReplug(t, tb, n.replugs) })
	t.Run("hostile dmi", func(t *testing.T) { hostileDMI(t, tb, n.hostileDMI) })
	t.Run("hostile rest", func(t *testing.T) { hostileREST(t, tb, n.hostileREST, n.slowloris) })
	t.Run("churn", func(t *testing.T) { churn(t, tb, n.churn) })
	fmt.Printf("\ntinymapper fault suite (%s, %s)\n", soakName(), secs(time.Since(start)))
	tb.print(os.Stdout)
	for _, f := range tb.failed() {
		t.Errorf("FAIL %s", f)
	}
}

func soakName() string {
	if os.Getenv("FAULTS_SOAK") != "" {
		return "soak"
	}
	return "short; FAULTS_SOAK=1 for the soak"
}

// shortDir is a temporary directory short enough for unix socket paths.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tmf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

var eepromCycles = edgecore.Cycles{CollectMs: 200, ReportMs: 1000}

// restValue is the value the REST API shows for the EEPROM byte.
func restValue(m *mapper) string {
	resp, err := client.Get(m.base + "/api/v1/device/default/eeprom/byte16?format=tinymapper")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var p struct {
		Value json.Number `json:"value"`
	}
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &p)
	return p.Value.String()
}

// edgeCoreRestarts kills the stand-in n times, deletes its socket, and
// starts it again with a new desired value in its registration answer; as
// soon as the mapper has registered it sends an UpdateDevice with a newer
// one, racing the answer. The newer value must win every time.
func edgeCoreRestarts(t *testing.T, tb *table, n int) {
	dir := shortDir(t)
	sock := filepath.Join(dir, "dmi.sock")
	opts := func(desired string) edgecore.Options {
		return edgecore.Options{Models: []*pb.DeviceModel{edgecore.EEPROMModel()},
			Devices: []*pb.Device{edgecore.EEPROMDevice(desired, eepromCycles)}}
	}
	stub, err := edgecore.Start(sock, opts("1"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { stub.Close() }()
	m := startMapper(t, dir)
	if !within(15*time.Second, func() bool {
		tw, ok := stub.Twin("default", "eeprom", "byte16")
		return ok && tw.ObservedDesired == "1"
	}) {
		t.Fatalf("no first twin:\n%s", m.tail())
	}
	var maxReg, maxTwin time.Duration
	lost, failedReg := 0, 0
	for i := range n {
		stub.Close() // and its socket is removed
		time.Sleep(time.Second + time.Duration(i%3)*500*time.Millisecond)
		answer, update := strconv.Itoa(20+i), strconv.Itoa(120+i)
		stub, err = edgecore.Start(sock, opts(answer))
		if err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		if within(10*time.Second, func() bool { _, ok := stub.Mappers()["i2c"]; return ok }) {
			if c, done, err := stub.Mapper("i2c"); err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err = c.UpdateDevice(ctx, &pb.UpdateDeviceRequest{Device: edgecore.EEPROMDevice(update, eepromCycles)})
				cancel()
				done()
				if err != nil {
					t.Logf("restart %d: UpdateDevice: %v", i, err)
				}
			}
		}
		if within(10*time.Second, func() bool { return len(stub.Mappers()) == 5 }) {
			maxReg = max(maxReg, time.Since(back))
		} else {
			failedReg++
		}
		if within(15*time.Second, func() bool { _, ok := stub.Twin("default", "eeprom", "byte16"); return ok }) {
			maxTwin = max(maxTwin, time.Since(back))
		} else {
			maxTwin = max(maxTwin, 15*time.Second)
		}
		if !within(10*time.Second, func() bool {
			tw, _ := stub.Twin("default", "eeprom", "byte16")
			return tw.ObservedDesired == update && tw.Reported == update && restValue(m) == update
		}) {
			tw, _ := stub.Twin("default", "eeprom", "byte16")
			t.Logf("restart %d: desired %s lost: twin %+v, REST value %q", i, update, tw, restValue(m))
			lost++
		}
	}
	tb.section(fmt.Sprintf("EdgeCore killed and restarted %d times, socket deleted", n))
	tb.add("restarts every protocol registered after", fmt.Sprintf("%d of %d", n-failedReg, n), "all", failedReg == 0)
	tb.add("time to register again, max", secs(maxReg), "≤ 3 s", failedReg == 0 && maxReg <= 3*time.Second)
	tb.add("time to the first twin, max", secs(maxTwin), "≤ 10 s", maxTwin <= 10*time.Second)
	tb.add("desired writes lost (update racing registration)", fmt.Sprintf("%d of %d", lost, n), "0", lost == 0)
	tb.add("mapper alive", strconv.FormatBool(m.alive()), "true", m.alive())
}

// mapperKilled SIGKILLs the mapper n times and starts it again: it must
// replace its stale socket, take its lock again and register within a few
// seconds, and the desired value must be in the device.
func mapperKilled(t *testing.T, tb *table, n int) {
	dir := shortDir(t)
	stub, err := edgecore.Start(filepath.Join(dir, "dmi.sock"), edgecore.Options{
		Models: []*pb.DeviceModel{edgecore.EEPROMModel()}, Devices: []*pb.Device{edgecore.EEPROMDevice("77", eepromCycles)}})
	if err != nil {
		t.Fatal(err)
	}
	defer stub.Close()
	m := startMapper(t, dir)
	var maxReg, maxValue time.Duration
	failed := 0
	for range n {
		before := stub.Counts().Registrations
		m.kill()
		start := time.Now()
		m.start()
		if within(10*time.Second, func() bool { return stub.Counts().Registrations >= before+5 }) {
			maxReg = max(maxReg, time.Since(start))
		} else {
			failed++
		}
		if within(10*time.Second, func() bool { return restValue(m) == "77" }) {
			maxValue = max(maxValue, time.Since(start))
		} else {
			failed++
		}
	}
	tb.section(fmt.Sprintf("mapper SIGKILLed and restarted %d times", n))
	tb.add("restarts that came back", fmt.Sprintf("%d of %d", n-failed/2, n), "all", failed == 0)
	tb.add("time from start to registered, max", secs(maxReg), "≤ 5 s", failed == 0 && maxReg <= 5*time.Second)
	tb.add("time from start to the desired value read, max", secs(maxValue), "≤ 10 s", failed == 0 && maxValue <= 10*time.Second)
}

// churn registers and removes a device n times over DMI.
func churn(t *testing.T, tb *table, n int) {
	dir := shortDir(t)
	stub, err := edgecore.Start(filepath.Join(dir, "dmi.sock"), edgecore.Options{Unlimited: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stub.Close()
	m := startMapper(t, dir)
	if !within(10*time.Second, func() bool { return len(stub.Mappers()) == 5 }) {
		t.Fatal("not registered")
	}
	c, done, err := stub.Mapper("i2c")
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	ctx := context.Background()
	if _, err := c.CreateDeviceModel(ctx, &pb.CreateDeviceModelRequest{Model: edgecore.TMP102Model()}); err != nil {
		t.Fatal(err)
	}
	warm := func(i int) error {
		d := edgecore.TMP102Device(fmt.Sprintf("churn-%d", i), 72, edgecore.Cycles{CollectMs: 50, ReportMs: 1000})
		if _, err := c.RegisterDevice(ctx, &pb.RegisterDeviceRequest{Device: d}); err != nil {
			return err
		}
		time.Sleep(2 * time.Millisecond)
		_, err := c.RemoveDevice(ctx, &pb.RemoveDeviceRequest{DeviceName: d.Name, DeviceNamespace: "default"})
		return err
	}
	for i := range 20 { // warm up: pools, buffers, the first ring
		warm(i)
	}
	time.Sleep(time.Second)
	before := m.usage()
	errs := 0
	for i := range n {
		if warm(1000+i) != nil {
			errs++
		}
	}
	after := m.settled(before, 3, 10*time.Second)
	tb.section(fmt.Sprintf("register/remove churn, %d cycles", n))
	tb.add("calls that failed", strconv.Itoa(errs), "0", errs == 0)
	tb.leak(before, after, 3, 4*1024)
	tb.add("mapper alive", strconv.FormatBool(m.alive()), "true", m.alive())
}

// get is an http.Get with the suite's client, draining the body.
func get(url string) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

var _ = http.StatusOK
