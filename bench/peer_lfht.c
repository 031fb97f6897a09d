/* SPDX-License-Identifier: MIT */
/* peer_lfht.c: cds_lfht as a bench/mapbench peer, built twice: memb, and qsbr with -DPEER_QSBR. */

/*
 * cds_lfht used the way its documentation shows: the caller embeds a
 * struct cds_lfht_node and a struct rcu_head in its own node, computes the
 * hash (bench_hash) itself, inserts with cds_lfht_add_unique, removes with
 * cds_lfht_lookup + cds_lfht_del and frees the node through the flavor's
 * call_rcu. The table resizes itself (CDS_LFHT_AUTO_RESIZE, with
 * CDS_LFHT_ACCOUNTING so that it also grows on the element count, not only
 * on chain length).
 *
 * The rcu_head is the per-entry cost a cds_lfht user pays on top of the
 * table (user_bytes_per_entry).
 *
 * A table created with on_reclaim (reclamation runs) allocates a slightly
 * larger node that also points back at its table, for the callback; plain
 * tables keep the documented node, so the callback cannot find its table and
 * the pending-bytes counters are per flavor, not per table (see lmem).
 *
 * qsbr: the single operations (get, insert, ...) announce a quiescent state
 * after they leave their read section, so a thread that only uses them
 * (the reclamation run's remover) does not hold back grace periods.
 *
 * liburcu 0.13.2 defect (upstream master has the same order): the lazy resize
 * launcher sets resize_initiated only after queueing the work; when the
 * worker finishes first, the flag stays set and the table never resizes
 * itself again (until an explicit cds_lfht_resize). Seen here as a table
 * from presize 0 stuck at 4 buckets with 18000 entries. Growing-table runs
 * of these peers can therefore measure degenerate chains.
 *
 * destroy() frees the entries still present through the same callback, so
 * a tracking table reports them to on_reclaim with removed_ns 0 (as the
 * rcumap peer does).
 */

#define _LGPL_SOURCE 1	/* inline read_lock/unlock and quiescent_state */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef PEER_QSBR
#include <urcu/urcu-qsbr.h>
#define PEER_FLAVOR_NAME "qsbr"
#define PEER_NAME "lfht-qsbr"
#define PEER_SYM(x) x##_qsbr
#define PEER_QUIESCE() urcu_qsbr_quiescent_state()
#define PEER_OFFLINE() urcu_qsbr_thread_offline()
#define PEER_ONLINE() urcu_qsbr_thread_online()
#define PEER_IN_READ_SECTION() 0	/* online is the read section: fine */
#define PEER_RCU(x) urcu_qsbr_##x
#else
#include <urcu/urcu-memb.h>
#define PEER_FLAVOR_NAME "memb"
#define PEER_NAME "lfht-memb"
#define PEER_SYM(x) x##_memb
#define PEER_QUIESCE() ((void)0)
#define PEER_OFFLINE() ((void)0)
#define PEER_ONLINE() ((void)0)
#define PEER_IN_READ_SECTION() urcu_memb_read_ongoing()
#define PEER_RCU(x) urcu_memb_##x
#endif

#include <urcu/rculfhash.h>

#include "peer.h"

/* The node the cds_lfht documentation asks its users to write. */
struct lnode {
	uint64_t key;
	uint64_t value;
	uint64_t removed_ns;	/* remove_stamped: written before cds_lfht_del */
	struct cds_lfht_node node;
	struct rcu_head rcu;
};

struct ltable;

/* A node of a table created with on_reclaim: the callback needs the table. */
struct ltnode {
	struct lnode n;
	struct ltable *t;
};

struct ltable {
	struct cds_lfht *ht;
	unsigned long init_size;	/* buckets at creation, a power of two */
	int tracking;			/* nodes are struct ltnode */
	void (*on_reclaim)(uint64_t value, uint64_t removed_ns, void *arg);
	void *on_reclaim_arg;
};

/*
 * Retired and reclaimed node bytes, striped per thread so that removers do
 * not share one counter line (which would tax cds_lfht with contention it
 * does not have itself). Per flavor, not per table: a plain node cannot
 * name its table. destroy() waits for every callback, so a counter pair is
 * balanced again when a table is gone.
 */
#define LSTRIPES 16

struct lstripe {
	uint64_t retired;	/* bytes given to call_rcu */
	uint64_t reclaimed;	/* bytes freed by the callbacks */
} __attribute__((aligned(64)));

static struct lstripe lstripes[LSTRIPES];
static unsigned lnext_stripe;
static __thread unsigned ltls_stripe;	/* 1 + this thread's stripe; 0: unset */

static struct lstripe *lstripe(void)
{
	if (!ltls_stripe)
		/* Only spreads threads over stripes: orders nothing. */
		ltls_stripe = 1 + __atomic_fetch_add(&lnext_stripe, 1, __ATOMIC_RELAXED) % LSTRIPES;
	return &lstripes[ltls_stripe - 1];
}

