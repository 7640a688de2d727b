package device_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim/linesensor"
	"github.com/tinymapper/tinymapper/board/sim/serialsim"
	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/serial"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/devicetest"
	"github.com/tinymapper/tinymapper/hal"
	"github.com/tinymapper/tinymapper/internal/await"
)

// A serial port that appears after the device was put (a USB adapter
// plugged in later) brings the device online through the real serial
// driver, whose error for the missing port names the port field.
func TestASerialDeviceStartsOnceItsPortAppears(t *testing.T) {
	const port = "SIM-PLUGGED-LATER"
	m := device.NewManager(device.Options{RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond}, serial.Driver{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := m.PutModel(device.Model{Name: "th", Properties: []device.ModelProperty{
		{Name: "humidity", Type: device.TypeFloat, AccessMode: device.ReadOnly},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := m.PutDevice(device.Device{Name: "th", Model: "th", Protocol: "serial",
		Config: bustest.Config(bustest.DevicePath, "port", port, "eol", `\r\n`),
		Properties: []device.Property{{Name: "humidity", CollectCycle: 20 * time.Millisecond,
			Visitor: bustest.Config("v", "command", "READ?", "pattern", `H=(\d+\.\d)`)}},
	}); err != nil {
		t.Fatalf("PutDevice = %v; want it waiting for its port", err)
	}
	v, _ := m.Device("default", "th")
	if v.State != device.StateOffline || !strings.Contains(v.Error, "waiting for hardware: spec.protocol.configData.port") {
		t.Errorf("device %+v; want offline, waiting for its port", v)
	}

	pty, err := serialsim.NewPty()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pty.Close() })
	go linesensor.New(time.Now).Serve(pty.Master, time.Hour)
	if err := hal.RegisterSerial(port, nil, pty.Path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hal.UnregisterSerial(port) })
	devicetest.LatestValue(t, m, "th", "humidity", func(h float64) bool { return h >= 35 && h <= 55 })
	await.Until(t, "online", func() bool { v, _ := m.Device("default", "th"); return v.State == device.StateOnline })
}

// A configData value the serial driver refuses is refused, not retried.
func TestASerialDeviceWithABadBaudRateIsRefused(t *testing.T) {
	m := device.NewManager(device.Options{}, serial.Driver{})
	if err := m.PutModel(device.Model{Name: "th", Properties: []device.ModelProperty{{Name: "humidity", Type: device.TypeFloat}}}); err != nil {
		t.Fatal(err)
	}
	err := m.PutDevice(device.Device{Name: "th", Model: "th", Protocol: "serial",
		Config:     bustest.Config(bustest.DevicePath, "port", "/dev/ttyNOSUCH9", "baudRate", 12.5),
		Properties: []device.Property{{Name: "humidity", Visitor: bustest.Config("v", "pattern", `H=(\d+)`)}},
	})
	var fe *bus.FieldError
	if !errors.As(err, &fe) || !strings.HasSuffix(fe.Field, ".baudRate") || device.HardwareMissing(err) {
		t.Errorf("PutDevice = %v; want a FieldError naming baudRate", err)
	}
	if _, ok := m.Device("default", "th"); ok {
		t.Error("the refused device is listed")
	}
}
