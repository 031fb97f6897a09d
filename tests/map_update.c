/* SPDX-License-Identifier: MIT */
/* map_update.c: test_map's single-threaded semantics of each update, count and clear. */

#define _GNU_SOURCE

#include "flavor.h" /* first: the liburcu flavor header */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rcumap.h>

#include "fixture.h"
#include "map_tests.h"

/* ---- Single-threaded semantics of each update ------------------------------------- */

static void insert_of_present_key_returns_eexist_and_keeps_callers_value(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 4 };

	(void)state;
	fx_open(&f, &o);
	assert_rc(fx_insert(&f, 1, 1), 0);
	assert_rc(fx_insert(&f, 1, 2), -EEXIST);
	assert_rc(fx_insert(&f, 1, 1), -EEXIST); /* even the stored pointer */
	assert_ptr_equal(fx_get(&f, 1), fx_val(&f, 1));
	assert_size(rcumap_count(f.map), 1);
	fx_barrier(&f);
	fx_check_frees(&f);
	assert_int_equal(tval_freed(fx_val(&f, 2)), 0);
	fx_check(&f);
	fx_close(&f); /* value 2 never owned: never freed, even by destroy */
}

static void put_inserts_then_replaces_and_frees_old_value_once_after_barrier(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 4 };

	(void)state;
	fx_open(&f, &o);
	assert_rc(fx_put(&f, 0, 0), 0);
	assert_size(rcumap_count(f.map), 1);
	assert_ptr_equal(fx_get(&f, 0), fx_val(&f, 0));
	assert_rc(fx_put(&f, 0, 1), 0);
	assert_size(rcumap_count(f.map), 1);
	assert_ptr_equal(fx_get(&f, 0), fx_val(&f, 1));
	fx_barrier(&f);
	assert_int_equal(tval_freed(fx_val(&f, 0)), 1);
	assert_int_equal(tval_freed(fx_val(&f, 1)), 0);
	fx_barrier(&f); /* a second barrier frees nothing again */
	fx_check_frees(&f);
	assert_rc(fx_put(&f, 0, 2), 0);
	assert_rc(fx_put(&f, 1, 3), 0);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	fx_check(&f);
	fx_close(&f);
}

static void put_of_the_stored_pointer_is_a_noop_that_frees_nothing(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 4, .nkeys = 4 };
	struct rcumap_stats before, after;

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 0, 3);
	fx_barrier(&f);
	before = stats_of(f.map);
	for (int i = 0; i < 3; i++)
		assert_rc(fx_put(&f, 1, 1), 0);
	fx_barrier(&f);
	after = stats_of(f.map);
	assert_int_equal(tval_freed(fx_val(&f, 1)), 0);
	assert_ptr_equal(fx_get(&f, 1), fx_val(&f, 1));
	assert_size(after.entries, 3);
	assert_size(after.generation, before.generation);
	/* "changes nothing": no bucket copy retired either */
	for (int k = 0; k < RCUMAP_STATS_KINDS; k++)
		assert_size(after.kind[k].retired, before.kind[k].retired);
	fx_check_frees(&f);
	fx_check(&f);
	fx_close(&f);
}

static void replace_of_absent_key_returns_enoent_and_of_present_key_frees_old_value(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 4 };
	unsigned char k[KEY_BUF];
	size_t len = key_make(0, k);

	(void)state;
	fx_open(&f, &o);
	assert_rc(rcumap_replace(f.map, k, len, fx_val(&f, 5)), -ENOENT);
	assert_size(rcumap_count(f.map), 0);
	assert_null(fx_get(&f, 0));
	assert_rc(fx_insert(&f, 0, 0), 0);
	assert_rc(fx_insert(&f, 1, 1), 0);
	assert_rc(rcumap_replace(f.map, k, len, fx_val(&f, 2)), 0);
	fx_ref_set(&f, 0, fx_val(&f, 2));
	assert_ptr_equal(fx_get(&f, 0), fx_val(&f, 2));
	assert_size(rcumap_count(f.map), 2);
	/* Replacing with the stored pointer changes nothing either. */
	assert_rc(rcumap_replace(f.map, k, len, fx_val(&f, 2)), 0);
	fx_barrier(&f);
	assert_int_equal(tval_freed(fx_val(&f, 0)), 1);
	assert_int_equal(tval_freed(fx_val(&f, 5)), 0);
	fx_check_frees(&f);
	fx_check(&f);
	fx_close(&f);
}

