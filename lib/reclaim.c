/* SPDX-License-Identifier: MIT */
/* reclaim.c: retirement through call_rcu, in bags, and the callbacks that free or cache. */
#include <sched.h>

#include "internal.h"

/*
 * Every retire counts in the retiring thread's stripe and every reclaim in
 * a stripe's reclaimed counters, so retired - reclaimed is what is pending.
 * The counters order nothing (O8); call_rcu orders the frees after the
 * grace period (O7).
 */

/* Free one removed entry: its value (through free_value) and its key copy. */
void rcumap__free_entry(struct rcumap *map, const struct rcumap_rec *r)
{
	size_t kb = rec_key_bytes(r);

	if (map->free_value)
		map->free_value(r->value, map->free_value_arg);
	if (kb)
		rcumap__free(map, (void *)r->key.ext, kb, RCUMAP_KIND_ENTRY);
}

/* Entries and key bytes that die with a bucket. */
static void dead_entries(const struct rcumap_bucket *b, uint64_t *n, uint64_t *bytes)
{
	uint32_t kind = b->dead & DEAD_KIND_MASK;

	*n = *bytes = 0;
	if (kind == DEAD_ENTRY) {
		*n = 1;
		*bytes = rec_key_bytes(&b->rec[b->dead & DEAD_IDX_MASK]);
	} else if (kind == DEAD_ALL) {
		*n = b->n;
		for (uint32_t i = 0; i < b->n; i++)
			*bytes += rec_key_bytes(&b->rec[i]);
	}
}

/* What one callback reclaimed, counted once at its end, and the buckets it keeps. */
struct tally {
	uint64_t entries, entry_bytes, buckets, bucket_bytes;
	struct rcumap_keep keep;
};

static void tally_count(struct rcumap *map, struct rcumap_stripe *st, const struct tally *t)
{
	rcumap__count_reclaimed(map, st, RCUMAP_KIND_ENTRY, t->entries, t->entry_bytes);
	rcumap__count_reclaimed(map, st, RCUMAP_KIND_BUCKET, t->buckets, t->bucket_bytes);
}

/*
 * Free a retired bucket past its grace period, and what died with it; with
 * keep, a bucket the cache takes goes to t's lists instead of the allocator.
 */
static void reclaim_bucket(struct rcumap *map, struct rcumap_bucket *b, struct tally *t,
			   int keep)
{
	uint32_t kind = b->dead & DEAD_KIND_MASK, idx = b->dead & DEAD_IDX_MASK;
	uint64_t n, bytes;

	dead_entries(b, &n, &bytes);
	if (kind == DEAD_VALUE && map->free_value)
		map->free_value(b->rec[idx].value, map->free_value_arg);
	else if (kind == DEAD_ENTRY)
		rcumap__free_entry(map, &b->rec[idx]);
	else if (kind == DEAD_ALL)
		for (uint32_t i = 0; i < b->n; i++)
			rcumap__free_entry(map, &b->rec[i]);
	t->entries += n;
	t->entry_bytes += bytes;
	t->buckets++;
	t->bucket_bytes += bucket_size(b->n);
	if (keep && map->cache && b->n <= CACHE_CLASSES)
		rcumap__keep(&t->keep, b);
	else
		rcumap__bucket_free(map, b);
}

/* Callback of a bucket retired alone (its retirer could not lock its stripe). */
static void bucket_reclaim(struct rcu_head *rh)
{
	struct rcumap_bucket *b = container_of(rh, struct rcumap_bucket, rh);
	struct rcumap *map;
	struct tally t = { 0 };

	/* Pairs with tsan_release in rcumap__retire_bucket. */
	tsan_acquire(rh);
	map = b->map;
	reclaim_bucket(map, b, &t, 0);
	tally_count(map, NULL, &t);
	/* Pairs with tsan_acquire(map) after the barrier in rcumap__drain. */
	tsan_release(map);
}

static void carrier_reclaim(struct rcu_head *rh);

/*
 * Prefetch what reclaiming b will touch first: the value it frees (and the
 * word before it, where malloc keeps a chunk's size).
 */
