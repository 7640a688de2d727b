package sim_test

import (
	"strings"
	"testing"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"

	"github.com/tinymapper/tinymapper/board/sim"
	"github.com/tinymapper/tinymapper/board/sim/mcp3008"
)

func openSPI(t *testing.T, name string) spi.PortCloser {
	t.Helper()
	if err := sim.Register(); err != nil {
		t.Fatal(err)
	}
	p, err := spireg.Open(name)
	if err != nil {
		t.Fatalf("spireg.Open(%q): %v", name, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// readCh1 reads MCP3008 channel 1 (constant 512) over c.
func readCh1(c spi.Conn) (int, error) {
	r := make([]byte, 3)
	if err := c.Tx([]byte{0x01, mcp3008.Command(1), 0x00}, r); err != nil {
		return 0, err
	}
	return int(r[1]&3)<<8 | int(r[2]), nil
}

func TestSPIPortAnswersToEveryName(t *testing.T) {
	for _, name := range []string{sim.SPI00, "SPI0.0", "/dev/spidev0.0", "0", ""} {
		p := openSPI(t, name)
		if p.String() != sim.SPI00 {
			t.Errorf("spireg.Open(%q) opened %s", name, p)
		}
		c, err := p.Connect(physic.MegaHertz, spi.Mode0, 8)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := readCh1(c); err != nil || v != 512 {
			t.Errorf("%q: channel 1 = %d, %v; want 512", name, v, err)
		}
	}
}

func TestSPIConnectOncePerHandle(t *testing.T) {
	p := openSPI(t, "SPI0.0")
	if _, err := p.Connect(physic.MegaHertz, spi.Mode0, 8); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Connect(physic.MegaHertz, spi.Mode0, 8); err == nil || !strings.Contains(err.Error(), "once") {
		t.Errorf("second Connect = %v, want an error", err)
	}
	q := openSPI(t, "SPI0.0") // another handle on the same port
	if _, err := q.Connect(physic.MegaHertz, spi.Mode3, 8); err != nil {
		t.Errorf("Connect on a second handle: %v", err)
	}
}

func TestSPIConnectChecksLikeSpidev(t *testing.T) {
	for _, tt := range []struct {
		f    physic.Frequency
		mode spi.Mode
		bits int
	}{
		{50 * physic.Hertz, spi.Mode0, 8},
		{2 * physic.GigaHertz, spi.Mode0, 8},
		{physic.MegaHertz, 0x100, 8},
		{physic.MegaHertz, spi.Mode0, 0},
		{physic.MegaHertz, spi.Mode0, 33},
	} {
		if _, err := openSPI(t, "SPI0.0").Connect(tt.f, tt.mode, tt.bits); err == nil {
			t.Errorf("Connect(%s, %s, %d) succeeded", tt.f, tt.mode, tt.bits)
		}
	}
}

func TestSPIThePartRefusesWhatItCannotDo(t *testing.T) {
	for _, tt := range []struct {
		f     physic.Frequency
		limit physic.Frequency
		mode  spi.Mode
		bits  int
		msg   string
	}{
		{physic.MegaHertz, 0, spi.Mode1, 8, "modes 0 and 3"},
		{10 * physic.MegaHertz, 0, spi.Mode0, 8, "above the part's"},
		{physic.MegaHertz, 0, spi.Mode0, 16, "8-bit words only"},
		{10 * physic.MegaHertz, physic.MegaHertz, spi.Mode0, 8, ""}, // LimitSpeed brings it down
	} {
		p := openSPI(t, "SPI0.0")
		if tt.limit != 0 {
			if err := p.LimitSpeed(tt.limit); err != nil {
				t.Fatal(err)
			}
		}
		c, err := p.Connect(tt.f, tt.mode, tt.bits)
		if err != nil {
			t.Fatal(err)
		}
		_, err = readCh1(c)
		if tt.msg == "" && err != nil || tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)) {
			t.Errorf("%s %s %d bits (limit %s): Tx = %v, want %q", tt.f, tt.mode, tt.bits, tt.limit, err, tt.msg)
		}
		if err != nil && !strings.Contains(err.Error(), sim.SPI00) {
			t.Errorf("error %q does not name the port", err)
		}
	}
}

func TestSPITxLikeSpidev(t *testing.T) {
	c, err := openSPI(t, "SPI0.0").Connect(physic.MegaHertz, spi.Mode0, 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Tx([]byte{1, 2, 3}, make([]byte, 2)); err == nil {
		t.Error("Tx with w and r of different sizes succeeded")
	}
	if err := c.Tx(nil, nil); err == nil {
		t.Error("empty Tx succeeded")
	}
	if err := c.Tx([]byte{0x01, 0x90, 0x00}, nil); err != nil {
		t.Errorf("write-only Tx: %v", err)
	}
	if d := c.Duplex(); d.String() != "Full" {
		t.Errorf("Duplex = %s", d)
	}
}

func TestSPIPacketsKeepCSLow(t *testing.T) {
	c, err := openSPI(t, "SPI0.0").Connect(physic.MegaHertz, spi.Mode0, 8)
	if err != nil {
		t.Fatal(err)
	}
	r := make([]byte, 1)
	err = c.TxPackets([]spi.Packet{
		{W: []byte{0x01, mcp3008.Command(7)}, KeepCS: true},
		{R: r},
	})
	if err != nil || r[0] != 341&0xFF {
		t.Errorf("packets with KeepCS read %#x, %v; want the low byte of 341", r[0], err)
	}
	err = c.TxPackets([]spi.Packet{
		{W: []byte{0x01, mcp3008.Command(7)}},
		{R: r},
	})
	if err != nil || r[0] != 0xFF {
		t.Errorf("packets without KeepCS read %#x, %v; want 0xff: CS went high, the chip is idle", r[0], err)
	}
}

func TestSPIClosedHandleFails(t *testing.T) {
	p := openSPI(t, "SPI0.0")
	c, err := p.Connect(physic.MegaHertz, spi.Mode0, 8)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if _, err := readCh1(c); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Tx after Close = %v, want closed", err)
	}
	if err := p.Close(); err == nil {
		t.Error("second Close succeeded")
	}
}
