/* SPDX-License-Identifier: MIT */
/* migrate.c: the mechanics of a migration: freeze, fill, drive, switch; and walking a table. */
#include "internal.h"

/*
 * A migration moves every entry of generation t into t->next, slot group by
 * slot group, behind forwarding marks (docs/design.md, section 2). When and
 * to what size one starts is resize.c's business; this file only carries
 * one out.
 */

/* Freeze slot i of t (idempotent); returns its bucket, immutable from now on. */
static struct rcumap_bucket *freeze(struct rcumap_table *t, size_t i)
{
	/* O1, O4: pairs with the slot CAS that published the bucket. */
	uintptr_t s = load_acquire(&t->slots[i]);

	/*
	 * The forwarding mark. O3: release orders t->next (stored earlier)
	 * before the mark for readers who acquire it. O4: acquire pairs with
	 * the writer whose bucket we freeze, so we copy its contents.
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

	/* O2: pairs with the fill CAS below, when another thread filled it. */
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
	nb = broken_fill_enomem(n ? rcumap__bucket_alloc(map, n) : &rcumap_empty, &n);
	if (!nb)
		return -ENOMEM;  /* sources stay frozen: readers use them, contents unchanged */
	for (k = 0; k < count && n; k++) {
		/* Relaxed: frozen above (I4), and the acquire in freeze() ordered its contents (O4). */
		uintptr_t s = load_relaxed(&t->slots[first + k * step]);
		const struct rcumap_bucket *b = slot_bucket(s);

		debug_assert("I4", s & SLOT_FROZEN);

		for (uint32_t i = 0; i < b->n; i++)
			if ((rec_hash(&b->rec[i]) & nt->mask) == d)
				nb->rec[j++] = b->rec[i];
	}
	TORTURE_POINT(RCUMAP_TP_MIGRATE);
	/*
	 * Publish the filled slot. O2: release orders the bucket contents
	 * before it; pairs with the acquire slot loads of readers and writers
	 * in nt.
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
	struct rcumap_table *t = cur_locked(map);
	struct rcumap_table *nt;
	const size_t budget0 = budget;
	size_t d;

	TORTURE_SEEN(t, RCUMAP_KIND_TABLE);
	nt = next_locked(map, t);
	if (!nt)
		return 0;
	TORTURE_SEEN(nt, RCUMAP_KIND_TABLE);
	debug_assert("I6", next_locked(map, nt) == NULL);
	for (d = t->migrate_pos; d <= nt->mask && budget; d++, budget--) {
		int r;

		if (broken_migrate_skip(budget0, budget))  /* broken.h: MIGRATE_SKIP only */
			continue;
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
		stat_add(&map->grows, 1);
	else
		stat_add(&map->shrinks, 1);
	for (d = 0; RCUMAP_DEBUG_ON && d <= nt->mask; d++)
		/* Relaxed: a debug check; our fills and the helpers' were acquired (O2). */
		debug_assert("I2", load_relaxed(&nt->slots[d]) != SLOT_UNFILLED);
	TORTURE_POINT(RCUMAP_TP_SWITCH);
	/*
	 * Switch generations. O5: every slot of nt is filled, and release
	 * orders those fills before the switch; pairs with the acquire loads
	 * of map->cur, so no one starting from cur meets an unfilled slot (I2).
	 */
	store_release(&map->cur, nt);
	stat_store(&map->cur_slots, nt->mask + 1);  /* copies for rcumap_stats */
	stat_store(&map->cur_gen, nt->gen);
	stat_store(&map->migrating, 0);
	if (!broken_table_retired_early())  /* broken.h: TABLE_EARLY only */
		rcumap__retire_table(map, t);
	return 0;
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
