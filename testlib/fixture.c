/* SPDX-License-Identifier: MIT */
/* fixture.c: the cmocka unit tests' fixture, heap values and runner (see fixture.h). */

#define _GNU_SOURCE

#include "flavor.h" /* first: the liburcu flavor header */

#include <errno.h>
#include <fnmatch.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rcumap.h>

#include "fixture.h"

/* ---- Small utilities ------------------------------------------------------ */

char fx_sentinel_object;

uint64_t test_seed(void)
{
	static uint64_t seed;
	const char *e;

	if (!seed) {
		e = getenv("RCUMAP_TEST_SEED");
		seed = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL);
		if (!seed)
			seed = 1;
		print_message("# seed %llu (replay with RCUMAP_TEST_SEED)\n",
			      (unsigned long long)seed);
	}
	return seed;
}

void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };

	test_offline();
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	test_online();
}

void *get_locked(struct rcumap *map, const void *key, size_t len)
{
	void *v;

	test_reader_enter();
	v = rcumap_get(map, key, len);
	test_reader_leave();
	return v;
}

/* Poisoned first, so that a field the call forgets to write shows. */
static int stats_read(struct rcumap *map, struct rcumap_stats *st)
{
	memset(st, 0xa5, sizeof(*st));
	return rcumap_stats(map, st);
}

struct rcumap_stats stats_of(struct rcumap *map)
{
	struct rcumap_stats st;

	assert_rc(stats_read(map, &st), 0);
	return st;
}

struct rcumap_stats stats_peek(struct rcumap *map)
{
	struct rcumap_stats st;

	if (stats_read(map, &st) != 0)
		memset(&st, 0, sizeof(st));
	return st;
}

uint32_t fold64(uint64_t h)
{
	return (uint32_t)(h ^ (h >> 32));
}

/* ---- Keys ------------------------------------------------------------------ */

size_t ikey_make(enum kspace ks, size_t id, unsigned char buf[IKEY_BUF])
{
	if (ks == KS_NUM)
		return key_make(id, buf);
	for (size_t j = 0; j < id && j < IKEY_BUF; j++)
		buf[j] = (unsigned char)(id * 7 + j * 13 + 1);
	return id;
}

long ikey_decode(enum kspace ks, const void *key, size_t len, size_t nkeys)
{
	unsigned char want[IKEY_BUF];
	size_t id;

	if (len && !key)
		return -1;
	if (ks == KS_NUM) {
		if (len < 8 || len > KEY_BUF)
			return -1;
		id = (size_t)key_index(key, len);
	} else {
		id = len;
	}
	if (id >= nkeys || id >> 20 >> 20) /* id >= 2^40; two shifts: size_t may be 32-bit */
		return -1;
	if (ikey_make(ks, id, want) != len || (len && memcmp(want, key, len) != 0))
		return -1;
	return (long)id;
}

/* ---- The fixture ------------------------------------------------------------- */

static const uint32_t *sort_folds;

static int cmp_by_fold(const void *a, const void *b)
{
	uint32_t x = sort_folds[*(const size_t *)a], y = sort_folds[*(const size_t *)b];

	return x < y ? -1 : x > y;
}

/* Each key's folded hash under the map's hash, the keys in that order, the largest group. */
static void fx_folds(struct fx *f)
{
	unsigned char k[IKEY_BUF];

	assert_non_null(f->cfg.hash);
	f->fold = malloc((f->nkeys ? f->nkeys : 1) * sizeof(*f->fold));
	f->byfold = malloc((f->nkeys ? f->nkeys : 1) * sizeof(*f->byfold));
	assert_true(f->fold && f->byfold);
	for (size_t i = 0; i < f->nkeys; i++) {
		size_t len = ikey_make(f->ks, i, k);

		f->fold[i] = fold64(f->cfg.hash(k, len, f->cfg.hash_arg));
		f->byfold[i] = i;
	}
	sort_folds = f->fold;
	qsort(f->byfold, f->nkeys, sizeof(*f->byfold), cmp_by_fold);
	f->gmax = f->nkeys ? 1 : 0;
	for (size_t i = 1, run = 1; i < f->nkeys; i++) {
		run = f->fold[f->byfold[i]] == f->fold[f->byfold[i - 1]] ? run + 1 : 1;
		if (run > f->gmax)
			f->gmax = run;
	}
}