static inline void prefetch_dead(const struct rcumap_bucket *b)
{
	uint32_t kind = b->dead & DEAD_KIND_MASK;

	if (kind == DEAD_VALUE || kind == DEAD_ENTRY) {
		const char *v = b->rec[b->dead & DEAD_IDX_MASK].value;

		__builtin_prefetch(v);
		__builtin_prefetch(v - sizeof(size_t));
	}
}

/*
 * Hand the open bag to free carrier c. Stripe locked; the unlock queues the
 * carrier on call_rcu (carrier_queue), so that no call_rcu runs
 * under the lock. calling counts carriers between the two steps.
 */
static void bag_take(struct rcumap_stripe *st, struct rcumap_carrier *c)
{
	assert_stripe_locked(st);
	c->first = st->bag;
	c->busy = 1;
	st->bag = NULL;
	st->bag_n = 0;
	st->queued = st->added;
	st->due = c;
	/* O6: a counter; the release decrement in carrier_queue orders the queueing. */
	add_relaxed(&st->calling, 1);
}

static void carrier_queue(struct rcumap *map, struct rcumap_stripe *st,
			  struct rcumap_carrier *c)
{
	/* Pairs with tsan_acquire in carrier_reclaim. */
	tsan_release(&c->rh);
	map->flavor->update_call_rcu(&c->rh, carrier_reclaim);
	/* O6: the call_rcu above before it; pairs with the acquire load in rcumap__drain. */
	sub_release(&st->calling, 1);
}

/* Unlock st, then queue the carrier the section took, if any (no call_rcu under the lock). */
void rcumap__stripe_unlock(struct rcumap *map, struct rcumap_stripe *st)
{
	struct rcumap_carrier *c = st->due;

	st->due = NULL;
	stripe_drop(st);
	if (c)
		carrier_queue(map, st, c);
}

/* A free carrier of st, or NULL; *busy receives whether any is in flight. */
static struct rcumap_carrier *carrier_free(struct rcumap_stripe *st, int *busy)
{
	struct rcumap_carrier *c = NULL;

	*busy = 0;
	for (int k = 0; k < NCARRIERS; k++) {
		if (st->carrier[k].busy)
			*busy = 1;
		else if (!c)
			c = &st->carrier[k];
	}
	return c;
}

/*
 * A bag's callback: every bucket in it is past its grace period (the last
 * was added before the carrier was queued). Then, under the stripe lock,
 * the carrier is free again, and it takes the stripe's open bag if there is
 * one, which keeps invariant I9 (docs/design.md).
 */
static void carrier_reclaim(struct rcu_head *rh)
{
	struct rcumap_carrier *c = container_of(rh, struct rcumap_carrier, rh);
	struct rcumap *map;
	struct rcumap_stripe *st;
	struct rcumap_bucket *b, *next;
	struct tally t = { 0 };

	/* Pairs with tsan_release in carrier_queue. */
	tsan_acquire(rh);
	map = c->map;
	st = &map->stripe[c->stripe];
	/*
	 * The bag is a list of cold buckets, each pointing to a cold value:
	 * fetch the next bucket while this one is freed, and its value before
	 * its turn, so that the misses overlap instead of following each other.
	 */
	if (c->first)
		prefetch_dead(c->first);
	for (b = c->first; b; b = next) {
		next = b->bag_next;
		if (next)
			__builtin_prefetch(next);
		reclaim_bucket(map, b, &t, 1);
		if (next)
			prefetch_dead(next);
	}
	tally_count(map, st, &t);
	if (!rcumap__stripe_trylock_at(st)) {
		/*
		 * Never wait for a writer here: the call_rcu thread serves every
		 * map. Give the buckets back, and try the hand-over again after
		 * the next grace period with an empty bag (the carrier stays busy).
		 */
		rcumap__keep_free(map, &t.keep);
		c->first = NULL;
		/* Pairs with tsan_acquire at the top of this callback. */
		tsan_release(&c->rh);
		map->flavor->update_call_rcu(&c->rh, carrier_reclaim);
		/* Pairs with tsan_acquire(map) after the barrier in rcumap__drain. */
		tsan_release(map);
		return;
	}
	c->busy = 0;
	if (st->bag)
		bag_take(st, c);
	rcumap__keep_splice(st, &t.keep);
	rcumap__stripe_unlock(map, st);
	rcumap__keep_free(map, &t.keep);
	/* Pairs with tsan_acquire(map) after the barrier in rcumap__drain. */
	tsan_release(map);
}

