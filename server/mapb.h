/* SPDX-License-Identifier: MIT */
/* mapb.h: the seam between store.c and its map: rcumap, or cds_lfht / a mutex table for the library A/B. */
#ifndef MAPB_H
#define MAPB_H

/*
 * store.c reaches the map only through the mapb_* calls below. Each one
 * has the contract of the rcumap_* call of the same suffix
 * (include/rcumap.h): mapb_get is rcumap_get, and so on.
 *
 * Default build (server/rcumapd): every mapb_* is a static inline call of
 * rcumap_*, so the server compiles to what it would calling rcumap directly.
 *
 * Library A/B builds (docs/benchmarks-server.md, "Library A/B"): the same
 * server sources with another map behind the same calls.
 *   -DRCUMAPD_MAP_LFHT   server/rcumapd-lfht: liburcu's cds_lfht (mapb_lfht.c)
 *   -DRCUMAPD_MAP_MUTEX  server/rcumapd-mutex: 64 shards, each a pthread
 *                        mutex over a growing chained table (mapb_mutex.c)
 * Both keep what store.c relies on: values are opaque pointers, a removed
 * or replaced value goes to config->free_value only after a grace period of
 * config->flavor (its call_rcu), insert fails with -EEXIST, cas and
 * delete_if compare the value pointer. Where they differ from rcumap:
 *  - scan: cheap per call, but its exactly-once guarantee (rcumap.h T2, T3)
 *    is not promised (see each backend's scan);
 *  - stats: entries, slots, grows (lfht: and shrinks), and the retired and
 *    reclaimed counts of kind ENTRY; the rest reads 0;
 *  - resize: lfht hands the size to its sizer thread and returns at once;
 *    the mutex table resizes its shards before it returns.
 */

#include <stddef.h>
#include <stdint.h>

#include "rcumap.h"
#include "rcumapd.h"

#if defined(RCUMAPD_MAP_LFHT) && defined(RCUMAPD_MAP_MUTEX)
#error "RCUMAPD_MAP_LFHT and RCUMAPD_MAP_MUTEX exclude each other"
#endif

#if defined(RCUMAPD_MAP_LFHT) || defined(RCUMAPD_MAP_MUTEX)

#define MAPB_AB 1
#ifdef RCUMAPD_MAP_LFHT
#define MAPB_NAME "lfht"
#else
#define MAPB_NAME "mutex64"
#endif

/* The A/B map. Opaque; mapb_lfht.c or mapb_mutex.c defines it. */
struct mapb;
/* A typedef, so that store.c's one declaration names either map type. */
typedef struct mapb mapb_t;

/*
 * Each backend (mapb_lfht.c, mapb_mutex.c) defines create, destroy, get,
 * insert, delete_if, scan, count, clear, stats, barrier, resize and
 * mapb_store; mapb_common.c, compiled into both, defines get_batch, put
 * and cas on top of them.
 */
int mapb_create(const struct rcumap_config *config, mapb_t **out);
int mapb_destroy(mapb_t *m);
void *mapb_get(mapb_t *m, const void *key, size_t len);
/* A loop of mapb_get: the A/B maps have no batched lookup. */
long mapb_get_batch(mapb_t *m, size_t n, const void *const keys[], const size_t lens[],
		    void *values[]);
int mapb_insert(mapb_t *m, const void *key, size_t len, void *value);
int mapb_put(mapb_t *m, const void *key, size_t len, void *value);
int mapb_cas(mapb_t *m, const void *key, size_t len, void *expected, void *desired);
int mapb_delete_if(mapb_t *m, const void *key, size_t len, void *expected);
int mapb_scan(mapb_t *m, uint64_t *cursor, size_t max_entries, rcumap_scan_fn fn, void *arg);
size_t mapb_count(const mapb_t *m);
int mapb_clear(mapb_t *m);
int mapb_stats(const mapb_t *m, struct rcumap_stats *out);
int mapb_barrier(mapb_t *m);
int mapb_resize(mapb_t *m, size_t slots);

