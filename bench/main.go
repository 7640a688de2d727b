// Command bench runs tinymapper's Go benchmarks and prints one table:
// benchmark, ns/op, B/op, allocs/op (and any custom metric, such as
// ns/sample), sorted by package, with the targets met or not under it.
//
//	go run ./bench [-benchtime 1s] [-count 1] [-callgrind auto] [-raw FILE] [PACKAGES]
//
// Wall-clock figures are noisy on a shared machine. With -callgrind (auto: when
// valgrind is installed) the per-op instruction count of the hot-path rows is
// measured too, under callgrind (GOMAXPROCS=1, GOGC=off, collection toggled
// on the benchmarked function; see the README's Performance section): each is
// run twice, with -benchtime 10000x and 20000x, and the difference divided by
// 10000, so set-up cost cancels out. Those counts repeat within a fraction of
// a percent however busy the machine is.
//
// `make bench` runs it.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tinymapper/tinymapper/internal/columns"
)

const module = "github.com/tinymapper/tinymapper/"

var defaultPackages = []string{"./ringbuf", "./bus/...", "./device/...", "./dmi/...", "./board/..."}

// row is one benchmark's result.
type row struct {
	pkg, name string
	nsOp      []float64 // one per -count run
	bOp, aOp  float64
	extra     []string // custom metrics: "145.3 ns/sample"
	ir        float64  // instructions per op under callgrind; 0 when not measured
}

// callgrindCase says how to count one row's instructions: the package, the
// -test.bench pattern that selects exactly that row, and the function (a
// callgrind --toggle-collect pattern) whose calls cover the benchmark loop.
type callgrindCase struct {
	pkg, bench, toggle string
}

var callgrindCases = map[string]callgrindCase{
	"ringbuf Push":   {"ringbuf", "^BenchmarkPush$", "*ringbuf.BenchmarkPush"},
	"ringbuf Latest": {"ringbuf", "^BenchmarkLatest$", "*ringbuf.BenchmarkLatest"},
	"ringbuf Next":   {"ringbuf", "^BenchmarkNext$", "*ringbuf.BenchmarkNext"},
	"device SamplingPath/i2c-tmp102/1-property":   {"device", "^BenchmarkSamplingPath$/^i2c-tmp102$/^1-property$", "*device.BenchmarkSamplingPath.func*"},
	"device SamplingPath/i2c-tmp102/5-properties": {"device", "^BenchmarkSamplingPath$/^i2c-tmp102$/^5-properties$", "*device.BenchmarkSamplingPath.func*"},
	"device SamplingPath/spi-mcp3008/1-property":  {"device", "^BenchmarkSamplingPath$/^spi-mcp3008$/^1-property$", "*device.BenchmarkSamplingPath.func*"},
	"device SamplingPath/gpio-input/1-property":   {"device", "^BenchmarkSamplingPath$/^gpio-input$/^1-property$", "*device.BenchmarkSamplingPath.func*"},
	"device AppendValue/FLOAT":                    {"device", "^BenchmarkAppendValue$/^FLOAT$", "*device.BenchmarkAppendValue.func*"},
	"bus/i2c Read":                                {"bus/i2c", "^BenchmarkRead$", "*i2c_test.BenchmarkRead"},
}

