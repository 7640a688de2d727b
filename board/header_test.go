package board

import (
	"testing"

	"github.com/tinymapper/tinymapper/board/sim/pins"
	"periph.io/x/conn/v3/gpio/gpioreg"
)

func TestHeaderAliasesAreAddedForRegisteredLinesOnly(t *testing.T) {
	// A Pi 5 as periph's gpioioctl driver leaves it: lines named GPIOn, no
	// header. GPIO26 is registered, GPIO21 is not; P1_37 (GPIO26) gets an
	// alias, P1_40 (GPIO21) does not.
	pin := pins.NewWire().NewPin("GPIO26", 26)
	if err := gpioreg.Register(pin); err != nil {
		t.Fatal(err)
	}
	defer gpioreg.Unregister("GPIO26")
	if gpioreg.ByName("P1_37") != nil {
		t.Skip("P1_37 is already registered in this process")
	}
	added := aliasHeader()
	defer gpioreg.Unregister("P1_37")
	if added < 1 {
		t.Fatalf("aliasHeader added %d aliases; want P1_37 at least", added)
	}
	if got := gpioreg.ByName("P1_37"); got == nil || got.Name() != "P1_37" {
		t.Fatalf("P1_37 = %v; want an alias of GPIO26", got)
	}
	if gpioreg.ByName("P1_40") != nil {
		t.Error("P1_40 registered although GPIO21 is not")
	}
	if again := aliasHeader(); again != 0 {
		t.Errorf("second call added %d aliases; want none", again)
	}
}

func TestHeaderMatchesThePinout(t *testing.T) {
	// Spot checks against the published 40-pin pinout.
	for phys, bcm := range map[int]int{3: 2, 11: 17, 12: 18, 13: 27, 15: 22, 40: 21, 27: 0} {
		if header40[phys] != bcm {
			t.Errorf("pin %d = GPIO%d; want GPIO%d", phys, header40[phys], bcm)
		}
	}
	for _, power := range []int{1, 2, 4, 6, 9, 14, 17, 20, 25, 30, 34, 39} {
		if _, ok := header40[power]; ok {
			t.Errorf("pin %d is power or ground but is mapped", power)
		}
	}
}