static inline size_t lnode_size(const struct ltable *t)
{
	return t->tracking ? sizeof(struct ltnode) : sizeof(struct lnode);
}

static int lmatch(struct cds_lfht_node *node, const void *key)
{
	const struct lnode *n = caa_container_of(node, struct lnode, node);

	return n->key == *(const uint64_t *)key;
}

static void lfree_plain(struct rcu_head *head)
{
	struct lnode *n = caa_container_of(head, struct lnode, rcu);

	free(n);
	/* Statistics, read by lmem's relaxed loads: orders nothing. */
	__atomic_fetch_add(&lstripe()->reclaimed, sizeof(struct lnode), __ATOMIC_RELAXED);
}

static void lfree_tracked(struct rcu_head *head)
{
	struct ltnode *tn = caa_container_of(head, struct ltnode, n.rcu);
	struct ltable *t = tn->t;

	t->on_reclaim(tn->n.value, tn->n.removed_ns, t->on_reclaim_arg);
	free(tn);
	/* Statistics, read by lmem's relaxed loads: orders nothing. */
	__atomic_fetch_add(&lstripe()->reclaimed, sizeof(struct ltnode), __ATOMIC_RELAXED);
}

/* After a successful cds_lfht_del: the node goes once a grace period ends. */
static inline void lretire(struct ltable *t, struct lnode *n)
{
	/* Statistics, read by lmem's relaxed loads: orders nothing. */
	__atomic_fetch_add(&lstripe()->retired, lnode_size(t), __ATOMIC_RELAXED);
	PEER_RCU(call_rcu)(&n->rcu, t->tracking ? lfree_tracked : lfree_plain);
}

static int lcreate(const struct peer_params *p, void **table)
{
	struct ltable *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->init_size = pow2_at_least(p->presize, 1);
	t->tracking = p->on_reclaim != NULL;
	t->on_reclaim = p->on_reclaim;
	t->on_reclaim_arg = p->on_reclaim_arg;
	t->ht = cds_lfht_new_flavor(t->init_size, 1, 0,
				    CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
				    &PEER_RCU(flavor), NULL);
	if (!t->ht) {
		free(t);
		return -ENOMEM;
	}
	*table = t;
	return 0;
}

static void ldestroy(void *table)
{
	struct ltable *t = table;
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;

	/* Not cds_lfht_for_each_entry: it applies container_of to the
	 * final NULL, which UBSan rightly flags. */
	PEER_RCU(read_lock)();
	for (cds_lfht_first(t->ht, &iter); (node = cds_lfht_iter_get_node(&iter));
	     cds_lfht_next(t->ht, &iter)) {
		if (cds_lfht_del(t->ht, node) == 0)
			lretire(t, caa_container_of(node, struct lnode, node));
	}
	PEER_RCU(read_unlock)();
	/* Every callback (they use t) has run; qsbr: goes offline itself. */
	PEER_RCU(barrier)();
	/* qsbr: destroy waits for a queued resize, which waits for a grace
	 * period: not as an online reader. */
	PEER_OFFLINE();
	cds_lfht_destroy(t->ht, NULL);	/* empty now: cannot fail with -EPERM */
	PEER_ONLINE();
	free(t);
}

static void lthread_init(void)
{
	PEER_RCU(register_thread)();
}

static void lthread_fini(void)
{
	PEER_RCU(unregister_thread)();
}

static inline void llock(struct ltable *t)
{
	(void)t;
	PEER_RCU(read_lock)();
}

static inline void lunlock(struct ltable *t)
{
	(void)t;
	PEER_RCU(read_unlock)();
}

static inline void lquiesce(struct ltable *t)
{
	(void)t;
	PEER_QUIESCE();
}

/* Inside the read section. */
static inline struct lnode *lfind(struct ltable *t, uint64_t key)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;

	cds_lfht_lookup(t->ht, bench_hash(key), lmatch, &key, &iter);
	node = cds_lfht_iter_get_node(&iter);
	return node ? caa_container_of(node, struct lnode, node) : NULL;
}

static inline uint64_t lget_in(struct ltable *t, uint64_t key)
{
	/* cds_lfht_lookup is the rcu_dereference of the node. */
	struct lnode *n = lfind(t, key);

	return n ? n->value : 0;
}

static inline int linsert_in(struct ltable *t, uint64_t key, uint64_t value)
{
	struct lnode *n = malloc(lnode_size(t));
	struct cds_lfht_node *got;

	if (!n)
		return -ENOMEM;
	n->key = key;
	n->value = value;
	n->removed_ns = 0;
	if (t->tracking)
		((struct ltnode *)n)->t = t;
	cds_lfht_node_init(&n->node);
	/* Publishes the node (cds_lfht_add_unique is a release of its fields). */
	got = cds_lfht_add_unique(t->ht, bench_hash(key), lmatch, &key, &n->node);
	if (got != &n->node) {
		free(n);	/* never published */
		return 0;
	}
	return 1;
}

