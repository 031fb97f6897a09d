/* SPDX-License-Identifier: MIT */
/* fuzz_ops.c: the fuzz harness's operation interpreter: updates, whole-map calls, traversals. */

#define _GNU_SOURCE

#include "fuzz.h"

#include <inttypes.h>
#include <string.h>

static const size_t resize_slots[8] = { 0, 1, 4, 16, 64, 256, 1024, 4096 };
static const unsigned fill_stride[FILL_STRIDES] = { 1, 2, 3, 5 };

const char *const op_names[OP_KINDS] = {
	"GET", "INSERT", "PUT", "PUT_SAME", "REPLACE", "CAS", "DELETE",
	"DELETE_IF", "GET_OR_INSERT", "COUNT", "CLEAR", "RESIZE", "VALIDATE",
	"ARM", "ITER", "SCAN", "BARRIER", "CHECK", "FILL", "DRAIN",
	"INVALID", "CUR",
};

/*
 * Opcode byte & 31 -> operation. The first 22 are one each, in enum order
 * (gen_fuzz_corpus.py writes those); the last ten weight the single-key
 * updates for inputs the fuzzer makes up.
 */
static const enum opk op_table[32] = {
	OP_GET, OP_INSERT, OP_PUT, OP_PUT_SAME, OP_REPLACE, OP_CAS, OP_DELETE,
	OP_DELETE_IF, OP_GET_OR_INSERT, OP_COUNT, OP_CLEAR, OP_RESIZE, OP_VALIDATE,
	OP_ARM, OP_ITER, OP_SCAN, OP_BARRIER, OP_CHECK, OP_FILL, OP_DRAIN,
	OP_INVALID, OP_CUR,
	OP_GET, OP_INSERT, OP_PUT, OP_DELETE, OP_REPLACE, OP_CAS, OP_GET_OR_INSERT,
	OP_DELETE_IF, OP_CUR, OP_INSERT,
};

static int decode_key(void)
{
	uint8_t b = next_byte();

	return b < 0xc0 ? b & (NHOT - 1) : NHOT + (b & 63) * 7;
}

/* ---- Updates -------------------------------------------------------------------------- */

/*
 * Whether an update that returned @got, where the model says @want, took
 * effect. -ENOMEM passes only if a failure was injected during the call
 * (@inj0: the injection count before it); the model then stays as it was.
 */
static bool resolved(const char *call, int k, int got, int want, unsigned long inj0)
{
	if (got == -ENOMEM && atomic_load(&fz.ca.injected) > inj0) {
		fz.enomem_update++;
		/* A failed migration step could lose other keys: check them all, once per op. */
		fz.check_all_after_op = true;
		return false;
	}
	if (got != want)
		fail("%s(key %d, len %zu) returned %s, the model expects %s%s", call, k,
		     key_len[k], errname(got), errname(want),
		     got == -ENOMEM ? " (no allocation failure was injected)" : "");
	if (atomic_load(&fz.ca.injected) > inj0)
		fz.injected_ok++;
	return want == 0;
}

static void after_update(int k)
{
	check_key(k, "after the call");
	check_count("after the call");
}

/* The expected value CAS and DELETE_IF pass: right (param bit 0 clear) or some wrong one. */
static uint32_t pick_expected(int k, unsigned param)
{
	uint32_t v;

	if (!(param & 1))
		v = fz.val[k];
	else if (((param >> 1) & 3) == 0)
		v = fz.last_removed[k];
	else if (((param >> 1) & 3) == 1)
		v = fz.val[(k + 1) % NKEYS];
	else
		v = FOREIGN_ID;
	return v ? v : FOREIGN_ID;
}

