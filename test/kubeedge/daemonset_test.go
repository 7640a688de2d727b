package kubeedge

import (
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// checkMemoryLimit: GOMEMLIMIT is a fixed value at least 16 MiB below the
// memory limit (the binary's own pages and the stacks are outside the Go
// heap), and at least the request.
func checkMemoryLimit(t *testing.T, c corev1.Container) {
	t.Helper()
	var env *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "GOMEMLIMIT" {
			env = &c.Env[i]
		}
	}
	if env == nil || env.ValueFrom != nil {
		t.Errorf("GOMEMLIMIT %+v; want a fixed value below the memory limit", env)
		return
	}
	// Go's syntax: an integer with an optional B, KiB, MiB, GiB or TiB.
	num, mult := env.Value, int64(1)
	for i, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if n, ok := strings.CutSuffix(env.Value, unit); ok {
			num, mult = n, int64(1)<<(10*(i+1))
		}
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(num, "B"), 10, 64)
	if err != nil {
		t.Errorf("GOMEMLIMIT %q: %v", env.Value, err)
		return
	}
	goLimit := n * mult
	limit, request := c.Resources.Limits.Memory().Value(), c.Resources.Requests.Memory().Value()
	if goLimit > limit-16<<20 || goLimit < request {
		t.Errorf("GOMEMLIMIT %s (%d bytes) with memory request %d and limit %d bytes; want it between the request and 16 MiB below the limit",
			env.Value, goLimit, request, limit)
	}
}
