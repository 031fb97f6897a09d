/* SPDX-License-Identifier: MIT */
/* lincheck.c: per-key linearizability search (Wing & Gong, Lowe) with memoisation; see lincheck.h. */

/*
 * The search, for one key's ops numbered 0..n-1 in call order:
 *
 * - Events. Each op has a call and a return event. The 2n events sit in a
 *   doubly linked list in time order (at equal times calls first, so equal
 *   timestamps count as overlapping), closed by a sentinel. Linearizing an
 *   op unlinks both its events ("lift"); undoing it relinks them in reverse
 *   order ("unlift"), which restores the list exactly (dancing links).
 * - Candidates. An op may go next exactly when its call event lies before
 *   the first return event left in the list: every op whose return comes
 *   earlier is already placed, so real-time order (L1) holds by
 *   construction. The walk starts at the head and tries each call event
 *   until it meets a return event.
 * - Step. Trying an op runs the model on the current state. If the op's
 *   recorded result matches, the op is lifted, pushed on the stack with the
 *   state before it, and the walk restarts from the head.
 * - Backtrack. Meeting a return event means its op can no longer be placed
 *   after the current prefix: pop the last op, unlift it, restore the state
 *   and try the next candidate after it. Popping from an empty stack means
 *   no order exists: not linearizable.
 * - Memo (Lowe). Two search paths that placed the same set of ops and reached
 *   the same state have the same future, so each (set, state) is recorded on
 *   first reach and a step that would reach a recorded one is refused. Each
 *   configuration is thus expanded at most once: the bound that makes long
 *   histories tractable.
 * - Reads first. A read-only op (a GET, or an update that failed: neither
 *   changes the state) that is a candidate and fits the current state can
 *   be placed at once without losing any linearization: in any completion
 *   that places it later, moving it forward to now keeps every other op's
 *   state (it changes none) and breaks no real-time order (it is a
 *   candidate, so no unplaced op returned before it was called). So in a
 *   new configuration such an op is placed with no alternative tried
 *   ("forced"); backtracking undoes forced placements without trying other
 *   branches there, and if the configuration it leads to is in the memo
 *   (so it failed: the current path's configurations all have fewer ops)
 *   the current one has failed too. Only updates that succeeded are branched on, which cuts
 *   the steps of a typical torture history by about ten.
 * - Compact sets. The head of the list is always a call event (a return
 *   whose call is still listed cannot come first), and it is the smallest
 *   unplaced op f, so ops 0..f-1 are all placed. A set is stored as f, the
 *   bitset words from f/64 to the largest placed op, and nothing else: a few
 *   words even for thousands of ops, because placed ops beyond f are ones
 *   overlapping the still-unplaced op f.
 */

#include "lincheck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h" /* testlib/: errname */

/* ---- Model ------------------------------------------------------------------ */

/* Apply @op to state @s: true with *next set when @op may return what it did. */
static bool model_step(const struct lincheck_op *op, uint64_t s, uint64_t *next)
{
	*next = s;
	switch (op->kind) {
	case LINCHECK_GET:
		return op->rc == 0 && op->out == s;
	case LINCHECK_INSERT:
		if (s != 0)
			return op->rc == -EEXIST;
		*next = op->value;
		return op->rc == 0;
	case LINCHECK_PUT:
		*next = op->value;
		return op->rc == 0;
	case LINCHECK_REPLACE:
		if (s == 0)
			return op->rc == -ENOENT;
		*next = op->value;
		return op->rc == 0;
	case LINCHECK_CAS:
		if (s == 0)
			return op->rc == -ENOENT;
		if (s != op->expected)
			return op->rc == -EAGAIN;
		*next = op->value;
		return op->rc == 0;
	case LINCHECK_DELETE:
		if (s == 0)
			return op->rc == -ENOENT;
		*next = 0;
		return op->rc == 0;
	case LINCHECK_DELETE_IF:
		if (s == 0)
			return op->rc == -ENOENT;
		if (s != op->expected)
			return op->rc == -EAGAIN;
		*next = 0;
		return op->rc == 0;
	case LINCHECK_GET_OR_INSERT:
		if (s != 0)
			return op->rc == -EEXIST && op->out == s;
		*next = op->value;
		return op->rc == 0 && op->out == op->value;
	}
	return false;
}

