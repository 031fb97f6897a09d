/* SPDX-License-Identifier: MIT */
/* test_map.c: cmocka unit tests of the rcumap API, built once per liburcu flavor. */

/*
 * Build with one of -DRCUMAP_TEST_FLAVOR_MEMB / _QSBR / _BP (see flavor.h).
 * Environment:
 *   RCUMAP_TEST_VALGRIND=1  scale the large tests down for a valgrind run.
 *   RCUMAP_TEST_SEED=N      replay the smoke test's random choices.
 *   RCUMAP_TEST_MAP_FILTER=GLOB  run only the tests whose names match
 *                           (torture/run.sh negative runs the batch tests
 *                           alone against tests/test_map_broken_batch).
 *   RCUMAP_TEST_MAP_SKIP=GLOB    do not run the tests whose names match
 *                           (scripts/check-cross.sh: what qemu-user cannot
 *                           emulate).
 *   CMOCKA_MESSAGE_OUTPUT=TAP  for automake's tap-driver.
 *
 * Rules the tests keep:
 * - cmocka asserts run on the test thread only; worker threads record.
 * - The test thread is registered (qsbr: online) for the whole run. A read
 *   section is test_reader_enter/leave (qsbr: online, no quiescent state).
 *   Before blocking on anything but RCU it goes offline (qsbr only).
 * - Every map is checked at destroy: each value the map ever owned was passed
 *   to free_value exactly once and no other value was, and every byte the map
 *   allocated through the counting allocator was freed with the size and kind
 *   it was allocated with.
 */

#define _GNU_SOURCE

#include "flavor.h" /* first: the liburcu flavor header */

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rcumap.h>

#include "harness.h"
#include "testutil.h"

/* ---- Small utilities -------------------------------------------------------- */

/* Sleep without stalling grace periods (qsbr goes offline meanwhile). */
static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	test_offline();
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	test_online();
}

/* A lookup in its own read section: for comparing pointers only. */
static void *get_locked(struct rcumap *map, const void *key, size_t len)
{
	void *v;

	test_reader_enter();
	v = rcumap_get(map, key, len);
	test_reader_leave();
	return v;
}

static struct rcumap_stats stats_of(struct rcumap *map)
{
	struct rcumap_stats st;

	memset(&st, 0xa5, sizeof(st));
	assert_rc(rcumap_stats(map, &st), 0);
	return st;
}

/* ---- Fixture: a map, its counting allocator, a value pool, a reference ----- */

struct fx_opts {
	size_t nvals;       /* pool values */
	size_t nkeys;       /* key numbers the reference tracks */
	size_t min_slots;
	uint64_t (*hash)(const void *key, size_t len, void *arg);
	void *hash_arg;
	bool no_free_value;
	size_t max_alloc;   /* counting allocator refuses larger requests */
};

/*
 * The allocator and tracker live on the heap, not in the test's frame: if a
 * test fails (cmocka longjmps out), its map is leaked with callbacks still
 * pending, and those must not write into a reused stack. They are freed only
 * after a successful destroy.
 */
struct fx {
	struct rcumap *map;
	struct count_alloc *ca;
	struct tracker *tr;
	struct tval **ref;  /* ref[i]: value stored for key i, NULL when absent */
	size_t nkeys;
	struct rcumap_config cfg;
};

static void fx_open(struct fx *f, const struct fx_opts *o)
{
	memset(f, 0, sizeof(*f));
	f->ca = malloc(sizeof(*f->ca));
	f->tr = malloc(sizeof(*f->tr));
	assert_non_null(f->ca);
	assert_non_null(f->tr);
	ca_init(f->ca);
	f->ca->max_size = o->max_alloc;
	tracker_init(f->tr, o->nvals);
	assert_size(f->tr->n, o->nvals);
	f->nkeys = o->nkeys;
	f->ref = calloc(o->nkeys ? o->nkeys : 1, sizeof(*f->ref));
	assert_non_null(f->ref);

	f->cfg.flavor = RCUMAP_FLAVOR;
	if (!o->no_free_value) {
		f->cfg.free_value = tracker_free_value;
		f->cfg.free_value_arg = f->tr;
	}
	f->cfg.hash = o->hash;
	f->cfg.hash_arg = o->hash_arg;
	f->cfg.min_slots = o->min_slots;
	f->cfg.alloc = ca_alloc;
	f->cfg.free = ca_free;
	f->cfg.alloc_arg = f->ca;
	assert_rc(rcumap_create(&f->cfg, &f->map), 0);
	assert_non_null(f->map);
}

static struct tval *fx_val(struct fx *f, size_t i)
{
	assert_true(i < f->tr->n);
	return &f->tr->v[i];
}

/* The test's record of a successful store of v (NULL: removal) for key i. */
static void fx_ref_set(struct fx *f, size_t i, struct tval *v)
{
	assert_true(i < f->nkeys);
	if (f->ref[i])
		f->ref[i]->in_map = false;
	f->ref[i] = v;
	if (v) {
		v->owned = true;
		v->in_map = true;
	}
}

static void fx_ref_clear(struct fx *f)
{
	for (size_t i = 0; i < f->nkeys; i++)
		fx_ref_set(f, i, NULL);
}

static int fx_insert(struct fx *f, size_t key, size_t val)
{
	unsigned char k[KEY_BUF];
	size_t len = key_make(key, k);
	struct tval *v = fx_val(f, val);
	int rc = rcumap_insert(f->map, k, len, v);

	if (rc == 0)
		fx_ref_set(f, key, v);
	return rc;
}

static int fx_put(struct fx *f, size_t key, size_t val)
{
	unsigned char k[KEY_BUF];
	size_t len = key_make(key, k);
	struct tval *v = fx_val(f, val);
	int rc = rcumap_put(f->map, k, len, v);

	if (rc == 0)
		fx_ref_set(f, key, v);
	return rc;
}

static int fx_delete(struct fx *f, size_t key)
{
	unsigned char k[KEY_BUF];
	size_t len = key_make(key, k);
	int rc = rcumap_delete(f->map, k, len);

	if (rc == 0)
		fx_ref_set(f, key, NULL);
	return rc;
}

static struct tval *fx_get(struct fx *f, size_t key)
{
	unsigned char k[KEY_BUF];
	size_t len = key_make(key, k);

	return get_locked(f->map, k, len);
}

/* Populate keys [0, n) with values [0, n). */
static void fx_fill(struct fx *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_rc(fx_insert(f, i, i), 0);
		if ((i & 1023) == 1023)
			test_quiesce();
	}
}

static void fx_barrier(struct fx *f)
{
	assert_rc(rcumap_barrier(f->map), 0);
}

/*
 * The map holds exactly the reference: every tracked key maps to its value,
 * and the count equals the number of present keys (so nothing else is in it;
 * rcumap_validate rules out duplicates). Checks keys [lo, hi) only when asked
 * to, for the large test; the count is always checked.
 */
static void fx_check_range(struct fx *f, size_t lo, size_t hi, size_t stride)
{
	unsigned char k[KEY_BUF];
	size_t present = 0;

	for (size_t i = 0; i < f->nkeys; i++)
		present += f->ref[i] != NULL;
	assert_size(rcumap_count(f->map), present);

	test_reader_enter();
	for (size_t i = lo; i < hi; i += stride) {
		size_t len = key_make(i, k);
		void *got = rcumap_get(f->map, k, len);

		if (got != f->ref[i]) {
			test_reader_leave();
			fail_msg("key %zu: got %p (value %zd), expected %p (value %zd)", i,
				 got, got ? (ssize_t)((struct tval *)got)->id : -1,
				 (void *)f->ref[i], f->ref[i] ? (ssize_t)f->ref[i]->id : -1);
		}
		if (got && ((struct tval *)got)->magic != TVAL_LIVE) {
			test_reader_leave();
			fail_msg("key %zu: value %zu was freed while stored", i,
				 ((struct tval *)got)->id);
		}
		if ((i & 1023) == 1023) { /* keep read sections short */
			test_reader_leave();
			test_quiesce();
			test_reader_enter();
		}
	}
	test_reader_leave();
}

/* As fx_check_range, for the keys listed (every stride-th of them). */
static void fx_check_keys(struct fx *f, const size_t *keys, size_t n, size_t stride)
{
	unsigned char k[KEY_BUF];

	test_reader_enter();
	for (size_t j = 0; j < n; j += stride) {
		size_t i = keys[j], len = key_make(i, k);
		void *got = rcumap_get(f->map, k, len);

		if (got != f->ref[i]) {
			test_reader_leave();
			fail_msg("key %zu: got %p, expected %p", i, got, (void *)f->ref[i]);
		}
		if ((j & 1023) == 1023) {
			test_reader_leave();
			test_quiesce();
			test_reader_enter();
		}
	}
	test_reader_leave();
}

static void fx_check(struct fx *f)
{
	fx_check_range(f, 0, f->nkeys, 1);
	assert_rc(rcumap_validate(f->map), 0);
}

/*
 * After a barrier: each value was passed to free_value once if the map owned
 * it and no longer holds it, never otherwise.
 */
static void fx_check_frees(struct fx *f)
{
	assert_size(atomic_load(&f->tr->errors), 0);
	for (size_t i = 0; i < f->tr->n; i++) {
		struct tval *v = &f->tr->v[i];
		unsigned want = v->owned && !v->in_map;

		if (tval_freed(v) != want)
			fail_msg("value %zu: freed %u times, expected %u (owned %d, in map %d)",
				 i, tval_freed(v), want, v->owned, v->in_map);
	}
}

/* After a barrier on a quiet map: everything retired has been reclaimed. */
static void fx_check_reclaimed(struct fx *f)
{
	struct rcumap_stats st = stats_of(f->map);

	for (int k = 0; k < RCUMAP_STATS_KINDS; k++) {
		if (st.kind[k].retired != st.kind[k].reclaimed ||
		    st.kind[k].retired_bytes != st.kind[k].reclaimed_bytes)
			fail_msg("kind %d: retired %llu (%llu bytes), reclaimed %llu (%llu bytes)",
				 k, (unsigned long long)st.kind[k].retired,
				 (unsigned long long)st.kind[k].retired_bytes,
				 (unsigned long long)st.kind[k].reclaimed,
				 (unsigned long long)st.kind[k].reclaimed_bytes);
	}
}

static void ca_check_balanced(struct count_alloc *ca)
{
	assert_size(atomic_load(&ca->errors), 0);
	assert_size(atomic_load(&ca->allocs), atomic_load(&ca->frees));
	assert_size(atomic_load(&ca->alloc_bytes), atomic_load(&ca->free_bytes));
	for (int k = 0; k < CA_KINDS; k++)
		if (atomic_load(&ca->kind_allocs[k]) != atomic_load(&ca->kind_frees[k]))
			fail_msg("kind %d: %lu allocations, %lu frees", k,
				 atomic_load(&ca->kind_allocs[k]),
				 atomic_load(&ca->kind_frees[k]));
}

static void fx_free(struct fx *f)
{
	tracker_fini(f->tr);
	free(f->tr);
	free(f->ca);
	free(f->ref);
	f->tr = NULL;
	f->ca = NULL;
	f->ref = NULL;
}

/* Destroy the map and check that it released every value and byte exactly once. */
static void fx_close(struct fx *f)
{
	assert_rc(rcumap_destroy(f->map), 0);
	f->map = NULL;
	for (size_t i = 0; i < f->tr->n; i++)
		f->tr->v[i].in_map = false;
	if (f->cfg.free_value) {
		fx_check_frees(f);
	} else {
		for (size_t i = 0; i < f->tr->n; i++)
			assert_int_equal(tval_freed(&f->tr->v[i]), 0);
	}
	ca_check_balanced(f->ca);
	assert_true(atomic_load(&f->ca->allocs) > 0); /* the allocator was really used */
	fx_free(f);
}

/* ---- Harness self-checks (negative controls for the instruments) ---------------- */

