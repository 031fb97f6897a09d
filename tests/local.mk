# SPDX-License-Identifier: MIT
# tests/local.mk: the cmocka unit tests and the scripts that check the
# build (included from Makefile.am).

# test_map is built once per liburcu flavor: tests/test_map.c runs the
# groups of tests that tests/map_*.c export (tests/map_tests.h), on the
# fixture of testlib/fixture.c. -D_LGPL_SOURCE inlines the read-side
# primitives as real users do; with -DDEBUG_RCU they assert that the thread
# is registered (qsbr: online), so a test that reads from an unregistered
# thread aborts instead of passing silently. Both work with memb, qsbr and bp.
TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/testlib $(CMOCKA_CFLAGS) -D_LGPL_SOURCE -DDEBUG_RCU
TEST_LIBS = librcumap.la $(CMOCKA_LIBS)
# The cmocka fixture: not in TESTLIB_SOURCES, as torture and bench have no cmocka.
FIXTURE_SOURCES = testlib/fixture.c testlib/fixture.h $(TESTLIB_SOURCES)
TEST_SOURCES = tests/test_map.c tests/map_tests.h tests/map_create.c tests/map_keys.c \
	tests/map_update.c tests/map_resize.c tests/map_batch.c tests/map_enomem.c \
	tests/map_threads.c $(FIXTURE_SOURCES)

check_PROGRAMS += \
	tests/test_fork_memb \
	tests/test_fork_qsbr \
	tests/test_fork_bp \
	tests/test_map_memb \
	tests/test_map_qsbr \
	tests/test_map_bp \
	tests/test_siphash \
	tests/test_hash \
	tests/test_iter_memb \
	tests/test_iter_qsbr \
	tests/test_iter_bp \
	tests/test_iter_debug \
	tests/test_iter_debug_qsbr \
	tests/test_iter_broken_nofilter \
	tests/test_iter_broken_noforward \
	tests/test_map_broken_batch

