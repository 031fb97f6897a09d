/* SPDX-License-Identifier: MIT */
/* demo.c: reader and writer threads share one map for a few seconds; every value seen is checked. */

/*
 * What it does (memb flavor):
 * - Keys are ids 0..keys-1 as byte strings: most are short ("k123"), every
 *   fourth is a 42-byte string, so both short and long keys are exercised.
 *   A further keys/8 "ghost" ids are looked up but never written: finding
 *   one is an error.
 * - Readers look up random ids in batches of LOOKUP_BATCH inside one read
 *   section (the lock is amortised over the batch, docs/embedding.md, section 2) and
 *   check that every value found was made for the id looked up.
 * - Writers apply insert, put, replace, get_or_insert, cas, delete and
 *   delete_if to random ids and check each return code against what the
 *   API allows. The mix alternates every second between a fill phase and a
 *   drain phase so that the table grows and shrinks while readers run.
 * - free_value poisons a value before freeing it, so a reader that sees a
 *   value after its grace period fails the check instead of passing quietly.
 * - At the end: a full scan against rcumap_count, the stats, rcumap_barrier
 *   and retired == reclaimed per kind, rcumap_validate, rcumap_destroy, and
 *   an account of every value allocated (freed by the map or by its writer).
 *
 * Exit: 0 when every check passed, 1 on any verification error, 2 on bad
 * options. Every output line starts with "demo: ".
 */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <urcu.h>		/* memb flavor */
#include <urcu/uatomic.h>
#include <rcumap.h>

#include "../testlib/util.h"

/* Lookups per read section: the lock/unlock pair costs about as much as a few lookups. */
#define LOOKUP_BATCH 64
/* Updates between two polls of the stop flag. */
#define WRITE_BATCH 16
/* Key buffer; the long keys are 42 bytes. */
#define KEY_BYTES 48
/* Only the first few errors are printed in full; all are counted. */
#define ERRORS_SHOWN 10
#define CHECK_MAGIC UINT64_C(0x5eedc0ffee15900d)

struct demo_key {
	uint32_t len;
	char bytes[KEY_BYTES];
};

/* What the map stores. Immutable once published. */
struct demo_value {
	uint64_t id;		/* the key id it was made for */
	uint64_t serial;	/* unique per value */
	uint64_t check;		/* check_word(id, serial); zeroed by free_value */
};

enum demo_op {
	OP_INSERT,
	OP_PUT,
	OP_REPLACE,
	OP_GET_OR_INSERT,
	OP_CAS,
	OP_DELETE,
	OP_DELETE_IF,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"insert", "put", "replace", "get_or_insert", "cas", "delete", "delete_if",
};

/* Op weights out of 100, per phase. Fill settles near 90% occupancy, drain near 15%. */
static const unsigned op_weights[2][OP_COUNT] = {
	/* fill */  { 35, 25, 10, 10, 10, 5, 5 },
	/* drain */ { 5, 5, 10, 0, 10, 60, 10 },
};
static const char *const phase_names[2] = { "fill", "drain" };

/* One per thread, cache-line aligned so counters do not share lines. */
struct worker {
	pthread_t thread;
	unsigned index;
	int is_writer;
	uint64_t rng;
	/* Counters written only by the worker, read by main with CMM_LOAD_SHARED. */
	uint64_t ops;		/* lookups (reader) or update calls (writer) */
	uint64_t hits;		/* reader: lookups that found a value */
	uint64_t errors;
	/* Writer only; read by main after join. */
	uint64_t serial;
	uint64_t allocated;	/* values made */
	uint64_t freed_own;	/* values the map did not take, freed here */
	uint64_t calls[OP_COUNT];
	uint64_t done[OP_COUNT];	/* calls that changed the map */
} __attribute__((aligned(64)));

static struct {
	struct rcumap *map;
	struct demo_key *keys;
	uint64_t nkeys;		/* ids written by writers */
	uint64_t nids;		/* nkeys plus the ghost ids */
	int stop;		/* set by main; polled by workers once per batch */
	int phase;		/* 0 fill, 1 drain; set by main every second */
	uint64_t freed_by_map;	/* free_value calls; updated with uatomic_inc */
	uint64_t errors_reported;
} g;

