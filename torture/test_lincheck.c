/* SPDX-License-Identifier: MIT */
/* test_lincheck.c: tests of the torture suite's linearizability checker (torture/lincheck.h). */

/*
 * A checker that cannot fail is a defect (docs/testing.md, "Negative
 * controls"), so half the histories here must be rejected:
 * - hand-made histories, each named by the sentence it proves, that are
 *   linearizable and must pass, or are not and must fail with a report;
 * - input checks, the step budget ("unknown" is neither pass nor fail), the
 *   iteration helper and the count bounds;
 * - randomized self-tests: sequential histories drawn from a model written
 *   here independently of the checker's must pass, and fail once any one
 *   result is changed; concurrent histories made by a simulated linearizable
 *   map (each op takes effect at a random instant inside its interval), with
 *   iterations and counts, must pass, and fail once a read returns a value
 *   never written;
 * - tiny random histories, half of them with one result changed, get the
 *   verdict of a brute-force search over every real-time-respecting order;
 * - a timing run: 8 threads, 5000 ops per key.
 *
 * Output is TAP ("ok N - name"), then a plain line "N passed, N failed"; the
 * exit status is nonzero when a test failed.
 * Environment:
 *   LINCHECK_TEST_SEED=N     replay the random tests (the seed is printed)
 *   LINCHECK_TEST_VERBOSE=1  print the report of every rejected history
 *
 * Build: gcc -O2 -Wall -Wextra -Werror -std=gnu11 torture/lincheck.c \
 *        torture/test_lincheck.c -o test_lincheck
 */

#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lincheck.h"

/* ---- Harness ---------------------------------------------------------------- */

static bool verbose;
static uint64_t seed;

/* Print a diagnostic line of the running test (TAP comment). */
static void note(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
}

static const char *verdict_name(int v)
{
	switch (v) {
	case LINCHECK_OK: return "OK";
	case LINCHECK_FAIL: return "FAIL";
	case LINCHECK_UNKNOWN: return "UNKNOWN";
	case -EINVAL: return "-EINVAL";
	case -ENOMEM: return "-ENOMEM";
	default: return "?";
	}
}

/*
 * Check @ops and compare the verdict with @want; on a mismatch (or when
 * verbose and the history was rejected) print the report. @rep may be NULL.
 */
static bool expect(const struct lincheck_op *ops, size_t n, uint32_t nkeys,
		   const uint64_t *initial, uint64_t max_steps, int want,
		   struct lincheck_report *rep)
{
	struct lincheck_options opt = { .nkeys = nkeys, .initial = initial,
					.max_steps = max_steps };
	struct lincheck_report local;
	int v;

	if (!rep)
		rep = &local;
	v = lincheck_check(ops, n, &opt, rep);
	if (v != want)
		note("verdict %s, expected %s", verdict_name(v), verdict_name(want));
	if (v > LINCHECK_OK && (v != want || verbose))
		lincheck_report_print(rep, stdout, "#   ");
	return v == want;
}

/* Ops written as initializers: thread, key, call, ret, then arguments and results. */
#define GET(t, k, c, r, o) \
	{ .call = c, .ret = r, .out = o, .key = k, .thread = t, .kind = LINCHECK_GET }
#define INS(t, k, c, r, v, rc_) \
	{ .call = c, .ret = r, .value = v, .key = k, .thread = t, .rc = rc_, .kind = LINCHECK_INSERT }
#define PUT(t, k, c, r, v) \
	{ .call = c, .ret = r, .value = v, .key = k, .thread = t, .kind = LINCHECK_PUT }
#define REP(t, k, c, r, v, rc_) \
	{ .call = c, .ret = r, .value = v, .key = k, .thread = t, .rc = rc_, .kind = LINCHECK_REPLACE }
#define CAS(t, k, c, r, e, v, rc_) \
	{ .call = c, .ret = r, .value = v, .expected = e, .key = k, .thread = t, .rc = rc_, \
	  .kind = LINCHECK_CAS }
#define DEL(t, k, c, r, rc_) \
	{ .call = c, .ret = r, .key = k, .thread = t, .rc = rc_, .kind = LINCHECK_DELETE }
#define DELIF(t, k, c, r, e, rc_) \
	{ .call = c, .ret = r, .expected = e, .key = k, .thread = t, .rc = rc_, \
	  .kind = LINCHECK_DELETE_IF }
#define GOI(t, k, c, r, v, rc_, o) \
	{ .call = c, .ret = r, .value = v, .out = o, .key = k, .thread = t, .rc = rc_, \
	  .kind = LINCHECK_GET_OR_INSERT }

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A hand-made history on one key that must pass (OK) or fail (FAIL). */
#define HISTORY(name, want, ...)                                                  \
	static bool name(void)                                                    \
	{                                                                         \
		static const struct lincheck_op ops[] = { __VA_ARGS__ };          \
		return expect(ops, N(ops), 4, NULL, 0, want, NULL);               \
	}

/* ---- Linearizable histories -------------------------------------------------- */

HISTORY(get_overlapping_a_put_may_return_the_new_value, LINCHECK_OK,
	PUT(0, 0, 10, 20, 1),
	PUT(0, 0, 30, 50, 2),
	GET(1, 0, 40, 60, 2))

HISTORY(get_overlapping_a_put_may_return_the_old_value, LINCHECK_OK,
	PUT(0, 0, 10, 20, 1),
	PUT(0, 0, 30, 50, 2),
	GET(1, 0, 40, 60, 1))

HISTORY(two_gets_overlapping_a_put_may_see_new_then_old_if_they_overlap, LINCHECK_OK,
	PUT(0, 0, 10, 20, 1),
	PUT(0, 0, 30, 90, 2),
	GET(1, 0, 40, 70, 2),
	GET(2, 0, 50, 80, 1))

HISTORY(concurrent_inserts_where_exactly_one_succeeds_are_linearizable, LINCHECK_OK,
	INS(0, 0, 10, 40, 1, -EEXIST),
	INS(1, 0, 15, 35, 2, 0),
	INS(2, 0, 20, 30, 3, -EEXIST),
	GET(3, 0, 50, 60, 2))