/* @key: ours, or one the map handed out during a traversal. */
static bool do_update(enum opk op, int k, const void *key, unsigned param)
{
	size_t len = key_len[k];
	uint32_t cur = fz.val[k], v = 0, exp;
	unsigned long inj0 = atomic_load(&fz.ca.injected);
	void *res = vptr(FOREIGN_ID);
	int rc, want;

	switch (op) {
	case OP_INSERT:
		if (!(v = new_value(k)))
			return false;
		rc = rcumap_insert(fz.map, key, len, vptr(v));
		if (resolved("rcumap_insert", k, rc, cur ? -EEXIST : 0, inj0))
			model_store(k, v);
		break;
	case OP_PUT:
	case OP_PUT_SAME:
		v = op == OP_PUT_SAME && cur ? cur : new_value(k);
		if (!v)
			return false;
		rc = rcumap_put(fz.map, key, len, vptr(v));
		if (resolved("rcumap_put", k, rc, 0, inj0))
			model_store(k, v);
		break;
	case OP_REPLACE:
		v = (param & 1) && cur ? cur : new_value(k);
		if (!v)
			return false;
		rc = rcumap_replace(fz.map, key, len, vptr(v));
		if (resolved("rcumap_replace", k, rc, cur ? 0 : -ENOENT, inj0))
			model_store(k, v);
		break;
	case OP_CAS:
		exp = pick_expected(k, param);
		v = (param & 2) && exp == cur ? cur : new_value(k);
		if (!v)
			return false;
		want = !cur ? -ENOENT : cur != exp ? -EAGAIN : 0;
		rc = rcumap_cas(fz.map, key, len, vptr(exp), vptr(v));
		if (resolved("rcumap_cas", k, rc, want, inj0))
			model_store(k, v);
		break;
	case OP_DELETE:
		rc = rcumap_delete(fz.map, key, len);
		if (resolved("rcumap_delete", k, rc, cur ? 0 : -ENOENT, inj0))
			model_remove(k);
		break;
	case OP_DELETE_IF:
		exp = pick_expected(k, param);
		want = !cur ? -ENOENT : cur != exp ? -EAGAIN : 0;
		rc = rcumap_delete_if(fz.map, key, len, vptr(exp));
		if (resolved("rcumap_delete_if", k, rc, want, inj0))
			model_remove(k);
		break;
	case OP_GET_OR_INSERT:
		if (!(v = new_value(k)))
			return false;
		rc = rcumap_get_or_insert(fz.map, key, len, vptr(v), &res);
		if (rc == -ENOMEM && res != vptr(FOREIGN_ID))
			fail("rcumap_get_or_insert(key %d) returned -ENOMEM and set *result to %p",
			     k, res);
		if (rc == 0 && res != vptr(v))
			fail("rcumap_get_or_insert(key %d) inserted value %u but *result is %u",
			     k, v, vid(res));
		if (rc == -EEXIST && res != vptr(cur))
			fail("rcumap_get_or_insert(key %d) found the key; *result is %u, the model holds %u",
			     k, vid(res), cur);
		if (resolved("rcumap_get_or_insert", k, rc, cur ? -EEXIST : 0, inj0))
			model_store(k, v);
		break;
	default:
		fail("do_update: operation %s is no update (harness bug)", op_names[op]);
	}
	after_update(k);
	return true;
}

static void op_get(int k)
{
	void *got;

	rcu_read_lock();
	got = rcumap_get(fz.map, kp(k), key_len[k]);
	rcu_read_unlock();
	if (got != (fz.val[k] ? vptr(fz.val[k]) : NULL))
		fail("rcumap_get(key %d, len %zu) = value %u, the model holds %u", k,
		     key_len[k], vid(got), fz.val[k]);
}

/* FILL and DRAIN: one update per key of an arithmetic run. */
static void op_bulk(enum opk op, unsigned param)
{
	unsigned s = next_byte(), c = next_byte();
	unsigned stride = fill_stride[(param >> 1) & 3];

	if (fz.eof)
		return;
	tracef("  %s keys %u.., %u of them, stride %u", op_names[op], 2 * s, c + 1, stride);
	for (unsigned i = 0; i <= c; i++) {
		int k = (int)((2 * s + i * stride) % NKEYS);
		enum opk u;

		if (op == OP_FILL)
			u = param & 1 ? OP_PUT : OP_INSERT;
		else
			u = param & 1 ? OP_DELETE_IF : OP_DELETE;
		/* param 0 for DELETE_IF: the right expected value. */
		if (!do_update(u, k, kp(k), 0))
			return;
	}
}

/* ---- Whole-map calls --------------------------------------------------------------------- */

