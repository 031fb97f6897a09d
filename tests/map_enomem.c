/* SPDX-License-Identifier: MIT */
/* map_enomem.c: test_map's allocation failures: every allocation of every update fails in turn. */

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
	fx_fill(&f, 0, F_KEYS);
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


static const struct CMUnitTest tests[] = {
	MAP_TEST(insert_returns_enomem_and_changes_nothing_at_every_failed_allocation),
	MAP_TEST(put_replacing_a_value_returns_enomem_and_changes_nothing_at_every_failed_allocation),
	MAP_TEST(replace_returns_enomem_and_changes_nothing_at_every_failed_allocation),
	MAP_TEST(cas_returns_enomem_and_changes_nothing_at_every_failed_allocation),
	MAP_TEST(delete_returns_enomem_and_changes_nothing_at_every_failed_allocation),
	MAP_TEST(delete_if_returns_enomem_and_changes_nothing_at_every_failed_allocation),
	MAP_TEST(get_or_insert_returns_enomem_leaving_result_and_contents_unchanged_at_every_failed_allocation),
	MAP_TEST(clear_without_a_pending_migration_needs_no_allocation),
	MAP_TEST(clear_during_a_pending_migration_returns_enomem_and_removes_nothing_at_every_failed_allocation),
	MAP_TEST(forced_grow_returns_enomem_and_keeps_contents_at_every_failed_allocation),
	MAP_TEST(forced_shrink_returns_enomem_and_keeps_contents_at_every_failed_allocation),
	MAP_TEST(insert_triggering_an_automatic_grow_fails_cleanly_at_every_failed_allocation),
	MAP_TEST(insert_during_a_pending_migration_fails_cleanly_at_every_failed_allocation),
	MAP_TEST(delete_during_a_pending_migration_fails_cleanly_at_every_failed_allocation),
};

const struct fx_group map_enomem_tests = FX_GROUP_OF(tests);