static void harness_detects_double_free_foreign_values_and_leaks(void **state)
{
	struct tracker t;
	struct count_alloc ca;
	struct tval foreign = { .magic = TVAL_LIVE };
	void *p;

	(void)state;
	print_message("# the double free, foreign value and bad size/kind reports below are expected\n");
	tracker_init(&t, 4);
	tracker_free_value(&t.v[1], &t);
	assert_int_equal(atomic_load(&t.errors), 0);
	assert_int_equal(tval_freed(&t.v[1]), 1);
	tracker_free_value(&t.v[1], &t); /* double free */
	assert_int_equal(atomic_load(&t.errors), 2); /* counted twice and dead magic */
	tracker_free_value(&foreign, &t);
	assert_int_equal(atomic_load(&t.errors), 3);
	tracker_fini(&t);

	ca_init(&ca);
	p = ca_alloc(24, RCUMAP_KIND_BUCKET, &ca);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % 16, 0);
	assert_true(atomic_load(&ca.allocs) != atomic_load(&ca.frees)); /* a leak shows */
	ca_free(p, 32, RCUMAP_KIND_BUCKET, &ca); /* wrong size: caught, not freed */
	assert_int_equal(atomic_load(&ca.errors), 1);
	ca_free(p, 24, RCUMAP_KIND_BUCKET, &ca);
	p = ca_alloc(24, RCUMAP_KIND_ENTRY, &ca);
	ca_free(p, 24, RCUMAP_KIND_TABLE, &ca); /* wrong kind: caught, not freed */
	assert_int_equal(atomic_load(&ca.errors), 2);
	ca_free(p, 24, RCUMAP_KIND_ENTRY, &ca);
	assert_size(atomic_load(&ca.allocs), atomic_load(&ca.frees));

	ca_init(&ca);
	ca_arm(&ca, 1, false);
	p = ca_alloc(8, RCUMAP_KIND_MAP, &ca);
	assert_non_null(p);
	assert_null(ca_alloc(8, RCUMAP_KIND_MAP, &ca)); /* call 1 fails once */
	void *q = ca_alloc(8, RCUMAP_KIND_MAP, &ca);
	assert_non_null(q);
	assert_int_equal(ca_disarm(&ca), 1);
	ca_arm(&ca, 0, true);
	assert_null(ca_alloc(8, RCUMAP_KIND_MAP, &ca));
	assert_null(ca_alloc(8, RCUMAP_KIND_MAP, &ca));
	assert_int_equal(ca_disarm(&ca), 2);
	ca_free(p, 8, RCUMAP_KIND_MAP, &ca);
	ca_free(q, 8, RCUMAP_KIND_MAP, &ca);
	ca_check_balanced(&ca);
}

/*
 * Negative control for the premature-free detectors (per-value free counters
 * and poisoned magic, used by the read-section tests): a flavor whose
 * call_rcu runs the callback at once, skipping the grace period, must trip
 * them. rcutorture ships a broken RCU for the same reason.
 */
static void call_rcu_without_grace_period(struct rcu_head *head,
					  void (*func)(struct rcu_head *head))
{
	func(head);
}

static void premature_free_detectors_fire_on_a_flavor_without_grace_periods(void **state)
{
	struct rcu_flavor_struct broken = *RCUMAP_FLAVOR;
	struct tracker *tr = malloc(sizeof(*tr));
	struct rcumap_config cfg = { .free_value = tracker_free_value };
	struct rcumap *map = NULL;
	struct tval *held;

	(void)state;
	assert_non_null(tr);
	broken.update_call_rcu = call_rcu_without_grace_period;
	tracker_init(tr, 4);
	cfg.flavor = &broken;
	cfg.free_value_arg = tr;
	assert_rc(rcumap_create(&cfg, &map), 0);
	assert_rc(rcumap_insert(map, "k", 1, &tr->v[0]), 0);

	test_reader_enter();
	held = rcumap_get(map, "k", 1);
	assert_ptr_equal(held, &tr->v[0]);
	assert_rc(rcumap_delete(map, "k", 1), 0);
	/* The detectors the real tests use, tripped while the value is held: */
	assert_int_equal(tval_freed(held), 1);
	assert_true(held->magic == TVAL_DEAD);
	test_reader_leave();

	/* Offline: the library recognises qsbr by the flavor's address, and
	 * this copy is not it, so an online qsbr thread would get -EDEADLK. */
	test_offline();
	int rc = rcumap_destroy(map);
	test_online();
	assert_rc(rc, 0);
	assert_int_equal(atomic_load(&tr->errors), 0);
	tracker_fini(tr);
	free(tr);
}

/* ---- Creation and destruction -------------------------------------------------- */

static int sentinel_object;
#define SENTINEL_MAP ((struct rcumap *)(void *)&sentinel_object)

static void create_rejects_null_config_out_or_flavor_and_leaves_out_untouched(void **state)
{
	struct rcumap_config cfg = { .flavor = RCUMAP_FLAVOR };
	struct rcumap *m = SENTINEL_MAP;

	(void)state;
	assert_rc(rcumap_create(NULL, &m), -EINVAL);
	assert_ptr_equal(m, SENTINEL_MAP);
	assert_rc(rcumap_create(&cfg, NULL), -EINVAL);
	cfg.flavor = NULL;
	assert_rc(rcumap_create(&cfg, &m), -EINVAL);
	assert_ptr_equal(m, SENTINEL_MAP);
}

static void create_rejects_alloc_without_free_and_free_without_alloc(void **state)
{
	struct count_alloc ca;
	struct rcumap_config cfg = { .flavor = RCUMAP_FLAVOR, .alloc_arg = &ca };
	struct rcumap *m = SENTINEL_MAP;

	(void)state;
	ca_init(&ca);
	cfg.alloc = ca_alloc;
	assert_rc(rcumap_create(&cfg, &m), -EINVAL);
	assert_ptr_equal(m, SENTINEL_MAP);
	cfg.alloc = NULL;
	cfg.free = ca_free;
	assert_rc(rcumap_create(&cfg, &m), -EINVAL);
	assert_ptr_equal(m, SENTINEL_MAP);
	assert_int_equal(atomic_load(&ca.allocs), 0);
	assert_int_equal(atomic_load(&ca.calls), 0);
}

static void create_rejects_min_slots_above_slots_max_but_accepts_slots_max(void **state)
{
	struct count_alloc ca;
	struct rcumap_config cfg = {
		.flavor = RCUMAP_FLAVOR, .alloc = ca_alloc, .free = ca_free, .alloc_arg = &ca,
	};
	struct rcumap *m = SENTINEL_MAP;
	const size_t bad[] = { RCUMAP_SLOTS_MAX + 1, RCUMAP_SLOTS_MAX * 2, SIZE_MAX };
	const size_t huge[] = { RCUMAP_SLOTS_MAX, RCUMAP_SLOTS_MAX - 1 };

	(void)state;
	ca_init(&ca);
	ca.max_size = (size_t)1 << 28; /* a 2^31-slot table cannot be had */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.min_slots = bad[i];
		assert_rc(rcumap_create(&cfg, &m), -EINVAL);
		assert_ptr_equal(m, SENTINEL_MAP);
	}
	/* Valid, only too big for this allocator: -ENOMEM, not -EINVAL. */
	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		cfg.min_slots = huge[i];
		assert_rc(rcumap_create(&cfg, &m), -ENOMEM);
		assert_ptr_equal(m, SENTINEL_MAP);
	}
	assert_true(atomic_load(&ca.refused_large) >= 2);
	ca_check_balanced(&ca);
}

/* An allocator that breaks the 16-byte contract for buckets: 8 past a 16-byte boundary. */
struct misalign {
	long live;
	unsigned long refused;  /* misaligned buckets handed out */
};

static void *misalign_alloc(size_t size, enum rcumap_kind kind, void *arg)
{
	struct misalign *m = arg;
	char *p = aligned_alloc(16, size + 16);

	if (!p)
		return NULL;
	m->live++;
	if (kind != RCUMAP_KIND_BUCKET)
		return p;
	m->refused++;
	return p + 8;
}

static void misalign_free(void *ptr, size_t size, enum rcumap_kind kind, void *arg)
{
	struct misalign *m = arg;

	(void)size;
	m->live--;
	free(kind == RCUMAP_KIND_BUCKET ? (char *)ptr - 8 : ptr);
}

static void update_refuses_a_misaligned_bucket_with_enomem_and_changes_nothing(void **state)
{
	struct misalign m = { 0 };
	struct rcumap_config cfg = {
		.flavor = RCUMAP_FLAVOR, .alloc = misalign_alloc, .free = misalign_free,
		.alloc_arg = &m,
	};
	struct rcumap *map = NULL;
	uint64_t k = 42;

	(void)state;
	assert_rc(rcumap_create(&cfg, &map), 0);
	assert_rc(rcumap_insert(map, &k, sizeof(k), &m), -ENOMEM);
	assert_rc(rcumap_put(map, &k, sizeof(k), &m), -ENOMEM);
	assert_true(m.refused >= 2);
	assert_null(get_locked(map, &k, sizeof(k)));
	assert_size(rcumap_count(map), 0);
	assert_rc(rcumap_validate(map), 0);
	assert_rc(rcumap_destroy(map), 0);
	assert_int_equal(m.live, 0);
}

static void create_rounds_min_slots_up_to_a_power_of_two_and_defaults_to_eight(void **state)
{
	static const struct { size_t min, slots; } cases[] = {
		{ 0, 8 }, { 1, 1 }, { 2, 2 }, { 3, 4 }, { 5, 8 }, { 8, 8 },
		{ 9, 16 }, { 1000, 1024 }, { 4096, 4096 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fx f;
		struct fx_opts o = { .nvals = 1, .nkeys = 1, .min_slots = cases[i].min };
		struct rcumap_stats st;

		fx_open(&f, &o);
		st = stats_of(f.map);
		if (st.slots != cases[i].slots)
			fail_msg("min_slots %zu: %zu slots, expected %zu", cases[i].min,
				 st.slots, cases[i].slots);
		assert_size(st.entries, 0);
		assert_size(st.generation, 0);
		assert_size(st.grows, 0);
		assert_size(st.shrinks, 0);
		assert_int_equal(st.resizing, 0);
		for (int k = 0; k < RCUMAP_STATS_KINDS; k++) {
			assert_size(st.kind[k].retired, 0);
			assert_size(st.kind[k].reclaimed, 0);
		}
		assert_size(rcumap_count(f.map), 0);
		assert_rc(rcumap_validate(f.map), 0);
		fx_close(&f);
	}
}

static void create_returns_enomem_at_every_failed_allocation_and_leaks_nothing(void **state)
{
	(void)state;
	for (int persistent = 0; persistent <= 1; persistent++) {
		unsigned long n, failed_runs = 0;

		for (n = 0; n < 1000; n++) {
			struct count_alloc ca;
			struct rcumap_config cfg = {
				.flavor = RCUMAP_FLAVOR, .alloc = ca_alloc, .free = ca_free,
				.alloc_arg = &ca,
			};
			struct rcumap *m = SENTINEL_MAP;
			unsigned long injected;
			int rc;

			ca_init(&ca);
			ca_arm(&ca, n, persistent);
			rc = rcumap_create(&cfg, &m);
			injected = ca_disarm(&ca);
			if (injected) {
				assert_rc(rc, -ENOMEM);
				assert_ptr_equal(m, SENTINEL_MAP);
				ca_check_balanced(&ca);
				failed_runs++;
				continue;
			}
			assert_rc(rc, 0);
			assert_rc(rcumap_validate(m), 0);
			assert_rc(rcumap_destroy(m), 0);
			ca_check_balanced(&ca);
			break;
		}
		assert_true(n < 1000);
		assert_true(failed_runs > 0); /* create allocates at least the map */
	}
}

static void destroy_of_null_map_returns_einval(void **state)
{
	(void)state;
	assert_rc(rcumap_destroy(NULL), -EINVAL);
}

static void destroy_frees_every_remaining_value_once_and_all_memory(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 400, .nkeys = 300 };

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 300);
	for (size_t i = 0; i < 300; i += 3)
		assert_rc(fx_delete(&f, i), 0);
	for (size_t i = 1; i < 100; i += 3)
		assert_rc(fx_put(&f, i, 300 + i), 0);
	fx_check(&f);
	/* No barrier: destroy itself must wait for the pending reclamation. */
	fx_close(&f);
}

static void destroy_without_free_value_leaves_values_alone(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 100, .nkeys = 100, .no_free_value = true };

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 100);
	for (size_t i = 0; i < 50; i++)
		assert_rc(fx_delete(&f, i), 0);
	assert_rc(fx_put(&f, 60, 0), 0);
	fx_barrier(&f);
	fx_check_reclaimed(&f);
	fx_close(&f); /* checks no value was passed anywhere, all memory freed */
}

