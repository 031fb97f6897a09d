/* SPDX-License-Identifier: MIT */
/* mapbench_batch.c: mapbench's batch experiment: the same lookups one at a time and in batched calls. */

/*
 * The method is in the comment at the top of mapbench.c. Only peers with a
 * batched lookup take part (peer.h: run_lookups and get_batch); the
 * unsynchronised one among them is the ceiling.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapbench.h"

/* What one (thread count, peer, mode) did over the rounds. */
struct mb_batch_tally {
	uint64_t ops, hits, wrong;
};

/* A mode's lookups that must find their key: the table holds exactly half of [0, 2n). */
#define MB_BATCH_HIT_MIN 0.45
#define MB_BATCH_HIT_MAX 0.55
/* ... checked once a mode did this many lookups (the spread is then under 0.016). */
#define MB_BATCH_HIT_OPS 1000

int mb_batch_peer(const struct bench_peer *p)
{
	return p->run_lookups != NULL && p->get_batch != NULL;
}

/* Modes: 0 one lookup at a time, m > 0 batched calls of --batch-keys' m-th value. */
unsigned mb_batch_modes(const struct mb_opts *o)
{
	return 1 + o->batch_keys.n;
}

static unsigned mb_batch_mode_keys(const struct mb_opts *o, unsigned m)
{
	return m == 0 ? 0 : (unsigned)o->batch_keys.v[m - 1];
}

/*
 * mb_measure runs peer->run on each thread: a copy of the peer whose run
 * is its lookup loop, alive for the measurement (mb_measure joins its
 * threads before it returns).
 */
static void mb_lookup_view(const struct bench_peer *p, struct bench_peer *view)
{
	*view = *p;
	view->run = p->run_lookups;
}

/* "single" or K, for tables and messages. */
static void mb_batch_mode_name(unsigned batch_keys, char *buf, size_t size)
{
	if (batch_keys == 0)
		snprintf(buf, size, "single");
	else
		snprintf(buf, size, "%u", batch_keys);
}

static void mb_add_batch(const struct mb_batch_row *r)
{
	mb_res.batch = mb_grow(mb_res.batch, mb_res.nbatch, &mb_res.capbatch,
			       sizeof(*mb_res.batch), 64);
	mb_res.batch[mb_res.nbatch++] = *r;
}

/* The row of peer p (or of the unsynchronised peer, p NULL) in rows[from..]. */
static const struct mb_batch_row *mb_find_batch(size_t from, const struct bench_peer *p,
						uint64_t keys, unsigned threads, unsigned batch_keys)
{
	for (size_t i = from; i < mb_res.nbatch; i++) {
		const struct mb_batch_row *r = &mb_res.batch[i];

		if (r->keys == keys && r->threads == threads && r->batch_keys == batch_keys &&
		    (p != NULL ? r->peer == p : (r->peer->caps & PEER_UNSYNCHRONISED) != 0))
			return r;
	}
	return NULL;
}

static double mb_batch_ratio(const struct mb_batch_row *a, const struct mb_batch_row *b)
{
	return a != NULL && b != NULL && b->med > 0 ? a->med / b->med : -1;
}

static void mb_batch_num(char *buf, size_t size, double v, FILE *csv)
{
	buf[0] = '\0';
	if (v >= 0)
		snprintf(buf, size, "%.2f", v);
	if (csv != NULL)
		mb_csv_num(csv, v);
}