/* Structural validity (lincheck_check's -EINVAL list). */
static bool op_valid(const struct lincheck_op *op, uint32_t nkeys)
{
	if (op->key >= nkeys || op->call >= op->ret || op->kind >= LINCHECK_KINDS)
		return false;
	switch (op->kind) {
	case LINCHECK_INSERT:
	case LINCHECK_PUT:
	case LINCHECK_REPLACE:
	case LINCHECK_GET_OR_INSERT:
		return op->value != 0;
	case LINCHECK_CAS:
		return op->value != 0 && op->expected != 0;
	case LINCHECK_DELETE_IF:
		return op->expected != 0;
	default:
		return true;
	}
}

static int check_args(const struct lincheck_op *ops, size_t n,
		      const struct lincheck_options *opt)
{
	if ((!ops && n) || !opt || opt->nkeys == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!op_valid(&ops[i], opt->nkeys))
			return -EINVAL;
	return 0;
}

/* ---- Memo: the set of (placed ops, state) configurations reached ----------- */

/*
 * Records live in one growing array of words:
 *   [f | nwords << 32] [state] [nwords bitset words, from word f / 64]
 * The table maps a hash to a record: slot = tag << 32 | (offset + 1), with
 * 0 for an empty slot; tag is the hash's high half, checked before the
 * record is touched.
 */
struct memo {
	uint64_t *rec;
	size_t used, cap;   /* in words */
	uint64_t *slot;
	size_t mask;        /* slots - 1 */
	size_t count;       /* records; the table stays at most half full */
};

#define GOLDEN 0x9e3779b97f4a7c15ull /* 2^64 / phi, odd: a bijective multiplier */

static uint64_t hash_record(const uint64_t *w, size_t nw)
{
	uint64_t h = GOLDEN;

	for (size_t i = 0; i < nw; i++) {
		h = (h ^ w[i]) * GOLDEN;
		h ^= h >> 31; /* let high bits reach the low bits used for indexing */
	}
	h *= GOLDEN;
	return h ^ (h >> 32);
}

static void memo_reset(struct memo *m)
{
	m->used = 0;
	m->count = 0;
	if (m->slot)
		memset(m->slot, 0, (m->mask + 1) * sizeof(*m->slot));
}

static void memo_free(struct memo *m)
{
	free(m->rec);
	free(m->slot);
	memset(m, 0, sizeof(*m));
}

static int memo_grow_table(struct memo *m)
{
	size_t nslots = m->slot ? (m->mask + 1) * 2 : 1024;
	uint64_t *slot = calloc(nslots, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; m->slot && i <= m->mask; i++) {
		uint64_t s = m->slot[i];
		const uint64_t *r;
		size_t j;

		if (!s)
			continue;
		r = m->rec + (uint32_t)s - 1;
		j = hash_record(r, 2 + (r[0] >> 32)) & (nslots - 1);
		while (slot[j])
			j = (j + 1) & (nslots - 1);
		slot[j] = s;
	}
	free(m->slot);
	m->slot = slot;
	m->mask = nslots - 1;
	return 0;
}

/*
 * Record the configuration: f, bits[f/64 .. maxop/64] (none if maxop < f or
 * maxop < 0), state. Return 1 if it is new, 0 if already recorded, -ENOMEM,
 * or -E2BIG when the record array outgrows the 32-bit offsets (treated as
 * an exhausted budget).
 */
