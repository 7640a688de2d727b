// Package serialsim puts the simulated board's serial devices behind
// pseudo-terminals, so that the mapper's whole serial stack (hal's tty
// handling, go.bug.st/serial's termios, RTU and line framing) runs for real:
// the device side holds a pty's master, and hal opens its slave side by the
// name a gateway would use.
//
// Start (called by sim.Register) opens two ports and registers their names
// in hal/serialreg, where hal.OpenSerial looks them up:
//
//	name          also                         behind it
//	/dev/ttyUSB0  ttyUSB0, /dev/ttySIM0, ttySIM0  an RS-485 line with two Modbus RTU slaves, addresses 1 and 2 (board/sim/rtuslave)
//	/dev/ttyACM0  ttyACM0, /dev/ttySIM1, ttySIM1  an ASCII temperature/humidity sensor (board/sim/linesensor)
//
// A familiar name the host has a device of (a USB RS-485 adapter is
// /dev/ttyUSB0) is left to it: the sim's port is then only /dev/ttySIM0 or
// /dev/ttySIM1, so a CRD naming /dev/ttyUSB0 reaches the real line.
//
// Each device has its mode, as real ones do: the Modbus line runs at 19200
// 8E1 (ModbusMode), the line sensor at 9600 8N1 (LineMode). A pty does not
// slow or check the bytes, but it keeps the baud rate, stop bits and kind of
// parity the mapper set (board/sim/ttymode), and the devices look: a frame
// sent to the Modbus line at another mode gets no reply, and the line
// sensor garbles what it sends and ignores what it gets at another mode, so
// a CRD with the wrong mode fails on the sim as on hardware. A pty cannot
// show the data bits, nor tell even parity from none: those mistakes go
// unnoticed here. The Modbus line frames by 3.5 characters of silence at the
// baud rate the mapper set.
//
// # Modbus RTU slaves 1 and 2 on /dev/ttyUSB0
//
// Both have this map; each keeps its own holding registers and coils. t is
// seconds since the Unix epoch.
//
//	table             address  type              value
//	input register    0        int16, ×10 °C     T(t) = 22.5 + 2.5·sin(2π·t/60): 200..250
//	input register    1        uint16, ×10 %RH   H(t) = 45 + 10·sin(2π·t/300): 350..550
//	input register    2        uint16            Unix seconds mod 65536
//	input registers   3-4      float32, hPa      P(t) = 1013.25 + 5·sin(2π·t/600): 1008.25..1018.25
//	input registers   5-6      uint32            Unix seconds
//	input register    7        int16, ×10 °C     O(t) = -5 + 10·sin(2π·t/60): -150..50
//	input registers   8-9      int32             -123456, always
//	holding register  0        uint16, ×10 °C    setpoint, read/write, power-on 215
//	holding register  1        uint16, %         fan speed, read/write 0..100 (else exception 03), power-on 50
//	holding registers 2-9      uint16            read/write, power-on 0
//	coils             0-7      bit               read/write, power-on off
//	discrete inputs   0-7      bit               mirror coils 0-7
//
// Multi-register values are big endian (first register most significant).
// Functions 1, 2, 3, 4, 5, 6, 15 and 16 are served; any other gets exception
// 01 (illegal function), an address past the map exception 02 (illegal data
// address), a quantity, byte count or coil value outside the specification
// exception 03 (illegal data value). Frames with a bad CRC or for another
// address get no reply, like on a real line; broadcasts (address 0) are
// carried out without a reply.
//
// # Line sensor on /dev/ttyACM0
//
// Lines end in CR LF. Once a second, on the second, unsolicited:
//
//	T=23.4 H=45.1
//
// with the T(t) and H(t) above rounded to 0.1. Commands (ending in CR, LF or
// CR LF):
//
//	READ?    → T=23.4 H=45.1           the reading now
//	SP?      → SP=21.5                 setpoint, °C, power-on 21.5
//	SP=<v>   → OK | ERR range | ERR value   set the setpoint, -40..125 °C
//	ID?      → TINYMAPPER-SIM-LINE,1.0
//	other    → ERR unknown command
package serialsim

import (
	"errors"
	"fmt"
	"os"
	"path"
	"sync"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/tinymapper/tinymapper/board/sim/linesensor"
	"github.com/tinymapper/tinymapper/board/sim/rtuslave"
	"github.com/tinymapper/tinymapper/board/sim/ttymode"
	"github.com/tinymapper/tinymapper/hal/serialreg"
)

// Port names the sim registers in serialreg. Each port is always
// SimModbusPort or SimLinePort (also ttySIM0, ttySIM1), and takes the
// familiar name of its kind of device too, ModbusPort or LinePort (also
// ttyUSB0, ttyACM0), unless the host has a device by that name: a simulated
// port never shadows a real adapter, since hal looks names up in serialreg
// before it opens a device path.
const (
	ModbusPort    = "/dev/ttyUSB0"
	LinePort      = "/dev/ttyACM0"
	SimModbusPort = "/dev/ttySIM0"
	SimLinePort   = "/dev/ttySIM1"
)