static void op_clear(void)
{
	unsigned long inj0 = atomic_load(&fz.ca.injected);
	int rc = rcumap_clear(fz.map);

	if (rc == -ENOMEM && atomic_load(&fz.ca.injected) > inj0) {
		fz.enomem_clear++;
	} else if (rc != 0) {
		fail("rcumap_clear returned %s%s", errname(rc),
		     rc == -ENOMEM ? " (no allocation failure was injected)" : "");
	} else {
		for (int k = 0; k < NKEYS; k++)
			if (fz.val[k])
				model_remove(k);
	}
	check_all(rc ? "after rcumap_clear failed" : "after rcumap_clear");
}

static void op_resize(unsigned param)
{
	size_t want = resize_slots[param & 7];
	unsigned long inj0 = atomic_load(&fz.ca.injected);
	struct rcumap_stats before, after;
	int rc, tries = 0;
	bool retry = barrier_allowed();

	rcumap_stats(fz.map, &before);
	/*
	 * -EBUSY: another thread held the migration driver's lock. The
	 * harness retries after a barrier; inside a read section a barrier
	 * would deadlock, so there -EBUSY is an answer.
	 */
	for (;;) {
		rc = rcumap_resize(fz.map, want);
		tries++;
		if (rc != -EBUSY || !retry || tries == RESIZE_TRIES)
			break;
		do_barrier();
	}
	rcumap_stats(fz.map, &after);
	tracef("  rcumap_resize(%zu) = %s after %d tries: %zu -> %zu slots", want,
	       errname(rc), tries, before.slots, after.slots);
	if (rc == -ENOMEM && atomic_load(&fz.ca.injected) > inj0)
		fz.enomem_resize++;
	else if (rc == -EBUSY && retry)
		fail("rcumap_resize(%zu) still -EBUSY after %d barriers", want, RESIZE_TRIES);
	else if (rc != 0 && rc != -EBUSY)
		fail("rcumap_resize(%zu) returned %s%s", want, errname(rc),
		     rc == -ENOMEM ? " (no allocation failure was injected)" : "");
	if (rc == 0 && after.resizing)
		fail("rcumap_resize(%zu) returned 0 with a migration still pending", want);
	/* The slot count rcumap_resize(n) must leave: a power of two, at least min_slots. */
	if (rc == 0 && want && after.slots != pow2_at_least(want, fz.min_slots))
		fail("rcumap_resize(%zu) returned 0; the table has %zu slots, expected %zu",
		     want, after.slots, (size_t)pow2_at_least(want, fz.min_slots));
	/*
	 * 0 asks for the policy's size (design.md, "Resize policy"): the load
	 * ends in [1/4, 2] unless at min_slots. Not when a migration left by
	 * an earlier -ENOMEM was pending: the call finishes that one and
	 * returns 0 without applying the policy (see the report).
	 */
	if (rc == 0 && !want && !before.resizing &&
	    (fz.count > 2 * after.slots || (after.slots > fz.min_slots && 4 * fz.count < after.slots)))
		fail("rcumap_resize(0) returned 0 leaving %zu entries in %zu slots (min %zu)",
		     fz.count, after.slots, fz.min_slots);
	check_all("after rcumap_resize");
}

void op_validate(void)
{
	int rc = rcumap_validate(fz.map);

	if (rc)
		fail("rcumap_validate returned %s", errname(rc));
}

static void op_barrier(void)
{
	if (fz.rs_depth) {
		int rc = rcumap_barrier(fz.map);

		if (rc != -EDEADLK)
			fail("rcumap_barrier inside a read section returned %s, expected -EDEADLK",
			     errname(rc));
		return;
	}
	if (barrier_allowed())
		do_barrier();
}

static void op_arm(void)
{
	unsigned a = next_byte(), w = next_byte();
	unsigned long at = (unsigned long)(a & 63) << (a & 64 ? 3 : 0);

	if (fz.eof)
		return;
	ca_arm(&fz.ca, at, a & 128);
	fz.armed = true;
	fz.window = 1 + (w & 15);
	tracef("  arm: allocation %lu%s fails, for %u ops", at, a & 128 ? " and on" : "",
	       fz.window);
}

