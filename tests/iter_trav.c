/* SPDX-License-Identifier: MIT */
/* iter_trav.c: test_iter's traversal checker: the recorder of guarantees T2, T3, T4 and the walks that feed it. */

#define _GNU_SOURCE

#include "flavor.h" /* first: the liburcu flavor header */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rcumap.h>

#include "fixture.h"
#include "iter_tests.h"

/* ---- Traversal recorder: checks T2, T3, T4 for one traversal ----------------- */

const char *const terr_name[E_KINDS] = {
	"DUPLICATE", "MISSED", "GHOST", "STALE", "BADKEY", "BADVALUE", "SPLIT",
	"CURSOR", "CALLSIZE", "UPDATE", "SETUP",
};

void trav_init(struct trav *tv, struct fx *f, bool in_section)
{
	memset(tv, 0, sizeof(*tv));
	tv->f = f;
	tv->count = calloc(f->nkeys, sizeof(*tv->count));
	tv->st = calloc(f->nkeys, sizeof(*tv->st));
	tv->call = calloc(f->nkeys, sizeof(*tv->call));
	tv->valid = calloc(f->tr->n, sizeof(*tv->valid));
	assert_true(tv->count && tv->st && tv->call && tv->valid);
	if (in_section) {
		tv->capheld = 4 * f->nkeys + 1100;
		tv->held = malloc(tv->capheld * sizeof(*tv->held));
		assert_non_null(tv->held);
	}
}

void trav_fini(struct trav *tv)
{
	free(tv->count);
	free(tv->st);
	free(tv->call);
	free(tv->valid);
	free(tv->held);
	memset(tv, 0, sizeof(*tv));
}

void terr(struct trav *tv, enum terr kind, const char *fmt, ...)
{
	va_list ap;

	tv->kinds[kind]++;
	if (tv->nerr < TRAV_MSGS) {
		va_start(ap, fmt);
		vsnprintf(tv->msg[tv->nerr], sizeof(tv->msg[0]), fmt, ap);
		va_end(ap);
	}
	tv->nerr++;
}

static void trav_begin(struct trav *tv)
{
	struct fx *f = tv->f;

	memset(tv->count, 0, f->nkeys * sizeof(*tv->count));
	memset(tv->call, 0, f->nkeys * sizeof(*tv->call));
	memset(tv->valid, 0, f->tr->n * sizeof(*tv->valid));
	for (size_t i = 0; i < f->nkeys; i++) {
		tv->st[i] = f->ref[i] ? K_PRESENT : K_ABSENT;
		if (f->ref[i])
			tv->valid[f->ref[i]->id] = true;
	}
	tv->returned = tv->nheld = 0;
	tv->deleted_unvisited = tv->deleted_unvisited_seen = tv->gone = 0;
	tv->bound = POS_END;
	f->tv = tv;
}

static bool trav_ahead(const struct trav *tv, size_t id)
{
	return rev32(tv->f->fold[id]) >= tv->bound;
}

void trav_note_store(struct trav *tv, size_t id, struct tval *v, struct tval *old)
{
	if (!tv)
		return;
	if (tv->st[id] == K_ABSENT || tv->st[id] == K_GONE)
		tv->st[id] = K_CHANGED; /* inserted during the traversal */
	tv->valid[v->id] = true;        /* a replacement keeps K_PRESENT */
	if (old && trav_ahead(tv, id))
		tv->valid[old->id] = false; /* replaced before its step began (T4.3) */
}

void trav_note_delete(struct trav *tv, size_t id, struct tval *old)
{
	if (!tv)
		return;
	if (tv->count[id] == 0 && tv->st[id] == K_PRESENT)
		tv->deleted_unvisited++;
	tv->st[id] = K_CHANGED;
	if (trav_ahead(tv, id)) {
		tv->st[id] = K_GONE;
		tv->gone++;
		if (old)
			tv->valid[old->id] = false;
	}
}

