/* SPDX-License-Identifier: MIT */
/* scen_lincheck.c: the lincheck scenario: histories recorded in rounds, checked by lincheck.c. */

#define _GNU_SOURCE

#include "program.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lincheck.h"

/*
 * The lincheck scenario runs in rounds. In a round, its threads record every
 * operation (call and return times from one seq_cst counter) into one
 * history of at most --lincheck-ops slots; then they idle while the main
 * thread reads the final state of every key (recorded too), checks the round
 * with lincheck_check and each count against lincheck_count_bounds, runs
 * rcumap_validate on the quiet map, and starts the next round from that
 * state.
 */
#define LC_EMPTY 0xffffu        /* a reserved slot nobody filled */

struct lc_count {
	uint64_t t0, t1, count;
};

static struct lc {
	struct lincheck_op *ops;
	size_t cap;
	uint64_t nops;          /* slots reserved (atomic) */
	uint64_t clock;         /* timestamps (seq_cst) */
	int active;             /* threads may record */
	unsigned round;
	uint64_t initial[LC_KEYS];
	struct lc_count counts[LC_MAX_COUNTS];
	uint64_t ncounts;       /* atomic */
	uint64_t rounds, checked_ops, checked_counts, unknown, steps;
} LC;

static inline uint64_t lc_tick(void)
{
	return __atomic_add_fetch(&LC.clock, 1, __ATOMIC_SEQ_CST);
}

static struct lincheck_op *lc_reserve(size_t n)
{
	uint64_t s = __atomic_fetch_add(&LC.nops, n, __ATOMIC_RELAXED);

	return s + n <= LC.cap ? &LC.ops[s] : NULL;
}

/* A GET of key k recorded in *op, inside the caller's read section; the value, checked. */
static const struct tval *lc_get(struct lincheck_op *op, uint32_t k, const unsigned char *kb,
				 size_t len, unsigned thread, const char *who)
{
	const struct tval *v;

	*op = (struct lincheck_op){ .key = k, .thread = thread, .kind = LINCHECK_GET };
	op->call = lc_tick();
	v = rcumap_get(R.map, kb, len);
	op->ret = lc_tick();
	if (v)
		check_value(who, k, v);
	op->out = vid(v);
	return v;
}

static void lc_writer_op(struct thr *t, struct lincheck_op *op)
{
	uint32_t k = (uint32_t)rng_below(&t->rng, LC_KEYS);
	int kind = 1 + (int)rng_below(&t->rng, 7);  /* INSERT .. GET_OR_INSERT */
	unsigned char kb[KEY_MAXLEN];
	size_t len = make_key(k, kb);
	struct tval *v = NULL;
	const struct tval *e = NULL;
	void *res = NULL;
	int rc;

	op->key = k;
	op->thread = t->wid;
	set_state(t, "lincheck update");
	rs_lock();
	if (kind == LINCHECK_CAS || kind == LINCHECK_DELETE_IF) {
		/* The expected value: a recorded GET in the same read section. */
		e = lc_get(op, k, kb, len, t->wid, "lw get");
		if (!e)
			goto out;
		op++;
		op->key = k;
		op->thread = t->wid;
	}
	if (kind != LINCHECK_DELETE && kind != LINCHECK_DELETE_IF)
		v = new_value(t, k, 0);
	op->kind = (uint16_t)kind;
	op->value = vid(v);
	op->expected = vid(e);
	op->call = lc_tick();
	switch (kind) {
	case LINCHECK_INSERT: rc = rcumap_insert(R.map, kb, len, v); break;
	case LINCHECK_PUT: rc = rcumap_put(R.map, kb, len, v); break;
	case LINCHECK_REPLACE: rc = rcumap_replace(R.map, kb, len, v); break;
	case LINCHECK_CAS: rc = rcumap_cas(R.map, kb, len, (void *)e, v); break;
	case LINCHECK_DELETE: rc = rcumap_delete(R.map, kb, len); break;
	case LINCHECK_DELETE_IF: rc = rcumap_delete_if(R.map, kb, len, (void *)e); break;
	default: rc = rcumap_get_or_insert(R.map, kb, len, v, &res); break;
	}
	op->ret = lc_tick();
	op->rc = rc;
	if (kind == LINCHECK_GET_OR_INSERT) {
		if (rc == -EEXIST && res)
			check_value("lw get_or_insert result", k, res);
		op->out = rc == 0 ? vid(v) : rc == -EEXIST ? vid(res) : 0;
	}
	if (rc != 0 && rc != -EEXIST && rc != -ENOENT && rc != -EAGAIN)
		tfail(E_MODEL, 0, "%s: lincheck op %d on key %u returned %s", t->name, kind, k,
		      errname(rc));
	if (rc != 0)
		discard(v);
out:
	rs_unlock();
	quiesce();
}

