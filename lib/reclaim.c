/* reclaim.c: retirement through call_rcu, and the callbacks that free. */
#include "atomics.h"
#include "internal.h"

/*
 * Every retire counts in the retiring thread's stripe and every reclaim in
 * the callback thread's stripe, so retired - reclaimed is what is pending.
 * The counters order nothing; call_rcu orders the frees after the grace
 * period.
 */
static void count_kind(uint64_t *objs, uint64_t *bytes, int kind, uint64_t n, uint64_t b)
{
	/* Statistics only: relaxed. */
	add_relaxed(&objs[kind], n);
	/* Statistics only: relaxed. */
	add_relaxed(&bytes[kind], b);
}

/* Free one removed entry: its value (through free_value) and its key copy. */
void rcumap__free_entry(struct rcumap *map, const struct rcumap_rec *r)
{
	size_t kb = rcumap__key_bytes(r);

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
		*bytes = rcumap__key_bytes(&b->rec[b->dead & DEAD_IDX_MASK]);
	} else if (kind == DEAD_ALL) {
		*n = b->n;
		for (uint32_t i = 0; i < b->n; i++)
			*bytes += rcumap__key_bytes(&b->rec[i]);
	}
}

static void bucket_reclaim(struct rcu_head *rh)
{
	struct rcumap_bucket *b = container_of(rh, struct rcumap_bucket, rh);
	struct rcumap *map;
	struct rcumap_stripe *st;
	uint32_t kind, idx;
	uint64_t n, bytes;

	/* Pairs with tsan_release in rcumap__retire_bucket. */
	tsan_acquire(rh);
	map = b->map;
	st = rcumap__stripe(map);
	kind = b->dead & DEAD_KIND_MASK;
	idx = b->dead & DEAD_IDX_MASK;
	dead_entries(b, &n, &bytes);
	if (kind == DEAD_VALUE && map->free_value)
		map->free_value(b->rec[idx].value, map->free_value_arg);
	else if (kind == DEAD_ENTRY)
		rcumap__free_entry(map, &b->rec[idx]);
	else if (kind == DEAD_ALL)
		for (uint32_t i = 0; i < b->n; i++)
			rcumap__free_entry(map, &b->rec[i]);
	count_kind(st->reclaimed, st->reclaimed_bytes, RCUMAP_KIND_ENTRY, n, bytes);
	count_kind(st->reclaimed, st->reclaimed_bytes, RCUMAP_KIND_BUCKET, 1,
		   rcumap__bucket_size(b->n));
#ifdef RCUMAP_BROKEN_SKIP_FREE
	static unsigned skipped;  /* one callback thread: no race */

	if (++skipped % 256 == 0)
		goto out;  /* negative control: counted as reclaimed, never freed */
#endif
	rcumap__bucket_free(map, b);
#ifdef RCUMAP_BROKEN_SKIP_FREE
out:
#endif
	/* Pairs with tsan_acquire(map) after the barrier in rcumap_barrier and destroy. */
	tsan_release(map);
}

/* Torture builds: report the objects a retired bucket takes with it. */
static void torture_retire_bucket(const struct rcumap_bucket *b)
{
#ifdef RCUMAP_TORTURE
	uint32_t kind = b->dead & DEAD_KIND_MASK, lo = b->dead & DEAD_IDX_MASK, hi = lo + 1;

	if (kind == DEAD_ALL) {
		lo = 0;
		hi = b->n;
	}
	for (uint32_t i = lo; kind != DEAD_NONE && i < hi; i++) {
		TORTURE_RETIRE(b->rec[i].value, RCUMAP_TORTURE_KIND_VALUE);
		if (kind != DEAD_VALUE && rcumap__key_bytes(&b->rec[i]))
			TORTURE_RETIRE(b->rec[i].key.ext, RCUMAP_KIND_ENTRY);
	}
	TORTURE_RETIRE(b, RCUMAP_KIND_BUCKET);
#else
	(void)b;
#endif
}