static int memo_add(struct memo *m, const uint64_t *bits, uint32_t f,
		    int64_t maxop, uint64_t state)
{
	size_t w0 = f / 64, nw = 0, need;
	uint64_t *r, h;
	size_t j;

	if (maxop >= (int64_t)f)
		nw = (size_t)maxop / 64 - w0 + 1;
	need = 2 + nw;
	if (m->used + need > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 4096;
		uint64_t *rec;

		while (cap < m->used + need)
			cap *= 2;
		if (cap > UINT32_MAX)
			return -E2BIG;
		rec = realloc(m->rec, cap * sizeof(*rec));
		if (!rec)
			return -ENOMEM;
		m->rec = rec;
		m->cap = cap;
	}
	if (2 * (m->count + 1) > (m->slot ? m->mask + 1 : 0)) {
		int err = memo_grow_table(m);

		if (err)
			return err;
	}
	/* Build the record in place, past the end; commit it only if new. */
	r = m->rec + m->used;
	r[0] = (uint64_t)f | (uint64_t)nw << 32;
	r[1] = state;
	if (nw)
		memcpy(r + 2, bits + w0, nw * sizeof(*r));
	h = hash_record(r, need);
	for (j = h & m->mask; m->slot[j]; j = (j + 1) & m->mask) {
		const uint64_t *o;

		if (m->slot[j] >> 32 != h >> 32)
			continue;
		o = m->rec + (uint32_t)m->slot[j] - 1;
		if (o[0] == r[0] && !memcmp(o + 1, r + 1, (need - 1) * sizeof(*r)))
			return 0;
	}
	m->slot[j] = (h >> 32) << 32 | (uint64_t)(m->used + 1);
	m->used += need;
	m->count++;
	return 1;
}

/* ---- Search on one key -------------------------------------------------------- */

struct ev {
	int32_t prev, next; /* list links; index 2n is the sentinel */
	int32_t ret;        /* call event: index of its return event; return event: -1 */
	uint32_t op;        /* op index (call order) */
};

struct frame {
	int32_t ev;     /* call event of the op placed */
	int64_t maxop;  /* largest op index placed so far, this one included */
	uint64_t state; /* state before the op */
	bool forced;    /* a read-only op placed first: no alternative to try */
};

/* Scratch sized for the largest key, reused across keys. */
struct search {
	const struct lincheck_op *const *op; /* the key's ops in call order */
	uint32_t n;
	struct ev *ev;        /* [2n + 1] */
	uint64_t *bits;       /* [n / 64 + 1]: placed ops */
	struct frame *stack;  /* [n] */
	struct memo memo;
	uint64_t steps;
	/* Deepest point at which a return event was met (see lincheck_report). */
	bool have_best;
	uint32_t best_blocked;
	uint64_t best_state;
	uint32_t best_len;
	uint32_t *best_prefix; /* [n]: op indices in placement order */
};

static void lift(struct ev *ev, int32_t c)
{
	int32_t r = ev[c].ret;

	ev[ev[c].prev].next = ev[c].next;
	ev[ev[c].next].prev = ev[c].prev;
	ev[ev[r].prev].next = ev[r].next;
	ev[ev[r].next].prev = ev[r].prev;
}

static void unlift(struct ev *ev, int32_t c)
{
	int32_t r = ev[c].ret;

	ev[ev[r].prev].next = r;
	ev[ev[r].next].prev = r;
	ev[ev[c].prev].next = c;
	ev[ev[c].next].prev = c;
}

struct stamp {
	uint64_t t;
	uint32_t op;
	uint32_t is_ret; /* calls sort first at equal times: ties overlap */
};

static int stamp_cmp(const void *a, const void *b)
{
	const struct stamp *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->is_ret != y->is_ret)
		return x->is_ret < y->is_ret ? -1 : 1;
	return x->op < y->op ? -1 : x->op > y->op;
}

