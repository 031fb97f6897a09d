/* SPDX-License-Identifier: MIT */
/* mapbench_results.c: mapbench's results: rows, ratios, stdout tables, CSV files, targets. */

/*
 * The CSV schemas are an interface: bench/syncmap (Go) appends to
 * throughput.csv and bench/plot.sh and report.sh read every file, so column
 * names and order must not change. Empty fields mean "not applicable".
 * Rows are written as soon as their block (one key count) is complete and
 * the files flushed, so an interrupted run keeps what it measured.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mapbench.h"

/* Peers the ratios and targets refer to, by name (bench/peers.c). */
#define MB_LFHT_PREFIX "lfht-"		/* the baseline of flavor F is "lfht-F" */
#define MB_LFHT_DEFAULT "lfht-memb"	/* ... and of peers without an RCU flavor */
#define MB_RWLOCK "rwlock"
#define MB_RCUMAP_PREFIX "rcumap-"	/* the targets' subjects: "rcumap-F" */

static const char *const mb_csv_names[MB_CSVS] = {
	"throughput.csv", "memory.csv", "latency.csv", "reclaim.csv",
	"update_latency.csv", "bulk.csv", "shrinkrss.csv", "batch.csv",
};

static const char *const mb_csv_headers[MB_CSVS] = {
	"experiment,peer,flavor,keys,get_pct,dist,table,threads,rounds,"
	"median_mops,min_mops,max_mops,ratio_lfht,frac_ceiling",
	"peer,flavor,entries,rss_bytes_per_entry,own_bytes_per_entry,"
	"user_bytes_per_entry,total_bytes_per_entry",
	"peer,flavor,keys,phase,p50_ns,p99_ns,p999_ns,max_ns,lookups,resizes",
	"peer,flavor,keys,lag_p50_ms,lag_p99_ms,lag_max_ms,flood_entries,"
	"flood_delete_ms,flood_peak_pending_bytes,flood_drain_ms",
	"peer,flavor,keys,phase,p50_ns,p99_ns,p999_ns,max_ns,updates,seconds,stopped",
	"peer,flavor,inserts,one_section_s,separate_s,ratio,one_section_done,capped",
	"peer,flavor,entries,survivors,malloc_trim,shrunk_rss_bytes,fresh_rss_bytes,ratio",
	"peer,flavor,keys,threads,batch_keys,ops_per_section,rounds,median_mops,min_mops,"
	"max_mops,hit_pct,ratio_single,ratio_ceiling,ratio_batch_ceiling",
};

struct mb_results mb_res;

/* ---- files ------------------------------------------------------------------ */

/* mkdir -p. */
static int mb_mkdirs(const char *dir)
{
	char buf[4096];
	size_t len = strlen(dir);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] == '/' || buf[i] == '\0') {
			char c = buf[i];

			buf[i] = '\0';
			if (mkdir(buf, 0777) != 0 && errno != EEXIST)
				return -errno;
			buf[i] = c;
		}
	}
	return 0;
}

static FILE *mb_open_out(const char *dir, const char *name)
{
	FILE *f;

	snprintf(mb_res.path, sizeof(mb_res.path), "%s/%s", dir, name);
	f = fopen(mb_res.path, "w");
	if (f == NULL)
		mb_fatal("cannot write %s: %s", mb_res.path, strerror(errno));
	return f;
}

/* Opens the CSV files of the chosen experiments, each with its header line. */
void mb_results_open(const struct mb_opts *o)
{
	static const unsigned csv_of[MB_CSVS] = {
		(1u << MB_THROUGHPUT) | (1u << MB_FILL), 1u << MB_MEMORY,
		1u << MB_LATENCY, 1u << MB_RECLAIM, 1u << MB_LATENCY, 1u << MB_BULK,
		1u << MB_SHRINKRSS, 1u << MB_BATCH,
	};
	int rc = mb_mkdirs(o->outdir);

	if (rc != 0)
		mb_fatal("cannot create %s: %s", o->outdir, strerror(-rc));
	for (int i = 0; i < MB_CSVS; i++) {
		if (!(o->experiments & csv_of[i]))
			continue;
		mb_res.csv[i] = mb_open_out(o->outdir, mb_csv_names[i]);
		fprintf(mb_res.csv[i], "%s\n", mb_csv_headers[i]);
		fflush(mb_res.csv[i]);
	}
}

