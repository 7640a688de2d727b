package i2c_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2creg"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/sht3x"
	"github.com/tinymapper/tinymapper/bus"
	"github.com/tinymapper/tinymapper/bus/i2c"
)

// sht3xTemperature and sht3xHumidity are an SHT3x's properties as a user
// writes them: the single-shot command without clock stretching, the
// conversion time, the two words of the reply, each with its CRC.
func sht3xTemperature(delayMs int) bus.PropertyConfig {
	return property("temperature", false, "command", "0x2400", "delayMs", delayMs, "readLength", 6, "crc8", "sensirion",
		"dataType", "uint16", "scale", 175.0/65535, "offset", -45)
}

func sht3xHumidity(delayMs int) bus.PropertyConfig {
	return property("humidity", false, "command", "0x2400", "delayMs", delayMs, "readLength", 6, "rxStart", 3, "crc8", "sensirion",
		"dataType", "uint16", "scale", 100.0/65535)
}

func TestReadsTheSimSHT3xByCommand(t *testing.T) {
	d := open(t, config(devicePath, "address", sht3x.Address), sht3xTemperature(15), sht3xHumidity(15))
	for _, tc := range []struct {
		point int
		want  func(time.Time) float64
	}{
		{0, sht3x.Temperature},
		{1, sht3x.Humidity},
	} {
		start := time.Now()
		v := read(t, d.Points()[tc.point])
		if took := time.Since(start); took < 15*time.Millisecond {
			t.Errorf("point %d: read took %v, want at least delayMs 15", tc.point, took)
		}
		// One code step is 175/65535 °C or 100/65535 %.
		if want := tc.want(start); math.Abs(v-want) > 0.01 {
			t.Errorf("point %d = %v, want the sim's %v", tc.point, v, want)
		}
	}
}

// wire is a part that records each transaction and answers every read with
// reply.
type wire struct {
	mu    sync.Mutex
	reply []byte
	txs   []string // "w <hex> r <n>"
	at    []time.Time
}

func (p *wire) Tx(w, r []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.txs = append(p.txs, strings.TrimSpace(fmt.Sprintf("w % X", w))+fmt.Sprintf(" r %d", len(r)))
	p.at = append(p.at, time.Now())
	copy(r, p.reply)
	return nil
}

// wireBus registers a bus with p at 0x40 under name for the test.
func wireBus(t testing.TB, name string, p *wire) {
	t.Helper()
	b := sim.NewI2CBus(name)
	if err := b.Attach(0x40, p); err != nil {
		t.Fatal(err)
	}
	if err := i2creg.Register(name, nil, -1, b.Open); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { i2creg.Unregister(name) })
}

func TestCommandTransactions(t *testing.T) {
	tests := []struct {
		name  string
		reply []byte
		prop  []any
		txs   []string
		want  float64
		split time.Duration // the least time between the two transactions
	}{
		{"without delayMs: one transaction, read after a repeated START (HTU21D hold master, 16-bit pointers)",
			[]byte{0x68, 0x3A, 0x7C}, []any{"command", "0xE3", "readLength", 3, "crc8", "htu21d", "dataType", "uint16", "mask", "0xFFFC"},
			[]string{"w E3 r 3"}, 0x6838, 0},
		{"with delayMs: write, wait, read (SHT3x, SHT4x, HTU21D no hold)",
			[]byte{0xBE, 0xEF, 0x92}, []any{"command", "0x2400", "delayMs", 20, "crc8", "sensirion", "dataType", "uint16"},
			[]string{"w 24 00 r 0", "w r 3"}, 0xBEEF, 20 * time.Millisecond},
		{"delayMs 0 still splits",
			[]byte{0xBE, 0xEF, 0x92}, []any{"command", "0xFD", "delayMs", 0, "crc8", "sensirion", "dataType", "uint16"},
			[]string{"w FD r 0", "w r 3"}, 0xBEEF, 0},
		{"a numeric command is sent in as few bytes as hold it",
			[]byte{0x12, 0x34}, []any{"command", 0x2400, "dataType", "uint16"},
			[]string{"w 24 00 r 2"}, 0x1234, 0},
		{"a hex string keeps its leading zero bytes",
			[]byte{0x12, 0x34}, []any{"command", "0x0010", "dataType", "uint16"},
			[]string{"w 00 10 r 2"}, 0x1234, 0},
		{"rxStart picks the value out of a longer reply",
			[]byte{0, 0, 0, 0, 0xff, 0xfe}, []any{"command", "0x01", "readLength", 6, "rxStart", 4, "dataType", "int16"},
			[]string{"w 01 r 6"}, -2, 0},
		{"the second word of a CRC'd reply",
			[]byte{0xBE, 0xEF, 0x92, 0x68, 0x3A, 0xCC}, []any{"command", "0x2400", "readLength", 6, "rxStart", 3, "crc8", "sensirion", "dataType", "uint16"},
			nil, 0x683A, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &wire{reply: tt.reply}
			wireBus(t, "CMD-TEST", p)
			if tt.txs == nil {
				// Compute the second word's CRC rather than trust a constant.
				tt.reply[5] = sht3x.CRC(0x683A)
			}
			d := open(t, config(devicePath, "bus", "CMD-TEST", "address", 0x40), property("v", false, tt.prop...))
			if v := read(t, d.Points()[0]); v != tt.want {
				t.Errorf("value = %v, want %v", v, tt.want)
			}
			if tt.txs != nil && strings.Join(p.txs, "; ") != strings.Join(tt.txs, "; ") {
				t.Errorf("transactions %q, want %q", p.txs, tt.txs)
			}
			if len(p.at) == 2 && p.at[1].Sub(p.at[0]) < tt.split {
				t.Errorf("read %v after the command, want at least %v", p.at[1].Sub(p.at[0]), tt.split)
			}
		})
	}
}

