/* SPDX-License-Identifier: MIT */
/* mapbench_special.c: mapbench's memory, latency-during-resize and reclamation runs. */

/* The methodology of each experiment is in the comment at the top of mapbench.c. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1	/* environ (posix_spawn) */
#endif

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mapbench.h"

/* How long the flood's monitor waits for pending reclamation to drain. */
#define MB_DRAIN_WAIT_NS UINT64_C(10000000000)
/* Monitor sampling period. */
#define MB_SAMPLE_NS UINT64_C(1000000)

/* ---- memory: one peer, one size, in a fresh process ------------------------ */

/* Resident pages of this process (/proc/self/statm, second field). */
uint64_t mb_resident_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long size = 0, resident = 0;

	if (f == NULL)
		mb_fatal("/proc/self/statm: %s", strerror(errno));
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		mb_fatal("/proc/self/statm: unexpected contents");
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/*
 * The child (--memory-one PEER N): builds a pre-sized table of N entries
 * single-threaded in this thread, waits for pending reclamation, and prints
 * one line "rss_bytes_per_entry own_bytes_per_entry user_bytes_per_entry"
 * (own -1: the peer keeps no account). Exit 0, or 1 after a message.
 */
int mb_memory_child(const struct mb_opts *o)
{
	const struct bench_peer *p = mb_peer_by_name(o->memory_one);
	struct peer_params params = { .presize = o->memory_one_keys };
	struct bench_work w;
	struct bench_counts c;
	struct peer_mem m = { 0, 0 };
	uint64_t n = o->memory_one_keys, before, after;
	volatile int stop = 0;	/* fill runs never read it */
	void *table;
	double own = -1;
	int rc;

	if (p == NULL) {
		fprintf(stderr, "mapbench: --memory-one: unknown peer '%s'\n", o->memory_one);
		return 1;
	}
	mb_tinit(p);
	before = mb_resident_bytes();
	rc = p->create(&params, &table);
	if (rc != 0) {
		fprintf(stderr, "mapbench: %s: create: %s\n", p->name, strerror(-rc));
		mb_tfini(p);
		return 1;
	}
	memset(&w, 0, sizeof(w));
	w.range = 2 * n;
	w.batch = (unsigned)o->batch;
	w.stop = &stop;
	w.fill_first = 0;
	w.fill_step = 1;
	w.fill_count = n;
	p->run(table, &w, &c);
	if (p->barrier != NULL)
		p->barrier(table);
	after = mb_resident_bytes();
	if (p->mem != NULL) {
		p->mem(table, &m);
		if (m.live_bytes > 0)
			own = (double)m.live_bytes / (double)n;
	}
	p->destroy(table);
	mb_tfini(p);
	if (c.done[BENCH_INSERT] != n) {
		fprintf(stderr, "mapbench: %s: memory build inserted %" PRIu64 " of %" PRIu64 "\n",
			p->name, c.done[BENCH_INSERT], n);
		return 1;
	}
	printf("%.3f %.3f %u\n", after > before ? (double)(after - before) / (double)n : 0.0, own,
	       p->user_bytes_per_entry);
	return fflush(stdout) == 0 ? 0 : 1;
}

/*
 * Runs this program again with argv[1..] (argv[0] is set here) and reads
 * the one line it prints to its stdout: 0, or -1 if it printed none or
 * did not exit 0. Shared by the memory and shrinkrss experiments.
 */
int mb_child_line(char **argv, char *line, size_t size)
{
	char exe[4096];
	posix_spawn_file_actions_t fa;
	int fds[2], status, rc, got = 0;
	ssize_t len;
	pid_t pid;
	FILE *in;

	/* This program's path, resolved now: under valgrind /proc/self/exe
	 * itself is the tool, while readlink reports the client. */
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0 || (size_t)len >= sizeof(exe) - 1)
		snprintf(exe, sizeof(exe), "/proc/self/exe");
	else
		exe[len] = '\0';
	argv[0] = exe;
	if (pipe(fds) != 0)
		mb_fatal("pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	fflush(stdout);
	rc = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		mb_problem("cannot re-execute %s: %s", exe, strerror(rc));
		return -1;
	}
	in = fdopen(fds[0], "r");
	if (in == NULL)
		mb_fatal("fdopen: %s", strerror(errno));
	if (fgets(line, (int)size, in) != NULL)
		got = 1;
	fclose(in);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return got && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Runs the child for one peer and size; 0 and *row filled, or -1 after a message. */
