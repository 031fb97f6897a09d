/* SPDX-License-Identifier: MIT */
/* internal.h: rcumap's data structure and what lib/ files share; the lookup path's inlines are in lookup.h. */
#ifndef RCUMAP_INTERNAL_H
#define RCUMAP_INTERNAL_H

/*
 * Structure (docs/design.md has the full picture and the guarantees):
 *
 *   struct rcumap --cur--> struct rcumap_table (generation g)
 *                             slots[i] --> struct rcumap_bucket (immutable)
 *                             next ------> generation g+1 while migrating
 *
 * A slot word is a bucket pointer with flag bits in its low bits, or one of
 * two special values:
 *   SLOT_UNFILLED (0)   a slot of a newer generation whose entries still sit
 *                       in the frozen source slot(s) of the older one;
 *   &rcumap_empty       an empty slot (a shared bucket with n == 0, never
 *                       freed, so readers need no special case);
 *   ptr | SLOT_FROZEN   migration has begun: the bucket can no longer change,
 *                       and the slot's keys now live in table->next.
 *
 * The files of lib/, each calling only the ones above it in this list
 * (docs/design.md, "Map of the code"; scripts/check-layers.sh checks it):
 *
 *   ground      hash.c      the default hash
 *               stripe.c    per-thread stripes and their try-lock
 *               stats.c     the entry count and the statistics counters
 *               debug.c     debug builds: iterators' read-section tickets
 *   memory      mem.c       the allocation hook, tables, buckets, bucket cache
 *   reclaim     reclaim.c   retirement in bags through call_rcu, callbacks, drain
 *   mechanics   migrate.c   freeze, fill, drive and switch a migration; walk
 *   policy      resize.c    when and to what size to migrate
 *   entry       map.c       create, destroy, whole-map calls, resize, clear
 *               lookup.c    rcumap_get, rcumap_get_batch
 *               update.c    the copy-on-write update path
 *               iter.c      rcumap_iter_*, rcumap_scan
 *               validate.c  rcumap_validate
 *
 * Headers: atomics.h (every memory order), hash.h and siphash.h, hooks.h
 * (torture's hooks), tsan.h (ThreadSanitizer hand-offs), debug.h (checks of
 * debug builds), broken.h (the negative controls), this file, and lookup.h
 * (the lookup path, inlined by lookup.c, update.c and iter.c).
 */

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <urcu/call-rcu.h>
#include <urcu/flavor.h>

#include "rcumap.h"
#include "atomics.h"
#include "debug.h"
#include "hash.h"
#include "hooks.h"
#include "tsan.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Internal symbols are hidden; only rcumap_[a-z]* is exported. */
#define RCUMAP_INTERNAL __attribute__((visibility("hidden")))

/* ---- records and buckets ------------------------------------------------------ */

/* Keys up to this many bytes are stored inline in the record. */
#define KEY_INLINE 16

/*
 * One entry. 32 bytes, two per cache line. tag holds the folded 32-bit hash
 * in its low half and the key length in its high half, so a probe compares
 * hash and length in one 64-bit comparison. An inline key is zero-padded to
 * 16 bytes and compared as two words.
 */
struct rcumap_rec {
	uint64_t tag;
	union {
		uint64_t w[2];                 /* len <= KEY_INLINE */
		unsigned char bytes[KEY_INLINE];
		const unsigned char *ext;      /* len > KEY_INLINE: own copy */
	} key;
	void *value;
};
_Static_assert(sizeof(struct rcumap_rec) == 32, "two records per cache line");

/* What dies with a retired bucket (bucket->dead, top bits; index below). */
#define DEAD_NONE 0u
#define DEAD_VALUE (1u << 30)  /* rec[idx].value was replaced */
#define DEAD_ENTRY (2u << 30)  /* rec[idx] was removed: its value and key */
#define DEAD_ALL (3u << 30)    /* every record was removed (clear) */
#define DEAD_KIND_MASK (3u << 30)
#define DEAD_IDX_MASK (~DEAD_KIND_MASK)