/* Put b in st's open bag (st locked), and queue the bag when it is due. */
static void bag_add(struct rcumap_stripe *st, struct rcumap_bucket *b)
{
	int busy;
	struct rcumap_carrier *c = carrier_free(st, &busy);

	assert_stripe_locked(st);
	if (broken_bag_late_join(st, b))  /* broken.h: BAG_LATE only */
		return;
	b->bag_next = st->bag;
	st->bag = b;
	st->bag_n++;
	st->added++;
	if (c && (st->bag_n >= BAG_MIN || !busy)) {
		broken_bag_late_note(c);  /* broken.h: BAG_LATE only */
		bag_take(st, c);
	}
}

/* Torture builds: report the objects a retired bucket takes with it. */
static void torture_retire_bucket(const struct rcumap_bucket *b)
{
	uint32_t kind = b->dead & DEAD_KIND_MASK, lo = b->dead & DEAD_IDX_MASK, hi = lo + 1;

	if (kind == DEAD_ALL) {
		lo = 0;
		hi = b->n;
	}
	for (uint32_t i = lo; TORTURE_ON && kind != DEAD_NONE && i < hi; i++) {
		TORTURE_RETIRE(b->rec[i].value, RCUMAP_TORTURE_KIND_VALUE);
		if (kind != DEAD_VALUE && rec_key_bytes(&b->rec[i]))
			TORTURE_RETIRE(b->rec[i].key.ext, RCUMAP_KIND_ENTRY);
	}
	TORTURE_RETIRE(b, RCUMAP_KIND_BUCKET);
}

/*
 * Retire an unpublished bucket: into the bag of st, the caller's locked
 * stripe, or, with st NULL, through a call_rcu of its own. Only the writer
 * whose CAS removed it calls this, so the header fields written here have a
 * single writer, and readers never read them.
 */
void rcumap__retire_bucket(struct rcumap *map, struct rcumap_stripe *st,
			   struct rcumap_bucket *b, uint32_t dead)
{
	uint64_t n, bytes;

	b->map = map;
	b->dead = dead;
	dead_entries(b, &n, &bytes);
	rcumap__count_retired(map, st, RCUMAP_KIND_ENTRY, n, bytes);
	rcumap__count_retired(map, st, RCUMAP_KIND_BUCKET, 1, bucket_size(b->n));
	torture_retire_bucket(b);
	if (broken_cache_early(map, st, b))  /* broken.h: CACHE_EARLY only */
		return;
	if (st) {
		bag_add(st, b);
		return;
	}
	/* Pairs with tsan_acquire in bucket_reclaim. */
	tsan_release(&b->rh);
	map->flavor->update_call_rcu(&b->rh, bucket_reclaim);
}

/*
 * Wait until everything retired before the call is reclaimed: queue every
 * bag that holds objects added before the call, then wait for the
 * callbacks. A bag that finds all its stripe's carriers in flight is queued
 * by the first of their callbacks (I9), after which one more barrier covers
 * it. With idle (destroy), also until no carrier is in flight. Outside any
 * read section (qsbr: may be online).
 */