/* One returned entry: which key it is, and whether it may be returned with this value. */
static long trav_saw(struct trav *tv, const void *key, size_t len, void *value, unsigned call)
{
	struct fx *f = tv->f;
	long id = ikey_decode(f->ks, key, len, f->nkeys);
	struct tval *v = value;

	tv->returned++;
	if (id < 0) {
		terr(tv, E_BADKEY, "BADKEY: a returned key (%zu bytes) is not a key of the test", len);
		return -1;
	}
	if (++tv->count[id] == 2)
		terr(tv, E_DUPLICATE, "DUPLICATE: key %ld returned twice (T3)", id);
	tv->call[id] = call;
	if (tv->st[id] == K_ABSENT)
		terr(tv, E_GHOST, "GHOST: key %ld returned although absent for the whole traversal (T4)",
		     id);
	else if (tv->st[id] == K_GONE)
		terr(tv, E_GHOST, "GHOST: key %ld returned although deleted before the traversal "
		     "reached its position (T4.3)", id);
	if ((tv->st[id] == K_CHANGED || tv->st[id] == K_GONE) && f->ref[id] == NULL)
		tv->deleted_unvisited_seen += tv->count[id] == 1;
	if (!tracker_owns(f->tr, v))
		terr(tv, E_BADVALUE, "BADVALUE: key %ld returned with %p, not a test value", id, value);
	else if (v->magic != TVAL_LIVE || tval_freed(v))
		terr(tv, E_BADVALUE, "BADVALUE: key %ld returned with value %zu, already freed", id,
		     v->id);
	else if (f->owner[v->id] != (size_t)id)
		terr(tv, E_BADVALUE, "BADVALUE: key %ld returned with value %zu, made for key %zu", id,
		     v->id, f->owner[v->id]);
	else if (!tv->valid[v->id])
		terr(tv, E_STALE,
		     "STALE: key %ld returned with value %zu, not its value at any instant of the "
		     "traversal since its step began (T4)", id, v->id);
	return id;
}

/* In-section: everything returned stays valid until the section ends. */
static void trav_recheck(struct trav *tv)
{
	for (size_t i = 0; i < tv->nheld; i++) {
		const struct held *h = &tv->held[i];

		if (ikey_decode(tv->f->ks, h->key, h->len, tv->f->nkeys) != h->id)
			terr(tv, E_BADKEY,
			     "BADKEY: the bytes of returned key %ld changed before the read section ended",
			     h->id);
		if (tracker_owns(tv->f->tr, h->v) && (h->v->magic != TVAL_LIVE || tval_freed(h->v)))
			terr(tv, E_BADVALUE,
			     "BADVALUE: value %zu of key %ld was freed before the read section ended",
			     h->v->id, h->id);
	}
}

/* After the traversal: B for the keys present throughout; SPLIT for scans. */
static void trav_end(struct trav *tv, bool scan)
{
	struct fx *f = tv->f;

	f->tv = NULL;
	for (size_t i = 0; i < f->nkeys; i++)
		if (tv->st[i] == K_PRESENT && tv->count[i] == 0)
			terr(tv, E_MISSED,
			     "MISSED: key %zu, present for the whole traversal, was not returned (T2)", i);
	if (!scan)
		return;
	/* Keys of one folded hash, present throughout, come in one call. */
	for (size_t j = 1; j < f->nkeys; j++) {
		size_t a = f->byfold[j - 1], b = f->byfold[j];

		if (f->fold[a] == f->fold[b] && tv->st[a] == K_PRESENT && tv->st[b] == K_PRESENT &&
		    tv->count[a] && tv->count[b] && tv->call[a] != tv->call[b])
			terr(tv, E_SPLIT,
			     "SPLIT: keys %zu and %zu share hash %#x but came in scan calls %u and %u",
			     a, b, f->fold[a], tv->call[a], tv->call[b]);
	}
}

