/* SPDX-License-Identifier: MIT */
/* faults.c: the torture suite's allocation-failure script: every allocation call failed in turn. */

/*
 * include/rcumap.h promises that an allocation failure returns -ENOMEM and
 * leaves the map's contents exactly as they were, and that the map frees
 * everything it allocated and every value it owned exactly once. This
 * program checks both at every allocation call a fixed script makes.
 *
 * The script (build_script) is a few hundred operations on one map that
 * together reach every allocation site of the library: creation, inserts of
 * inline and out-of-line keys, put, replace, cas, delete, delete_if,
 * get_or_insert, clear, forced grows and shrinks, automatic grows (from
 * inserts) and shrinks (from deletes), operations while a migration is
 * pending, and traversals (rcumap_scan and the in-section iterator) with
 * updates between and inside their steps.
 *
 * 1. A reference run without injected failures (the scripted ones below
 *    only) counts the allocation calls, N, records which operation made
 *    each, and checks that the script still reaches what it is for
 *    (check_coverage). The sweep needs it whole: if it fails, that is the
 *    only run reported.
 * 2. For every i in 0..N-1, twice: allocation call i fails once, then call i
 *    and every later call fail (persistent). Each such run starts from a
 *    fresh map and runs the whole script against a model (an array indexed
 *    by key number). After every operation:
 *    - its return code is what the model says, or -ENOMEM if (and only if
 *      allowed because) an allocation failed during it; after -ENOMEM the
 *      model stays as it was, otherwise the operation is applied to it;
 *    - the map equals the model: rcumap_get of every key, rcumap_count, a
 *      full iteration returning exactly the model's pairs once each, and
 *      rcumap_validate;
 *    - no value the model holds has been passed to free_value.
 *    An operation may succeed although an allocation failed inside it: the
 *    failed allocation was a step of a migration it only helped with, and
 *    the library drops those. The run goes on to the end of the script even
 *    when every allocation fails. At the end the failures are disarmed, the
 *    map destroyed, and every kind of allocation must have been freed, and
 *    every value the map ever owned passed to free_value exactly once (and
 *    no other value).
 *
 * Determinism: failing call i only tests what the reference run's call i
 * did if the runs are identical up to it. Three things would otherwise vary:
 * - the hash: the default is SipHash with a random seed per map, so the
 *   script uses hash_pairs (testlib/harness.h), which also makes keys 2k and
 *   2k+1 share a bucket at every size, so that deletes copy buckets;
 * - the library's thread-local update counter (a policy check every 32
 *   updates) lives as long as the thread: every run gets a fresh thread;
 * - when the call_rcu thread ran: the library once let a new generation
 *   start only after the one before the current was reclaimed (a "gate");
 *   it no longer does, but the script still settles reclamation before an
 *   update that may start a migration while a retired generation may be
 *   pending, by waiting in rcumap_barrier (gate_settled), which costs little
 *   and keeps the runs' allocation sequences comparable. Inside a traversal's read section it
 *   cannot wait, so the traversal leaves such updates out.
 * Each run checks that its failure hit the same operation as allocation
 * call i of the reference run, so a loss of determinism is reported, not
 * silently tested as something else.
 *
 * Scripted failures: on their own, the failure sweep leaves a migration
 * pending only after a failure, so an operation could meet a pending
 * migration and fail in it only under persistent failures. Some steps
 * therefore carry a budget: the number of allocation calls the operation
 * may make; the calls after it fail without reaching the counting
 * allocator (they are not among the N calls). The reference run meets
 * them too: a resize with a budget leaves its migration pending, and the
 * updates that follow, with budgets that cover their own needs but not the
 * migration they help with, keep it pending while the sweep fails each of
 * their allocations in turn.
 *
 * Runs are single-threaded, but each spends most of its time waiting for
 * the call_rcu thread (rcumap_barrier, rcumap_destroy), so the sweep runs
 * several at once (-j) and reports them in index order.
 *
 * Output lines start with "faults: ": the parameters, the reference run,
 * one summary per GROUP failure indexes, the first PRINT_MAX failing runs
 * (index, mode, operation, expected and got), then "faults: End of test:
 * SUCCESS" or "... FAILURE (<first failure>)", and last "N passed, N
 * failed", counting (index, mode) runs. Exit status 0, 1 on any failure, 2
 * on a usage error. usage() lists the options.
 */

#define _GNU_SOURCE

#include "faults.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct key keys[NKEYS];
struct script script;

/* ---- Reporting ----------------------------------------------------------------------- */

static unsigned long passed, failed_runs;
static char first_failure[1024];

void harness_fatal(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	printf("faults: harness error: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\nfaults: End of test: FAILURE (harness error)\n");
	printf("%lu passed, %lu failed\n", passed, failed_runs + 1);
	fflush(stdout);
	exit(1);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faults [-v] [-j J] [--stride K] [--only I]\n"
		"  Runs a fixed script of map operations once without injected failures,\n"
		"  counting its N allocation calls, then for each index i < N twice:\n"
		"  failing call i once, and failing every call from i on. Deterministic:\n"
		"  there is no seed.\n"
		"  -v          one line per operation of the reference run and per run\n"
		"  -j J        J runs at a time (default 64, at most 256); each run is\n"
		"              single-threaded: this only overlaps their waits\n"
		"  --stride K  only every K-th failure index (0, K, 2K, ...), for slow\n"
		"              runs such as valgrind's (default 1: every index)\n"
		"  --only I    only failure index I (both modes), to replay a failure\n");
}