int mb_memory_one(const struct bench_peer *p, uint64_t n, struct mb_mem_row *row)
{
	char nbuf[24], line[256];
	char *argv[] = { NULL, (char *)"--memory-one", (char *)p->name, nbuf, NULL };

	snprintf(nbuf, sizeof(nbuf), "%" PRIu64, n);
	memset(row, 0, sizeof(*row));
	if (mb_child_line(argv, line, sizeof(line)) != 0 ||
	    sscanf(line, "%lf %lf %lf", &row->rss, &row->own, &row->user) != 3) {
		mb_problem("memory: %s at %" PRIu64 " entries failed", p->name, n);
		return -1;
	}
	row->peer = p;
	row->entries = n;
	/* The peers embed what their users must add (cds_lfht's rcu_head) in
	 * their nodes, so RSS already holds it: user is shown, not added. */
	row->total = row->rss;
	return 0;
}

/* ---- latency during resize ---------------------------------------------------- */

struct mb_resizer {
	pthread_t tid;
	const struct bench_peer *peer;
	void *table;
	uint64_t n;
	struct mb_team *team;	/* its start barrier and stop flag */
	uint64_t resizes, busy;
	int error;		/* the first error other than -EBUSY, or 0 */
};

/* Alternates between 4n and n/4 buckets until the team stops. */
static void *mb_resizer_main(void *arg)
{
	struct mb_resizer *r = arg;
	const struct bench_peer *p = r->peer;
	const uint64_t size[2] = { 4 * r->n, r->n / 4 };
	int qsbr = mb_is_qsbr(p), k = 0;

	mb_tinit(p);
	pthread_barrier_wait(&r->team->start);	/* starts with the lookup thread (mb_team_go) */
	/* Relaxed: pairs with mb_team_stop's store; a signal only, nothing published. */
	while (!mb_load_relaxed_int(&r->team->stop)) {
		int rc = p->resize(r->table, size[k]);

		if (rc == 0) {
			r->resizes++;
			k ^= 1;
		} else if (rc == -EBUSY) {
			/* The previous generation is not reclaimed yet. */
			r->busy++;
			if (p->barrier != NULL)
				p->barrier(r->table);
			else
				mb_sleep_ns(100000);
		} else {
			r->error = rc;
			break;
		}
		mb_quiescent(qsbr);
	}
	mb_tfini(p);
	return NULL;
}

/* One phase: one lookup thread timing every get, with or without the resizer. */
static void mb_latency_phase(const struct mb_opts *o, const struct bench_peer *p, void *table,
			     uint64_t n, int resizing, struct mb_lat_stats *st, uint64_t *resizes)
{
	struct bench_lat *h = mb_alloc(sizeof(*h));
	struct bench_work w;
	struct mb_team team;
	struct mb_resizer rz;
	struct mb_outcome out;

	mb_lookup_work(o, n, &w);
	w.lat = h;
	memset(&rz, 0, sizeof(rz));
	mb_team_start(&team, p, table, &w, 1, resizing ? 1 : 0, o->seed);
	if (resizing) {
		rz.peer = p;
		rz.table = table;
		rz.n = n;
		rz.team = &team;
		mb_create_thread(&rz.tid, mb_resizer_main, &rz);
	}
	mb_team_go(&team);
	mb_sleep_ns(o->latency_ms * 1000000u);
	mb_team_stop(&team);
	if (resizing)
		pthread_join(rz.tid, NULL);	/* orders rz's counters before the reads below */
	mb_team_join(&team, 0, &out);
	mb_lat_stats_of(h, st);
	free(h);
	*resizes = rz.resizes;
	if (rz.error != 0)
		mb_problem("%s: resize: %s (resizing stopped)", p->name, strerror(-rz.error));
	if (resizing && rz.resizes == 0)
		mb_problem("%s: no resize completed in the resizing phase", p->name);
	mb_barrier(p, table);
}

