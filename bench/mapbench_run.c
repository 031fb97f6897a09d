/* SPDX-License-Identifier: MIT */
/* mapbench_run.c: mapbench's threads: teams running a peer's loop, builds and checks. */

/*
 * A team is T threads running peer->run on one table. Each registers with
 * the peer (thread_init) before the common start barrier and unregisters
 * (thread_fini) after its loop, so a thread belongs to one flavor only for
 * one measurement. The main thread registers only around its own calls
 * (builds' checks, barrier, destroy), never while it sleeps.
 *
 * The driver's own loops (reclaim writers, the flood, the resizer) call
 * single operations; on a qsbr peer they must announce quiescent states or
 * no grace period ends. peer.h has no hook for that, so mb_quiescent()
 * calls liburcu-qsbr directly for peers whose flavor is "qsbr": the peer's
 * thread_init registered the thread in that same library.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1	/* pthread_clockjoin_np */
#endif

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-qsbr.h>	/* urcu_qsbr_quiescent_state() only (a call, not inlined) */

#include "mapbench.h"

/* Sampled lookups checked after a build. */
#define MB_CHECK_SAMPLES 4096
/* Build threads for peers that take concurrent writes (the machine has 2 cores). */
#define MB_BUILD_THREADS_MAX 4

/* ---- errors and small helpers ------------------------------------------- */

void mb_fatal(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "mapbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Problems seen during the run: printed on stderr now, listed again at the end. */
#define MB_PROBLEMS_MAX 64

static struct {
	char *msg[MB_PROBLEMS_MAX];
	unsigned n, dropped;
} mb_problems;

void mb_problem(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "mapbench: %s\n", buf);
	if (mb_problems.n < MB_PROBLEMS_MAX && (mb_problems.msg[mb_problems.n] = strdup(buf)) != NULL)
		mb_problems.n++;
	else
		mb_problems.dropped++;
}

/* The end-of-run list on stdout; frees it. */
void mb_problems_report(void)
{
	if (mb_problems.n + mb_problems.dropped == 0)
		return;
	printf("\n# problems (%u):\n", mb_problems.n + mb_problems.dropped);
	for (unsigned i = 0; i < mb_problems.n; i++) {
		printf("#   %s\n", mb_problems.msg[i]);
		free(mb_problems.msg[i]);
	}
	if (mb_problems.dropped)
		printf("#   ... and %u more on stderr\n", mb_problems.dropped);
	mb_problems.n = mb_problems.dropped = 0;
}

void *mb_alloc(size_t size)
{
	void *p = calloc(1, size);

	if (p == NULL)
		mb_fatal("out of memory (%zu bytes)", size);
	return p;
}

void mb_sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

unsigned mb_ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (unsigned)n;
}

int mb_is_qsbr(const struct bench_peer *p)
{
	return strcmp(p->flavor, "qsbr") == 0;
}

/* See the comment at the top: qsbr threads in the driver's own loops. */
void mb_quiescent(int qsbr)
{
	if (qsbr)
		urcu_qsbr_quiescent_state();
}

/* Per-thread seed: a function of the global seed and the thread's index only. */
uint64_t mb_thread_seed(uint64_t seed, unsigned thread)
{
	return mix64(mix64(seed) + thread);
}

/*
 * The seed of one measurement of a mixed run: every peer gets the same one
 * for the same round and cell, and no two rounds or cells share one, so a
 * later measurement never replays the writes of an earlier one on the same
 * table (they would find their keys already inserted or deleted).
 * bench/syncmap/workload.go's cellSeed is the same function.
 */
uint64_t mb_cell_seed(uint64_t seed, unsigned round, unsigned get_pct, unsigned dist,
		      unsigned threads)
{
	return seed + (uint64_t)round * 1000003u + (uint64_t)get_pct * 1009u +
	       (uint64_t)dist * 101u + threads;
}

/* How many of n indices a stride split gives thread t of T (all n covered). */
uint64_t mb_share(uint64_t n, unsigned t, unsigned T)
{
	return n / T + (t < n % T ? 1 : 0);
}