static bool parse_ulong(const char *s, unsigned long *out)
{
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return !errno && !*end && *s != '-';
}

/* ---- The sweep: several runs at a time, reported in order ------------------------ */

/*
 * Each run is single-threaded and deterministic on its own, but spends most
 * of its time asleep: every rcumap_barrier (in rcumap_destroy, resize_retry
 * and gate_settled) waits for the call_rcu thread, which batches callbacks
 * for 10 ms before it runs them. Runs share nothing but that thread and the
 * grace periods, so running several at once overlaps the waits without
 * changing what any run does; the main thread reports them in index order.
 */
struct job {
	unsigned long index;
	bool persistent;
	struct run *r;           /* set when the run is over */
};

static struct {
	struct job *jobs;
	size_t n;
	atomic_size_t next;
	pthread_mutex_t lock;
	pthread_cond_t done;
} sweep = { .lock = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER };

static void *sweep_worker(void *arg)
{
	(void)arg;
	for (;;) {
		size_t j = atomic_fetch_add(&sweep.next, 1);
		struct run *r;

		if (j >= sweep.n)
			return NULL;
		r = run_new((long)sweep.jobs[j].index, sweep.jobs[j].persistent, false);
		pthread_mutex_lock(&sweep.lock);
		sweep.jobs[j].r = r;
		pthread_cond_broadcast(&sweep.done);
		pthread_mutex_unlock(&sweep.lock);
	}
}

static struct run *sweep_wait(size_t j)
{
	struct run *r;

	pthread_mutex_lock(&sweep.lock);
	while (!sweep.jobs[j].r)
		pthread_cond_wait(&sweep.done, &sweep.lock);
	r = sweep.jobs[j].r;
	pthread_mutex_unlock(&sweep.lock);
	return r;
}

