/* SPDX-License-Identifier: MIT */
/* selftest.c: checks that a bench/mapbench peer behaves as a map (mapbench --selftest). */

/*
 * The reference is an array over the indices [0, 2 * ST_KEYS): the value
 * each index's key must have, 0 for absent. Runs of the peer's run() (and
 * run_lookups(), one key at a time and batched) are replayed on it
 * operation by operation (the generator is deterministic), so a
 * single-threaded run must reproduce its done[] and acc exactly.
 */

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "selftest.h"

#define ST_KEYS 20000		/* a table "of ST_KEYS keys" */
#define ST_RANGE (2 * ST_KEYS)	/* indices drawn from [0, ST_RANGE) */
#define ST_RUN_MS 20		/* each timed run() */
#define ST_RECLAIM 1000		/* entries of the reclamation check */
#define ST_HELD 2000		/* inserts in one read section */
#define ST_RUN_RETRY_MS 1000	/* a lookup run that did nothing is retried up to this long */

struct st {
	const struct bench_peer *p;
	FILE *log;
	const char *part;	/* the part running, for messages */
	uint64_t *exp;		/* [ST_RANGE]: expected value, 0 absent */
};

static void st_fail(struct st *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void st_fail(struct st *s, const char *fmt, ...)
{
	va_list ap;

	fprintf(s->log, "selftest %s: %s: ", s->p->name, s->part);
	va_start(ap, fmt);
	vfprintf(s->log, fmt, ap);
	va_end(ap);
	fputc('\n', s->log);
}

/* Fails the part with a message; the caller's label "out" cleans up. */
#define ST_CHECK(s, cond, ...)							\
	do {									\
		if (!(cond)) {							\
			st_fail(s, __VA_ARGS__);				\
			goto out;						\
		}								\
	} while (0)

/* Fails the part quietly: @expr (a helper returning -1) printed why. */
#define ST_TRY(expr)								\
	do {									\
		if ((expr) != 0)						\
			goto out;						\
	} while (0)

static void st_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Every index of the reference against the table, then the count. */
static int st_verify(struct st *s, void *t, const char *when)
{
	uint64_t present = 0, n;

	for (uint64_t i = 0; i < ST_RANGE; i++) {
		uint64_t v = s->p->get(t, key_of(i));

		if (v != s->exp[i]) {
			st_fail(s, "%s: get(index %llu) = %llu, expected %llu",
				when, (unsigned long long)i, (unsigned long long)v,
				(unsigned long long)s->exp[i]);
			return -1;
		}
		present += s->exp[i] != 0;
	}
	n = s->p->count(t);
	if (n != present) {
		st_fail(s, "%s: count() = %llu, expected %llu",
			when, (unsigned long long)n, (unsigned long long)present);
		return -1;
	}
	return 0;
}

static int st_create(struct st *s, uint64_t presize, struct peer_params *pp, void **t)
{
	struct peer_params def;
	int err;

	if (!pp) {
		memset(&def, 0, sizeof(def));
		pp = &def;
	}
	pp->presize = presize;
	memset(s->exp, 0, ST_RANGE * sizeof(*s->exp));
	err = s->p->create(pp, t);
	if (err) {
		st_fail(s, "create(presize %llu) = %d", (unsigned long long)presize, err);
		return -1;
	}
	return 0;
}

/* ---- single operations -------------------------------------------------- */

static int st_ops(struct st *s, uint64_t presize)
{
	const struct bench_peer *p = s->p;
	void *t;
	int r, ret = -1;

	s->part = presize ? "operations (presized)" : "operations (growing)";
	if (st_create(s, presize, NULL, &t))
		return -1;
	ST_CHECK(s, p->count(t) == 0, "count() of a new table is not 0");
	ST_TRY(st_verify(s, t, "empty table"));
	for (uint64_t i = 0; i < ST_RANGE; i += 7)
		ST_CHECK(s, (r = p->remove(t, key_of(i))) == 0,
			 "remove(absent index %llu) = %d", (unsigned long long)i, r);
	for (uint64_t i = 0; i < ST_KEYS; i++) {
		ST_CHECK(s, (r = p->insert(t, key_of(i), i + 1)) == 1,
			 "insert(new index %llu) = %d", (unsigned long long)i, r);
		s->exp[i] = i + 1;
	}
	ST_TRY(st_verify(s, t, "after the inserts"));
	if (p->mem) {
		struct peer_mem m;

		memset(&m, 0, sizeof(m));
		p->mem(t, &m);
		/* 0: the peer cannot tell; otherwise it holds the pairs. */
		ST_CHECK(s, m.live_bytes == 0 || m.live_bytes >= ST_KEYS * 16u,
			 "mem() live_bytes %llu for %d entries",
			 (unsigned long long)m.live_bytes, ST_KEYS);
	}
	for (uint64_t i = 0; i < ST_KEYS; i += 3)
		ST_CHECK(s, (r = p->insert(t, key_of(i), i + 7)) == 0,
			 "insert(present index %llu) = %d", (unsigned long long)i, r);
	ST_TRY(st_verify(s, t, "after inserts of present keys"));
	for (uint64_t i = 0; i < ST_KEYS; i += 3) {
		ST_CHECK(s, (r = p->remove(t, key_of(i))) == 1,
			 "remove(present index %llu) = %d", (unsigned long long)i, r);
		s->exp[i] = 0;
		ST_CHECK(s, (r = p->remove(t, key_of(i))) == 0,
			 "second remove(index %llu) = %d", (unsigned long long)i, r);
	}
	ST_TRY(st_verify(s, t, "after removing every third key"));
	/* Present keys, with tombstones or moved entries around them now. */
	for (uint64_t i = 1; i < ST_KEYS; i += 3)
		ST_CHECK(s, (r = p->insert(t, key_of(i), i + 7)) == 0,
			 "insert(present index %llu) after removals = %d", (unsigned long long)i, r);
	ST_TRY(st_verify(s, t, "after inserts of present keys among removed ones"));
	/* Back with other values: no stale entry may answer. */
	for (uint64_t i = 0; i < ST_KEYS; i += 6) {
		uint64_t v = i + 1 + (UINT64_C(1) << 40);

		ST_CHECK(s, (r = p->insert(t, key_of(i), v)) == 1,
			 "insert(removed index %llu) = %d", (unsigned long long)i, r);
		s->exp[i] = v;
	}
	ST_TRY(st_verify(s, t, "after re-inserting removed keys"));
	for (uint64_t i = 0; i < ST_KEYS; i++) {
		if (!s->exp[i])
			continue;
		ST_CHECK(s, (r = p->remove(t, key_of(i))) == 1,
			 "remove(present index %llu) = %d", (unsigned long long)i, r);
		s->exp[i] = 0;
	}
	ST_TRY(st_verify(s, t, "after removing everything"));
	/* Odd indices only: different neighbours than the first time. */
	for (uint64_t i = 1; i < ST_RANGE; i += 2) {
		ST_CHECK(s, (r = p->insert(t, key_of(i), i + 1)) == 1,
			 "insert(index %llu) into an emptied table = %d", (unsigned long long)i, r);
		s->exp[i] = i + 1;
	}
	ST_TRY(st_verify(s, t, "after refilling"));
	ret = 0;
out:
	p->destroy(t);
	return ret;
}

/* ---- run() -------------------------------------------------------------- */

struct st_runner {
	const struct bench_peer *p;
	void *table;
	struct bench_work w;
	struct bench_counts out;
};

static void *st_runner_main(void *arg)
{
	struct st_runner *r = arg;

	r->p->thread_init();
	r->p->run(r->table, &r->w, &r->out);
	r->p->thread_fini();
	return NULL;
}

/* Runs r[0..n) on threads of their own for about ms, through *stop. */
static int st_run_threads(struct st *s, struct st_runner *r, int n, unsigned ms, volatile int *stop)
{
	pthread_t tid[2];
	int i, err = 0;

	/* Not a reader while it only waits (qsbr: would stall grace periods). */
	s->p->thread_fini();
	for (i = 0; i < n && !err; i++) {
		err = pthread_create(&tid[i], NULL, st_runner_main, &r[i]);
		if (err)
			break;
	}
	st_sleep_ms(ms);
	/* Read by the runs' volatile polls; the joins below order the rest. */
	__atomic_store_n(stop, 1, __ATOMIC_RELAXED);
	for (int j = 0; j < i; j++)
		pthread_join(tid[j], NULL);
	s->p->thread_init();
	if (err)
		st_fail(s, "pthread_create: %s", strerror(err));
	return err ? -1 : 0;
}

static void st_work(struct bench_work *w, uint64_t seed, unsigned get_pct, volatile int *stop)
{
	memset(w, 0, sizeof(*w));
	w->seed = seed;
	w->range = ST_RANGE;
	w->get_pct = get_pct;
	w->batch = 32;
	w->dist = BENCH_UNIFORM;
	w->stop = stop;
}

/* The counts a lone run of @w that did @ops operations produced; applies them to exp. */
static void st_replay(struct st *s, const struct bench_work *w, uint64_t ops, struct bench_counts *c)
{
	uint64_t rng = w->seed;

	memset(c, 0, sizeof(*c));
	for (uint64_t n = 0; n < ops; n++) {
		uint64_t i = bench_next_index(w, &rng);
		enum bench_op op = bench_next_op(w, &rng);

		c->ops[op]++;
		if (op == BENCH_GET) {
			c->acc += s->exp[i];
			c->done[op] += s->exp[i] != 0;
		} else if (op == BENCH_INSERT && !s->exp[i]) {
			s->exp[i] = i + 1;
			c->done[op]++;
		} else if (op == BENCH_REMOVE && s->exp[i]) {
			s->exp[i] = 0;
			c->done[op]++;
		}
	}
}

static int st_same_counts(struct st *s, const char *what, const struct bench_counts *got,
			  const struct bench_counts *want)
{
	for (int op = 0; op < 3; op++) {
		if (got->ops[op] != want->ops[op] || got->done[op] != want->done[op]) {
			st_fail(s, "%s: op %d: ops %llu done %llu, replay says ops %llu done %llu",
				what, op, (unsigned long long)got->ops[op],
				(unsigned long long)got->done[op],
				(unsigned long long)want->ops[op],
				(unsigned long long)want->done[op]);
			return -1;
		}
	}
	if (got->acc != want->acc) {
		st_fail(s, "%s: acc %llu, replay says %llu", what,
			(unsigned long long)got->acc, (unsigned long long)want->acc);
		return -1;
	}
	return 0;
}

static uint64_t st_total(const struct bench_counts *c)
{
	return c->ops[0] + c->ops[1] + c->ops[2];
}

static int st_runs(struct st *s)
{
	const struct bench_peer *p = s->p;
	volatile int stop = 0;
	struct st_runner r;
	struct bench_counts want;
	struct bench_lat *lat = calloc(1, sizeof(*lat));
	struct bench_zipf zipf;
	uint64_t lat_n = 0;
	void *t = NULL;
	int ret = -1;

	s->part = "run()";
	if (!lat) {
		st_fail(s, "out of memory");
		return -1;
	}
	if (st_create(s, 0, NULL, &t))
		goto out;
	memset(&r, 0, sizeof(r));
	r.p = p;
	r.table = t;

	/* Fill: every index of [0, ST_KEYS), on this thread. */
	st_work(&r.w, 1, 0, &stop);
	r.w.fill_first = 0;
	r.w.fill_step = 1;
	r.w.fill_count = ST_KEYS;
	p->run(t, &r.w, &r.out);
	ST_CHECK(s, r.out.ops[BENCH_INSERT] == ST_KEYS && r.out.done[BENCH_INSERT] == ST_KEYS,
		 "fill of %d new keys: ops %llu done %llu", ST_KEYS,
		 (unsigned long long)r.out.ops[BENCH_INSERT],
		 (unsigned long long)r.out.done[BENCH_INSERT]);
	for (uint64_t i = 0; i < ST_KEYS; i++)
		s->exp[i] = i + 1;
	ST_TRY(st_verify(s, t, "after the fill"));

	/* Fill again, every other index, with a batch that does not divide it. */
	r.w.fill_step = 2;
	r.w.fill_count = ST_KEYS / 2;
	r.w.batch = 7;
	p->run(t, &r.w, &r.out);
	ST_CHECK(s, r.out.done[BENCH_INSERT] == 0 && r.out.ops[BENCH_INSERT] == ST_KEYS / 2,
		 "fill of present keys: ops %llu done %llu",
		 (unsigned long long)r.out.ops[BENCH_INSERT],
		 (unsigned long long)r.out.done[BENCH_INSERT]);

	/* Mixed, uniform, with latencies, on a thread stopped after a while. */
	st_work(&r.w, 2, 50, &stop);
	r.w.lat = lat;
	if (st_run_threads(s, &r, 1, ST_RUN_MS, &stop))
		goto out;
	ST_CHECK(s, st_total(&r.out) > 0, "a mixed run did nothing in %d ms", ST_RUN_MS);
	for (unsigned b = 0; b < BENCH_LAT_BUCKETS; b++)
		lat_n += lat->count[b];
	ST_CHECK(s, lat_n == r.out.ops[BENCH_GET], "latency samples %llu for %llu gets",
		 (unsigned long long)lat_n, (unsigned long long)r.out.ops[BENCH_GET]);
	st_replay(s, &r.w, st_total(&r.out), &want);
	ST_TRY(st_same_counts(s, "mixed run", &r.out, &want));
	ST_TRY(st_verify(s, t, "after the mixed run"));

	/* Read-only, Zipf. */
	bench_zipf_init(&zipf, ST_RANGE, 0.99);
	stop = 0;
	st_work(&r.w, 3, 100, &stop);
	r.w.dist = BENCH_ZIPF;
	r.w.zipf = &zipf;
	if (st_run_threads(s, &r, 1, ST_RUN_MS / 4, &stop))
		goto out;
	st_replay(s, &r.w, st_total(&r.out), &want);
	ST_TRY(st_same_counts(s, "read-only Zipf run", &r.out, &want));
	ret = 0;
out:
	if (t)
		p->destroy(t);
	free(lat);
	return ret;
}

/* ---- batched lookups (the batch experiment) ------------------------------- */

/* A prime that shares no factor with ST_RANGE: m * ST_SCATTER % ST_RANGE
 * visits every index once, in an order unlike the table's. */
#define ST_SCATTER 7919

_Static_assert(ST_RANGE == 40000 && ST_SCATTER % 2 != 0 && ST_SCATTER % 5 != 0,
	       "ST_SCATTER is coprime to ST_RANGE, 2^6 * 5^4");

/* One get_batch of b->key[0..n) (indices idx[]) against the reference. */
static int st_batch_call(struct st *s, void *t, unsigned n, const uint64_t *idx,
			 struct bench_batch *b)
{
	long found, want = 0;

	for (unsigned j = 0; j < n; j++) {
		b->key[j] = key_of(idx[j]);
		b->val[j] = (void *)(uintptr_t)UINT64_C(0xdead);	/* must be overwritten */
		want += s->exp[idx[j]] != 0;
	}
	found = s->p->get_batch(t, n, b);
	for (unsigned j = 0; j < n; j++) {
		uint64_t v = (uint64_t)(uintptr_t)b->val[j];

		if (v != s->exp[idx[j]]) {
			st_fail(s, "get_batch of %u keys: key %u (index %llu) = %llu, expected %llu",
				n, j, (unsigned long long)idx[j], (unsigned long long)v,
				(unsigned long long)s->exp[idx[j]]);
			return -1;
		}
	}
	if (found != want) {
		st_fail(s, "get_batch of %u keys returned %ld, %ld of them present", n, found, want);
		return -1;
	}
	return 0;
}

/* Every index, in calls of several sizes, in scattered order; then repeats. */
static int st_batch_calls(struct st *s, void *t, struct bench_batch *b)
{
	static const unsigned sizes[] = { 0, 1, 3, 16, 17, 64, BENCH_BATCH_KEYS_MAX };
	uint64_t idx[BENCH_BATCH_KEYS_MAX];

	s->part = "get_batch";
	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		unsigned n = sizes[k];

		if (n == 0) {
			if (st_batch_call(s, t, 0, idx, b))
				return -1;
			continue;
		}
		for (uint64_t m = 0; m < ST_RANGE; m += n) {
			for (unsigned j = 0; j < n; j++)
				idx[j] = (m + j) * ST_SCATTER % ST_RANGE;
			if (st_batch_call(s, t, n, idx, b))
				return -1;
		}
	}
	/* The same key more than once in one call. */
	for (unsigned j = 0; j < 16; j++)
		idx[j] = ST_KEYS - 3 + j % 4;	/* two present, two absent (i % 5 == 4, i >= ST_KEYS) */
	return st_batch_call(s, t, 16, idx, b);
}