/* Registration; NULL-safe, as a peer without RCU may leave them out. */
void mb_tinit(const struct bench_peer *p)
{
	if (p->thread_init)
		p->thread_init();
}

void mb_tfini(const struct bench_peer *p)
{
	if (p->thread_fini)
		p->thread_fini();
}

/* Calls that the main thread makes on a table, each registered around. */
void mb_barrier(const struct bench_peer *p, void *table)
{
	if (p->barrier == NULL)
		return;
	mb_tinit(p);
	p->barrier(table);
	mb_tfini(p);
}

/*
 * Destroys the table, then has glibc consolidate and trim every arena, so
 * that the next measurement does not pay for this table's frees. Without
 * it, a later thread that inherits an arena holding millions of freed
 * small chunks stalls for seconds in malloc_consolidate at its first
 * request of 1 KiB or more: that stopped growing fills at their deadline
 * after the 10M-key runs (docs/benchmarks.md).
 */
void mb_destroy(const struct bench_peer *p, void *table)
{
	mb_tinit(p);
	p->destroy(table);
	mb_tfini(p);
	malloc_trim(0);
}

uint64_t mb_count(const struct bench_peer *p, void *table)
{
	uint64_t n;

	mb_tinit(p);
	n = p->count(table);
	mb_tfini(p);
	return n;
}

/* Peers that failed a build or check: skipped from then on (index in o->peers). */
const char *mb_broken[MB_PEERS_MAX];

/* Every run's sum of values found, printed at the end, so no lookup is dead code. */
uint64_t mb_sink;

double mb_elapsed(double t0)
{
	return now_seconds() - t0;
}

static void mb_break(unsigned pi, const struct bench_peer *p, const char *why)
{
	if (mb_broken[pi] == NULL) {
		mb_problem("%s: %s; skipped from now on", p->name, why);
		mb_broken[pi] = why;
	}
}

/* ---- teams ---------------------------------------------------------------- */

struct mb_worker {
	pthread_t tid;
	const struct bench_peer *peer;
	void *table;
	pthread_barrier_t *start;
	struct bench_work work;
	struct bench_counts counts;	/* written by the worker, read after join */
	double cpu_seconds;		/* the worker's CPU time, measured at its end */
	int joined;			/* already joined (mb_measure's deadline wait) */
} __attribute__((aligned(64)));	/* no false sharing between workers' counts */

