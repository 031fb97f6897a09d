/* SPDX-License-Identifier: MIT */
/* map_keys.c: test_map's lookups and keys: absent keys, bad arguments, key bytes and lengths. */

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
#include <sys/mman.h>

#include <cmocka.h>

#include <rcumap.h>

#include "fixture.h"
#include "map_tests.h"

/* ---- Lookups and keys ------------------------------------------------------------- */

static void get_of_absent_key_returns_null(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 20, .nkeys = 40 };

	(void)state;
	fx_open(&f, &o);
	assert_null(fx_get(&f, 0)); /* empty map */
	fx_fill(&f, 0, 20);
	for (size_t i = 20; i < 40; i++)
		assert_null(fx_get(&f, i));
	assert_rc(fx_delete(&f, 7), 0);
	assert_null(fx_get(&f, 7));
	fx_check(&f);
	fx_close(&f);
}

static void get_rejects_null_map_null_key_with_length_and_oversized_length(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 4, .nkeys = 4 };
	char buf[8] = "abcdefg";

	(void)state;
	fx_open(&f, &o);
	assert_rc(rcumap_insert(f.map, NULL, 0, fx_val(&f, 0)), 0); /* empty key present */
	fx_val(&f, 0)->owned = true;
	fx_val(&f, 0)->in_map = true;
	assert_rc(rcumap_insert(f.map, buf, 1, fx_val(&f, 1)), 0);
	fx_val(&f, 1)->owned = true;
	fx_val(&f, 1)->in_map = true;

	test_reader_enter();
	assert_null(rcumap_get(NULL, buf, 1));
	assert_null(rcumap_get(NULL, NULL, 0));
	assert_null(rcumap_get(f.map, NULL, 1));
	assert_null(rcumap_get(f.map, NULL, 7));
	assert_null(rcumap_get(f.map, buf, RCUMAP_KEY_MAX + 1));
	assert_null(rcumap_get(f.map, buf, SIZE_MAX));
	assert_ptr_equal(rcumap_get(f.map, buf, 1), fx_val(&f, 1));
	assert_ptr_equal(rcumap_get(f.map, NULL, 0), fx_val(&f, 0));
	test_reader_leave();
	assert_size(rcumap_count(f.map), 2);
	fx_close(&f);
}

static void empty_key_with_null_pointer_is_a_valid_key(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 4, .nkeys = 1 };
	struct tval *a, *b;
	void *res = NULL;

	(void)state;
	fx_open(&f, &o);
	a = fx_val(&f, 0);
	b = fx_val(&f, 1);
	assert_rc(rcumap_insert(f.map, NULL, 0, a), 0);
	a->owned = a->in_map = true;
	assert_ptr_equal(get_locked(f.map, NULL, 0), a);
	assert_ptr_equal(get_locked(f.map, "", 0), a); /* same key: zero bytes */
	assert_ptr_equal(get_locked(f.map, "xyz", 0), a);
	assert_null(get_locked(f.map, "", 1)); /* the one-byte key "\0" differs */
	assert_rc(rcumap_insert(f.map, "", 0, b), -EEXIST);
	assert_rc(rcumap_get_or_insert(f.map, NULL, 0, b, &res), -EEXIST);
	assert_ptr_equal(res, a);
	assert_rc(rcumap_replace(f.map, NULL, 0, b), 0);
	a->in_map = false;
	b->owned = b->in_map = true;
	assert_rc(rcumap_cas(f.map, NULL, 0, a, b), -EAGAIN); /* holds b now */
	assert_rc(rcumap_delete_if(f.map, "", 0, a), -EAGAIN);
	assert_size(rcumap_count(f.map), 1);
	assert_rc(rcumap_delete(f.map, "q", 0), 0);
	b->in_map = false;
	assert_null(get_locked(f.map, NULL, 0));
	assert_rc(rcumap_delete(f.map, NULL, 0), -ENOENT);
	assert_size(rcumap_count(f.map), 0);
	assert_rc(rcumap_validate(f.map), 0);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_close(&f);
}

