/* SPDX-License-Identifier: MIT */
/* map.c: creation, destruction, lookup and the copy-on-write update path. */
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "atomics.h"
#include "internal.h"

/*
 * The qsbr flavor object, if the program links liburcu-qsbr. Weak, so the
 * library links no flavor itself; used only to recognise qsbr, whose "read
 * section" is the whole online period (see rcumap_barrier).
 */
extern const struct rcu_flavor_struct urcu_qsbr_flavor __attribute__((weak));

/* ---- allocation hook: the only place the library allocates or frees ------- */

void *rcumap__alloc(struct rcumap *map, size_t size, enum rcumap_kind kind)
{
	if (map->alloc)
		return map->alloc(size, kind, map->alloc_arg);
	/*
	 * Buckets must be 16-byte aligned (SLOT_FLAGS). malloc aligns to
	 * max_align_t: 16 bytes on x86-64, aarch64 and i386, 8 on armhf.
	 */
	if (_Alignof(max_align_t) < 16 && kind == RCUMAP_KIND_BUCKET) {
		void *p;

		return posix_memalign(&p, 16, size) ? NULL : p;
	}
	return malloc(size);
}

void rcumap__free(struct rcumap *map, void *p, size_t size, enum rcumap_kind kind)
{
	if (map->free)
		map->free(p, size, kind, map->alloc_arg);
	else
		free(p);
}

static __thread unsigned tls_ops;     /* updates since the last policy check */

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