HISTORY(a_cas_race_with_one_winner_and_a_loser_seeing_the_new_value_is_linearizable,
	LINCHECK_OK,
	PUT(0, 0, 10, 20, 1),
	CAS(1, 0, 30, 50, 1, 2, -EAGAIN),
	CAS(2, 0, 35, 45, 1, 3, 0),
	CAS(3, 0, 40, 60, 3, 4, 0),
	GET(0, 0, 70, 80, 4))

HISTORY(get_or_insert_race_gives_both_callers_the_winners_value, LINCHECK_OK,
	GOI(0, 0, 10, 40, 1, -EEXIST, 2),
	GOI(1, 0, 20, 30, 2, 0, 2),
	GET(2, 0, 50, 60, 2))

HISTORY(delete_insert_delete_each_succeed_in_turn, LINCHECK_OK,
	INS(0, 0, 10, 20, 1, 0),
	DEL(1, 0, 30, 40, 0),
	INS(0, 0, 50, 60, 2, 0),
	DEL(1, 0, 70, 80, 0),
	DEL(0, 0, 90, 100, -ENOENT),
	GET(1, 0, 110, 120, 0))

HISTORY(concurrent_deletes_where_exactly_one_succeeds_are_linearizable, LINCHECK_OK,
	INS(0, 0, 10, 20, 1, 0),
	DEL(1, 0, 30, 60, -ENOENT),
	DEL(2, 0, 35, 50, 0),
	DELIF(3, 0, 40, 70, 1, -ENOENT))

HISTORY(every_kind_in_sequence_follows_the_model, LINCHECK_OK,
	GET(0, 0, 1, 2, 0),
	REP(0, 0, 3, 4, 9, -ENOENT),
	CAS(0, 0, 5, 6, 9, 1, -ENOENT),
	DELIF(0, 0, 7, 8, 9, -ENOENT),
	INS(0, 0, 9, 10, 1, 0),
	INS(0, 0, 11, 12, 2, -EEXIST),
	REP(0, 0, 13, 14, 3, 0),
	CAS(0, 0, 15, 16, 1, 4, -EAGAIN),
	CAS(0, 0, 17, 18, 3, 4, 0),
	DELIF(0, 0, 19, 20, 3, -EAGAIN),
	GOI(0, 0, 21, 22, 5, -EEXIST, 4),
	PUT(0, 0, 23, 24, 6),
	DELIF(0, 0, 25, 26, 6, 0),
	GOI(0, 0, 27, 28, 7, 0, 7),
	DEL(0, 0, 29, 30, 0),
	DEL(0, 0, 31, 32, -ENOENT))

HISTORY(equal_timestamps_prove_no_order, LINCHECK_OK,
	PUT(0, 0, 10, 20, 1),
	GET(1, 0, 20, 30, 0))

/* A delete that failed for lack of memory changed nothing and is skipped. */
HISTORY(enomem_results_are_skipped, LINCHECK_OK,
	PUT(0, 0, 10, 20, 1),
	DEL(0, 0, 30, 40, -ENOMEM),
	GET(1, 0, 50, 60, 1))

static bool initial_state_is_seen_by_the_first_get(void)
{
	static const struct lincheck_op ops[] = {
		GET(0, 1, 10, 20, 7),
		DEL(0, 1, 30, 40, 0),
		GET(0, 0, 10, 20, 0),
	};
	static const uint64_t initial[2] = { 0, 7 };

	return expect(ops, N(ops), 2, initial, 0, LINCHECK_OK, NULL) &&
	       expect(ops, N(ops), 2, NULL, 0, LINCHECK_FAIL, NULL);
}

/* ---- Histories that are not linearizable ------------------------------------- */

HISTORY(get_returning_a_value_never_written_fails, LINCHECK_FAIL,
	PUT(0, 0, 10, 20, 1),
	GET(1, 0, 15, 30, 2))

HISTORY(get_returning_the_old_value_after_a_later_put_completed_fails, LINCHECK_FAIL,
	PUT(0, 0, 10, 20, 1),
	PUT(0, 0, 30, 40, 2),
	GET(1, 0, 50, 60, 1))

HISTORY(two_gets_seeing_new_then_old_in_real_time_order_fail, LINCHECK_FAIL,
	PUT(0, 0, 10, 20, 1),
	PUT(0, 0, 30, 90, 2),
	GET(1, 0, 40, 50, 2),
	GET(2, 0, 60, 70, 1))

HISTORY(two_concurrent_inserts_both_succeeding_fails, LINCHECK_FAIL,
	INS(0, 0, 10, 40, 1, 0),
	INS(1, 0, 20, 30, 2, 0))

HISTORY(cas_succeeding_on_a_stale_expected_value_fails, LINCHECK_FAIL,
	PUT(0, 0, 10, 20, 1),
	PUT(0, 0, 30, 40, 2),
	CAS(1, 0, 50, 60, 1, 3, 0))

HISTORY(two_concurrent_cas_from_the_same_value_both_succeeding_fails, LINCHECK_FAIL,
	PUT(0, 0, 10, 20, 1),
	CAS(1, 0, 30, 50, 1, 2, 0),
	CAS(2, 0, 35, 45, 1, 3, 0))

HISTORY(delete_returning_0_twice_without_an_insert_between_fails, LINCHECK_FAIL,
	INS(0, 0, 10, 20, 1, 0),
	DEL(1, 0, 30, 40, 0),
	DEL(2, 0, 50, 60, 0))

HISTORY(stale_read_after_a_delete_completed_fails, LINCHECK_FAIL,
	PUT(0, 0, 10, 20, 1),
	DEL(0, 0, 30, 40, 0),
	GET(1, 0, 50, 60, 1))

HISTORY(get_or_insert_reporting_a_value_that_was_not_stored_fails, LINCHECK_FAIL,
	PUT(0, 0, 10, 20, 1),
	GOI(1, 0, 30, 40, 2, -EEXIST, 3))

HISTORY(get_or_insert_both_inserting_fails, LINCHECK_FAIL,
	GOI(0, 0, 10, 40, 1, 0, 1),
	GOI(1, 0, 20, 30, 2, 0, 2))

HISTORY(replace_succeeding_on_an_absent_key_fails, LINCHECK_FAIL,
	REP(0, 0, 10, 20, 1, 0))

