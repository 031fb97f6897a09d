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

#include "flavor.h" /* first: the liburcu flavor header */

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rcumap.h>

#include "harness.h"

static void harness_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/*
 * testutil.h's assertions report through cmocka's fail_msg. This program
 * has no cmocka: a failed harness assertion (rcumap_barrier refusing to
 * wait in resize_retry) ends the program as a failure.
 */
#define fail_msg(...) harness_fatal(__VA_ARGS__)
#include "testutil.h"

/* ---- Parameters ---------------------------------------------------------------- */

#define NKEYS 64            /* key numbers 0..63, made by key_make: 8 to 32 bytes */
#define NVALS 4096          /* value pool; value 0 is never stored (the stranger) */
#define MIN_SLOTS 2         /* small, so that buckets overflow and shrinks go far */
#define NO_BUDGET (-1)
#define PRINT_MAX 20        /* failing runs described in detail */
#define GROUP 50            /* failure indexes per summary line */
#define SCAN_CALLS_MAX 10000

/* ---- The script --------------------------------------------------------------- */

enum sop {
	S_NONE,
	S_INSERT,
	S_PUT,              /* a new value */
	S_PUT_SAME,         /* the value already stored (a fresh one if absent) */
	S_REPLACE,
	S_CAS,              /* expected: the value stored */
	S_CAS_WRONG,        /* expected: a value never stored */
	S_CAS_SAME,         /* expected == desired == the value stored */
	S_DELETE,
	S_DELETE_IF,        /* expected: the value stored */
	S_DELETE_IF_WRONG,  /* expected: a value never stored */
	S_GET_OR_INSERT,
	S_CLEAR,
	S_RESIZE,           /* through resize_retry: -EBUSY means barrier and retry */
	S_SCAN,             /* a whole rcumap_scan traversal with updates */
	S_ITER,             /* a whole in-section iteration with updates */
};

static const char *const sop_name[] = {
	[S_NONE] = "none",
	[S_INSERT] = "insert",
	[S_PUT] = "put",
	[S_PUT_SAME] = "put-same",
	[S_REPLACE] = "replace",
	[S_CAS] = "cas",
	[S_CAS_WRONG] = "cas-wrong",
	[S_CAS_SAME] = "cas-same",
	[S_DELETE] = "delete",
	[S_DELETE_IF] = "delete_if",
	[S_DELETE_IF_WRONG] = "delete_if-wrong",
	[S_GET_OR_INSERT] = "get_or_insert",
	[S_CLEAR] = "clear",
	[S_RESIZE] = "resize",
	[S_SCAN] = "scan",
	[S_ITER] = "iterate",
};

/* Update patterns of traversals (trav_action, scan_between). */
enum pattern {
	P_MIXED,     /* every kind of update on the returned key and on others */
	P_DELETING,  /* mostly deletes: the table shrinks under the traversal */
};

struct step {
	enum sop op;
	int key;             /* key operations: the key number */
	size_t arg;          /* S_RESIZE: slots (0: the policy's choice);
			      * S_SCAN: entries per call */
	int budget;          /* allocation calls allowed (traversals: per update
			      * inside); NO_BUDGET: unlimited */
	enum pattern pattern;
};

struct script {
	struct step *s;
	size_t n, cap;
};

static void add(struct script *sc, enum sop op, int key, size_t arg, int budget,
		enum pattern pattern)
{
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? 2 * sc->cap : 256;
		struct step *s = realloc(sc->s, cap * sizeof(*s));

		if (!s)
			harness_fatal("out of memory building the script");
		sc->s = s;
		sc->cap = cap;
	}
	sc->s[sc->n++] = (struct step){ op, key, arg, budget, pattern };
}

static void key_op(struct script *sc, enum sop op, int key)
{
	add(sc, op, key, 0, NO_BUDGET, P_MIXED);
}

static void key_op_budget(struct script *sc, enum sop op, int key, int budget)
{
	add(sc, op, key, 0, budget, P_MIXED);
}

static void resize_op(struct script *sc, size_t slots, int budget)
{
	add(sc, S_RESIZE, 0, slots, budget, P_MIXED);
}

/*
 * The script. Key k is inline when k % 25 <= 8 (key_make: 8 + k % 25
 * bytes), so 0-8, 25-33 and 50-58 are inline and the rest out of line; keys
 * 2j and 2j+1 share a bucket. The reference run checks (check_coverage)
 * that each phase still does what its comment says, so that a change in
 * the library's policy cannot silently empty a phase.
 */
