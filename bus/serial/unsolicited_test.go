package serial_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/hal"
	"github.com/tinymapper/tinymapper/internal/await"
)

// Unsolicited properties: the lines a device sends on its own.

func TestUnsolicitedLinesKeepTheNewestValue(t *testing.T) {
	dev := newScripted(t, silent)
	d := open(t, config(devicePath, "port", dev.path, "eol", "CRLF"),
		property("t", false, "pattern", `T=(-?[\d.]+)`),
		property("h", false, "pattern", `H=([\d.]+)`),
	)
	tp, hp := d.Points()[0], d.Points()[1]
	if _, err := tp.Read(); err == nil || !strings.Contains(err.Error(), "no line matching") || !errors.Is(err, bus.ErrNoValueYet) {
		t.Errorf("Read before any line = %v, want no line yet, wrapping bus.ErrNoValueYet", err)
	}
	dev.say("T=1.5 H=40.0\r\n")
	eventually(t, tp, 1.5)
	eventually(t, hp, 40)
	dev.say("noise\r\n", "T=-2.5\r\n") // a line with T only leaves H alone
	eventually(t, tp, -2.5)
	if v := read(t, hp); v != 40 {
		t.Errorf("humidity %v, want the 40 it last saw", v)
	}
}

// A sensor that has said nothing for maxAgeMs since its port opened is
// late: its read fails as any other, not as "no value yet".
func TestASilentSensorIsLateAfterMaxAge(t *testing.T) {
	dev := newScripted(t, silent)
	d := open(t, config(devicePath, "port", dev.path),
		property("t", false, "pattern", `T=([\d.]+)`, "maxAgeMs", 300))
	start := time.Now()
	await.Until(t, "the first read to be late", func() bool {
		_, err := d.Points()[0].Read()
		return err != nil && !errors.Is(err, bus.ErrNoValueYet)
	})
	if age := time.Since(start); age < 250*time.Millisecond {
		t.Errorf("late after %v, before maxAgeMs 300", age)
	}
	_, err := d.Points()[0].Read()
	if err == nil || !strings.Contains(err.Error(), "no line matching") {
		t.Errorf("Read of a silent sensor = %v, want no line matching", err)
	}
}

func TestUnsolicitedValueGoesStale(t *testing.T) {
	dev := newScripted(t, silent)
	d := open(t, config(devicePath, "port", dev.path),
		property("t", false, "pattern", `T=([\d.]+)`, "maxAgeMs", 500))
	dev.say("T=3\n")
	eventually(t, d.Points()[0], 3)
	start := time.Now()
	await.Until(t, "the value to go stale", func() bool {
		_, err := d.Points()[0].Read()
		return err != nil && strings.Contains(err.Error(), "more than maxAgeMs 500")
	})
	if age := time.Since(start); age < 400*time.Millisecond {
		t.Errorf("the value went stale after %v, before maxAgeMs 500", age)
	}
	dev.say("T=4\n")
	eventually(t, d.Points()[0], 4)
}

func TestUnsolicitedReadingsOfTheSimSensor(t *testing.T) {
	d := open(t, config(devicePath, "port", "ttyACM0", "eol", `\r\n`),
		property("temperature", false, "pattern", `T=(-?\d+\.\d)`, "maxAgeMs", 3000))
	if v := eventually(t, d.Points()[0], math.NaN()); v < 20 || v > 25 {
		t.Errorf("temperature %v, want within [20, 25]", v)
	}
}

func TestPolledAndUnsolicitedPropertiesShareAPort(t *testing.T) {
	dev := newScripted(t, func(line string) []string {
		if line == "SP?" {
			return []string{"T=9.9\n", "SP=21.5\n"} // an unsolicited line first
		}
		return nil
	})
	d := open(t, config(devicePath, "port", dev.path),
		property("t", false, "pattern", `T=([\d.]+)`),
		property("sp", false, "command", "SP?", "pattern", `SP=([\d.]+)`),
	)
	if v := read(t, d.Points()[1]); v != 21.5 {
		t.Errorf("polled setpoint %v through the port's reader", v)
	}
	eventually(t, d.Points()[0], 9.9)

	// A device opened later on the same port, polled only, reads through the
	// reader too; when the unsolicited device goes, it reads directly.
	d2 := open(t, config(devicePath, "port", dev.path),
		property("sp", false, "command", "SP?", "pattern", `SP=([\d.]+)`))
	if v := read(t, d2.Points()[0]); v != 21.5 {
		t.Errorf("second device: %v", v)
	}
	d.Close()
	if v := read(t, d2.Points()[0]); v != 21.5 {
		t.Errorf("after the reader stopped: %v", v)
	}
}

func TestAnUnpluggedSensorIsReadAgainWhenItIsBack(t *testing.T) {
	const name = "/dev/ttyTEST-unplug"
	first := newScripted(t, silent)
	if err := hal.RegisterSerial(name, nil, first.path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hal.UnregisterSerial(name) })
	d := open(t, config(devicePath, "port", name, "eol", `\r\n`),
		property("t", false, "pattern", `T=(-?\d+\.\d)`, "maxAgeMs", 200),
		property("id", false, "command", "ID?", "pattern", `SENSOR,(\d+)`))
	temp, id := d.Points()[0], d.Points()[1]
	first.say("T=20.5\r\n")
	eventually(t, temp, 20.5)

	// Unplugged: the port's descriptors are closed, reads fail.
	first.master.Close()
	await.Until(t, "the unsolicited value to go stale", func() bool { _, err := temp.Read(); return err != nil })
	if _, err := id.Read(); !errors.Is(err, hal.ErrPortGone) {
		t.Errorf("a command while the sensor is away = %v, want hal.ErrPortGone", err)
	}

	// Plugged in again, as a new tty by the same name.
	hal.UnregisterSerial(name)
	second := newScripted(t, func(line string) []string {
		if line == "ID?" {
			return []string{"SENSOR,2\r\n"}
		}
		return nil
	})
	if err := hal.RegisterSerial(name, nil, second.path); err != nil {
		t.Fatal(err)
	}
	await.Until(t, "the unsolicited property to come back with the sensor", func() bool {
		second.say("T=21.5\r\n")
		v, err := temp.Read()
		return err == nil && v == 21.5
	})
	if v := eventually(t, id, 2); v != 2 {
		t.Errorf("ID? after the replug = %v", v)
	}
}
