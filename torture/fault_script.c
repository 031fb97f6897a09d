/* SPDX-License-Identifier: MIT */
/* fault_script.c: the allocation-failure script: its operations, and what its reference run must reach. */

#define _GNU_SOURCE

#include "faults.h"

const char *const sop_name[] = {
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
void build_script(struct script *sc)
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

/*
 * The reference run must reach what the script's phases are for; checked
 * here so that a change in the library's policy cannot quietly turn a phase
 * into one that tests nothing.
 */
void check_coverage(struct run *r)
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
