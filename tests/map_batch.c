/* SPDX-License-Identifier: MIT */
/* map_batch.c: test_map's batched lookups (rcumap_get_batch), including during half-done migrations. */

#define _GNU_SOURCE

#include "flavor.h" /* first: the liburcu flavor header */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rcumap.h>

#include "fixture.h"
#include "map_tests.h"

/* ---- Batched lookups (rcumap_get_batch) ------------------------------------------ */

/* What a values[] entry holds until rcumap_get_batch writes it. */
#define BATCH_SENTINEL FX_SENTINEL

/*
 * One rcumap_get_batch call over keys[0 .. n) in a read section, then, in
 * the same section, rcumap_get of every key: on a quiet map each entry must
 * be what rcumap_get returns, and want[i] when want is given, and the
 * result the number of entries found. Returns the result.
 */
static long batch_check(struct rcumap *map, size_t n, const void *const keys[],
			const size_t lens[], void *values[], void *const want[])
{
	size_t bad = SIZE_MAX;
	long found, nonnull = 0;
	void *got = NULL;

	for (size_t i = 0; i < n; i++)
		values[i] = BATCH_SENTINEL;
	test_reader_enter();
	found = rcumap_get_batch(map, n, keys, lens, values);
	for (size_t i = 0; i < n && bad == SIZE_MAX; i++) {
		got = rcumap_get(map, keys[i], lens[i]);
		if (values[i] != got || (want && values[i] != want[i]))
			bad = i;
		nonnull += values[i] != NULL;
	}
	test_reader_leave();
	if (bad != SIZE_MAX)
		fail_msg("batch of %zu keys: entry %zu (a key of %zu bytes) holds %p, rcumap_get "
			 "returns %p, expected %p", n, bad, lens[bad], values[bad], got,
			 want ? want[bad] : got);
	if (found != nonnull)
		fail_msg("batch of %zu keys returned %ld, but %ld entries hold a value", n, found,
			 nonnull);
	return found;
}

static long count_nonnull(void *const v[], size_t n)
{
	long c = 0;

	for (size_t i = 0; i < n; i++)
		c += v[i] != NULL;
	return c;
}

/*
 * keys[0 .. n) as one batch, then as consecutive batches of every size from
 * 1 to 40 in turn, so that batches begin and end at every place of the
 * library's groups of 16 keys.
 */
static void batch_check_slices(struct rcumap *map, size_t n, const void *const keys[],
			       const size_t lens[], void *values[], void *const want[])
{
	assert_int_equal(batch_check(map, n, keys, lens, values, want), count_nonnull(want, n));
	for (size_t at = 0, size = 1; at < n; at += size, size = size % 40 + 1) {
		size_t m = size < n - at ? size : n - at;

		assert_int_equal(batch_check(map, m, keys + at, lens + at, values + at, want + at),
				 count_nonnull(want + at, m));
	}
}

/* A batch of fixture keys (key_make numbering) and the values the reference expects. */
struct bkeys {
	size_t n;
	unsigned char (*buf)[KEY_BUF];
	const void **keys;
	size_t *lens;
	void **values, **want;
	size_t *id;
};

static void bkeys_init(struct bkeys *b, size_t cap)
{
	b->n = 0;
	b->buf = malloc(cap * sizeof(*b->buf));
	b->keys = malloc(cap * sizeof(*b->keys));
	b->lens = malloc(cap * sizeof(*b->lens));
	b->values = malloc(cap * sizeof(*b->values));
	b->want = malloc(cap * sizeof(*b->want));
	b->id = malloc(cap * sizeof(*b->id));
	assert_true(b->buf && b->keys && b->lens && b->values && b->want && b->id);
}

static void bkeys_fini(struct bkeys *b)
{
	free(b->buf);
	free(b->keys);
	free(b->lens);
	free(b->values);
	free(b->want);
	free(b->id);
}

static void bkeys_add(struct bkeys *b, const struct fx *f, size_t id)
{
	b->lens[b->n] = key_make(id, b->buf[b->n]);
	b->keys[b->n] = b->buf[b->n];
	b->want[b->n] = f->ref[id];
	b->id[b->n++] = id;
}