func main() {
	benchtime := flag.String("benchtime", "1s", "go test -benchtime")
	count := flag.Int("count", 1, "go test -count (ns/op is the median)")
	cg := flag.String("callgrind", "auto", "count instructions per op of the hot-path rows under callgrind: on, off, auto (when valgrind is installed)")
	raw := flag.String("raw", "", "also write go test's output to this file")
	flag.Parse()
	pkgs := flag.Args()
	if len(pkgs) == 0 {
		pkgs = defaultPackages
	}

	var out bytes.Buffer
	sinks := []io.Writer{&out, os.Stderr}
	if *raw != "" {
		if err := os.MkdirAll(filepath.Dir(*raw), 0o755); err != nil {
			fatal(err)
		}
		f, err := os.Create(*raw)
		if err != nil {
			fatal(err)
		}
		defer f.Close()
		sinks = append(sinks, f)
	}
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem",
		"-benchtime", *benchtime, "-count", strconv.Itoa(*count)}, pkgs...)
	fmt.Fprintf(os.Stderr, "go %s\n", strings.Join(args, " "))
	cmd := exec.Command("go", args...)
	cmd.Stdout = io.MultiWriter(sinks...)
	cmd.Stderr = os.Stderr
	testErr := cmd.Run()

	rows := parse(&out)
	if len(rows) == 0 {
		fatal(fmt.Errorf("no benchmark results (go test: %v)", testErr))
	}
	useCallgrind := *cg == "on" || (*cg == "auto" && haveValgrind())
	if useCallgrind {
		measureInstructions(rows)
	}
	fmt.Println()
	printTable(os.Stdout, rows, useCallgrind)
	fmt.Println()
	ok := printTargets(os.Stdout, rows)
	if testErr != nil {
		fatal(fmt.Errorf("go test: %v", testErr))
	}
	_ = ok // targets are reported, not enforced: see the README's Performance section
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parse reads go test -bench output.
func parse(r io.Reader) []*row {
	var rows []*row
	byKey := map[string]*row{}
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(strings.TrimSpace(p), module)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue // a benchmark's own log line
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := procsSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		key := pkg + " " + name
		rw := byKey[key]
		if rw == nil {
			rw = &row{pkg: pkg, name: name}
			byKey[key] = rw
			rows = append(rows, rw)
		}
		rw.extra = rw.extra[:0]
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				rw.nsOp = append(rw.nsOp, v)
			case "B/op":
				rw.bOp = max(rw.bOp, v)
			case "allocs/op":
				rw.aOp = max(rw.aOp, v)
			default:
				rw.extra = append(rw.extra, f[i]+" "+f[i+1])
			}
		}
	}
	slices.SortStableFunc(rows, func(a, b *row) int { return strings.Compare(a.pkg, b.pkg) })
	return rows
}

func (r *row) ns() float64 {
	if len(r.nsOp) == 0 {
		return 0
	}
	s := slices.Clone(r.nsOp)
	slices.Sort(s)
	return s[len(s)/2]
}

func (r *row) key() string { return r.pkg + " " + r.name }

func find(rows []*row, key string) *row {
	for _, r := range rows {
		if r.key() == key {
			return r
		}
	}
	return nil
}

func findPrefix(rows []*row, prefix string) []*row {
	var out []*row
	for _, r := range rows {
		if strings.HasPrefix(r.key(), prefix) {
			out = append(out, r)
		}
	}
	return out
}