/* Exits: 0 for -h (text on stdout), 2 for bad options (text on stderr). */
static __attribute__((noreturn)) void usage(const char *prog, int status)
{
	fprintf(status == 0 ? stdout : stderr,
		"demo: usage: %s [-t seconds] [-r readers] [-w writers] [-k keys] [-s seed]\n"
		"demo:   -t seconds  run time, 1..86400 (default 3)\n"
		"demo:   -r readers  reader threads, 0..256 (default 2)\n"
		"demo:   -w writers  writer threads, 0..256 (default 2)\n"
		"demo:   -k keys     distinct keys written, 1..67108864 (default 100000)\n"
		"demo:   -s seed     random seed (default: from the clock; printed)\n",
		prog);
	exit(status);
}

static uint64_t check_word(uint64_t id, uint64_t serial)
{
	return mix64(id * UINT64_C(0x9e3779b97f4a7c15) ^ serial) ^ CHECK_MAGIC;
}

static int value_ok(const struct demo_value *v, uint64_t id)
{
	return v->id == id && v->check == check_word(id, v->serial);
}

static void __attribute__((format(printf, 1, 2))) report(const char *fmt, ...)
{
	va_list ap;
	char line[256];

	/* A counter, not a lock: a few lines may interleave, none is lost from the count. */
	if (uatomic_add_return(&g.errors_reported, 1) > ERRORS_SHOWN)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "demo: ERROR: %s\n", line);
}

static void report_value(const char *where, uint64_t id, const struct demo_value *v)
{
	report("%s: key id %" PRIu64 " has value %p {id %" PRIu64 ", serial %#" PRIx64
	       ", check %#" PRIx64 "}, expected id %" PRIu64 " and check %#" PRIx64,
	       where, id, (const void *)v, v->id, v->serial, v->check, id,
	       check_word(id, v->serial));
}

/* Called by the map after a grace period (usually on the call_rcu worker). */
static void free_value(void *value, void *arg)
{
	volatile struct demo_value *v = value;	/* volatile: -O2 would drop stores before free */

	(void)arg;
	v->id = ~(uint64_t)0;
	v->check = 0;
	free(value);
	/* Atomic: several threads may run callbacks; rcumap_barrier orders it before main reads it. */
	uatomic_inc(&g.freed_by_map);
}

static struct demo_value *new_value(struct worker *w, uint64_t id)
{
	struct demo_value *v = malloc(sizeof(*v));

	if (v == NULL)
		return NULL;
	v->id = id;
	v->serial = ((uint64_t)(w->index + 1) << 48) | ++w->serial;
	v->check = check_word(id, v->serial);
	w->allocated++;
	return v;
}

static void drop_value(struct worker *w, struct demo_value *v)
{
	free(v);
	w->freed_own++;
}

static void build_keys(void)
{
	for (uint64_t id = 0; id < g.nids; id++) {
		struct demo_key *k = &g.keys[id];
		int n;

		if (id % 4 == 0)
			n = snprintf(k->bytes, sizeof(k->bytes),
				     "demo-long-key-%012" PRIu64 "-padding-padding", id);
		else
			n = snprintf(k->bytes, sizeof(k->bytes), "k%" PRIu64, id);
		k->len = (uint32_t)n;
	}
}

static void *reader_main(void *arg)
{
	struct worker *w = arg;
	uint64_t ops = 0, hits = 0, errors = 0;

	rcu_register_thread();
	while (!CMM_LOAD_SHARED(g.stop)) {
		rcu_read_lock();
		for (int i = 0; i < LOOKUP_BATCH; i++) {
			uint64_t id = rng_below(&w->rng, g.nids);
			const struct demo_key *k = &g.keys[id];
			const struct demo_value *v = rcumap_get(g.map, k->bytes, k->len);

			if (v == NULL)
				continue;
			hits++;
			if (id >= g.nkeys) {
				errors++;
				report("reader: ghost key id %" PRIu64 " (never written) found, value %p",
				       id, (const void *)v);
			} else if (!value_ok(v, id)) {
				errors++;
				report_value("reader", id, v);
			}
		}
		rcu_read_unlock();
		ops += LOOKUP_BATCH;
		/* Plain single-writer counters; main reads them with CMM_LOAD_SHARED. */
		CMM_STORE_SHARED(w->ops, ops);
		CMM_STORE_SHARED(w->hits, hits);
		CMM_STORE_SHARED(w->errors, errors);
	}
	rcu_unregister_thread();
	return NULL;
}

