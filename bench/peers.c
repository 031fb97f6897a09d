/* SPDX-License-Identifier: MIT */
/* peers.c: the list of every peer compiled into bench/mapbench (and the broken ones for the self-test's negative controls). */

#include <stddef.h>

#include "peer.h"

extern const struct bench_peer peer_rcumap_memb, peer_rcumap_qsbr;
extern const struct bench_peer peer_rcumap_siphash_memb, peer_rcumap_siphash_qsbr;
extern const struct bench_peer peer_lfht_memb, peer_lfht_qsbr;
extern const struct bench_peer peer_rwlock, peer_mutex64;
extern const struct bench_peer peer_oa_unsync;
#ifdef HAVE_CK
extern const struct bench_peer peer_ck_ht;
#endif
#ifdef HAVE_TBB
extern const struct bench_peer peer_tbb;
#endif

#ifdef BENCH_BROKEN_PEER
/*
 * "broken": oa-unsync whose remove() reports success for every key
 * divisible by 7 without removing it. It exists only so that a test can
 * show that bench_selftest() fails a peer that is not a map.
 */
static int broken_remove(void *table, uint64_t key)
{
	if (key % 7 == 0)
		return peer_oa_unsync.get(table, key) != 0;
	return peer_oa_unsync.remove(table, key);
}

static int broken_create(const struct peer_params *p, void **table)
{
	return peer_oa_unsync.create(p, table);
}

static void broken_destroy(void *table)
{
	peer_oa_unsync.destroy(table);
}

static void broken_thread_op(void)
{
}

static void broken_run(void *table, const struct bench_work *w, struct bench_counts *out)
{
	peer_oa_unsync.run(table, w, out);
}

static uint64_t broken_get(void *table, uint64_t key)
{
	return peer_oa_unsync.get(table, key);
}

static int broken_insert(void *table, uint64_t key, uint64_t value)
{
	return peer_oa_unsync.insert(table, key, value);
}

static uint64_t broken_count(void *table)
{
	return peer_oa_unsync.count(table);
}

static int oa_remove(void *table, uint64_t key)
{
	return peer_oa_unsync.remove(table, key);
}

/* What both broken peers take from oa-unsync, through the wrappers above. */
#define BROKEN_PEER_COMMON(peer_name)						\
	.name = peer_name,							\
	.flavor = "-",								\
	.caps = PEER_UNSYNCHRONISED,						\
	.create = broken_create,						\
	.destroy = broken_destroy,						\
	.thread_init = broken_thread_op,					\
	.thread_fini = broken_thread_op,					\
	.run = broken_run,							\
	.get = broken_get,							\
	.insert = broken_insert,						\
	.count = broken_count

static const struct bench_peer peer_broken = {
	BROKEN_PEER_COMMON("broken"),
	.remove = broken_remove,
};

/*
 * "broken-batch": oa-unsync whose batched lookup answers only the first
 * BROKEN_BATCH_KEYS keys of a call and reports the rest absent (a batch
 * that forgets every group after the first), in get_batch and in its
 * lookup loop alike. Every other operation is oa-unsync's own, so the
 * self-test must catch it in its batch parts alone.
 */
#define BROKEN_BATCH_KEYS 8

#define BROKEN_NO_OP(t) ((void)(t))

static inline uint64_t broken_get_in(void *table, uint64_t key)
{
	return peer_oa_unsync.get(table, key);
}

static long broken_get_batch(void *table, unsigned n, struct bench_batch *b)
{
	long found = peer_oa_unsync.get_batch(table, n < BROKEN_BATCH_KEYS ? n : BROKEN_BATCH_KEYS, b);

	for (unsigned i = BROKEN_BATCH_KEYS; i < n; i++)
		b->val[i] = NULL;
	return found;
}

BENCH_DEFINE_LOOKUP_RUN(broken_run_lookups, void, BROKEN_NO_OP, BROKEN_NO_OP, BROKEN_NO_OP,
			broken_get_in, broken_get_batch)

static const struct bench_peer peer_broken_batch = {
	BROKEN_PEER_COMMON("broken-batch"),
	.remove = oa_remove,
	.run_lookups = broken_run_lookups,
	.get_batch = broken_get_batch,
};
#endif /* BENCH_BROKEN_PEER */

const struct bench_peer *const bench_peers[] = {
	&peer_rcumap_memb,
	&peer_rcumap_qsbr,
	&peer_rcumap_siphash_memb,
	&peer_rcumap_siphash_qsbr,
	&peer_lfht_memb,
	&peer_lfht_qsbr,
	&peer_rwlock,
	&peer_mutex64,
	&peer_oa_unsync,
#ifdef HAVE_CK
	&peer_ck_ht,
#endif
#ifdef HAVE_TBB
	&peer_tbb,
#endif
#ifdef BENCH_BROKEN_PEER
	&peer_broken,
	&peer_broken_batch,
#endif
	NULL
};
