package i2c_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/i2c"
)

// eepromWith opens the sim EEPROM with the given autoIncrement setting and
// three properties at 0x60 (uint8), 0x61 (uint16 big-endian) and 0x70.
func eepromWith(t *testing.T, autoInc any) bus.Device {
	return open(t, config(devicePath, "address", 0x50, "autoIncrement", autoInc),
		property("a", true, "register", 0x60, "dataType", "uint8"),
		property("b", true, "register", 0x61, "dataType", "uint16"),
		property("c", true, "register", 0x70, "dataType", "uint8"))
}

// The TMP102 does not auto-increment: a 3-byte read from TLOW returns TLOW and
// then filler. So reading TLOW and THIGH together shows whether the driver
// made one transaction (wrong THIGH) or two (right), which is why coalescing
// is opt-in.
func TestAutoIncrementCoalescesIntoOneTransaction(t *testing.T) {
	for _, tt := range []struct{ autoInc bool }{{false}, {true}} {
		d := open(t, config(devicePath, "address", 0x48, "autoIncrement", tt.autoInc),
			property("tlow", false, "register", 2, "dataType", "int16", "shift", 4, "scale", 0.0625),
			property("thigh", false, "register", 3, "dataType", "int16", "shift", 4, "scale", 0.0625))
		vals, errs := make([]float64, 2), make([]error, 2)
		d.(bus.Batcher).ReadPoints([]int{0, 1}, vals, errs)
		if errs[0] != nil || vals[0] != 75 {
			t.Errorf("autoIncrement %v: TLOW = %v, %v; want 75", tt.autoInc, vals[0], errs[0])
		}
		if tt.autoInc && vals[1] == 80 {
			t.Errorf("autoIncrement true: THIGH read correctly, so the registers were read separately")
		}
		if !tt.autoInc && vals[1] != 80 {
			t.Errorf("autoIncrement false: THIGH = %v, %v; want 80 from its own read", vals[1], errs[1])
		}
	}
}

func TestAdjacentRegistersDecodeFromOneRead(t *testing.T) {
	for _, autoInc := range []bool{true, false} {
		d := eepromWith(t, autoInc)
		write(t, d.Points()[0], 0x11)
		write(t, d.Points()[1], 0x2233)
		write(t, d.Points()[2], 0x44)
		b, ok := d.(bus.Batcher)
		if !ok {
			t.Fatal("i2c device is not a bus.Batcher")
		}
		vals, errs := make([]float64, 3), make([]error, 3)
		b.ReadPoints([]int{0, 1, 2}, vals, errs)
		want := []float64{0x11, 0x2233, 0x44}
		for i := range want {
			if errs[i] != nil || vals[i] != want[i] {
				t.Errorf("autoIncrement %v: point %d = %v, %v; want %v", autoInc, i, vals[i], errs[i], want[i])
			}
		}
	}
}

func TestCoalescedReadFailureFailsEveryPoint(t *testing.T) {
	d := open(t, config(devicePath, "address", 0x21, "autoIncrement", true),
		property("a", false, "register", 1), property("b", false, "register", 2))
	vals, errs := make([]float64, 2), make([]error, 2)
	d.(bus.Batcher).ReadPoints([]int{0, 1}, vals, errs)
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "0x21") || !errors.Is(err, i2c.ErrNoAck) {
			t.Errorf("point %d error %v; want a NACK naming the address", i, err)
		}
	}
}

func TestAutoIncrementMustBeABoolean(t *testing.T) {
	_, err := driverOpen(config(devicePath, "address", 0x50, "autoIncrement", "sometimes"), property("a", false, "register", 1))
	var fe *bus.FieldError
	if !errors.As(err, &fe) || fe.Field != devicePath+".autoIncrement" {
		t.Errorf("Open error %v; want a FieldError naming autoIncrement", err)
	}
}

func TestCoalescedReadDoesNotAllocate(t *testing.T) {
	d := eepromWith(t, true)
	b := d.(bus.Batcher)
	idx, vals, errs := []int{0, 1, 2}, make([]float64, 3), make([]error, 3)
	if n := testing.AllocsPerRun(100, func() { b.ReadPoints(idx, vals, errs) }); n != 0 {
		t.Errorf("ReadPoints allocates %v times per call", n)
	}
}

func driverOpen(dev bus.Config, props ...bus.PropertyConfig) (bus.Device, error) {
	return i2c.Driver{}.Open(bus.DeviceConfig{Name: "default/test", Config: dev, Properties: props})
}
