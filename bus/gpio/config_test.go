package gpio_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/gpio"
)

func TestBadConfigDataNamesTheField(t *testing.T) {
	const path = "spec.properties[p].visitors.configData"
	tests := []struct {
		name  string
		props []bus.PropertyConfig
		field string
		msg   string
	}{
		{"pin missing", ps("mode", "input"), path + ".pin", "is required"},
		{"pin fractional", ps("pin", 17.5), path + ".pin", "not a whole number"},
		{"pin negative", ps("pin", -1), path + ".pin", "out of range"},
		{"pin a boolean", ps("pin", true), path + ".pin", "not a pin name or number"},
		{"pin empty", ps("pin", " "), path + ".pin", "not a pin name or number"},
		{"pin unknown", ps("pin", "GPIO99"), path + ".pin", "no such GPIO pin"},
		{"pin unknown chip", ps("pin", "gpiochip9/1"), path + ".pin", "no GPIO chip"},
		{"pin that cannot drive", ps("pin", "GPIO22", "mode", "output"), path + ".pin", "can only be an input"},
		{"mode unknown", ps("pin", "GPIO4", "mode", "pwm"), path + ".mode", "not one of input, output, counter"},
		{"pull unknown", ps("pin", "GPIO4", "pull", "sideways"), path + ".pull", "not one of"},
		{"pull on an output", ps("pin", "GPIO17", "mode", "output", "pull", "up"), path + ".pull", "does not apply to an output"},
		{"activeLow not a bool", ps("pin", "GPIO4", "activeLow", "maybe"), path + ".activeLow", "not true or false"},
		{"initial on an input", ps("pin", "GPIO4", "initial", 1), path + ".initial", "mode output only"},
		{"initial not a level", ps("pin", "GPIO17", "mode", "output", "initial", 2), path + ".initial", "not 0, 1, low, high"},
		{"edge on an input", ps("pin", "GPIO4", "edge", "rising"), path + ".edge", "mode counter only"},
		{"edge unknown", ps("pin", "GPIO22", "mode", "counter", "edge", "up"), path + ".edge", "not one of rising, falling, both"},
		{"measure on an output", ps("pin", "GPIO17", "mode", "output", "measure", "count"), path + ".measure", "mode counter only"},
		{"measure unknown", ps("pin", "GPIO22", "mode", "counter", "measure", "speed"), path + ".measure", "not one of count, frequency"},
		{"windowMs on a count", ps("pin", "GPIO22", "mode", "counter", "windowMs", 100), path + ".windowMs", "measure frequency only"},
		{"windowMs too short", ps("pin", "GPIO22", "mode", "counter", "measure", "frequency", "windowMs", 5), path + ".windowMs", "out of range"},
		{"windowMs fractional", ps("pin", "GPIO22", "mode", "counter", "measure", "frequency", "windowMs", 10.5), path + ".windowMs", "not a whole number"},
		{"an output shares its pin", []bus.PropertyConfig{
			property("a", true, "pin", "GPIO17", "mode", "output"),
			property("p", false, "pin", "P1_11")}, path + ".pin", "cannot share its pin"},
		{"two pulls on one pin", []bus.PropertyConfig{
			property("a", false, "pin", "GPIO4", "pull", "up"),
			property("p", false, "pin", "4", "pull", "down")}, path + ".pull", "another pull"},
		{"two edges on one pin", []bus.PropertyConfig{
			property("a", false, "pin", "GPIO22", "mode", "counter"),
			property("p", false, "pin", "GPIO22", "mode", "counter", "edge", "both")}, path + ".edge", "another edge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := bustest.Refused(t, gpio.Driver{}, bus.DeviceConfig{Name: "default/bad", Config: config(devicePath), Properties: tt.props})
			if fe.Field != tt.field {
				t.Errorf("Field = %q, want %q (error: %v)", fe.Field, tt.field, fe)
			}
			if !strings.Contains(fe.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", fe, tt.msg)
			}
		})
	}
}

// ps is one property called p.
func ps(kv ...any) []bus.PropertyConfig { return []bus.PropertyConfig{property("p", false, kv...)} }

func TestUnknownKeysAreWarningsNotErrors(t *testing.T) {
	d := open(t, property("p", false, "pin", "GPIO4", "Pull", "up"))
	d2, err := gpio.Driver{}.Open(bus.DeviceConfig{Config: config(devicePath, "chip", "gpiochip0"),
		Properties: []bus.PropertyConfig{property("p", false, "pin", "GPIO4")}})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	got := append(d.(*gpio.Device).Warnings(), d2.(*gpio.Device).Warnings()...)
	want := []string{
		"spec.properties[p].visitors.configData.Pull: unknown key, ignored",
		devicePath + ".chip: unknown key, ignored",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Warnings() =\n%q\nwant\n%q", got, want)
	}
}
