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

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

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
// board with deploy/examples/sim.yaml and reads live values over loopback.
func TestStandaloneRESTUnderEmulation(t *testing.T) {
	devices := filepath.Join(repoRoot(t), "deploy", "examples", "sim.yaml")
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
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
				t.Fatalf("GET /api/v1/devices = %+v; want default/room-sensor from sim.yaml", list)
			}

			url := base + "/api/v1/device/default/room-sensor/temperature"
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
				Models: []*pb.DeviceModel{tmp102Model()}, Devices: []*pb.Device{tmp102Device(t)}})
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
			if err := stub.Deploy(ctx, eepromModel(), eepromDevice(t, "42")); err != nil {
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

// configData wraps values the way EdgeCore does: strings as StringValue,
// numbers as FloatValue.
func configData(t *testing.T, kv ...any) *pb.CustomizedValue {
	t.Helper()
	c := &pb.CustomizedValue{Data: map[string]*anypb.Any{}}
	for i := 0; i < len(kv); i += 2 {
		var a *anypb.Any
		var err error
		switch v := kv[i+1].(type) {
		case string:
			a, err = anypb.New(wrapperspb.String(v))
		case float64:
			a, err = anypb.New(wrapperspb.Float(float32(v)))
		default:
			t.Fatalf("configData: %T", v)
		}
		if err != nil {
			t.Fatal(err)
		}
		c.Data[kv[i].(string)] = a
	}
	return c
}

func tmp102Model() *pb.DeviceModel {
	return &pb.DeviceModel{Name: "tmp102", Namespace: "default", Spec: &pb.DeviceModelSpec{
		Properties: []*pb.ModelProperty{{Name: "temperature", Type: "FLOAT", AccessMode: "ReadOnly", Minimum: "-40", Maximum: "125"}}}}
}

func eepromModel() *pb.DeviceModel {
	return &pb.DeviceModel{Name: "eeprom", Namespace: "default", Spec: &pb.DeviceModelSpec{
		Properties: []*pb.ModelProperty{{Name: "byte16", Type: "INT", AccessMode: "ReadWrite", Minimum: "0", Maximum: "255"}}}}
}

func eepromDevice(t *testing.T, desired string) *pb.Device {
	return &pb.Device{Name: "eeprom", Namespace: "default", Spec: &pb.DeviceSpec{
		DeviceModelReference: "eeprom",
		Protocol:             &pb.ProtocolConfig{ProtocolName: "i2c", ConfigData: configData(t, "bus", "1", "address", "0x50")},
		Properties: []*pb.DeviceProperty{{
			Name: "byte16", CollectCycle: 500, ReportCycle: 2000, ReportToCloud: true,
			Desired:  &pb.TwinProperty{Value: desired},
			Visitors: &pb.VisitorConfig{ProtocolName: "i2c", ConfigData: configData(t, "register", 16.0, "dataType", "uint8")},
		}}}}
}

func tmp102Device(t *testing.T) *pb.Device {
	return &pb.Device{Name: "room", Namespace: "default", Spec: &pb.DeviceSpec{
		DeviceModelReference: "tmp102",
		Protocol:             &pb.ProtocolConfig{ProtocolName: "i2c", ConfigData: configData(t, "bus", 1.0, "address", 72.0)},
		Properties: []*pb.DeviceProperty{{
			Name: "temperature", CollectCycle: 500, ReportCycle: 2000, ReportToCloud: true,
			Desired: &pb.TwinProperty{},
			Visitors: &pb.VisitorConfig{ProtocolName: "i2c",
				ConfigData: configData(t, "register", 0.0, "dataType", "int16", "shift", 4.0, "scale", 0.0625)},
		}}}}
}
