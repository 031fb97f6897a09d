/* SPDX-License-Identifier: MIT */
/* map.c: the map's life (create, destroy) and the whole-map calls: count, stats, barrier, resize, clear. */
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * The qsbr flavor object, if the program links liburcu-qsbr. Weak, so the
 * library links no flavor itself; used only to recognise qsbr, whose "read
 * section" is the whole online period (see rcumap_barrier).
 */
extern const struct rcu_flavor_struct urcu_qsbr_flavor __attribute__((weak));

/* ---- create and destroy -------------------------------------------------- */

static void seed_init(uint64_t seed[RCUMAP_HASH_SEED_WORDS])
{
	struct timespec ts;

	rcumap__hash_init();
	if (getrandom(seed, RCUMAP_HASH_SEED_WORDS * sizeof(uint64_t), GRND_NONBLOCK) ==
	    (ssize_t)(RCUMAP_HASH_SEED_WORDS * sizeof(uint64_t)))
		return;
	/* No entropy yet (early boot): mix what differs between runs. */
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t k[2] = { (uint64_t)ts.tv_nsec, (uint64_t)getpid() };
	uint64_t m[3] = { (uint64_t)ts.tv_sec, (uint64_t)(uintptr_t)seed,
			  (uint64_t)(uintptr_t)&ts };
	for (int i = 0; i < RCUMAP_HASH_SEED_WORDS; i++) {
		seed[i] = siphash_inline(k, m, sizeof(m), 2, 4);
		k[0] ^= seed[i];
	}
}

int rcumap_create(const struct rcumap_config *config, struct rcumap **out)
{
	struct rcumap *map;
	void *raw;
	size_t raw_size = sizeof(struct rcumap) + 127;
	size_t min_slots;

	if (!config || !out || !config->flavor ||
	    !config->alloc != !config->free ||
	    config->min_slots > RCUMAP_SLOTS_MAX)
		return -EINVAL;
	min_slots = rcumap__slots_round(NULL, config->min_slots ? config->min_slots : 8);

	raw = config->alloc ? config->alloc(raw_size, RCUMAP_KIND_MAP, config->alloc_arg)
			    : malloc(raw_size);
	if (!raw)
		return -ENOMEM;
	/* Stripes must not share cache lines with other data. */
	map = (struct rcumap *)(((uintptr_t)raw + 127) & ~(uintptr_t)127);
	memset(map, 0, sizeof(*map));
	map->raw = raw;
	map->raw_size = raw_size;
	map->flavor = config->flavor;
	/* By function, so that a copy of the qsbr flavor struct is recognised too. */
	map->qsbr = &urcu_qsbr_flavor &&
		    config->flavor->read_ongoing == urcu_qsbr_flavor.read_ongoing;
	map->free_value = config->free_value;
	map->free_value_arg = config->free_value_arg;
	map->hash = config->hash;
	map->hash_arg = config->hash_arg;
	map->alloc = config->alloc;
	map->free = config->free;
	map->alloc_arg = config->alloc_arg;
	map->min_slots = min_slots;
	/*
	 * A user allocator gets every call it would without the cache; torture's
	 * allocator is one, and it sees the cache through its hooks instead.
	 */
	map->cache = !map->alloc || TORTURE_ON;
	if (!map->hash)
		seed_init(map->seed);
	pthread_mutex_init(&map->resize_lock, NULL);
	rcumap__stripes_init(map);

	map->cur = rcumap__table_alloc(map, min_slots, 0, SLOT_EMPTY);
	if (!map->cur) {
		pthread_mutex_destroy(&map->resize_lock);
		rcumap__free(map, raw, raw_size, RCUMAP_KIND_MAP);
		return -ENOMEM;
	}
	TORTURE_PUBLISH(map->cur, RCUMAP_KIND_TABLE);
	map->cur_slots = min_slots;
	*out = map;
	return 0;
}

static void destroy_entry(const struct rcumap_rec *r, size_t idx, void *arg)
{
	(void)idx;
	rcumap__free_entry(arg, r);
}

