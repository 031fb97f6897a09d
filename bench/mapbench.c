/* SPDX-License-Identifier: MIT */
/* mapbench.c: the benchmark driver: rcumap against cds_lfht, locked tables, ck_ht, TBB. */

/*
 * A measurement command, not a test (never run by make check). The peers
 * are in bench_peers[] (bench/peers.c); each implements bench/peer.h and
 * runs the same measured loop (BENCH_DEFINE_RUN, bench/workload.h) with its
 * own operations inlined.
 *
 * Method, identical for every peer:
 * - Keys are key_of(i), values i + 1. A table "of n keys" holds [0, n) after
 *   its build; mixed runs draw indices from [0, 2n), so half the lookups
 *   hit, and split the non-lookups evenly between insert and delete, so the
 *   size stays near n. Builds use the peer's own loop in fill mode (up to
 *   4 threads, 1 for single-writer and unsynchronised peers) and are checked
 *   (count, and 4096 sampled lookups over [0, 2n)) before anything is timed.
 * - Per-thread seeds depend only on (--seed, round, cell, thread index), so
 *   every peer sees the same key and operation sequence in the same
 *   measurement, and no measurement replays the writes of an earlier one on
 *   the same table (mb_cell_seed).
 * - One measurement: T threads, each registered with the peer (thread_init)
 *   for this measurement only, start on a common pthread barrier; main sleeps
 *   -s seconds and raises the stop flag, which the loop polls once per batch
 *   (-b operations per read section; qsbr peers announce a quiescent state
 *   after each batch). Each thread times itself from its own start to its
 *   own stop; the rate is the sum of the threads' ops/s. After a run with
 *   writes, main waits for the peer's pending reclamation (barrier) outside
 *   any timing, so it does not run into the next measurement.
 * - Rounds (-r): in each round every (distribution, mix, threads) cell is
 *   measured once per peer, the peers in an order rotated by round and
 *   cell, so drift hits all peers alike. Reported: median, min and max over
 *   rounds. Each peer's table of one key count is built once (pre-sized:
 *   peer_params.presize = n) and reused by every cell and round of that key
 *   count; all peers' tables of that key count are alive together.
 * - Capabilities: unsynchronised peers (the read-only ceiling) take part
 *   only in 100%-lookup runs; single-writer peers in 100%-lookup runs at any
 *   thread count and in mixes and fills with 1 thread only.
 * - Ratios: vs-lfht is a peer's median over the median of cds_lfht of its
 *   own flavor (rcumap-qsbr vs lfht-qsbr; peers without a flavor vs
 *   lfht-memb) in the same cell; of-ceiling (100% lookups only) is over the
 *   unsynchronised table's median.
 * - Fill: T threads insert n keys into an empty table, thread t the indices
 *   t, t + T, ... (n/T each, the first n % T threads one more); pre-sized
 *   (presize n) vs growing (presize 0). The rate is n over the slowest
 *   thread's time (all start together), so a thread that finishes early
 *   does not count its solo speed. A fresh table per measurement, destroyed
 *   after it (outside timing).
 * - Memory: a fresh process per peer and size (this program re-executed
 *   with --memory-one PEER N, one line back through a pipe), so malloc state
 *   does not leak between peers. Resident pages (/proc/self/statm) before
 *   create and after a single-threaded pre-sized build and a barrier, per
 *   entry; the peer's own mem() live bytes when it keeps them; plus the
 *   per-entry bytes its users must add (cds_lfht's rcu_head), shown apart
 *   though the peer's nodes hold them, so they are in RSS: total = RSS.
 * - Latency during resize (resizable peers): one lookup thread on a table of
 *   --special-keys keys built from empty (presize 0, so it may shrink too)
 *   times every get into a log-linear histogram (16 sub-buckets per power of
 *   two; reported values are bucket lower bounds, at most 6.25% low): first
 *   alone (steady), then while a second thread resizes the table back and
 *   forth between 4n and n/4 buckets (on -EBUSY it waits for the peer's
 *   barrier and retries), --latency-seconds each.
 * - Update latency (also the latency experiment; every peer but the
 *   unsynchronised one): one thread times each update with
 *   clock_gettime(CLOCK_MONOTONIC) around the peer's single operation (its
 *   own read section where one is needed; qsbr's quiescent state after it
 *   is included) into the same histogram, and keeps the exact maximum.
 *   Steady: a pre-sized table of --special-keys keys holding the index
 *   window [j, j + n); each step deletes j and inserts j + n, so every
 *   update changes the table and the size stays n; --latency-seconds.
 *   Growing: n inserts into an empty table (presize 0: rcumap's default
 *   min_slots), stopped at the fill deadline.
 * - Bulk (peers with insert_held: rcumap): one thread inserts 50,000 keys
 *   into an empty table (presize 0), (a) all inside one read section (qsbr:
 *   online, no quiescent state), (b) each in its own section (qsbr: a
 *   quiescent state every 128 inserts); a fresh table per measurement,
 *   wall time, median of the rounds. (a) stops at --bulk-deadline and is
 *   then reported as capped (a lower bound) and not repeated.
 * - Shrink RSS (resizable peers): a fresh process per case, as for memory.
 *   Shrunk: one thread inserts --shrink-keys entries into an empty table
 *   (presize 0), the main thread deletes 90% of them (indices [n/10, n)),
 *   calls resize(0) (the peer's own size for its count; on -EBUSY a barrier
 *   and a retry, up to 5 tries), then barrier. Fresh: only the n/10
 *   survivors, built the same way, then barrier. Resident growth since
 *   before create, and again after malloc_trim(0) (informational: glibc
 *   otherwise keeps freed memory); the ratio is shrunk / fresh.
 * - Reclamation (peers that report reclaims): (a) on a table of
 *   --special-keys keys, writers own the indices i % W == w and repeatedly
 *   remove (stamped with the time) and re-insert random keys of their own,
 *   while reader threads look up (W = readers = half the CPUs, at least 1);
 *   on_reclaim records now - removal time. After --reclaim-seconds, a
 *   barrier. (b) Flood: one thread deletes all keys as fast as it can, a
 *   monitor samples the peer's pending bytes every ms for the peak; drain is
 *   the time from the last delete until the monitor sees nothing pending
 *   and every value reclaimed (or, after 10 s, until barrier returns).
 * - Batch (peers with a batched lookup: rcumap's rcumap_get_batch, and
 *   oa-unsync's own, which hashes a group of 16 keys and prefetches their
 *   home slots before it probes any: the ceiling): at each -k key count, a
 *   pre-sized table per peer built as for the mixed runs; lookups only,
 *   indices uniform over [0, 2n) (half hit), T threads of -t. Modes: one
 *   lookup per key (the peer's inlined get), and batched calls of K keys
 *   for each K of --batch-keys, which look up the same indices in the same
 *   order (the same seeds). -b B is lookups per read section: B single
 *   lookups, or ceil(B/K) calls (a call is never split, so -b 1 gives each
 *   call a section of its own); every lookup counts as one operation.
 *   Each found value is checked against its key's index and each call's
 *   count against its values; a mode with a wrong answer, or whose hit
 *   rate is outside 45-55% (the table holds exactly half of the range), is
 *   reported as a problem and left out. Rounds, rotation and medians as
 *   for the mixed runs, with (peer, mode) pairs rotated. Ratios: to the
 *   same peer's single lookups, to the unsynchronised table's single
 *   lookups (issue 13's ceiling) and to its batched calls of the same K.
 * - Threads in the driver's own loops (writers, flood, resizer) on a qsbr
 *   peer announce quiescent states themselves (mapbench_run.c).
 *
 * Output: the reproduce command first, then one table per block on stdout,
 * the CSV files and machine.txt in -o (schemas in mapbench_results.c), and
 * the targets the run covered. Progress and problems go to stderr.
 *
 * The program's files and what each holds: bench/mapbench.h.
 */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapbench.h"
