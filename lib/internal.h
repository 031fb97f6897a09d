/* SPDX-License-Identifier: MIT */
/* internal.h: the map of rcumap's internals; every lib/ file includes it. */
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
#include "hash.h"
#include "torture.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Internal symbols are hidden; only rcumap_[a-z]* is exported. */
#define RCUMAP_INTERNAL __attribute__((visibility("hidden")))

/* ---- entries and buckets ------------------------------------------------ */

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

/* ---- slots and tables ---------------------------------------------------- */

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

static inline struct rcumap_bucket *slot_bucket(uintptr_t s)
{
#if SLOT_FILTER_OK
	uintptr_t keep = (s & SLOT_FILTERED) ? ((uintptr_t)1 << SLOT_FILTER_SHIFT) - 1 : UINTPTR_MAX;

	return (struct rcumap_bucket *)(s & keep & ~SLOT_FLAGS);
#else
	return (struct rcumap_bucket *)(s & ~SLOT_FLAGS);
#endif
}

/* 0 if the slot's filter proves that no record with this hash is there. */
static inline int slot_may_hold(uintptr_t s, uint32_t hash)
{
#if SLOT_FILTER_OK
	return !(s & SLOT_FILTERED) || ((s >> (SLOT_FILTER_SHIFT + filter_bit(hash))) & 1);
#else
	(void)s, (void)hash;
	return 1;
#endif
}

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
	int mapped;                  /* from mmap (resize.c), not the allocator */
	uintptr_t slots[];
};

/* Bytes of a table of the given slot count. */
static inline size_t table_size(size_t slots)
{
	return sizeof(struct rcumap_table) + slots * sizeof(uintptr_t);
}

/* ---- the map -------------------------------------------------------------- */

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
	uint64_t grows, shrinks;     /* written under resize_lock */
	/*
	 * The current generation's size and number, and whether a migration
	 * is pending, for rcumap_stats: it runs outside read sections, so it
	 * must not dereference cur. Written under resize_lock.
	 */
	size_t cur_slots;
	uint64_t cur_gen;
	int migrating;

	/* Debug builds: read-section tickets of iterators (iter.c). */
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

/* ---- internal functions ---------------------------------------------------- */

/* map.c */
void *rcumap__alloc(struct rcumap *map, size_t size, enum rcumap_kind kind) RCUMAP_INTERNAL;
void rcumap__free(struct rcumap *map, void *p, size_t size, enum rcumap_kind kind) RCUMAP_INTERNAL;

/* stripe.c */
void rcumap__stripes_init(struct rcumap *map) RCUMAP_INTERNAL;
struct rcumap_stripe *rcumap__stripe(struct rcumap *map) RCUMAP_INTERNAL;
struct rcumap_stripe *rcumap__stripe_trylock(struct rcumap *map) RCUMAP_INTERNAL;
int rcumap__stripe_trylock_at(struct rcumap_stripe *st) RCUMAP_INTERNAL;
void rcumap__stripe_lock(struct rcumap_stripe *st) RCUMAP_INTERNAL;
void rcumap__stripe_unlock(struct rcumap *map, struct rcumap_stripe *st) RCUMAP_INTERNAL;
void rcumap__count_add(struct rcumap *map, struct rcumap_stripe *st, long delta) RCUMAP_INTERNAL;
void rcumap__count_retired(struct rcumap *map, struct rcumap_stripe *st, int kind,
			   uint64_t n, uint64_t bytes) RCUMAP_INTERNAL;
void rcumap__count_reclaimed(struct rcumap *map, struct rcumap_stripe *st, int kind,
			     uint64_t n, uint64_t bytes) RCUMAP_INTERNAL;
long rcumap__count_sum(const struct rcumap *map) RCUMAP_INTERNAL;

static inline uint32_t rcumap__hash(const struct rcumap *map, const void *key, size_t len)
{
	uint64_t h = map->hash ? map->hash(key, len, map->hash_arg)
			       : rcumap__hash_default(map->seed, key, len);
	return (uint32_t)(h ^ (h >> 32));
}

/* ---- finding the current bucket ------------------------------------------------ */

/* End of hash-order space: positions are bit-reversed 32-bit hashes (iter.c). */
#define POS_END ((uint64_t)1 << 32)

static inline uint32_t rev32(uint32_t x)
{
	x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
	x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
	x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
	return __builtin_bswap32(x);
}

/*
 * Negative control for make check (docs/iteration.md): traversals read a
 * frozen bucket instead of following the forwarding mark.
 */
