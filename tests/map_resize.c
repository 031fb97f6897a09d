/* SPDX-License-Identifier: MIT */
/* map_resize.c: test_map's tables: stats, resize, barrier, validate, hashes, growth to a million and back. */

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
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/resource.h>

#include <cmocka.h>

#include <rcumap.h>

#include "fixture.h"
#include "map_tests.h"

/* ---- Stats, resize, barrier, validate ---------------------------------------------- */

static void stats_report_entries_slots_generations_resizes_and_balanced_reclamation(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 16, .nkeys = 16, .min_slots = 8 };
	struct rcumap_stats st0, st1, st2, st;

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 0, 5);
	fx_barrier(&f);
	st0 = stats_of(f.map);
	assert_size(st0.entries, 5);
	assert_size(st0.entries, rcumap_count(f.map));
	assert_int_equal(st0.resizing, 0);

	assert_rc(resize_retry(f.map, 64), 0);
	st1 = stats_of(f.map);
	assert_size(st1.slots, 64);
	assert_size(st1.generation, st0.generation + 1);
	assert_size(st1.grows, st0.grows + 1);
	assert_size(st1.shrinks, st0.shrinks);
	assert_int_equal(st1.resizing, 0);
	assert_size(st1.entries, 5);
	assert_true(st1.kind[RCUMAP_KIND_TABLE].retired > st0.kind[RCUMAP_KIND_TABLE].retired);
	fx_check(&f);

	assert_rc(resize_retry(f.map, 8), 0);
	st2 = stats_of(f.map);
	assert_size(st2.slots, 8);
	assert_size(st2.generation, st1.generation + 1);
	assert_size(st2.grows, st1.grows);
	assert_size(st2.shrinks, st1.shrinks + 1);
	assert_int_equal(st2.resizing, 0);
	fx_check(&f);

	assert_rc(fx_delete(&f, 0), 0);
	assert_rc(fx_put(&f, 1, 10), 0);
	fx_barrier(&f);
	st = stats_of(f.map);
	assert_size(st.entries, 4);
	assert_true(st.kind[RCUMAP_KIND_BUCKET].retired > st2.kind[RCUMAP_KIND_BUCKET].retired);
	for (int k = 0; k < RCUMAP_STATS_KINDS; k++)
		assert_true(st.kind[k].retired >= st0.kind[k].retired);
	fx_check_reclaimed(&f);
	assert_true(st.kind[RCUMAP_KIND_TABLE].retired >= 2);
	assert_true(st.kind[RCUMAP_KIND_TABLE].retired_bytes >= 64 * sizeof(void *));
	fx_check_frees(&f);
	fx_close(&f);
}

static void resizes_go_through_inside_a_read_section_and_old_generations_wait_for_it(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 40, .nkeys = 40, .min_slots = 8 };
	struct rcumap_stats st0, st;

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 0, 20);
	fx_barrier(&f);
	assert_rc(resize_retry(f.map, 16), 0);
	fx_barrier(&f);
	st0 = stats_of(f.map);

	/*
	 * Inside a read section taken before the grows, no generation they
	 * retire can be reclaimed, and none has to be: each resize starts and
	 * finishes at once (there is no gate), and readers follow any number
	 * of forwarding marks.
	 */
	test_reader_enter();
	assert_rc(rcumap_resize(f.map, 128), 0);
	assert_rc(rcumap_resize(f.map, 16), 0);
	assert_rc(rcumap_resize(f.map, 256), 0);
	st = stats_of(f.map);
	assert_size(st.slots, 256);
	assert_int_equal(st.resizing, 0);
	assert_int_equal(st.generation, st0.generation + 3);
	assert_rc(fx_insert(&f, 30, 30), 0);
	assert_rc(fx_delete(&f, 3), 0);
	assert_ptr_equal(rcumap_get(f.map, "zz", 2), NULL);
	{
		struct timespec ts = { 0, 30 * 1000000L };

		/* The call_rcu worker gets every chance to reclaim (qsbr: stays online). */
		nanosleep(&ts, NULL);
	}
	st = stats_of(f.map);
	assert_true(st.kind[RCUMAP_KIND_TABLE].reclaimed == st0.kind[RCUMAP_KIND_TABLE].reclaimed);
	assert_true(st.kind[RCUMAP_KIND_TABLE].retired == st0.kind[RCUMAP_KIND_TABLE].retired + 3);
	test_reader_leave();
	fx_check(&f);

	fx_barrier(&f);
	st = stats_of(f.map);
	assert_true(st.kind[RCUMAP_KIND_TABLE].reclaimed == st0.kind[RCUMAP_KIND_TABLE].reclaimed + 3);
	assert_rc(rcumap_resize(f.map, 16), 0);
	assert_size(stats_of(f.map).slots, 16);
	fx_check(&f);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	fx_close(&f);
}

