/* SPDX-License-Identifier: MIT */
/* checks.c: the torture program's checkers: each stats interval, and the end of each scenario. */

#define _GNU_SOURCE

#include "program.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- the stats interval: progress, bounds, and the lines ---------------------------------- */

static int bounds_reported;

static void check_bounds(const struct talloc_stats *s)
{
	if (bounds_reported)
		return;
	if (s->peak_pending > opt.max_pending) {
		bounds_reported = 1;
		tfail(E_BOUNDS, 0, "peak pending %" PRIu64 " objects exceeds --max-pending %" PRIu64,
		      s->peak_pending, opt.max_pending);
	} else if (s->lag_max_ns > opt.max_lag_ms * NS_PER_MS) {
		bounds_reported = 1;
		tfail(E_BOUNDS, 0, "reclaim lag max %.1f ms exceeds --max-lag-ms %" PRIu64,
		      ms(s->lag_max_ns), opt.max_lag_ms);
	}
}

/*
 * Accounting while the map runs: rcumap_stats counts a bucket as reclaimed
 * just before its callback frees it (a table's buckets just after), so,
 * read first, it may run ahead of the frees the allocator saw by the
 * callbacks in flight, never more. Buckets counted and not freed leak.
 */
#define RECLAIM_SLACK 64
static int accounting_reported;

static void check_running_accounting(const struct rcumap_stats *ms_, const struct talloc_stats *s)
{
	for (int k = RCUMAP_KIND_BUCKET; k <= RCUMAP_KIND_TABLE && !accounting_reported; k += 2)
		if (ms_->kind[k].reclaimed > s->kind[k].reclaimed + RECLAIM_SLACK) {
			accounting_reported = 1;
			tfail(E_ACCOUNTING, 0, "kind %s: rcumap_stats counts %" PRIu64 " reclaimed, "
			      "but the allocator saw only %" PRIu64 " freed (%" PRIu64
			      " counted and never freed)", talloc_kind_name(k), ms_->kind[k].reclaimed,
			      s->kind[k].reclaimed, ms_->kind[k].reclaimed - s->kind[k].reclaimed);
		}
}

void stats_lines(double t, int print)
{
	struct talloc_stats s;
	struct rcumap_stats ms_;
	char line[1600], a[16], b[16], c[16], d[16], e[16], f[16], g[16], h[16];
	uint64_t retired = 0, reclaimed = 0, cb = 0;
	size_t n = 0;

	/*
	 * rcumap.h says rcumap_stats needs no read section, but it reads the
	 * current generation's table (mask, gen, next), which a concurrent
	 * resize may retire and a grace period free meanwhile. Until the library
	 * settles that, the main thread (offline otherwise, with qsbr) takes a
	 * read section for it while the threads run.
	 */
	go_online();
	rs_lock();
	rcumap_stats(R.map, &ms_);      /* first: see check_running_accounting */
	rs_unlock();
	quiesce();
	go_offline();
	talloc_snapshot(&s);
	if (!ms_.slots || (ms_.slots & (ms_.slots - 1)) || ms_.slots > RCUMAP_SLOTS_MAX)
		tfail(E_MODEL, 0, "rcumap_stats: %zu slots is not a power of two up to "
		      "RCUMAP_SLOTS_MAX (generation %" PRIu64 ")", ms_.slots, ms_.generation);
	check_bounds(&s);
	check_running_accounting(&ms_, &s);
	if (!print)
		return;
	n += (size_t)snprintf(line + n, sizeof(line) - n, "[%s %.0fs] ops", R.name, t);
	for (int i = 0; i < R.nthr && n < sizeof(line); i++) {
		struct thr *th = &R.thr[i];
		uint64_t o = LOAD(&th->ops);

		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s %s", th->name,
				      si(a, o - th->last_ops));
		th->last_ops = o;
	}
	out("%s", line);
	for (int k = 0; k < RCUMAP_TORTURE_KINDS; k++) {
		retired += s.kind[k].retired;
		reclaimed += s.kind[k].reclaimed;
	}
	for (int k = 0; k < RCUMAP_STATS_KINDS; k++)
		cb += ms_.kind[k].reclaimed;
	errors_line(line, sizeof(line));
	out("[%s %.0fs] gp %s cb %s live %s slots %s retired %s reclaimed %s pending %s peak %s "
	    "lag p50 %.1f p99 %.1f max %.1f ms ages %" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64
	    " errors: %s", R.name, t, si(a, s.gp), si(b, cb),
	    si(c, s.kind[RCUMAP_TORTURE_KIND_VALUE].published - s.kind[RCUMAP_TORTURE_KIND_VALUE].retired),
	    si(g, ms_.slots), si(d, retired), si(e, reclaimed), si(f, s.pending),
	    si(h, s.peak_pending), ms(talloc_lag_pct(&s, 50)), ms(talloc_lag_pct(&s, 99)),
	    ms(s.lag_max_ns), s.seen[0], s.seen[1], s.seen[2], s.seen[3], line);
}

