/* SPDX-License-Identifier: MIT */
/* peer_oa.c: "oa-unsync", a plain unsynchronised open-addressing table: the single-thread ceiling. */

/*
 * Linear probing over a power-of-two array of {key, value} pairs, value 0
 * meaning empty (bench values are never 0), load kept at most 1/2 by
 * doubling, deletion by backward shift (no tombstones). No synchronisation
 * at all: mapbench runs it single-threaded or read-only only
 * (PEER_UNSYNCHRONISED).
 *
 * Its batched lookup (the batch experiment's ceiling) works in groups of
 * OA_BATCH_GROUP keys as rcumap_get_batch does: hash every key of the group
 * and prefetch its home slot's line, then probe each.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"

struct oaslot {
	uint64_t key;
	uint64_t value;	/* 0: empty */
};

struct oatable {
	struct oaslot *s;
	uint64_t mask;	/* capacity - 1 */
	uint64_t count;	/* at most (mask + 1) / 2 */
};

#define OA_MIN_SLOTS 16
/* Keys per prefetch group of a batched lookup: rcumap's default group. */
#define OA_BATCH_GROUP 16

_Static_assert(sizeof(struct oaslot) == 16, "two words per slot");

static int oaalloc(struct oatable *t, uint64_t slots)
{
	t->s = calloc(slots, sizeof(*t->s));
	if (!t->s)
		return -ENOMEM;
	t->mask = slots - 1;
	return 0;
}

static int oacreate(const struct peer_params *p, void **table)
{
	struct oatable *t = calloc(1, sizeof(*t));
	uint64_t slots = OA_MIN_SLOTS;
	int err;

	if (!t)
		return -ENOMEM;
	while (slots < 2 * p->presize && slots < (UINT64_C(1) << 60))
		slots <<= 1;
	err = oaalloc(t, slots);
	if (err) {
		free(t);
		return err;
	}
	*table = t;
	return 0;
}

static void oadestroy(void *table)
{
	struct oatable *t = table;

	free(t->s);
	free(t);
}

static void oathread_op(void)
{
}

#define OA_NO_BATCH_OP(t) ((void)(t))

/* The value of key, 0 if absent, probing from slot i (its home slot). */
static inline uint64_t oaprobe(const struct oatable *t, uint64_t i, uint64_t key)
{
	for (;; i = (i + 1) & t->mask) {
		const struct oaslot *s = &t->s[i];

		if (s->value == 0)
			return 0;
		if (s->key == key)
			return s->value;
	}
}

static inline uint64_t oaget_in(struct oatable *t, uint64_t key)
{
	return oaprobe(t, bench_hash(key) & t->mask, key);
}

/* Groups of OA_BATCH_GROUP: hash and prefetch every home slot, then probe. */
static inline long oaget_batch_in(struct oatable *t, unsigned n, struct bench_batch *b)
{
	uint64_t home[OA_BATCH_GROUP];
	long found = 0;

	for (unsigned g = 0; g < n; g += OA_BATCH_GROUP) {
		unsigned m = n - g < OA_BATCH_GROUP ? n - g : OA_BATCH_GROUP;

		for (unsigned i = 0; i < m; i++) {
			home[i] = bench_hash(b->key[g + i]) & t->mask;
			__builtin_prefetch(&t->s[home[i]]);
		}
		for (unsigned i = 0; i < m; i++) {
			uint64_t v = oaprobe(t, home[i], b->key[g + i]);

			b->val[g + i] = (void *)(uintptr_t)v;
			found += v != 0;
		}
	}
	return found;
}

/* Places an entry known to be absent; the table has a free slot. */
static inline void oaplace(struct oatable *t, uint64_t key, uint64_t value)
{
	uint64_t i = bench_hash(key) & t->mask;

	while (t->s[i].value != 0)
		i = (i + 1) & t->mask;
	t->s[i].key = key;
	t->s[i].value = value;
}

static int oagrow(struct oatable *t)
{
	struct oatable nt;

	if (oaalloc(&nt, (t->mask + 1) * 2))
		return -ENOMEM;
	for (uint64_t i = 0; i <= t->mask; i++)
		if (t->s[i].value != 0)
			oaplace(&nt, t->s[i].key, t->s[i].value);
	free(t->s);
	t->s = nt.s;
	t->mask = nt.mask;
	return 0;
}

static inline int oainsert_in(struct oatable *t, uint64_t key, uint64_t value)
{
	uint64_t i;

	if (value == 0)
		return -EINVAL;	/* 0 marks an empty slot */
	for (i = bench_hash(key) & t->mask; t->s[i].value != 0; i = (i + 1) & t->mask)
		if (t->s[i].key == key)
			return 0;
	if (2 * (t->count + 1) > t->mask + 1) {
		if (oagrow(t))
			return -ENOMEM;
		oaplace(t, key, value);
	} else {
		t->s[i].key = key;
		t->s[i].value = value;
	}
	t->count++;
	return 1;
}

static inline int oaremove_in(struct oatable *t, uint64_t key)
{
	uint64_t i = bench_hash(key) & t->mask, j;

	for (;; i = (i + 1) & t->mask) {
		if (t->s[i].value == 0)
			return 0;
		if (t->s[i].key == key)
			break;
	}
	/*
	 * Backward shift: pull later entries of the run into the hole when
	 * their home slot is not inside (hole, j], i.e. when the hole lies
	 * on their probe path.
	 */
	for (j = (i + 1) & t->mask; t->s[j].value != 0; j = (j + 1) & t->mask) {
		uint64_t home = bench_hash(t->s[j].key) & t->mask;

		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->s[i] = t->s[j];
			i = j;
		}
	}
	t->s[i].value = 0;
	t->count--;
	return 1;
}

BENCH_DEFINE_RUN(oarun, struct oatable, OA_NO_BATCH_OP, OA_NO_BATCH_OP, OA_NO_BATCH_OP,
		 oaget_in, oainsert_in, oaremove_in)

BENCH_DEFINE_SINGLE_OPS(oaget, oainsert, oaremove, oaget_in, oainsert_in, oaremove_in)

BENCH_DEFINE_LOOKUP_RUN(oarun_lookups, struct oatable, OA_NO_BATCH_OP, OA_NO_BATCH_OP,
			OA_NO_BATCH_OP, oaget_in, oaget_batch_in)

static long oaget_batch(void *table, unsigned n, struct bench_batch *b)
{
	return oaget_batch_in(table, n, b);
}

static void oamem(void *table, struct peer_mem *out)
{
	struct oatable *t = table;

	out->live_bytes = (t->mask + 1) * sizeof(struct oaslot) + sizeof(*t);
	out->pending_bytes = 0;
}

static uint64_t oacount(void *table)
{
	struct oatable *t = table;

	return t->count;
}

const struct bench_peer peer_oa_unsync = {
	.name = "oa-unsync",
	.flavor = "-",
	.caps = PEER_UNSYNCHRONISED,
	.create = oacreate,
	.destroy = oadestroy,
	.thread_init = oathread_op,
	.thread_fini = oathread_op,
	.run = oarun,
	.get = oaget,
	.insert = oainsert,
	.remove = oaremove,
	.remove_stamped = NULL,
	.resize = NULL,
	.barrier = NULL,
	.mem = oamem,
	.count = oacount,
	.run_lookups = oarun_lookups,
	.get_batch = oaget_batch,
};