/* Keys [0, n) of the fixture in a random order. */
static void bkeys_shuffled(struct bkeys *b, const struct fx *f, size_t n, uint64_t *rng)
{
	size_t *perm = malloc(n * sizeof(*perm));

	assert_non_null(perm);
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = rng_next(rng) % i, t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	b->n = 0;
	for (size_t i = 0; i < n; i++)
		bkeys_add(b, f, perm[i]);
	free(perm);
}

static void bkeys_check(struct bkeys *b, struct fx *f)
{
	for (size_t i = 0; i < b->n; i++)
		b->want[i] = f->ref[b->id[i]];
	batch_check_slices(f->map, b->n, b->keys, b->lens, b->values, b->want);
}

static void get_batch_of_0_1_and_1000_keys_returns_what_get_returns_for_each_key(void **state)
{
	static const size_t sizes[] = { 0, 1, 4096 }; /* 0: where the inserts left it */
	const size_t nk = 2000;
	struct fx f;
	struct fx_opts o = { .nvals = nk, .nkeys = nk, .min_slots = 1 };
	uint64_t rng = 0x62617463682d31ull;
	struct bkeys b, one;
	void *v = BATCH_SENTINEL;
	size_t present = SIZE_MAX, absent = SIZE_MAX;
	long rc;

	(void)state;
	fx_open(&f, &o);
	bkeys_init(&b, nk);
	bkeys_init(&one, 1);
	for (size_t i = 0; i < nk; i++)
		if (rng_next(&rng) & 1)
			assert_rc(fx_insert(&f, i, i), 0);
	for (size_t i = 0; i < nk; i += 7) /* absent keys that were present once */
		if (f.ref[i])
			assert_rc(fx_delete(&f, i), 0);
	for (size_t i = 0; i < nk; i++) {
		if (f.ref[i] && present == SIZE_MAX)
			present = i;
		if (!f.ref[i] && absent == SIZE_MAX)
			absent = i;
	}
	assert_true(present != SIZE_MAX && absent != SIZE_MAX);

	/* No keys: 0, nothing written, and the arrays may be NULL. */
	bkeys_add(&one, &f, present);
	test_reader_enter();
	rc = rcumap_get_batch(f.map, 0, NULL, NULL, NULL);
	assert_int_equal(rc, 0);
	rc = rcumap_get_batch(f.map, 0, one.keys, one.lens, &v);
	test_reader_leave();
	assert_int_equal(rc, 0);
	assert_ptr_equal(v, BATCH_SENTINEL);

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		if (sizes[s])
			assert_rc(resize_retry(f.map, sizes[s]), 0);
		/* One key, present and absent. */
		one.n = 0;
		bkeys_add(&one, &f, present);
		assert_int_equal(batch_check(f.map, 1, one.keys, one.lens, one.values, one.want), 1);
		one.n = 0;
		bkeys_add(&one, &f, absent);
		assert_int_equal(batch_check(f.map, 1, one.keys, one.lens, one.values, one.want), 0);
		assert_null(one.values[0]);
		/* 1000 distinct keys, about half present, then the same in slices. */
		bkeys_shuffled(&b, &f, nk, &rng);
		b.n = 1000;
		bkeys_check(&b, &f);
		print_message("# %zu slots: 1000 keys, %ld present\n", stats_of(f.map).slots,
			      count_nonnull(b.want, b.n));
	}
	fx_check(&f);
	bkeys_fini(&one);
	bkeys_fini(&b);
	fx_close(&f);
}

