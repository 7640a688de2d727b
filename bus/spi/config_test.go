package spi_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/spi"
)

func TestBadConfigDataNamesTheField(t *testing.T) {
	const propPath = "spec.properties[v].visitors.configData"
	good := []any{"tx", "01 {0x80|ch<<4} 00", "channel", 1, "rxStart", 1, "dataType", "uint16", "mask", 0x3FF}
	tests := []struct {
		name  string
		dev   []any
		prop  []any
		field string
		msg   string
	}{
		{"bus fractional with too many digits", []any{"bus", 0.125}, good, devicePath + ".bus", "/dev/spidev0.125 does not exist"},
		{"bus negative", []any{"bus", -1}, good, devicePath + ".bus", "not a port number or name"},
		{"bus a boolean", []any{"bus", true}, good, devicePath + ".bus", "not a port number or name"},
		{"bus empty", []any{"bus", " "}, good, devicePath + ".bus", "not a port number or name"},
		{"bus not there (yet)", []any{"bus", "SPI5.0"}, good, devicePath + ".bus", "/dev/spidev5.0 does not exist: SPI is not enabled"},
		{"bus no board has", []any{"bus", "SPI-X"}, good, devicePath + ".bus", `no SPI port is called "SPI-X" on this board`},
		{"speedHz too slow", []any{"speedHz", 50}, good, devicePath + ".speedHz", "out of range"},
		{"speedHz too fast", []any{"speedHz", "2GHz"}, good, devicePath + ".speedHz", "out of range"},
		{"speedHz fractional", []any{"speedHz", 1000.5}, good, devicePath + ".speedHz", "not a whole number"},
		{"speedHz not a frequency", []any{"speedHz", "fast"}, good, devicePath + ".speedHz", "not a frequency"},
		{"speedHz wrong unit", []any{"speedHz", "1MV"}, good, devicePath + ".speedHz", "not a frequency"},
		{"mode 4", []any{"mode", 4}, good, devicePath + ".mode", "out of range [0, 3]"},
		{"mode a name", []any{"mode", "Mode0"}, good, devicePath + ".mode", "not an integer"},
		{"bitsPerWord 0", []any{"bitsPerWord", 0}, good, devicePath + ".bitsPerWord", "out of range [1, 32]"},
		{"bitsPerWord 33", []any{"bitsPerWord", 33}, good, devicePath + ".bitsPerWord", "out of range [1, 32]"},
		{"tx missing", nil, []any{"rxStart", 1}, propPath + ".tx", "is required"},
		{"tx empty", nil, []any{"tx", " , "}, propPath + ".tx", "has no bytes"},
		{"tx not hex", nil, []any{"tx", "01 zz"}, propPath + ".tx", `"zz" is not hex`},
		{"tx a single digit", nil, []any{"tx", "1 80 0"}, propPath + ".tx", "not a byte in hex"},
		{"tx an odd run", nil, []any{"tx", "0x01800"}, propPath + ".tx", "not a byte in hex"},
		{"tx too long", nil, []any{"tx", strings.Repeat("00", 257)}, propPath + ".tx", "more than 256"},
		{"tx unclosed expression", nil, []any{"tx", "01 {ch<<4"}, propPath + ".tx", "{ without }"},
		{"tx expression glued", nil, []any{"tx", "01{ch}"}, propPath + ".tx", "put a space before {"},
		{"tx empty expression", nil, []any{"tx", "{}"}, propPath + ".tx", "missing"},
		{"tx unknown name", nil, []any{"tx", "{chan}"}, propPath + ".tx", "not a number, ch, reg or value"},
		{"tx bad operator", nil, []any{"tx", "{ch<4}", "channel", 1}, propPath + ".tx", "want <<, >> or &"},
		{"tx shift too far", nil, []any{"tx", "{ch<<64}", "channel", 1}, propPath + ".tx", "at most 63"},
		{"tx with value", nil, []any{"tx", "01 {value}"}, propPath + ".tx", "use it in writeTx"},
		{"channel missing", nil, []any{"tx", "01 {0x80|ch<<4} 00"}, propPath + ".channel", "is required"},
		{"channel unused", nil, []any{"tx", "01 90 00", "channel", 1}, propPath + ".channel", "is not used"},
		{"channel too big", nil, []any{"tx", "01 {ch} 00", "channel", 256}, propPath + ".channel", "out of range [0, 255]"},
		{"channel fractional", nil, []any{"tx", "01 {ch} 00", "channel", 1.5}, propPath + ".channel", "not a whole number"},
		{"register missing", nil, []any{"tx", "{reg|0x80} 00"}, propPath + ".register", "is required"},
		{"register missing for writeTx", []any{"bus", recPort}, []any{"writeTx", "{register} {value}"}, propPath + ".register", "is required"},
		{"register unused", nil, []any{"tx", "01 90 00", "register", 3}, propPath + ".register", "is not used"},
		{"register too big", nil, []any{"tx", "{reg} 00", "register", 65536}, propPath + ".register", "out of range [0, 65535]"},
		{"register fractional", nil, []any{"tx", "{reg} 00", "register", 2.5}, propPath + ".register", "not a whole number"},
		{"register not a number", nil, []any{"tx", "{reg} 00", "register", "REG_CTRL"}, propPath + ".register", "not an integer"},
		{"rxStart past the reply", nil, []any{"tx", "01 90 00", "rxStart", 2, "dataType", "uint16"}, propPath + ".rxStart", "run past the 3 bytes"},
		{"rxStart negative", nil, []any{"tx", "01 90 00", "rxStart", -1}, propPath + ".rxStart", "out of range"},
		{"rxStart without tx", []any{"bus", recPort}, []any{"writeTx", "{value}", "rxStart", 0}, propPath + ".rxStart", "no tx"},
		{"dataType unknown", nil, []any{"tx", "01 90 00", "dataType", "uint12"}, propPath + ".dataType", "not one of"},
		{"byteOrder unknown", nil, []any{"tx", "01 90 00", "byteOrder", "middle"}, propPath + ".byteOrder", "not one of"},
		{"mask too wide", nil, []any{"tx", "01 90 00", "mask", 0x1FF}, propPath + ".mask", "wider"},
		{"shift too far", nil, []any{"tx", "01 90 00", "shift", 8}, propPath + ".shift", "leaves no bits"},
		{"scale zero", nil, []any{"tx", "01 90 00", "scale", 0}, propPath + ".scale", "must not be 0"},
		{"offset not a number", nil, []any{"tx", "01 90 00", "offset", "x"}, propPath + ".offset", "not a number"},
		{"writeTx without value", nil, []any{"tx", "01 90 00", "writeTx", "01 02"}, propPath + ".writeTx", "has no {value}"},
		{"writeTx bad", nil, []any{"tx", "01 90 00", "writeTx", "{value<<x}"}, propPath + ".writeTx", "not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := bustest.Refused(t, spi.Driver{}, bus.DeviceConfig{
				Name:       "default/bad",
				Config:     config(devicePath, tt.dev...),
				Properties: []bus.PropertyConfig{property("v", true, tt.prop...)},
			})
			if fe.Field != tt.field {
				t.Errorf("Field = %q, want %q (error: %v)", fe.Field, tt.field, fe)
			}
			if !strings.Contains(fe.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", fe, tt.msg)
			}
		})
	}
}

func TestUnknownKeysAreWarningsNotErrors(t *testing.T) {
	d := open(t, config(devicePath, "address", 0x48), property("v", false, "tx", "01 90 00", "datatype", "uint16"))
	want := []string{
		devicePath + ".address: unknown key, ignored",
		"spec.properties[v].visitors.configData.datatype: unknown key, ignored",
	}
	if got := d.(*spi.Device).Warnings(); !slices.Equal(got, want) {
		t.Errorf("Warnings() =\n%q\nwant\n%q", got, want)
	}
}
