// SPDX-License-Identifier: MIT
// run.go: the measured loops on sync.Map (mixed runs and fills), the table build and the memory child.

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The operations, as a Go program would write them. Keys and values are
// uint64 in interfaces: boxing them (an 8-byte allocation for values of 256
// and up) is part of what sync.Map costs its users, so it is measured.
//
//	get:    Load, a hit when found (the value is summed so it is used);
//	insert: LoadOrStore, inserted when it did not load;
//	remove: LoadAndDelete, removed when it loaded.

// counts is struct bench_counts: what one worker did.
type counts struct {
	ops, done [3]uint64 // by op: attempted, succeeded (hit)
	acc       uint64    // sum of values found
	seconds   float64   // the worker's own, from the common start to its stop
	_         [64]byte  // no false sharing between neighbours in a slice
}

// runMixed is BENCH_DEFINE_RUN's mixed branch: batches of batch operations
// between polls of stop.
func runMixed(m *sync.Map, d *draw, seed uint64, batch int, stop *atomic.Bool, out *counts) {
	rng := seed
	var c counts
	t0 := time.Now()
	for !stop.Load() {
		for b := 0; b < batch; b++ {
			i := d.nextIndex(&rng)
			k := keyOf(i)
			op := d.nextOp(&rng)
			c.ops[op]++
			switch op {
			case opGet:
				if v, ok := m.Load(k); ok {
					c.acc += v.(uint64)
					c.done[opGet]++
				}
			case opInsert:
				if _, loaded := m.LoadOrStore(k, i+1); !loaded {
					c.done[opInsert]++
				}
			default:
				if _, loaded := m.LoadAndDelete(k); loaded {
					c.done[opRemove]++
				}
			}
		}
	}
	c.seconds = time.Since(t0).Seconds()
	*out = c
}

// runFill is BENCH_DEFINE_RUN's fill branch: inserts first, first+step, ...
// (count of them).
func runFill(m *sync.Map, first, step, count uint64, out *counts) {
	var c counts
	t0 := time.Now()
	for i, left := first, count; left > 0; i, left = i+step, left-1 {
		if _, loaded := m.LoadOrStore(keyOf(i), i+1); !loaded {
			c.done[opInsert]++
		}
	}
	c.ops[opInsert] = count
	c.seconds = time.Since(t0).Seconds()
	*out = c
}

// outcome is struct mb_outcome: what a team did, summed.
type outcome struct {
	ops, done [3]uint64
	acc       uint64
	rate      float64 // mixed: sum of per-thread ops/s; fill: inserts / slowest thread's s
}

// share is mb_share: how many of n indices a stride split gives thread t of T.
func share(n uint64, t, threads int) uint64 {
	s := n / uint64(threads)
	if uint64(t) < n%uint64(threads) {
		s++
	}
	return s
}

// measure runs one team of threads goroutines: a mixed run of dur when
// fill == 0, else a fill of indices [0, fill) in strides. The workers start
// together; each times itself. Go's collector runs during the measurement
// as in any Go program: marking a map of boxed keys and values is part of
// what sync.Map costs. (A forced collection before every measurement was
// tried: it takes 0.2-0.8 s on a 1M-entry map and only moves the next
// cycle's start.)
func measure(m *sync.Map, d *draw, threads int, batch int, seed uint64, dur time.Duration,
	fill uint64) outcome {
	var (
		wg    sync.WaitGroup
		stop  atomic.Bool
		start = make(chan struct{})
		res   = make([]counts, threads)
	)
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			<-start
			if fill > 0 {
				runFill(m, uint64(t), uint64(threads), share(fill, t, threads), &res[t])
			} else {
				runMixed(m, d, threadSeed(seed, t), batch, &stop, &res[t])
			}
		}(t)
	}
	close(start)
	if fill == 0 {
		time.Sleep(dur)
		stop.Store(true)
	}
	wg.Wait() // orders the workers' results before the reads below

	var o outcome
	var total uint64
	maxSeconds := 0.0
	for t := range res {
		c := &res[t]
		ops := c.ops[0] + c.ops[1] + c.ops[2]
		for k := 0; k < 3; k++ {
			o.ops[k] += c.ops[k]
			o.done[k] += c.done[k]
		}
		o.acc += c.acc
		total += ops
		if c.seconds > maxSeconds {
			maxSeconds = c.seconds
		}
		if fill == 0 && c.seconds > 0 {
			o.rate += float64(ops) / c.seconds
		}
	}
	if fill > 0 && maxSeconds > 0 {
		o.rate = float64(total) / maxSeconds
	}
	return o
}

// build makes a table of the indices [0, n), then loads every key once so
// that sync.Map has promoted its dirty map to the read-only one: the state a
// read-mostly map is in after any warm-up, and the one the measurements
// assume. Neither step is timed. Returns an error if the table is wrong.
func build(n uint64) (*sync.Map, error) {
	m := new(sync.Map)
	for i := uint64(0); i < n; i++ {
		m.Store(keyOf(i), i+1)
	}
	for i := uint64(0); i < n; i++ {
		v, ok := m.Load(keyOf(i))
		if !ok || v.(uint64) != i+1 {
			return nil, fmt.Errorf("index %d: got %v, %v after the build", i, v, ok)
		}
	}
	if _, ok := m.Load(keyOf(n)); ok {
		return nil, fmt.Errorf("index %d present after building [0, %d)", n, n)
	}
	runtime.GC() // the build's garbage (outgrown buckets) is not the runs' to collect
	return m, nil
}

// rssBytes reads the resident set size from /proc/self/statm.
func rssBytes() (uint64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/self/statm: unexpected %q", string(b))
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/statm: %v", err)
	}
	return pages * uint64(os.Getpagesize()), nil
}

// heapAndRSS collects garbage, returns freed pages to the system (so that
// RSS is not inflated by the build's discarded map buckets) and reads both.
func heapAndRSS() (heap, rss uint64, err error) {
	var ms runtime.MemStats
	debug.FreeOSMemory() // includes a full GC
	runtime.ReadMemStats(&ms)
	rss, err = rssBytes()
	return ms.HeapInuse, rss, err
}

// memoryChild is the hidden -memory-one mode: in a fresh process (so that
// nothing else lives in the heap), build a table of n entries with inserts
// and print "heap_delta rss_delta" in bytes on stdout.
func memoryChild(n uint64) error {
	heap0, rss0, err := heapAndRSS()
	if err != nil {
		return err
	}
	m := new(sync.Map)
	for i := uint64(0); i < n; i++ {
		m.LoadOrStore(keyOf(i), i+1)
	}
	heap1, rss1, err := heapAndRSS()
	if err != nil {
		return err
	}
	if v, ok := m.Load(keyOf(n - 1)); !ok || v.(uint64) != n {
		return fmt.Errorf("memory table lost index %d", n-1)
	}
	runtime.KeepAlive(m)
	fmt.Printf("%d %d\n", int64(heap1-heap0), int64(rss1-rss0))
	return nil
}

// memoryOf runs the memory child for n entries and returns its deltas.
func memoryOf(n uint64) (heap, rss int64, err error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(exe, "-memory-one", strconv.FormatUint(n, 10))
	cmd.Stderr = os.Stderr
	outp, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("memory child for %d entries: %v", n, err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(outp)))
	if !sc.Scan() {
		return 0, 0, fmt.Errorf("memory child for %d entries printed nothing", n)
	}
	if _, err := fmt.Sscanf(sc.Text(), "%d %d", &heap, &rss); err != nil {
		return 0, 0, fmt.Errorf("memory child for %d entries: bad output %q", n, sc.Text())
	}
	return heap, rss, nil
}
