package data_test

import (
	"context"
	"errors"
	"github.com/tinymapper/tinymapper/internal/await"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/data"
	"github.com/tinymapper/tinymapper/device"
)

// fanDriver opens devices with one register that refuses values above 100,
// as a Modbus slave answers exception 03.
type fanDriver struct {
	mu  sync.Mutex
	reg float64
}

func (*fanDriver) Protocol() string { return "fan" }

func (d *fanDriver) Open(cfg bus.DeviceConfig) (bus.Device, error) {
	points := make([]bus.Point, len(cfg.Properties))
	for i := range points {
		points[i] = fanPoint{d}
	}
	return fanDevice(points), nil
}

type fanDevice []bus.Point

func (fanDevice) Bus() string           { return "fan:0" }
func (f fanDevice) Points() []bus.Point { return f }
func (fanDevice) Close() error          { return nil }

type fanPoint struct{ d *fanDriver }

func (p fanPoint) Read() (float64, error) {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	return p.d.reg, nil
}

func (p fanPoint) Write(v float64) error {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	if v > 100 {
		return errors.New("illegal data value (exception 03)")
	}
	p.d.reg = v
	return nil
}

func TestAWriteTheDeviceRefusesIsA502AndStaysVisibleAfterGoodReads(t *testing.T) {
	drv := &fanDriver{reg: 50}
	m := device.NewManager(device.Options{}, drv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := m.PutModel(device.Model{Namespace: "default", Name: "fan", Properties: []device.ModelProperty{
		{Name: "speed", Type: device.TypeInt, AccessMode: device.ReadWrite, Minimum: "0", Maximum: "200"},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := m.PutDevice(device.Device{Namespace: "default", Name: "fan", Model: "fan", Protocol: "fan",
		Properties: []device.Property{{Name: "speed", CollectCycle: 5 * time.Millisecond}}}); err != nil {
		t.Fatal(err)
	}
	h := data.Handler(m, nil, nil)
	const path = "/api/v1/device/default/fan/speed"

	code, _, body := do(t, h, "PUT", path, `{"value":150}`)
	if code != http.StatusBadGateway || !strings.Contains(body, "write speed=150: illegal data value (exception 03)") {
		t.Fatalf("PUT 150: status %d, %s; want 502 with the device's error", code, body)
	}
	// Reads go on succeeding; the failed write stays in view.
	p, _ := m.Property("default", "fan", "speed")
	n := p.Ring.Len()
	await.Until(t, "5 more reads", func() bool { return p.Ring.Len() >= n+5 })
	_, _, body = do(t, h, "GET", path+"?format=tinymapper", "")
	f := fields(t, body)
	if string(f["value"]) != "50" || string(f["desired"]) != `"150"` ||
		!strings.Contains(string(f["writeError"]), "exception 03") || f["writeTime"] == nil || f["error"] != nil {
		t.Errorf("after good reads: %s; want value 50, desired 150 and the write error", body)
	}
	if st := m.Stats(); len(st) != 1 || st[0].Writes != 1 || st[0].WriteFailures != 1 {
		t.Errorf("stats %+v; want 1 write, failed", st)
	}

	code, _, body = do(t, h, "PUT", path, `{"value":80}`)
	if code != http.StatusOK {
		t.Fatalf("PUT 80: status %d, %s; want 200", code, body)
	}
	_, _, body = do(t, h, "GET", path+"?format=tinymapper", "")
	if f := fields(t, body); string(f["value"]) != "80" || f["writeError"] != nil || f["writeTime"] != nil {
		t.Errorf("after a good write: %s; want value 80 read back and no write error", body)
	}
}
