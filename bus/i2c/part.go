package i2c

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/i2c/bmx280"
	"github.com/tinymapper/tinymapper/hal"
)

// Part properties: a Bosch BME280 or BMP280 gives raw ADC counts that mean
// nothing without the part's own calibration, so its properties name the
// part and the quantity instead of a register:
//
//	part   bme280 or bmp280 (either reads both: the chip ID tells them apart)
//	field  temperature (°C), pressure (hPa) or humidity (%RH, BME280 only)
//	scale, offset  as for registers, applied to the compensated value
//
// The device's part properties share one part. Before it writes anything,
// the driver reads the chip ID (0xD0: 0x60 BME280, 0x58 BMP280) and the
// calibration words; then it puts the part in normal mode (×1 oversampling
// of each quantity, 62.5 ms standby, no filter), so that a read is one
// 8-byte burst from 0xF7 (6 on a BMP280) with no wait, compensated with the
// datasheet's integer formulas (package bmx280). Properties due together
// share one burst. A part that does not answer at Open is set up at the
// first read that reaches it; one found asleep (0x80000: it was reset or
// lost power) is set up again.

// partFields are the field key's values, by partField.
var partFields = [...]string{fieldTemperature: "temperature", fieldPressure: "pressure", fieldHumidity: "humidity"}

type partField uint8

const (
	fieldTemperature partField = iota
	fieldPressure
	fieldHumidity
)

// notWithPart are the keys of registers and commands, which a part property
// does not take.
var notWithPart = []string{"register", "command", "readLength", "delayMs", "rxStart", "crc8", "dataType", "byteOrder", "shift", "mask"}

// partSpec is what a part property reads.
type partSpec struct {
	name          string // "bme280", "bmp280"; "": not a part property
	field         partField
	scale, offset float64
}

// parsePart reads the part keys of c; the zero partSpec when c has no part.
func parsePart(c bus.Config) (partSpec, error) {
	var s partSpec
	if !c.Has("part") {
		if c.Has("field") {
			return s, c.Errorf("field", "applies only with part (such as part: bme280)")
		}
		return s, nil
	}
	name, err := c.OneOf("part", "", "bme280", "bmp280")
	if err != nil {
		return s, err
	}
	for _, key := range notWithPart {
		if c.Has(key) {
			return s, c.Errorf(key, "does not apply with part: the %s driver reads and compensates the part's registers itself", name)
		}
	}
	if err := c.Require("field"); err != nil {
		return s, err
	}
	f, err := c.String("field", "")
	if err != nil {
		return s, err
	}
	f = strings.TrimSpace(f)
	s.field = 255
	for i, n := range partFields {
		if strings.EqualFold(f, n) {
			s.field = partField(i)
		}
	}
	if s.field == 255 {
		return s, c.Errorf("field", "%q is not temperature, pressure or humidity", f)
	}
	if s.scale, err = c.Float("scale", 1); err != nil {
		return s, err
	}
	if s.scale == 0 {
		return s, c.Errorf("scale", "must not be 0")
	}
	if s.offset, err = c.Float("offset", 0); err != nil {
		return s, err
	}
	s.name = name
	return s, nil
}

// Setup writes: ctrl_meas to sleep (config is ignored in normal mode),
// ctrl_hum ×1 (a BME280's, in effect from the next ctrl_meas write), config
// t_sb 62.5 ms, no filter, then ctrl_meas ×1 temperature and pressure,
// normal mode.
var (
	setupBME = []byte{bmx280.RegCtrlMeas, 0x24, bmx280.RegCtrlHum, 0x01, bmx280.RegConfig, 0x20, bmx280.RegCtrlMeas, 0x27}
	setupBMP = []byte{bmx280.RegCtrlMeas, 0x24, bmx280.RegConfig, 0x20, bmx280.RegCtrlMeas, 0x27}
)

// firstMeasurement is the longest a measurement at ×1 oversampling of all
// three quantities takes (datasheet section 9.1: 9.3 ms).
const firstMeasurement = 10 * time.Millisecond

// errWrongChip is wrapped by the error of a part whose chip ID is not a
// BME280's or BMP280's: nothing is written to it.
var errWrongChip = errors.New("not a BME280 (chip id 0x60) or BMP280 (0x58): nothing written to it")

// bmePart is one BME280 or BMP280, shared by the device's part properties.
// The bus worker is its only user.
type bmePart struct {
	bus   *hal.I2C
	addr  uint16
	ready bool // set up: calibration read, normal mode
	bme   bool // chip ID 0x60: has humidity
	cal   bmx280.Calibration
	ptr   [1]byte
	data  [bmx280.DataLen]byte

	id    [1]byte
	calib [bmx280.CalibLen + bmx280.CalibHLen]byte

	// The last burst, compensated: hundredths of °C, Pa·256, %RH·1024.
	centi, pa, rh int64
	noP, noH      bool // skipped
}

