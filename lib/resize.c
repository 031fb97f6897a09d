/* SPDX-License-Identifier: MIT */
/* resize.c: generations, slot migration behind forwarding marks, policy, clear. */
#include <stdlib.h>
#include <sys/mman.h>

#include "atomics.h"
#include "internal.h"

/*
 * Resize policy (docs/design.md, "Resize policy"). Load is entries per slot.
 * Grow when the load passes 2: a lookup that hits then reads about two
 * records, one or two cache lines. Shrink when it falls under 1/4. Both aim
 * at a load of about 1 afterwards, so the next resize is a factor of 2 or
 * 8 of entries away: a workload hovering at a threshold cannot thrash.
 */
#define GROW_LOAD 2
#define SHRINK_DIV 4

static size_t policy_target(const struct rcumap *map, size_t size, size_t count)
{
	size_t t = size;

	if (count > GROW_LOAD * size) {
		t = size * 2;
		while (t < RCUMAP_SLOTS_MAX && count > t)
			t *= 2;
	} else if (size > map->min_slots && SHRINK_DIV * count < size) {
		t = size / 2;
		while (t / 2 >= map->min_slots && count < t / 2)
			t /= 2;
	}
	return t;
}

/*
 * Tables of at least this many bytes that start all UNFILLED (0) come from
 * mmap with MAP_POPULATE when the map has no user allocator: the kernel
 * hands over zeroed, mapped pages in one call (about 1 ms for 8 MiB here).
 * From malloc such a table cost its first user a pass over every byte
 * (glibc raises its mmap threshold after large frees, then clears big
 * callocs itself); lazily zeroed pages (plain calloc or mmap) moved a page
 * fault of some 16 us into the first lookup that followed a forwarding mark
 * onto each page (measured: p99.9 lookup latency 16x during resizes).
 */
#define TABLE_MMAP_BYTES ((size_t)64 << 10)

struct rcumap_table *rcumap__table_alloc(struct rcumap *map, size_t slots,
					 uint64_t gen, uintptr_t fill)
{
	size_t bytes = table_size(slots);
	/* Unfilled slots are 0: fresh pages need no pass over them. */
	int zeroed = fill == SLOT_UNFILLED && !map->alloc;
	int mapped = zeroed && bytes >= TABLE_MMAP_BYTES;
	struct rcumap_table *t;

	if (mapped) {
		t = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (t == MAP_FAILED)
			return NULL;
	} else {
		t = zeroed ? calloc(1, bytes) : rcumap__alloc(map, bytes, RCUMAP_KIND_TABLE);
		if (!t)
			return NULL;
	}
	t->map = map;
	t->gen = gen;
	t->mask = slots - 1;
	t->next = NULL;
	t->migrate_pos = 0;
	t->mapped = mapped;
	for (size_t i = 0; !zeroed && i < slots; i++)
		t->slots[i] = fill;
	return t;
}

void rcumap__table_free(struct rcumap *map, struct rcumap_table *t)
{
	size_t bytes = table_size(t->mask + 1);

	if (t->mapped)
		munmap(t, bytes);
	else
		rcumap__free(map, t, bytes, RCUMAP_KIND_TABLE);
}

/*
 * The slots of t whose entries go to slot d of nt: one slot when growing,
 * size(t)/size(nt) slots when shrinking, as first + k * step.
 */
static void dest_sources(const struct rcumap_table *t, const struct rcumap_table *nt,
			 size_t d, size_t *first, size_t *step, size_t *count)
{
	if (nt->mask >= t->mask) {
		*first = d & t->mask;
		*step = 1;
		*count = 1;
	} else {
		*first = d;
		*step = nt->mask + 1;
		*count = (t->mask + 1) / (nt->mask + 1);
	}
}

/* Freeze slot i of t (idempotent); returns its bucket, immutable from now on. */
static struct rcumap_bucket *freeze(struct rcumap_table *t, size_t i)
{
	/* Pairs with the slot CAS that published the bucket. */
	uintptr_t s = load_acquire(&t->slots[i]);

