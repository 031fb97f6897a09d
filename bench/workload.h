/* SPDX-License-Identifier: MIT */
/* workload.h: the key sequences and the measured loop every peer of bench/mapbench runs. */
#ifndef RCUMAP_BENCH_WORKLOAD_H
#define RCUMAP_BENCH_WORKLOAD_H

/*
 * Everything a peer needs to run a workload, shared by every peer so they all
 * see the same keys, the same operation sequence and the same hash:
 *
 * - Keys are 8-byte integers key_of(i) for an index i in [0, range); key_of
 *   is a bijection, so keys are distinct. A table "of n keys" holds the
 *   indices [0, n) after its build and lookups draw from [0, 2n): half hit.
 * - Values are the key's index plus one (never 0, so it fits a pointer
 *   value that must not be NULL).
 * - bench_hash is the hash every peer that lets the caller choose one uses.
 * - BENCH_DEFINE_RUN expands, inside a peer's own file, into the measured
 *   loop with the peer's operations inlined, so no peer pays an indirect
 *   call per operation; BENCH_DEFINE_LOOKUP_RUN likewise into the loop of
 *   the batch experiment (lookups only, one at a time or in batched calls).
 *
 * This header is also compiled as C++ (the TBB peer).
 */

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The key of index i: distinct for distinct i (mix64 is a bijection). */
static inline uint64_t key_of(uint64_t i)
{
	return mix64(i ^ UINT64_C(0x2545f4914f6cdd1d));
}

/*
 * The common hash: a seeded multiply-xorshift over the 8-byte key (~1 ns),
 * not the identity, so that no peer profits from key_of's own mixing.
 */
static inline uint64_t bench_hash(uint64_t key)
{
	return mix64(key ^ UINT64_C(0x8f1bbcdcca62c1d6)) + UINT64_C(0x9e3779b97f4a7c15);
}

/* ---- key distributions -------------------------------------------------- */

enum bench_dist {
	BENCH_UNIFORM = 0,
	BENCH_ZIPF = 1,
};

/*
 * Zipf over ranks [0, n) with exponent theta < 1, by the rejection-free
 * method of Gray et al. ("Quickly generating billion-record synthetic
 * databases", SIGMOD 1994), as YCSB uses it. Rank r then maps to index
 * (r * BENCH_ZIPF_SPREAD) mod n, a bijection (the multiplier is a prime
 * above any n we accept), so the hot keys are spread over the table instead
 * of being the lowest indices.
 */
#define BENCH_ZIPF_SPREAD UINT64_C(1099511628211)	/* prime, > 2^40 */

struct bench_zipf {
	uint64_t n;
	double theta, alpha, zetan, eta, half_pow;
};

/* O(n) once per (n, theta): the generalised harmonic number. */
static inline void bench_zipf_init(struct bench_zipf *z, uint64_t n, double theta)
{
	double zeta2 = 1.0 + pow(0.5, theta), zetan = 0.0;

	for (uint64_t i = 1; i <= n; i++)
		zetan += pow((double)i, -theta);
	z->n = n;
	z->theta = theta;
	z->alpha = 1.0 / (1.0 - theta);
	z->zetan = zetan;
	z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / zetan);
	z->half_pow = 1.0 + pow(0.5, theta);
}

static inline uint64_t bench_zipf_rank(const struct bench_zipf *z, uint64_t *rng)
{
	double u = (double)(rng_next(rng) >> 11) * 0x1.0p-53, uz = u * z->zetan;
	uint64_t r;

	if (uz < 1.0)
		return 0;
	if (uz < z->half_pow)
		return 1;
	r = (uint64_t)((double)z->n * pow(z->eta * u - z->eta + 1.0, z->alpha));
	return r < z->n ? r : z->n - 1;
}

/* ---- one thread's work -------------------------------------------------- */

enum bench_op {
	BENCH_GET = 0,
	BENCH_INSERT = 1,
	BENCH_REMOVE = 2,
};

/* Log-linear latency histogram: 16 sub-buckets per power of two of ns. */
#define BENCH_LAT_SUB 16
#define BENCH_LAT_BUCKETS (64 * BENCH_LAT_SUB)