/*
 * An immutable bucket. After publication only rh (or bag_next), map and dead
 * are ever written, by the single writer that unpublished it, and readers
 * never read those. n sits next to rec[0] so a lookup's first line holds
 * both.
 */
struct rcumap_bucket {
	union {
		struct rcu_head rh;          /* retired alone: for call_rcu */
		struct rcumap_bucket *bag_next; /* retired into a bag: the next one */
	};
	struct rcumap *map;      /* set at retirement, for the callback */
	uint32_t dead;           /* DEAD_* | index, set at retirement */
#if UINTPTR_MAX == UINT32_MAX
	uint32_t pad32[3];       /* 32-bit machines: the same 32-byte header */
#endif
	uint32_t n;              /* number of records; < 2^30 */
	struct rcumap_rec rec[];
};
_Static_assert(offsetof(struct rcumap_bucket, rec) == 32, "header is 32 bytes");

/* The shared empty bucket; slots point at it instead of holding NULL. */
extern struct rcumap_bucket rcumap_empty RCUMAP_INTERNAL;

static inline uint32_t rec_hash(const struct rcumap_rec *r)
{
	return (uint32_t)r->tag;
}

static inline size_t rec_len(const struct rcumap_rec *r)
{
	return (size_t)(r->tag >> 32);
}

/* Bytes of the out-of-line key copy a record owns (0 when inline). */
static inline size_t rec_key_bytes(const struct rcumap_rec *r)
{
	return rec_len(r) > KEY_INLINE ? rec_len(r) : 0;
}

static inline const void *rec_key(const struct rcumap_rec *r)
{
	return rec_len(r) > KEY_INLINE ? (const void *)r->key.ext : (const void *)r->key.bytes;
}

static inline size_t bucket_size(uint32_t n)
{
	return sizeof(struct rcumap_bucket) + (size_t)n * sizeof(struct rcumap_rec);
}

/* ---- slots and tables -------------------------------------------------------------- */

#define SLOT_UNFILLED ((uintptr_t)0)
#define SLOT_FROZEN ((uintptr_t)1)
#define SLOT_FILTERED ((uintptr_t)2)
#define SLOT_FLAGS ((uintptr_t)15)  /* buckets are 16-byte aligned */
#define SLOT_EMPTY ((uintptr_t)&rcumap_empty)

/*
 * The slot filter. On 64-bit machines a bucket pointer normally leaves its
 * top 16 bits zero; then the slot word carries SLOT_FILTERED and, in those
 * bits, one bit per record: bit (hash >> 28) of every record's 32-bit hash.
 * A lookup whose bit is clear knows the key is absent without reading the
 * bucket, which for a missing key saves the lookup's second cache miss. A
 * pointer that uses its top bits (tagged pointers, 57-bit address spaces) is
 * stored without a filter. The filter travels in the same word as the
 * pointer, so one atomic load gives a consistent pair.
 */
#define SLOT_FILTER_SHIFT 48
#define SLOT_FILTER_OK (UINTPTR_MAX > UINT32_MAX)

static inline unsigned filter_bit(uint32_t hash)
{
	return hash >> 28;
}

#if SLOT_FILTER_OK
static inline struct rcumap_bucket *slot_bucket(uintptr_t s)
{
	uintptr_t keep = (s & SLOT_FILTERED) ? ((uintptr_t)1 << SLOT_FILTER_SHIFT) - 1 : UINTPTR_MAX;

	return (struct rcumap_bucket *)(s & keep & ~SLOT_FLAGS);
}

/* 0 if the slot's filter proves that no record with this hash is there. */
static inline int slot_may_hold(uintptr_t s, uint32_t hash)
{
	return !(s & SLOT_FILTERED) || ((s >> (SLOT_FILTER_SHIFT + filter_bit(hash))) & 1);
}

/* The filter bits of bucket b's records, from record first on (broken.h). */
static inline uintptr_t slot_filter(const struct rcumap_bucket *b, uint32_t first)
{
	uintptr_t f = 0;

	for (uint32_t i = first; i < b->n; i++)
		f |= (uintptr_t)1 << filter_bit(rec_hash(&b->rec[i]));
	return SLOT_FILTERED | f << SLOT_FILTER_SHIFT;
}
#else
/* 32-bit machines: no room for a filter. */
static inline struct rcumap_bucket *slot_bucket(uintptr_t s)
{
	return (struct rcumap_bucket *)(s & ~SLOT_FLAGS);
}