	/*
	 * The forwarding mark: release orders t->next (stored earlier) before
	 * the mark for readers who acquire it; acquire pairs with the writer
	 * whose bucket we freeze, so we copy its contents.
	 */
	while (!(s & SLOT_FROZEN) && !cas_acq_rel(&t->slots[i], &s, s | SLOT_FROZEN))
		;
	return slot_bucket(s);
}

/*
 * Make slot d of nt hold its entries: freeze its source slots in t and
 * publish a bucket with their records that hash to d. Idempotent and safe to
 * run from any number of threads at once: the sources are immutable once
 * frozen, so every helper builds the same bucket, and only the first CAS
 * from UNFILLED wins. Must run inside a read section.
 */
int rcumap__fill_dest(struct rcumap *map, struct rcumap_table *t,
		      struct rcumap_table *nt, size_t d)
{
	size_t first, step, count, k;
	uint32_t n = 0, j = 0;
	struct rcumap_bucket *nb;
	uintptr_t expected = SLOT_UNFILLED;

	/* Pairs with the fill CAS below, when another thread filled it. */
	if (load_acquire(&nt->slots[d]) != SLOT_UNFILLED)
		return 0;
	dest_sources(t, nt, d, &first, &step, &count);
	for (k = 0; k < count; k++) {
		const struct rcumap_bucket *b = freeze(t, first + k * step);

		if (b != &rcumap_empty)
			TORTURE_SEEN(b, RCUMAP_KIND_BUCKET);
		for (uint32_t i = 0; i < b->n; i++)
			n += (rec_hash(&b->rec[i]) & nt->mask) == d;
	}
	nb = n ? rcumap__bucket_alloc(map, n) : &rcumap_empty;
#ifdef RCUMAP_BROKEN_FILL_ENOMEM
	if (!nb) {
		nb = &rcumap_empty;  /* negative control: loses the slot's entries */
		n = 0;
	}
#endif
	if (!nb)
		return -ENOMEM;  /* sources stay frozen: readers use them, contents unchanged */
	for (k = 0; k < count && n; k++) {
		/* Frozen above: the acquire in freeze() already ordered its contents. */
		const struct rcumap_bucket *b = slot_bucket(load_relaxed(&t->slots[first + k * step]));

		for (uint32_t i = 0; i < b->n; i++)
			if ((rec_hash(&b->rec[i]) & nt->mask) == d)
				nb->rec[j++] = b->rec[i];
	}
	TORTURE_POINT(RCUMAP_TP_MIGRATE);
	/*
	 * Publish the filled slot: release orders the bucket contents before
	 * it; pairs with the acquire slot loads of readers and writers in nt.
	 */
	if (!cas_acq_rel(&nt->slots[d], &expected, slot_word(nb)))
		rcumap__bucket_free(map, nb);  /* another helper filled it first */
	else if (nb != &rcumap_empty)
		TORTURE_PUBLISH(nb, RCUMAP_KIND_BUCKET);
	return 0;
}

/*
 * Drive the pending migration of the current generation, if any: fill up to
 * budget more slots of the newer generation, and when every slot is filled
 * switch map->cur and retire the old one. Resumable after -ENOMEM. Caller
 * holds resize_lock and a read section.
 */
