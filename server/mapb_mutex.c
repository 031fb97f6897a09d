/* SPDX-License-Identifier: MIT */
/* mapb_mutex.c: a 64-shard mutex table behind mapb.h, for server/rcumapd-mutex (the library A/B). */

/*
 * 64 shards, chosen by the top 6 bits of the key's hash (mapb_hash), each a
 * pthread_mutex_t over a chained hash table: a power-of-two array of bucket
 * heads indexed by the low bits of the hash, doubled (rehashed under the
 * shard's mutex) when the entries outnumber the buckets. Every call takes
 * the mutex of the key's shard, lookups included: this is the locked design
 * the library A/B measures rcumap against (bench/mapbench's "mutex64" is the
 * same table).
 *
 * RCU only where store.c's contract needs it: a value returned by mapb_get
 * must stay valid until the caller's read section ends. So a removed node
 * and a replaced value are not freed at once but handed to the flavor's
 * call_rcu (a replaced value rides in a small carrier node); the callback
 * passes the value to free_value and frees the node. Bucket arrays are
 * freed at once: nothing reads them without the mutex.
 *
 * scan: the cursor is (shard << 26) | position, the position being the
 * top 26 bits of the bit-reversed low 32 bits of the hash. Within a shard,
 * buckets are visited in bit-reversed index order, in which a bucket of a
 * 2^k table holds exactly the keys of one interval of positions, and a
 * doubling or halving only splits or merges intervals. A call gathers
 * whole buckets under the mutex, then calls fn with the mutex released (fn
 * may update the map), inside a read section that keeps the gathered nodes
 * and values alive. Keys before the cursor's position are filtered out of
 * its first bucket, so a traversal does not see a key twice across
 * resizes; still, as for the lfht backend, the exactly-once guarantee of
 * rcumap.h (T2, T3) is not promised for these A/B maps.
 */

#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/call-rcu.h>
#include <urcu/compiler.h>

#include "mapb.h"

#define MSHARD_BITS 6
#define MSHARDS (1u << MSHARD_BITS)
/* Position bits per shard: a cursor is MSHARD_BITS + MPOS_BITS = 32 bits. */
#define MPOS_BITS 26
#define MMIN_BUCKETS 8
/* A shard never has more buckets than positions (2^26: 4G buckets in all). */
#define MMAX_BUCKETS ((uint64_t)1 << MPOS_BITS)
/* Buckets a scan call looks at before it returns with fewer entries. */
#define MSCAN_BUCKETS 16384
/* Entries gathered per mutex hold in a scan (a longer bucket grows the array). */
#define MGATHER 128

_Static_assert(MSHARD_BITS + MPOS_BITS == 32, "a cursor is below 2^32");

struct mnode {
	struct mnode *next;           /* chain; under the shard's mutex */
	void *value;                  /* under the shard's mutex */
	uint64_t hash;
	struct mapb *m;               /* the callback's way back to free_value */
	struct rcu_head rcu;
	size_t klen;
	char key[];
};

struct mshard {
	pthread_mutex_t lock;
	struct mnode **b;             /* mask + 1 bucket heads; under lock */
	uint64_t mask;                /* under lock; read relaxed by mapb_stats */
	uint64_t count;               /* under lock; read relaxed by mapb_count */
	uint64_t grows;               /* under lock; read relaxed by mapb_stats */
} __attribute__((aligned(64)));

struct mapb {
	struct mshard shard[MSHARDS];
	struct mapb_stripe stripe[MAPB_STRIPES]; /* retired and reclaimed counts */
	struct mapb_rcu rcu;          /* flavor, free_value, seed */
};

static struct mshard *shard_of(struct mapb *m, uint64_t hash)
{
	return &m->shard[hash >> (64 - MSHARD_BITS)];
}

/* A key's position within its shard, in scan order. */
static uint64_t mpos(uint64_t hash)
{
	return mapb_rev32((uint32_t)hash) >> (32 - MPOS_BITS);
}

static unsigned log2_of(uint64_t pow2)
{
	return (unsigned)__builtin_ctzll(pow2);
}

static struct mnode *mnode_new(struct mapb *m, const void *key, size_t len, uint64_t hash,
			       void *value)
{
	struct mnode *n = malloc(sizeof(*n) + len);

	if (!n)
		return NULL;
	n->next = NULL;
	n->value = value;
	n->hash = hash;
	n->m = m;
	n->klen = len;
	if (len)
		memcpy(n->key, key, len);
	return n;
}