/*
 * A read section that began before since_ns and is still held, if any: the
 * grace-period thread and the resizer (in rcumap_barrier) wait for it by
 * design, so they are not stalled while it lasts.
 */
static struct thr *long_reader(uint64_t since_ns)
{
	for (int i = 0; i < R.nthr; i++) {
		uint64_t s = LOAD(&R.thr[i].section_ns);

		if (s && s < since_ns)
			return &R.thr[i];
	}
	return NULL;
}

/*
 * Invariant V7: every thread advanced since the last check (or within
 * --stall-intervals). The grace-period thread and the resizer (in
 * rcumap_barrier) wait for readers by design: a full in-section traversal of
 * a large map, or the hold reader, holds a grace period, and liburcu's two
 * phases chain back-to-back sections into one grace period. They are
 * stalled only after GP_STALL_NS without progress, and not while a read
 * section older than the interval is still held.
 */
#define GP_STALL_NS (10 * NS_PER_S)

void check_progress(double secs, uint64_t last_check_ns)
{
	for (int i = 0; i < R.nthr; i++) {
		struct thr *t = &R.thr[i];
		uint64_t p = LOAD(&t->ops) + LOAD(&t->beats);
		int limit = opt.stall_intervals;
		struct thr *lr;

		if (p != t->last_progress) {
			t->last_progress = p;
			t->quiet_intervals = 0;
			t->stall_reported = 0;
			continue;
		}
		if (t->role == RO_GP || t->role == RO_RESIZER) {
			int gl = (int)((double)GP_STALL_NS / 1e9 / secs + 0.999);

			if ((lr = long_reader(last_check_ns)) != NULL) {
				if (opt.verbose)
					out("%s waits for %s's read section (%s), held for %.1f s",
					    t->name, lr->name, LOAD(&lr->state),
					    (double)(now_ns() - LOAD(&lr->section_ns)) / 1e9);
				continue;
			}
			if (gl > limit)
				limit = gl;
		}
		if (++t->quiet_intervals >= limit && !t->stall_reported) {
			t->stall_reported = 1;
			dump_stack(t->tid, t->name);
			tfail(E_STALL, 0, "STALL thread %s in \"%s\": no progress for %d interval(s) "
			      "(%.1f s)", t->name, LOAD(&t->state), t->quiet_intervals,
			      secs * t->quiet_intervals);
		}
	}
}

void checks_reset(void)
{
	bounds_reported = 0;
	accounting_reported = 0;
}

/* ---- end of a scenario: accounting (invariant V3) ------------------------------------------- */

static void final_traversal(uint64_t *entries)
{
	struct thr *t = &main_thr;
	struct visit vs = { .t = t, .who = "main final traversal" };
	int rc;

	t->seen = calloc(R.pool, sizeof(t->seen[0]));
	if (!t->seen) {
		out("out of memory");
		exit(1);
	}
	t->epoch = 1;
	R.iter_updates = 0;
	rc = traverse_in_section(visit_cb, &vs);
	if (rc < 0)
		tfail(E_MODEL, 0, "final traversal: rcumap_iter_next returned %s", errname(rc));
	check_complete(&vs);
	*entries = vs.entries;
	free(t->seen);
	t->seen = NULL;
}

/* What the scenario's own bookkeeping knows the map holds, or -1. */
static int64_t expected_entries(void)
{
	switch (R.kind) {
	case SC_FAULTS:
		return faults_expected_entries();
	case SC_LINCHECK:
		return lc_expected_entries();
	case SC_FLOOD:
		return R.fl_complete ? 0 : -1;
	default:
		return -1;
	}
}

