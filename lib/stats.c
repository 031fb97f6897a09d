/* SPDX-License-Identifier: MIT */
/* stats.c: the entry count and the statistics counters, kept per stripe (O8). */
#include "internal.h"

/*
 * Every counter here orders nothing (docs/design.md, O8): rcumap_count and
 * rcumap_stats read them concurrently with relaxed loads, and are documented
 * as not a snapshot. A stripe's lock holder is the only writer of st->own,
 * so a relaxed load and store do instead of a read-modify-write; updates
 * without the lock add to the "spill" counters with relaxed atomic adds.
 */
#define OWN_ADD(st, p, v) \
	do { assert_stripe_locked(st); stat_store((p), stat_load(p) + (v)); } while (0)

void rcumap__count_add(struct rcumap *map, struct rcumap_stripe *st, long delta)
{
	if (st)
		OWN_ADD(st, &st->own.count, delta);
	else
		stat_add(&rcumap__stripe(map)->spill.count, delta);
}

/* st: the caller's locked stripe, or NULL to count with atomic adds. */
void rcumap__count_retired(struct rcumap *map, struct rcumap_stripe *st, int kind,
			   uint64_t n, uint64_t bytes)
{
	if (st) {
		OWN_ADD(st, &st->own.retired[kind], n);
		OWN_ADD(st, &st->own.retired_bytes[kind], bytes);
		return;
	}
	st = rcumap__stripe(map);
	stat_add(&st->spill.retired[kind], n);
	stat_add(&st->spill.retired_bytes[kind], bytes);
}

/* Callbacks count here, once per callback; st: any stripe (the carrier's). */
void rcumap__count_reclaimed(struct rcumap *map, struct rcumap_stripe *st, int kind,
			     uint64_t n, uint64_t bytes)
{
	if (!st)
		st = rcumap__stripe(map);
	stat_add(&st->reclaimed[kind], n);
	stat_add(&st->reclaimed_bytes[kind], bytes);
}

long rcumap__count_sum(const struct rcumap *map)
{
	long sum = 0;

	for (int i = 0; i < NSTRIPES; i++)
		sum += stat_load(&map->stripe[i].own.count) + stat_load(&map->stripe[i].spill.count);
	return sum;
}