HISTORY(delete_if_succeeding_on_a_mismatched_value_fails, LINCHECK_FAIL,
	PUT(0, 0, 10, 20, 1),
	DELIF(1, 0, 30, 40, 2, 0))

HISTORY(a_return_code_the_model_never_gives_is_a_failure_not_bad_input, LINCHECK_FAIL,
	PUT(0, 0, 10, 20, 1),
	DEL(1, 0, 30, 40, -EEXIST))

static bool a_failure_on_one_key_among_several_is_reported_with_that_key(void)
{
	static const struct lincheck_op ops[] = {
		PUT(0, 0, 10, 20, 1), GET(1, 0, 15, 25, 1),
		PUT(0, 1, 10, 20, 2), GET(1, 1, 15, 25, 0),
		PUT(0, 2, 10, 20, 3), GET(1, 2, 30, 40, 0), /* key 2: stale */
		PUT(0, 3, 10, 20, 4), GET(1, 3, 30, 40, 4),
	};
	struct lincheck_report r;

	if (!expect(ops, N(ops), 4, NULL, 0, LINCHECK_FAIL, &r))
		return false;
	if (r.key != 2)
		note("report names key %" PRIu32 ", expected 2", r.key);
	return r.key == 2;
}

/* The report's window: the blocked GET, the PUT before it, in call order. */
static bool failure_report_names_the_blocked_read_and_the_write_before_it(void)
{
	static const struct lincheck_op ops[] = {
		PUT(0, 3, 10, 20, 10),
		PUT(1, 3, 30, 40, 20),
		GET(2, 3, 50, 60, 10),
		GET(0, 3, 55, 70, 20),
		PUT(1, 3, 65, 90, 30),
	};
	struct lincheck_report r;
	bool ok;

	if (!expect(ops, N(ops), 4, NULL, 0, LINCHECK_FAIL, &r))
		return false;
	lincheck_report_print(&r, stdout, "#   ");
	/* The search places PUT v10, PUT v20 and the GET of v20, then meets
	 * the return of the GET of v10 with state v20: that GET is blocked. */
	ok = r.key == 3 && r.nwindow == 4 && r.blocked == 2 &&
	     r.window[2].kind == LINCHECK_GET && r.window[2].out == 10 &&
	     r.order[2] == 0 && r.prefix_len == 3 && r.state == 20 &&
	     r.window[0].value == 10 && r.order[0] == 1 &&
	     r.window[1].value == 20 && r.order[1] == 2 &&
	     r.window[3].out == 20 && r.order[3] == 3;
	for (size_t i = 1; i < r.nwindow; i++)
		ok = ok && r.window[i - 1].call <= r.window[i].call;
	return ok;
}

/* ---- Iterations --------------------------------------------------------------- */

/* Check a history of @n ops plus one traversal over [t0, t1] that saw @seen. */
static bool expect_iter(const struct lincheck_op *ops, size_t n,
			const struct lincheck_seen *seen, size_t nseen,
			uint64_t t0, uint64_t t1, const uint64_t *initial, int want)
{
	enum { KEYS = 3 };
	struct lincheck_op all[32];

	memcpy(all, ops, n * sizeof(*ops));
	if (lincheck_iteration_ops(seen, nseen, KEYS, t0, t1, 9, all + n) != 0)
		return false;
	return expect(all, n + KEYS, KEYS, initial, 0, want, NULL);
}

static bool iteration_may_miss_a_key_inserted_during_the_traversal(void)
{
	static const struct lincheck_op ops[] = { INS(0, 0, 20, 30, 1, 0) };

	return expect_iter(ops, N(ops), NULL, 0, 10, 40, NULL, LINCHECK_OK);
}

static bool iteration_may_return_a_key_inserted_during_the_traversal(void)
{
	static const struct lincheck_op ops[] = { INS(0, 0, 20, 30, 1, 0) };
	static const struct lincheck_seen seen[] = { { 0, 1 } };

	return expect_iter(ops, N(ops), seen, N(seen), 10, 40, NULL, LINCHECK_OK);
}

static bool iteration_may_return_a_key_deleted_during_the_traversal(void)
{
	static const struct lincheck_op ops[] = { DEL(0, 1, 20, 30, 0) };
	static const struct lincheck_seen seen[] = { { 1, 5 }, { 2, 6 } };
	static const uint64_t initial[3] = { 0, 5, 6 };

	return expect_iter(ops, N(ops), seen, N(seen), 10, 40, initial, LINCHECK_OK);
}

static bool iteration_may_return_either_value_of_a_key_replaced_during_it(void)
{
	static const struct lincheck_op ops[] = { PUT(0, 0, 1, 2, 1), PUT(0, 0, 20, 30, 2) };
	static const struct lincheck_seen old[] = { { 0, 1 } }, new[] = { { 0, 2 } };

	return expect_iter(ops, N(ops), old, 1, 10, 40, NULL, LINCHECK_OK) &&
	       expect_iter(ops, N(ops), new, 1, 10, 40, NULL, LINCHECK_OK);
}

static bool iteration_missing_a_key_present_for_the_whole_traversal_fails(void)
{
	static const struct lincheck_op ops[] = {
		PUT(0, 1, 1, 2, 5),
		DEL(0, 2, 20, 30, 0), /* key 2 may be missed: deleted during */
	};
	static const struct lincheck_seen seen[] = { { 0, 4 } };
	static const uint64_t initial[3] = { 4, 0, 6 };

	return expect_iter(ops, N(ops), seen, N(seen), 10, 40, initial, LINCHECK_FAIL);
}

static bool iteration_returning_a_value_overwritten_before_the_traversal_began_fails(void)
{
	static const struct lincheck_op ops[] = { PUT(0, 0, 1, 2, 1), PUT(0, 0, 3, 4, 2) };
	static const struct lincheck_seen seen[] = { { 0, 1 } };

	return expect_iter(ops, N(ops), seen, N(seen), 10, 40, NULL, LINCHECK_FAIL);
}