void fx_open(struct fx *f, const struct fx_opts *o)
{
	memset(f, 0, sizeof(*f));
	f->ca = malloc(sizeof(*f->ca));
	f->tr = malloc(sizeof(*f->tr));
	f->ref = calloc(o->nkeys ? o->nkeys : 1, sizeof(*f->ref));
	f->owner = malloc((o->nvals ? o->nvals : 1) * sizeof(*f->owner));
	assert_true(f->ca && f->tr && f->ref && f->owner);
	ca_init(f->ca);
	f->ca->max_size = o->max_alloc;
	tracker_init(f->tr, o->nvals);
	assert_size(f->tr->n, o->nvals);
	for (size_t v = 0; v < o->nvals; v++)
		f->owner[v] = SIZE_MAX;
	f->nkeys = o->nkeys;
	f->ks = o->ks;
	f->rng = mix64(test_seed() ^ o->nkeys) | 1;

	f->cfg.flavor = RCUMAP_FLAVOR;
	if (!o->no_free_value) {
		f->cfg.free_value = tracker_free_value;
		f->cfg.free_value_arg = f->tr;
	}
	f->cfg.hash = o->hash;
	f->cfg.hash_arg = o->hash_arg;
	f->cfg.min_slots = o->min_slots;
	f->cfg.alloc = ca_alloc;
	f->cfg.free = ca_free;
	f->cfg.alloc_arg = f->ca;
	if (o->folds)
		fx_folds(f);
	assert_rc(rcumap_create(&f->cfg, &f->map), 0);
	assert_non_null(f->map);
}

struct tval *fx_val(struct fx *f, size_t i)
{
	assert_true(i < f->tr->n);
	return &f->tr->v[i];
}

struct tval *fx_fresh(struct fx *f, size_t id)
{
	struct tval *v;

	if (f->next_val >= f->tr->n)
		return NULL;
	v = &f->tr->v[f->next_val++];
	f->owner[v->id] = id;
	return v;
}

size_t fx_rand(struct fx *f, size_t n)
{
	return n ? (size_t)(rng_next(&f->rng) % n) : 0;
}

void fx_ref_set(struct fx *f, size_t i, struct tval *v)
{
	assert_true(i < f->nkeys);
	if (f->ref[i])
		f->ref[i]->in_map = false;
	f->ref[i] = v;
	if (v) {
		v->owned = true;
		v->in_map = true;
	}
}

void fx_ref_clear(struct fx *f)
{
	for (size_t i = 0; i < f->nkeys; i++)
		fx_ref_set(f, i, NULL);
}

size_t fx_present(const struct fx *f)
{
	size_t n = 0;

	for (size_t i = 0; i < f->nkeys; i++)
		n += f->ref[i] != NULL;
	return n;
}

/* rcumap_insert or rcumap_put of v for key, recorded on success. */
static int fx_store(struct fx *f, size_t key, struct tval *v,
		    int (*store)(struct rcumap *, const void *, size_t, void *))
{
	unsigned char k[IKEY_BUF];
	size_t len = ikey_make(f->ks, key, k);
	int rc = store(f->map, k, len, v);

	if (rc == 0)
		fx_ref_set(f, key, v);
	return rc;
}

int fx_insert(struct fx *f, size_t key, size_t val)
{
	return fx_store(f, key, fx_val(f, val), rcumap_insert);
}

int fx_put(struct fx *f, size_t key, size_t val)
{
	return fx_store(f, key, fx_val(f, val), rcumap_put);
}

