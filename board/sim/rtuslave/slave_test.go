package rtuslave_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/board/sim/rtuslave"
)

// at is a fixed time: 12:00:15 UTC, so T = 25.0 °C (the top of the sine),
// O = 5.0 °C, H and P somewhere on their slower curves.
var at = time.Date(2026, 1, 1, 12, 0, 15, 0, time.UTC)

// frame appends the CRC to address and PDU bytes.
func frame(b ...byte) []byte {
	crc := rtuslave.CRC(b)
	return append(b, byte(crc), byte(crc>>8))
}

func handle(s *rtuslave.Slave, req []byte) []byte {
	resp := make([]byte, 256)
	return resp[:s.Handle(req, resp)]
}

func TestCRCOfTheSpecificationsExample(t *testing.T) {
	// Read 10 holding registers from slave 1: 01 03 00 00 00 0A, CRC C5 CD.
	if got := frame(0x01, 0x03, 0x00, 0x00, 0x00, 0x0A); !bytes.Equal(got[6:], []byte{0xC5, 0xCD}) {
		t.Errorf("CRC bytes % x, want c5 cd", got[6:])
	}
}

func TestSlaveAnswersRequests(t *testing.T) {
	tests := []struct {
		name string
		req  []byte
		want []byte // reply without CRC; nil: no reply
	}{
		{"read temperature and humidity", frame(1, 4, 0, 0, 0, 1), []byte{1, 4, 2, 0, 250}},
		{"read the fixed int32", frame(1, 4, 0, 8, 0, 2), []byte{1, 4, 4, 0xFF, 0xFE, 0x1D, 0xC0}},
		{"read holding power-on values", frame(1, 3, 0, 0, 0, 3), []byte{1, 3, 6, 0, 215, 0, 50, 0, 0}},
		{"write a holding register echoes it", frame(1, 6, 0, 2, 0x12, 0x34), []byte{1, 6, 0, 2, 0x12, 0x34}},
		{"write coil 3 on echoes it", frame(1, 5, 0, 3, 0xFF, 0), []byte{1, 5, 0, 3, 0xFF, 0}},
		{"write coils 0-7", frame(1, 15, 0, 0, 0, 8, 1, 0b10100101), []byte{1, 15, 0, 0, 0, 8}},
		{"write registers 4-5", frame(1, 16, 0, 4, 0, 2, 4, 0xFF, 0xFE, 0x1D, 0xC0), []byte{1, 16, 0, 4, 0, 2}},
		{"input register past the map", frame(1, 4, 0, 10, 0, 1), []byte{1, 0x84, 2}},
		{"holding range running past the map", frame(1, 3, 0, 8, 0, 3), []byte{1, 0x83, 2}},
		{"coil past the map", frame(1, 5, 0, 8, 0xFF, 0), []byte{1, 0x85, 2}},
		{"zero registers", frame(1, 3, 0, 0, 0, 0), []byte{1, 0x83, 3}},
		{"126 registers", frame(1, 4, 0, 0, 0, 126), []byte{1, 0x84, 3}},
		{"coil value that is not on or off", frame(1, 5, 0, 0, 0x12, 0x34), []byte{1, 0x85, 3}},
		{"fan speed above 100", frame(1, 6, 0, 1, 0, 101), []byte{1, 0x86, 3}},
		{"fan speed above 100 in a block write", frame(1, 16, 0, 0, 0, 2, 4, 0, 200, 0, 101), []byte{1, 0x90, 3}},
		{"byte count that does not match", frame(1, 16, 0, 4, 0, 2, 3, 0, 1, 0), []byte{1, 0x90, 3}},
		{"read request of the wrong length", frame(1, 3, 0, 0, 0, 1, 0), []byte{1, 0x83, 3}},
		{"function 43 (read device identification)", frame(1, 0x2B, 0x0E, 1, 0), []byte{1, 0xAB, 1}},
		{"function 8 (diagnostics)", frame(1, 8, 0, 0, 0x12, 0x34), []byte{1, 0x88, 1}},
		{"another slave's address", frame(7, 3, 0, 0, 0, 1), nil},
		{"a bad CRC", append(frame(1, 3, 0, 0, 0, 1)[:6], 0xDE, 0xAD), nil},
		{"three bytes of noise", []byte{0x01, 0x03, 0x00}, nil},
		{"a broadcast write", frame(0, 6, 0, 3, 0, 9), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := rtuslave.New(1, func() time.Time { return at })
			got := handle(s, tt.req)
			if tt.want == nil {
				if len(got) != 0 {
					t.Fatalf("replied % x, want no reply", got)
				}
				return
			}
			if len(got) < 4 || rtuslave.CRC(got[:len(got)-2]) != binary.LittleEndian.Uint16(got[len(got)-2:]) {
				t.Fatalf("reply % x has a bad CRC", got)
			}
			if !bytes.Equal(got[:len(got)-2], tt.want) {
				t.Errorf("reply % x, want % x", got[:len(got)-2], tt.want)
			}
		})
	}
}

