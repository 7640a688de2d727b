// Register map of the TI TMP102 digital temperature sensor.
//
// Datasheet: https://www.ti.com/lit/ds/symlink/tmp102.pdf (TI SBOS397), "Register
// Maps".

package tmp102

// Address is the TMP102's I²C address with ADD0 tied to GND. ADD0 to V+, SDA
// and SCL give 0x49, 0x4A and 0x4B.
const Address = 0x48

// Pointer register values (P1, P0): the register a read returns and a write sets.
const (
	RegTemperature = 0x00 // read only
	RegConfig      = 0x01
	RegTLow        = 0x02
	RegTHigh       = 0x03
)

// Configuration register bits, byte 1 (D15..D8) then byte 2 (D7..D0).
const (
	ConfigOS  = 1 << 15 // one-shot / conversion ready
	ConfigR1  = 1 << 14 // converter resolution, read only (12 bits)
	ConfigR0  = 1 << 13
	ConfigF1  = 1 << 12 // fault queue
	ConfigF0  = 1 << 11
	ConfigPOL = 1 << 10 // ALERT polarity
	ConfigTM  = 1 << 9  // thermostat mode: 0 comparator, 1 interrupt
	ConfigSD  = 1 << 8  // shutdown
	ConfigCR1 = 1 << 7  // conversion rate
	ConfigCR0 = 1 << 6
	ConfigAL  = 1 << 5 // alert, read only
	ConfigEM  = 1 << 4 // extended (13-bit) mode
)

// Power-on values.
const (
	DefaultConfig = ConfigR1 | ConfigR0 | ConfigCR1 | ConfigAL // 0x60A0: 12 bits, 4 Hz, no alert
	DefaultTLow   = 0x4B00                                     // 75 °C
	DefaultTHigh  = 0x5000                                     // 80 °C
)

// configWritable are the configuration bits a write changes.
const configWritable = ConfigF1 | ConfigF0 | ConfigPOL | ConfigTM | ConfigSD | ConfigCR1 | ConfigCR0 | ConfigEM

// Resolution is the temperature of one LSB, in °C.
const Resolution = 0.0625
