/* SPDX-License-Identifier: MIT */
/* iter_plain.c: test_iter's plain traversals: empty, one, many and odd keys, hash-space edges, bad arguments. */

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
#include "iter_tests.h"

/* ---- Plain traversals ------------------------------------------------------------- */

static const size_t scan_maxes[] = { 1, 2, 3, 5, 7, 64, SIZE_MAX };
#define NSCANMAX (sizeof(scan_maxes) / sizeof(scan_maxes[0]))

/* Every plain way of walking: the iterator and scans of every max. */
void walk_all_plain(struct fx *f, struct trav *tv, const char *what)
{
	struct walk w;
	struct mode m = { W_ITER, 0, false, "in-section iterator" };

	walk_setup(&w, f, tv, &m);
	walk_check(&w, "%s, in-section iterator", what);
	for (size_t i = 0; i < NSCANMAX; i++) {
		m.m = W_SCAN;
		m.max = scan_maxes[i];
		walk_setup(&w, f, tv, &m);
		walk_check(&w, "%s, scan max %zu", what, scan_maxes[i]);
	}
	m.max = 0; /* a random max per call */
	walk_setup(&w, f, tv, &m);
	walk_check(&w, "%s, scan max 1..7 per call", what);
}

static void count_cb(const void *key, size_t len, void *value, void *arg)
{
	(void)key;
	(void)len;
	(void)value;
	++*(size_t *)arg;
}

static void traversals_of_an_empty_map_return_nothing_and_end_at_once(void **state)
{
	struct fx f;
	struct trav tv;
	struct walk w;
	struct rcumap_iter it;
	const void *key = NULL;
	size_t len = 0, calls = 0;
	void *value = NULL;
	uint64_t cursor = 0;
	static const struct mode scan1 = { W_SCAN, 1, false, "scan" };

	(void)state;
	ifx_open(&f, &(struct ifx_opts){ .nkeys = 300, .nvals = 400, .min_slots = 1 });
	trav_init(&tv, &f, true);

	test_reader_enter();
	assert_rc(rcumap_iter_init(f.map, &it), 0);
	assert_rc(rcumap_iter_next(f.map, &it, &key, &len, &value), 0);
	assert_rc(rcumap_iter_next(f.map, &it, &key, &len, &value), 0); /* stays at the end */
	test_reader_leave();
	assert_rc(rcumap_scan(f.map, &cursor, 1, count_cb, &calls), 0);
	assert_size(cursor, 0);
	assert_size(calls, 0); /* fn never called */

	for (size_t s = 1; s <= 4096; s *= 64) {
		assert_rc(resize_retry(f.map, s), 0);
		walk_all_plain(&f, &tv, "empty map");
		assert_size(tv.returned, 0);
	}
	/* Emptied after growing: a big table of empty slots. */
	fx_fill(&f, 0, 300);
	assert_rc(resize_retry(f.map, 4096), 0);
	for (size_t i = 0; i < 300; i++)
		ifx_must(&f, U_DELETE, i);
	/* The policy may have shrunk it meanwhile (timing): make it big again. */
	assert_rc(resize_retry(f.map, 4096), 0);
	assert_size(stats_peek(f.map).slots, 4096);
	walk_all_plain(&f, &tv, "emptied map of 4096 slots");
	assert_size(tv.returned, 0);
	walk_setup(&w, &f, &tv, &scan1);
	walk_check(&w, "emptied map, scan max 1");
	calls = w.calls;
	assert_size(calls, 1);
	trav_fini(&tv);
	ifx_close(&f);
}