/*
 * Brings the table to n buckets and lets the peer's own resizing settle:
 * "steady" must not include a resize the peer had still pending.
 */
static void mb_settle(const struct bench_peer *p, void *table, uint64_t n)
{
	int rc;

	mb_tinit(p);
	for (unsigned tries = 0; (rc = p->resize(table, n)) == -EBUSY && tries < 100; tries++)
		if (p->barrier != NULL)
			p->barrier(table);
	if (p->barrier != NULL)
		p->barrier(table);
	mb_tfini(p);
	if (rc != 0)
		mb_problem("%s: resize to %" PRIu64 " buckets before the steady phase: %s",
			   p->name, n, strerror(-rc));
}

/*
 * Steady vs resizing on one table of n keys. It is pre-sized for n/4, so
 * that a table whose presize is also its floor (rcumap's min_slots) can
 * shrink to n/4, and then resized to n before the steady phase. (Not built
 * from empty: cds_lfht's lazy growth can stall, see mb_fill_deadline_ns.)
 */
int mb_latency_peer(const struct mb_opts *o, const struct bench_peer *p, uint64_t n,
		    struct mb_lat_row *row)
{
	struct peer_params params = { .presize = n / 4 };
	uint64_t unused;
	void *table;

	if (mb_build(p, &params, n, (unsigned)o->batch, o->seed, &table, NULL) != 0)
		return -1;
	mb_settle(p, table, n);
	memset(row, 0, sizeof(*row));
	row->peer = p;
	row->keys = n;
	mb_latency_phase(o, p, table, n, 0, &row->phase[MB_STEADY], &unused);
	mb_latency_phase(o, p, table, n, 1, &row->phase[MB_RESIZING], &row->resizes);
	mb_destroy(p, table);
	return 0;
}

/* ---- reclamation ---------------------------------------------------------- */

/* What on_reclaim saw; updated from the peers' reclaim threads. */
struct mb_reclaim_ctx {
	struct bench_lat lag;	/* ns from remove_stamped to on_reclaim */
	uint64_t reclaimed;	/* stamped values reclaimed */
	uint64_t unstamped;	/* values freed without a removal stamp (destroy) */
};

static void mb_on_reclaim(uint64_t value, uint64_t removed_ns, void *arg)
{
	struct mb_reclaim_ctx *c = arg;
	uint64_t now;

	(void)value;
	if (removed_ns == 0) {
		/* Relaxed: a statistic, read after destroy returns. */
		mb_add_relaxed_u64(&c->unstamped, 1);
		return;
	}
	now = now_ns();
	/* Relaxed: callbacks may run on several threads; main reads the
	 * histogram after barrier(), which orders every earlier callback. */
	mb_add_relaxed_u64(&c->lag.count[bench_lat_bucket(now > removed_ns ? now - removed_ns : 0)], 1);
	/* Relaxed: the monitor only compares it with a target count. */
	mb_add_relaxed_u64(&c->reclaimed, 1);
}

struct mb_writer {
	pthread_t tid;
	const struct bench_peer *peer;
	void *table;
	uint64_t n, seed;
	unsigned id, nwriters, batch;
	struct mb_team *team;	/* its start barrier and stop flag */
	uint64_t pairs, errors;
};

