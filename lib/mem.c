/* SPDX-License-Identifier: MIT */
/* mem.c: all the library's memory: the allocation hook, tables, buckets and the bucket cache. */
#include <stdlib.h>
#include <sys/mman.h>

#include "internal.h"

/* Shared by every empty slot; n == 0, never written, never freed. */
struct rcumap_bucket rcumap_empty __attribute__((aligned(16)));

/* ---- the allocation hook: the only place the library allocates or frees ---- */

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

/* ---- the bucket cache (docs/design.md, "Allocation") ------------------------ */

/* A bucket of n records from the caller's stripe cache, or NULL. */
static struct rcumap_bucket *cache_take(struct rcumap *map, uint32_t n)
{
	struct rcumap_stripe *st = rcumap__stripe_trylock(map);
	struct rcumap_bucket *b;

	if (!st)
		return NULL;
	b = st->cache[n];
	if (b) {
		st->cache[n] = b->bag_next;
		st->cache_bytes -= bucket_size(n);
	}
	stripe_drop(st);  /* this section took no carrier */
	if (b)
		TORTURE_CACHE_GET(b, RCUMAP_KIND_BUCKET);
	return b;
}

/* Keep reclaimed bucket b (n <= CACHE_CLASSES) in k, for the cache. */
void rcumap__keep(struct rcumap_keep *k, struct rcumap_bucket *b)
{
	/* A cached bucket's fields are not kept (torture poisons them): only its list. */
	uint32_t cls = b->n;

	TORTURE_CACHE_PUT(b, RCUMAP_KIND_BUCKET);
	if (!k->first[cls])
		k->last[cls] = b;
	b->bag_next = k->first[cls];
	k->first[cls] = b;
	k->bytes[cls] += bucket_size(cls);
}

/*
 * Move k's buckets into st's cache while it is under CACHE_BYTES (st
 * locked); what does not fit stays in k, for rcumap__keep_free after the
 * unlock.
 */
void rcumap__keep_splice(struct rcumap_stripe *st, struct rcumap_keep *k)
{
	assert_stripe_locked(st);
	for (uint32_t n = 1; n <= CACHE_CLASSES; n++) {
		if (!k->first[n] || st->cache_bytes >= CACHE_BYTES)
			continue;
		k->last[n]->bag_next = st->cache[n];
		st->cache[n] = k->first[n];
		st->cache_bytes += k->bytes[n];
		k->first[n] = NULL;
	}
}

/* Give what k still holds to the allocator. */
void rcumap__keep_free(struct rcumap *map, struct rcumap_keep *k)
{
	for (uint32_t n = 1; n <= CACHE_CLASSES; n++) {
		struct rcumap_bucket *b = k->first[n];

		while (b) {
			struct rcumap_bucket *next = b->bag_next;

			rcumap__free(map, b, bucket_size(n), RCUMAP_KIND_BUCKET);
			b = next;
		}
		k->first[n] = NULL;
	}
}

/* Memory comes back: every stripe's cache goes to the allocator. */
void rcumap__cache_flush(struct rcumap *map)
{
	for (int i = 0; i < NSTRIPES; i++) {
		struct rcumap_stripe *st = &map->stripe[i];
		struct rcumap_keep k = { 0 };

		rcumap__stripe_lock(st);
		for (uint32_t n = 1; n <= CACHE_CLASSES; n++) {
			k.first[n] = st->cache[n];
			st->cache[n] = NULL;
		}
		st->cache_bytes = 0;
		stripe_drop(st);
		rcumap__keep_free(map, &k);
	}
}

/* ---- buckets ------------------------------------------------------------------- */

struct rcumap_bucket *rcumap__bucket_alloc(struct rcumap *map, uint32_t n)
{
	struct rcumap_bucket *b = NULL;

	if (map->cache && n <= CACHE_CLASSES)
		b = cache_take(map, n);
	if (!b) {
		b = rcumap__alloc(map, bucket_size(n), RCUMAP_KIND_BUCKET);
		if (!b)
			return NULL;
		if (unlikely((uintptr_t)b & SLOT_FLAGS)) {
			/* The slot word needs the low 4 bits (include/rcumap.h): refuse it. */
			rcumap__free(map, b, bucket_size(n), RCUMAP_KIND_BUCKET);
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
		rcumap__free(map, b, bucket_size(b->n), RCUMAP_KIND_BUCKET);
}

/* ---- tables ---------------------------------------------------------------------- */

/*
 * Tables of at least this many bytes that start all UNFILLED (0) come from
 * mmap with MAP_POPULATE when the map has no user allocator: the kernel
 * hands over zeroed, mapped pages in one call (about 1 ms for 8 MiB here).
 * From malloc such a table cost its first user a pass over every byte
 * (glibc raises its mmap threshold after large frees, then clears big
 * callocs itself); lazily zeroed pages (plain calloc or mmap) moved a page
 * fault of some 16 us into the first lookup that followed a forwarding mark
 * onto each page (measured: p99.9 lookup latency 16x during resizes).
 */
#define TABLE_MMAP_BYTES ((size_t)64 << 10)

struct rcumap_table *rcumap__table_alloc(struct rcumap *map, size_t slots,
					 uint64_t gen, uintptr_t fill)
{
	size_t bytes = table_size(slots);
	/* Unfilled slots are 0: fresh pages need no pass over them. */
	int zeroed = fill == SLOT_UNFILLED && !map->alloc;
	int mapped = zeroed && bytes >= TABLE_MMAP_BYTES;
	struct rcumap_table *t;

	if (mapped) {
		t = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (t == MAP_FAILED)
			return NULL;
	} else {
		t = zeroed ? calloc(1, bytes) : rcumap__alloc(map, bytes, RCUMAP_KIND_TABLE);
		if (!t)
			return NULL;
	}
	t->map = map;
	t->gen = gen;
	t->mask = slots - 1;
	t->next = NULL;
	t->migrate_pos = 0;
	t->mapped = mapped;
	for (size_t i = 0; !zeroed && i < slots; i++)
		t->slots[i] = fill;
	return t;
}

void rcumap__table_free(struct rcumap *map, struct rcumap_table *t)
{
	size_t bytes = table_size(t->mask + 1);

	if (t->mapped)
		munmap(t, bytes);
	else
		rcumap__free(map, t, bytes, RCUMAP_KIND_TABLE);
}
