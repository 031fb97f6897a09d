/* bucket.c: immutable buckets: probing, sizing, allocation. */
#include "internal.h"

/* Shared by every empty slot; n == 0, never written, never freed. */
struct rcumap_bucket rcumap_empty __attribute__((aligned(16)));

void rcumap__probe_init(struct rcumap_probe *p, uint32_t hash, const void *key,
			size_t len)
{
	p->tag = (uint64_t)hash | ((uint64_t)len << 32);
	p->key = key;
	p->len = len;
	p->w[0] = p->w[1] = 0;
	if (len <= KEY_INLINE && len)
		memcpy(p->w, key, len);
}

/*
 * Index of the record matching the probe, or -1. Reads only n and the
 * records, the fields that are immutable once the bucket is published.
 */
long rcumap__bucket_find(const struct rcumap_bucket *b, const struct rcumap_probe *p)
{
	uint32_t n = b->n;

	if (p->len <= KEY_INLINE) {
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
	struct rcumap_bucket *b;

	b = rcumap__alloc(map, rcumap__bucket_size(n), RCUMAP_KIND_BUCKET);
	if (!b)
		return NULL;
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
