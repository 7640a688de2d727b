package i2c_test

import (
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2creg"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/at24c02"
	"github.com/tinymapper/tinymapper/board/sim/bme280"
	"github.com/tinymapper/tinymapper/board/sim/tmp102"
	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/bustest"
	"github.com/tinymapper/tinymapper/bus/i2c"
)

// partAt is the sim's clock in these tests: T at its peak (25 °C), P and H
// on their way up.
var partAt = time.Unix(1_800_000_015, 0)

// counted is a sim part that counts its transactions and the writes that
// are more than a register pointer.
type counted struct {
	sim.Part
	tx, writes atomic.Int32
}

func (c *counted) Tx(w, r []byte) error {
	c.tx.Add(1)
	if len(w) > 1 {
		c.writes.Add(1)
	}
	return c.Part.Tx(w, r)
}

// partBus registers a bus of its own called name, with a BME280 at 0x76, a
// BMP280 at 0x77 and a 24C02 EEPROM at 0x50 on the test clock, and returns the
// BME280.
func partBus(t testing.TB, name string) (*sim.I2CBus, *counted) {
	t.Helper()
	now := func() time.Time { return partAt }
	b := sim.NewI2CBus(name)
	bme := &counted{Part: bme280.New(bme280.ChipIDBME280, now)}
	for addr, p := range map[uint16]sim.Part{0x76: bme, 0x77: bme280.New(bme280.ChipIDBMP280, now), 0x50: at24c02.New()} {
		if err := b.Attach(addr, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := i2creg.Register(name, nil, -1, b.Open); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { i2creg.Unregister(name) })
	return b, bme
}

func partProperty(name string, kv ...any) bus.PropertyConfig {
	return property(name, false, append([]any{"part", "bme280", "field", name}, kv...)...)
}

func TestPartReadsCompensatedValues(t *testing.T) {
	partBus(t, "PART-VALUES")
	T, P, H := bme280.Temperature(partAt), bme280.Pressure(partAt), bme280.Humidity(partAt)
	for _, tc := range []struct {
		name      string
		addr      int
		prop      bus.PropertyConfig
		want, tol float64
	}{
		{"BME280 temperature °C", 0x76, partProperty("temperature"), T, 0.01},
		{"BME280 pressure hPa", 0x76, partProperty("pressure"), P, 0.01},
		{"BME280 humidity %RH", 0x76, partProperty("humidity"), H, 0.05},
		{"BME280 temperature °F (scale, offset)", 0x76, partProperty("temperature", "scale", 1.8, "offset", 32), T*1.8 + 32, 0.02},
		{"BME280 pressure kPa (scale)", 0x76, partProperty("pressure", "scale", 0.1), P / 10, 0.001},
		{"field in another case", 0x76, property("t", false, "part", "BME280", "field", " Temperature "), T, 0.01},
		{"BMP280 temperature, part bmp280", 0x77, property("t", false, "part", "bmp280", "field", "temperature"), T, 0.01},
		{"BMP280 pressure, part bme280", 0x77, partProperty("pressure"), P, 0.01},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := open(t, config(devicePath, "bus", "PART-VALUES", "address", tc.addr), tc.prop)
			if v := read(t, d.Points()[0]); math.Abs(v-tc.want) > tc.tol {
				t.Errorf("read %.4f, want %.4f ± %g", v, tc.want, tc.tol)
			}
		})
	}
}

