/* SPDX-License-Identifier: MIT */
/* iter_update.c: test_iter's updates from inside a traversal (T5), down to deleting every entry. */

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

/* ---- Updates from inside the traversal (T5) ------------------------------------------- */

static const struct mode modes_e[] = {
	{ W_ITER, 0, false, "in-section iterator" },
	{ W_SCAN, 1, false, "scan max 1" },
	{ W_SCAN, 4, false, "scan max 4" },
	{ W_SCAN, 0, false, "scan max 1..7" },
	{ W_SCAN, 3, true, "scan max 3, updating between calls too" },
};
#define NMODES_E (sizeof(modes_e) / sizeof(modes_e[0]))

static void expect_update(struct walk *w, enum uop op, size_t id)
{
	int want = uop_expect(w->f, op, id);
	int rc = ifx_update(w->f, op, id);

	if (rc != want)
		terr(w->tv, E_UPDATE, "UPDATE: %s of key %zu during the traversal returned %d (%s), "
		     "expected %d", uop_name[op], id, rc, errname(rc), want);
}

static void each_delete_current(struct walk *w, long id)
{
	expect_update(w, U_DELETE, (size_t)id);
}

static void each_delete_current_and_reinsert(struct walk *w, long id)
{
	expect_update(w, U_DELETE, (size_t)id);
	expect_update(w, U_INSERT, (size_t)id);
}

static void each_delete_every_other(struct walk *w, long id)
{
	if (w->nth % 2)
		expect_update(w, id % 2 ? U_DELETE : U_DELETE_IF, (size_t)id);
}

/* A random key in the given state relative to the traversal, or -1. */
static long pick_key(struct walk *w, bool visited, bool present)
{
	struct fx *f = w->f;

	for (int tries = 0; tries < 64; tries++) {
		size_t i = fx_rand(f, f->nkeys);

		if ((w->tv->count[i] > 0) == visited && (f->ref[i] != NULL) == present)
			return (long)i;
	}
	return -1;
}

static void each_delete_visited(struct walk *w, long id)
{
	long k = pick_key(w, true, true);

	(void)id;
	if (k >= 0)
		expect_update(w, U_DELETE, (size_t)k);
}

static void each_delete_unvisited(struct walk *w, long id)
{
	long k = pick_key(w, false, true);

	(void)id;
	if (k >= 0 && fx_rand(w->f, 3) == 0)
		expect_update(w, U_DELETE, (size_t)k);
}

static void each_replace(struct walk *w, long id)
{
	long v = pick_key(w, true, true), u = pick_key(w, false, true);

	expect_update(w, U_PUT, (size_t)id);
	if (v >= 0)
		expect_update(w, U_REPLACE, (size_t)v);
	if (u >= 0)
		expect_update(w, U_CAS, (size_t)u);
}

static void each_insert_two(struct walk *w, long id)
{
	(void)id;
	for (int i = 0; i < 2; i++) {
		long k = pick_key(w, false, false);

		if (k >= 0)
			expect_update(w, i ? U_GET_OR_INSERT : U_INSERT, (size_t)k);
	}
}

static void each_random(struct walk *w, long id)
{
	struct fx *f = w->f;
	unsigned ops = (unsigned)fx_rand(f, 4);

	for (unsigned i = 0; i < ops; i++) {
		enum uop op = (enum uop)fx_rand(f, U_OPS);
		long k;

		switch (fx_rand(f, 4)) {
		case 0: k = id; break;
		case 1: k = pick_key(w, true, fx_rand(f, 2)); break;
		case 2: k = pick_key(w, false, fx_rand(f, 2)); break;
		default: k = (long)fx_rand(f, f->nkeys); break;
		}
		if (k >= 0)
			expect_update(w, op, (size_t)k);
	}
	if (fx_rand(f, 64) == 0) {
		/* A forced resize from inside: 0, or -EBUSY while the gate is closed. */
		size_t slots = (size_t)1 << fx_rand(f, 12);
		int rc = rcumap_resize(f->map, slots);

		if (rc != 0 && rc != -EBUSY)
			terr(w->tv, E_UPDATE, "UPDATE: rcumap_resize(%zu) during the traversal returned %d",
			     slots, rc);
	}
}