/* run_lookups one at a time and batched, each replayed against the reference. */
static int st_batch_runs(struct st *s, void *t)
{
	static const struct {
		unsigned keys, section;	/* batch_keys, lookups per read section */
	} runs[] = { { 0, 32 }, { 16, 1 }, { 16, 128 }, { 7, 32 }, { BENCH_BATCH_KEYS_MAX, 1 } };
	struct bench_peer lookups;
	volatile int stop;
	struct st_runner r;
	struct bench_counts want;
	char what[64];

	s->part = "lookup runs";
	/* st_runner_main calls run(): a copy of the peer lends it run_lookups. */
	lookups = *s->p;
	lookups.run = s->p->run_lookups;
	memset(&r, 0, sizeof(r));
	r.p = &lookups;
	r.table = t;
	for (unsigned k = 0; k < sizeof(runs) / sizeof(runs[0]); k++) {
		unsigned ms;

		snprintf(what, sizeof(what), "%u keys per call, %u per section", runs[k].keys,
			 runs[k].section);
		/* Lookups change nothing, so a run that a busy machine did not
		 * schedule at all is simply run again, for longer. */
		for (ms = ST_RUN_MS / 4;; ms *= 2) {
			stop = 0;
			st_work(&r.w, 30 + k, 100, &stop);
			r.w.batch_keys = runs[k].keys;
			r.w.batch = runs[k].section;
			if (st_run_threads(s, &r, 1, ms, &stop))
				return -1;
			if (r.out.ops[BENCH_GET] > 0 || ms >= ST_RUN_RETRY_MS)
				break;
		}
		ST_CHECK(s, r.out.ops[BENCH_GET] > 0, "%s: no lookups in %u ms", what, ms);
		ST_CHECK(s, r.out.wrong == 0, "%s: %llu wrong values or counts", what,
			 (unsigned long long)r.out.wrong);
		ST_CHECK(s, runs[k].keys == 0 || r.out.ops[BENCH_GET] % runs[k].keys == 0,
			 "%s: %llu lookups", what, (unsigned long long)r.out.ops[BENCH_GET]);
		st_replay(s, &r.w, st_total(&r.out), &want);
		ST_TRY(st_same_counts(s, what, &r.out, &want));
	}
	return 0;
out:
	return -1;
}