/*
 * A lincheck reader's batch: nb keys of the 8 (so most repeat) in one
 * rcumap_get_batch call, recorded as nb GETs that each span the whole call:
 * each value is the key's at some instant of the call (include/rcumap.h),
 * which is what a GET over [call, ret] means to the checker. A call that
 * broke its contract is reported and its GETs left out.
 */
static void lc_batch_op(struct thr *t, struct lincheck_op *op, unsigned nb)
{
	struct batch b;
	uint64_t call, ret;
	long found;

	b.n = nb;
	for (unsigned i = 0; i < nb; i++)
		b.id[i] = rng_below(&t->rng, LC_KEYS);
	batch_prepare(&b);
	set_state(t, "lincheck get_batch");
	rs_lock();
	call = lc_tick();
	found = get_batch(&b);
	ret = lc_tick();
	if (batch_check(&b, found, "lr get_batch") == 0)
		for (unsigned i = 0; i < nb; i++)
			op[i] = (struct lincheck_op){
				.call = call, .ret = ret, .key = (uint32_t)b.id[i],
				.thread = t->wid, .kind = LINCHECK_GET,
				.flags = LINCHECK_FROM_BATCH, .out = vid(b.values[i]),
			};
	rs_unlock();
	quiesce();
}

static void lc_reader_op(struct thr *t, struct lincheck_op *op)
{
	uint32_t k = (uint32_t)rng_below(&t->rng, LC_KEYS);
	unsigned char kb[KEY_MAXLEN];
	size_t len = make_key(k, kb);

	set_state(t, "lincheck get");
	rs_lock();
	lc_get(op, k, kb, len, t->wid, "lr get");
	rs_unlock();
	quiesce();
}

struct lc_collect {
	struct thr *t;
	struct lincheck_seen seen[LC_ITER_MAX];
	size_t n;
	int overflow;
};

/* One entry of a lincheck traversal (an rcumap_scan callback; arg: the struct lc_collect). */
static void lc_collect(const void *key, size_t len, void *value, void *arg)
{
	struct lc_collect *c = arg;
	uint64_t id;

	BUMP(&c->t->ops);
	if (decode_key(key, len, &id)) {
		if (attribute_garbage(key))
			return;
		tfail(E_PROVENANCE, 0, "%s: a traversal returned a key that is not a pool key "
		      "(length %zu)", c->t->name, len);
		return;
	}
	check_value("li traversal", id, value);
	if (c->n == LC_ITER_MAX) {
		c->overflow = 1;
		return;
	}
	c->seen[c->n].key = (uint32_t)id;
	c->seen[c->n++].value = vid(value);
}

/* A traversal recorded as one GET per key over [t0, t1] (lincheck.h), or a count. */
static void lc_iter_op(struct thr *t, struct lincheck_op *op)
{
	struct lc_collect c = { .t = t };
	int scan = (t->traversals++ & 1) != 0;
	uint64_t t0, t1;
	int rc = 0;

	if (rng_below(&t->rng, 4) == 0) {
		/* A count, checked against its relaxed bounds at the end of the round. */
		uint64_t i = __atomic_fetch_add(&LC.ncounts, 1, __ATOMIC_RELAXED);

		t0 = lc_tick();
		uint64_t n = rcumap_count(R.map);
		t1 = lc_tick();
		if (i < LC_MAX_COUNTS)
			LC.counts[i] = (struct lc_count){ t0, t1, n };
	}
	set_state(t, scan ? "lincheck scan" : "lincheck traversal");
	t0 = lc_tick();
	if (scan) {
		uint64_t cursor = 0;

		do {
			rc = rcumap_scan(R.map, &cursor, 1 + rng_below(&t->rng, 3), lc_collect, &c);
			quiesce();
		} while (rc == 0 && cursor != 0);
	} else {
		rc = traverse_in_section(lc_collect, &c);
	}
	t1 = lc_tick();
	if (rc < 0)
		tfail(E_MODEL, 0, "%s: %s returned %s", t->name, scan ? "rcumap_scan" :
		      "rcumap_iter_*", errname(rc));
	rc = c.overflow ? -EEXIST : lincheck_iteration_ops(c.seen, c.n, LC_KEYS, t0, t1, t->wid, op);
	if (rc == -EEXIST)
		tfail(E_DUPLICATE, 0, "%s: a %s returned a key twice (%zu entries, %u keys)",
		      t->name, scan ? "scan" : "traversal", c.n, LC_KEYS);
	else if (rc)
		tfail(E_MODEL, 0, "%s: lincheck_iteration_ops returned %s", t->name, errname(rc));
	if (rc)
		for (int k = 0; k < LC_KEYS; k++)
			op[k].kind = LC_EMPTY;
}