#if !TEST_FLAVOR_QSBR
static void barrier_and_destroy_inside_read_section_return_edeadlk_and_leave_map_untouched(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 40, .nkeys = 32 };
	struct rcumap_stats before, after;

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 32);
	assert_rc(fx_delete(&f, 5), 0);
	fx_barrier(&f);
	before = stats_of(f.map);

	test_reader_enter();
	assert_rc(rcumap_barrier(f.map), -EDEADLK);
	assert_rc(rcumap_destroy(f.map), -EDEADLK);
	test_reader_enter(); /* nested sections count as inside too */
	assert_rc(rcumap_destroy(f.map), -EDEADLK);
	assert_rc(rcumap_barrier(f.map), -EDEADLK);
	test_reader_leave();
	assert_ptr_equal(rcumap_get(f.map, "", 0), NULL); /* still usable inside */
	test_reader_leave();

	after = stats_of(f.map);
	assert_size(after.entries, before.entries);
	assert_size(after.generation, before.generation);
	for (int k = 0; k < RCUMAP_STATS_KINDS; k++)
		assert_size(after.kind[k].retired, before.kind[k].retired);
	fx_check(&f);
	fx_check_frees(&f); /* nothing freed by the refused calls */
	fx_close(&f);
}
#else
static void barrier_and_destroy_work_online_and_offline_under_qsbr(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 40, .nkeys = 32 };

	(void)state;
	/* Online is allowed (the header: the wait is a quiescent state). */
	fx_open(&f, &o);
	fx_fill(&f, 32);
	assert_rc(fx_delete(&f, 3), 0);
	assert_rc(fx_put(&f, 4, 35), 0);
	assert_true(rcu_read_ongoing()); /* online */
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	fx_close(&f); /* destroy while online */

	fx_open(&f, &o);
	fx_fill(&f, 32);
	assert_rc(fx_delete(&f, 3), 0);
	test_offline();
	assert_rc(rcumap_barrier(f.map), 0);
	test_online();
	fx_check_frees(&f);
	test_offline();
	assert_rc(rcumap_destroy(f.map), 0);
	test_online();
	f.map = NULL;
	for (size_t i = 0; i < f.tr->n; i++)
		f.tr->v[i].in_map = false;
	fx_check_frees(&f);
	ca_check_balanced(f.ca);
	fx_free(&f);
}
#endif

/* ---- Lookups and keys ------------------------------------------------------------- */

static void get_of_absent_key_returns_null(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 20, .nkeys = 40 };

	(void)state;
	fx_open(&f, &o);
	assert_null(fx_get(&f, 0)); /* empty map */
	fx_fill(&f, 20);
	for (size_t i = 20; i < 40; i++)
		assert_null(fx_get(&f, i));
	assert_rc(fx_delete(&f, 7), 0);
	assert_null(fx_get(&f, 7));
	fx_check(&f);
	fx_close(&f);
}

static void get_rejects_null_map_null_key_with_length_and_oversized_length(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 4, .nkeys = 4 };
	char buf[8] = "abcdefg";

	(void)state;
	fx_open(&f, &o);
	assert_rc(rcumap_insert(f.map, NULL, 0, fx_val(&f, 0)), 0); /* empty key present */
	fx_val(&f, 0)->owned = true;
	fx_val(&f, 0)->in_map = true;
	assert_rc(rcumap_insert(f.map, buf, 1, fx_val(&f, 1)), 0);
	fx_val(&f, 1)->owned = true;
	fx_val(&f, 1)->in_map = true;

	test_reader_enter();
	assert_null(rcumap_get(NULL, buf, 1));
	assert_null(rcumap_get(NULL, NULL, 0));
	assert_null(rcumap_get(f.map, NULL, 1));
	assert_null(rcumap_get(f.map, NULL, 7));
	assert_null(rcumap_get(f.map, buf, RCUMAP_KEY_MAX + 1));
	assert_null(rcumap_get(f.map, buf, SIZE_MAX));
	assert_ptr_equal(rcumap_get(f.map, buf, 1), fx_val(&f, 1));
	assert_ptr_equal(rcumap_get(f.map, NULL, 0), fx_val(&f, 0));
	test_reader_leave();
	assert_size(rcumap_count(f.map), 2);
	fx_close(&f);
}

static void empty_key_with_null_pointer_is_a_valid_key(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 4, .nkeys = 1 };
	struct tval *a, *b;
	void *res = NULL;

	(void)state;
	fx_open(&f, &o);
	a = fx_val(&f, 0);
	b = fx_val(&f, 1);
	assert_rc(rcumap_insert(f.map, NULL, 0, a), 0);
	a->owned = a->in_map = true;
	assert_ptr_equal(get_locked(f.map, NULL, 0), a);
	assert_ptr_equal(get_locked(f.map, "", 0), a); /* same key: zero bytes */
	assert_ptr_equal(get_locked(f.map, "xyz", 0), a);
	assert_null(get_locked(f.map, "", 1)); /* the one-byte key "\0" differs */
	assert_rc(rcumap_insert(f.map, "", 0, b), -EEXIST);
	assert_rc(rcumap_get_or_insert(f.map, NULL, 0, b, &res), -EEXIST);
	assert_ptr_equal(res, a);
	assert_rc(rcumap_replace(f.map, NULL, 0, b), 0);
	a->in_map = false;
	b->owned = b->in_map = true;
	assert_rc(rcumap_cas(f.map, NULL, 0, a, b), -EAGAIN); /* holds b now */
	assert_rc(rcumap_delete_if(f.map, "", 0, a), -EAGAIN);
	assert_size(rcumap_count(f.map), 1);
	assert_rc(rcumap_delete(f.map, "q", 0), 0);
	b->in_map = false;
	assert_null(get_locked(f.map, NULL, 0));
	assert_rc(rcumap_delete(f.map, NULL, 0), -ENOENT);
	assert_size(rcumap_count(f.map), 0);
	assert_rc(rcumap_validate(f.map), 0);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_close(&f);
}

static void keys_with_embedded_nuls_and_common_prefixes_are_distinct(void **state)
{
	static const struct { const char *bytes; size_t len; } keys[] = {
		{ "a", 1 }, { "a\0", 2 }, { "a\0b", 3 }, { "a\0c", 3 }, { "\0", 1 },
		{ "\0\0", 2 }, { "\0\0\0", 3 }, { "ab", 2 }, { "ab\0", 3 }, { "b\0a", 3 },
		{ "", 0 },
	};
	const size_t n = sizeof(keys) / sizeof(keys[0]);
	struct fx f;
	struct fx_opts o = { .nvals = 16, .nkeys = 1 };

	(void)state;
	fx_open(&f, &o);
	for (size_t i = 0; i < n; i++) {
		assert_rc(rcumap_insert(f.map, keys[i].bytes, keys[i].len, fx_val(&f, i)), 0);
		fx_val(&f, i)->owned = fx_val(&f, i)->in_map = true;
	}
	assert_size(rcumap_count(f.map), n);
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(get_locked(f.map, keys[i].bytes, keys[i].len), fx_val(&f, i));
	/* Remove "a\0b": its neighbours in bytes stay. */
	assert_rc(rcumap_delete(f.map, "a\0b", 3), 0);
	fx_val(&f, 2)->in_map = false;
	assert_null(get_locked(f.map, "a\0b", 3));
	for (size_t i = 0; i < n; i++)
		if (i != 2)
			assert_ptr_equal(get_locked(f.map, keys[i].bytes, keys[i].len),
					 fx_val(&f, i));
	assert_null(get_locked(f.map, "a\0d", 3));
	assert_null(get_locked(f.map, "abc", 3));
	assert_rc(rcumap_validate(f.map), 0);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_close(&f);
}

static void keys_of_0_1_15_16_17_and_65536_bytes_round_trip(void **state)
{
	static const size_t sizes[] = {
		0, 1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 63, 64, 65,
		255, 256, 257, 4096, 65535, 65536,
	};
	const size_t ns = sizeof(sizes) / sizeof(sizes[0]);
	const size_t maxlen = 65536;
	unsigned char *base = malloc(maxlen), *probe = malloc(maxlen);
	struct fx f;
	struct fx_opts o = { .nvals = 3 * ns, .nkeys = 1 };

	(void)state;
	assert_non_null(base);
	assert_non_null(probe);
	for (size_t i = 0; i < maxlen; i++)
		base[i] = (unsigned char)(i * 131 + 7);
	fx_open(&f, &o);

	/*
	 * Per size: the base bytes (value 3s), the same with the last byte
	 * changed (3s+1) and with the first byte changed (3s+2). Size 0 has
	 * only the empty key.
	 */
	for (int round = 0; round < 2; round++) {
		for (size_t s = 0; s < ns; s++) {
			size_t len = sizes[s];

			for (int variant = 0; variant < 3; variant++) {
				struct tval *v = fx_val(&f, 3 * s + (size_t)variant);

				if (len == 0 && variant > 0)
					continue;
				memcpy(probe, base, len);
				if (variant == 1)
					probe[len - 1] ^= 0x5a;
				if (variant == 2)
					probe[0] ^= 0xa5;
				if (round == 0) {
					assert_rc(rcumap_insert(f.map, probe, len, v), 0);
					v->owned = v->in_map = true;
				} else if (!v->in_map) {
					assert_null(get_locked(f.map, probe, len));
				} else if (get_locked(f.map, probe, len) != v) {
					fail_msg("key of %zu bytes, variant %d: wrong value", len,
						 variant);
				}
			}
			if (round == 0)
				continue;
			/* A key of this size that was never stored. */
			if (len >= 3) {
				memcpy(probe, base, len);
				probe[len / 2] ^= 0x33;
				assert_null(get_locked(f.map, probe, len));
			}
			/* Prefixes and extensions of a stored key are different keys. */
			if (len > 0 && sizes[s] - 1 != (s ? sizes[s - 1] : (size_t)-1))
				assert_null(get_locked(f.map, base, len - 1));
		}
		if (round == 0) {
			/* Remove the base key of every other size, then verify all. */
			for (size_t s = 0; s < ns; s += 2) {
				assert_rc(rcumap_delete(f.map, base, sizes[s]), 0);
				fx_val(&f, 3 * s)->in_map = false;
			}
		}
	}
	assert_rc(rcumap_validate(f.map), 0);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	fx_close(&f);
	free(base);
	free(probe);
}

/* Reads at most 8 bytes, so a 1 GiB key costs nothing to hash. */
static uint64_t hash_prefix8(const void *key, size_t len, void *arg)
{
	(void)arg;
	return mix64(fnv1a64(key, len < 8 ? len : 8) ^ len);
}

