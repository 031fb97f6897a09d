/* SPDX-License-Identifier: MIT */
/* resize.c: the resize policy: when a migration starts, to what size, and who drives it. */
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

static size_t policy_target(const struct rcumap *map, size_t size)
{
	long c = rcumap__count_sum(map);
	size_t count = c < 0 ? 0 : (size_t)c;
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

/* slots rounded up to a power of two, at least the map's min_slots (1 without a map). */
size_t rcumap__slots_round(const struct rcumap *map, size_t slots)
{
	size_t s = map ? map->min_slots : 1;

	while (s < slots && s < RCUMAP_SLOTS_MAX)
		s <<= 1;
	return s;
}

/*
 * Start a migration of the current generation to want slots (0: what the
 * policy picks) and drive budget slots of it. Caller holds resize_lock and
 * a read section, and no migration is pending.
 */
static int start_locked(struct rcumap *map, size_t want, size_t budget)
{
	struct rcumap_table *t = cur_locked(map);
	size_t size;
	struct rcumap_table *nt;

	TORTURE_SEEN(t, RCUMAP_KIND_TABLE);
	debug_assert("I6", next_locked(map, t) == NULL);
	size = t->mask + 1;
	if (!want)
		want = policy_target(map, size);
	if (want == size)
		return 0;
	nt = rcumap__table_alloc(map, want, t->gen + 1, SLOT_UNFILLED);
	if (!nt)
		return -ENOMEM;
	t->migrate_pos = 0;
	/*
	 * O3: publish the new generation before any slot is frozen; pairs with
	 * the acquire loads of t->next that follow a forwarding mark.
	 */
	store_release(&t->next, nt);
	stat_store(&map->migrating, 1);  /* a copy for rcumap_stats */
	TORTURE_PUBLISH(nt, RCUMAP_KIND_TABLE);
	broken_table_early(map, t);  /* broken.h: TABLE_EARLY only */
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
	/* O5: pairs with the release store of map->cur. */
	struct rcumap_table *t = load_acquire(&map->cur);
	size_t size;

	TORTURE_SEEN(t, RCUMAP_KIND_TABLE);
	size = t->mask + 1;
	/* Relaxed: a hint only; re-read under the lock. */
	if (!load_relaxed(&t->next) && policy_target(map, size) == size)
		return;
	if (!resize_trylock(map))
		return;
	if (next_locked(map, cur_locked(map)))
		(void)rcumap__migrate_locked(map, MIGRATE_CHUNK);
	else
		(void)start_locked(map, 0, MIGRATE_CHUNK);
	resize_unlock(map);
}

/*
 * rcumap_resize's work: finish a pending migration, then migrate to want
 * slots (0: the policy's size). Caller holds a read section.
 *
 * resize_lock's holders are updates moving a migration on by one chunk
 * (microseconds), or an rcumap_resize or rcumap_clear, which hold it for a
 * whole migration or clear and mark it with resize_exclusive. The first are
 * waited for; the second give -EBUSY, unless the table already has the
 * size asked for and no migration is pending, when there is nothing to do.
 */
int rcumap__resize_to(struct rcumap *map, size_t want)
{
	int r;

	if (!resize_trylock(map)) {
		/* Relaxed: a hint about the holder, set and cleared under the lock. */
		if (load_relaxed(&map->resize_exclusive)) {
			/* Relaxed: copies for rcumap_stats, a hint as well. */
			if (want && !stat_load(&map->migrating) && stat_load(&map->cur_slots) == want)
				return 0;
			return -EBUSY;
		}
		resize_lock(map);
	}
	mark_exclusive(map, 1);
	/* Finish a pending migration first, then start the one asked for. */
	r = rcumap__migrate_locked(map, SIZE_MAX);
	if (r == 0)
		r = start_locked(map, want, SIZE_MAX);
	mark_exclusive(map, 0);
	resize_unlock(map);
	return r;
}