static void get_batch_gives_each_copy_of_a_repeated_key_the_keys_value(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 16, .nkeys = 8, .min_slots = 1 };
	uint64_t rng = 0x62617463682d32ull;
	struct bkeys b;
	const void *first[8] = { NULL };

	(void)state;
	fx_open(&f, &o);
	bkeys_init(&b, 60);
	for (size_t i = 0; i < 4; i++) /* keys 0-3 present, 4-7 absent */
		assert_rc(fx_insert(&f, i, i), 0);

	/*
	 * 60 entries over the 8 keys, so each repeats in every group of 16;
	 * every other repeat passes the first copy's pointer again, the rest
	 * equal bytes at another address.
	 */
	for (size_t i = 0; i < 60; i++) {
		size_t id = rng_next(&rng) % 8;

		bkeys_add(&b, &f, id);
		if (!first[id])
			first[id] = b.keys[i];
		else if (i & 1)
			b.keys[i] = first[id];
	}
	bkeys_check(&b, &f);

	/* One key 40 times: found 40 times; an absent one: not once. */
	b.n = 0;
	for (size_t i = 0; i < 40; i++)
		bkeys_add(&b, &f, 2);
	assert_int_equal(batch_check(f.map, b.n, b.keys, b.lens, b.values, b.want), 40);
	b.n = 0;
	for (size_t i = 0; i < 40; i++)
		bkeys_add(&b, &f, 6);
	assert_int_equal(batch_check(f.map, b.n, b.keys, b.lens, b.values, b.want), 0);

	/* After a replace and a delete, every copy sees the change. */
	assert_rc(fx_put(&f, 2, 8), 0);
	assert_rc(fx_delete(&f, 3), 0);
	b.n = 0;
	for (size_t i = 0; i < 40; i++)
		bkeys_add(&b, &f, i % 2 ? 2 : 3);
	assert_int_equal(batch_check(f.map, b.n, b.keys, b.lens, b.values, b.want), 20);
	fx_barrier(&f);
	fx_check(&f);
	bkeys_fini(&b);
	fx_close(&f);
}

/*
 * Keys of every length the map stores differently: 0, 1-7 (one partial
 * word), 8, 9-15 (a word and a partial one), 16 (the longest inline key),
 * 17 and longer (a key copy). Stored: the prefixes of one byte pattern at
 * many lengths, so they share prefixes and differ only in length, and keys
 * of zero bytes, which pad to the same words at every inline length.
 * Probed: those, every other prefix and zero-key length around them, and
 * the stored ones with their first or last byte changed.
 */
