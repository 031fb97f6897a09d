/* SPDX-License-Identifier: MIT */
/* store.c: values on the map: compare-and-swap loops, expiry, eviction, memory accounting. */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rcumapd.h"
#include "mapb.h"

/* liburcu-memb's record of whether it found sys_membarrier (INFO reports it). */
extern int urcu_memb_has_sys_membarrier;

/*
 * Memory accounting (docs/server.md, "Memory"):
 * - a value is charged when it is published and discharged when it leaves
 *   the map (replaced, deleted, expired, evicted, flushed): live bytes;
 * - the free_value callback counts it again when the grace period has
 *   passed: live + pending = charged - freed, the bytes really held.
 * Every removal goes through this file, so each is seen exactly once; no
 * caller uses rcumap_put or rcumap_clear, whose removed values would not be.
 * The charge of a value covers its bytes, its key copy and a fixed estimate
 * of the map's per-entry cost (bucket record, slot share, malloc headers).
 */
#define ENTRY_OVERHEAD 64

/* Per-thread counters, written by their owner only; summed by readers. */
struct tcount {
	uint64_t charged;
	uint64_t discharged;
	uint64_t hits;
	uint64_t misses;
	uint64_t expired;
	uint64_t evicted;
	uint64_t cas_next;            /* next cas id of this thread's block */
	uint64_t cas_end;
	/* Eviction's reference marks: two generations of a bit filter. */
	uint64_t *mark[2];
	unsigned mark_cur;            /* index of the generation being set */
	uint64_t mark_epoch;          /* global epoch the owner last saw */
	uint64_t hand;                /* this thread's eviction cursor */
} __attribute__((aligned(64)));

#define MAX_THREADS 1024
/* 2^20 bits, 128 KiB per generation: one bit per key hash, per thread. */
#define MARK_BITS (1u << 20)
#define MARK_WORDS (MARK_BITS / 64)
/* A thread's marks are rotated this often, so "hot" means read or written lately. */
#define MARK_EPOCH_MS 500
/* cas ids are taken from the global counter in blocks: no shared RMW per write. */
#define CAS_BLOCK 1024

static mapb_t *map;                       /* rcumap, or an A/B map (mapb.h) */
static struct tcount counts[MAX_THREADS];
static unsigned nthreads;                 /* slots handed out; grows only */
static __thread struct tcount *tc;        /* this thread's slot, or NULL */
static __thread uint64_t now_ms;
static uint64_t freed_bytes;              /* free_value callback; atomic */
static uint64_t cas_counter;              /* source of cas id blocks; atomic */
static uint64_t mark_epoch;               /* bumped by the sweeper; atomic */
static uint64_t live_target;              /* evict above this many live bytes; atomic */
static uint64_t purge_asked;              /* MEMORY PURGE requests; atomic */
static uint64_t purge_done;               /* requests the sweeper has carried out; atomic */
static uint64_t rss_base;                 /* resident set before any data (store_init) */

static pthread_mutex_t sweep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sweep_cond = PTHREAD_COND_INITIALIZER;
static int sweep_stop;

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t store_now_ms(void)
{
	return now_ms ? now_ms : wall_ms();
}

static size_t charge_of(const struct sval *v)
{
	return sizeof(*v) + v->len + 1 + v->klen + ENTRY_OVERHEAD;
}

static int is_expired(const struct sval *v)
{
	return v->expire_ms != 0 && store_now_ms() > v->expire_ms;
}

/* Threads that never called store_thread_init (none should) share slot 0. */
static struct tcount *my(void)
{
	return tc ? tc : &counts[0];
}

/* 64-bit hash of a key for the reference marks (not the map's hash). */
static uint64_t key_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	for (; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 32);
}

/*
 * Mark a key as read by this thread. A store to this thread's own filter,
 * never to memory another thread writes: the lookup path stays free of
 * shared stores. Only with --maxmemory. Writes do not mark: a key written
 * and never read is what a cache should drop first (CLOCK's reference bit),
 * and a write-heavy load would otherwise mark the whole resident set.
 */
