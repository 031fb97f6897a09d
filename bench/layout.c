/* SPDX-License-Identifier: MIT */
/* layout.c: the measurements behind rcumap's bucket layout and load factor. */

/*
 * A measurement command, not a test. For each variant it builds a map of n
 * keys (default 1000000) on one thread. Then, in each of several rounds, it
 * times one pass of random lookups (half hit) on every map in turn, inside
 * one read section, and reports the median over rounds in ns per lookup, with
 * the memory per entry that the allocator hook saw (live bytes of buckets,
 * key copies and the table, plus malloc's own 8-byte chunk header per
 * allocation, over n). Interleaving the variants in every round keeps the
 * machine's drift out of the comparison.
 *
 * Variants:
 * - load1, load2: the table pre-sized to n and n/2 slots, rounded up to a
 *   power of two (the resize policy grows above load 2, so that is the
 *   densest table it keeps).
 * - align64: buckets from posix_memalign(64) instead of malloc (16), so the
 *   32-byte header and the first record always share one cache line.
 * - key24: 24-byte keys, stored out of line (the inline limit is 16).
 *
 * Usage: layout [-n keys] [-l lookups per pass] [-r rounds]
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <urcu.h>
#include <rcumap.h>

#include "util.h"

struct variant {
	const char *name;
	size_t load_div;   /* slots = n / load_div */
	int align64;
	size_t keylen;
};

static const struct variant variants[] = {
	{ "load1", 1, 0, 8 },
	{ "load2", 2, 0, 8 },
	{ "load1-align64", 1, 1, 8 },
	{ "load1-key24", 1, 0, 24 },
};

static int cur_align64;
static size_t live_bytes, live_allocs;

static void *layout_alloc(size_t size, enum rcumap_kind kind, void *arg)
{
	void *p = NULL;

	(void)arg;
	if (cur_align64 && kind == RCUMAP_KIND_BUCKET) {
		if (posix_memalign(&p, 64, size))
			p = NULL;
	} else {
		p = malloc(size);
	}
	if (p) {
		live_bytes += size;
		live_allocs++;
	}
	return p;
}

static void layout_free(void *p, size_t size, enum rcumap_kind kind, void *arg)
{
	(void)kind;
	(void)arg;
	live_bytes -= size;
	live_allocs--;
	free(p);
}

static uint64_t key_hash(const void *key, size_t len, void *arg)
{
	uint64_t x;

	(void)arg;
	(void)len;
	memcpy(&x, key, sizeof(x));  /* every key here is at least 8 bytes */
	return mix64(x);
}

static void make_key(unsigned char *buf, size_t len, uint64_t i)
{
	uint64_t k = mix64(i + 1);

	memset(buf, 0x5a, len);
	memcpy(buf, &k, sizeof(k));
}

#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

struct built {
	struct rcumap *map;
	size_t bytes, allocs;
	double *ns;   /* one per round */
};

static int build(const struct variant *v, size_t n, struct built *out)
{
	struct rcumap_config cfg = {
		.flavor = RCUMAP_FLAVOR, .hash = key_hash,
		.min_slots = n / v->load_div, .alloc = layout_alloc, .free = layout_free,
	};
	unsigned char key[32];
	size_t bytes0 = live_bytes, allocs0 = live_allocs;

	cur_align64 = v->align64;
	if (rcumap_create(&cfg, &out->map))
		return -1;
	for (size_t i = 0; i < n; i++) {
		make_key(key, v->keylen, i);
		if (rcumap_insert(out->map, key, v->keylen, (void *)(uintptr_t)(i + 1)))
			return -1;
	}
	if (rcumap_barrier(out->map))  /* old buckets from the inserts are gone */
		return -1;
	out->bytes = live_bytes - bytes0;
	out->allocs = live_allocs - allocs0;
	return 0;
}

static double pass(const struct variant *v, struct rcumap *map, const uint64_t *draws,
		   size_t lookups, uint64_t *acc)
{
	unsigned char key[32];
	double t0, t1;

	rcu_read_lock();
	t0 = now_seconds();
	for (size_t i = 0; i < lookups; i++) {
		make_key(key, v->keylen, draws[i]);
		*acc += (uintptr_t)rcumap_get(map, key, v->keylen);
	}
	t1 = now_seconds();
	rcu_read_unlock();
	return (t1 - t0) / (double)lookups * 1e9;
}

static int run(size_t n, size_t lookups, int rounds)
{
	struct built b[NVARIANTS];
	uint64_t *draws, acc = 0;
	unsigned seed = 12345;

	draws = malloc(lookups * sizeof(*draws));
	if (!draws)
		return -1;
	for (size_t i = 0; i < lookups; i++)
		draws[i] = (uint64_t)rand_r(&seed) % (2 * n);
	for (size_t v = 0; v < NVARIANTS; v++) {
		b[v].ns = calloc((size_t)rounds, sizeof(double));
		if (!b[v].ns || build(&variants[v], n, &b[v])) {
			fprintf(stderr, "layout: building %s failed\n", variants[v].name);
			return -1;
		}
	}
	for (int r = 0; r < rounds; r++)
		for (size_t k = 0; k < NVARIANTS; k++) {
			size_t v = (k + (size_t)r) % NVARIANTS;  /* rotate the order */

			b[v].ns[r] = pass(&variants[v], b[v].map, draws, lookups, &acc);
		}
	for (size_t v = 0; v < NVARIANTS; v++) {
		struct rcumap_stats st;

		qsort(b[v].ns, (size_t)rounds, sizeof(double), cmp_double);
		rcumap_stats(b[v].map, &st);
		printf("layout: %-14s slots %8zu  %6.1f ns/lookup (min %6.1f)  %5.1f bytes/entry\n",
		       variants[v].name, st.slots, b[v].ns[rounds / 2], b[v].ns[0],
		       (double)(b[v].bytes + 8 * b[v].allocs) / (double)n);
		if (rcumap_destroy(b[v].map))
			return -1;
		free(b[v].ns);
	}
	printf("layout: checksum %llx\n", (unsigned long long)acc);
	free(draws);
	return 0;
}

int main(int argc, char **argv)
{
	size_t n = 1000000, lookups = 2000000;
	int opt, rounds = 7;

	while ((opt = getopt(argc, argv, "n:l:r:")) != -1) {
		uint64_t v = 0;

		if (opt != '?' && parse_u64(optarg, 1, UINT64_C(1) << 31, &v)) {
			fprintf(stderr, "layout: bad value for -%c: %s\n", opt, optarg);
			opt = '?';
		}
		if (opt == 'n')
			n = v;
		else if (opt == 'l')
			lookups = v;
		else if (opt == 'r')
			rounds = (int)v;
		else {
			fprintf(stderr, "usage: layout [-n keys] [-l lookups per pass] [-r rounds]\n");
			return 2;
		}
	}
	rcu_register_thread();
	printf("layout: n %zu, %zu lookups per pass, median of %d rounds, one thread\n",
	       n, lookups, rounds);
	if (run(n, lookups, rounds))
		return 1;
	rcu_unregister_thread();
	return 0;
}