/*
 * Hand an unpublished bucket to call_rcu. Only the writer whose CAS removed
 * it calls this, so the header fields written here have a single writer,
 * and readers never read them.
 */
void rcumap__retire_bucket(struct rcumap *map, struct rcumap_bucket *b, uint32_t dead)
{
	struct rcumap_stripe *st = rcumap__stripe(map);
	uint64_t n, bytes;

	b->map = map;
	b->dead = dead;
	dead_entries(b, &n, &bytes);
	count_kind(st->retired, st->retired_bytes, RCUMAP_KIND_ENTRY, n, bytes);
	count_kind(st->retired, st->retired_bytes, RCUMAP_KIND_BUCKET, 1,
		   rcumap__bucket_size(b->n));
	torture_retire_bucket(b);
#ifdef RCUMAP_BROKEN_FREE_NO_GP
	bucket_reclaim(&b->rh);  /* negative control: no grace period */
	return;
#endif
	/* Pairs with tsan_acquire in bucket_reclaim. */
	tsan_release(&b->rh);
	map->flavor->update_call_rcu(&b->rh, bucket_reclaim);
}

static size_t table_bytes(const struct rcumap_table *t)
{
	return sizeof(*t) + (t->mask + 1) * sizeof(t->slots[0]);
}

/* Frees a migrated generation and the frozen buckets it still points to. */
static void table_reclaim(struct rcu_head *rh)
{
	struct rcumap_table *t = container_of(rh, struct rcumap_table, rh);
	struct rcumap *map;
	struct rcumap_stripe *st;
	uint64_t nb = 0, bytes = 0;

	/* Pairs with tsan_release in rcumap__retire_table. */
	tsan_acquire(rh);
	map = t->map;
	st = rcumap__stripe(map);

	for (size_t i = 0; i <= t->mask; i++) {
		struct rcumap_bucket *b = slot_bucket(t->slots[i]);

		if (b != &rcumap_empty) {
			nb++;
			bytes += rcumap__bucket_size(b->n);
			rcumap__bucket_free(map, b);
		}
	}
	count_kind(st->reclaimed, st->reclaimed_bytes, RCUMAP_KIND_BUCKET, nb, bytes);
	count_kind(st->reclaimed, st->reclaimed_bytes, RCUMAP_KIND_TABLE, 1, table_bytes(t));
	rcumap__table_free(map, t);
	/*
	 * Opens the resize gate after the frees above; pairs with the acquire
	 * load of map->retiring before a new migration starts.
	 */
	sub_release(&map->retiring, 1);
	/* Pairs with tsan_acquire(map) after the barrier in rcumap_barrier and destroy. */
	tsan_release(map);
}

/*
 * Retire a fully migrated generation: every slot is frozen, every bucket is
 * reachable only through this table, and no slot changes any more.
 */
void rcumap__retire_table(struct rcumap *map, struct rcumap_table *t)
{
	struct rcumap_stripe *st = rcumap__stripe(map);
	uint64_t nb = 0, bytes = 0;

	for (size_t i = 0; i <= t->mask; i++) {
		/* Frozen slots never change again; the freeze CAS was ours or acquired. */
		struct rcumap_bucket *b = slot_bucket(load_relaxed(&t->slots[i]));

		if (b != &rcumap_empty) {
			nb++;
			bytes += rcumap__bucket_size(b->n);
			TORTURE_RETIRE(b, RCUMAP_KIND_BUCKET);
		}
	}
	count_kind(st->retired, st->retired_bytes, RCUMAP_KIND_BUCKET, nb, bytes);
	count_kind(st->retired, st->retired_bytes, RCUMAP_KIND_TABLE, 1, table_bytes(t));
	TORTURE_RETIRE(t, RCUMAP_KIND_TABLE);
	t->map = map;
	/* Closes the resize gate until table_reclaim runs; ordered by call_rcu. */
	add_relaxed(&map->retiring, 1);
	/* Pairs with tsan_acquire in table_reclaim. */
	tsan_release(&t->rh);
	map->flavor->update_call_rcu(&t->rh, table_reclaim);
}