int main(int argc, char **argv)
{
	unsigned long stride = 1, only = 0, jobs = 64, n_calls;
	bool verbose = false, have_only = false;
	unsigned long g_runs = 0, g_failed = 0, g_enomem = 0, g_dropped = 0, g_create = 0;
	unsigned long printed = 0, lo, hi, g_lo;
	double t0 = now_seconds();
	pthread_t *workers;
	struct run *ref;
	size_t ref_ops;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v")) {
			verbose = true;
		} else if (!strcmp(argv[i], "--stride") && i + 1 < argc) {
			if (!parse_ulong(argv[++i], &stride) || !stride) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			if (!parse_ulong(argv[++i], &only)) {
				usage(stderr);
				return 2;
			}
			have_only = true;
		} else if (!strcmp(argv[i], "-j") && i + 1 < argc) {
			if (!parse_ulong(argv[++i], &jobs) || !jobs || jobs > 256) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "faults: unknown argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int k = 0; k < NKEYS; k++)
		keys[k].len = key_make((size_t)k, keys[k].b);
	build_script(&script);

	ref = run_new(-1, false, verbose);
	n_calls = atomic_load(&ref->fa.ca.calls);
	ref_ops = ref->op_no;
	if (!ref->failed)
		check_coverage(ref);
	if (!ref->failed && have_only && only >= n_calls) {
		fprintf(stderr, "faults: --only %lu: the script makes only %lu allocation calls\n",
			only, n_calls);
		run_free(ref);
		free(script.s);
		return 2;
	}
	if (ref->failed)
		printf("faults: flavor %s, script of %zu steps; deterministic (fixed script and "
		       "hash, no seed); the reference run failed after %zu ops and %lu allocation "
		       "calls: no failure sweep\n", TEST_FLAVOR_NAME, script.n, ref_ops, n_calls);
	else
		printf("faults: flavor %s, script of %zu steps (%zu ops in the reference run), "
		       "N = %lu allocation calls; deterministic (fixed script and hash, no seed); "
		       "failing %s%lu, once and persistent; %lu runs at a time\n",
		       TEST_FLAVOR_NAME, script.n, ref_ops, n_calls,
		       have_only ? "only index " : stride > 1 ? "every index divisible by "
		       : "every index below ", have_only ? only : stride > 1 ? stride : n_calls, jobs);
	printf("faults: reference run: allocations bucket %lu, entry %lu, table %lu, map %lu; "
	       "grows %lu automatic, %lu forced; shrinks %lu automatic, %lu forced; "
	       "%lu ops during pending migrations (%lu finished one, %lu -ENOMEM, "
	       "%lu dropped a failed step); %lu -ENOMEM in all; %lu updates inside traversals "
	       "(%lu left out while the gate was unsettled, %lu switched generations); "
	       "%lu gate waits\n",
	       ref->t.kind_allocs[RCUMAP_KIND_BUCKET], ref->t.kind_allocs[RCUMAP_KIND_ENTRY],
	       ref->t.kind_allocs[RCUMAP_KIND_TABLE], ref->t.kind_allocs[RCUMAP_KIND_MAP],
	       ref->t.auto_grows, ref->t.forced_grows, ref->t.auto_shrinks,
	       ref->t.forced_shrinks, ref->t.pending_ops, ref->t.resumed,
	       ref->t.pending_enomem, ref->t.pending_dropped, ref->t.enomem,
	       ref->t.trav_updates, ref->t.trav_skipped, ref->t.trav_switches,
	       ref->t.barriers);
	if (ref->trace_buf)
		fwrite(ref->trace_buf, 1, ref->trace_len, stdout);
	if (ref->failed) {
		printf("faults: FAIL reference run (scripted failures only), %s: %s\n",
		       ref->op_desc, ref->first);
		printf("faults: End of test: FAILURE (reference run, %s: %s)\n",
		       ref->op_desc, ref->first);
		printf("0 passed, 1 failed\n");
		run_free(ref);
		free(script.s);
		return 1;
	}

	lo = have_only ? only : 0;
	hi = have_only ? only + 1 : n_calls;
	sweep.n = 2 * ((hi - lo + stride - 1) / stride);
	sweep.jobs = calloc(sweep.n ? sweep.n : 1, sizeof(*sweep.jobs));
	workers = calloc(jobs, sizeof(*workers));
	if (!sweep.jobs || !workers)
		harness_fatal("out of memory for %zu runs", sweep.n);
	for (size_t j = 0; j < sweep.n; j++) {
		sweep.jobs[j].index = lo + j / 2 * stride;
		sweep.jobs[j].persistent = j % 2;
	}
	for (unsigned long w = 0; w < jobs; w++) {
		int e = pthread_create(&workers[w], NULL, sweep_worker, NULL);

		if (e)
			harness_fatal("pthread_create: %s", strerror(e));
	}

	g_lo = lo;
	for (size_t j = 0; j < sweep.n; j++) {
		struct run *r = sweep_wait(j);
		unsigned long i = sweep.jobs[j].index;
		const char *m = sweep.jobs[j].persistent ? "persistent" : "once";

		/* The failure must hit where call i was made in the reference run. */
		snprintf(r->ctx, sizeof(r->ctx), "the determinism check");
		if (!r->failed && !r->t.create_failed &&
		    r->fa.injected_op != (long)ref->fa.op_of_call[i]) {
			if (r->fa.injected_op < 0)
				discrepancy(r, NULL, "allocation call %lu (made in op %u of the "
					    "reference run) was never made: the script is not "
					    "deterministic", i, ref->fa.op_of_call[i]);
			else
				discrepancy(r, NULL, "allocation call %lu was made in op %ld, "
					    "in op %u of the reference run: the script is not "
					    "deterministic", i, r->fa.injected_op,
					    ref->fa.op_of_call[i]);
		}
		g_runs++;
		g_enomem += r->t.enomem;
		g_dropped += r->t.dropped;
		g_create += r->t.create_failed;
		if (r->failed) {
			failed_runs++;
			g_failed++;
			if (!first_failure[0])
				snprintf(first_failure, sizeof(first_failure),
					 "index %lu %s, %s: %s", i, m, r->op_desc, r->first);
			if (printed++ < PRINT_MAX)
				printf("faults: FAIL index %lu (%s, failure hit op %ld), %s: %s\n",
				       i, m, r->fa.injected_op, r->op_desc, r->first);
			else if (printed == PRINT_MAX + 1)
				printf("faults: more failures: counted, not described\n");
		} else {
			passed++;
		}
		if (verbose)
			printf("faults: index %lu %s: failure hit op %ld; %u ops, %lu -ENOMEM, "
			       "%lu succeeded despite a failed allocation%s%s\n", i, m,
			       r->fa.injected_op, r->op_no, r->t.enomem, r->t.dropped,
			       r->t.create_failed ? ", create failed" : "",
			       r->failed ? ", FAILED" : "");
		run_free(r);
		if (j % 2 && (j + 1 == sweep.n || (i + stride) / GROUP != i / GROUP)) {
			printf("faults: indexes %lu-%lu: %lu runs, %lu failed; %lu ops returned -ENOMEM, "
			       "%lu succeeded despite a failed allocation, %lu creates failed (%.1f s)\n",
			       g_lo, i, g_runs, g_failed, g_enomem, g_dropped, g_create, now_seconds() - t0);
			g_lo = i + stride;
			g_runs = g_failed = g_enomem = g_dropped = g_create = 0;
		}
	}
	for (unsigned long w = 0; w < jobs; w++)
		pthread_join(workers[w], NULL);
	free(workers);
	free(sweep.jobs);
	run_free(ref);
	free(script.s);
	if (failed_runs)
		printf("faults: End of test: FAILURE (%s)\n", first_failure);
	else
		printf("faults: End of test: SUCCESS\n");
	printf("%lu passed, %lu failed\n", passed, failed_runs);
	return failed_runs ? 1 : 0;
}
