/* SPDX-License-Identifier: MIT */
/* iter_resize.c: test_iter's traversals across resizes: grows and shrinks mid-traversal, half-done migrations. */

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

/* The ways each scenario below runs. */
static const struct mode modes3[] = {
	{ W_ITER, 0, false, "in-section iterator" },
	{ W_SCAN, 3, true, "scan (max 3), acting between calls" },
	{ W_SCAN, 5, false, "scan (max 5), acting inside the callback" },
};
#define NMODES3 (sizeof(modes3) / sizeof(modes3[0]))

/* ---- Actions --------------------------------------------------------------------- */

/* Resize now, inside the read section: the gate must be open (barrier taken before). */
static void act_resize(struct walk *w, struct action *a)
{
	int rc = rcumap_resize(w->f->map, a->arg);
	struct rcumap_stats st = stats_peek(w->f->map);

	if (rc != 0)
		terr(w->tv, E_SETUP, "SETUP: rcumap_resize(%zu) after %zu entries returned %d (%s)",
		     a->arg, w->nth, rc, errname(rc));
	else if (st.slots != a->arg || st.resizing)
		terr(w->tv, E_SETUP, "SETUP: after rcumap_resize(%zu): %zu slots, resizing %d",
		     a->arg, st.slots, st.resizing);
}

/* Between scan calls: barrier, then resize. */
static void act_resize_between(struct walk *w, struct action *a)
{
	int rc = rcumap_barrier(w->f->map);

	if (rc != 0)
		terr(w->tv, E_SETUP, "SETUP: rcumap_barrier between scan calls returned %d", rc);
	act_resize(w, a);
}

/* Present keys, in the order the rng picks them. */
static long pick_present(struct fx *f)
{
	for (int tries = 0; tries < 10000; tries++) {
		size_t i = fx_rand(f, f->nkeys);

		if (f->ref[i])
			return (long)i;
	}
	return -1;
}

/*
 * Start a migration to `slots` and make it stop about half way: the driver
 * allocates the new table, then one bucket per non-empty destination slot in
 * slot order, so failing allocation 1 + nonempty/2 (and every later one)
 * leaves the first destinations filled and the rest pending. Needs an open
 * gate. Returns the resize's result; resizing must then be 1.
 */
static int make_pending(struct fx *f, size_t slots)
{
	return fx_resize_failing(f, slots, 1 + fx_nonempty_slots(f, slots, slots) / 2);
}

static void act_pending(struct walk *w, struct action *a)
{
	int rc = make_pending(w->f, a->arg);
	struct rcumap_stats st = stats_peek(w->f->map);

	if (rc != -ENOMEM || !st.resizing)
		terr(w->tv, E_SETUP,
		     "SETUP: a resize to %zu failing half way returned %d (%s), resizing %d: "
		     "no half-done migration", a->arg, rc, errname(rc), st.resizing);
}

static void act_pending_between(struct walk *w, struct action *a)
{
	int rc = rcumap_barrier(w->f->map);

	if (rc != 0)
		terr(w->tv, E_SETUP, "SETUP: rcumap_barrier between scan calls returned %d", rc);
	act_pending(w, a);
}

static size_t finish_updates_total, finish_runs, finish_first_update;

/*
 * Complete a pending migration the ordinary way: replace values of present
 * keys (they stay present, so B still applies to them) until it is done.
 */
static void act_finish(struct walk *w, struct action *a)
{
	size_t n = 0;

	(void)a;
	while (stats_peek(w->f->map).resizing && n < 512) {
		long id = pick_present(w->f);
		int rc;

		if (id < 0)
			break;
		rc = ifx_update(w->f, U_PUT, (size_t)id);
		if (rc != 0) {
			terr(w->tv, E_UPDATE, "UPDATE: put of key %ld returned %d", id, rc);
			return;
		}
		n++;
	}
	finish_runs++;
	finish_updates_total += n;
	finish_first_update += n == 1;
	if (stats_peek(w->f->map).resizing)
		terr(w->tv, E_SETUP, "SETUP: the pending migration was still pending after %zu updates",
		     n);
}

