// Command binsize prints the size of Go binaries and, for an unstripped ELF
// binary, the packages that contribute most to it: the sizes of the symbols
// that occupy the file (text, rodata, data; not bss), summed by the package
// they belong to; with -content, only the bytes each binary's sections hold
// (contentOf), which measure what a build tag saves more finely than the
// file size's 64 KiB steps. `make size` runs it.
//
//	go run ./scripts/binsize [-top 15] [-packages UNSTRIPPED] BINARY...
//	go run ./scripts/binsize -content BINARY...
package main

import (
	"cmp"
	"debug/elf"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

func main() {
	top := flag.Int("top", 15, "how many packages to list")
	unstripped := flag.String("packages", "", "unstripped ELF binary whose symbols to sum by package")
	content := flag.Bool("content", false, "print only the content bytes of each binary, one number a line")
	flag.Parse()
	var err error
	if *content {
		err = printContent(os.Stdout, flag.Args())
	} else {
		err = run(os.Stdout, flag.Args(), *unstripped, *top)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "binsize:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, binaries []string, unstripped string, top int) error {
	for _, b := range binaries {
		fi, err := os.Stat(b)
		if err != nil {
			return err
		}
		n, err := contentOf(b)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-40s %10d bytes  %6.2f MiB  (content %d)\n", b, fi.Size(), mib(fi.Size()), n)
	}
	if unstripped == "" {
		return nil
	}
	f, err := elf.Open(unstripped)
	if err != nil {
		return err
	}
	defer f.Close()
	pkgs, total, err := byPackage(f)
	if err != nil {
		return err
	}
	type row struct {
		pkg  string
		size int64
	}
	var rows []row
	for p, s := range pkgs {
		rows = append(rows, row{p, s})
	}
	slices.SortFunc(rows, func(a, b row) int {
		if c := cmp.Compare(b.size, a.size); c != 0 {
			return c
		}
		return strings.Compare(a.pkg, b.pkg)
	})
	fmt.Fprintf(w, "\nlargest packages in %s (symbols in the file: %.2f MiB; the rest is pclntab and headers)\n", unstripped, mib(total))
	for i, r := range rows {
		if i == top {
			break
		}
		fmt.Fprintf(w, "  %8d KiB  %5.1f%%  %s\n", r.size/1024, 100*float64(r.size)/float64(total), r.pkg)
	}
	return nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// contentOf returns the bytes of the sections an ELF binary loads from its
// file (code, read-only data, pclntab, data): its size without the padding
// the linker adds to align each segment to 64 KiB. Two builds' file sizes
// differ in 64 KiB steps; their contents differ by what one links more.
func contentOf(path string) (int64, error) {
	f, err := elf.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 && s.Type != elf.SHT_NOBITS {
			n += int64(s.Size)
		}
	}
	return n, nil
}

// printContent writes contentOf of each binary, one a line.
func printContent(w io.Writer, binaries []string) error {
	for _, b := range binaries {
		n, err := contentOf(b)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, n)
	}
	return nil
}

// byPackage sums the sizes of the symbols that take room in the file, by
// package, and returns the sums and their total.
func byPackage(f *elf.File) (map[string]int64, int64, error) {
	syms, err := f.Symbols()
	if err != nil {
		return nil, 0, fmt.Errorf("no symbols (build without -s -w): %w", err)
	}
	out := map[string]int64{}
	var total int64
	for _, s := range syms {
		if s.Size == 0 || int(s.Section) >= len(f.Sections) || s.Section == elf.SHN_UNDEF {
			continue
		}
		if sec := f.Sections[s.Section]; sec.Type == elf.SHT_NOBITS || sec.Flags&elf.SHF_ALLOC == 0 {
			continue // bss takes no room in the file
		}
		p := packageOf(s.Name)
		out[p] += int64(s.Size)
		total += int64(s.Size)
	}
	return out, total, nil
}

// packageOf returns the import path a Go symbol name belongs to:
// "google.golang.org/grpc/internal/transport.(*http2Server).operateHeaders"
// → "google.golang.org/grpc/internal/transport". Type descriptors
// ("type:*foo/bar.T") count for their package; compiler-generated symbols
// without one ("go:func.*", "type:int") are grouped by their prefix. The
// standard library's vendored copies keep their "vendor/": net/http's
// golang.org/x/net/idna is not the one x/net/http2 links.
func packageOf(name string) string {
	name = strings.TrimPrefix(name, "type:")
	name = strings.TrimLeft(name, "*[]")
	if strings.HasPrefix(name, "go:") {
		return "(" + strings.SplitN(name, ".", 2)[0] + ".*: func metadata, itabs, strings)"
	}
	slash := strings.LastIndexByte(name, '/')
	if slash < 0 {
		slash = 0
	}
	dot := strings.IndexByte(name[slash:], '.')
	if dot < 0 {
		return "(other)"
	}
	p := name[:slash+dot]
	if strings.ContainsAny(p, "()[]{}*, ") {
		return "(other)"
	}
	return strings.ReplaceAll(p, "%2e", ".")
}