static bool iteration_returning_a_key_deleted_before_the_traversal_began_fails(void)
{
	static const struct lincheck_op ops[] = { PUT(0, 0, 1, 2, 1), DEL(0, 0, 3, 4, 0) };
	static const struct lincheck_seen seen[] = { { 0, 1 } };

	return expect_iter(ops, N(ops), seen, N(seen), 10, 40, NULL, LINCHECK_FAIL);
}

static bool iteration_helper_rejects_a_key_returned_twice(void)
{
	static const struct lincheck_seen twice[] = { { 1, 5 }, { 0, 4 }, { 1, 5 } };
	static const struct lincheck_seen bad_key[] = { { 3, 5 } };
	static const struct lincheck_seen null_value[] = { { 0, 0 } };
	struct lincheck_op out[3];

	return lincheck_iteration_ops(twice, 3, 3, 10, 20, 0, out) == -EEXIST &&
	       lincheck_iteration_ops(bad_key, 1, 3, 10, 20, 0, out) == -EINVAL &&
	       lincheck_iteration_ops(null_value, 1, 3, 10, 20, 0, out) == -EINVAL &&
	       lincheck_iteration_ops(NULL, 0, 3, 20, 20, 0, out) == -EINVAL &&
	       lincheck_iteration_ops(twice, 2, 3, 10, 20, 0, out) == 0 &&
	       out[0].out == 4 && out[1].out == 5 && out[2].out == 0 &&
	       out[2].kind == LINCHECK_GET && out[2].flags == LINCHECK_FROM_ITER &&
	       out[2].call == 10 && out[2].ret == 20 && out[2].key == 2;
}

/* ---- Input checks and the budget --------------------------------------------- */

static bool malformed_histories_are_rejected_as_bad_input(void)
{
	static const struct lincheck_op backwards[] = { PUT(0, 0, 20, 10, 1) };
	static const struct lincheck_op instant[] = { PUT(0, 0, 10, 10, 1) };
	static const struct lincheck_op bad_key[] = { PUT(0, 4, 10, 20, 1) };
	static const struct lincheck_op null_value[] = { INS(0, 0, 10, 20, 0, 0) };
	static const struct lincheck_op null_expected[] = { CAS(0, 0, 10, 20, 0, 1, 0) };
	struct lincheck_op bad_kind[] = { PUT(0, 0, 10, 20, 1) };
	struct lincheck_options opt = { .nkeys = 0 };

	bad_kind[0].kind = LINCHECK_KINDS;
	return expect(backwards, 1, 4, NULL, 0, -EINVAL, NULL) &&
	       expect(instant, 1, 4, NULL, 0, -EINVAL, NULL) &&
	       expect(bad_key, 1, 4, NULL, 0, -EINVAL, NULL) &&
	       expect(null_value, 1, 4, NULL, 0, -EINVAL, NULL) &&
	       expect(null_expected, 1, 4, NULL, 0, -EINVAL, NULL) &&
	       expect(bad_kind, 1, 4, NULL, 0, -EINVAL, NULL) &&
	       lincheck_check(backwards, 1, &opt, NULL) == -EINVAL &&
	       lincheck_check(NULL, 1, &opt, NULL) == -EINVAL &&
	       expect(NULL, 0, 4, NULL, 0, LINCHECK_OK, NULL);
}

static bool an_exhausted_budget_reports_unknown_not_pass_or_fail(void)
{
	struct lincheck_op ops[41];
	struct lincheck_report r;

	for (int i = 0; i < 40; i++)
		ops[i] = (struct lincheck_op)PUT(0, 0, 10 * i + 1, 10 * i + 5, i + 1);
	if (!expect(ops, 40, 2, NULL, 10, LINCHECK_UNKNOWN, &r) || r.key != 0)
		return false;
	if (!expect(ops, 40, 2, NULL, 40, LINCHECK_OK, NULL))
		return false;
	/* A definite failure on a later key wins over "unknown". */
	ops[40] = (struct lincheck_op)GET(1, 1, 1, 2, 99);
	return expect(ops, 41, 2, NULL, 10, LINCHECK_FAIL, &r) && r.key == 1;
}

/* ---- Count bounds ------------------------------------------------------------- */

static bool bounds_are(const struct lincheck_op *ops, size_t n, uint32_t nkeys,
		       const uint64_t *initial, uint64_t t0, uint64_t t1,
		       uint64_t lo, uint64_t hi, uint64_t rlo, uint64_t rhi)
{
	struct lincheck_options opt = { .nkeys = nkeys, .initial = initial };
	struct lincheck_count_bounds b;
	int err = lincheck_count_bounds(ops, n, &opt, t0, t1, &b);

	if (err || b.lo != lo || b.hi != hi || b.lo_relaxed != rlo || b.hi_relaxed != rhi) {
		note("bounds err %d [%" PRIu64 ", %" PRIu64 "] relaxed [%" PRIu64 ", %" PRIu64
		     "], expected [%" PRIu64 ", %" PRIu64 "] relaxed [%" PRIu64 ", %" PRIu64 "]",
		     err, b.lo, b.hi, b.lo_relaxed, b.hi_relaxed, lo, hi, rlo, rhi);
		return false;
	}
	return true;
}

static bool count_bounds_are_exact_when_no_update_overlaps(void)
{
	static const struct lincheck_op ops[] = {
		INS(0, 0, 1, 2, 1, 0),
		INS(0, 1, 3, 4, 2, 0),
		DEL(0, 1, 5, 6, 0),
		PUT(0, 2, 7, 8, 3),
		DEL(0, 3, 9, 10, 0),   /* key 3 starts present */
		INS(0, 0, 11, 12, 4, -EEXIST),
		PUT(0, 1, 50, 60, 5),  /* after the count */
	};
	static const uint64_t initial[5] = { 0, 0, 0, 9, 0 };

	return bounds_are(ops, N(ops), 5, initial, 20, 30, 2, 2, 2, 2);
}

static bool count_bounds_leave_a_key_updated_during_the_count_uncertain(void)
{
	static const struct lincheck_op ops[] = {
		PUT(0, 0, 1, 2, 1),     /* present throughout */
		INS(1, 1, 15, 35, 2, 0), /* inserted during: 0 or 1 */
		PUT(2, 2, 1, 2, 3),
		DEL(2, 2, 18, 25, 0),   /* deleted during: 0 or 1 */
		PUT(3, 3, 1, 2, 4),
		PUT(3, 3, 18, 25, 5),   /* replaced during: stays present */
	};

	return bounds_are(ops, N(ops), 4, NULL, 20, 30, 2, 4, 0, 7);
}