static void resize_clamps_to_min_slots_and_same_size_resize_changes_nothing(void **state)
{
	struct fx f;
	struct fx_opts o = {
		.nvals = 40, .nkeys = 40, .min_slots = 16, .max_alloc = (size_t)256 << 20,
	};
	struct rcumap_stats st0, st;

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 0, 10);
	fx_barrier(&f);
	st0 = stats_of(f.map);
	assert_size(st0.slots, 16);
	assert_rc(rcumap_resize(f.map, 16), 0);
	assert_rc(rcumap_resize(f.map, 1), 0);  /* clamped up to min_slots */
	assert_rc(rcumap_resize(f.map, 0), 0);
	assert_rc(rcumap_resize(f.map, 9), 0);  /* rounds up to 16 */
	st = stats_of(f.map);
	assert_size(st.slots, 16);
	assert_size(st.generation, st0.generation);
	assert_size(st.grows, st0.grows);
	assert_size(st.shrinks, st0.shrinks);
	assert_size(st.kind[RCUMAP_KIND_TABLE].retired, st0.kind[RCUMAP_KIND_TABLE].retired);

	assert_rc(resize_retry(f.map, 17), 0);  /* rounds up to 32 */
	st = stats_of(f.map);
	assert_size(st.slots, 32);
	assert_size(st.generation, st0.generation + 1);
	fx_check(&f);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_close(&f);
}

/* The header: "clamped to [min_slots, RCUMAP_SLOTS_MAX]", so not -EINVAL. */
static void resize_above_slots_max_is_rejected_and_slots_max_reaches_the_allocator(void **state)
{
	struct fx f;
	struct fx_opts o = {
		.nvals = 40, .nkeys = 40, .min_slots = 16,
		.max_alloc = (size_t)256 << 20, /* a 2^31-slot table is refused */
	};
	const size_t too_big[] = { RCUMAP_SLOTS_MAX + 1, SIZE_MAX };

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 0, 10);
	fx_barrier(&f);
	/* The largest legal size is tried, and refused by the allocator. */
	assert_rc(rcumap_resize(f.map, RCUMAP_SLOTS_MAX), -ENOMEM);
	fx_check(&f);
	assert_size(stats_of(f.map).slots, 16);
	assert_true(atomic_load(&f.ca->refused_large) >= 1);
	/* Anything larger is bad input: -EINVAL, nothing allocated or changed. */
	for (size_t i = 0; i < sizeof(too_big) / sizeof(too_big[0]); i++) {
		assert_rc(rcumap_resize(f.map, too_big[i]), -EINVAL);
		fx_check(&f);
		assert_size(stats_of(f.map).slots, 16);
	}
	assert_true(atomic_load(&f.ca->refused_large) == 1);
	/* The map recovers: a later resize goes through. */
	assert_rc(resize_retry(f.map, 64), 0);
	assert_size(stats_of(f.map).slots, 64);
	fx_check(&f);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_close(&f);
}

/* Bytes of address space the process holds now (/proc/self/statm), or 0. */
static size_t address_space_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%lu", &pages) != 1)
		pages = 0;
	fclose(f);
	return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/*
 * Without a user allocator, large tables come from mmap, outside the
 * allocation hooks the other -ENOMEM tests use. The kernel's own refusal
 * (RLIMIT_AS) reaches that site: -ENOMEM, and the map is as it was.
 */