#ifdef RCUMAP_BROKEN_ITER_NO_FORWARD
#define BROKEN_NO_FORWARD 1
#else
#define BROKEN_NO_FORWARD 0
#endif

/*
 * The bucket that holds, right now, every live entry of hash h's slot. It
 * follows forwarding marks; when the newer slot is still unfilled, the frozen
 * older bucket is still current for the keys of both slots (no update can
 * have reached the newer slot yet). With endp (traversals), *endp receives
 * the end of the hash-order interval the bucket is current for: the slot's,
 * or the intersection of both slots' intervals. Lookups pass NULL, which
 * compiles the interval away. Must run inside a read section.
 */
static inline uintptr_t locate_word(struct rcumap *map, uint32_t h, uint64_t *endp)
{
	/* Pairs with the release stores of map->cur in create/migration. */
	struct rcumap_table *t = load_acquire(&map->cur);
	uintptr_t frozen = SLOT_EMPTY;
	uint64_t frozen_end = POS_END, end = POS_END;

	for (;;) {
		uintptr_t s;

		TORTURE_SEEN(t, RCUMAP_KIND_TABLE);
		TORTURE_POINT(RCUMAP_TP_READ);
		/* Pairs with the slot CAS that published the bucket (update, fill, freeze). */
		s = load_acquire(&t->slots[h & t->mask]);
		if (s != SLOT_UNFILLED && slot_bucket(s) != &rcumap_empty)
			TORTURE_SEEN(slot_bucket(s), RCUMAP_KIND_BUCKET);

		if (endp) {
			unsigned shift = 32 - (unsigned)__builtin_ctzll((unsigned long long)t->mask + 1);

			end = (((uint64_t)rev32(h) >> shift) + 1) << shift;
		}
		if (likely(!(s & SLOT_FROZEN)) || (endp && BROKEN_NO_FORWARD)) {
			if (s == SLOT_UNFILLED) {
				if (endp)
					*endp = end < frozen_end ? end : frozen_end;
				return frozen;
			}
			if (endp)
				*endp = end;
			return s;
		}
		frozen = s;
		frozen_end = end;
		/* Pairs with the release store of t->next before the first freeze. */
		t = load_acquire(&t->next);
	}
}

static inline const struct rcumap_bucket *locate_bucket(struct rcumap *map, uint32_t h,
							 uint64_t *endp)
{
	return slot_bucket(locate_word(map, h, endp));
}

/*
 * A lookup's bucket: the one hash h selects, or the empty bucket when the
 * slot's filter proves the key absent (then the bucket is not read at all).
 */
static inline const struct rcumap_bucket *lookup_bucket(struct rcumap *map, uint32_t h)
{
	uintptr_t s = locate_word(map, h, NULL);

	return slot_may_hold(s, h) ? slot_bucket(s) : &rcumap_empty;
}

/* bucket.c */

/* A key prepared for probing: its tag and, when short, its padded words. */
struct rcumap_probe {
	uint64_t tag;
	uint64_t w[2];
	const void *key;
	size_t len;
};

/* Load len <= 8 bytes as a zero-padded word (memcpy order), in constant-size pieces. */
static inline uint64_t load_partial(const unsigned char *p, size_t len)
{
	unsigned char *w8;
	uint64_t w = 0;
	size_t o = 0;

	w8 = (unsigned char *)&w;
	if (len == 8) {
		memcpy(w8, p, 8);
		return w;
	}
	if (len & 4) {
		memcpy(w8, p, 4);
		o = 4;
	}
	if (len & 2) {
		memcpy(w8 + o, p + o, 2);
		o += 2;
	}
	if (len & 1)
		w8[o] = p[o];
	return w;
}

static inline void probe_init(struct rcumap_probe *p, uint32_t hash, const void *key,
			      size_t len)
{
	p->tag = (uint64_t)hash | ((uint64_t)len << 32);
	p->key = key;
	p->len = len;
	p->w[0] = p->w[1] = 0;
	if (len > KEY_INLINE)
		return;
	if (len > 8) {
		memcpy(&p->w[0], key, 8);
		p->w[1] = load_partial((const unsigned char *)key + 8, len - 8);
	} else {
		p->w[0] = load_partial(key, len);
	}
}

/*
 * Index of the record matching the probe, or -1. Reads only n and the
 * records, the fields that are immutable once the bucket is published.
 */
