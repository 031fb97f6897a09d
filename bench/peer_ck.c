/* SPDX-License-Identifier: MIT */
/* peer_ck.c: Concurrency Kit's ck_ht (direct mode, one writer, many readers) as a bench/mapbench peer. */

/*
 * ck_ht in CK_HT_MODE_DIRECT: the 8-byte key and the value live in the
 * slot itself. One writer at a time (PEER_SINGLE_WRITER); readers use
 * ck_ht_get_spmc and need no lock or epoch.
 *
 * Notes on ck_ht (libck 0.7.1) that shape this file:
 *
 * - Direct mode reserves the keys 0 (empty) and UINTPTR_MAX (tombstone).
 *   key_of() can produce them (for two indices far above any range used),
 *   so they live in two side slots instead of the table.
 * - ck_ht_hash()/ck_ht_hash_direct() always use MurmurHash64A with the
 *   table's seed; the callback given to ck_ht_init is used only where ck_ht
 *   rehashes by itself. So this peer computes every ck_ht_hash_t with
 *   bench_hash directly, and passes the same function as the callback.
 * - ck_ht_put_spmc reuses the first tombstone on the probe path without
 *   checking whether the key is present further on, which would store the
 *   key twice. insert() therefore looks the key up first (one writer: no
 *   race between the lookup and the put).
 * - When the table grows, the old map is freed with defer = true: readers
 *   may still be reading it, and reclaiming it is the caller's job (ck's
 *   epoch or hazard pointers). This peer has no epoch, so deferred blocks
 *   go on a list that destroy() frees; mem() counts them as pending bytes.
 *   Since the maps double, the list never holds more than the live map.
 * - struct ck_malloc's functions get no context argument: the writer names
 *   its table in a thread-local (ck_cur) before each ck_ht call that may
 *   allocate or free.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ck_ht.h>

#include "peer.h"

_Static_assert(sizeof(uintptr_t) == sizeof(uint64_t), "direct keys are the 8-byte keys");

/* Header in front of every block ck_ht allocates (keeps 16-byte alignment). */
struct ckblock {
	struct ckblock *next;	/* on cktable.deferred once freed with defer */
	size_t size;
};

_Static_assert(sizeof(struct ckblock) == 16, "malloc's alignment is kept");

struct cktable {
	ck_ht_t ht;
	struct ck_malloc m;
	struct ckblock *deferred;	/* freed with defer = true; writer only */
	uint64_t live_bytes;		/* blocks allocated and not freed */
	uint64_t pending_bytes;		/* blocks on deferred */
	/* The reserved keys: [0] key 0, [1] key UINTPTR_MAX; value 0: absent. */
	uint64_t side[2];
};

/* The table whose ck_ht call this (writer) thread is making. */
static __thread struct cktable *ck_cur;

static void *ckmalloc(size_t size)
{
	struct ckblock *b = malloc(sizeof(*b) + size);

	if (!b)
		return NULL;
	b->next = NULL;
	b->size = size;
	/* Statistics, read by ckmem's relaxed loads: orders nothing. */
	__atomic_store_n(&ck_cur->live_bytes, ck_cur->live_bytes + size, __ATOMIC_RELAXED);
	return b + 1;
}

static void ckfree(void *p, size_t size, bool defer)
{
	struct cktable *t = ck_cur;
	struct ckblock *b;

	(void)size;	/* b->size is what ckmalloc counted */
	if (!p)
		return;
	b = (struct ckblock *)p - 1;
	/* Statistics, read by ckmem's relaxed loads: orders nothing. */
	__atomic_store_n(&t->live_bytes, t->live_bytes - b->size, __ATOMIC_RELAXED);
	if (!defer) {
		free(b);
		return;
	}
	b->next = t->deferred;
	t->deferred = b;
	/* Statistics, read by ckmem's relaxed loads: orders nothing. */
	__atomic_store_n(&t->pending_bytes, t->pending_bytes + b->size, __ATOMIC_RELAXED);
}

static void *ckrealloc(void *p, size_t old_size, size_t new_size, bool defer)
{
	void *n = ckmalloc(new_size);

	if (!n)
		return NULL;
	if (p) {
		memcpy(n, p, old_size < new_size ? old_size : new_size);
		ckfree(p, old_size, defer);
	}
	return n;
}

/* Only where ck_ht rehashes by itself; everything else hashes in ckhash(). */
static void ckhash_cb(ck_ht_hash_t *h, const void *key, size_t len, uint64_t seed)
{
	uint64_t k;

	(void)len;	/* sizeof(uintptr_t) */
	(void)seed;
	memcpy(&k, key, sizeof(k));
	h->value = bench_hash(k);
}

static inline ck_ht_hash_t ckhash(uint64_t key)
{
	ck_ht_hash_t h;

	h.value = bench_hash(key);
	return h;
}

/* The side slot of a reserved key, NULL for an ordinary key. */
static inline uint64_t *ckside(struct cktable *t, uint64_t key)
{
	if (__builtin_expect(key == 0, 0))
		return &t->side[0];
	if (__builtin_expect(key == UINTPTR_MAX, 0))
		return &t->side[1];
	return NULL;
}