static void key_of_exactly_key_max_bytes_is_accepted(void **state)
{
	struct fx f;
	struct fx_opts o = {
		.nvals = 4, .nkeys = 1, .hash = hash_prefix8,
		.max_alloc = (size_t)64 << 20, /* the 1 GiB copy is refused */
	};
	void *res = SENTINEL_MAP;
	/* Zero pages, reserved lazily: reading them costs no memory. */
	void *big = mmap(NULL, RCUMAP_KEY_MAX, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	(void)state;
	assert_true(big != MAP_FAILED);
	fx_open(&f, &o);
	assert_rc(rcumap_insert(f.map, "k", 1, fx_val(&f, 0)), 0);
	fx_val(&f, 0)->owned = fx_val(&f, 0)->in_map = true;

	assert_null(get_locked(f.map, big, RCUMAP_KEY_MAX));
	/* The length is valid: the only obstacle is memory. */
	assert_rc(rcumap_insert(f.map, big, RCUMAP_KEY_MAX, fx_val(&f, 1)), -ENOMEM);
	assert_rc(rcumap_put(f.map, big, RCUMAP_KEY_MAX, fx_val(&f, 1)), -ENOMEM);
	assert_rc(rcumap_get_or_insert(f.map, big, RCUMAP_KEY_MAX, fx_val(&f, 1), &res),
		  -ENOMEM);
	assert_ptr_equal(res, SENTINEL_MAP);
	assert_rc(rcumap_replace(f.map, big, RCUMAP_KEY_MAX, fx_val(&f, 1)), -ENOENT);
	assert_rc(rcumap_delete(f.map, big, RCUMAP_KEY_MAX), -ENOENT);
	assert_true(atomic_load(&f.ca->refused_large) > 0);
	/* One byte more is invalid. */
	assert_rc(rcumap_insert(f.map, big, RCUMAP_KEY_MAX + 1, fx_val(&f, 1)), -EINVAL);
	assert_null(get_locked(f.map, big, RCUMAP_KEY_MAX + 1));

	assert_size(rcumap_count(f.map), 1);
	assert_ptr_equal(get_locked(f.map, "k", 1), fx_val(&f, 0));
	assert_rc(rcumap_validate(f.map), 0);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_close(&f);
	munmap(big, RCUMAP_KEY_MAX);
}

/*
 * Every update, called with each kind of invalid argument, returns -EINVAL
 * and changes nothing: no entry, no free_value, no retirement.
 */
static void every_update_rejects_invalid_arguments_and_changes_nothing(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 16, .nkeys = 8 };
	unsigned char k[KEY_BUF];
	size_t len;
	struct tval *cur, *nv;
	void *res;
	struct rcumap_stats before, after, st;

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 4);
	fx_barrier(&f);
	before = stats_of(f.map);
	len = key_make(2, k); /* a present key */
	cur = f.ref[2];
	nv = fx_val(&f, 10);

	for (int present = 0; present <= 1; present++) {
		if (!present)
			len = key_make(6, k); /* an absent key */
		else
			len = key_make(2, k);
		/* NULL map */
		assert_rc(rcumap_insert(NULL, k, len, nv), -EINVAL);
		assert_rc(rcumap_put(NULL, k, len, nv), -EINVAL);
		assert_rc(rcumap_replace(NULL, k, len, nv), -EINVAL);
		assert_rc(rcumap_cas(NULL, k, len, cur, nv), -EINVAL);
		assert_rc(rcumap_delete(NULL, k, len), -EINVAL);
		assert_rc(rcumap_delete_if(NULL, k, len, cur), -EINVAL);
		res = SENTINEL_MAP;
		assert_rc(rcumap_get_or_insert(NULL, k, len, nv, &res), -EINVAL);
		assert_ptr_equal(res, SENTINEL_MAP);
		/* NULL key with a nonzero length */
		assert_rc(rcumap_insert(f.map, NULL, len, nv), -EINVAL);
		assert_rc(rcumap_put(f.map, NULL, len, nv), -EINVAL);
		assert_rc(rcumap_replace(f.map, NULL, len, nv), -EINVAL);
		assert_rc(rcumap_cas(f.map, NULL, len, cur, nv), -EINVAL);
		assert_rc(rcumap_delete(f.map, NULL, len), -EINVAL);
		assert_rc(rcumap_delete_if(f.map, NULL, len, cur), -EINVAL);
		assert_rc(rcumap_get_or_insert(f.map, NULL, len, nv, &res), -EINVAL);
		assert_ptr_equal(res, SENTINEL_MAP);
		/* Length above RCUMAP_KEY_MAX */
		assert_rc(rcumap_insert(f.map, k, RCUMAP_KEY_MAX + 1, nv), -EINVAL);
		assert_rc(rcumap_put(f.map, k, RCUMAP_KEY_MAX + 1, nv), -EINVAL);
		assert_rc(rcumap_replace(f.map, k, RCUMAP_KEY_MAX + 1, nv), -EINVAL);
		assert_rc(rcumap_cas(f.map, k, RCUMAP_KEY_MAX + 1, cur, nv), -EINVAL);
		assert_rc(rcumap_delete(f.map, k, RCUMAP_KEY_MAX + 1), -EINVAL);
		assert_rc(rcumap_delete_if(f.map, k, RCUMAP_KEY_MAX + 1, cur), -EINVAL);
		assert_rc(rcumap_get_or_insert(f.map, k, SIZE_MAX, nv, &res), -EINVAL);
		assert_ptr_equal(res, SENTINEL_MAP);
		/* NULL values */
		assert_rc(rcumap_insert(f.map, k, len, NULL), -EINVAL);
		assert_rc(rcumap_put(f.map, k, len, NULL), -EINVAL);
		assert_rc(rcumap_replace(f.map, k, len, NULL), -EINVAL);
		assert_rc(rcumap_cas(f.map, k, len, cur, NULL), -EINVAL);
		assert_rc(rcumap_cas(f.map, k, len, NULL, nv), -EINVAL);
		assert_rc(rcumap_cas(f.map, k, len, NULL, NULL), -EINVAL);
		assert_rc(rcumap_delete_if(f.map, k, len, NULL), -EINVAL);
		assert_rc(rcumap_get_or_insert(f.map, k, len, NULL, &res), -EINVAL);
		assert_ptr_equal(res, SENTINEL_MAP);
		/* NULL result pointer */
		assert_rc(rcumap_get_or_insert(f.map, k, len, nv, NULL), -EINVAL);
	}
	/* The map-wide calls */
	assert_rc(rcumap_clear(NULL), -EINVAL);
	assert_rc(rcumap_resize(NULL, 64), -EINVAL);
	assert_rc(rcumap_barrier(NULL), -EINVAL);
	assert_rc(rcumap_validate(NULL), -EINVAL);
	assert_rc(rcumap_stats(NULL, &st), -EINVAL);
	assert_rc(rcumap_stats(f.map, NULL), -EINVAL);
	assert_size(rcumap_count(NULL), 0);

	after = stats_of(f.map);
	assert_size(after.entries, before.entries);
	assert_size(after.slots, before.slots);
	assert_size(after.generation, before.generation);
	for (int kd = 0; kd < RCUMAP_STATS_KINDS; kd++)
		assert_size(after.kind[kd].retired, before.kind[kd].retired);
	fx_check(&f);
	fx_barrier(&f);
	fx_check_frees(&f); /* nv was never taken; nothing removed */
	fx_close(&f);
}

/* ---- Single-threaded semantics of each update ------------------------------------- */

static void insert_of_present_key_returns_eexist_and_keeps_callers_value(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 4 };

	(void)state;
	fx_open(&f, &o);
	assert_rc(fx_insert(&f, 1, 1), 0);
	assert_rc(fx_insert(&f, 1, 2), -EEXIST);
	assert_rc(fx_insert(&f, 1, 1), -EEXIST); /* even the stored pointer */
	assert_ptr_equal(fx_get(&f, 1), fx_val(&f, 1));
	assert_size(rcumap_count(f.map), 1);
	fx_barrier(&f);
	fx_check_frees(&f);
	assert_int_equal(tval_freed(fx_val(&f, 2)), 0);
	fx_check(&f);
	fx_close(&f); /* value 2 never owned: never freed, even by destroy */
}

static void put_inserts_then_replaces_and_frees_old_value_once_after_barrier(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 4 };

	(void)state;
	fx_open(&f, &o);
	assert_rc(fx_put(&f, 0, 0), 0);
	assert_size(rcumap_count(f.map), 1);
	assert_ptr_equal(fx_get(&f, 0), fx_val(&f, 0));
	assert_rc(fx_put(&f, 0, 1), 0);
	assert_size(rcumap_count(f.map), 1);
	assert_ptr_equal(fx_get(&f, 0), fx_val(&f, 1));
	fx_barrier(&f);
	assert_int_equal(tval_freed(fx_val(&f, 0)), 1);
	assert_int_equal(tval_freed(fx_val(&f, 1)), 0);
	fx_barrier(&f); /* a second barrier frees nothing again */
	fx_check_frees(&f);
	assert_rc(fx_put(&f, 0, 2), 0);
	assert_rc(fx_put(&f, 1, 3), 0);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	fx_check(&f);
	fx_close(&f);
}

static void put_of_the_stored_pointer_is_a_noop_that_frees_nothing(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 4, .nkeys = 4 };
	struct rcumap_stats before, after;

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 3);
	fx_barrier(&f);
	before = stats_of(f.map);
	for (int i = 0; i < 3; i++)
		assert_rc(fx_put(&f, 1, 1), 0);
	fx_barrier(&f);
	after = stats_of(f.map);
	assert_int_equal(tval_freed(fx_val(&f, 1)), 0);
	assert_ptr_equal(fx_get(&f, 1), fx_val(&f, 1));
	assert_size(after.entries, 3);
	assert_size(after.generation, before.generation);
	/* "changes nothing": no bucket copy retired either */
	for (int k = 0; k < RCUMAP_STATS_KINDS; k++)
		assert_size(after.kind[k].retired, before.kind[k].retired);
	fx_check_frees(&f);
	fx_check(&f);
	fx_close(&f);
}

static void replace_of_absent_key_returns_enoent_and_of_present_key_frees_old_value(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 4 };
	unsigned char k[KEY_BUF];
	size_t len = key_make(0, k);

	(void)state;
	fx_open(&f, &o);
	assert_rc(rcumap_replace(f.map, k, len, fx_val(&f, 5)), -ENOENT);
	assert_size(rcumap_count(f.map), 0);
	assert_null(fx_get(&f, 0));
	assert_rc(fx_insert(&f, 0, 0), 0);
	assert_rc(fx_insert(&f, 1, 1), 0);
	assert_rc(rcumap_replace(f.map, k, len, fx_val(&f, 2)), 0);
	fx_ref_set(&f, 0, fx_val(&f, 2));
	assert_ptr_equal(fx_get(&f, 0), fx_val(&f, 2));
	assert_size(rcumap_count(f.map), 2);
	/* Replacing with the stored pointer changes nothing either. */
	assert_rc(rcumap_replace(f.map, k, len, fx_val(&f, 2)), 0);
	fx_barrier(&f);
	assert_int_equal(tval_freed(fx_val(&f, 0)), 1);
	assert_int_equal(tval_freed(fx_val(&f, 5)), 0);
	fx_check_frees(&f);
	fx_check(&f);
	fx_close(&f);
}

static void cas_returns_enoent_or_eagain_or_swaps_and_frees_expected_after_barrier(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 4 };
	unsigned char k[KEY_BUF];
	size_t len = key_make(3, k);
	struct tval *v0, *v1, *v2, *v3;

	(void)state;
	fx_open(&f, &o);
	v0 = fx_val(&f, 0);
	v1 = fx_val(&f, 1);
	v2 = fx_val(&f, 2);
	v3 = fx_val(&f, 3);
	assert_rc(rcumap_cas(f.map, k, len, v0, v1), -ENOENT);
	assert_size(rcumap_count(f.map), 0);
	assert_rc(fx_insert(&f, 3, 0), 0);
	assert_rc(rcumap_cas(f.map, k, len, v2, v1), -EAGAIN); /* value is v0 */
	assert_ptr_equal(fx_get(&f, 3), v0);
	assert_rc(rcumap_cas(f.map, k, len, v0, v1), 0);
	fx_ref_set(&f, 3, v1);
	assert_ptr_equal(fx_get(&f, 3), v1);
	assert_rc(rcumap_cas(f.map, k, len, v0, v3), -EAGAIN); /* v0 is stale now */
	assert_ptr_equal(fx_get(&f, 3), v1);
	assert_size(rcumap_count(f.map), 1);
	fx_barrier(&f);
	assert_int_equal(tval_freed(v0), 1);
	assert_int_equal(tval_freed(v1), 0);
	assert_int_equal(tval_freed(v2), 0);
	assert_int_equal(tval_freed(v3), 0);
	fx_check_frees(&f);
	fx_check(&f);
	fx_close(&f);
}

static void cas_with_expected_equal_to_desired_changes_nothing(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 4, .nkeys = 4 };
	unsigned char k[KEY_BUF];
	size_t len = key_make(1, k);
	struct rcumap_stats before, after;

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 2);
	fx_barrier(&f);
	before = stats_of(f.map);
	assert_rc(rcumap_cas(f.map, k, len, fx_val(&f, 1), fx_val(&f, 1)), 0);
	assert_rc(rcumap_cas(f.map, k, len, fx_val(&f, 3), fx_val(&f, 3)), -EAGAIN);
	fx_barrier(&f);
	after = stats_of(f.map);
	assert_ptr_equal(fx_get(&f, 1), fx_val(&f, 1));
	assert_int_equal(tval_freed(fx_val(&f, 1)), 0);
	for (int kd = 0; kd < RCUMAP_STATS_KINDS; kd++)
		assert_size(after.kind[kd].retired, before.kind[kd].retired);
	fx_check_frees(&f);
	fx_check(&f);
	fx_close(&f);
}

static void delete_of_absent_key_returns_enoent_and_changes_nothing(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 8 };
	struct rcumap_stats before, after;

	(void)state;
	fx_open(&f, &o);
	assert_rc(fx_delete(&f, 0), -ENOENT); /* empty map */
	fx_fill(&f, 5);
	fx_barrier(&f);
	before = stats_of(f.map);
	assert_rc(fx_delete(&f, 6), -ENOENT);
	assert_rc(fx_delete(&f, 7), -ENOENT);
	after = stats_of(f.map);
	assert_size(after.entries, 5);
	for (int k = 0; k < RCUMAP_STATS_KINDS; k++)
		assert_size(after.kind[k].retired, before.kind[k].retired);
	fx_check(&f);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_close(&f);
}