/* Build the event list for s->op[0..n). @st: scratch [2n]. */
static void build_events(struct search *s, struct stamp *st)
{
	uint32_t n = s->n, sent = 2 * n;
	int32_t *call_ev = (int32_t *)s->best_prefix; /* free until the search */

	for (uint32_t i = 0; i < n; i++) {
		st[2 * i] = (struct stamp){ s->op[i]->call, i, 0 };
		st[2 * i + 1] = (struct stamp){ s->op[i]->ret, i, 1 };
	}
	qsort(st, 2 * (size_t)n, sizeof(*st), stamp_cmp);
	for (uint32_t i = 0; i < 2 * n; i++) {
		s->ev[i].prev = i ? (int32_t)i - 1 : (int32_t)sent;
		s->ev[i].next = (int32_t)i + 1;
		s->ev[i].op = st[i].op;
		s->ev[i].ret = -1;
		if (!st[i].is_ret)
			call_ev[st[i].op] = (int32_t)i;
		else
			s->ev[call_ev[st[i].op]].ret = (int32_t)i;
	}
	s->ev[sent].prev = (int32_t)sent - 1;
	s->ev[sent].next = 0;
	s->ev[sent].ret = 0; /* never read: the walk stops at a return first */
	s->ev[sent].op = n;
	memset(s->bits, 0, (n / 64 + 1) * sizeof(*s->bits));
}

static void note_best(struct search *s, uint32_t depth, uint32_t blocked,
		      uint64_t state)
{
	if (s->have_best && depth <= s->best_len)
		return;
	s->have_best = true;
	s->best_blocked = blocked;
	s->best_state = state;
	s->best_len = depth;
	for (uint32_t i = 0; i < depth; i++)
		s->best_prefix[i] = s->ev[s->stack[i].ev].op;
}

/* Ops that never change the state: reads, and updates that failed. */
static bool read_only(const struct lincheck_op *op)
{
	return op->kind == LINCHECK_GET || op->rc != 0;
}

/*
 * Try to place the op of call event @e after the current prefix. Return 1
 * if placed (pushed, *state advanced), 0 if its result does not fit the
 * state, 2 if it fits but leads to a configuration explored already, or a
 * negative errno (-E2BIG: the memo is full).
 */
static int place(struct search *s, int32_t e, uint32_t *depth, uint64_t *state,
		 bool forced)
{
	uint32_t o = s->ev[e].op;
	int64_t maxop = *depth ? s->stack[*depth - 1].maxop : -1;
	uint64_t next;
	int added;

	if (!model_step(s->op[o], *state, &next))
		return 0;
	if ((int64_t)o > maxop)
		maxop = o;
	s->bits[o / 64] |= 1ull << (o % 64);
	lift(s->ev, e);
	added = memo_add(&s->memo, s->bits, s->ev[s->ev[2 * s->n].next].op,
			 maxop, next);
	if (added == 1) {
		s->stack[(*depth)++] = (struct frame){ e, maxop, *state, forced };
		*state = next;
		return 1;
	}
	unlift(s->ev, e);
	s->bits[o / 64] &= ~(1ull << (o % 64));
	return added == 0 ? 2 : added;
}

