/* SPDX-License-Identifier: MIT */
/* map_create.c: test_map's instruments and a map's life: the harness's negative controls, create, destroy. */

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
	fx_fill(&f, 0, 300);
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
	fx_fill(&f, 0, 100);
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
	fx_fill(&f, 0, 32);
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
	fx_fill(&f, 0, 32);
	assert_rc(fx_delete(&f, 3), 0);
	assert_rc(fx_put(&f, 4, 35), 0);
	assert_true(rcu_read_ongoing()); /* online */
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	fx_close(&f); /* destroy while online */

	fx_open(&f, &o);
	fx_fill(&f, 0, 32);
	assert_rc(fx_delete(&f, 3), 0);
	test_offline();
	assert_rc(rcumap_barrier(f.map), 0);
	test_online();
	fx_check_frees(&f);
	test_offline();
	assert_rc(rcumap_destroy(f.map), 0);
	test_online();
	fx_destroyed(&f);
}
#endif


static const struct CMUnitTest tests[] = {
	MAP_TEST(harness_detects_double_free_foreign_values_and_leaks),
	MAP_TEST(premature_free_detectors_fire_on_a_flavor_without_grace_periods),
	/* creation and destruction */
	MAP_TEST(create_rejects_null_config_out_or_flavor_and_leaves_out_untouched),
	MAP_TEST(create_rejects_alloc_without_free_and_free_without_alloc),
	MAP_TEST(create_rejects_min_slots_above_slots_max_but_accepts_slots_max),
	MAP_TEST(create_rounds_min_slots_up_to_a_power_of_two_and_defaults_to_eight),
	MAP_TEST(update_refuses_a_misaligned_bucket_with_enomem_and_changes_nothing),
	MAP_TEST(create_returns_enomem_at_every_failed_allocation_and_leaks_nothing),
	MAP_TEST(destroy_of_null_map_returns_einval),
	MAP_TEST(destroy_frees_every_remaining_value_once_and_all_memory),
	MAP_TEST(destroy_without_free_value_leaves_values_alone),
#if !TEST_FLAVOR_QSBR
	MAP_TEST(barrier_and_destroy_inside_read_section_return_edeadlk_and_leave_map_untouched),
#else
	MAP_TEST(barrier_and_destroy_work_online_and_offline_under_qsbr),
#endif
};

const struct fx_group map_create_tests = FX_GROUP_OF(tests);