static void scan_never(const void *key, size_t len, void *value, void *arg)
{
	(void)key, (void)value, (void)arg;
	fail("rcumap_scan with invalid arguments called its callback (key of %zu bytes)", len);
}

/* Calls with invalid arguments: -EINVAL (or -EDEADLK) and no change. */
static void op_invalid(unsigned param, int k)
{
	void *foreign = vptr(FOREIGN_ID), *res = NULL;
	uint64_t cursor;
	int rc[3] = { -EINVAL, -EINVAL, -EINVAL };
	const char *what = "?";

	switch (param & 7) {
	case 0:
		what = "insert with a NULL key of nonzero length";
		rc[0] = rcumap_insert(fz.map, NULL, key_len[k] ? key_len[k] : 1, foreign);
		rc[1] = rcumap_put(fz.map, NULL, 1, foreign);
		break;
	case 1:
		what = "put, replace, insert of a NULL value";
		rc[0] = rcumap_put(fz.map, kp(k), key_len[k], NULL);
		rc[1] = rcumap_replace(fz.map, kp(k), key_len[k], NULL);
		rc[2] = rcumap_insert(fz.map, kp(k), key_len[k], NULL);
		break;
	case 2:
		what = "cas and delete_if with a NULL expected or desired";
		rc[0] = rcumap_cas(fz.map, kp(k), key_len[k], NULL, foreign);
		rc[1] = rcumap_cas(fz.map, kp(k), key_len[k],
				   fz.val[k] ? vptr(fz.val[k]) : foreign, NULL);
		rc[2] = rcumap_delete_if(fz.map, kp(k), key_len[k], NULL);
		break;
	case 3:
		what = "delete and get of a key longer than RCUMAP_KEY_MAX";
		rc[0] = rcumap_delete(fz.map, key_bytes[k], RCUMAP_KEY_MAX + 1);
		rc[1] = rcumap_replace(fz.map, key_bytes[k], RCUMAP_KEY_MAX + 1, foreign);
		rcu_read_lock();
		if (rcumap_get(fz.map, key_bytes[k], RCUMAP_KEY_MAX + 1) ||
		    rcumap_get(fz.map, NULL, 3) || rcumap_get(NULL, key_bytes[k], key_len[k]))
			rc[2] = 0;
		rcu_read_unlock();
		break;
	case 4:
		what = "get_or_insert with a NULL result or value";
		rc[0] = rcumap_get_or_insert(fz.map, kp(k), key_len[k], foreign, NULL);
		rc[1] = rcumap_get_or_insert(fz.map, kp(k), key_len[k], NULL, &res);
		break;
	case 5:
		what = "scan with max_entries 0, a cursor >= 2^32, no callback";
		cursor = 0;
		rc[0] = rcumap_scan(fz.map, &cursor, 0, scan_never, NULL);
		cursor = (uint64_t)1 << 32;
		rc[1] = rcumap_scan(fz.map, &cursor, 1, scan_never, NULL);
		cursor = 0;
		rc[2] = rcumap_scan(fz.map, &cursor, 1, NULL, NULL);
		break;
	case 6:
		what = "resize above RCUMAP_SLOTS_MAX, NULL map";
		rc[0] = rcumap_resize(fz.map, RCUMAP_SLOTS_MAX + 1);
		rc[1] = rcumap_delete(NULL, kp(k), key_len[k]);
		rc[2] = rcumap_stats(fz.map, NULL);
		break;
	default:
		if (fz.rs_depth) {
			what = "barrier and destroy inside a read section";
			rc[0] = rcumap_barrier(fz.map) == -EDEADLK ? -EINVAL : 0;
			rc[1] = rcumap_destroy(fz.map) == -EDEADLK ? -EINVAL : 0;
		} else {
#ifndef RCUMAP_DEBUG /* debug builds abort on these by design */
			struct rcumap_iter it;

			what = "rcumap_iter_next with an iterator never initialised, or NULL";
			memset(&it, 0, sizeof(it));
			rcu_read_lock();
			rc[0] = rcumap_iter_next(fz.map, &it, NULL, NULL, NULL);
			rc[1] = rcumap_iter_next(fz.map, NULL, NULL, NULL, NULL);
			rcu_read_unlock();
#endif
			rc[2] = rcumap_iter_init(NULL, NULL);
		}
		break;
	}
	for (int i = 0; i < 3; i++)
		if (rc[i] != -EINVAL)
			fail("%s (key %d): call %d returned %s, expected %s", what, k, i,
			     errname(rc[i]), (param & 7) == 7 && fz.rs_depth ? "-EDEADLK" : "-EINVAL");
	after_update(k);
}

