/* SPDX-License-Identifier: MIT */
/* update.c: the copy-on-write update path: build a bucket, publish it with one CAS, retire the old one. */
#include "lookup.h"

static __thread unsigned tls_ops;     /* updates since the last policy check */

/*
 * Debug builds: every record of b, found in t's slot for hash h, belongs
 * there (I5).
 */
static inline void assert_home(const struct rcumap_table *t, const struct rcumap_bucket *b,
			       uint32_t h)
{
	for (uint32_t i = 0; RCUMAP_DEBUG_ON && i < b->n; i++)
		debug_assert("I5", (rec_hash(&b->rec[i]) & t->mask) == (h & t->mask));
}

enum op {
	OP_INSERT,
	OP_PUT,
	OP_REPLACE,
	OP_CAS,
	OP_DELETE,
	OP_DELETE_IF,
	OP_GET_OR_INSERT,
};

/* Copy of b with one record appended. */
static struct rcumap_bucket *bucket_add(struct rcumap *map, const struct rcumap_bucket *b,
					const struct rcumap_rec *r)
{
	struct rcumap_bucket *nb = rcumap__bucket_alloc(map, b->n + 1);

	if (!nb)
		return NULL;
	memcpy(nb->rec, b->rec, b->n * sizeof(b->rec[0]));
	nb->rec[b->n] = *r;
	return nb;
}

/* Copy of b with record i's value set to v. */
static struct rcumap_bucket *bucket_set(struct rcumap *map, const struct rcumap_bucket *b,
					uint32_t i, void *v)
{
	struct rcumap_bucket *nb = rcumap__bucket_alloc(map, b->n);

	if (!nb)
		return NULL;
	memcpy(nb->rec, b->rec, b->n * sizeof(b->rec[0]));
	nb->rec[i].value = v;
	return nb;
}

/* Copy of b without record i; the shared empty bucket when none is left. */
static struct rcumap_bucket *bucket_del(struct rcumap *map, const struct rcumap_bucket *b,
					uint32_t i)
{
	struct rcumap_bucket *nb;

	if (b->n == 1)
		return &rcumap_empty;
	nb = rcumap__bucket_alloc(map, b->n - 1);
	if (!nb)
		return NULL;
	memcpy(nb->rec, b->rec, i * sizeof(b->rec[0]));
	memcpy(nb->rec + i, b->rec + i + 1, (b->n - i - 1) * sizeof(b->rec[0]));
	return nb;
}

/* The record an insertion adds; allocates the key copy at most once per call. */
static int make_rec(struct rcumap *map, struct rcumap_rec *r, int *built,
		    const struct rcumap_probe *p, void *value)
{
	if (*built)
		return 0;
	if (p->len > KEY_INLINE) {
		unsigned char *k = rcumap__alloc(map, p->len, RCUMAP_KIND_ENTRY);

		if (!k)
			return -ENOMEM;
		memcpy(k, p->key, p->len);
		r->key.ext = k;
	} else {
		r->key.w[0] = p->w[0];
		r->key.w[1] = p->w[1];
	}
	r->tag = p->tag;
	r->value = value;
	*built = 1;
	return 0;
}

/*
 * Publish a new bucket. O1: release orders its contents before the pointer;
 * pairs with the acquire slot loads of readers and writers. Acquire on
 * failure pairs with the publisher of the value we then retry on. (The
 * NONATOMIC_CAS negative control replaces it: broken.h.)
 */
#ifdef BROKEN_PUBLISH_CAS
#define publish_cas BROKEN_PUBLISH_CAS
#else
#define publish_cas(slot, expected, desired) cas_acq_rel(slot, expected, desired)
#endif

/*
 * The slot of the probe's key in the newest generation reachable from *tp,
 * ready for a CAS: never frozen, never unfilled. Fills the newer slot first
 * when the key's slot is frozen, so the update lands after the migration.
 */
