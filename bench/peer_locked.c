/* SPDX-License-Identifier: MIT */
/* peer_locked.c: the lock-based peers of bench/mapbench: "rwlock" (one table) and "mutex64" (64 shards). */

/*
 * Both use the same chained hash table: a power-of-two array of pointers to
 * malloc'd nodes {key, value, next}, indexed by the low bits of bench_hash,
 * doubled (rehashed by the writer holding the lock) when the entries
 * outnumber the buckets.
 *
 * rwlock: one table under one pthread_rwlock_t that prefers writers
 *   (glibc's default prefers readers, and then a thread that only reads
 *   starves the writers for as long as it runs). Every get takes the read
 *   lock for itself: the
 *   batch's LOCK/UNLOCK are no-ops, since one lock per batch would hide the
 *   lock's cost that these peers are here to show.
 * mutex64: 64 tables ("shards") chosen by the top 6 bits of bench_hash, each
 *   under its own pthread_mutex_t on its own cache lines, growing on its own.
 *
 * No RCU: thread_init/fini are no-ops and memory is freed at once.
 */

#define _GNU_SOURCE 1	/* pthread_rwlockattr_setkind_np */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"

/* ---- the chained table (caller holds the lock) --------------------------- */

struct knode {
	uint64_t key;
	uint64_t value;
	struct knode *next;
};

struct chain {
	struct knode **b;	/* mask + 1 bucket heads */
	uint64_t mask;
	uint64_t count;
};

#define CHAIN_MIN_BUCKETS 8

static int chain_init(struct chain *c, uint64_t presize)
{
	/* Load at most 1 at the presize, like the growth rule keeps it. */
	uint64_t n = pow2_at_least(presize, CHAIN_MIN_BUCKETS);

	c->b = calloc(n, sizeof(*c->b));
	if (!c->b)
		return -ENOMEM;
	c->mask = n - 1;
	c->count = 0;
	return 0;
}

static void chain_free(struct chain *c)
{
	for (uint64_t i = 0; i <= c->mask; i++) {
		struct knode *n = c->b[i], *next;

		for (; n; n = next) {
			next = n->next;
			free(n);
		}
	}
	free(c->b);
	c->b = NULL;
}

static inline uint64_t chain_get(const struct chain *c, uint64_t h, uint64_t key)
{
	for (const struct knode *n = c->b[h & c->mask]; n; n = n->next)
		if (n->key == key)
			return n->value;
	return 0;
}

/* Doubles the bucket array; on allocation failure keeps the old one. */
static void chain_grow(struct chain *c)
{
	uint64_t nmask = c->mask * 2 + 1;
	struct knode **nb = calloc(nmask + 1, sizeof(*nb));

	if (!nb)
		return;	/* longer chains, still correct */
	for (uint64_t i = 0; i <= c->mask; i++) {
		struct knode *n = c->b[i], *next;

		for (; n; n = next) {
			uint64_t j = bench_hash(n->key) & nmask;

			next = n->next;
			n->next = nb[j];
			nb[j] = n;
		}
	}
	free(c->b);
	c->b = nb;
	c->mask = nmask;
}

static inline int chain_insert(struct chain *c, uint64_t h, uint64_t key, uint64_t value)
{
	struct knode **head = &c->b[h & c->mask], *n;

	for (n = *head; n; n = n->next)
		if (n->key == key)
			return 0;
	n = malloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->key = key;
	n->value = value;
	n->next = *head;
	*head = n;
	if (++c->count > c->mask + 1)
		chain_grow(c);
	return 1;
}

static inline int chain_remove(struct chain *c, uint64_t h, uint64_t key)
{
	struct knode **pp = &c->b[h & c->mask], *n;

	for (; (n = *pp); pp = &n->next) {
		if (n->key == key) {
			*pp = n->next;
			free(n);
			c->count--;
			return 1;
		}
	}
	return 0;
}

static inline uint64_t chain_bytes(const struct chain *c)
{
	return c->count * sizeof(struct knode) + (c->mask + 1) * sizeof(struct knode *);
}

static void no_thread_op(void)
{
}

/* The batch's LOCK, UNLOCK and QUIESCE: these peers lock per operation. */
#define NO_BATCH_OP(t) ((void)(t))

/* ---- rwlock ------------------------------------------------------------- */

struct rwtable {
	pthread_rwlock_t lock;
	struct chain c;
};