/* ---- Traversals ------------------------------------------------------------------------- */

static void trav_begin(struct trav *t, const char *who)
{
	struct rcumap_stats s;

	memset(t, 0, sizeof(*t));
	t->who = who;
	t->op = atomic_load(&cur_op);
	t->t0 = fz.seq;
	rcumap_stats(fz.map, &s);
	t->grows0 = s.grows;
	t->shrinks0 = s.shrinks;
	for (int k = 0; k < NKEYS; k++)
		t->stable[k] = fz.val[k] != 0;
	fz.trav[fz.ntrav++] = t;
}

/* One returned entry: T3 (no key twice) and T4.2 (a pair held during the traversal). */
static void trav_entry(struct trav *t, const void *key, size_t len, void *value)
{
	int k = key_lookup(key, len);
	uint32_t v = vid(value);

	if (k < 0)
		fail("BADKEY: %s returned a key of %zu bytes that is none of the harness's keys",
		     t->who, len);
	if (t->seen[k])
		fail("DUPLICATE: %s returned key %d (len %zu) twice in one traversal, "
		     "%zu entries in", t->who, k, len, t->returned);
	t->seen[k] = 1;
	t->returned++;
	if (!v || !vm[v].stored || vm[v].key != k)
		fail("BADVALUE: %s returned key %d with value %u (%p), which was never stored "
		     "under that key", t->who, k, v, value);
	if (vm[v].removed_seq && vm[v].removed_seq <= t->t0)
		fail("STALE: %s returned key %d with value %u, removed before the traversal "
		     "began (model tick %u, traversal began at %u)", t->who, k, v,
		     vm[v].removed_seq, t->t0);
	if (atomic_load(&vfreed[v]))
		fail("%s returned key %d with value %u, already passed to free_value", t->who,
		     k, v);
	t->cur_valid = true;
	t->cur_k = k;
	t->cur_key = key;
	t->cur_len = len;
}

/* After an embedded operation: note a resize completed while the traversal was under way. */
static void trav_note_resize(struct trav *t)
{
	struct rcumap_stats s;

	rcumap_stats(fz.map, &s);
	if (s.grows > t->grows0 && !t->returned_at_grow && t->returned)
		t->returned_at_grow = t->returned;
	if (s.shrinks > t->shrinks0 && !t->returned_at_shrink && t->returned)
		t->returned_at_shrink = t->returned;
}

/* B: every key present from the start to the end was returned. */
static void trav_end(struct trav *t, unsigned *grew, unsigned *shrank)
{
	for (int k = 0; k < NKEYS; k++)
		if (t->stable[k] && !t->seen[k])
			fail("MISSED: %s did not return key %d (len %zu, value %u), present for "
			     "the whole traversal; %zu entries returned", t->who, k, key_len[k],
			     fz.val[k], t->returned);
	/* Crossed a resize in the middle: entries came before and after it. */
	*grew += t->returned_at_grow && t->returned > t->returned_at_grow;
	*shrank += t->returned_at_shrink && t->returned > t->returned_at_shrink;
	fz.ntrav--;
}

static void trav_point(struct trav *t, struct plan *pl)
{
	unsigned left = pl->left;

	plan_point(pl);
	if (pl->left != left)
		trav_note_resize(t);
}

/*
 * What every traversal op does first: nothing at the end of the input, a
 * count check instead when traversals nest too deep, and a barrier first
 * when param asks for one. 0 when the traversal must not run.
 */
static int trav_start_ok(unsigned param)
{
	if (fz.eof)
		return 0;
	if (fz.ntrav == MAX_TRAV) {
		check_count("instead of a traversal nested too deep");
		return 0;
	}
	if ((param & 1) && barrier_allowed())
		do_barrier();
	return 1;
}