static inline int slot_may_hold(uintptr_t s, uint32_t hash)
{
	(void)s, (void)hash;
	return 1;
}

static inline uintptr_t slot_filter(const struct rcumap_bucket *b, uint32_t first)
{
	(void)b, (void)first;
	return 0;
}
#endif

/* One generation: a power-of-two array of slots. */
struct rcumap_table {
	struct rcu_head rh;          /* for call_rcu, after retirement */
	struct rcumap *map;
	uint64_t gen;                /* generation number, 0 at creation */
	size_t mask;                 /* slot count - 1 */
	/*
	 * The newer generation this one migrates to; NULL when no migration is
	 * pending. Set once, before the first slot is frozen, and kept after
	 * the migration so that late readers can follow it.
	 */
	struct rcumap_table *next;
	size_t migrate_pos;          /* next slot of next to fill; under resize_lock */
	int mapped;                  /* from mmap (mem.c), not the allocator */
	uintptr_t slots[];
};

/* Bytes of a table of the given slot count. */
static inline size_t table_size(size_t slots)
{
	return sizeof(struct rcumap_table) + slots * sizeof(uintptr_t);
}

/* Slot i of nt gets the entries of t's slots first + k * step, k < count. */
static inline void dest_sources(const struct rcumap_table *t, const struct rcumap_table *nt,
				size_t d, size_t *first, size_t *step, size_t *count)
{
	if (nt->mask >= t->mask) {  /* growing: one source */
		*first = d & t->mask;
		*step = 1;
		*count = 1;
	} else {                    /* shrinking: size(t) / size(nt) sources */
		*first = d;
		*step = nt->mask + 1;
		*count = (t->mask + 1) / (nt->mask + 1);
	}
}

/* ---- the map -------------------------------------------------------------------------- */

#define NSTRIPES 16

/*
 * Retirement in bags (docs/design.md, "Reclamation"). A stripe gathers the
 * buckets its updates retire in an open bag, a list linked through
 * bag_next, and hands the whole bag to call_rcu as one callback through a
 * carrier. A stripe owns NCARRIERS carriers: while one is free, a bag is
 * queued as soon as it holds BAG_MIN objects (or at once when none is in
 * flight); while all are in flight the bag keeps growing, and the first
 * carrier whose callback ends queues it again. So a non-empty open bag
 * always has a carrier in flight that will queue it (invariant I9), and a
 * thread that goes quiet strands nothing. Nothing here allocates.
 */
#define NCARRIERS 4
#define BAG_MIN 32

/*
 * The bucket cache (docs/design.md, "Allocation"). A bag's callback keeps
 * the buckets of up to CACHE_CLASSES records it reclaims in its stripe's
 * cache, one list per record count, up to CACHE_BYTES per stripe, instead of
 * freeing them from the call_rcu thread; the stripe's updates take their new
 * buckets from there. So in steady state neither the writers nor the
 * callbacks call the allocator per update, and no free crosses threads.
 * rcumap_barrier and rcumap_destroy give the cache back to the allocator.
 * Buckets of n records are 32 + 32n bytes: classes 1..8 cover 64..288.
 */
#define CACHE_CLASSES 8
#define CACHE_BYTES ((size_t)512 << 10)

struct rcumap_carrier {
	struct rcu_head rh;
	struct rcumap *map;
	struct rcumap_bucket *first; /* the bag, linked through bag_next */
	unsigned stripe;             /* index of the stripe that owns it */
	int busy;                    /* queued on call_rcu; under the stripe lock */
};

/* Counters of a stripe: "own" ones under its lock, "spill" ones by atomic add. */
struct rcumap_counts {
	long count;                  /* entries added minus removed */
	uint64_t retired[RCUMAP_STATS_KINDS];
	uint64_t retired_bytes[RCUMAP_STATS_KINDS];
};