struct bench_lat {
	uint64_t count[BENCH_LAT_BUCKETS];
};

static inline unsigned bench_lat_bucket(uint64_t ns)
{
	unsigned msb, sub;

	if (ns < BENCH_LAT_SUB)
		return (unsigned)ns;
	msb = 63u - (unsigned)__builtin_clzll(ns);
	sub = (unsigned)(ns >> (msb - 4)) & (BENCH_LAT_SUB - 1);	/* 4 = log2(BENCH_LAT_SUB) */
	return (msb - 3) * BENCH_LAT_SUB + sub;
}

/* The smallest ns that falls into bucket b (the inverse of bench_lat_bucket). */
static inline uint64_t bench_lat_floor(unsigned b)
{
	unsigned msb;

	if (b < 2 * BENCH_LAT_SUB)
		return b;
	msb = b / BENCH_LAT_SUB + 3;
	return ((uint64_t)(BENCH_LAT_SUB + b % BENCH_LAT_SUB)) << (msb - 4);
}

/*
 * What one thread does. Mixed runs (fill_count == 0) loop until *stop is
 * set: each operation draws an index (uniform over [0, range) or Zipf) and an
 * operation (get with probability get_pct/100, otherwise insert or remove
 * with equal probability, so that a table half of whose range is present
 * stays that size). Fill runs (fill_count > 0) insert the indices
 * fill_first, fill_first + fill_step, ... (fill_count of them) and stop,
 * or stop early when *stop is set (a driver's deadline for a stalled peer).
 */
struct bench_work {
	uint64_t seed;			/* per-thread, the same for every peer */
	uint64_t range;			/* indices drawn from [0, range) */
	unsigned get_pct;		/* 0..100 */
	unsigned batch;			/* operations per read section */
	enum bench_dist dist;
	const struct bench_zipf *zipf;	/* BENCH_ZIPF: over [0, range) */
	const volatile int *stop;	/* polled once per batch */
	struct bench_lat *lat;		/* non-NULL: time every get into it */
	uint64_t fill_first, fill_step, fill_count;
	/* Lookup runs only (BENCH_DEFINE_LOOKUP_RUN): 0 looks keys up one
	 * at a time, K in [1, BENCH_BATCH_KEYS_MAX] in batched calls of K. */
	unsigned batch_keys;
};

/* What one thread did; seconds are its own, from its start to its stop. */
struct bench_counts {
	uint64_t ops[3], done[3];	/* by enum bench_op: attempted, succeeded (hit) */
	uint64_t acc;			/* sum of values found: keeps every get alive */
	/* Lookup runs only: values found that are not their key's index + 1,
	 * plus batched calls whose count disagrees with their values. */
	uint64_t wrong;
	double seconds;
};

/* The next index and operation of a mixed run. */
static inline uint64_t bench_next_index(const struct bench_work *w, uint64_t *rng)
{
	if (w->dist == BENCH_ZIPF)
		return (uint64_t)(((unsigned __int128)bench_zipf_rank(w->zipf, rng) *
				   BENCH_ZIPF_SPREAD) % w->range);
	return rng_below(rng, w->range);
}

static inline enum bench_op bench_next_op(const struct bench_work *w, uint64_t *rng)
{
	uint64_t r;

	if (w->get_pct >= 100)	/* read-only: no draw, so no peer pays for one */
		return BENCH_GET;
	r = rng_below(rng, 200);

	if (r < 2u * w->get_pct)
		return BENCH_GET;
	return (r & 1) ? BENCH_INSERT : BENCH_REMOVE;
}