/* ---- Resizes during a traversal --------------------------------------------------- */

/*
 * For every mode, resize point and factor: bring the table to `from` slots,
 * open the gate, and resize to `to` slots once `at` entries were returned.
 */
static void resize_at_points(size_t n, size_t from, const size_t *to, size_t nto, const char *what,
			     enum hmode hm)
{
	struct fx f;
	struct trav tv;
	const size_t points[] = { 1, n / 3, n / 2, n - 8 };

	ifx_open(&f, &(struct ifx_opts){ .nkeys = n, .nvals = n, .min_slots = 1, .hmode = hm });
	trav_init(&tv, &f, true);
	fx_fill(&f, 0, n);
	for (size_t t = 0; t < nto; t++) {
		for (size_t p = 0; p < sizeof(points) / sizeof(points[0]); p++) {
			for (size_t m = 0; m < NMODES3; m++) {
				const struct mode *md = &modes3[m];
				struct walk w;

				assert_rc(resize_retry(f.map, from), 0);
				fx_barrier(&f); /* the gate is open for the resize to come */
				walk_setup(&w, &f, &tv, md);
				walk_add(&w, points[p], md->between,
					 md->between ? act_resize_between : act_resize, to[t]);
				walk_check(&w, "%s %zu -> %zu slots after %zu of %zu entries (%s hash), %s",
					   what, from, to[t], points[p], n, hmode_name[hm], md->name);
				assert_size(stats_peek(f.map).slots, to[t]);
			}
		}
	}
	trav_fini(&tv);
	ifx_close(&f);
}

static void a_grow_by_2_or_8_at_any_point_of_a_traversal_keeps_every_key_exactly_once(void **state)
{
	static const size_t to[] = { 128, 512 };

	(void)state;
	for (int hm = H_MIX; hm <= H_ID; hm++)
		resize_at_points(under_valgrind() ? 120 : 400, 64, to, 2, "grow", (enum hmode)hm);
}

static void a_shrink_at_any_point_of_a_traversal_returns_no_key_twice(void **state)
{
	/* Halving merges a visited slot with an unvisited one: the duplicate trap. */
	static const size_t to[] = { 256, 32, 1 };

	(void)state;
	for (int hm = H_MIX; hm <= H_ID; hm++)
		resize_at_points(under_valgrind() ? 120 : 400, 512, to, 3, "shrink", (enum hmode)hm);
}

/* Between every scan call, one or two resizes by the next factors of a cycle. */
struct cycle {
	size_t slots;
	unsigned step;
	size_t resizes;
};

static const int cycle_shift[] = { 1, 3, -1, -4, 4, -3, 2, -2, 1, -1 };
#define NCYCLE (sizeof(cycle_shift) / sizeof(cycle_shift[0]))

/* The next size of the cycle that differs from the current one. */
static size_t cycle_next(struct cycle *c)
{
	size_t slots = c->slots;

	for (size_t i = 0; i < NCYCLE && slots == c->slots; i++) {
		int s = cycle_shift[c->step++ % NCYCLE];

		slots = s > 0 ? c->slots << s : c->slots >> -s;
		if (slots < 1)
			slots = 1;
		if (slots > 65536)
			slots = 65536;
	}
	return slots;
}

static void act_cycle_between(struct walk *w, struct action *a)
{
	struct cycle *c = w->ctx;
	unsigned times = 1 + (w->calls % 3 == 0); /* every third gap: two resizes */

	for (unsigned i = 0; i < times; i++) {
		int rc = rcumap_barrier(w->f->map);

		if (rc == 0) {
			size_t slots = cycle_next(c);

			rc = rcumap_resize(w->f->map, slots);
			if (rc == 0) {
				c->slots = slots;
				c->resizes++;
			}
		}
		if (rc != 0)
			terr(w->tv, E_SETUP, "SETUP: barrier and resize between scan calls: %d (%s)", rc,
			     errname(rc));
	}
	/* Again at the next gap. */
	a->repeat = true;
	a->done = false;
	a->at = w->nth + 1;
}