static void build_script(struct script *sc)
{
	int k;

	/*
	 * 1. Fill from the minimum table (2 slots). Buckets soon pass 8
	 * entries, which triggers the policy at once: automatic grows. Among
	 * them, inserts of present keys and get_or_insert of present keys.
	 */
	for (k = 0; k < 40; k++) {
		key_op(sc, S_INSERT, k);
		if (k % 8 == 7)
			key_op(sc, S_INSERT, k - 3);
		if (k % 10 == 9)
			key_op(sc, S_GET_OR_INSERT, k - 1);
	}
	for (k = 40; k < 48; k++)
		key_op(sc, S_GET_OR_INSERT, k);

	/* 2. Every kind of value update, on present and absent keys. */
	for (k = 0; k < 48; k += 5)
		key_op(sc, S_PUT, k);
	for (k = 48; k < 52; k++)
		key_op(sc, S_PUT, k);
	key_op(sc, S_PUT_SAME, 5);
	key_op(sc, S_PUT_SAME, 20);
	key_op(sc, S_PUT_SAME, 60);
	key_op(sc, S_REPLACE, 1);
	key_op(sc, S_REPLACE, 12);
	key_op(sc, S_REPLACE, 60);
	key_op(sc, S_CAS, 2);
	key_op(sc, S_CAS, 13);
	key_op(sc, S_CAS, 61);
	key_op(sc, S_CAS_WRONG, 4);
	key_op(sc, S_CAS_WRONG, 62);
	key_op(sc, S_CAS_SAME, 6);
	key_op(sc, S_CAS_SAME, 61);
	key_op(sc, S_DELETE_IF, 8);
	key_op(sc, S_DELETE_IF_WRONG, 9);
	key_op(sc, S_DELETE_IF, 62);
	key_op(sc, S_DELETE, 10);
	key_op(sc, S_DELETE, 11);
	key_op(sc, S_DELETE, 63);
	key_op(sc, S_GET_OR_INSERT, 14);
	key_op(sc, S_GET_OR_INSERT, 10);

	/*
	 * 3. Forced resizes: grow, shrink, the policy's size, the current
	 * size (nothing to do), then everything into 1 slot, rounded up to
	 * the 2 minimum slots, where the next insert overflows a bucket and
	 * the policy grows the table again.
	 */
	resize_op(sc, 128, NO_BUDGET);
	resize_op(sc, 4, NO_BUDGET);
	resize_op(sc, 0, NO_BUDGET);
	resize_op(sc, 32, NO_BUDGET);
	resize_op(sc, 32, NO_BUDGET);
	resize_op(sc, 1, NO_BUDGET);
	for (k = 52; k < 56; k++)
		key_op(sc, S_INSERT, k);

	/* 4. Mass deletes: the policy shrinks the table on the way down. */
	for (k = 0; k < 56; k++) {
		if (k % 7 == 3)
			continue;
		key_op(sc, k % 3 ? S_DELETE : S_DELETE_IF, k);
	}
	resize_op(sc, 0, NO_BUDGET);

	/*
	 * 5. Pending migrations. A grow to 128 slots whose budget runs out
	 * after a few fills: it returns -ENOMEM and the migration stays
	 * pending, with its source slots frozen. Updates with budgets that
	 * cover at most their own fill, key copy and bucket (0-3 calls) keep
	 * it pending: some fail, some succeed and drop their helping step.
	 * Then an update without a budget finishes it.
	 */
	for (k = 0; k < 48; k++)
		key_op(sc, k % 4 ? S_INSERT : S_PUT, k);
	resize_op(sc, 128, 4);
	key_op_budget(sc, S_PUT, 0, 0);
	key_op_budget(sc, S_PUT, 1, 1);
	key_op_budget(sc, S_INSERT, 48, 2);
	key_op_budget(sc, S_INSERT, 49, 3);
	key_op_budget(sc, S_DELETE, 2, 1);
	key_op_budget(sc, S_DELETE, 60, 0);
	key_op_budget(sc, S_CAS, 15, 2);
	key_op_budget(sc, S_GET_OR_INSERT, 16, 0);
	key_op_budget(sc, S_GET_OR_INSERT, 50, 3);
	key_op_budget(sc, S_REPLACE, 17, 2);
	key_op_budget(sc, S_DELETE_IF, 18, 1);
	key_op_budget(sc, S_PUT_SAME, 19, 0);
	key_op(sc, S_INSERT, 51);

	/*
	 * A pending shrink (its sources are frozen a few at a time, so
	 * updates meet both frozen and unfrozen slots), updates that keep it
	 * pending, then a forced grow: rcumap_resize finishes the shrink
	 * first, then grows at once.
	 */
	resize_op(sc, 4, 3);
	key_op_budget(sc, S_PUT, 3, 1);
	key_op_budget(sc, S_INSERT, 52, 2);
	key_op_budget(sc, S_DELETE, 4, 1);
	key_op_budget(sc, S_DELETE_IF, 5, 1);
	key_op_budget(sc, S_CAS, 6, 1);
	resize_op(sc, 64, NO_BUDGET);

	/* Clear during a pending migration: -ENOMEM removes nothing. */
	resize_op(sc, 128, 3);
	add(sc, S_CLEAR, 0, 0, 2, P_MIXED);
	key_op_budget(sc, S_PUT, 7, 1);
	add(sc, S_CLEAR, 0, 0, NO_BUDGET, P_MIXED);
	add(sc, S_CLEAR, 0, 0, NO_BUDGET, P_MIXED);
	for (k = 20; k < 44; k++)
		key_op(sc, S_INSERT, k);
	add(sc, S_CLEAR, 0, 0, NO_BUDGET, P_MIXED);
	resize_op(sc, 0, NO_BUDGET);

	/*
	 * 6. Traversals. rcumap_scan a few entries per call with every kind
	 * of update in its callback and between calls; the in-section
	 * iterator likewise; a deleting scan under which the table shrinks;
	 * then scans that start over a pending migration, whose updates
	 * (with budgets: fail some of its steps) help it along until one
	 * finishes it inside the scan's read section.
	 */
	for (k = 0; k < 48; k++)
		key_op(sc, S_PUT, k);
	add(sc, S_SCAN, 0, 5, NO_BUDGET, P_MIXED);
	add(sc, S_ITER, 0, 0, NO_BUDGET, P_MIXED);
	add(sc, S_SCAN, 0, 3, NO_BUDGET, P_DELETING);
	for (k = 0; k < 48; k += 2)
		key_op(sc, S_INSERT, k);
	resize_op(sc, 128, 5);
	add(sc, S_SCAN, 0, 4, 2, P_MIXED);
	add(sc, S_ITER, 0, 0, NO_BUDGET, P_MIXED);
	resize_op(sc, 8, 2);
	add(sc, S_SCAN, 0, 7, NO_BUDGET, P_MIXED);

	/*
	 * 7. End with a migration pending: rcumap_destroy must free both
	 * generations and every entry still in the map.
	 */
	for (k = 1; k < 40; k += 3)
		key_op(sc, S_PUT, k);
	resize_op(sc, 128, 3);
}

