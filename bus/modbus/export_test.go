package modbus

import "time"

// SetClock makes the back-off of d run on now.
func (d *Device) SetClock(now func() time.Time) {
	d.now = now
}