static void mark_key(const void *key, size_t klen)
{
	struct tcount *t = tc;
	uint64_t bit, *w, old;

	if (!cfg.maxmemory || !t || !t->mark[0])
		return;
	bit = key_hash(key, klen) & (MARK_BITS - 1);
	w = &t->mark[t->mark_cur][bit / 64];
	/* The evictor reads this word concurrently: relaxed, owner is the only writer. */
	old = ld_relaxed(w);
	if (!(old & (1ull << (bit % 64))))
		st_relaxed(w, old | (1ull << (bit % 64)));
}

/* Whether any thread used the key during the last two mark epochs. */
static int key_is_hot(const void *key, size_t klen)
{
	uint64_t bit = key_hash(key, klen) & (MARK_BITS - 1);
	unsigned n = ld_acquire(&nthreads); /* pairs with the release in store_thread_init */
	uint64_t epoch = ld_relaxed(&mark_epoch); /* a hint; no ordering */

	for (unsigned i = 0; i < n; i++) {
		/* An idle thread has not aged its marks: they are older than two epochs. */
		if (ld_relaxed(&counts[i].mark_epoch) + 1 < epoch)
			continue;
		for (int g = 0; g < 2; g++) {
			uint64_t *m = ld_acquire(&counts[i].mark[g]); /* pairs with store_thread_init */

			/* Relaxed: a racy read only makes the guess older. */
			if (m && (ld_relaxed(&m[bit / 64]) & (1ull << (bit % 64))))
				return 1;
		}
	}
	return 0;
}

void store_tick(void)
{
	struct tcount *t = tc;
	uint64_t e;

	now_ms = wall_ms();
	if (!t || !t->mark[0])
		return;
	e = ld_relaxed(&mark_epoch); /* a new epoch: age the marks; order not needed */
	if (e != t->mark_epoch) {
		unsigned next = t->mark_cur ^ 1;

		for (size_t i = 0; i < MARK_WORDS; i++)
			st_relaxed(&t->mark[next][i], 0); /* read by key_is_hot: relaxed */
		t->mark_cur = next;
		st_relaxed(&t->mark_epoch, e); /* read by key_is_hot to skip idle threads */
	}
}

/* ---- values ------------------------------------------------------------- */

static uint64_t next_cas(void)
{
	struct tcount *t = my();

	if (!tc) /* shared slot: take ids one at a time */
		return add_relaxed(&cas_counter, 1) + 1; /* unique ids only, no ordering */
	if (t->cas_next == t->cas_end) {
		/* A block of ids; uniqueness needs atomicity, not ordering. */
		t->cas_next = add_relaxed(&cas_counter, CAS_BLOCK) + 1;
		t->cas_end = t->cas_next + CAS_BLOCK;
	}
	return t->cas_next++;
}

struct sval *sval_new(const void *a, size_t alen, const void *b, size_t blen,
		      uint32_t flags, uint64_t expire_ms)
{
	struct sval *v;

	if (alen > SVAL_MAX || blen > SVAL_MAX - alen)
		return NULL;
	v = malloc(sizeof(*v) + alen + blen + 1);
	if (!v)
		return NULL;
	v->expire_ms = expire_ms;
	v->cas = next_cas();
	v->flags = flags;
	v->len = (uint32_t)(alen + blen);
	v->klen = 0;
	v->pad_ = 0;
	if (alen)
		memcpy(v->data, a, alen);
	if (blen)
		memcpy(v->data + alen, b, blen);
	v->data[alen + blen] = '\0';
	return v;
}

void sval_discard(struct sval *v)
{
	free(v);
}

/* free_value of the map: runs after the grace period (call_rcu worker). */
static void free_value(void *value, void *arg)
{
	struct sval *v = value;

	(void)arg;
	add_relaxed(&freed_bytes, charge_of(v)); /* a counter; several threads may free */
	free(v);
}

static void charge(struct sval *v)
{
	count_own(&my()->charged, charge_of(v));
}

static void discharge(const struct sval *v)
{
	count_own(&my()->discharged, charge_of(v));
}

/* ---- eviction ----------------------------------------------------------- */