/* ---- Allocator: the counting allocator, plus scripted failures ------------------- */

struct fault_alloc {
	struct count_alloc ca;
	/*
	 * Calls the current operation may still pass to ca; NO_BUDGET: no
	 * limit. Only the script's thread allocates, so these fields are
	 * plain; the call_rcu thread only frees, through ca.
	 */
	long budget;
	unsigned long scripted;   /* calls failed by a budget */
	unsigned op;              /* number of the operation running (0: create) */
	long injected_op;         /* operation the first injected failure hit; -1 */
	bool record;              /* reference run: record op_of_call */
	unsigned *op_of_call;     /* op_of_call[c]: operation that made call c */
	size_t cap;
};

static void *fa_alloc(size_t size, enum rcumap_kind kind, void *arg)
{
	struct fault_alloc *fa = arg;
	unsigned long call, injected;
	void *p;

	if (fa->budget == 0) {
		fa->scripted++;
		return NULL;
	}
	if (fa->budget > 0)
		fa->budget--;
	call = atomic_load(&fa->ca.calls);
	injected = atomic_load(&fa->ca.injected);
	if (fa->record) {
		if (call >= fa->cap) {
			size_t cap = fa->cap ? 2 * fa->cap : 1024;
			unsigned *o = realloc(fa->op_of_call, cap * sizeof(*o));

			if (!o)
				harness_fatal("out of memory recording allocation calls");
			fa->op_of_call = o;
			fa->cap = cap;
		}
		fa->op_of_call[call] = fa->op;
	}
	p = ca_alloc(size, kind, &fa->ca);
	if (fa->injected_op < 0 && atomic_load(&fa->ca.injected) != injected)
		fa->injected_op = fa->op;
	return p;
}

static void fa_free(void *ptr, size_t size, enum rcumap_kind kind, void *arg)
{
	struct fault_alloc *fa = arg;

	ca_free(ptr, size, kind, &fa->ca);
}

/* ---- One run -------------------------------------------------------------------- */

struct key {
	unsigned char b[KEY_BUF];
	size_t len;
};

static struct key keys[NKEYS];
static struct script script;

/* One operation, resolved against the model when it is about to run. */
struct op {
	enum sop kind;
	int key;
	size_t slots;         /* S_RESIZE */
	struct tval *val;     /* the value offered (desired for cas) */
	struct tval *exp;     /* expected value of cas and delete_if */
	int budget;
	unsigned no;          /* its number in the run, from 1 */
	const char *where;    /* "", or where inside a traversal it ran */
};

/* A traversal in progress: what it may and must return (rcumap.h, A-E). */
struct trav {
	bool active;
	bool in_section;           /* updates now run inside its read section */
	unsigned no;               /* stamps the values stored during it */
	enum pattern pattern;
	int budget;
	unsigned returned;         /* entries returned so far */
	const char *name;          /* "scan" or "iteration", for reports */
	const char *where;         /* where its updates run, for reports */
	struct tval *start[NKEYS]; /* the model when it began */
	bool stable[NKEYS];        /* present at the start and never removed since */
	unsigned seen[NKEYS];
};

/* What happened, for the summaries and the reference run's coverage checks. */
struct tally {
	unsigned long enomem;          /* operations that returned -ENOMEM */
	unsigned long dropped;         /* succeeded although an allocation failed in them */
	unsigned long create_failed;
	unsigned long pending_ops;     /* operations that began with a migration pending */
	unsigned long resumed;         /* updates that began pending and ended not */
	unsigned long pending_enomem;  /* updates that began pending and returned -ENOMEM */
	unsigned long pending_dropped; /* ... succeeded with a failed allocation, still pending */
	unsigned long auto_grows, auto_shrinks;     /* done by updates */
	unsigned long forced_grows, forced_shrinks; /* done by rcumap_resize */
	unsigned long clear_enomem;    /* clear refused during a pending migration */
	unsigned long trav_updates;    /* updates inside traversal read sections */
	unsigned long trav_switches;   /* generation switches inside them */
	unsigned long trav_skipped;    /* updates a traversal left out (gate unsettled) */
	unsigned long barriers;        /* waits for the gate to settle */
	unsigned long pending_at_destroy;
	unsigned long kind_allocs[CA_KINDS];
};

struct run {
	long fail_at;              /* -1: the reference run */
	bool persistent;
	FILE *trace;               /* -v, reference run: one line per operation */
	char *trace_buf;
	size_t trace_len;
	struct fault_alloc fa;
	struct tracker tr;
	struct rcumap *map;
	struct tval *model[NKEYS];
	size_t next_val;           /* next fresh value of the pool */
	unsigned op_no;
	uint64_t clean_gen;        /* generation current at the last barrier */
	unsigned trav_no;
	struct trav trav;
	unsigned val_trav[NVALS];  /* traversal during which the value was stored */
	int val_key[NVALS];        /* ... for that key */
	struct tally t;

	bool failed;
	char first[768];           /* the first discrepancy */
	char op_desc[160];         /* the operation it happened in */
	char ctx[96];              /* where a check outside any operation runs */
};

static struct tval *stranger(struct run *r)
{
	return &r->tr.v[0];
}

static struct tval *fresh(struct run *r)
{
	if (r->next_val >= NVALS)
		harness_fatal("value pool of %d exhausted: raise NVALS", NVALS);
	return &r->tr.v[r->next_val++];
}

static const char *vname(const struct run *r, const struct tval *v, char buf[32])
{
	uintptr_t lo = (uintptr_t)r->tr.v, hi = (uintptr_t)(r->tr.v + r->tr.n);

	if (!v)
		snprintf(buf, 32, "absent");
	else if ((uintptr_t)v < lo || (uintptr_t)v >= hi)
		snprintf(buf, 32, "foreign %p", (const void *)v);
	else
		snprintf(buf, 32, "#%zu", (size_t)(v - r->tr.v));
	return buf;
}