static void cas_returns_enoent_or_eagain_or_swaps_and_frees_expected_after_barrier(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 4 };
	unsigned char k[KEY_BUF];
	size_t len = key_make(3, k);
	struct tval *v0, *v1, *v2, *v3;

	(void)state;
	fx_open(&f, &o);
	v0 = fx_val(&f, 0);
	v1 = fx_val(&f, 1);
	v2 = fx_val(&f, 2);
	v3 = fx_val(&f, 3);
	assert_rc(rcumap_cas(f.map, k, len, v0, v1), -ENOENT);
	assert_size(rcumap_count(f.map), 0);
	assert_rc(fx_insert(&f, 3, 0), 0);
	assert_rc(rcumap_cas(f.map, k, len, v2, v1), -EAGAIN); /* value is v0 */
	assert_ptr_equal(fx_get(&f, 3), v0);
	assert_rc(rcumap_cas(f.map, k, len, v0, v1), 0);
	fx_ref_set(&f, 3, v1);
	assert_ptr_equal(fx_get(&f, 3), v1);
	assert_rc(rcumap_cas(f.map, k, len, v0, v3), -EAGAIN); /* v0 is stale now */
	assert_ptr_equal(fx_get(&f, 3), v1);
	assert_size(rcumap_count(f.map), 1);
	fx_barrier(&f);
	assert_int_equal(tval_freed(v0), 1);
	assert_int_equal(tval_freed(v1), 0);
	assert_int_equal(tval_freed(v2), 0);
	assert_int_equal(tval_freed(v3), 0);
	fx_check_frees(&f);
	fx_check(&f);
	fx_close(&f);
}

static void cas_with_expected_equal_to_desired_changes_nothing(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 4, .nkeys = 4 };
	unsigned char k[KEY_BUF];
	size_t len = key_make(1, k);
	struct rcumap_stats before, after;

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 0, 2);
	fx_barrier(&f);
	before = stats_of(f.map);
	assert_rc(rcumap_cas(f.map, k, len, fx_val(&f, 1), fx_val(&f, 1)), 0);
	assert_rc(rcumap_cas(f.map, k, len, fx_val(&f, 3), fx_val(&f, 3)), -EAGAIN);
	fx_barrier(&f);
	after = stats_of(f.map);
	assert_ptr_equal(fx_get(&f, 1), fx_val(&f, 1));
	assert_int_equal(tval_freed(fx_val(&f, 1)), 0);
	for (int kd = 0; kd < RCUMAP_STATS_KINDS; kd++)
		assert_size(after.kind[kd].retired, before.kind[kd].retired);
	fx_check_frees(&f);
	fx_check(&f);
	fx_close(&f);
}

static void delete_of_absent_key_returns_enoent_and_changes_nothing(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 8 };
	struct rcumap_stats before, after;

	(void)state;
	fx_open(&f, &o);
	assert_rc(fx_delete(&f, 0), -ENOENT); /* empty map */
	fx_fill(&f, 0, 5);
	fx_barrier(&f);
	before = stats_of(f.map);
	assert_rc(fx_delete(&f, 6), -ENOENT);
	assert_rc(fx_delete(&f, 7), -ENOENT);
	after = stats_of(f.map);
	assert_size(after.entries, 5);
	for (int k = 0; k < RCUMAP_STATS_KINDS; k++)
		assert_size(after.kind[k].retired, before.kind[k].retired);
	fx_check(&f);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_close(&f);
}

static void delete_removes_the_key_and_frees_its_value_once_after_barrier(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 8 };

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 0, 8);
	assert_rc(fx_delete(&f, 4), 0);
	assert_null(fx_get(&f, 4));
	assert_size(rcumap_count(f.map), 7);
	assert_rc(fx_delete(&f, 4), -ENOENT);
	fx_barrier(&f);
	assert_int_equal(tval_freed(fx_val(&f, 4)), 1);
	fx_check_frees(&f);
	for (size_t i = 0; i < 8; i++)
		if (i != 4)
			assert_rc(fx_delete(&f, i), 0);
	assert_size(rcumap_count(f.map), 0);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	fx_check(&f);
	fx_close(&f);
}

static void delete_if_returns_enoent_or_eagain_or_removes_the_matching_value(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 8 };
	unsigned char k[KEY_BUF];
	size_t len = key_make(2, k);

	(void)state;
	fx_open(&f, &o);
	assert_rc(rcumap_delete_if(f.map, k, len, fx_val(&f, 2)), -ENOENT);
	fx_fill(&f, 0, 4);
	assert_rc(rcumap_delete_if(f.map, k, len, fx_val(&f, 3)), -EAGAIN);
	assert_ptr_equal(fx_get(&f, 2), fx_val(&f, 2));
	assert_size(rcumap_count(f.map), 4);
	assert_rc(rcumap_delete_if(f.map, k, len, fx_val(&f, 2)), 0);
	fx_ref_set(&f, 2, NULL);
	assert_null(fx_get(&f, 2));
	assert_rc(rcumap_delete_if(f.map, k, len, fx_val(&f, 2)), -ENOENT);
	assert_size(rcumap_count(f.map), 3);
	fx_barrier(&f);
	assert_int_equal(tval_freed(fx_val(&f, 2)), 1);
	assert_int_equal(tval_freed(fx_val(&f, 3)), 0);
	fx_check_frees(&f);
	fx_check(&f);
	fx_close(&f);
}

