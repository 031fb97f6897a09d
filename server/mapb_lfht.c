/* SPDX-License-Identifier: MIT */
/* mapb_lfht.c: liburcu's cds_lfht behind mapb.h, for server/rcumapd-lfht (the library A/B). */

/*
 * cds_lfht used as its documentation shows: the caller's node embeds a
 * struct cds_lfht_node and a struct rcu_head, holds a copy of the key and
 * the value pointer, and the caller computes the hash (mapb_hash, keyed per
 * map). The table is created for the server's run-time flavor
 * (cds_lfht_new_flavor).
 *
 * Sizing: not CDS_LFHT_AUTO_RESIZE. In liburcu 0.13.2 its lazy resize
 * launcher sets resize_initiated only after queueing the work; when the
 * worker finishes first, the flag stays set and the table never resizes
 * itself again (bench/peer_lfht.c). Seen here in test_scan.py: 4 buckets
 * under 110K keys, resize_target 65536, the worker idle, every operation
 * walking 27K nodes. Nor can a second resizer run beside the automatic
 * one: the worker holds cds_lfht's resize mutex across synchronize_rcu, so
 * under qsbr an online caller blocked on that mutex deadlocks it, and an
 * offline one walks the list unprotected. So one thread of ours (lsizer)
 * is the only resizer: every 10 ms it asks cds_lfht_resize for the power
 * of two at or above the entry count when the count is above the size it
 * last asked for, or below an eighth of it. That is about one entry per
 * bucket, what CDS_LFHT_ACCOUNTING's own policy aims at; the entry count is
 * our striped counter, which takes the place of that accounting.
 *
 * A node never changes once published: a new value is a new node that
 * cds_lfht_replace puts in the old one's place. A removed or replaced node
 * goes to the flavor's call_rcu, whose callback hands its value to
 * free_value and frees the node: both after a grace period.
 *
 * Lookups run in the caller's read section (store.c's callers are in the
 * worker's); updates and scans take their own, nested, through the flavor
 * struct, as rcumap's do.
 *
 * scan: the cursor is a position in cds_lfht's own order, the split-ordered
 * list sorted by bit-reversed hash: the top 32 bits of the next node's
 * reversed hash. A call resumes there in O(1): it adds a marker node whose
 * reversed hash is exactly cursor << 32, which cds_lfht links in front of
 * every node of that position, looks the marker up, steps past it and
 * deletes it. Markers are never returned: their key length (LMARKER) never
 * matches a key, and walks skip them. The order is independent of the
 * table size, and cds_lfht_replace keeps a replaced key visible exactly
 * once, so a key present for a whole traversal is in practice returned
 * once; but that is not promised as rcumap promises it (rcumap.h T2, T3): a
 * key whose 64-bit reversed hash is exactly a cursor's marker position is
 * skipped, and the guarantee has not been argued for cds_lfht's concurrent
 * deletes and replaces.
 */

#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu/call-rcu.h>
#include <urcu/compiler.h>
#include <urcu/rculfhash.h>

#include "mapb.h"

/* klen of a scan's seek marker: no key has it (RCUMAP_KEY_MAX is 1 GiB). */
#define LMARKER SIZE_MAX

struct lnode {
	struct cds_lfht_node node;
	void *value;                  /* NULL only in a marker */
	uint64_t hash;
	struct mapb *m;               /* the callback's way back to free_value */
	struct rcu_head rcu;
	size_t klen;                  /* LMARKER: a seek marker */
	char key[];
};

struct mapb {
	struct mapb_stripe stripe[MAPB_STRIPES];
	struct cds_lfht *ht;
	struct mapb_rcu rcu;          /* flavor, free_value, seed */
	/* The sizer thread, the table's only resizer (see above). */
	pthread_t sizer;
	pthread_mutex_t sizer_lock;
	pthread_cond_t sizer_cond;
	int sizer_stop;               /* under sizer_lock */
	uint64_t size_wanted;         /* under sizer_lock: mapb_resize's request, 0: none */
	/* Written by the sizer only; mapb_stats reads them relaxed. */
	uint64_t size_asked;          /* its last cds_lfht_resize: the table's size */
	uint64_t grows;
	uint64_t shrinks;
};