int fx_delete(struct fx *f, size_t key)
{
	unsigned char k[IKEY_BUF];
	size_t len = ikey_make(f->ks, key, k);
	int rc = rcumap_delete(f->map, k, len);

	if (rc == 0)
		fx_ref_set(f, key, NULL);
	return rc;
}

struct tval *fx_get(struct fx *f, size_t key)
{
	unsigned char k[IKEY_BUF];
	size_t len = ikey_make(f->ks, key, k);

	return get_locked(f->map, k, len);
}

void fx_fill(struct fx *f, size_t lo, size_t hi)
{
	size_t since = 0;

	for (size_t i = lo; i < hi; i++) {
		struct tval *v = fx_fresh(f, i);

		if (!v)
			fail_msg("the value pool ran out filling key %zu", i);
		assert_rc(fx_store(f, i, v, rcumap_insert), 0);
		fx_pace(f, &since);
	}
}

/*
 * Resizes are gated: a new one starts only once the previous generation has
 * been reclaimed, which takes a grace period (~10 ms of call_rcu latency).
 * A single thread inserting flat out would otherwise outrun the gate and
 * pile thousands of entries into each bucket. Every 64 updates the thread
 * passes a quiescent state (qsbr), and when the table looks stuck (no
 * migration running, load far off any sane target) it waits for
 * reclamation, at most once per entries/16 updates so that a policy with
 * other thresholds costs a bounded number of barriers.
 */
void fx_pace(struct fx *f, size_t *since_barrier)
{
	struct rcumap_stats st;
	size_t spacing;

	++*since_barrier;
	if (*since_barrier % 64)
		return;
	test_quiesce();
	st = stats_of(f->map);
	spacing = st.entries / 16 > 64 ? st.entries / 16 : 64;
	if (st.resizing || *since_barrier < spacing)
		return;
	if (st.entries > 8 * st.slots || (st.entries * 32 < st.slots && st.slots > 64)) {
		fx_barrier(f);
		*since_barrier = 0;
	}
}

void fx_barrier(struct fx *f)
{
	assert_rc(rcumap_barrier(f->map), 0);
}

/* Keys keys[j] (or j itself without a list) for j in [lo, hi), every stride-th. */
static void fx_check_each(struct fx *f, const size_t *keys, size_t lo, size_t hi, size_t stride)
{
	unsigned char k[IKEY_BUF];

	test_reader_enter();
	for (size_t j = lo; j < hi; j += stride) {
		size_t i = keys ? keys[j] : j, len = ikey_make(f->ks, i, k);
		struct tval *got = rcumap_get(f->map, k, len);

		if (got != f->ref[i]) {
			test_reader_leave();
			fail_msg("key %zu: got %p (value %zd), expected %p (value %zd)", i,
				 (void *)got, got ? (ssize_t)got->id : -1, (void *)f->ref[i],
				 f->ref[i] ? (ssize_t)f->ref[i]->id : -1);
		}
		if (got && got->magic != TVAL_LIVE) {
			test_reader_leave();
			fail_msg("key %zu: value %zu was freed while stored", i, got->id);
		}
		if ((j & 1023) == 1023) { /* keep read sections short */
			test_reader_leave();
			test_quiesce();
			test_reader_enter();
		}
	}
	test_reader_leave();
}

void fx_check_range(struct fx *f, size_t lo, size_t hi, size_t stride)
{
	assert_size(rcumap_count(f->map), fx_present(f));
	fx_check_each(f, NULL, lo, hi, stride);
}

void fx_check_keys(struct fx *f, const size_t *keys, size_t n, size_t stride)
{
	fx_check_each(f, keys, 0, n, stride);
}

void fx_check(struct fx *f)
{
	fx_check_range(f, 0, f->nkeys, 1);
	assert_rc(rcumap_validate(f->map), 0);
}