/* Inside the callback, at the first entry of each call; the gap only takes the barrier. */
static void act_cycle_inside(struct walk *w, struct action *a)
{
	struct cycle *c = w->ctx;
	size_t slots = cycle_next(c);
	int rc = rcumap_resize(w->f->map, slots);

	if (rc == 0) {
		c->slots = slots;
		c->resizes++;
	} else {
		terr(w->tv, E_SETUP, "SETUP: resize to %zu inside the callback: %d (%s)", slots, rc,
		     errname(rc));
	}
	(void)a;
}

static void act_barrier_rearm(struct walk *w, struct action *a)
{
	int rc = rcumap_barrier(w->f->map);

	if (rc != 0)
		terr(w->tv, E_SETUP, "SETUP: barrier between scan calls: %d", rc);
	a->repeat = true;
	a->done = false;
	a->at = w->nth + 1;
	/* Re-arm the in-callback resize (action 0) for the next call. */
	w->act[0].repeat = true;
	w->act[0].done = false;
	w->act[0].at = w->nth + 1;
}

static void grows_and_shrinks_by_2_8_and_16_between_scan_calls_keep_every_key_exactly_once(void **state)
{
	const size_t n = under_valgrind() ? 90 : 300;
	struct fx f;
	struct trav tv;
	struct cycle c;
	struct rcumap_stats s0, s1;
	static const struct mode scan3 = { W_SCAN, 3, true, "scan" };
	static const struct mode scan_r = { W_SCAN, 0, true, "scan" };

	(void)state;
	for (int variant = 0; variant < 3; variant++) {
		struct walk w;

		/* Variant 1 puts keys on slot boundaries (see H_ID). */
		ifx_open(&f, &(struct ifx_opts){ .nkeys = n, .nvals = n, .min_slots = 1,
						 .hmode = variant == 1 ? H_ID : H_MIX });
		trav_init(&tv, &f, false);
		fx_fill(&f, 0, n);
		assert_rc(resize_retry(f.map, 64), 0);
		fx_barrier(&f);
		c = (struct cycle){ .slots = 64, .step = (unsigned)variant * 3 };
		s0 = stats_peek(f.map);
		walk_setup(&w, &f, &tv, variant == 1 ? &scan_r : &scan3);
		w.ctx = &c;
		if (variant < 2) {
			walk_add(&w, 1, true, act_cycle_between, 0);
		} else {
			walk_add(&w, 1, false, act_cycle_inside, 0);
			walk_add(&w, 1, true, act_barrier_rearm, 0);
		}
		walk_check(&w, "resizes by x2 x8 /2 /16 x16 /8 x4 /4 %s",
			   variant == 2 ? "inside every scan call" : "between every scan call");
		s1 = stats_peek(f.map);
		print_message("# variant %d: %u scan calls, %zu resizes (%llu grows, %llu shrinks)\n",
			      variant, w.calls, c.resizes,
			      (unsigned long long)(s1.grows - s0.grows),
			      (unsigned long long)(s1.shrinks - s0.shrinks));
		assert_true(c.resizes + 1 >= w.calls);
		assert_size(s1.grows + s1.shrinks - s0.grows - s0.shrinks, c.resizes);
		trav_fini(&tv);
		ifx_close(&f);
	}
}

/* ---- Half-done migrations ---------------------------------------------------------- */

struct pending_kind {
	size_t from, to;
	const char *name;
};

static const struct pending_kind pending_kinds[] = {
	{ 32, 64, "grow x2" }, { 32, 256, "grow x8" },
	{ 256, 128, "shrink /2" }, { 256, 32, "shrink /8" },
};
#define NPENDING (sizeof(pending_kinds) / sizeof(pending_kinds[0]))