#include "selftest.h"

#define MB_ZIPF_THETA 0.99

/*
 * Cost model for the duration estimate, measured on the 2-core reference
 * machine: ns per key for tables up to MB_EST_BIG keys, and for larger ones
 * (which miss in cache and TLB on nearly every access).
 */
#define MB_EST_BIG 2000000
#define MB_EST_BUILD_NS 220.0, 520.0	/* build and check, per peer */
#define MB_EST_DESTROY_NS 200.0, 480.0	/* per peer */
#define MB_EST_CHILD_NS 800.0, 1300.0	/* memory child: start, 1-thread build, destroy */
#define MB_EST_FILL_NS 300.0, 500.0	/* one thread */
#define MB_EST_FLOOD_NS 400.0, 600.0	/* delete and drain */
#define MB_EST_SHRINK_NS 3000.0, 4000.0	/* shrinkrss child: growing build, deletes, shrink */
#define MB_EST_BARRIER_S 0.020	/* after a measurement with writes, or a destroy */
#define MB_EST_BULK_ONE_S 3.0	/* bulk, one read section (capped by its deadline) */
#define MB_EST_BULK_SEP_S 0.1	/* bulk, separate sections, with the destroy */
#define MB_EST_START_S 0.002	/* creating and joining a team */

static int mb_takes_part(const struct bench_peer *p, int fill, unsigned get_pct, unsigned threads)
{
	int read_only = !fill && get_pct == 100;

	if (p->caps & PEER_UNSYNCHRONISED)
		return read_only;
	if (p->caps & PEER_SINGLE_WRITER)
		return read_only || threads == 1;
	return 1;
}