static inline long bucket_find(const struct rcumap_bucket *b, const struct rcumap_probe *p)
{
	uint32_t n = b->n;

	if (likely(p->len <= KEY_INLINE)) {
		for (uint32_t i = 0; i < n; i++) {
			const struct rcumap_rec *r = &b->rec[i];

			if (r->tag == p->tag && r->key.w[0] == p->w[0] &&
			    r->key.w[1] == p->w[1])
				return i;
		}
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct rcumap_rec *r = &b->rec[i];

		if (r->tag == p->tag && memcmp(r->key.ext, p->key, p->len) == 0)
			return i;
	}
	return -1;
}

size_t rcumap__bucket_size(uint32_t n) RCUMAP_INTERNAL;
size_t rcumap__key_bytes(const struct rcumap_rec *r) RCUMAP_INTERNAL;
const void *rcumap__rec_key(const struct rcumap_rec *r) RCUMAP_INTERNAL;
struct rcumap_bucket *rcumap__bucket_alloc(struct rcumap *map, uint32_t n) RCUMAP_INTERNAL;
void rcumap__bucket_free(struct rcumap *map, struct rcumap_bucket *b) RCUMAP_INTERNAL;

static inline uint32_t rec_hash(const struct rcumap_rec *r)
{
	return (uint32_t)r->tag;
}

static inline size_t rec_len(const struct rcumap_rec *r)
{
	return (size_t)(r->tag >> 32);
}

/* reclaim.c */
void rcumap__retire_bucket(struct rcumap *map, struct rcumap_stripe *st,
			   struct rcumap_bucket *b, uint32_t dead) RCUMAP_INTERNAL;
void rcumap__drain(struct rcumap *map, int idle) RCUMAP_INTERNAL;
void rcumap__carrier_queue(struct rcumap *map, struct rcumap_stripe *st,
			   struct rcumap_carrier *c) RCUMAP_INTERNAL;
struct rcumap_bucket *rcumap__cache_take(struct rcumap *map, uint32_t n) RCUMAP_INTERNAL;
void rcumap__retire_table(struct rcumap *map, struct rcumap_table *t) RCUMAP_INTERNAL;
/* The slot word that publishes bucket b: its pointer, with its filter when it fits. */
static inline uintptr_t slot_word(const struct rcumap_bucket *b)
{
	uintptr_t p = (uintptr_t)b;
#if SLOT_FILTER_OK
	uintptr_t f = 0;

	if (b == &rcumap_empty || (p >> SLOT_FILTER_SHIFT))
		return p;
#ifdef RCUMAP_BROKEN_SLOT_FILTER
	for (uint32_t i = 1; i < b->n; i++)  /* negative control: rec[0] has no bit */
#else
	for (uint32_t i = 0; i < b->n; i++)
#endif
		f |= (uintptr_t)1 << filter_bit(rec_hash(&b->rec[i]));
	p |= SLOT_FILTERED | f << SLOT_FILTER_SHIFT;
#endif
	return p;
}

void rcumap__free_entry(struct rcumap *map, const struct rcumap_rec *r) RCUMAP_INTERNAL;

/* resize.c */
struct rcumap_table *rcumap__table_alloc(struct rcumap *map, size_t slots,
					 uint64_t gen, uintptr_t fill) RCUMAP_INTERNAL;
void rcumap__table_free(struct rcumap *map, struct rcumap_table *t) RCUMAP_INTERNAL;
int rcumap__fill_dest(struct rcumap *map, struct rcumap_table *t,
		      struct rcumap_table *nt, size_t d) RCUMAP_INTERNAL;
int rcumap__migrate_locked(struct rcumap *map, size_t budget) RCUMAP_INTERNAL;
void rcumap__maybe_resize(struct rcumap *map) RCUMAP_INTERNAL;
size_t rcumap__slots_round(const struct rcumap *map, size_t slots) RCUMAP_INTERNAL;
void rcumap__walk_live(struct rcumap_table *t,
		       void (*fn)(const struct rcumap_rec *r, size_t idx, void *arg),
		       void *arg) RCUMAP_INTERNAL;

/* iter.c */
void rcumap__iter_debug_stop(struct rcumap *map) RCUMAP_INTERNAL;

#ifdef RCUMAP_DEBUG
#include <stdio.h>
#include <stdlib.h>
/* Debug builds stop loudly on misuse that release builds cannot detect cheaply. */
#define debug_fail(...) \
	do { fprintf(stderr, "rcumap: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)
#else
#define debug_fail(...) do { } while (0)
#endif

#endif /* RCUMAP_INTERNAL_H */