void mb_results_close(void)
{
	for (int i = 0; i < MB_CSVS; i++) {
		if (mb_res.csv[i] != NULL && fclose(mb_res.csv[i]) != 0)
			fprintf(stderr, "mapbench: writing %s: %s\n", mb_csv_names[i], strerror(errno));
		mb_res.csv[i] = NULL;
	}
	free(mb_res.rows);
	mb_res.rows = NULL;
	free(mb_res.batch);
	mb_res.batch = NULL;
}

/* The first line a command prints, or "unknown". */
static void mb_first_line(const char *cmd, char *out, size_t size, const char *prefix)
{
	FILE *p = popen(cmd, "r");
	char line[512];

	snprintf(out, size, "unknown");
	if (p == NULL)
		return;
	while (fgets(line, sizeof(line), p) != NULL) {
		char *s = line;

		if (prefix != NULL) {
			if (strncmp(s, prefix, strlen(prefix)) != 0)
				continue;
			s += strlen(prefix);
			s += strspn(s, " \t");
		}
		s[strcspn(s, "\n")] = '\0';
		snprintf(out, size, "%s", s);
		break;
	}
	pclose(p);
}

/* machine.txt: where and when, and the command line. */
void mb_write_machine(const struct mb_opts *o, const char *prog)
{
	FILE *f = mb_open_out(o->outdir, "machine.txt");
	char buf[512];
	time_t now = time(NULL);

	mb_first_line("uname -a 2>/dev/null", buf, sizeof(buf), NULL);
	fprintf(f, "uname: %s\n", buf);
	mb_first_line("lscpu 2>/dev/null", buf, sizeof(buf), "Model name:");
	fprintf(f, "cpu: %s\n", buf);
	mb_first_line("lscpu 2>/dev/null", buf, sizeof(buf), "CPU(s):");
	fprintf(f, "cpus: %s (online: %u)\n", buf, mb_ncpus());
	mb_first_line("pkg-config --modversion liburcu 2>/dev/null", buf, sizeof(buf), NULL);
	fprintf(f, "liburcu: %s\n", buf);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
	fprintf(f, "date: %s\n", buf);
	fprintf(f, "command: ");
	mb_print_command(f, prog, o);
	if (fclose(f) != 0)
		mb_fatal("writing machine.txt: %s", strerror(errno));
}

/* arr with room for one more element (n used of *cap, elem bytes each). */
void *mb_grow(void *arr, size_t n, size_t *cap, size_t elem, size_t first)
{
	if (n == *cap) {
		size_t c = *cap ? 2 * *cap : first;

		arr = realloc(arr, c * elem);
		if (arr == NULL)
			mb_fatal("out of memory (results)");
		*cap = c;
	}
	return arr;
}

/* ---- throughput rows ------------------------------------------------------ */

static int mb_cell_eq(const struct mb_cell *a, const struct mb_cell *b)
{
	return a->fill == b->fill && a->keys == b->keys && a->threads == b->threads &&
	       (a->fill ? a->growing == b->growing
			: a->get_pct == b->get_pct && a->dist == b->dist);
}

/* rates (ops/s) of nrounds rounds; sorts them. */
void mb_add_row(const struct mb_cell *c, const struct bench_peer *p, double *rates,
		unsigned nrounds)
{
	struct mb_row *r;

	mb_res.rows = mb_grow(mb_res.rows, mb_res.nrows, &mb_res.cap, sizeof(*mb_res.rows), 256);
	r = &mb_res.rows[mb_res.nrows++];
	memset(r, 0, sizeof(*r));
	r->cell = *c;
	r->peer = p;
	r->rounds = nrounds;
	r->med = median(rates, nrounds) * 1e-6;	/* sorts rates */
	r->min = rates[0] * 1e-6;
	r->max = rates[nrounds - 1] * 1e-6;
	r->ratio = r->frac = -1;
}

static const struct mb_row *mb_find_row(const struct mb_cell *c, const char *peer)
{
	for (size_t i = 0; i < mb_res.nrows; i++)
		if (strcmp(mb_res.rows[i].peer->name, peer) == 0 && mb_cell_eq(&mb_res.rows[i].cell, c))
			return &mb_res.rows[i];
	return NULL;
}

static const struct mb_row *mb_find_ceiling(const struct mb_cell *c)
{
	for (size_t i = 0; i < mb_res.nrows; i++)
		if ((mb_res.rows[i].peer->caps & PEER_UNSYNCHRONISED) &&
		    mb_cell_eq(&mb_res.rows[i].cell, c))
			return &mb_res.rows[i];
	return NULL;
}

