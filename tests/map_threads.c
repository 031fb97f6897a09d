/* SPDX-License-Identifier: MIT */
/* map_threads.c: test_map's threads: a reader pinned through every kind of update, and the smoke test. */

#define _GNU_SOURCE

#include "flavor.h" /* first: the liburcu flavor header */

#include <errno.h>
#include <pthread.h>
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
#include "map_tests.h"

/* ---- A reader pinned in its read section while every kind of update runs ------------ */

#define PIN_HELD 8

struct pin_reader {
	struct rcumap *map;
	struct tval *want[PIN_HELD];  /* value expected for key i */
	struct tval *held[PIN_HELD];
	pthread_t tid;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool pinned, release;
	/* Results, read by the test thread after the join. */
	bool timed_out;
	struct soft soft;
};

/* A reader left pinned by a failed test would hang every later barrier. */
static struct pin_reader *stray_reader;

static void *pin_reader_main(void *arg)
{
	struct pin_reader *r = arg;
	struct timespec deadline;

	test_thread_register();
	test_reader_enter();
	for (size_t i = 0; i < PIN_HELD; i++) {
		unsigned char k[KEY_BUF];
		size_t len = key_make(i, k);

		r->held[i] = rcumap_get(r->map, k, len);
		SOFT_CHECK(&r->soft, r->held[i] == r->want[i]);
		SOFT_CHECK(&r->soft, r->held[i] && r->held[i]->magic == TVAL_LIVE);
	}

	pthread_mutex_lock(&r->mu);
	r->pinned = true;
	pthread_cond_broadcast(&r->cv);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += under_valgrind() ? 600 : 60; /* a waiting writer shows up here */
	while (!r->release) {
		if (pthread_cond_timedwait(&r->cv, &r->mu, &deadline) == ETIMEDOUT) {
			r->timed_out = true;
			break;
		}
	}
	pthread_mutex_unlock(&r->mu);

	/* Everything taken at the start of the section is still intact. */
	for (size_t i = 0; i < PIN_HELD; i++) {
		struct tval *v = r->held[i];

		if (!v)
			continue;
		SOFT_CHECK(&r->soft, v->magic == TVAL_LIVE);
		SOFT_CHECK(&r->soft, tval_freed(v) == 0);
		SOFT_CHECK(&r->soft, v->id == i);
	}
	test_reader_leave();
	test_thread_unregister();
	return NULL;
}

static void pin_reader_start(struct pin_reader *r)
{
	r->pinned = r->release = r->timed_out = false;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	assert_int_equal(pthread_create(&r->tid, NULL, pin_reader_main, r), 0);
	r->started = true;
	stray_reader = r;
	test_offline();
	pthread_mutex_lock(&r->mu);
	while (!r->pinned)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
	test_online();
}

static void pin_reader_finish(struct pin_reader *r)
{
	if (!r->started)
		return;
	pthread_mutex_lock(&r->mu);
	r->release = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	test_offline();
	pthread_join(r->tid, NULL);
	test_online();
	r->started = false;
	stray_reader = NULL;
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
}

int release_stray_reader(void **state)
{
	(void)state;
	if (stray_reader)
		pin_reader_finish(stray_reader);
	test_thread_reset();
	return 0;
}