static void keys_with_embedded_nuls_and_common_prefixes_are_distinct(void **state)
{
	static const struct { const char *bytes; size_t len; } keys[] = {
		{ "a", 1 }, { "a\0", 2 }, { "a\0b", 3 }, { "a\0c", 3 }, { "\0", 1 },
		{ "\0\0", 2 }, { "\0\0\0", 3 }, { "ab", 2 }, { "ab\0", 3 }, { "b\0a", 3 },
		{ "", 0 },
	};
	const size_t n = sizeof(keys) / sizeof(keys[0]);
	struct fx f;
	struct fx_opts o = { .nvals = 16, .nkeys = 1 };

	(void)state;
	fx_open(&f, &o);
	for (size_t i = 0; i < n; i++) {
		assert_rc(rcumap_insert(f.map, keys[i].bytes, keys[i].len, fx_val(&f, i)), 0);
		fx_val(&f, i)->owned = fx_val(&f, i)->in_map = true;
	}
	assert_size(rcumap_count(f.map), n);
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(get_locked(f.map, keys[i].bytes, keys[i].len), fx_val(&f, i));
	/* Remove "a\0b": its neighbours in bytes stay. */
	assert_rc(rcumap_delete(f.map, "a\0b", 3), 0);
	fx_val(&f, 2)->in_map = false;
	assert_null(get_locked(f.map, "a\0b", 3));
	for (size_t i = 0; i < n; i++)
		if (i != 2)
			assert_ptr_equal(get_locked(f.map, keys[i].bytes, keys[i].len),
					 fx_val(&f, i));
	assert_null(get_locked(f.map, "a\0d", 3));
	assert_null(get_locked(f.map, "abc", 3));
	assert_rc(rcumap_validate(f.map), 0);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_close(&f);
}

static void keys_of_0_1_15_16_17_and_65536_bytes_round_trip(void **state)
{
	static const size_t sizes[] = {
		0, 1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 63, 64, 65,
		255, 256, 257, 4096, 65535, 65536,
	};
	const size_t ns = sizeof(sizes) / sizeof(sizes[0]);
	const size_t maxlen = 65536;
	unsigned char *base = malloc(maxlen), *probe = malloc(maxlen);
	struct fx f;
	struct fx_opts o = { .nvals = 3 * ns, .nkeys = 1 };

	(void)state;
	assert_non_null(base);
	assert_non_null(probe);
	for (size_t i = 0; i < maxlen; i++)
		base[i] = (unsigned char)(i * 131 + 7);
	fx_open(&f, &o);

	/*
	 * Per size: the base bytes (value 3s), the same with the last byte
	 * changed (3s+1) and with the first byte changed (3s+2). Size 0 has
	 * only the empty key.
	 */
	for (int round = 0; round < 2; round++) {
		for (size_t s = 0; s < ns; s++) {
			size_t len = sizes[s];

			for (int variant = 0; variant < 3; variant++) {
				struct tval *v = fx_val(&f, 3 * s + (size_t)variant);

				if (len == 0 && variant > 0)
					continue;
				memcpy(probe, base, len);
				if (variant == 1)
					probe[len - 1] ^= 0x5a;
				if (variant == 2)
					probe[0] ^= 0xa5;
				if (round == 0) {
					assert_rc(rcumap_insert(f.map, probe, len, v), 0);
					v->owned = v->in_map = true;
				} else if (!v->in_map) {
					assert_null(get_locked(f.map, probe, len));
				} else if (get_locked(f.map, probe, len) != v) {
					fail_msg("key of %zu bytes, variant %d: wrong value", len,
						 variant);
				}
			}
			if (round == 0)
				continue;
			/* A key of this size that was never stored. */
			if (len >= 3) {
				memcpy(probe, base, len);
				probe[len / 2] ^= 0x33;
				assert_null(get_locked(f.map, probe, len));
			}
			/* Prefixes and extensions of a stored key are different keys. */
			if (len > 0 && sizes[s] - 1 != (s ? sizes[s - 1] : (size_t)-1))
				assert_null(get_locked(f.map, base, len - 1));
		}
		if (round == 0) {
			/* Remove the base key of every other size, then verify all. */
			for (size_t s = 0; s < ns; s += 2) {
				assert_rc(rcumap_delete(f.map, base, sizes[s]), 0);
				fx_val(&f, 3 * s)->in_map = false;
			}
		}
	}
	assert_rc(rcumap_validate(f.map), 0);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_check_reclaimed(&f);
	fx_close(&f);
	free(base);
	free(probe);
}

