/* SPDX-License-Identifier: MIT */
/* mapbench_write.c: mapbench's write-path runs: update latency, bulk inserts, RSS after a shrink. */

/*
 * The methodology of each experiment is in the comment at the top of
 * mapbench.c. The shrinkrss run uses mapbench_special.c's fresh-process
 * runner. Every update here is timed with now_ns(), which is
 * clock_gettime(CLOCK_MONOTONIC) (a vDSO call, no system call).
 */

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapbench.h"

/* The bulk loop reads the clock (for its deadline) once per this many inserts. */
#define MB_BULK_CLOCK_EVERY 64
/* shrinkrss: resize(0) attempts, with a barrier between them, on -EBUSY. */
#define MB_SHRINK_TRIES 5

/* ---- update latency: a steady load, then a growing fill ----------------- */

/* One phase's updates: a histogram and the exact slowest one. */
struct mb_upd_run {
	struct bench_lat *h;
	uint64_t max_ns, errors;
	double seconds;
	int stopped;		/* the growing fill hit its deadline */
};

static inline void mb_upd_add(struct mb_upd_run *r, uint64_t ns)
{
	r->h->count[bench_lat_bucket(ns)]++;
	if (ns > r->max_ns)
		r->max_ns = ns;
}

/*
 * Steady, for --latency-seconds on a table holding the window [j, j + n)
 * (j = 0 after the build): each step deletes index j and inserts j + n, so
 * every update changes the table and the size stays n.
 */
static void mb_upd_steady(const struct mb_opts *o, const struct bench_peer *p, void *table,
			  uint64_t n, struct mb_upd_run *r)
{
	uint64_t start = now_ns(), end = start + o->latency_ms * 1000000u, t2 = start;

	mb_tinit(p);
	for (uint64_t j = 0; t2 < end; j++) {
		uint64_t t0 = now_ns(), t1;

		r->errors += p->remove(table, key_of(j)) != 1;
		t1 = now_ns();
		r->errors += p->insert(table, key_of(j + n), j + n + 1) != 1;
		t2 = now_ns();
		mb_upd_add(r, t1 - t0);
		mb_upd_add(r, t2 - t1);
	}
	r->seconds = (double)(t2 - start) * 1e-9;
	mb_tfini(p);
}

/* Growing: n inserts into an empty table (presize 0), stopped at the fill deadline. */
static int mb_upd_growing(const struct bench_peer *p, uint64_t n, struct mb_upd_run *r)
{
	struct peer_params params = { .presize = 0 };
	uint64_t start, deadline, t1, i;
	void *table;
	int rc = p->create(&params, &table);

	if (rc != 0) {
		mb_problem("%s: create: %s", p->name, strerror(-rc));
		return -1;
	}
	mb_tinit(p);
	start = t1 = now_ns();
	deadline = start + mb_fill_deadline_ns(n);
	for (i = 0; i < n && t1 <= deadline; i++) {
		uint64_t t0 = now_ns();

		r->errors += p->insert(table, key_of(i), i + 1) != 1;
		t1 = now_ns();
		mb_upd_add(r, t1 - t0);
	}
	r->seconds = (double)(t1 - start) * 1e-9;
	r->stopped = i < n;
	mb_tfini(p);
	if (r->stopped)
		mb_problem("%s: growing fill of %" PRIu64 " keys (update latency) stopped at its "
			   "%.0f s deadline after %" PRIu64 " inserts", p->name, n,
			   (double)mb_fill_deadline_ns(n) * 1e-9, i);
	mb_destroy(p, table);
	return 0;
}

/* Steady on a pre-sized table of n keys, then a growing fill of n keys. */
int mb_upd_peer(const struct mb_opts *o, const struct bench_peer *p, uint64_t n,
		struct mb_upd_row *row)
{
	struct peer_params params = { .presize = n };
	struct mb_upd_run run[MB_UPD_PHASES];
	void *table;
	int rc;

	if (mb_build(p, &params, n, (unsigned)o->batch, o->seed, &table, NULL) != 0)
		return -1;
	memset(run, 0, sizeof(run));
	memset(row, 0, sizeof(*row));
	for (int i = 0; i < MB_UPD_PHASES; i++)
		run[i].h = mb_alloc(sizeof(*run[i].h));
	mb_upd_steady(o, p, table, n, &run[MB_UPD_STEADY]);
	mb_destroy(p, table);
	rc = mb_upd_growing(p, n, &run[MB_UPD_GROWING]);
	row->peer = p;
	row->keys = n;
	row->stopped = run[MB_UPD_GROWING].stopped;
	for (int i = 0; i < MB_UPD_PHASES; i++) {
		mb_lat_stats_of(run[i].h, &row->phase[i]);
		row->phase[i].max = run[i].max_ns;
		row->seconds[i] = run[i].seconds;
		if (run[i].errors != 0)
			mb_problem("%s: update latency: %" PRIu64 " updates did not change the table",
				   p->name, run[i].errors);
		free(run[i].h);
	}
	return rc;
}