struct mb_config {
	unsigned dist, get_pct, threads;
};

/* The mixed cells of one key count, in measuring order. */
static unsigned mb_configs(const struct mb_opts *o, uint64_t n, struct mb_config *cfg)
{
	unsigned k = 0;

	for (unsigned d = 0; d < o->dists.n; d++) {
		if (o->dists.v[d] != BENCH_UNIFORM && !mb_list_has(&o->zipf_keys, n))
			continue;
		for (unsigned m = 0; m < o->mixes.n; m++)
			for (unsigned t = 0; t < o->threads.n; t++)
				cfg[k++] = (struct mb_config){ (unsigned)o->dists.v[d],
							       (unsigned)o->mixes.v[m],
							       (unsigned)o->threads.v[t] };
	}
	return k;
}

/* ---- mixed throughput: one key count ---------------------------------------- */

static void mb_run_mixed(const struct mb_opts *o, uint64_t n, double t_start)
{
	static struct mb_config cfg[2 * MB_LIST_MAX * MB_LIST_MAX];
	unsigned ncfg = mb_configs(o, n, cfg), np = o->npeers, R = (unsigned)o->rounds;
	void *tables[MB_PEERS_MAX] = { 0 };
	unsigned char hit_warned[MB_PEERS_MAX] = { 0 };
	struct bench_zipf zipf;
	double *rates;
	size_t from = mb_res.nrows;

	if (ncfg == 0)
		return;
	for (unsigned pi = 0; pi < np; pi++) {
		const struct bench_peer *p = o->peers[pi];
		struct peer_params params = { .presize = n };
		int need = 0;

		for (unsigned c = 0; c < ncfg; c++)
			need |= mb_takes_part(p, 0, cfg[c].get_pct, cfg[c].threads);
		if (!need || mb_broken[pi])
			continue;
		mb_build_logged(pi, p, &params, n, (unsigned)o->batch, o->seed, &tables[pi]);
	}
	for (unsigned c = 0; c < ncfg; c++) {
		if (cfg[c].dist == BENCH_ZIPF) {
			bench_zipf_init(&zipf, 2 * n, MB_ZIPF_THETA);	/* O(n): once per key count */
			break;
		}
	}
	rates = mb_alloc((size_t)ncfg * np * R * sizeof(*rates));
	for (unsigned r = 0; r < R; r++) {
		for (unsigned c = 0; c < ncfg; c++) {
			unsigned part[MB_PEERS_MAX], npart = 0;

			for (unsigned pi = 0; pi < np; pi++)
				if (tables[pi] != NULL &&
				    mb_takes_part(o->peers[pi], 0, cfg[c].get_pct, cfg[c].threads))
					part[npart++] = pi;
			for (unsigned k = 0; k < npart; k++) {
				unsigned pi = part[(k + r + c) % npart];	/* rotated order */
				const struct bench_peer *p = o->peers[pi];
				struct bench_work w;
				struct mb_outcome out;

				memset(&w, 0, sizeof(w));
				w.range = 2 * n;
				w.get_pct = cfg[c].get_pct;
				w.batch = (unsigned)o->batch;
				w.dist = (enum bench_dist)cfg[c].dist;
				w.zipf = &zipf;
				mb_measure(p, tables[pi], &w, cfg[c].threads, o->run_ms,
					   mb_cell_seed(o->seed, r, cfg[c].get_pct, cfg[c].dist,
							cfg[c].threads), &out);
				rates[((size_t)c * np + pi) * R + r] = out.rate;
				if (cfg[c].get_pct < 100)
					mb_barrier(p, tables[pi]);
				/* Uniform draws over [0, 2n) from a table of about n keys hit half the time. */
				if (cfg[c].dist == BENCH_UNIFORM && out.ops[BENCH_GET] >= 10000 &&
				    !hit_warned[pi]) {
					double hit = (double)out.done[BENCH_GET] / (double)out.ops[BENCH_GET];

					if (hit < 0.4 || hit > 0.6) {
						mb_problem("%s: %.1f%% of lookups hit at %" PRIu64
							   " keys, expected about 50%%", p->name,
							   100 * hit, n);
						hit_warned[pi] = 1;
					}
				}
			}
		}
		fprintf(stderr, "mapbench: mixed, %" PRIu64 " keys: round %u/%u done (%.0f s elapsed)\n",
			n, r + 1, R, mb_elapsed(t_start));
	}
	for (unsigned c = 0; c < ncfg; c++) {
		struct mb_cell cell = { .fill = 0, .keys = n, .get_pct = cfg[c].get_pct,
					.dist = cfg[c].dist, .threads = cfg[c].threads };

		for (unsigned pi = 0; pi < np; pi++)
			if (tables[pi] != NULL &&
			    mb_takes_part(o->peers[pi], 0, cfg[c].get_pct, cfg[c].threads))
				mb_add_row(&cell, o->peers[pi], &rates[((size_t)c * np + pi) * R], R);
	}
	mb_emit_rows(from, o);
	for (unsigned pi = 0; pi < np; pi++) {
		uint64_t count;

		if (tables[pi] == NULL)
			continue;
		/* Inserts and deletes are equally likely: the size stays near n. */
		count = mb_count(o->peers[pi], tables[pi]);
		if (count < n - n / 10 || count > n + n / 10)
			mb_problem("%s: %" PRIu64 " entries after the mixed runs of %" PRIu64 " keys",
				   o->peers[pi]->name, count, n);
		mb_destroy(o->peers[pi], tables[pi]);
	}
	free(rates);
}

