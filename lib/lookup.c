/* SPDX-License-Identifier: MIT */
/* lookup.c: rcumap_get and rcumap_get_batch; the path itself is inlined from lookup.h. */
#include "lookup.h"

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
	assert_reader(map, "rcumap_get");
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
	/* O5: pairs with the release store of map->cur at create and at a switch. */
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
		/* O1, O2, O3: pairs with the slot CAS that published the bucket (update, fill, freeze). */
		s = load_acquire(&t->slots[hash[i] & t->mask]);
		/*
		 * A migration began after the group loaded t (or t is frozen
		 * and gone stale): the key may live in a newer generation, so
		 * look it up as rcumap_get does, from the current one.
		 */
		if (unlikely(s == SLOT_UNFILLED || ((s & SLOT_FROZEN) && !broken_batch_no_forward())))
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
	if (n)
		assert_reader(map, "rcumap_get_batch");
	for (size_t i = 0; i < n; i += RCUMAP_BATCH_GROUP) {
		size_t g = n - i < RCUMAP_BATCH_GROUP ? n - i : RCUMAP_BATCH_GROUP;

		found += get_group(map, g, keys + i, lens + i, values + i);
	}
	return found;
}