static void get_batch_tells_apart_keys_of_every_length_class_and_keys_that_differ_only_in_length(void **state)
{
	static const size_t plen[] = {
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 24, 1000,
	};
	static const size_t zlen[] = { 2, 5, 8, 12, 16, 17, 1000 };
	static const size_t sizes[] = { 1, 64 };
	enum { NP = sizeof(plen) / sizeof(plen[0]), NZ = sizeof(zlen) / sizeof(zlen[0]),
	       MAXLEN = 1001, MAXPROBES = 256 };
	unsigned char *pat = malloc(MAXLEN), *zero = calloc(MAXLEN, 1);
	unsigned char *flip[2 * NP];
	const void *keys[MAXPROBES];
	size_t lens[MAXPROBES], n = 0, nflip = 0;
	void *values[MAXPROBES], *want[MAXPROBES];
	struct fx f;
	struct fx_opts o = { .nvals = NP + NZ, .nkeys = 1, .min_slots = 1 };
	uint64_t rng = 0x62617463682d33ull;
	long found;

	(void)state;
	assert_non_null(pat);
	assert_non_null(zero);
	for (size_t i = 0; i < MAXLEN; i++)
		pat[i] = (unsigned char)(i * 131 + 7);
	fx_open(&f, &o);
	for (size_t i = 0; i < NP; i++) {
		assert_rc(rcumap_insert(f.map, pat, plen[i], fx_val(&f, i)), 0);
		fx_val(&f, i)->owned = fx_val(&f, i)->in_map = true;
	}
	for (size_t i = 0; i < NZ; i++) {
		assert_rc(rcumap_insert(f.map, zero, zlen[i], fx_val(&f, NP + i)), 0);
		fx_val(&f, NP + i)->owned = fx_val(&f, NP + i)->in_map = true;
	}

	/* Pattern prefixes of every length 0-26 and around 1000, present or not. */
	for (size_t len = 0; len <= 1001; len = len == 26 ? 999 : len + 1) {
		keys[n] = pat;
		lens[n] = len;
		want[n] = NULL;
		for (size_t i = 0; i < NP; i++)
			if (plen[i] == len)
				want[n] = fx_val(&f, i);
		n++;
	}
	/* The empty key through a NULL pointer: the same key as the empty prefix. */
	keys[n] = NULL;
	lens[n] = 0;
	want[n++] = fx_val(&f, 0);
	/* Zero-byte keys of lengths 1-18 and around 1000. */
	for (size_t len = 1; len <= 1001; len = len == 18 ? 999 : len + 1) {
		keys[n] = zero;
		lens[n] = len;
		want[n] = NULL;
		for (size_t i = 0; i < NZ; i++)
			if (zlen[i] == len)
				want[n] = fx_val(&f, NP + i);
		n++;
	}
	/* Stored pattern keys with the last, or the first, byte changed: absent. */
	for (size_t i = 0; i < NP; i++) {
		for (int end = 0; end < 2 && plen[i] >= (size_t)(1 + end); end++) {
			unsigned char *p = malloc(plen[i]);

			assert_non_null(p);
			memcpy(p, pat, plen[i]);
			p[end ? 0 : plen[i] - 1] ^= 0x40;
			flip[nflip++] = p;
			keys[n] = p;
			lens[n] = plen[i];
			want[n++] = NULL;
		}
	}
	assert_true(n <= MAXPROBES);

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		assert_rc(resize_retry(f.map, sizes[s]), 0);
		batch_check_slices(f.map, n, keys, lens, values, want);
		/* Shuffled, so that neighbours in a group come from every class. */
		for (size_t i = n; i > 1; i--) {
			size_t j = rng_next(&rng) % i;
			const void *tk = keys[i - 1];
			size_t tl = lens[i - 1];
			void *tw = want[i - 1];

			keys[i - 1] = keys[j];
			lens[i - 1] = lens[j];
			want[i - 1] = want[j];
			keys[j] = tk;
			lens[j] = tl;
			want[j] = tw;
		}
		found = batch_check(f.map, n, keys, lens, values, want);
		/* Every stored key once, and the empty key a second time through NULL. */
		assert_int_equal(found, NP + NZ + 1);
	}
	assert_size(rcumap_count(f.map), NP + NZ);
	assert_rc(rcumap_validate(f.map), 0);
	for (size_t i = 0; i < nflip; i++)
		free(flip[i]);
	free(pat);
	free(zero);
	fx_close(&f);
}

/* A call that must return -EINVAL and leave values[0 .. nvalues) as they were. */
static void batch_expect_einval(struct rcumap *map, size_t n, const void *const keys[],
				const size_t lens[], void *values[], size_t nvalues,
				const char *what)
{
	long rc;

	for (size_t i = 0; i < nvalues; i++)
		values[i] = BATCH_SENTINEL;
	test_reader_enter();
	rc = rcumap_get_batch(map, n, keys, lens, values);
	test_reader_leave();
	if (rc != -EINVAL)
		fail_msg("%s: rcumap_get_batch returned %ld, expected -EINVAL", what, rc);
	for (size_t i = 0; i < nvalues; i++)
		if (values[i] != BATCH_SENTINEL)
			fail_msg("%s: -EINVAL, but values[%zu] was written", what, i);
}

