// SPDX-License-Identifier: MIT
// main.go: syncmap-bench, Go's sync.Map on bench/mapbench's workload; command line, experiments, tables and CSV rows.

// Command syncmap-bench measures Go's sync.Map (peer "go-syncmap") on the
// workload of bench/mapbench, so that its rows can stand beside the C peers':
//
//   - Keys are uint64 keyOf(i), values i+1; a table "of n keys" holds the
//     indices [0, n) and the mixed runs draw indices from [0, 2n).
//   - Worker t of a run starts its generator at threadSeed(seed, t), the
//     driver's mb_thread_seed, and draws indices and operations exactly as
//     bench/workload.h does (workload.go; workload_test.go checks it against
//     values computed by the C code), so for the same seed every worker
//     performs the same operation sequence as the C thread of that index.
//   - Mixed runs: T goroutines (GOMAXPROCS = the largest thread count) run
//     until a stop flag polled once per batch (default 128 operations) is
//     set after the run's duration. The rate is the sum of the workers'
//     own ops/s. As in mapbench, each round measures every cell
//     (distribution, mix, threads, in that nesting) once, always from the
//     same seeds, on the table the previous runs left (insert and delete
//     are equally likely, so it stays at about n entries); the median, min
//     and max over the rounds are reported.
//   - sync.Map cannot be pre-sized. The table of a key count is built once
//     by inserts (and read once, so that its dirty map is promoted) and
//     every mix, distribution and thread count runs on it; its rows say
//     "presized" in the table column nevertheless, so that they join the C
//     peers' presized rows (see the comment at the row in bench.mixed).
//   - Fill: T goroutines insert the indices [0, n) into an empty map, in
//     strides (goroutine t: t, t+T, ...); the rate is n over the slowest
//     goroutine's seconds; a new map every time. Table: "growing"; the
//     get_pct and dist fields stay empty, as in mapbench's fill rows.
//   - Memory: a child process (this program with -memory-one N) builds N
//     entries; own bytes = Go HeapInuse after a GC, after minus before; RSS
//     from /proc/self/statm, likewise, after returning free pages to the
//     system. There is no user overhead, so total = own.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	peerName   = "go-syncmap"
	peerFlavor = "-"

	listMax    = 16         // values in one comma list (MB_LIST_MAX)
	threadsMax = 256        // MB_THREADS_MAX
	keysMin    = threadsMax // MB_KEYS_MIN: a fill gives every thread a key
	keysMax    = 1 << 28    // MB_KEYS_MAX
	roundsMax  = 1000
	batchMax   = 65536
	msMin      = 10 // shortest measurement, as the C driver
	msMax      = 3600000

	throughputCSV    = "go_throughput.csv"
	memoryCSV        = "go_memory.csv"
	throughputHeader = "experiment,peer,flavor,keys,get_pct,dist,table,threads,rounds," +
		"median_mops,min_mops,max_mops,ratio_lfht,frac_ceiling"
	memoryHeader = "peer,flavor,entries,rss_bytes_per_entry,own_bytes_per_entry," +
		"user_bytes_per_entry,total_bytes_per_entry"
)

var experimentNames = []string{"throughput", "fill", "memory"}

type options struct {
	preset                         string
	keys, mixes, dists, threads    []uint64
	zipfKeys, fillKeys, memoryKeys []uint64
	runMs, rounds, batch, seed     uint64
	experiments                    map[string]bool
	outdir                         string
	memoryOne                      uint64 // hidden child mode; 0: off
}

