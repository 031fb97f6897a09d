/* SPDX-License-Identifier: MIT */
/* lincheck.h: linearizability checker for histories recorded by rcumap's torture threads. */
#ifndef RCUMAP_LINCHECK_H
#define RCUMAP_LINCHECK_H

/*
 * What it decides. A history is a set of completed operations on a small key
 * space, each with the result it returned and the interval [call, ret] during
 * which it ran. The history is linearizable when every key's operations can
 * be put in one order that (L1) respects real time: if a.ret < b.call then a
 * comes before b, and (L2) gives every operation the result the sequential
 * model below gives it, starting from the key's initial state. Keys are
 * independent (a map's operations each touch one key), so each key is checked
 * on its own: a history is linearizable exactly when every key's is.
 *
 * Model, per key. The state is 0 (absent) or a value id. An op gives:
 *   GET            out = state (0: not found)
 *   INSERT v       absent: store v, rc 0          present: rc -EEXIST
 *   PUT v          store v, rc 0
 *   REPLACE v      present: store v, rc 0         absent: rc -ENOENT
 *   CAS e, v       absent: -ENOENT; state != e: -EAGAIN; else store v, rc 0
 *   DELETE         present: remove, rc 0          absent: rc -ENOENT
 *   DELETE_IF e    absent: -ENOENT; state != e: -EAGAIN; else remove, rc 0
 *   GET_OR_INSERT v  absent: store v, rc 0, out = v
 *                    present: rc -EEXIST, out = state
 * Any other (rc, out) pair cannot be linearized, so a wrong return code is
 * reported as a failure, not rejected as bad input. An op whose rc is -ENOMEM
 * had no effect (rcumap.h, "Conventions") and is skipped; the caller may
 * also drop it. A GET's rc must be 0.
 *
 * Timestamps. call < ret for each op. They must come from one source such
 * that a.ret < b.call implies a happens-before b: a global counter taken with
 * a seq_cst fetch-and-add after the operation returns and before it is called
 * does. Equal timestamps prove no order: a.ret == b.call is treated as
 * overlapping. The ops of one thread normally do not overlap, but the
 * checker relies on nothing about threads (an iteration's per-key GETs
 * overlap the updates its own thread makes during the traversal, guarantee T5).
 *
 * Iteration (include/rcumap.h, guarantees T2 and T4). A traversal over
 * [t0, t1] that returned (key, value), or did not return a key, is checked as
 * a GET of that key with call t0, ret t1 and out = value (0 when not
 * returned): a GET over the whole traversal may see any state the key had at
 * some instant of it, so a key present throughout must be returned (T2) and a
 * returned value must be one the key had during the traversal (T4).
 * lincheck_iteration_ops() makes those GETs. Guarantee T3 (no key twice) is
 * checked by that helper, not by the search.
 *
 * Algorithm (lincheck.c has the details): Wing & Gong's search with Lowe's
 * improvements: per key, a doubly linked list of call and return events in
 * time order; the search linearizes any op whose call comes before the first
 * remaining return, undoes the last choice when it meets a return whose op
 * it could not place, and memoises every (set of linearized ops, state) it
 * reached, so no configuration is explored twice. A read or failed update
 * that fits the current state is placed at once with no alternative tried,
 * which loses no linearization (lincheck.c, "Reads first"). Cost: linear in the ops of
 * a key times the concurrency for a linearizable history recorded by a
 * correct map; exponential in the worst case, hence the step budget.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Operation kinds; values match the rcumap_* call of the same name. */
enum lincheck_kind {
	LINCHECK_GET = 0,
	LINCHECK_INSERT = 1,
	LINCHECK_PUT = 2,
	LINCHECK_REPLACE = 3,
	LINCHECK_CAS = 4,
	LINCHECK_DELETE = 5,
	LINCHECK_DELETE_IF = 6,
	LINCHECK_GET_OR_INSERT = 7,
};
#define LINCHECK_KINDS 8

/* lincheck_op.flags: where a GET came from (reports only). */
#define LINCHECK_FROM_ITER 1u  /* made by lincheck_iteration_ops */
#define LINCHECK_FROM_BATCH 2u /* one key of an rcumap_get_batch call, over the whole call */

/* One completed operation. Value id 0 means "no value" (NULL). */
struct lincheck_op {
	uint64_t call;     /* timestamp taken before the call */
	uint64_t ret;      /* timestamp taken after the return; > call */
	uint64_t value;    /* INSERT/PUT/REPLACE/GET_OR_INSERT value, CAS desired; else 0 */
	uint64_t expected; /* CAS, DELETE_IF; else 0 */
	uint64_t out;      /* GET: value found (0: not found); GET_OR_INSERT: *result */
	uint32_t key;      /* key id, < nkeys */
	uint32_t thread;   /* recording thread, for reports only */
	int32_t rc;        /* 0 or negative errno; GET: 0 */
	uint16_t kind;     /* enum lincheck_kind */
	uint16_t flags;    /* LINCHECK_FROM_ITER, LINCHECK_FROM_BATCH or 0 */
};

