// SPDX-License-Identifier: MIT
// workload.go: bench/workload.h and testlib/util.h ported to Go, bit for bit: keys, generator, Zipf, operation draw.

package main

import (
	"math"
	"math/bits"
)

// Every function here reproduces its C namesake exactly, so that for the
// same per-thread seed a Go worker draws the same indices and operations as
// a bench/mapbench thread. workload_test.go holds values computed by the C
// code; change both sides together.

const (
	keySalt    = 0x2545f4914f6cdd1d // key_of's xor constant
	weylStep   = 0x9e3779b97f4a7c15 // rng_next's increment
	zipfSpread = 1099511628211      // BENCH_ZIPF_SPREAD: prime, > 2^40
	zipfTheta  = 0.99               // the exponent mapbench uses for -d zipf
)

// mix64 is util.h's bijective mixer.
func mix64(x uint64) uint64 {
	x ^= x >> 31
	x *= 0xd6e8feb86659fd93
	x ^= x >> 29
	x *= 0x9fb21c651e98df25
	x ^= x >> 32
	return x
}

// keyOf is the key of index i; distinct for distinct i.
func keyOf(i uint64) uint64 {
	return mix64(i ^ keySalt)
}

// rngNext is util.h's rng_next: a Weyl sequence through the mixer.
func rngNext(state *uint64) uint64 {
	*state += weylStep
	return mix64(*state)
}

// rngBelow is util.h's rng_below: the high word of a 128-bit product.
func rngBelow(state *uint64, n uint64) uint64 {
	hi, _ := bits.Mul64(rngNext(state), n)
	return hi
}

// threadSeed is mapbench's mb_thread_seed (bench/mapbench_run.c): a
// function of the global seed and the thread's index only.
func threadSeed(seed uint64, thread int) uint64 {
	return mix64(mix64(seed) + uint64(thread))
}

// cellSeed is mapbench's mb_cell_seed: the seed of one mixed measurement,
// distinct per round and cell, the same for every peer.
func cellSeed(seed, round, getPct, dist, threads uint64) uint64 {
	return seed + round*1000003 + getPct*1009 + dist*101 + threads
}

// zipf is struct bench_zipf: Gray et al.'s generator over ranks [0, n).
type zipf struct {
	n                                 uint64
	theta, alpha, zetan, eta, halfPow float64
}

// newZipf is bench_zipf_init: O(n), once per (n, theta).
//
// The explicit float64() conversions around products forbid the compiler
// from fusing them into FMAs (the Go spec allows fusion otherwise), which
// would round differently from the C code.
func newZipf(n uint64, theta float64) *zipf {
	zeta2 := 1.0 + math.Pow(0.5, theta)
	zetan := 0.0
	for i := uint64(1); i <= n; i++ {
		zetan += math.Pow(float64(i), -theta)
	}
	return &zipf{
		n:       n,
		theta:   theta,
		alpha:   1.0 / (1.0 - theta),
		zetan:   zetan,
		eta:     (1.0 - math.Pow(2.0/float64(n), 1.0-theta)) / (1.0 - zeta2/zetan),
		halfPow: 1.0 + math.Pow(0.5, theta),
	}
}

// rank is bench_zipf_rank.
func (z *zipf) rank(rng *uint64) uint64 {
	u := float64(rngNext(rng)>>11) * 0x1p-53
	uz := float64(u * z.zetan)
	if uz < 1.0 {
		return 0
	}
	if uz < z.halfPow {
		return 1
	}
	r := uint64(float64(z.n) * math.Pow(float64(z.eta*u)-z.eta+1.0, z.alpha))
	if r < z.n {
		return r
	}
	return z.n - 1
}

// Distributions, as enum bench_dist.
const (
	distUniform = 0
	distZipf    = 1
)

var distNames = []string{"uniform", "zipf"}

// Operations, as enum bench_op.
const (
	opGet    = 0
	opInsert = 1
	opRemove = 2
)

// draw is the part of struct bench_work that decides the sequence.
type draw struct {
	rangeN uint64 // indices from [0, rangeN)
	getPct uint64 // 0..100
	dist   int
	z      *zipf // distZipf: over [0, rangeN)
}

// nextIndex is bench_next_index: Zipf ranks are spread over the range by a
// multiplication modulo the range (128-bit product, as the C code).
func (d *draw) nextIndex(rng *uint64) uint64 {
	if d.dist == distZipf {
		hi, lo := bits.Mul64(d.z.rank(rng), zipfSpread)
		return bits.Rem64(hi, lo, d.rangeN)
	}
	return rngBelow(rng, d.rangeN)
}

// nextOp is bench_next_op: read-only mixes draw nothing.
func (d *draw) nextOp(rng *uint64) int {
	if d.getPct >= 100 {
		return opGet
	}
	r := rngBelow(rng, 200)
	if r < 2*d.getPct {
		return opGet
	}
	if r&1 != 0 {
		return opInsert
	}
	return opRemove
}