void rcumap__drain(struct rcumap *map, int idle)
{
	uint64_t want[NSTRIPES];
	int pending;

	for (int i = 0; i < NSTRIPES; i++) {
		rcumap__stripe_lock(&map->stripe[i]);
		want[i] = map->stripe[i].added;
		rcumap__stripe_unlock(map, &map->stripe[i]);
	}
	do {
		pending = 0;
		for (int i = 0; i < NSTRIPES; i++) {
			struct rcumap_stripe *st = &map->stripe[i];
			struct rcumap_carrier *c;
			int busy;

			rcumap__stripe_lock(st);
			c = carrier_free(st, &busy);
			if (st->queued < want[i]) {
				if (c)
					bag_take(st, c);
				else
					pending = 1;
			} else if (idle && busy) {
				pending = 1;  /* destroy: no carrier may still be queued */
			}
			rcumap__stripe_unlock(map, st);
			/* O6: carriers taken before are queued; pairs with the release in carrier_queue. */
			while (load_acquire(&st->calling))
				sched_yield();
		}
		map->flavor->barrier();
	} while (pending);
	/* Every callback before the barrier ended with tsan_release(map). */
	tsan_acquire(map);
	/* Memory comes back: the bucket caches go to the allocator. */
	rcumap__cache_flush(map);
}

/* Frees a migrated generation and the frozen buckets it still points to. */
static void table_reclaim(struct rcu_head *rh)
{
	struct rcumap_table *t = container_of(rh, struct rcumap_table, rh);
	struct rcumap *map;
	uint64_t nb = 0, bytes = 0;

	/* Pairs with tsan_release in rcumap__retire_table. */
	tsan_acquire(rh);
	map = t->map;

	for (size_t i = 0; i <= t->mask; i++) {
		struct rcumap_bucket *b = slot_bucket(t->slots[i]);

		if (b != &rcumap_empty) {
			nb++;
			bytes += bucket_size(b->n);
			rcumap__bucket_free(map, b);
		}
	}
	rcumap__count_retired(map, NULL, RCUMAP_KIND_BUCKET, nb, bytes);
	rcumap__count_reclaimed(map, NULL, RCUMAP_KIND_BUCKET, nb, bytes);
	rcumap__count_reclaimed(map, NULL, RCUMAP_KIND_TABLE, 1, table_size(t->mask + 1));
	rcumap__table_free(map, t);
	/* Pairs with tsan_acquire(map) after the barrier in rcumap_barrier and destroy. */
	tsan_release(map);
}

/*
 * Retire a fully migrated generation: every slot is frozen, every bucket is
 * reachable only through this table, and no slot changes any more.
 */
void rcumap__retire_table(struct rcumap *map, struct rcumap_table *t)
{
	for (size_t i = 0; TORTURE_ON && i <= t->mask; i++) {
		/* Frozen slots never change again; the freeze CAS was ours or acquired. */
		struct rcumap_bucket *b = slot_bucket(load_relaxed(&t->slots[i]));

		if (b != &rcumap_empty)
			TORTURE_RETIRE(b, RCUMAP_KIND_BUCKET);
	}
	/* Its frozen buckets are counted by table_reclaim: no O(size) pass here. */
	rcumap__count_retired(map, NULL, RCUMAP_KIND_TABLE, 1, table_size(t->mask + 1));
	TORTURE_RETIRE(t, RCUMAP_KIND_TABLE);
	t->map = map;
	/* Pairs with tsan_acquire in table_reclaim. */
	tsan_release(&t->rh);
	map->flavor->update_call_rcu(&t->rh, table_reclaim);
}

/* ---- negative controls (broken.h) ---------------------------------------------- */

#ifdef RCUMAP_BROKEN_CACHE_EARLY
/* CACHE_EARLY: reclaim b and put it in st's cache at once, with no grace period. */
int rcumap__broken_cache_now(struct rcumap *map, struct rcumap_stripe *st,
			     struct rcumap_bucket *b)
{
	struct tally t = { 0 };

	if (!st || !map->cache || b->n > CACHE_CLASSES)
		return 0;
	reclaim_bucket(map, b, &t, 1);
	tally_count(map, st, &t);
	rcumap__keep_splice(st, &t.keep);
	rcumap__keep_free(map, &t.keep);
	return 1;
}
#endif

#ifdef RCUMAP_BROKEN_BAG_LATE
__thread struct rcumap_carrier *rcumap__broken_late;  /* the last carrier this thread's bag left on */
#endif