/* Verdicts; the return value of lincheck_check when it is not an error. */
enum lincheck_verdict {
	LINCHECK_OK = 0,      /* every key linearizable */
	LINCHECK_FAIL = 1,    /* some key is not linearizable: report.key */
	LINCHECK_UNKNOWN = 2, /* no key failed, but report.key ran out of budget */
};

/* Search steps allowed per key when lincheck_options.max_steps is 0. One
 * step is one attempt to linearize one op; a memoised configuration costs
 * about 32 bytes, so the default bounds the memory per key near 64 MiB and
 * the time near 0.2 s. A linearizable 5000-op key with 8 threads needs about
 * 50,000 steps. */
#define LINCHECK_DEFAULT_STEPS 2000000u

/* Options; zero-initialise. */
struct lincheck_options {
	uint32_t nkeys;           /* key space size: every op's key < nkeys; required */
	const uint64_t *initial;  /* [nkeys] initial state per key; NULL: all absent */
	uint64_t max_steps;       /* per key; 0: LINCHECK_DEFAULT_STEPS */
};

/* Most ops a report window holds. */
#define LINCHECK_WINDOW_MAX 32

/*
 * What lincheck_check found. For LINCHECK_FAIL and LINCHECK_UNKNOWN it
 * describes the deepest point of the search on report.key: the longest
 * sequence of that key's ops the search managed to linearize ("prefix"), the
 * op it then could not place ("blocked": its return was reached before any
 * order let it return what it returned), and the state the prefix left.
 * The window holds the blocked op, every op overlapping it, and the last ops
 * of the prefix, in call order.
 */
struct lincheck_report {
	int verdict;              /* enum lincheck_verdict */
	uint32_t key;             /* failing or undecided key; 0 for LINCHECK_OK */
	uint64_t steps;           /* steps spent, all keys checked */
	uint64_t key_steps;       /* steps spent on report.key */
	size_t key_ops;           /* ops of report.key (-ENOMEM ones skipped) */
	size_t prefix_len;        /* ops in the longest linearizable prefix */
	uint64_t state;           /* state after that prefix (0: absent) */
	size_t nwindow;           /* ops in window[] */
	size_t blocked;           /* index in window[] of the blocked op */
	struct lincheck_op window[LINCHECK_WINDOW_MAX];
	/* Position (from 1) of window[i] in the prefix; 0: not in the prefix. */
	size_t order[LINCHECK_WINDOW_MAX];
};

/*
 * lincheck_check - decide whether a history is linearizable.
 * @ops, @n: the history, any order, all keys mixed; not modified.
 * @opt: key space, initial states, step budget.
 * @report: receives the verdict and, unless LINCHECK_OK, where and why;
 * may be NULL.
 *
 * Keys are checked in increasing order; the first failing key stops the
 * check. A key out of budget is remembered and the check goes on, so a
 * failure on a later key still wins over "unknown".
 *
 * Return: LINCHECK_OK, LINCHECK_FAIL or LINCHECK_UNKNOWN; -EINVAL if ops is
 * NULL with n > 0, opt is NULL or nkeys is 0, or some op has a key >= nkeys,
 * call >= ret, an unknown kind, or a zero value id where the operation
 * needs one (INSERT, PUT, REPLACE, GET_OR_INSERT value; CAS expected and
 * desired; DELETE_IF expected); -ENOMEM.
 * Context: any thread; allocates with malloc. Time per key: O(steps *
 * (concurrency + log)), memory O(memoised configurations).
 */
int lincheck_check(const struct lincheck_op *ops, size_t n,
		   const struct lincheck_options *opt,
		   struct lincheck_report *report);

/*
 * lincheck_report_print - write a report as text lines.
 * @r: a report filled by lincheck_check.
 * @f: where to write.
 * @prefix: put at the start of every line ("# " for TAP); may be NULL.
 *
 * Example (test_lincheck.c: a GET of v10 after PUT v20 completed):
 *   key 3: NOT linearizable after 5 steps (5 ops on the key)
 *   longest linearizable prefix: 3 ops, leaving state v20
 *   window (call order; L<n>: place in that prefix; *: could not be placed):
 *       [10, 20] t0 PUT v10 -> 0                         L1
 *       [30, 40] t1 PUT v20 -> 0                         L2
 *     * [50, 60] t2 GET -> v10
 *       [55, 70] t0 GET -> v20                           L3
 */
void lincheck_report_print(const struct lincheck_report *r, FILE *f,
			   const char *prefix);

