package sim_test

import (
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/ads1115"
	"github.com/tinymapper/tinymapper/board/sim/bme280"
	"github.com/tinymapper/tinymapper/board/sim/mcp9808"
	"github.com/tinymapper/tinymapper/board/sim/sht3x"
)

// TestIdentityAndValueRegisters reads each of the newer parts as a driver
// would: its identity, and one value against its documented function.
func TestIdentityAndValueRegisters(t *testing.T) {
	at := time.Unix(1_800_000_015, 0) // second 15 of a minute: the sines at their peak
	now := func() time.Time { return at }
	for _, tc := range []struct {
		name string
		part sim.Part
		w    [][]byte // writes before the read
		read int
		want []byte
	}{
		{"MCP9808 manufacturer ID", mcp9808.New(now), [][]byte{{0x06}}, 2, []byte{0x00, 0x54}},
		{"MCP9808 device ID", mcp9808.New(now), [][]byte{{0x07}}, 2, []byte{0x04, 0x00}},
		{"MCP9808 22.5 °C", mcp9808.New(now), [][]byte{{0x05}}, 2, []byte{0x01, 0x68}}, // 22.5 × 16 = 360
		{"ADS1115 config reset", ads1115.New(now), [][]byte{{0x01}}, 2, []byte{0x85, 0x83}},
		{"ADS1115 single-shot before a conversion", ads1115.New(now), [][]byte{{0x00}}, 2, []byte{0, 0}},
		{"ADS1115 continuous AIN0 ±4.096 V: 1.5 V", ads1115.New(now), [][]byte{{0x01, 0x42, 0x83}, {0x00}}, 2, []byte{0x2E, 0xE0}}, // 1.5/0.000125 = 12000
		{"BME280 chip id", bme280.New(bme280.ChipIDBME280, now), [][]byte{{0xD0}}, 1, []byte{0x60}},
		{"BMP280 chip id", bme280.New(bme280.ChipIDBMP280, now), [][]byte{{0xD0}}, 1, []byte{0x58}},
		{"BME280 asleep: no measurement", bme280.New(bme280.ChipIDBME280, now), [][]byte{{0xFA}}, 3, []byte{0x80, 0, 0}},
		{"SHT3x serial number with CRCs", sht3x.New(now), [][]byte{{0x37, 0x80}}, 6, []byte{0x1A, 0x2B, sht3x.CRC(0x1A2B), 0x3C, 0x4D, sht3x.CRC(0x3C4D)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, w := range tc.w {
				if err := tc.part.Tx(w, nil); err != nil {
					t.Fatal(err)
				}
			}
			r := make([]byte, tc.read)
			if err := tc.part.Tx(nil, r); err != nil {
				t.Fatal(err)
			}
			if string(r) != string(tc.want) {
				t.Errorf("read % x, want % x", r, tc.want)
			}
		})
	}
}

func TestBME280TemperatureCompensatesBack(t *testing.T) {
	at := time.Unix(1_800_000_015, 0)
	d := bme280.New(bme280.ChipIDBME280, func() time.Time { return at })
	if err := d.Tx([]byte{0xF4, 0x27}, nil); err != nil {
		t.Fatal(err)
	}
	r := make([]byte, 3)
	if err := d.Tx([]byte{0xFA}, r); err != nil {
		t.Fatal(err)
	}
	adc := float64(uint32(r[0])<<12 | uint32(r[1])<<4 | uint32(r[2])>>4)
	// The datasheet's floating-point compensation, dig_T3 = 0.
	T := (adc/16384 - bme280.DigT1/1024.0) * bme280.DigT2 / 5120
	if T < 24.99 || T > 25.01 {
		t.Errorf("compensated %.3f °C, want 25 (T(t) at second 15)", T)
	}
}

func TestSHT3xMeasurementAndNACK(t *testing.T) {
	at := time.Unix(1_800_000_015, 0)
	d := sht3x.New(func() time.Time { return at })
	if err := d.Tx(nil, make([]byte, 6)); err == nil {
		t.Error("a read with nothing pending was acknowledged")
	}
	r := make([]byte, 6)
	if err := d.Tx([]byte{0x24, 0x00}, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.Tx(nil, r); err != nil {
		t.Fatal(err)
	}
	st := uint16(r[0])<<8 | uint16(r[1])
	if T := -45 + 175*float64(st)/65535; T < 24.99 || T > 25.01 || r[2] != sht3x.CRC(st) {
		t.Errorf("T %.3f °C crc %#x, want 25 °C (T(t) at second 15)", T, r[2])
	}
}
