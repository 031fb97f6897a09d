/* SPDX-License-Identifier: MIT */
/* validate.c: full-structure consistency check for tests and torture. */
#include <stdio.h>
#include <stdlib.h>

#include "lookup.h"

struct vstate {
	struct rcumap *map;
	size_t records;
	size_t cur_idx;                 /* slot whose records are gathered */
	const struct rcumap_rec **recs; /* records of that slot */
	size_t nrecs, cap;
	int err;
};

#define VFAIL(st, ...)                                               \
	do {                                                         \
		if (!(st)->err)                                      \
			fprintf(stderr, "rcumap_validate: " __VA_ARGS__); \
		(st)->err = -EUCLEAN;                                \
	} while (0)

/* No key twice in one slot; keys of equal hash share a slot, so that suffices. */
static void check_slot(struct vstate *st)
{
	for (size_t a = 0; a < st->nrecs; a++)
		for (size_t b = a + 1; b < st->nrecs; b++)
			if (st->recs[a]->tag == st->recs[b]->tag &&
			    memcmp(rec_key(st->recs[a]), rec_key(st->recs[b]),
				   rec_len(st->recs[a])) == 0)
				VFAIL(st, "slot %zu holds a key twice\n", st->cur_idx);
	st->nrecs = 0;
}

static void visit(const struct rcumap_rec *r, size_t idx, void *arg)
{
	struct vstate *st = arg;
	uint32_t h = rcumap__hash(st->map, rec_key(r), rec_len(r));

	st->records++;
	if (idx != st->cur_idx) {
		check_slot(st);
		st->cur_idx = idx;
	}
	if (h != rec_hash(r))
		VFAIL(st, "record in slot %zu: stored hash %08x, key hashes to %08x\n",
		      idx, rec_hash(r), h);
	if (!r->value)
		VFAIL(st, "record in slot %zu has a NULL value\n", idx);
	if (st->nrecs == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 16;
		const struct rcumap_rec **n = realloc(st->recs, cap * sizeof(*n));

		if (!n) {
			VFAIL(st, "out of memory\n");
			return;
		}
		st->recs = n;
		st->cap = cap;
	}
	st->recs[st->nrecs++] = r;
}

static void check_table(struct vstate *st, const struct rcumap_table *t, int newer)
{
	for (size_t i = 0; i <= t->mask; i++) {
		uintptr_t s = t->slots[i];
		const struct rcumap_bucket *b = slot_bucket(s);

		if (s == SLOT_UNFILLED) {
			if (!newer)
				VFAIL(st, "generation %llu slot %zu is unfilled\n",
				      (unsigned long long)t->gen, i);
			continue;
		}
		if ((s & SLOT_FROZEN) && !t->next)
			VFAIL(st, "generation %llu slot %zu frozen with no newer generation\n",
			      (unsigned long long)t->gen, i);
		if (b != &rcumap_empty && b->n == 0)
			VFAIL(st, "generation %llu slot %zu: allocated empty bucket\n",
			      (unsigned long long)t->gen, i);
		for (uint32_t k = 0; k < b->n; k++) {
			if (!slot_may_hold(s, rec_hash(&b->rec[k])))
				VFAIL(st, "generation %llu slot %zu: its filter hides record %u\n",
				      (unsigned long long)t->gen, i, k);
			if ((rec_hash(&b->rec[k]) & t->mask) != i)
				VFAIL(st, "generation %llu slot %zu holds a record of slot %zu\n",
				      (unsigned long long)t->gen, i,
				      (size_t)(rec_hash(&b->rec[k]) & t->mask));
		}
	}
}

int rcumap_validate(struct rcumap *map)
{
	struct vstate st = { .map = map };
	struct rcumap_table *t;
	long count;

	if (!map)
		return -EINVAL;
	map->flavor->read_lock();
	/* O5: pairs with the release store of map->cur. */
	t = load_acquire(&map->cur);
	check_table(&st, t, 0);
	if (t->next)
		check_table(&st, t->next, 1);
	rcumap__walk_live(t, visit, &st);
	check_slot(&st);
	count = rcumap__count_sum(map);
	if (count < 0 || (size_t)count != st.records)
		VFAIL(&st, "count says %ld, %zu records found\n", count, st.records);
	map->flavor->read_unlock();
	free(st.recs);
	return st.err;
}