void mb_add_upd(const struct mb_upd_row *u)
{
	static const char *const phase[MB_UPD_PHASES] = { "steady", "growing" };
	FILE *csv = mb_res.csv[MB_CSV_UPDATE_LATENCY];
	const struct mb_lat_stats *s = u->phase;

	if (mb_res.nupd < MB_PEERS_MAX)
		mb_res.upd[mb_res.nupd++] = *u;
	for (int i = 0; i < MB_UPD_PHASES; i++) {
		int stopped = i == MB_UPD_GROWING && u->stopped;

		printf("%-22s %-6s %9" PRIu64 " %-9s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %10" PRIu64
		       " %10" PRIu64 " %8.2f%s\n", u->peer->name, u->peer->flavor, u->keys, phase[i],
		       s[i].p50, s[i].p99, s[i].p999, s[i].max, s[i].count, u->seconds[i],
		       stopped ? " (stopped)" : "");
		if (csv != NULL)
			fprintf(csv, "%s,%s,%" PRIu64 ",%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
				",%" PRIu64 ",%.3f,%d\n", u->peer->name, u->peer->flavor, u->keys,
				phase[i], s[i].p50, s[i].p99, s[i].p999, s[i].max, s[i].count,
				u->seconds[i], stopped);
	}
	printf("%-22s %-6s %9s %-9s slowest growing update / steady p99.9 = %.1f\n", "", "", "",
	       "ratio", mb_ratio_u(s[MB_UPD_GROWING].max, s[MB_UPD_STEADY].p999));
	mb_flush(csv);
}

/* ---- bulk: 50K inserts in one read section vs one section per insert ------- */

/*
 * One measurement on a fresh, empty table (presize 0): MB_BULK_INSERTS
 * inserts by this thread, either all inside one read section (qsbr: online,
 * no quiescent state), or each in its own section (qsbr: a quiescent state
 * every MB_BULK_QS_EVERY). Wall seconds, or -1 after a message; *done:
 * inserts made before the deadline stopped it.
 */
static double mb_bulk_once(const struct bench_peer *p, int one, uint64_t deadline_ns,
			   uint64_t *done)
{
	struct peer_params params = { .presize = 0 };
	uint64_t t0, end, now, i, errors = 0;
	int qsbr = mb_is_qsbr(p), rc;
	void *table;

	if ((rc = p->create(&params, &table)) != 0) {
		mb_problem("%s: create: %s", p->name, strerror(-rc));
		return -1;
	}
	mb_tinit(p);
	t0 = now = now_ns();
	end = t0 + deadline_ns;
	if (one)
		p->read_lock();
	for (i = 0; i < MB_BULK_INSERTS && now <= end; i++) {
		if (!one)
			p->read_lock();
		errors += p->insert_held(table, key_of(i), i + 1) != 1;
		if (!one) {
			p->read_unlock();
			if (i % MB_BULK_QS_EVERY == MB_BULK_QS_EVERY - 1)
				mb_quiescent(qsbr);
		}
		if (i % MB_BULK_CLOCK_EVERY == MB_BULK_CLOCK_EVERY - 1)
			now = now_ns();
	}
	if (one)
		p->read_unlock();
	now = now_ns();
	mb_tfini(p);
	mb_destroy(p, table);
	*done = i;
	if (errors != 0)
		mb_problem("%s: bulk: %" PRIu64 " inserts failed", p->name, errors);
	return (double)(now - t0) * 1e-9;
}

/*
 * Up to R measurements of one kind into v; how many were made, 0 after a
 * failure. A capped one (*done short) ends the series: it is not repeated.
 */
static unsigned mb_bulk_rounds(const struct bench_peer *p, int one, unsigned R,
			       uint64_t deadline_ns, double *v, uint64_t *done)
{
	unsigned k = 0;

	while (k < R) {
		double s = mb_bulk_once(p, one, deadline_ns, done);

		if (s < 0)
			return 0;
		v[k++] = s;
		if (*done < MB_BULK_INSERTS)
			break;
	}
	return k;
}