static void default_allocator_resize_returns_enomem_when_the_kernel_refuses_the_table(void **state)
{
	struct rcumap_config cfg = { .flavor = RCUMAP_FLAVOR, .min_slots = 16 };
	static int vals[500];
	struct rcumap *map = NULL;
	struct rlimit old, lim;
	size_t as = address_space_bytes();
	char key[16];
	int rc;

	(void)state;
	if (!as || getrlimit(RLIMIT_AS, &old))
		fail_msg("cannot read this process's address space or its limit");
	assert_rc(rcumap_create(&cfg, &map), 0);
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_rc(rcumap_insert(map, key, strlen(key), &vals[i]), 0);
	}
	assert_rc(resize_retry(map, 1024), 0);
	/* 64 MiB of room: the 2^26-slot table (512 MiB) cannot fit, buckets can. */
	lim = old;
	lim.rlim_cur = as + ((rlim_t)64 << 20);
	if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < lim.rlim_cur)
		lim.rlim_cur = old.rlim_cur;
	assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
	rc = rcumap_resize(map, (size_t)1 << 26);
	assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
	assert_rc(rc, -ENOMEM);
	assert_size(stats_of(map).slots, 1024);
	assert_int_equal(stats_of(map).resizing, 0);
	assert_size(rcumap_count(map), 500);
	assert_rc(rcumap_validate(map), 0);
	test_reader_enter();
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_ptr_equal(rcumap_get(map, key, strlen(key)), &vals[i]);
	}
	test_reader_leave();
	/* With the limit lifted, a mapped table (512 KiB) goes through. */
	assert_rc(resize_retry(map, (size_t)1 << 16), 0);
	assert_size(stats_of(map).slots, (size_t)1 << 16);
	assert_size(rcumap_count(map), 500);
	assert_rc(rcumap_validate(map), 0);
	test_offline();
	rc = rcumap_destroy(map);
	test_online();
	assert_rc(rc, 0);
}

static void barrier_waits_for_everything_retired_before_it(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 300, .nkeys = 200 };

	(void)state;
	fx_open(&f, &o);
	assert_rc(rcumap_barrier(f.map), 0); /* nothing retired yet */
	for (int round = 0; round < 3; round++) {
		fx_fill(&f, 0, 200);
		for (size_t i = 0; i < 200; i += 2)
			assert_rc(fx_delete(&f, i), 0);
		for (size_t i = 1; i < 100; i += 2)
			assert_rc(fx_put(&f, i, 200 + i), 0);
		fx_barrier(&f);
		/* No sleeping or polling: the barrier alone guarantees it. */
		fx_check_frees(&f);
		fx_check_reclaimed(&f);
		assert_rc(rcumap_clear(f.map), 0);
		fx_ref_clear(&f);
		fx_barrier(&f);
		fx_check_frees(&f);
		fx_check_reclaimed(&f);
		for (size_t i = 0; i < f.tr->n; i++) { /* reuse the pool next round */
			assert_int_equal(tval_freed(&f.tr->v[i]), f.tr->v[i].owned);
			atomic_store(&f.tr->v[i].freed, 0);
			f.tr->v[i].owned = false;
			f.tr->v[i].magic = TVAL_LIVE;
		}
		f.next_val = 0;
	}
	fx_close(&f);
}

static void removed_values_are_not_freed_while_the_caller_holds_a_read_section(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 20, .nkeys = 10 };
	struct tval *held[3];

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 0, 10);
	fx_barrier(&f);
	test_reader_enter();
	for (size_t i = 0; i < 3; i++) {
		unsigned char k[KEY_BUF];
		size_t len = key_make(i, k);

		held[i] = rcumap_get(f.map, k, len);
		assert_ptr_equal(held[i], fx_val(&f, i));
	}
	/* Updates are allowed inside a read section and never wait. */
	assert_rc(fx_delete(&f, 0), 0);
	assert_rc(fx_put(&f, 1, 11), 0);
	assert_rc(rcumap_clear(f.map), 0);
	fx_ref_clear(&f);
	/* Give the call_rcu worker time to try (it wakes about every 10 ms). */
	struct timespec ts = { 0, 40 * 1000000L };
	nanosleep(&ts, NULL); /* stays inside the section (qsbr: online) */
	for (size_t i = 0; i < 3; i++) {
		assert_true(held[i]->magic == TVAL_LIVE);
		assert_int_equal(tval_freed(held[i]), 0);
	}
	assert_int_equal(atomic_load(&f.tr->frees), 0);
	test_reader_leave();
	fx_barrier(&f);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(tval_freed(held[i]), 1);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	fx_close(&f);
}

static void validate_accepts_healthy_maps_and_rejects_a_null_map(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 3000, .nkeys = 3000, .min_slots = 1 };

	(void)state;
	assert_rc(rcumap_validate(NULL), -EINVAL);
	fx_open(&f, &o);
	assert_rc(rcumap_validate(f.map), 0);
	for (size_t i = 0; i < 3000; i++) {
		assert_rc(fx_insert(&f, i, i), 0);
		if (i % 97 == 0)
			assert_rc(rcumap_validate(f.map), 0);
	}
	fx_check(&f);
	fx_close(&f);
}