static enum demo_op pick_op(struct worker *w)
{
	const unsigned *weights = op_weights[CMM_LOAD_SHARED(g.phase)];
	unsigned r = (unsigned)rng_below(&w->rng, 100);

	for (int op = 0; op < OP_COUNT; op++) {
		if (r < weights[op])
			return (enum demo_op)op;
		r -= weights[op];
	}
	return OP_DELETE;
}

/* One update; returns the number of verification errors it found (0 or 1). */
static int writer_step(struct worker *w, enum demo_op op, uint64_t id)
{
	const struct demo_key *k = &g.keys[id];
	struct demo_value *nv = NULL, *cur, dummy;
	void *result;
	int rc = 0, bad = 0, owned = 0;

	if (op != OP_DELETE && op != OP_DELETE_IF) {
		nv = new_value(w, id);
		if (nv == NULL) {
			report("writer: out of memory");
			return 1;
		}
	}
	w->calls[op]++;
	switch (op) {
	case OP_INSERT:
		rc = rcumap_insert(g.map, k->bytes, k->len, nv);
		owned = rc == 0;
		bad = rc != 0 && rc != -EEXIST;
		break;
	case OP_PUT:
		rc = rcumap_put(g.map, k->bytes, k->len, nv);
		owned = rc == 0;
		bad = rc != 0;
		break;
	case OP_REPLACE:
		rc = rcumap_replace(g.map, k->bytes, k->len, nv);
		owned = rc == 0;
		bad = rc != 0 && rc != -ENOENT;
		break;
	case OP_GET_OR_INSERT:
		/* The read section keeps an existing *result alive while it is checked. */
		rcu_read_lock();
		result = NULL;
		rc = rcumap_get_or_insert(g.map, k->bytes, k->len, nv, &result);
		owned = rc == 0;
		if (rc == 0) {
			bad = result != nv;
		} else if (rc == -EEXIST) {
			if (result == NULL || result == nv) {
				bad = 1;
			} else if (!value_ok(result, id)) {
				report_value("get_or_insert", id, result);
				rcu_read_unlock();
				drop_value(w, nv);
				return 1;
			}
		} else {
			bad = 1;
		}
		rcu_read_unlock();
		break;
	case OP_CAS:
		/* The read section keeps cur alive, so its address cannot be reused meanwhile. */
		rcu_read_lock();
		cur = rcumap_get(g.map, k->bytes, k->len);
		if (cur != NULL && !value_ok(cur, id)) {
			report_value("cas", id, cur);
			rcu_read_unlock();
			drop_value(w, nv);
			return 1;
		}
		if (cur != NULL) {
			rc = rcumap_cas(g.map, k->bytes, k->len, cur, nv);
			bad = rc != 0 && rc != -EAGAIN && rc != -ENOENT;
		} else {
			/* Negative control: a pointer never stored must not match. */
			rc = rcumap_cas(g.map, k->bytes, k->len, &dummy, nv);
			bad = rc != -EAGAIN && rc != -ENOENT;
		}
		owned = rc == 0;
		rcu_read_unlock();
		break;
	case OP_DELETE:
		rc = rcumap_delete(g.map, k->bytes, k->len);
		bad = rc != 0 && rc != -ENOENT;
		break;
	case OP_DELETE_IF:
		rcu_read_lock();
		cur = rcumap_get(g.map, k->bytes, k->len);
		rc = rcumap_delete_if(g.map, k->bytes, k->len, cur != NULL ? (void *)cur : &dummy);
		if (cur != NULL)
			bad = rc != 0 && rc != -EAGAIN && rc != -ENOENT;
		else
			bad = rc != -EAGAIN && rc != -ENOENT;
		rcu_read_unlock();
		break;
	default:
		break;
	}
	if (rc == 0)
		w->done[op]++;
	if (bad)
		report("writer: %s of key id %" PRIu64 " returned %d (%s)", op_names[op], id,
		       rc, rc < 0 ? strerror(-rc) : "success");
	if (nv != NULL && !owned)
		drop_value(w, nv);
	return bad;
}