static bool key_kind(enum sop k)
{
	return k != S_NONE && k != S_CLEAR && k != S_RESIZE && k != S_SCAN && k != S_ITER;
}

static void describe(const struct run *r, const struct op *o, char *buf, size_t size)
{
	char v[32], e[32];
	int n;

	if (o->kind == S_RESIZE)
		n = snprintf(buf, size, "op %u resize(%zu)", o->no, o->slots);
	else if (o->kind == S_CLEAR)
		n = snprintf(buf, size, "op %u clear()", o->no);
	else if (o->exp)
		n = snprintf(buf, size, "op %u %s(key %d, %zu bytes, expected %s%s%s)",
			     o->no, sop_name[o->kind], o->key, keys[o->key].len,
			     vname(r, o->exp, e), o->val ? ", desired " : "",
			     o->val ? vname(r, o->val, v) : "");
	else
		n = snprintf(buf, size, "op %u %s(key %d, %zu bytes%s%s)", o->no,
			     sop_name[o->kind], o->key, keys[o->key].len,
			     o->val ? ", value " : "", o->val ? vname(r, o->val, v) : "");
	if (n >= 0 && (size_t)n < size && o->budget != NO_BUDGET)
		n += snprintf(buf + n, size - n, " [budget %d]", o->budget);
	if (n >= 0 && (size_t)n < size && o->where[0])
		snprintf(buf + n, size - n, " %s", o->where);
}