const usageText = `usage: syncmap-bench [-quick | -full] [-k keys,...] [-m mixes,...] [-d uniform,zipf]
          [-t threads,...] [-s seconds] [-r rounds] [-b batch] [-seed N]
          [-experiments throughput,fill,memory] [-o results-dir]
Measures Go's sync.Map (peer go-syncmap) on bench/mapbench's workload: the same
keys, per-thread seeds and operation sequences (see the comment at the top of
bench/syncmap/main.go). Appends rows to DIR/go_throughput.csv and
DIR/go_memory.csv, with a header line when a file is new. Options take one dash
or two; the preset is applied first and the other options override it.
  -full          keys 10K,1M,10M; mixes 100,90,50,0; uniform, Zipf at 1M;
                 threads 1,2,4; 1 s x 3 rounds; fill at 1M; memory at 1M,10M
                 (the default)
  -quick         keys 10K,1M; mixes 100,90,50; uniform; threads 1,2;
                 0.1 s x 3 rounds; fill at 100K; memory at 1M
  -k LIST        key counts of the mixed runs, each 256..268435456
  -m LIST        lookup percentages, each 0..100 (the rest: insert/delete)
  -d LIST        key distributions: uniform, zipf (s=0.99)
  -t LIST        goroutine counts, each 1..256 (GOMAXPROCS: the largest)
  -s SECONDS     one mixed measurement, 0.01..3600, up to 3 decimals
  -r ROUNDS      rounds, 1..1000; medians are reported
  -b BATCH       operations between polls of the stop flag, 1..65536 (128)
  -seed N        0..2^64-1 (default 1); the C driver's seed gives the same
                 operation sequences
  -experiments LIST  any of throughput,fill,memory (default all)
  -o DIR         results directory, created (default ./bench-results)
  -zipf-keys LIST    key counts at which zipf runs (default: every -k;
                     both presets: 1M)
  -fill-keys LIST    key counts of the fill experiment
  -memory-keys LIST  entry counts of the memory experiment
  -h, -help      this text
`

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func bad(format string, a ...interface{}) error {
	return &usageError{fmt.Sprintf(format, a...)}
}

// parseU64 is util.h's parse_u64: a plain decimal in [min, max].
func parseU64(s string, min, max uint64) (uint64, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < min || v > max {
		return 0, false
	}
	return v, true
}

