/* SPDX-License-Identifier: MIT */
/* scenario.c: one scenario of the torture program: setup, the main loop, the result line. */

#define _GNU_SOURCE

#include "program.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct run R;

#ifdef RCUMAP_TSAN
/*
 * TSan: the map gets a copy of the flavor with two changes.
 * - read_unlock first releases the reader token (talloc.h): the library's
 *   own read sections (updates, resize, clear, scan and its callbacks) end
 *   inside the library.
 * - barrier: liburcu's rcu_barrier callocs a work item in the calling thread
 *   and its call_rcu worker frees it, ordered by liburcu's queue, which TSan
 *   cannot see (a report inside liburcu, which cannot be annotated). The
 *   program uses only the default call_rcu worker, which runs callbacks in
 *   the order they were queued, so one callback of ours, queued now, runs
 *   after every callback queued before: an equivalent barrier whose
 *   hand-offs TSan sees (release before call_rcu, acquire in the callback,
 *   then an atomic flag back to the waiter).
 */
static struct rcu_flavor_struct tsan_flavor;

static void tsan_read_unlock(void)
{
	tsan_release(&talloc_reader_token);
	rcu_flavor.read_unlock();
}

struct tsan_barrier_work {
	struct rcu_head head;
	int done;
};

static void tsan_barrier_cb(struct rcu_head *head)
{
	struct tsan_barrier_work *w = caa_container_of(head, struct tsan_barrier_work, head);

	tsan_acquire(w);
	/* Pairs with the waiter's acquire: every earlier callback happened before. */
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
}

static void tsan_barrier(void)
{
	struct tsan_barrier_work w = { .done = 0 };

	tsan_release(&w);
	rcu_flavor.update_call_rcu(&w.head, tsan_barrier_cb);
	while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE))
		sleep_ns(200000);
}
#endif

#ifdef TORTURE_BROKEN_FREE_NO_GP
/*
 * Negative control FREE_NO_GP: a flavor whose call_rcu runs the callback at
 * once, with no grace period, as a broken user flavor would. The map then
 * frees (or caches) what it retires while readers may still hold it, and
 * the age and poison checks must catch it.
 */
static struct rcu_flavor_struct no_gp_flavor;

static void call_rcu_now(struct rcu_head *head, void (*func)(struct rcu_head *head))
{
	func(head);
}
#endif

static void create_map(void)
{
	struct rcumap_config cfg = {
		.flavor = RCUMAP_FLAVOR,
		.free_value = talloc_free_value,
		.alloc = talloc_alloc,
		.free = talloc_free,
		.hash = R.kind == SC_COLLIDE ? collide_hash : NULL,
		.min_slots = (mix64(opt.seed ^ (uint64_t)R.index) & 1) ? 1 : 0,
	};
	int rc, tries = 0;

#ifdef RCUMAP_TSAN
	tsan_flavor = rcu_flavor;
	tsan_flavor.read_unlock = tsan_read_unlock;
	tsan_flavor.barrier = tsan_barrier;
	cfg.flavor = &tsan_flavor;
#endif
#ifdef TORTURE_BROKEN_FREE_NO_GP
	no_gp_flavor = *cfg.flavor;
	no_gp_flavor.update_call_rcu = call_rcu_now;
	cfg.flavor = &no_gp_flavor;
#endif
	while ((rc = rcumap_create(&cfg, &R.map)) == -ENOMEM && tries++ < 1000)
		; /* faults: the allocator fails on purpose */
	if (rc) {
		tfail(E_MODEL, 1, "rcumap_create returned %s", errname(rc));
	}
}

/* Insert key id with a fresh value from main (retrying -ENOMEM in faults). */
static void *prefill_one(uint64_t id)
{
	unsigned char kb[KEY_MAXLEN];
	size_t len = make_key(id, kb);
	struct tval *v = new_value(&main_thr, id, 0);
	int rc, tries = 0;

	while ((rc = rcumap_insert(R.map, kb, len, v)) == -ENOMEM && tries++ < 1000)
		;
	if (rc) {
		tfail(E_MODEL, 0, "prefill: rcumap_insert of key %" PRIu64 " returned %s", id,
		      errname(rc));
		discard(v);
		return NULL;
	}
	return v;
}

