/* SPDX-License-Identifier: MIT */
/* peer_rcumap.c: rcumap as a bench/mapbench peer, built twice: memb, and qsbr with -DPEER_QSBR. */

/*
 * Two peers per flavor: "rcumap-<flavor>" given bench_hash through
 * config.hash, like every other peer, and "rcumap-<flavor>-siphash" with the
 * map's default keyed hash (AES rounds where the CPU has them, else
 * SipHash-1-3; the peer keeps the name it had when the default was SipHash).
 *
 * Values are the bench value itself stored as the pointer. Only a table
 * created with on_reclaim (reclamation runs) stores a small object per value
 * instead, which records the removal time for free_value.
 */

#define _LGPL_SOURCE 1	/* inline read_lock/unlock and quiescent_state */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef PEER_QSBR
#include <urcu/urcu-qsbr.h>
#define PEER_FLAVOR_NAME "qsbr"
#define PEER_NAME(suffix) "rcumap-qsbr" suffix
#define PEER_SYM(x) x##_qsbr
#define PEER_QUIESCE() urcu_qsbr_quiescent_state()
#define PEER_RCU(x) urcu_qsbr_##x
#else
#include <urcu/urcu-memb.h>
#define PEER_FLAVOR_NAME "memb"
#define PEER_NAME(suffix) "rcumap-memb" suffix
#define PEER_SYM(x) x##_memb
#define PEER_QUIESCE() ((void)0)
#define PEER_RCU(x) urcu_memb_##x
#endif

#include <rcumap.h>

#include "peer.h"

struct rtable {
	struct rcumap *map;
	int tracking;		/* values are struct rvalue (on_reclaim set) */
	void (*on_reclaim)(uint64_t value, uint64_t removed_ns, void *arg);
	void *on_reclaim_arg;
};

/* A value in a tracking table. */
struct rvalue {
	uint64_t value;
	uint64_t removed_ns;	/* written by remove_stamped before the delete */
};

static uint64_t rhash(const void *key, size_t len, void *arg)
{
	uint64_t k;

	(void)arg;
	(void)len;	/* always 8 */
	memcpy(&k, key, sizeof(k));
	return bench_hash(k);
}

static void rfree_value(void *value, void *arg)
{
	struct rtable *t = arg;
	struct rvalue *v = value;

	if (!t->tracking)
		return;
	t->on_reclaim(v->value, v->removed_ns, t->on_reclaim_arg);
	free(v);
}

static int rcreate(const struct peer_params *p, void **table, int siphash)
{
	struct rcumap_config config;
	struct rtable *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return -ENOMEM;
	memset(&config, 0, sizeof(config));
	config.flavor = &PEER_RCU(flavor);
	if (!siphash)
		config.hash = rhash;
	t->tracking = p->on_reclaim != NULL;
	t->on_reclaim = p->on_reclaim;
	t->on_reclaim_arg = p->on_reclaim_arg;
	config.free_value = rfree_value;
	config.free_value_arg = t;
	/* A load of at most 1, where the automatic policy leaves a table
	 * after it grows (docs/design.md, "Resize policy"). */
	config.min_slots = (size_t)p->presize;
	err = rcumap_create(&config, &t->map);
	if (err) {
		free(t);
		return err;
	}
	*table = t;
	return 0;
}

static int rcreate_own(const struct peer_params *p, void **table)
{
	return rcreate(p, table, 0);
}

static int rcreate_siphash(const struct peer_params *p, void **table)
{
	return rcreate(p, table, 1);
}

static void rdestroy(void *table)
{
	struct rtable *t = table;

	rcumap_destroy(t->map);
	free(t);
}

static void rthread_init(void)
{
	PEER_RCU(register_thread)();
}

static void rthread_fini(void)
{
	PEER_RCU(unregister_thread)();
}

static inline void rlock(struct rtable *t)
{
	(void)t;
	PEER_RCU(read_lock)();
}

static inline void runlock(struct rtable *t)
{
	(void)t;
	PEER_RCU(read_unlock)();
}

static inline void rquiesce(struct rtable *t)
{
	(void)t;
	PEER_QUIESCE();
}

/* Inside the read section. */
static inline uint64_t rget_in(struct rtable *t, uint64_t key)
{
	void *v = rcumap_get(t->map, &key, sizeof(key));

	if (__builtin_expect(t->tracking, 0) && v)
		return ((const struct rvalue *)v)->value;
	return (uint64_t)(uintptr_t)v;
}

static inline int rinsert_in(struct rtable *t, uint64_t key, uint64_t value)
{
	void *v = (void *)(uintptr_t)value;
	int err;

	if (t->tracking) {
		struct rvalue *rv = malloc(sizeof(*rv));

		if (!rv)
			return -ENOMEM;
		rv->value = value;
		rv->removed_ns = 0;
		v = rv;
	}
	err = rcumap_insert(t->map, &key, sizeof(key), v);
	if (err && t->tracking)
		free(v);
	return err == 0 ? 1 : err == -EEXIST ? 0 : err;
}

static inline int rremove_in(struct rtable *t, uint64_t key)
{
	int err = rcumap_delete(t->map, &key, sizeof(key));

	return err == 0 ? 1 : err == -ENOENT ? 0 : err;
}

