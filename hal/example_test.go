package hal_test

import (
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/tinymapper/tinymapper/hal"
)

// exampleDevice runs a device on a pseudo-terminal, as the sim board does
// for /dev/ttyUSB0: for each read of the port's bytes it writes what answer
// returns. It returns the path to open, a function that makes the device
// speak on its own and one that unplugs it.
func exampleDevice(answer func(req string) string) (path string, say func(string), unplug func()) {
	m, tty, err := pty.Open()
	if err != nil {
		log.Fatal(err)
	}
	if err := makeRaw(tty); err != nil {
		log.Fatal(err)
	}
	fd, err := unix.Dup(int(m.Fd())) // the creack/pty master blocks; this one honours Close
	if err != nil {
		log.Fatal(err)
	}
	unix.SetNonblock(fd, true)
	master := os.NewFile(uintptr(fd), "ptmx")
	m.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 256)
		for {
			n, err := master.Read(buf)
			if err != nil {
				return
			}
			master.Write([]byte(answer(string(buf[:n]))))
		}
	}()
	say = func(s string) { master.Write([]byte(s)) }
	return tty.Name(), say, func() { master.Close(); <-done; tty.Close() }
}

// A polled sensor: write a command, read lines until the one that answers
// it. The port is held for the whole exchange, so other devices on the line
// cannot interleave, and the caller neither locks nor sets deadlines.
func ExampleSerial_Exchange() {
	path, _, unplug := exampleDevice(func(req string) string {
		if req == "READ?\r\n" {
			return "READ?\r\n> T=23.4\r\n" // an echo, then the reading
		}
		return "ERR\r\n"
	})
	defer unplug()

	s, err := hal.OpenSerial(path, hal.SerialMode{Baud: 9600})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	var reading string
	reply := &hal.Lines{EOL: '\n', Line: func(line []byte) bool {
		reading, _ = strings.CutPrefix(string(line), "> ")
		return strings.HasPrefix(reading, "T=")
	}}
	rx := make([]byte, hal.MaxLine+1)
	if _, err := s.Exchange(hal.SerialTx{Send: []byte("READ?\r\n"), Timeout: time.Second, Reply: reply}, rx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(reading)
	// Output: T=23.4
}

// A binary protocol with replies of a known length, such as a Modbus RTU
// write, which echoes the request: FixedLen frames it.
func ExampleFixedLen() {
	path, _, unplug := exampleDevice(func(req string) string { return req })
	defer unplug()
	s, err := hal.OpenSerial(path, hal.SerialMode{Baud: 19200, Parity: hal.ParityEven})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	req := []byte{0x01, 0x06, 0x00, 0x01, 0x00, 0x46, 0xD9, 0xE8}
	rx := make([]byte, 256)
	n, err := s.Exchange(hal.SerialTx{
		Send:    req,
		Quiet:   s.Mode().CharTime() * 7 / 2, // Modbus RTU's 3.5 characters between frames
		Timeout: 500 * time.Millisecond,
		Reply:   hal.FixedLen(len(req)),
	}, rx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("% x\n", rx[:n])
	// Output: 01 06 00 01 00 46 d9 e8
}

// A sensor that talks on its own: hal's reader hands every line to the
// listeners of the port until their handles close.
func ExampleSerial_Listen() {
	path, say, unplug := exampleDevice(func(string) string { return "" })
	defer unplug()
	s, err := hal.OpenSerial(path, hal.SerialMode{Baud: 9600})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	lines := make(chan string, 2)
	if err := s.Listen('\n', func(line []byte) { lines <- string(line) }); err != nil {
		log.Fatal(err)
	}
	say("T=21.5 H=40.1\r\nT=21.6 H=40.0\r\n")
	fmt.Println(<-lines)
	fmt.Println(<-lines)
	// Output:
	// T=21.5 H=40.1
	// T=21.6 H=40.0
}

// Every spelling of a port is one port: a board registers a familiar name,
// and the symlinks under /dev/serial/by-id resolve to their device.
func ExampleSerialPort() {
	if err := hal.RegisterSerial("/dev/ttyEXAMPLE0", []string{"ttyEXAMPLE0", "RS485-A"}, "/dev/pts/99"); err != nil {
		log.Fatal(err)
	}
	defer hal.UnregisterSerial("/dev/ttyEXAMPLE0")
	for _, name := range []string{"RS485-A", "ttyEXAMPLE0", "ttyNOSUCH7"} {
		canonical, path := hal.SerialPort(name)
		fmt.Println(name, "->", canonical, path)
	}
	// Output:
	// RS485-A -> /dev/ttyEXAMPLE0 /dev/pts/99
	// ttyEXAMPLE0 -> /dev/ttyEXAMPLE0 /dev/pts/99
	// ttyNOSUCH7 -> /dev/ttyNOSUCH7 /dev/ttyNOSUCH7
}

func ExampleSerialMode() {
	m := hal.SerialMode{Baud: 19200, Parity: hal.ParityEven}
	fmt.Println(m, m.CharTime().Round(time.Microsecond))
	fmt.Println(hal.SerialMode{Baud: 9600, DataBits: 9}.Check())
	// Output:
	// 19200 8E1 573µs
	// 9 data bits: want 5 to 8
}

// Every name of a bus shares one open bus; the bus closes with its last
// handle. Here periph's i2ctest plays a TMP102 back.
func ExampleOpenI2C() {
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{{Addr: 0x48, W: []byte{0x00}, R: []byte{0x19, 0x00}}}}
	if err := i2creg.Register("EXAMPLE-I2C", []string{"/dev/i2c-example"}, 77, func() (i2c.BusCloser, error) { return bus, nil }); err != nil {
		log.Fatal(err)
	}
	defer i2creg.Unregister("EXAMPLE-I2C")

	a, err := hal.OpenI2C("/dev/i2c-example")
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := hal.OpenI2C("77")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	d := i2c.Dev{Bus: b, Addr: 0x48}
	r := make([]byte, 2)
	if err := d.Tx([]byte{0x00}, r); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.4f °C\n", float64(int16(uint16(r[0])<<8|uint16(r[1]))>>4)*0.0625)
	// Output: 25.0000 °C
}
