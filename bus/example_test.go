package bus_test

import (
	"errors"
	"fmt"

	"github.com/tinymapper/tinymapper/bus"
)

// A driver reads its configData through Config, whose errors name the field
// the user wrote.
func ExampleConfig() {
	c := bus.Config{Path: "spec.protocol.configData", Values: map[string]bus.Value{
		"bus":     bus.NumberValue(1),
		"address": bus.StringValue("0x48"), // numbers may come as strings
		"speedHz": bus.NumberValue(1.5),
	}}
	addr, err := c.Int("address", 0, 0x03, 0x77)
	fmt.Println(addr, err)
	_, err = c.Int("speedHz", 0, 1, 1e8)
	fmt.Println(err)
	var fe *bus.FieldError
	fmt.Println(errors.As(err, &fe), fe.Field)
	fmt.Println(c.Unknown("bus", "address"))
	// Output:
	// 72 <nil>
	// spec.protocol.configData.speedHz: 1.5 is not a whole number
	// true spec.protocol.configData.speedHz
	// [speedHz]
}

// A Codec turns register bytes into a property's value and back, as the
// visitor's dataType, byteOrder, mask, scale and offset say.
func ExampleCodec() {
	visitor := bus.Config{Path: "visitors.configData", Values: map[string]bus.Value{
		"dataType": bus.StringValue("int16"),
		"shift":    bus.NumberValue(4),
		"scale":    bus.NumberValue(0.0625),
	}}
	k, err := bus.ParseCodec(visitor, "uint16")
	if err != nil {
		fmt.Println(err)
		return
	}
	// A TMP102 temperature register: 12 bits, left-aligned, 1/16 °C.
	fmt.Println(k.Type(), k.Size(), k.Decode([]byte{0x19, 0x20}))
	buf := make([]byte, k.Size())
	if err := k.Encode(-0.5, buf); err != nil {
		fmt.Println(err)
	}
	fmt.Printf("% x\n", buf)
	// Output:
	// int16 2 25.125
	// ff 80
}
