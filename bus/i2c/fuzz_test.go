package i2c_test

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2creg"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/at24c02"
	"github.com/tinymapper/tinymapper/board/sim/bme280"
	"github.com/tinymapper/tinymapper/board/sim/sht3x"
	"github.com/tinymapper/tinymapper/board/sim/tmp102"
	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/i2c"
)

// fuzzBus is a bus of its own (a TMP102 at 0x48, a 24C02 at 0x50, an SHT3x
// at 0x44, a BME280 at 0x76, a BMP280 at 0x77) that the
// fuzz target may write to: writes to the board's bus 1 would change what
// the other tests of this package read.
const fuzzBus = "FUZZ-I2C"

var registerFuzzBus = sync.OnceValue(func() error {
	b := sim.NewI2CBus(fuzzBus)
	if err := b.Attach(tmp102.Address, tmp102.New(time.Now)); err != nil {
		return err
	}
	if err := b.Attach(at24c02.Address, at24c02.New()); err != nil {
		return err
	}
	if err := b.Attach(sht3x.Address, sht3x.New(time.Now)); err != nil {
		return err
	}
	if err := b.Attach(0x76, bme280.New(bme280.ChipIDBME280, time.Now)); err != nil {
		return err
	}
	if err := b.Attach(0x77, bme280.New(bme280.ChipIDBMP280, time.Now)); err != nil {
		return err
	}
	return i2creg.Register(fuzzBus, nil, -1, b.Open)
})

// FuzzI2CConfig opens devices from fuzzed device and property configData:
// Open must return a device or a *bus.FieldError naming a key of the
// configData it came from, never panic; an opened device must read, write
// (on the fuzz bus only) and close without panicking.
func FuzzI2CConfig(f *testing.F) {
	if err := registerFuzzBus(); err != nil {
		f.Fatal(err)
	}
	f.Add(fuzzBus, uint8(2), 72.0, uint8(1), "", uint8(0), 0.0, uint8(0), 0.0, uint8(1), "int16", "", 4.0, uint8(1), "", 0.0625, uint8(1), false, 21.5)
	f.Add(fuzzBus, uint8(2), 0.0, uint8(2), "0x50", uint8(3), 8.0, uint8(1), 7.0, uint8(1), "uint16", "little", 0.0, uint8(0), "", 0.0, uint8(0), true, 4660.0)
	f.Fuzz(func(t *testing.T, busName string, busKind uint8, addr float64, addrKind uint8, addrStr string,
		autoIncKind uint8, page float64, pageKind uint8, reg float64, regKind uint8,
		dataType, byteOrder string, shift float64, shiftKind uint8, mask string, scale float64, scaleKind uint8,
		writable bool, v float64) {
		dev := bus.Config{Path: "d", Values: map[string]bus.Value{}}
		if v, ok := bustest.FuzzValue(busKind, addr, busName); ok {
			dev.Values["bus"] = v
		}
		if v, ok := bustest.FuzzValue(addrKind, addr, addrStr); ok {
			dev.Values["address"] = v
		}
		if v, ok := bustest.FuzzValue(autoIncKind, page, addrStr); ok {
			dev.Values["autoIncrement"] = v
		}
		if v, ok := bustest.FuzzValue(pageKind, page, addrStr); ok {
			dev.Values["pageSize"] = v
		}
		prop := bus.Config{Path: "p", Values: map[string]bus.Value{}}
		if v, ok := bustest.FuzzValue(regKind, reg, mask); ok {
			prop.Values["register"] = v
		}
		for k, s := range map[string]string{"dataType": dataType, "byteOrder": byteOrder, "mask": mask} {
			if s != "" {
				prop.Values[k] = bus.StringValue(s)
			}
		}
		if v, ok := bustest.FuzzValue(shiftKind, shift, dataType); ok {
			prop.Values["shift"] = v
		}
		if v, ok := bustest.FuzzValue(scaleKind, scale, byteOrder); ok {
			prop.Values["scale"] = v
		}
		d, err := i2c.Driver{}.Open(bus.DeviceConfig{Name: "fuzz", Config: dev,
			Properties: []bus.PropertyConfig{{Name: "v", Writable: writable, Config: prop}}})
		if err != nil {
			fe, ok := err.(*bus.FieldError)
			if !ok {
				t.Fatalf("Open error %v is not a *bus.FieldError", err)
			}
			if !strings.HasPrefix(fe.Field, "d.") && !strings.HasPrefix(fe.Field, "p.") {
				t.Fatalf("Open error %v names %q, not a key of the configData", err, fe.Field)
			}
			return
		}
		defer func() {
			if err := d.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}()
		p := d.Points()[0]
		p.Read()
		if b, ok := d.(bus.Batcher); ok {
			vals, errs := make([]float64, 1), make([]error, 1)
			b.ReadPoints([]int{0}, vals, errs)
		}
		if w, ok := p.(bus.Writer); ok && d.Bus() == "i2c:"+fuzzBus {
			w.Write(v)
			p.Read()
		}
	})
}