/* Between scan calls: the same updates as inside, around the key returned last. */
static void act_each_between(struct walk *w, struct action *a)
{
	if (w->last_id >= 0)
		w->each(w, w->last_id);
	a->repeat = true;
	a->done = false;
	a->at = w->nth + 1;
}

struct e_case {
	void (*each)(struct walk *w, long id);
	const char *name;
	size_t start;      /* keys present at the start: [0, start) */
	bool empties;      /* the map ends empty */
};

static void run_e_case(const struct e_case *e, size_t nkeys, unsigned rounds)
{
	struct fx f;
	struct trav tv;
	size_t dead[2] = { 0, 0 }, dead_seen[2] = { 0, 0 }, gone[2] = { 0, 0 }; /* by wmode */

	ifx_open(&f, &(struct ifx_opts){ .nkeys = nkeys, .nvals = 64 * nkeys * rounds,
					 .min_slots = 1 });
	trav_init(&tv, &f, true);
	for (unsigned r = 0; r < rounds; r++) {
		for (size_t m = 0; m < NMODES_E; m++) {
			struct walk w;

			/* Back to keys [0, start) only, the gate open. */
			for (size_t i = 0; i < nkeys; i++)
				if ((i < e->start) != (f.ref[i] != NULL))
					ifx_must(&f, i < e->start ? U_INSERT : U_DELETE, i);
			fx_barrier(&f);
			walk_setup(&w, &f, &tv, &modes_e[m]);
			w.each = e->each;
			if (modes_e[m].between)
				walk_add(&w, 1, true, act_each_between, 0);
			walk_check(&w, "%s, %s, round %u", e->name, modes_e[m].name, r);
			if (e->empties)
				assert_size(rcumap_count(f.map), 0);
			fx_check(&f);
			dead[modes_e[m].m] += tv.deleted_unvisited;
			dead_seen[modes_e[m].m] += tv.deleted_unvisited_seen;
			gone[modes_e[m].m] += tv.gone;
		}
	}
	/*
	 * T4.1 lets a traversal return a key deleted before it got there, T4.3
	 * not if the step deciding it had not begun (those were checked, as
	 * "beyond the current step"); how often each happened:
	 */
	if (dead[W_ITER] + dead[W_SCAN])
		print_message("# %s: iterator: %zu keys deleted before being returned, %zu of them "
			      "beyond the current step, %zu returned anyway; scans: %zu, %zu, %zu\n",
			      e->name, dead[W_ITER], gone[W_ITER], dead_seen[W_ITER], dead[W_SCAN],
			      gone[W_SCAN], dead_seen[W_SCAN]);
	trav_fini(&tv);
	ifx_close(&f);
}

static void deleting_the_current_key_returns_every_key_once_and_empties_the_map(void **state)
{
	const size_t n = under_valgrind() ? 200 : 1000;
	const struct e_case e = { each_delete_current, "delete the current key", n, true };
	const struct e_case r = { each_delete_current_and_reinsert,
				  "delete the current key and insert it again", n, false };

	(void)state;
	run_e_case(&e, n, 1);
	run_e_case(&r, n, 1);
}