static void ckfree_deferred(struct cktable *t)
{
	struct ckblock *b, *next;

	for (b = t->deferred; b; b = next) {
		next = b->next;
		free(b);
	}
	t->deferred = NULL;
	t->pending_bytes = 0;
}

static int ckcreate(const struct peer_params *p, void **table)
{
	struct cktable *t = calloc(1, sizeof(*t));
	/* ck_ht keeps its load at most 1/2 and sizes its map by this hint. */
	uint64_t slots = p->presize ? 2 * p->presize : 16;

	if (!t)
		return -ENOMEM;
	if (slots > (UINT64_C(1) << 31))
		slots = UINT64_C(1) << 31;	/* ck_ht_map_create's 32-bit count */
	t->m.malloc = ckmalloc;
	t->m.realloc = ckrealloc;
	t->m.free = ckfree;
	ck_cur = t;
	if (!ck_ht_init(&t->ht, CK_HT_MODE_DIRECT, ckhash_cb, &t->m, slots, 0)) {
		free(t);
		return -ENOMEM;
	}
	*table = t;
	return 0;
}

/* No reader may be left (mapbench destroys after joining every thread). */
static void ckdestroy(void *table)
{
	struct cktable *t = table;

	ck_cur = t;
	ck_ht_destroy(&t->ht);
	ckfree_deferred(t);
	free(t);
}

static void ckthread_op(void)
{
}

#define CK_NO_BATCH_OP(t) ((void)(t))

static inline uint64_t ckget_in(struct cktable *t, uint64_t key)
{
	uint64_t *side = ckside(t, key);
	ck_ht_entry_t e;

	if (side)
		/* Pairs with the release store in ckinsert_in/ckremove_in. */
		return __atomic_load_n(side, __ATOMIC_ACQUIRE);
	ck_ht_entry_key_set_direct(&e, (uintptr_t)key);
	if (!ck_ht_get_spmc(&t->ht, ckhash(key), &e))
		return 0;
	return ck_ht_entry_value_direct(&e);
}

/* The single writer. */
static inline int ckinsert_in(struct cktable *t, uint64_t key, uint64_t value)
{
	uint64_t *side = ckside(t, key);
	ck_ht_hash_t h = ckhash(key);
	ck_ht_entry_t e;

	if (value == 0)
		return -EINVAL;	/* 0 means absent */
	if (side) {
		if (*side)
			return 0;
		/* Publishes the value; pairs with the acquire load in ckget_in. */
		__atomic_store_n(side, value, __ATOMIC_RELEASE);
		return 1;
	}
	/* ck_ht_put_spmc would add a second copy behind a tombstone. */
	ck_ht_entry_key_set_direct(&e, (uintptr_t)key);
	if (ck_ht_get_spmc(&t->ht, h, &e))
		return 0;
	ck_ht_entry_set_direct(&e, h, (uintptr_t)key, (uintptr_t)value);
	ck_cur = t;
	/* Absent, so false means the grow it needed failed. */
	return ck_ht_put_spmc(&t->ht, h, &e) ? 1 : -ENOMEM;
}

static inline int ckremove_in(struct cktable *t, uint64_t key)
{
	uint64_t *side = ckside(t, key);
	ck_ht_entry_t e;

	if (side) {
		if (!*side)
			return 0;
		/* Pairs with the acquire load in ckget_in. */
		__atomic_store_n(side, 0, __ATOMIC_RELEASE);
		return 1;
	}
	ck_ht_entry_key_set_direct(&e, (uintptr_t)key);
	ck_cur = t;
	return ck_ht_remove_spmc(&t->ht, ckhash(key), &e) ? 1 : 0;
}

BENCH_DEFINE_RUN(ckrun, struct cktable, CK_NO_BATCH_OP, CK_NO_BATCH_OP, CK_NO_BATCH_OP,
		 ckget_in, ckinsert_in, ckremove_in)

BENCH_DEFINE_SINGLE_OPS(ckget, ckinsert, ckremove, ckget_in, ckinsert_in, ckremove_in)

static void ckmem(void *table, struct peer_mem *out)
{
	struct cktable *t = table;

	/* Statistics; pairs with the writer's relaxed stores: orders nothing. */
	out->live_bytes = __atomic_load_n(&t->live_bytes, __ATOMIC_RELAXED) + sizeof(*t);
	/* Statistics; pairs with the writer's relaxed stores: orders nothing. */
	out->pending_bytes = __atomic_load_n(&t->pending_bytes, __ATOMIC_RELAXED);
}

/* Exact only without a concurrent writer (ck_ht_count's own rule). */
static uint64_t ckcount(void *table)
{
	struct cktable *t = table;

	return ck_ht_count(&t->ht) + (t->side[0] != 0) + (t->side[1] != 0);
}

const struct bench_peer peer_ck_ht = {
	.name = "ck_ht",
	.flavor = "-",
	.caps = PEER_SINGLE_WRITER,
	.create = ckcreate,
	.destroy = ckdestroy,
	.thread_init = ckthread_op,
	.thread_fini = ckthread_op,
	.run = ckrun,
	.get = ckget,
	.insert = ckinsert,
	.remove = ckremove,
	.remove_stamped = NULL,
	.resize = NULL,
	.barrier = NULL,
	.mem = ckmem,
	.count = ckcount,
};