static int rwcreate(const struct peer_params *p, void **table)
{
	struct rwtable *t = calloc(1, sizeof(*t));
	pthread_rwlockattr_t attr;
	int err;

	if (!t)
		return -ENOMEM;
	err = chain_init(&t->c, p->presize);
	if (err) {
		free(t);
		return err;
	}
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	err = pthread_rwlock_init(&t->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (err) {
		chain_free(&t->c);
		free(t);
		return -err;
	}
	*table = t;
	return 0;
}

static void rwdestroy(void *table)
{
	struct rwtable *t = table;

	chain_free(&t->c);
	pthread_rwlock_destroy(&t->lock);
	free(t);
}

static inline uint64_t rwget_op(struct rwtable *t, uint64_t key)
{
	uint64_t h = bench_hash(key), v;

	pthread_rwlock_rdlock(&t->lock);
	v = chain_get(&t->c, h, key);
	pthread_rwlock_unlock(&t->lock);
	return v;
}

static inline int rwinsert_op(struct rwtable *t, uint64_t key, uint64_t value)
{
	uint64_t h = bench_hash(key);
	int ret;

	pthread_rwlock_wrlock(&t->lock);
	ret = chain_insert(&t->c, h, key, value);
	pthread_rwlock_unlock(&t->lock);
	return ret;
}

static inline int rwremove_op(struct rwtable *t, uint64_t key)
{
	uint64_t h = bench_hash(key);
	int ret;

	pthread_rwlock_wrlock(&t->lock);
	ret = chain_remove(&t->c, h, key);
	pthread_rwlock_unlock(&t->lock);
	return ret;
}

BENCH_DEFINE_RUN(rwrun, struct rwtable, NO_BATCH_OP, NO_BATCH_OP, NO_BATCH_OP,
		 rwget_op, rwinsert_op, rwremove_op)

BENCH_DEFINE_SINGLE_OPS(rwget, rwinsert, rwremove, rwget_op, rwinsert_op, rwremove_op)

static void rwmem(void *table, struct peer_mem *out)
{
	struct rwtable *t = table;

	pthread_rwlock_rdlock(&t->lock);
	out->live_bytes = chain_bytes(&t->c) + sizeof(*t);
	pthread_rwlock_unlock(&t->lock);
	out->pending_bytes = 0;
}

static uint64_t rwcount(void *table)
{
	struct rwtable *t = table;
	uint64_t n;

	pthread_rwlock_rdlock(&t->lock);
	n = t->c.count;
	pthread_rwlock_unlock(&t->lock);
	return n;
}

const struct bench_peer peer_rwlock = {
	.name = "rwlock",
	.flavor = "-",
	.caps = PEER_CONCURRENT_WRITES,
	.create = rwcreate,
	.destroy = rwdestroy,
	.thread_init = no_thread_op,
	.thread_fini = no_thread_op,
	.run = rwrun,
	.get = rwget,
	.insert = rwinsert,
	.remove = rwremove,
	.remove_stamped = NULL,
	.resize = NULL,
	.barrier = NULL,
	.mem = rwmem,
	.count = rwcount,
};

/* ---- mutex64 ------------------------------------------------------------ */

#define SHARD_BITS 6
#define SHARDS (1u << SHARD_BITS)

/* Each shard on its own cache line(s): no false sharing between locks. */
struct shard {
	pthread_mutex_t lock;
	struct chain c;
} __attribute__((aligned(64)));

struct mtable {
	struct shard s[SHARDS];
};

/* The top bits pick the shard; the chain indexes by the low bits. */
static inline struct shard *shard_of(struct mtable *t, uint64_t h)
{
	return &t->s[h >> (64 - SHARD_BITS)];
}

static void mdestroy_n(struct mtable *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		chain_free(&t->s[i].c);
		pthread_mutex_destroy(&t->s[i].lock);
	}
	free(t);
}

static int mcreate(const struct peer_params *p, void **table)
{
	struct mtable *t = aligned_alloc(_Alignof(struct mtable), sizeof(struct mtable));
	uint64_t per = (p->presize + SHARDS - 1) / SHARDS;
	int err;

	if (!t)
		return -ENOMEM;
	for (unsigned i = 0; i < SHARDS; i++) {
		err = chain_init(&t->s[i].c, per);
		if (!err) {
			err = -pthread_mutex_init(&t->s[i].lock, NULL);
			if (err)
				chain_free(&t->s[i].c);
		}
		if (err) {
			mdestroy_n(t, i);
			return err;
		}
	}
	*table = t;
	return 0;
}

static void mdestroy(void *table)
{
	mdestroy_n(table, SHARDS);
}

static inline uint64_t mget_op(struct mtable *t, uint64_t key)
{
	uint64_t h = bench_hash(key), v;
	struct shard *s = shard_of(t, h);

	pthread_mutex_lock(&s->lock);
	v = chain_get(&s->c, h, key);
	pthread_mutex_unlock(&s->lock);
	return v;
}

static inline int minsert_op(struct mtable *t, uint64_t key, uint64_t value)
{
	uint64_t h = bench_hash(key);
	struct shard *s = shard_of(t, h);
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = chain_insert(&s->c, h, key, value);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static inline int mremove_op(struct mtable *t, uint64_t key)
{
	uint64_t h = bench_hash(key);
	struct shard *s = shard_of(t, h);
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = chain_remove(&s->c, h, key);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

BENCH_DEFINE_RUN(mrun, struct mtable, NO_BATCH_OP, NO_BATCH_OP, NO_BATCH_OP,
		 mget_op, minsert_op, mremove_op)

BENCH_DEFINE_SINGLE_OPS(mget, minsert, mremove, mget_op, minsert_op, mremove_op)

static void mmem(void *table, struct peer_mem *out)
{
	struct mtable *t = table;
	uint64_t bytes = sizeof(*t);

	for (unsigned i = 0; i < SHARDS; i++) {
		pthread_mutex_lock(&t->s[i].lock);
		bytes += chain_bytes(&t->s[i].c);
		pthread_mutex_unlock(&t->s[i].lock);
	}
	out->live_bytes = bytes;
	out->pending_bytes = 0;
}

static uint64_t mcount(void *table)
{
	struct mtable *t = table;
	uint64_t n = 0;

	for (unsigned i = 0; i < SHARDS; i++) {
		pthread_mutex_lock(&t->s[i].lock);
		n += t->s[i].c.count;
		pthread_mutex_unlock(&t->s[i].lock);
	}
	return n;
}

const struct bench_peer peer_mutex64 = {
	.name = "mutex64",
	.flavor = "-",
	.caps = PEER_CONCURRENT_WRITES,
	.create = mcreate,
	.destroy = mdestroy,
	.thread_init = no_thread_op,
	.thread_fini = no_thread_op,
	.run = mrun,
	.get = mget,
	.insert = minsert,
	.remove = mremove,
	.remove_stamped = NULL,
	.resize = NULL,
	.barrier = NULL,
	.mem = mmem,
	.count = mcount,
};
