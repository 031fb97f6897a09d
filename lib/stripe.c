/* SPDX-License-Identifier: MIT */
/* stripe.c: per-thread-ish stripes: which one a thread uses, and their try-lock (O6). */
#include <sched.h>

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
	/* O6: takes the lock; acquire pairs with the release in stripe_drop (internal.h). */
	return !xchg_acquire(&st->lock, 1);
}

/* Blocking lock, for barriers: holders only run short sections. */
void rcumap__stripe_lock(struct rcumap_stripe *st)
{
	/* O6: takes the lock; acquire pairs with the release in stripe_drop (internal.h). */
	while (xchg_acquire(&st->lock, 1))
		sched_yield();
}
