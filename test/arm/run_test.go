package arm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
	"github.com/tinymapper/tinymapper/internal/edgecore"
)

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// get fetches url and decodes a 200 answer into v; it returns the status.
func get(url string, v any) (int, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || v == nil {
		return resp.StatusCode, err
	}
	return resp.StatusCode, json.Unmarshal(b, v)
}

// sample is the part of a property's REST answer the test reads.
type sample struct {
	Value     *float64  `json:"value"`
	Timestamp time.Time `json:"timestamp"`
	Error     string    `json:"error"`
}

// TestStandaloneRESTUnderEmulation runs each ARM binary on the simulated
// board with deploy/examples/i2c.yaml and reads live values over loopback.
func TestStandaloneRESTUnderEmulation(t *testing.T) {
	example, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "examples", "i2c.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			// Each binary gets its own copy: a devices file is one instance's
			// (tinymapper locks it), as a gateway has one set of hardware.
			devices := filepath.Join(t.TempDir(), "i2c.yaml")
			if err := os.WriteFile(devices, example, 0o644); err != nil {
				t.Fatal(err)
			}
			base := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
			p := start(t, tg, "--board", "sim", "--devices", devices, "--http", base[len("http://"):])

			eventually(t, p, 60*time.Second, "GET /healthz", func() bool {
				code, _ := get(base+"/healthz", nil)
				return code == http.StatusOK
			})
			var list []struct{ Namespace, Name, State string }
			if code, err := get(base+"/api/v1/devices", &list); code != http.StatusOK || err != nil {
				t.Fatalf("GET /api/v1/devices: %d, %v", code, err)
			}
			found := false
			for _, d := range list {
				found = found || d.Namespace == "default" && d.Name == "room-sensor"
			}
			if !found {
				t.Fatalf("GET /api/v1/devices = %+v; want default/room-sensor from i2c.yaml", list)
			}

			url := base + "/api/v1/device/default/room-sensor/temperature?format=tinymapper"
			var first sample
			eventually(t, p, 30*time.Second, "a temperature sample", func() bool {
				code, err := get(url, &first)
				return code == http.StatusOK && err == nil && first.Value != nil
			})
			if v := *first.Value; v < 20 || v > 25 {
				t.Errorf("temperature %v; want the sim's TMP102 range [20, 25]", v)
			}
			// collectCycle is 1 s: the next sample has a later timestamp.
			var next sample
			eventually(t, p, 15*time.Second, "a newer temperature sample", func() bool {
				code, err := get(url, &next)
				return code == http.StatusOK && err == nil && next.Value != nil && next.Timestamp.After(first.Timestamp)
			})
			if v := *next.Value; v < 20 || v > 25 {
				t.Errorf("temperature %v; want the sim's TMP102 range [20, 25]", v)
			}
			if age := time.Since(next.Timestamp); age < -time.Second || age > 10*time.Second {
				t.Errorf("latest sample is %v old; want a live value", age)
			}
			p.terminate(t)
		})
	}
}

// TestDMIUnderEmulation runs each ARM binary under the EdgeCore stand-in:
// registration, a twin, a device EdgeCore sends to the mapper's socket, and a
// clean SIGTERM exit that removes the socket.
func TestDMIUnderEmulation(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			// Not t.TempDir: a unix socket path must fit in 108 bytes.
			dir, err := os.MkdirTemp("", "tm")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			ecSock, sock := filepath.Join(dir, "dmi.sock"), filepath.Join(dir, "mapper.sock")
			stub, err := edgecore.Start(ecSock, edgecore.Options{
				Models: []*pb.DeviceModel{edgecore.TMP102Model()}, Devices: []*pb.Device{edgecore.TMP102Device("room", 72, armCycles)}})
			if err != nil {
				t.Fatal(err)
			}
			defer stub.Close()

			p := start(t, tg, "--board", "sim", "--edgecore-sock", ecSock, "--sock", sock, "--http", "")
			eventually(t, p, 60*time.Second, "registration with EdgeCore", func() bool { return stub.Mappers()["i2c"] != nil })
			if m := stub.Mappers()["i2c"]; m.Name != "tinymapper-i2c" || string(m.Address) != sock {
				t.Errorf("registered %+v; want name tinymapper-i2c and address %s", m, sock)
			}
			eventually(t, p, 30*time.Second, "a temperature twin", func() bool {
				_, ok := stub.Twin("default", "room", "temperature")
				return ok
			})
			tw, _ := stub.Twin("default", "room", "temperature")
			if v, err := strconv.ParseFloat(tw.Reported, 64); err != nil || v < 20 || v > 25 {
				t.Errorf("temperature twin %q; want a number in [20, 25]", tw.Reported)
			}
			if bad := stub.Invalid(); len(bad) > 0 {
				t.Errorf("EdgeCore would drop: %v", bad)
			}

			// EdgeCore calls the mapper back on its socket with a new device
			// whose desired value is written to the sim's EEPROM and read back.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := stub.Deploy(ctx, edgecore.EEPROMModel(), edgecore.EEPROMDevice("42", armCycles)); err != nil {
				t.Fatal(err)
			}
			eventually(t, p, 30*time.Second, "EEPROM twin 42", func() bool {
				tw, _ := stub.Twin("default", "eeprom", "byte16")
				return tw.Reported == "42" && tw.ObservedDesired == "42"
			})

			p.terminate(t)
			if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("mapper socket after exit: %v; want it removed", err)
			}
		})
	}
}

// armCycles are slow enough for binaries under emulation.
var armCycles = edgecore.Cycles{CollectMs: 500, ReportMs: 2000}