static uint64_t sum(size_t offset)
{
	unsigned n = ld_acquire(&nthreads); /* pairs with store_thread_init */
	uint64_t s = 0;

	for (unsigned i = 0; i < (n ? n : 1); i++)
		s += ld_relaxed((uint64_t *)((char *)&counts[i] + offset));
	return s;
}

static uint64_t live_bytes(void)
{
	uint64_t c = sum(offsetof(struct tcount, charged));
	uint64_t d = sum(offsetof(struct tcount, discharged));

	return c > d ? c - d : 0;
}

struct evict_ctx {
	uint64_t need;                /* bytes still to free */
	size_t visited;
	size_t cold_seen;
	int force;                    /* evict hot keys too: nothing cold found */
};

static void evict_cb(const void *key, size_t len, void *value, void *arg)
{
	struct evict_ctx *e = arg;
	struct sval *v = value;

	e->visited++;
	if (e->need == 0)
		return;
	if (is_expired(v)) {
		if (mapb_delete_if(map, key, len, v) == 0) {
			discharge(v);
			count_own(&my()->expired, 1);
		}
		return;
	}
	if (!e->force && key_is_hot(key, len))
		return;
	e->cold_seen++;
	if (mapb_delete_if(map, key, len, v) == 0) {
		uint64_t c = charge_of(v);

		discharge(v);
		count_own(&my()->evicted, 1);
		e->need = e->need > c ? e->need - c : 0;
	}
}

/*
 * Free live bytes down to the target, using this thread's clock hand: an
 * rcumap_scan cursor that passes over recently used keys (second chance)
 * and evicts the others. Return 0, or -ENOMEM when nothing could be freed.
 */
static int evict(uint64_t extra)
{
	struct tcount *t = my();
	uint64_t live = live_bytes() + extra;
	uint64_t target = ld_relaxed(&live_target); /* set by the sweeper; a hint */
	struct evict_ctx e = { 0 };
	int rounds = 0;

	if (!cfg.maxmemory || live <= target)
		return 0;
	if (extra > target)
		return -ENOMEM; /* it cannot fit even in an empty store: evict nothing */
	e.need = live - target;
	/* Bounded: at most two passes over the map, forced on the second. */
	while (e.need > 0 && rounds < 2) {
		if (mapb_scan(map, &t->hand, 64, evict_cb, &e) < 0)
			t->hand = 0;
		if (t->hand == 0) {
			rounds++;
			if (e.cold_seen == 0)
				e.force = 1;
		}
		if (e.visited > 4096 && e.cold_seen == 0)
			e.force = 1;
		if (e.visited > (size_t)1 << 16) /* bound one writer's stall */
			break;
	}
	return live_bytes() + extra <= target + (target >> 4) ? 0 : -ENOMEM;
}

/* ---- reads and updates -------------------------------------------------- */

/*
 * What a read does with the value it looked up (NULL: absent): an expired
 * value reads as absent and is removed; the read counts as a hit or a miss
 * and marks the key. store_get and store_get_batch share it, so a key
 * costs the same effects in a batch as alone.
 */
static const struct sval *read_settle(const void *key, size_t klen, struct sval *v)
{
	if (v && is_expired(v)) {
		/* Compare-delete: a value stored since the lookup is never lost. */
		if (mapb_delete_if(map, key, klen, v) == 0) {
			discharge(v);
			count_own(&my()->expired, 1);
		}
		v = NULL;
	}
	if (!v) {
		count_own(&my()->misses, 1);
		return NULL;
	}
	count_own(&my()->hits, 1);
	mark_key(key, klen);
	return v;
}

const struct sval *store_get(const void *key, size_t klen)
{
	return read_settle(key, klen, mapb_get(map, key, klen));
}