/* The rounds of separate sections, then those of one section; medians. */
int mb_bulk_peer(const struct mb_opts *o, const struct bench_peer *p, struct mb_bulk_row *row)
{
	unsigned R = (unsigned)o->rounds, nsep, none = 0;
	uint64_t deadline = o->bulk_deadline_ms * 1000000u, done = 0;
	double *sep = mb_alloc(R * sizeof(*sep)), *one = mb_alloc(R * sizeof(*one));

	memset(row, 0, sizeof(*row));
	row->peer = p;
	row->inserts = MB_BULK_INSERTS;
	nsep = mb_bulk_rounds(p, 0, R, deadline, sep, &done);
	if (nsep == R && done == MB_BULK_INSERTS)
		none = mb_bulk_rounds(p, 1, R, deadline, one, &row->one_done);
	else
		mb_problem("%s: bulk: separate sections made %" PRIu64 " of %d inserts by the "
			   "deadline; no row", p->name, done, MB_BULK_INSERTS);
	if (none > 0) {
		row->capped = row->one_done < MB_BULK_INSERTS;
		row->sep_s = median(sep, nsep);
		row->one_s = row->capped ? one[none - 1] : median(one, none);
	}
	free(sep);
	free(one);
	return none > 0 ? 0 : -1;
}

void mb_add_bulk(const struct mb_bulk_row *b)
{
	FILE *csv = mb_res.csv[MB_CSV_BULK];
	double ratio = b->one_s / b->sep_s;
	char rs[32];

	if (mb_res.nbulk < MB_PEERS_MAX)
		mb_res.bulk[mb_res.nbulk++] = *b;
	snprintf(rs, sizeof(rs), "%s%.2f", b->capped ? ">=" : "", ratio);
	printf("%-22s %-6s %8" PRIu64 " %11.3f%s %10.3f %10s\n", b->peer->name,
	       b->peer->flavor, b->inserts, b->one_s, b->capped ? "+" : " ", b->sep_s, rs);
	if (b->capped)
		printf("%-22s %-6s   capped: the one-section run stopped at its deadline after "
		       "%" PRIu64 " of %" PRIu64 " inserts\n", "", "", b->one_done, b->inserts);
	fflush(stdout);
	if (csv == NULL)
		return;
	fprintf(csv, "%s,%s,%" PRIu64 ",%.6f,%.6f,%.3f,%" PRIu64 ",%d\n", b->peer->name,
		b->peer->flavor, b->inserts, b->one_s, b->sep_s, ratio, b->one_done, b->capped);
	fflush(csv);
}

/* ---- shrinkrss: RSS after deleting 90% and shrinking vs a fresh map ------- */

/* One thread (not this one) inserts the indices [0, n) with the peer's loop. */
static int mb_shrink_fill(const struct mb_opts *o, const struct bench_peer *p, void *table,
			  uint64_t n)
{
	struct bench_work w;
	struct mb_outcome out;

	memset(&w, 0, sizeof(w));
	w.range = 2 * n;
	w.batch = (unsigned)o->batch;
	w.fill_count = n;
	if (mb_measure(p, table, &w, 1, 0, o->seed, &out) || out.done[BENCH_INSERT] != n) {
		fprintf(stderr, "mapbench: %s: shrinkrss build inserted %" PRIu64 " of %" PRIu64
			"%s\n", p->name, out.done[BENCH_INSERT], n,
			out.ops[BENCH_INSERT] < n ? " (stopped at its deadline)" : "");
		return -1;
	}
	return 0;
}

/* Deletes the indices [n/10, n), resizes to the peer's own size, waits for reclamation. */
static int mb_shrink_table(const struct bench_peer *p, void *table, uint64_t n)
{
	uint64_t errors = 0;
	int rc = -EBUSY;

	for (uint64_t i = n / 10; i < n; i++)
		errors += p->remove(table, key_of(i)) != 1;
	for (int tries = 0; tries < MB_SHRINK_TRIES && rc == -EBUSY; tries++) {
		if (tries > 0 && p->barrier != NULL)
			p->barrier(table);
		rc = p->resize(table, 0);
	}
	if (p->barrier != NULL)
		p->barrier(table);
	if (errors != 0 || rc != 0) {
		fprintf(stderr, "mapbench: %s: shrinkrss: %" PRIu64 " deletes failed, resize(0): %s\n",
			p->name, errors, rc ? strerror(-rc) : "ok");
		return -1;
	}
	return 0;
}

/*
 * The child (--shrink-one PEER N shrink|fresh). shrink: N entries from
 * empty (presize 0), 90% deleted, resize(0), barrier; fresh: only the N/10
 * survivors, then a barrier. Prints "rss rss_trimmed count": resident
 * growth over the process before create, in bytes, then again after
 * malloc_trim(0), and the entries. Exit 0, or 1 after a message.
 */
