package faults

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// table is the suite's one table: a row per figure with its pass line.
type table struct {
	mu   sync.Mutex
	rows []row
}

type row struct {
	figure, value, pass string
	ok                  bool
	heading             bool
}

func (t *table) section(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = append(t.rows, row{figure: name, heading: true})
}

// add records a figure: its value, the pass line and whether it holds.
func (t *table) add(figure, value, pass string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = append(t.rows, row{figure: figure, value: value, pass: pass, ok: ok})
}

func (t *table) failed() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, r := range t.rows {
		if !r.heading && !r.ok {
			out = append(out, r.figure+" = "+r.value+" (pass: "+r.pass+")")
		}
	}
	return out
}

func (t *table) print(w io.Writer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(w, "%-52s %-24s %-20s %s\n", "figure", "value", "pass when", "")
	fmt.Fprintln(w, strings.Repeat("-", 104))
	for _, r := range t.rows {
		if r.heading {
			fmt.Fprintln(w, r.figure)
			continue
		}
		res := "PASS"
		if !r.ok {
			res = "FAIL"
		}
		fmt.Fprintf(w, "  %-50s %-24s %-20s %s\n", r.figure, r.value, r.pass, res)
	}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

// leak records goroutines, descriptors and RSS before and after a part.
func (t *table) leak(before, after usage, slack int, rssSlackKiB int64) {
	t.add("goroutines before → after", fmt.Sprintf("%d → %d", before.Goroutines, after.Goroutines),
		fmt.Sprintf("after ≤ before+%d", slack), after.Goroutines <= before.Goroutines+slack)
	t.add("file descriptors before → after", fmt.Sprintf("%d → %d", before.FDs, after.FDs),
		fmt.Sprintf("after ≤ before+%d", slack), after.FDs <= before.FDs+slack)
	t.add("RSS before → after", mib(before.RSSKiB)+" → "+mib(after.RSSKiB),
		"after ≤ before+"+mib(rssSlackKiB), after.RSSKiB <= before.RSSKiB+rssSlackKiB)
}