void trav_assert_clean(struct trav *tv, const char *label)
{
	char kinds[256] = "";
	size_t o = 0;

	if (!tv->nerr)
		return;
	for (int k = 0; k < E_KINDS; k++)
		if (tv->kinds[k] && o < sizeof(kinds))
			o += (size_t)snprintf(kinds + o, sizeof(kinds) - o, " %s=%u", terr_name[k],
					      tv->kinds[k]);
	for (unsigned i = 0; i < tv->nerr && i < TRAV_MSGS; i++)
		print_message("# %s: %s\n", label, tv->msg[i]);
	fail_msg("%s: %u traversal failures:%s; first: %s", label, tv->nerr, kinds, tv->msg[0]);
}

/* ---- Walks: one traversal by either iterator, with actions along the way ------ */

static void walk_actions(struct walk *w, bool between)
{
	for (size_t i = 0; i < w->nact; i++) {
		struct action *a = &w->act[i];

		if (!a->done && a->between == between && w->nth >= a->at) {
			a->done = true;
			a->fn(w, a);
		}
	}
}

/* The table may have changed in the test's hooks: note its size. */
static void walk_observe(struct walk *w)
{
	struct rcumap_stats st = stats_peek(w->f->map);

	if (st.resizing)
		w->pending_seen = true;
	else if (st.slots < w->min_slots)
		w->min_slots = st.slots;
	w->tv->bound = POS_END;
}

/*
 * Inside the section, just after key id was returned: the step that
 * returned it lies within the slot interval around its position in the
 * coarsest table seen, so every position from that interval's end on
 * belongs to steps that have not begun.
 */
static void walk_bound_inside(struct walk *w, long id)
{
	uint64_t len, p;

	if (id < 0 || w->pending_seen || !w->min_slots) {
		w->tv->bound = POS_END;
		return;
	}
	len = POS_END / w->min_slots;
	p = rev32(w->f->fold[id]);
	w->tv->bound = (p / len + 1) * len;
}

static void walk_entry(struct walk *w, const void *key, size_t len, void *value)
{
	long id = trav_saw(w->tv, key, len, value, w->calls);

	if (w->mode == W_ITER && w->tv->nheld < w->tv->capheld)
		w->tv->held[w->tv->nheld++] = (struct held){ key, len, id, value };
	if (w->mode == W_SCAN && id >= 0) {
		uint32_t p = rev32(w->f->fold[id]);

		w->call_n++;
		if ((int64_t)p > w->call_maxpos)
			w->call_maxpos = p;
		if (p < w->call_lo)
			terr(w->tv, E_CURSOR,
			     "CURSOR: key %ld at position %#x passed by a call that started at cursor %#llx",
			     id, p, (unsigned long long)w->call_lo);
	}
	w->nth++;
	w->last_id = id;
	walk_bound_inside(w, id);
	if (w->each && id >= 0)
		w->each(w, id);
	walk_actions(w, false);
	walk_observe(w);
}

static void walk_scan_cb(const void *key, size_t len, void *value, void *arg)
{
	walk_entry(arg, key, len, value);
}