tests_test_map_memb_SOURCES = $(TEST_SOURCES)
tests_test_map_memb_CPPFLAGS = $(TEST_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_MEMB
tests_test_map_memb_LDADD = $(TEST_LIBS) \
	$(URCU_MEMB_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)

tests_test_map_qsbr_SOURCES = $(TEST_SOURCES)
tests_test_map_qsbr_CPPFLAGS = $(TEST_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_QSBR
tests_test_map_qsbr_LDADD = $(TEST_LIBS) \
	$(URCU_QSBR_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)

tests_test_map_bp_SOURCES = $(TEST_SOURCES)
tests_test_map_bp_CPPFLAGS = $(TEST_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_BP
tests_test_map_bp_LDADD = $(TEST_LIBS) \
	$(URCU_BP_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)

# The batch tests' negative control: lib/ compiled in with
# RCUMAP_BROKEN_BATCH_NO_FORWARD. torture/run.sh negative runs its
# get_batch tests alone, and the half-done migration one must fail.
tests_test_map_broken_batch_SOURCES = $(TEST_SOURCES) $(RCUMAP_LIB_SOURCES)
tests_test_map_broken_batch_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/lib \
	-DRCUMAP_TEST_FLAVOR_MEMB -DRCUMAP_BROKEN_BATCH_NO_FORWARD
tests_test_map_broken_batch_LDADD = $(CMOCKA_LIBS) \
	$(URCU_MEMB_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)

# test_iter: iteration (rcumap_iter_*, rcumap_scan); tests/test_iter.c runs
# the groups that tests/iter_*.c export (tests/iter_tests.h). Once per flavor
# against the library like test_map, plus builds that compile lib/ in:
# - test_iter_debug: bp, -DRCUMAP_DEBUG; adds the misuse test, whose forked
#   children must abort with the right message; test_iter_debug_qsbr runs that
#   test alone for qsbr, where "outside a read section" means offline;
# - test_iter_broken_*: the negative controls. lib/broken.h's
#   RCUMAP_BROKEN_ITER_* variants break it on purpose; tests/negative_iter.sh
#   passes only if these binaries fail, and fail the way expected.
ITER_SOURCES = tests/test_iter.c tests/iter_tests.h tests/iter_setup.c tests/iter_trav.c \
	tests/iter_plain.c tests/iter_resize.c tests/iter_update.c tests/iter_concurrent.c \
	tests/iter_misuse.c $(FIXTURE_SOURCES)
ITER_LIB_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/lib

tests_test_iter_memb_SOURCES = $(ITER_SOURCES)
tests_test_iter_memb_CPPFLAGS = $(TEST_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_MEMB
tests_test_iter_memb_LDADD = $(TEST_LIBS) \
	$(URCU_MEMB_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)

tests_test_iter_qsbr_SOURCES = $(ITER_SOURCES)
tests_test_iter_qsbr_CPPFLAGS = $(TEST_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_QSBR
tests_test_iter_qsbr_LDADD = $(TEST_LIBS) \
	$(URCU_QSBR_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)

tests_test_iter_bp_SOURCES = $(ITER_SOURCES)
tests_test_iter_bp_CPPFLAGS = $(TEST_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_BP
tests_test_iter_bp_LDADD = $(TEST_LIBS) \
	$(URCU_BP_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)

tests_test_iter_debug_SOURCES = $(ITER_SOURCES) $(RCUMAP_LIB_SOURCES)
tests_test_iter_debug_CPPFLAGS = $(ITER_LIB_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_BP \
	-DRCUMAP_DEBUG=1
tests_test_iter_debug_LDADD = $(CMOCKA_LIBS) \
	$(URCU_BP_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)

tests_test_iter_debug_qsbr_SOURCES = $(ITER_SOURCES) $(RCUMAP_LIB_SOURCES)
tests_test_iter_debug_qsbr_CPPFLAGS = $(ITER_LIB_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_QSBR \
	-DRCUMAP_DEBUG=1 -DRCUMAP_TEST_ITER_MISUSE_ONLY
tests_test_iter_debug_qsbr_LDADD = $(CMOCKA_LIBS) \
	$(URCU_QSBR_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)

tests_test_iter_broken_nofilter_SOURCES = $(ITER_SOURCES) $(RCUMAP_LIB_SOURCES)
tests_test_iter_broken_nofilter_CPPFLAGS = $(ITER_LIB_CPPFLAGS) \
	-DRCUMAP_TEST_FLAVOR_MEMB -DRCUMAP_BROKEN_ITER_NO_FILTER
tests_test_iter_broken_nofilter_LDADD = $(CMOCKA_LIBS) \
	$(URCU_MEMB_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)

tests_test_iter_broken_noforward_SOURCES = $(ITER_SOURCES) $(RCUMAP_LIB_SOURCES)
tests_test_iter_broken_noforward_CPPFLAGS = $(ITER_LIB_CPPFLAGS) \
	-DRCUMAP_TEST_FLAVOR_MEMB -DRCUMAP_BROKEN_ITER_NO_FORWARD
tests_test_iter_broken_noforward_LDADD = $(CMOCKA_LIBS) \
	$(URCU_MEMB_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)

# The hash is tested through lib/siphash.h alone (inline, no library).
tests_test_siphash_SOURCES = tests/test_siphash.c lib/siphash.h
tests_test_siphash_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib $(CMOCKA_CFLAGS)
tests_test_siphash_LDADD = $(CMOCKA_LIBS)

# The default hash (lib/hash.c compiled in, so the test can force either
# path): frozen vectors, a scalar reference, every key bit and length, no
# read outside the key.
tests_test_hash_SOURCES = tests/test_hash.c lib/hash.c lib/hash.h lib/siphash.h
tests_test_hash_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib $(CMOCKA_CFLAGS)
tests_test_hash_LDADD = $(CMOCKA_LIBS)

TESTS += \
	tests/valgrind.sh \
	tests/test_map_memb \
	tests/test_map_qsbr \
	tests/test_map_bp \
	tests/test_siphash \
	tests/test_hash \
	tests/test_iter_memb \
	tests/test_iter_qsbr \
	tests/test_iter_bp \
	tests/test_iter_debug \
	tests/test_iter_debug_qsbr \
	tests/negative_iter.sh \
	tests/bench_selftest.sh \
	tests/scan_delete.sh \
	tests/installed.sh \
	tests/readme_sync.sh

EXTRA_DIST += \
	tests/valgrind.sh \
	tests/valgrind.supp \
	tests/negative_iter.sh \
	tests/installed.sh \
	tests/readme_sync.sh

# tests/test_fork.c: a map used in a child after fork(), under the rules of
# include/rcumap.h ("fork()"), once per flavor; a child that hangs or fails
# a step fails the test.
FORK_SOURCES = tests/test_fork.c $(TESTLIB_SOURCES)
tests_test_fork_memb_SOURCES = $(FORK_SOURCES)
tests_test_fork_memb_CPPFLAGS = $(TEST_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_MEMB
tests_test_fork_memb_LDADD = $(TEST_LIBS) $(URCU_MEMB_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)
tests_test_fork_qsbr_SOURCES = $(FORK_SOURCES)
tests_test_fork_qsbr_CPPFLAGS = $(TEST_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_QSBR
tests_test_fork_qsbr_LDADD = $(TEST_LIBS) $(URCU_QSBR_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)
tests_test_fork_bp_SOURCES = $(FORK_SOURCES)
tests_test_fork_bp_CPPFLAGS = $(TEST_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_BP
tests_test_fork_bp_LDADD = $(TEST_LIBS) $(URCU_BP_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)
TESTS += tests/test_fork_memb tests/test_fork_qsbr tests/test_fork_bp