size_t store_get_batch(size_t n, const void *const keys[], const size_t lens[],
		       const struct sval *values[])
{
	size_t found = 0;

	for (size_t off = 0; off < n; off += STORE_BATCH) {
		size_t m = n - off < STORE_BATCH ? n - off : STORE_BATCH;
		void *raw[STORE_BATCH];

		if (m == 1) {
			/* One key: the plain lookup, without the group passes. */
			raw[0] = mapb_get(map, keys[off], lens[off]);
		} else if (mapb_get_batch(map, m, keys + off, lens + off, raw) < 0) {
			/* -EINVAL: a key over RCUMAP_KEY_MAX, absent for rcumap_get. */
			for (size_t i = 0; i < m; i++)
				raw[i] = mapb_get(map, keys[off + i], lens[off + i]);
		}
		/*
		 * Settled in key order, after all the lookups: a key repeated in
		 * the batch found the same expired value twice; the first
		 * rcumap_delete_if removes it and counts it, the second fails
		 * and counts nothing, as a second store_get would have found
		 * nothing. Both read as misses either way.
		 */
		for (size_t i = 0; i < m; i++) {
			const struct sval *v;

			if (cfg.broken_batch) /* negative control: no lazy expiry, no counts */
				v = raw[i];
			else
				v = read_settle(keys[off + i], lens[off + i], raw[i]);
			values[off + i] = v;
			found += v != NULL;
		}
	}
	return found;
}

int store_rmw(const void *key, size_t klen, store_rmw_fn fn, void *arg,
	      const struct sval **prev)
{
	for (;;) {
		struct sval *raw = mapb_get(map, key, klen);
		const struct sval *cur = raw && !is_expired(raw) ? raw : NULL;
		struct sval *nv = NULL;
		enum rmw_action a = fn(cur, &nv, arg);
		int rc;

		if (prev)
			*prev = cur;
		if (a == RMW_KEEP) {
			if (nv)
				sval_discard(nv);
			return RMW_KEEP;
		}
		if (a == RMW_DELETE) {
			if (!raw)
				return RMW_KEEP;
			rc = mapb_delete_if(map, key, klen, raw);
			if (rc == 0) {
				discharge(raw);
				if (!cur)
					count_own(&my()->expired, 1);
				return RMW_DELETE;
			}
			if (rc == -EAGAIN || rc == -ENOENT)
				continue;
			return rc;
		}
		if (!nv)
			return -ENOMEM;
		nv->klen = (uint32_t)(klen > UINT32_MAX ? UINT32_MAX : klen);
		if (cfg.maxmemory && evict(charge_of(nv)) < 0) {
			sval_discard(nv);
			return -ENOMEM;
		}
		rc = raw ? mapb_cas(map, key, klen, raw, nv) : mapb_insert(map, key, klen, nv);
		if (rc == 0) {
			charge(nv);
			if (raw) {
				discharge(raw);
				if (!cur)
					count_own(&my()->expired, 1);
			}
			return RMW_SET;
		}
		sval_discard(nv);
		if (rc == -EAGAIN || rc == -ENOENT || rc == -EEXIST)
			continue; /* another update won: decide again on its value */
		return rc;
	}
}

int store_put(const void *key, size_t klen, struct sval *v)
{
	/* A lost race keeps v and tries again on the newer value. */
	for (;;) {
		struct sval *raw = mapb_get(map, key, klen);
		int rc;

		v->klen = (uint32_t)(klen > UINT32_MAX ? UINT32_MAX : klen);
		if (cfg.maxmemory && evict(charge_of(v)) < 0) {
			sval_discard(v);
			return -ENOMEM;
		}
		rc = raw ? mapb_cas(map, key, klen, raw, v) : mapb_insert(map, key, klen, v);
		if (rc == 0) {
			charge(v);
			if (raw) {
				discharge(raw);
				if (is_expired(raw))
					count_own(&my()->expired, 1);
			}
			return 0;
		}
		if (rc == -EAGAIN || rc == -ENOENT || rc == -EEXIST)
			continue;
		sval_discard(v);
		return rc;
	}
}

int store_del(const void *key, size_t klen)
{
	for (;;) {
		struct sval *raw = mapb_get(map, key, klen);
		int rc;

		if (!raw)
			return 0;
		rc = mapb_delete_if(map, key, klen, raw);
		if (rc == 0) {
			discharge(raw);
			if (is_expired(raw)) {
				count_own(&my()->expired, 1);
				return 0;
			}
			return 1;
		}
		if (rc != -EAGAIN && rc != -ENOENT)
			return rc;
	}
}