/* ---- fill: one key count ------------------------------------------------------ */

static void mb_run_fill(const struct mb_opts *o, uint64_t n, double t_start)
{
	unsigned np = o->npeers, nt = o->threads.n, R = (unsigned)o->rounds;
	double *rates = mb_alloc((size_t)2 * nt * np * R * sizeof(*rates));
	unsigned char *ok = mb_alloc((size_t)2 * nt * np);	/* measured in every round */
	size_t from = mb_res.nrows;

	memset(ok, 1, (size_t)2 * nt * np);
	for (unsigned r = 0; r < R; r++) {
		for (unsigned c = 0; c < 2 * nt; c++) {
			unsigned threads = (unsigned)o->threads.v[c % nt], growing = c / nt;
			unsigned part[MB_PEERS_MAX], npart = 0;

			for (unsigned pi = 0; pi < np; pi++)
				if (!mb_broken[pi] && mb_takes_part(o->peers[pi], 1, 0, threads))
					part[npart++] = pi;
			for (unsigned k = 0; k < npart; k++) {
				unsigned pi = part[(k + r + c) % npart];
				const struct bench_peer *p = o->peers[pi];
				struct peer_params params = { .presize = growing ? 0 : n };
				struct bench_work w;
				struct mb_outcome out;
				void *table;
				int rc = p->create(&params, &table);

				if (rc != 0) {
					mb_problem("%s: create: %s", p->name, strerror(-rc));
					ok[c * np + pi] = 0;
					continue;
				}
				memset(&w, 0, sizeof(w));
				w.range = 2 * n;
				w.batch = (unsigned)o->batch;
				w.fill_count = n;
				if (mb_measure(p, table, &w, threads, 0, o->seed, &out)) {
					/* Kept: the rate until the deadline is what it did. */
					rates[((size_t)c * np + pi) * R + r] = out.rate;
					mb_problem("%s: fill of %" PRIu64 " keys (%s, %u thread(s), round %u) "
						   "stopped at its %.0f s deadline after %" PRIu64
						   " inserts; its threads ran %.2f s of CPU in %.2f s",
						   p->name, n, growing ? "growing" : "presized",
						   threads, r + 1, (double)mb_fill_deadline_ns(n) * 1e-9,
						   out.ops[BENCH_INSERT], out.cpu_seconds, out.max_seconds);
				} else if (out.done[BENCH_INSERT] != n || mb_count(p, table) != n) {
					mb_problem("%s: fill inserted %" PRIu64 " of %" PRIu64 " keys",
						   p->name, out.done[BENCH_INSERT], n);
					ok[c * np + pi] = 0;
				} else {
					rates[((size_t)c * np + pi) * R + r] = out.rate;
				}
				mb_destroy(p, table);
			}
		}
		fprintf(stderr, "mapbench: fill, %" PRIu64 " keys: round %u/%u done (%.0f s elapsed)\n",
			n, r + 1, R, mb_elapsed(t_start));
	}
	for (unsigned c = 0; c < 2 * nt; c++) {
		unsigned threads = (unsigned)o->threads.v[c % nt];
		struct mb_cell cell = { .fill = 1, .keys = n, .growing = (int)(c / nt),
					.threads = threads };

		for (unsigned pi = 0; pi < np; pi++)
			if (!mb_broken[pi] && ok[c * np + pi] &&
			    mb_takes_part(o->peers[pi], 1, 0, threads))
				mb_add_row(&cell, o->peers[pi], &rates[((size_t)c * np + pi) * R], R);
	}
	mb_emit_rows(from, o);
	free(rates);
	free(ok);
}