void fx_check_frees(struct fx *f)
{
	assert_size(atomic_load(&f->tr->errors), 0);
	for (size_t i = 0; i < f->tr->n; i++) {
		struct tval *v = &f->tr->v[i];
		unsigned want = v->owned && !v->in_map;

		if (tval_freed(v) != want)
			fail_msg("value %zu: freed %u times, expected %u (owned %d, in map %d)",
				 i, tval_freed(v), want, v->owned, v->in_map);
	}
}

void fx_check_reclaimed(struct fx *f)
{
	struct rcumap_stats st = stats_of(f->map);

	for (int k = 0; k < RCUMAP_STATS_KINDS; k++) {
		if (st.kind[k].retired != st.kind[k].reclaimed ||
		    st.kind[k].retired_bytes != st.kind[k].reclaimed_bytes)
			fail_msg("kind %d: retired %llu (%llu bytes), reclaimed %llu (%llu bytes)",
				 k, (unsigned long long)st.kind[k].retired,
				 (unsigned long long)st.kind[k].retired_bytes,
				 (unsigned long long)st.kind[k].reclaimed,
				 (unsigned long long)st.kind[k].reclaimed_bytes);
	}
}

void ca_check_balanced(struct count_alloc *ca)
{
	assert_size(atomic_load(&ca->errors), 0);
	assert_size(atomic_load(&ca->allocs), atomic_load(&ca->frees));
	assert_size(atomic_load(&ca->alloc_bytes), atomic_load(&ca->free_bytes));
	for (int k = 0; k < CA_KINDS; k++)
		if (atomic_load(&ca->kind_allocs[k]) != atomic_load(&ca->kind_frees[k]))
			fail_msg("kind %d: %lu allocations, %lu frees", k,
				 atomic_load(&ca->kind_allocs[k]),
				 atomic_load(&ca->kind_frees[k]));
}

size_t fx_nonempty_slots(const struct fx *f, size_t slots, size_t below)
{
	unsigned char *seen = calloc(slots, 1);
	size_t n = 0;

	if (!seen || !f->fold) { /* never asserts: scan callbacks call it */
		free(seen);
		return 0;
	}
	for (size_t i = 0; i < f->nkeys; i++) {
		size_t d = f->fold[i] & (slots - 1);

		if (f->ref[i] && d < below && !seen[d]) {
			seen[d] = 1;
			n++;
		}
	}
	free(seen);
	return n;
}

int fx_resize_failing(struct fx *f, size_t slots, unsigned long m)
{
	int rc;

	ca_arm(f->ca, m, true);
	rc = rcumap_resize(f->map, slots);
	ca_disarm(f->ca);
	return rc;
}

void fx_destroyed(struct fx *f)
{
	f->map = NULL;
	for (size_t i = 0; i < f->tr->n; i++)
		f->tr->v[i].in_map = false;
	if (f->cfg.free_value) {
		fx_check_frees(f);
	} else {
		for (size_t i = 0; i < f->tr->n; i++)
			assert_int_equal(tval_freed(&f->tr->v[i]), 0);
	}
	ca_check_balanced(f->ca);
	assert_true(atomic_load(&f->ca->allocs) > 0); /* the allocator was really used */
	tracker_fini(f->tr);
	free(f->tr);
	free(f->ca);
	free(f->ref);
	free(f->owner);
	free(f->fold);
	free(f->byfold);
	memset(f, 0, sizeof(*f));
}

void fx_close(struct fx *f)
{
	assert_rc(rcumap_destroy(f->map), 0);
	fx_destroyed(f);
}

/* ---- Heap values ------------------------------------------------------------- */

static uint64_t hval_check(uint32_t key, uint64_t serial)
{
	return mix64(((uint64_t)key << 32) ^ serial ^ 0x6a09e667f3bcc908ull);
}