static void reader_pins_its_values_through_deletes_replaces_resizes_and_clear_and_no_writer_waits(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 300, .nkeys = 256, .min_slots = 8 };
	/* On the heap: a failed test leaves it to release_stray_reader. */
	struct pin_reader *r = calloc(1, sizeof(*r));
	struct rcumap_stats s0, s2;
	struct soft soft = { 0 };
	unsigned char k[KEY_BUF];
	size_t len;
	void *res;

	(void)state;
	assert_non_null(r);
	fx_open(&f, &o);
	fx_fill(&f, 0, 64);
	fx_barrier(&f);
	/* A size the policy is content with (load 1), so no automatic resize
	 * starts before the forced one below. */
	assert_rc(resize_retry(f.map, 64), 0);
	fx_barrier(&f); /* nothing left to reclaim: any reclaim below is post-pin */
	s0 = stats_of(f.map);
	for (int kd = 0; kd < RCUMAP_STATS_KINDS; kd++)
		assert_size(s0.kind[kd].retired, s0.kind[kd].reclaimed);
	r->map = f.map;
	for (size_t i = 0; i < PIN_HELD; i++)
		r->want[i] = f.ref[i];
	pin_reader_start(r);

	/*
	 * Every call below must return while the reader sits in its section.
	 * Soft checks only: the reader must be released before any assert.
	 */
	len = key_make(0, k);
	SOFT_RC(&soft, rcumap_delete(f.map, k, len), 0);
	fx_ref_set(&f, 0, NULL);
	len = key_make(1, k);
	SOFT_RC(&soft, rcumap_delete_if(f.map, k, len, fx_val(&f, 1)), 0);
	fx_ref_set(&f, 1, NULL);
	len = key_make(2, k);
	SOFT_RC(&soft, rcumap_replace(f.map, k, len, fx_val(&f, 200)), 0);
	fx_ref_set(&f, 2, fx_val(&f, 200));
	len = key_make(3, k);
	SOFT_RC(&soft, rcumap_put(f.map, k, len, fx_val(&f, 201)), 0);
	fx_ref_set(&f, 3, fx_val(&f, 201));
	len = key_make(4, k);
	SOFT_RC(&soft, rcumap_cas(f.map, k, len, fx_val(&f, 4), fx_val(&f, 202)), 0);
	fx_ref_set(&f, 4, fx_val(&f, 202));
	len = key_make(5, k);
	res = NULL;
	SOFT_RC(&soft, rcumap_get_or_insert(f.map, k, len, fx_val(&f, 203), &res), -EEXIST);
	SOFT_CHECK(&soft, res == fx_val(&f, 5));

	/*
	 * Forced resizes: each goes through at once although the reader pins
	 * every generation they retire; nothing waits for the reader.
	 */
	SOFT_RC(&soft, rcumap_resize(f.map, 512), 0);
	SOFT_CHECK(&soft, stats_of(f.map).slots == 512);
	SOFT_CHECK(&soft, stats_of(f.map).generation == s0.generation + 1);
	SOFT_RC(&soft, rcumap_resize(f.map, 8), 0);
	sleep_us(50000); /* the call_rcu worker gets every chance to reclaim */
	SOFT_RC(&soft, rcumap_resize(f.map, 1024), 0);
	SOFT_RC(&soft, rcumap_resize(f.map, 512), 0);
	SOFT_CHECK(&soft, stats_of(f.map).slots == 512);
	SOFT_CHECK(&soft, stats_of(f.map).generation == s0.generation + 4);

	/* Inserts, with whatever automatic resize they would like. */
	for (size_t i = 64; i < 128; i++) {
		len = key_make(i, k);
		SOFT_RC(&soft, rcumap_insert(f.map, k, len, fx_val(&f, i)), 0);
		fx_ref_set(&f, i, fx_val(&f, i));
	}
	/* Deletes down to where the policy would shrink. */
	for (size_t i = 64; i < 124; i++) {
		len = key_make(i, k);
		SOFT_RC(&soft, rcumap_delete(f.map, k, len), 0);
		fx_ref_set(&f, i, NULL);
	}
	/* The policy may shrink the table now: nothing holds it back. */
	SOFT_CHECK(&soft, stats_of(f.map).slots <= 512);
	SOFT_CHECK(&soft, stats_of(f.map).generation >= s0.generation + 4);

	SOFT_RC(&soft, rcumap_clear(f.map), 0);
	fx_ref_clear(&f);
	SOFT_CHECK(&soft, rcumap_count(f.map) == 0);
	for (size_t i = 128; i < 138; i++) {
		len = key_make(i, k);
		SOFT_RC(&soft, rcumap_insert(f.map, k, len, fx_val(&f, i)), 0);
		fx_ref_set(&f, i, fx_val(&f, i));
	}

	/* Nothing retired after the pin was reclaimed, and some was retired. */
	sleep_us(30000);
	s2 = stats_of(f.map);
	for (int kd = 0; kd < RCUMAP_STATS_KINDS; kd++)
		SOFT_CHECK(&soft, s2.kind[kd].reclaimed == s0.kind[kd].reclaimed);
	SOFT_CHECK(&soft, s2.kind[RCUMAP_KIND_BUCKET].retired > s0.kind[RCUMAP_KIND_BUCKET].retired);
	SOFT_CHECK(&soft, s2.kind[RCUMAP_KIND_TABLE].retired >= s0.kind[RCUMAP_KIND_TABLE].retired + 4);
	SOFT_CHECK(&soft, atomic_load(&f.tr->frees) == 0);
	for (size_t i = 0; i < f.tr->n; i++)
		SOFT_CHECK(&soft, tval_freed(&f.tr->v[i]) == 0);

	pin_reader_finish(r);

	if (soft.failures)
		fail_msg("%d failed checks while the reader was pinned; first: %s",
			 soft.failures, soft.first);
	assert_false(r->timed_out);
	if (r->soft.failures)
		fail_msg("%d failed checks in the reader; first: %s", r->soft.failures,
			 r->soft.first);
	print_message("# while pinned: %llu buckets and %llu tables retired\n",
		      (unsigned long long)(s2.kind[RCUMAP_KIND_BUCKET].retired -
					   s0.kind[RCUMAP_KIND_BUCKET].retired),
		      (unsigned long long)(s2.kind[RCUMAP_KIND_TABLE].retired -
					   s0.kind[RCUMAP_KIND_TABLE].retired));

	/* Released: one barrier reclaims everything, each value exactly once. */
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	for (size_t i = 0; i < 128; i++)
		assert_int_equal(tval_freed(fx_val(&f, i)), 1);
	fx_check(&f);
	/* The gate is open again. */
	assert_rc(rcumap_resize(f.map, 8), 0);
	assert_size(stats_of(f.map).slots, 8);
	fx_check(&f);
	fx_close(&f);
	free(r);
}