/* A table of [0, ST_KEYS) without every fifth index, for both batch parts. */
static int st_batch(struct st *s)
{
	const struct bench_peer *p = s->p;
	struct bench_batch *b = malloc(sizeof(*b));
	void *t = NULL;
	int r, failed = 0;

	s->part = "batched lookups";
	if (!b) {
		st_fail(s, "out of memory");
		return -1;
	}
	bench_batch_init(b);
	if (st_create(s, ST_KEYS, NULL, &t)) {
		free(b);
		return -1;
	}
	for (uint64_t i = 0; i < ST_KEYS; i++) {
		if (i % 5 == 4)
			continue;
		ST_CHECK(s, (r = p->insert(t, key_of(i), i + 1)) == 1, "insert = %d", r);
		s->exp[i] = i + 1;
	}
	failed |= st_batch_calls(s, t, b);
	failed |= st_batch_runs(s, t);
	p->destroy(t);
	free(b);
	return failed ? -1 : 0;
out:
	p->destroy(t);
	free(b);
	return -1;
}

/* ---- resize ------------------------------------------------------------- */

static int st_resize_to(struct st *s, void *t, uint64_t buckets)
{
	int err;

	for (int tries = 0; tries < 100; tries++) {
		err = s->p->resize(t, buckets);
		if (err != -EBUSY)
			break;
		if (s->p->barrier)
			s->p->barrier(t);
		else
			st_sleep_ms(1);
	}
	if (err) {
		st_fail(s, "resize(%llu) = %d", (unsigned long long)buckets, err);
		return -1;
	}
	return st_verify(s, t, "after resize()");
}