static bool count_bounds_treat_concurrent_earlier_writes_as_either_order(void)
{
	static const struct lincheck_op ops[] = {
		PUT(0, 0, 1, 5, 1),
		DEL(1, 0, 2, 6, 0),  /* concurrent with the put: absent or present */
		PUT(0, 1, 1, 5, 2),
		DEL(1, 1, 6, 8, 0),  /* strictly after the put: absent */
	};

	return bounds_are(ops, N(ops), 2, NULL, 20, 30, 0, 1, 0, 1);
}

/*
 * The delete of key 0 returned before the count, so the insert in progress
 * was linearized first; the count may still see the delete's -1 and not yet
 * the insert's +1, and miss key 0 while key 1 is present: 0 is a legal
 * relaxed count, though no instant has fewer than 1 key present.
 */
static bool count_bounds_relaxed_allow_a_write_in_progress_linearized_earlier(void)
{
	static const struct lincheck_op ops[] = {
		INS(0, 0, 15, 25, 1, 0), /* overlaps the count */
		DEL(1, 0, 16, 18, 0),    /* returned before it: the insert came first */
		PUT(1, 1, 1, 2, 2),      /* present throughout */
	};

	return bounds_are(ops, N(ops), 2, NULL, 20, 30, 1, 2, 0, 3);
}

static bool a_count_missing_a_key_present_throughout_is_out_of_bounds(void)
{
	static const struct lincheck_op ops[] = {
		PUT(0, 0, 1, 2, 1), PUT(0, 1, 3, 4, 2), DEL(0, 1, 5, 6, 0),
	};
	struct lincheck_options opt = { .nkeys = 3 };
	struct lincheck_count_bounds b;
	uint64_t seen = 0; /* the bad count */

	/* A count of 0 over [10, 20] must be rejected: key 0 is present. */
	return lincheck_count_bounds(ops, N(ops), &opt, 10, 20, &b) == 0 &&
	       seen < b.lo && seen < b.lo_relaxed && b.lo == 1 && b.hi == 1 &&
	       lincheck_count_bounds(ops, N(ops), &opt, 20, 20, &b) == -EINVAL;
}

/* ---- A model written independently of the checker's, and a random source ---- */

/* Apply @op (kind and arguments set) to @state, filling rc and out. */
static void apply(struct lincheck_op *op, uint64_t *state)
{
	uint64_t s = *state;

	op->rc = 0;
	op->out = 0;
	switch (op->kind) {
	case LINCHECK_GET:
		op->out = s;
		break;
	case LINCHECK_INSERT:
		if (s) op->rc = -EEXIST; else *state = op->value;
		break;
	case LINCHECK_PUT:
		*state = op->value;
		break;
	case LINCHECK_REPLACE:
		if (!s) op->rc = -ENOENT; else *state = op->value;
		break;
	case LINCHECK_CAS:
		if (!s) op->rc = -ENOENT;
		else if (s != op->expected) op->rc = -EAGAIN;
		else *state = op->value;
		break;
	case LINCHECK_DELETE:
		if (!s) op->rc = -ENOENT; else *state = 0;
		break;
	case LINCHECK_DELETE_IF:
		if (!s) op->rc = -ENOENT;
		else if (s != op->expected) op->rc = -EAGAIN;
		else *state = 0;
		break;
	case LINCHECK_GET_OR_INSERT:
		if (s) {
			op->rc = -EEXIST;
			op->out = s;
		} else {
			*state = op->out = op->value;
		}
		break;
	}
}

static uint64_t rng_state;

/* Marsaglia's xorshift64; good enough to pick test cases. */
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint32_t below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

/* ---- Simulated linearizable map ------------------------------------------------ */

/*
 * Threads run ops back to back; each op (or iteration, or count) gets an
 * interval [2a, 2b] and takes effect at an odd instant 2c + 1 with
 * a <= c < b, so effects fall strictly inside intervals. The events are
 * then played in instant order against the model, which fixes every
 * result; arguments are drawn at that moment too, so a CAS often expects
 * the value actually present.
 */
struct sim_cfg {
	uint32_t threads, nkeys, ops_per_thread;
	uint32_t max_len;   /* longest op, in time units */
	uint32_t min_gap;   /* between one thread's ops; > 0 for no ties */
	uint32_t iter_pct;  /* share of iterations, percent */
	uint32_t count_pct; /* share of counts, percent */
};

struct sim_event {
	uint64_t at;    /* odd instant of effect */
	uint32_t what;  /* 0: op; 1: one key of an iteration; 2: a count */
	uint32_t idx;   /* op, iteration or count index */
	uint32_t key;   /* for 1 */
};

struct sim_iter { uint64_t t0, t1; uint32_t thread; struct lincheck_seen *seen; size_t nseen; };
struct sim_count { uint64_t t0, t1, c; };

struct sim {
	struct lincheck_op *ops;  /* plain ops, then iteration GETs */
	size_t nops, cap;
	struct sim_iter *iters;
	size_t niters;
	struct sim_count *counts;
	size_t ncounts;
	uint64_t next_value;      /* value ids handed out: 1 .. next_value - 1 */
};

static int event_cmp(const void *a, const void *b)
{
	const struct sim_event *x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->what != y->what)
		return x->what < y->what ? -1 : 1;
	return x->idx != y->idx ? (x->idx < y->idx ? -1 : 1) : (x->key > y->key) - (x->key < y->key);
}

static void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

/* Choose an expected value: often the present one, else a recent or any. */
static uint64_t pick_expected(uint64_t s, const uint64_t *recent, uint64_t next_value)
{
	uint32_t r = below(8);

	if (s && r < 4)
		return s;
	if (r < 7 && recent[r % 4])
		return recent[r % 4];
	return 1 + rnd() % (next_value > 1 ? next_value - 1 : 1);
}