/*
 * Per-thread-ish state. A thread picks its stripe once; an update try-locks
 * it after its slot CAS, then retires into the bag and counts with plain
 * (relaxed) stores, with no atomic read-modify-write. An update that finds
 * the lock taken (two threads on one stripe) never waits: it retires with a
 * call_rcu of its own and counts in spill with atomic adds.
 */
struct rcumap_stripe {
	unsigned lock;               /* 0 free, 1 taken */
	struct rcumap_bucket *bag;   /* open bag; under lock */
	uint64_t bag_n;              /* objects in it; under lock */
	uint64_t added;              /* objects ever put in a bag; under lock */
	uint64_t queued;             /* of those, handed to a carrier; under lock */
	struct rcumap_carrier *due;  /* taken, to be queued at unlock; under lock */
	unsigned calling;            /* carriers taken and not yet queued */
	struct rcumap_counts own;    /* under lock */
	struct rcumap_counts spill;  /* relaxed atomic adds, by anyone */
	struct rcumap_bucket *cache[CACHE_CLASSES + 1]; /* by n, through bag_next; under lock */
	size_t cache_bytes;          /* bytes in the cache; under lock */
	/* Written by the callbacks (relaxed atomic adds), read by rcumap_stats. */
	uint64_t reclaimed[RCUMAP_STATS_KINDS] __attribute__((aligned(64)));
	uint64_t reclaimed_bytes[RCUMAP_STATS_KINDS];
	struct rcumap_carrier carrier[NCARRIERS];
} __attribute__((aligned(128)));

struct rcumap {
	/* Read by every lookup: kept together at the start. */
	struct rcumap_table *cur;    /* current generation; see table->next */
	uint64_t (*hash)(const void *key, size_t len, void *arg); /* NULL: default */
	void *hash_arg;
	uint64_t seed[RCUMAP_HASH_SEED_WORDS]; /* key of the default hash (hash.h) */
	const struct rcu_flavor_struct *flavor;

	void (*free_value)(void *value, void *arg);
	void *free_value_arg;
	void *(*alloc)(size_t size, enum rcumap_kind kind, void *arg);
	void (*free)(void *ptr, size_t size, enum rcumap_kind kind, void *arg);
	void *alloc_arg;
	size_t min_slots;            /* power of two */
	int cache;                   /* buckets are cached (no user allocator, or torture) */
	int qsbr;                    /* flavor is qsbr: barrier allowed online */

	/*
	 * Serialises the driving of migrations and clear: never taken on the
	 * plain update path (which only try-locks it to help) and never by
	 * readers.
	 */
	pthread_mutex_t resize_lock;
	pthread_t resize_owner;      /* debug builds: its holder, when resize_held */
	int resize_held;             /* debug builds */
	int resize_exclusive;        /* an rcumap_resize or rcumap_clear holds it */
	uint64_t grows, shrinks;     /* written under resize_lock */
	/*
	 * The current generation's size and number, and whether a migration
	 * is pending, for rcumap_stats: it runs outside read sections, so it
	 * must not dereference cur. Written under resize_lock.
	 */
	size_t cur_slots;
	uint64_t cur_gen;
	int migrating;

	/* Debug builds: read-section tickets of iterators (debug.c). */
	struct rcu_head dbg_rh;
	uint64_t dbg_req;            /* tickets handed out */
	uint64_t dbg_done;           /* tickets known to be past a grace period */
	uint64_t dbg_queued_upto;    /* what the queued callback will cover */
	int dbg_queued;              /* a callback is queued */
	int dbg_stopping;            /* destroy: do not queue again */

	void *raw;                   /* what alloc returned, before alignment */
	size_t raw_size;

	struct rcumap_stripe stripe[NSTRIPES];
};

/*
 * resize_lock, with its holder recorded in debug builds, so that the code
 * that relies on holding it can say so (cur_locked, next_locked).
 */
static inline void resize_held(struct rcumap *map)
{
	if (RCUMAP_DEBUG_ON) {
		map->resize_owner = pthread_self();
		map->resize_held = 1;
	}
}

static inline void resize_lock(struct rcumap *map)
{
	pthread_mutex_lock(&map->resize_lock);
	resize_held(map);
}

