/* SPDX-License-Identifier: MIT */
/* iter_concurrent.c: test_iter's concurrent test: writers, a resizer and traversals of both kinds at once. */

#define _GNU_SOURCE

#include "flavor.h" /* first: the liburcu flavor header */

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <rcumap.h>

#include "fixture.h"
#include "iter_tests.h"

/* ---- Concurrent: writers, a resizer and traversals of both kinds ----------------------- */

/*
 * Keys [0, C_STABLE): inserted before, never touched: every traversal must
 * return each exactly once. [C_STABLE, C_STABLE + C_REPL): always present,
 * their values replaced all the time (put, replace, cas): also exactly once,
 * each time with a value written for that key. The rest churn (inserted,
 * deleted, replaced): at most once. Values are fixture.h's heap values,
 * which carry the key and a check word; free_value poisons them before
 * freeing.
 */
#define C_STABLE 2000u
#define C_REPL 400u
#define C_CHURN 1600u
#define C_KEYS (C_STABLE + C_REPL + C_CHURN)
#define WRITER_PAUSE_US 200 /* after every 32 updates */

enum cthread_kind { CT_WRITER, CT_RESIZER, CT_ITER, CT_SCAN };

struct cthread {
	struct hmap *c;      /* the map, of heap values (fixture.h) */
	enum cthread_kind kind;
	int id;
	pthread_t tid;
	uint64_t rng;
	/* results, read after the join */
	unsigned long ops, traversals, calls, entries, spanning, max_gens, resizes, busy;
	unsigned long kinds[E_KINDS];
	struct soft soft;
	/* per traversal */
	unsigned *count;
	const struct hval **held;
	size_t nheld;
};

