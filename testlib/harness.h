/* SPDX-License-Identifier: MIT */
/* harness.h: test instruments for rcumap: counting allocator, value tracker, keys, hashes. */
#ifndef RCUMAP_TESTLIB_HARNESS_H
#define RCUMAP_TESTLIB_HARNESS_H

/*
 * Everything here may be called from the call_rcu worker thread (free_value,
 * free) as well as from the test thread, so the shared counters are atomics.
 * Nothing here asserts: instruments count errors, and the test thread asserts
 * on the counts (cmocka's state is per thread).
 */

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rcumap.h>

#include "util.h"

/* ---- Counting allocator with failure injection ------------------------ */

/*
 * Every block carries a header in front of it recording the size and kind
 * given to alloc, so that free can check the map passes them back unchanged.
 * The header is 16 bytes, keeping the returned pointer 16-byte aligned.
 */
#define CA_MAGIC_LIVE 0x6c697665u /* "live" */
#define CA_MAGIC_DEAD 0x64656164u /* "dead" */
#define CA_KINDS 4                /* enum rcumap_kind, including MAP */

struct ca_header {
	uint64_t size;
	uint32_t kind;
	uint32_t magic;
};
_Static_assert(sizeof(struct ca_header) == 16, "header keeps 16-byte alignment");

struct count_alloc {
	atomic_ulong allocs;           /* successful allocations */
	atomic_ulong frees;
	atomic_ulong alloc_bytes;
	atomic_ulong free_bytes;
	atomic_ulong kind_allocs[CA_KINDS];
	atomic_ulong kind_frees[CA_KINDS];
	atomic_ulong errors;           /* bad size/kind/magic on free, bad kind on alloc */

	/* Failure injection, counted in calls since ca_arm(). */
	atomic_ulong calls;            /* alloc calls since arming, failed ones included */
	atomic_long fail_at;           /* -1: off; else index of the call that fails */
	atomic_bool persistent;        /* fail every call from fail_at on */
	atomic_ulong injected;         /* failures injected since arming */
	size_t max_size;               /* refuse larger requests; 0: no limit */
	atomic_ulong refused_large;    /* refusals because of max_size */
};

static inline void ca_init(struct count_alloc *ca)
{
	memset(ca, 0, sizeof(*ca));
	atomic_store(&ca->fail_at, -1);
}

/* Fail call number n (0-based, counted from now), once or from then on. */
static inline void ca_arm(struct count_alloc *ca, unsigned long n, bool persistent)
{
	atomic_store(&ca->calls, 0);
	atomic_store(&ca->injected, 0);
	atomic_store(&ca->persistent, persistent);
	atomic_store(&ca->fail_at, (long)n);
}

/* Stop injecting; return how many failures were injected since arming. */
static inline unsigned long ca_disarm(struct count_alloc *ca)
{
	atomic_store(&ca->fail_at, -1);
	return atomic_load(&ca->injected);
}

static inline void *ca_alloc(size_t size, enum rcumap_kind kind, void *arg)
{
	struct count_alloc *ca = arg;
	unsigned long call = atomic_fetch_add(&ca->calls, 1);
	long fail_at = atomic_load(&ca->fail_at);
	struct ca_header *h;
	void *p;

	if ((unsigned)kind >= CA_KINDS) {
		atomic_fetch_add(&ca->errors, 1);
		return NULL;
	}
	if (fail_at >= 0 && (call == (unsigned long)fail_at ||
			     (atomic_load(&ca->persistent) && call > (unsigned long)fail_at))) {
		atomic_fetch_add(&ca->injected, 1);
		return NULL;
	}
	if (ca->max_size && size > ca->max_size) {
		atomic_fetch_add(&ca->refused_large, 1);
		return NULL;
	}
	if (size > SIZE_MAX - sizeof(*h) || posix_memalign(&p, 16, sizeof(*h) + size))
		return NULL;
	h = p;
	h->size = size;
	h->kind = (uint32_t)kind;
	h->magic = CA_MAGIC_LIVE;
	atomic_fetch_add(&ca->allocs, 1);
	atomic_fetch_add(&ca->alloc_bytes, size);
	atomic_fetch_add(&ca->kind_allocs[kind], 1);
	return h + 1;
}

static inline void ca_free(void *ptr, size_t size, enum rcumap_kind kind, void *arg)
{
	struct count_alloc *ca = arg;
	struct ca_header *h;

	if (!ptr) { /* the contract never hands free a NULL */
		atomic_fetch_add(&ca->errors, 1);
		return;
	}
	h = (struct ca_header *)ptr - 1;
	if (h->magic != CA_MAGIC_LIVE || h->size != size || h->kind != (uint32_t)kind) {
		atomic_fetch_add(&ca->errors, 1);
		fprintf(stderr, "ca_free: %p magic %#x size %zu/%llu kind %d/%u\n", ptr,
			h->magic, size, (unsigned long long)h->size, (int)kind, h->kind);
		return; /* leak rather than corrupt the heap further */
	}
	/* Volatile so that the poison store is not removed as dead before free(). */
	*(volatile uint32_t *)&h->magic = CA_MAGIC_DEAD;
	atomic_fetch_add(&ca->frees, 1);
	atomic_fetch_add(&ca->free_bytes, size);
	atomic_fetch_add(&ca->kind_frees[kind], 1);
	free(h);
}

/* ---- Tracked values ------------------------------------------------------ */

/*
 * Values stored in maps are pointers into a pool of struct tval that outlives
 * the map, so free_value can be counted per value and a premature free shows
 * up as a poisoned magic in a reader that still holds the pointer.
 */
#define TVAL_LIVE 0x4c4956452d56414cull /* "LIVE-VAL" */
#define TVAL_DEAD 0x444541442d56414cull /* "DEAD-VAL" */

