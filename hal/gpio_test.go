package hal

import (
	"errors"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"

	"github.com/tinymapper/tinymapper/board/sim/pins"
)

// fakeChip stands in for a gpioioctl chip: its lines have no names.
type fakeChip struct {
	name, label string
	lines       []gpio.PinIO
}

func (c fakeChip) Name() string               { return c.name }
func (c fakeChip) Label() string              { return c.label }
func (c fakeChip) LineCount() int             { return len(c.lines) }
func (c fakeChip) Line(offset int) gpio.PinIO { return c.lines[offset] }

func withChips(t *testing.T, chips ...gpioChip) {
	old := gpioChips
	gpioChips = func() []gpioChip { return chips }
	t.Cleanup(func() { gpioChips = old })
}

func realName(p gpio.PinIO) string {
	if r, ok := p.(gpio.RealPin); ok {
		p = r.Real()
	}
	return p.Name()
}

func TestPinByNameAliasNumberOrChipOffset(t *testing.T) {
	registerSim(t)
	w := pins.NewWire()
	var lines []gpio.PinIO
	for i := 0; i < 6; i++ {
		lines = append(lines, w.NewPin("", i)) // lines the kernel left unnamed
	}
	unnamed := lines[5]
	withChips(t, fakeChip{name: "gpiochip1", label: "pinctrl-rp1", lines: lines})
	for _, tt := range []struct{ name, want string }{
		{"GPIO17", "GPIO17"},
		{"P1_11", "GPIO17"},
		{"17", "GPIO17"},
		{" 27 ", "GPIO27"},
		{"gpiochip0/22", "GPIO22"}, // the sim registers its chip spellings as aliases
	} {
		p, err := Pin(tt.name)
		if err != nil {
			t.Errorf("Pin(%q): %v", tt.name, err)
			continue
		}
		if got := realName(p); got != tt.want {
			t.Errorf("Pin(%q) = %s, want %s", tt.name, got, tt.want)
		}
	}
	for _, name := range []string{"gpiochip1/5", "pinctrl-rp1/5"} {
		if p, err := Pin(name); err != nil || p != unnamed {
			t.Errorf("Pin(%q) = %v, %v; want the unnamed line 5 of the chip", name, p, err)
		}
	}
}

func TestPinErrors(t *testing.T) {
	registerSim(t)
	withChips(t, fakeChip{name: "gpiochip1", label: "pinctrl-rp1", lines: []gpio.PinIO{pins.NewWire().NewPin("", 0)}})
	for _, tt := range []struct{ name, msg string }{
		{"", "empty"},
		{"GPIO99", "pins: GPIO4, GPIO17"},
		{"gpiochip1/x", "not a number"},
		{"gpiochip1/4", "lines 0 to 0"},
		{"gpiochip7/1", "chips: gpiochip1 (pinctrl-rp1)"},
	} {
		_, err := Pin(tt.name)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Pin(%q) = %v, want an error saying %q", tt.name, err, tt.msg)
		}
		if tt.name != "gpiochip1/x" && !errors.Is(err, ErrNoPin) {
			t.Errorf("Pin(%q) error does not wrap ErrNoPin", tt.name)
		}
	}
}
