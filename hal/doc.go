// Package hal is the hardware layer: it opens buses and pins by name and shares
// each physical bus among every device on it.
//
// hal opens through periph.io's registries (i2creg, spireg, gpioreg), so whatever
// registered there serves the request: periph's Linux drivers on a real board
// (board starts sysfs and gpioioctl) or the simulated parts of board/sim. Nothing in or
// above hal knows which.
//
// A bus is opened once however many devices use it; OpenI2C returns a handle
// whose Close releases this user's share, and the bus is closed with the last.
//
// # Serial ports
//
// OpenSerial opens a serial port (a UART, a USB adapter, a pseudo-terminal)
// by name with a mode, shared and reference-counted like OpenI2C: the Modbus
// devices of one RS-485 line all hold handles on one open port. A port is
// used as periph's I²C Tx uses a bus: Serial.Exchange writes a request and
// reads until a Framer says the reply is complete or the timeout passes,
// holding the port meanwhile, so callers never lock it or set deadlines.
// Devices that talk on their own are read by a reader goroutine hal owns
// (Serial.Listen); a device that reads binary replies claims them
// (Serial.ClaimReplies), so that no line reader takes them.
//
// Names resolve through a small registry, package serialreg (hal's i2creg),
// so a board can say what a name means: the sim board registers
// "/dev/ttyUSB0" (alias "ttyUSB0") for the pty its Modbus slave listens on, and a Device CRD naming /dev/ttyUSB0 runs
// unchanged on the sim and on a gateway. Unregistered names are device paths;
// a bare "ttyUSB0" means "/dev/ttyUSB0", and symbolic links (such as
// /dev/serial/by-id/...) are resolved so every spelling of a port shares one
// handle.
//
// # Why reads and writes do not go through go.bug.st/serial
//
// go.bug.st/serial v1.8.0 configures the port well: raw mode, 5 to 8 data
// bits, parity none/even/odd/mark/space (CMSPAR), any baud rate (termios2
// BOTHER on Linux), TIOCEXCL. Its data path is broken for a long-running
// mapper, in ways verified on this module's pinned version:
//
//   - Read waits in select(2) on an fd_set, a fixed 1024-bit array: once the
//     port's descriptor (or its close-signal pipe) is 1024 or above, Read
//     panics with an index out of range. A gateway process with many sockets,
//     files and ports open gets there.
//   - A read timeout returns (0, nil), which callers take for "no data yet"
//     or for EOF; it is not an error.
//   - SetDTR, SetRTS and GetModemStatusBits fail with ENOTTY on a pty (and on
//     adapters without modem lines), and Open with Mode.InitialStatusBits
//     set fails outright there, since it reads the modem bits first.
//   - OnePointFiveStopBits is always refused on Linux.
//
// So hal opens the tty twice. First itself, with os.OpenFile(O_RDWR|O_NOCTTY|
// O_NONBLOCK): that descriptor lives in Go's runtime poller (epoll, no
// descriptor limit), honours read and write deadlines without a thread per
// read, and does not allocate per read. Then with serial.Open, which applies
// the mode; termios settings belong to the tty, not to a descriptor, so they
// hold for both. Every byte goes through the os.File; the library's port is
// used only for ioctls (mode, flushing input, draining output, modem bits),
// none of which select. InitialStatusBits is never set, modem-control errors
// on ports that have no modem lines wrap errors.ErrUnsupported, a read
// timeout is ErrTimeout, and 1.5 stop bits are accepted with 5 data
// bits, where a UART sends 1.5 when asked for 2 (and refused otherwise, as
// no UART can do it).
package hal