/* On the test thread: leave a migration from `from` to `to` half done. */
static void leave_pending(struct fx *f, size_t from, size_t to)
{
	struct rcumap_stats st;
	int rc;

	assert_rc(resize_retry(f->map, from), 0);
	fx_barrier(f);
	rc = make_pending(f, to);
	st = stats_peek(f->map);
	if (rc != -ENOMEM || !st.resizing)
		fail_msg("SETUP: resize %zu -> %zu failing half way returned %d, resizing %d",
			 from, to, rc, st.resizing);
	fx_check(f); /* contents unchanged, structure sound while pending */
}

/* Every kind of half-done migration, for every mode, with keys placed by hash hm. */
static void half_done_migrations(size_t n, enum hmode hm)
{
	struct fx f;
	struct trav tv;

	ifx_open(&f, &(struct ifx_opts){ .nkeys = n, .nvals = n + 16000, .min_slots = 1,
					 .hmode = hm });
	trav_init(&tv, &f, true);
	fx_fill(&f, 0, n);
	for (size_t k = 0; k < NPENDING; k++) {
		const struct pending_kind *pk = &pending_kinds[k];

		for (size_t m = 0; m < NMODES3; m++) {
			const struct mode *md = &modes3[m];
			struct walk w;

			/* Pending before the traversal, left pending throughout. */
			leave_pending(&f, pk->from, pk->to);
			walk_setup(&w, &f, &tv, md);
			walk_check(&w, "%s pending throughout (%s hash), %s", pk->name,
				   hmode_name[hm], md->name);
			assert_int_equal(stats_peek(f.map).resizing, 1);

			/* Pending before, completed by updates half way through. */
			walk_setup(&w, &f, &tv, md);
			walk_add(&w, n / 2, md->between, act_finish, 0);
			walk_check(&w, "%s pending at the start, completed after %zu entries (%s hash), %s",
				   pk->name, n / 2, hmode_name[hm], md->name);
			assert_size(stats_peek(f.map).slots, pk->to);

			/* Started and left half done a third of the way, completed at two thirds. */
			assert_rc(resize_retry(f.map, pk->from), 0);
			fx_barrier(&f);
			walk_setup(&w, &f, &tv, md);
			walk_add(&w, n / 3, md->between, md->between ? act_pending_between : act_pending,
				 pk->to);
			walk_add(&w, 2 * n / 3, md->between, act_finish, 0);
			walk_check(&w, "%s left half done after %zu entries, completed after %zu (%s hash), %s",
				   pk->name, n / 3, 2 * n / 3, hmode_name[hm], md->name);
			assert_int_equal(stats_peek(f.map).resizing, 0);
			assert_size(stats_peek(f.map).slots, pk->to);
			fx_check(&f);
		}
	}
	trav_fini(&tv);
	ifx_close(&f);
}

static void a_half_done_migration_is_traversed_exactly_once_and_may_complete_mid_traversal(void **state)
{
	const size_t n = under_valgrind() ? 120 : 300;

	(void)state;
	finish_updates_total = finish_runs = finish_first_update = 0;
	half_done_migrations(n, H_MIX);
	half_done_migrations(n, H_ID);
	print_message("# pending migrations completed by updates: %zu runs, %zu updates in all, "
		      "%zu completed by the first update\n",
		      finish_runs, finish_updates_total, finish_first_update);
}

/*
 * An update while a migration is pending, which must not complete it: fail
 * every allocation from call k on, for the smallest k that lets the update
 * itself succeed, so that the resumption it may attempt fails instead.
 */
static void update_keeping_pending(struct fx *f, enum uop op, size_t id)
{
	int want = uop_expect(f, op, id);

	for (unsigned long k = 0; k < 64; k++) {
		int rc;

		ca_arm(f->ca, k, true);
		rc = ifx_update(f, op, id);
		ca_disarm(f->ca);
		if (rc == -ENOMEM)
			continue; /* the update needed call k: nothing changed, allow one more */
		if (rc != want)
			fail_msg("%s of key %zu during a pending migration returned %d, expected %d",
				 uop_name[op], id, rc, want);
		if (!stats_peek(f->map).resizing)
			fail_msg("SETUP: %s of key %zu completed the pending migration", uop_name[op], id);
		return;
	}
	fail_msg("SETUP: %s of key %zu kept failing with -ENOMEM", uop_name[op], id);
}

