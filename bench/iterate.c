/* SPDX-License-Identifier: MIT */
/* iterate.c: cost of a full traversal per entry against a lookup loop over the same keys. */

/*
 * A measurement command, not a test. Builds a map of n 8-byte keys (default
 * 1000000, default SipHash) on one thread, then in each round times, in
 * rotated order:
 * - iter:      one rcumap_iter_init/next traversal inside one read section;
 * - scan-B:    a full rcumap_scan traversal, B entries per call (B = 64 and
 *              1024), one short read section per call;
 * - get-seq:   rcumap_get of every key, in insertion order, read sections of
 *              128 lookups;
 * - get-rand:  the same keys in a random order.
 * Reports the median over rounds in ns per entry and the ratio to get-rand,
 * the cost of visiting every entry by lookups when the keys are known.
 *
 * Usage: iterate [-n keys] [-r rounds]
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <urcu.h>
#include <rcumap.h>

#include "util.h"

enum { M_ITER, M_SCAN64, M_SCAN1024, M_GET_SEQ, M_GET_RAND, M_COUNT };
static const char *const names[M_COUNT] = { "iter", "scan-64", "scan-1024", "get-seq", "get-rand" };

static uint64_t visited;

static void count_entry(const void *key, size_t len, void *value, void *arg)
{
	(void)key;
	(void)len;
	(void)arg;
	visited += (uintptr_t)value;
}

static double run(int m, struct rcumap *map, const uint64_t *keys, size_t n)
{
	double t0 = now_seconds();
	uint64_t cursor = 0;

	switch (m) {
	case M_ITER: {
		struct rcumap_iter it;
		void *v;

		rcu_read_lock();
		rcumap_iter_init(map, &it);
		while (rcumap_iter_next(map, &it, NULL, NULL, &v) == 1)
			visited += (uintptr_t)v;
		rcu_read_unlock();
		break;
	}
	case M_SCAN64:
	case M_SCAN1024:
		do
			rcumap_scan(map, &cursor, m == M_SCAN64 ? 64 : 1024, count_entry, NULL);
		while (cursor);
		break;
	default:
		for (size_t i = 0; i < n; i += 128) {
			rcu_read_lock();
			for (size_t j = i; j < i + 128 && j < n; j++) {
				size_t k = m == M_GET_SEQ ? j : (size_t)keys[n + j];

				visited += (uintptr_t)rcumap_get(map, &keys[k], sizeof(keys[k]));
			}
			rcu_read_unlock();
		}
		break;
	}
	return (now_seconds() - t0) / (double)n * 1e9;
}

int main(int argc, char **argv)
{
	uint64_t n = 1000000, rounds = 7, rng = 42;
	struct rcumap_config cfg = { .flavor = RCUMAP_FLAVOR };
	struct rcumap *map;
	uint64_t *keys;
	double *ns[M_COUNT], med[M_COUNT];
	int opt;

	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		if (opt == 'n' && !parse_u64(optarg, 1, 1ULL << 28, &n))
			continue;
		if (opt == 'r' && !parse_u64(optarg, 1, 1000, &rounds))
			continue;
		fprintf(stderr, "usage: iterate [-n keys 1..2^28] [-r rounds 1..1000]\n");
		return 2;
	}
	rcu_register_thread();
	/* keys[0..n) are the keys; keys[n..2n) a random permutation of 0..n-1. */
	keys = malloc(2 * n * sizeof(*keys));
	if (!keys || rcumap_create(&cfg, &map))
		return 1;
	for (uint64_t i = 0; i < n; i++) {
		keys[i] = mix64(i + 1);
		keys[n + i] = i;
		if (rcumap_insert(map, &keys[i], sizeof(keys[i]), (void *)(uintptr_t)(i + 1)))
			return 1;
	}
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = rng_below(&rng, i + 1), t = keys[n + i];

		keys[n + i] = keys[n + j];
		keys[n + j] = t;
	}
	rcumap_barrier(map);
	for (int m = 0; m < M_COUNT; m++)
		ns[m] = calloc(rounds, sizeof(double));
	for (uint64_t r = 0; r < rounds; r++)
		for (int k = 0; k < M_COUNT; k++) {
			int m = (int)((k + r) % M_COUNT);

			ns[m][r] = run(m, map, keys, n);
		}
	printf("iterate: %llu entries, default hash, median of %llu rounds, one thread\n",
	       (unsigned long long)n, (unsigned long long)rounds);
	for (int m = 0; m < M_COUNT; m++)
		med[m] = median(ns[m], (unsigned)rounds);
	for (int m = 0; m < M_COUNT; m++)
		printf("iterate: %-10s %7.1f ns/entry  %5.2f x get-rand\n", names[m], med[m],
		       med[m] / med[M_GET_RAND]);
	printf("iterate: checksum %llx\n", (unsigned long long)visited);
	rcumap_destroy(map);
	rcu_unregister_thread();
	return 0;
}
