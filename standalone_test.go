package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestARefusedDeviceIsListedWithItsError: standalone, a device the file
// describes wrongly is listed by /api/v1/devices and /api/v1/device with
// state "refused" and its error, the others run, and /readyz is 200 (the
// file was read).
func TestARefusedDeviceIsListedWithItsError(t *testing.T) {
	example, err := os.ReadFile("deploy/examples/i2c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(example), "name: room-sensor", "name: bad-sensor", 1)
	bad = strings.Replace(bad, "address: 0x48", "address: 0x200", 1)
	dir := t.TempDir()
	file := filepath.Join(dir, "devices.yaml")
	// The good file's model and devices, then the bad device alone.
	if err := os.WriteFile(file, []byte(string(example)+"\n---\n"+badDevice(t, bad)), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startMapper(t, "--http", "127.0.0.1:0", "--devices", file)
	url := h.dataPlane(t)
	var devices []struct{ Name, State, Error string }
	getJSON(t, url+"/api/v1/devices", &devices)
	states := map[string]string{}
	for _, d := range devices {
		states[d.Name] = d.State
		if d.Name == "bad-sensor" && !strings.Contains(d.Error, "address") {
			t.Errorf("bad-sensor's error %q does not name the address", d.Error)
		}
	}
	if states["bad-sensor"] != "refused" || states["room-sensor"] == "" || states["room-sensor"] == "refused" {
		t.Errorf("states %v; want bad-sensor refused and room-sensor running", states)
	}
	var one struct{ State, Error string }
	getJSON(t, url+"/api/v1/device/default/bad-sensor", &one)
	if one.State != "refused" || one.Error == "" {
		t.Errorf("GET bad-sensor: %+v", one)
	}
	if code := httpStatus(url + "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d with a refused device; want 200 (the file was read)", code)
	}
}

// badDevice returns the Device document of y named bad-sensor.
func badDevice(t *testing.T, y string) string {
	t.Helper()
	for _, doc := range strings.Split(y, "\n---") {
		if strings.Contains(doc, "kind: Device\n") && strings.Contains(doc, "name: bad-sensor") {
			return doc
		}
	}
	t.Fatal("no bad-sensor document")
	return ""
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