func TestABadCRCFailsTheRead(t *testing.T) {
	for _, tc := range []struct {
		name, crc string
		reply     []byte
		msg       string
	}{
		{"first word", "sensirion", []byte{0xBE, 0xEF, 0x93, 0x68, 0x3A, 0x00}, "crc8 (sensirion) of the word at byte 0 (0xBEEF) is 0x92, the part sent 0x93"},
		{"second word, not the value's", "sensirion", []byte{0xBE, 0xEF, 0x92, 0x68, 0x3A, 0x00}, "word at byte 3"},
		{"htu21d is not sensirion", "htu21d", []byte{0xBE, 0xEF, 0x92, 0x68, 0x3A, 0x7C}, "crc8 (htu21d) of the word at byte 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wireBus(t, "CMD-CRC", &wire{reply: tc.reply})
			d := open(t, config(devicePath, "bus", "CMD-CRC", "address", 0x40),
				property("v", false, "command", "0x2400", "readLength", 6, "crc8", tc.crc, "dataType", "uint16"))
			_, err := d.Points()[0].Read()
			if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "command 0x2400") {
				t.Errorf("Read error = %v, want one naming command 0x2400 and saying %q", err, tc.msg)
			}
		})
	}
}

func TestPropertiesOfOneCommandShareAnExchange(t *testing.T) {
	p := &wire{reply: []byte{0x66, 0x66, sht3x.CRC(0x6666), 0x80, 0x00, sht3x.CRC(0x8000)}}
	wireBus(t, "CMD-SHARE", p)
	d := open(t, config(devicePath, "bus", "CMD-SHARE", "address", 0x40),
		sht3xTemperature(1), sht3xHumidity(1), property("status", false, "command", "0xF32D", "delayMs", 0, "readLength", 3, "dataType", "uint16"))
	vals, errs := make([]float64, 2), make([]error, 2)
	d.(bus.Batcher).ReadPoints([]int{0, 1}, vals, errs)
	if errors.Join(errs...) != nil || math.Abs(vals[0]-(-45+175*0x6666/65535.0)) > 1e-9 || math.Abs(vals[1]-100*0x8000/65535.0) > 1e-9 {
		t.Errorf("ReadPoints = %v, %v", vals, errs)
	}
	if want := []string{"w 24 00 r 0", "w r 6"}; strings.Join(p.txs, "; ") != strings.Join(want, "; ") {
		t.Errorf("transactions %q, want one measurement %q", p.txs, want)
	}
	p.txs = nil
	vals, errs = make([]float64, 3), make([]error, 3)
	d.(bus.Batcher).ReadPoints([]int{0, 1, 2}, vals, errs)
	if n := len(p.txs); n != 6 {
		t.Errorf("points with different commands: %d transactions %q, want each point alone (6)", n, p.txs)
	}
}

