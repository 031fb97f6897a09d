/* SPDX-License-Identifier: MIT */
/* bucket.c: immutable buckets: probing, sizing, allocation. */
#include "internal.h"

/* Shared by every empty slot; n == 0, never written, never freed. */
struct rcumap_bucket rcumap_empty __attribute__((aligned(16)));

size_t rcumap__bucket_size(uint32_t n)
{
	return sizeof(struct rcumap_bucket) + (size_t)n * sizeof(struct rcumap_rec);
}

/* Bytes of the out-of-line key copy a record owns (0 when inline). */
size_t rcumap__key_bytes(const struct rcumap_rec *r)
{
	return rec_len(r) > KEY_INLINE ? rec_len(r) : 0;
}

const void *rcumap__rec_key(const struct rcumap_rec *r)
{
	return rec_len(r) > KEY_INLINE ? (const void *)r->key.ext
				       : (const void *)r->key.bytes;
}

struct rcumap_bucket *rcumap__bucket_alloc(struct rcumap *map, uint32_t n)
{
	struct rcumap_bucket *b = NULL;

	if (map->cache && n <= CACHE_CLASSES)
		b = rcumap__cache_take(map, n);
	if (!b) {
		b = rcumap__alloc(map, rcumap__bucket_size(n), RCUMAP_KIND_BUCKET);
		if (!b)
			return NULL;
		if (unlikely((uintptr_t)b & SLOT_FLAGS)) {
			/* The slot word needs the low 4 bits (include/rcumap.h): refuse it. */
			rcumap__free(map, b, rcumap__bucket_size(n), RCUMAP_KIND_BUCKET);
			return NULL;
		}
	}
	b->map = map;
	b->dead = DEAD_NONE;
	b->n = n;
	return b;
}

/* Free a bucket that was never published, or is past its grace period. */
void rcumap__bucket_free(struct rcumap *map, struct rcumap_bucket *b)
{
	if (b != &rcumap_empty)
		rcumap__free(map, b, rcumap__bucket_size(b->n), RCUMAP_KIND_BUCKET);
}