// parseList is a comma list of decimals in [min, max]; empty items are errors.
func parseList(s string, min, max uint64) ([]uint64, bool) {
	items := strings.Split(s, ",")
	if len(items) > listMax {
		return nil, false
	}
	out := make([]uint64, 0, len(items))
	for _, it := range items {
		v, ok := parseU64(it, min, max)
		if !ok {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

// parseNames maps a comma list of names to their indices; duplicates kept once.
func parseNames(s string, names []string) ([]uint64, bool) {
	var out []uint64
	for _, it := range strings.Split(s, ",") {
		i := 0
		for i < len(names) && names[i] != it {
			i++
		}
		if i == len(names) {
			return nil, false
		}
		if !hasValue(out, uint64(i)) {
			out = append(out, uint64(i))
		}
	}
	return out, true
}

func hasValue(l []uint64, v uint64) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

// parseMs is mapbench's mb_parse_ms: "12.345" seconds (at most 3 decimals)
// into milliseconds in [min, max].
func parseMs(s string, min, max uint64) (uint64, bool) {
	whole, frac, dot := strings.Cut(s, ".")
	w, ok := parseU64(whole, 0, max/1000)
	if !ok {
		return 0, false
	}
	f := uint64(0)
	if dot {
		if len(frac) == 0 || len(frac) > 3 {
			return 0, false
		}
		if f, ok = parseU64((frac + "00")[:3], 0, 999); !ok {
			return 0, false
		}
	}
	w = w*1000 + f
	return w, w >= min && w <= max
}

func setPreset(o *options, quick bool) {
	o.fillKeys = []uint64{1000000}
	o.zipfKeys = []uint64{1000000}
	o.rounds = 3
	if quick {
		o.preset = "quick"
		o.fillKeys = []uint64{100000} // as mapbench --quick
		o.keys = []uint64{10000, 1000000}
		o.mixes = []uint64{100, 90, 50}
		o.dists = []uint64{distUniform}
		o.threads = []uint64{1, 2}
		o.memoryKeys = []uint64{1000000}
		o.runMs = 100 // as mapbench --quick
	} else {
		o.preset = "full"
		o.keys = []uint64{10000, 1000000, 10000000}
		o.mixes = []uint64{100, 90, 50, 0}
		o.dists = []uint64{distUniform, distZipf}
		o.threads = []uint64{1, 2, 4}
		o.memoryKeys = []uint64{1000000, 10000000}
		o.runMs = 1000
	}
}

// parseArgs reads the command line; a *usageError for bad input,
// flag.ErrHelp for -h.
func parseArgs(args []string) (*options, error) {
	fs := flag.NewFlagSet("syncmap-bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by main
	fs.Usage = func() {}
	quick := fs.Bool("quick", false, "")
	full := fs.Bool("full", false, "")
	str := map[string]*string{}
	for _, name := range []string{"k", "m", "d", "t", "s", "r", "b", "seed", "experiments",
		"o", "zipf-keys", "fill-keys", "memory-keys", "memory-one"} {
		str[name] = fs.String(name, "", "")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, bad("%v", err)
	}
	if fs.NArg() > 0 {
		return nil, bad("unexpected argument '%s'", fs.Arg(0))
	}
	if *quick && *full {
		return nil, bad("-quick and -full exclude each other")
	}
	o := &options{batch: 128, seed: 1, outdir: "bench-results", experiments: map[string]bool{}}
	setPreset(o, *quick)
	for _, e := range experimentNames {
		o.experiments[e] = true
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var ok bool
	for _, l := range []struct {
		name     string
		min, max uint64
		dst      *[]uint64
		what     string
	}{
		{"k", keysMin, keysMax, &o.keys, "key count list"},
		{"m", 0, 100, &o.mixes, "mix list"},
		{"t", 1, threadsMax, &o.threads, "thread list"},
		{"zipf-keys", keysMin, keysMax, &o.zipfKeys, "key count list"},
		{"fill-keys", keysMin, keysMax, &o.fillKeys, "key count list"},
		{"memory-keys", keysMin, keysMax, &o.memoryKeys, "entry count list"},
	} {
		if !set[l.name] {
			continue
		}
		if *l.dst, ok = parseList(*str[l.name], l.min, l.max); !ok {
			return nil, bad("-%s: bad %s '%s' (at most %d values, each %d..%d)",
				l.name, l.what, *str[l.name], listMax, l.min, l.max)
		}
	}
	if set["k"] && !set["zipf-keys"] {
		o.zipfKeys = o.keys // as the C driver: zipf at every -k
	}
	if set["d"] {
		if o.dists, ok = parseNames(*str["d"], distNames); !ok {
			return nil, bad("-d: bad distribution list '%s' (uniform, zipf)", *str["d"])
		}
	}
	if set["s"] {
		if o.runMs, ok = parseMs(*str["s"], msMin, msMax); !ok {
			return nil, bad("-s: bad duration '%s' (0.01..3600 s)", *str["s"])
		}
	}
	if set["r"] {
		if o.rounds, ok = parseU64(*str["r"], 1, roundsMax); !ok {
			return nil, bad("-r: bad round count '%s'", *str["r"])
		}
	}
	if set["b"] {
		if o.batch, ok = parseU64(*str["b"], 1, batchMax); !ok {
			return nil, bad("-b: bad batch '%s'", *str["b"])
		}
	}
	if set["seed"] {
		if o.seed, ok = parseU64(*str["seed"], 0, ^uint64(0)); !ok {
			return nil, bad("-seed: bad seed '%s'", *str["seed"])
		}
	}
	if set["experiments"] {
		ex, ok := parseNames(*str["experiments"], experimentNames)
		if !ok {
			return nil, bad("-experiments: bad list '%s' (throughput, fill, memory)",
				*str["experiments"])
		}
		o.experiments = map[string]bool{}
		for _, i := range ex {
			o.experiments[experimentNames[i]] = true
		}
	}
	if set["o"] {
		if *str["o"] == "" {
			return nil, bad("-o: empty directory name")
		}
		o.outdir = *str["o"]
	}
	if set["memory-one"] {
		if o.memoryOne, ok = parseU64(*str["memory-one"], 1, keysMax); !ok {
			return nil, bad("-memory-one: bad entry count '%s'", *str["memory-one"])
		}
	}
	return o, nil
}

func joinList(l []uint64) string {
	s := make([]string, len(l))
	for i, v := range l {
		s[i] = strconv.FormatUint(v, 10)
	}
	return strings.Join(s, ",")
}

// command is every parameter, so that the line alone reproduces the run.
func (o *options) command() string {
	dists := make([]string, len(o.dists))
	for i, d := range o.dists {
		dists[i] = distNames[d]
	}
	var ex []string
	for _, e := range experimentNames {
		if o.experiments[e] {
			ex = append(ex, e)
		}
	}
	return fmt.Sprintf("syncmap-bench -%s -k %s -m %s -d %s -t %s -s %d.%03d -r %d -b %d "+
		"-seed %d -experiments %s -zipf-keys %s -fill-keys %s -memory-keys %s -o %s",
		o.preset, joinList(o.keys), joinList(o.mixes), strings.Join(dists, ","),
		joinList(o.threads), o.runMs/1000, o.runMs%1000, o.rounds, o.batch, o.seed,
		strings.Join(ex, ","), joinList(o.zipfKeys), joinList(o.fillKeys),
		joinList(o.memoryKeys), o.outdir)
}

// csvFile opens name in dir for appending, writing header if the file is new
// (or empty).
func csvFile(dir, name, header string) (*os.File, error) {
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.Size() == 0 {
		_, err = fmt.Fprintln(f, header)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return f, nil
}

// stats is the median, min and max of rates in ops/s, as Mops/s.
func stats(rates []float64) (med, min, max float64) {
	sort.Float64s(rates)
	n := len(rates)
	med = rates[n/2]
	if n%2 == 0 {
		med = (rates[n/2-1] + rates[n/2]) / 2
	}
	return med * 1e-6, rates[0] * 1e-6, rates[n-1] * 1e-6
}

type bench struct {
	o     *options
	tput  *os.File // nil unless throughput or fill runs
	mem   *os.File
	zipfs map[uint64]*zipf
	start time.Time
}

// cell is one mixed configuration, as mapbench's struct mb_config.
type cell struct {
	d          draw
	threads    uint64
	rates      []float64 // ops/s, one per round
	gets, hits uint64
}

// mixed measures one key count: the cells in mapbench's order (distribution,
// mix, threads), rounds outermost as mapbench does, all on one table.
func (b *bench) mixed(n uint64) error {
	o := b.o
	t0 := time.Now()
	m, err := build(n)
	if err != nil {
		return err
	}
	buildSeconds := time.Since(t0).Seconds()
	var cells []*cell
	for _, dist := range o.dists {
		if dist == distZipf && !hasValue(o.zipfKeys, n) {
			continue
		}
		var z *zipf
		if dist == distZipf {
			if b.zipfs[2*n] == nil {
				b.zipfs[2*n] = newZipf(2*n, zipfTheta) // O(n): once per key count
			}
			z = b.zipfs[2*n]
		}
		for _, mix := range o.mixes {
			for _, th := range o.threads {
				cells = append(cells, &cell{d: draw{rangeN: 2 * n, getPct: mix,
					dist: int(dist), z: z}, threads: th})
			}
		}
	}
	if len(cells) == 0 {
		return nil
	}
	for r := uint64(0); r < o.rounds; r++ {
		for _, c := range cells {
			out := measure(m, &c.d, int(c.threads), int(o.batch),
				cellSeed(o.seed, r, c.d.getPct, uint64(c.d.dist), c.threads),
				time.Duration(o.runMs)*time.Millisecond, 0)
			c.rates = append(c.rates, out.rate)
			c.gets += out.ops[opGet]
			c.hits += out.done[opGet]
		}
		fmt.Fprintf(os.Stderr, "syncmap-bench: mixed, %d keys: round %d/%d done (%.0f s elapsed)\n",
			n, r+1, o.rounds, time.Since(b.start).Seconds())
	}

	fmt.Printf("\n# mixed: %d keys, indices from [0, %d); sync.Map cannot be presized: "+
		"built by %d inserts (%.1f s);\n# Mops/s = sum of per-goroutine ops/s; "+
		"median [min-max] of %d rounds of %d.%03d s; hit%%: gets that found their key\n"+
		"%-22s %-6s %9s %4s %-8s %3s %28s %6s\n", n, 2*n, n, buildSeconds,
		o.rounds, o.runMs/1000, o.runMs%1000,
		"peer", "flavor", "keys", "mix", "dist", "thr", "Mops/s median [min-max]", "hit%")
	for i, c := range cells {
		if i > 0 && (c.d.dist != cells[i-1].d.dist || c.d.getPct != cells[i-1].d.getPct) {
			fmt.Println()
		}
		med, min, max := stats(c.rates)
		hit := "-"
		if c.gets > 0 {
			hit = fmt.Sprintf("%.1f", 100*float64(c.hits)/float64(c.gets))
		}
		fmt.Printf("%-22s %-6s %9d %4d %-8s %3d %28s %6s\n", peerName, peerFlavor,
			n, c.d.getPct, distNames[c.d.dist], c.threads,
			fmt.Sprintf("%.2f [%.2f-%.2f]", med, min, max), hit)
		// sync.Map has no pre-sizing: the table was built by inserts.
		// "presized" keeps the join with the C peers' mixed rows (all
		// presized) simple.
		if err := b.row("mixed", n, strconv.FormatUint(c.d.getPct, 10),
			distNames[c.d.dist], "presized", c.threads, med, min, max); err != nil {
			return err
		}
	}
	// Inserts and deletes are equally likely: the size stays near n.
	count := uint64(0)
	m.Range(func(_, _ interface{}) bool { count++; return true })
	if count < n-n/10 || count > n+n/10 {
		fmt.Fprintf(os.Stderr, "syncmap-bench: %d entries after the mixed runs of %d keys\n",
			count, n)
	}
	return nil
}

// fill measures one key count, rounds outermost; a new map every time.
func (b *bench) fill(n uint64) error {
	o := b.o
	rates := make([][]float64, len(o.threads))
	for r := uint64(0); r < o.rounds; r++ {
		for i, th := range o.threads {
			runtime.GC() // the previous fill's map, outside the timing
			m := new(sync.Map)
			out := measure(m, nil, int(th), int(o.batch), o.seed, 0, n)
			if out.done[opInsert] != n {
				return fmt.Errorf("fill inserted %d of %d keys", out.done[opInsert], n)
			}
			rates[i] = append(rates[i], out.rate)
		}
		fmt.Fprintf(os.Stderr, "syncmap-bench: fill, %d keys: round %d/%d done (%.0f s elapsed)\n",
			n, r+1, o.rounds, time.Since(b.start).Seconds())
	}
	fmt.Printf("\n# fill: T goroutines insert %d keys into an empty sync.Map "+
		"(growing: it cannot be presized);\n# Mops/s = keys / slowest goroutine's seconds; "+
		"median [min-max] of %d rounds\n%-22s %-6s %9s %-8s %3s %28s\n", n, o.rounds,
		"peer", "flavor", "keys", "table", "thr", "Mops/s median [min-max]")
	for i, th := range o.threads {
		med, min, max := stats(rates[i])
		fmt.Printf("%-22s %-6s %9d %-8s %3d %28s\n", peerName, peerFlavor, n, "growing", th,
			fmt.Sprintf("%.2f [%.2f-%.2f]", med, min, max))
		if err := b.row("fill", n, "", "", "growing", th, med, min, max); err != nil {
			return err
		}
	}
	return nil
}

// row appends one throughput row; ratio_lfht and frac_ceiling stay empty.
func (b *bench) row(exp string, n uint64, mix, dist, table string, th uint64,
	med, min, max float64) error {
	_, err := fmt.Fprintf(b.tput, "%s,%s,%s,%d,%s,%s,%s,%d,%d,%.3f,%.3f,%.3f,,\n", exp,
		peerName, peerFlavor, n, mix, dist, table, th, b.o.rounds, med, min, max)
	return err
}

func (b *bench) memory() error {
	fmt.Printf("\n# memory: bytes per entry of a sync.Map built by inserts in a fresh process; "+
		"own: Go HeapInuse after GC;\n# rss: /proc/self/statm after returning free pages; "+
		"user: none; total = own\n%-22s %-6s %9s %10s %10s %10s %10s\n",
		"peer", "flavor", "entries", "rss", "own", "user", "total")
	for _, n := range b.o.memoryKeys {
		heap, rss, err := memoryOf(n)
		if err != nil {
			return err
		}
		own, rssPer := float64(heap)/float64(n), float64(rss)/float64(n)
		fmt.Printf("%-22s %-6s %9d %10.1f %10.1f %10.1f %10.1f\n", peerName, peerFlavor, n,
			rssPer, own, 0.0, own)
		if _, err := fmt.Fprintf(b.mem, "%s,%s,%d,%.1f,%.1f,%.1f,%.1f\n", peerName,
			peerFlavor, n, rssPer, own, 0.0, own); err != nil {
			return err
		}
	}
	return nil
}

func run(o *options) error {
	maxThreads := uint64(1)
	for _, t := range o.threads {
		if t > maxThreads {
			maxThreads = t
		}
	}
	runtime.GOMAXPROCS(int(maxThreads))
	if err := os.MkdirAll(o.outdir, 0o777); err != nil {
		return err
	}
	b := &bench{o: o, zipfs: map[uint64]*zipf{}, start: time.Now()}
	var err error
	if o.experiments["throughput"] || o.experiments["fill"] {
		if b.tput, err = csvFile(o.outdir, throughputCSV, throughputHeader); err != nil {
			return err
		}
		defer b.tput.Close()
	}
	if o.experiments["memory"] {
		if b.mem, err = csvFile(o.outdir, memoryCSV, memoryHeader); err != nil {
			return err
		}
		defer b.mem.Close()
	}
	fmt.Printf("# %s: Go %s %s/%s sync.Map, GOMAXPROCS %d, %d CPUs online\n# command: %s\n",
		peerName, runtime.Version(), runtime.GOOS, runtime.GOARCH, maxThreads,
		runtime.NumCPU(), o.command())
	if o.experiments["throughput"] {
		for _, n := range o.keys {
			if err := b.mixed(n); err != nil {
				return err
			}
		}
	}
	if o.experiments["fill"] {
		for _, n := range o.fillKeys {
			if err := b.fill(n); err != nil {
				return err
			}
		}
	}
	if o.experiments["memory"] {
		if err := b.memory(); err != nil {
			return err
		}
	}
	for _, f := range []*os.File{b.tput, b.mem} {
		if f != nil {
			if err := f.Sync(); err != nil {
				return err
			}
		}
	}
	fmt.Printf("\n# %s done in %.1f s; rows appended to %s\n", peerName,
		time.Since(b.start).Seconds(), o.outdir)
	return nil
}

func main() {
	o, err := parseArgs(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Print(usageText)
		os.Exit(0)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(os.Stderr, "syncmap-bench: %s\n%s", ue.msg, usageText)
		os.Exit(2)
	}
	if o.memoryOne > 0 {
		err = memoryChild(o.memoryOne)
	} else {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "syncmap-bench: %v\n", err)
		os.Exit(1)
	}
}
