/* SPDX-License-Identifier: MIT */
/* stripe.c: per-thread-ish stripes: their try-lock and the counters they keep. */
#include <sched.h>

#include "atomics.h"
#include "internal.h"

static __thread unsigned tls_stripe;  /* 1 + this thread's stripe; 0: unset */
static unsigned next_stripe;

void rcumap__stripes_init(struct rcumap *map)
{
	for (unsigned i = 0; i < NSTRIPES; i++)
		for (unsigned k = 0; k < NCARRIERS; k++) {
			map->stripe[i].carrier[k].map = map;
			map->stripe[i].carrier[k].stripe = i;
		}
}

struct rcumap_stripe *rcumap__stripe(struct rcumap *map)
{
	unsigned s = tls_stripe;

	if (unlikely(!s)) {
		/* Spreads threads over stripes; orders nothing. */
		s = add_relaxed(&next_stripe, 1) % NSTRIPES + 1;
		tls_stripe = s;
	}
	return &map->stripe[s - 1];
}

/* This thread's stripe, locked; NULL when another holder has it (never waits). */
struct rcumap_stripe *rcumap__stripe_trylock(struct rcumap *map)
{
	struct rcumap_stripe *st = rcumap__stripe(map);

	return rcumap__stripe_trylock_at(st) ? st : NULL;
}

/* Try-lock of a given stripe (a callback's); nonzero when taken. */
int rcumap__stripe_trylock_at(struct rcumap_stripe *st)
{
	/* Relaxed peek first, so a taken lock costs no write; the xchg decides. */
	if (load_relaxed(&st->lock))
		return 0;
	/* Takes the lock: acquire pairs with the release in rcumap__stripe_unlock. */
	return !xchg_acquire(&st->lock, 1);
}

/* Blocking lock, for barriers: holders only run short sections. */
void rcumap__stripe_lock(struct rcumap_stripe *st)
{
	/* Takes the lock: acquire pairs with the release in rcumap__stripe_unlock. */
	while (xchg_acquire(&st->lock, 1))
		sched_yield();
}

/* Unlock, then queue the carrier the section took, if any (no call_rcu under the lock). */
void rcumap__stripe_unlock(struct rcumap *map, struct rcumap_stripe *st)
{
	struct rcumap_carrier *c = st->due;

	st->due = NULL;
	/* Ends the section: pairs with the acquire exchange of the next holder. */
	store_release(&st->lock, 0);
	if (c)
		rcumap__carrier_queue(map, st, c);
}

/*
 * The lock holder is the only writer of st->own, so a load and a store do
 * instead of a read-modify-write; relaxed, because rcumap_stats and
 * rcumap_count read the counters concurrently. Orders nothing.
 */
#define OWN_ADD(p, v) store_relaxed((p), load_relaxed(p) + (v))

void rcumap__count_add(struct rcumap *map, struct rcumap_stripe *st, long delta)
{
	if (st)
		OWN_ADD(&st->own.count, delta);
	else
		/* Counter only; the slot CAS already ordered the update itself. */
		add_relaxed(&rcumap__stripe(map)->spill.count, delta);
}

/* st: the caller's locked stripe, or NULL to count with atomic adds. */
void rcumap__count_retired(struct rcumap *map, struct rcumap_stripe *st, int kind,
			   uint64_t n, uint64_t bytes)
{
	if (st) {
		OWN_ADD(&st->own.retired[kind], n);
		OWN_ADD(&st->own.retired_bytes[kind], bytes);
		return;
	}
	st = rcumap__stripe(map);
	/* Statistics only: relaxed. */
	add_relaxed(&st->spill.retired[kind], n);
	/* Statistics only: relaxed. */
	add_relaxed(&st->spill.retired_bytes[kind], bytes);
}

/* Callbacks count here, once per callback; st: any stripe (the carrier's). */
void rcumap__count_reclaimed(struct rcumap *map, struct rcumap_stripe *st, int kind,
			     uint64_t n, uint64_t bytes)
{
	if (!st)
		st = rcumap__stripe(map);
	/* Statistics only: relaxed. */
	add_relaxed(&st->reclaimed[kind], n);
	/* Statistics only: relaxed. */
	add_relaxed(&st->reclaimed_bytes[kind], bytes);
}

long rcumap__count_sum(const struct rcumap *map)
{
	long sum = 0;

	for (int i = 0; i < NSTRIPES; i++) {
		/* Plain sum of independent counters; orders nothing. */
		sum += load_relaxed(&map->stripe[i].own.count);
		/* As above. */
		sum += load_relaxed(&map->stripe[i].spill.count);
	}
	return sum;
}