/* Run the search; returns a verdict or a negative errno. */
static int search_key(struct search *s, uint64_t init, uint64_t budget)
{
	struct ev *ev = s->ev;
	const int32_t sent = 2 * (int32_t)s->n;
	uint32_t depth = 0;
	uint64_t state = init;
	bool fresh = true;
	int32_t e = ev[sent].next;
	int r = 0;

	s->have_best = false;
	s->steps = 0;
	memo_reset(&s->memo);
	while (ev[sent].next != sent) {
		struct frame *f;

		if (fresh) {
			/*
			 * A new configuration. If a read-only candidate fits the
			 * state, placing it now loses no linearization (the file
			 * header, "Reads first"), so it is the only branch tried
			 * here, and if its configuration already failed so
			 * does this one.
			 */
			fresh = false;
			r = 0;
			for (int32_t c = ev[sent].next; ev[c].ret >= 0 && r == 0; c = ev[c].next) {
				if (!read_only(s->op[ev[c].op]))
					continue;
				if (++s->steps > budget)
					return LINCHECK_UNKNOWN;
				r = place(s, c, &depth, &state, true);
			}
			if (r == 1) {
				fresh = true;
				continue;
			}
			if (r == -E2BIG)
				return LINCHECK_UNKNOWN;
			if (r < 0)
				return r;
			e = ev[sent].next;
			if (r == 2)
				goto backtrack;
		}
		if (ev[e].ret >= 0) {
			/* Read-only candidates did not fit this state (above). */
			if (!read_only(s->op[ev[e].op])) {
				if (++s->steps > budget)
					return LINCHECK_UNKNOWN;
				r = place(s, e, &depth, &state, false);
				if (r == 1) {
					fresh = true;
					continue;
				}
				if (r == -E2BIG)
					return LINCHECK_UNKNOWN;
				if (r < 0)
					return r;
			}
			e = ev[e].next;
			continue;
		}
		/* A return event: its op cannot be placed after this prefix. */
		note_best(s, depth, ev[e].op, state);
backtrack:
		/* Undo the last choice; a forced one had no alternative, undo on. */
		do {
			if (depth == 0)
				return LINCHECK_FAIL;
			f = &s->stack[--depth];
			e = f->ev;
			state = f->state;
			s->bits[ev[e].op / 64] &= ~(1ull << (ev[e].op % 64));
			unlift(ev, e);
		} while (f->forced);
		e = ev[e].next;
	}
	return LINCHECK_OK;
}

/* ---- Report ------------------------------------------------------------------- */

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Tail of the best prefix kept in a window, before the overlapping ops. */
#define WINDOW_TAIL 8

static void fill_report(struct lincheck_report *r, const struct search *s,
			int verdict, uint32_t key)
{
	uint32_t pick[LINCHECK_WINDOW_MAX], npick = 0, x = s->best_blocked;
	const struct lincheck_op *bx;

	r->verdict = verdict;
	r->key = key;
	r->key_steps = s->steps;
	r->key_ops = s->n;
	r->nwindow = 0;
	r->blocked = 0;
	r->prefix_len = s->have_best ? s->best_len : 0;
	r->state = s->have_best ? s->best_state : 0;
	if (!s->have_best)
		return;
	bx = s->op[x];
	pick[npick++] = x;
	for (uint32_t i = s->best_len > WINDOW_TAIL ? s->best_len - WINDOW_TAIL : 0;
	     i < s->best_len; i++)
		pick[npick++] = s->best_prefix[i];
	/* Then the ops overlapping the blocked one, nearest in call order first;
	 * a long op far back may overlap it too, so the backward side runs to 0. */
	for (uint32_t d = 1; d < s->n && npick < LINCHECK_WINDOW_MAX; d++) {
		uint32_t cand[2] = { x >= d ? x - d : UINT32_MAX, x + d };

		for (int c = 0; c < 2 && npick < LINCHECK_WINDOW_MAX; c++) {
			const struct lincheck_op *o;
			bool dup = false;

			if (cand[c] >= s->n)
				continue;
			o = s->op[cand[c]];
			if (o->call > bx->ret || o->ret < bx->call)
				continue;
			for (uint32_t k = 0; k < npick && !dup; k++)
				dup = pick[k] == cand[c];
			if (!dup)
				pick[npick++] = cand[c];
		}
	}
	qsort(pick, npick, sizeof(*pick), u32_cmp);
	for (uint32_t i = 0; i < npick; i++) {
		if (i && pick[i] == pick[i - 1])
			continue;
		r->order[r->nwindow] = 0;
		for (uint32_t k = 0; k < s->best_len; k++)
			if (s->best_prefix[k] == pick[i])
				r->order[r->nwindow] = k + 1;
		if (pick[i] == x)
			r->blocked = r->nwindow;
		r->window[r->nwindow++] = *s->op[pick[i]];
	}
}