static void op_iter(unsigned param)
{
	unsigned n = next_byte();
	struct plan pl = { .left = n };
	struct rcumap_iter it;
	struct trav t;
	const void *key;
	size_t len;
	void *value;
	int rc;

	if (!trav_start_ok(param))
		return;
	rcu_read_lock();
	fz.rs_depth++;
	trav_begin(&t, "rcumap_iter_next");
	rc = rcumap_iter_init(fz.map, &it);
	if (rc)
		fail("rcumap_iter_init returned %s", errname(rc));
	for (;;) {
		trav_point(&t, &pl);
		rc = rcumap_iter_next(fz.map, &it, &key, &len, &value);
		if (rc == 0)
			break;
		if (rc != 1)
			fail("rcumap_iter_next returned %s", errname(rc));
		trav_entry(&t, key, len, value);
	}
	rc = rcumap_iter_next(fz.map, &it, &key, &len, &value);
	if (rc != 0)
		fail("rcumap_iter_next after the end returned %s, expected 0", errname(rc));
	tracef("  iteration of op #%u: %zu entries", t.op, t.returned);
	trav_end(&t, &fz.iter_grow, &fz.iter_shrink);
	fz.iters++;
	fz.rs_depth--;
	rcu_read_unlock();
	check_all("after an iteration");
}

struct scan_ctx {
	struct trav *t;
	struct plan cb;
	size_t calls;              /* callbacks in this rcumap_scan call */
	size_t call_no;            /* rcumap_scan calls made, this one included */
	size_t group_call[NKEYS];  /* by key_group: the call that passed the group; 0: none */
	int group_key[NKEYS];      /* by key_group: the key it passed then */
};

static void scan_cb(const void *key, size_t len, void *value, void *arg)
{
	struct scan_ctx *sc = arg;
	int g;

	if (!rcu_read_ongoing())
		fail("rcumap_scan ran its callback outside a read section");
	sc->calls++;
	fz.rs_depth++;
	trav_entry(sc->t, key, len, value);
	g = key_group[sc->t->cur_k];
	if (sc->group_call[g] && sc->group_call[g] != sc->call_no)
		fail("SPLIT: rcumap_scan passed key %d in call %zu and key %d of the same hash in "
		     "call %zu", sc->group_key[g], sc->group_call[g], sc->t->cur_k, sc->call_no);
	sc->group_call[g] = sc->call_no;
	sc->group_key[g] = sc->t->cur_k;
	trav_point(sc->t, &sc->cb);
	sc->t->cur_valid = false; /* the key pointer dies with the callback */
	fz.rs_depth--;
}

static void op_scan(unsigned param)
{
	unsigned f = next_byte(), nb = next_byte(), nc = next_byte();
	size_t max = (size_t)(1 + (f & 15)) * (f & 16 ? 16 : 1);
	struct plan between = { .left = nb };
	struct scan_ctx sc = { .cb = { .left = nc } };
	uint64_t cursor = 0, prev = 0;
	size_t ncalls = 0;
	struct trav t;
	int rc;

	if (!trav_start_ok(param))
		return;
	trav_begin(&t, "rcumap_scan");
	sc.t = &t;
	for (;;) {
		sc.calls = 0;
		sc.call_no++;
		rc = rcumap_scan(fz.map, &cursor, max, scan_cb, &sc);
		ncalls++;
		if (rc)
			fail("rcumap_scan returned %s", errname(rc));
		if (cursor == 0)
			break;
		if (cursor <= prev)
			fail("CURSOR: rcumap_scan call %zu moved the cursor from %#" PRIx64 " to %#"
			     PRIx64 ": positions only increase", ncalls, prev, cursor);
		if (sc.calls < max)
			fail("CALLSIZE: rcumap_scan call %zu passed %zu entries with max_entries %zu "
			     "and did not end the scan", ncalls, sc.calls, max);
		/* No key twice means at most NKEYS entries, so at most NKEYS + 1 calls. */
		if (ncalls > NKEYS + 1)
			fail("rcumap_scan: %zu calls and not done", ncalls);
		prev = cursor;
		trav_point(&t, &between);
	}
	tracef("  scan of op #%u: %zu entries in %zu calls of max %zu", t.op, t.returned,
	       ncalls, max);
	trav_end(&t, &fz.scan_grow, &fz.scan_shrink);
	fz.scans++;
	check_all("after a scan");
}

