/* SPDX-License-Identifier: MIT */
/* mapbench.h: what the files of bench/mapbench share: options, teams, result rows, experiments. */
#ifndef RCUMAP_BENCH_MAPBENCH_H
#define RCUMAP_BENCH_MAPBENCH_H

/*
 * bench/mapbench is one program in seven files; each has a section here
 * with what it defines for the others:
 *   mapbench.c          main, the mixed and fill runs, the plan and its estimate
 *   mapbench_opts.c     the command line: options, presets, parsing, the reproduce line
 *   mapbench_run.c      threads: teams running a peer's loop, builds, checks, problems
 *   mapbench_results.c  rows, ratios, stdout tables, CSV files, targets
 *   mapbench_special.c  memory, latency-during-resize and reclamation runs
 *   mapbench_write.c    write-path runs: update latency, bulk inserts, RSS after a shrink
 *   mapbench_batch.c    the batch experiment: single lookups against batched calls
 * The method of every experiment is in the comment at the top of mapbench.c.
 */

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "peer.h"
#include "util.h"
#include "workload.h"

/* ---- mapbench_opts.c: the command line ---------------------------------- */

#define MB_LIST_MAX 16		/* values in one comma list */
#define MB_PEERS_MAX 64
#define MB_THREADS_MAX 256
/* A fill gives each of up to MB_THREADS_MAX threads at least one key. */
#define MB_KEYS_MIN ((uint64_t)MB_THREADS_MAX)
/* 2^28: 2n stays far below BENCH_ZIPF_SPREAD, and 2^28 keys of every peer
 * alive at once is already more than this kind of machine holds. */
#define MB_KEYS_MAX (UINT64_C(1) << 28)
#define MB_ROUNDS_MAX 1000
#define MB_BATCH_MAX 65536
#define MB_MS_MIN 10		/* shortest timed phase: a few scheduler ticks */
#define MB_MS_MAX 3600000	/* one hour */

enum mb_experiment {
	MB_THROUGHPUT = 0,
	MB_FILL,
	MB_MEMORY,
	MB_LATENCY,
	MB_RECLAIM,
	MB_BULK,
	MB_SHRINKRSS,
	MB_BATCH,
	MB_EXPERIMENTS
};

/* By enum bench_dist: "uniform", "zipf". */
extern const char *const mb_dist_names[2];

struct mb_list {
	unsigned n;
	uint64_t v[MB_LIST_MAX];
};

struct mb_opts {
	const char *preset;		/* "quick" or "full": where the defaults came from */
	struct mb_list keys;		/* mixed-run key counts */
	struct mb_list mixes;		/* get percentages */
	struct mb_list dists;		/* enum bench_dist values */
	struct mb_list threads;
	struct mb_list zipf_keys;	/* key counts at which non-uniform dists run */
	struct mb_list fill_keys;	/* key counts of the fill experiment */
	struct mb_list memory_keys;	/* entry counts of the memory experiment */
	struct mb_list batch_keys;	/* keys per batched call of the batch experiment */
	uint64_t special_keys;		/* table size of the latency and reclaim runs */
	uint64_t run_ms;		/* one mixed measurement */
	uint64_t latency_ms;		/* each latency phase */
	uint64_t reclaim_ms;		/* the reclaim-lag run */
	uint64_t bulk_deadline_ms;	/* each bulk measurement stops there */
	uint64_t shrink_keys;		/* entries of the shrinkrss run before its deletes */
	uint64_t rounds, batch, seed;
	unsigned experiments;		/* bit (1u << enum mb_experiment) */
	const struct bench_peer *peers[MB_PEERS_MAX];	/* registry order */
	unsigned npeers;
	const char *outdir;
	int selftest;
	int dry_run;			/* print the plan and the estimate only */
	const char *memory_one;		/* hidden child mode: peer name, or NULL */
	uint64_t memory_one_keys;
	const char *shrink_one;		/* hidden child mode of shrinkrss: peer name, or NULL */
	uint64_t shrink_one_keys;
	int shrink_one_fresh;		/* ... building only the survivors */
};

/* Fills *o from the command line; bad input exits 2 after a message, -h exits 0. */
void mb_parse(int argc, char **argv, struct mb_opts *o);
/* Every parameter, so the line alone reproduces the run. */
void mb_print_command(FILE *f, const char *prog, const struct mb_opts *o);
int mb_list_has(const struct mb_list *l, uint64_t v);
/* The compiled peer of that name, or NULL. */
const struct bench_peer *mb_peer_by_name(const char *name);

/* ---- mapbench_run.c: threads, builds, problems -------------------------- */