func fmtNs(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func printTable(w io.Writer, rows []*row, ir bool) {
	head := []string{"package", "benchmark", "ns/op", "B/op", "allocs/op"}
	if ir {
		head = append(head, "instr/op")
	}
	cells := [][]string{append(head, "other")}
	for _, r := range rows {
		line := []string{r.pkg, r.name, fmtNs(r.ns()), fmt.Sprintf("%.0f", r.bOp), fmt.Sprintf("%.0f", r.aOp)}
		if ir {
			s := "-"
			if r.ir > 0 {
				s = strconv.FormatFloat(r.ir, 'f', 0, 64)
			}
			line = append(line, s)
		}
		cells = append(cells, append(line, strings.Join(r.extra, ", ")))
	}
	// Names left, numbers right, the last column left.
	columns.Write(w, cells, func(col int) bool { return col >= 2 && col < len(head) })
}

// printTargets prints the benchmark targets as met or not met.
func printTargets(w io.Writer, rows []*row) bool {
	all := true
	check := func(target string, met bool, measured string) {
		mark := "met    "
		if !met {
			mark, all = "NOT MET", false
		}
		fmt.Fprintf(w, "  %s  %-52s %s\n", mark, target, measured)
	}
	fmt.Fprintln(w, "targets (issue 4):")
	if rs := findPrefix(rows, "device SamplingPath/"); len(rs) > 0 {
		met, worst := true, ""
		var parts []string
		for _, r := range rs {
			parts = append(parts, fmt.Sprintf("%s %.0f", strings.TrimPrefix(r.name, "SamplingPath/"), r.aOp))
			if r.aOp > 0 {
				met, worst = false, r.name
			}
		}
		_ = worst
		check("sampling path (bus read → decode → ring push): 0 allocs/op", met, "allocs/op: "+strings.Join(parts, ", "))
	} else {
		check("sampling path: 0 allocs/op", false, "no device SamplingPath benchmark ran")
	}
	if r := find(rows, "ringbuf Push"); r != nil {
		measured := fmt.Sprintf("%s ns/op, %.0f allocs/op", fmtNs(r.ns()), r.aOp)
		if r.ir > 0 {
			measured += fmt.Sprintf(", %.0f instr/op", r.ir)
		}
		check("ring push ≤ 10 ns and 0 allocs/op", r.ns() <= 10 && r.aOp == 0, measured)
	} else {
		check("ring push ≤ 10 ns and 0 allocs/op", false, "ringbuf BenchmarkPush did not run")
	}
	for _, name := range []string{"Latest", "Next"} {
		if r := find(rows, "ringbuf "+name); r != nil {
			check("ring read ("+name+"): tens of ns (< 100), 0 allocs/op", r.ns() < 100 && r.aOp == 0,
				fmt.Sprintf("%s ns/op, %.0f allocs/op", fmtNs(r.ns()), r.aOp))
		}
	}
	if rs := findPrefix(rows, "device AppendValue/"); len(rs) > 0 {
		met := true
		for _, r := range rs {
			met = met && r.aOp == 0
		}
		check("value formatting (AppendValue): 0 allocs/op", met, fmt.Sprintf("%d types", len(rs)))
	}
	if r := find(rows, "dmi ReportStatusStandIn/client"); r != nil {
		fmt.Fprintf(w, "  info     %-52s %.0f allocs/op, %.0f B/op on the client side\n",
			"report build+send (bounded allocations)", r.aOp, r.bOp)
	}
	return all
}

func haveValgrind() bool {
	_, err := exec.LookPath("valgrind")
	return err == nil
}

// measureInstructions fills in row.ir for the rows in callgrindCases.
func measureInstructions(rows []*row) {
	dir, err := os.MkdirTemp("", "tm-bench")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	built := map[string]string{}
	keys := make([]string, 0, len(callgrindCases))
	for k := range callgrindCases {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		r := find(rows, k)
		if r == nil {
			continue
		}
		c := callgrindCases[k]
		bin := built[c.pkg]
		if bin == "" {
			bin = filepath.Join(dir, strings.ReplaceAll(c.pkg, "/", "_")+".test")
			cmd := exec.Command("go", "test", "-c", "-o", bin, "./"+c.pkg)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "callgrind: building %s: %v\n", c.pkg, err)
				continue
			}
			built[c.pkg] = bin
		}
		for try := 1; try <= 2 && r.ir == 0; try++ {
			var ir [2]float64
			ok := true
			for i, n := range []int{10000, 20000} {
				v, err := callgrind(dir, bin, c, n)
				if err != nil {
					fmt.Fprintf(os.Stderr, "callgrind: %s: %v\n", k, err)
					ok = false
					break
				}
				ir[i] = v
			}
			if ok && ir[1] > ir[0] {
				r.ir = (ir[1] - ir[0]) / 10000
				fmt.Fprintf(os.Stderr, "callgrind: %-48s %8.0f instructions/op\n", k, r.ir)
			} else if ok {
				fmt.Fprintf(os.Stderr, "callgrind: %s: %.0f instructions for 10000 ops, %.0f for 20000: no count\n", k, ir[0], ir[1])
			}
		}
	}
}

var totals = regexp.MustCompile(`(?m)^summary:\s+(\d+)`)

// callgrind runs one benchmark n times under callgrind and returns the
// instructions executed inside the toggled function.
func callgrind(dir, bin string, c callgrindCase, n int) (float64, error) {
	out := filepath.Join(dir, fmt.Sprintf("callgrind.%d.out", n))
	cmd := exec.Command("valgrind", "--tool=callgrind", "--callgrind-out-file="+out,
		"--toggle-collect="+c.toggle, bin,
		"-test.run=^$", "-test.bench="+c.bench, fmt.Sprintf("-test.benchtime=%dx", n), "-test.count=1")
	cmd.Dir = filepath.Dir(bin)
	// valgrind 3.19 does not know RDTSCP (the runtime's cputicks), and its
	// callgrind trips over the SIGURG of asynchronous preemption.
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "GOGC=off", "GODEBUG=cpu.rdtscp=off,asyncpreemptoff=1")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%v\n%s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return 0, err
	}
	m := totals.FindSubmatch(data)
	if m == nil {
		return 0, fmt.Errorf("no summary in %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
