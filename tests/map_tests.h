/* SPDX-License-Identifier: MIT */
/* map_tests.h: what the source files of test_map share: their groups of tests and a few helpers. */
#ifndef RCUMAP_TESTS_MAP_TESTS_H
#define RCUMAP_TESTS_MAP_TESTS_H

/* Include after testlib/fixture.h. */

#include <stdbool.h>
#include <stddef.h>

/* An rcumap pointer no call returns: a refused rcumap_create must leave it. */
#define SENTINEL_MAP ((struct rcumap *)FX_SENTINEL)

/* Every test of test_map, set up and torn down alike. */
#define MAP_TEST(f) cmocka_unit_test_setup_teardown(f, fx_test_setup, release_stray_reader)

/*
 * map_threads.c: every test's teardown. A reader left pinned in its read
 * section by a failed test would hang every later barrier: release it.
 */
int release_stray_reader(void **state);

/*
 * map_resize.c: fail the migration of a forced resize to `slots` part way
 * until one attempt leaves it pending; returns whether one did (map_enomem.c
 * runs updates against such a migration).
 */
bool leave_migration_pending(struct fx *f, size_t slots);

/* The groups, one per source file, in the order test_map.c runs them. */
extern const struct fx_group map_create_tests;  /* map_create.c */
extern const struct fx_group map_keys_tests;    /* map_keys.c */
extern const struct fx_group map_update_tests;  /* map_update.c */
extern const struct fx_group map_resize_tests;  /* map_resize.c */
extern const struct fx_group map_batch_tests;   /* map_batch.c */
extern const struct fx_group map_enomem_tests;  /* map_enomem.c */
extern const struct fx_group map_threads_tests; /* map_threads.c */

#endif /* RCUMAP_TESTS_MAP_TESTS_H */