/* The calling thread's CPU time so far (0 if the clock is missing). */
static double mb_thread_cpu_seconds(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *mb_worker_main(void *arg)
{
	struct mb_worker *w = arg;

	mb_tinit(w->peer);
	/* The common start: pairs with mb_team_go's wait and the extra threads'. */
	pthread_barrier_wait(w->start);
	w->peer->run(w->table, &w->work, &w->counts);
	w->cpu_seconds = mb_thread_cpu_seconds();
	mb_tfini(w->peer);
	return NULL;
}

void mb_create_thread(pthread_t *tid, void *(*fn)(void *), void *arg)
{
	int rc = pthread_create(tid, NULL, fn, arg);

	if (rc != 0)
		mb_fatal("pthread_create: %s", strerror(rc));
}

/*
 * Starts n workers running tmpl on the table; they and @extra more threads
 * (which the caller starts, and which wait on team->start) begin together
 * when the caller calls mb_team_go. Fill runs: tmpl->fill_count != 0, each
 * worker gets its stride of fill_count indices.
 */
void mb_team_start(struct mb_team *team, const struct bench_peer *p, void *table,
		   const struct bench_work *tmpl, unsigned n, unsigned extra, uint64_t seed)
{
	team->n = n;
	team->w = aligned_alloc(64, n * sizeof(*team->w));
	if (team->w == NULL)
		mb_fatal("out of memory (%u workers)", n);
	memset(team->w, 0, n * sizeof(*team->w));
	/* Before the threads exist; pthread_create orders it for them. */
	mb_store_relaxed_int(&team->stop, 0);
	if (pthread_barrier_init(&team->start, NULL, n + extra + 1) != 0)
		mb_fatal("pthread_barrier_init failed");
	for (unsigned i = 0; i < n; i++) {
		struct mb_worker *w = &team->w[i];

		w->peer = p;
		w->table = table;
		w->start = &team->start;
		w->work = *tmpl;
		w->work.seed = mb_thread_seed(seed, i);
		w->work.stop = &team->stop;
		if (tmpl->fill_count > 0) {
			w->work.fill_first = i;
			w->work.fill_step = n;
			w->work.fill_count = mb_share(tmpl->fill_count, i, n);
		}
		mb_create_thread(&w->tid, mb_worker_main, w);
	}
}

void mb_team_go(struct mb_team *team)
{
	/* Releases every registered thread of the team at once (pairs with their waits). */
	pthread_barrier_wait(&team->start);
}

void mb_team_stop(struct mb_team *team)
{
	/* Workers poll it once per batch through a volatile load. Relaxed:
	 * nothing is published through the flag; pthread_join orders their
	 * results before main reads them. */
	mb_store_relaxed_int(&team->stop, 1);
}

/* Joins the workers and sums what they did; frees the team. */
void mb_team_join(struct mb_team *team, int fill, struct mb_outcome *out)
{
	uint64_t total = 0;

	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < team->n; i++) {
		const struct bench_counts *c = &team->w[i].counts;
		uint64_t ops;

		if (!team->w[i].joined)	/* a join orders the worker's counts before our reads */
			pthread_join(team->w[i].tid, NULL);
		ops = c->ops[0] + c->ops[1] + c->ops[2];
		for (int k = 0; k < 3; k++) {
			out->ops[k] += c->ops[k];
			out->done[k] += c->done[k];
		}
		out->acc += c->acc;
		out->wrong += c->wrong;
		out->cpu_seconds += team->w[i].cpu_seconds;
		total += ops;
		if (c->seconds > out->max_seconds)
			out->max_seconds = c->seconds;
		if (!fill && c->seconds > 0)
			out->rate += (double)ops / c->seconds;
	}
	if (fill && out->max_seconds > 0)
		out->rate = (double)total / out->max_seconds;
	mb_sink += out->acc;
	pthread_barrier_destroy(&team->start);
	free(team->w);
	team->w = NULL;
}

void mb_lookup_work(const struct mb_opts *o, uint64_t n, struct bench_work *w)
{
	memset(w, 0, sizeof(*w));
	w->range = 2 * n;
	w->get_pct = 100;
	w->batch = (unsigned)o->batch;
	w->dist = BENCH_UNIFORM;
}

/*
 * A fill that has not finished by then is stopped (the loop polls the stop
 * flag once per batch): 2 s plus 3 us per key, several times the slowest
 * legitimate fill seen here (under 1 us per key), so only a stalled peer
 * hits it (cds_lfht 0.13.2 can stop growing for good, then every insert
 * walks one long chain).
 */
uint64_t mb_fill_deadline_ns(uint64_t n)
{
	return UINT64_C(2000000000) + 3000 * n;
}

/*
 * One measurement: a mixed run of ms milliseconds, or a fill to completion
 * or its deadline. Returns 1 if a fill was stopped by its deadline.
 */
int mb_measure(const struct bench_peer *p, void *table, const struct bench_work *tmpl,
	       unsigned threads, uint64_t ms, uint64_t seed, struct mb_outcome *out)
{
	struct mb_team team;
	int fill = tmpl->fill_count > 0, stalled = 0;

	mb_team_start(&team, p, table, tmpl, threads, 0, seed);
	mb_team_go(&team);
	if (!fill) {
		mb_sleep_ns(ms * 1000000u);
		mb_team_stop(&team);
	} else {
		uint64_t end = now_ns() + mb_fill_deadline_ns(tmpl->fill_count);
		struct timespec ts = { .tv_sec = (time_t)(end / 1000000000u),
				       .tv_nsec = (long)(end % 1000000000u) };

		/* now_ns is CLOCK_MONOTONIC too. A worker joined here is
		 * joined again by mb_team_join: make that a no-op wait. */
		for (unsigned i = 0; i < threads && !stalled; i++) {
			int rc = pthread_clockjoin_np(team.w[i].tid, NULL, CLOCK_MONOTONIC, &ts);

			if (rc == ETIMEDOUT)
				stalled = 1;
			else
				team.w[i].joined = 1;
		}
		if (stalled)
			mb_team_stop(&team);
	}
	mb_team_join(&team, fill, out);
	return stalled;
}