static void delete_removes_the_key_and_frees_its_value_once_after_barrier(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 8 };

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 8);
	assert_rc(fx_delete(&f, 4), 0);
	assert_null(fx_get(&f, 4));
	assert_size(rcumap_count(f.map), 7);
	assert_rc(fx_delete(&f, 4), -ENOENT);
	fx_barrier(&f);
	assert_int_equal(tval_freed(fx_val(&f, 4)), 1);
	fx_check_frees(&f);
	for (size_t i = 0; i < 8; i++)
		if (i != 4)
			assert_rc(fx_delete(&f, i), 0);
	assert_size(rcumap_count(f.map), 0);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	fx_check(&f);
	fx_close(&f);
}

static void delete_if_returns_enoent_or_eagain_or_removes_the_matching_value(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 8 };
	unsigned char k[KEY_BUF];
	size_t len = key_make(2, k);

	(void)state;
	fx_open(&f, &o);
	assert_rc(rcumap_delete_if(f.map, k, len, fx_val(&f, 2)), -ENOENT);
	fx_fill(&f, 4);
	assert_rc(rcumap_delete_if(f.map, k, len, fx_val(&f, 3)), -EAGAIN);
	assert_ptr_equal(fx_get(&f, 2), fx_val(&f, 2));
	assert_size(rcumap_count(f.map), 4);
	assert_rc(rcumap_delete_if(f.map, k, len, fx_val(&f, 2)), 0);
	fx_ref_set(&f, 2, NULL);
	assert_null(fx_get(&f, 2));
	assert_rc(rcumap_delete_if(f.map, k, len, fx_val(&f, 2)), -ENOENT);
	assert_size(rcumap_count(f.map), 3);
	fx_barrier(&f);
	assert_int_equal(tval_freed(fx_val(&f, 2)), 1);
	assert_int_equal(tval_freed(fx_val(&f, 3)), 0);
	fx_check_frees(&f);
	fx_check(&f);
	fx_close(&f);
}

static void get_or_insert_inserts_an_absent_key_and_returns_the_existing_value_otherwise(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 8 };
	unsigned char k[KEY_BUF];
	size_t len = key_make(5, k);
	void *res = NULL;

	(void)state;
	fx_open(&f, &o);
	assert_rc(rcumap_get_or_insert(f.map, k, len, fx_val(&f, 0), &res), 0);
	assert_ptr_equal(res, fx_val(&f, 0));
	fx_ref_set(&f, 5, fx_val(&f, 0));
	assert_ptr_equal(fx_get(&f, 5), fx_val(&f, 0));
	res = NULL;
	assert_rc(rcumap_get_or_insert(f.map, k, len, fx_val(&f, 1), &res), -EEXIST);
	assert_ptr_equal(res, fx_val(&f, 0));
	assert_ptr_equal(fx_get(&f, 5), fx_val(&f, 0));
	/* Inside a read section, as the header advises for using *result. */
	test_reader_enter();
	res = NULL;
	assert_rc(rcumap_get_or_insert(f.map, k, len, fx_val(&f, 2), &res), -EEXIST);
	assert_ptr_equal(res, fx_val(&f, 0));
	assert_true(((struct tval *)res)->magic == TVAL_LIVE);
	test_reader_leave();
	assert_size(rcumap_count(f.map), 1);
	fx_barrier(&f);
	assert_int_equal(tval_freed(fx_val(&f, 1)), 0);
	assert_int_equal(tval_freed(fx_val(&f, 2)), 0);
	fx_check_frees(&f);
	fx_check(&f);
	fx_close(&f);
}

static void count_follows_inserts_and_deletes_and_is_zero_for_a_null_map(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 650, .nkeys = 500 };

	(void)state;
	fx_open(&f, &o);
	assert_size(rcumap_count(NULL), 0);
	assert_size(rcumap_count(f.map), 0);
	for (size_t i = 0; i < 500; i++) {
		assert_rc(fx_insert(&f, i, i), 0);
		assert_size(rcumap_count(f.map), i + 1);
	}
	for (size_t i = 0; i < 250; i += 2) { /* replacing keeps the count */
		assert_rc(fx_put(&f, i, 500 + i / 2), 0);
		assert_size(rcumap_count(f.map), 500);
	}
	for (size_t i = 0; i < 500; i++) {
		assert_rc(fx_delete(&f, i), 0);
		assert_size(rcumap_count(f.map), 499 - i);
		assert_size(stats_of(f.map).entries, 499 - i);
	}
	fx_check(&f);
	fx_close(&f);
}

static void clear_removes_every_entry_and_frees_each_value_once_after_barrier(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 2100, .nkeys = 2000 };

	(void)state;
	fx_open(&f, &o);
	assert_rc(rcumap_clear(f.map), 0); /* empty map */
	fx_fill(&f, 2000);
	assert_rc(rcumap_clear(f.map), 0);
	fx_ref_clear(&f);
	assert_size(rcumap_count(f.map), 0);
	fx_check(&f); /* every key absent */
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	/* The map works after a clear. */
	for (size_t i = 0; i < 100; i++)
		assert_rc(fx_insert(&f, i * 7, 2000 + i), 0);
	fx_check(&f);
	assert_rc(rcumap_clear(f.map), 0);
	fx_ref_clear(&f);
	assert_rc(rcumap_clear(f.map), 0);
	fx_check(&f);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_close(&f);
}

/* ---- Stats, resize, barrier, validate ---------------------------------------------- */

static void stats_report_entries_slots_generations_resizes_and_balanced_reclamation(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 16, .nkeys = 16, .min_slots = 8 };
	struct rcumap_stats st0, st1, st2, st;

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 5);
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
	fx_fill(&f, 20);
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
	fx_fill(&f, 10);
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
	fx_fill(&f, 10);
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
		fx_fill(&f, 200);
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
	fx_fill(&f, 10);
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
	fx_fill(&f, 200);
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
		fx_fill(&f, n);
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
 * Resizes are gated: a new one starts only once the previous generation has
 * been reclaimed, which takes a grace period (~10 ms of call_rcu latency).
 * A single thread inserting flat out would otherwise outrun the gate and
 * pile thousands of entries into each bucket. When the table looks stuck
 * (no migration running, load far off any sane target), wait for reclamation,
 * at most once per entries/16 updates so that a policy with other
 * thresholds costs a bounded number of barriers.
 */
