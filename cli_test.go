package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	pi2c "periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/physic"
)

func TestSubcommandsOnTheSimBoard(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"scan", "i2c", "--board", "sim", "--bus", "1"}, []string{"10: -- -- -- -- -- -- -- -- 18 --", "40: -- -- -- -- -- -- -- -- 48 49 --", "50: 50 --", "70: -- -- -- -- -- -- 76 77"}},
		{[]string{"board", "--board", "sim"}, []string{"board: sim", "SIM-I2C1", "/dev/i2c-1", "SIM-SPI0.0", "GPIO17       P1_11"}},
		{[]string{"version"}, []string{"tinymapper dev"}},
	}
	for _, tc := range cases {
		var out bytes.Buffer
		if err := run(tc.args, &out, &out); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, w, out.String())
			}
		}
	}
}

func TestScanNeedsABusKind(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"scan", "spi"}, &out, &out); err == nil || !strings.Contains(err.Error(), "scan i2c") {
		t.Errorf("scan spi = %v; want usage naming scan i2c", err)
	}
	if err := run([]string{"scan", "i2c", "--board", "sim", "--bus", "7"}, &out, &out); err == nil {
		t.Error("scanning a bus that does not exist succeeded")
	}
}

// probeBus answers a scan the way a Linux bus does: EREMOTEIO as text
// (periph's sysfs driver formats it with %v) where nobody is, the
// device's byte at present, and fail, if set, from an address on.
type probeBus struct {
	present uint16
	failAt  uint16
	fail    error
}

func (b probeBus) String() string                  { return "PROBE" }
func (b probeBus) SetSpeed(physic.Frequency) error { return nil }
func (b probeBus) Close() error                    { return nil }
func (b probeBus) Tx(addr uint16, w, r []byte) error {
	switch {
	case b.fail != nil && addr >= b.failAt:
		return b.fail
	case addr == b.present:
		return nil
	}
	return fmt.Errorf("sysfs-i2c: %v", syscall.EREMOTEIO)
}

func TestScanStopsAtTheFirstErrorThatIsNotANack(t *testing.T) {
	tests := []struct {
		name string
		bus  probeBus
		last string // the last row printed, spaces at its end trimmed
		err  string
	}{
		{"flattened NACKs are empty addresses", probeBus{present: 0x48},
			"70: -- -- -- -- -- -- -- --", ""},
		{"a bus that times out stops the scan at the address", probeBus{present: 0x10, failAt: 0x22, fail: fmt.Errorf("sysfs-i2c: %v", syscall.ETIMEDOUT)},
			"20: -- --", "address 0x22: sysfs-i2c: connection timed out"},
		{"a controller that cannot read stops at the first address", probeBus{failAt: 0, fail: errors.New("i2c: operation not supported")},
			"00:", "address 0x03: i2c: operation not supported"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("PROBE%d", i)
			b := tt.bus
			if err := i2creg.Register(name, nil, -1, func() (pi2c.BusCloser, error) { return b, nil }); err != nil {
				t.Fatal(err)
			}
			defer i2creg.Unregister(name)
			var out bytes.Buffer
			err := run([]string{"scan", "i2c", "--board", "sim", "--bus", name}, &out, &out)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("scan: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("scan error %v, want one saying %q", err, tt.err)
			}
			rows := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
			if last := strings.TrimRight(rows[len(rows)-1], " "); last != tt.last {
				t.Errorf("last row %q, want %q:\n%s", last, tt.last, out.String())
			}
			if tt.bus.present != 0 && !strings.Contains(out.String(), fmt.Sprintf(" %02x", tt.bus.present)) {
				t.Errorf("the device at 0x%02x is not listed:\n%s", tt.bus.present, out.String())
			}
		})
	}
}