/* Computes the ratios of rows[from..] (one key count), prints them, writes batch.csv. */
static void mb_emit_batch(size_t from, const struct mb_opts *o, uint64_t n)
{
	FILE *csv = mb_res.csv[MB_CSV_BATCH];

	printf("\n# batch: lookups only, %" PRIu64 " keys, presized tables, indices from [0, %"
	       PRIu64 ") (half hit), the same\n# keys in every mode; -b %" PRIu64 " lookups per "
	       "read section (a batched call of K keys is never split:\n# ceil(%" PRIu64 "/K) "
	       "calls); Mops/s = sum of per-thread lookups/s, median [min-max] of %" PRIu64
	       " rounds of\n# %" PRIu64 ".%03" PRIu64 " s; x-single: to the same peer's single "
	       "lookups; of-ceil: to the unsynchronised table's\n# single lookups; of-ceil-K: "
	       "to its batched calls of the same K\n"
	       "%-22s %-6s %9s %3s %6s %28s %8s %8s %9s %5s\n", n, 2 * n, o->batch, o->batch,
	       o->rounds, o->run_ms / 1000, o->run_ms % 1000, "peer", "flavor", "keys", "thr",
	       "batch", "Mops/s median [min-max]", "x-single", "of-ceil", "of-ceil-K", "hit%");
	for (size_t i = from; i < mb_res.nbatch; i++) {
		struct mb_batch_row *r = &mb_res.batch[i];
		char range[48], mode[16], xs[16], oc[16], ock[16];

		r->ratio_single = r->batch_keys == 0 ? -1 :
			mb_batch_ratio(r, mb_find_batch(from, r->peer, r->keys, r->threads, 0));
		r->ratio_ceiling = mb_batch_ratio(r, mb_find_batch(from, NULL, r->keys, r->threads, 0));
		r->ratio_batch_ceiling = r->batch_keys == 0 ? -1 :
			mb_batch_ratio(r, mb_find_batch(from, NULL, r->keys, r->threads,
							r->batch_keys));
		if (i > from && r->threads != mb_res.batch[i - 1].threads)
			printf("\n");
		snprintf(range, sizeof(range), "%.2f [%.2f-%.2f]", r->med, r->min, r->max);
		mb_batch_mode_name(r->batch_keys, mode, sizeof(mode));
		if (csv != NULL) {
			fprintf(csv, "%s,%s,%" PRIu64 ",%u,", r->peer->name, r->peer->flavor, r->keys,
				r->threads);
			if (r->batch_keys != 0)
				fprintf(csv, "%u", r->batch_keys);
			fprintf(csv, ",%" PRIu64 ",%u,%.3f,%.3f,%.3f,%.2f", o->batch, r->rounds,
				r->med, r->min, r->max, 100 * r->hit);
		}
		mb_batch_num(xs, sizeof(xs), r->ratio_single, csv);
		mb_batch_num(oc, sizeof(oc), r->ratio_ceiling, csv);
		mb_batch_num(ock, sizeof(ock), r->ratio_batch_ceiling, csv);
		if (csv != NULL)
			fputc('\n', csv);
		printf("%-22s %-6s %9" PRIu64 " %3u %6s %28s %8s %8s %9s %5.1f\n", r->peer->name,
		       r->peer->flavor, r->keys, r->threads, mode, range, xs, oc, ock, 100 * r->hit);
	}
	mb_flush(csv);
}

/* ---- batch: one key count ------------------------------------------------------ */