void run_lc(struct thr *t)
{
	while (!stopping()) {
		int active = LOAD_ACQ(&LC.active);
		unsigned round = LOAD_ACQ(&LC.round);
		size_t need = t->role == RO_LC_ITER ? LC_KEYS : t->role == RO_LC_WRITER ? 2 : 1;
		unsigned nb = 0;  /* keys of a reader's batch; 0: one rcumap_get */
		struct lincheck_op *op;

		if (!active || LOAD(&t->lc_idle_round) == round) {
			if (LOAD(&t->lc_idle_round) != round)
				STORE_REL(&t->lc_idle_round, round);
			set_state(t, "waiting for the next lincheck round");
			idle_enter(t);
			nap(t, 200000);
			continue;
		}
		idle_leave(t);
		/* Readers: one op in four is a batch of 1..BATCH_MAX keys. */
		if (t->role == RO_LC_READER && rng_below(&t->rng, 4) == 0)
			need = nb = 1 + (unsigned)rng_below(&t->rng, BATCH_MAX);
		op = lc_reserve(need);
		if (!op) {
			STORE_REL(&t->lc_idle_round, round);
			continue;
		}
		if (t->role == RO_LC_WRITER)
			lc_writer_op(t, op);
		else if (nb)
			lc_batch_op(t, op, nb);
		else if (t->role == RO_LC_READER)
			lc_reader_op(t, op);
		else
			lc_iter_op(t, op);
		BUMP(&t->ops);
	}
}

/* ---- the main thread's part: rounds, checks, reports -------------------------------- */

static void print_lc_report(const struct lincheck_report *rep)
{
	char *buf = NULL, pre[80];
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return;
	snprintf(pre, sizeof(pre), "%s: ", prog);
	lincheck_report_print(rep, f, pre);
	fclose(f);
	write_all(buf, size);
	free(buf);
}

/* Record main's read of every key as GETs: the round's final state. */
static void lc_final_reads(uint64_t *state, struct lincheck_op *op)
{
	for (uint32_t k = 0; k < LC_KEYS; k++) {
		unsigned char kb[KEY_MAXLEN];
		size_t len = make_key(k, kb);

		rs_lock();
		state[k] = vid(lc_get(&op[k], k, kb, len, 0, "main final get"));
		rs_unlock();
	}
}

/* --verbose: the presence writes around a count that broke its bounds. */
static void lc_dump_count(const struct lc_count *c, size_t n)
{
	for (uint32_t k = 0; k < LC_KEYS; k++) {
		size_t last = SIZE_MAX;

		out("  key %u (initial v%" PRIu64 "):", k, LC.initial[k]);
		for (size_t i = 0; i < n; i++) {
			const struct lincheck_op *op = &LC.ops[i];
			char line[160];

			if (op->key != k || op->kind == LINCHECK_GET || op->rc != 0)
				continue;
			if (op->ret < c->t0) {
				last = i;
				continue;
			}
			if (op->call > c->t1)
				continue;
			lincheck_op_format(op, line, sizeof(line));
			out("    overlapping: %s", line);
		}
		if (last != SIZE_MAX) {
			char line[160];

			lincheck_op_format(&LC.ops[last], line, sizeof(line));
			out("    last write returned before: %s", line);
		}
	}
}