/* An update of the entry the innermost traversal returned last, through the map's key pointer. */
static void op_cur(unsigned param)
{
	static const enum opk cur_ops[8] = {
		OP_DELETE, OP_DELETE, OP_DELETE, OP_REPLACE, OP_PUT, OP_DELETE_IF, OP_CAS,
		OP_INSERT,
	};
	struct trav *t = NULL;

	for (unsigned i = fz.ntrav; i-- > 0 && !t;)
		if (fz.trav[i]->cur_valid)
			t = fz.trav[i];
	if (!t) {
		check_count("CUR without a current entry");
		return;
	}
	tracef("  %s of key %d through the key the traversal returned", op_names[cur_ops[param]],
	       t->cur_k);
	/* param 0 for DELETE_IF and CAS: the right expected value. */
	do_update(cur_ops[param], t->cur_k, t->cur_key, 0);
}

/* ---- Dispatch ------------------------------------------------------------------------------ */

void run_op(void)
{
	uint8_t b = next_byte();
	enum opk op = op_table[b & 31];
	unsigned param = b >> 5, saved_op = atomic_load(&cur_op);
	int saved_opk = atomic_load(&cur_opk), k = 0;

	if (fz.eof)
		return;
	if (++fz.nops > MAX_OPS) {
		fz.eof = true;
		return;
	}
	atomic_store(&cur_op, fz.nops);
	atomic_store(&cur_opk, (int)op);
	/* An arming covers the next few operations, nested ones included. */
	if (fz.armed && op != OP_ARM) {
		if (fz.window == 0) {
			ca_disarm(&fz.ca);
			fz.armed = false;
		} else {
			fz.window--;
		}
	}
	switch (op) {
	case OP_GET:
	case OP_INSERT:
	case OP_PUT:
	case OP_PUT_SAME:
	case OP_REPLACE:
	case OP_CAS:
	case OP_DELETE:
	case OP_DELETE_IF:
	case OP_GET_OR_INSERT:
	case OP_INVALID:
		k = decode_key();
		if (fz.eof)
			break;
		tracef("op #%u depth %u: %s key %d (len %zu) param %u, model value %u", fz.nops,
		       fz.ntrav, op_names[op], k, key_len[k], param, fz.val[k]);
		if (op == OP_GET)
			op_get(k);
		else if (op == OP_INVALID)
			op_invalid(param, k);
		else
			do_update(op, k, kp(k), param);
		break;
	default:
		tracef("op #%u depth %u: %s param %u (%zu entries)", fz.nops, fz.ntrav,
		       op_names[op], param, fz.count);
		switch (op) {
		case OP_COUNT:
			check_count("COUNT");
			check_stats(false);
			break;
		case OP_CLEAR:
			op_clear();
			break;
		case OP_RESIZE:
			op_resize(param);
			break;
		case OP_VALIDATE:
			op_validate();
			break;
		case OP_ARM:
			op_arm();
			break;
		case OP_ITER:
			op_iter(param);
			break;
		case OP_SCAN:
			op_scan(param);
			break;
		case OP_BARRIER:
			op_barrier();
			break;
		case OP_CHECK:
			check_all("CHECK");
			op_validate();
			break;
		case OP_FILL:
		case OP_DRAIN:
			op_bulk(op, param);
			break;
		case OP_CUR:
			op_cur(param);
			break;
		default:
			fail("opcode %u unhandled (harness bug)", (unsigned)op);
		}
	}
	if (fz.check_all_after_op) {
		fz.check_all_after_op = false;
		check_all("after -ENOMEM");
	}
	/* Deferred call_rcu: reclamation "happens" between operations, outside read sections. */
	if (fz.reclaim && fz.drain_every && fz.rs_depth == 0 &&
	    ++fz.since_drain >= fz.drain_every) {
		fz.since_drain = 0;
		dq_drain();
	}
	atomic_store(&cur_op, saved_op);
	atomic_store(&cur_opk, saved_opk);
}