static int st_resize(struct st *s)
{
	const struct bench_peer *p = s->p;
	void *t;
	int r, ret = -1;

	s->part = "resize";
	if (st_create(s, 0, NULL, &t))
		return -1;
	for (uint64_t i = 0; i < ST_KEYS; i++) {
		ST_CHECK(s, (r = p->insert(t, key_of(i), i + 1)) == 1, "insert = %d", r);
		s->exp[i] = i + 1;
	}
	ST_TRY(st_resize_to(s, t, 4 * ST_KEYS));
	/* Load 8, not more: a table left that full makes the checks slow. */
	ST_TRY(st_resize_to(s, t, ST_KEYS / 8));
	for (uint64_t i = 0; i < ST_RANGE; i += 2) {
		if (s->exp[i]) {
			ST_CHECK(s, (r = p->remove(t, key_of(i))) == 1, "remove = %d", r);
			s->exp[i] = 0;
		} else {
			ST_CHECK(s, (r = p->insert(t, key_of(i), i + 1)) == 1, "insert = %d", r);
			s->exp[i] = i + 1;
		}
	}
	ST_TRY(st_verify(s, t, "after the updates that followed the shrink"));
	ST_TRY(st_resize_to(s, t, ST_KEYS));
	ret = 0;
out:
	p->destroy(t);
	return ret;
}