/* Reads at most 8 bytes, so a 1 GiB key costs nothing to hash. */
static uint64_t hash_prefix8(const void *key, size_t len, void *arg)
{
	(void)arg;
	return mix64(fnv1a64(key, len < 8 ? len : 8) ^ len);
}

static void key_of_exactly_key_max_bytes_is_accepted(void **state)
{
	struct fx f;
	struct fx_opts o = {
		.nvals = 4, .nkeys = 1, .hash = hash_prefix8,
		.max_alloc = (size_t)64 << 20, /* the 1 GiB copy is refused */
	};
	void *res = SENTINEL_MAP;
	/* Zero pages, reserved lazily: reading them costs no memory. */
	void *big = mmap(NULL, RCUMAP_KEY_MAX, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	(void)state;
	assert_true(big != MAP_FAILED);
	fx_open(&f, &o);
	assert_rc(rcumap_insert(f.map, "k", 1, fx_val(&f, 0)), 0);
	fx_val(&f, 0)->owned = fx_val(&f, 0)->in_map = true;

	assert_null(get_locked(f.map, big, RCUMAP_KEY_MAX));
	/* The length is valid: the only obstacle is memory. */
	assert_rc(rcumap_insert(f.map, big, RCUMAP_KEY_MAX, fx_val(&f, 1)), -ENOMEM);
	assert_rc(rcumap_put(f.map, big, RCUMAP_KEY_MAX, fx_val(&f, 1)), -ENOMEM);
	assert_rc(rcumap_get_or_insert(f.map, big, RCUMAP_KEY_MAX, fx_val(&f, 1), &res),
		  -ENOMEM);
	assert_ptr_equal(res, SENTINEL_MAP);
	assert_rc(rcumap_replace(f.map, big, RCUMAP_KEY_MAX, fx_val(&f, 1)), -ENOENT);
	assert_rc(rcumap_delete(f.map, big, RCUMAP_KEY_MAX), -ENOENT);
	assert_true(atomic_load(&f.ca->refused_large) > 0);
	/* One byte more is invalid. */
	assert_rc(rcumap_insert(f.map, big, RCUMAP_KEY_MAX + 1, fx_val(&f, 1)), -EINVAL);
	assert_null(get_locked(f.map, big, RCUMAP_KEY_MAX + 1));

	assert_size(rcumap_count(f.map), 1);
	assert_ptr_equal(get_locked(f.map, "k", 1), fx_val(&f, 0));
	assert_rc(rcumap_validate(f.map), 0);
	fx_barrier(&f);
	fx_check_frees(&f);
	fx_close(&f);
	munmap(big, RCUMAP_KEY_MAX);
}

/*
 * Every update, called with each kind of invalid argument, returns -EINVAL
 * and changes nothing: no entry, no free_value, no retirement.
 */
static void every_update_rejects_invalid_arguments_and_changes_nothing(void **state)
{
	struct fx f;
	struct fx_opts o = { .nvals = 16, .nkeys = 8 };
	unsigned char k[KEY_BUF];
	size_t len;
	struct tval *cur, *nv;
	void *res;
	struct rcumap_stats before, after, st;

	(void)state;
	fx_open(&f, &o);
	fx_fill(&f, 0, 4);
	fx_barrier(&f);
	before = stats_of(f.map);
	len = key_make(2, k); /* a present key */
	cur = f.ref[2];
	nv = fx_val(&f, 10);

	for (int present = 0; present <= 1; present++) {
		if (!present)
			len = key_make(6, k); /* an absent key */
		else
			len = key_make(2, k);
		/* NULL map */
		assert_rc(rcumap_insert(NULL, k, len, nv), -EINVAL);
		assert_rc(rcumap_put(NULL, k, len, nv), -EINVAL);
		assert_rc(rcumap_replace(NULL, k, len, nv), -EINVAL);
		assert_rc(rcumap_cas(NULL, k, len, cur, nv), -EINVAL);
		assert_rc(rcumap_delete(NULL, k, len), -EINVAL);
		assert_rc(rcumap_delete_if(NULL, k, len, cur), -EINVAL);
		res = SENTINEL_MAP;
		assert_rc(rcumap_get_or_insert(NULL, k, len, nv, &res), -EINVAL);
		assert_ptr_equal(res, SENTINEL_MAP);
		/* NULL key with a nonzero length */
		assert_rc(rcumap_insert(f.map, NULL, len, nv), -EINVAL);
		assert_rc(rcumap_put(f.map, NULL, len, nv), -EINVAL);
		assert_rc(rcumap_replace(f.map, NULL, len, nv), -EINVAL);
		assert_rc(rcumap_cas(f.map, NULL, len, cur, nv), -EINVAL);
		assert_rc(rcumap_delete(f.map, NULL, len), -EINVAL);
		assert_rc(rcumap_delete_if(f.map, NULL, len, cur), -EINVAL);
		assert_rc(rcumap_get_or_insert(f.map, NULL, len, nv, &res), -EINVAL);
		assert_ptr_equal(res, SENTINEL_MAP);
		/* Length above RCUMAP_KEY_MAX */
		assert_rc(rcumap_insert(f.map, k, RCUMAP_KEY_MAX + 1, nv), -EINVAL);
		assert_rc(rcumap_put(f.map, k, RCUMAP_KEY_MAX + 1, nv), -EINVAL);
		assert_rc(rcumap_replace(f.map, k, RCUMAP_KEY_MAX + 1, nv), -EINVAL);
		assert_rc(rcumap_cas(f.map, k, RCUMAP_KEY_MAX + 1, cur, nv), -EINVAL);
		assert_rc(rcumap_delete(f.map, k, RCUMAP_KEY_MAX + 1), -EINVAL);
		assert_rc(rcumap_delete_if(f.map, k, RCUMAP_KEY_MAX + 1, cur), -EINVAL);
		assert_rc(rcumap_get_or_insert(f.map, k, SIZE_MAX, nv, &res), -EINVAL);
		assert_ptr_equal(res, SENTINEL_MAP);
		/* NULL values */
		assert_rc(rcumap_insert(f.map, k, len, NULL), -EINVAL);
		assert_rc(rcumap_put(f.map, k, len, NULL), -EINVAL);
		assert_rc(rcumap_replace(f.map, k, len, NULL), -EINVAL);
		assert_rc(rcumap_cas(f.map, k, len, cur, NULL), -EINVAL);
		assert_rc(rcumap_cas(f.map, k, len, NULL, nv), -EINVAL);
		assert_rc(rcumap_cas(f.map, k, len, NULL, NULL), -EINVAL);
		assert_rc(rcumap_delete_if(f.map, k, len, NULL), -EINVAL);
		assert_rc(rcumap_get_or_insert(f.map, k, len, NULL, &res), -EINVAL);
		assert_ptr_equal(res, SENTINEL_MAP);
		/* NULL result pointer */
		assert_rc(rcumap_get_or_insert(f.map, k, len, nv, NULL), -EINVAL);
	}
	/* The map-wide calls */
	assert_rc(rcumap_clear(NULL), -EINVAL);
	assert_rc(rcumap_resize(NULL, 64), -EINVAL);
	assert_rc(rcumap_barrier(NULL), -EINVAL);
	assert_rc(rcumap_validate(NULL), -EINVAL);
	assert_rc(rcumap_stats(NULL, &st), -EINVAL);
	assert_rc(rcumap_stats(f.map, NULL), -EINVAL);
	assert_size(rcumap_count(NULL), 0);

	after = stats_of(f.map);
	assert_size(after.entries, before.entries);
	assert_size(after.slots, before.slots);
	assert_size(after.generation, before.generation);
	for (int kd = 0; kd < RCUMAP_STATS_KINDS; kd++)
		assert_size(after.kind[kd].retired, before.kind[kd].retired);
	fx_check(&f);
	fx_barrier(&f);
	fx_check_frees(&f); /* nv was never taken; nothing removed */
	fx_close(&f);
}


static const struct CMUnitTest tests[] = {
	MAP_TEST(get_of_absent_key_returns_null),
	MAP_TEST(get_rejects_null_map_null_key_with_length_and_oversized_length),
	MAP_TEST(empty_key_with_null_pointer_is_a_valid_key),
	MAP_TEST(keys_with_embedded_nuls_and_common_prefixes_are_distinct),
	MAP_TEST(keys_of_0_1_15_16_17_and_65536_bytes_round_trip),
	MAP_TEST(key_of_exactly_key_max_bytes_is_accepted),
	MAP_TEST(every_update_rejects_invalid_arguments_and_changes_nothing),
};

const struct fx_group map_keys_tests = FX_GROUP_OF(tests);