static void get_batch_rejects_invalid_arguments_with_einval_and_writes_no_value(void **state)
{
	/* First key, last of the first group, first of the second, last key. */
	static const size_t at[] = { 0, 15, 16, 39 };
	static const size_t badlen[] = { RCUMAP_KEY_MAX + 1, SIZE_MAX };
	const size_t n = 40;
	struct fx f;
	struct fx_opts o = { .nvals = n, .nkeys = n, .min_slots = 1 };
	struct bkeys b;
	char what[96];
	long rc;

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 0, n);
	bkeys_init(&b, n);
	for (size_t i = 0; i < n; i++)
		bkeys_add(&b, &f, i);

	batch_expect_einval(NULL, n, b.keys, b.lens, b.values, n, "NULL map");
	batch_expect_einval(NULL, 0, NULL, NULL, NULL, 0, "NULL map, no keys");
	batch_expect_einval(f.map, n, NULL, b.lens, b.values, n, "NULL keys array");
	batch_expect_einval(f.map, n, b.keys, NULL, b.values, n, "NULL lens array");
	batch_expect_einval(f.map, n, b.keys, b.lens, NULL, 0, "NULL values array");
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		const void *k = b.keys[at[i]];
		size_t len = b.lens[at[i]];

		b.keys[at[i]] = NULL;
		snprintf(what, sizeof(what), "NULL key of %zu bytes at entry %zu", len, at[i]);
		batch_expect_einval(f.map, n, b.keys, b.lens, b.values, n, what);
		b.keys[at[i]] = k;
		for (size_t j = 0; j < sizeof(badlen) / sizeof(badlen[0]); j++) {
			b.lens[at[i]] = badlen[j];
			snprintf(what, sizeof(what), "length %zu at entry %zu", badlen[j], at[i]);
			batch_expect_einval(f.map, n, b.keys, b.lens, b.values, n, what);
		}
		b.lens[at[i]] = len;
	}

	/* No keys with NULL arrays, or with arrays: 0 and nothing written. */
	test_reader_enter();
	rc = rcumap_get_batch(f.map, 0, NULL, NULL, NULL);
	test_reader_leave();
	assert_int_equal(rc, 0);
	for (size_t i = 0; i < n; i++)
		b.values[i] = BATCH_SENTINEL;
	test_reader_enter();
	rc = rcumap_get_batch(f.map, 0, b.keys, b.lens, b.values);
	test_reader_leave();
	assert_int_equal(rc, 0);
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(b.values[i], BATCH_SENTINEL);

	/* A NULL key of length 0 is the empty key, a valid one (absent here). */
	b.keys[7] = NULL;
	b.lens[7] = 0;
	b.want[7] = NULL;
	assert_int_equal(batch_check(f.map, n, b.keys, b.lens, b.values, b.want), n - 1);

	/* Nothing changed. */
	fx_check(&f);
	bkeys_fini(&b);
	fx_close(&f);
}

/*
 * A migration frozen half way, as a failed allocation leaves one (test_iter's
 * iter_resize.c does the same): rcumap_resize allocates the new table (allocation 0),
 * then fills the slots of the new generation in order, each by freezing its
 * source slots in the old generation and, if any of their records go to
 * it, allocating one bucket. Failing the allocation of the m-th non-empty
 * slot and every later one leaves the slots before it filled and its
 * sources frozen. The test keeps a model of which new slots are filled and
 * which old ones frozen, from the keys' folded hashes (the fixture's, under
 * hash_full), to know which
 * state each key's lookup meets; it only reports coverage: results are
 * checked against the reference alone.
 */
enum bstate { B_MIGRATED, B_FROZEN_UNFILLED, B_NOT_MIGRATED, B_STATES };

static const char *const bstate_name[B_STATES] = {
	[B_MIGRATED] = "migrated",
	[B_FROZEN_UNFILLED] = "frozen, unfilled",
	[B_NOT_MIGRATED] = "not migrated",
};

struct bmig {
	size_t from, to;          /* slots of the old and the new generation */
	unsigned char *filled;    /* [to]: new slot filled */
	unsigned char *frozen;    /* [from]: old slot frozen */
	size_t pos;               /* the migration's next new slot to fill */
	const uint32_t *fold;     /* [nkeys]: folded 32-bit hash of each key (struct fx) */
};

static enum bstate bmig_state(const struct bmig *m, size_t id)
{
	if (m->filled[m->fold[id] & (m->to - 1)])
		return B_MIGRATED;
	if (m->frozen[m->fold[id] & (m->from - 1)])
		return B_FROZEN_UNFILLED;
	return B_NOT_MIGRATED;
}

/* The old slots whose records go to new slot d: one when growing, from/to when shrinking. */
static void bmig_freeze_sources(struct bmig *m, size_t d)
{
	if (m->to > m->from)
		m->frozen[d & (m->from - 1)] = 1;
	else
		for (size_t s = d; s < m->from; s += m->to)
			m->frozen[s] = 1;
}

/* Whether filling new slot d allocates: some present key goes there. */
static bool bmig_nonempty(const struct bmig *m, const struct fx *f, size_t d)
{
	for (size_t i = 0; i < f->nkeys; i++)
		if (f->ref[i] && (m->fold[i] & (m->to - 1)) == d)
			return true;
	return false;
}

