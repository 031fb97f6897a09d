/* SPDX-License-Identifier: MIT */
/* debug.c: debug builds' machinery: did an iterator outlive its read section? */
#include "internal.h"

#ifdef RCUMAP_DEBUG
/*
 * Every rcumap_iter_init takes a ticket. A chain of call_rcu callbacks
 * (one queued at a time per map) publishes in dbg_done the highest ticket
 * handed out before the callback was queued: once a ticket is covered, a
 * grace period began after that init and has ended, so the read section the
 * init ran in is over. No false alarm is possible; a late use goes unnoticed
 * until a grace period has completed and the ticket's callback has run (the
 * call_rcu worker's delay, ~10 ms, or an rcu_barrier).
 */
static void dbg_queue(struct rcumap *map);

static void dbg_callback(struct rcu_head *rh)
{
	struct rcumap *map = container_of(rh, struct rcumap, dbg_rh);

	/* Publishes coverage; pairs with the acquire load in rcumap__iter_debug_check(). */
	store_release(&map->dbg_done, map->dbg_queued_upto);
	/* Ends this link of the chain; seq_cst against the ticket increment below. */
	store_seq_cst(&map->dbg_queued, 0);
	/* seq_cst: either we see a newer ticket here or its init sees dbg_queued == 0. */
	if (load_seq_cst(&map->dbg_req) > map->dbg_queued_upto &&
	    !load_relaxed(&map->dbg_stopping))  /* set before destroy's barriers */
		dbg_queue(map);
}

static void dbg_queue(struct rcumap *map)
{
	int zero = 0;

	/* seq_cst: pairs with the store and load in dbg_callback(). */
	if (cas_seq_cst(&map->dbg_queued, &zero, 1)) {
		/* seq_cst: read after winning the queue, so it covers our ticket. */
		map->dbg_queued_upto = load_seq_cst(&map->dbg_req);
		map->flavor->update_call_rcu(&map->dbg_rh, dbg_callback);
	}
}

void rcumap__iter_debug_ticket(struct rcumap *map, struct rcumap_iter *it)
{
	if (!map->flavor->read_ongoing())
		debug_fail("rcumap_iter_init called outside a read section");
	/* seq_cst: pairs with the load in dbg_callback() (see there). */
	it->section = add_fetch_seq_cst(&map->dbg_req, 1);
	dbg_queue(map);
}

void rcumap__iter_debug_check(struct rcumap *map, const struct rcumap_iter *it)
{
	if (it->map != map)
		debug_fail("rcumap_iter_next: iterator used on another map than the one it was initialised for");
	if (!map->flavor->read_ongoing())
		debug_fail("rcumap_iter_next called outside a read section");
	/* Pairs with the release store in dbg_callback(). */
	if (load_acquire(&map->dbg_done) >= it->section)
		debug_fail("rcumap_iter_next: the read section it started in has ended "
			   "(a grace period completed since rcumap_iter_init)");
}

void rcumap__iter_debug_stop(struct rcumap *map)
{
	/* Stops the chain; ordered before the barriers by their own synchronisation. */
	store_relaxed(&map->dbg_stopping, 1);
	do
		map->flavor->barrier();
	/* Acquire: the callback's last accesses to the map happen before we free it. */
	while (load_acquire(&map->dbg_queued));
}
#else
/* ISO C forbids an empty translation unit. */
typedef int rcumap__debug_unused;
#endif