static void traversal_of_one_entry_returns_its_key_bytes_and_value_once(void **state)
{
	struct fx f;
	struct trav tv;
	struct rcumap_iter it;
	const void *key = NULL;
	size_t len = 0;
	void *value = NULL;
	unsigned char k[IKEY_BUF];
	size_t klen = ikey_make(KS_NUM, 20, k); /* 28 bytes: stored out of line */

	(void)state;
	ifx_open(&f, &(struct ifx_opts){ .nkeys = 40, .nvals = 64 });
	trav_init(&tv, &f, true);
	ifx_must(&f, U_INSERT, 20);

	test_reader_enter();
	assert_rc(rcumap_iter_init(f.map, &it), 0);
	assert_rc(rcumap_iter_next(f.map, &it, &key, &len, &value), 1);
	assert_size(len, klen);
	assert_memory_equal(key, k, klen);
	assert_ptr_equal(value, f.ref[20]);
	assert_rc(rcumap_iter_next(f.map, &it, &key, &len, &value), 0);
	/* Any output may be NULL. */
	assert_rc(rcumap_iter_init(f.map, &it), 0);
	assert_rc(rcumap_iter_next(f.map, &it, NULL, NULL, NULL), 1);
	assert_rc(rcumap_iter_next(f.map, &it, NULL, NULL, NULL), 0);
	assert_rc(rcumap_iter_init(f.map, &it), 0);
	assert_rc(rcumap_iter_next(f.map, &it, NULL, &len, NULL), 1);
	assert_size(len, klen);
	test_reader_leave();

	walk_all_plain(&f, &tv, "one 28-byte key");
	assert_size(tv.returned, 1);
	ifx_must(&f, U_DELETE, 20);
	ifx_must(&f, U_INSERT, 3); /* 11 bytes: inline */
	walk_all_plain(&f, &tv, "one 11-byte key");
	assert_size(tv.returned, 1);
	trav_fini(&tv);
	ifx_close(&f);

	/* The empty key alone. */
	ifx_open(&f, &(struct ifx_opts){ .nkeys = 4, .nvals = 8, .ks = KS_LEN });
	trav_init(&tv, &f, true);
	ifx_must(&f, U_INSERT, 0);
	walk_all_plain(&f, &tv, "the empty key");
	assert_size(tv.returned, 1);
	trav_fini(&tv);
	ifx_close(&f);
}

static void traversal_of_many_entries_returns_each_exactly_once_at_every_table_size(void **state)
{
	const size_t n = under_valgrind() ? 300 : 2000;
	static const size_t sizes[] = { 1, 2, 16, 256, 4096, 65536 };
	struct fx f;
	struct trav tv;
	char what[64];

	(void)state;
	ifx_open(&f, &(struct ifx_opts){ .nkeys = n, .nvals = n, .min_slots = 1 });
	trav_init(&tv, &f, true);
	fx_fill(&f, 0, n);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		assert_rc(resize_retry(f.map, sizes[s]), 0);
		assert_size(stats_peek(f.map).slots, sizes[s]);
		snprintf(what, sizeof(what), "%zu entries in %zu slots", n, sizes[s]);
		walk_all_plain(&f, &tv, what);
		assert_size(tv.returned, n);
	}
	trav_fini(&tv);
	ifx_close(&f);
}

static void keys_of_0_to_100_bytes_are_returned_once_with_their_exact_bytes(void **state)
{
	struct fx f;
	struct trav tv;
	char what[64];

	(void)state;
	ifx_open(&f, &(struct ifx_opts){ .nkeys = 101, .nvals = 101, .min_slots = 1, .ks = KS_LEN });
	trav_init(&tv, &f, true);
	fx_fill(&f, 0, 101); /* lengths 0..100: empty, inline and out-of-line keys */
	for (size_t s = 1; s <= 256; s *= 16) {
		assert_rc(resize_retry(f.map, s), 0);
		snprintf(what, sizeof(what), "keys of 0..100 bytes in %zu slots", s);
		walk_all_plain(&f, &tv, what);
		assert_size(tv.returned, 101);
	}
	trav_fini(&tv);
	ifx_close(&f);
}

static void keys_sharing_a_32_bit_hash_are_returned_together_and_once(void **state)
{
	static const size_t groups[] = { 2, 3, 7, 16, 60 };
	char what[96];

	(void)state;
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		struct fx f;
		struct trav tv;

		/* 60 keys of one hash: the whole map collides. */
		ifx_open(&f, &(struct ifx_opts){ .nkeys = 240, .nvals = 240, .min_slots = 1,
						 .hmode = H_GROUP, .group = groups[g] });
		trav_init(&tv, &f, true);
		fx_fill(&f, 0, groups[g] == 60 ? 60 : 240);
		assert_size(f.gmax, groups[g]);
		for (size_t s = 1; s <= 256; s *= 16) {
			assert_rc(resize_retry(f.map, s), 0);
			snprintf(what, sizeof(what), "groups of %zu keys of one hash, %zu slots",
				 groups[g], s);
			walk_all_plain(&f, &tv, what);
		}
		trav_fini(&tv);
		ifx_close(&f);
	}
}

/* Folded hashes at the ends and middle of hash space, some twice. */
static const uint32_t edge_folds[] = {
	0x00000000, 0x00000000, 0x00000001, 0x00000002, 0x00000003, 0x80000000,
	0x40000000, 0xc0000000, 0x7fffffff, 0xffffffff, 0xffffffff, 0xfffffffe,
	0x55555555, 0xaaaaaaaa, 0x00010000, 0x0000ffff, 0x80000001, 0x00008000,
	0x12345678, 0x87654321, 0xdeadbeef, 0x0badc0de, 0xfffffff0, 0x0fffffff,
};
#define N_EDGE (sizeof(edge_folds) / sizeof(edge_folds[0]))