/*
 * The chunk of 64 slots an update drives, every allocation failing: filled
 * slots are passed, empty ones filled without one, and the first non-empty
 * one freezes its sources and stops the chunk.
 */
static void bmig_advance(struct bmig *m, const struct fx *f)
{
	for (size_t budget = 64; m->pos < m->to && budget; budget--, m->pos++) {
		if (m->filled[m->pos])
			continue;
		bmig_freeze_sources(m, m->pos);
		if (bmig_nonempty(m, f, m->pos))
			return;
		m->filled[m->pos] = 1;
	}
}

/* Resize to m->to slots and leave the migration stopped at the first non-empty slot >= d. */
static void bmig_start(struct bmig *m, struct fx *f, size_t d)
{
	size_t before = fx_nonempty_slots(f, m->to, d);
	int rc;

	while (d < m->to && !bmig_nonempty(m, f, d))
		d++;
	assert_true(d < m->to);
	rc = fx_resize_failing(f, m->to, 1 + before);
	if (rc != -ENOMEM || !stats_of(f->map).resizing)
		fail_msg("SETUP: resize %zu -> %zu failing at allocation %zu returned %d (%s), "
			 "resizing %d: no half-done migration", m->from, m->to, 1 + before, rc,
			 errname(rc), stats_of(f->map).resizing);
	for (size_t i = 0; i < d; i++) {
		bmig_freeze_sources(m, i);
		m->filled[i] = 1;
	}
	bmig_freeze_sources(m, d);
	m->pos = d;
}

enum bop { BOP_PUT, BOP_INSERT, BOP_DELETE };

/*
 * One update that leaves the migration pending: allow it k allocations and
 * fail every later one, for the smallest k with which it succeeds, so that
 * the chunk of the migration it then drives stops at its first allocation.
 * An attempt that returns -ENOMEM changes no contents. An update of a key
 * whose old slot is frozen fills the key's new slot first and writes there.
 */
static void bmig_update(struct bmig *m, struct fx *f, enum bop op, size_t id, size_t val)
{
	bool frozen = m->frozen[m->fold[id] & (m->from - 1)];
	int rc = -ENOMEM;

	for (unsigned long k = 0; k < 16 && rc == -ENOMEM; k++) {
		ca_arm(f->ca, k, true);
		switch (op) {
		case BOP_PUT:
			rc = fx_put(f, id, val);
			break;
		case BOP_INSERT:
			rc = fx_insert(f, id, val);
			break;
		default:
			rc = fx_delete(f, id);
			break;
		}
		ca_disarm(f->ca);
	}
	assert_rc(rc, 0);
	if (frozen)
		m->filled[m->fold[id] & (m->to - 1)] = 1;
	bmig_advance(m, f);
	if (!stats_of(f->map).resizing)
		fail_msg("SETUP: an update of key %zu completed the migration %zu -> %zu", id,
			 m->from, m->to);
}

