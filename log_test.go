package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestLoggerCutsQuotedInput: whatever a caller quotes, a line of the
// process logger stays short.
func TestLoggerCutsQuotedInput(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	var buf bytes.Buffer
	log := newLogger("info", &buf)
	log.Warn("rejected device", "device", "default/"+big, "err", errors.New("device.name: "+big))
	if buf.Len() > 1024 {
		t.Errorf("line of %d bytes", buf.Len())
	}
	if !strings.Contains(buf.String(), "bytes)") {
		t.Errorf("line does not say the input was cut: %.300s", buf.String())
	}
}