/* ---- Multi-threaded smoke test ------------------------------------------------------- */

#define SMOKE_OWN 512     /* keys each writer owns and checks against its oracle */
#define SMOKE_SHARED 64   /* keys both writers update */
#define SMOKE_KEYS (2 * SMOKE_OWN + SMOKE_SHARED)
#define SMOKE_SHARED_WRITER 2u /* struct hval.writer on shared keys; 0 and 1 own theirs */

/* The map is fixture.h's struct hmap: heap values, accounted in its vals. */
struct smoke_thread {
	struct hmap *sm;
	pthread_t tid;
	int id;
	uint64_t rng;
	unsigned long ops, hits;
	struct soft soft;                /* what went wrong, asserted after the join */
	struct hval *oracle[SMOKE_OWN];  /* writers: what each owned key holds */
};

static struct hval *smoke_new(struct smoke_thread *t, uint32_t key, uint32_t writer)
{
	return hval_new(&t->sm->vals, key, writer);
}

static void smoke_drop(struct smoke_thread *t, struct hval *v)
{
	hval_drop(&t->sm->vals, v);
}

static void smoke_check_value(struct smoke_thread *t, const struct hval *v, uint32_t key)
{
	const char *why = hval_bad(v, key);

	if (why)
		soft_fail(&t->soft, "key %u: %s", key, why);
	else if (key < 2 * SMOKE_OWN && v->writer != key / SMOKE_OWN)
		soft_fail(&t->soft, "key %u: value written by writer %u", key, v->writer);
}

static void smoke_own_op(struct smoke_thread *t, unsigned op, uint32_t j)
{
	struct rcumap *map = t->sm->map;
	uint32_t key = (uint32_t)t->id * SMOKE_OWN + j;
	unsigned char k[KEY_BUF];
	size_t len = key_make(key, k);
	struct hval *cur = t->oracle[j], *v, *got;
	static struct hval wrong = { 0 }; /* never stored: a wrong "expected" */
	void *res = NULL;
	int rc, want;

	switch (op) {
	case 0: /* insert */
		v = smoke_new(t, key, (uint32_t)t->id);
		rc = rcumap_insert(map, k, len, v);
		want = cur ? -EEXIST : 0;
		break;
	case 1: /* put */
		v = smoke_new(t, key, (uint32_t)t->id);
		rc = rcumap_put(map, k, len, v);
		want = 0;
		break;
	case 2: /* replace */
		v = smoke_new(t, key, (uint32_t)t->id);
		rc = rcumap_replace(map, k, len, v);
		want = cur ? 0 : -ENOENT;
		break;
	case 3: /* cas with the right expected value */
		v = smoke_new(t, key, (uint32_t)t->id);
		rc = rcumap_cas(map, k, len, cur ? (void *)cur : (void *)&wrong, v);
		want = cur ? 0 : -ENOENT;
		break;
	case 4: /* cas with a wrong expected value */
		v = smoke_new(t, key, (uint32_t)t->id);
		rc = rcumap_cas(map, k, len, &wrong, v);
		want = cur ? -EAGAIN : -ENOENT;
		break;
	case 5: /* delete */
		v = NULL;
		rc = rcumap_delete(map, k, len);
		want = cur ? 0 : -ENOENT;
		break;
	case 6: /* delete_if, right or wrong alternately */
		v = NULL;
		if (t->ops & 1) {
			rc = rcumap_delete_if(map, k, len, cur ? (void *)cur : (void *)&wrong);
			want = cur ? 0 : -ENOENT;
		} else {
			rc = rcumap_delete_if(map, k, len, &wrong);
			want = cur ? -EAGAIN : -ENOENT;
		}
		break;
	case 7: /* get_or_insert */
		v = smoke_new(t, key, (uint32_t)t->id);
		rc = rcumap_get_or_insert(map, k, len, v, &res);
		want = cur ? -EEXIST : 0;
		if (rc == want && res != (cur ? (void *)cur : (void *)v))
			soft_fail(&t->soft, "get_or_insert key %u: wrong *result", key);
		break;
	default: /* get */
		test_reader_enter();
		got = rcumap_get(map, k, len);
		if (got != cur)
			soft_fail(&t->soft, "get key %u: %p, oracle %p", key, (void *)got, (void *)cur);
		else if (got)
			smoke_check_value(t, got, key);
		test_reader_leave();
		return;
	}
	if (rc != want) {
		soft_fail(&t->soft, "op %u on own key %u returned %d, expected %d", op, key, rc, want);
		if (v && rc != 0)
			smoke_drop(t, v);
		return;
	}
	if (rc == 0)
		t->oracle[j] = (op == 5 || op == 6) ? NULL : v;
	else if (v)
		smoke_drop(t, v);
}