struct salted_hash {
	uint64_t salt;
};

static uint64_t hash_salted(const void *key, size_t len, void *arg)
{
	const struct salted_hash *h = arg;

	return mix64(fnv1a64(key, len) ^ h->salt);
}

/* Negative control for rcumap_validate: it must be able to fail. */
static void validate_reports_euclean_when_the_hash_changes_under_the_map(void **state)
{
	struct salted_hash h = { 1 };
	struct fx f;
	struct fx_opts o = {
		.nvals = 200, .nkeys = 200, .min_slots = 64, .hash = hash_salted, .hash_arg = &h,
	};

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 0, 200);
	fx_barrier(&f);
	assert_rc(rcumap_validate(f.map), 0);
	h.salt = 2; /* every entry now sits in the wrong slot, as far as validate knows */
	print_message("# an inconsistency report from rcumap_validate is expected here\n");
	assert_rc(rcumap_validate(f.map), -EUCLEAN);
	h.salt = 1;
	assert_rc(rcumap_validate(f.map), 0);
	fx_check(&f);
	fx_close(&f);
}

static uint64_t hash_constant(const void *key, size_t len, void *arg)
{
	(void)key, (void)len, (void)arg;
	return 0x0123456789abcdefull;
}

static uint64_t hash_low_half_only(const void *key, size_t len, void *arg)
{
	return hash_full(key, len, arg) & 0xffffffffull;
}

static uint64_t hash_high_half_only(const void *key, size_t len, void *arg)
{
	return hash_full(key, len, arg) & ~0xffffffffull;
}

static uint64_t hash_key_number(const void *key, size_t len, void *arg)
{
	(void)arg;
	return key_index(key, len); /* small integers: only the lowest bits vary */
}

static void custom_hash_functions_with_full_collisions_or_half_zero_bits_give_correct_results(void **state)
{
	static const struct {
		const char *name;
		uint64_t (*fn)(const void *, size_t, void *);
		size_t n;
	} hashes[] = {
		{ "constant", hash_constant, 300 },
		{ "low half only", hash_low_half_only, 2000 },
		{ "high half only", hash_high_half_only, 2000 },
		{ "key number", hash_key_number, 2000 },
		{ "pairs", hash_pairs, 2000 },
	};

	(void)state;
	for (size_t h = 0; h < sizeof(hashes) / sizeof(hashes[0]); h++) {
		size_t n = hashes[h].n;
		struct fx f;
		struct fx_opts o = { .nvals = 3 * n, .nkeys = n + 10, .hash = hashes[h].fn };

		print_message("# hash: %s\n", hashes[h].name);
		fx_open(&f, &o);
		fx_fill(&f, 0, n);
		fx_check(&f);
		for (size_t i = 0; i < n; i += 3)
			assert_rc(fx_delete(&f, i), 0);
		for (size_t i = 1; i < n; i += 5)
			assert_rc(fx_put(&f, i, n + i), 0);
		for (size_t i = 0; i < n; i += 6) { /* reinsert with fresh values */
			int want = f.ref[i] ? -EEXIST : 0; /* put may have re-added it */

			assert_rc(fx_insert(&f, i, 2 * n + i), want);
		}
		for (size_t i = n; i < n + 10; i++)
			assert_rc(fx_delete(&f, i), -ENOENT);
		fx_check(&f);
		assert_rc(resize_retry(f.map, 1024), 0);
		fx_check(&f);
		assert_rc(resize_retry(f.map, 8), 0);
		fx_check(&f);
		assert_rc(rcumap_clear(f.map), 0);
		fx_ref_clear(&f);
		fx_check(&f);
		fx_barrier(&f);
		fx_check_frees(&f);
		fx_close(&f);
	}
}

struct hash_probe {
	atomic_ulong calls;
	atomic_ulong bad;
	size_t want_len;
	atomic_ulong calls_with_len;
};

static uint64_t hash_probing(const void *key, size_t len, void *arg)
{
	struct hash_probe *p = arg;

	atomic_fetch_add(&p->calls, 1);
	if (len && !key)
		atomic_fetch_add(&p->bad, 1);
	if (len == p->want_len && memcmp(key, "thirteen-byte", 13) == 0)
		atomic_fetch_add(&p->calls_with_len, 1);
	return hash_full(key, len, NULL);
}