/* ---- latency, reclaim, memory ------------------------------------------------ */

static void mb_run_latency(const struct mb_opts *o)
{
	int header = 0;

	for (unsigned pi = 0; pi < o->npeers; pi++) {
		const struct bench_peer *p = o->peers[pi];
		struct mb_lat_row row;

		if (!(p->caps & PEER_CAN_RESIZE) || p->resize == NULL || mb_broken[pi])
			continue;
		if (!header) {
			printf("\n# lookup latency (ns), 1 lookup thread, %" PRIu64 " keys, uniform; "
			       "resizing: another thread resizes between 4n and n/4 buckets;\n"
			       "# %" PRIu64 ".%03" PRIu64 " s per phase; ratio = resizing / steady\n"
			       "%-22s %-6s %9s %-9s %8s %8s %8s %9s %11s %7s\n", o->special_keys,
			       o->latency_ms / 1000, o->latency_ms % 1000, "peer", "flavor", "keys",
			       "phase", "p50", "p99", "p99.9", "max", "lookups", "resizes");
			header = 1;
		}
		if (mb_latency_peer(o, p, o->special_keys, &row) == 0)
			mb_add_lat(&row);	/* else mb_build said why */
	}
}

/* Part of the latency experiment: every peer that takes updates, one thread. */
static void mb_run_update_latency(const struct mb_opts *o)
{
	int header = 0;

	for (unsigned pi = 0; pi < o->npeers; pi++) {
		const struct bench_peer *p = o->peers[pi];
		struct mb_upd_row row;

		if ((p->caps & PEER_UNSYNCHRONISED) || mb_broken[pi])
			continue;
		if (!header) {
			printf("\n# update latency (ns), 1 thread, clock_gettime(CLOCK_MONOTONIC) around "
			       "each update; steady: %" PRIu64 " keys pre-sized,\n# each step deletes "
			       "a present key and inserts an absent one, %" PRIu64 ".%03" PRIu64 " s; "
			       "growing: %" PRIu64 " inserts into an empty table (presize 0);\n# max "
			       "exact, percentiles bucket lower bounds (at most 6.25%% low)\n"
			       "%-22s %-6s %9s %-9s %8s %8s %8s %10s %10s %8s\n", o->special_keys,
			       o->latency_ms / 1000, o->latency_ms % 1000, o->special_keys, "peer",
			       "flavor", "keys", "phase", "p50", "p99", "p99.9", "max", "updates",
			       "seconds");
			header = 1;
		}
		if (mb_upd_peer(o, p, o->special_keys, &row) == 0)
			mb_add_upd(&row);	/* else mb_build or create said why */
	}
}

static void mb_run_bulk(const struct mb_opts *o)
{
	int header = 0;

	for (unsigned pi = 0; pi < o->npeers; pi++) {
		const struct bench_peer *p = o->peers[pi];
		struct mb_bulk_row row;

		if (p->insert_held == NULL || mb_broken[pi])
			continue;
		if (!header) {
			printf("\n# bulk: %d inserts by one thread into an empty table (presize 0); "
			       "wall seconds, median of %" PRIu64 " rounds;\n# one: all in one read "
			       "section (qsbr: online, no quiescent state); separate: a section per "
			       "insert (qsbr: a\n# quiescent state every %d); + capped at the %" PRIu64
			       ".%03" PRIu64 " s deadline (ratio then a lower bound)\n"
			       "%-22s %-6s %8s %12s %10s %10s\n", MB_BULK_INSERTS, o->rounds,
			       MB_BULK_QS_EVERY, o->bulk_deadline_ms / 1000, o->bulk_deadline_ms % 1000,
			       "peer", "flavor", "inserts", "one-s", "separate-s", "one/sep");
			header = 1;
		}
		if (mb_bulk_peer(o, p, &row) == 0)
			mb_add_bulk(&row);
	}
}