static void free_table_buckets(struct rcumap *map, struct rcumap_table *t)
{
	for (size_t i = 0; i <= t->mask; i++) {
		uintptr_t s = t->slots[i];

		if (s != SLOT_UNFILLED)
			rcumap__bucket_free(map, slot_bucket(s));
	}
}

int rcumap_destroy(struct rcumap *map)
{
	struct rcumap_table *t, *nt;

	if (!map)
		return -EINVAL;
	if (!map->qsbr && map->flavor->read_ongoing())
		return -EDEADLK;
	/* Readers that still hold entries finish before anything is freed. */
	map->flavor->update_synchronize_rcu();
	t = map->cur;
	nt = t->next;
	rcumap__walk_live(t, destroy_entry, map);
	free_table_buckets(map, t);
	rcumap__table_free(map, t);
	if (nt) {
		free_table_buckets(map, nt);
		rcumap__table_free(map, nt);
	}
	/* Callbacks still queued refer to the map: let them run first. */
	rcumap__iter_debug_stop(map);
	rcumap__drain(map, 1);
	pthread_mutex_destroy(&map->resize_lock);
	rcumap__free(map, map->raw, map->raw_size, RCUMAP_KIND_MAP);
	return 0;
}

/* ---- whole-map calls ----------------------------------------------------------- */

size_t rcumap_count(const struct rcumap *map)
{
	long c;

	if (!map)
		return 0;
	c = rcumap__count_sum(map);
	return c < 0 ? 0 : (size_t)c;
}

int rcumap_stats(const struct rcumap *map, struct rcumap_stats *out)
{
	if (!map || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->entries = rcumap_count(map);
	/*
	 * Each counter is read atomically and none orders anything (O8). No
	 * read section here, so no table is dereferenced: the size and
	 * generation are copies kept in the map.
	 */
	out->slots = stat_load(&map->cur_slots);
	out->generation = stat_load(&map->cur_gen);
	out->grows = stat_load(&map->grows);
	out->shrinks = stat_load(&map->shrinks);
	out->resizing = stat_load(&map->migrating);
	for (int i = 0; i < NSTRIPES; i++) {
		const struct rcumap_stripe *st = &map->stripe[i];

		for (int k = 0; k < RCUMAP_STATS_KINDS; k++) {
			out->kind[k].retired += stat_load(&st->own.retired[k]) +
						stat_load(&st->spill.retired[k]);
			out->kind[k].retired_bytes += stat_load(&st->own.retired_bytes[k]) +
						      stat_load(&st->spill.retired_bytes[k]);
			out->kind[k].reclaimed += stat_load(&st->reclaimed[k]);
			out->kind[k].reclaimed_bytes += stat_load(&st->reclaimed_bytes[k]);
		}
	}
	return 0;
}

int rcumap_barrier(struct rcumap *map)
{
	if (!map)
		return -EINVAL;
	if (!map->qsbr && map->flavor->read_ongoing())
		return -EDEADLK;
	rcumap__drain(map, 0);
	return 0;
}

int rcumap_resize(struct rcumap *map, size_t slots)
{
	int r;

	if (!map || slots > RCUMAP_SLOTS_MAX)
		return -EINVAL;
	map->flavor->read_lock();
	r = rcumap__resize_to(map, slots ? rcumap__slots_round(map, slots) : 0);
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
	resize_lock(map);
	mark_exclusive(map, 1);
	r = rcumap__migrate_locked(map, SIZE_MAX);
	if (r)
		goto out;
	/* Under the lock: no migration can start, so no slot gets frozen. */
	t = cur_locked(map);
	TORTURE_SEEN(t, RCUMAP_KIND_TABLE);
	for (size_t i = 0; i <= t->mask; i++) {
		/* O1: pairs with the slot CAS that published the bucket. */
		uintptr_t s = load_acquire(&t->slots[i]);

		/*
		 * Unpublish the bucket. O1: acquire on failure pairs with the
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
	mark_exclusive(map, 0);
	resize_unlock(map);
	map->flavor->read_unlock();
	return r;
}