static int locate_write(struct rcumap *map, struct rcumap_table **tp, uint32_t h,
			uintptr_t **slotp, uintptr_t *sp)
{
	struct rcumap_table *t = *tp;

	for (;;) {
		uintptr_t *slot = &t->slots[h & t->mask];
		/* O1, O2, O3: pairs with the slot CAS that published the bucket. */
		uintptr_t s = load_acquire(slot);
		struct rcumap_table *nt;
		int r;

		TORTURE_SEEN(t, RCUMAP_KIND_TABLE);
		if (slot_bucket(s) != &rcumap_empty)
			TORTURE_SEEN(slot_bucket(s), RCUMAP_KIND_BUCKET);
		if (likely(!(s & SLOT_FROZEN)) || broken_stale_gen()) {
			*tp = t;
			*slotp = slot;
			*sp = s;
			return 0;
		}
		/* O3: pairs with the release of the freeze CAS (and of t->next's store). */
		nt = load_acquire(&t->next);
		debug_assert("I3", nt != NULL);
		r = rcumap__fill_dest(map, t, nt, h & nt->mask);
		if (r)
			return r;
		t = nt;
	}
}

/* What one attempt decided: the new bucket to publish, or none. */
struct change {
	struct rcumap_bucket *nb;  /* NULL: no change (or allocation failed) */
	uint32_t dead;             /* what the old bucket takes with it */
	long delta;                /* entry count change */
	int changes;               /* 1 when the map must change */
};

/* Decide the outcome of op on bucket b; allocates the new bucket. */
static int decide(struct rcumap *map, enum op op, const struct rcumap_bucket *b,
		  const struct rcumap_probe *p, struct rcumap_rec *rec, int *built,
		  void *value, void *expected, void **result, struct change *c)
{
	long i = bucket_find(b, p);
	int ret;

	memset(c, 0, sizeof(*c));
	if (i < 0) {
		if (op != OP_INSERT && op != OP_PUT && op != OP_GET_OR_INSERT)
			return -ENOENT;
		ret = make_rec(map, rec, built, p, value);
		if (ret)
			return ret;
		c->changes = 1;
		c->delta = 1;
		c->nb = bucket_add(map, b, rec);
		return 0;
	}
	switch (op) {
	case OP_INSERT:
		return -EEXIST;
	case OP_GET_OR_INSERT:
		*result = b->rec[i].value;
		return -EEXIST;
	case OP_CAS:
	case OP_DELETE_IF:
		if (b->rec[i].value != expected)
			return -EAGAIN;
		break;
	default:
		break;
	}
	if (op == OP_DELETE || op == OP_DELETE_IF) {
		c->changes = 1;
		c->delta = -1;
		c->dead = DEAD_ENTRY | (uint32_t)i;
		c->nb = bucket_del(map, b, (uint32_t)i);
		return 0;
	}
	if (b->rec[i].value == value)
		return 0;  /* storing the pointer already stored changes nothing */
	c->changes = 1;
	c->dead = DEAD_VALUE | (uint32_t)i;
	c->nb = bucket_set(map, b, (uint32_t)i, value);
	return 0;
}

/* Torture builds: report what a winning CAS made reachable. */
static inline void torture_published(const struct change *c, const struct rcumap_rec *rec,
				     enum op op, void *value)
{
	(void)c, (void)rec, (void)op, (void)value;
	if (c->nb != &rcumap_empty)
		TORTURE_PUBLISH(c->nb, RCUMAP_KIND_BUCKET);
	if (c->delta > 0 && rec_len(rec) > KEY_INLINE)
		TORTURE_PUBLISH(rec->key.ext, RCUMAP_KIND_ENTRY);
	if (c->delta >= 0 && op != OP_DELETE && op != OP_DELETE_IF)
		TORTURE_PUBLISH(value, RCUMAP_TORTURE_KIND_VALUE);
}

