package gpio_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/pins"
	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/gpio"
)

func openAs(name string, props ...bus.PropertyConfig) (bus.Device, error) {
	return gpio.Driver{}.Open(bus.DeviceConfig{Name: name, Config: config(devicePath), Properties: props})
}

// TestTwoDevicesCountingOnePin: a second device counting a pin on other
// edges than the first is refused, naming the pin and the first device,
// and the first device's frequency stays right; on the same edges it is
// accepted; the first device may change its own edges.
func TestTwoDevicesCountingOnePin(t *testing.T) {
	first, err := openAs("default/flow", property("hz", false, "pin", "GPIO22", "mode", "counter", "edge", "rising", "measure", "frequency", "windowMs", 500))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() })

	_, err = openAs("default/edges", property("n", false, "pin", "GPIO22", "mode", "counter", "edge", "both"))
	var fe *bus.FieldError
	if !errors.As(err, &fe) || !strings.HasSuffix(fe.Field, ".pin") ||
		!strings.Contains(err.Error(), "GPIO22 is counted by device default/flow on rising edges") {
		t.Fatalf("second device on both edges: %v; want it refused naming the pin and default/flow", err)
	}

	same, err := openAs("default/same", property("n", false, "pin", "GPIO22", "mode", "counter", "edge", "rising"))
	if err != nil {
		t.Fatalf("a second device on the same edges: %v", err)
	}
	same.Close()

	// The first device's frequency is the pulse's 10 Hz, not 20.
	waitFor(t, "a frequency of about 10 Hz", func() bool { v, _ := first.Points()[0].Read(); return v >= 9 && v <= 11 })

	// The first device changed to both edges: its new version opens while
	// the old one still holds the pin.
	changed, err := openAs("default/flow", property("hz", false, "pin", "GPIO22", "mode", "counter", "edge", "both"))
	if err != nil {
		t.Fatalf("the same device changing its edges: %v", err)
	}
	changed.Close()
}

func TestAnInputOfAPinAnotherDeviceDrivesDoesNotTakeItBack(t *testing.T) {
	in := open(t, property("in", false, "pin", "GPIO17")).Points()[0]
	out := open(t, property("out", true, "pin", "GPIO17", "mode", "output", "initial", 1)).Points()[0]
	requests := sim.GPIO17.InputRequests()
	if v := read(t, in); v != 1 {
		t.Errorf("the input reads %v, want the 1 the other device drives", v)
	}
	write(t, out, 0)
	if v := read(t, in); v != 0 {
		t.Errorf("the input reads %v, want 0", v)
	}
	if sim.GPIO17.Dir() != pins.Output || sim.GPIO17.InputRequests() != requests {
		t.Errorf("reading the input turned the other device's output into an input")
	}
}