/* The name of p's baseline: cds_lfht of the same flavor, else of memb. */
static void mb_baseline_name(const struct bench_peer *p, char *out, size_t size)
{
	snprintf(out, size, "%s%s", MB_LFHT_PREFIX, p->flavor);
	if (mb_peer_by_name(out) == NULL)
		snprintf(out, size, "%s", MB_LFHT_DEFAULT);
}

/* A block or row is complete: stdout and csv (unless NULL) go out now. */
void mb_flush(FILE *csv)
{
	fflush(stdout);
	if (csv != NULL)
		fflush(csv);
}

/* ",v", or "," when v < 0 (not applicable). */
void mb_csv_num(FILE *f, double v)
{
	if (v >= 0)
		fprintf(f, ",%.3f", v);
	else
		fputs(",", f);
}

static void mb_print_header(const struct mb_cell *c, const struct mb_opts *o)
{
	if (c->fill)
		printf("\n# fill: T threads insert %" PRIu64 " keys into an empty table "
		       "(presized: peer_params.presize = n; growing: presize 0);\n"
		       "# Mops/s = keys / slowest thread's seconds; median [min-max] of %" PRIu64
		       " rounds\n%-22s %-6s %9s %-8s %3s %28s %8s\n", c->keys, o->rounds,
		       "peer", "flavor", "keys", "table", "thr", "Mops/s median [min-max]",
		       "vs-lfht");
	else
		printf("\n# mixed: %" PRIu64 " keys, presized tables, indices from [0, %" PRIu64
		       "); Mops/s = sum of per-thread ops/s;\n# median [min-max] of %" PRIu64
		       " rounds of %" PRIu64 ".%03" PRIu64 " s; vs-lfht: ratio of medians to "
		       "lfht of the same flavor; of-ceil: to %s\n"
		       "%-22s %-6s %9s %4s %-8s %3s %28s %8s %8s\n",
		       c->keys, 2 * c->keys, o->rounds, o->run_ms / 1000, o->run_ms % 1000,
		       "the unsynchronised table",
		       "peer", "flavor", "keys", "mix", "dist", "thr", "Mops/s median [min-max]",
		       "vs-lfht", "of-ceil");
}

/* Computes ratios of rows[from..] and prints and writes them. */
void mb_emit_rows(size_t from, const struct mb_opts *o)
{
	FILE *csv = mb_res.csv[MB_CSV_THROUGHPUT];

	for (size_t i = from; i < mb_res.nrows; i++) {
		struct mb_row *r = &mb_res.rows[i];
		const struct mb_row *b, *ceil_row;
		char base[64], range[48], ratio[16] = "", frac[16] = "";

		mb_baseline_name(r->peer, base, sizeof(base));
		b = mb_find_row(&r->cell, base);
		if (b != NULL && b->med > 0)
			r->ratio = r->med / b->med;
		ceil_row = r->cell.fill || r->cell.get_pct != 100 ? NULL : mb_find_ceiling(&r->cell);
		if (ceil_row != NULL && ceil_row->med > 0)
			r->frac = r->med / ceil_row->med;
		if (i == from || !mb_cell_eq(&r->cell, &mb_res.rows[i - 1].cell)) {
			if (i == from || r->cell.fill != mb_res.rows[i - 1].cell.fill ||
			    r->cell.keys != mb_res.rows[i - 1].cell.keys)
				mb_print_header(&r->cell, o);
			else
				printf("\n");
		}
		snprintf(range, sizeof(range), "%.2f [%.2f-%.2f]", r->med, r->min, r->max);
		if (r->ratio >= 0)
			snprintf(ratio, sizeof(ratio), "%.2f", r->ratio);
		if (r->frac >= 0)
			snprintf(frac, sizeof(frac), "%.2f", r->frac);
		if (r->cell.fill)
			printf("%-22s %-6s %9" PRIu64 " %-8s %3u %28s %8s\n", r->peer->name,
			       r->peer->flavor, r->cell.keys, r->cell.growing ? "growing" : "presized",
			       r->cell.threads, range, ratio);
		else
			printf("%-22s %-6s %9" PRIu64 " %4u %-8s %3u %28s %8s %8s\n", r->peer->name,
			       r->peer->flavor, r->cell.keys, r->cell.get_pct,
			       mb_dist_names[r->cell.dist], r->cell.threads, range, ratio, frac);
		if (csv == NULL)
			continue;
		fprintf(csv, "%s,%s,%s,%" PRIu64 ",", r->cell.fill ? "fill" : "mixed",
			r->peer->name, r->peer->flavor, r->cell.keys);
		if (!r->cell.fill)
			fprintf(csv, "%u", r->cell.get_pct);
		fprintf(csv, ",%s,%s,%u,%u,%.3f,%.3f,%.3f",
			r->cell.fill ? "" : mb_dist_names[r->cell.dist],
			r->cell.fill && r->cell.growing ? "growing" : "presized",
			r->cell.threads, r->rounds, r->med, r->min, r->max);
		mb_csv_num(csv, r->ratio);
		mb_csv_num(csv, r->frac);
		fputc('\n', csv);
	}
	mb_flush(csv);
}