// Names returns the name and aliases a simulated port registers under: its
// familiar name (such as /dev/ttyUSB0, alias ttyUSB0) with its sim name and
// the short form as aliases, or, when exists says the host has the familiar
// name, the sim name alone, and a warning saying so.
func Names(familiar, sim string, exists func(path string) bool) (name string, aliases []string, warning string) {
	if exists(familiar) {
		return sim, []string{path.Base(sim)}, fmt.Sprintf("%s exists on this host: the simulated port is only %s, and %s opens the host's device", familiar, sim, familiar)
	}
	return familiar, []string{path.Base(familiar), sim, path.Base(sim)}, ""
}

// onHost reports whether the host has a device (or a link) at p.
func onHost(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// Pty is a pseudo-terminal: a simulated device holds Master, software opens
// Path as it would open a serial port.
type Pty struct {
	// Master is the device side, in non-blocking mode: deadlines work and
	// Close stops a blocked Read (creack/pty leaves it blocking, where
	// both are ignored).
	Master *os.File
	// TTY is the slave side, held open so that the master never sees a
	// hang-up while software opens and closes Path, and set raw so that
	// nothing echoes while nobody has the port open.
	TTY *os.File
	// Path is the slave side's device, such as /dev/pts/3.
	Path string
}

// NewPty opens a pseudo-terminal.
func NewPty() (*Pty, error) {
	m, tty, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("serialsim: open a pty: %w", err)
	}
	fail := func(err error) (*Pty, error) {
		m.Close()
		tty.Close()
		return nil, fmt.Errorf("serialsim: %w", err)
	}
	if err := makeRaw(tty); err != nil {
		return fail(err)
	}
	fd, err := unix.Dup(int(m.Fd()))
	if err != nil {
		return fail(err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return fail(err)
	}
	unix.CloseOnExec(fd)
	master := os.NewFile(uintptr(fd), "/dev/ptmx")
	m.Close()
	return &Pty{Master: master, TTY: tty, Path: tty.Name()}, nil
}

// Close closes both sides; a device serving Master stops.
func (p *Pty) Close() error { return errors.Join(p.Master.Close(), p.TTY.Close()) }

func makeRaw(tty *os.File) error {
	sc, err := tty.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = sc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ioErr = err
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		ioErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	if err != nil {
		return err
	}
	if ioErr != nil {
		return fmt.Errorf("set the pty raw: %w", ioErr)
	}
	return nil
}

// Board is the running serial part of the simulated board.
type Board struct {
	Modbus *Pty
	Line   *Pty
	// Slaves are the Modbus slaves on the Modbus line, addresses 1 and 2.
	Slaves []*rtuslave.Slave
	// RTU is the Modbus line; its WrongMode counts frames sent at another
	// mode than ModbusMode.
	RTU    *rtuslave.Line
	Sensor *linesensor.Sensor
	// ModbusName and LineName are the names the ports were registered
	// under (see Names).
	ModbusName, LineName string
	// Warnings say which familiar names the host's own devices kept.
	Warnings []string
}

// Start opens the sim's serial ports, starts their devices and registers
// their names in serialreg. The first call starts; later calls return the
// first call's result. The ports last for the process.
func Start() (*Board, error) { return start() }

var start = sync.OnceValues(func() (*Board, error) {
	b := &Board{}
	var err error
	if b.Modbus, err = NewPty(); err != nil {
		return nil, err
	}
	if b.Line, err = NewPty(); err != nil {
		b.Modbus.Close()
		return nil, err
	}
	b.Slaves = []*rtuslave.Slave{rtuslave.New(rtuslave.ID, nil), rtuslave.New(rtuslave.SecondID, nil)}
	b.Sensor = linesensor.New(nil)
	register := func(familiar, sim, path string) (string, error) {
		name, aliases, warning := Names(familiar, sim, onHost)
		if warning != "" {
			b.Warnings = append(b.Warnings, warning)
		}
		return name, serialreg.Register(name, aliases, path)
	}
	if b.ModbusName, err = register(ModbusPort, SimModbusPort, b.Modbus.Path); err != nil {
		b.Modbus.Close()
		b.Line.Close()
		return nil, err
	}
	if b.LineName, err = register(LinePort, SimLinePort, b.Line.Path); err != nil {
		serialreg.Unregister(b.ModbusName)
		b.Modbus.Close()
		b.Line.Close()
		return nil, err
	}
	b.Sensor.Expect(b.Line.TTY, LineMode)
	b.RTU = &rtuslave.Line{Master: b.Modbus.Master, TTY: b.Modbus.TTY, Slaves: b.Slaves, Mode: &ModbusMode}
	go b.RTU.Serve()
	go b.Sensor.Serve(b.Line.Master, linesensorPeriod)
	return b, nil
})

// The modes of the sim's serial devices: a CRD must set them, as it must
// set a real device's. ModbusMode is the Modbus over Serial Line
// specification's default, LineMode the common 9600 8N1.
var (
	ModbusMode = ttymode.Mode{Baud: 19200, DataBits: 8, Parity: 'E', StopBits: 1}
	LineMode   = ttymode.Mode{Baud: 9600, DataBits: 8, Parity: 'N', StopBits: 1}
)

// linesensorPeriod is how often the line sensor prints unsolicited.
const linesensorPeriod = time.Second