/* Every batch peer's table built once, every (threads, peer, mode) measured once per round. */
void mb_run_batch(const struct mb_opts *o, uint64_t n, double t_start)
{
	unsigned np = o->npeers, nm = mb_batch_modes(o), nt = o->threads.n, R = (unsigned)o->rounds;
	void *tables[MB_PEERS_MAX] = { 0 };
	size_t cells = (size_t)nt * np * nm, from = mb_res.nbatch;
	double *rates;
	struct mb_batch_tally *tally;
	unsigned *part;
	int any = 0;

	for (unsigned pi = 0; pi < np; pi++) {
		const struct bench_peer *p = o->peers[pi];
		struct peer_params params = { .presize = n };

		if (!mb_batch_peer(p) || mb_broken[pi])
			continue;
		if (mb_build_logged(pi, p, &params, n, (unsigned)o->batch, o->seed, &tables[pi]) == 0)
			any = 1;
	}
	if (!any)
		return;
	rates = mb_alloc(cells * R * sizeof(*rates));
	tally = mb_alloc(cells * sizeof(*tally));
	part = mb_alloc((size_t)np * nm * sizeof(*part));
	for (unsigned r = 0; r < R; r++) {
		for (unsigned c = 0; c < nt; c++) {
			unsigned threads = (unsigned)o->threads.v[c], npart = 0;
			/* The same seed for every peer and mode: the same keys. */
			uint64_t seed = mb_cell_seed(o->seed, r, 100, BENCH_UNIFORM, threads);

			for (unsigned pi = 0; pi < np; pi++)
				for (unsigned m = 0; tables[pi] != NULL && m < nm; m++)
					part[npart++] = pi * nm + m;
			for (unsigned k = 0; k < npart; k++) {
				unsigned pm = part[(k + r + c) % npart];	/* rotated order */
				unsigned pi = pm / nm, m = pm % nm;
				size_t cell = ((size_t)c * np + pi) * nm + m;
				struct bench_peer view;
				struct bench_work w;
				struct mb_outcome out;

				mb_lookup_view(o->peers[pi], &view);
				mb_lookup_work(o, n, &w);
				w.batch_keys = mb_batch_mode_keys(o, m);
				mb_measure(&view, tables[pi], &w, threads, o->run_ms, seed, &out);
				rates[cell * R + r] = out.rate;
				tally[cell].ops += out.ops[BENCH_GET];
				tally[cell].hits += out.done[BENCH_GET];
				tally[cell].wrong += out.wrong;
			}
		}
		fprintf(stderr, "mapbench: batch, %" PRIu64 " keys: round %u/%u done (%.0f s elapsed)\n",
			n, r + 1, R, mb_elapsed(t_start));
	}
	for (unsigned c = 0; c < nt; c++) {
		for (unsigned pi = 0; pi < np; pi++) {
			const struct bench_peer *p = o->peers[pi];

			for (unsigned m = 0; tables[pi] != NULL && m < nm; m++) {
				size_t cell = ((size_t)c * np + pi) * nm + m;
				const struct mb_batch_tally *y = &tally[cell];
				struct mb_batch_row row;
				double *v = &rates[cell * R];
				char mode[16];

				memset(&row, 0, sizeof(row));
				row.peer = p;
				row.keys = n;
				row.threads = (unsigned)o->threads.v[c];
				row.batch_keys = mb_batch_mode_keys(o, m);
				row.rounds = R;
				row.hit = y->ops ? (double)y->hits / (double)y->ops : 0;
				/* A wrong answer, or a hit rate that the table's exact contents rule
				 * out, means a broken lookup: its speed means nothing. */
				if (y->wrong != 0 ||
				    (y->ops >= MB_BATCH_HIT_OPS &&
				     (row.hit < MB_BATCH_HIT_MIN || row.hit > MB_BATCH_HIT_MAX))) {
					mb_batch_mode_name(row.batch_keys, mode, sizeof(mode));
					mb_problem("%s: batch, %" PRIu64 " keys, %u thread(s), mode %s: %"
						   PRIu64 " wrong values or counts, %.1f%% of %" PRIu64
						   " lookups hit (expected 50%%); not reported", p->name,
						   n, row.threads, mode, y->wrong, 100 * row.hit, y->ops);
					continue;
				}
				row.med = median(v, R) * 1e-6;	/* sorts v */
				row.min = v[0] * 1e-6;
				row.max = v[R - 1] * 1e-6;
				mb_add_batch(&row);
			}
		}
	}
	mb_emit_batch(from, o, n);
	for (unsigned pi = 0; pi < np; pi++) {
		uint64_t count;

		if (tables[pi] == NULL)
			continue;
		/* Lookups only: the table is still exactly its build. */
		count = mb_count(o->peers[pi], tables[pi]);
		if (count != n)
			mb_problem("%s: %" PRIu64 " entries after the batch runs of %" PRIu64 " keys",
				   o->peers[pi]->name, count, n);
		mb_destroy(o->peers[pi], tables[pi]);
	}
	free(rates);
	free(tally);
	free(part);
}