static void mb_run_shrinkrss(const struct mb_opts *o)
{
	int header = 0;

	for (unsigned pi = 0; pi < o->npeers; pi++) {
		const struct bench_peer *p = o->peers[pi];
		struct mb_shrink_row row;

		if (!(p->caps & PEER_CAN_RESIZE) || p->resize == NULL || mb_broken[pi])
			continue;
		if (!header) {
			printf("\n# shrinkrss: resident growth (MiB) of a fresh process: shrunk = %" PRIu64
			       " entries from empty, 90%% deleted, resize(0),\n# barrier; fresh = "
			       "only the survivors from empty, barrier; malloc_trim rows: after "
			       "malloc_trim(0) too\n%-22s %-6s %9s %9s %-11s %10s %10s %8s\n",
			       o->shrink_keys, "peer", "flavor", "entries", "survivors", "trim",
			       "shrunk", "fresh", "ratio");
			header = 1;
		}
		if (mb_shrink_peer(p, o->shrink_keys, &row) == 0)
			mb_add_shrink(&row);
	}
}

static void mb_run_reclaim(const struct mb_opts *o)
{
	int header = 0;

	for (unsigned pi = 0; pi < o->npeers; pi++) {
		const struct bench_peer *p = o->peers[pi];
		struct mb_rec_row row;

		if (!(p->caps & PEER_TRACKS_RECLAIM) || p->remove_stamped == NULL || mb_broken[pi])
			continue;
		if (!header) {
			printf("\n# reclamation, %" PRIu64 " keys: lag = removal to on_reclaim (ms) "
			       "under %" PRIu64 ".%03" PRIu64 " s of writes and reads; flood: one "
			       "thread deletes every key;\n# peak pending bytes (mem()), drain = last "
			       "delete until nothing is pending (ms)\n"
			       "%-22s %-6s %9s %8s %8s %8s %9s %9s %12s %8s\n", o->special_keys,
			       o->reclaim_ms / 1000, o->reclaim_ms % 1000, "peer", "flavor", "keys",
			       "lag-p50", "lag-p99", "lag-max", "flood", "delete", "peak-bytes",
			       "drain");
			header = 1;
		}
		if (mb_reclaim_peer(o, p, o->special_keys, &row) == 0)
			mb_add_rec(&row);	/* else mb_build said why */
	}
}

static void mb_run_memory(const struct mb_opts *o)
{
	printf("\n# memory, bytes per entry: rss = resident growth over a pre-sized build "
	       "(fresh process per row); own = the peer's\n# mem() live bytes (- when it "
	       "keeps none); user = what its users add per entry, already in rss; total = rss\n"
	       "%-22s %-6s %9s %10s %10s %10s %10s\n", "peer", "flavor", "entries", "rss", "own",
	       "user", "total");
	for (unsigned k = 0; k < o->memory_keys.n; k++) {
		for (unsigned pi = 0; pi < o->npeers; pi++) {
			struct mb_mem_row row;

			if (mb_broken[pi])
				continue;
			if (mb_memory_one(o->peers[pi], o->memory_keys.v[k], &row) != 0)
				continue;
			mb_add_mem(&row);
		}
	}
}

/* ---- plan and estimate -------------------------------------------------------- */

/* Seconds for n keys at small or big ns per key (MB_EST_*_NS). */
static double mb_est(uint64_t n, double small, double big)
{
	return (double)n * (n > MB_EST_BIG ? big : small) * 1e-9;
}