/* Stable keys first (present throughout), then half of the others at random. */
static void prefill(void)
{
	uint64_t r = mix64(opt.seed ^ 0xf111 ^ (uint64_t)R.index);
	uint64_t n = R.kind == SC_FLOOD ? 0 : R.pool;

	go_online();
	for (uint64_t id = 0; id < n; id++) {
		void *v = NULL;

		if (id < R.nstable || rng_below(&r, 2))
			v = prefill_one(id);
		if (R.model)
			R.model[id] = v;
		if ((id & 1023) == 0)
			quiesce();
		if ((id & 65535) == 65535) {
			/* Keep the reclamation backlog (and the lag it would show) small. */
			go_offline();
			rcumap_barrier(R.map);
			go_online();
		}
	}
	if (R.kind == SC_LINCHECK)
		lc_prefill();
	quiesce();
	go_offline();
}

int run_scenario(const struct scen *sc, int index)
{
	struct talloc_config tc = { .check_canary = 1 };
	struct talloc_stats s;
	uint64_t errs0[E_COUNT], start, next, end, total_ops = 0, traversals = 0, resizes = 0;
	uint64_t busy = 0, enomem = 0;
	double secs;
	int interval_no = 0, pass, errs = 0, i;
	uint64_t last_check;
	char a[16], b[16], c[16], d[16], e[16], f[16], detail[600];

	memset(&R, 0, sizeof(R));
	R.kind = sc->kind;
	R.name = sc->name;
	R.index = index;
	R.pool = sc->pool;
	R.duration = sc->duration;
	R.nstable = (R.kind == SC_MIXED || R.kind == SC_COLLIDE || R.kind == SC_FAULTS) ? R.pool / 4 : 0;
	R.iter_updates = R.kind == SC_MIXED || R.kind == SC_COLLIDE || R.kind == SC_SINGLE;
	fail_scenario_begin(sc->name);
	checks_reset();
	lc_reset();
	for (i = 0; i < E_COUNT; i++)
		errs0[i] = LOAD(&err_count[i]);

	tc.seed = mix64(opt.seed ^ 0x7a11 ^ (uint64_t)index);
	tc.fail_ppm = R.kind == SC_FAULTS ? opt.fail_ppm : 0;
	talloc_init(&tc);
	talloc_thread_init(0);
	main_thr.seq = 0;
	main_thr.rng = mix64(opt.seed ^ 0x3a17 ^ (uint64_t)index);
	watchdog_arm(R.duration + (SANITIZED ? 900 : 300), "the scenario's setup or main loop");

	create_map();
	if (R.kind == SC_FAULTS) {
		R.model = calloc(R.pool, sizeof(*R.model));
		if (!R.model) {
			out("out of memory");
			exit(1);
		}
	}
	if (R.kind == SC_LINCHECK)
		lc_alloc();
	start = now_ns();
	prefill();
	make_threads();
	if (opt.verbose || R.pool >= 100000)
		out("scenario %s: %s keys (%s stable) prefilled in %.1f s; %d threads", R.name,
		    si(a, R.pool), si(b, R.nstable), (double)(now_ns() - start) / 1e9, R.nthr);
	if (R.kind == SC_LINCHECK)
		lc_start();
	R.fl_phase_ns = now_ns();
	for (i = 0; i < R.nthr; i++) {
		if (pthread_create(&R.thr[i].tid, NULL, thread_main, &R.thr[i]) != 0) {
			out("pthread_create failed");
			exit(1);
		}
		R.thr[i].started = 1;
	}

	/* The main loop: phases, stats lines, progress, until the duration is over. */
	start = now_ns();
	R.start_ns = start;
	end = start + (uint64_t)(R.duration * (double)NS_PER_S);
	R.end_ns = end;
	next = start + (uint64_t)(opt.interval * (double)NS_PER_S);
	last_check = start;
	for (;;) {
		uint64_t now = now_ns();
		int ending = now >= end || LOAD(&fail_stop);
		int busy_phase = 0;

		if (R.kind == SC_LINCHECK)
			busy_phase = poll_lincheck(ending);
		else if (R.kind == SC_FLOOD)
			busy_phase = poll_flood(ending);
		now = now_ns();
		if (now >= next) {
			interval_no++;
			check_progress(opt.interval, last_check);
			last_check = now;
			stats_lines((double)(now - start) / 1e9,
				    !opt.quiet || interval_no % 10 == 0);
			next += (uint64_t)(opt.interval * (double)NS_PER_S);
			if (next < now)
				next = now + (uint64_t)(opt.interval * (double)NS_PER_S);
		}
		if (ending && !busy_phase)
			break;
		sleep_ns(2 * NS_PER_MS);
	}
	secs = (double)(now_ns() - start) / 1e9;

	/* Stop and join (qsbr: offline while blocked). */
	STORE_REL(&R.stop, 1);
	watchdog_arm(SANITIZED ? 600 : 120, "joining the threads (a thread does not stop)");
	for (i = 0; i < R.nthr; i++) {
		struct timespec ts;
		struct thr *t = &R.thr[i];

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += SANITIZED ? 300 : 60;
		if (pthread_timedjoin_np(t->tid, NULL, &ts) != 0)
			tfail(E_STALL, 1, "STALL thread %s in \"%s\" did not stop", t->name,
			      LOAD(&t->state));
		total_ops += t->ops;
		traversals += t->traversals;
		resizes += t->resizes;
		busy += t->busy;
		enomem += t->enomem;
	}
	talloc_snapshot(&s);
	if (opt.quiet && interval_no % 10 != 0)
		stats_lines(secs, 1);
	end_checks();

	for (i = 0; i < R.nthr; i++)
		free(R.thr[i].seen);
	free(R.thr);
	R.thr = NULL;
	R.nthr = 0;
	free(R.model);
	R.model = NULL;
	lc_free();

	for (i = 0; i < E_COUNT; i++)
		errs += (int)(LOAD(&err_count[i]) - errs0[i]);
	pass = errs == 0 && fail_scenario_count() == 0;
	if (R.kind == SC_LINCHECK)
		lc_detail(detail, sizeof(detail));
	else if (R.kind == SC_FLOOD)
		snprintf(detail, sizeof(detail), "; %" PRIu64 " flood cycles of %s keys, drain max "
			 "%.1f ms", R.fl_cycles, si(a, R.pool), ms(R.drain_max_ns));
	else if (R.kind == SC_FAULTS)
		snprintf(detail, sizeof(detail), "; %" PRIu64 " allocations failed on purpose, %"
			 PRIu64 " calls returned -ENOMEM",
			 s.kind[0].failed + s.kind[1].failed + s.kind[2].failed + s.kind[3].failed +
			 s.kind[4].failed, enomem);
	else
		detail[0] = 0;
	if (R.holds_extended) {
		size_t dl = strlen(detail);

		snprintf(detail + dl, sizeof(detail) - dl, "; %" PRIu64 " of %" PRIu64 " holds "
			 "extended for a writer the scheduler had not run", R.holds_extended, R.holds);
	}
	if (pass) {
		out("scenario %s (%s): PASS (%.1f s, %s ops, %s traversals, %s resizes (%s -EBUSY), "
		    "%s grace periods, peak pending %s, lag p99 %.1f ms max %.1f ms%s)", R.name,
		    TEST_FLAVOR_NAME, secs, si(a, total_ops), si(b, traversals), si(c, resizes),
		    si(d, busy), si(e, s.gp), si(f, s.peak_pending), ms(talloc_lag_pct(&s, 99)),
		    ms(s.lag_max_ns), detail);
	} else {
		char el[400];
		size_t n = 0;

		el[0] = 0;
		for (i = 0; i < E_COUNT; i++) {
			uint64_t dlt = LOAD(&err_count[i]) - errs0[i];

			if (dlt)
				n += (size_t)snprintf(el + n, sizeof(el) - n, "%s%s %" PRIu64,
						      n ? ", " : "", ecls_name[i], dlt);
		}
		out("scenario %s (%s): FAIL (%d errors: %s; first: %s)", R.name, TEST_FLAVOR_NAME,
		    errs, el, fail_scenario_first());
	}
	return pass;
}