// FuzzI2CCommandConfig opens an SHT3x property from fuzzed command keys
// (command, readLength, delayMs, rxStart, crc8): Open must return a device
// or a *bus.FieldError naming a key of the property, never panic, and an
// opened device must read without panicking.
func FuzzI2CCommandConfig(f *testing.F) {
	if err := registerFuzzBus(); err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(2), "0x2400", 0.0, uint8(1), 6.0, uint8(1), 0.0, uint8(1), 3.0, "sensirion", "uint16", false)
	f.Add(uint8(1), "", 9216.0, uint8(2), 0.0, uint8(0), 0.0, uint8(2), 0.0, "", "int32", true)
	f.Fuzz(func(t *testing.T, cmdKind uint8, cmd string, cmdNum float64, lenKind uint8, length float64,
		delayKind uint8, delay float64, rxKind uint8, rx float64, crc, dataType string, register bool) {
		prop := bus.Config{Path: "p", Values: map[string]bus.Value{}}
		if v, ok := bustest.FuzzValue(cmdKind, cmdNum, cmd); ok {
			prop.Values["command"] = v
		}
		if v, ok := bustest.FuzzValue(lenKind, length, cmd); ok {
			prop.Values["readLength"] = v
		}
		if v, ok := bustest.FuzzValue(delayKind, math.Min(delay, 2), crc); ok { // at most 2 ms a read
			prop.Values["delayMs"] = v
		}
		if v, ok := bustest.FuzzValue(rxKind, rx, dataType); ok {
			prop.Values["rxStart"] = v
		}
		for k, s := range map[string]string{"crc8": crc, "dataType": dataType} {
			if s != "" {
				prop.Values[k] = bus.StringValue(s)
			}
		}
		if register {
			prop.Values["register"] = bus.NumberValue(0)
		}
		dev := bus.Config{Path: "d", Values: map[string]bus.Value{"bus": bus.StringValue(fuzzBus), "address": bus.NumberValue(sht3x.Address)}}
		d, err := i2c.Driver{}.Open(bus.DeviceConfig{Name: "fuzz", Config: dev,
			Properties: []bus.PropertyConfig{{Name: "v", Config: prop}, {Name: "w", Config: prop}}})
		if err != nil {
			fe, ok := err.(*bus.FieldError)
			if !ok || !strings.HasPrefix(fe.Field, "p.") {
				t.Fatalf("Open error %v is not a *bus.FieldError naming a key of the property", err)
			}
			return
		}
		defer d.Close()
		d.Points()[0].Read()
		vals, errs := make([]float64, 2), make([]error, 2)
		d.(bus.Batcher).ReadPoints([]int{0, 1}, vals, errs)
	})
}

// fuzzPartAddrs are the addresses FuzzI2CPartConfig opens: a BME280, a
// BMP280, a TMP102, an EEPROM, nobody.
var fuzzPartAddrs = [...]float64{0x76, 0x77, 0x48, 0x50, 0x23}

// FuzzI2CPartConfig opens two part properties (part, field, scale, offset
// and a key of its own choosing) at one of fuzzPartAddrs: Open must return
// a device or a *bus.FieldError naming a key of a property, never panic;
// an opened device must read its points alone and together.
func FuzzI2CPartConfig(f *testing.F) {
	if err := registerFuzzBus(); err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), uint8(2), "bme280", uint8(2), "humidity", 0.0, uint8(0), 0.0, uint8(0), "", 0.0, false)
	f.Add(uint8(1), uint8(2), "bmp280", uint8(2), "humidity", 1.8, uint8(1), 32.0, uint8(1), "register", 250.0, true)
	f.Fuzz(func(t *testing.T, addr uint8, partKind uint8, part string, fieldKind uint8, field string,
		scale float64, scaleKind uint8, offset float64, offsetKind uint8, key string, keyValue float64, writable bool) {
		prop := bus.Config{Path: "p", Values: map[string]bus.Value{}}
		if v, ok := bustest.FuzzValue(partKind, keyValue, part); ok {
			prop.Values["part"] = v
		}
		if v, ok := bustest.FuzzValue(fieldKind, keyValue, field); ok {
			prop.Values["field"] = v
		}
		if v, ok := bustest.FuzzValue(scaleKind, scale, field); ok {
			prop.Values["scale"] = v
		}
		if v, ok := bustest.FuzzValue(offsetKind, offset, part); ok {
			prop.Values["offset"] = v
		}
		if key != "" {
			prop.Values[key] = bus.NumberValue(keyValue)
		}
		other := bus.Config{Path: "q", Values: map[string]bus.Value{"part": bus.StringValue("bme280"), "field": bus.StringValue("temperature")}}
		dev := bus.Config{Path: "d", Values: map[string]bus.Value{"bus": bus.StringValue(fuzzBus),
			"address": bus.NumberValue(fuzzPartAddrs[int(addr)%len(fuzzPartAddrs)])}}
		d, err := i2c.Driver{}.Open(bus.DeviceConfig{Name: "fuzz", Config: dev,
			Properties: []bus.PropertyConfig{{Name: "v", Writable: writable, Config: prop}, {Name: "w", Config: other}}})
		if err != nil {
			fe, ok := err.(*bus.FieldError)
			if !ok || !strings.HasPrefix(fe.Field, "p.") && !strings.HasPrefix(fe.Field, "q.") {
				t.Fatalf("Open error %v is not a *bus.FieldError naming a key of a property", err)
			}
			return
		}
		defer d.Close()
		d.Points()[0].Read()
		d.Points()[1].Read()
		vals, errs := make([]float64, 2), make([]error, 2)
		d.(bus.Batcher).ReadPoints([]int{0, 1}, vals, errs)
	})
}