// TestPartFieldsShareOneBurst: the three fields due together are one read
// of 0xF7..0xFE, and the part is set up once, at Open.
func TestPartFieldsShareOneBurst(t *testing.T) {
	_, bme := partBus(t, "PART-BURST")
	d := open(t, config(devicePath, "bus", "PART-BURST", "address", 0x76),
		partProperty("temperature"), partProperty("pressure"), partProperty("humidity"))
	setup := bme.tx.Load()
	if w := bme.writes.Load(); setup != 4 || w != 1 {
		t.Errorf("Open: %d transactions, %d writes; want 4 (chip id, 2 calibration reads, the setup write) and 1", setup, w)
	}
	idx, vals, errs := []int{0, 1, 2}, make([]float64, 3), make([]error, 3)
	d.(bus.Batcher).ReadPoints(idx, vals, errs)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := bme.tx.Load() - setup; n != 1 {
		t.Errorf("ReadPoints of 3 fields: %d transactions, want 1", n)
	}
	for i, want := range []float64{bme280.Temperature(partAt), bme280.Pressure(partAt), bme280.Humidity(partAt)} {
		if math.Abs(vals[i]-want) > 0.05 {
			t.Errorf("field %d: %.4f, want %.4f", i, vals[i], want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { d.(bus.Batcher).ReadPoints(idx, vals, errs) }); n != 0 {
		t.Errorf("ReadPoints allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { d.Points()[2].Read() }); n != 0 {
		t.Errorf("Read allocates %v times", n)
	}
}

func TestPartConfigErrorsNameTheField(t *testing.T) {
	partBus(t, "PART-ERRORS")
	for _, tc := range []struct {
		name       string
		addr       int
		prop       bus.PropertyConfig
		field, msg string
	}{
		{"misspelt field", 0x76, property("h", false, "part", "bme280", "field", "humdity"), "field", `"humdity" is not temperature, pressure or humidity`},
		{"no field", 0x76, property("h", false, "part", "bme280"), "field", "is required"},
		{"field without part", 0x76, property("h", false, "register", 0xFA, "field", "humidity"), "field", "applies only with part"},
		{"unknown part", 0x76, property("h", false, "part", "bme680", "field", "humidity"), "part", "not one of bme280, bmp280"},
		{"part and register", 0x76, property("h", false, "part", "bme280", "field", "humidity", "register", 0xFD), "register", "does not apply with part"},
		{"part and dataType", 0x76, property("h", false, "part", "bme280", "field", "humidity", "dataType", "uint16"), "dataType", "does not apply with part"},
		{"scale 0", 0x76, property("h", false, "part", "bme280", "field", "humidity", "scale", 0), "scale", "must not be 0"},
		{"writable", 0x76, property("h", true, "part", "bme280", "field", "humidity"), "part", "read only"},
		{"BMP280 humidity", 0x77, property("h", false, "part", "bme280", "field", "humidity"), "field", "BMP280 (chip id 0x58), which has no humidity sensor"},
		{"an EEPROM is no BME280", 0x50, property("h", false, "part", "bme280", "field", "temperature"), "part", "chip id 0xFF: not a BME280 (chip id 0x60) or BMP280 (0x58)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := refused(t, config(devicePath, "bus", "PART-ERRORS", "address", tc.addr), tc.prop)
			if want := "spec.properties[h].visitors.configData." + tc.field; fe.Field != want || !strings.Contains(fe.Error(), tc.msg) {
				t.Errorf("error %q (field %s), want field %s saying %q", fe, fe.Field, want, tc.msg)
			}
		})
	}
}

// TestPartNeverWritesToAnotherChip: a part property at the address of a
// chip that is not a BME280 reads its chip ID and writes nothing: an EEPROM
// (0xD0 holds 0xFF) is refused at Open; a TMP102 NACKs the pointer 0xD0, so
// Open leaves it for the reads, which fail the same way.
func TestPartNeverWritesToAnotherChip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		part    sim.Part
		refused bool
	}{
		{"24C02 EEPROM", at24c02.New(), true},
		{"TMP102", tmp102.New(nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "PART-OTHER-" + tc.name[:3]
			b := sim.NewI2CBus(name)
			other := &counted{Part: tc.part}
			if err := b.Attach(0x76, other); err != nil {
				t.Fatal(err)
			}
			if err := i2creg.Register(name, nil, -1, b.Open); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { i2creg.Unregister(name) })
			dev := config(devicePath, "bus", name, "address", 0x76)
			if tc.refused {
				refused(t, dev, partProperty("temperature"))
			} else {
				d := open(t, dev, partProperty("temperature"))
				for range 3 {
					if _, err := d.Points()[0].Read(); err == nil {
						t.Error("read a temperature from a " + tc.name)
					}
				}
			}
			if w := other.writes.Load(); w != 0 || other.tx.Load() == 0 {
				t.Errorf("%d transactions, %d writes to a %s at 0x76: want reads of the chip ID only", other.tx.Load(), w, tc.name)
			}
		})
	}
}

// TestPartAbsentAtOpenOrResetLater: a part that does not answer at Open is
// set up at the first read that reaches it, and one reset since (asleep,
// 0x80000) is set up again.
func TestPartAbsentAtOpenOrResetLater(t *testing.T) {
	b := sim.NewI2CBus("PART-LATE")
	if err := i2creg.Register("PART-LATE", nil, -1, b.Open); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { i2creg.Unregister("PART-LATE") })
	d := open(t, config(devicePath, "bus", "PART-LATE", "address", 0x76), partProperty("temperature"))
	p := d.Points()[0]
	if _, err := p.Read(); !i2c.IsNoAck(err) || !strings.Contains(err.Error(), "bme280 temperature") {
		t.Errorf("read with no part: %v, want a NACK naming bme280 temperature", err)
	}
	if err := b.Attach(0x76, bme280.New(bme280.ChipIDBME280, func() time.Time { return partAt })); err != nil {
		t.Fatal(err)
	}
	if v := read(t, p); math.Abs(v-bme280.Temperature(partAt)) > 0.01 {
		t.Errorf("read %.3f once the part answers, want %.3f", v, bme280.Temperature(partAt))
	}
	if err := b.Tx(0x76, []byte{0xE0, 0xB6}, nil); err != nil { // soft reset: asleep
		t.Fatal(err)
	}
	if _, err := p.Read(); err == nil || !strings.Contains(err.Error(), "asleep") {
		t.Errorf("read after a reset: %v, want an error saying the part is asleep", err)
	}
	if v := read(t, p); math.Abs(v-bme280.Temperature(partAt)) > 0.01 {
		t.Errorf("read %.3f after the part was set up again, want %.3f", v, bme280.Temperature(partAt))
	}
}

func refused(t *testing.T, dev bus.Config, props ...bus.PropertyConfig) *bus.FieldError {
	t.Helper()
	return bustest.Refused(t, i2c.Driver{}, bus.DeviceConfig{Name: "d", Config: dev, Properties: props})
}

func BenchmarkReadPart(b *testing.B) {
	partBus(b, "PART-BENCH")
	d := open(b, config(devicePath, "bus", "PART-BENCH", "address", 0x76),
		partProperty("temperature"), partProperty("pressure"), partProperty("humidity"))
	b.Run("BME280 temperature", func(b *testing.B) {
		p := d.Points()[0]
		b.ReportAllocs()
		for b.Loop() {
			v, err := p.Read()
			if err != nil {
				b.Fatal(err)
			}
			sink = v
		}
	})
	b.Run("BME280 temperature+pressure+humidity, one burst", func(b *testing.B) {
		idx, vals, errs := []int{0, 1, 2}, make([]float64, 3), make([]error, 3)
		batch := d.(bus.Batcher)
		b.ReportAllocs()
		for b.Loop() {
			batch.ReadPoints(idx, vals, errs)
			if errs[2] != nil {
				b.Fatal(errs[2])
			}
		}
	})
}