void walk_run(struct walk *w)
{
	struct fx *f = w->f;
	struct trav *tv = w->tv;
	int rc;

	if (!w->limit)
		w->limit = 4 * f->nkeys + 1000;
	w->nth = 0;
	w->calls = 0;
	w->min_slots = SIZE_MAX;
	w->pending_seen = false;
	w->last_id = -1;
	trav_begin(tv);
	walk_observe(w);
	if (w->mode == W_ITER) {
		struct rcumap_iter it;
		const void *key = NULL;
		size_t len = 0;
		void *value = NULL;

		test_reader_enter();
		rc = rcumap_iter_init(f->map, &it);
		if (rc != 0) {
			terr(tv, E_SETUP, "SETUP: rcumap_iter_init returned %d", rc);
		} else {
			while ((rc = rcumap_iter_next(f->map, &it, &key, &len, &value)) == 1) {
				walk_entry(w, key, len, value);
				if (w->nth > w->limit) {
					terr(tv, E_DUPLICATE,
					     "DUPLICATE: the iterator returned more than %zu entries without ending",
					     w->limit);
					break;
				}
			}
			if (rc < 0)
				terr(tv, E_SETUP, "SETUP: rcumap_iter_next returned %d", rc);
			else if (rc == 0 && (rc = rcumap_iter_next(f->map, &it, &key, &len, &value)) != 0)
				terr(tv, E_CURSOR,
				     "CURSOR: rcumap_iter_next returned %d after the end, not 0", rc);
		}
		trav_recheck(tv);
		test_reader_leave();
	} else {
		uint64_t cursor = 0;

		do {
			w->calls++;
			w->call_lo = cursor;
			w->call_n = 0;
			w->call_maxpos = -1;
			w->call_max = w->max ? w->max : 1 + (size_t)(rng_next(&f->rng) % 7);
			rc = rcumap_scan(f->map, &cursor, w->call_max, walk_scan_cb, w);
			if (rc != 0) {
				terr(tv, E_SETUP, "SETUP: rcumap_scan returned %d", rc);
				break;
			}
			if (cursor != 0 && w->call_n < w->call_max)
				terr(tv, E_CALLSIZE,
				     "CALLSIZE: scan call %u passed %zu entries, fewer than max_entries %zu, "
				     "without ending the traversal", w->calls, w->call_n, w->call_max);
			if (w->call_n >= f->gmax && w->call_n - (f->gmax - 1) > w->call_max)
				terr(tv, E_CALLSIZE,
				     "CALLSIZE: scan call %u passed %zu entries for max_entries %zu "
				     "(largest group of one hash: %zu)", w->calls, w->call_n,
				     w->call_max, f->gmax);
			if (cursor != 0 && cursor <= w->call_lo)
				terr(tv, E_CURSOR, "CURSOR: scan call %u moved the cursor from %#llx to %#llx",
				     w->calls, (unsigned long long)w->call_lo,
				     (unsigned long long)cursor);
			if (cursor != 0 && w->call_maxpos >= (int64_t)cursor)
				terr(tv, E_CURSOR,
				     "CURSOR: scan call %u returned cursor %#llx after passing position %#llx",
				     w->calls, (unsigned long long)cursor,
				     (unsigned long long)w->call_maxpos);
			if (!w->in_callers_section)
				test_quiesce();
			if (cursor != 0) {
				/* Between calls the next step starts at the cursor: exact. */
				tv->bound = cursor;
				walk_actions(w, true);
				walk_observe(w);
			}
			if (w->nth > w->limit || w->calls > w->limit) {
				terr(tv, E_DUPLICATE,
				     "DUPLICATE: the scan passed %zu entries in %u calls without ending",
				     w->nth, w->calls);
				break;
			}
		} while (cursor != 0);
	}
	trav_end(tv, w->mode == W_SCAN);
}

void walk_setup(struct walk *w, struct fx *f, struct trav *tv, const struct mode *m)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->tv = tv;
	w->mode = m->m;
	w->max = m->max;
}

void walk_add(struct walk *w, size_t at, bool between,
	      void (*fn)(struct walk *w, struct action *a), size_t arg)
{
	assert_true(w->nact < sizeof(w->act) / sizeof(w->act[0]));
	w->act[w->nact++] = (struct action){ .at = at, .between = between, .fn = fn, .arg = arg };
}

/* Run one walk and fail the test with the label if anything was wrong. */
void walk_check(struct walk *w, const char *fmt, ...)
{
	char label[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(label, sizeof(label), fmt, ap);
	va_end(ap);
	walk_run(w);
	trav_assert_clean(w->tv, label);
	for (size_t i = 0; i < w->nact; i++)
		if (!w->act[i].done && !w->act[i].repeat)
			fail_msg("%s: action %zu (after %zu entries) never ran: the traversal "
				 "returned only %zu entries", label, i, w->act[i].at, w->nth);
}