func TestWritesAreKeptAndCoilsMirrorToDiscreteInputs(t *testing.T) {
	s := rtuslave.New(1, nil)
	handle(s, frame(1, 15, 0, 0, 0, 8, 1, 0b10100101))
	handle(s, frame(1, 6, 0, 0, 0, 230))
	handle(s, frame(0, 6, 0, 9, 0, 42)) // broadcast: carried out, not answered

	for fn := byte(1); fn <= 2; fn++ {
		got := handle(s, frame(1, fn, 0, 0, 0, 8))
		if !bytes.Equal(got[:4], []byte{1, fn, 1, 0b10100101}) {
			t.Errorf("function %d read % x, want the coils written", fn, got)
		}
	}
	if !s.Coil(0) || s.Coil(1) || !s.Coil(7) {
		t.Error("Coil does not show the coils written")
	}
	if s.Holding(0) != 230 || s.Holding(9) != 42 {
		t.Errorf("holding 0, 9 = %d, %d; want 230, 42", s.Holding(0), s.Holding(9))
	}
	got := handle(s, frame(1, 2, 0, 5, 0, 3)) // inputs 5-7: 1, 0, 1 from bit 0
	if got[3] != 0b101 {
		t.Errorf("inputs 5-7 = %03b, want 101 (input 5 in bit 0)", got[3])
	}
}

func TestInputRegistersFollowTheDocumentedFunctions(t *testing.T) {
	s := rtuslave.New(1, func() time.Time { return at })
	got := handle(s, frame(1, 4, 0, 0, 0, 10))
	if len(got) != 3+20+2 {
		t.Fatalf("reply % x", got)
	}
	r := func(i int) uint16 { return binary.BigEndian.Uint16(got[3+2*i:]) }
	if v := int16(r(0)); v != 250 {
		t.Errorf("temperature = %d, want 250 at second 15", v)
	}
	if v := float64(r(1)) / 10; math.Abs(v-rtuslave.Humidity(at)) > 0.05 {
		t.Errorf("humidity = %v, want %v", v, rtuslave.Humidity(at))
	}
	if v := r(2); v != uint16(at.Unix()) {
		t.Errorf("seconds = %d, want %d", v, uint16(at.Unix()))
	}
	if v := math.Float32frombits(uint32(r(3))<<16 | uint32(r(4))); math.Abs(float64(v)-rtuslave.Pressure(at)) > 1e-3 {
		t.Errorf("pressure = %v, want %v", v, rtuslave.Pressure(at))
	}
	if v := uint32(r(5))<<16 | uint32(r(6)); v != uint32(at.Unix()) {
		t.Errorf("unix time = %d, want %d", v, at.Unix())
	}
	if v := int16(r(7)); v != 50 {
		t.Errorf("outdoor = %d, want 50 at second 15", v)
	}
	if v := int32(uint32(r(8))<<16 | uint32(r(9))); v != rtuslave.FixedInt32 {
		t.Errorf("fixed int32 = %d", v)
	}
	for sec := 0; sec < 600; sec += 7 {
		tt := at.Add(time.Duration(sec) * time.Second)
		if v := rtuslave.Temperature(tt); v < 20 || v > 25 {
			t.Errorf("T = %v at +%ds, out of [20, 25]", v, sec)
		}
		if v := rtuslave.Outdoor(tt); v < -15 || v > 5 {
			t.Errorf("O = %v at +%ds, out of [-15, 5]", v, sec)
		}
	}
}

func TestOfflineSlaveIsSilentAndKeepsItsRegisters(t *testing.T) {
	s := rtuslave.New(1, nil)
	handle(s, frame(1, 6, 0, 3, 0, 7))
	s.SetOffline(true)
	if got := handle(s, frame(1, 3, 0, 3, 0, 1)); len(got) != 0 {
		t.Errorf("offline slave replied % x", got)
	}
	s.SetOffline(false)
	if got := handle(s, frame(1, 3, 0, 3, 0, 1)); !bytes.Equal(got[:5], []byte{1, 3, 2, 0, 7}) {
		t.Errorf("back online: % x", got)
	}
	if s.Requests() != 2 {
		t.Errorf("Requests() = %d, want 2 (the frame sent while offline does not count)", s.Requests())
	}
}

func BenchmarkHandleRead10(b *testing.B) {
	s := rtuslave.New(1, nil)
	req, resp := frame(1, 4, 0, 0, 0, 10), make([]byte, 256)
	b.ReportAllocs()
	for b.Loop() {
		s.Handle(req, resp)
	}
}

func TestResetRestoresThePowerOnState(t *testing.T) {
	s := rtuslave.New(1, nil)
	handle(s, frame(1, 16, 0, 0, 0, 2, 4, 0, 1, 0, 2))
	handle(s, frame(1, 5, 0, 4, 0xFF, 0))
	s.SetOffline(true)
	s.Reset()
	if s.Holding(0) != rtuslave.DefaultSetpoint || s.Holding(1) != rtuslave.DefaultFanSpeed || s.Coil(4) {
		t.Errorf("after Reset: holding %d, %d, coil 4 %v", s.Holding(0), s.Holding(1), s.Coil(4))
	}
	if got := handle(s, frame(1, 3, 0, 0, 0, 1)); len(got) == 0 {
		t.Error("a reset slave is offline")
	}
}