static void gp_ticks(int n)
{
	for (int i = 0; i < n; i++) {
		go_offline();
		synchronize_rcu();
		go_online();
		talloc_gp_tick();
	}
}

void end_checks(void)
{
	static const int kinds[] = { RCUMAP_KIND_BUCKET, RCUMAP_KIND_ENTRY, RCUMAP_KIND_TABLE,
				     RCUMAP_TORTURE_KIND_VALUE };
	struct talloc_stats s;
	struct rcumap_stats ms_;
	uint64_t live, count, entries;
	int64_t expect;
	int rc;

	go_online();
	watchdog_arm(SANITIZED ? 600 : 120, "the end-of-scenario checks");
	rc = rcumap_barrier(R.map);
	if (rc)
		tfail(E_MODEL, 0, "rcumap_barrier returned %s", errname(rc));
	gp_ticks(3);
	talloc_snapshot(&s);
	rcumap_stats(R.map, &ms_);
	check_bounds(&s);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		int k = kinds[i];

		if (s.kind[k].retired != s.kind[k].reclaimed)
			tfail(E_ACCOUNTING, 0, "kind %s: %" PRIu64 " retired but %" PRIu64
			      " reclaimed after rcumap_barrier (%" PRId64 " never freed)",
			      talloc_kind_name(k), s.kind[k].retired, s.kind[k].reclaimed,
			      (int64_t)(s.kind[k].retired - s.kind[k].reclaimed));
	}
	if (s.pending)
		tfail(E_ACCOUNTING, 0, "%" PRIu64 " objects still pending after rcumap_barrier",
		      s.pending);
	for (int k = RCUMAP_KIND_BUCKET; k <= RCUMAP_KIND_TABLE; k += 2) {
		if (s.kind[k].retired != ms_.kind[k].retired ||
		    ms_.kind[k].retired != ms_.kind[k].reclaimed)
			tfail(E_ACCOUNTING, 0, "kind %s: the allocator saw %" PRIu64 " retired, "
			      "rcumap_stats says %" PRIu64 " retired and %" PRIu64 " reclaimed",
			      talloc_kind_name(k), s.kind[k].retired, ms_.kind[k].retired,
			      ms_.kind[k].reclaimed);
	}
	if (ms_.kind[RCUMAP_KIND_ENTRY].retired != ms_.kind[RCUMAP_KIND_ENTRY].reclaimed)
		tfail(E_ACCOUNTING, 0, "rcumap_stats: %" PRIu64 " entries retired, %" PRIu64
		      " reclaimed", ms_.kind[RCUMAP_KIND_ENTRY].retired,
		      ms_.kind[RCUMAP_KIND_ENTRY].reclaimed);
	live = s.kind[RCUMAP_TORTURE_KIND_VALUE].published - s.kind[RCUMAP_TORTURE_KIND_VALUE].retired;
	count = rcumap_count(R.map);
	final_traversal(&entries);
	expect = expected_entries();
	if (live != count || count != entries || (expect >= 0 && (uint64_t)expect != count))
		tfail(E_ACCOUNTING, 0, "live values (published - retired) %" PRIu64
		      ", rcumap_count %" PRIu64 ", full traversal %" PRIu64
		      " entries, the scenario expects %" PRId64 "%s", live, count, entries, expect,
		      expect < 0 ? " (unknown)" : "");
	rc = rcumap_validate(R.map);
	if (rc)
		tfail(E_ACCOUNTING, 0, "rcumap_validate returned %s on the quiet map", errname(rc));
	quiesce();
	talloc_set_destroying(1);
	rc = rcumap_destroy(R.map);
	talloc_set_destroying(0);
	if (rc)
		tfail(E_MODEL, 0, "rcumap_destroy returned %s", errname(rc));
	R.map = NULL;
	talloc_snapshot(&s);
	for (int k = 0; k < RCUMAP_TORTURE_KINDS; k++)
		if (s.kind[k].allocs != s.kind[k].frees)
			tfail(E_ACCOUNTING, 0, "kind %s: %" PRIu64 " allocated, %" PRIu64
			      " freed after rcumap_destroy (%" PRId64 " leaked)", talloc_kind_name(k),
			      s.kind[k].allocs, s.kind[k].frees,
			      (int64_t)(s.kind[k].allocs - s.kind[k].frees));
	gp_ticks(2);
	talloc_drain();
	go_offline();
}
