package board

import (
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"periph.io/x/conn/v3/driver/driverreg"

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
		{"unrelated devices are the sim", fstest.MapFS{"dev/null": {}, "dev/tty0": {}, "dev/ptmx": {}}, "sim"},
		{"a USB RS-485 adapter alone is linux", fstest.MapFS{"dev/ttyUSB0": {}}, "linux"},
		{"a USB CDC device alone is linux", fstest.MapFS{"dev/ttyACM0": {}}, "linux"},
		{"a Pi with only its PL011 UART is the Pi", fstest.MapFS{"dev/ttyAMA0": {}, "proc/device-tree/model": pi4}, "Raspberry Pi 4 Model B Rev 1.4"},
		{"the PC's placeholder ttyS0..31 are the sim", placeholderUARTs(), "sim"},
		{"a PC with a 16550A on ttyS0 is linux", withUART(placeholderUARTs(), "ttyS0", "4"), "linux"},
		{"a USB adapter sysfs shows but /dev lacks is linux", fstest.MapFS{"sys/class/tty/ttyUSB0/device": {Mode: fs.ModeDir}}, "linux"},
		{"a tty without a device behind it is the sim", fstest.MapFS{"sys/class/tty/ttyUSB0/dev": {}}, "sim"},
		{"a ttyS without a type is the sim", fstest.MapFS{"sys/class/tty/ttyS4/device": {Mode: fs.ModeDir}, "dev/ttyS4": {}}, "sim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := detect(tt.fs); got != tt.want {
				t.Errorf("detect = %q, want %q", got, tt.want)
			}
		})
	}
}

// placeholderUARTs is the /dev and /sys of a PC whose kernel made ttyS0 to
// ttyS31 with no UART behind them: each has a device (serial8250) and type 0.
func placeholderUARTs() fstest.MapFS {
	m := fstest.MapFS{}
	for i := 0; i < 32; i++ {
		n := "ttyS" + strconv.Itoa(i)
		m["dev/"+n] = &fstest.MapFile{}
		m["sys/class/tty/"+n+"/device"] = &fstest.MapFile{Mode: fs.ModeDir}
		m["sys/class/tty/"+n+"/type"] = &fstest.MapFile{Data: []byte("0\n")}
	}
	return m
}

// withUART gives tty a UART of the given type (4: 16550A).
func withUART(m fstest.MapFS, tty, typ string) fstest.MapFS {
	m["sys/class/tty/"+tty+"/type"] = &fstest.MapFile{Data: []byte(typ + "\n")}
	return m
}

func TestHardwareNamesWhatItFound(t *testing.T) {
	root := withUART(placeholderUARTs(), "ttyS1", "4")
	root["dev/i2c-1"] = &fstest.MapFile{}
	root["dev/ttyUSB0"] = &fstest.MapFile{}
	root["sys/class/tty/ttyUSB0/device"] = &fstest.MapFile{Mode: fs.ModeDir}
	root["sys/class/tty/ttyUSB1/device"] = &fstest.MapFile{Mode: fs.ModeDir} // unplugged while listed
	root["sys/class/tty/ttyUSBx/device"] = &fstest.MapFile{Mode: fs.ModeDir}
	root["sys/class/tty/tty1/device"] = &fstest.MapFile{Mode: fs.ModeDir} // a virtual console
	want := []string{"dev/i2c-1", "dev/ttyUSB0", "sys/class/tty/ttyS1", "sys/class/tty/ttyUSB1"}
	if got := Hardware(root); !slices.Equal(got, want) {
		t.Errorf("Hardware = %q, want %q", got, want)
	}
}

func TestAutoWarnsLoudlyWhenItPicksTheSim(t *testing.T) {
	b, err := open("auto", fstest.MapFS{"dev/null": {}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "sim" || len(b.Warnings) == 0 || !strings.Contains(b.Warnings[0], "SIMULATED") {
		t.Errorf("auto without hardware = %s with warnings %q, want sim and a warning saying SIMULATED", b.Name, b.Warnings)
	}
	b, err = open("auto", fstest.MapFS{"dev/ttyUSB0": {}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "linux" || slices.ContainsFunc(b.Warnings, func(w string) bool { return strings.Contains(w, "SIMULATED") }) {
		t.Errorf("auto with a USB serial adapter = %s with warnings %q, want linux", b.Name, b.Warnings)
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
	// Only the kernel's interfaces: no SoC driver mapping /dev/gpiomem
	// (bcm283x, allwinner, ...), which host.Init would add (and 458 752
	// bytes of the arm64 binary).
	state, err := driverreg.Init() // returns the state Open's Init made
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range state.Loaded {
		names = append(names, d.String())
	}
	for _, f := range append(state.Skipped, state.Failed...) {
		names = append(names, f.D.String())
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "sysfs-") && n != "ioctl-gpio" {
			t.Errorf("driver %q registered; want sysfs-* and ioctl-gpio only (all: %v)", n, names)
		}
	}
	if !slices.Contains(names, "sysfs-i2c") || !slices.Contains(names, "ioctl-gpio") {
		t.Errorf("drivers %v; want sysfs-i2c and ioctl-gpio among them", names)
	}
}