static void get_batch_during_a_half_done_migration_finds_every_key_with_its_latest_value(void **state)
{
	static const struct {
		size_t from, to;
		const char *name;
	} kinds[] = {
		{ 64, 128, "grow x2" }, { 64, 512, "grow x8" },
		{ 128, 64, "shrink /2" }, { 256, 32, "shrink /8" },
	};
	const size_t nk = 600;
	struct fx f;
	struct fx_opts o = {
		.nvals = nk + 200, .nkeys = nk, .min_slots = 1, .hash = hash_full, .folds = true,
	};
	uint64_t rng = 0x62617463682d35ull;
	size_t next_val = nk;
	struct bkeys b;
	struct bmig m;

	(void)state;
	fx_open(&f, &o);
	bkeys_init(&b, nk);
	m.fold = f.fold;
	for (size_t i = 0; i < nk; i++)
		if (i % 3)
			assert_rc(fx_insert(&f, i, i), 0);

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t keys[B_STATES][2] = { { 0 } }, updated[B_STATES] = { 0 }, from_unfilled = 0;

		assert_rc(resize_retry(f.map, kinds[k].from), 0);
		fx_barrier(&f);
		m.from = kinds[k].from;
		m.to = kinds[k].to;
		m.filled = calloc(m.to, 1);
		m.frozen = calloc(m.from, 1);
		assert_true(m.filled && m.frozen);
		/* A third of the way: old slots after it stay unfrozen when growing. */
		bmig_start(&m, &f, (m.from < m.to ? m.from : m.to) / 3);

		/* Every key, before and after updates in each state, with its latest value. */
		bkeys_shuffled(&b, &f, nk, &rng);
		bkeys_check(&b, &f);
		for (int s = 0; s < B_STATES; s++) {
			size_t start = rng_next(&rng) % nk, puts = 0, ins = 0, dels = 0;

			for (size_t j = 0; j < nk; j++) {
				size_t id = (start + j) % nk;
				enum bstate was = bmig_state(&m, id);

				if ((int)was != s)
					continue;
				/* One update of a frozen, unfilled key: it fills its slot. */
				if (f.ref[id] && puts < (s == B_FROZEN_UNFILLED ? 1u : 3u)) {
					bmig_update(&m, &f, BOP_PUT, id, next_val++);
					puts++;
				} else if (f.ref[id] && !dels && s != B_FROZEN_UNFILLED) {
					bmig_update(&m, &f, BOP_DELETE, id, 0);
					dels++;
				} else if (!f.ref[id] && !ins && s != B_FROZEN_UNFILLED) {
					bmig_update(&m, &f, BOP_INSERT, id, next_val++);
					ins++;
				} else {
					continue;
				}
				updated[bmig_state(&m, id)]++;
				from_unfilled += was == B_FROZEN_UNFILLED;
			}
		}
		bkeys_check(&b, &f);

		/* Coverage: keys present and absent in every state, and updated ones. */
		for (size_t i = 0; i < nk; i++)
			keys[bmig_state(&m, i)][f.ref[i] != NULL]++;
		print_message("# %s: present/absent keys %s %zu/%zu, %s %zu/%zu, %s %zu/%zu; "
			      "updated after the freeze: %zu migrated (%zu of them frozen and "
			      "unfilled before), %zu not migrated\n", kinds[k].name,
			      bstate_name[0], keys[0][1], keys[0][0], bstate_name[1], keys[1][1],
			      keys[1][0], bstate_name[2], keys[2][1], keys[2][0],
			      updated[B_MIGRATED], from_unfilled, updated[B_NOT_MIGRATED]);
		for (int s = 0; s < B_STATES; s++)
			if (!keys[s][0] || !keys[s][1])
				fail_msg("SETUP: %s: no %s key %s", kinds[k].name,
					 keys[s][0] ? "present" : "absent", bstate_name[s]);
		assert_true(updated[B_MIGRATED] >= 4 && updated[B_NOT_MIGRATED] >= 4);
		assert_true(from_unfilled >= 1);

		/* Completed: the same answers from the new generation alone. */
		assert_rc(resize_retry(f.map, kinds[k].to), 0);
		assert_int_equal(stats_of(f.map).resizing, 0);
		assert_size(stats_of(f.map).slots, kinds[k].to);
		bkeys_check(&b, &f);
		fx_check(&f);
		free(m.filled);
		free(m.frozen);
	}
	fx_barrier(&f);
	fx_check_frees(&f);
	bkeys_fini(&b);
	fx_close(&f);
}


static const struct CMUnitTest tests[] = {
	MAP_TEST(get_batch_of_0_1_and_1000_keys_returns_what_get_returns_for_each_key),
	MAP_TEST(get_batch_gives_each_copy_of_a_repeated_key_the_keys_value),
	MAP_TEST(get_batch_tells_apart_keys_of_every_length_class_and_keys_that_differ_only_in_length),
	MAP_TEST(get_batch_rejects_invalid_arguments_with_einval_and_writes_no_value),
	MAP_TEST(get_batch_during_a_half_done_migration_finds_every_key_with_its_latest_value),
};

const struct fx_group map_batch_tests = FX_GROUP_OF(tests);
