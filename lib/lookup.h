/* SPDX-License-Identifier: MIT */
/* lookup.h: the lookup path, inlined where it runs: hash, find the current bucket, probe it. */
#ifndef RCUMAP_LOOKUP_H
#define RCUMAP_LOOKUP_H

#include "internal.h"

/* A key the API accepts: bytes (or none, with len 0), at most RCUMAP_KEY_MAX of them. */
static inline int key_ok(const void *key, size_t len)
{
	return (key || !len) && len <= RCUMAP_KEY_MAX;
}

/* The 32-bit hash the map uses for key[0..len): its own or the default, folded. */
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
	/* O5: pairs with the release store of map->cur at create and at a switch. */
	struct rcumap_table *t = load_acquire(&map->cur);
	uintptr_t frozen = SLOT_EMPTY;
	uint64_t frozen_end = POS_END, end = POS_END;

	for (int depth = 0;; depth++) {
		uintptr_t s;

		TORTURE_SEEN(t, RCUMAP_KIND_TABLE);
		TORTURE_POINT(RCUMAP_TP_READ);
		/* O1, O2, O3: pairs with the slot CAS that published the bucket (update, fill, freeze). */
		s = load_acquire(&t->slots[h & t->mask]);
		debug_assert("I2", depth > 0 || s != SLOT_UNFILLED);
		if (s != SLOT_UNFILLED && slot_bucket(s) != &rcumap_empty)
			TORTURE_SEEN(slot_bucket(s), RCUMAP_KIND_BUCKET);

		if (endp) {
			unsigned shift = 32 - (unsigned)__builtin_ctzll((unsigned long long)t->mask + 1);

			end = (((uint64_t)rev32(h) >> shift) + 1) << shift;
		}
		if (likely(!(s & SLOT_FROZEN)) || (endp && broken_iter_no_forward())) {
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
		/* O3: pairs with the release of the freeze CAS (and of t->next's store). */
		t = load_acquire(&t->next);
		debug_assert("I3", t != NULL);
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

/* ---- probing a bucket ------------------------------------------------------------ */

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

#endif /* RCUMAP_LOOKUP_H */
