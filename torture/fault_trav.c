/* SPDX-License-Identifier: MIT */
/* fault_trav.c: the allocation-failure script's traversals, with updates between and inside their steps. */

#define _GNU_SOURCE

#include "faults.h"

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
		discrepancy(r, NULL, "%s returned key %d twice (guarantee T3)", t->name, k);
		return;
	}
	/* Guarantee T4: a value the key had at some instant of the traversal. */
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

/* Guarantee T2: every key present throughout was returned (exactly once: T3). */
static void trav_end(struct run *r)
{
	struct trav *t = &r->trav;

	for (int k = 0; k < NKEYS && !r->failed; k++)
		if (t->stable[k] && t->seen[k] != 1)
			discrepancy(r, NULL, "%s never returned key %d, present throughout "
				    "(guarantee T2)", t->name, k);
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
void run_scan(struct run *r, const struct step *s)
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
void run_iter(struct run *r, const struct step *s)
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
