// Package await is the tests' one way to wait for a condition that real I/O
// (a socket, a pty, a child process) makes true. Where the timing is logical
// rather than I/O, tests use testing/synctest instead.
package await

import (
	"testing"
	"time"
)

// Timeout is how long Until waits.
const Timeout = 10 * time.Second

// Until polls cond until it holds, failing the test after Timeout.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Within(t, Timeout, what, cond)
}

// Within polls cond until it holds, failing the test after d. It polls
// often at first and then less, up to every 50 ms.
func Within(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}