static void custom_hash_receives_the_key_its_length_and_hash_arg(void **state)
{
	struct hash_probe p = { .want_len = 13 };
	struct fx f;
	struct fx_opts o = { .nvals = 4, .nkeys = 1, .hash = hash_probing, .hash_arg = &p };

	(void)state;
	fx_open(&f, &o);
	assert_rc(rcumap_insert(f.map, "thirteen-byte", 13, fx_val(&f, 0)), 0);
	fx_val(&f, 0)->owned = fx_val(&f, 0)->in_map = true;
	assert_true(atomic_load(&p.calls_with_len) >= 1);
	assert_ptr_equal(get_locked(f.map, "thirteen-byte", 13), fx_val(&f, 0));
	assert_true(atomic_load(&p.calls_with_len) >= 2);
	assert_int_equal(atomic_load(&p.bad), 0);
	fx_close(&f);
}

/* ---- Growing and shrinking through many generations ------------------------------- */

/*
 * One thread inserting or deleting flat out would outrun the resize gate:
 * fx_pace (testlib/fixture.c) waits for reclamation when the table looks
 * stuck.
 */

static void grow_to_a_million_entries_and_shrink_back_keeps_every_entry_intact(void **state)
{
	const size_t n = under_valgrind() ? 50000 : 1000000;
	const size_t keep = 100, extra = 2048, small = 1024;
	struct fx f;
	struct fx_opts o = { .nvals = n + extra, .nkeys = n, .min_slots = 1 };
	struct rcumap_stats st;
	size_t since = 0, next_check = 1, peak_slots = 0, next_val = n, count;
	size_t *perm = malloc(n * sizeof(*perm));
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	double t0 = now_seconds();

	(void)state;
	assert_non_null(perm);
	fx_open(&f, &o);
	st = stats_of(f.map);
	assert_size(st.slots, 1);

	/* Grow: check at every doubling of the count. */
	for (size_t i = 0; i < n; i++) {
		assert_rc(fx_insert(&f, i, i), 0);
		fx_pace(&f, &since);
		count = i + 1;
		if (count == next_check || count == n) {
			fx_barrier(&f);
			since = 0;
			/* present [0, count), absent [count, 2 count) */
			fx_check_range(&f, 0, count * 2 < n ? count * 2 : n, 1);
			assert_rc(rcumap_validate(f.map), 0);
			st = stats_of(f.map);
			assert_size(st.entries, count);
			if (st.slots > peak_slots)
				peak_slots = st.slots;
			next_check *= 2;
		}
	}
	st = stats_of(f.map);
	if (st.slots > peak_slots)
		peak_slots = st.slots;
	print_message("# grown to %zu entries: %zu slots, generation %llu, %llu grows, %.1f s\n",
		      n, st.slots, (unsigned long long)st.generation,
		      (unsigned long long)st.grows, now_seconds() - t0);
	assert_true(st.grows > 0);
	if (peak_slots < n / 64)
		fail_msg("%zu entries in only %zu slots", n, peak_slots);

	/* Shrink: delete in a random order down to `keep`, check at every halving. */
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = rng_next(&seed) % (i + 1), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	next_check = n / 2;
	for (size_t i = 0, last = 0; i < n - keep; i++) {
		assert_rc(fx_delete(&f, perm[i]), 0);
		fx_pace(&f, &since);
		count = n - i - 1;
		if (count == next_check || count == keep) {
			fx_barrier(&f);
			since = 0;
			/* Deleted since the last check and still present: all of
			 * them; deleted earlier: a sample. */
			fx_check_range(&f, 0, 0, 1); /* the count */
			fx_check_keys(&f, perm + last, n - last, 1);
			fx_check_keys(&f, perm, last, 61);
			last = i + 1;
			assert_rc(rcumap_validate(f.map), 0);
			assert_size(stats_of(f.map).entries, count);
			fx_check_frees(&f);
			next_check /= 2;
		}
	}

	/*
	 * The automatic policy runs on updates: keep updating the survivors
	 * (delete and reinsert with fresh values) until the table settles.
	 */
	for (int round = 0; round < 64; round++) {
		fx_barrier(&f);
		st = stats_of(f.map);
		if (!st.resizing && st.slots <= small)
			break;
		for (size_t j = 0; j < 16 && next_val < n + extra; j++) {
			size_t key = perm[n - keep + (round * 16 + j) % keep];

			assert_rc(fx_delete(&f, key), 0);
			assert_rc(fx_insert(&f, key, next_val++), 0);
		}
	}
	st = stats_of(f.map);
	print_message("# shrunk to %zu entries: %zu slots (peak %zu), %llu shrinks, %.1f s\n",
		      keep, st.slots, peak_slots, (unsigned long long)st.shrinks, now_seconds() - t0);
	assert_true(st.shrinks > 0);
	if (st.slots > small)
		fail_msg("%zu entries still spread over %zu slots", keep, st.slots);
	fx_check(&f);

	/* Forced resizes at the small end. */
	assert_rc(resize_retry(f.map, 16), 0);
	assert_size(stats_of(f.map).slots, 16);
	fx_check(&f);
	assert_rc(resize_retry(f.map, 1), 0);
	assert_size(stats_of(f.map).slots, 1);
	fx_check(&f);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	fx_close(&f);
	free(perm);
}

