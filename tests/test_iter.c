/* SPDX-License-Identifier: MIT */
/* test_iter.c: cmocka tests of rcumap's iteration, the in-section iterator and the cursor scan: the runner. */

/*
 * What is checked (docs/iteration.md, T1-T5), for both rcumap_iter_* and
 * rcumap_scan:
 *   T2  every key present for the whole traversal is returned exactly once;
 *   T3  no key is returned twice;
 *   T4  a key absent for the whole traversal is never returned, and a value
 *       returned was the key's value at some instant of the traversal;
 *   T5  all of that while the traversal itself deletes, replaces and inserts;
 * across grows and shrinks of every factor, half-done migrations left by a
 * failed allocation, and (one test) concurrent writers, resizes and pauses.
 *
 * The tests live in files of one concern each, which export their groups
 * through iter_tests.h:
 *   iter_setup.c       positions, hashes that place keys, the map (testlib's
 *                      fixture), updates kept in step with the reference
 *   iter_trav.c        the traversal recorder (T2, T3, T4) and the walks
 *   iter_plain.c       plain traversals
 *   iter_resize.c      resizes during a traversal, half-done migrations
 *   iter_update.c      updates from inside the traversal (T5), down to a scan
 *                      deleting every entry
 *   iter_concurrent.c  writers, a resizer and traversals of both kinds
 *   iter_misuse.c      debug builds: misuse aborts with a message naming it
 *
 * Built several ways (tests/local.mk):
 *   tests/test_iter_{memb,qsbr,bp}    against librcumap.la, one per flavor;
 *   tests/test_iter_debug             bp, lib/ compiled in with -DRCUMAP_DEBUG:
 *                                     adds the misuse test, in which forked
 *                                     children must abort with the right
 *                                     message;
 *   tests/test_iter_debug_qsbr        the same for qsbr (whose "outside a read
 *                                     section" means offline), misuse test only
 *                                     (-DRCUMAP_TEST_ITER_MISUSE_ONLY);
 *   tests/test_iter_broken_nofilter   lib/ compiled in with a deliberately
 *   tests/test_iter_broken_noforward  broken iterator: negative controls that
 *                                     must FAIL (tests/negative_iter.sh).
 *
 * Environment:
 *   RCUMAP_TEST_ITER_SET=single      register only the single-threaded tests;
 *                        concurrent  only the concurrent test; default: all
 *                                    (negative_iter.sh runs them apart).
 *                                    Tests are left unregistered rather than
 *                                    skipped: the TAP driver counts a skip as
 *                                    a failure.
 *   RCUMAP_TEST_ITER_SECONDS=N       length of the concurrent test (default 8;
 *                                    3 in the debug build, 2 under valgrind)
 *   RCUMAP_TEST_ITER_FILTER=GLOB     run only the tests whose names match
 *   RCUMAP_TEST_ITER_SKIP=GLOB       do not run the tests whose names match
 *                                    (scripts/check-cross.sh: what qemu-user
 *                                    cannot emulate)
 *   RCUMAP_TEST_VALGRIND=1           scale the large tests down
 *   RCUMAP_TEST_SEED=N               replay the random choices
 *   CMOCKA_MESSAGE_OUTPUT=TAP        for automake's tap-driver
 *
 * Every traversal failure is reported with a tag naming what broke;
 * tests/negative_iter.sh greps for them:
 *   "DUPLICATE:" (T3)  "MISSED:" (T2)  "GHOST:" and "STALE:" (T4)
 *   "BADKEY:" / "BADVALUE:" (wrong bytes, a value of another key or a freed one)
 *   "SPLIT:" (keys of one 32-bit hash split across scan calls)
 *   "CURSOR:" / "CALLSIZE:" (the scan's cursor or per-call count is off)
 *   "UPDATE:" (an update made during the traversal returned the wrong code)
 *   "SETUP:" (the scenario could not be arranged: a test defect or a change
 *            in the library's allocation pattern, not an iteration bug)
 *
 * Rules kept, as in test_map (testlib/fixture.h): cmocka asserts only on the
 * test thread, and never inside a traversal's loop or a scan callback:
 * failures there are recorded as tagged messages and asserted once the
 * section is over. Worker threads record too. The teardown leaves any read
 * section that a failed assert left open (qsbr: comes back online).
 */

#include "flavor.h" /* first: the liburcu flavor header */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rcumap.h>

#include "fixture.h"
#include "iter_tests.h"

#if defined(RCUMAP_TEST_ITER_MISUSE_ONLY) && !defined(RCUMAP_DEBUG)
#error "RCUMAP_TEST_ITER_MISUSE_ONLY needs RCUMAP_DEBUG: the misuse test exists only there"
#endif

int main(void)
{
	struct fx_group groups[5];
	size_t n = 0;
#ifdef RCUMAP_TEST_ITER_MISUSE_ONLY
	/* tests/test_iter_debug_qsbr: the misuse checks of the other flavor family. */
	groups[n++] = iter_misuse_tests;
#else
	const char *set = getenv("RCUMAP_TEST_ITER_SET");

	if (!set || strcmp(set, "concurrent") != 0) {
		groups[n++] = iter_plain_tests;
		groups[n++] = iter_resize_tests;
		groups[n++] = iter_update_tests;
		groups[n++] = iter_misuse_tests;
	}
	if (!set || strcmp(set, "single") != 0)
		groups[n++] = iter_concurrent_tests;
#endif
	return fx_run("rcumap_iter_" TEST_FLAVOR_NAME, groups, n, "RCUMAP_TEST_ITER_FILTER",
		      "RCUMAP_TEST_ITER_SKIP");
}