/*
 * BENCH_DEFINE_RUN(name, T, LOCK, UNLOCK, QUIESCE, GET, INSERT, REMOVE)
 * defines   static void name(void *table, const struct bench_work *w,
 *                            struct bench_counts *out)
 * with the peer's operations inlined. The arguments name functions or macros
 * of the peer (t is a T *, key and val are uint64_t):
 *   LOCK(t), UNLOCK(t)   enter and leave a read section around each batch;
 *   QUIESCE(t)           after each batch (qsbr: a quiescent state);
 *   GET(t, key)          the value found, 0 if absent;
 *   INSERT(t, key, val)  1 if inserted, 0 if present, a negative errno;
 *   REMOVE(t, key)       1 if removed, 0 if absent, a negative errno.
 * Only results of 1 count as done; an error counts as attempted only.
 * The thread must already be registered with the peer's RCU flavor.
 */
#define BENCH_DEFINE_RUN(name, T, LOCK, UNLOCK, QUIESCE, GET, INSERT, REMOVE)	\
static void name(void *table, const struct bench_work *w, struct bench_counts *out) \
{										\
	T *t = (T *)table;							\
	uint64_t rng = w->seed;							\
	struct bench_counts c;							\
	uint64_t t0 = now_ns();							\
										\
	memset(&c, 0, sizeof(c));						\
	if (w->fill_count > 0) {						\
		uint64_t i = w->fill_first, left = w->fill_count;		\
		while (left > 0 && !*w->stop) {					\
			unsigned n = left < w->batch ? (unsigned)left : w->batch; \
			LOCK(t);						\
			for (unsigned b = 0; b < n; b++, i += w->fill_step)	\
				c.done[BENCH_INSERT] += INSERT(t, key_of(i), i + 1) > 0; \
			UNLOCK(t);						\
			QUIESCE(t);						\
			left -= n;						\
		}								\
		c.ops[BENCH_INSERT] = w->fill_count - left;			\
	} else {								\
		while (!*w->stop) {						\
			LOCK(t);						\
			for (unsigned b = 0; b < w->batch; b++) {		\
				uint64_t i = bench_next_index(w, &rng);		\
				uint64_t k = key_of(i), v;			\
				enum bench_op op = bench_next_op(w, &rng);	\
				c.ops[op]++;					\
				if (op == BENCH_GET) {				\
					if (w->lat) {				\
						uint64_t s = now_ns();		\
						v = GET(t, k);			\
						w->lat->count[bench_lat_bucket(now_ns() - s)]++; \
					} else {				\
						v = GET(t, k);			\
					}					\
					c.acc += v;				\
					c.done[BENCH_GET] += v != 0;		\
				} else if (op == BENCH_INSERT) {		\
					c.done[BENCH_INSERT] += INSERT(t, k, i + 1) > 0; \
				} else {					\
					c.done[BENCH_REMOVE] += REMOVE(t, k) > 0; \
				}						\
			}							\
			UNLOCK(t);						\
			QUIESCE(t);						\
		}								\
	}									\
	c.seconds = (double)(now_ns() - t0) * 1e-9;				\
	*out = c;								\
}

/* ---- lookup runs: one at a time or in batched calls --------------------- */

/* The most keys one batched call takes (--batch-keys). */
#define BENCH_BATCH_KEYS_MAX 256

/*
 * The keys of one batched call, in the shapes the peers take them: the
 * integers, and pointers to them with their lengths (rcumap_get_batch's
 * arrays), which bench_batch_init sets once. The peer writes val[i], the
 * value of key[i] as a pointer-sized integer, NULL when absent.
 */
struct bench_batch {
	uint64_t key[BENCH_BATCH_KEYS_MAX];
	const void *ptr[BENCH_BATCH_KEYS_MAX];	/* &key[i] */
	size_t len[BENCH_BATCH_KEYS_MAX];	/* sizeof(key[i]) */
	void *val[BENCH_BATCH_KEYS_MAX];
};

static inline void bench_batch_init(struct bench_batch *b)
{
	for (unsigned i = 0; i < BENCH_BATCH_KEYS_MAX; i++) {
		b->ptr[i] = &b->key[i];
		b->len[i] = sizeof(b->key[i]);
		b->val[i] = NULL;
	}
}

/* Counts one lookup of index i that returned v (0: absent). */
static inline void bench_count_lookup(struct bench_counts *c, uint64_t i, uint64_t v)
{
	c->acc += v;
	c->done[BENCH_GET] += v != 0;
	c->wrong += v != 0 && v != i + 1;
}