static double mb_estimate(const struct mb_opts *o)
{
	static struct mb_config cfg[2 * MB_LIST_MAX * MB_LIST_MAX];
	unsigned ncpu = mb_ncpus();
	double s = 0;

	if (o->experiments & (1u << MB_THROUGHPUT)) {
		for (unsigned k = 0; k < o->keys.n; k++) {
			uint64_t n = o->keys.v[k];
			unsigned ncfg = mb_configs(o, n, cfg);

			for (unsigned pi = 0; pi < o->npeers; pi++) {
				int need = 0;

				for (unsigned c = 0; c < ncfg; c++) {
					if (!mb_takes_part(o->peers[pi], 0, cfg[c].get_pct, cfg[c].threads))
						continue;
					need = 1;
					s += (double)o->rounds * ((double)o->run_ms * 1e-3 + MB_EST_START_S +
						(cfg[c].get_pct < 100 ? MB_EST_BARRIER_S : 0));
				}
				if (need)
					s += mb_est(n, MB_EST_BUILD_NS) + mb_est(n, MB_EST_DESTROY_NS);
			}
		}
	}
	if (o->experiments & (1u << MB_BATCH)) {
		for (unsigned k = 0; k < o->keys.n; k++) {
			uint64_t n = o->keys.v[k];

			for (unsigned pi = 0; pi < o->npeers; pi++)
				if (mb_batch_peer(o->peers[pi]))
					s += mb_est(n, MB_EST_BUILD_NS) + mb_est(n, MB_EST_DESTROY_NS) +
					     (double)o->rounds * o->threads.n * mb_batch_modes(o) *
					     ((double)o->run_ms * 1e-3 + MB_EST_START_S);
		}
	}
	if (o->experiments & (1u << MB_FILL)) {
		for (unsigned k = 0; k < o->fill_keys.n; k++) {
			uint64_t n = o->fill_keys.v[k];

			for (unsigned t = 0; t < o->threads.n; t++) {
				unsigned th = (unsigned)o->threads.v[t];
				double par = th < ncpu ? th : ncpu;

				for (unsigned pi = 0; pi < o->npeers; pi++)
					if (mb_takes_part(o->peers[pi], 1, 0, th))
						s += 2.0 * (double)o->rounds *
						     (mb_est(n, MB_EST_FILL_NS) / par +
						      mb_est(n, MB_EST_DESTROY_NS) + MB_EST_BARRIER_S +
						      MB_EST_START_S);
			}
		}
	}
	for (unsigned pi = 0; pi < o->npeers; pi++) {
		const struct bench_peer *p = o->peers[pi];
		uint64_t n = o->special_keys;
		double table = mb_est(n, MB_EST_BUILD_NS) + mb_est(n, MB_EST_DESTROY_NS);

		if ((o->experiments & (1u << MB_LATENCY)) && (p->caps & PEER_CAN_RESIZE))
			s += table + 2 * (double)o->latency_ms * 1e-3;
		if ((o->experiments & (1u << MB_LATENCY)) && !(p->caps & PEER_UNSYNCHRONISED))
			s += 2 * table + (double)o->latency_ms * 1e-3 + mb_est(n, MB_EST_FILL_NS);
		if ((o->experiments & (1u << MB_BULK)) && p->insert_held != NULL)
			s += (double)o->rounds * (MB_EST_BULK_SEP_S + MB_EST_BARRIER_S) +
			     fmin(MB_EST_BULK_ONE_S, (double)o->bulk_deadline_ms * 1e-3) *
			     (double)o->rounds;
		if ((o->experiments & (1u << MB_SHRINKRSS)) && (p->caps & PEER_CAN_RESIZE))
			s += 0.1 + mb_est(o->shrink_keys, MB_EST_SHRINK_NS) +
			     mb_est(o->shrink_keys / 10, MB_EST_CHILD_NS);
		if ((o->experiments & (1u << MB_RECLAIM)) && (p->caps & PEER_TRACKS_RECLAIM))
			s += table + (double)o->reclaim_ms * 1e-3 + mb_est(n, MB_EST_FLOOD_NS);
		if (o->experiments & (1u << MB_MEMORY))
			for (unsigned k = 0; k < o->memory_keys.n; k++)
				s += 0.05 + mb_est(o->memory_keys.v[k], MB_EST_CHILD_NS);
	}
	return s;
}

static void mb_print_plan_list(const char *what, const struct mb_list *l)
{
	printf("%s ", what);
	for (unsigned i = 0; i < l->n; i++)
		printf("%s%" PRIu64, i ? "," : "", l->v[i]);
}