void hval_free_value(void *value, void *arg)
{
	struct hvals *h = arg;
	struct hval *v = value;

	if (v->magic != HVAL_LIVE)
		atomic_fetch_add(&h->free_errors, 1);
	*(volatile uint64_t *)&v->magic = HVAL_DEAD; /* a late reader sees DEAD */
	free(v);
	atomic_fetch_add(&h->map_freed, 1);
}

struct hval *hval_new(struct hvals *h, uint32_t key, uint32_t writer)
{
	struct hval *v = malloc(sizeof(*v));

	if (!v)
		abort();
	v->magic = HVAL_LIVE;
	v->key = key;
	v->writer = writer;
	v->serial = atomic_fetch_add(&h->serial, 1);
	v->check = hval_check(key, v->serial);
	atomic_fetch_add(&h->created, 1);
	return v;
}

void hval_drop(struct hvals *h, struct hval *v)
{
	v->magic = HVAL_DEAD;
	free(v);
	atomic_fetch_add(&h->caller_freed, 1);
}

const char *hval_bad(const struct hval *v, uint32_t key)
{
	if (!v)
		return "a NULL value";
	if (v->magic != HVAL_LIVE)
		return "a freed value";
	if (v->key != key || v->check != hval_check(v->key, v->serial))
		return "a value written for another key";
	return NULL;
}

struct hmap *hmap_open(size_t min_slots)
{
	struct hmap *h = calloc(1, sizeof(*h));
	struct rcumap_config cfg = {
		.flavor = RCUMAP_FLAVOR, .free_value = hval_free_value, .alloc = ca_alloc,
		.free = ca_free, .min_slots = min_slots,
	};

	assert_non_null(h);
	ca_init(&h->ca);
	cfg.free_value_arg = &h->vals;
	cfg.alloc_arg = &h->ca;
	assert_rc(rcumap_create(&cfg, &h->map), 0);
	return h;
}

void hmap_close(struct hmap *h)
{
	assert_rc(rcumap_destroy(h->map), 0);
	assert_size(atomic_load(&h->vals.free_errors), 0);
	assert_size(atomic_load(&h->vals.created),
		    atomic_load(&h->vals.map_freed) + atomic_load(&h->vals.caller_freed));
	ca_check_balanced(&h->ca);
	free(h);
}

/* ---- Runner ------------------------------------------------------------------- */

int fx_test_setup(void **state)
{
	(void)state;
	test_thread_reset(); /* a failed test may have left a section open or qsbr offline */
	return 0;
}

int fx_run(const char *name, const struct fx_group *groups, size_t ngroups,
	   const char *filter_env, const char *skip_env)
{
	const char *filter = getenv(filter_env), *skip = getenv(skip_env);
	struct CMUnitTest *tests;
	size_t n = 0, total = 0;
	int runs = 0, failed;

	for (size_t g = 0; g < ngroups; g++)
		total += groups[g].n;
	tests = malloc((total ? total : 1) * sizeof(*tests));
	if (!tests) {
		perror(name);
		return 1;
	}
	for (size_t g = 0; g < ngroups; g++)
		for (size_t i = 0; i < groups[g].n; i++)
			tests[n++] = groups[g].tests[i];
	/* cmocka's glob over test names (* and ?, as fnmatch without flags) */
	for (size_t i = 0; i < n; i++)
		runs += (!filter || fnmatch(filter, tests[i].name, 0) == 0) &&
			!(skip && fnmatch(skip, tests[i].name, 0) == 0);
	if (filter)
		cmocka_set_test_filter(filter);
	if (skip)
		cmocka_set_skip_filter(skip);
	/* A hung library call (a writer waiting for a reader) must not hang make check. */
	alarm(under_valgrind() ? 3600 : 600);
	test_thread_register();
	(void)test_seed(); /* print it first */
	failed = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
	test_thread_unregister();
	free(tests);
	/* The plain summary line the CI log reader looks for. */
	printf("%d passed, %d failed\n", runs - failed, failed);
	return failed ? 1 : 0;
}