/*
 * lincheck_op_format - describe one op in one line, without a newline:
 * "[call, ret] t<thread> KIND args -> results".
 *
 * Return: the length snprintf would have written (as snprintf).
 * Context: any thread.
 */
int lincheck_op_format(const struct lincheck_op *op, char *buf, size_t size);

/* One (key, value) pair an iteration returned. */
struct lincheck_seen {
	uint32_t key;
	uint64_t value; /* value id returned; nonzero */
};

/*
 * lincheck_iteration_ops - turn one traversal into one GET per key.
 * @seen, @nseen: the pairs the traversal returned, in any order.
 * @nkeys: key space size; @out receives exactly nkeys ops, out[k] for key k.
 * @t0, @t1: timestamps taken before rcumap_iter_init (or the first
 * rcumap_scan call) and after the traversal ended.
 * @thread: recording thread, for reports.
 *
 * out[k] is a GET over [t0, t1] with out = the value returned for k, or 0
 * if k was not returned, and flags LINCHECK_FROM_ITER. Add them to the
 * history given to lincheck_check.
 *
 * Return: 0; -EINVAL if @out is NULL, @seen is NULL with nseen > 0,
 * t0 >= t1, a key >= nkeys or a value id 0; -EEXIST if some key was
 * returned twice: guarantee T3 is broken, report it as a failure (@out is
 * then filled only partly).
 * Context: any thread; no allocation.
 */
int lincheck_iteration_ops(const struct lincheck_seen *seen, size_t nseen,
			   uint32_t nkeys, uint64_t t0, uint64_t t1,
			   uint32_t thread, struct lincheck_op *out);

/*
 * Bounds on a count observed over [t0, t1] (timestamps as for an op).
 *
 * Per key, the checker looks only at "presence writes": INSERT and
 * GET_OR_INSERT with rc 0, PUT with rc 0 (leave the key present), DELETE and
 * DELETE_IF with rc 0 (leave it absent); no other op changes whether a key
 * is present. A write is "before" if ret < t0, "after" if call > t1, and
 * "overlapping" otherwise. A before-write w "may be last" if no before-write
 * w' has w.ret < w'.call. The key's possible presences at the instant of
 * the count are the effects of the before-writes that may be last (or the
 * initial state if there are none) together with the effects of the
 * overlapping writes.
 *
 * lo, hi: the keys whose possible presences are only "present", and the
 * key-space size minus those whose are only "absent". What it proves: if
 * the key histories are linearizable, then in every linearization of them
 * the number of present keys at any instant in (t0, t1) lies in [lo, hi]
 * (the last presence write before that instant is one of those counted).
 * A count outside [lo, hi] is not linearizable with the history. It is not
 * complete: reads and failed updates also constrain the state, and are not
 * used, so some non-linearizable counts pass.
 *
 * lo_relaxed, hi_relaxed: rcumap_count's own contract (docs/design.md, G5.1,
 * I7), which is weaker than linearizable: it sums per-stripe counters one
 * by one, and each presence write moves one stripe by its effect on the
 * key's presence (+1, -1 or 0), once, at some instant inside its interval
 * that need not be its linearization point. Take the instant the count
 * reads the stripe of key k: the writes of k applied to the stripe by then
 * and the writes of k linearized by then both hold every write that
 * returned before t0 and none called after t1, so they differ only in
 * overlapping writes, each changing the sum by at most one. The linearized
 * ones sum to k's presence at an instant inside [t0, t1]. So the count lies
 * in [lo - ov, hi + ov], ov being the number of overlapping presence
 * writes; lo_relaxed clamps at 0 as rcumap_count does. (Bounds that assume
 * an overlapping write is never linearized before one that returned before
 * t0 are unsound: an insert still in progress can be linearized before a
 * delete that has already returned, and a count can see the delete's -1
 * without the insert's +1.) Check rcumap_count against these; [lo, hi] is
 * for a linearizable count.
 * Both pairs contain the exact count when nothing overlaps.
 */
struct lincheck_count_bounds {
	uint64_t lo, hi;
	uint64_t lo_relaxed, hi_relaxed;
};

/*
 * lincheck_count_bounds - compute the bounds above for a count over [t0, t1].
 * @ops, @n, @opt: the history, as for lincheck_check (opt->max_steps unused).
 * @out: receives the bounds.
 *
 * Return: 0; -EINVAL as lincheck_check for bad ops or options, or if
 * t0 >= t1 or out is NULL; -ENOMEM.
 * Context: any thread; O(n + nkeys) time and O(nkeys) memory per call.
 */
int lincheck_count_bounds(const struct lincheck_op *ops, size_t n,
			  const struct lincheck_options *opt,
			  uint64_t t0, uint64_t t1,
			  struct lincheck_count_bounds *out);

#ifdef __cplusplus
}
#endif

#endif /* RCUMAP_LINCHECK_H */
