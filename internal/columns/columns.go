// Package columns prints tables for the benchmark and scale reports: cells
// in columns two spaces apart, some right-aligned. text/tabwriter aligns
// every column one way; these tables need names on the left and numbers on
// the right, and no trailing blanks.
package columns

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Write prints cells, the first row usually a header, right-aligning the
// columns for which right is true.
func Write(w io.Writer, cells [][]string, right func(col int) bool) {
	var width []int
	for _, row := range cells {
		for i, c := range row {
			if i == len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range cells {
		var b strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if right(i) {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}
