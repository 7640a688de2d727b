// Package faults is tinymapper's fault suite (`make test-faults`, also run by
// `make test`): the release binary on the simulated board against the
// EdgeCore stand-in (internal/edgecore), put through what an operator and an
// attacker do to it, printing one table of figures, each with its pass line.
//
//   - EdgeCore killed and restarted, its socket deleted: time to register
//     again, time to the first twin, desired writes lost;
//   - the mapper SIGKILLed and restarted;
//   - a serial device unplugged and plugged in again (its pty closed and
//     reopened);
//   - hostile DMI calls and hostile REST requests, slowloris included:
//     crashes, hangs, 5xx, goroutines, descriptors and RSS before and after;
//   - devices registered and removed over and over: leaks.
//
// FAULTS_SOAK=1 runs each part longer (see the counts in faults_test.go).
package faults