/* How often the sizer looks at the count. */
#define LSIZER_TICK_MS 10

/* What lmatch compares a node with. */
struct lkey {
	const void *key;
	size_t len;
};

static struct lnode *lnode_of(struct cds_lfht_node *node)
{
	return caa_container_of(node, struct lnode, node);
}

/* Position of a hash in cds_lfht's order: the top 32 bits of its reversed hash. */
static uint64_t lpos(uint64_t hash)
{
	return mapb_rev32((uint32_t)hash);
}

static int lmatch(struct cds_lfht_node *node, const void *arg)
{
	const struct lnode *n = lnode_of(node);
	const struct lkey *k = arg;

	return n->klen == k->len && (k->len == 0 || memcmp(n->key, k->key, k->len) == 0);
}

/* The marker itself, by address: a key never matches it. */
static int lmatch_node(struct cds_lfht_node *node, const void *arg)
{
	return node == arg;
}

static struct lnode *lnode_new(struct mapb *m, const void *key, size_t len, uint64_t hash,
			       void *value)
{
	struct lnode *n = malloc(sizeof(*n) + len);

	if (!n)
		return NULL;
	cds_lfht_node_init(&n->node);
	n->value = value;
	n->hash = hash;
	n->m = m;
	n->klen = len;
	if (len)
		memcpy(n->key, key, len);
	return n;
}

static size_t lnode_size(const struct lnode *n)
{
	return sizeof(*n) + (n->klen == LMARKER ? 0 : n->klen);
}

/* call_rcu callback: the grace period after the node's removal has ended. */
static void lfree_cb(struct rcu_head *head)
{
	struct lnode *n = caa_container_of(head, struct lnode, rcu);
	struct mapb *m = n->m;

	if (n->klen != LMARKER && m->rcu.free_value)
		m->rcu.free_value(n->value, m->rcu.free_value_arg);
	mapb_stripe_reclaimed(m->stripe, lnode_size(n));
	free(n);
}

/* After the node's successful cds_lfht_del or cds_lfht_replace. */
static void lretire(struct mapb *m, struct lnode *n)
{
	mapb_stripe_retired(m->stripe, lnode_size(n));
	m->rcu.flavor->update_call_rcu(&n->rcu, lfree_cb);
}

static void lcount(struct mapb *m, int64_t delta)
{
	/* A counter; mapb_count sums the stripes relaxed: orders nothing. */
	add_relaxed(&mapb_stripe(m->stripe)->count, (uint64_t)delta);
}

/* The node of a key, or NULL; *it positioned on it. Inside a read section. */
static struct lnode *lfind(struct mapb *m, uint64_t hash, const struct lkey *k,
			   struct cds_lfht_iter *it)
{
	struct cds_lfht_node *node;

	/* cds_lfht_lookup is the rcu_dereference of the node. */
	cds_lfht_lookup(m->ht, hash, lmatch, k, it);
	node = cds_lfht_iter_get_node(it);
	return node ? lnode_of(node) : NULL;
}

static unsigned long pow2_at_least(size_t n)
{
	unsigned long p = 1;

	while (p < n && p < (1UL << 62))
		p <<= 1;
	return p;
}

/* The size the sizer's policy wants now: m->size_asked when it is fine. */
static uint64_t lsize_policy(struct mapb *m)
{
	uint64_t want = pow2_at_least(mapb_count(m)), asked = m->size_asked;

	return want > asked || want < asked / 8 ? want : asked;
}

