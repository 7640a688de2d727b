package hal

import (
	"strings"
	"testing"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"github.com/tinymapper/tinymapper/board/sim"
)

func registerSim(t testing.TB) {
	t.Helper()
	if err := sim.Register(); err != nil {
		t.Fatal(err)
	}
}

func TestCanonicalSPIMapsEverySpellingToTheRegisteredName(t *testing.T) {
	registerSim(t)
	for _, name := range []string{sim.SPI00, "SPI0.0", "/dev/spidev0.0", "0", ""} {
		if got := CanonicalSPI(name); got != sim.SPI00 {
			t.Errorf("CanonicalSPI(%q) = %q, want %q", name, got, sim.SPI00)
		}
	}
	if got := CanonicalSPI("SPI7.1"); got != "SPI7.1" {
		t.Errorf("CanonicalSPI of an unknown port = %q, want it unchanged", got)
	}
}

func TestOpenSPISharesOneConnectionPerSetting(t *testing.T) {
	registerSim(t)
	a, err := OpenSPI("SPI0.0", physic.MegaHertz, spi.Mode0, 8)
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenSPI("/dev/spidev0.0", physic.MegaHertz, spi.Mode0, 8)
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenSPI("0", 500*physic.KiloHertz, spi.Mode0, 8)
	if err != nil {
		t.Fatal(err)
	}
	if a.Conn != b.Conn {
		t.Error("two spellings of one port with the same settings got two connections")
	}
	if a.Conn == c.Conn {
		t.Error("a different clock shares the connection; it needs its own")
	}
	if a.Port() != sim.SPI00 || b.Port() != sim.SPI00 || b.Name() != "/dev/spidev0.0" {
		t.Errorf("Port/Name = %q/%q, %q/%q", a.Port(), a.Name(), b.Port(), b.Name())
	}
	r := make([]byte, 3)
	a.Close()
	if err := b.Tx([]byte{1, 0x90, 0}, r); err != nil {
		t.Errorf("the other handle fails after one closed: %v", err)
	}
	b.Close()
	if err := b.Tx([]byte{1, 0x90, 0}, r); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Tx after the last handle closed = %v, want closed", err)
	}
	if err := c.Tx([]byte{1, 0x90, 0}, r); err != nil {
		t.Errorf("the connection with its own setting fails: %v", err)
	}
	c.Close()
	if err := a.Close(); err != nil {
		t.Errorf("second Close of a handle = %v, want nil (released once)", err)
	}
}

func TestOpenSPIErrors(t *testing.T) {
	registerSim(t)
	if _, err := OpenSPI("SPI9.9", physic.MegaHertz, spi.Mode0, 8); err == nil || !strings.Contains(err.Error(), "/dev/spidev9.9 does not exist") {
		t.Errorf("port not there: %v", err)
	}
	if _, err := OpenSPI("SPI0.0", physic.MegaHertz, spi.Mode0, 0); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("bad bits per word: %v", err)
	}
	if n := len(spiConns.open); n != 0 {
		t.Errorf("%d connections left open after failed opens", n)
	}
}