/* Removes (stamped) and re-inserts random keys of its own partition i % nwriters == id. */
static void *mb_writer_main(void *arg)
{
	struct mb_writer *w = arg;
	const struct bench_peer *p = w->peer;
	uint64_t rng = w->seed, share = mb_share(w->n, w->id, w->nwriters);
	int qsbr = mb_is_qsbr(p);

	mb_tinit(p);
	pthread_barrier_wait(&w->team->start);	/* starts with the readers (mb_team_go) */
	/* Relaxed: pairs with mb_team_stop's store; a signal only, nothing published. */
	while (!mb_load_relaxed_int(&w->team->stop)) {
		for (unsigned b = 0; b < w->batch; b++) {
			uint64_t i = w->id + rng_below(&rng, share) * w->nwriters, k = key_of(i);

			w->errors += p->remove_stamped(w->table, k, now_ns()) != 1;
			w->errors += p->insert(w->table, k, i + 1) != 1;
		}
		w->pairs += w->batch;
		mb_quiescent(qsbr);
	}
	mb_tfini(p);
	return NULL;
}

struct mb_monitor {
	pthread_t tid;
	const struct bench_peer *peer;
	void *table;
	struct mb_reclaim_ctx *ctx;
	uint64_t target;	/* ctx->reclaimed once every flooded value is reclaimed */
	uint64_t done_ns;	/* the flood's last delete; 0 before (release/acquire) */
	uint64_t drained_ns;	/* when drain was seen; 0 if not within MB_DRAIN_WAIT_NS */
	uint64_t peak;		/* largest pending_bytes sampled */
};

/*
 * Samples pending_bytes every ms. Registers only around each mem() call,
 * so that it never holds up a qsbr grace period while it sleeps.
 */
static void *mb_monitor_main(void *arg)
{
	struct mb_monitor *m = arg;
	const struct bench_peer *p = m->peer;

	for (;;) {
		struct peer_mem pm = { 0, 0 };
		uint64_t done, now;

		if (p->mem != NULL) {
			mb_tinit(p);
			p->mem(m->table, &pm);
			mb_tfini(p);
			if (pm.pending_bytes > m->peak)
				m->peak = pm.pending_bytes;
		}
		/* Acquire: pairs with the release in mb_flood(); after it, every
		 * delete of the flood has returned. */
		done = mb_load_acquire_u64(&m->done_ns);
		now = now_ns();
		/* Relaxed: mb_on_reclaim's counter, only compared with the target. */
		if (done != 0 && pm.pending_bytes == 0 &&
		    mb_load_relaxed_u64(&m->ctx->reclaimed) >= m->target) {
			m->drained_ns = now;
			break;
		}
		if (done != 0 && now - done > MB_DRAIN_WAIT_NS)
			break;
		mb_sleep_ns(MB_SAMPLE_NS);
	}
	return NULL;
}

/* One thread (main) deletes all n keys; the monitor finds the peak and the drain. */
static void mb_flood(const struct mb_opts *o, const struct bench_peer *p, void *table,
		     uint64_t n, struct mb_reclaim_ctx *ctx, struct mb_rec_row *row)
{
	struct mb_monitor m;
	uint64_t t0, t_last, errors = 0;
	int qsbr = mb_is_qsbr(p);

	memset(&m, 0, sizeof(m));
	m.peer = p;
	m.table = table;
	m.ctx = ctx;
	/* Relaxed: after barrier() no callback of earlier removals is left to count. */
	m.target = mb_load_relaxed_u64(&ctx->reclaimed) + n;
	mb_create_thread(&m.tid, mb_monitor_main, &m);
	mb_tinit(p);
	t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		errors += p->remove_stamped(table, key_of(i), now_ns()) != 1;
		if (i % o->batch == o->batch - 1)
			mb_quiescent(qsbr);
	}
	t_last = now_ns();
	mb_tfini(p);
	/* Release: pairs with the monitor's acquire; the deletes come first. */
	mb_store_release_u64(&m.done_ns, t_last);
	pthread_join(m.tid, NULL);	/* orders m.peak and m.drained_ns before our reads */
	mb_barrier(p, table);
	row->flood_entries = n;
	row->flood_delete_ms = (double)(t_last - t0) * 1e-6;
	row->peak_pending = p->mem != NULL ? (int64_t)m.peak : -1;
	row->drain_by_barrier = m.drained_ns == 0;
	row->drain_ms = (double)((m.drained_ns ? m.drained_ns : now_ns()) - t_last) * 1e-6;
	if (errors != 0)
		mb_problem("%s: flood: %" PRIu64 " deletes did not remove their key", p->name, errors);
}