struct from_pos {
	struct fx *f;
	unsigned *count;
	size_t bad;
};

static void from_pos_cb(const void *key, size_t len, void *value, void *arg)
{
	struct from_pos *fp = arg;
	long id = ikey_decode(fp->f->ks, key, len, fp->f->nkeys);

	(void)value;
	if (id < 0)
		fp->bad++;
	else
		fp->count[id]++;
}

static void keys_at_both_ends_of_hash_space_are_returned_once_and_a_scan_resumes_at_any_position(void **state)
{
	const size_t n = N_EDGE + 40;
	uint32_t *table = malloc(n * sizeof(*table));
	uint64_t *starts = malloc((2 * n + 8) * sizeof(*starts));
	unsigned *count = calloc(n, sizeof(*count));
	uint64_t rng = 0x243f6a8885a308d3ull;
	size_t nstarts = 0;
	struct fx f;
	struct trav tv;

	(void)state;
	assert_true(table && starts && count);
	for (size_t i = 0; i < n; i++)
		table[i] = i < N_EDGE ? edge_folds[i] : (uint32_t)rng_next(&rng);
	ifx_open(&f, &(struct ifx_opts){ .nkeys = n, .nvals = n, .min_slots = 1,
					 .hmode = H_TABLE, .table = table, .ntable = n });
	for (size_t i = 0; i < n; i++)
		assert_int_equal(f.fold[i], table[i]); /* the hash folds as intended */
	trav_init(&tv, &f, true);
	fx_fill(&f, 0, n);

	starts[nstarts++] = 0;
	starts[nstarts++] = 1;
	starts[nstarts++] = 0x7fffffff;
	starts[nstarts++] = 0x80000000;
	starts[nstarts++] = 0xffffffff;
	for (size_t i = 0; i < n; i++) {
		uint64_t p = rev32(table[i]);

		starts[nstarts++] = p;
		if (p + 1 < POS_END)
			starts[nstarts++] = p + 1;
	}
	for (size_t s = 1; s <= 64; s *= 8) {
		char what[64];

		assert_rc(resize_retry(f.map, s), 0);
		snprintf(what, sizeof(what), "hash-space edges, %zu slots", s);
		walk_all_plain(&f, &tv, what);

		/* A cursor is a position: a scan from c passes exactly the keys at or after c. */
		for (size_t j = 0; j < nstarts; j++) {
			for (size_t mi = 0; mi < 3; mi++) {
				static const size_t maxes[] = { 1, 3, SIZE_MAX };
				struct from_pos fp = { &f, count, 0 };
				uint64_t cursor = starts[j];
				unsigned calls = 0;

				memset(count, 0, n * sizeof(*count));
				do {
					assert_rc(rcumap_scan(f.map, &cursor, maxes[mi], from_pos_cb, &fp), 0);
					assert_true(++calls <= 2 * n + 2);
				} while (cursor != 0);
				assert_size(fp.bad, 0);
				for (size_t i = 0; i < n; i++) {
					unsigned want = rev32(table[i]) >= starts[j];

					if (count[i] != want)
						fail_msg("%zu slots, scan from cursor %#llx (max %zu): key %zu at "
							 "position %#x passed %u times, expected %u", s,
							 (unsigned long long)starts[j], maxes[mi], i,
							 rev32(table[i]), count[i], want);
				}
			}
		}
	}
	trav_fini(&tv);
	ifx_close(&f);
	free(table);
	free(starts);
	free(count);
}

