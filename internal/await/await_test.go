package await_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/internal/await"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	await.Until(t, "three polls", func() bool { return n.Add(1) == 3 })
	if got := n.Load(); got != 3 {
		t.Fatalf("polled %d times, want 3", got)
	}
}

// fatalRecorder records Fatalf instead of stopping the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = format
}

func TestWithinFailsTheTestAfterTheDeadline(t *testing.T) {
	r := &fatalRecorder{TB: t}
	start := time.Now()
	await.Within(r, 30*time.Millisecond, "never", func() bool { return r.msg != "" })
	if r.msg == "" {
		t.Fatal("Within returned without failing the test")
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("failed after %v, before the 30ms deadline", d)
	}
}