static void pace_resizes(struct fx *f, size_t *since_barrier)
{
	struct rcumap_stats st;
	size_t spacing;

	++*since_barrier;
	if (*since_barrier % 64)
		return;
	test_quiesce();
	st = stats_of(f->map);
	spacing = st.entries / 16 > 64 ? st.entries / 16 : 64;
	if (st.resizing || *since_barrier < spacing)
		return;
	if (st.entries > 8 * st.slots || (st.entries * 32 < st.slots && st.slots > 64)) {
		fx_barrier(f);
		*since_barrier = 0;
	}
}

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
	double t0 = now_s();

	(void)state;
	assert_non_null(perm);
	fx_open(&f, &o);
	st = stats_of(f.map);
	assert_size(st.slots, 1);

	/* Grow: check at every doubling of the count. */
	for (size_t i = 0; i < n; i++) {
		assert_rc(fx_insert(&f, i, i), 0);
		pace_resizes(&f, &since);
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
		      (unsigned long long)st.grows, now_s() - t0);
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
		pace_resizes(&f, &since);
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
		      keep, st.slots, peak_slots, (unsigned long long)st.shrinks, now_s() - t0);
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
static bool leave_migration_pending(struct fx *f, size_t slots)
{
	for (unsigned long m = 0; m < 10000; m++) {
		struct rcumap_stats st;
		int rc;

		ca_arm(f->ca, m, true);
		rc = rcumap_resize(f->map, slots);
		ca_disarm(f->ca);
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
	fx_fill(&f, 64);
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

/* ---- Batched lookups (rcumap_get_batch) ------------------------------------------ */

/* What a values[] entry holds until rcumap_get_batch writes it. */
static char batch_sentinel;
#define BATCH_SENTINEL ((void *)&batch_sentinel)

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
	fx_fill(&f, n);
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
 * A migration frozen half way, as a failed allocation leaves one (test_iter.c
 * does the same): rcumap_resize allocates the new table (allocation 0),
 * then fills the slots of the new generation in order, each by freezing its
 * source slots in the old generation and, if any of their records go to
 * it, allocating one bucket. Failing the allocation of the m-th non-empty
 * slot and every later one leaves the slots before it filled and its
 * sources frozen. The test keeps a model of which new slots are filled and
 * which old ones frozen, from the keys' hashes (hash_full), to know which
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
	uint32_t *fold;           /* [nkeys]: folded 32-bit hash of each key */
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
	size_t before = 0;
	int rc;

	for (size_t i = 0; i < d; i++)
		before += bmig_nonempty(m, f, i);
	while (d < m->to && !bmig_nonempty(m, f, d))
		d++;
	assert_true(d < m->to);
	ca_arm(f->ca, 1 + before, true);
	rc = rcumap_resize(f->map, m->to);
	ca_disarm(f->ca);
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
	struct fx_opts o = { .nvals = nk + 200, .nkeys = nk, .min_slots = 1, .hash = hash_full };
	uint64_t rng = 0x62617463682d35ull;
	size_t next_val = nk;
	struct bkeys b;
	struct bmig m;

	(void)state;
	fx_open(&f, &o);
	bkeys_init(&b, nk);
	m.fold = malloc(nk * sizeof(*m.fold));
	assert_non_null(m.fold);
	for (size_t i = 0; i < nk; i++) {
		unsigned char k[KEY_BUF];
		size_t len = key_make(i, k);
		uint64_t h = hash_full(k, len, NULL);

		m.fold[i] = (uint32_t)(h ^ (h >> 32)); /* as the library folds it */
		if (i % 3)
			assert_rc(fx_insert(&f, i, i), 0);
	}

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
	free(m.fold);
	bkeys_fini(&b);
	fx_close(&f);
}

/* ---- Allocation failure at every allocation of every update ------------------------ */

enum fop {
	FOP_INSERT,
	FOP_PUT_REPLACE,
	FOP_REPLACE,
	FOP_CAS,
	FOP_DELETE,
	FOP_DELETE_IF,
	FOP_GET_OR_INSERT,
	FOP_CLEAR,
	FOP_GROW,
	FOP_SHRINK,
	FOP_AUTO_GROW_INSERT,
};

struct fcase {
	enum fop op;
	bool pending;        /* run the operation while a migration is pending */
	bool must_allocate;  /* call 0 must be reached (else the case tests nothing) */
	bool never_fails;    /* the contract leaves no room for -ENOMEM */
};

#define F_KEYS 24            /* keys [0, F_KEYS) are present before the operation */
#define F_TARGET 3           /* present; shares its bucket with key 2 (hash_pairs) */
#define F_ABSENT F_KEYS      /* absent key for inserting operations */
#define F_NEWVAL 40          /* pool value the operation tries to store */

static size_t fcase_start_slots(const struct fcase *c)
{
	switch (c->op) {
	case FOP_SHRINK: return 64;
	case FOP_AUTO_GROW_INSERT: return 1; /* 24 entries in one slot: overloaded */
	default: return 8;
	}
}

/* Runs the operation; on success updates the reference to what it did. */
static int fcase_run(struct fx *f, const struct fcase *c, void **res)
{
	unsigned char k[KEY_BUF];
	size_t tlen = key_make(F_TARGET, k);
	struct tval *nv = fx_val(f, F_NEWVAL);
	struct tval *cur = f->ref[F_TARGET];
	size_t alen;
	int rc;

	switch (c->op) {
	case FOP_INSERT:
	case FOP_AUTO_GROW_INSERT:
		alen = key_make(F_ABSENT, k);
		rc = rcumap_insert(f->map, k, alen, nv);
		if (rc == 0)
			fx_ref_set(f, F_ABSENT, nv);
		return rc;
	case FOP_PUT_REPLACE:
		rc = rcumap_put(f->map, k, tlen, nv);
		if (rc == 0)
			fx_ref_set(f, F_TARGET, nv);
		return rc;
	case FOP_REPLACE:
		rc = rcumap_replace(f->map, k, tlen, nv);
		if (rc == 0)
			fx_ref_set(f, F_TARGET, nv);
		return rc;
	case FOP_CAS:
		rc = rcumap_cas(f->map, k, tlen, cur, nv);
		if (rc == 0)
			fx_ref_set(f, F_TARGET, nv);
		return rc;
	case FOP_DELETE:
		rc = rcumap_delete(f->map, k, tlen);
		if (rc == 0)
			fx_ref_set(f, F_TARGET, NULL);
		return rc;
	case FOP_DELETE_IF:
		rc = rcumap_delete_if(f->map, k, tlen, cur);
		if (rc == 0)
			fx_ref_set(f, F_TARGET, NULL);
		return rc;
	case FOP_GET_OR_INSERT:
		alen = key_make(F_ABSENT, k);
		rc = rcumap_get_or_insert(f->map, k, alen, nv, res);
		if (rc == 0)
			fx_ref_set(f, F_ABSENT, nv);
		return rc;
	case FOP_CLEAR:
		rc = rcumap_clear(f->map);
		if (rc == 0)
			fx_ref_clear(f);
		return rc;
	case FOP_GROW:
		return rcumap_resize(f->map, 64);
	case FOP_SHRINK:
		return rcumap_resize(f->map, 8);
	}
	return -1;
}

/* One operation, failing allocation number `n` (once or from then on). */
static unsigned long fcase_once(const struct fcase *c, unsigned long n, bool persistent)
{
	struct fx f;
	struct fx_opts o = {
		.nvals = 48, .nkeys = F_KEYS + 1, .hash = hash_pairs,
		.min_slots = c->op == FOP_AUTO_GROW_INSERT ? 1 : 8,
	};
	struct rcumap_stats st0, st;
	void *res = SENTINEL_MAP;
	unsigned long injected;
	int rc;

	fx_open(&f, &o);
	fx_fill(&f, F_KEYS);
	fx_barrier(&f);
	assert_rc(resize_retry(f.map, fcase_start_slots(c)), 0);
	fx_barrier(&f);
	if (c->pending)
		assert_true(leave_migration_pending(&f, 128));
	st0 = stats_of(f.map);

	ca_arm(f.ca, n, persistent);
	rc = fcase_run(&f, c, &res);
	injected = ca_disarm(f.ca);

	if (rc == -ENOMEM) {
		if (!injected)
			fail_msg("-ENOMEM with no allocation failure injected");
		if (c->never_fails)
			fail_msg("op %d returned -ENOMEM, which its contract rules out", c->op);
		assert_ptr_equal(res, SENTINEL_MAP); /* get_or_insert: *result untouched */
		fx_check(&f); /* the reference was not updated: contents unchanged */
		assert_int_equal(tval_freed(fx_val(&f, F_NEWVAL)), 0);
	} else {
		assert_rc(rc, 0);
		fx_check(&f); /* the reference holds the operation's effect */
		st = stats_of(f.map);
		switch (c->op) {
		case FOP_GROW:
			assert_size(st.slots, 64);
			assert_int_equal(st.resizing, 0);
			assert_size(st.grows, st0.grows + 1);
			break;
		case FOP_SHRINK:
			assert_size(st.slots, 8);
			assert_int_equal(st.resizing, 0);
			assert_size(st.shrinks, st0.shrinks + 1);
			break;
		case FOP_AUTO_GROW_INSERT:
			if (!injected && !st.resizing && st.generation == st0.generation)
				fail_msg("inserting into %zu entries in %zu slot(s) did not start a grow",
					 st0.entries, st0.slots);
			break;
		case FOP_GET_OR_INSERT:
			assert_ptr_equal(res, fx_val(&f, F_NEWVAL));
			break;
		default:
			break;
		}
	}
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check(&f);
	fx_close(&f); /* every allocation freed, with its size and kind */
	return injected;
}

static void fcase_all(const struct fcase *c)
{
	for (int persistent = 0; persistent <= 1; persistent++) {
		unsigned long n, failed_runs = 0;

		for (n = 0; n < 2000; n++) {
			if (!fcase_once(c, n, persistent))
				break; /* completed without reaching allocation n */
			failed_runs++;
		}
		print_message("# %s failure: %lu failing runs\n",
			      persistent ? "persistent" : "one-shot", failed_runs);
		assert_true(n < 2000);
		if (c->must_allocate && failed_runs == 0)
			fail_msg("op %d never allocated: the case tests nothing", c->op);
	}
}

#define FAILURE_TEST(name, ...)                              \
	static void name(void **state)                       \
	{                                                    \
		static const struct fcase c = { __VA_ARGS__ }; \
		(void)state;                                 \
		fcase_all(&c);                               \
	}

FAILURE_TEST(insert_returns_enomem_and_changes_nothing_at_every_failed_allocation,
	     .op = FOP_INSERT, .must_allocate = true)
FAILURE_TEST(put_replacing_a_value_returns_enomem_and_changes_nothing_at_every_failed_allocation,
	     .op = FOP_PUT_REPLACE, .must_allocate = true)
FAILURE_TEST(replace_returns_enomem_and_changes_nothing_at_every_failed_allocation,
	     .op = FOP_REPLACE, .must_allocate = true)
FAILURE_TEST(cas_returns_enomem_and_changes_nothing_at_every_failed_allocation,
	     .op = FOP_CAS, .must_allocate = true)
FAILURE_TEST(delete_returns_enomem_and_changes_nothing_at_every_failed_allocation,
	     .op = FOP_DELETE, .must_allocate = true)
FAILURE_TEST(delete_if_returns_enomem_and_changes_nothing_at_every_failed_allocation,
	     .op = FOP_DELETE_IF, .must_allocate = true)
FAILURE_TEST(get_or_insert_returns_enomem_leaving_result_and_contents_unchanged_at_every_failed_allocation,
	     .op = FOP_GET_OR_INSERT, .must_allocate = true)
FAILURE_TEST(clear_without_a_pending_migration_needs_no_allocation,
	     .op = FOP_CLEAR, .never_fails = true)
FAILURE_TEST(clear_during_a_pending_migration_returns_enomem_and_removes_nothing_at_every_failed_allocation,
	     .op = FOP_CLEAR, .pending = true, .must_allocate = true)
FAILURE_TEST(forced_grow_returns_enomem_and_keeps_contents_at_every_failed_allocation,
	     .op = FOP_GROW, .must_allocate = true)
FAILURE_TEST(forced_shrink_returns_enomem_and_keeps_contents_at_every_failed_allocation,
	     .op = FOP_SHRINK, .must_allocate = true)
FAILURE_TEST(insert_triggering_an_automatic_grow_fails_cleanly_at_every_failed_allocation,
	     .op = FOP_AUTO_GROW_INSERT, .must_allocate = true)
FAILURE_TEST(insert_during_a_pending_migration_fails_cleanly_at_every_failed_allocation,
	     .op = FOP_INSERT, .pending = true, .must_allocate = true)
FAILURE_TEST(delete_during_a_pending_migration_fails_cleanly_at_every_failed_allocation,
	     .op = FOP_DELETE, .pending = true, .must_allocate = true)

/* ---- A reader pinned in its read section while every kind of update runs ------------ */

#define PIN_HELD 8

struct pin_reader {
	struct rcumap *map;
	struct tval *want[PIN_HELD];  /* value expected for key i */
	struct tval *held[PIN_HELD];
	pthread_t tid;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool pinned, release;
	/* Results, read by the test thread after the join. */
	bool timed_out;
	struct soft soft;
};

/* A reader left pinned by a failed test would hang every later barrier. */
static struct pin_reader *stray_reader;

static void *pin_reader_main(void *arg)
{
	struct pin_reader *r = arg;
	struct timespec deadline;

	test_thread_register();
	test_reader_enter();
	for (size_t i = 0; i < PIN_HELD; i++) {
		unsigned char k[KEY_BUF];
		size_t len = key_make(i, k);

		r->held[i] = rcumap_get(r->map, k, len);
		SOFT_CHECK(&r->soft, r->held[i] == r->want[i]);
		SOFT_CHECK(&r->soft, r->held[i] && r->held[i]->magic == TVAL_LIVE);
	}

	pthread_mutex_lock(&r->mu);
	r->pinned = true;
	pthread_cond_broadcast(&r->cv);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += under_valgrind() ? 600 : 60; /* a waiting writer shows up here */
	while (!r->release) {
		if (pthread_cond_timedwait(&r->cv, &r->mu, &deadline) == ETIMEDOUT) {
			r->timed_out = true;
			break;
		}
	}
	pthread_mutex_unlock(&r->mu);

	/* Everything taken at the start of the section is still intact. */
	for (size_t i = 0; i < PIN_HELD; i++) {
		struct tval *v = r->held[i];

		if (!v)
			continue;
		SOFT_CHECK(&r->soft, v->magic == TVAL_LIVE);
		SOFT_CHECK(&r->soft, tval_freed(v) == 0);
		SOFT_CHECK(&r->soft, v->id == i);
	}
	test_reader_leave();
	test_thread_unregister();
	return NULL;
}

static void pin_reader_start(struct pin_reader *r)
{
	r->pinned = r->release = r->timed_out = false;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	assert_int_equal(pthread_create(&r->tid, NULL, pin_reader_main, r), 0);
	r->started = true;
	stray_reader = r;
	test_offline();
	pthread_mutex_lock(&r->mu);
	while (!r->pinned)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
	test_online();
}

static void pin_reader_finish(struct pin_reader *r)
{
	if (!r->started)
		return;
	pthread_mutex_lock(&r->mu);
	r->release = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	test_offline();
	pthread_join(r->tid, NULL);
	test_online();
	r->started = false;
	stray_reader = NULL;
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
}

static int release_stray_reader(void **state)
{
	(void)state;
	if (stray_reader)
		pin_reader_finish(stray_reader);
	test_thread_reset();
	return 0;
}

static void reader_pins_its_values_through_deletes_replaces_resizes_and_clear_and_no_writer_waits(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 300, .nkeys = 256, .min_slots = 8 };
	/* On the heap: a failed test leaves it to release_stray_reader. */
	struct pin_reader *r = calloc(1, sizeof(*r));
	struct rcumap_stats s0, s2;
	struct soft soft = { 0 };
	unsigned char k[KEY_BUF];
	size_t len;
	void *res;

	(void)state;
	assert_non_null(r);
	fx_open(&f, &o);
	fx_fill(&f, 64);
	fx_barrier(&f);
	/* A size the policy is content with (load 1), so no automatic resize
	 * starts before the forced one below. */
	assert_rc(resize_retry(f.map, 64), 0);
	fx_barrier(&f); /* nothing left to reclaim: any reclaim below is post-pin */
	s0 = stats_of(f.map);
	for (int kd = 0; kd < RCUMAP_STATS_KINDS; kd++)
		assert_size(s0.kind[kd].retired, s0.kind[kd].reclaimed);
	r->map = f.map;
	for (size_t i = 0; i < PIN_HELD; i++)
		r->want[i] = f.ref[i];
	pin_reader_start(r);

	/*
	 * Every call below must return while the reader sits in its section.
	 * Soft checks only: the reader must be released before any assert.
	 */
	len = key_make(0, k);
	SOFT_RC(&soft, rcumap_delete(f.map, k, len), 0);
	fx_ref_set(&f, 0, NULL);
	len = key_make(1, k);
	SOFT_RC(&soft, rcumap_delete_if(f.map, k, len, fx_val(&f, 1)), 0);
	fx_ref_set(&f, 1, NULL);
	len = key_make(2, k);
	SOFT_RC(&soft, rcumap_replace(f.map, k, len, fx_val(&f, 200)), 0);
	fx_ref_set(&f, 2, fx_val(&f, 200));
	len = key_make(3, k);
	SOFT_RC(&soft, rcumap_put(f.map, k, len, fx_val(&f, 201)), 0);
	fx_ref_set(&f, 3, fx_val(&f, 201));
	len = key_make(4, k);
	SOFT_RC(&soft, rcumap_cas(f.map, k, len, fx_val(&f, 4), fx_val(&f, 202)), 0);
	fx_ref_set(&f, 4, fx_val(&f, 202));
	len = key_make(5, k);
	res = NULL;
	SOFT_RC(&soft, rcumap_get_or_insert(f.map, k, len, fx_val(&f, 203), &res), -EEXIST);
	SOFT_CHECK(&soft, res == fx_val(&f, 5));

	/*
	 * Forced resizes: each goes through at once although the reader pins
	 * every generation they retire; nothing waits for the reader.
	 */
	SOFT_RC(&soft, rcumap_resize(f.map, 512), 0);
	SOFT_CHECK(&soft, stats_of(f.map).slots == 512);
	SOFT_CHECK(&soft, stats_of(f.map).generation == s0.generation + 1);
	SOFT_RC(&soft, rcumap_resize(f.map, 8), 0);
	sleep_ms(50); /* the call_rcu worker gets every chance to reclaim */
	SOFT_RC(&soft, rcumap_resize(f.map, 1024), 0);
	SOFT_RC(&soft, rcumap_resize(f.map, 512), 0);
	SOFT_CHECK(&soft, stats_of(f.map).slots == 512);
	SOFT_CHECK(&soft, stats_of(f.map).generation == s0.generation + 4);

	/* Inserts, with whatever automatic resize they would like. */
	for (size_t i = 64; i < 128; i++) {
		len = key_make(i, k);
		SOFT_RC(&soft, rcumap_insert(f.map, k, len, fx_val(&f, i)), 0);
		fx_ref_set(&f, i, fx_val(&f, i));
	}
	/* Deletes down to where the policy would shrink. */
	for (size_t i = 64; i < 124; i++) {
		len = key_make(i, k);
		SOFT_RC(&soft, rcumap_delete(f.map, k, len), 0);
		fx_ref_set(&f, i, NULL);
	}
	/* The policy may shrink the table now: nothing holds it back. */
	SOFT_CHECK(&soft, stats_of(f.map).slots <= 512);
	SOFT_CHECK(&soft, stats_of(f.map).generation >= s0.generation + 4);

	SOFT_RC(&soft, rcumap_clear(f.map), 0);
	fx_ref_clear(&f);
	SOFT_CHECK(&soft, rcumap_count(f.map) == 0);
	for (size_t i = 128; i < 138; i++) {
		len = key_make(i, k);
		SOFT_RC(&soft, rcumap_insert(f.map, k, len, fx_val(&f, i)), 0);
		fx_ref_set(&f, i, fx_val(&f, i));
	}

	/* Nothing retired after the pin was reclaimed, and some was retired. */
	sleep_ms(30);
	s2 = stats_of(f.map);
	for (int kd = 0; kd < RCUMAP_STATS_KINDS; kd++)
		SOFT_CHECK(&soft, s2.kind[kd].reclaimed == s0.kind[kd].reclaimed);
	SOFT_CHECK(&soft, s2.kind[RCUMAP_KIND_BUCKET].retired > s0.kind[RCUMAP_KIND_BUCKET].retired);
	SOFT_CHECK(&soft, s2.kind[RCUMAP_KIND_TABLE].retired >= s0.kind[RCUMAP_KIND_TABLE].retired + 4);
	SOFT_CHECK(&soft, atomic_load(&f.tr->frees) == 0);
	for (size_t i = 0; i < f.tr->n; i++)
		SOFT_CHECK(&soft, tval_freed(&f.tr->v[i]) == 0);

	pin_reader_finish(r);

	if (soft.failures)
		fail_msg("%d failed checks while the reader was pinned; first: %s",
			 soft.failures, soft.first);
	assert_false(r->timed_out);
	if (r->soft.failures)
		fail_msg("%d failed checks in the reader; first: %s", r->soft.failures,
			 r->soft.first);
	print_message("# while pinned: %llu buckets and %llu tables retired\n",
		      (unsigned long long)(s2.kind[RCUMAP_KIND_BUCKET].retired -
					   s0.kind[RCUMAP_KIND_BUCKET].retired),
		      (unsigned long long)(s2.kind[RCUMAP_KIND_TABLE].retired -
					   s0.kind[RCUMAP_KIND_TABLE].retired));

	/* Released: one barrier reclaims everything, each value exactly once. */
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	for (size_t i = 0; i < 128; i++)
		assert_int_equal(tval_freed(fx_val(&f, i)), 1);
	fx_check(&f);
	/* The gate is open again. */
	assert_rc(rcumap_resize(f.map, 8), 0);
	assert_size(stats_of(f.map).slots, 8);
	fx_check(&f);
	fx_close(&f);
	free(r);
}