size_t store_count(void)
{
	return mapb_count(map);
}

struct flush_ctx {
	int err;
};

static void flush_cb(const void *key, size_t len, void *value, void *arg)
{
	struct flush_ctx *f = arg;
	int rc = mapb_delete_if(map, key, len, value);

	if (rc == 0)
		discharge(value);
	else if (rc == -ENOMEM)
		f->err = rc;
}

int store_flush(void)
{
	/* One traversal with compare-deletes, so every removal is accounted. */
	struct flush_ctx f = { 0 };
	uint64_t cursor = 0;

	do {
		if (mapb_scan(map, &cursor, 1024, flush_cb, &f) < 0)
			return -EINVAL;
	} while (cursor != 0);
	return f.err;
}

struct scan_ctx {
	store_scan_fn fn;
	void *arg;
};

static void scan_cb(const void *key, size_t len, void *value, void *arg)
{
	struct scan_ctx *s = arg;
	struct sval *v = value;

	if (is_expired(v))
		return; /* reads as absent; the sweeper or a reader removes it */
	s->fn(key, len, v, s->arg);
}

int store_scan(uint64_t *cursor, size_t count, store_scan_fn fn, void *arg)
{
	struct scan_ctx s = { fn, arg };

	if (*cursor >= ((uint64_t)1 << 32))
		return -EINVAL;
	return mapb_scan(map, cursor, count ? count : 1, scan_cb, &s);
}

/* ---- statistics --------------------------------------------------------- */

static uint64_t read_rss(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, res = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &res) != 2)
		res = 0;
	fclose(f);
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

void store_info(struct store_info *out)
{
	uint64_t c = sum(offsetof(struct tcount, charged));
	uint64_t fr = ld_relaxed(&freed_bytes); /* a counter; no ordering */

	memset(out, 0, sizeof(*out));
	mapb_stats(map, &out->map);
	for (int k = 0; k < RCUMAP_STATS_KINDS; k++) {
		const struct rcumap_stats *m = &out->map;

		/* Counters read one by one: clamp rather than wrap. */
		if (m->kind[k].retired > m->kind[k].reclaimed)
			out->pending_objects += m->kind[k].retired - m->kind[k].reclaimed;
		if (m->kind[k].retired_bytes > m->kind[k].reclaimed_bytes)
			out->pending_bytes += m->kind[k].retired_bytes - m->kind[k].reclaimed_bytes;
	}
	out->used_bytes = c > fr ? c - fr : 0;
	out->maxmemory = cfg.maxmemory;
	out->rss_bytes = read_rss();
	out->evictions = sum(offsetof(struct tcount, evicted));
	out->expirations = sum(offsetof(struct tcount, expired));
	out->keyspace_hits = sum(offsetof(struct tcount, hits));
	out->keyspace_misses = sum(offsetof(struct tcount, misses));
	out->membarrier = urcu_memb_has_sys_membarrier;
	out->purges = ld_acquire(&purge_done); /* pairs with the sweeper's st_release */
}

/* ---- life cycle ---------------------------------------------------------- */

int store_init(void)
{
	struct rcumap_config mc = {
		.flavor = cfg.flavor,
		.free_value = free_value,
	};
	int rc = mapb_create(&mc, &map);

	if (rc < 0)
		return rc;
	now_ms = 0;
	rss_base = read_rss();
	/* Live data gets 55% of the limit; the sweeper corrects it from RSS. */
	st_relaxed(&live_target, cfg.maxmemory / 100 * 55);
	return 0;
}

int store_fini(void)
{
	int rc = mapb_destroy(map);

	if (rc == 0)
		map = NULL;
	for (unsigned i = 0; i < nthreads; i++) {
		free(counts[i].mark[0]);
		free(counts[i].mark[1]);
		counts[i].mark[0] = counts[i].mark[1] = NULL;
	}
	return rc;
}