static void *writer_main(void *arg)
{
	struct worker *w = arg;
	uint64_t ops = 0, errors = 0;

	rcu_register_thread();
	while (!CMM_LOAD_SHARED(g.stop)) {
		for (int i = 0; i < WRITE_BATCH; i++) {
			enum demo_op op = pick_op(w);

			errors += writer_step(w, op, rng_below(&w->rng, g.nkeys));
		}
		ops += WRITE_BATCH;
		/* Single-writer counters; main reads them with CMM_LOAD_SHARED. */
		CMM_STORE_SHARED(w->ops, ops);
		CMM_STORE_SHARED(w->errors, errors);
	}
	rcu_unregister_thread();
	return NULL;
}

static void sleep_until(const struct timespec *t0, unsigned seconds)
{
	struct timespec when = *t0;

	when.tv_sec += seconds;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &when, NULL) == EINTR)
		;
}

static void sum_counters(struct worker *ws, unsigned n, uint64_t *lookups,
			 uint64_t *updates, uint64_t *errors)
{
	*lookups = *updates = *errors = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t ops = CMM_LOAD_SHARED(ws[i].ops);

		if (ws[i].is_writer)
			*updates += ops;
		else
			*lookups += ops;
		*errors += CMM_LOAD_SHARED(ws[i].errors);
	}
}

static void print_stats(const char *when, const struct rcumap_stats *s)
{
	static const char *const kind_names[RCUMAP_STATS_KINDS] = { "bucket", "entry", "table" };

	printf("demo: stats %s: entries %zu, slots %zu, generation %" PRIu64 ", grows %" PRIu64
	       ", shrinks %" PRIu64 ", resizing %d\n", when, s->entries, s->slots, s->generation,
	       s->grows, s->shrinks, s->resizing);
	for (int k = 0; k < RCUMAP_STATS_KINDS; k++)
		printf("demo:   %-6s retired %" PRIu64 " (%" PRIu64 " B), reclaimed %" PRIu64
		       " (%" PRIu64 " B)\n", kind_names[k], s->kind[k].retired,
		       s->kind[k].retired_bytes, s->kind[k].reclaimed, s->kind[k].reclaimed_bytes);
}

/* Lookup of every id with the map quiet: values must check, count must match. */
static uint64_t final_scan(uint64_t *present)
{
	uint64_t errors = 0;

	*present = 0;
	for (uint64_t base = 0; base < g.nids; base += LOOKUP_BATCH) {
		rcu_read_lock();
		for (uint64_t id = base; id < g.nids && id < base + LOOKUP_BATCH; id++) {
			const struct demo_key *k = &g.keys[id];
			const struct demo_value *v = rcumap_get(g.map, k->bytes, k->len);

			if (v == NULL)
				continue;
			++*present;
			if (id >= g.nkeys) {
				errors++;
				report("scan: ghost key id %" PRIu64 " found", id);
			} else if (!value_ok(v, id)) {
				errors++;
				report_value("scan", id, v);
			}
		}
		rcu_read_unlock();
	}
	return errors;
}