/* ---- Multi-threaded smoke test ------------------------------------------------------- */

#define SMOKE_OWN 512     /* keys each writer owns and checks against its oracle */
#define SMOKE_SHARED 64   /* keys both writers update */
#define SMOKE_KEYS (2 * SMOKE_OWN + SMOKE_SHARED)
#define SVAL_LIVE 0x534d4f4b452d4f4bull /* "SMOKE-OK" */
#define SVAL_DEAD 0x534d4f4b452d5846ull /* "SMOKE-XF" */

struct sval {
	uint64_t magic;
	uint32_t key;
	uint32_t writer;  /* 0, 1; 2 for values on shared keys */
};

struct smoke {
	struct rcumap *map;
	atomic_bool stop;
	atomic_ulong created, caller_freed, map_freed, free_errors;
};

struct smoke_thread {
	struct smoke *sm;
	pthread_t tid;
	int id;
	uint64_t rng;
	unsigned long ops, hits, errors;
	char first[256];
	struct sval *oracle[SMOKE_OWN];  /* writers: what each owned key holds */
};

static void smoke_free_value(void *value, void *arg)
{
	struct smoke *sm = arg;
	struct sval *v = value;

	if (v->magic != SVAL_LIVE)
		atomic_fetch_add(&sm->free_errors, 1);
	*(volatile uint64_t *)&v->magic = SVAL_DEAD; /* a late reader sees DEAD */
	free(v);
	atomic_fetch_add(&sm->map_freed, 1);
}

#define SMOKE_ERR(t, ...)                                                       \
	do {                                                                    \
		if ((t)->errors++ == 0)                                         \
			snprintf((t)->first, sizeof((t)->first), __VA_ARGS__);  \
	} while (0)

static struct sval *smoke_new(struct smoke_thread *t, uint32_t key, uint32_t writer)
{
	struct sval *v = malloc(sizeof(*v));

	if (!v)
		abort();
	v->magic = SVAL_LIVE;
	v->key = key;
	v->writer = writer;
	atomic_fetch_add(&t->sm->created, 1);
	return v;
}

/* The caller kept ownership of a value the map refused. */
static void smoke_drop(struct smoke_thread *t, struct sval *v)
{
	v->magic = SVAL_DEAD;
	free(v);
	atomic_fetch_add(&t->sm->caller_freed, 1);
}

static void smoke_check_value(struct smoke_thread *t, const struct sval *v, uint32_t key)
{
	if (v->magic != SVAL_LIVE)
		SMOKE_ERR(t, "key %u: value %p is not live (%#llx)", key, (const void *)v,
			  (unsigned long long)v->magic);
	else if (v->key != key)
		SMOKE_ERR(t, "key %u: got the value of key %u", key, v->key);
	else if (key < 2 * SMOKE_OWN && v->writer != key / SMOKE_OWN)
		SMOKE_ERR(t, "key %u: value written by writer %u", key, v->writer);
}

static void smoke_own_op(struct smoke_thread *t, unsigned op, uint32_t j)
{
	struct rcumap *map = t->sm->map;
	uint32_t key = (uint32_t)t->id * SMOKE_OWN + j;
	unsigned char k[KEY_BUF];
	size_t len = key_make(key, k);
	struct sval *cur = t->oracle[j], *v, *got;
	static struct sval wrong = { 0 }; /* never stored: a wrong "expected" */
	void *res = NULL;
	int rc, want;

	switch (op) {
	case 0: /* insert */
		v = smoke_new(t, key, (uint32_t)t->id);
		rc = rcumap_insert(map, k, len, v);
		want = cur ? -EEXIST : 0;
		break;
	case 1: /* put */
		v = smoke_new(t, key, (uint32_t)t->id);
		rc = rcumap_put(map, k, len, v);
		want = 0;
		break;
	case 2: /* replace */
		v = smoke_new(t, key, (uint32_t)t->id);
		rc = rcumap_replace(map, k, len, v);
		want = cur ? 0 : -ENOENT;
		break;
	case 3: /* cas with the right expected value */
		v = smoke_new(t, key, (uint32_t)t->id);
		rc = rcumap_cas(map, k, len, cur ? (void *)cur : (void *)&wrong, v);
		want = cur ? 0 : -ENOENT;
		break;
	case 4: /* cas with a wrong expected value */
		v = smoke_new(t, key, (uint32_t)t->id);
		rc = rcumap_cas(map, k, len, &wrong, v);
		want = cur ? -EAGAIN : -ENOENT;
		break;
	case 5: /* delete */
		v = NULL;
		rc = rcumap_delete(map, k, len);
		want = cur ? 0 : -ENOENT;
		break;
	case 6: /* delete_if, right or wrong alternately */
		v = NULL;
		if (t->ops & 1) {
			rc = rcumap_delete_if(map, k, len, cur ? (void *)cur : (void *)&wrong);
			want = cur ? 0 : -ENOENT;
		} else {
			rc = rcumap_delete_if(map, k, len, &wrong);
			want = cur ? -EAGAIN : -ENOENT;
		}
		break;
	case 7: /* get_or_insert */
		v = smoke_new(t, key, (uint32_t)t->id);
		rc = rcumap_get_or_insert(map, k, len, v, &res);
		want = cur ? -EEXIST : 0;
		if (rc == want && res != (cur ? (void *)cur : (void *)v))
			SMOKE_ERR(t, "get_or_insert key %u: wrong *result", key);
		break;
	default: /* get */
		test_reader_enter();
		got = rcumap_get(map, k, len);
		if (got != cur)
			SMOKE_ERR(t, "get key %u: %p, oracle %p", key, (void *)got, (void *)cur);
		else if (got)
			smoke_check_value(t, got, key);
		test_reader_leave();
		return;
	}
	if (rc != want) {
		SMOKE_ERR(t, "op %u on own key %u returned %d, expected %d", op, key, rc, want);
		if (v && rc != 0)
			smoke_drop(t, v);
		return;
	}
	if (rc == 0)
		t->oracle[j] = (op == 5 || op == 6) ? NULL : v;
	else if (v)
		smoke_drop(t, v);
}

static void smoke_shared_op(struct smoke_thread *t, unsigned op, uint32_t key)
{
	struct rcumap *map = t->sm->map;
	unsigned char k[KEY_BUF];
	size_t len = key_make(key, k);
	struct sval *v = NULL, *cur;
	void *res = NULL;
	int rc;

	switch (op % 6) {
	case 0:
		v = smoke_new(t, key, 2);
		rc = rcumap_put(map, k, len, v);
		if (rc != 0)
			SMOKE_ERR(t, "put shared %u: %d", key, rc);
		break;
	case 1:
		v = smoke_new(t, key, 2);
		rc = rcumap_insert(map, k, len, v);
		if (rc != 0 && rc != -EEXIST)
			SMOKE_ERR(t, "insert shared %u: %d", key, rc);
		if (rc != 0)
			smoke_drop(t, v);
		break;
	case 2:
		rc = rcumap_delete(map, k, len);
		if (rc != 0 && rc != -ENOENT)
			SMOKE_ERR(t, "delete shared %u: %d", key, rc);
		break;
	case 3: /* read-modify-write inside one read section */
		test_reader_enter();
		cur = rcumap_get(map, k, len);
		if (cur) {
			smoke_check_value(t, cur, key);
			v = smoke_new(t, key, 2);
			rc = rcumap_cas(map, k, len, cur, v);
			if (rc != 0 && rc != -EAGAIN && rc != -ENOENT)
				SMOKE_ERR(t, "cas shared %u: %d", key, rc);
			if (rc != 0)
				smoke_drop(t, v);
		}
		test_reader_leave();
		break;
	case 4:
		test_reader_enter();
		v = smoke_new(t, key, 2);
		rc = rcumap_get_or_insert(map, k, len, v, &res);
		if (rc != 0 && rc != -EEXIST)
			SMOKE_ERR(t, "get_or_insert shared %u: %d", key, rc);
		if (rc == 0 && res != v)
			SMOKE_ERR(t, "get_or_insert shared %u: *result is not the inserted value", key);
		if (rc == -EEXIST) {
			if (!res)
				SMOKE_ERR(t, "get_or_insert shared %u: NULL *result", key);
			else
				smoke_check_value(t, res, key);
			smoke_drop(t, v);
		}
		test_reader_leave();
		break;
	default:
		test_reader_enter();
		cur = rcumap_get(map, k, len);
		if (cur) {
			smoke_check_value(t, cur, key);
			rc = rcumap_delete_if(map, k, len, cur);
			if (rc != 0 && rc != -EAGAIN && rc != -ENOENT)
				SMOKE_ERR(t, "delete_if shared %u: %d", key, rc);
		}
		test_reader_leave();
		break;
	}
}