/* call_rcu callback: the grace period after the removal has ended. */
static void mfree_cb(struct rcu_head *head)
{
	struct mnode *n = caa_container_of(head, struct mnode, rcu);
	struct mapb *m = n->m;

	if (m->rcu.free_value)
		m->rcu.free_value(n->value, m->rcu.free_value_arg);
	mapb_stripe_reclaimed(m->stripe, sizeof(*n) + n->klen);
	free(n);
}

/* Hand n and n->value to call_rcu; n is unlinked (or a carrier, never linked). */
static void mretire(struct mapb *m, struct mnode *n)
{
	mapb_stripe_retired(m->stripe, sizeof(*n) + n->klen);
	m->rcu.flavor->update_call_rcu(&n->rcu, mfree_cb);
}

/* The link that points at the key's node, or at the NULL ending its chain. Under lock. */
static struct mnode **mfind(struct mshard *s, uint64_t hash, const void *key, size_t len)
{
	struct mnode **pp = &s->b[hash & s->mask];

	for (; *pp; pp = &(*pp)->next) {
		const struct mnode *n = *pp;

		if (n->hash == hash && n->klen == len && (len == 0 || !memcmp(n->key, key, len)))
			break;
	}
	return pp;
}

/* Rehash shard s into @buckets heads. Under lock. No memory: stays as it is. */
static void mrehash(struct mshard *s, uint64_t buckets)
{
	struct mnode **nb = calloc(buckets, sizeof(*nb));

	if (!nb)
		return;
	for (uint64_t i = 0; i <= s->mask; i++) {
		struct mnode *n = s->b[i], *next;

		for (; n; n = next) {
			next = n->next;
			n->next = nb[n->hash & (buckets - 1)];
			nb[n->hash & (buckets - 1)] = n;
		}
	}
	free(s->b);
	s->b = nb;
	if (buckets > s->mask + 1)
		st_relaxed(&s->grows, s->grows + 1); /* read by mapb_stats */
	st_relaxed(&s->mask, buckets - 1); /* read by mapb_stats */
}

static void mlink(struct mshard *s, struct mnode **pp, struct mnode *n)
{
	n->next = NULL;
	*pp = n;
	st_relaxed(&s->count, s->count + 1); /* read by mapb_count */
	if (s->count > s->mask + 1 && s->mask + 1 < MMAX_BUCKETS)
		mrehash(s, (s->mask + 1) * 2);
}