int rcumap__migrate_locked(struct rcumap *map, size_t budget)
{
	/* cur and next only change under resize_lock, which we hold. */
	struct rcumap_table *t = load_relaxed(&map->cur);
	struct rcumap_table *nt;
	size_t d;
#ifdef RCUMAP_BROKEN_MIGRATE_SKIP
	int chunked = budget != SIZE_MAX;
#endif

	TORTURE_SEEN(t, RCUMAP_KIND_TABLE);
	/* Only changes under resize_lock, which we hold. */
	nt = load_relaxed(&t->next);
	if (!nt)
		return 0;
	TORTURE_SEEN(nt, RCUMAP_KIND_TABLE);
	for (d = t->migrate_pos; d <= nt->mask && budget; d++, budget--) {
		int r;

#ifdef RCUMAP_BROKEN_MIGRATE_SKIP
		if (chunked && budget == 1)
			continue;  /* negative control: the chunk's last slot stays unfilled */
#endif
		r = rcumap__fill_dest(map, t, nt, d);

		if (r) {
			t->migrate_pos = d;
			return r;
		}
	}
	t->migrate_pos = d;
	if (d <= nt->mask)
		return 0;  /* the next update that meets the migration goes on */
	if (nt->mask > t->mask)
		add_relaxed(&map->grows, 1);    /* statistics only */
	else
		add_relaxed(&map->shrinks, 1);  /* statistics only */
	TORTURE_POINT(RCUMAP_TP_SWITCH);
	/*
	 * Switch generations: every slot of nt is filled, and release orders
	 * those fills before the switch; pairs with the acquire loads of
	 * map->cur, so no one starting from cur meets an unfilled slot.
	 */
	store_release(&map->cur, nt);
	/* Statistics for rcumap_stats; order nothing. */
	store_relaxed(&map->cur_slots, nt->mask + 1);
	/* Statistics only, as above. */
	store_relaxed(&map->cur_gen, nt->gen);
	/* Statistics only, as above. */
	store_relaxed(&map->migrating, 0);
#ifndef RCUMAP_BROKEN_TABLE_EARLY
	rcumap__retire_table(map, t);
#endif
	return 0;
}

/*
 * Start a migration of the current generation to want slots (0: what the
 * policy picks) and drive budget slots of it. Caller holds resize_lock and
 * a read section, and no migration is pending.
 */
static int start_locked(struct rcumap *map, size_t want, size_t budget)
{
	/* Only changes under resize_lock, which we hold. */
	struct rcumap_table *t = load_relaxed(&map->cur);
	size_t size;
	struct rcumap_table *nt;

	TORTURE_SEEN(t, RCUMAP_KIND_TABLE);
	size = t->mask + 1;
	if (!want)
		want = policy_target(map, size, rcumap_count(map));
	if (want == size)
		return 0;
	nt = rcumap__table_alloc(map, want, t->gen + 1, SLOT_UNFILLED);
	if (!nt)
		return -ENOMEM;
	t->migrate_pos = 0;
	/*
	 * Publish the new generation before any slot is frozen; pairs with the
	 * acquire loads of t->next that follow a forwarding mark.
	 */
	store_release(&t->next, nt);
	/* Statistics for rcumap_stats; orders nothing. */
	store_relaxed(&map->migrating, 1);
	TORTURE_PUBLISH(nt, RCUMAP_KIND_TABLE);
#ifdef RCUMAP_BROKEN_TABLE_EARLY
	rcumap__retire_table(map, t);  /* negative control: still current */
#endif
	return rcumap__migrate_locked(map, budget);
}

/*
 * Slots of the newer generation that one update fills for a migration it
 * meets. A fill copies one bucket (about 100-200 ns), so an update pays at
 * most some 10 us for a migration, whatever the table size; writers that
 * meet a forwarding mark fill their own slot on top (design.md, section 4).
 */
#define MIGRATE_CHUNK 64

/*
 * Called from updates: move a pending migration on by one chunk, or start
 * one when the load left its bounds. Never blocks: if another thread
 * drives, it returns. Errors are dropped; the next update retries.
 */
void rcumap__maybe_resize(struct rcumap *map)
{
	/* Pairs with the release store of map->cur. */
	struct rcumap_table *t = load_acquire(&map->cur);
	size_t size;

	TORTURE_SEEN(t, RCUMAP_KIND_TABLE);
	size = t->mask + 1;
	/* A hint only; re-read under the lock. */
	if (!load_relaxed(&t->next) && policy_target(map, size, rcumap_count(map)) == size)
		return;
	if (pthread_mutex_trylock(&map->resize_lock))
		return;
	/* Under the lock: stable. */
	if (load_relaxed(&load_relaxed(&map->cur)->next))
		(void)rcumap__migrate_locked(map, MIGRATE_CHUNK);
	else
		(void)start_locked(map, 0, MIGRATE_CHUNK);
	pthread_mutex_unlock(&map->resize_lock);
}

