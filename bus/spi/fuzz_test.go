package spi_test

import (
	"testing"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/spi"
)

// FuzzSPIConfig opens devices from fuzzed configData: Open must return a
// device or an error, never panic, and an opened device must read and write
// without panicking.
func FuzzSPIConfig(f *testing.F) {
	f.Add("0.0", 1e6, uint8(1), 0.0, uint8(1), 8.0, uint8(1), "01 {0x80|ch<<4} 00", 3.0, uint8(1), 1.0, uint8(1), "uint16", "0x3FF", "", true, 0.0, uint8(0))
	f.Add("SPI0.0", 0.0, uint8(2), 3.0, uint8(1), 8.0, uint8(0), "0x019000", 0.0, uint8(0), 1.0, uint8(1), "uint16", "", "{0x30|value>>8} {value}", true, 0.0, uint8(0))
	f.Add(recPort, 0.0, uint8(0), 0.0, uint8(0), 0.0, uint8(0), "", 0.0, uint8(0), 0.0, uint8(0), "int8", "", "{value}", true, 0.0, uint8(0))
	f.Add("0", 50.0, uint8(1), 4.0, uint8(1), 33.0, uint8(1), "{ch<<64}", 256.0, uint8(1), -1.0, uint8(1), "float32", "0x1FF", "01", false, 0.0, uint8(0))
	f.Add("", 1.5, uint8(2), 1.5, uint8(2), 1.5, uint8(2), "01 {", 1.5, uint8(2), 1e30, uint8(2), "bool", "zz", "{value&0xff|ch>>3}", true, 1.5, uint8(2))
	f.Add(recPort, 0.0, uint8(0), 0.0, uint8(0), 0.0, uint8(0), "{reg|0x80} 00", 0.0, uint8(0), 1.0, uint8(1), "uint8", "", "{reg&0x7f} {value}", true, 42.0, uint8(1))
	f.Fuzz(func(t *testing.T, busName string, speed float64, speedKind uint8, mode float64, modeKind uint8, bits float64, bitsKind uint8,
		tx string, ch float64, chKind uint8, rx float64, rxKind uint8, dataType, mask, writeTx string, writable bool,
		reg float64, regKind uint8) {
		dev := bus.Config{Path: "d", Values: map[string]bus.Value{"bus": bus.StringValue(busName)}}
		for _, kv := range []struct {
			key  string
			kind uint8
			num  float64
			str  string
		}{
			{"speedHz", speedKind, speed, busName},
			{"mode", modeKind, mode, busName},
			{"bitsPerWord", bitsKind, bits, busName},
		} {
			if v, ok := bustest.FuzzValue(kv.kind, kv.num, kv.str); ok {
				dev.Values[kv.key] = v
			}
		}
		prop := bus.Config{Path: "p", Values: map[string]bus.Value{}}
		if tx != "" {
			prop.Values["tx"] = bus.StringValue(tx)
		}
		if writeTx != "" {
			prop.Values["writeTx"] = bus.StringValue(writeTx)
		}
		if dataType != "" {
			prop.Values["dataType"] = bus.StringValue(dataType)
		}
		if mask != "" {
			prop.Values["mask"] = bus.StringValue(mask)
		}
		if v, ok := bustest.FuzzValue(chKind, ch, tx); ok {
			prop.Values["channel"] = v
		}
		if v, ok := bustest.FuzzValue(rxKind, rx, tx); ok {
			prop.Values["rxStart"] = v
		}
		if v, ok := bustest.FuzzValue(regKind, reg, writeTx); ok {
			prop.Values["register"] = v
		}
		d, err := spi.Driver{}.Open(bus.DeviceConfig{Name: "fuzz", Config: dev,
			Properties: []bus.PropertyConfig{{Name: "v", Writable: writable, Config: prop}}})
		if err != nil {
			if _, ok := err.(*bus.FieldError); !ok {
				t.Fatalf("Open error %v is not a *bus.FieldError", err)
			}
			return
		}
		defer d.Close()
		p := d.Points()[0]
		p.Read()
		if w, ok := p.(bus.Writer); ok {
			w.Write(ch)
			p.Read()
		}
	})
}