/*
 * Fail the migration of a forced resize part way (persistent failure from
 * call `m` on) until one attempt leaves it pending; returns whether one did.
 * Attempts that fail before anything is pending change nothing and are
 * retried with a later failure point.
 */
bool leave_migration_pending(struct fx *f, size_t slots)
{
	for (unsigned long m = 0; m < 10000; m++) {
		struct rcumap_stats st;
		int rc = fx_resize_failing(f, slots, m);

		if (rc == -EBUSY) {
			fx_barrier(f);
			m--;
			continue;
		}
		if (rc == 0)
			return false; /* completed without needing call m */
		assert_rc(rc, -ENOMEM);
		fx_check(f);      /* contents unchanged either way */
		st = stats_of(f->map);
		if (st.resizing)
			return true;
	}
	fail_msg("resize kept failing without leaving a migration pending");
	return false;
}

static void pending_migration_after_enomem_is_resumed_by_later_updates(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 4000, .nkeys = 64, .hash = hash_pairs, .min_slots = 8 };
	struct rcumap_stats st0, st;
	size_t next_val = 64, updates = 0;

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 0, 64);
	fx_barrier(&f);
	assert_rc(resize_retry(f.map, 8), 0);
	fx_barrier(&f);
	st0 = stats_of(f.map);
	assert_true(leave_migration_pending(&f, 256));
	fx_check(&f);
	st = stats_of(f.map);
	assert_int_equal(st.resizing, 1);
	assert_size(st.entries, 64);

	/* Plain updates, no failures: the migration must finish. */
	while (stats_of(f.map).resizing && next_val < 4000) {
		assert_rc(fx_put(&f, updates % 64, next_val++), 0);
		updates++;
		if (updates % 16 == 0)
			fx_check(&f);
	}
	st = stats_of(f.map);
	print_message("# pending migration finished after %zu updates\n", updates);
	assert_int_equal(st.resizing, 0);
	assert_true(st.grows > st0.grows);
	assert_true(st.generation > st0.generation);
	fx_check(&f);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	fx_close(&f);
}

/* ---- rcumap_resize's -EBUSY: only while another resize or clear runs ------------ */

/* A churning thread for the two tests below: clears, or inserts and deletes. */
struct churn {
	struct rcumap *map;
	int clear;          /* 1: insert 1000 keys and clear, over and over */
	int stop;
	unsigned long rounds;
	int rc;             /* the first unexpected return code, 0 if none */
	pthread_t tid;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	uint64_t base = 0;

	test_thread_register();
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE) && !c->rc) {
		for (uint64_t i = 0; i < 1000 && !c->rc; i++) {
			uint64_t k = base + i;
			int rc = rcumap_put(c->map, &k, sizeof(k), (void *)(uintptr_t)(2 * k + 1));

			if (rc)
				c->rc = rc;
		}
		if (c->clear) {
			int rc = rcumap_clear(c->map);

			if (rc && !c->rc)
				c->rc = rc;
		} else {
			for (uint64_t i = 0; i < 1000; i++) {
				uint64_t k = base + i;

				(void)rcumap_delete(c->map, &k, sizeof(k));
			}
			base += 1000;
		}
		c->rounds++;
		test_quiesce();
	}
	test_thread_unregister();
	return NULL;
}