size_t rcumap__slots_round(const struct rcumap *map, size_t slots)
{
	size_t s = map ? map->min_slots : 1;

	while (s < slots && s < RCUMAP_SLOTS_MAX)
		s <<= 1;
	return s;
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
#ifdef RCUMAP_TORTURE
	map->cache = 1;  /* the torture allocator is a user allocator; it sees the cache's hooks */
#else
	map->cache = !map->alloc;  /* a user allocator gets every call it would without one */
#endif
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

/* ---- lookup ----------------------------------------------------------------- */

static inline int key_ok(const void *key, size_t len)
{
	return (key || !len) && len <= RCUMAP_KEY_MAX;
}

/* Lookup of a key longer than KEY_INLINE: its records hold a copy to compare. */
static __attribute__((noinline)) void *get_long(struct rcumap *map, uint32_t hash,
						  const void *key, size_t len)
{
	struct rcumap_probe p;
	const struct rcumap_bucket *b;
	long i;

	probe_init(&p, hash, key, len);
	b = lookup_bucket(map, hash);
	i = bucket_find(b, &p);
	return i < 0 ? NULL : b->rec[i].value;
}

/*
 * The short-key path is written out: the probe words stay in registers and
 * nothing but the hash call needs saved registers.
 */
void *rcumap_get(struct rcumap *map, const void *key, size_t len)
{
	const struct rcumap_bucket *b;
	uint64_t tag, w0, w1 = 0;
	uint32_t hash, n;

	if (unlikely(!map || (!key && len) || len > RCUMAP_KEY_MAX))
		return NULL;
#ifdef RCUMAP_DEBUG
	if (!map->flavor->read_ongoing())
		debug_fail("rcumap_get called outside a read section");
#endif
	hash = rcumap__hash(map, key, len);
	if (unlikely(len > KEY_INLINE))
		return get_long(map, hash, key, len);
	if (len > 8) {
		memcpy(&w0, key, 8);
		w1 = load_partial((const unsigned char *)key + 8, len - 8);
	} else {
		w0 = load_partial(key, len);
	}
	tag = (uint64_t)hash | ((uint64_t)len << 32);
	b = lookup_bucket(map, hash);
	n = b->n;
	for (uint32_t i = 0; i < n; i++) {
		const struct rcumap_rec *r = &b->rec[i];

		if (r->tag == tag && r->key.w[0] == w0 && r->key.w[1] == w1)
			return r->value;
	}
	return NULL;
}

/* ---- batched lookup ------------------------------------------------------------ */

/*
 * Keys per group of rcumap_get_batch. A group issues up to two prefetches
 * per key before it waits on any: its slots, then its buckets. A core keeps
 * only so many misses in flight (L1 miss buffers: 10-12 on the x86-64 cores
 * of the 2010s, 20 and more on recent x86-64, Apple and Neoverse cores, with
 * the L2's queue behind them); prefetches beyond that wait for a free
 * buffer, and a group much smaller leaves buffers idle while every group
 * pays its three passes. Measured (docs/benchmarks.md, "Group size": 1M and
 * 10M keys, half hits, 1 thread, an AMD EPYC of CPU family 26): from 4 to 16
 * keys per group, batches ran 1.4-1.7x faster; calls of 64 keys ran 19-36%
 * faster with groups of 32 than of 16 and slower again with 64; calls of 16
 * keys are one group for any size from 16 up. So 32: 64 prefetches in
 * flight at most, and 32 bucket lines (2 KiB) read back from L1.
 * -DRCUMAP_BATCH_GROUP=N overrides it for such measurements.
 */
#ifndef RCUMAP_BATCH_GROUP
#define RCUMAP_BATCH_GROUP 32
#endif

/*
 * Negative control for make check: a batch reads the frozen bucket of the
 * generation it loaded for its group instead of following the forwarding
 * mark to the generation the key now lives in.
 */
#ifdef RCUMAP_BROKEN_BATCH_NO_FORWARD
#define BROKEN_BATCH_NO_FORWARD 1
#else
#define BROKEN_BATCH_NO_FORWARD 0
#endif

/* One group of at most RCUMAP_BATCH_GROUP keys; returns how many were found. */
static inline long get_group(struct rcumap *map, size_t g, const void *const keys[],
			     const size_t lens[], void *values[])
{
	const struct rcumap_bucket *b[RCUMAP_BATCH_GROUP];
	uint32_t hash[RCUMAP_BATCH_GROUP];
	struct rcumap_table *t;
	long found = 0;
	size_t i;

	/* Pass 1: hash every key and prefetch its slot in the current generation. */
	/* Pairs with the release stores of map->cur in create/migration. */
	t = load_acquire(&map->cur);
	TORTURE_SEEN(t, RCUMAP_KIND_TABLE);
	for (i = 0; i < g; i++) {
		hash[i] = rcumap__hash(map, keys[i], lens[i]);
		__builtin_prefetch(&t->slots[hash[i] & t->mask]);
	}

	/* Pass 2: read every slot, follow forwarding marks, prefetch the bucket. */
	for (i = 0; i < g; i++) {
		uintptr_t s;

		TORTURE_POINT(RCUMAP_TP_READ);
		/* Pairs with the slot CAS that published the bucket (update, fill, freeze). */
		s = load_acquire(&t->slots[hash[i] & t->mask]);
		/*
		 * A migration began after the group loaded t (or t is frozen
		 * and gone stale): the key may live in a newer generation, so
		 * look it up as rcumap_get does, from the current one.
		 */
		if (unlikely(s == SLOT_UNFILLED || ((s & SLOT_FROZEN) && !BROKEN_BATCH_NO_FORWARD)))
			s = locate_word(map, hash[i], NULL);
		if (!slot_may_hold(s, hash[i])) {
			b[i] = &rcumap_empty;
			continue;
		}
		b[i] = slot_bucket(s);
		if (b[i] != &rcumap_empty) {
			TORTURE_SEEN(b[i], RCUMAP_KIND_BUCKET);
			__builtin_prefetch(b[i]);
		}
	}

	/* Pass 3: search every bucket. */
	for (i = 0; i < g; i++) {
		struct rcumap_probe p;
		long r;

		probe_init(&p, hash[i], keys[i], lens[i]);
		r = bucket_find(b[i], &p);
		values[i] = r < 0 ? NULL : b[i]->rec[r].value;
		found += r >= 0;
	}
	return found;
}

long rcumap_get_batch(struct rcumap *map, size_t n, const void *const keys[],
		      const size_t lens[], void *values[])
{
	long found = 0;

	if (unlikely(!map || (n && (!keys || !lens || !values))))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (unlikely(!key_ok(keys[i], lens[i])))
			return -EINVAL;
#ifdef RCUMAP_DEBUG
	if (n && !map->flavor->read_ongoing())
		debug_fail("rcumap_get_batch called outside a read section");
#endif
	for (size_t i = 0; i < n; i += RCUMAP_BATCH_GROUP) {
		size_t g = n - i < RCUMAP_BATCH_GROUP ? n - i : RCUMAP_BATCH_GROUP;

		found += get_group(map, g, keys + i, lens + i, values + i);
	}
	return found;
}

/* ---- updates ----------------------------------------------------------------- */

enum op {
	OP_INSERT,
	OP_PUT,
	OP_REPLACE,
	OP_CAS,
	OP_DELETE,
	OP_DELETE_IF,
	OP_GET_OR_INSERT,
};

/* Copy of b with one record appended. */
static struct rcumap_bucket *bucket_add(struct rcumap *map, const struct rcumap_bucket *b,
					const struct rcumap_rec *r)
{
	struct rcumap_bucket *nb = rcumap__bucket_alloc(map, b->n + 1);

	if (!nb)
		return NULL;
	memcpy(nb->rec, b->rec, b->n * sizeof(b->rec[0]));
	nb->rec[b->n] = *r;
	return nb;
}

/* Copy of b with record i's value set to v. */
static struct rcumap_bucket *bucket_set(struct rcumap *map, const struct rcumap_bucket *b,
					uint32_t i, void *v)
{
	struct rcumap_bucket *nb = rcumap__bucket_alloc(map, b->n);

	if (!nb)
		return NULL;
	memcpy(nb->rec, b->rec, b->n * sizeof(b->rec[0]));
	nb->rec[i].value = v;
	return nb;
}

/* Copy of b without record i; the shared empty bucket when none is left. */
static struct rcumap_bucket *bucket_del(struct rcumap *map, const struct rcumap_bucket *b,
					uint32_t i)
{
	struct rcumap_bucket *nb;

	if (b->n == 1)
		return &rcumap_empty;
	nb = rcumap__bucket_alloc(map, b->n - 1);
	if (!nb)
		return NULL;
	memcpy(nb->rec, b->rec, i * sizeof(b->rec[0]));
	memcpy(nb->rec + i, b->rec + i + 1, (b->n - i - 1) * sizeof(b->rec[0]));
	return nb;
}

/* The record an insertion adds; allocates the key copy at most once per call. */
static int make_rec(struct rcumap *map, struct rcumap_rec *r, int *built,
		    const struct rcumap_probe *p, void *value)
{
	if (*built)
		return 0;
	if (p->len > KEY_INLINE) {
		unsigned char *k = rcumap__alloc(map, p->len, RCUMAP_KIND_ENTRY);

		if (!k)
			return -ENOMEM;
		memcpy(k, p->key, p->len);
		r->key.ext = k;
	} else {
		r->key.w[0] = p->w[0];
		r->key.w[1] = p->w[1];
	}
	r->tag = p->tag;
	r->value = value;
	*built = 1;
	return 0;
}

/*
 * Negative controls (lib/torture.h): STALE_GEN makes locate_write hand out
 * a frozen slot of the old generation, as if no migration had begun;
 * NONATOMIC_CAS publishes with a load, a compare and a plain store.
 */
#ifdef RCUMAP_BROKEN_STALE_GEN
#define BROKEN_STALE_GEN 1
#else
#define BROKEN_STALE_GEN 0
#endif

#ifdef RCUMAP_BROKEN_NONATOMIC_CAS
static int broken_cas(uintptr_t *slot, uintptr_t *expected, uintptr_t desired)
{
	/* Acquire as the real CAS; the gap before the store is the bug. */
	uintptr_t cur = load_acquire(slot);

	if (cur != *expected) {
		*expected = cur;
		return 0;
	}
	TORTURE_POINT(RCUMAP_TP_PUBLISH);
	/* Release as the real CAS, but not atomic with the load above. */
	store_release(slot, desired);
	return 1;
}
#define publish_cas broken_cas
#else
/*
 * Publish a new bucket: release orders its contents before the pointer;
 * pairs with the acquire slot loads of readers and writers. Acquire on
 * failure pairs with the publisher of the value we then retry on.
 */
#define publish_cas(slot, expected, desired) cas_acq_rel(slot, expected, desired)
#endif

/*
 * The slot of the probe's key in the newest generation reachable from *tp,
 * ready for a CAS: never frozen, never unfilled. Fills the newer slot first
 * when the key's slot is frozen, so the update lands after the migration.
 */
static int locate_write(struct rcumap *map, struct rcumap_table **tp, uint32_t h,
			uintptr_t **slotp, uintptr_t *sp)
{
	struct rcumap_table *t = *tp;

	for (;;) {
		uintptr_t *slot = &t->slots[h & t->mask];
		/* Pairs with the slot CAS that published the bucket. */
		uintptr_t s = load_acquire(slot);
		struct rcumap_table *nt;
		int r;

		TORTURE_SEEN(t, RCUMAP_KIND_TABLE);
		if (slot_bucket(s) != &rcumap_empty)
			TORTURE_SEEN(slot_bucket(s), RCUMAP_KIND_BUCKET);
		if (likely(!(s & SLOT_FROZEN)) || BROKEN_STALE_GEN) {
			*tp = t;
			*slotp = slot;
			*sp = s;
			return 0;
		}
		/* Pairs with the release store of t->next before the first freeze. */
		nt = load_acquire(&t->next);
		r = rcumap__fill_dest(map, t, nt, h & nt->mask);
		if (r)
			return r;
		t = nt;
	}
}

/* What one attempt decided: the new bucket to publish, or none. */
struct change {
	struct rcumap_bucket *nb;  /* NULL: no change (or allocation failed) */
	uint32_t dead;             /* what the old bucket takes with it */
	long delta;                /* entry count change */
	int changes;               /* 1 when the map must change */
};

/* Decide the outcome of op on bucket b; allocates the new bucket. */
static int decide(struct rcumap *map, enum op op, const struct rcumap_bucket *b,
		  const struct rcumap_probe *p, struct rcumap_rec *rec, int *built,
		  void *value, void *expected, void **result, struct change *c)
{
	long i = bucket_find(b, p);
	int ret;

	memset(c, 0, sizeof(*c));
	if (i < 0) {
		if (op != OP_INSERT && op != OP_PUT && op != OP_GET_OR_INSERT)
			return -ENOENT;
		ret = make_rec(map, rec, built, p, value);
		if (ret)
			return ret;
		c->changes = 1;
		c->delta = 1;
		c->nb = bucket_add(map, b, rec);
		return 0;
	}
	switch (op) {
	case OP_INSERT:
		return -EEXIST;
	case OP_GET_OR_INSERT:
		*result = b->rec[i].value;
		return -EEXIST;
	case OP_CAS:
	case OP_DELETE_IF:
		if (b->rec[i].value != expected)
			return -EAGAIN;
		break;
	default:
		break;
	}
	if (op == OP_DELETE || op == OP_DELETE_IF) {
		c->changes = 1;
		c->delta = -1;
		c->dead = DEAD_ENTRY | (uint32_t)i;
		c->nb = bucket_del(map, b, (uint32_t)i);
		return 0;
	}
	if (b->rec[i].value == value)
		return 0;  /* storing the pointer already stored changes nothing */
	c->changes = 1;
	c->dead = DEAD_VALUE | (uint32_t)i;
	c->nb = bucket_set(map, b, (uint32_t)i, value);
	return 0;
}

/* Torture builds: report what a winning CAS made reachable. */
static inline void torture_published(const struct change *c, const struct rcumap_rec *rec,
				     enum op op, void *value)
{
	(void)c, (void)rec, (void)op, (void)value;
	if (c->nb != &rcumap_empty)
		TORTURE_PUBLISH(c->nb, RCUMAP_KIND_BUCKET);
	if (c->delta > 0 && rec_len(rec) > KEY_INLINE)
		TORTURE_PUBLISH(rec->key.ext, RCUMAP_KIND_ENTRY);
	if (c->delta >= 0 && op != OP_DELETE && op != OP_DELETE_IF)
		TORTURE_PUBLISH(value, RCUMAP_TORTURE_KIND_VALUE);
}

static int update(struct rcumap *map, enum op op, const void *key, size_t len,
		  void *value, void *expected, void **result)
{
	struct rcumap_probe p;
	struct rcumap_rec rec;
	struct rcumap_table *t, *t0;
	struct change c = { 0 };
	uintptr_t *slot, s;
	int built = 0, ret, grew = 0;

	probe_init(&p, rcumap__hash(map, key, len), key, len);
	map->flavor->read_lock();
	/* Pairs with the release stores of map->cur. */
	t0 = t = load_acquire(&map->cur);
	ret = locate_write(map, &t, (uint32_t)p.tag, &slot, &s);
	while (ret == 0) {
		struct rcumap_bucket *b = slot_bucket(s);

		ret = decide(map, op, b, &p, &rec, &built, value, expected, result, &c);
		if (ret || !c.changes)
			break;
		if (!c.nb) {
			ret = -ENOMEM;
			break;
		}
#ifdef RCUMAP_BROKEN_RETIRE_EARLY
		if (b != &rcumap_empty)
			rcumap__retire_bucket(map, NULL, b, c.dead);
#endif
		TORTURE_POINT(RCUMAP_TP_PUBLISH);
		/* Ordering: see publish_cas above (cas_acq_rel). */
		if (publish_cas(slot, &s, slot_word(c.nb))) {
			struct rcumap_stripe *st;

			torture_published(&c, &rec, op, value);
			TORTURE_POINT(RCUMAP_TP_UNLINK);
			/* NULL when another thread holds it: then no bag, atomic counts. */
			st = rcumap__stripe_trylock(map);
#ifndef RCUMAP_BROKEN_RETIRE_EARLY
			if (b != &rcumap_empty)
				rcumap__retire_bucket(map, st, b, c.dead);
#endif
#ifdef RCUMAP_BROKEN_DOUBLE_RETIRE
			if ((c.dead & DEAD_KIND_MASK) == DEAD_VALUE && ++tls_ops % 64 == 0)
				rcumap__retire_bucket(map, st, b, c.dead);
#endif
			if (c.delta)
				rcumap__count_add(map, st, c.delta);
			if (st)
				rcumap__stripe_unlock(map, st);
			if (op == OP_GET_OR_INSERT)
				*result = value;
			if (c.delta > 0)
				built = 0;  /* the key copy now belongs to the map */
			grew = c.nb->n > 8;
			break;
		}
		rcumap__bucket_free(map, c.nb);  /* never published */
		if (s & SLOT_FROZEN)
			ret = locate_write(map, &t, (uint32_t)p.tag, &slot, &s);
	}
	/*
	 * A migration is pending if this update had to follow a forwarding
	 * mark, or cur has a newer generation: then help drive it to its end.
	 * Relaxed: t0->next is only a hint; the policy re-reads under its lock.
	 */
	if (ret == 0 && c.changes &&
	    (unlikely(++tls_ops % 32 == 0) || grew || t != t0 ||
	     unlikely(load_relaxed(&t0->next) != NULL)))
		rcumap__maybe_resize(map);
	map->flavor->read_unlock();
	if (built && p.len > KEY_INLINE)
		rcumap__free(map, (void *)rec.key.ext, p.len, RCUMAP_KIND_ENTRY);
	return ret;
}

#define CHECK_ARGS(map, key, len) \
	do { if (!(map) || !key_ok(key, len)) return -EINVAL; } while (0)

int rcumap_insert(struct rcumap *map, const void *key, size_t len, void *value)
{
	CHECK_ARGS(map, key, len);
	if (!value)
		return -EINVAL;
	return update(map, OP_INSERT, key, len, value, NULL, NULL);
}

int rcumap_put(struct rcumap *map, const void *key, size_t len, void *value)
{
	CHECK_ARGS(map, key, len);
	if (!value)
		return -EINVAL;
	return update(map, OP_PUT, key, len, value, NULL, NULL);
}

int rcumap_replace(struct rcumap *map, const void *key, size_t len, void *value)
{
	CHECK_ARGS(map, key, len);
	if (!value)
		return -EINVAL;
	return update(map, OP_REPLACE, key, len, value, NULL, NULL);
}

int rcumap_cas(struct rcumap *map, const void *key, size_t len, void *expected,
	       void *desired)
{
	CHECK_ARGS(map, key, len);
	if (!expected || !desired)
		return -EINVAL;
	return update(map, OP_CAS, key, len, desired, expected, NULL);
}

int rcumap_delete(struct rcumap *map, const void *key, size_t len)
{
	CHECK_ARGS(map, key, len);
	return update(map, OP_DELETE, key, len, NULL, NULL, NULL);
}

int rcumap_delete_if(struct rcumap *map, const void *key, size_t len, void *expected)
{
	CHECK_ARGS(map, key, len);
	if (!expected)
		return -EINVAL;
	return update(map, OP_DELETE_IF, key, len, NULL, expected, NULL);
}

int rcumap_get_or_insert(struct rcumap *map, const void *key, size_t len, void *value,
			 void **result)
{
	CHECK_ARGS(map, key, len);
	if (!value || !result)
		return -EINVAL;
	return update(map, OP_GET_OR_INSERT, key, len, value, NULL, result);
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
	 * Statistics: each counter is read atomically, none orders anything.
	 * No read section here, so no table is dereferenced: the size and
	 * generation are copies kept in the map.
	 */
	out->slots = load_relaxed(&map->cur_slots);
	/* Statistics only, as above. */
	out->generation = load_relaxed(&map->cur_gen);
	/* Statistics only, as above. */
	out->grows = load_relaxed(&map->grows);
	/* Statistics only, as above. */
	out->shrinks = load_relaxed(&map->shrinks);
	/* Statistics only, as above. */
	out->resizing = load_relaxed(&map->migrating);
	for (int i = 0; i < NSTRIPES; i++) {
		const struct rcumap_stripe *st = &map->stripe[i];

		for (int k = 0; k < RCUMAP_STATS_KINDS; k++) {
			/* Statistics only; see above. */
			out->kind[k].retired += load_relaxed(&st->own.retired[k]) +
						load_relaxed(&st->spill.retired[k]);
			out->kind[k].retired_bytes += load_relaxed(&st->own.retired_bytes[k]) +
						      load_relaxed(&st->spill.retired_bytes[k]);
			out->kind[k].reclaimed += load_relaxed(&st->reclaimed[k]);
			out->kind[k].reclaimed_bytes += load_relaxed(&st->reclaimed_bytes[k]);
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