static void simulate(const struct sim_cfg *cfg, struct sim *sim)
{
	size_t total = (size_t)cfg->threads * cfg->ops_per_thread;
	struct sim_event *ev = xmalloc((total * (cfg->nkeys + 1)) * sizeof(*ev));
	uint64_t *state = calloc(cfg->nkeys, sizeof(*state));
	uint64_t (*recent)[4] = calloc(cfg->nkeys, sizeof(*recent));
	size_t nev = 0, nplain = 0;

	if (!state || !recent)
		exit(2);
	memset(sim, 0, sizeof(*sim));
	sim->cap = total * cfg->nkeys + total;
	sim->ops = xmalloc(sim->cap * sizeof(*sim->ops));
	sim->iters = xmalloc(total * sizeof(*sim->iters));
	sim->counts = xmalloc(total * sizeof(*sim->counts));
	sim->next_value = 1;
	for (uint32_t t = 0; t < cfg->threads; t++) {
		uint64_t clock = below(8);

		for (uint32_t i = 0; i < cfg->ops_per_thread; i++) {
			uint64_t a = clock + cfg->min_gap + below(3);
			/* Mostly short ops, now and then a long one. */
			uint64_t len = 1 + (below(16) ? below(cfg->max_len / 4 + 1) : below(cfg->max_len));
			uint64_t b = a + len;
			uint32_t r = below(100);

			clock = b;
			if (r < cfg->iter_pct) {
				struct sim_iter *it = &sim->iters[sim->niters];

				*it = (struct sim_iter){ 2 * a, 2 * b, t,
					xmalloc(cfg->nkeys * sizeof(*it->seen)), 0 };
				for (uint32_t k = 0; k < cfg->nkeys; k++)
					ev[nev++] = (struct sim_event){
						2 * (a + below((uint32_t)len)) + 1, 1,
						(uint32_t)sim->niters, k };
				sim->niters++;
			} else if (r < cfg->iter_pct + cfg->count_pct) {
				sim->counts[sim->ncounts] = (struct sim_count){ 2 * a, 2 * b, 0 };
				ev[nev++] = (struct sim_event){ 2 * (a + below((uint32_t)len)) + 1, 2,
								(uint32_t)sim->ncounts++, 0 };
			} else {
				sim->ops[nplain] = (struct lincheck_op){
					.call = 2 * a, .ret = 2 * b, .key = below(cfg->nkeys),
					.thread = t, .kind = (uint16_t)below(LINCHECK_KINDS),
				};
				ev[nev++] = (struct sim_event){ 2 * (a + below((uint32_t)len)) + 1, 0,
								(uint32_t)nplain++, 0 };
			}
		}
	}
	qsort(ev, nev, sizeof(*ev), event_cmp);
	for (size_t i = 0; i < nev; i++) {
		if (ev[i].what == 0) {
			struct lincheck_op *op = &sim->ops[ev[i].idx];
			uint64_t *s = &state[op->key], *rec = recent[op->key];

			switch (op->kind) {
			case LINCHECK_CAS:
			case LINCHECK_DELETE_IF:
				op->expected = pick_expected(*s, rec, sim->next_value);
				break;
			}
			switch (op->kind) {
			case LINCHECK_INSERT: case LINCHECK_PUT: case LINCHECK_REPLACE:
			case LINCHECK_CAS: case LINCHECK_GET_OR_INSERT:
				op->value = sim->next_value++;
				break;
			}
			apply(op, s);
			if (*s && *s != rec[0]) {
				memmove(rec + 1, rec, 3 * sizeof(*rec));
				rec[0] = *s;
			}
		} else if (ev[i].what == 1) {
			struct sim_iter *it = &sim->iters[ev[i].idx];

			if (state[ev[i].key])
				it->seen[it->nseen++] = (struct lincheck_seen){ ev[i].key,
										state[ev[i].key] };
		} else {
			uint64_t c = 0;

			for (uint32_t k = 0; k < cfg->nkeys; k++)
				c += state[k] != 0;
			sim->counts[ev[i].idx].c = c;
		}
	}
	sim->nops = nplain;
	for (size_t i = 0; i < sim->niters; i++) {
		struct sim_iter *it = &sim->iters[i];

		if (lincheck_iteration_ops(it->seen, it->nseen, cfg->nkeys, it->t0, it->t1,
					   it->thread, sim->ops + sim->nops) != 0) {
			fprintf(stderr, "lincheck_iteration_ops refused a simulated traversal\n");
			exit(2);
		}
		sim->nops += cfg->nkeys;
	}
	free(ev);
	free(state);
	free(recent);
}

static void sim_free(struct sim *sim)
{
	for (size_t i = 0; i < sim->niters; i++)
		free(sim->iters[i].seen);
	free(sim->iters);
	free(sim->counts);
	free(sim->ops);
}

/* Every simulated count must lie within both pairs of bounds. */
static bool counts_within_bounds(const struct sim *sim, uint32_t nkeys)
{
	struct lincheck_options opt = { .nkeys = nkeys };

	for (size_t i = 0; i < sim->ncounts; i++) {
		const struct sim_count *c = &sim->counts[i];
		struct lincheck_count_bounds b;

		if (lincheck_count_bounds(sim->ops, sim->nops, &opt, c->t0, c->t1, &b) != 0 ||
		    c->c < b.lo || c->c > b.hi || c->c < b.lo_relaxed || c->c > b.hi_relaxed) {
			note("count %" PRIu64 " over [%" PRIu64 ", %" PRIu64 "] outside [%" PRIu64
			     ", %" PRIu64 "] or relaxed [%" PRIu64 ", %" PRIu64 "]", c->c, c->t0,
			     c->t1, b.lo, b.hi, b.lo_relaxed, b.hi_relaxed);
			return false;
		}
	}
	return true;
}

/* ---- Randomized self-tests ------------------------------------------------------ */

static bool random_sequential_histories_pass(void)
{
	for (int round = 0; round < 200; round++) {
		struct sim_cfg cfg = { .threads = 1, .nkeys = 1 + below(5),
				       .ops_per_thread = 50 + below(400), .max_len = 8,
				       .min_gap = 1, .iter_pct = 3, .count_pct = 3 };
		struct sim sim;
		bool ok;

		simulate(&cfg, &sim);
		ok = expect(sim.ops, sim.nops, cfg.nkeys, NULL, 0, LINCHECK_OK, NULL) &&
		     counts_within_bounds(&sim, cfg.nkeys);
		sim_free(&sim);
		if (!ok) {
			note("round %d", round);
			return false;
		}
	}
	return true;
}