int mb_shrink_child(const struct mb_opts *o)
{
	const struct bench_peer *p = mb_peer_by_name(o->shrink_one);
	struct peer_params params = { .presize = 0 };
	uint64_t n = o->shrink_one_keys, before, rss, trimmed, count;
	void *table;
	int rc;

	if (p == NULL || p->resize == NULL) {
		fprintf(stderr, "mapbench: --shrink-one: '%s' is no resizable peer\n", o->shrink_one);
		return 1;
	}
	before = mb_resident_bytes();
	if ((rc = p->create(&params, &table)) != 0) {
		fprintf(stderr, "mapbench: %s: create: %s\n", p->name, strerror(-rc));
		return 1;
	}
	/* Not registered during the fill: a qsbr thread would hold back its grace periods. */
	if (mb_shrink_fill(o, p, table, o->shrink_one_fresh ? n / 10 : n) != 0)
		return 1;
	mb_tinit(p);
	if (o->shrink_one_fresh) {
		if (p->barrier != NULL)
			p->barrier(table);
	} else if (mb_shrink_table(p, table, n) != 0) {
		return 1;
	}
	rss = mb_resident_bytes();
	malloc_trim(0);
	trimmed = mb_resident_bytes();
	rss = rss > before ? rss - before : 0;
	trimmed = trimmed > before ? trimmed - before : 0;
	count = p->count(table);
	p->destroy(table);
	mb_tfini(p);
	printf("%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", rss, trimmed, count);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* One child; 0 and rss[2] (bytes: after the barrier, after malloc_trim), or -1. */
static int mb_shrink_one(const struct bench_peer *p, uint64_t n, int fresh, double rss[2])
{
	char nbuf[24], line[256];
	char *argv[] = { NULL, (char *)"--shrink-one", (char *)p->name, nbuf,
			 (char *)(fresh ? "fresh" : "shrink"), NULL };
	unsigned long long count;

	snprintf(nbuf, sizeof(nbuf), "%" PRIu64, n);
	if (mb_child_line(argv, line, sizeof(line)) != 0 ||
	    sscanf(line, "%lf %lf %llu", &rss[0], &rss[1], &count) != 3) {
		mb_problem("shrinkrss: %s (%s, %" PRIu64 " entries) failed (a first failure "
			   "is run once more)", p->name, fresh ? "fresh" : "shrink", n);
		return -1;
	}
	if (count != n / 10) {
		mb_problem("shrinkrss: %s (%s): %llu entries, expected %" PRIu64, p->name,
			   fresh ? "fresh" : "shrink", count, n / 10);
		return -1;
	}
	return 0;
}

/*
 * Both children. A failed one runs once more: a growing cds_lfht can stop
 * growing (peer_lfht.c), and then its build stops at the fill deadline.
 */
int mb_shrink_peer(const struct bench_peer *p, uint64_t n, struct mb_shrink_row *row)
{
	memset(row, 0, sizeof(*row));
	row->peer = p;
	row->entries = n;
	for (int fresh = 0; fresh < 2; fresh++) {
		double *rss = fresh ? row->fresh : row->shrunk;

		if (mb_shrink_one(p, n, fresh, rss) != 0 && mb_shrink_one(p, n, fresh, rss) != 0)
			return -1;
	}
	return 0;
}

void mb_add_shrink(const struct mb_shrink_row *r)
{
	static const char *const trim[2] = { "no", "malloc_trim" };
	FILE *csv = mb_res.csv[MB_CSV_SHRINKRSS];

	if (mb_res.nshrink < MB_PEERS_MAX)
		mb_res.shrink[mb_res.nshrink++] = *r;
	for (int i = 0; i < 2; i++) {
		double ratio = r->fresh[i] > 0 ? r->shrunk[i] / r->fresh[i] : 0;

		printf("%-22s %-6s %9" PRIu64 " %9" PRIu64 " %-11s %10.1f %10.1f %8.2f%s\n",
		       r->peer->name, r->peer->flavor, r->entries, r->entries / 10, trim[i],
		       r->shrunk[i] / 1048576.0, r->fresh[i] / 1048576.0, ratio,
		       i ? "  (informational)" : "");
		if (csv != NULL)
			fprintf(csv, "%s,%s,%" PRIu64 ",%" PRIu64 ",%d,%.0f,%.0f,%.3f\n",
				r->peer->name, r->peer->flavor, r->entries, r->entries / 10, i,
				r->shrunk[i], r->fresh[i], ratio);
	}
	mb_flush(csv);
}