int main(int argc, char **argv)
{
	uint64_t seconds = 3, readers = 2, writers = 2, keys = 100000, seed = 0;
	int have_seed = 0, balanced, opt, rc;
	uint64_t errors = 0, present, allocated = 0, freed_own = 0, live;
	uint64_t lookups, updates, werrors, prev_lookups = 0, prev_updates = 0;
	struct rcumap_config config = { 0 };
	struct rcumap_stats st, st2;
	struct worker *ws;
	struct timespec t0;
	unsigned nworkers;
	double prev_t, t_start, t_end;

	opterr = 0;	/* our own message below, so every line starts with "demo: " */
	while ((opt = getopt(argc, argv, ":t:r:w:k:s:h")) != -1) {
		switch (opt) {
		case 't':
			if (parse_u64(optarg, 1, 86400, &seconds))
				usage(argv[0], 2);
			break;
		case 'r':
			if (parse_u64(optarg, 0, 256, &readers))
				usage(argv[0], 2);
			break;
		case 'w':
			if (parse_u64(optarg, 0, 256, &writers))
				usage(argv[0], 2);
			break;
		case 'k':
			if (parse_u64(optarg, 1, UINT64_C(1) << 26, &keys))
				usage(argv[0], 2);
			break;
		case 's':
			if (parse_u64(optarg, 0, UINT64_MAX, &seed))
				usage(argv[0], 2);
			have_seed = 1;
			break;
		case ':':
			fprintf(stderr, "demo: option -%c needs a value\n", optopt);
			usage(argv[0], 2);
			break;
		case 'h':
			usage(argv[0], 0);
			break;
		default:
			fprintf(stderr, "demo: unknown option -%c\n", optopt);
			usage(argv[0], 2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "demo: unexpected argument '%s'\n", argv[optind]);
		usage(argv[0], 2);
	}
	if (!have_seed) {
		clock_gettime(CLOCK_REALTIME, &t0);
		seed = mix64((uint64_t)t0.tv_sec * 1000000000u + (uint64_t)t0.tv_nsec);
	}

	g.nkeys = keys;
	g.nids = keys + keys / 8 + 1;
	g.keys = calloc(g.nids, sizeof(*g.keys));
	nworkers = (unsigned)(readers + writers);
	ws = aligned_alloc(64, (nworkers + 1) * sizeof(*ws));
	if (g.keys == NULL || ws == NULL) {
		fprintf(stderr, "demo: out of memory\n");
		return 1;
	}
	memset(ws, 0, (nworkers + 1) * sizeof(*ws));
	build_keys();

	printf("demo: %" PRIu64 " s, %" PRIu64 " readers, %" PRIu64 " writers, %" PRIu64
	       " keys (+%" PRIu64 " never written), seed %" PRIu64 "\n",
	       seconds, readers, writers, keys, g.nids - g.nkeys, seed);

	rcu_register_thread();
	config.flavor = RCUMAP_FLAVOR;
	config.free_value = free_value;
	rc = rcumap_create(&config, &g.map);
	if (rc != 0) {
		fprintf(stderr, "demo: rcumap_create: %s\n", strerror(-rc));
		return 1;
	}

	for (unsigned i = 0; i < nworkers; i++) {
		struct worker *w = &ws[i];

		w->index = i;
		w->is_writer = i >= readers;
		w->rng = mix64(seed + i + 1);
		rc = pthread_create(&w->thread, NULL, w->is_writer ? writer_main : reader_main, w);
		if (rc != 0) {
			fprintf(stderr, "demo: pthread_create: %s\n", strerror(rc));
			return 1;
		}
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	t_start = prev_t = now_seconds();
	for (unsigned s = 1; s <= seconds; s++) {
		double t;

		sleep_until(&t0, s);
		t = now_seconds();
		sum_counters(ws, nworkers, &lookups, &updates, &werrors);
		rcumap_stats(g.map, &st);
		printf("demo: [%2us %-5s] lookups/s %7.2f M, updates/s %6.2f M, entries %zu, slots %zu, "
		       "generation %" PRIu64 ", errors %" PRIu64 "\n", s,
		       phase_names[CMM_LOAD_SHARED(g.phase)],
		       (double)(lookups - prev_lookups) / (t - prev_t) * 1e-6,
		       (double)(updates - prev_updates) / (t - prev_t) * 1e-6,
		       st.entries, st.slots, st.generation, werrors);
		fflush(stdout);
		prev_lookups = lookups;
		prev_updates = updates;
		prev_t = t;
		/* Workers poll the phase once per step; no ordering needed. */
		if (s < seconds)	/* the last phase runs on until the workers stop */
			CMM_STORE_SHARED(g.phase, (int)(s % 2));
	}
	/* Workers poll stop once per batch; pthread_join orders their final counters. */
	CMM_STORE_SHARED(g.stop, 1);
	for (unsigned i = 0; i < nworkers; i++)
		pthread_join(ws[i].thread, NULL);
	t_end = now_seconds();

	sum_counters(ws, nworkers, &lookups, &updates, &werrors);
	errors += werrors;
	printf("demo: total: %" PRIu64 " lookups (%.2f M/s), %" PRIu64 " updates (%.2f M/s) in %.2f s\n",
	       lookups, (double)lookups / (t_end - t_start) * 1e-6,
	       updates, (double)updates / (t_end - t_start) * 1e-6, t_end - t_start);
	if (readers > 0) {
		uint64_t hits = 0;

		for (unsigned i = 0; i < readers; i++)
			hits += ws[i].hits;
		printf("demo: readers found a value in %.1f%% of lookups\n",
		       lookups ? 100.0 * (double)hits / (double)lookups : 0.0);
	}
	for (int op = 0; op < OP_COUNT && writers > 0; op++) {
		uint64_t calls = 0, done = 0;

		for (unsigned i = (unsigned)readers; i < nworkers; i++) {
			calls += ws[i].calls[op];
			done += ws[i].done[op];
		}
		printf("demo:   %-13s %10" PRIu64 " calls, %10" PRIu64 " returned 0\n",
		       op_names[op], calls, done);
	}
	for (unsigned i = (unsigned)readers; i < nworkers; i++) {
		allocated += ws[i].allocated;
		freed_own += ws[i].freed_own;
	}

	/* The map is quiet from here on. */
	errors += final_scan(&present);
	if (present != rcumap_count(g.map)) {
		errors++;
		report("scan found %" PRIu64 " entries, rcumap_count says %zu",
		       present, rcumap_count(g.map));
	}
	printf("demo: scan: %" PRIu64 " keys present, rcumap_count %zu\n",
	       present, rcumap_count(g.map));

	rcumap_stats(g.map, &st);
	print_stats("before barrier", &st);
	if (st.entries != present) {
		errors++;
		report("stats.entries %zu != %" PRIu64 " keys present", st.entries, present);
	}

	rcu_read_lock();
	rc = rcumap_barrier(g.map);
	rcu_read_unlock();
	printf("demo: rcumap_barrier inside a read section: %d (expected %d)\n", rc, -EDEADLK);
	if (rc != -EDEADLK) {
		errors++;
		report("rcumap_barrier inside a read section returned %d, expected -EDEADLK", rc);
	}

	rc = rcumap_barrier(g.map);
	rcumap_stats(g.map, &st2);
	print_stats("after barrier", &st2);
	if (rc != 0) {
		errors++;
		report("rcumap_barrier returned %d", rc);
	}
	balanced = 1;
	for (int k = 0; k < RCUMAP_STATS_KINDS; k++) {
		if (st2.kind[k].retired != st2.kind[k].reclaimed ||
		    st2.kind[k].retired_bytes != st2.kind[k].reclaimed_bytes) {
			balanced = 0;
			errors++;
			report("kind %d: retired %" PRIu64 " (%" PRIu64 " B) != reclaimed %" PRIu64
			       " (%" PRIu64 " B) after rcumap_barrier", k, st2.kind[k].retired,
			       st2.kind[k].retired_bytes, st2.kind[k].reclaimed,
			       st2.kind[k].reclaimed_bytes);
		}
	}
	printf("demo: after barrier retired == reclaimed for every kind: %s\n",
	       balanced ? "yes" : "NO");

	/* Every value made is in the map, freed by the map, or freed by its writer. */
	live = allocated - freed_own - CMM_LOAD_SHARED(g.freed_by_map);
	printf("demo: values: %" PRIu64 " made, %" PRIu64 " freed by free_value, %" PRIu64
	       " not taken by the map, %" PRIu64 " live (map holds %" PRIu64 ")\n", allocated,
	       CMM_LOAD_SHARED(g.freed_by_map), freed_own, live, present);
	if (live != present) {
		errors++;
		report("%" PRIu64 " values unaccounted for after rcumap_barrier",
		       live - present);
	}

	rc = rcumap_validate(g.map);
	printf("demo: rcumap_validate: %d\n", rc);
	if (rc != 0) {
		errors++;
		report("rcumap_validate returned %d", rc);
	}

	rc = rcumap_destroy(g.map);
	printf("demo: rcumap_destroy: %d\n", rc);
	if (rc != 0) {
		errors++;
		report("rcumap_destroy returned %d", rc);
	}
	if (rc == 0 && allocated - freed_own != CMM_LOAD_SHARED(g.freed_by_map)) {
		errors++;
		report("after destroy: %" PRIu64 " values made and taken, %" PRIu64
		       " passed to free_value", allocated - freed_own,
		       CMM_LOAD_SHARED(g.freed_by_map));
	}

	rcu_unregister_thread();
	free(g.keys);
	free(ws);
	if (errors != 0) {
		printf("demo: FAIL: %" PRIu64 " verification errors (seed %" PRIu64 ")\n",
		       errors, seed);
		return 1;
	}
	printf("demo: PASS: no verification errors\n");
	return 0;
}