/* ---- memory, latency and reclaim rows ---------------------------------------- */

void mb_add_mem(const struct mb_mem_row *m)
{
	FILE *csv = mb_res.csv[MB_CSV_MEMORY];
	char own[16] = "-";

	if (mb_res.nmem < sizeof(mb_res.mem) / sizeof(mb_res.mem[0]))
		mb_res.mem[mb_res.nmem++] = *m;
	if (m->own >= 0)
		snprintf(own, sizeof(own), "%.1f", m->own);
	printf("%-22s %-6s %9" PRIu64 " %10.1f %10s %10.1f %10.1f\n", m->peer->name,
	       m->peer->flavor, m->entries, m->rss, own, m->user, m->total);
	fflush(stdout);
	if (csv == NULL)
		return;
	fprintf(csv, "%s,%s,%" PRIu64 ",%.1f,", m->peer->name, m->peer->flavor, m->entries, m->rss);
	if (m->own >= 0)
		fprintf(csv, "%.1f", m->own);
	fprintf(csv, ",%.1f,%.1f\n", m->user, m->total);
	fflush(csv);
}

void mb_lat_stats_of(const struct bench_lat *h, struct mb_lat_stats *s)
{
	static const double q[3] = { 0.50, 0.99, 0.999 };
	uint64_t *out[3] = { &s->p50, &s->p99, &s->p999 };
	uint64_t total = 0, cum = 0;
	unsigned k = 0;

	memset(s, 0, sizeof(*s));
	for (unsigned b = 0; b < BENCH_LAT_BUCKETS; b++) {
		total += h->count[b];
		if (h->count[b] != 0)
			s->max = bench_lat_floor(b);
	}
	s->count = total;
	if (total == 0)
		return;
	for (unsigned b = 0; b < BENCH_LAT_BUCKETS && k < 3; b++) {
		cum += h->count[b];
		/* The smallest value with at least a fraction q of the samples at or below it. */
		while (k < 3 && (double)cum >= q[k] * (double)total) {
			*out[k] = bench_lat_floor(b);
			k++;
		}
	}
}