void store_thread_init(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct tcount *t;

	pthread_mutex_lock(&lock);
	if (nthreads >= MAX_THREADS) {
		pthread_mutex_unlock(&lock);
		return; /* counts go to slot 0 through my() */
	}
	t = &counts[nthreads];
	if (cfg.maxmemory) {
		uint64_t *m0 = calloc(MARK_WORDS, sizeof(uint64_t));
		uint64_t *m1 = calloc(MARK_WORDS, sizeof(uint64_t));

		if (m0 && m1) {
			/* Readers find the filters through nthreads' release below. */
			t->mark[0] = m0;
			t->mark[1] = m1;
		} else {
			free(m0);
			free(m1);
		}
	}
	t->hand = ((uint64_t)nthreads * 0x9e3779b9u) & 0xffffffffu; /* hands start apart */
	tc = t;
	/* Publish the slot's set-up before readers count it; pairs with ld_acquire in sum(). */
	st_release(&nthreads, nthreads + 1);
	pthread_mutex_unlock(&lock);
}

/* ---- the sweeper ---------------------------------------------------------- */

struct sweep_ctx {
	size_t visited;
};

static void sweep_cb(const void *key, size_t len, void *value, void *arg)
{
	struct sweep_ctx *s = arg;
	struct sval *v = value;

	s->visited++;
	if (is_expired(v) && mapb_delete_if(map, key, len, v) == 0) {
		discharge(v);
		count_own(&my()->expired, 1);
	}
}

/*
 * Keep live_target so that RSS stays under maxmemory: RSS above 88% of the
 * limit lowers the target by 2% of the limit per tick (down to 30%); RSS
 * under 78% raises it back slowly, up to 60%. The rest of the limit is for
 * what live bytes do not count: values freed but waiting for their grace
 * period (at a few hundred MB/s of writes, 10-15 MB of them), malloc's
 * holes, the map's tables, buffers, stacks.
 */
static void adjust_target(uint64_t rss)
{
	uint64_t t = ld_relaxed(&live_target); /* only the sweeper writes it */
	uint64_t max = cfg.maxmemory, step = max / 100;

	if (rss > 88 * step && t > 32 * step)
		t -= 2 * step;
	else if (rss < 78 * step && t < 60 * step)
		t += step / 4;
	st_relaxed(&live_target, t); /* read by evict() as a hint */
}

void store_purge(void)
{
	/* Wakes nothing: the sweeper looks at the count on its next tick. */
	add_relaxed(&purge_asked, 1);
}

/*
 * MEMORY PURGE moves every live value to a fresh copy made by this thread.
 * Deleting most keys leaves a few survivors on nearly every page of the
 * workers' malloc arenas, and malloc_trim can give back only whole free
 * pages. The copies (and the buckets the swaps and the resize copy) come
 * from the sweeper's own arena (glibc gives each thread one, up to eight
 * per CPU), so once the grace period has passed the workers' pages hold
 * nothing and go back to the kernel.
 */
static void relocate_cb(const void *key, size_t len, void *value, void *arg)
{
	const struct sval *v = value;
	size_t size = sizeof(*v) + v->len + 1;
	struct sval *copy = malloc(size);

	(void)arg;
	if (!copy)
		return; /* this one stays where it is */
	memcpy(copy, v, size); /* same bytes, same cas id: nothing a client sees changes */
	if (mapb_cas(map, key, len, value, copy) != 0) {
		free(copy); /* updated meanwhile: the newer value is fresh anyway */
		return;
	}
	/* The copy is published and the original leaves: live bytes stay the same. */
	charge(copy);
	discharge(v);
}

/*
 * Carry out MEMORY PURGE requests: wait for every retired bucket, table and
 * value to be freed (a grace period: hence here, in a thread outside any
 * read section, and not in a worker) and give free pages back; then, if the
 * process still holds much more than malloc hands out, relocate the values,
 * bring the table to the size its count calls for (rcumap_resize 0), and
 * free and give back once more. A purge right after another finds no holes
 * and moves nothing.
 */
