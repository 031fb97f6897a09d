/* SPDX-License-Identifier: MIT */
/* broken.h: the deliberately broken variants, one named hook each; all empty in a normal build. */
#ifndef RCUMAP_BROKEN_H
#define RCUMAP_BROKEN_H

/*
 * Each variant breaks one rule on purpose, so that make check can prove a
 * detector catches it (docs/testing.md, "Negative controls"). A variant is
 * compiled in with -DRCUMAP_BROKEN_<NAME> (torture/local.mk,
 * tests/local.mk); without it, its hook is a constant or an empty inline
 * function, and the library's code is what it would be without the hook.
 * The library calls each hook at one place (two for BAG_LATE and
 * TABLE_EARLY: where the rule is broken and where the right step is then
 * left out); no #ifdef sits in the functions that publish, retire, fill or
 * look up.
 *
 * Two variants need no hook: torture breaks the grace period through the
 * flavor struct (FREE_NO_GP: a call_rcu that runs its callback at once)
 * and loses frees through its allocator (SKIP_FREE), as a user's flavor or
 * allocator could.
 *
 * internal.h includes this file after its declarations.
 */

/* ---- update path (update.c) ------------------------------------------------ */

/* RETIRE_EARLY: an update retires the bucket it replaces before its CAS unpublishes it. */
#ifdef RCUMAP_BROKEN_RETIRE_EARLY
static inline int broken_retire_early(struct rcumap *map, struct rcumap_bucket *b,
				      uint32_t dead)
{
	if (b != &rcumap_empty)
		rcumap__retire_bucket(map, NULL, b, dead);
	return 1;
}
#else
static inline int broken_retire_early(struct rcumap *map, struct rcumap_bucket *b,
				      uint32_t dead)
{
	(void)map, (void)b, (void)dead;
	return 0;
}
#endif

/* DOUBLE_RETIRE: every 64th bucket whose value was replaced is retired a second time. */
static inline void broken_double_retire(struct rcumap *map, struct rcumap_stripe *st,
					struct rcumap_bucket *b, uint32_t dead)
{
#ifdef RCUMAP_BROKEN_DOUBLE_RETIRE
	static __thread unsigned replaced;

	if ((dead & DEAD_KIND_MASK) == DEAD_VALUE && ++replaced % 64 == 0)
		rcumap__retire_bucket(map, st, b, dead);
#else
	(void)map, (void)st, (void)b, (void)dead;
#endif
}

/* STALE_GEN: locate_write hands out a frozen slot of the old generation, as if no migration had begun. */
#ifdef RCUMAP_BROKEN_STALE_GEN
#define broken_stale_gen() 1
#else
#define broken_stale_gen() 0
#endif

/*
 * NONATOMIC_CAS: the slot CAS of updates is a load, a compare and a store.
 * Defines BROKEN_PUBLISH_CAS, which update.c then uses instead of its CAS.
 */
#ifdef RCUMAP_BROKEN_NONATOMIC_CAS
static inline int broken_nonatomic_cas(uintptr_t *slot, uintptr_t *expected,
				       uintptr_t desired)
{
	/* Acquire as the real CAS (O1); the gap before the store is the bug. */
	uintptr_t cur = load_acquire(slot);

	if (cur != *expected) {
		*expected = cur;
		return 0;
	}
	TORTURE_POINT(RCUMAP_TP_PUBLISH);
	/* Release as the real CAS (O1), but not atomic with the load above. */
	store_release(slot, desired);
	return 1;
}
#define BROKEN_PUBLISH_CAS broken_nonatomic_cas
#endif

/* SLOT_FILTER: a slot word's filter leaves out its bucket's first record. Index of the first record filtered. */
#ifdef RCUMAP_BROKEN_SLOT_FILTER
#define broken_slot_filter_first() 1u
#else
#define broken_slot_filter_first() 0u
#endif

/* ---- lookups and traversals (lookup.h, lookup.c, iter.c) -------------------------- */

/* BATCH_NO_FORWARD: a batched lookup reads the frozen bucket of the generation it loaded. */
#ifdef RCUMAP_BROKEN_BATCH_NO_FORWARD
#define broken_batch_no_forward() 1
#else
#define broken_batch_no_forward() 0
#endif