/* Nonzero when taken. */
static inline int resize_trylock(struct rcumap *map)
{
	if (pthread_mutex_trylock(&map->resize_lock))
		return 0;
	resize_held(map);
	return 1;
}

static inline void resize_unlock(struct rcumap *map)
{
	if (RCUMAP_DEBUG_ON)
		map->resize_held = 0;
	pthread_mutex_unlock(&map->resize_lock);
}

static inline void assert_resize_locked(const struct rcumap *map)
{
	debug_assert("resize_lock held",
		     map->resize_held && pthread_equal(map->resize_owner, pthread_self()));
}

/*
 * Mark (1) or unmark (0) resize_lock's holding as a whole migration or
 * clear, which rcumap_resize does not wait for (resize.c).
 */
static inline void mark_exclusive(struct rcumap *map, int on)
{
	assert_resize_locked(map);
	/* Relaxed: written under the lock; others read it only as a hint. */
	store_relaxed(&map->resize_exclusive, on);
}

/* The current generation, for the holder of resize_lock. */
static inline struct rcumap_table *cur_locked(struct rcumap *map)
{
	assert_resize_locked(map);
	/* Relaxed: cur only changes under resize_lock, which the caller holds. */
	return load_relaxed(&map->cur);
}

/* t's newer generation, for the holder of resize_lock. */
static inline struct rcumap_table *next_locked(struct rcumap *map, struct rcumap_table *t)
{
	assert_resize_locked(map);
	/* Relaxed: next only changes under resize_lock, which the caller holds. */
	return load_relaxed(&t->next);
}

/* ---- shared functions, by file (bottom of the layering first) ----------------- */

/* stripe.c */
void rcumap__stripes_init(struct rcumap *map) RCUMAP_INTERNAL;
struct rcumap_stripe *rcumap__stripe(struct rcumap *map) RCUMAP_INTERNAL;
struct rcumap_stripe *rcumap__stripe_trylock(struct rcumap *map) RCUMAP_INTERNAL;
int rcumap__stripe_trylock_at(struct rcumap_stripe *st) RCUMAP_INTERNAL;
void rcumap__stripe_lock(struct rcumap_stripe *st) RCUMAP_INTERNAL;

static inline void assert_stripe_locked(const struct rcumap_stripe *st)
{
	/* Relaxed: a debug check of our own lock word. */
	debug_assert("stripe lock held", load_relaxed(&st->lock));
}

/*
 * Drop a stripe's lock. Inline: every update ends its section here. A
 * section that took a carrier for call_rcu (st->due) ends with
 * rcumap__stripe_unlock (reclaim.c) instead, which queues it.
 */
static inline void stripe_drop(struct rcumap_stripe *st)
{
	assert_stripe_locked(st);
	/* O6: ends the section; pairs with the acquire exchange of the next holder. */
	store_release(&st->lock, 0);
}

/* stats.c */
void rcumap__count_add(struct rcumap *map, struct rcumap_stripe *st, long delta) RCUMAP_INTERNAL;
void rcumap__count_retired(struct rcumap *map, struct rcumap_stripe *st, int kind,
			   uint64_t n, uint64_t bytes) RCUMAP_INTERNAL;
void rcumap__count_reclaimed(struct rcumap *map, struct rcumap_stripe *st, int kind,
			     uint64_t n, uint64_t bytes) RCUMAP_INTERNAL;
long rcumap__count_sum(const struct rcumap *map) RCUMAP_INTERNAL;

/* debug.c; release builds have nothing to track. */
#ifdef RCUMAP_DEBUG
void rcumap__iter_debug_ticket(struct rcumap *map, struct rcumap_iter *it) RCUMAP_INTERNAL;
void rcumap__iter_debug_check(struct rcumap *map, const struct rcumap_iter *it) RCUMAP_INTERNAL;
void rcumap__iter_debug_stop(struct rcumap *map) RCUMAP_INTERNAL;
#else
static inline void rcumap__iter_debug_ticket(struct rcumap *map, struct rcumap_iter *it)
{
	(void)map;
	it->section = 0;
}