int mapb_create(const struct rcumap_config *config, struct mapb **out)
{
	struct mapb *m;
	void *p;
	unsigned i;

	if (!mapb_create_args_ok(config, out))
		return -EINVAL;
	/* Aligned: each shard has its own cache lines. */
	if (posix_memalign(&p, 64, sizeof(*m)))
		return -ENOMEM;
	m = p;
	memset(m, 0, sizeof(*m));
	mapb_rcu_init(&m->rcu, config);
	for (i = 0; i < MSHARDS; i++) {
		struct mshard *s = &m->shard[i];

		s->b = calloc(MMIN_BUCKETS, sizeof(*s->b));
		if (!s->b || pthread_mutex_init(&s->lock, NULL)) {
			free(s->b);
			break;
		}
		s->mask = MMIN_BUCKETS - 1;
	}
	if (i < MSHARDS) {
		while (i--) {
			pthread_mutex_destroy(&m->shard[i].lock);
			free(m->shard[i].b);
		}
		free(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

void *mapb_get(struct mapb *m, const void *key, size_t len)
{
	struct mshard *s;
	struct mnode *n;
	uint64_t hash;
	void *v;

	if (!m || !mapb_key_ok(key, len))
		return NULL;
	hash = mapb_hash(m->rcu.seed, key, len);
	s = shard_of(m, hash);
	pthread_mutex_lock(&s->lock);
	n = *mfind(s, hash, key, len);
	v = n ? n->value : NULL;
	pthread_mutex_unlock(&s->lock);
	return v;
}

int mapb_insert(struct mapb *m, const void *key, size_t len, void *value)
{
	struct mshard *s;
	struct mnode *n, **pp;
	uint64_t hash;

	if (!m || !mapb_key_ok(key, len) || !value)
		return -EINVAL;
	hash = mapb_hash(m->rcu.seed, key, len);
	n = mnode_new(m, key, len, hash, value); /* before the lock: a short hold */
	if (!n)
		return -ENOMEM;
	s = shard_of(m, hash);
	pthread_mutex_lock(&s->lock);
	pp = mfind(s, hash, key, len);
	if (*pp) {
		pthread_mutex_unlock(&s->lock);
		free(n); /* never published */
		return -EEXIST;
	}
	mlink(s, pp, n);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/*
 * mapb_store (mapb.h). The old value leaves in a carrier node: the new
 * node built for an insert, which was not needed.
 */
int mapb_store(struct mapb *m, const void *key, size_t len, void *expected, void *desired)
{
	uint64_t hash = mapb_hash(m->rcu.seed, key, len);
	struct mshard *s = shard_of(m, hash);
	/* A put may insert: it needs the key copy; a cas only carries the old value. */
	struct mnode *nn = mnode_new(m, key, expected ? 0 : len, hash, desired), *old, **pp;
	int rc = 0;

	if (!nn)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	pp = mfind(s, hash, key, len);
	old = *pp;
	if (!old && expected) {
		rc = -ENOENT;
	} else if (old && expected && old->value != expected) {
		rc = -EAGAIN;
	} else if (old && old->value == desired) {
		rc = 0; /* storing the value already stored changes nothing */
	} else if (old) {
		nn->value = old->value;
		old->value = desired;
		pthread_mutex_unlock(&s->lock);
		mretire(m, nn); /* the old value, after a grace period */
		return 0;
	} else {
		mlink(s, pp, nn);
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	pthread_mutex_unlock(&s->lock);
	free(nn); /* never published */
	return rc;
}

int mapb_delete_if(struct mapb *m, const void *key, size_t len, void *expected)
{
	struct mshard *s;
	struct mnode *n, **pp;
	uint64_t hash;

	if (!m || !mapb_key_ok(key, len) || !expected)
		return -EINVAL;
	hash = mapb_hash(m->rcu.seed, key, len);
	s = shard_of(m, hash);
	pthread_mutex_lock(&s->lock);
	pp = mfind(s, hash, key, len);
	n = *pp;
	if (!n || n->value != expected) {
		pthread_mutex_unlock(&s->lock);
		return n ? -EAGAIN : -ENOENT;
	}
	*pp = n->next;
	st_relaxed(&s->count, s->count - 1); /* read by mapb_count */
	pthread_mutex_unlock(&s->lock);
	mretire(m, n);
	return 0;
}

/* What a scan call gathered under a shard's mutex, for fn outside it. */
struct mgather {
	struct mnode **node;
	void **value;
	size_t n;
	size_t cap;
	struct mnode *node0[MGATHER];
	void *value0[MGATHER];
};

static int gather_add(struct mgather *g, struct mnode *n)
{
	if (g->n == g->cap) {
		size_t cap = g->cap * 2;
		struct mnode **nn = malloc(cap * sizeof(*nn));
		void **nv = malloc(cap * sizeof(*nv));

		if (!nn || !nv) {
			free(nn);
			free(nv);
			return -ENOMEM;
		}
		memcpy(nn, g->node, g->n * sizeof(*nn));
		memcpy(nv, g->value, g->n * sizeof(*nv));
		if (g->node != g->node0) {
			free(g->node);
			free(g->value);
		}
		g->node = nn;
		g->value = nv;
		g->cap = cap;
	}
	g->node[g->n] = n;
	g->value[g->n] = n->value; /* under the mutex: the value of that instant */
	g->n++;
	return 0;
}

int mapb_scan(struct mapb *m, uint64_t *cursor, size_t max_entries, rcumap_scan_fn fn,
	      void *arg)
{
	struct mgather g;
	uint64_t shard, pos;
	size_t seen = 0, looked = 0;
	int rc = 0;

	if (!m || !cursor || !fn || !max_entries || *cursor >= ((uint64_t)1 << 32))
		return -EINVAL;
	g.node = g.node0;
	g.value = g.value0;
	g.cap = MGATHER;
	shard = *cursor >> MPOS_BITS;
	pos = *cursor & (MMAX_BUCKETS - 1);
	/* Keeps the gathered nodes and values alive while fn runs unlocked. */
	m->rcu.flavor->read_lock();
	while (shard < MSHARDS && seen < max_entries && looked < MSCAN_BUCKETS && rc == 0) {
		struct mshard *s = &m->shard[shard];
		uint64_t from = pos;

		g.n = 0;
		pthread_mutex_lock(&s->lock);
		{
			unsigned k = log2_of(s->mask + 1);
			uint64_t j = pos >> (MPOS_BITS - k); /* interval index */

			/* Whole buckets only, until the wanted entries or a full array. */
			while (j <= s->mask && seen + g.n < max_entries && g.n < MGATHER &&
			       looked < MSCAN_BUCKETS) {
				struct mnode *n = s->b[mapb_rev32((uint32_t)j) >> (32 - k)];

				for (; n && rc == 0; n = n->next)
					if (mpos(n->hash) >= from)
						rc = gather_add(&g, n);
				if (rc)
					break;
				looked++;
				j++;
				pos = j << (MPOS_BITS - k);
			}
			if (j > s->mask) {
				shard++;
				pos = 0;
			}
		}
		pthread_mutex_unlock(&s->lock);
		for (size_t i = 0; i < g.n; i++) {
			struct mnode *n = g.node[i];

			fn(n->key, n->klen, g.value[i], arg);
		}
		seen += g.n;
	}
	m->rcu.flavor->read_unlock();
	if (g.node != g.node0) {
		free(g.node);
		free(g.value);
	}
	if (rc)
		return rc; /* -ENOMEM: the cursor stays where it was */
	*cursor = shard < MSHARDS ? shard << MPOS_BITS | pos : 0;
	return 0;
}

size_t mapb_count(const struct mapb *m)
{
	size_t n = 0;

	if (!m)
		return 0;
	for (unsigned i = 0; i < MSHARDS; i++)
		n += ld_relaxed(&m->shard[i].count); /* one by one, as rcumap_count */
	return n;
}

/* Unlink every node of shard s and retire it. */
static void mclear_shard(struct mapb *m, struct mshard *s)
{
	struct mnode *all = NULL, *n, *next;

	pthread_mutex_lock(&s->lock);
	for (uint64_t i = 0; i <= s->mask; i++) {
		for (n = s->b[i]; n; n = next) {
			next = n->next;
			n->next = all;
			all = n;
		}
		s->b[i] = NULL;
	}
	st_relaxed(&s->count, 0); /* read by mapb_count */
	pthread_mutex_unlock(&s->lock);
	for (n = all; n; n = next) {
		next = n->next;
		mretire(m, n);
	}
}

int mapb_clear(struct mapb *m)
{
	if (!m)
		return -EINVAL;
	for (unsigned i = 0; i < MSHARDS; i++)
		mclear_shard(m, &m->shard[i]);
	return 0;
}

int mapb_stats(const struct mapb *m, struct rcumap_stats *out)
{
	if (!m || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	mapb_stripes_read(m->stripe, out);
	out->entries = mapb_count(m);
	for (unsigned i = 0; i < MSHARDS; i++) {
		/* Read one by one without the mutexes: not one snapshot. */
		out->slots += ld_relaxed(&m->shard[i].mask) + 1;
		out->grows += ld_relaxed(&m->shard[i].grows);
	}
	return 0;
}

int mapb_barrier(struct mapb *m)
{
	if (!m)
		return -EINVAL;
	return mapb_rcu_barrier(&m->rcu);
}

int mapb_resize(struct mapb *m, size_t slots)
{
	if (!m || slots > RCUMAP_SLOTS_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < MSHARDS; i++) {
		struct mshard *s = &m->shard[i];
		uint64_t want, p = MMIN_BUCKETS;

		pthread_mutex_lock(&s->lock);
		/* 0: what the growth rule keeps, one bucket per entry at most. */
		want = slots ? (slots + MSHARDS - 1) / MSHARDS : s->count;
		while (p < want && p < MMAX_BUCKETS)
			p <<= 1;
		if (p != s->mask + 1)
			mrehash(s, p);
		pthread_mutex_unlock(&s->lock);
	}
	return 0;
}

int mapb_destroy(struct mapb *m)
{
	if (!m)
		return -EINVAL;
	if (mapb_rcu_in_read(&m->rcu))
		return -EDEADLK;
	mapb_clear(m);
	/* Every callback (they use m) has run. */
	m->rcu.flavor->barrier();
	for (unsigned i = 0; i < MSHARDS; i++) {
		pthread_mutex_destroy(&m->shard[i].lock);
		free(m->shard[i].b);
	}
	free(m);
	return 0;
}