/* The driver's atomics: every shared flag and counter goes through these. */

static inline void mb_store_relaxed_int(volatile int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline int mb_load_relaxed_int(const volatile int *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void mb_store_release_u64(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint64_t mb_load_acquire_u64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline uint64_t mb_load_relaxed_u64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void mb_add_relaxed_u64(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

/* "mapbench: " and the message on stderr, then exit(1). */
__attribute__((noreturn, format(printf, 1, 2))) void mb_fatal(const char *fmt, ...);
/* A problem seen during the run: printed on stderr now, listed again at the end. */
__attribute__((format(printf, 1, 2))) void mb_problem(const char *fmt, ...);
/* The end-of-run list of problems on stdout; frees it. */
void mb_problems_report(void);
/* Zeroed memory, or exit after a message. */
void *mb_alloc(size_t size);
void mb_sleep_ns(uint64_t ns);
unsigned mb_ncpus(void);
double mb_elapsed(double t0);
int mb_is_qsbr(const struct bench_peer *p);
/* A quiescent state when qsbr is set: the driver's own loops on a qsbr peer. */
void mb_quiescent(int qsbr);
/* Per-thread seed: a function of the global seed and the thread's index only. */
uint64_t mb_thread_seed(uint64_t seed, unsigned thread);
/* The seed of one measurement (round and cell) of a mixed or batch run. */
uint64_t mb_cell_seed(uint64_t seed, unsigned round, unsigned get_pct, unsigned dist,
		      unsigned threads);
/* How many of n indices a stride split gives thread t of T (all n covered). */
uint64_t mb_share(uint64_t n, unsigned t, unsigned T);
/* Registration; NULL-safe, as a peer without RCU may leave them out. */
void mb_tinit(const struct bench_peer *p);
void mb_tfini(const struct bench_peer *p);
/* Calls that the main thread makes on a table, each registered around. */
void mb_barrier(const struct bench_peer *p, void *table);
void mb_destroy(const struct bench_peer *p, void *table);
uint64_t mb_count(const struct bench_peer *p, void *table);

/* Peers that failed a build or check: skipped from then on (index in o->peers). */
extern const char *mb_broken[MB_PEERS_MAX];
/* Every run's sum of values found, printed at the end, so no lookup is dead code. */
extern uint64_t mb_sink;

struct mb_worker;	/* one thread of a team (mapbench_run.c) */

struct mb_team {
	unsigned n;
	struct mb_worker *w;
	pthread_barrier_t start;	/* workers + extra threads + main */
	volatile int stop;		/* set by main, polled once per batch */
};

/* What a team did, summed over its threads. */
struct mb_outcome {
	uint64_t ops[3], done[3], acc;
	uint64_t wrong;		/* lookup runs: wrong values or counts (bench_counts.wrong) */
	double rate;		/* mixed: sum of per-thread ops/s; fill: inserts / slowest thread's s */
	double max_seconds;
	double cpu_seconds;	/* summed over the workers: tells a stopped fill that was
				 * computing from one that was waiting or not scheduled */
};

void mb_create_thread(pthread_t *tid, void *(*fn)(void *), void *arg);
/*
 * Starts n workers running tmpl on the table; they and @extra more threads
 * (which the caller starts, and which wait on team->start) begin together
 * when the caller calls mb_team_go.
 */
void mb_team_start(struct mb_team *team, const struct bench_peer *p, void *table,
		   const struct bench_work *tmpl, unsigned n, unsigned extra, uint64_t seed);
void mb_team_go(struct mb_team *team);
void mb_team_stop(struct mb_team *team);
/* Joins the workers and sums what they did; frees the team. */
void mb_team_join(struct mb_team *team, int fill, struct mb_outcome *out);
/* Lookups only, uniform over [0, 2n) (half hit), -b per read section. */
void mb_lookup_work(const struct mb_opts *o, uint64_t n, struct bench_work *w);
/* When a fill of n keys is stopped as stalled. */
uint64_t mb_fill_deadline_ns(uint64_t n);
/* One measurement; 1 if a fill was stopped by its deadline. */
int mb_measure(const struct bench_peer *p, void *table, const struct bench_work *tmpl,
	       unsigned threads, uint64_t ms, uint64_t seed, struct mb_outcome *out);
/* A checked table of the indices [0, n): 0, or -1 after a message. */
int mb_build(const struct bench_peer *p, const struct peer_params *params, uint64_t n,
	     unsigned batch, uint64_t seed, void **table, double *seconds);
/* mb_build for peer pi of a run that keeps a table per peer; marks it broken on failure. */
int mb_build_logged(unsigned pi, const struct bench_peer *p, const struct peer_params *params,
		    uint64_t n, unsigned batch, uint64_t seed, void **table);

/* ---- mapbench_results.c: rows, tables, CSV files, targets --------------- */

enum {
	MB_CSV_THROUGHPUT, MB_CSV_MEMORY, MB_CSV_LATENCY, MB_CSV_RECLAIM,
	MB_CSV_UPDATE_LATENCY, MB_CSV_BULK, MB_CSV_SHRINKRSS, MB_CSV_BATCH, MB_CSVS
};

/* One throughput configuration; rows with equal cells are compared. */
struct mb_cell {
	int fill;		/* 0: mixed run, 1: fill */
	uint64_t keys;
	unsigned get_pct;	/* mixed only */
	unsigned dist;		/* mixed only: enum bench_dist */
	int growing;		/* fill only: from an empty, unsized table */
	unsigned threads;
};

struct mb_row {
	struct mb_cell cell;
	const struct bench_peer *peer;
	unsigned rounds;
	double med, min, max;	/* Mops/s */
	double ratio, frac;	/* < 0: not applicable */
};

struct mb_mem_row {
	const struct bench_peer *peer;
	uint64_t entries;
	double rss, own, user, total;	/* bytes per entry; own < 0: peer has no account */
};

/* Percentiles of a latency histogram: bucket lower bounds (at most 1/16 low). */
struct mb_lat_stats {
	uint64_t p50, p99, p999, max, count;
};

enum { MB_STEADY, MB_RESIZING, MB_PHASES };

struct mb_lat_row {
	const struct bench_peer *peer;
	uint64_t keys;
	struct mb_lat_stats phase[MB_PHASES];
	uint64_t resizes;	/* completed during the resizing phase */
};

/* Update latency (mapbench_write.c): a steady load, then a growing fill. */
enum { MB_UPD_STEADY, MB_UPD_GROWING, MB_UPD_PHASES };

struct mb_upd_row {
	const struct bench_peer *peer;
	uint64_t keys;
	struct mb_lat_stats phase[MB_UPD_PHASES];	/* max: exact, not a bucket's bound */
	double seconds[MB_UPD_PHASES];
	int stopped;		/* the growing fill hit its deadline */
};

/* Bulk inserts (mapbench_write.c): one read section vs one per insert. */
struct mb_bulk_row {
	const struct bench_peer *peer;
	uint64_t inserts;
	double one_s, sep_s;	/* wall seconds, medians over rounds */
	uint64_t one_done;	/* inserts in one section before the deadline */
	int capped;		/* one_s is the deadline's: a lower bound */
};

/*
 * The batch experiment (mapbench_batch.c): one peer, key count, thread
 * count and mode. Ratios < 0: not applicable. ratio_single is over the
 * same peer's single lookups of the same cell, ratio_ceiling over the
 * unsynchronised table's single lookups, ratio_batch_ceiling over its
 * batched calls of the same size.
 */
struct mb_batch_row {
	const struct bench_peer *peer;
	uint64_t keys;
	unsigned threads;
	unsigned batch_keys;	/* 0: one lookup at a time */
	unsigned rounds;
	double med, min, max;	/* Mops/s, lookups */
	double hit;		/* fraction of the lookups that found their key, all rounds */
	double ratio_single, ratio_ceiling, ratio_batch_ceiling;
};

/* RSS after a 90% delete and a shrink vs a fresh map (mapbench_write.c). */
struct mb_shrink_row {
	const struct bench_peer *peer;
	uint64_t entries;	/* before the deletes; a tenth survive */
	double shrunk[2], fresh[2];	/* resident growth, bytes: [1] after malloc_trim(0) */
};

/* Reclamation (mapbench_special.c): lag under writes, then a flood of deletes. */
struct mb_rec_row {
	const struct bench_peer *peer;
	uint64_t keys;
	double lag_p50_ms, lag_p99_ms, lag_max_ms;
	uint64_t flood_entries;
	double flood_delete_ms, drain_ms;
	int64_t peak_pending;	/* < 0: the peer keeps no account */
	int drain_by_barrier;	/* drain_ms is until barrier() returned */
};

/* Every row of the run, kept for the ratios and the targets; the open CSV files. */
struct mb_results {
	struct mb_row *rows;
	size_t nrows, cap;
	struct mb_mem_row mem[MB_LIST_MAX * MB_PEERS_MAX];
	unsigned nmem;
	struct mb_lat_row lat[MB_PEERS_MAX];
	unsigned nlat;
	struct mb_upd_row upd[MB_PEERS_MAX];
	unsigned nupd;
	struct mb_bulk_row bulk[MB_PEERS_MAX];
	unsigned nbulk;
	struct mb_shrink_row shrink[MB_PEERS_MAX];
	unsigned nshrink;
	struct mb_batch_row *batch;
	size_t nbatch, capbatch;
	const struct bench_peer *rec_peer[MB_PEERS_MAX];  /* reclaim lag p50, for the targets */
	double rec_p50[MB_PEERS_MAX];
	unsigned nrec;
	FILE *csv[MB_CSVS];
	char path[4096];
};

extern struct mb_results mb_res;

/* Opens the CSV files of the chosen experiments, each with its header line. */
void mb_results_open(const struct mb_opts *o);
void mb_results_close(void);
/* machine.txt: where and when, and the command line. */
void mb_write_machine(const struct mb_opts *o, const char *prog);
/* arr with room for one more element (n used of *cap, elem bytes each). */
void *mb_grow(void *arr, size_t n, size_t *cap, size_t elem, size_t first);
/* ",v", or "," when v < 0 (not applicable). */
void mb_csv_num(FILE *f, double v);
/* Flushes stdout, and csv unless it is NULL: a block or row is complete. */
void mb_flush(FILE *csv);
double mb_ratio_u(uint64_t a, uint64_t b);
void mb_lat_stats_of(const struct bench_lat *h, struct mb_lat_stats *s);
/* A throughput row from rates (ops/s) of nrounds rounds; sorts them. */
void mb_add_row(const struct mb_cell *c, const struct bench_peer *p, double *rates,
		unsigned nrounds);
/* Computes ratios of rows[from..] and prints and writes them. */
void mb_emit_rows(size_t from, const struct mb_opts *o);
/* Each prints its row and writes it to its CSV file. */
void mb_add_mem(const struct mb_mem_row *m);
void mb_add_lat(const struct mb_lat_row *l);
void mb_add_rec(const struct mb_rec_row *r);
/* The targets that this run covered; writes targets.csv. */
void mb_targets_report(const struct mb_opts *o);

/* ---- mapbench_special.c: memory, latency during resize, reclamation ----- */

/* Resident bytes of this process (/proc/self/statm). */
uint64_t mb_resident_bytes(void);
/*
 * Runs this program again with argv[1..] (argv[0] is set here) and reads
 * the one line it prints: 0, or -1 if it printed none or did not exit 0.
 */
int mb_child_line(char **argv, char *line, size_t size);
/* The child of the memory experiment (--memory-one); its exit status. */
int mb_memory_child(const struct mb_opts *o);
/* Each: 0 and *row filled, or -1 after a message. */
int mb_memory_one(const struct bench_peer *p, uint64_t n, struct mb_mem_row *row);
int mb_latency_peer(const struct mb_opts *o, const struct bench_peer *p, uint64_t n,
		    struct mb_lat_row *row);
int mb_reclaim_peer(const struct mb_opts *o, const struct bench_peer *p, uint64_t n,
		    struct mb_rec_row *row);

/* ---- mapbench_write.c: update latency, bulk inserts, shrinkrss ---------- */

/* Inserts of one bulk measurement. */
#define MB_BULK_INSERTS 50000
/* qsbr, separate sections: a quiescent state after this many inserts. */
#define MB_BULK_QS_EVERY 128

/* Each: 0 and *row filled, or -1 after a message. */
int mb_upd_peer(const struct mb_opts *o, const struct bench_peer *p, uint64_t n,
		struct mb_upd_row *row);
int mb_bulk_peer(const struct mb_opts *o, const struct bench_peer *p, struct mb_bulk_row *row);
int mb_shrink_peer(const struct bench_peer *p, uint64_t n, struct mb_shrink_row *row);
/* The child of the shrinkrss experiment (--shrink-one); its exit status. */
int mb_shrink_child(const struct mb_opts *o);
/* Each prints its row and writes it to its CSV file. */
void mb_add_upd(const struct mb_upd_row *u);
void mb_add_bulk(const struct mb_bulk_row *b);
void mb_add_shrink(const struct mb_shrink_row *r);

/* ---- mapbench_batch.c: the batch experiment ----------------------------- */

/* The peer has a batched lookup (run_lookups and get_batch). */
int mb_batch_peer(const struct bench_peer *p);
/* Modes: one lookup at a time, then each --batch-keys value. */
unsigned mb_batch_modes(const struct mb_opts *o);
/* Every batch peer's table of n keys, every (threads, peer, mode) once per round. */
void mb_run_batch(const struct mb_opts *o, uint64_t n, double t_start);

#endif /* RCUMAP_BENCH_MAPBENCH_H */