struct tval {
	uint64_t magic;
	size_t id;
	atomic_uint freed;  /* free_value calls for this value */
	bool owned;         /* test thread: the map took ownership at some point */
	bool in_map;        /* test thread: the map holds it now */
};

struct tracker {
	struct tval *v;
	size_t n;
	atomic_ulong frees;   /* free_value calls on pool values */
	atomic_ulong errors;  /* double frees, foreign or dead values */
};

static inline void tracker_init(struct tracker *t, size_t n)
{
	t->v = calloc(n ? n : 1, sizeof(*t->v));
	t->n = t->v ? n : 0;
	atomic_store(&t->frees, 0);
	atomic_store(&t->errors, 0);
	for (size_t i = 0; i < t->n; i++) {
		t->v[i].magic = TVAL_LIVE;
		t->v[i].id = i;
	}
}

static inline void tracker_fini(struct tracker *t)
{
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

/* Whether p is one of the pool's values (not merely inside the pool). */
static inline bool tracker_owns(const struct tracker *t, const void *p)
{
	uintptr_t lo = (uintptr_t)t->v, hi = (uintptr_t)(t->v + t->n);

	return (uintptr_t)p >= lo && (uintptr_t)p < hi &&
	       ((uintptr_t)p - lo) % sizeof(*t->v) == 0;
}

/* rcumap_config.free_value for pool values; arg is the struct tracker. */
static inline void tracker_free_value(void *value, void *arg)
{
	struct tracker *t = arg;
	struct tval *v = value;

	if (!tracker_owns(t, v)) {
		atomic_fetch_add(&t->errors, 1);
		fprintf(stderr, "free_value: foreign value %p\n", value);
		return;
	}
	if (atomic_fetch_add(&v->freed, 1) != 0) {
		atomic_fetch_add(&t->errors, 1);
		fprintf(stderr, "free_value: value %zu freed twice\n", v->id);
	}
	if (v->magic != TVAL_LIVE) {
		atomic_fetch_add(&t->errors, 1);
		fprintf(stderr, "free_value: value %zu has bad magic\n", v->id);
	}
	/* Poison it: a reader still holding it would see DEAD. Volatile so the
	 * store survives even though nothing in this function reads it back. */
	*(volatile uint64_t *)&v->magic = TVAL_DEAD;
	atomic_fetch_add(&t->frees, 1);
}

static inline unsigned tval_freed(const struct tval *v)
{
	return atomic_load(&((struct tval *)v)->freed);
}

/* ---- Keys ----------------------------------------------------------------- */

/*
 * Key number i: 8 bytes of i little-endian (so keys are distinct), then
 * i % 25 filler bytes, giving lengths 8..32 to exercise both short and long
 * key storage.
 */
#define KEY_BUF 40

static inline size_t key_make(size_t i, unsigned char buf[KEY_BUF])
{
	size_t len = 8 + i % 25;

	for (size_t b = 0; b < 8; b++)
		buf[b] = (unsigned char)((uint64_t)i >> (8 * b));
	for (size_t j = 8; j < len; j++)
		buf[j] = (unsigned char)(i * 31 + j * 7);
	return len;
}

/* The key number from the first 8 bytes of a key made by key_make. */
static inline uint64_t key_index(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t i = 0;

	for (size_t b = 0; b < 8 && b < len; b++)
		i |= (uint64_t)p[b] << (8 * b);
	return i;
}

/* ---- Hash functions for rcumap_config.hash ------------------------------- */

/* mix64 (testlib/util.h) finishes each of them. */
static inline uint64_t fnv1a64(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* A well-mixed deterministic hash of the whole key. */
static inline uint64_t hash_full(const void *key, size_t len, void *arg)
{
	(void)arg;
	return mix64(fnv1a64(key, len));
}

/*
 * Deterministic, and keys 2k and 2k+1 (key_make numbering) always hash
 * alike, so they share a bucket at every table size: deleting one of them
 * must copy the bucket, which allocates.
 */
static inline uint64_t hash_pairs(const void *key, size_t len, void *arg)
{
	(void)arg;
	if (len < 8)
		return mix64(fnv1a64(key, len));
	return mix64(key_index(key, len) >> 1);
}

/* Random numbers: rng_next and rng_below (testlib/util.h). */

/* ---- Soft checks ------------------------------------------------------------ */

/*
 * For the stretches where a failed cmocka assertion would leave another
 * thread pinned in a read section (and every later barrier hanging), and for
 * worker threads, which must not assert at all: record the first failure,
 * finish the stretch, release the other thread, then assert on the record.
 */
struct soft {
	int failures;
	char first[512];
};

/* Count a failure; keep the message of the first one. */
static inline void soft_vfail(struct soft *s, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static inline void soft_vfail(struct soft *s, const char *fmt, va_list ap)
{
	if (s->failures++ == 0)
		vsnprintf(s->first, sizeof(s->first), fmt, ap);
}

static inline void soft_fail(struct soft *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline void soft_fail(struct soft *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	soft_vfail(s, fmt, ap);
	va_end(ap);
}

#define SOFT_CHECK(s, cond)                                                      \
	do {                                                                     \
		if (!(cond))                                                     \
			soft_fail((s), "%s:%d: %s", __FILE__, __LINE__, #cond);  \
	} while (0)

#define SOFT_RC(s, expr, want)                                                   \
	do {                                                                     \
		int soft_rc_ = (expr);                                           \
		if (soft_rc_ != (want))                                          \
			soft_fail((s), "%s:%d: %s returned %d, expected %d",     \
				  __FILE__, __LINE__, #expr, soft_rc_, (int)(want)); \
	} while (0)

#endif /* RCUMAP_TESTLIB_HARNESS_H */
