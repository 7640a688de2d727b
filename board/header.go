package board

import (
	"strconv"

	"periph.io/x/conn/v3/gpio/gpioreg"
)

// header40 maps the 40-pin header of every Raspberry Pi since the B+ (2, 3,
// 4, 5, Zero, Zero 2 W) from physical pin to BCM GPIO number. Pins that are
// power or ground are absent.
var header40 = map[int]int{
	3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23,
	18: 24, 19: 10, 21: 9, 22: 25, 23: 11, 24: 8, 26: 7, 27: 0, 28: 1, 29: 5,
	31: 6, 32: 12, 33: 13, 35: 19, 36: 16, 37: 26, 38: 20, 40: 21,
}

// aliasHeader registers P1_n for each header pin whose GPIO is registered and
// that has no P1_n yet. periph's bcm283x driver registers the header itself
// on the boards it knows; on others (a Pi 5, where only the gpioioctl
// character-device driver runs) nothing would, and CRDs written with header
// names would not find their pins. It returns how many aliases it added.
func aliasHeader() int {
	n := 0
	for phys, bcm := range header40 {
		alias, name := "P1_"+strconv.Itoa(phys), "GPIO"+strconv.Itoa(bcm)
		if gpioreg.ByName(alias) != nil || gpioreg.ByName(name) == nil {
			continue
		}
		if gpioreg.RegisterAlias(alias, name) == nil {
			n++
		}
	}
	return n
}