func TestBadCommandConfigNamesTheField(t *testing.T) {
	const propPath = "spec.properties[v].visitors.configData"
	tests := []struct {
		name     string
		prop     []any
		writable bool
		field    string
		msg      string
	}{
		{"neither register nor command", []any{"dataType", "uint16"}, false, "register", "is required (or command"},
		{"both", []any{"register", 0, "command", "0x2400"}, false, "command", "both set"},
		{"command odd digits", []any{"command", "0x240"}, false, "command", "not 1 to 4 bytes in hex"},
		{"command without 0x", []any{"command", "2400"}, false, "command", "not 1 to 4 bytes in hex"},
		{"command too long", []any{"command", "0x0102030405"}, false, "command", "not 1 to 4 bytes in hex"},
		{"command not hex", []any{"command", "0xZZ"}, false, "command", "not 1 to 4 bytes in hex"},
		{"command negative", []any{"command", -1}, false, "command", "out of range"},
		{"readLength without command", []any{"register", 0, "readLength", 2}, false, "readLength", "only with command"},
		{"crc8 without command", []any{"register", 0, "crc8", "sensirion"}, false, "crc8", "only with command"},
		{"rxStart without command", []any{"register", 0, "rxStart", 1}, false, "rxStart", "only with command"},
		{"delayMs without command", []any{"register", 0, "delayMs", 1}, false, "delayMs", "only with command"},
		{"delayMs too long", []any{"command", "0x2400", "delayMs", 501}, false, "delayMs", "out of range [0, 500]"},
		{"delayMs fractional", []any{"command", "0x2400", "delayMs", 1.5}, false, "delayMs", "whole number"},
		{"unknown crc8", []any{"command", "0x2400", "crc8", "crc16"}, false, "crc8", "not one of"},
		{"readLength too short", []any{"command", "0x2400", "dataType", "uint16", "rxStart", 1, "readLength", 2}, false, "readLength", "too short"},
		{"readLength past 32", []any{"command", "0x2400", "readLength", 33}, false, "readLength", "out of range"},
		{"readLength not whole words with crc8", []any{"command", "0x2400", "crc8", "sensirion", "readLength", 4}, false, "readLength", "whole number of words"},
		{"value across a CRC byte", []any{"command", "0x2400", "crc8", "sensirion", "dataType", "uint16", "rxStart", 1}, false, "rxStart", "cross a CRC byte"},
		{"uint32 across a CRC byte", []any{"command", "0x2400", "crc8", "sensirion", "dataType", "uint32"}, false, "rxStart", "cross a CRC byte"},
		{"a command property is read only", []any{"command", "0x2400"}, true, "command", "read only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := i2c.Driver{}.Open(bus.DeviceConfig{
				Name:       "default/bad",
				Config:     config(devicePath, "address", sht3x.Address),
				Properties: []bus.PropertyConfig{property("v", tt.writable, tt.prop...)},
			})
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded, want an error")
			}
			var fe *bus.FieldError
			if !errors.As(err, &fe) || fe.Field != propPath+"."+tt.field {
				t.Fatalf("Open error %v, want a *bus.FieldError for %s", err, propPath+"."+tt.field)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestCommandReadsDoNotAllocate(t *testing.T) {
	d := open(t, config(devicePath, "address", sht3x.Address), sht3xTemperature(0), sht3xHumidity(0))
	p := d.Points()[0]
	if n := testing.AllocsPerRun(100, func() { p.Read() }); n != 0 {
		t.Errorf("Read allocates %v times", n)
	}
	idx, vals, errs := []int{0, 1}, make([]float64, 2), make([]error, 2)
	if n := testing.AllocsPerRun(100, func() { d.(bus.Batcher).ReadPoints(idx, vals, errs) }); n != 0 {
		t.Errorf("ReadPoints allocates %v times", n)
	}
	if errors.Join(errs...) != nil {
		t.Errorf("ReadPoints: %v", errs)
	}
}

func BenchmarkReadCommand(b *testing.B) {
	d := open(b, config(devicePath, "address", sht3x.Address), sht3xTemperature(0), sht3xHumidity(0))
	b.Run("SHT3x temperature", func(b *testing.B) {
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
	b.Run("SHT3x temperature+humidity, one exchange", func(b *testing.B) {
		idx, vals, errs := []int{0, 1}, make([]float64, 2), make([]error, 2)
		batch := d.(bus.Batcher)
		b.ReportAllocs()
		for b.Loop() {
			batch.ReadPoints(idx, vals, errs)
			if errs[0] != nil {
				b.Fatal(errs[0])
			}
		}
	})
}