/* ---- inserts inside one read section (the bulk run) ------------------ */

/*
 * ST_HELD new keys and one present key in one section, then resize(0).
 * Fewer than ST_KEYS: a table cannot grow inside one section.
 */
static int st_held(struct st *s)
{
	const struct bench_peer *p = s->p;
	void *t;
	int r = 1, present, ret = -1;

	s->part = "inserts in one read section";
	if (st_create(s, 0, NULL, &t))
		return -1;
	p->read_lock();
	for (uint64_t i = 0; i < ST_HELD && r == 1; i++) {
		r = p->insert_held(t, key_of(i), i + 1);
		s->exp[i] = i + 1;
	}
	present = p->insert_held(t, key_of(0), 7);
	p->read_unlock();
	ST_CHECK(s, r == 1, "insert_held(new key) = %d", r);
	ST_CHECK(s, present == 0, "insert_held(present key) = %d", present);
	ST_TRY(st_verify(s, t, "after the section"));
	ST_TRY(st_resize_to(s, t, 0));
	ret = 0;
out:
	p->destroy(t);
	return ret;
}

/* ---- reclamation -------------------------------------------------------- */

struct st_reclaim {
	uint32_t calls;			/* on_reclaim calls */
	uint32_t strays;		/* ... with a value outside [1, ST_RECLAIM] */
	uint32_t hits[ST_RECLAIM];	/* by value - 1 */
	uint64_t ns[ST_RECLAIM];	/* removed_ns, by value - 1 */
};