// setup identifies the part, reads its calibration and starts it measuring.
func (b *bmePart) setup() error {
	b.ready = false
	id := b.id[:]
	b.ptr[0] = bmx280.RegChipID
	if err := b.bus.Tx(b.addr, b.ptr[:], id); err != nil {
		return fmt.Errorf("read chip id: %w", err)
	}
	if id[0] != bmx280.ChipIDBME280 && id[0] != bmx280.ChipIDBMP280 {
		return fmt.Errorf("chip id 0x%02X: %w", id[0], errWrongChip)
	}
	b.bme = id[0] == bmx280.ChipIDBME280
	tp := b.calib[:bmx280.CalibLen]
	b.ptr[0] = bmx280.RegCalib
	if err := b.bus.Tx(b.addr, b.ptr[:], tp); err != nil {
		return fmt.Errorf("read calibration: %w", err)
	}
	var h []byte
	if b.bme {
		h = b.calib[bmx280.CalibLen:]
		b.ptr[0] = bmx280.RegCalibH
		if err := b.bus.Tx(b.addr, b.ptr[:], h); err != nil {
			return fmt.Errorf("read humidity calibration: %w", err)
		}
	}
	b.cal = bmx280.ParseCalibration(tp, h)
	if !b.cal.Valid() {
		return errors.New("calibration words dig_T1/dig_P1 read 0: not a trimmed part")
	}
	cmd := setupBMP
	if b.bme {
		cmd = setupBME
	}
	if err := b.bus.Tx(b.addr, cmd, nil); err != nil {
		return fmt.Errorf("set normal mode: %w", err)
	}
	time.Sleep(firstMeasurement)
	b.ready = true
	return nil
}

// measure reads one burst of the ADCs and compensates it. It does not
// allocate unless it fails.
func (b *bmePart) measure() error {
	if !b.ready {
		if err := b.setup(); err != nil {
			return err
		}
	}
	n := bmx280.DataLen
	if !b.bme {
		n = 6
	}
	b.ptr[0] = bmx280.RegData
	d := b.data[:n]
	if err := b.bus.Tx(b.addr, b.ptr[:], d); err != nil {
		return fmt.Errorf("read 0x%02X-0x%02X: %w", bmx280.RegData, bmx280.RegData+n-1, err)
	}
	adcP := int32(d[0])<<12 | int32(d[1])<<4 | int32(d[2])>>4
	adcT := int32(d[3])<<12 | int32(d[4])<<4 | int32(d[5])>>4
	if adcT == bmx280.SkippedPT {
		b.ready = false
		return errors.New("no measurement (0x80000): the part is asleep, reset or powered off since it was set up; it is set up again at the next read")
	}
	centi, tFine := b.cal.Temperature(adcT)
	b.centi = int64(centi)
	b.noP = adcP == bmx280.SkippedPT
	b.pa = int64(b.cal.Pressure(adcP, tFine))
	b.noH = true
	if b.bme {
		adcH := int32(d[6])<<8 | int32(d[7])
		b.noH = adcH == bmx280.SkippedH
		b.rh = int64(b.cal.Humidity(adcH, tFine))
	}
	return nil
}

// value is the field of the last burst in its unit: °C, hPa or %RH.
func (b *bmePart) value(f partField) (float64, error) {
	switch f {
	case fieldTemperature:
		return float64(b.centi) / 100, nil
	case fieldPressure:
		if b.noP {
			return 0, errors.New("pressure not measured (0x80000): oversampling set to skip it")
		}
		return float64(b.pa) / 25600, nil
	}
	if !b.bme {
		return 0, errNoHumidity
	}
	if b.noH {
		return 0, errors.New("humidity not measured (0x8000): ctrl_hum set to skip it")
	}
	return float64(b.rh) / 1024, nil
}

var errNoHumidity = errors.New("the part is a BMP280 (chip id 0x58), which has no humidity sensor")

// readPart reads points that are all fields of the part in one burst, and
// reports whether idx was such a set.
func (d *Device) readPart(idx []int, vals []float64, errs []error) bool {
	for _, i := range idx {
		if d.regs[i].part.name == "" {
			return false
		}
	}
	err := d.bme.measure()
	for k, i := range idx {
		p := d.regs[i]
		if err != nil {
			vals[k], errs[k] = 0, p.partError(err)
			continue
		}
		vals[k], errs[k] = p.partValue()
	}
	return true
}

// readPartPoint is Read for one part property.
func (p *point) readPartPoint() (float64, error) {
	if err := p.bme.measure(); err != nil {
		return 0, p.partError(err)
	}
	return p.partValue()
}

func (p *point) partValue() (float64, error) {
	v, err := p.bme.value(p.part.field)
	if err != nil {
		return 0, p.partError(err)
	}
	return v*p.part.scale + p.part.offset, nil
}

func (p *point) partError(err error) error {
	return fmt.Errorf("i2c bus %s address 0x%02x %s %s: %w", p.bus.Name(), p.addr, p.part.name, partFields[p.part.field], err)
}

// openPart sets up the device's part at Open. A part that does not answer
// is left for the first read; one that answers but is not a BME280 or
// BMP280, or a BMP280 asked for humidity, is a configData error.
func (d *Device) openPart(cfg bus.DeviceConfig) error {
	if d.bme == nil {
		return nil
	}
	err := d.bme.setup()
	for i, p := range cfg.Properties {
		pt := d.regs[i]
		if pt.part.name == "" {
			continue
		}
		pc := propertyConfig(p)
		switch {
		case errors.Is(err, errWrongChip):
			return pc.Errorf("part", "the chip at address 0x%02x on bus %s is %w", d.addr, d.i2c.Name(), err)
		case err == nil && !d.bme.bme && pt.part.field == fieldHumidity:
			return pc.Errorf("field", "humidity: %w", errNoHumidity)
		}
	}
	return nil
}
