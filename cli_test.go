package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestSubcommandsOnTheSimBoard(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"scan", "i2c", "--board", "sim", "--bus", "1"}, []string{"40: -- -- -- -- -- -- -- -- 48 --", "50: 50 --"}},
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