static void cerr(struct cthread *t, enum terr kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cerr(struct cthread *t, enum terr kind, const char *fmt, ...)
{
	va_list ap;

	t->kinds[kind]++;
	va_start(ap, fmt);
	soft_vfail(&t->soft, fmt, ap);
	va_end(ap);
}

static struct hval *cval_new(struct cthread *t, uint32_t key)
{
	return hval_new(&t->c->vals, key, (uint32_t)t->id);
}

/* A returned value must be live and written for this key. */
static void cval_verify(struct cthread *t, const struct hval *v, uint32_t key)
{
	const char *why = hval_bad(v, key);

	if (why)
		cerr(t, E_BADVALUE, "BADVALUE: key %u returned with %s", key, why);
}

static int conc_update(struct cthread *t, uint32_t key, unsigned op)
{
	struct rcumap *map = t->c->map;
	unsigned char k[KEY_BUF];
	size_t len = key_make(key, k);
	bool repl = key < C_STABLE + C_REPL;
	struct hval *v = NULL;
	void *res = NULL, *cur;
	int rc;

	if (repl)
		op %= 3; /* put, replace, cas: the key never goes away */
	switch (op % 7) {
	case 0:
		v = cval_new(t, key);
		rc = rcumap_put(map, k, len, v);
		if (rc != 0)
			cerr(t, E_UPDATE, "UPDATE: put of key %u returned %d", key, rc);
		break;
	case 1:
		v = cval_new(t, key);
		rc = rcumap_replace(map, k, len, v);
		if (rc != 0 && (repl || rc != -ENOENT))
			cerr(t, E_UPDATE, "UPDATE: replace of key %u returned %d", key, rc);
		break;
	case 2:
		test_reader_enter();
		cur = rcumap_get(map, k, len);
		if (cur) {
			cval_verify(t, cur, key);
			v = cval_new(t, key);
			rc = rcumap_cas(map, k, len, cur, v);
			if (rc != 0 && rc != -EAGAIN && (repl || rc != -ENOENT))
				cerr(t, E_UPDATE, "UPDATE: cas of key %u returned %d", key, rc);
		} else {
			rc = -ENOENT;
			if (repl)
				cerr(t, E_UPDATE, "UPDATE: always-present key %u not found", key);
		}
		test_reader_leave();
		break;
	case 3:
		v = cval_new(t, key);
		rc = rcumap_insert(map, k, len, v);
		if (rc != 0 && rc != -EEXIST)
			cerr(t, E_UPDATE, "UPDATE: insert of key %u returned %d", key, rc);
		break;
	case 4:
		v = cval_new(t, key);
		rc = rcumap_get_or_insert(map, k, len, v, &res);
		if (rc != 0 && rc != -EEXIST)
			cerr(t, E_UPDATE, "UPDATE: get_or_insert of key %u returned %d", key, rc);
		break;
	case 5:
		rc = rcumap_delete(map, k, len);
		if (rc != 0 && rc != -ENOENT)
			cerr(t, E_UPDATE, "UPDATE: delete of key %u returned %d", key, rc);
		break;
	default:
		test_reader_enter();
		cur = rcumap_get(map, k, len);
		rc = cur ? rcumap_delete_if(map, k, len, cur) : -ENOENT;
		if (rc != 0 && rc != -EAGAIN && rc != -ENOENT)
			cerr(t, E_UPDATE, "UPDATE: delete_if of key %u returned %d", key, rc);
		test_reader_leave();
		break;
	}
	if (v && rc != 0)
		hval_drop(&t->c->vals, v);
	t->ops++;
	return rc;
}

static void *writer_main(void *arg)
{
	struct cthread *t = arg;

	test_thread_register();
	while (!atomic_load_explicit(&t->c->stop, memory_order_relaxed)) {
		for (int i = 0; i < 32; i++) {
			uint64_t r = rng_next(&t->rng);
			uint32_t key = C_STABLE + (uint32_t)((r >> 8) % (C_REPL + C_CHURN));

			conc_update(t, key, (unsigned)(r >> 40));
		}
		test_quiesce();
		/*
		 * Every update retires a bucket through call_rcu. Flat out, two
		 * writers queue callbacks faster than the one call_rcu worker
		 * frees them on two cores, and the resize gate (which waits for
		 * the retired table's callback) would open a few times a run.
		 */
		sleep_us(WRITER_PAUSE_US);
	}
	test_thread_unregister();
	return NULL;
}

static void *resizer_main(void *arg)
{
	static const size_t sizes[] = { 64, 4096, 16, 1024, 8, 256, 8192, 32, 2048, 1, 512, 128 };
	struct cthread *t = arg;
	size_t i = 0;

	test_thread_register();
	while (!atomic_load_explicit(&t->c->stop, memory_order_relaxed)) {
		int rc = rcumap_resize(t->c->map, sizes[i % (sizeof(sizes) / sizeof(sizes[0]))]);

		if (rc == 0) {
			t->resizes++;
			i++;
		} else if (rc == -EBUSY) {
			/* The gate is closed (or another thread drives): wait for reclamation. */
			t->busy++;
			rc = rcumap_barrier(t->c->map);
			if (rc != 0)
				cerr(t, E_SETUP, "SETUP: rcumap_barrier in the resizer returned %d", rc);
		} else {
			cerr(t, E_SETUP, "SETUP: rcumap_resize returned %d", rc);
		}
		test_quiesce();
	}
	test_thread_unregister();
	return NULL;
}

static void citer_entry(struct cthread *t, const void *key, size_t len, const void *value)
{
	long id = ikey_decode(KS_NUM, key, len, C_KEYS);

	t->entries++;
	if (id < 0) {
		cerr(t, E_BADKEY, "BADKEY: a returned key (%zu bytes) is not a key of the test", len);
		return;
	}
	if (++t->count[id] == 2)
		cerr(t, E_DUPLICATE, "DUPLICATE: key %ld returned twice in one traversal (T3)", id);
	cval_verify(t, value, (uint32_t)id);
}

static void citer_end(struct cthread *t, uint64_t gen0)
{
	uint64_t gens = stats_peek(t->c->map).generation - gen0;

	for (uint32_t i = 0; i < C_STABLE + C_REPL; i++)
		if (t->count[i] == 0)
			cerr(t, E_MISSED, "MISSED: key %u (%s) not returned by a traversal (T2)", i,
			     i < C_STABLE ? "never touched" : "always present, values replaced");
	t->traversals++;
	t->spanning += gens > 0;
	if (gens > t->max_gens)
		t->max_gens = gens;
}

static void *iter_main(void *arg)
{
	struct cthread *t = arg;

	test_thread_register();
	while (!atomic_load_explicit(&t->c->stop, memory_order_relaxed)) {
		struct rcumap_iter it;
		const void *key;
		size_t len;
		void *value;
		uint64_t gen0 = stats_peek(t->c->map).generation;
		int rc;

		memset(t->count, 0, C_KEYS * sizeof(*t->count));
		t->nheld = 0;
		test_reader_enter();
		rc = rcumap_iter_init(t->c->map, &it);
		while (rc == 0 && (rc = rcumap_iter_next(t->c->map, &it, &key, &len, &value)) == 1) {
			rc = 0;
			citer_entry(t, key, len, value);
			if (t->nheld < 2 * C_KEYS)
				t->held[t->nheld++] = value;
			if (t->nheld >= 2 * C_KEYS) {
				cerr(t, E_DUPLICATE, "DUPLICATE: the iterator does not end");
				break;
			}
		}
		if (rc < 0)
			cerr(t, E_SETUP, "SETUP: iterator returned %d", rc);
		/* Every value returned is still intact at the end of the section. */
		for (size_t i = 0; i < t->nheld; i++)
			if (t->held[i]->magic != HVAL_LIVE)
				cerr(t, E_BADVALUE,
				     "BADVALUE: a returned value was freed before the read section ended");
		test_reader_leave();
		citer_end(t, gen0);
		test_quiesce();
		if (t->traversals % 16 == 0)
			sleep_us(200);
	}
	test_thread_unregister();
	return NULL;
}

static void cscan_cb(const void *key, size_t len, void *value, void *arg)
{
	struct cthread *t = arg;
	long id = ikey_decode(KS_NUM, key, len, C_KEYS);

	citer_entry(t, key, len, value);
	/* T5 under concurrency: update keys from inside the callback. */
	if (id >= (long)C_STABLE && rng_next(&t->rng) % 8 == 0)
		conc_update(t, (uint32_t)id, (unsigned)(rng_next(&t->rng) >> 20));
}

static void *scan_main(void *arg)
{
	struct cthread *t = arg;

	test_thread_register();
	while (!atomic_load_explicit(&t->c->stop, memory_order_relaxed)) {
		uint64_t cursor = 0, prev = 0, gen0 = stats_peek(t->c->map).generation;
		unsigned long calls = 0;

		memset(t->count, 0, C_KEYS * sizeof(*t->count));
		do {
			size_t max = 1 + (size_t)(rng_next(&t->rng) % 7);
			int rc = rcumap_scan(t->c->map, &cursor, max, cscan_cb, t);

			if (rc != 0) {
				cerr(t, E_SETUP, "SETUP: rcumap_scan returned %d", rc);
				break;
			}
			if (cursor != 0 && cursor <= prev)
				cerr(t, E_CURSOR, "CURSOR: a scan call moved the cursor from %#llx to %#llx",
				     (unsigned long long)prev, (unsigned long long)cursor);
			prev = cursor;
			test_quiesce();
			/* The cursor holds nothing: pause, yield, let resizes happen. */
			if (++calls % 64 == 0)
				sleep_us(100);
			else if (calls % 8 == 0)
				sched_yield();
			if (calls > 4 * C_KEYS) {
				cerr(t, E_DUPLICATE, "DUPLICATE: the scan does not end");
				break;
			}
		} while (cursor != 0 && !atomic_load_explicit(&t->c->stop, memory_order_relaxed));
		t->calls += calls;
		if (cursor == 0)
			citer_end(t, gen0);
	}
	test_thread_unregister();
	return NULL;
}

static double conc_seconds(void)
{
	const char *e = getenv("RCUMAP_TEST_ITER_SECONDS");

	if (e && atof(e) > 0)
		return atof(e);
	if (under_valgrind())
		return 2;
#ifdef RCUMAP_DEBUG
	return 3;
#else
	return 8;
#endif
}

static void traversals_under_concurrent_writers_and_resizes_return_stable_keys_exactly_once(void **state)
{
	static const enum cthread_kind kinds[] = { CT_WRITER, CT_WRITER, CT_RESIZER, CT_ITER, CT_SCAN };
	static const char *const kind_name[] = { "writer", "resizer", "in-section iterator", "scan" };
	const size_t nt = sizeof(kinds) / sizeof(kinds[0]);
	struct hmap *c = hmap_open(1);
	struct cthread *th = calloc(nt, sizeof(*th));
	struct rcumap_stats s0, s1;
	uint64_t seed = test_seed();
	double secs = conc_seconds(), t0;
	unsigned long resizes;

	(void)state;
	assert_non_null(th);
	for (uint32_t i = 0; i < C_STABLE + C_REPL; i++) {
		unsigned char k[KEY_BUF];
		size_t len = key_make(i, k);

		assert_rc(rcumap_insert(c->map, k, len, hval_new(&c->vals, i, 0)), 0);
	}
	s0 = stats_peek(c->map);

	for (size_t i = 0; i < nt; i++) {
		th[i].c = c;
		th[i].kind = kinds[i];
		th[i].id = (int)i;
		th[i].rng = mix64(seed + i) | 1;
		th[i].count = calloc(C_KEYS, sizeof(*th[i].count));
		th[i].held = calloc(2 * C_KEYS, sizeof(*th[i].held));
		assert_true(th[i].count && th[i].held);
	}
	t0 = now_seconds();
	for (size_t i = 0; i < nt; i++) {
		void *(*fn)(void *) = kinds[i] == CT_WRITER ? writer_main :
				      kinds[i] == CT_RESIZER ? resizer_main :
				      kinds[i] == CT_ITER ? iter_main : scan_main;

		assert_int_equal(pthread_create(&th[i].tid, NULL, fn, &th[i]), 0);
	}
	while (now_seconds() - t0 < secs)
		sleep_us(50000);
	atomic_store(&c->stop, true);
	test_offline();
	for (size_t i = 0; i < nt; i++)
		pthread_join(th[i].tid, NULL);
	test_online();
	s1 = stats_peek(c->map);
	resizes = (unsigned long)(s1.grows + s1.shrinks - s0.grows - s0.shrinks);

	print_message("# resizes covered: %lu (%llu grows, %llu shrinks) in %.1f s, %s\n", resizes,
		      (unsigned long long)(s1.grows - s0.grows),
		      (unsigned long long)(s1.shrinks - s0.shrinks), now_seconds() - t0, TEST_FLAVOR_NAME);
	for (size_t i = 0; i < nt; i++) {
		struct cthread *t = &th[i];

		switch (t->kind) {
		case CT_WRITER:
			print_message("# %s %zu: %lu updates\n", kind_name[t->kind], i, t->ops);
			break;
		case CT_RESIZER:
			print_message("# resizer: %lu forced resizes, %lu refused with -EBUSY\n",
				      t->resizes, t->busy);
			break;
		case CT_ITER:
			print_message("# in-section iterator: %lu complete traversals (%lu entries), "
				      "%lu of them across a resize\n", t->traversals, t->entries,
				      t->spanning);
			break;
		default:
			print_message("# scan: %lu complete traversals (%lu calls, %lu entries), %lu of "
				      "them across resizes, up to %lu generations in one; %lu updates "
				      "from inside the callback\n", t->traversals, t->calls, t->entries,
				      t->spanning, t->max_gens, t->ops);
			break;
		}
	}
	for (size_t i = 0; i < nt; i++) {
		struct cthread *t = &th[i];

		if (t->soft.failures) {
			char kindstr[200] = "";
			size_t o = 0;

			for (int k = 0; k < E_KINDS; k++)
				if (t->kinds[k] && o < sizeof(kindstr))
					o += (size_t)snprintf(kindstr + o, sizeof(kindstr) - o, " %s=%lu",
							      terr_name[k], t->kinds[k]);
			fail_msg("%s %zu: %d failures:%s; first: %s", kind_name[t->kind], i,
				 t->soft.failures, kindstr, t->soft.first);
		}
	}
	/* Coverage, not correctness: the run must have exercised what it claims. */
	for (size_t i = 0; i < nt; i++) {
		if ((th[i].kind == CT_ITER || th[i].kind == CT_SCAN) && !under_valgrind()) {
			assert_true(th[i].traversals >= 3);
			assert_true(th[i].spanning >= 1); /* some traversal crossed a resize */
		}
		free(th[i].count);
		free(th[i].held);
	}
	assert_true(resizes >= (under_valgrind() ? 1u : 10u));

	/* Quiet: the structure is sound, every stable key is intact, all memory returns. */
	assert_rc(rcumap_validate(c->map), 0);
	test_reader_enter();
	for (uint32_t i = 0; i < C_STABLE + C_REPL; i++) {
		unsigned char k[KEY_BUF];
		size_t len = key_make(i, k);
		const struct hval *v = rcumap_get(c->map, k, len);

		if (hval_bad(v, i)) {
			test_reader_leave();
			fail_msg("key %u lost or damaged after the run", i);
		}
	}
	test_reader_leave();
	hmap_close(c);
	free(th);
}

static const struct CMUnitTest tests[] = {
	ITER_TEST(traversals_under_concurrent_writers_and_resizes_return_stable_keys_exactly_once),
};

const struct fx_group iter_concurrent_tests = FX_GROUP_OF(tests);