/* Call rcumap_resize(map, slots) for about half a second beside c; returns how many calls gave -EBUSY. */
static unsigned long resize_beside(struct churn *c, size_t slots, unsigned long *calls)
{
	unsigned long busy = 0;
	double end = now_seconds() + (under_valgrind() ? 2.0 : 0.5);
	int rc;

	*calls = 0;
	assert_int_equal(pthread_create(&c->tid, NULL, churn_main, c), 0);
	while (now_seconds() < end) {
		rc = rcumap_resize(c->map, slots);
		if (rc == -EBUSY)
			busy++;
		else
			assert_rc(rc, 0);
		(*calls)++;
		test_quiesce();
	}
	__atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
	test_offline();
	assert_int_equal(pthread_join(c->tid, NULL), 0);
	test_online();
	assert_rc(c->rc, 0);
	return busy;
}

/*
 * While another thread clears the map over and over, rcumap_resize to the
 * size the table already has, with no migration pending, has nothing to do:
 * it returns 0 every time (it used to return -EBUSY whenever it met the
 * clear). min_slots keeps the table at one size: 1000 keys never grow it.
 */
static void resize_to_the_current_size_during_a_clear_returns_0(void **state)
{
	struct rcumap_config cfg = { .flavor = RCUMAP_FLAVOR, .min_slots = 4096 };
	struct churn c = { .clear = 1 };
	unsigned long calls, busy;

	(void)state;
	assert_rc(rcumap_create(&cfg, &c.map), 0);
	busy = resize_beside(&c, 4096, &calls);
	if (busy)
		fail_msg("rcumap_resize to the current size returned -EBUSY %lu times in %lu "
			 "calls beside %lu clears", busy, calls, c.rounds);
	assert_true(calls > 0 && c.rounds > 0);
	assert_rc(rcumap_barrier(c.map), 0);
	assert_rc(rcumap_destroy(c.map), 0);
}

/*
 * Updates that move migrations on hold the migration lock for one chunk at
 * a time: rcumap_resize waits for them and never returns -EBUSY, whatever
 * the size asked for.
 */
static void resize_waits_for_updates_moving_a_migration_on(void **state)
{
	struct rcumap_config cfg = { .flavor = RCUMAP_FLAVOR };
	struct churn c = { .clear = 0 };
	unsigned long calls, busy;

	(void)state;
	assert_rc(rcumap_create(&cfg, &c.map), 0);
	busy = resize_beside(&c, 0, &calls);
	if (busy)
		fail_msg("rcumap_resize returned -EBUSY %lu times in %lu calls beside updates "
			 "alone (%lu rounds)", busy, calls, c.rounds);
	assert_true(calls > 0 && c.rounds > 0);
	assert_rc(rcumap_validate(c.map), 0);
	assert_rc(rcumap_barrier(c.map), 0);
	assert_rc(rcumap_destroy(c.map), 0);
}

static const struct CMUnitTest tests[] = {
	MAP_TEST(stats_report_entries_slots_generations_resizes_and_balanced_reclamation),
	MAP_TEST(resizes_go_through_inside_a_read_section_and_old_generations_wait_for_it),
	MAP_TEST(resize_clamps_to_min_slots_and_same_size_resize_changes_nothing),
	MAP_TEST(resize_above_slots_max_is_rejected_and_slots_max_reaches_the_allocator),
	MAP_TEST(default_allocator_resize_returns_enomem_when_the_kernel_refuses_the_table),
	MAP_TEST(barrier_waits_for_everything_retired_before_it),
	MAP_TEST(removed_values_are_not_freed_while_the_caller_holds_a_read_section),
	MAP_TEST(validate_accepts_healthy_maps_and_rejects_a_null_map),
	MAP_TEST(validate_reports_euclean_when_the_hash_changes_under_the_map),
	MAP_TEST(custom_hash_functions_with_full_collisions_or_half_zero_bits_give_correct_results),
	MAP_TEST(custom_hash_receives_the_key_its_length_and_hash_arg),
	/* resizing at scale */
	MAP_TEST(grow_to_a_million_entries_and_shrink_back_keeps_every_entry_intact),
	MAP_TEST(pending_migration_after_enomem_is_resumed_by_later_updates),
	/* concurrent resizes */
	MAP_TEST(resize_to_the_current_size_during_a_clear_returns_0),
	MAP_TEST(resize_waits_for_updates_moving_a_migration_on),
};

const struct fx_group map_resize_tests = FX_GROUP_OF(tests);