static void smoke_shared_op(struct smoke_thread *t, unsigned op, uint32_t key)
{
	struct rcumap *map = t->sm->map;
	unsigned char k[KEY_BUF];
	size_t len = key_make(key, k);
	struct hval *v = NULL, *cur;
	void *res = NULL;
	int rc;

	switch (op % 6) {
	case 0:
		v = smoke_new(t, key, SMOKE_SHARED_WRITER);
		rc = rcumap_put(map, k, len, v);
		if (rc != 0)
			soft_fail(&t->soft, "put shared %u: %d", key, rc);
		break;
	case 1:
		v = smoke_new(t, key, SMOKE_SHARED_WRITER);
		rc = rcumap_insert(map, k, len, v);
		if (rc != 0 && rc != -EEXIST)
			soft_fail(&t->soft, "insert shared %u: %d", key, rc);
		if (rc != 0)
			smoke_drop(t, v);
		break;
	case 2:
		rc = rcumap_delete(map, k, len);
		if (rc != 0 && rc != -ENOENT)
			soft_fail(&t->soft, "delete shared %u: %d", key, rc);
		break;
	case 3: /* read-modify-write inside one read section */
		test_reader_enter();
		cur = rcumap_get(map, k, len);
		if (cur) {
			smoke_check_value(t, cur, key);
			v = smoke_new(t, key, SMOKE_SHARED_WRITER);
			rc = rcumap_cas(map, k, len, cur, v);
			if (rc != 0 && rc != -EAGAIN && rc != -ENOENT)
				soft_fail(&t->soft, "cas shared %u: %d", key, rc);
			if (rc != 0)
				smoke_drop(t, v);
		}
		test_reader_leave();
		break;
	case 4:
		test_reader_enter();
		v = smoke_new(t, key, SMOKE_SHARED_WRITER);
		rc = rcumap_get_or_insert(map, k, len, v, &res);
		if (rc != 0 && rc != -EEXIST)
			soft_fail(&t->soft, "get_or_insert shared %u: %d", key, rc);
		if (rc == 0 && res != v)
			soft_fail(&t->soft, "get_or_insert shared %u: *result is not the inserted value", key);
		if (rc == -EEXIST) {
			if (!res)
				soft_fail(&t->soft, "get_or_insert shared %u: NULL *result", key);
			else
				smoke_check_value(t, res, key);
			smoke_drop(t, v);
		}
		test_reader_leave();
		break;
	default:
		test_reader_enter();
		cur = rcumap_get(map, k, len);
		if (cur) {
			smoke_check_value(t, cur, key);
			rc = rcumap_delete_if(map, k, len, cur);
			if (rc != 0 && rc != -EAGAIN && rc != -ENOENT)
				soft_fail(&t->soft, "delete_if shared %u: %d", key, rc);
		}
		test_reader_leave();
		break;
	}
}

