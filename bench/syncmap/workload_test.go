// SPDX-License-Identifier: MIT
// workload_test.go: the Go port draws exactly what bench/workload.h draws (values computed by the C code).

package main

import (
	"math"
	"testing"
)

// The expected values were printed by a throw-away C program that includes
// bench/workload.h and runs, for each case, the loop of seqHash below with
// bench_next_index and bench_next_op. If workload.h changes, recompute them.

// seqHash folds count (index, op) draws of one thread into one word.
func seqHash(seed uint64, d *draw, count int) uint64 {
	rng, h := seed, uint64(0)
	for c := 0; c < count; c++ {
		i := d.nextIndex(&rng)
		op := d.nextOp(&rng)
		h = mix64(h + i*4 + uint64(op))
	}
	return h
}

func TestKeysAndGeneratorMatchC(t *testing.T) {
	for _, c := range []struct{ i, want uint64 }{
		{0, 0x2e8c8e46fd1dcbca}, {1, 0x115e51712e51c842}, {12345, 0xc567f44305cca9a6},
	} {
		if got := keyOf(c.i); got != c.want {
			t.Errorf("keyOf(%d) = %#x, C says %#x", c.i, got, c.want)
		}
	}
	if got := threadSeed(1, 0); got != 0x6658ae1019c7c6c9 {
		t.Errorf("threadSeed(1, 0) = %#x", got)
	}
	if got := threadSeed(7, 3); got != 0x8efaa17679b63e9c {
		t.Errorf("threadSeed(7, 3) = %#x", got)
	}
	rng := threadSeed(1, 0)
	a, b, c := rngNext(&rng), rngNext(&rng), rngBelow(&rng, 1000)
	if a != 0xd05470546a13d11b || b != 0xab3151a705f0e1fe || c != 153 {
		t.Errorf("rng sequence %#x %#x %d differs from C", a, b, c)
	}
}

// Go's math.Pow is not glibc's pow; the parameters may differ in the last
// bits, which changes a rank only when a draw falls within about 1e-9 of a
// rank boundary. These report how close they are; the sequence tests below
// are what must hold.
func TestZipfParametersMatchC(t *testing.T) {
	z := newZipf(2000000, zipfTheta)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"zetan", z.zetan, 0x1.030c18ed4db42p+4},
		{"eta", z.eta, 0x1.2351ac3394a3ap-3},
		{"alpha", z.alpha, 0x1.8fffffffffffap+6},
		{"halfPow", z.halfPow, 0x1.80e3eb6202786p+0},
	} {
		if rel := math.Abs(c.got-c.want) / c.want; rel > 1e-13 {
			t.Errorf("%s = %v, C says %v (relative difference %g)", c.name, c.got, c.want, rel)
		} else if c.got != c.want {
			t.Logf("%s differs from C in the last bits (relative %g)", c.name, rel)
		}
	}
}

func TestOperationSequencesMatchC(t *testing.T) {
	z20k, z2m := newZipf(20000, zipfTheta), newZipf(2000000, zipfTheta)
	cases := []struct {
		name  string
		d     draw
		count int
		want  [2]uint64 // threads 0 and 1, global seed 1
	}{
		{"uniform 2000 90%", draw{2000, 90, distUniform, nil}, 1000000,
			[2]uint64{0x4905210847998adc, 0x60aa67694ebad6b6}},
		{"uniform 2M 0%", draw{2000000, 0, distUniform, nil}, 1000000,
			[2]uint64{0xc94a94c6293a7fed, 0x9d72f97a6ae4f058}},
		{"zipf 20K 50%", draw{20000, 50, distZipf, z20k}, 1000000,
			[2]uint64{0xfc5d6c776a1d289d, 0x7151bdbca30fe5b}},
		{"zipf 2M 90%", draw{2000000, 90, distZipf, z2m}, 1000000,
			[2]uint64{0x7ae8aa097ad971b9, 0x3ce45fd82f4cd8}},
		{"zipf 2M 100% (20M draws)", draw{2000000, 100, distZipf, z2m}, 20000000,
			[2]uint64{0xe446c44e9a9e6c8e, 0x9aa9008caf884372}},
	}
	for _, c := range cases {
		if testing.Short() && c.count > 1000000 {
			continue
		}
		for th := 0; th < 2; th++ {
			if got := seqHash(threadSeed(1, th), &c.d, c.count); got != c.want[th] {
				t.Errorf("%s, thread %d: hash %#x, C says %#x", c.name, th, got, c.want[th])
			}
		}
	}
}