/* Record the run's first discrepancy; later ones only follow from it. */
static void discrepancy(struct run *r, const struct op *o, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void discrepancy(struct run *r, const struct op *o, const char *fmt, ...)
{
	va_list ap;

	if (r->failed)
		return;
	r->failed = true;
	if (o)
		describe(r, o, r->op_desc, sizeof(r->op_desc));
	else
		snprintf(r->op_desc, sizeof(r->op_desc), "%s", r->ctx);
	va_start(ap, fmt);
	vsnprintf(r->first, sizeof(r->first), fmt, ap);
	va_end(ap);
}

static struct rcumap_stats stats_of(struct run *r)
{
	struct rcumap_stats st;

	if (rcumap_stats(r->map, &st))
		harness_fatal("rcumap_stats refused a live map");
	return st;
}

/* The key number of a key the map returned, or -1 if it is none of the script's. */
static int key_number(const void *key, size_t len)
{
	uint64_t i = key_index(key, len);

	if (i >= NKEYS || len != keys[i].len || memcmp(key, keys[i].b, len))
		return -1;
	return (int)i;
}

/*
 * The map equals the model: every key's lookup, the count, one full
 * iteration (each model pair exactly once and nothing else), validate, and
 * no value the model holds has been freed. May run inside a traversal's
 * read section: it only nests read sections and never waits.
 */
static void check_map(struct run *r, const struct op *o)
{
	struct rcumap_iter it;
	unsigned seen[NKEYS] = { 0 };
	size_t want = 0, got = 0;
	char a[32], b[32];
	const void *key;
	size_t len;
	void *value;
	int rc;

	for (int k = 0; k < NKEYS; k++) {
		struct tval *v = r->model[k];

		if (!v)
			continue;
		want++;
		if (tval_freed(v) || v->magic != TVAL_LIVE)
			discrepancy(r, o, "value %s of key %d was passed to free_value while the map holds it",
				    vname(r, v, a), k);
	}
	test_reader_enter();
	for (int k = 0; k < NKEYS && !r->failed; k++) {
		void *v = rcumap_get(r->map, keys[k].b, keys[k].len);

		if (v != r->model[k])
			discrepancy(r, o, "map differs from model: get(key %d) returned %s, model has %s",
				    k, vname(r, v, a), vname(r, r->model[k], b));
	}
	rc = rcumap_iter_init(r->map, &it);
	if (rc)
		discrepancy(r, o, "rcumap_iter_init returned %s", errname(rc));
	while (!rc && !r->failed && (rc = rcumap_iter_next(r->map, &it, &key, &len, &value)) == 1) {
		int k = key_number(key, len);

		rc = 0;
		got++;
		if (k < 0)
			discrepancy(r, o, "map differs from model: iteration returned a key "
				    "of %zu bytes that was never stored", len);
		else if (seen[k]++)
			discrepancy(r, o, "map differs from model: iteration returned key %d twice", k);
		else if (value != r->model[k])
			discrepancy(r, o, "map differs from model: iteration returned key %d with %s, model has %s",
				    k, vname(r, value, a), vname(r, r->model[k], b));
	}
	if (rc < 0)
		discrepancy(r, o, "rcumap_iter_next returned %s", errname(rc));
	test_reader_leave();
	if (r->failed)
		return;
	/* Every pair returned was the model's and none twice: count them. */
	if (got != want)
		discrepancy(r, o, "map differs from model: iteration returned %zu entries, model has %zu",
			    got, want);
	else if (rcumap_count(r->map) != want)
		discrepancy(r, o, "map differs from model: rcumap_count says %zu, model has %zu",
			    rcumap_count(r->map), want);
	else if ((rc = rcumap_validate(r->map)) != 0)
		discrepancy(r, o, "rcumap_validate returned %s (its report is on stderr)",
			    errname(rc));
}

/* Set key k to v (NULL: remove) in the model. */
static void model_set(struct run *r, int k, struct tval *v)
{
	if (r->model[k] == v)
		return;
	r->model[k] = v;
	if (v) {
		v->owned = true;
		if (r->trav.active) {
			r->val_trav[v->id] = r->trav.no;
			r->val_key[v->id] = k;
		}
	}
	/* Guarantee B covers keys present throughout, whatever their values. */
	if (r->trav.active && !v)
		r->trav.stable[k] = false;
}

/* Make the operation a step asks for, against the model as it is now. */
static void resolve(struct run *r, struct op *o, enum sop kind, int key, size_t slots,
		    int budget, const char *where)
{
	struct tval *cur;

	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->key = key;
	o->slots = slots;
	o->budget = budget;
	o->where = where;
	cur = key_kind(kind) ? r->model[key] : NULL;
	switch (kind) {
	case S_INSERT:
	case S_PUT:
	case S_REPLACE:
	case S_GET_OR_INSERT:
		o->val = fresh(r);
		break;
	case S_PUT_SAME:
		o->val = cur ? cur : fresh(r);
		break;
	case S_CAS:
		o->exp = cur ? cur : stranger(r);
		o->val = fresh(r);
		break;
	case S_CAS_WRONG:
		o->exp = stranger(r);
		o->val = fresh(r);
		break;
	case S_CAS_SAME:
		o->exp = o->val = cur ? cur : stranger(r);
		break;
	case S_DELETE_IF:
		o->exp = cur ? cur : stranger(r);
		break;
	case S_DELETE_IF_WRONG:
		o->exp = stranger(r);
		break;
	default:
		break;
	}
}

/* What the model says the operation returns. */
static int model_expect(const struct run *r, const struct op *o)
{
	struct tval *cur = key_kind(o->kind) ? r->model[o->key] : NULL;

	switch (o->kind) {
	case S_INSERT:
	case S_GET_OR_INSERT:
		return cur ? -EEXIST : 0;
	case S_REPLACE:
	case S_DELETE:
		return cur ? 0 : -ENOENT;
	case S_CAS:
	case S_CAS_WRONG:
	case S_CAS_SAME:
	case S_DELETE_IF:
	case S_DELETE_IF_WRONG:
		return !cur ? -ENOENT : cur != o->exp ? -EAGAIN : 0;
	default:
		return 0;
	}
}

/* Apply a successful operation to the model. */
static void model_apply(struct run *r, const struct op *o)
{
	switch (o->kind) {
	case S_DELETE:
	case S_DELETE_IF:
	case S_DELETE_IF_WRONG:
		model_set(r, o->key, NULL);
		break;
	case S_CLEAR:
		for (int k = 0; k < NKEYS; k++)
			model_set(r, k, NULL);
		break;
	case S_RESIZE:
		break;
	default:
		model_set(r, o->key, o->val);
		break;
	}
}

static int call_op(struct run *r, const struct op *o, void **result)
{
	const struct key *k = &keys[o->key];
	struct rcumap *m = r->map;

	switch (o->kind) {
	case S_INSERT:
		return rcumap_insert(m, k->b, k->len, o->val);
	case S_PUT:
	case S_PUT_SAME:
		return rcumap_put(m, k->b, k->len, o->val);
	case S_REPLACE:
		return rcumap_replace(m, k->b, k->len, o->val);
	case S_CAS:
	case S_CAS_WRONG:
	case S_CAS_SAME:
		return rcumap_cas(m, k->b, k->len, o->exp, o->val);
	case S_DELETE:
		return rcumap_delete(m, k->b, k->len);
	case S_DELETE_IF:
	case S_DELETE_IF_WRONG:
		return rcumap_delete_if(m, k->b, k->len, o->exp);
	case S_GET_OR_INSERT:
		return rcumap_get_or_insert(m, k->b, k->len, o->val, result);
	case S_CLEAR:
		return rcumap_clear(m);
	case S_RESIZE:
		return resize_retry(m, o->slots);
	default:
		harness_fatal("operation %d is not a map call", (int)o->kind);
	}
}

static size_t slots_round(size_t slots)
{
	size_t s = MIN_SLOTS;

	while (s < slots)
		s <<= 1;
	return s;
}

/*
 * Could the update about to run start a migration, if the gate let it?
 * Mirrors the policy of docs/design.md ("Resize policy"): grow when the
 * load passes 2, shrink when it falls under 1/4 above min_slots. The update
 * changes the count by at most one before it checks. When in doubt the
 * answer is yes: that only costs a wait. If the mirror ever answers no
 * wrongly, the determinism check of the sweep reports it.
 */
static bool policy_may_resize(size_t count, size_t slots)
{
	for (size_t c = count ? count - 1 : 0; c <= count + 1; c++)
		if (c > 2 * slots || (slots > MIN_SLOTS && 4 * c < slots))
			return true;
	return false;
}

/*
 * Settling reclamation (see the top of this file; the library's old gate
 * made this necessary, and it is kept as a guard): an update that may start
 * a migration while a retired generation may still be pending first waits
 * for it (rcumap_barrier) when allowed to wait, or else answers false: the
 * caller, inside a read section, leaves the update out. Waiting after every switch would do too, but each
 * wait costs the call_rcu thread's batching delay (10 ms).
 * rcumap_resize needs no wait: an -EBUSY comes before any allocation, and
 * resize_retry retries it after a barrier. *stp receives the map's stats.
 */
static bool gate_settled(struct run *r, bool may_wait, struct rcumap_stats *stp)
{
	struct rcumap_stats st = stats_of(r);

	*stp = st;
	if (st.generation == r->clean_gen || st.resizing ||
	    !policy_may_resize(st.entries, st.slots))
		return true;
	if (!may_wait)
		return false;
	if (rcumap_barrier(r->map))
		harness_fatal("rcumap_barrier refused to wait outside a read section");
	r->clean_gen = st.generation;
	r->t.barriers++;
	return true;
}

/* Sentinel for get_or_insert's *result: must stay untouched on -ENOMEM. */
static char result_sentinel;

/* Run one operation and check it, its effect and the whole map. */
static void run_op(struct run *r, struct op *o)
{
	struct rcumap_stats st0, st;
	void *result = &result_sentinel;
	unsigned long injected0, scripted0, failed, waits0 = r->t.barriers;
	int want = model_expect(r, o), rc;
	char a[32], b[32], desc[160];

	if (!key_kind(o->kind))
		st0 = stats_of(r);
	else if (!gate_settled(r, !r->trav.in_section, &st0))
		harness_fatal("an update inside a read section while the gate is unsettled");
	o->no = ++r->op_no;
	injected0 = atomic_load(&r->fa.ca.injected);
	scripted0 = r->fa.scripted;
	r->fa.op = o->no;
	r->fa.budget = o->budget;
	rc = call_op(r, o, &result);
	r->fa.budget = NO_BUDGET;
	failed = atomic_load(&r->fa.ca.injected) - injected0 + r->fa.scripted - scripted0;
	st = stats_of(r);

	if (rc == -ENOMEM) {
		r->t.enomem++;
		if (!failed)
			discrepancy(r, o, "expected %s, got -ENOMEM although no allocation failed in it",
				    errname(want));
		else if (result != &result_sentinel)
			discrepancy(r, o, "-ENOMEM, but *result was set to %s",
				    vname(r, result, a));
	} else if (rc != want) {
		discrepancy(r, o, "expected %s%s, got %s", errname(want),
			    failed ? " (or -ENOMEM)" : "", errname(rc));
	} else {
		if (failed)
			r->t.dropped++;
		if (o->kind == S_GET_OR_INSERT) {
			void *w = rc ? (void *)r->model[o->key] : (void *)o->val;

			if (result != w)
				discrepancy(r, o, "returned %s with *result %s, expected %s",
					    errname(rc), result == &result_sentinel ? "untouched"
					    : vname(r, result, a), vname(r, w, b));
		}
		if (o->kind == S_RESIZE && st.resizing)
			discrepancy(r, o, "returned 0 with a migration still pending");
		else if (o->kind == S_RESIZE && o->slots && st.slots != slots_round(o->slots))
			discrepancy(r, o, "returned 0 but the table has %zu slots, not %zu",
				    st.slots, slots_round(o->slots));
		if (rc == 0)
			model_apply(r, o);
	}
	check_map(r, o);

	/* Coverage: what the operation met and did. */
	if (st0.resizing) {
		r->t.pending_ops++;
		if (key_kind(o->kind) && !st.resizing)
			r->t.resumed++;
		if (key_kind(o->kind) && rc == -ENOMEM)
			r->t.pending_enomem++;
		if (key_kind(o->kind) && rc != -ENOMEM && failed && st.resizing)
			r->t.pending_dropped++;
	}
	if (o->kind == S_CLEAR && rc == -ENOMEM)
		r->t.clear_enomem++;
	if (o->kind == S_RESIZE) {
		r->t.forced_grows += st.grows - st0.grows;
		r->t.forced_shrinks += st.shrinks - st0.shrinks;
	} else {
		r->t.auto_grows += st.grows - st0.grows;
		r->t.auto_shrinks += st.shrinks - st0.shrinks;
	}
	if (r->trav.in_section) {
		r->t.trav_updates++;
		r->t.trav_switches += st.generation != st0.generation;
	}
	if (r->trace) {
		describe(r, o, desc, sizeof(desc));
		fprintf(r->trace, "faults: reference %s: %s (failed allocations %lu) -> %zu entries, "
			"%zu slots%s%s\n", desc, errname(rc), failed, st.entries, st.slots,
			st.resizing ? ", migration pending" : "",
			r->t.barriers != waits0 ? "; waited for the gate first" : "");
	}
}

/* ---- Traversals ------------------------------------------------------------------ */

static void trav_begin(struct run *r, const struct step *s, const char *name,
		       const char *where)
{
	struct trav *t = &r->trav;

	snprintf(r->ctx, sizeof(r->ctx), "the %s that began after op %u", name, r->op_no);
	memset(t, 0, sizeof(*t));
	t->active = true;
	t->no = ++r->trav_no;
	t->pattern = s->pattern;
	t->budget = s->budget;
	t->name = name;
	t->where = where;
	for (int k = 0; k < NKEYS; k++) {
		t->start[k] = r->model[k];
		t->stable[k] = r->model[k] != NULL;
	}
}

/*
 * The update a traversal makes after returning its j-th entry, key k. Each
 * names the key it works on: the returned one or another, so that inserts
 * land both behind and ahead of the cursor.
 */
static enum sop trav_action(enum pattern p, unsigned j, int k, int *key)
{
	static const struct { enum sop op; bool other; } mixed[] = {
		{ S_DELETE, false }, { S_PUT, false }, { S_NONE, false },
		{ S_INSERT, true }, { S_CAS, false }, { S_GET_OR_INSERT, true },
		{ S_REPLACE, false }, { S_DELETE_IF, false }, { S_PUT_SAME, false },
		{ S_PUT, true },
	};
	static const struct { enum sop op; bool other; } deleting[] = {
		{ S_DELETE, false }, { S_DELETE, true }, { S_NONE, false },
		{ S_DELETE_IF, false },
	};

	if (p == P_DELETING) {
		unsigned i = j % (sizeof(deleting) / sizeof(deleting[0]));

		*key = deleting[i].other ? (k * 5 + 7) % NKEYS : k;
		return deleting[i].op;
	}
	j %= sizeof(mixed) / sizeof(mixed[0]);
	*key = mixed[j].other ? (k * 5 + 7) % NKEYS : k;
	return mixed[j].op;
}

/* One entry returned by a traversal: check it, then maybe update. */
static void trav_visit(struct run *r, const void *key, size_t len, void *value)
{
	struct trav *t = &r->trav;
	int k = key_number(key, len), uk;
	struct tval *v = value;
	struct rcumap_stats st;
	enum sop act;
	char a[32];

	if (r->failed)
		return;
	t->returned++;
	if (k < 0) {
		discrepancy(r, NULL, "%s returned a key of %zu bytes that was never stored",
			    t->name, len);
		return;
	}
	if (t->seen[k]++) {
		discrepancy(r, NULL, "%s returned key %d twice (guarantee C)", t->name, k);
		return;
	}
	/* Guarantee D: a value the key had at some instant of the traversal. */
	if (v != t->start[k] &&
	    ((uintptr_t)v < (uintptr_t)r->tr.v || (uintptr_t)v >= (uintptr_t)(r->tr.v + r->tr.n) ||
	     r->val_trav[v->id] != t->no || r->val_key[v->id] != k)) {
		discrepancy(r, NULL, "%s returned key %d with %s, a value it never had during the traversal",
			    t->name, k, vname(r, v, a));
		return;
	}
	act = trav_action(t->pattern, t->returned - 1, k, &uk);
	if (act == S_NONE)
		return;
	if (!gate_settled(r, false, &st)) {
		r->t.trav_skipped++;
		return;
	}
	{
		struct op o;

		resolve(r, &o, act, uk, 0, t->budget, t->where);
		run_op(r, &o);
	}
}

/* Guarantee B: every key present throughout was returned (exactly once: C). */
static void trav_end(struct run *r)
{
	struct trav *t = &r->trav;

	for (int k = 0; k < NKEYS && !r->failed; k++)
		if (t->stable[k] && t->seen[k] != 1)
			discrepancy(r, NULL, "%s never returned key %d, present throughout "
				    "(guarantee B)", t->name, k);
	t->active = false;
}

static void scan_cb(const void *key, size_t len, void *value, void *arg)
{
	trav_visit(arg, key, len, value);
}

/* The update a scan makes between calls, c counting them. */
static void scan_between(struct run *r, unsigned c)
{
	enum pattern p = r->trav.pattern;
	struct op o;
	enum sop act;
	int k;

	if (p == P_DELETING) {
		act = S_DELETE;
		k = (int)(c * 5 + 2) % NKEYS;
	} else {
		act = c % 3 == 0 ? S_INSERT : c % 3 == 1 ? S_DELETE : S_PUT;
		k = (int)(c * 13 + 1) % NKEYS;
	}
	resolve(r, &o, act, k, 0, r->trav.budget, "between scan calls");
	run_op(r, &o);
}

/*
 * A whole rcumap_scan traversal: each call returns about s->arg entries
 * and updates after some of them in its callback (inside the call's read
 * section); between calls, one more update.
 */
static void run_scan(struct run *r, const struct step *s)
{
	uint64_t cursor = 0;
	unsigned calls = 0;
	int rc;

	trav_begin(r, s, "scan", "in a scan callback");
	do {
		r->trav.in_section = true;
		rc = rcumap_scan(r->map, &cursor, s->arg, scan_cb, r);
		r->trav.in_section = false;
		if (rc) {
			discrepancy(r, NULL, "rcumap_scan returned %s", errname(rc));
			break;
		}
		if (cursor && !r->failed)
			scan_between(r, calls);
		test_quiesce();  /* qsbr: let grace periods end */
	} while (cursor && !r->failed && ++calls < SCAN_CALLS_MAX);
	if (cursor && !r->failed)
		discrepancy(r, NULL, "rcumap_scan did not finish in %d calls", SCAN_CALLS_MAX);
	trav_end(r);
}

/* A whole in-section iteration, updating after some entries. */
static void run_iter(struct run *r, const struct step *s)
{
	struct rcumap_iter it;
	const void *key;
	size_t len;
	void *value;
	int rc;

	trav_begin(r, s, "iteration", "in an iteration");
	test_reader_enter();
	r->trav.in_section = true;
	rc = rcumap_iter_init(r->map, &it);
	while (!rc && !r->failed && (rc = rcumap_iter_next(r->map, &it, &key, &len, &value)) == 1) {
		rc = 0;
		trav_visit(r, key, len, value);
	}
	r->trav.in_section = false;
	test_reader_leave();
	if (rc < 0)
		discrepancy(r, NULL, "rcumap_iter returned %s", errname(rc));
	trav_end(r);
	test_quiesce();  /* qsbr: let grace periods end */
}

/* ---- The run itself ---------------------------------------------------------------- */

static void run_script(struct run *r)
{
	struct rcumap_config cfg = {
		.flavor = RCUMAP_FLAVOR,
		.free_value = tracker_free_value,
		.free_value_arg = &r->tr,
		.hash = hash_pairs,
		.min_slots = MIN_SLOTS,
		.alloc = fa_alloc,
		.free = fa_free,
		.alloc_arg = &r->fa,
	};
	struct rcumap *sentinel = (struct rcumap *)&result_sentinel;
	struct rcumap *map = sentinel;
	int rc;

	ca_init(&r->fa.ca);
	r->fa.budget = NO_BUDGET;
	r->fa.injected_op = -1;
	tracker_init(&r->tr, NVALS);
	if (r->tr.n != NVALS)
		harness_fatal("out of memory for the value pool");
	r->next_val = 1;  /* 0 is the stranger, never stored */
	if (r->fail_at >= 0)
		ca_arm(&r->fa.ca, (unsigned long)r->fail_at, r->persistent);

	snprintf(r->ctx, sizeof(r->ctx), "rcumap_create");
	rc = rcumap_create(&cfg, &map);
	if (rc) {
		r->t.create_failed++;
		ca_disarm(&r->fa.ca);
		if (rc != -ENOMEM || !atomic_load(&r->fa.ca.injected))
			discrepancy(r, NULL, "rcumap_create returned %s%s", errname(rc),
				    atomic_load(&r->fa.ca.injected) ? ", expected -ENOMEM"
				    : " with no failed allocation");
		else if (map != sentinel)
			discrepancy(r, NULL, "rcumap_create returned -ENOMEM but set *out");
		else if (atomic_load(&r->fa.ca.allocs) != atomic_load(&r->fa.ca.frees))
			discrepancy(r, NULL, "rcumap_create returned -ENOMEM and left %lu allocations unfreed",
				    atomic_load(&r->fa.ca.allocs) - atomic_load(&r->fa.ca.frees));
		goto out;
	}
	r->map = map;
	r->clean_gen = stats_of(r).generation;

	for (size_t i = 0; i < script.n && !r->failed; i++) {
		const struct step *s = &script.s[i];
		struct op o;

		switch (s->op) {
		case S_SCAN:
			run_scan(r, s);
			break;
		case S_ITER:
			run_iter(r, s);
			break;
		default:
			resolve(r, &o, s->op, s->key, s->arg, s->budget, "");
			run_op(r, &o);
			test_quiesce();  /* qsbr: let grace periods end */
			break;
		}
	}
	snprintf(r->ctx, sizeof(r->ctx), "after the script (%u ops), at destroy", r->op_no);
	r->fa.budget = NO_BUDGET;
	ca_disarm(&r->fa.ca);
	if (stats_of(r).resizing)
		r->t.pending_at_destroy++;
	for (int k = 0; k < CA_KINDS; k++)
		r->t.kind_allocs[k] = atomic_load(&r->fa.ca.kind_allocs[k]);

	rc = rcumap_destroy(r->map);
	r->map = NULL;
	if (rc)
		harness_fatal("rcumap_destroy returned %s", errname(rc));
	if (r->failed)
		goto out;  /* the model is stale: the accounts below would only repeat it */
	for (int k = 0; k < CA_KINDS && !r->failed; k++)
		if (atomic_load(&r->fa.ca.kind_allocs[k]) != atomic_load(&r->fa.ca.kind_frees[k]))
			discrepancy(r, NULL, "leak after destroy: allocation kind %d: %lu allocated, %lu freed",
				    k, atomic_load(&r->fa.ca.kind_allocs[k]),
				    atomic_load(&r->fa.ca.kind_frees[k]));
	if (!r->failed && atomic_load(&r->fa.ca.errors))
		discrepancy(r, NULL, "the allocator saw %lu bad frees (size, kind or double)",
			    atomic_load(&r->fa.ca.errors));
	if (!r->failed && atomic_load(&r->tr.errors))
		discrepancy(r, NULL, "free_value saw %lu errors (double, foreign or dead values)",
			    atomic_load(&r->tr.errors));
	for (size_t i = 0; i < r->next_val && !r->failed; i++) {
		const struct tval *v = &r->tr.v[i];

		if (tval_freed(v) != (unsigned)v->owned)
			discrepancy(r, NULL, "value #%zu was passed to free_value %u times, expected %u "
				    "(%s)", i, tval_freed(v), (unsigned)v->owned,
				    v->owned ? "the map owned it" : "never stored");
	}
out:
	tracker_fini(&r->tr);
}

/* A run on a thread of its own: the library's thread-local counters start afresh. */
static void *run_thread(void *arg)
{
	test_thread_register();
	run_script(arg);
	test_thread_unregister();
	return NULL;
}

static struct run *run_new(long fail_at, bool persistent, bool verbose)
{
	struct run *r = calloc(1, sizeof(*r));
	pthread_t th;
	int e;

	if (!r)
		harness_fatal("out of memory for a run");
	r->fail_at = fail_at;
	r->persistent = persistent;
	/* Kept apart, so that the parameters come first on stdout. */
	if (verbose && !(r->trace = open_memstream(&r->trace_buf, &r->trace_len)))
		harness_fatal("open_memstream: %s", strerror(errno));
	r->fa.record = fail_at < 0;
	e = pthread_create(&th, NULL, run_thread, r);
	if (e)
		harness_fatal("pthread_create: %s", strerror(e));
	pthread_join(th, NULL);
	if (r->trace)
		fclose(r->trace);
	r->trace = NULL;
	return r;
}

static void run_free(struct run *r)
{
	free(r->trace_buf);
	free(r->fa.op_of_call);
	free(r);
}

/* ---- Reporting ----------------------------------------------------------------------- */

static unsigned long passed, failed_runs;
static char first_failure[1024];

static void harness_fatal(const char *fmt, ...)
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

/*
 * The reference run must reach what the script's phases are for; checked
 * here so that a change in the library's policy cannot quietly turn a phase
 * into one that tests nothing.
 */
static void check_coverage(struct run *r)
{
	static const char *const kind[CA_KINDS] = { "bucket", "entry", "table", "map" };
	const struct tally *t = &r->t;

	snprintf(r->ctx, sizeof(r->ctx), "the reference run's coverage");
	for (int k = 0; k < CA_KINDS; k++)
		if (!t->kind_allocs[k])
			discrepancy(r, NULL, "script coverage: no %s allocation", kind[k]);
#define NEED(cond, what) \
	do { if (!(cond)) discrepancy(r, NULL, "script coverage: %s", what); } while (0)
	NEED(t->auto_grows, "no automatic grow");
	NEED(t->auto_shrinks, "no automatic shrink");
	NEED(t->forced_grows && t->forced_shrinks, "no forced grow or shrink");
	NEED(t->pending_enomem, "no update failed during a pending migration");
	NEED(t->pending_dropped, "no update dropped a failed migration step");
	NEED(t->resumed, "no update finished a pending migration");
	NEED(t->clear_enomem, "no clear refused during a pending migration");
	NEED(t->trav_updates, "no update inside a traversal");
	NEED(t->trav_switches, "no traversal across a generation switch");
	NEED(t->pending_at_destroy, "no migration pending at destroy");
#undef NEED
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
	double t0 = now_s();
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
			       g_lo, i, g_runs, g_failed, g_enomem, g_dropped, g_create, now_s() - t0);
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
