package sim_test

import (
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"

	"github.com/tinymapper/tinymapper/board/sim"
)

func TestGPIOPinsAnswerToTheirNames(t *testing.T) {
	if err := sim.Register(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		want string
	}{
		{"GPIO17", "GPIO17"}, {"P1_11", "GPIO17"}, {"gpiochip0/17", "GPIO17"},
		{"GPIO27", "GPIO27"}, {"P1_13", "GPIO27"}, {"gpiochip0/27", "GPIO27"},
		{"GPIO22", "GPIO22"}, {"P1_15", "GPIO22"}, {"gpiochip0/22", "GPIO22"},
		{"GPIO4", "GPIO4"}, {"P1_7", "GPIO4"}, {"gpiochip0/4", "GPIO4"},
	} {
		p := gpioreg.ByName(tt.name)
		if p == nil {
			t.Errorf("gpioreg.ByName(%q) = nil", tt.name)
			continue
		}
		if r, ok := p.(gpio.RealPin); ok {
			p = r.Real()
		}
		if p.Name() != tt.want {
			t.Errorf("gpioreg.ByName(%q) is %s, want %s", tt.name, p, tt.want)
		}
	}
}

func TestGPIO17IsWiredToGPIO27(t *testing.T) {
	if err := sim.Register(); err != nil {
		t.Fatal(err)
	}
	out, in := gpioreg.ByName("P1_11"), gpioreg.ByName("P1_13")
	if err := in.In(gpio.Float, gpio.NoEdge); err != nil {
		t.Fatal(err)
	}
	for _, l := range []gpio.Level{gpio.High, gpio.Low} {
		out.Out(l)
		if got := in.Read(); got != l {
			t.Errorf("GPIO17 drives %s, GPIO27 reads %s", l, got)
		}
	}
}