/* ITER_NO_FORWARD: traversals read a frozen bucket instead of following the forwarding mark. */
#ifdef RCUMAP_BROKEN_ITER_NO_FORWARD
#define broken_iter_no_forward() 1
#else
#define broken_iter_no_forward() 0
#endif

/* ITER_NO_FILTER: traversals return a bucket's entries outside their step's interval. */
#ifdef RCUMAP_BROKEN_ITER_NO_FILTER
#define broken_iter_no_filter() 1
#else
#define broken_iter_no_filter() 0
#endif

/* ---- migration (migrate.c, resize.c) -------------------------------------------- */

/* FILL_ENOMEM: a fill whose allocation fails publishes an empty bucket: the slot's entries are lost. */
static inline struct rcumap_bucket *broken_fill_enomem(struct rcumap_bucket *nb, uint32_t *n)
{
#ifdef RCUMAP_BROKEN_FILL_ENOMEM
	if (!nb) {
		*n = 0;
		return &rcumap_empty;
	}
#else
	(void)n;
#endif
	return nb;
}

/*
 * MIGRATE_SKIP: a migration chunk driven by an update (budget0 is not
 * SIZE_MAX) leaves its last slot of the newer generation unfilled, and the
 * switch goes ahead. Nonzero: skip this slot.
 */
#ifdef RCUMAP_BROKEN_MIGRATE_SKIP
static inline int broken_migrate_skip(size_t budget0, size_t budget)
{
	return budget0 != SIZE_MAX && budget == 1;
}
#else
#define broken_migrate_skip(budget0, budget) ((void)(budget0), (void)(budget), 0)
#endif

/*
 * TABLE_EARLY: a generation is retired when its migration starts, not when
 * it ends. broken_table_early retires it at the start; the switch then
 * leaves it alone when broken_table_retired_early() says so.
 */
#ifdef RCUMAP_BROKEN_TABLE_EARLY
static inline void broken_table_early(struct rcumap *map, struct rcumap_table *t)
{
	rcumap__retire_table(map, t);  /* still current */
}
#define broken_table_retired_early() 1
#else
#define broken_table_early(map, t) ((void)(map), (void)(t))
#define broken_table_retired_early() 0
#endif

/* ---- reclamation (reclaim.c) --------------------------------------------------------- */

/*
 * CACHE_EARLY: a retired bucket goes to the bucket cache at once, to be
 * handed out again inside its grace period. Nonzero when it did
 * (rcumap__broken_cache_now, in reclaim.c, exists only in this variant).
 */
#ifdef RCUMAP_BROKEN_CACHE_EARLY
int rcumap__broken_cache_now(struct rcumap *map, struct rcumap_stripe *st,
			     struct rcumap_bucket *b) RCUMAP_INTERNAL;
#define broken_cache_early(map, st, b) rcumap__broken_cache_now((map), (st), (b))
#else
#define broken_cache_early(map, st, b) ((void)(map), (void)(st), (void)(b), 0)
#endif

/*
 * BAG_LATE: the buckets the next updates of a thread retire join the bag it
 * last queued on call_rcu while that bag is still queued, so their grace
 * period is not waited for. broken_bag_late_note remembers the carrier a
 * bag is about to leave on; broken_bag_late_join puts b in it (nonzero when
 * it did).
 */
#ifdef RCUMAP_BROKEN_BAG_LATE
extern __thread struct rcumap_carrier *rcumap__broken_late RCUMAP_INTERNAL;

static inline int broken_bag_late_join(struct rcumap_stripe *st, struct rcumap_bucket *b)
{
	struct rcumap_carrier *late = rcumap__broken_late;

	if (!late || !late->busy) {
		rcumap__broken_late = NULL;
		return 0;
	}
	b->bag_next = late->first;
	late->first = b;
	st->added++;
	return 1;
}

static inline void broken_bag_late_note(struct rcumap_carrier *c)
{
	rcumap__broken_late = c;
}
#else
#define broken_bag_late_join(st, b) ((void)(st), (void)(b), 0)
#define broken_bag_late_note(c) ((void)(c))
#endif

#endif /* RCUMAP_BROKEN_H */