/*
 * The backend's put and cas, arguments already checked by mapb_put and
 * mapb_cas: with @expected non-NULL replace the value only if it is
 * @expected (cas), otherwise any value, or insert if absent (put).
 */
int mapb_store(mapb_t *m, const void *key, size_t len, void *expected, void *desired);

/* ---- shared by both backends -------------------------------------------- */

/* What both maps keep of the caller's config, and their hash seed. */
struct mapb_rcu {
	const struct rcu_flavor_struct *flavor;
	void (*free_value)(void *value, void *arg);
	void *free_value_arg;
	uint64_t seed;                /* mapb_hash's key: random per map */
	int qsbr;                     /* flavor is qsbr: a "read section" is being online */
};

/* Whether mapb_create may go on with config and out: rcumap_create's -EINVAL checks. */
static inline int mapb_create_args_ok(const struct rcumap_config *config, mapb_t **out)
{
	return config && out && config->flavor && config->flavor->update_call_rcu;
}

/* Fill r from a config mapb_create_args_ok accepted; draw a fresh seed. */
void mapb_rcu_init(struct mapb_rcu *r, const struct rcumap_config *config);
/* Whether the caller is in a read section (not qsbr): a grace-period wait would deadlock. */
int mapb_rcu_in_read(const struct mapb_rcu *r);
/* rcumap_barrier for a map of r: the flavor's rcu_barrier; 0 or -EDEADLK. */
int mapb_rcu_barrier(const struct mapb_rcu *r);

