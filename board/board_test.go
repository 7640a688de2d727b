package board

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tinymapper/tinymapper/board/sim"
)

func TestDetect(t *testing.T) {
	pi4 := &fstest.MapFile{Data: []byte("Raspberry Pi 4 Model B Rev 1.4\x00")}
	tests := []struct {
		name string
		fs   fstest.MapFS
		want string
	}{
		{"no bus devices is the sim", fstest.MapFS{"proc/device-tree/model": pi4}, "sim"},
		{"an I²C bus on a Pi is the Pi's model", fstest.MapFS{"dev/i2c-1": {}, "proc/device-tree/model": pi4}, "Raspberry Pi 4 Model B Rev 1.4"},
		{"an SPI device on a Pi", fstest.MapFS{"dev/spidev0.0": {}, "proc/device-tree/model": pi4}, "Raspberry Pi 4 Model B Rev 1.4"},
		{"a gpiochip without a device tree is linux", fstest.MapFS{"dev/gpiochip0": {}}, "linux"},
		{"another board's device tree is linux", fstest.MapFS{"dev/i2c-0": {}, "proc/device-tree/model": {Data: []byte("Pine64+\x00")}}, "linux"},
		{"unrelated devices are the sim", fstest.MapFS{"dev/ttyUSB0": {}, "dev/null": {}}, "sim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := detect(tt.fs); got != tt.want {
				t.Errorf("detect = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestOpenSimIsIdempotent(t *testing.T) {
	for i := 0; i < 2; i++ {
		b, err := Open("sim")
		if err != nil {
			t.Fatalf("Open(sim) call %d: %v", i+1, err)
		}
		if b.Name != "sim" || !slices.Equal(b.I2C, []string{sim.I2C1}) {
			t.Errorf("Open(sim) = %+v, want Name sim, I2C [%s]", b, sim.I2C1)
		}
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

func TestOpenUnknownBoardFails(t *testing.T) {
	_, err := Open("beaglebone")
	if err == nil || !strings.Contains(err.Error(), "want auto, sim, linux or rpi") {
		t.Errorf("Open(beaglebone) = %v, want an error listing the boards", err)
	}
}

func TestOpenRpiFailsOffAPi(t *testing.T) {
	if Detect() != "sim" && Detect() != "linux" {
		t.Skip("running on a Raspberry Pi")
	}
	if _, err := Open("rpi"); err == nil || !strings.Contains(err.Error(), "not a Raspberry Pi") {
		t.Errorf("Open(rpi) off a Pi = %v, want not a Raspberry Pi", err)
	}
}

func TestOpenLinuxStartsHostDrivers(t *testing.T) {
	b, err := Open("linux")
	if err != nil {
		t.Fatalf("Open(linux): %v", err)
	}
	if b.Name != "linux" {
		t.Errorf("Name = %q, want linux", b.Name)
	}
	t.Logf("linux board: model %q, I2C %v, failed drivers %v", b.Model, b.I2C, b.Failed)
}