/* A return code for reports: its name (testlib/util.h), or else its number. */
static const char *rc_name(int rc, char *buf, size_t size)
{
	const char *name = errname(rc);

	if (strcmp(name, "?") != 0)
		return name;
	snprintf(buf, size, "%d", rc);
	return buf;
}

static const char *val_name(uint64_t v, char *buf, size_t size)
{
	if (!v)
		return "none";
	snprintf(buf, size, "v%" PRIu64, v);
	return buf;
}

int lincheck_op_format(const struct lincheck_op *op, char *buf, size_t size)
{
	static const char *const names[LINCHECK_KINDS] = {
		"GET", "INSERT", "PUT", "REPLACE", "CAS", "DELETE", "DELETE_IF",
		"GET_OR_INSERT",
	};
	char b1[32], b2[32], b3[32], b4[16];
	const char *name = op->kind < LINCHECK_KINDS ? names[op->kind] : "?";
	const char *rc = rc_name(op->rc, b4, sizeof(b4));
	int len = snprintf(buf, size, "[%" PRIu64 ", %" PRIu64 "] t%" PRIu32 " %s",
			   op->call, op->ret, op->thread,
			   op->kind != LINCHECK_GET ? name :
			   (op->flags & LINCHECK_FROM_ITER) ? "ITER-GET" :
			   (op->flags & LINCHECK_FROM_BATCH) ? "BATCH-GET" : name);
	size_t at = len < 0 ? 0 : (size_t)len;
	char *p = at < size ? buf + at : NULL;
	size_t left = at < size ? size - at : 0;
	int more;

	switch (op->kind) {
	case LINCHECK_GET:
		more = snprintf(p, left, " -> %s", val_name(op->out, b1, sizeof(b1)));
		break;
	case LINCHECK_DELETE:
		more = snprintf(p, left, " -> %s", rc);
		break;
	case LINCHECK_CAS:
		more = snprintf(p, left, " %s => %s -> %s",
				val_name(op->expected, b1, sizeof(b1)),
				val_name(op->value, b2, sizeof(b2)), rc);
		break;
	case LINCHECK_DELETE_IF:
		more = snprintf(p, left, " %s -> %s",
				val_name(op->expected, b1, sizeof(b1)), rc);
		break;
	case LINCHECK_GET_OR_INSERT:
		more = snprintf(p, left, " %s -> %s, %s",
				val_name(op->value, b1, sizeof(b1)), rc,
				val_name(op->out, b3, sizeof(b3)));
		break;
	default:
		more = snprintf(p, left, " %s -> %s",
				val_name(op->value, b1, sizeof(b1)), rc);
		break;
	}
	return len < 0 || more < 0 ? -1 : len + more;
}

void lincheck_report_print(const struct lincheck_report *r, FILE *f,
			   const char *prefix)
{
	char line[256], b[32];
	const char *p = prefix ? prefix : "";

	if (r->verdict == LINCHECK_OK) {
		fprintf(f, "%slinearizable (%" PRIu64 " steps)\n", p, r->steps);
		return;
	}
	fprintf(f, "%skey %" PRIu32 ": %s after %" PRIu64 " steps (%zu ops on the key)\n",
		p, r->key, r->verdict == LINCHECK_FAIL ? "NOT linearizable" :
		"UNKNOWN, step budget exhausted", r->key_steps, r->key_ops);
	if (r->nwindow == 0) {
		fprintf(f, "%sno op was found blocked\n", p);
		return;
	}
	fprintf(f, "%slongest linearizable prefix: %zu ops, leaving state %s\n", p,
		r->prefix_len, val_name(r->state, b, sizeof(b)));
	fprintf(f, "%swindow (call order; L<n>: place in that prefix; *: could not be placed):\n", p);
	for (size_t i = 0; i < r->nwindow; i++) {
		lincheck_op_format(&r->window[i], line, sizeof(line));
		if (r->order[i])
			fprintf(f, "%s  %s %-48s L%zu\n", p, i == r->blocked ? "*" : " ",
				line, r->order[i]);
		else
			fprintf(f, "%s  %s %s\n", p, i == r->blocked ? "*" : " ", line);
	}
}