static void *smoke_writer_main(void *arg)
{
	struct smoke_thread *t = arg;

	test_thread_register();
	while (!atomic_load_explicit(&t->sm->stop, memory_order_relaxed)) {
		for (int i = 0; i < 64; i++) {
			uint64_t r = rng_next(&t->rng);
			unsigned op = (unsigned)(r >> 8) % 10;

			if ((r & 3) == 0) {
				smoke_shared_op(t, op, 2 * SMOKE_OWN +
						       (uint32_t)((r >> 16) % SMOKE_SHARED));
			} else if ((r >> 40) % 2048 == 0) {
				size_t slots = (size_t)8 << ((r >> 20) % 9);
				int rc = rcumap_resize(t->sm->map, slots);

				if (rc != 0 && rc != -EBUSY)
					SMOKE_ERR(t, "resize %zu: %d", slots, rc);
			} else {
				smoke_own_op(t, op, (uint32_t)((r >> 16) % SMOKE_OWN));
			}
			t->ops++;
		}
		test_quiesce();
	}
	test_thread_unregister();
	return NULL;
}

static void *smoke_reader_main(void *arg)
{
	struct smoke_thread *t = arg;

	test_thread_register();
	while (!atomic_load_explicit(&t->sm->stop, memory_order_relaxed)) {
		test_reader_enter();
		for (int i = 0; i < 32; i++) {
			uint32_t key = (uint32_t)(rng_next(&t->rng) % SMOKE_KEYS);
			unsigned char k[KEY_BUF];
			size_t len = key_make(key, k);
			const struct sval *v = rcumap_get(t->sm->map, k, len);

			if (v) {
				smoke_check_value(t, v, key);
				t->hits++;
			}
			t->ops++;
		}
		test_reader_leave();
		test_quiesce();
	}
	test_thread_unregister();
	return NULL;
}

static void two_writers_and_two_readers_keep_the_map_consistent(void **state)
{
	/* On the heap, for the same reason as struct fx's instruments. */
	struct smoke *sm = calloc(1, sizeof(*sm));
	struct count_alloc *ca = malloc(sizeof(*ca));
	struct rcumap_config cfg = {
		.flavor = RCUMAP_FLAVOR, .free_value = smoke_free_value, .free_value_arg = sm,
		.alloc = ca_alloc, .free = ca_free, .alloc_arg = ca,
	};
	struct smoke_thread *th = calloc(4, sizeof(*th));
	const char *seed_env = getenv("RCUMAP_TEST_SEED");
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)time(NULL);
	size_t present = 0;

	(void)state;
	assert_non_null(th);
	assert_non_null(sm);
	assert_non_null(ca);
	print_message("# smoke seed %llu (replay with RCUMAP_TEST_SEED)\n",
		      (unsigned long long)seed);
	ca_init(ca);
	assert_rc(rcumap_create(&cfg, &sm->map), 0);

	for (int i = 0; i < 4; i++) {
		th[i].sm = sm;
		th[i].id = i < 2 ? i : i - 2;
		th[i].rng = mix64(seed + (uint64_t)i) | 1;
		assert_int_equal(pthread_create(&th[i].tid, NULL,
						i < 2 ? smoke_writer_main : smoke_reader_main,
						&th[i]), 0);
	}
	sleep_ms(1000);
	atomic_store(&sm->stop, true);
	test_offline();
	for (int i = 0; i < 4; i++)
		pthread_join(th[i].tid, NULL);
	test_online();

	for (int i = 0; i < 4; i++) {
		if (i < 2)
			print_message("# writer %d: %lu ops\n", th[i].id, th[i].ops);
		else
			print_message("# reader %d: %lu lookups, %lu hits\n", th[i].id,
				      th[i].ops, th[i].hits);
		if (th[i].errors)
			fail_msg("%s %d: %lu errors; first: %s", i < 2 ? "writer" : "reader",
				 th[i].id, th[i].errors, th[i].first);
		assert_true(th[i].ops > 0);
	}
	/* The final contents agree with the writers' oracles. */
	for (int w = 0; w < 2; w++) {
		for (uint32_t j = 0; j < SMOKE_OWN; j++) {
			unsigned char k[KEY_BUF];
			uint32_t key = (uint32_t)w * SMOKE_OWN + j;
			size_t len = key_make(key, k);

			assert_ptr_equal(get_locked(sm->map, k, len), th[w].oracle[j]);
			present += th[w].oracle[j] != NULL;
		}
	}
	for (uint32_t key = 2 * SMOKE_OWN; key < SMOKE_KEYS; key++) {
		unsigned char k[KEY_BUF];
		size_t len = key_make(key, k);
		struct sval *v = get_locked(sm->map, k, len);

		if (v) {
			assert_true(v->magic == SVAL_LIVE);
			assert_int_equal(v->key, key);
			present++;
		}
	}
	assert_size(rcumap_count(sm->map), present);
	assert_rc(rcumap_validate(sm->map), 0);
	assert_rc(rcumap_destroy(sm->map), 0);

	/* Every value went back exactly once: to the map's free_value or the caller. */
	assert_int_equal(atomic_load(&sm->free_errors), 0);
	assert_size(atomic_load(&sm->created),
		    atomic_load(&sm->map_freed) + atomic_load(&sm->caller_freed));
	ca_check_balanced(ca);
	free(th);
	free(sm);
	free(ca);
}

/* ---- Runner ---------------------------------------------------------------------------- */

static int test_setup(void **state)
{
	(void)state;
	test_thread_reset(); /* in case a failed test left a section open or qsbr offline */
	return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, release_stray_reader)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(harness_detects_double_free_foreign_values_and_leaks),
		T(premature_free_detectors_fire_on_a_flavor_without_grace_periods),
		/* creation and destruction */
		T(create_rejects_null_config_out_or_flavor_and_leaves_out_untouched),
		T(create_rejects_alloc_without_free_and_free_without_alloc),
		T(create_rejects_min_slots_above_slots_max_but_accepts_slots_max),
		T(create_rounds_min_slots_up_to_a_power_of_two_and_defaults_to_eight),
		T(update_refuses_a_misaligned_bucket_with_enomem_and_changes_nothing),
		T(create_returns_enomem_at_every_failed_allocation_and_leaks_nothing),
		T(destroy_of_null_map_returns_einval),
		T(destroy_frees_every_remaining_value_once_and_all_memory),
		T(destroy_without_free_value_leaves_values_alone),
#if !TEST_FLAVOR_QSBR
		T(barrier_and_destroy_inside_read_section_return_edeadlk_and_leave_map_untouched),
#else
		T(barrier_and_destroy_work_online_and_offline_under_qsbr),
#endif
		/* lookups and keys */
		T(get_of_absent_key_returns_null),
		T(get_rejects_null_map_null_key_with_length_and_oversized_length),
		T(empty_key_with_null_pointer_is_a_valid_key),
		T(keys_with_embedded_nuls_and_common_prefixes_are_distinct),
		T(keys_of_0_1_15_16_17_and_65536_bytes_round_trip),
		T(key_of_exactly_key_max_bytes_is_accepted),
		T(every_update_rejects_invalid_arguments_and_changes_nothing),
		/* each update */
		T(insert_of_present_key_returns_eexist_and_keeps_callers_value),
		T(put_inserts_then_replaces_and_frees_old_value_once_after_barrier),
		T(put_of_the_stored_pointer_is_a_noop_that_frees_nothing),
		T(replace_of_absent_key_returns_enoent_and_of_present_key_frees_old_value),
		T(cas_returns_enoent_or_eagain_or_swaps_and_frees_expected_after_barrier),
		T(cas_with_expected_equal_to_desired_changes_nothing),
		T(delete_of_absent_key_returns_enoent_and_changes_nothing),
		T(delete_removes_the_key_and_frees_its_value_once_after_barrier),
		T(delete_if_returns_enoent_or_eagain_or_removes_the_matching_value),
		T(get_or_insert_inserts_an_absent_key_and_returns_the_existing_value_otherwise),
		T(count_follows_inserts_and_deletes_and_is_zero_for_a_null_map),
		T(clear_removes_every_entry_and_frees_each_value_once_after_barrier),
		/* stats, resize, barrier, validate, hashing */
		T(stats_report_entries_slots_generations_resizes_and_balanced_reclamation),
		T(resizes_go_through_inside_a_read_section_and_old_generations_wait_for_it),
		T(resize_clamps_to_min_slots_and_same_size_resize_changes_nothing),
		T(resize_above_slots_max_is_rejected_and_slots_max_reaches_the_allocator),
		T(default_allocator_resize_returns_enomem_when_the_kernel_refuses_the_table),
		T(barrier_waits_for_everything_retired_before_it),
		T(removed_values_are_not_freed_while_the_caller_holds_a_read_section),
		T(validate_accepts_healthy_maps_and_rejects_a_null_map),
		T(validate_reports_euclean_when_the_hash_changes_under_the_map),
		T(custom_hash_functions_with_full_collisions_or_half_zero_bits_give_correct_results),
		T(custom_hash_receives_the_key_its_length_and_hash_arg),
		/* resizing at scale */
		T(grow_to_a_million_entries_and_shrink_back_keeps_every_entry_intact),
		T(pending_migration_after_enomem_is_resumed_by_later_updates),
		/* batched lookups */
		T(get_batch_of_0_1_and_1000_keys_returns_what_get_returns_for_each_key),
		T(get_batch_gives_each_copy_of_a_repeated_key_the_keys_value),
		T(get_batch_tells_apart_keys_of_every_length_class_and_keys_that_differ_only_in_length),
		T(get_batch_rejects_invalid_arguments_with_einval_and_writes_no_value),
		T(get_batch_during_a_half_done_migration_finds_every_key_with_its_latest_value),
		/* allocation failure */
		T(insert_returns_enomem_and_changes_nothing_at_every_failed_allocation),
		T(put_replacing_a_value_returns_enomem_and_changes_nothing_at_every_failed_allocation),
		T(replace_returns_enomem_and_changes_nothing_at_every_failed_allocation),
		T(cas_returns_enomem_and_changes_nothing_at_every_failed_allocation),
		T(delete_returns_enomem_and_changes_nothing_at_every_failed_allocation),
		T(delete_if_returns_enomem_and_changes_nothing_at_every_failed_allocation),
		T(get_or_insert_returns_enomem_leaving_result_and_contents_unchanged_at_every_failed_allocation),
		T(clear_without_a_pending_migration_needs_no_allocation),
		T(clear_during_a_pending_migration_returns_enomem_and_removes_nothing_at_every_failed_allocation),
		T(forced_grow_returns_enomem_and_keeps_contents_at_every_failed_allocation),
		T(forced_shrink_returns_enomem_and_keeps_contents_at_every_failed_allocation),
		T(insert_triggering_an_automatic_grow_fails_cleanly_at_every_failed_allocation),
		T(insert_during_a_pending_migration_fails_cleanly_at_every_failed_allocation),
		T(delete_during_a_pending_migration_fails_cleanly_at_every_failed_allocation),
		/* concurrency */
		T(reader_pins_its_values_through_deletes_replaces_resizes_and_clear_and_no_writer_waits),
		T(two_writers_and_two_readers_keep_the_map_consistent),
	};
	const char *filter = getenv("RCUMAP_TEST_MAP_FILTER");
	const char *skip = getenv("RCUMAP_TEST_MAP_SKIP");
	int ntests = 0, failed;

	/* cmocka's glob over test names (* and ?, as fnmatch without flags) */
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		ntests += (!filter || fnmatch(filter, tests[i].name, 0) == 0) &&
			  !(skip && fnmatch(skip, tests[i].name, 0) == 0);
	if (filter)
		cmocka_set_test_filter(filter);
	if (skip)
		cmocka_set_skip_filter(skip);
	/* A hung library call (a writer waiting for a reader) must not hang make check. */
	alarm(under_valgrind() ? 3600 : 600);
	test_thread_register();
	failed = cmocka_run_group_tests_name("rcumap_" TEST_FLAVOR_NAME, tests, NULL, NULL);
	test_thread_unregister();
	/* The plain summary line the CI log reader looks for. */
	printf("%d passed, %d failed\n", ntests - failed, failed);
	return failed ? 1 : 0;
}