static inline int lremove_in(struct ltable *t, uint64_t key)
{
	struct lnode *n = lfind(t, key);

	/* -ENOENT: a concurrent remover won; it retires the node. */
	if (!n || cds_lfht_del(t->ht, &n->node) != 0)
		return 0;
	lretire(t, n);
	return 1;
}

BENCH_DEFINE_RUN(lrun, struct ltable, llock, lunlock, lquiesce, lget_in, linsert_in, lremove_in)

static uint64_t lget(void *table, uint64_t key)
{
	uint64_t v;

	PEER_RCU(read_lock)();
	v = lget_in(table, key);
	PEER_RCU(read_unlock)();
	PEER_QUIESCE();
	return v;
}

static int linsert(void *table, uint64_t key, uint64_t value)
{
	int ret;

	PEER_RCU(read_lock)();
	ret = linsert_in(table, key, value);
	PEER_RCU(read_unlock)();
	PEER_QUIESCE();
	return ret;
}

static int lremove(void *table, uint64_t key)
{
	int ret;

	PEER_RCU(read_lock)();
	ret = lremove_in(table, key);
	PEER_RCU(read_unlock)();
	PEER_QUIESCE();
	return ret;
}

static int lremove_stamped(void *table, uint64_t key, uint64_t now_ns)
{
	struct ltable *t = table;
	struct lnode *n;
	int ret = 0;

	PEER_RCU(read_lock)();
	n = lfind(t, key);
	if (n) {
		/* Plain store: the key has one writer (reclamation runs
		 * partition keys) and the callback reads it after a grace
		 * period that began after the del below. */
		n->removed_ns = now_ns;
		if (cds_lfht_del(t->ht, &n->node) == 0) {
			lretire(t, n);
			ret = 1;
		}
	}
	PEER_RCU(read_unlock)();
	PEER_QUIESCE();
	return ret;
}

/* Exact when quiet; walks the whole table (O(n)). */
static uint64_t lcount(void *table)
{
	struct ltable *t = table;
	long before, after;
	unsigned long n;

	PEER_RCU(read_lock)();
	cds_lfht_count_nodes(t->ht, &before, &n, &after);
	PEER_RCU(read_unlock)();
	PEER_QUIESCE();
	return n;
}

/*
 * Outside any read section (memb), from a registered thread. 0: one bucket
 * per entry, what CDS_LFHT_ACCOUNTING's own resize keeps.
 */
static int lresize(void *table, uint64_t buckets)
{
	struct ltable *t = table;

	if (PEER_IN_READ_SECTION())
		return -EDEADLK;	/* would wait for its own read section */
	if (buckets == 0)
		buckets = lcount(table);
	/*
	 * Waits for the resize worker, which waits for grace periods: an
	 * online qsbr caller would hold those up for ever (seen here).
	 */
	PEER_OFFLINE();
	cds_lfht_resize(t->ht, pow2_at_least(buckets, 1));
	PEER_ONLINE();
	return 0;
}

static void lbarrier(void *table)
{
	(void)table;
	PEER_RCU(barrier)();	/* qsbr: goes offline for the wait itself */
}

/*
 * live: the nodes plus the bucket nodes, whose number cds_lfht does not
 * publish: estimated as the entry count rounded up to a power of two (the
 * accounting resize keeps about one entry per bucket), at least the initial
 * size. Each bucket is a struct cds_lfht_node in the bucket table.
 * pending: the flavor's retired minus reclaimed node bytes (every lfht table
 * of this flavor together; see struct lstripe).
 */
static void lmem(void *table, struct peer_mem *out)
{
	struct ltable *t = table;
	uint64_t n = lcount(table), buckets = pow2_at_least(n, 1), retired = 0, reclaimed = 0;

	if (buckets < t->init_size)
		buckets = t->init_size;
	out->live_bytes = n * lnode_size(t) + buckets * sizeof(struct cds_lfht_node);
	for (int i = 0; i < LSTRIPES; i++) {
		/* Statistics; pairs with the relaxed adds: orders nothing. */
		retired += __atomic_load_n(&lstripes[i].retired, __ATOMIC_RELAXED);
		reclaimed += __atomic_load_n(&lstripes[i].reclaimed, __ATOMIC_RELAXED);
	}
	/* Racy sums can cross: never report a negative amount. */
	out->pending_bytes = retired > reclaimed ? retired - reclaimed : 0;
}

const struct bench_peer PEER_SYM(peer_lfht) = {
	.name = PEER_NAME,
	.flavor = PEER_FLAVOR_NAME,
	.caps = PEER_CONCURRENT_WRITES | PEER_CAN_RESIZE | PEER_TRACKS_RECLAIM,
	.user_bytes_per_entry = sizeof(struct rcu_head),
	.create = lcreate,
	.destroy = ldestroy,
	.thread_init = lthread_init,
	.thread_fini = lthread_fini,
	.run = lrun,
	.get = lget,
	.insert = linsert,
	.remove = lremove,
	.remove_stamped = lremove_stamped,
	.resize = lresize,
	.barrier = lbarrier,
	.mem = lmem,
	.count = lcount,
};