static void purge(void)
{
	uint64_t asked = ld_relaxed(&purge_asked); /* a count; the work below orders nothing on it */
	uint64_t cursor = 0, rss;
	struct mallinfo2 mi;

	if (asked == ld_relaxed(&purge_done)) /* only this thread writes purge_done */
		return;
	/* What is freed already goes back first; then see what is left. */
	mapb_barrier(map);
	malloc_trim(0);
	mi = mallinfo2();
	/*
	 * Data's share of the resident set within 3x of what malloc hands out:
	 * no holes worth a move (and a move into this thread's arena, where an
	 * earlier purge put the values, would make new ones).
	 */
	rss = read_rss();
	if (rss < rss_base || rss - rss_base <= 3 * (mi.uordblks + mi.hblkhd))
		goto done;
	/*
	 * One read section over the whole move (qsbr: no quiescent state
	 * either): no grace period ends during it, so the buckets the swaps
	 * retire cannot come back through the map's bucket cache as the next
	 * swaps' new buckets, which would keep them in the workers' arenas.
	 */
	cfg.flavor->read_lock();
	do {
		if (mapb_scan(map, &cursor, 1024, relocate_cb, NULL) < 0)
			break;
	} while (cursor != 0);
	/* -EBUSY: an update is moving a migration on; it finishes it anyway. */
	for (int i = 0; i < 100 && mapb_resize(map, 0) == -EBUSY; i++)
		usleep(1000);
	cfg.flavor->read_unlock();
	mapb_barrier(map);
	malloc_trim(0);
done:
	st_release(&purge_done, asked); /* pairs with store_info's ld_acquire */
}

void store_sweeper_stop(void)
{
	pthread_mutex_lock(&sweep_lock);
	sweep_stop = 1;
	pthread_cond_signal(&sweep_cond);
	pthread_mutex_unlock(&sweep_lock);
}

#define SWEEP_TICK_MS 10

void *store_sweeper(void *arg)
{
	/* credit: entries the sweeper may still visit, in thousandths. */
	uint64_t cursor = 0, last_epoch_ms = 0, last_trim_ms = 0, credit = 0;

	(void)arg;
	cfg.flavor->register_thread();
	store_thread_init();
	for (;;) {
		struct timespec ts;
		int stop;

		store_tick();
		purge();
		/* Visit expire_rate entries per second, in ticks; bounded per tick. */
		credit += (uint64_t)cfg.expire_rate * SWEEP_TICK_MS;
		if (credit >= 1000) {
			struct sweep_ctx s = { 0 };
			uint64_t visits = credit / 1000;

			if (mapb_scan(map, &cursor, visits, sweep_cb, &s) < 0)
				cursor = 0;
			/* A finished round or a full quota uses the credit up. */
			credit = (s.visited >= visits || cursor == 0) ? credit % 1000
								       : credit - s.visited * 1000;
		}
		if (cfg.maxmemory) {
			uint64_t rss = read_rss();

			/*
			 * Freed values leave holes in malloc's heaps that RSS still
			 * counts; near the limit, give whole free pages back (at most
			 * a few times a second: it briefly locks each arena).
			 */
			if (rss > cfg.maxmemory / 100 * 85 && now_ms - last_trim_ms >= 250) {
				last_trim_ms = now_ms;
				malloc_trim(0);
				rss = read_rss();
			}

			adjust_target(rss);
			evict(0);
			if (now_ms - last_epoch_ms >= MARK_EPOCH_MS) {
				last_epoch_ms = now_ms;
				/* Workers age their marks on their next pass; no ordering. */
				add_relaxed(&mark_epoch, 1);
			}
		}
		/* qsbr: a sleeping sweeper must not hold up grace periods. */
		cfg.flavor->thread_offline();
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += SWEEP_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&sweep_lock);
		if (!sweep_stop)
			pthread_cond_timedwait(&sweep_cond, &sweep_lock, &ts);
		stop = sweep_stop;
		pthread_mutex_unlock(&sweep_lock);
		cfg.flavor->thread_online();
		if (stop)
			break;
	}
	cfg.flavor->unregister_thread();
	return NULL;
}
