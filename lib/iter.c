/* SPDX-License-Identifier: MIT */
/* iter.c: exactly-once traversal in hash order: the in-section iterator and the cursor scan. */
#include "lookup.h"

/*
 * Positions are points in the space of bit-reversed 32-bit hashes
 * (docs/iteration.md). In a table of 2^k slots, slot i holds exactly the
 * entries whose reversed hash lies in [rev_k(i) << (32-k), (rev_k(i)+1) <<
 * (32-k)); visiting slots by bit-reversed index therefore walks contiguous,
 * increasing intervals, and a position stays meaningful when the table
 * doubles or halves. A step reads the authoritative bucket for the current
 * position, returns its entries in [pos, end of interval), and moves pos to
 * the end: every position is covered by exactly one step (guarantees T2, T3).
 */

#define ITER_MAGIC 0x52455449u  /* "ITER" */

/* The record's position in hash order. */
static inline uint64_t rec_pos(const struct rcumap_rec *r)
{
	return rev32(rec_hash(r));
}

static inline int in_step(uint64_t p, uint64_t pos, uint64_t end)
{
	return broken_iter_no_filter() || (p >= pos && p < end);
}

/*
 * Bit-reversed order jumps across the slot array, so every step would wait
 * for a slot miss and then a bucket miss. Touch what the steps ahead will
 * need, assuming the table keeps its size (only a hint either way): the slot
 * word PREFETCH_SLOTS steps ahead, and the bucket PREFETCH_BUCKETS steps
 * ahead, whose slot word an earlier step prefetched.
 */
#define PREFETCH_SLOTS 16
#define PREFETCH_BUCKETS 8

static inline void prefetch_ahead(const struct rcumap_table *t, uint64_t pos)
{
	unsigned shift = 32 - (unsigned)__builtin_ctzll((unsigned long long)t->mask + 1);
	uint64_t ps = pos + ((uint64_t)PREFETCH_SLOTS << shift);
	uint64_t pb = pos + ((uint64_t)PREFETCH_BUCKETS << shift);

	if (ps < POS_END)
		__builtin_prefetch(&t->slots[rev32((uint32_t)ps) & t->mask]);
	if (pb < POS_END)
		/* A hint only: the step that uses the bucket loads the slot again with acquire. */
		__builtin_prefetch(slot_bucket(load_relaxed(&t->slots[rev32((uint32_t)pb) & t->mask])));
}

/* locate_bucket (lookup.h) for position pos, after a prefetch for the steps ahead. */
static const struct rcumap_bucket *locate_pos(struct rcumap *map, uint64_t pos,
					      uint64_t *endp)
{
	/* O5: pairs with the release store of map->cur; here only to aim the prefetch. */
	prefetch_ahead(load_acquire(&map->cur), pos);
	return locate_bucket(map, rev32((uint32_t)pos), endp);
}

/* ---- the in-section iterator ---------------------------------------------- */

int rcumap_iter_init(struct rcumap *map, struct rcumap_iter *it)
{
	if (!map || !it)
		return -EINVAL;
	it->map = map;
	it->bucket = NULL;
	it->pos = 0;
	it->end = 0;
	it->idx = 0;
	it->magic = ITER_MAGIC;
	rcumap__iter_debug_ticket(map, it);
	return 0;
}

int rcumap_iter_next(struct rcumap *map, struct rcumap_iter *it, const void **key,
		     size_t *len, void **value)
{
	if (unlikely(!it || it->magic != ITER_MAGIC)) {
		debug_fail("rcumap_iter_next: iterator not initialised by rcumap_iter_init");
		return -EINVAL;
	}
	rcumap__iter_debug_check(map, it);
	if (unlikely(!map || it->map != map))
		return -EINVAL;
	for (;;) {
		const struct rcumap_bucket *b = it->bucket;

		if (b) {
			while (it->idx < b->n) {
				const struct rcumap_rec *r = &b->rec[it->idx++];

				if (!in_step(rec_pos(r), it->pos, it->end))
					continue;
				if (key)
					*key = rec_key(r);
				if (len)
					*len = rec_len(r);
				if (value)
					*value = r->value;
				return 1;
			}
			it->bucket = NULL;
			it->pos = it->end;
		}
		if (it->pos >= POS_END)
			return 0;
		it->bucket = locate_pos(map, it->pos, &it->end);
		it->idx = 0;
	}
}

/* ---- the cursor scan --------------------------------------------------------- */

static void emit(const struct rcumap_rec *r, rcumap_scan_fn fn, void *arg)
{
	fn(rec_key(r), rec_len(r), r->value, arg);
}

/*
 * One step of a scan on bucket b for [*pos, end): passes its entries to fn,
 * whole groups of equal position in increasing order, until *n reaches max.
 * Leaves *pos at end when the step is done, or at the first position not yet
 * passed.
 */
static void scan_step(const struct rcumap_bucket *b, uint64_t *pos, uint64_t end,
		      size_t *n, size_t max, rcumap_scan_fn fn, void *arg)
{
	size_t in = 0;

	for (uint32_t i = 0; i < b->n; i++)
		in += in_step(rec_pos(&b->rec[i]), *pos, end);
	if (broken_iter_no_filter() || *n + in <= max) {
		/* The whole step fits: bucket order will do. */
		for (uint32_t i = 0; i < b->n; i++)
			if (in_step(rec_pos(&b->rec[i]), *pos, end))
				emit(&b->rec[i], fn, arg);
		*n += in;
		*pos = end;
		return;
	}
	while (*n < max) {
		uint64_t g = end;

		for (uint32_t i = 0; i < b->n; i++) {
			uint64_t p = rec_pos(&b->rec[i]);

			if (p >= *pos && p < g)
				g = p;
		}
		if (g == end)
			break;
		for (uint32_t i = 0; i < b->n; i++)
			if (rec_pos(&b->rec[i]) == g) {
				emit(&b->rec[i], fn, arg);
				(*n)++;
			}
		*pos = g + 1;
	}
	if (*n < max)
		*pos = end;
}

int rcumap_scan(struct rcumap *map, uint64_t *cursor, size_t max_entries,
		rcumap_scan_fn fn, void *arg)
{
	uint64_t pos;
	size_t n = 0;

	if (!map || !cursor || !fn || !max_entries || *cursor >= POS_END)
		return -EINVAL;
	pos = *cursor;
	map->flavor->read_lock();
	while (pos < POS_END && n < max_entries) {
		uint64_t end;
		const struct rcumap_bucket *b = locate_pos(map, pos, &end);

		scan_step(b, &pos, end, &n, max_entries, fn, arg);
	}
	map->flavor->read_unlock();
	*cursor = pos >= POS_END ? 0 : pos;
	return 0;
}