int rcumap_resize(struct rcumap *map, size_t slots)
{
	size_t want;
	int r;

	if (!map || slots > RCUMAP_SLOTS_MAX)
		return -EINVAL;
	want = slots ? rcumap__slots_round(map, slots) : 0;
	map->flavor->read_lock();
	if (pthread_mutex_trylock(&map->resize_lock)) {
		map->flavor->read_unlock();
		return -EBUSY;
	}
	/* Finish a pending migration first, then start the one asked for. */
	r = rcumap__migrate_locked(map, SIZE_MAX);
	if (r == 0)
		r = start_locked(map, want, SIZE_MAX);
	pthread_mutex_unlock(&map->resize_lock);
	map->flavor->read_unlock();
	return r;
}

int rcumap_clear(struct rcumap *map)
{
	struct rcumap_table *t;
	int r;

	if (!map)
		return -EINVAL;
	map->flavor->read_lock();
	pthread_mutex_lock(&map->resize_lock);
	r = rcumap__migrate_locked(map, SIZE_MAX);
	if (r)
		goto out;
	/* Under the lock: no migration can start, so no slot gets frozen. */
	t = load_relaxed(&map->cur);
	TORTURE_SEEN(t, RCUMAP_KIND_TABLE);
	for (size_t i = 0; i <= t->mask; i++) {
		/* Pairs with the slot CAS that published the bucket. */
		uintptr_t s = load_acquire(&t->slots[i]);

		/*
		 * Unpublish the bucket; acquire on failure pairs with the
		 * concurrent writer whose bucket we retry on. The empty bucket
		 * has no contents to order.
		 */
		while (s != SLOT_EMPTY && !cas_acq_rel(&t->slots[i], &s, SLOT_EMPTY))
			;
		if (s != SLOT_EMPTY) {
			struct rcumap_bucket *b = slot_bucket(s);

			rcumap__count_add(map, NULL, -(long)b->n);
			rcumap__retire_bucket(map, NULL, b, DEAD_ALL);
		}
	}
out:
	pthread_mutex_unlock(&map->resize_lock);
	map->flavor->read_unlock();
	return r;
}

/*
 * Visit every live record exactly once, with the index of its slot in the
 * newest generation. With a migration pending, a filled slot of the newer
 * generation is authoritative, and an unfilled one still has its records in
 * its source slots, filtered by hash. Not safe against concurrent updates.
 */
void rcumap__walk_live(struct rcumap_table *t,
		       void (*fn)(const struct rcumap_rec *r, size_t idx, void *arg),
		       void *arg)
{
	struct rcumap_table *nt = t->next;

	if (!nt) {
		for (size_t i = 0; i <= t->mask; i++) {
			const struct rcumap_bucket *b = slot_bucket(t->slots[i]);

			for (uint32_t k = 0; k < b->n; k++)
				fn(&b->rec[k], i, arg);
		}
		return;
	}
	for (size_t d = 0; d <= nt->mask; d++) {
		size_t first, step, count;

		if (nt->slots[d] != SLOT_UNFILLED) {
			const struct rcumap_bucket *b = slot_bucket(nt->slots[d]);

			for (uint32_t k = 0; k < b->n; k++)
				fn(&b->rec[k], d, arg);
			continue;
		}
		dest_sources(t, nt, d, &first, &step, &count);
		for (size_t c = 0; c < count; c++) {
			const struct rcumap_bucket *b = slot_bucket(t->slots[first + c * step]);

			for (uint32_t k = 0; k < b->n; k++)
				if ((rec_hash(&b->rec[k]) & nt->mask) == d)
					fn(&b->rec[k], d, arg);
		}
	}
}
