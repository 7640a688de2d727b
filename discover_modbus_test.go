package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/internal/await"
)

// discoveredModbusYAML is `discover modbus --yaml` on the sim's RS-485 line
// (slaves 1 and 2 behind a pseudo-terminal), reading input register 2, Unix
// seconds mod 65536; checked in so that test/kubeedge converts it.
const discoveredModbusYAML = "deploy/examples/discovered-modbus.yaml"

var discoverModbusArgs = []string{"discover", "modbus", "--board", "sim", "--port", "/dev/ttyUSB0", "--to", "4", "--function", "4", "--register", "2"}

func TestDiscoverModbusScansTheSimLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want *regexp.Regexp
	}{
		{"holding register 0: slaves 1 and 2", []string{"discover", "modbus", "--board", "sim", "--port", "/dev/ttyUSB0", "--to", "4"},
			regexp.MustCompile(`^SLAVE +ANSWER\n1 +holding register 0 = \d+\n2 +holding register 0 = \d+\n$`)},
		{"a register past the map: the slaves answer with exception 02", []string{"discover", "modbus", "--board", "sim", "--port", "/dev/ttyUSB0", "--from", "2", "--to", "3", "--function", "4", "--register", "100"},
			regexp.MustCompile(`^SLAVE +ANSWER\n2 +illegal data address \(exception 02\) \(the slave is there\)\n$`)},
		{"another baud rate: nobody answers", []string{"discover", "modbus", "--board", "sim", "--port", "/dev/ttyUSB0", "--to", "2", "--baud", "9600"},
			regexp.MustCompile(`^no slave 1\.\.2 answered on /dev/ttyUSB0 at 9600 8E1\n$`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(tc.args, &out, &out); err != nil {
				t.Fatal(err)
			}
			if !tc.want.Match(out.Bytes()) {
				t.Errorf("got\n%s\nwant %s", out.String(), tc.want)
			}
		})
	}
}

func TestDiscoverModbusRefusesBadRanges(t *testing.T) {
	for _, args := range [][]string{{"--from", "0"}, {"--to", "248"}, {"--from", "5", "--to", "4"}, {"--function", "6"}, {"--parity", "mark"}} {
		var out bytes.Buffer
		if err := run(append([]string{"discover", "modbus", "--board", "sim"}, args...), &out, &out); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestDiscoveredModbusYAMLRunsOnTheSim: the YAML is the checked-in example,
// and run standalone each slave's property reads Unix seconds mod 65536.
func TestDiscoveredModbusYAMLRunsOnTheSim(t *testing.T) {
	var out bytes.Buffer
	if err := run(append(discoverModbusArgs, "--yaml", "--node", "edge-node-1"), &out, &out); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(discoveredModbusYAML)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Fatalf("discover modbus --yaml differs from %s:\n%s", discoveredModbusYAML, out.String())
	}
	file := filepath.Join(t.TempDir(), "d.yaml")
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	h := startMapper(t, "--devices", file, "--http", "127.0.0.1:0")
	base := h.dataPlane(t) + "/api/v1/device/default/"
	for _, dev := range []string{"modbus-ttyusb0-1", "modbus-ttyusb0-2"} {
		await.Within(t, 10*time.Second, dev+" input-2 reading Unix seconds mod 65536", func() bool {
			v, ts, ok := sample(base + dev + "/input-2")
			want := float64(ts.Unix() % 65536)
			return ok && (v == want || v == want-1)
		})
	}
}