static void get_or_insert_inserts_an_absent_key_and_returns_the_existing_value_otherwise(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 8, .nkeys = 8 };
	unsigned char k[KEY_BUF];
	size_t len = key_make(5, k);
	void *res = NULL;

	(void)state;
	fx_open(&f, &o);
	assert_rc(rcumap_get_or_insert(f.map, k, len, fx_val(&f, 0), &res), 0);
	assert_ptr_equal(res, fx_val(&f, 0));
	fx_ref_set(&f, 5, fx_val(&f, 0));
	assert_ptr_equal(fx_get(&f, 5), fx_val(&f, 0));
	res = NULL;
	assert_rc(rcumap_get_or_insert(f.map, k, len, fx_val(&f, 1), &res), -EEXIST);
	assert_ptr_equal(res, fx_val(&f, 0));
	assert_ptr_equal(fx_get(&f, 5), fx_val(&f, 0));
	/* Inside a read section, as the header advises for using *result. */
	test_reader_enter();
	res = NULL;
	assert_rc(rcumap_get_or_insert(f.map, k, len, fx_val(&f, 2), &res), -EEXIST);
	assert_ptr_equal(res, fx_val(&f, 0));
	assert_true(((struct tval *)res)->magic == TVAL_LIVE);
	test_reader_leave();
	assert_size(rcumap_count(f.map), 1);
	fx_barrier(&f);
	assert_int_equal(tval_freed(fx_val(&f, 1)), 0);
	assert_int_equal(tval_freed(fx_val(&f, 2)), 0);
	fx_check_frees(&f);
	fx_check(&f);
	fx_close(&f);
}

static void count_follows_inserts_and_deletes_and_is_zero_for_a_null_map(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 650, .nkeys = 500 };

	(void)state;
	fx_open(&f, &o);
	assert_size(rcumap_count(NULL), 0);
	assert_size(rcumap_count(f.map), 0);
	for (size_t i = 0; i < 500; i++) {
		assert_rc(fx_insert(&f, i, i), 0);
		assert_size(rcumap_count(f.map), i + 1);
	}
	for (size_t i = 0; i < 250; i += 2) { /* replacing keeps the count */
		assert_rc(fx_put(&f, i, 500 + i / 2), 0);
		assert_size(rcumap_count(f.map), 500);
	}
	for (size_t i = 0; i < 500; i++) {
		assert_rc(fx_delete(&f, i), 0);
		assert_size(rcumap_count(f.map), 499 - i);
		assert_size(stats_of(f.map).entries, 499 - i);
	}
	fx_check(&f);
	fx_close(&f);
}

static void clear_removes_every_entry_and_frees_each_value_once_after_barrier(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 2100, .nkeys = 2000 };

	(void)state;
	fx_open(&f, &o);
	assert_rc(rcumap_clear(f.map), 0); /* empty map */
	fx_fill(&f, 0, 2000);
	assert_rc(rcumap_clear(f.map), 0);
	fx_ref_clear(&f);
	assert_size(rcumap_count(f.map), 0);
	fx_check(&f); /* every key absent */
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	/* The map works after a clear. */
	for (size_t i = 0; i < 100; i++)
		assert_rc(fx_insert(&f, i * 7, 2000 + i), 0);
	fx_check(&f);
	assert_rc(rcumap_clear(f.map), 0);
	fx_ref_clear(&f);
	assert_rc(rcumap_clear(f.map), 0);
	fx_check(&f);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_close(&f);
}


static const struct CMUnitTest tests[] = {
	MAP_TEST(insert_of_present_key_returns_eexist_and_keeps_callers_value),
	MAP_TEST(put_inserts_then_replaces_and_frees_old_value_once_after_barrier),
	MAP_TEST(put_of_the_stored_pointer_is_a_noop_that_frees_nothing),
	MAP_TEST(replace_of_absent_key_returns_enoent_and_of_present_key_frees_old_value),
	MAP_TEST(cas_returns_enoent_or_eagain_or_swaps_and_frees_expected_after_barrier),
	MAP_TEST(cas_with_expected_equal_to_desired_changes_nothing),
	MAP_TEST(delete_of_absent_key_returns_enoent_and_changes_nothing),
	MAP_TEST(delete_removes_the_key_and_frees_its_value_once_after_barrier),
	MAP_TEST(delete_if_returns_enoent_or_eagain_or_removes_the_matching_value),
	MAP_TEST(get_or_insert_inserts_an_absent_key_and_returns_the_existing_value_otherwise),
	MAP_TEST(count_follows_inserts_and_deletes_and_is_zero_for_a_null_map),
	MAP_TEST(clear_removes_every_entry_and_frees_each_value_once_after_barrier),
};

const struct fx_group map_update_tests = FX_GROUP_OF(tests);