/* Change one result of @op to another the op could have returned, but not this one. */
static void mutate(struct lincheck_op *op, uint64_t next_value)
{
	static const int32_t rcs[] = { 0, -EEXIST, -ENOENT, -EAGAIN };
	struct lincheck_op was = *op;

	while (op->rc == was.rc && op->out == was.out) {
		if (op->kind == LINCHECK_GET || (op->kind == LINCHECK_GET_OR_INSERT && below(2)))
			op->out = below(4) ? 1 + rnd() % next_value : 0;
		else
			op->rc = rcs[below(N(rcs))];
	}
}

static bool random_sequential_histories_with_one_changed_result_fail(void)
{
	for (int round = 0; round < 300; round++) {
		struct sim_cfg cfg = { .threads = 1, .nkeys = 1 + below(4),
				       .ops_per_thread = 20 + below(300), .max_len = 8,
				       .min_gap = 1, .iter_pct = 3 };
		struct sim sim;
		struct lincheck_report r;
		size_t victim;
		bool ok;

		simulate(&cfg, &sim);
		if (sim.nops == 0) {
			sim_free(&sim);
			continue;
		}
		victim = below((uint32_t)sim.nops);
		mutate(&sim.ops[victim], sim.next_value);
		/* One order only (no overlaps), so any other result is wrong. */
		ok = expect(sim.ops, sim.nops, cfg.nkeys, NULL, 0, LINCHECK_FAIL, &r) &&
		     r.key == sim.ops[victim].key && r.nwindow > 0 &&
		     r.window[r.blocked].call == sim.ops[victim].call;
		if (!ok) {
			char line[160];

			lincheck_op_format(&sim.ops[victim], line, sizeof(line));
			note("round %d, changed op %s; report key %" PRIu32, round, line, r.key);
		}
		sim_free(&sim);
		if (!ok)
			return false;
	}
	return true;
}

static bool random_concurrent_histories_of_a_linearizable_map_pass(void)
{
	for (int round = 0; round < 100; round++) {
		struct sim_cfg cfg = { .threads = 2 + below(7), .nkeys = 1 + below(4),
				       .ops_per_thread = 20 + below(200),
				       .max_len = 4 + below(40), .min_gap = below(2),
				       .iter_pct = below(6), .count_pct = below(6) };
		struct sim sim;
		bool ok;

		simulate(&cfg, &sim);
		ok = expect(sim.ops, sim.nops, cfg.nkeys, NULL, 0, LINCHECK_OK, NULL) &&
		     counts_within_bounds(&sim, cfg.nkeys);
		sim_free(&sim);
		if (!ok) {
			note("round %d: %u threads, %u keys", round, cfg.threads, cfg.nkeys);
			return false;
		}
	}
	return true;
}

static bool random_concurrent_histories_with_a_read_of_a_never_written_value_fail(void)
{
	for (int round = 0; round < 100; round++) {
		struct sim_cfg cfg = { .threads = 2 + below(7), .nkeys = 1 + below(4),
				       .ops_per_thread = 20 + below(200),
				       .max_len = 4 + below(40), .min_gap = below(2),
				       .iter_pct = below(6) };
		struct sim sim;
		size_t victim = SIZE_MAX;
		bool ok;

		simulate(&cfg, &sim);
		for (int tries = 0; tries < 1000 && victim == SIZE_MAX; tries++) {
			size_t i = below((uint32_t)sim.nops + 1);

			if (i < sim.nops && sim.ops[i].kind == LINCHECK_GET)
				victim = i;
		}
		if (victim == SIZE_MAX) {
			sim_free(&sim);
			continue;
		}
		sim.ops[victim].out = sim.next_value + 1000;
		ok = expect(sim.ops, sim.nops, cfg.nkeys, NULL, 0, LINCHECK_FAIL, NULL);
		sim_free(&sim);
		if (!ok) {
			note("round %d", round);
			return false;
		}
	}
	return true;
}

/* Linearizable by trying every order that respects real time (tiny histories). */
static bool brute_force(const struct lincheck_op *ops, size_t n, uint32_t placed,
			uint64_t state)
{
	if (placed == (1u << n) - 1)
		return true;
	for (size_t o = 0; o < n; o++) {
		struct lincheck_op t = ops[o];
		uint64_t s = state;
		bool may = !(placed & 1u << o);

		for (size_t p = 0; p < n && may; p++)
			may = (placed & 1u << p) || p == o || ops[p].ret >= ops[o].call;
		if (!may)
			continue;
		apply(&t, &s);
		if (t.rc == ops[o].rc && t.out == ops[o].out &&
		    brute_force(ops, n, placed | 1u << o, s))
			return true;
	}
	return false;
}