/* ---- builds and checks ----------------------------------------------------- */

static unsigned mb_build_threads(const struct bench_peer *p)
{
	unsigned n = mb_ncpus();

	if (p->caps & (PEER_SINGLE_WRITER | PEER_UNSYNCHRONISED))
		return 1;
	return n < MB_BUILD_THREADS_MAX ? n : MB_BUILD_THREADS_MAX;
}

/* Every sampled index of [0, 2n) is found with its value iff it is below n. */
static int mb_check_exact(const struct bench_peer *p, void *table, uint64_t n, uint64_t seed)
{
	uint64_t rng = mix64(seed ^ n), bad = 0, count;

	mb_tinit(p);
	count = p->count(table);
	for (unsigned s = 0; s < MB_CHECK_SAMPLES; s++) {
		uint64_t i = s < 2 ? s * (2 * n - 1) : rng_below(&rng, 2 * n);	/* both ends, then random */
		uint64_t v = p->get(table, key_of(i)), want = i < n ? i + 1 : 0;

		if (v != want && bad++ < 3)
			mb_problem("%s: check after build: index %" PRIu64 ": got %" PRIu64
				   ", expected %" PRIu64, p->name, i, v, want);
	}
	mb_tfini(p);
	if (count != n) {
		mb_problem("%s: count %" PRIu64 " after inserting %" PRIu64 " keys", p->name, count, n);
		return -1;
	}
	return bad ? -1 : 0;
}

/*
 * Creates a table with @params and inserts the indices [0, n) with the
 * peer's own loop (fill mode, mb_build_threads threads), then checks it.
 * 0 and *table set, or -1 after a message (nothing left allocated).
 */
int mb_build(const struct bench_peer *p, const struct peer_params *params, uint64_t n,
	     unsigned batch, uint64_t seed, void **table, double *seconds)
{
	struct bench_work w;
	struct mb_outcome out;
	double t0 = now_seconds();
	int rc = p->create(params, table);

	if (rc != 0) {
		mb_problem("%s: create: %s", p->name, strerror(-rc));
		return -1;
	}
	memset(&w, 0, sizeof(w));
	w.range = 2 * n;
	w.batch = batch;
	w.fill_count = n;
	mb_measure(p, *table, &w, mb_build_threads(p), 0, seed, &out);
	if (seconds)
		*seconds = now_seconds() - t0;
	if (out.done[BENCH_INSERT] != n) {
		mb_problem("%s: build inserted %" PRIu64 " of %" PRIu64 " keys%s", p->name,
			   out.done[BENCH_INSERT], n,
			   out.ops[BENCH_INSERT] < n ? " (stopped at its deadline)" : "");
		mb_destroy(p, *table);
		return -1;
	}
	if (mb_check_exact(p, *table, n, seed) != 0) {
		mb_destroy(p, *table);
		return -1;
	}
	return 0;
}

/*
 * mb_build for one peer of a run that keeps a table per peer: on failure
 * the peer is marked broken and *table is NULL. 0 on success.
 */
int mb_build_logged(unsigned pi, const struct bench_peer *p, const struct peer_params *params,
		    uint64_t n, unsigned batch, uint64_t seed, void **table)
{
	double secs;

	if (mb_build(p, params, n, batch, seed, table, &secs) != 0) {
		mb_break(pi, p, "build failed");
		*table = NULL;
		return -1;
	}
	fprintf(stderr, "mapbench: built %s with %" PRIu64 " keys in %.2f s\n", p->name, n, secs);
	return 0;
}