/* Lag under writes, then the flood, on one table of n keys. */
int mb_reclaim_peer(const struct mb_opts *o, const struct bench_peer *p, uint64_t n,
		    struct mb_rec_row *row)
{
	struct mb_reclaim_ctx *ctx = mb_alloc(sizeof(*ctx));
	struct peer_params params = { .presize = n, .on_reclaim = mb_on_reclaim,
				      .on_reclaim_arg = ctx };
	unsigned ncpu = mb_ncpus();
	/* Half the CPUs write, the rest read; one writer for a single-writer peer. */
	unsigned nw = (p->caps & PEER_SINGLE_WRITER) || ncpu < 2 ? 1 : ncpu / 2;
	unsigned nr = ncpu > nw ? ncpu - nw : 1;
	struct mb_writer *wr = mb_alloc(nw * sizeof(*wr));
	struct bench_work w;
	struct mb_team team;
	struct mb_outcome out;
	struct mb_lat_stats lag;
	struct bench_lat *snap = mb_alloc(sizeof(*snap));
	uint64_t pairs = 0, errors = 0, count;
	double secs = (double)o->reclaim_ms * 1e-3;
	void *table;

	if (mb_build(p, &params, n, (unsigned)o->batch, o->seed, &table, NULL) != 0) {
		free(ctx);
		free(wr);
		free(snap);
		return -1;
	}
	mb_lookup_work(o, n, &w);
	mb_team_start(&team, p, table, &w, nr, nw, o->seed);
	for (unsigned i = 0; i < nw; i++) {
		wr[i].peer = p;
		wr[i].table = table;
		wr[i].n = n;
		wr[i].seed = mb_thread_seed(o->seed, MB_THREADS_MAX + i);	/* not a reader's */
		wr[i].id = i;
		wr[i].nwriters = nw;
		wr[i].batch = (unsigned)o->batch;
		wr[i].team = &team;
		mb_create_thread(&wr[i].tid, mb_writer_main, &wr[i]);
	}
	mb_team_go(&team);
	mb_sleep_ns(o->reclaim_ms * 1000000u);
	mb_team_stop(&team);
	for (unsigned i = 0; i < nw; i++) {
		pthread_join(wr[i].tid, NULL);	/* orders the writer's counters before our reads */
		pairs += wr[i].pairs;
		errors += wr[i].errors;
	}
	mb_team_join(&team, 0, &out);
	mb_barrier(p, table);	/* every value removed so far is reclaimed */
	/* Relaxed: barrier() above ordered every callback of the run before us. */
	for (unsigned b = 0; b < BENCH_LAT_BUCKETS; b++)
		snap->count[b] = mb_load_relaxed_u64(&ctx->lag.count[b]);
	mb_lat_stats_of(snap, &lag);
	count = mb_count(p, table);
	printf("# %s: %u writer(s) %.2f M remove+insert pairs/s, %u reader(s) %.2f M gets/s, "
	       "%" PRIu64 " values reclaimed\n", p->name, nw, (double)pairs / secs * 1e-6, nr,
	       out.rate * 1e-6, lag.count);
	if (errors != 0 || count != n)
		mb_problem("%s: reclaim writers: %" PRIu64 " failed operations, count %" PRIu64
			   " (expected %" PRIu64 ")", p->name, errors, count, n);
	memset(row, 0, sizeof(*row));
	row->peer = p;
	row->keys = n;
	row->lag_p50_ms = (double)lag.p50 * 1e-6;
	row->lag_p99_ms = (double)lag.p99 * 1e-6;
	row->lag_max_ms = (double)lag.max * 1e-6;
	mb_flood(o, p, table, n, ctx, row);
	mb_destroy(p, table);
	free(ctx);
	free(wr);
	free(snap);
	return 0;
}