static bool random_small_histories_agree_with_brute_force_enumeration(void)
{
	int yes = 0, no = 0;

	for (int round = 0; round < 3000; round++) {
		struct sim_cfg cfg = { .threads = 2 + below(3), .nkeys = 1,
				       .ops_per_thread = 1 + below(3), .max_len = 2 + below(8),
				       .min_gap = below(2), .iter_pct = 10 };
		struct sim sim;
		bool want;

		simulate(&cfg, &sim);
		/* Half the time change one result: often, not always, wrong. */
		if (sim.nops && below(2))
			mutate(&sim.ops[below((uint32_t)sim.nops)], sim.next_value);
		want = brute_force(sim.ops, sim.nops, 0, 0);
		if (want)
			yes++;
		else
			no++;
		if (!expect(sim.ops, sim.nops, 1, NULL, 0, want ? LINCHECK_OK : LINCHECK_FAIL,
			    NULL)) {
			for (size_t i = 0; i < sim.nops; i++) {
				char line[160];

				lincheck_op_format(&sim.ops[i], line, sizeof(line));
				note("  %s", line);
			}
			sim_free(&sim);
			return false;
		}
		sim_free(&sim);
	}
	note("%d linearizable, %d not", yes, no);
	return yes > 500 && no > 500;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Timing: @nkeys keys, 8 threads, 5000 ops per key on average. */
static bool time_check(uint32_t nkeys, uint32_t max_len)
{
	struct sim_cfg cfg = { .threads = 8, .nkeys = nkeys,
			       .ops_per_thread = 5000 * nkeys / 8, .max_len = max_len,
			       .iter_pct = 1, .count_pct = 0 };
	struct lincheck_options opt = { .nkeys = nkeys };
	struct lincheck_report r;
	struct sim sim;
	double t;
	int v;

	simulate(&cfg, &sim);
	t = now();
	v = lincheck_check(sim.ops, sim.nops, &opt, &r);
	t = now() - t;
	note("%u key(s), 8 threads, %zu ops (longest op %u units): %s in %.3f s, "
	     "%.0f ops/s, %" PRIu64 " steps", nkeys, sim.nops, max_len, verdict_name(v),
	     t, sim.nops / t, r.steps);
	sim_free(&sim);
	/* "Well under a second" per key; sanitizer builds are several times slower. */
	return v == LINCHECK_OK && t < 1.0 * nkeys;
}

static bool eight_threads_5000_ops_on_one_key_check_quickly(void)
{
	return time_check(1, 12) && time_check(1, 64);
}

static bool eight_threads_5000_ops_on_each_of_8_keys_check_quickly(void)
{
	return time_check(8, 12);
}

/* ---- Main ------------------------------------------------------------------------ */

#define TEST(fn) { #fn, fn }

static const struct {
	const char *name;
	bool (*fn)(void);
} tests[] = {
	TEST(get_overlapping_a_put_may_return_the_new_value),
	TEST(get_overlapping_a_put_may_return_the_old_value),
	TEST(two_gets_overlapping_a_put_may_see_new_then_old_if_they_overlap),
	TEST(concurrent_inserts_where_exactly_one_succeeds_are_linearizable),
	TEST(a_cas_race_with_one_winner_and_a_loser_seeing_the_new_value_is_linearizable),
	TEST(get_or_insert_race_gives_both_callers_the_winners_value),
	TEST(delete_insert_delete_each_succeed_in_turn),
	TEST(concurrent_deletes_where_exactly_one_succeeds_are_linearizable),
	TEST(every_kind_in_sequence_follows_the_model),
	TEST(equal_timestamps_prove_no_order),
	TEST(enomem_results_are_skipped),
	TEST(initial_state_is_seen_by_the_first_get),
	TEST(get_returning_a_value_never_written_fails),
	TEST(get_returning_the_old_value_after_a_later_put_completed_fails),
	TEST(two_gets_seeing_new_then_old_in_real_time_order_fail),
	TEST(two_concurrent_inserts_both_succeeding_fails),
	TEST(cas_succeeding_on_a_stale_expected_value_fails),
	TEST(two_concurrent_cas_from_the_same_value_both_succeeding_fails),
	TEST(delete_returning_0_twice_without_an_insert_between_fails),
	TEST(stale_read_after_a_delete_completed_fails),
	TEST(get_or_insert_reporting_a_value_that_was_not_stored_fails),
	TEST(get_or_insert_both_inserting_fails),
	TEST(replace_succeeding_on_an_absent_key_fails),
	TEST(delete_if_succeeding_on_a_mismatched_value_fails),
	TEST(a_return_code_the_model_never_gives_is_a_failure_not_bad_input),
	TEST(a_failure_on_one_key_among_several_is_reported_with_that_key),
	TEST(failure_report_names_the_blocked_read_and_the_write_before_it),
	TEST(iteration_may_miss_a_key_inserted_during_the_traversal),
	TEST(iteration_may_return_a_key_inserted_during_the_traversal),
	TEST(iteration_may_return_a_key_deleted_during_the_traversal),
	TEST(iteration_may_return_either_value_of_a_key_replaced_during_it),
	TEST(iteration_missing_a_key_present_for_the_whole_traversal_fails),
	TEST(iteration_returning_a_value_overwritten_before_the_traversal_began_fails),
	TEST(iteration_returning_a_key_deleted_before_the_traversal_began_fails),
	TEST(iteration_helper_rejects_a_key_returned_twice),
	TEST(malformed_histories_are_rejected_as_bad_input),
	TEST(an_exhausted_budget_reports_unknown_not_pass_or_fail),
	TEST(count_bounds_are_exact_when_no_update_overlaps),
	TEST(count_bounds_leave_a_key_updated_during_the_count_uncertain),
	TEST(count_bounds_treat_concurrent_earlier_writes_as_either_order),
	TEST(count_bounds_relaxed_allow_a_write_in_progress_linearized_earlier),
	TEST(a_count_missing_a_key_present_throughout_is_out_of_bounds),
	TEST(random_sequential_histories_pass),
	TEST(random_sequential_histories_with_one_changed_result_fail),
	TEST(random_concurrent_histories_of_a_linearizable_map_pass),
	TEST(random_concurrent_histories_with_a_read_of_a_never_written_value_fail),
	TEST(random_small_histories_agree_with_brute_force_enumeration),
	TEST(eight_threads_5000_ops_on_one_key_check_quickly),
	TEST(eight_threads_5000_ops_on_each_of_8_keys_check_quickly),
};

int main(void)
{
	const char *s = getenv("LINCHECK_TEST_SEED");
	int passed = 0, failed = 0;

	verbose = getenv("LINCHECK_TEST_VERBOSE") != NULL;
	seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
	if (!seed)
		seed = 1; /* xorshift's one fixed point */
	printf("# seed %" PRIu64 " (LINCHECK_TEST_SEED=%" PRIu64 " replays it)\n", seed, seed);
	for (size_t i = 0; i < N(tests); i++) {
		bool ok;

		rng_state = seed + i * 0x9e3779b97f4a7c15ull; /* each test replays alone */
		if (!rng_state)
			rng_state = 1;
		ok = tests[i].fn();
		printf("%s %zu - %s\n", ok ? "ok" : "not ok", i + 1, tests[i].name);
		fflush(stdout);
		if (ok)
			passed++;
		else
			failed++;
	}
	printf("1..%zu\n", N(tests));
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