/* The keyed 64-bit hash both A/B maps use: word rounds and a final avalanche. */
static inline uint64_t mapb_rotl(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t mapb_round(uint64_t h, uint64_t w)
{
	w *= 0x87c37b91114253d5ull;
	w = mapb_rotl(w, 31) * 0x4cf5ad432745937full;
	return mapb_rotl(h ^ w, 27) * 5 + 0x52dce729;
}

static inline uint64_t mapb_hash(uint64_t seed, const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ull), w;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		__builtin_memcpy(&w, p + i, 8);
		h = mapb_round(h, w);
	}
	if (i < len) {
		w = 0;
		__builtin_memcpy(&w, p + i, len - i);
		h = mapb_round(h, w);
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

/* Whether a key argument is one rcumap would accept. */
static inline int mapb_key_ok(const void *key, size_t len)
{
	return (key || !len) && len <= RCUMAP_KEY_MAX;
}

/* Bits 0..31 in reverse order: hash order, as cds_lfht and rcumap walk. */
static inline uint32_t mapb_rev32(uint32_t x)
{
	x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
	x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
	x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
	return __builtin_bswap32(x);
}

/*
 * Counters striped over threads, so that updates on different threads do
 * not share a cache line: the entry count, and the objects handed to
 * call_rcu and freed by the callbacks (INFO's pending reclamation). More
 * threads than stripes share them, hence atomic adds.
 */
#define MAPB_STRIPES 32

struct mapb_stripe {
	uint64_t count;               /* entries added minus removed; summed as signed */
	uint64_t retired;
	uint64_t reclaimed;
	uint64_t retired_bytes;
	uint64_t reclaimed_bytes;
} __attribute__((aligned(64)));

/* This thread's stripe of s[MAPB_STRIPES]; threads take stripes round robin. */
static inline struct mapb_stripe *mapb_stripe(struct mapb_stripe *s)
{
	static __thread unsigned mine;  /* 1 + stripe index; 0: not yet chosen */
	static unsigned next;

	if (!mine)
		mine = 1 + add_relaxed(&next, 1) % MAPB_STRIPES; /* only spreads threads */
	return &s[mine - 1];
}

/* A node of @bytes handed to call_rcu, removed or replaced: counted in this thread's stripe. */
static inline void mapb_stripe_retired(struct mapb_stripe *s, uint64_t bytes)
{
	struct mapb_stripe *st = mapb_stripe(s);

	/* Statistics, read relaxed by mapb_stats: order nothing. */
	add_relaxed(&st->retired, 1);
	add_relaxed(&st->retired_bytes, bytes);
}

/* A node of @bytes freed by its call_rcu callback. */
static inline void mapb_stripe_reclaimed(struct mapb_stripe *s, uint64_t bytes)
{
	struct mapb_stripe *st = mapb_stripe(s);

	/* Statistics, read relaxed by mapb_stats: order nothing. */
	add_relaxed(&st->reclaimed, 1);
	add_relaxed(&st->reclaimed_bytes, bytes);
}

/* Sum of the stripes into out: entries and the ENTRY kind's counts. */
static inline void mapb_stripes_read(const struct mapb_stripe *s, struct rcumap_stats *out)
{
	uint64_t count = 0;

	for (int i = 0; i < MAPB_STRIPES; i++) {
		/* Counters read one by one, as rcumap_stats reads its own. */
		count += ld_relaxed(&s[i].count);
		out->kind[RCUMAP_KIND_ENTRY].retired += ld_relaxed(&s[i].retired);
		out->kind[RCUMAP_KIND_ENTRY].reclaimed += ld_relaxed(&s[i].reclaimed);
		out->kind[RCUMAP_KIND_ENTRY].retired_bytes += ld_relaxed(&s[i].retired_bytes);
		out->kind[RCUMAP_KIND_ENTRY].reclaimed_bytes += ld_relaxed(&s[i].reclaimed_bytes);
	}
	/* Racing adds and removes can make the sum dip below 0: clamp. */
	out->entries = (int64_t)count < 0 ? 0 : (size_t)count;
}

#else /* rcumap itself */

#define MAPB_NAME "rcumap"

/* A typedef, so that store.c's one declaration names either map type. */
typedef struct rcumap mapb_t;

static inline int mapb_create(const struct rcumap_config *config, mapb_t **out)
{
	return rcumap_create(config, out);
}

static inline int mapb_destroy(mapb_t *m)
{
	return rcumap_destroy(m);
}

static inline void *mapb_get(mapb_t *m, const void *key, size_t len)
{
	return rcumap_get(m, key, len);
}

static inline long mapb_get_batch(mapb_t *m, size_t n, const void *const keys[],
				  const size_t lens[], void *values[])
{
	return rcumap_get_batch(m, n, keys, lens, values);
}

static inline int mapb_insert(mapb_t *m, const void *key, size_t len, void *value)
{
	return rcumap_insert(m, key, len, value);
}

static inline int mapb_put(mapb_t *m, const void *key, size_t len, void *value)
{
	return rcumap_put(m, key, len, value);
}

static inline int mapb_cas(mapb_t *m, const void *key, size_t len, void *expected,
			   void *desired)
{
	return rcumap_cas(m, key, len, expected, desired);
}

static inline int mapb_delete_if(mapb_t *m, const void *key, size_t len, void *expected)
{
	return rcumap_delete_if(m, key, len, expected);
}

static inline int mapb_scan(mapb_t *m, uint64_t *cursor, size_t max_entries,
			    rcumap_scan_fn fn, void *arg)
{
	return rcumap_scan(m, cursor, max_entries, fn, arg);
}

static inline size_t mapb_count(const mapb_t *m)
{
	return rcumap_count(m);
}

static inline int mapb_clear(mapb_t *m)
{
	return rcumap_clear(m);
}

static inline int mapb_stats(const mapb_t *m, struct rcumap_stats *out)
{
	return rcumap_stats(m, out);
}

static inline int mapb_barrier(mapb_t *m)
{
	return rcumap_barrier(m);
}

static inline int mapb_resize(mapb_t *m, size_t slots)
{
	return rcumap_resize(m, slots);
}

#endif /* RCUMAPD_MAP_LFHT || RCUMAPD_MAP_MUTEX */

#endif /* MAPB_H */