static inline void rcumap__iter_debug_check(struct rcumap *map, const struct rcumap_iter *it)
{
	(void)map, (void)it;
}

static inline void rcumap__iter_debug_stop(struct rcumap *map)
{
	(void)map;
}
#endif

/* Debug builds: a call that must run inside a read section (qsbr: online). */
static inline void assert_reader(const struct rcumap *map, const char *what)
{
	if (RCUMAP_DEBUG_ON && !map->flavor->read_ongoing())
		debug_fail("%s called outside a read section", what);
}

/* mem.c */
void *rcumap__alloc(struct rcumap *map, size_t size, enum rcumap_kind kind) RCUMAP_INTERNAL;
void rcumap__free(struct rcumap *map, void *p, size_t size, enum rcumap_kind kind) RCUMAP_INTERNAL;
struct rcumap_bucket *rcumap__bucket_alloc(struct rcumap *map, uint32_t n) RCUMAP_INTERNAL;
void rcumap__bucket_free(struct rcumap *map, struct rcumap_bucket *b) RCUMAP_INTERNAL;
struct rcumap_table *rcumap__table_alloc(struct rcumap *map, size_t slots,
					 uint64_t gen, uintptr_t fill) RCUMAP_INTERNAL;
void rcumap__table_free(struct rcumap *map, struct rcumap_table *t) RCUMAP_INTERNAL;
/* Buckets a callback keeps for the cache, one list per record count (linked through bag_next). */
struct rcumap_keep {
	struct rcumap_bucket *first[CACHE_CLASSES + 1], *last[CACHE_CLASSES + 1];
	size_t bytes[CACHE_CLASSES + 1];
};
void rcumap__keep(struct rcumap_keep *k, struct rcumap_bucket *b) RCUMAP_INTERNAL;
void rcumap__keep_splice(struct rcumap_stripe *st, struct rcumap_keep *k) RCUMAP_INTERNAL;
void rcumap__keep_free(struct rcumap *map, struct rcumap_keep *k) RCUMAP_INTERNAL;
void rcumap__cache_flush(struct rcumap *map) RCUMAP_INTERNAL;

/* reclaim.c */
void rcumap__free_entry(struct rcumap *map, const struct rcumap_rec *r) RCUMAP_INTERNAL;
void rcumap__retire_bucket(struct rcumap *map, struct rcumap_stripe *st,
			   struct rcumap_bucket *b, uint32_t dead) RCUMAP_INTERNAL;
void rcumap__retire_table(struct rcumap *map, struct rcumap_table *t) RCUMAP_INTERNAL;
void rcumap__stripe_unlock(struct rcumap *map, struct rcumap_stripe *st) RCUMAP_INTERNAL;
void rcumap__drain(struct rcumap *map, int idle) RCUMAP_INTERNAL;

/* migrate.c */
int rcumap__fill_dest(struct rcumap *map, struct rcumap_table *t,
		      struct rcumap_table *nt, size_t d) RCUMAP_INTERNAL;
int rcumap__migrate_locked(struct rcumap *map, size_t budget) RCUMAP_INTERNAL;
void rcumap__walk_live(struct rcumap_table *t,
		       void (*fn)(const struct rcumap_rec *r, size_t idx, void *arg),
		       void *arg) RCUMAP_INTERNAL;

/* resize.c */
size_t rcumap__slots_round(const struct rcumap *map, size_t slots) RCUMAP_INTERNAL;
void rcumap__maybe_resize(struct rcumap *map) RCUMAP_INTERNAL;
int rcumap__resize_to(struct rcumap *map, size_t want) RCUMAP_INTERNAL;

/* ---- publishing a bucket --------------------------------------------------------- */

#include "broken.h"

/* The slot word that publishes bucket b: its pointer, with its filter when it fits. */
static inline uintptr_t slot_word(const struct rcumap_bucket *b)
{
	uintptr_t p = (uintptr_t)b;

	if (!SLOT_FILTER_OK || b == &rcumap_empty || (uint64_t)p >> SLOT_FILTER_SHIFT)
		return p;
	return p | slot_filter(b, broken_slot_filter_first());
}

#endif /* RCUMAP_INTERNAL_H */