double mb_ratio_u(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

void mb_add_lat(const struct mb_lat_row *l)
{
	static const char *const phase[MB_PHASES] = { "steady", "resizing" };
	FILE *csv = mb_res.csv[MB_CSV_LATENCY];
	const struct mb_lat_stats *s = l->phase, *z = &l->phase[MB_RESIZING];

	if (mb_res.nlat < MB_PEERS_MAX)
		mb_res.lat[mb_res.nlat++] = *l;
	for (int i = 0; i < MB_PHASES; i++) {
		printf("%-22s %-6s %9" PRIu64 " %-9s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %9" PRIu64
		       " %11" PRIu64 " %7" PRIu64 "\n", l->peer->name, l->peer->flavor, l->keys,
		       phase[i], s[i].p50, s[i].p99, s[i].p999, s[i].max, s[i].count,
		       i == MB_RESIZING ? l->resizes : 0);
		if (csv != NULL)
			fprintf(csv, "%s,%s,%" PRIu64 ",%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
				",%" PRIu64 ",%" PRIu64 "\n", l->peer->name, l->peer->flavor, l->keys,
				phase[i], s[i].p50, s[i].p99, s[i].p999, s[i].max, s[i].count,
				i == MB_RESIZING ? l->resizes : 0);
	}
	printf("%-22s %-6s %9s %-9s %7.2fx %7.2fx %7.2fx %8.2fx\n", "", "", "", "ratio",
	       mb_ratio_u(z->p50, s->p50), mb_ratio_u(z->p99, s->p99),
	       mb_ratio_u(z->p999, s->p999), mb_ratio_u(z->max, s->max));
	mb_flush(csv);
}

void mb_add_rec(const struct mb_rec_row *r)
{
	FILE *csv = mb_res.csv[MB_CSV_RECLAIM];
	char peak[24] = "-";

	if (mb_res.nrec < MB_PEERS_MAX) {
		mb_res.rec_peer[mb_res.nrec] = r->peer;
		mb_res.rec_p50[mb_res.nrec++] = r->lag_p50_ms;
	}
	if (r->peak_pending >= 0)
		snprintf(peak, sizeof(peak), "%" PRId64, r->peak_pending);
	printf("%-22s %-6s %9" PRIu64 " %8.2f %8.2f %8.2f %9" PRIu64 " %9.1f %12s %8.1f%s\n",
	       r->peer->name, r->peer->flavor, r->keys, r->lag_p50_ms, r->lag_p99_ms,
	       r->lag_max_ms, r->flood_entries, r->flood_delete_ms, peak, r->drain_ms,
	       r->drain_by_barrier ? " (barrier)" : "");
	fflush(stdout);
	if (csv == NULL)
		return;
	fprintf(csv, "%s,%s,%" PRIu64 ",%.3f,%.3f,%.3f,%" PRIu64 ",%.3f,", r->peer->name,
		r->peer->flavor, r->keys, r->lag_p50_ms, r->lag_p99_ms, r->lag_max_ms,
		r->flood_entries, r->flood_delete_ms);
	if (r->peak_pending >= 0)
		fprintf(csv, "%" PRId64, r->peak_pending);
	fprintf(csv, ",%.3f\n", r->drain_ms);
	fflush(csv);
}

/* ---- targets ------------------------------------------------------------------ */

struct mb_targets {
	FILE *csv;
	unsigned covered, passed;
};

static void mb_target(struct mb_targets *t, const char *name, double measured, int at_least,
		      double required)
{
	int pass = at_least ? measured >= required : measured <= required;
	char req[32];

	snprintf(req, sizeof(req), "%s%.2f", at_least ? ">=" : "<=", required);
	if (t->covered++ == 0)
		printf("\n# targets (uniform keys, presized tables, 2 threads for throughput,\n"
		       "# 1 and 2 for batch)\n"
		       "%-78s %9s %9s %s\n", "target", "measured", "required", "status");
	t->passed += pass;
	printf("%-78s %9.3f %9s %s\n", name, measured, req, pass ? "PASS" : "MISS");
	if (t->csv != NULL)
		fprintf(t->csv, "%s,%.3f,%s,%s\n", name, measured, req, pass ? "PASS" : "MISS");
}

/* subject / other at a 2-thread uniform mixed cell, against a required ratio. */
static void mb_target_ratio(struct mb_targets *t, uint64_t keys, unsigned get_pct,
			    const char *subject, const char *other, double required)
{
	struct mb_cell c = { .fill = 0, .keys = keys, .get_pct = get_pct,
			     .dist = BENCH_UNIFORM, .threads = 2 };
	const struct mb_row *a = mb_find_row(&c, subject);
	const struct mb_row *b = other ? mb_find_row(&c, other) : mb_find_ceiling(&c);
	char name[128];

	if (a == NULL || b == NULL || b->med <= 0)
		return;
	snprintf(name, sizeof(name), "%" PRIu64 " keys %u%% get 2t: %s / %s", keys, get_pct,
		 subject, b->peer->name);
	mb_target(t, name, a->med / b->med, 1, required);
}

static const struct mb_mem_row *mb_find_mem(const char *peer, uint64_t entries)
{
	for (unsigned i = 0; i < mb_res.nmem; i++)
		if (mb_res.mem[i].entries == entries && strcmp(mb_res.mem[i].peer->name, peer) == 0)
			return &mb_res.mem[i];
	return NULL;
}

static const struct mb_lat_row *mb_find_lat(const char *peer)
{
	for (unsigned i = 0; i < mb_res.nlat; i++)
		if (strcmp(mb_res.lat[i].peer->name, peer) == 0)
			return &mb_res.lat[i];
	return NULL;
}

/* The faster of mutex64 and tbb in a cell, or NULL when neither ran. */
static const struct mb_row *mb_best_locked(const struct mb_cell *c)
{
	const struct mb_row *a = mb_find_row(c, "mutex64"), *b = mb_find_row(c, "tbb");

	return a == NULL ? b : b == NULL ? a : a->med >= b->med ? a : b;
}

/* subject / the better of mutex64 and tbb, in a mixed or growing-fill cell. */
static void mb_target_locked(struct mb_targets *t, const struct mb_cell *c,
			     const char *subject, double required)
{
	const struct mb_row *a = mb_find_row(c, subject), *b = mb_best_locked(c);
	char name[128];

	if (a == NULL || b == NULL || b->med <= 0)
		return;
	if (c->fill)
		snprintf(name, sizeof(name), "growing fill %" PRIu64 " keys %ut: %s / %s",
			 c->keys, c->threads, subject, b->peer->name);
	else
		snprintf(name, sizeof(name), "%" PRIu64 " keys %u%% get 2t: %s / %s", c->keys,
			 c->get_pct, subject, b->peer->name);
	mb_target(t, name, a->med / b->med, 1, required);
}

static double mb_find_rec_p50(const char *peer)
{
	for (unsigned i = 0; i < mb_res.nrec; i++)
		if (strcmp(mb_res.rec_peer[i]->name, peer) == 0)
			return mb_res.rec_p50[i];
	return -1;
}

/* Issue 11's throughput, fill, lag and hash targets of rcumap peer rc (baseline lf). */
static void mb_write_ratio_targets(struct mb_targets *t, const struct mb_opts *o,
				   const char *rc, const char *lf)
{
	static const uint64_t keys[] = { 10000, 1000000 };
	static const unsigned mixes[] = { 90, 50, 0 };
	char name[160], sip[48];
	double a, b;

	for (int k = 0; k < 2; k++)
		for (int m = 0; m < 3; m++) {
			struct mb_cell c = { .keys = keys[k], .get_pct = mixes[m],
					     .dist = BENCH_UNIFORM, .threads = 2 };

			/* 1M at 90% against cds_lfht is issue 5's line, above. */
			if (!(mixes[m] == 90 && keys[k] == 1000000))
				mb_target_ratio(t, keys[k], mixes[m], rc, lf, 1.5);
			mb_target_locked(t, &c, rc, mixes[m] == 90 ? 1.2 : 1.0);
		}
	for (unsigned i = 0; i < o->fill_keys.n; i++)
		for (unsigned th = 1; th <= 2; th++) {
			struct mb_cell c = { .fill = 1, .growing = 1, .keys = o->fill_keys.v[i],
					     .threads = th };

			mb_target_locked(t, &c, rc, 1.0);
		}
	a = mb_find_rec_p50(rc);
	b = mb_find_rec_p50(lf);
	if (a >= 0 && b > 0) {
		snprintf(name, sizeof(name), "reclaim lag p50 under writes: %s / %s", rc, lf);
		mb_target(t, name, a / b, 0, 2.0);
	}
	snprintf(sip, sizeof(sip), "%s-siphash", rc);
	mb_target_ratio(t, 1000000, 100, sip, rc, 0.85);
}

/* The write-path targets (issue 11) of one rcumap peer that this run covered. */
static void mb_write_targets(struct mb_targets *t, const char *rc)
{
	char name[160];

	for (unsigned i = 0; i < mb_res.nupd; i++) {
		const struct mb_upd_row *u = &mb_res.upd[i];

		if (strcmp(u->peer->name, rc) != 0 || u->phase[MB_UPD_STEADY].p999 == 0)
			continue;
		snprintf(name, sizeof(name), "slowest update during growing fill / steady p99.9 "
			 "update latency: %s%s", rc, u->stopped ? " (fill stopped)" : "");
		mb_target(t, name, mb_ratio_u(u->phase[MB_UPD_GROWING].max,
					      u->phase[MB_UPD_STEADY].p999), 0, 100.0);
	}
	for (unsigned i = 0; i < mb_res.nbulk; i++) {
		const struct mb_bulk_row *b = &mb_res.bulk[i];

		if (strcmp(b->peer->name, rc) != 0 || b->sep_s <= 0)
			continue;
		snprintf(name, sizeof(name), "50K inserts in one read section / in separate "
			 "sections: %s%s", rc, b->capped ? " (capped)" : "");
		mb_target(t, name, b->one_s / b->sep_s, 0, 2.0);
	}
	for (unsigned i = 0; i < mb_res.nshrink; i++) {
		const struct mb_shrink_row *r = &mb_res.shrink[i];

		if (strcmp(r->peer->name, rc) != 0 || r->fresh[0] <= 0)
			continue;
		snprintf(name, sizeof(name), "RSS after 90%% delete+resize(0)+barrier / fresh map "
			 "with survivors: %s", rc);
		mb_target(t, name, r->shrunk[0] / r->fresh[0], 0, 2.0);
	}
}

/*
 * Issue 13's batch targets of rcumap peer rc, at 1 and 2 threads: a batch
 * of MB_BATCH_TARGET_KEYS at 1M and 10M keys at least 2.0x the same
 * lookups one at a time and at least the unsynchronised table's single
 * lookups; at 10K keys (in cache) no slower than single lookups.
 */
#define MB_BATCH_TARGET_KEYS 16

static void mb_batch_targets(struct mb_targets *t, const char *rc)
{
	char name[160];

	for (size_t i = 0; i < mb_res.nbatch; i++) {
		const struct mb_batch_row *r = &mb_res.batch[i];
		int big = r->keys == 1000000 || r->keys == 10000000;

		if (strcmp(r->peer->name, rc) != 0 || r->batch_keys != MB_BATCH_TARGET_KEYS ||
		    r->threads > 2 || (!big && r->keys != 10000))
			continue;
		if (r->ratio_single >= 0) {
			snprintf(name, sizeof(name), "%" PRIu64 " keys batch %u %ut: %s batch / "
				 "single", r->keys, r->batch_keys, r->threads, rc);
			mb_target(t, name, r->ratio_single, 1, big ? 2.0 : 1.0);
		}
		if (big && r->ratio_ceiling >= 0) {
			snprintf(name, sizeof(name), "%" PRIu64 " keys batch %u %ut: %s batch / "
				 "unsynchronised single", r->keys, r->batch_keys, r->threads, rc);
			mb_target(t, name, r->ratio_ceiling, 1, 1.0);
		}
	}
}

/* The targets that this run covered; writes targets.csv. */
void mb_targets_report(const struct mb_opts *o)
{
	static const char *const flavors[] = { "memb", "qsbr" };
	struct mb_targets t = { .csv = mb_open_out(o->outdir, "targets.csv") };

	fprintf(t.csv, "target,measured,required,status\n");
	for (int f = 0; f < 2; f++) {
		char rc[32], lf[32];
		const struct mb_mem_row *mr, *ml;
		const struct mb_lat_row *l;

		snprintf(rc, sizeof(rc), MB_RCUMAP_PREFIX "%s", flavors[f]);
		snprintf(lf, sizeof(lf), MB_LFHT_PREFIX "%s", flavors[f]);
		mb_target_ratio(&t, 1000000, 100, rc, lf, 2.0);
		mb_target_ratio(&t, 1000000, 100, rc, NULL, 0.5);
		mb_target_ratio(&t, 1000000, 90, rc, lf, 2.0);
		mb_target_ratio(&t, 1000000, 90, rc, MB_RWLOCK, 1.5);
		mb_target_ratio(&t, 1000000, 50, rc, lf, 1.0);
		mb_target_ratio(&t, 10000, 100, rc, lf, 1.5);
		mr = mb_find_mem(rc, 1000000);
		ml = mb_find_mem(lf, 1000000);
		if (mr != NULL && ml != NULL) {
			char name[128];

			snprintf(name, sizeof(name), "memory/entry at 1000000: %s total <= %s total",
				 rc, lf);
			mb_target(&t, name, mr->total, 0, ml->total);
		}
		l = mb_find_lat(rc);
		if (l != NULL && l->phase[MB_STEADY].p999 > 0) {
			char name[128];

			snprintf(name, sizeof(name), "p99.9 lookup during resize / steady: %s", rc);
			mb_target(&t, name, mb_ratio_u(l->phase[MB_RESIZING].p999,
						       l->phase[MB_STEADY].p999), 0, 2.0);
		}
		mb_write_targets(&t, rc);
		mb_write_ratio_targets(&t, o, rc, lf);
		mb_batch_targets(&t, rc);
	}
	if (t.covered == 0)
		printf("\n# targets: none covered by this run\n");
	else
		printf("# targets: %u of %u PASS\n", t.passed, t.covered);
	if (fclose(t.csv) != 0)
		fprintf(stderr, "mapbench: writing targets.csv: %s\n", strerror(errno));
	fflush(stdout);
}