static int update(struct rcumap *map, enum op op, const void *key, size_t len,
		  void *value, void *expected, void **result)
{
	struct rcumap_probe p;
	struct rcumap_rec rec;
	struct rcumap_table *t, *t0;
	struct change c = { 0 };
	uintptr_t *slot, s;
	int built = 0, ret, grew = 0, early;

	probe_init(&p, rcumap__hash(map, key, len), key, len);
	map->flavor->read_lock();
	/* O5: pairs with the release store of map->cur. */
	t0 = t = load_acquire(&map->cur);
	ret = locate_write(map, &t, (uint32_t)p.tag, &slot, &s);
	while (ret == 0) {
		struct rcumap_bucket *b = slot_bucket(s);

		assert_home(t, b, (uint32_t)p.tag);
		ret = decide(map, op, b, &p, &rec, &built, value, expected, result, &c);
		if (ret || !c.changes)
			break;
		if (!c.nb) {
			ret = -ENOMEM;
			break;
		}
		early = broken_retire_early(map, b, c.dead);  /* broken.h: RETIRE_EARLY only */
		TORTURE_POINT(RCUMAP_TP_PUBLISH);
		/* O1: see publish_cas above (cas_acq_rel). */
		if (publish_cas(slot, &s, slot_word(c.nb))) {
			struct rcumap_stripe *st;

			torture_published(&c, &rec, op, value);
			TORTURE_POINT(RCUMAP_TP_UNLINK);
			/* NULL when another thread holds it: then no bag, atomic counts. */
			st = rcumap__stripe_trylock(map);
			if (b != &rcumap_empty && !early) {
				rcumap__retire_bucket(map, st, b, c.dead);
				broken_double_retire(map, st, b, c.dead);  /* broken.h: DOUBLE_RETIRE only */
			}
			if (c.delta)
				rcumap__count_add(map, st, c.delta);
			if (st)
				rcumap__stripe_unlock(map, st);
			if (op == OP_GET_OR_INSERT)
				*result = value;
			if (c.delta > 0)
				built = 0;  /* the key copy now belongs to the map */
			grew = c.nb->n > 8;
			break;
		}
		rcumap__bucket_free(map, c.nb);  /* never published */
		if (s & SLOT_FROZEN)
			ret = locate_write(map, &t, (uint32_t)p.tag, &slot, &s);
	}
	/*
	 * A migration is pending if this update had to follow a forwarding
	 * mark, or cur has a newer generation: then help drive it to its end.
	 * Relaxed: t0->next is only a hint; the policy re-reads under its lock.
	 */
	if (ret == 0 && c.changes &&
	    (unlikely(++tls_ops % 32 == 0) || grew || t != t0 ||
	     unlikely(load_relaxed(&t0->next) != NULL)))
		rcumap__maybe_resize(map);
	map->flavor->read_unlock();
	if (built && p.len > KEY_INLINE)
		rcumap__free(map, (void *)rec.key.ext, p.len, RCUMAP_KIND_ENTRY);
	return ret;
}

#define CHECK_ARGS(map, key, len) \
	do { if (!(map) || !key_ok(key, len)) return -EINVAL; } while (0)

int rcumap_insert(struct rcumap *map, const void *key, size_t len, void *value)
{
	CHECK_ARGS(map, key, len);
	if (!value)
		return -EINVAL;
	return update(map, OP_INSERT, key, len, value, NULL, NULL);
}

int rcumap_put(struct rcumap *map, const void *key, size_t len, void *value)
{
	CHECK_ARGS(map, key, len);
	if (!value)
		return -EINVAL;
	return update(map, OP_PUT, key, len, value, NULL, NULL);
}

int rcumap_replace(struct rcumap *map, const void *key, size_t len, void *value)
{
	CHECK_ARGS(map, key, len);
	if (!value)
		return -EINVAL;
	return update(map, OP_REPLACE, key, len, value, NULL, NULL);
}

int rcumap_cas(struct rcumap *map, const void *key, size_t len, void *expected,
	       void *desired)
{
	CHECK_ARGS(map, key, len);
	if (!expected || !desired)
		return -EINVAL;
	return update(map, OP_CAS, key, len, desired, expected, NULL);
}

int rcumap_delete(struct rcumap *map, const void *key, size_t len)
{
	CHECK_ARGS(map, key, len);
	return update(map, OP_DELETE, key, len, NULL, NULL, NULL);
}

int rcumap_delete_if(struct rcumap *map, const void *key, size_t len, void *expected)
{
	CHECK_ARGS(map, key, len);
	if (!expected)
		return -EINVAL;
	return update(map, OP_DELETE_IF, key, len, NULL, expected, NULL);
}

int rcumap_get_or_insert(struct rcumap *map, const void *key, size_t len, void *value,
			 void **result)
{
	CHECK_ARGS(map, key, len);
	if (!value || !result)
		return -EINVAL;
	return update(map, OP_GET_OR_INSERT, key, len, value, NULL, result);
}