static void scan_and_iterator_reject_invalid_arguments_and_change_nothing(void **state)
{
	struct fx f;
	struct rcumap_iter it;
	uint64_t cursor;
	size_t seen = 0;

	(void)state;
	ifx_open(&f, &(struct ifx_opts){ .nkeys = 16, .nvals = 16 });
	fx_fill(&f, 0, 16);

	cursor = 0;
	assert_rc(rcumap_scan(NULL, &cursor, 1, count_cb, &seen), -EINVAL);
	assert_rc(rcumap_scan(f.map, NULL, 1, count_cb, &seen), -EINVAL);
	assert_rc(rcumap_scan(f.map, &cursor, 1, NULL, &seen), -EINVAL);
	assert_rc(rcumap_scan(f.map, &cursor, 0, count_cb, &seen), -EINVAL);
	assert_size(cursor, 0);
	cursor = POS_END;
	assert_rc(rcumap_scan(f.map, &cursor, 1, count_cb, &seen), -EINVAL);
	assert_size(cursor, POS_END);
	cursor = UINT64_MAX;
	assert_rc(rcumap_scan(f.map, &cursor, 1, count_cb, &seen), -EINVAL);
	assert_size(cursor, UINT64_MAX);
	assert_size(seen, 0);
	/* The largest valid cursor is accepted. */
	cursor = POS_END - 1;
	assert_rc(rcumap_scan(f.map, &cursor, 1, count_cb, &seen), 0);
	assert_size(cursor, 0);

	assert_rc(rcumap_iter_init(NULL, &it), -EINVAL);
	assert_rc(rcumap_iter_init(f.map, NULL), -EINVAL);
#ifndef RCUMAP_DEBUG
	/* Release builds return -EINVAL; debug builds abort (test_iter_debug checks that). */
	{
		struct rcumap *other = NULL;
		struct rcumap_config cfg = { .flavor = RCUMAP_FLAVOR };
		const void *key;
		size_t len;
		void *value;

		assert_rc(rcumap_create(&cfg, &other), 0);
		test_reader_enter();
		assert_rc(rcumap_iter_next(f.map, NULL, &key, &len, &value), -EINVAL);
		memset(&it, 0, sizeof(it));
		assert_rc(rcumap_iter_next(f.map, &it, &key, &len, &value), -EINVAL);
		assert_rc(rcumap_iter_init(f.map, &it), 0);
		assert_rc(rcumap_iter_next(other, &it, &key, &len, &value), -EINVAL);
		assert_rc(rcumap_iter_next(NULL, &it, &key, &len, &value), -EINVAL);
		/* The refused calls did not disturb the traversal. */
		seen = 0;
		while (rcumap_iter_next(f.map, &it, &key, &len, &value) == 1)
			seen++;
		assert_size(seen, 16);
		test_reader_leave();
		assert_rc(rcumap_destroy(other), 0);
	}
#endif
	ifx_close(&f);
}

static void scans_and_iterators_work_inside_the_callers_own_nested_read_sections(void **state)
{
	struct fx f;
	struct trav tv;
	struct walk w;
	static const struct mode m[] = {
		{ W_ITER, 0, false, "iterator" }, { W_SCAN, 4, false, "scan" },
	};
	struct rcumap_iter a, b;
	size_t na = 0, nb = 0;

	(void)state;
	ifx_open(&f, &(struct ifx_opts){ .nkeys = 200, .nvals = 200 });
	trav_init(&tv, &f, true);
	fx_fill(&f, 0, 200);
	test_reader_enter();
	test_reader_enter();
	for (size_t i = 0; i < 2; i++) {
		walk_setup(&w, &f, &tv, &m[i]);
		w.in_callers_section = true;
		walk_run(&w);
		if (tv.nerr)
			break;
	}
	/* Two iterators of one map interleaved in one section. */
	assert_rc(rcumap_iter_init(f.map, &a), 0);
	assert_rc(rcumap_iter_init(f.map, &b), 0);
	for (;;) {
		int ra = rcumap_iter_next(f.map, &a, NULL, NULL, NULL);
		int rb = rcumap_iter_next(f.map, &b, NULL, NULL, NULL);

		na += ra == 1;
		nb += rb == 1;
		if (ra != 1 && rb != 1)
			break;
	}
	test_reader_leave();
	test_reader_leave();
	trav_assert_clean(&tv, "inside the caller's nested read sections");
	assert_size(na, 200);
	assert_size(nb, 200);
	trav_fini(&tv);
	ifx_close(&f);
}

static const struct CMUnitTest tests[] = {
	ITER_TEST(traversals_of_an_empty_map_return_nothing_and_end_at_once),
	ITER_TEST(traversal_of_one_entry_returns_its_key_bytes_and_value_once),
	ITER_TEST(traversal_of_many_entries_returns_each_exactly_once_at_every_table_size),
	ITER_TEST(keys_of_0_to_100_bytes_are_returned_once_with_their_exact_bytes),
	ITER_TEST(keys_sharing_a_32_bit_hash_are_returned_together_and_once),
	ITER_TEST(keys_at_both_ends_of_hash_space_are_returned_once_and_a_scan_resumes_at_any_position),
	ITER_TEST(scan_and_iterator_reject_invalid_arguments_and_change_nothing),
	ITER_TEST(scans_and_iterators_work_inside_the_callers_own_nested_read_sections),
};

const struct fx_group iter_plain_tests = FX_GROUP_OF(tests);