/* Runs on the flavor's call_rcu thread. */
static void st_on_reclaim(uint64_t value, uint64_t removed_ns, void *arg)
{
	struct st_reclaim *rc = arg;

	/* Counters only; the barrier's completion orders them before the
	 * checks (pairs with the relaxed loads after p->barrier()). */
	__atomic_fetch_add(&rc->calls, 1, __ATOMIC_RELAXED);
	if (value < 1 || value > ST_RECLAIM) {
		__atomic_fetch_add(&rc->strays, 1, __ATOMIC_RELAXED);	/* as above */
		return;
	}
	__atomic_fetch_add(&rc->hits[value - 1], 1, __ATOMIC_RELAXED);	/* as above */
	__atomic_store_n(&rc->ns[value - 1], removed_ns, __ATOMIC_RELAXED);	/* as above */
}

static uint32_t st_load32(const uint32_t *p)
{
	/* After p->barrier(): see st_on_reclaim. */
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static int st_reclaim(struct st *s)
{
	const struct bench_peer *p = s->p;
	struct st_reclaim *rc = calloc(1, sizeof(*rc));
	uint64_t *stamp = calloc(ST_RECLAIM, sizeof(*stamp));
	struct peer_params pp;
	void *t = NULL;
	int r, ret = -1;

	s->part = "reclamation";
	if (!rc || !stamp) {
		st_fail(s, "out of memory");
		goto out;
	}
	if (!p->remove_stamped || !p->barrier) {
		st_fail(s, "PEER_TRACKS_RECLAIM without remove_stamped and barrier");
		goto out;
	}
	memset(&pp, 0, sizeof(pp));
	pp.on_reclaim = st_on_reclaim;
	pp.on_reclaim_arg = rc;
	if (st_create(s, 0, &pp, &t))
		goto out;
	for (uint64_t i = 0; i < ST_RECLAIM; i++)
		ST_CHECK(s, (r = p->insert(t, key_of(i), i + 1)) == 1, "insert = %d", r);
	ST_CHECK(s, p->get(t, key_of(5)) == 6, "get in a tracking table");
	for (uint64_t i = 0; i < ST_RECLAIM; i++) {
		stamp[i] = now_ns();
		ST_CHECK(s, (r = p->remove_stamped(t, key_of(i), stamp[i])) == 1,
			 "remove_stamped(present index %llu) = %d", (unsigned long long)i, r);
	}
	ST_CHECK(s, (r = p->remove_stamped(t, key_of(0), now_ns())) == 0,
		 "remove_stamped(absent) = %d", r);
	ST_CHECK(s, p->count(t) == 0, "count() = %llu after removing everything",
		 (unsigned long long)p->count(t));
	p->barrier(t);
	ST_CHECK(s, st_load32(&rc->calls) == ST_RECLAIM && st_load32(&rc->strays) == 0,
		 "after barrier(): %u on_reclaim calls (%u with unknown values), expected %d",
		 st_load32(&rc->calls), st_load32(&rc->strays), ST_RECLAIM);
	for (unsigned i = 0; i < ST_RECLAIM; i++) {
		uint64_t ns = __atomic_load_n(&rc->ns[i], __ATOMIC_RELAXED);	/* see st_load32 */

		ST_CHECK(s, st_load32(&rc->hits[i]) == 1, "value %u reclaimed %u times",
			 i + 1, st_load32(&rc->hits[i]));
		ST_CHECK(s, ns == stamp[i], "value %u: removed_ns %llu, stamped %llu",
			 i + 1, (unsigned long long)ns, (unsigned long long)stamp[i]);
	}
	if (p->mem) {
		struct peer_mem m;

		memset(&m, 0, sizeof(m));
		p->mem(t, &m);
		ST_CHECK(s, m.pending_bytes == 0, "pending_bytes %llu after barrier()",
			 (unsigned long long)m.pending_bytes);
	}
	p->destroy(t);
	t = NULL;
	ST_CHECK(s, st_load32(&rc->calls) == ST_RECLAIM,
		 "destroy() of an empty table called on_reclaim %u more times",
		 st_load32(&rc->calls) - ST_RECLAIM);
	ret = 0;
out:
	if (t)
		p->destroy(t);
	free(rc);
	free(stamp);
	return ret;
}

/* ---- two threads -------------------------------------------------------- */

#define ST_STABLE (ST_KEYS / 2)	/* [0, ST_STABLE): present throughout */
#define ST_MSG 200

struct st_shared {
	int writers_left;
	/* The readers' run() stop flag: set by the last writer, or after
	 * 2 * ST_RUN_MS, so that a lock-based peer does not spend the whole
	 * writer phase handing its lock back and forth. */
	int readers_stop;
};

struct st_worker {
	struct st *s;
	void *table;
	int writer;		/* takes part in the updates */
	unsigned part, parts;	/* owns the indices i >= ST_STABLE, i % parts == part */
	struct st_shared *sh;
	char msg[ST_MSG];	/* first failure, "" if none */
};

/* Inserted one by one first; the fill run inserts the others. */
static int st_early(uint64_t i, unsigned parts)
{
	return (i / parts) % 2 == 0;
}

static void st_worker_fail(struct st_worker *k, const char *what, uint64_t i, long long got)
{
	if (!k->msg[0])
		snprintf(k->msg, sizeof(k->msg), "thread %u: %s (index %llu): %lld",
			 k->part, what, (unsigned long long)i, got);
}

static void st_worker_write(struct st_worker *k)
{
	const struct bench_peer *p = k->s->p;
	uint64_t first = ST_STABLE + (k->part + k->parts - ST_STABLE % k->parts) % k->parts;
	uint64_t expect_fill = 0, n = 0;
	struct bench_counts c;
	struct bench_work w;
	int stop = 0, r;

	for (uint64_t i = first; i < ST_RANGE; i += k->parts, n++) {
		if (st_early(i, k->parts)) {
			if ((r = p->insert(k->table, key_of(i), i + 1)) != 1)
				st_worker_fail(k, "insert", i, r);
		} else {
			expect_fill++;
		}
	}
	st_work(&w, 10 + k->part, 0, &stop);
	w.fill_first = first;
	w.fill_step = k->parts;
	w.fill_count = n;
	p->run(k->table, &w, &c);
	if (c.done[BENCH_INSERT] != expect_fill)
		st_worker_fail(k, "fill run inserted", first, (long long)c.done[BENCH_INSERT]);
	for (uint64_t i = first; i < ST_RANGE; i += k->parts) {
		if (i % 3)
			continue;
		if ((r = p->remove(k->table, key_of(i))) != 1)
			st_worker_fail(k, "remove", i, r);
		if ((r = p->remove(k->table, key_of(i))) != 0)
			st_worker_fail(k, "second remove", i, r);
	}
	for (uint64_t i = first; i < ST_RANGE; i += k->parts) {
		uint64_t v = p->get(k->table, key_of(i));

		if (v != (i % 3 ? i + 1 : 0))
			st_worker_fail(k, "get of own key", i, (long long)v);
	}
}

/* Reads until every writer is done: stable keys must be there throughout. */
static void st_worker_read(struct st_worker *k)
{
	const struct bench_peer *p = k->s->p;
	struct bench_counts c;
	struct bench_work w;

	for (uint64_t i = ST_STABLE; i < ST_RANGE; i += 7) {
		uint64_t v = p->get(k->table, key_of(i));

		if (v != 0 && v != i + 1)
			st_worker_fail(k, "get of a changing key", i, (long long)v);
	}
	/* Read-only over the stable keys while the writers work: every get
	 * must hit. */
	st_work(&w, 100 + k->part, 100, &k->sh->readers_stop);
	w.range = ST_STABLE;
	w.batch = 64;
	p->run(k->table, &w, &c);
	if (c.done[BENCH_GET] != c.ops[BENCH_GET])
		st_worker_fail(k, "read-only run over stable keys: misses",
			       c.ops[BENCH_GET] - c.done[BENCH_GET], -1);
}

static void *st_worker_main(void *arg)
{
	struct st_worker *k = arg;

	k->s->p->thread_init();
	if (k->writer) {
		st_worker_write(k);
		/* The last writer out stops the readers' runs; the joins
		 * order everything else. */
		if (__atomic_fetch_sub(&k->sh->writers_left, 1, __ATOMIC_RELAXED) == 1)
			__atomic_store_n(&k->sh->readers_stop, 1, __ATOMIC_RELAXED);	/* as above */
	}
	st_worker_read(k);
	k->s->p->thread_fini();
	return NULL;
}

static int st_threads(struct st *s)
{
	const struct bench_peer *p = s->p;
	int concurrent = (p->caps & PEER_CONCURRENT_WRITES) != 0;
	struct st_worker k[2];
	pthread_t tid[2];
	struct st_shared sh = { .writers_left = concurrent ? 2 : 1, .readers_stop = 0 };
	int nthreads = 0, r, err = 0, ret = -1;
	void *t;

	s->part = concurrent ? "two writers" : "one writer, one reader";
	if (st_create(s, 0, NULL, &t))
		return -1;
	for (uint64_t i = 0; i < ST_STABLE; i++) {
		ST_CHECK(s, (r = p->insert(t, key_of(i), i + 1)) == 1, "insert = %d", r);
		s->exp[i] = i + 1;
	}
	for (int j = 0; j < 2; j++) {
		memset(&k[j], 0, sizeof(k[j]));
		k[j].s = s;
		k[j].table = t;
		k[j].writer = concurrent || j == 0;
		k[j].part = (unsigned)j;
		k[j].parts = concurrent ? 2 : 1;
		k[j].sh = &sh;
	}
	p->thread_fini();	/* as in st_run_threads */
	for (nthreads = 0; nthreads < 2; nthreads++) {
		err = pthread_create(&tid[nthreads], NULL, st_worker_main, &k[nthreads]);
		if (err)
			break;
	}
	st_sleep_ms(2 * ST_RUN_MS);
	/* Polled by the readers' run(); the joins order everything else. */
	__atomic_store_n(&sh.readers_stop, 1, __ATOMIC_RELAXED);
	for (int j = 0; j < nthreads; j++)
		pthread_join(tid[j], NULL);
	p->thread_init();
	ST_CHECK(s, !err, "pthread_create: %s", strerror(err));
	for (int j = 0; j < 2; j++)
		ST_CHECK(s, !k[j].msg[0], "%s", k[j].msg);
	for (uint64_t i = ST_STABLE; i < ST_RANGE; i++)
		s->exp[i] = i % 3 ? i + 1 : 0;
	ST_TRY(st_verify(s, t, "after the threads"));

	if (concurrent) {
		/* Two mixed runs at once: no update may be lost or doubled. */
		struct st_runner rr[2];
		volatile int stop = 0;
		uint64_t before = p->count(t), found = 0;
		int64_t delta = 0;

		s->part = "two mixed runs";
		for (int j = 0; j < 2; j++) {
			memset(&rr[j], 0, sizeof(rr[j]));
			rr[j].p = p;
			rr[j].table = t;
			st_work(&rr[j].w, 20 + (uint64_t)j, 50, &stop);
			rr[j].w.batch = 16;
		}
		if (st_run_threads(s, rr, 2, ST_RUN_MS, &stop))
			goto out;
		for (int j = 0; j < 2; j++)
			delta += (int64_t)rr[j].out.done[BENCH_INSERT] -
				 (int64_t)rr[j].out.done[BENCH_REMOVE];
		for (uint64_t i = 0; i < ST_RANGE; i++) {
			uint64_t v = p->get(t, key_of(i));

			ST_CHECK(s, v == 0 || v == i + 1, "get(index %llu) = %llu",
				 (unsigned long long)i, (unsigned long long)v);
			found += v != 0;
		}
		ST_CHECK(s, (int64_t)found == (int64_t)before + delta,
			 "%llu keys found, %llu before plus %lld net inserts expected",
			 (unsigned long long)found, (unsigned long long)before, (long long)delta);
		ST_CHECK(s, p->count(t) == found, "count() = %llu, %llu keys found",
			 (unsigned long long)p->count(t), (unsigned long long)found);
	}
	ret = 0;
out:
	p->destroy(t);
	return ret;
}

/* ---- the whole test, on its own thread ---------------------------------- */

struct st_main {
	struct st s;
	int ret;
	double ms;
};

static void *st_main(void *arg)
{
	struct st_main *m = arg;
	struct st *s = &m->s;
	const struct bench_peer *p = s->p;
	uint64_t t0 = now_ns();
	int failed = 0;

	p->thread_init();
	failed |= st_ops(s, ST_KEYS);
	failed |= st_ops(s, 0);
	failed |= st_runs(s);
	if (p->run_lookups != NULL && p->get_batch != NULL)
		failed |= st_batch(s);
	if (p->caps & PEER_CAN_RESIZE)
		failed |= st_resize(s);
	if (p->insert_held != NULL)
		failed |= st_held(s);
	if (p->caps & PEER_TRACKS_RECLAIM)
		failed |= st_reclaim(s);
	if (p->caps & (PEER_CONCURRENT_WRITES | PEER_SINGLE_WRITER))
		failed |= st_threads(s);
	p->thread_fini();
	m->ms = (double)(now_ns() - t0) * 1e-6;
	m->ret = failed ? -1 : 0;
	return NULL;
}

int bench_selftest(const struct bench_peer *p, FILE *log)
{
	struct st_main m;
	pthread_t tid;
	int err;

	memset(&m, 0, sizeof(m));
	m.s.p = p;
	m.s.log = log ? log : stderr;
	m.s.part = "setup";
	m.s.exp = calloc(ST_RANGE, sizeof(*m.s.exp));
	if (!m.s.exp) {
		st_fail(&m.s, "out of memory");
		return -1;
	}
	err = pthread_create(&tid, NULL, st_main, &m);
	if (err) {
		st_fail(&m.s, "pthread_create: %s", strerror(err));
		free(m.s.exp);
		return -1;
	}
	pthread_join(tid, NULL);
	free(m.s.exp);
	fprintf(m.s.log, "selftest %s: %s (%.0f ms)\n", p->name,
		m.ret ? "FAILED" : "ok", m.ms);
	return m.ret;
}