static void mb_print_plan(const struct mb_opts *o, double estimate)
{
	const char *sep = " ";

	printf("# peers:");
	for (unsigned i = 0; i < o->npeers; i++)
		printf(" %s", o->peers[i]->name);
	printf("\n# plan (--%s, then options):", o->preset);
	if (o->experiments & (1u << MB_THROUGHPUT)) {
		mb_print_plan_list(" mixed runs at", &o->keys);
		printf(" keys");
		for (unsigned d = 0; d < o->dists.n; d++)
			if (o->dists.v[d] != BENCH_UNIFORM)
				mb_print_plan_list(", zipf only at", &o->zipf_keys);
		sep = "; ";
	}
	if (o->experiments & (1u << MB_FILL)) {
		printf("%s", sep);
		mb_print_plan_list("fill at", &o->fill_keys);
		sep = "; ";
	}
	if (o->experiments & (1u << MB_BATCH)) {
		printf("%s", sep);
		mb_print_plan_list("batch at", &o->keys);
		mb_print_plan_list(" keys, single and", &o->batch_keys);
		printf(" keys per call");
		sep = "; ";
	}
	if (o->experiments & (1u << MB_MEMORY)) {
		printf("%s", sep);
		mb_print_plan_list("memory at", &o->memory_keys);
		sep = "; ";
	}
	if (o->experiments & ((1u << MB_LATENCY) | (1u << MB_RECLAIM))) {
		printf("%slatency and reclaim at %" PRIu64, sep, o->special_keys);
		sep = "; ";
	}
	if (o->experiments & (1u << MB_BULK)) {
		printf("%sbulk %d inserts, deadline %" PRIu64 ".%03" PRIu64 " s", sep,
		       MB_BULK_INSERTS, o->bulk_deadline_ms / 1000, o->bulk_deadline_ms % 1000);
		sep = "; ";
	}
	if (o->experiments & (1u << MB_SHRINKRSS))
		printf("%sshrinkrss at %" PRIu64, sep, o->shrink_keys);
	printf("\n# %u CPUs online; estimated duration %" PRIu64 " min %02" PRIu64 " s\n",
	       mb_ncpus(), (uint64_t)estimate / 60, (uint64_t)estimate % 60);
	fflush(stdout);
}

/* ---- self-test ------------------------------------------------------------------ */

static int mb_selftest(const struct mb_opts *o)
{
	unsigned passed = 0, failed = 0;

	for (unsigned i = 0; i < o->npeers; i++) {
		int rc = bench_selftest(o->peers[i], stderr);

		printf("%s %s\n", rc == 0 ? "PASS" : "FAIL", o->peers[i]->name);
		fflush(stdout);
		if (rc == 0)
			passed++;
		else
			failed++;
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct mb_opts o;
	double t_start = now_seconds(), estimate;

	mb_parse(argc, argv, &o);
	if (o.memory_one != NULL)
		return mb_memory_child(&o);
	if (o.shrink_one != NULL)
		return mb_shrink_child(&o);
	if (o.selftest)
		return mb_selftest(&o);

	printf("# command: ");
	mb_print_command(stdout, argv[0], &o);
	estimate = mb_estimate(&o);
	mb_print_plan(&o, estimate);
	if (o.dry_run)
		return 0;
	mb_results_open(&o);
	mb_write_machine(&o, argv[0]);

	if (o.experiments & (1u << MB_THROUGHPUT))
		for (unsigned k = 0; k < o.keys.n; k++)
			mb_run_mixed(&o, o.keys.v[k], t_start);
	if (o.experiments & (1u << MB_FILL))
		for (unsigned k = 0; k < o.fill_keys.n; k++)
			mb_run_fill(&o, o.fill_keys.v[k], t_start);
	if (o.experiments & (1u << MB_BATCH))
		for (unsigned k = 0; k < o.keys.n; k++)
			mb_run_batch(&o, o.keys.v[k], t_start);
	if (o.experiments & (1u << MB_LATENCY)) {
		mb_run_latency(&o);
		mb_run_update_latency(&o);
	}
	if (o.experiments & (1u << MB_RECLAIM))
		mb_run_reclaim(&o);
	if (o.experiments & (1u << MB_MEMORY))
		mb_run_memory(&o);
	if (o.experiments & (1u << MB_BULK))
		mb_run_bulk(&o);
	if (o.experiments & (1u << MB_SHRINKRSS))
		mb_run_shrinkrss(&o);
	mb_targets_report(&o);

	mb_problems_report();
	printf("# done in %.0f s (estimated %.0f s); checksum %016" PRIx64 "\n",
	       mb_elapsed(t_start), estimate, mb_sink);
	mb_results_close();
	return fflush(stdout) == 0 ? 0 : 1;
}