/* End the current round: stop recording, wait for every thread, check it all. */
static void lc_end_round(void)
{
	struct lincheck_options lo = { .nkeys = LC_KEYS, .initial = LC.initial };
	struct lincheck_report rep;
	uint64_t final[LC_KEYS], used;
	size_t n = 0, nc;
	int rc;

	/* Called offline (qsbr), from the main loop. */
	STORE_REL(&LC.active, 0);
	pause_resizer(1);
	for (int i = 0; i < R.nthr; i++) {
		struct thr *t = &R.thr[i];

		if (t->role != RO_LC_WRITER && t->role != RO_LC_READER && t->role != RO_LC_ITER)
			continue;
		while (LOAD_ACQ(&t->lc_idle_round) != LC.round && !stopping())
			sleep_ns(100000);
	}
	used = LOAD(&LC.nops);
	if (used > LC.cap)
		used = LC.cap;
	for (size_t i = 0; i < used; i++)
		if (LC.ops[i].kind != LC_EMPTY)
			LC.ops[n++] = LC.ops[i];
	/* The map is quiet: read the final state (recorded) and validate it. */
	go_online();
	lc_final_reads(final, &LC.ops[n]);
	n += LC_KEYS;
	rc = rcumap_validate(R.map);
	quiesce();
	go_offline();
	if (rc)
		tfail(E_ACCOUNTING, 0, "round %u: rcumap_validate returned %s on the quiet map",
		      LC.round, errname(rc));
	rc = lincheck_check(LC.ops, n, &lo, &rep);
	LC.rounds++;
	LC.checked_ops += n;
	LC.steps += rep.steps;
	if (rc == LINCHECK_FAIL) {
		tfail(E_LINCHECK, 0, "round %u: key %u is not linearizable (%zu ops in the round, "
		      "%zu on the key); the report follows", LC.round, rep.key, n, rep.key_ops);
		print_lc_report(&rep);
	} else if (rc == LINCHECK_UNKNOWN) {
		LC.unknown++;
		if (opt.verbose)
			out("lincheck round %u: key %u undecided (step budget)", LC.round, rep.key);
	} else if (rc < 0) {
		tfail(E_MODEL, 0, "lincheck_check returned %s", errname(rc));
	}
	nc = LOAD(&LC.ncounts);
	if (nc > LC_MAX_COUNTS)
		nc = LC_MAX_COUNTS;
	for (size_t i = 0; i < nc; i++) {
		struct lincheck_count_bounds b;
		const struct lc_count *c = &LC.counts[i];

		/* rcumap_count's relaxed contract (design.md, G5.1): lincheck.h
		 * derives lo_relaxed..hi_relaxed from it. */
		rc = lincheck_count_bounds(LC.ops, n, &lo, c->t0, c->t1, &b);
		LC.checked_counts++;
		if (rc) {
			tfail(E_MODEL, 0, "lincheck_count_bounds returned %s", errname(rc));
		} else if (c->count < b.lo_relaxed || c->count > b.hi_relaxed) {
			tfail(E_LINCHECK, 0, "round %u: rcumap_count returned %" PRIu64 " over [%"
			      PRIu64 ", %" PRIu64 "], outside its relaxed bounds [%" PRIu64 ", %"
			      PRIu64 "] (present keys %" PRIu64 "..%" PRIu64 ")", LC.round,
			      c->count, c->t0, c->t1, b.lo_relaxed, b.hi_relaxed, b.lo, b.hi);
			if (opt.verbose)
				lc_dump_count(c, n);
		}
	}
	memcpy(LC.initial, final, sizeof(final));
}

static void lc_start_round(void)
{
	memset(LC.ops, 0, LC.cap * sizeof(LC.ops[0]));
	for (size_t i = 0; i < LC.cap; i++)
		LC.ops[i].kind = LC_EMPTY;
	STORE(&LC.nops, 0);
	STORE(&LC.ncounts, 0);
	pause_resizer(0);
	STORE_REL(&LC.round, LC.round + 1);
	STORE_REL(&LC.active, 1);
}

static uint64_t lc_round_start;

/* Returns 1 while the scenario must not end yet. */
int poll_lincheck(int ending)
{
	int full = LOAD(&LC.nops) >= LC.cap;

	if (!LOAD(&LC.active))
		return 0;
	if (full || ending || now_ns() - lc_round_start > 2 * NS_PER_S) {
		lc_end_round();
		if (!ending && !LOAD(&fail_stop)) {
			lc_start_round();
			lc_round_start = now_ns();
		}
	}
	return 0;
}

/* Every scenario starts with an empty record. */
void lc_reset(void)
{
	memset(&LC, 0, sizeof(LC));
}

/* The round's history: --lincheck-ops slots and the final reads. */
void lc_alloc(void)
{
	LC.cap = opt.lincheck_ops;
	LC.ops = calloc(LC.cap + LC_KEYS, sizeof(*LC.ops));
	if (!LC.ops) {
		out("out of memory");
		exit(1);
	}
}

void lc_free(void)
{
	free(LC.ops);
	LC.ops = NULL;
}

/* After the prefill: the first round's initial state. */
void lc_prefill(void)
{
	unsigned char kb[KEY_MAXLEN];

	for (uint32_t k = 0; k < LC_KEYS; k++) {
		const struct tval *v;

		rs_lock();
		v = rcumap_get(R.map, kb, make_key(k, kb));
		LC.initial[k] = vid(v);
		rs_unlock();
	}
}

void lc_start(void)
{
	lc_start_round();
	lc_round_start = now_ns();
}

/* The keys present at the end of the last round. */
int64_t lc_expected_entries(void)
{
	int64_t n = 0;

	for (int k = 0; k < LC_KEYS; k++)
		n += LC.initial[k] != 0;
	return n;
}

/* For the scenario's result line. */
void lc_detail(char *buf, size_t size)
{
	snprintf(buf, size, "; %" PRIu64 " rounds, %" PRIu64 " ops and %" PRIu64
		 " counts checked, %" PRIu64 " undecided", LC.rounds, LC.checked_ops,
		 LC.checked_counts, LC.unknown);
}
