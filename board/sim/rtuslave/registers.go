// Register map of the simulated Modbus RTU slave: a small environment
// controller, as a vendor's manual would list it.
//
// Protocol: "MODBUS over Serial Line Specification and Implementation Guide
// V1.02" and "MODBUS Application Protocol Specification V1.1b3",
// https://modbus.org/specs.php. Register numbers here are the protocol
// addresses (0-based), as sent in the request, not the 3xxxx/4xxxx numbers
// of some manuals.

package rtuslave

// Slave addresses on the simulated line. Both slaves have the same register
// map and each keeps its own holding registers and coils. Any other address
// gets no reply, as on a real line.
const (
	ID       = 1
	SecondID = 2
)

// Input registers (function 4), read only. Multi-register values are big
// endian: the first register holds the most significant word.
const (
	InTemperature = 0 // int16, °C × 10: T(t), 200..250
	InHumidity    = 1 // uint16, %RH × 10: H(t), 350..550
	InSeconds     = 2 // uint16, Unix time in seconds mod 65536
	InPressure    = 3 // float32 in 3-4, hPa: P(t), 1008.25..1018.25
	InUnixTime    = 5 // uint32 in 5-6, Unix time in seconds
	InOutdoor     = 7 // int16, °C × 10: O(t), -150..50
	InFixedInt32  = 8 // int32 in 8-9, always -123456 (0xFFFE1DC0)

	InputRegisters = 10 // 0..9; higher addresses: exception 02
)

// FixedInt32 is the value of input registers 8-9.
const FixedInt32 = -123456

// Holding registers (functions 3, 6, 16), read and write. Power-on values
// are given; the others start at 0.
const (
	HoldSetpoint = 0 // °C × 10, power-on 215 (21.5 °C)
	HoldFanSpeed = 1 // %, 0..100, power-on 50; other values: exception 03

	HoldingRegisters = 10 // 0..9; higher addresses: exception 02

	DefaultSetpoint = 215
	DefaultFanSpeed = 50
	MaxFanSpeed     = 100
)

// Coils (functions 1, 5, 15) and discrete inputs (function 2). Discrete
// input n mirrors coil n, as a relay's feedback contact would.
const (
	Coils          = 8 // 0..7, power-on off
	DiscreteInputs = 8 // 0..7
)

// Function codes served. Any other function gets exception 01.
const (
	ReadCoils              = 0x01
	ReadDiscreteInputs     = 0x02
	ReadHoldingRegisters   = 0x03
	ReadInputRegisters     = 0x04
	WriteSingleCoil        = 0x05
	WriteSingleRegister    = 0x06
	WriteMultipleCoils     = 0x0F
	WriteMultipleRegisters = 0x10
)

// Exception codes the slave returns (function code | 0x80, then the code).
const (
	IllegalFunction    = 0x01 // function not served
	IllegalDataAddress = 0x02 // a register or coil out of the map
	IllegalDataValue   = 0x03 // bad quantity, byte count, coil value, or fan speed > 100
)

// Protocol limits of one request (Application Protocol Specification 6.1-6.12).
const (
	maxReadBits       = 2000
	maxReadRegisters  = 125
	maxWriteBits      = 1968
	maxWriteRegisters = 123
)