static void updates_made_while_a_migration_is_pending_are_seen_by_every_later_traversal(void **state)
{
	const size_t n = under_valgrind() ? 120 : 300, extra = n;
	static const struct pending_kind kinds[] = {
		{ 32, 64, "grow x2" }, { 16, 128, "grow x8" },
		{ 256, 128, "shrink /2" }, { 256, 16, "shrink /16" },
	};
	struct fx f;
	struct trav tv;
	char what[128];

	(void)state;
	for (size_t kh = 0; kh < 2 * sizeof(kinds) / sizeof(kinds[0]); kh++) {
		size_t k = kh / 2, replaced = 0, deleted = 0, inserted = 0;
		enum hmode hm = kh % 2 ? H_ID : H_MIX;

		ifx_open(&f, &(struct ifx_opts){ .nkeys = n + extra, .nvals = 8 * n, .min_slots = 1,
						 .hmode = hm });
		trav_init(&tv, &f, true);
		fx_fill(&f, 0, n);
		leave_pending(&f, kinds[k].from, kinds[k].to);
		/*
		 * Replace a third of the keys, delete a sixth, insert new ones: the
		 * writers change the newer slots (filling them first where the
		 * driver did not), so the frozen older buckets go stale. A
		 * traversal that started after these updates must see all of them.
		 * Only keys of the first quarter of the newer slots (filled by the
		 * driver) and of every fourth slot of the second half (filled by
		 * the update): the rest of the second half stays unfilled, so that
		 * the migration cannot complete without allocating.
		 */
		for (size_t i = 0; i < n + extra; i++) {
			size_t d = f.fold[i] & (kinds[k].to - 1);

			if (d >= kinds[k].to / 4 && (d < kinds[k].to / 2 || d % 4 != 0))
				continue;
			if (i >= n) {
				update_keeping_pending(&f, U_INSERT, i);
				inserted++;
			} else if (i % 3 == 0) {
				update_keeping_pending(&f, i % 2 ? U_REPLACE : U_PUT, i);
				replaced++;
			} else if (i % 6 == 1) {
				update_keeping_pending(&f, U_DELETE, i);
				deleted++;
			}
		}
		assert_true(replaced > 5 && deleted > 2 && inserted > 2);
		fx_check(&f);
		snprintf(what, sizeof(what), "%s pending (%s hash), %zu replaced, %zu deleted, %zu inserted",
			 kinds[k].name, hmode_name[hm], replaced, deleted, inserted);
		walk_all_plain(&f, &tv, what);
		assert_int_equal(stats_peek(f.map).resizing, 1);

		assert_rc(resize_retry(f.map, kinds[k].to), 0); /* finishes it */
		assert_int_equal(stats_peek(f.map).resizing, 0);
		snprintf(what, sizeof(what), "%s completed after the updates", kinds[k].name);
		walk_all_plain(&f, &tv, what);
		trav_fini(&tv);
		ifx_close(&f);
	}
}

static const struct CMUnitTest tests[] = {
	ITER_TEST(a_grow_by_2_or_8_at_any_point_of_a_traversal_keeps_every_key_exactly_once),
	ITER_TEST(a_shrink_at_any_point_of_a_traversal_returns_no_key_twice),
	ITER_TEST(grows_and_shrinks_by_2_8_and_16_between_scan_calls_keep_every_key_exactly_once),
	ITER_TEST(a_half_done_migration_is_traversed_exactly_once_and_may_complete_mid_traversal),
	ITER_TEST(updates_made_while_a_migration_is_pending_are_seen_by_every_later_traversal),
};

const struct fx_group iter_resize_tests = FX_GROUP_OF(tests);