/*
 * BENCH_DEFINE_LOOKUP_RUN(name, T, LOCK, UNLOCK, QUIESCE, GET, GET_BATCH)
 * defines   static void name(void *table, const struct bench_work *w,
 *                            struct bench_counts *out)
 * the loop of the batch experiment: lookups only, of indices drawn as in a
 * mixed run (w->get_pct is not read), until *w->stop. LOCK, UNLOCK, QUIESCE
 * and GET are those of BENCH_DEFINE_RUN;
 *   GET_BATCH(t, n, b)   looks up b->key[0..n) (struct bench_batch *b),
 *                        writes b->val[0..n) and returns how many it found.
 * w->batch_keys 0: one GET per key, w->batch of them per read section.
 * K > 0: the same indices in the same order, K per GET_BATCH call, and
 * ceil(w->batch / K) calls per read section (a call is never split, so
 * w->batch 1 gives each call a section of its own). Every lookup counts
 * as one operation either way. Each found value is checked against its
 * key's index (bench_count_lookup) and each call's count against its
 * values, in both modes alike.
 */
#define BENCH_DEFINE_LOOKUP_RUN(name, T, LOCK, UNLOCK, QUIESCE, GET, GET_BATCH) \
static void name(void *table, const struct bench_work *w, struct bench_counts *out) \
{										\
	T *t = (T *)table;							\
	uint64_t rng = w->seed, idx[BENCH_BATCH_KEYS_MAX], t0;			\
	unsigned K = w->batch_keys;						\
	unsigned calls = K ? (w->batch + K - 1) / K : 0;			\
	struct bench_batch bb;							\
	struct bench_counts c;							\
										\
	memset(&c, 0, sizeof(c));						\
	bench_batch_init(&bb);							\
	t0 = now_ns();								\
	while (!*w->stop) {							\
		LOCK(t);							\
		if (K == 0) {							\
			for (unsigned b = 0; b < w->batch; b++) {		\
				uint64_t i = bench_next_index(w, &rng);		\
				bench_count_lookup(&c, i, GET(t, key_of(i)));	\
			}							\
			c.ops[BENCH_GET] += w->batch;				\
		} else {							\
			for (unsigned b = 0; b < calls; b++) {			\
				long found, hits = 0;				\
				for (unsigned j = 0; j < K; j++) {		\
					idx[j] = bench_next_index(w, &rng);	\
					bb.key[j] = key_of(idx[j]);		\
				}						\
				found = GET_BATCH(t, K, &bb);			\
				for (unsigned j = 0; j < K; j++) {		\
					uint64_t v = (uint64_t)(uintptr_t)bb.val[j]; \
					hits += v != 0;				\
					bench_count_lookup(&c, idx[j], v);	\
				}						\
				c.wrong += found != hits;			\
			}							\
			c.ops[BENCH_GET] += (uint64_t)calls * K;		\
		}								\
		UNLOCK(t);							\
		QUIESCE(t);							\
	}									\
	c.seconds = (double)(now_ns() - t0) * 1e-9;				\
	*out = c;								\
}

/*
 * BENCH_DEFINE_SINGLE_OPS(get, insert, remove, GET, INSERT, REMOVE) defines
 * the peer's single operations (struct bench_peer get/insert/remove) as
 * plain calls of its inlined ones, for peers whose operations need no read
 * section around them (locks, or no synchronisation at all).
 */
#define BENCH_DEFINE_SINGLE_OPS(get, insert, remove, GET, INSERT, REMOVE)	\
static uint64_t get(void *table, uint64_t key)					\
{										\
	return GET(table, key);							\
}										\
										\
static int insert(void *table, uint64_t key, uint64_t value)			\
{										\
	return INSERT(table, key, value);					\
}										\
										\
static int remove(void *table, uint64_t key)					\
{										\
	return REMOVE(table, key);						\
}

#ifdef __cplusplus
}
#endif

#endif /* RCUMAP_BENCH_WORKLOAD_H */