/* ---- Entry points ------------------------------------------------------------- */

/* An op's sort key; the history is checked in (key, call, ret, position) order. */
struct sortrec {
	uint64_t call, ret;
	size_t pos;
	uint32_t key;
};

static int sortrec_cmp(const void *a, const void *b)
{
	const struct sortrec *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->call != y->call)
		return x->call < y->call ? -1 : 1;
	if (x->ret != y->ret)
		return x->ret < y->ret ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

int lincheck_check(const struct lincheck_op *ops, size_t n,
		   const struct lincheck_options *opt,
		   struct lincheck_report *report)
{
	struct lincheck_report dummy;
	struct search s;
	struct stamp *st = NULL;
	const struct lincheck_op **kop = NULL;
	struct sortrec *idx = NULL;
	size_t m = 0, maxrun = 0;
	uint64_t budget;
	int err, verdict = LINCHECK_OK;
	bool have_unknown = false;

	err = check_args(ops, n, opt);
	if (err)
		return err;
	if (!report)
		report = &dummy;
	memset(report, 0, sizeof(*report));
	memset(&s, 0, sizeof(s));
	budget = opt->max_steps ? opt->max_steps : LINCHECK_DEFAULT_STEPS;
	if (n > INT32_MAX / 2 - 1)
		return -EINVAL; /* event indices are int32_t */