/* The sizer thread: registered, outside any read section, qsbr offline while it waits. */
static void *lsizer(void *arg)
{
	struct mapb *m = arg;

	m->rcu.flavor->register_thread();
	m->rcu.flavor->thread_offline(); /* qsbr: a waiting thread holds up no grace period */
	pthread_mutex_lock(&m->sizer_lock);
	while (!m->sizer_stop) {
		uint64_t want = m->size_wanted ? m->size_wanted : lsize_policy(m);
		struct timespec ts;

		m->size_wanted = 0;
		if (want != m->size_asked) {
			pthread_mutex_unlock(&m->sizer_lock);
			/*
			 * qsbr: the resize walks the list as a reader, so online;
			 * its synchronize_rcu waits go offline by themselves, and
			 * no other thread takes the resize mutex.
			 */
			m->rcu.flavor->thread_online();
			cds_lfht_resize(m->ht, want);
			m->rcu.flavor->thread_offline();
			pthread_mutex_lock(&m->sizer_lock);
			/* Statistics for mapb_stats: relaxed, order nothing. */
			if (want > m->size_asked)
				st_relaxed(&m->grows, m->grows + 1);
			else
				st_relaxed(&m->shrinks, m->shrinks + 1);
			st_relaxed(&m->size_asked, want);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += LSIZER_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (!m->sizer_stop && !m->size_wanted)
			pthread_cond_timedwait(&m->sizer_cond, &m->sizer_lock, &ts);
	}
	pthread_mutex_unlock(&m->sizer_lock);
	m->rcu.flavor->thread_online();
	m->rcu.flavor->unregister_thread();
	return NULL;
}

int mapb_create(const struct rcumap_config *config, struct mapb **out)
{
	struct mapb *m;
	void *p;

	if (!mapb_create_args_ok(config, out))
		return -EINVAL;
	/* Aligned: the stripes must not share cache lines with other data. */
	if (posix_memalign(&p, 64, sizeof(*m)))
		return -ENOMEM;
	m = p;
	memset(m, 0, sizeof(*m));
	mapb_rcu_init(&m->rcu, config);
	/* One bucket to start, as rcumap starts small: both grow with the load. */
	m->ht = cds_lfht_new_flavor(1, 1, 0, 0, config->flavor, NULL);
	if (!m->ht) {
		free(m);
		return -ENOMEM;
	}
	m->size_asked = 1;
	pthread_mutex_init(&m->sizer_lock, NULL);
	pthread_cond_init(&m->sizer_cond, NULL);
	if (pthread_create(&m->sizer, NULL, lsizer, m)) {
		pthread_cond_destroy(&m->sizer_cond);
		pthread_mutex_destroy(&m->sizer_lock);
		cds_lfht_destroy(m->ht, NULL);
		free(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

void *mapb_get(struct mapb *m, const void *key, size_t len)
{
	struct lkey k = { key, len };
	struct cds_lfht_iter it;
	struct lnode *n;

	if (!m || !mapb_key_ok(key, len))
		return NULL;
	n = lfind(m, mapb_hash(m->rcu.seed, key, len), &k, &it);
	return n ? n->value : NULL;
}

int mapb_insert(struct mapb *m, const void *key, size_t len, void *value)
{
	struct lkey k = { key, len };
	struct cds_lfht_node *got;
	struct lnode *n;
	uint64_t hash;

	if (!m || !mapb_key_ok(key, len) || !value)
		return -EINVAL;
	hash = mapb_hash(m->rcu.seed, key, len);
	n = lnode_new(m, key, len, hash, value);
	if (!n)
		return -ENOMEM;
	m->rcu.flavor->read_lock();
	/* Publishes the node's fields (a full barrier before its commit). */
	got = cds_lfht_add_unique(m->ht, hash, lmatch, &k, &n->node);
	m->rcu.flavor->read_unlock();
	if (got != &n->node) {
		free(n); /* never published */
		return -EEXIST;
	}
	lcount(m, 1);
	return 0;
}

/* mapb_store (mapb.h): a new node replaces the old one, or is added if none. */
int mapb_store(struct mapb *m, const void *key, size_t len, void *expected, void *desired)
{
	struct lkey k = { key, len };
	struct lnode *nn = NULL, *old;
	struct cds_lfht_iter it;
	uint64_t hash = mapb_hash(m->rcu.seed, key, len);
	int rc;

	m->rcu.flavor->read_lock();
	for (;;) {
		old = lfind(m, hash, &k, &it);
		if (!old && expected) {
			rc = -ENOENT;
			break;
		}
		if (old && expected && old->value != expected) {
			rc = -EAGAIN;
			break;
		}
		if (old && old->value == desired) {
			rc = 0; /* storing the value already stored changes nothing */
			break;
		}
		if (!nn && !(nn = lnode_new(m, key, len, hash, desired))) {
			rc = -ENOMEM;
			break;
		}
		if (old) {
			/* Full barriers around its commit publish nn's fields. */
			rc = cds_lfht_replace(m->ht, &it, hash, lmatch, &k, &nn->node);
			if (rc == 0) {
				lretire(m, old);
				nn = NULL;
				break;
			}
			if (rc != -ENOENT)
				break;
			continue; /* old was removed or replaced meanwhile: look again */
		}
		if (cds_lfht_add_unique(m->ht, hash, lmatch, &k, &nn->node) == &nn->node) {
			lcount(m, 1);
			nn = NULL;
			rc = 0;
			break;
		}
		/* Inserted meanwhile: decide again on that node. */
	}
	m->rcu.flavor->read_unlock();
	free(nn); /* built but never published */
	return rc;
}

int mapb_delete_if(struct mapb *m, const void *key, size_t len, void *expected)
{
	struct lkey k = { key, len };
	struct cds_lfht_iter it;
	struct lnode *n;
	uint64_t hash;
	int rc;

	if (!m || !mapb_key_ok(key, len) || !expected)
		return -EINVAL;
	hash = mapb_hash(m->rcu.seed, key, len);
	m->rcu.flavor->read_lock();
	for (;;) {
		n = lfind(m, hash, &k, &it);
		if (!n) {
			rc = -ENOENT;
			break;
		}
		if (n->value != expected) {
			rc = -EAGAIN;
			break;
		}
		if (cds_lfht_del(m->ht, &n->node) == 0) {
			lcount(m, -1);
			lretire(m, n);
			rc = 0;
			break;
		}
		/* Removed or replaced meanwhile: look again. */
	}
	m->rcu.flavor->read_unlock();
	return rc;
}

/*
 * Position *it on the first node at or after position @from, in O(1): a
 * marker linked in front of that position, looked up, stepped over and
 * removed. Inside a read section. -ENOMEM: no marker, *it untouched.
 */
static int lseek(struct mapb *m, uint64_t from, struct cds_lfht_iter *it)
{
	/* Reversed, this hash is from << 32: the smallest of the position. */
	uint64_t hash = mapb_rev32((uint32_t)from);
	struct lnode *mk = lnode_new(m, NULL, 0, hash, NULL);

	if (!mk)
		return -ENOMEM;
	mk->klen = LMARKER;
	cds_lfht_add(m->ht, hash, &mk->node);
	cds_lfht_lookup(m->ht, hash, lmatch_node, &mk->node, it);
	/* Only this call removes its marker: the lookup finds it. */
	cds_lfht_next(m->ht, it);
	if (cds_lfht_del(m->ht, &mk->node) == 0)
		lretire(m, mk);
	return 0;
}

int mapb_scan(struct mapb *m, uint64_t *cursor, size_t max_entries, rcumap_scan_fn fn,
	      void *arg)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	uint64_t from, last = 0;
	size_t seen = 0;

	if (!m || !cursor || !fn || !max_entries || *cursor >= ((uint64_t)1 << 32))
		return -EINVAL;
	from = *cursor;
	m->rcu.flavor->read_lock();
	/* Out of memory for a marker: walk from the start (slow, still right). */
	if (from == 0 || lseek(m, from, &it) < 0)
		cds_lfht_first(m->ht, &it);
	for (; (node = cds_lfht_iter_get_node(&it)); cds_lfht_next(m->ht, &it)) {
		struct lnode *n = lnode_of(node);
		uint64_t pos;

		if (n->klen == LMARKER)
			continue; /* another scan's seek marker */
		pos = lpos(n->hash);
		if (pos < from)
			continue; /* only after the walk from the start */
		/* Keys of one position are not split between calls. */
		if (seen >= max_entries && pos != last)
			break;
		fn(n->key, n->klen, n->value, arg);
		seen++;
		last = pos;
	}
	/* After a full call, node is the first one not visited; its position is > 0. */
	*cursor = node ? lpos(lnode_of(node)->hash) : 0;
	m->rcu.flavor->read_unlock();
	return 0;
}

size_t mapb_count(const struct mapb *m)
{
	struct rcumap_stats s = { 0 };

	if (!m)
		return 0;
	mapb_stripes_read(m->stripe, &s);
	return s.entries;
}

int mapb_clear(struct mapb *m)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	if (!m)
		return -EINVAL;
	m->rcu.flavor->read_lock();
	for (cds_lfht_first(m->ht, &it); (node = cds_lfht_iter_get_node(&it));
	     cds_lfht_next(m->ht, &it)) {
		struct lnode *n = lnode_of(node);

		/* A scan's marker is its own to remove. */
		if (n->klen != LMARKER && cds_lfht_del(m->ht, node) == 0) {
			lcount(m, -1);
			lretire(m, n);
		}
	}
	m->rcu.flavor->read_unlock();
	return 0;
}

int mapb_stats(const struct mapb *m, struct rcumap_stats *out)
{
	if (!m || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	mapb_stripes_read(m->stripe, out);
	/* The sizer is the only resizer: its sizes are the table's. */
	out->slots = ld_relaxed(&m->size_asked);
	out->grows = ld_relaxed(&m->grows);
	out->shrinks = ld_relaxed(&m->shrinks);
	return 0;
}

int mapb_barrier(struct mapb *m)
{
	if (!m)
		return -EINVAL;
	return mapb_rcu_barrier(&m->rcu);
}

/*
 * Hands the size to the sizer thread, the table's only resizer, and
 * returns at once (rcumap_resize migrates before it returns): so it may be
 * called inside a read section too. The sizer's policy applies again on
 * its following ticks.
 */
int mapb_resize(struct mapb *m, size_t slots)
{
	if (!m || slots > RCUMAP_SLOTS_MAX)
		return -EINVAL;
	pthread_mutex_lock(&m->sizer_lock);
	m->size_wanted = pow2_at_least(slots ? slots : mapb_count(m));
	pthread_cond_signal(&m->sizer_cond);
	pthread_mutex_unlock(&m->sizer_lock);
	return 0;
}

int mapb_destroy(struct mapb *m)
{
	int rc;

	if (!m)
		return -EINVAL;
	if (mapb_rcu_in_read(&m->rcu))
		return -EDEADLK;
	pthread_mutex_lock(&m->sizer_lock);
	m->sizer_stop = 1;
	pthread_cond_signal(&m->sizer_cond);
	pthread_mutex_unlock(&m->sizer_lock);
	pthread_join(m->sizer, NULL);
	pthread_cond_destroy(&m->sizer_cond);
	pthread_mutex_destroy(&m->sizer_lock);
	mapb_clear(m);
	/* Every callback (they use m) has run. */
	m->rcu.flavor->barrier();
	rc = cds_lfht_destroy(m->ht, NULL); /* empty now: no -EPERM */
	if (rc)
		return rc;
	free(m);
	return 0;
}