static void *smoke_writer_main(void *arg)
{
	struct smoke_thread *t = arg;

	test_thread_register();
	while (!atomic_load_explicit(&t->sm->stop, memory_order_relaxed)) {
		for (int i = 0; i < 64; i++) {
			uint64_t r = rng_next(&t->rng);
			unsigned op = (unsigned)(r >> 8) % 10;

			if ((r & 3) == 0) {
				smoke_shared_op(t, op, 2 * SMOKE_OWN +
						       (uint32_t)((r >> 16) % SMOKE_SHARED));
			} else if ((r >> 40) % 2048 == 0) {
				size_t slots = (size_t)8 << ((r >> 20) % 9);
				int rc = rcumap_resize(t->sm->map, slots);

				if (rc != 0 && rc != -EBUSY)
					soft_fail(&t->soft, "resize %zu: %d", slots, rc);
			} else {
				smoke_own_op(t, op, (uint32_t)((r >> 16) % SMOKE_OWN));
			}
			t->ops++;
		}
		test_quiesce();
	}
	test_thread_unregister();
	return NULL;
}

static void *smoke_reader_main(void *arg)
{
	struct smoke_thread *t = arg;

	test_thread_register();
	while (!atomic_load_explicit(&t->sm->stop, memory_order_relaxed)) {
		test_reader_enter();
		for (int i = 0; i < 32; i++) {
			uint32_t key = (uint32_t)(rng_next(&t->rng) % SMOKE_KEYS);
			unsigned char k[KEY_BUF];
			size_t len = key_make(key, k);
			const struct hval *v = rcumap_get(t->sm->map, k, len);

			if (v) {
				smoke_check_value(t, v, key);
				t->hits++;
			}
			t->ops++;
		}
		test_reader_leave();
		test_quiesce();
	}
	test_thread_unregister();
	return NULL;
}

static void two_writers_and_two_readers_keep_the_map_consistent(void **state)
{
	struct hmap *sm = hmap_open(0);
	struct smoke_thread *th = calloc(4, sizeof(*th));
	uint64_t seed = test_seed();
	size_t present = 0;

	(void)state;
	assert_non_null(th);

	for (int i = 0; i < 4; i++) {
		th[i].sm = sm;
		th[i].id = i < 2 ? i : i - 2;
		th[i].rng = mix64(seed + (uint64_t)i) | 1;
		assert_int_equal(pthread_create(&th[i].tid, NULL,
						i < 2 ? smoke_writer_main : smoke_reader_main,
						&th[i]), 0);
	}
	sleep_us(1000000);
	atomic_store(&sm->stop, true);
	test_offline();
	for (int i = 0; i < 4; i++)
		pthread_join(th[i].tid, NULL);
	test_online();

	for (int i = 0; i < 4; i++) {
		if (i < 2)
			print_message("# writer %d: %lu ops\n", th[i].id, th[i].ops);
		else
			print_message("# reader %d: %lu lookups, %lu hits\n", th[i].id,
				      th[i].ops, th[i].hits);
		if (th[i].soft.failures)
			fail_msg("%s %d: %d errors; first: %s", i < 2 ? "writer" : "reader",
				 th[i].id, th[i].soft.failures, th[i].soft.first);
		assert_true(th[i].ops > 0);
	}
	/* The final contents agree with the writers' oracles. */
	for (int w = 0; w < 2; w++) {
		for (uint32_t j = 0; j < SMOKE_OWN; j++) {
			unsigned char k[KEY_BUF];
			uint32_t key = (uint32_t)w * SMOKE_OWN + j;
			size_t len = key_make(key, k);

			assert_ptr_equal(get_locked(sm->map, k, len), th[w].oracle[j]);
			present += th[w].oracle[j] != NULL;
		}
	}
	for (uint32_t key = 2 * SMOKE_OWN; key < SMOKE_KEYS; key++) {
		unsigned char k[KEY_BUF];
		size_t len = key_make(key, k);
		struct hval *v = get_locked(sm->map, k, len);

		if (v) {
			assert_null(hval_bad(v, key));
			present++;
		}
	}
	assert_size(rcumap_count(sm->map), present);
	assert_rc(rcumap_validate(sm->map), 0);
	/* Every value went back exactly once: to the map's free_value or the caller. */
	hmap_close(sm);
	free(th);
}

static const struct CMUnitTest tests[] = {
	MAP_TEST(reader_pins_its_values_through_deletes_replaces_resizes_and_clear_and_no_writer_waits),
	MAP_TEST(two_writers_and_two_readers_keep_the_map_consistent),
};

const struct fx_group map_threads_tests = FX_GROUP_OF(tests);