BENCH_DEFINE_RUN(rrun, struct rtable, rlock, runlock, rquiesce, rget_in, rinsert_in, rremove_in)

/* Inside the read section: one rcumap_get_batch over b's arrays. */
static inline long rget_batch_in(struct rtable *t, unsigned n, struct bench_batch *b)
{
	long found = rcumap_get_batch(t->map, n, b->ptr, b->len, b->val);

	if (__builtin_expect(t->tracking, 0) && found > 0)
		for (unsigned i = 0; i < n; i++)
			if (b->val[i])
				b->val[i] = (void *)(uintptr_t)((const struct rvalue *)b->val[i])->value;
	return found;
}

BENCH_DEFINE_LOOKUP_RUN(rrun_lookups, struct rtable, rlock, runlock, rquiesce, rget_in,
			rget_batch_in)

/*
 * The single operations end with a quiescent state (qsbr), so that a thread
 * using only them never holds back grace periods.
 */
static uint64_t rget(void *table, uint64_t key)
{
	uint64_t v;

	PEER_RCU(read_lock)();
	v = rget_in(table, key);
	PEER_RCU(read_unlock)();
	PEER_QUIESCE();
	return v;
}

static long rget_batch(void *table, unsigned n, struct bench_batch *b)
{
	long found;

	PEER_RCU(read_lock)();
	found = rget_batch_in(table, n, b);
	PEER_RCU(read_unlock)();
	PEER_QUIESCE();
	return found;
}

static int rinsert(void *table, uint64_t key, uint64_t value)
{
	int rc = rinsert_in(table, key, value);

	PEER_QUIESCE();
	return rc;
}

static int rremove(void *table, uint64_t key)
{
	int rc = rremove_in(table, key);

	PEER_QUIESCE();
	return rc;
}

/* The caller is the only writer of this key (reclamation runs partition keys). */
static int rremove_stamped(void *table, uint64_t key, uint64_t now_ns)
{
	struct rtable *t = table;
	struct rvalue *v;
	int err;

	if (!t->tracking)
		return -EINVAL;
	PEER_RCU(read_lock)();
	v = rcumap_get(t->map, &key, sizeof(key));
	if (!v) {
		PEER_RCU(read_unlock)();
		PEER_QUIESCE();
		return 0;
	}
	/* Plain store: the key has one writer, and free_value reads it
	 * after a grace period that began after delete_if's publication. */
	v->removed_ns = now_ns;
	err = rcumap_delete_if(t->map, &key, sizeof(key), v);
	PEER_RCU(read_unlock)();
	PEER_QUIESCE();
	return err == 0 ? 1 : (err == -ENOENT || err == -EAGAIN) ? 0 : err;
}

/* The bulk run's read section and in-section insert (peer.h). */
static void rread_lock(void)
{
	PEER_RCU(read_lock)();
}

static void rread_unlock(void)
{
	PEER_RCU(read_unlock)();
}

static int rinsert_held(void *table, uint64_t key, uint64_t value)
{
	return rinsert_in(table, key, value);
}

/* 0: rcumap_resize's own "size the policy picks". */
static int rresize(void *table, uint64_t buckets)
{
	struct rtable *t = table;

	return rcumap_resize(t->map, (size_t)buckets);
}

static void rbarrier(void *table)
{
	struct rtable *t = table;

	rcumap_barrier(t->map);
}

static void rmem(void *table, struct peer_mem *out)
{
	struct rtable *t = table;
	struct rcumap_stats s;
	uint64_t retired = 0, reclaimed = 0;

	memset(out, 0, sizeof(*out));
	if (rcumap_stats(t->map, &s))
		return;
	for (int k = 0; k < RCUMAP_STATS_KINDS; k++) {
		retired += s.kind[k].retired_bytes;
		reclaimed += s.kind[k].reclaimed_bytes;
	}
	out->pending_bytes = retired - reclaimed;
	/* Live bytes are not in the stats: the caller measures RSS. */
}

static uint64_t rcount(void *table)
{
	struct rtable *t = table;

	return rcumap_count(t->map);
}

#define RCUMAP_PEER(sym, suffix, create_fn)					\
	const struct bench_peer PEER_SYM(sym) = {				\
		.name = PEER_NAME(suffix),					\
		.flavor = PEER_FLAVOR_NAME,					\
		.caps = PEER_CONCURRENT_WRITES | PEER_CAN_RESIZE | PEER_TRACKS_RECLAIM, \
		.create = create_fn,						\
		.destroy = rdestroy,						\
		.thread_init = rthread_init,					\
		.thread_fini = rthread_fini,					\
		.run = rrun,							\
		.get = rget,							\
		.insert = rinsert,						\
		.remove = rremove,						\
		.remove_stamped = rremove_stamped,				\
		.resize = rresize,						\
		.barrier = rbarrier,						\
		.mem = rmem,							\
		.count = rcount,						\
		.read_lock = rread_lock,					\
		.read_unlock = rread_unlock,					\
		.insert_held = rinsert_held,					\
		.run_lookups = rrun_lookups,					\
		.get_batch = rget_batch,					\
	};

RCUMAP_PEER(peer_rcumap, "", rcreate_own)
RCUMAP_PEER(peer_rcumap_siphash, "-siphash", rcreate_siphash)