static void deleting_replacing_and_inserting_other_keys_keeps_the_rest_exactly_once(void **state)
{
	const size_t n = under_valgrind() ? 150 : 600;
	const struct e_case cases[] = {
		{ each_delete_every_other, "delete every other returned key", n, false },
		{ each_delete_visited, "delete an already returned key", n, false },
		{ each_delete_unvisited, "delete a key not yet returned", n, false },
		{ each_replace, "replace the current, a returned and an unreturned key", n, false },
		{ each_insert_two, "insert two new keys per entry", n / 4, false },
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		run_e_case(&cases[c], n, 1);
}

static void random_updates_and_resizes_from_inside_a_traversal_keep_guarantees_b_c_d(void **state)
{
	const size_t n = under_valgrind() ? 120 : 500;
	const struct e_case e = { each_random, "random updates of any key", n / 2, false };

	(void)state;
	run_e_case(&e, n, under_valgrind() ? 2 : 6);
}

/* ---- Deleting everything through a scan ---------------------------------------------- */

static void each_delete_current_fast(struct walk *w, long id)
{
	int rc = ifx_update(w->f, U_DELETE, (size_t)id);

	if (rc != 0)
		terr(w->tv, E_UPDATE, "UPDATE: delete of key %ld returned %d", id, rc);
}

static void a_scan_deleting_every_entry_of_a_million_sees_each_once_and_leaves_the_map_empty_and_small(void **state)
{
	const size_t n = under_valgrind() ? 100000 : 1000000;
	struct fx f;
	struct trav tv;
	struct walk w;
	struct rcumap_stats big, after_scan, st;
	static const struct mode scan = { W_SCAN, 1000, false, "scan" };
	double t0 = now_seconds(), t1;

	(void)state;
	ifx_open(&f, &(struct ifx_opts){ .nkeys = n, .nvals = n, .min_slots = 8 });
	trav_init(&tv, &f, false);
	fx_fill(&f, 0, n);
	fx_barrier(&f);
	big = stats_peek(f.map);
	t1 = now_seconds();

	walk_setup(&w, &f, &tv, &scan);
	w.each = each_delete_current_fast;
	walk_check(&w, "scan deleting every entry of %zu", n);
	assert_size(tv.returned, n);
	for (size_t i = 0; i < n; i++)
		if (tv.count[i] != 1)
			fail_msg("key %zu passed %u times", i, tv.count[i]);
	after_scan = stats_peek(f.map);
	assert_size(rcumap_count(f.map), 0);
	assert_rc(rcumap_validate(f.map), 0);

	/*
	 * docs/design.md, G4.4: the table shrinks on the updates that follow mass
	 * deletes, one generation per grace period (I6); the last step may
	 * wait for the gate, and rcumap_resize(map, 0) applies the policy now.
	 */
	fx_barrier(&f);
	assert_rc(resize_retry(f.map, 0), 0);
	fx_barrier(&f);
	st = stats_peek(f.map);
	print_message("# %zu entries: filled in %.1f s to %zu slots; the deleting scan took %u calls, "
		      "%.1f s, %llu shrinks meanwhile, leaving %zu slots; %zu after resize(0)\n", n,
		      t1 - t0, big.slots, w.calls, now_seconds() - t1,
		      (unsigned long long)(after_scan.shrinks - big.shrinks), after_scan.slots,
		      st.slots);
	assert_true(after_scan.shrinks > big.shrinks); /* it shrank while the scan deleted */
	assert_size(st.slots, 8);                      /* min_slots */
	assert_size(st.entries, 0);
	assert_int_equal(st.resizing, 0);

	/* All memory came back: only the map and its current table remain. */
	fx_check_reclaimed(&f);
	fx_check_frees(&f);
	for (int k = 0; k < CA_KINDS; k++) {
		unsigned long live = atomic_load(&f.ca->kind_allocs[k]) -
				     atomic_load(&f.ca->kind_frees[k]);
		unsigned long want = k == RCUMAP_KIND_TABLE || k == RCUMAP_KIND_MAP;

		if (live != want)
			fail_msg("kind %d: %lu objects still allocated, expected %lu", k, live, want);
	}
	trav_fini(&tv);
	ifx_close(&f);
}

static const struct CMUnitTest tests[] = {
	ITER_TEST(deleting_the_current_key_returns_every_key_once_and_empties_the_map),
	ITER_TEST(deleting_replacing_and_inserting_other_keys_keeps_the_rest_exactly_once),
	ITER_TEST(random_updates_and_resizes_from_inside_a_traversal_keep_guarantees_b_c_d),
	ITER_TEST(a_scan_deleting_every_entry_of_a_million_sees_each_once_and_leaves_the_map_empty_and_small),
};

const struct fx_group iter_update_tests = FX_GROUP_OF(tests);