	idx = malloc((n ? n : 1) * sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (ops[i].rc != -ENOMEM) /* no effect, no constraint */
			idx[m++] = (struct sortrec){ ops[i].call, ops[i].ret, i, ops[i].key };
	qsort(idx, m, sizeof(*idx), sortrec_cmp);
	for (size_t i = 0, j; i < m; i = j) {
		for (j = i; j < m && idx[j].key == idx[i].key; j++)
			;
		if (j - i > maxrun)
			maxrun = j - i;
	}
	err = -ENOMEM;
	kop = malloc((maxrun + 1) * sizeof(*kop));
	st = malloc((2 * maxrun + 1) * sizeof(*st));
	s.ev = malloc((2 * maxrun + 1) * sizeof(*s.ev));
	s.bits = malloc((maxrun / 64 + 1) * sizeof(*s.bits));
	s.stack = malloc((maxrun + 1) * sizeof(*s.stack));
	s.best_prefix = malloc((maxrun + 1) * sizeof(*s.best_prefix));
	if (!kop || !st || !s.ev || !s.bits || !s.stack || !s.best_prefix)
		goto out;
	s.op = kop;

	for (size_t i = 0, j; i < m; i = j) {
		uint32_t key = idx[i].key;
		int v;

		for (j = i; j < m && idx[j].key == key; j++)
			kop[j - i] = &ops[idx[j].pos];
		s.n = (uint32_t)(j - i);
		build_events(&s, st);
		v = search_key(&s, opt->initial ? opt->initial[key] : 0, budget);
		report->steps += s.steps;
		if (v < 0) {
			err = v;
			goto out;
		}
		if (v == LINCHECK_FAIL) {
			fill_report(report, &s, v, key);
			verdict = v;
			break;
		}
		if (v == LINCHECK_UNKNOWN && !have_unknown) {
			fill_report(report, &s, v, key);
			have_unknown = true;
			verdict = v;
		}
	}
	report->verdict = verdict;
	err = verdict;
out:
	memo_free(&s.memo);
	free(s.best_prefix);
	free(s.stack);
	free(s.bits);
	free(s.ev);
	free(st);
	free(kop);
	free(idx);
	return err;
}

int lincheck_iteration_ops(const struct lincheck_seen *seen, size_t nseen,
			   uint32_t nkeys, uint64_t t0, uint64_t t1,
			   uint32_t thread, struct lincheck_op *out)
{
	if (!out || (!seen && nseen) || t0 >= t1)
		return -EINVAL;
	for (size_t i = 0; i < nseen; i++)
		if (seen[i].key >= nkeys || seen[i].value == 0)
			return -EINVAL;
	for (uint32_t k = 0; k < nkeys; k++)
		out[k] = (struct lincheck_op){
			.call = t0, .ret = t1, .key = k, .thread = thread,
			.kind = LINCHECK_GET, .flags = LINCHECK_FROM_ITER,
		};
	for (size_t i = 0; i < nseen; i++) {
		if (out[seen[i].key].out != 0)
			return -EEXIST; /* guarantee T3: no key twice */
		out[seen[i].key].out = seen[i].value;
	}
	return 0;
}

/* Presence bits for lincheck_count_bounds. */
#define MAY_PRESENT 1u
#define MAY_ABSENT 2u

/* MAY_PRESENT or MAY_ABSENT for a presence write, 0 for any other op. */
static unsigned presence_write(const struct lincheck_op *op)
{
	if (op->rc != 0)
		return 0;
	switch (op->kind) {
	case LINCHECK_INSERT:
	case LINCHECK_PUT:
	case LINCHECK_GET_OR_INSERT:
		return MAY_PRESENT;
	case LINCHECK_DELETE:
	case LINCHECK_DELETE_IF:
		return MAY_ABSENT;
	default:
		return 0;
	}
}

int lincheck_count_bounds(const struct lincheck_op *ops, size_t n,
			  const struct lincheck_options *opt,
			  uint64_t t0, uint64_t t1,
			  struct lincheck_count_bounds *out)
{
	struct per_key {
		uint64_t maxcall;   /* largest call among before-writes */
		bool any_before;
		unsigned before;    /* effects of before-writes that may be last */
		unsigned overlap;   /* effects of overlapping writes */
	} *pk;
	uint64_t ov = 0;            /* overlapping presence writes, all keys */
	int err = check_args(ops, n, opt);

	if (err)
		return err;
	if (!out || t0 >= t1)
		return -EINVAL;
	pk = calloc(opt->nkeys, sizeof(*pk));
	if (!pk)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct per_key *k = &pk[ops[i].key];
		unsigned w = presence_write(&ops[i]);

		if (!w)
			continue;
		if (ops[i].ret < t0) {
			if (!k->any_before || ops[i].call > k->maxcall)
				k->maxcall = ops[i].call;
			k->any_before = true;
		} else if (ops[i].call <= t1) {
			k->overlap |= w;
			ov++;
		}
	}
	/* A before-write may be last unless a before-write is called after it
	 * returned: ret >= the latest before-call (equal times overlap). */
	for (size_t i = 0; i < n; i++) {
		struct per_key *k = &pk[ops[i].key];
		unsigned w = presence_write(&ops[i]);

		if (w && ops[i].ret < t0 && ops[i].ret >= k->maxcall)
			k->before |= w;
	}
	memset(out, 0, sizeof(*out));
	for (uint32_t key = 0; key < opt->nkeys; key++) {
		struct per_key *k = &pk[key];
		unsigned lin;

		if (!k->any_before)
			k->before = opt->initial && opt->initial[key] ? MAY_PRESENT : MAY_ABSENT;
		lin = k->before | k->overlap;
		out->lo += lin == MAY_PRESENT;
		out->hi += lin != MAY_ABSENT;
	}
	out->lo_relaxed = out->lo > ov ? out->lo - ov : 0;
	out->hi_relaxed = out->hi + ov;
	free(pk);
	return 0;
}
