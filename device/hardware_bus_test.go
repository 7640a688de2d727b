package device_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/i2c"
	"github.com/tinymapper/tinymapper/bus/spi"
	"github.com/tinymapper/tinymapper/device"
)

// An I²C bus or SPI port that is not there (I²C not enabled yet on a Pi)
// is handled as a serial port that is not plugged in: through the real
// drivers, the device is accepted, shown offline with words a user acts
// on, and opened again later; periph's registry text is not shown.
func TestADeviceOnAMissingBusWaitsOffline(t *testing.T) {
	tests := []struct {
		name   string
		put    device.Device
		want   string
		driver any
	}{
		{"i2c", device.Device{Name: "th", Model: "th", Protocol: "i2c",
			Config: bustest.Config(bustest.DevicePath, "bus", "I2C9", "address", 0x48),
			Properties: []device.Property{{Name: "t", CollectCycle: 20 * time.Millisecond,
				Visitor: bustest.Config("v", "register", 0, "dataType", "int16")}}},
			"/dev/i2c-9 does not exist: I²C is not enabled", i2c.Driver{}},
		{"spi", device.Device{Name: "th", Model: "th", Protocol: "spi",
			Config: bustest.Config(bustest.DevicePath, "bus", "SPI9.0"),
			Properties: []device.Property{{Name: "t", CollectCycle: 20 * time.Millisecond,
				Visitor: bustest.Config("v", "tx", "01 80 00", "rxStart", 1, "dataType", "uint16")}}},
			"/dev/spidev9.0 does not exist: SPI is not enabled", spi.Driver{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := device.Options{RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond}
			var m *device.Manager
			switch d := tt.driver.(type) {
			case i2c.Driver:
				m = device.NewManager(opts, d)
			case spi.Driver:
				m = device.NewManager(opts, d)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { m.Run(ctx); close(done) }()
			t.Cleanup(func() { cancel(); <-done })
			if err := m.PutModel(device.Model{Name: "th", Properties: []device.ModelProperty{{Name: "t", Type: device.TypeInt}}}); err != nil {
				t.Fatal(err)
			}
			if err := m.PutDevice(tt.put); err != nil {
				t.Fatalf("PutDevice = %v; want the device waiting for its bus", err)
			}
			v, ok := m.Device("default", "th")
			if !ok || v.State != device.StateOffline || !strings.Contains(v.Error, tt.want) {
				t.Errorf("device %+v; want offline, saying %q", v, tt.want)
			}
			if strings.Contains(v.Error, "Init()") {
				t.Errorf("periph's registry text shown: %s", v.Error)
			}
		})
	}
}
