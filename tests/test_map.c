/* SPDX-License-Identifier: MIT */
/* test_map.c: cmocka unit tests of the rcumap API, built once per liburcu flavor: the runner. */

/*
 * Build with one of -DRCUMAP_TEST_FLAVOR_MEMB / _QSBR / _BP (see flavor.h),
 * together with the files that hold the tests, one concern each:
 *   map_create.c   the instruments' negative controls; create and destroy
 *   map_keys.c     lookups and keys
 *   map_update.c   single-threaded semantics of each update
 *   map_resize.c   stats, resize, barrier, validate, hashes; growing to a
 *                  million entries and shrinking back
 *   map_batch.c    batched lookups (rcumap_get_batch)
 *   map_enomem.c   allocation failure at every allocation of every update
 *   map_threads.c  a reader pinned through every kind of update; the
 *                  multi-threaded smoke test
 * The fixture, and the rules the tests keep, are testlib/fixture.h's.
 *
 * Environment:
 *   RCUMAP_TEST_VALGRIND=1  scale the large tests down for a valgrind run.
 *   RCUMAP_TEST_SEED=N      replay the smoke test's random choices.
 *   RCUMAP_TEST_MAP_FILTER=GLOB  run only the tests whose names match
 *                           (torture/run.sh negative runs the batch tests
 *                           alone against tests/test_map_broken_batch).
 *   RCUMAP_TEST_MAP_SKIP=GLOB    do not run the tests whose names match
 *                           (scripts/check-cross.sh: what qemu-user cannot
 *                           emulate).
 *   CMOCKA_MESSAGE_OUTPUT=TAP  for automake's tap-driver.
 */

#include "flavor.h" /* first: the liburcu flavor header */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <rcumap.h>

#include "fixture.h"
#include "map_tests.h"

int main(void)
{
	const struct fx_group groups[] = {
		map_create_tests,
		map_keys_tests,
		map_update_tests,
		map_resize_tests,
		map_batch_tests,
		map_enomem_tests,
		map_threads_tests,
	};

	return fx_run("rcumap_" TEST_FLAVOR_NAME, groups, sizeof(groups) / sizeof(groups[0]),
		      "RCUMAP_TEST_MAP_FILTER", "RCUMAP_TEST_MAP_SKIP");
}
