# SPDX-License-Identifier: MIT
# torture/local.mk: the torture suite, its checkers and their negative
# controls, and the spin models (included from Makefile.am).

# The torture suite (docs/testing.md). Every program compiles lib/ in with
# its own switches: -DRCUMAP_TORTURE turns on the hooks of lib/hooks.h,
# -DRCUMAP_BROKEN_* breaks one rule of the library on purpose through a
# hook of lib/broken.h, -DTORTURE_BROKEN_* makes torture break one through
# the flavor, the allocator or its own writers (the negative controls), and
# the sanitizer builds instrument the library too. torture/run.sh drives
# every tier; make check runs it through the generated check-*.sh wrappers.
TORTURE_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib -I$(top_srcdir)/torture \
	-I$(top_srcdir)/testlib -D_LGPL_SOURCE -DDEBUG_RCU -DRCUMAP_TORTURE
# The torture program's files (torture/program.h says which holds what).
TORTURE_PROGRAM_SOURCES = torture/program.h torture/main.c torture/report.c \
	torture/threads.c torture/values.c torture/readers.c \
	torture/scen_mixed.c torture/scen_flood.c torture/scen_lincheck.c \
	torture/scen_faults.c torture/checks.c torture/scenario.c \
	torture/talloc.c torture/talloc.h torture/lincheck.c torture/lincheck.h \
	$(TESTLIB_SOURCES)
TORTURE_SOURCES = $(TORTURE_PROGRAM_SOURCES) $(RCUMAP_LIB_SOURCES)
# The torture program itself (memb), compiled once: the negative controls
# that break the library compile only lib/ with their switch, and link this.
noinst_LIBRARIES += torture/libtorture-memb.a
torture_libtorture_memb_a_SOURCES = $(TORTURE_PROGRAM_SOURCES)
torture_libtorture_memb_a_CPPFLAGS = $(TORTURE_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_MEMB
TORTURE_BROKEN_LIB_LIBS = torture/libtorture-memb.a $(TORTURE_MEMB_LIBS)
# lib/ as the torture programs compile it (the hooks on, no negative control;
# it does not depend on the flavor), once: the flavors and the negative
# controls that break torture's side link it.
noinst_LIBRARIES += torture/librcumap-torture.a
torture_librcumap_torture_a_SOURCES = $(RCUMAP_LIB_SOURCES)
torture_librcumap_torture_a_CPPFLAGS = $(TORTURE_CPPFLAGS)
TORTURE_LIB = torture/librcumap-torture.a
TORTURE_MEMB_LIBS = $(URCU_MEMB_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS) -lm

TORTURE_FLAVORS = torture/torture_memb torture/torture_qsbr torture/torture_bp
TORTURE_BROKEN = \
	torture/torture_broken_free_no_gp \
	torture/torture_broken_retire_early \
	torture/torture_broken_table_early \
	torture/torture_broken_double_retire \
	torture/torture_broken_skip_free \
	torture/torture_broken_nonatomic_cas \
	torture/torture_broken_stale_gen \
	torture/torture_broken_slot_filter \
	torture/torture_broken_bag_late \
	torture/torture_broken_cache_early \
	torture/torture_broken_migrate_skip \
	torture/torture_broken_batch_no_forward \
	torture/torture_broken_update_waits
FAULTS_BINS = torture/faults_memb torture/faults_qsbr torture/faults_bp \
	torture/faults_broken
FUZZ_BINS = torture/fuzz_replay torture/fuzz_replay_plain torture/fuzz_replay_broken
check_PROGRAMS += $(TORTURE_FLAVORS) $(TORTURE_BROKEN) \
	torture/torture_asan torture/torture_tsan $(FAULTS_BINS) $(FUZZ_BINS)

torture_torture_memb_SOURCES = $(TORTURE_PROGRAM_SOURCES)
torture_torture_memb_CPPFLAGS = $(TORTURE_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_MEMB
torture_torture_memb_LDADD = $(TORTURE_LIB) $(TORTURE_MEMB_LIBS)

torture_torture_qsbr_SOURCES = $(TORTURE_PROGRAM_SOURCES)
torture_torture_qsbr_CPPFLAGS = $(TORTURE_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_QSBR
torture_torture_qsbr_LDADD = $(TORTURE_LIB) $(URCU_QSBR_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS) -lm

torture_torture_bp_SOURCES = $(TORTURE_PROGRAM_SOURCES)
torture_torture_bp_CPPFLAGS = $(TORTURE_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_BP
torture_torture_bp_LDADD = $(TORTURE_LIB) $(URCU_BP_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS) -lm

torture_torture_asan_SOURCES = $(TORTURE_SOURCES)
torture_torture_asan_CPPFLAGS = $(TORTURE_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_MEMB
torture_torture_asan_CFLAGS = $(AM_CFLAGS) $(ASAN_FLAGS)
torture_torture_asan_LDFLAGS = $(ASAN_FLAGS)
torture_torture_asan_LDADD = $(TORTURE_MEMB_LIBS)

torture_torture_tsan_SOURCES = $(TORTURE_SOURCES)
torture_torture_tsan_CPPFLAGS = $(TORTURE_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_MEMB
torture_torture_tsan_CFLAGS = $(AM_CFLAGS) $(TSAN_FLAGS)
torture_torture_tsan_LDFLAGS = $(TSAN_FLAGS)
torture_torture_tsan_LDADD = $(TORTURE_MEMB_LIBS)

# The negative controls: memb, one RCUMAP_BROKEN_* or TORTURE_BROKEN_* switch
# each (docs/testing.md, section 4).
torture_torture_broken_free_no_gp_SOURCES = $(TORTURE_PROGRAM_SOURCES)
torture_torture_broken_free_no_gp_CPPFLAGS = $(TORTURE_CPPFLAGS) \
	-DRCUMAP_TEST_FLAVOR_MEMB -DTORTURE_BROKEN_FREE_NO_GP
torture_torture_broken_free_no_gp_LDADD = $(TORTURE_LIB) $(TORTURE_MEMB_LIBS)

torture_torture_broken_retire_early_SOURCES = $(RCUMAP_LIB_SOURCES)
torture_torture_broken_retire_early_CPPFLAGS = $(TORTURE_CPPFLAGS) \
	-DRCUMAP_TEST_FLAVOR_MEMB -DRCUMAP_BROKEN_RETIRE_EARLY
torture_torture_broken_retire_early_LDADD = $(TORTURE_BROKEN_LIB_LIBS)

torture_torture_broken_table_early_SOURCES = $(RCUMAP_LIB_SOURCES)
torture_torture_broken_table_early_CPPFLAGS = $(TORTURE_CPPFLAGS) \
	-DRCUMAP_TEST_FLAVOR_MEMB -DRCUMAP_BROKEN_TABLE_EARLY
torture_torture_broken_table_early_LDADD = $(TORTURE_BROKEN_LIB_LIBS)

torture_torture_broken_double_retire_SOURCES = $(RCUMAP_LIB_SOURCES)
torture_torture_broken_double_retire_CPPFLAGS = $(TORTURE_CPPFLAGS) \
	-DRCUMAP_TEST_FLAVOR_MEMB -DRCUMAP_BROKEN_DOUBLE_RETIRE
torture_torture_broken_double_retire_LDADD = $(TORTURE_BROKEN_LIB_LIBS)

torture_torture_broken_skip_free_SOURCES = $(TORTURE_PROGRAM_SOURCES)
torture_torture_broken_skip_free_CPPFLAGS = $(TORTURE_CPPFLAGS) \
	-DRCUMAP_TEST_FLAVOR_MEMB -DTORTURE_BROKEN_SKIP_FREE
torture_torture_broken_skip_free_LDADD = $(TORTURE_LIB) $(TORTURE_MEMB_LIBS)

torture_torture_broken_nonatomic_cas_SOURCES = $(RCUMAP_LIB_SOURCES)
torture_torture_broken_nonatomic_cas_CPPFLAGS = $(TORTURE_CPPFLAGS) \
	-DRCUMAP_TEST_FLAVOR_MEMB -DRCUMAP_BROKEN_NONATOMIC_CAS
torture_torture_broken_nonatomic_cas_LDADD = $(TORTURE_BROKEN_LIB_LIBS)

torture_torture_broken_stale_gen_SOURCES = $(RCUMAP_LIB_SOURCES)
torture_torture_broken_stale_gen_CPPFLAGS = $(TORTURE_CPPFLAGS) \
	-DRCUMAP_TEST_FLAVOR_MEMB -DRCUMAP_BROKEN_STALE_GEN
torture_torture_broken_stale_gen_LDADD = $(TORTURE_BROKEN_LIB_LIBS)

torture_torture_broken_slot_filter_SOURCES = $(RCUMAP_LIB_SOURCES)
torture_torture_broken_slot_filter_CPPFLAGS = $(TORTURE_CPPFLAGS) \
	-DRCUMAP_TEST_FLAVOR_MEMB -DRCUMAP_BROKEN_SLOT_FILTER
torture_torture_broken_slot_filter_LDADD = $(TORTURE_BROKEN_LIB_LIBS)

torture_torture_broken_bag_late_SOURCES = $(RCUMAP_LIB_SOURCES)
torture_torture_broken_bag_late_CPPFLAGS = $(TORTURE_CPPFLAGS) \
	-DRCUMAP_TEST_FLAVOR_MEMB -DRCUMAP_BROKEN_BAG_LATE
torture_torture_broken_bag_late_LDADD = $(TORTURE_BROKEN_LIB_LIBS)

torture_torture_broken_cache_early_SOURCES = $(RCUMAP_LIB_SOURCES)
torture_torture_broken_cache_early_CPPFLAGS = $(TORTURE_CPPFLAGS) \
	-DRCUMAP_TEST_FLAVOR_MEMB -DRCUMAP_BROKEN_CACHE_EARLY
torture_torture_broken_cache_early_LDADD = $(TORTURE_BROKEN_LIB_LIBS)
torture_torture_broken_migrate_skip_SOURCES = $(RCUMAP_LIB_SOURCES)
torture_torture_broken_migrate_skip_CPPFLAGS = $(TORTURE_CPPFLAGS) \
	-DRCUMAP_TEST_FLAVOR_MEMB -DRCUMAP_BROKEN_MIGRATE_SKIP
torture_torture_broken_migrate_skip_LDADD = $(TORTURE_BROKEN_LIB_LIBS)

torture_torture_broken_batch_no_forward_SOURCES = $(RCUMAP_LIB_SOURCES)
torture_torture_broken_batch_no_forward_CPPFLAGS = $(TORTURE_CPPFLAGS) \
	-DRCUMAP_TEST_FLAVOR_MEMB -DRCUMAP_BROKEN_BATCH_NO_FORWARD
torture_torture_broken_batch_no_forward_LDADD = $(TORTURE_BROKEN_LIB_LIBS)

# The progress detector's own negative control: the library is intact, but
# torture's writers call synchronize_rcu after every update.
torture_torture_broken_update_waits_SOURCES = $(TORTURE_PROGRAM_SOURCES)
torture_torture_broken_update_waits_CPPFLAGS = $(TORTURE_CPPFLAGS) \
	-DRCUMAP_TEST_FLAVOR_MEMB -DTORTURE_BROKEN_UPDATE_WAITS
torture_torture_broken_update_waits_LDADD = $(TORTURE_LIB) $(TORTURE_MEMB_LIBS)

# The single-threaded allocation-failure script, per flavor, and its
# negative control (lib/resize.c: a failed fill loses the slot's entries).
FAULTS_PROGRAM_SOURCES = torture/faults.h torture/faults.c torture/fault_script.c \
	torture/fault_run.c torture/fault_trav.c $(TESTLIB_SOURCES)
FAULTS_SOURCES = $(FAULTS_PROGRAM_SOURCES) $(RCUMAP_LIB_SOURCES)
FAULTS_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib -I$(top_srcdir)/testlib -D_LGPL_SOURCE
# lib/ compiled in without hooks, once, for the fault script of every flavor
# and the plain fuzz replay.
noinst_LIBRARIES += torture/librcumap-plain.a
torture_librcumap_plain_a_SOURCES = $(RCUMAP_LIB_SOURCES)
torture_librcumap_plain_a_CPPFLAGS = $(FAULTS_CPPFLAGS)
PLAIN_LIB = torture/librcumap-plain.a

torture_faults_memb_SOURCES = $(FAULTS_PROGRAM_SOURCES)
torture_faults_memb_CPPFLAGS = $(FAULTS_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_MEMB
torture_faults_memb_LDADD = $(PLAIN_LIB) $(TORTURE_MEMB_LIBS)

torture_faults_qsbr_SOURCES = $(FAULTS_PROGRAM_SOURCES)
torture_faults_qsbr_CPPFLAGS = $(FAULTS_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_QSBR
torture_faults_qsbr_LDADD = $(PLAIN_LIB) $(URCU_QSBR_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)

torture_faults_bp_SOURCES = $(FAULTS_PROGRAM_SOURCES)
torture_faults_bp_CPPFLAGS = $(FAULTS_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_BP
torture_faults_bp_LDADD = $(PLAIN_LIB) $(URCU_BP_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)

torture_faults_broken_SOURCES = $(FAULTS_SOURCES)
torture_faults_broken_CPPFLAGS = $(FAULTS_CPPFLAGS) -DRCUMAP_TEST_FLAVOR_MEMB \
	-DRCUMAP_BROKEN_FILL_ENOMEM
torture_faults_broken_LDADD = $(TORTURE_MEMB_LIBS)

# The differential fuzz harness, replaying its committed corpus: under
# ASan+UBSan, plain (for valgrind), and with a broken iterator (it must
# fail). make fuzz builds the libFuzzer binary with clang.
FUZZ_PROGRAM_SOURCES = torture/fuzz.h torture/fuzz.c torture/fuzz_ops.c \
	torture/fuzz_model.c $(TESTLIB_SOURCES)
FUZZ_SOURCES = $(FUZZ_PROGRAM_SOURCES) $(RCUMAP_LIB_SOURCES)
FUZZ_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib -I$(top_srcdir)/testlib -D_LGPL_SOURCE

torture_fuzz_replay_SOURCES = $(FUZZ_SOURCES)
torture_fuzz_replay_CPPFLAGS = $(FUZZ_CPPFLAGS)
torture_fuzz_replay_CFLAGS = $(AM_CFLAGS) $(ASAN_FLAGS)
torture_fuzz_replay_LDFLAGS = $(ASAN_FLAGS)
torture_fuzz_replay_LDADD = $(TORTURE_MEMB_LIBS)

torture_fuzz_replay_plain_SOURCES = $(FUZZ_PROGRAM_SOURCES)
torture_fuzz_replay_plain_CPPFLAGS = $(FUZZ_CPPFLAGS)
torture_fuzz_replay_plain_LDADD = $(PLAIN_LIB) $(TORTURE_MEMB_LIBS)

torture_fuzz_replay_broken_SOURCES = $(FUZZ_SOURCES)
torture_fuzz_replay_broken_CPPFLAGS = $(FUZZ_CPPFLAGS) -DRCUMAP_BROKEN_ITER_NO_FILTER
torture_fuzz_replay_broken_LDADD = $(TORTURE_MEMB_LIBS)

# make check runs torture/run.sh through one generated wrapper per tier,
# so that make -j can run tiers side by side: check-quick-memb.sh runs
# "run.sh quick memb", and so on.
TORTURE_CHECKS = \
	torture/check-quick-memb.sh \
	torture/check-quick-qsbr.sh \
	torture/check-quick-bp.sh \
	torture/check-asan.sh \
	torture/check-tsan.sh \
	torture/check-negative.sh \
	torture/check-faults.sh \
	torture/check-valgrind.sh \
	torture/check-replay.sh
check_SCRIPTS += $(TORTURE_CHECKS)
CLEANFILES += $(TORTURE_CHECKS)
$(TORTURE_CHECKS): Makefile
	$(AM_V_GEN)$(MKDIR_P) torture && \
	args=`basename $@ .sh | sed 's/^check-//; s/-/ /'` && \
	{ echo '#!/bin/sh'; \
	  echo "# Generated by make: runs torture/run.sh $$args."; \
	  echo "exec \"\$${abs_top_srcdir:?run through make check}/torture/run.sh\" $$args"; \
	} >$@ && chmod +x $@

# The spin models of the protocol and the traversal (torture/model/README.md):
# make check runs the quick tier (the grow, the required negative controls
# and the traversal, about 40 s); make check-model runs every configuration
# (grow and shrink, every memory-order variant: about 3.5 min, 2.5 GB).
MODEL_FILES = torture/model/protocol.pml torture/model/traversal.pml \
	torture/model/run.sh torture/model/README.md
MODEL_CHECKS = torture/check-model.sh
check_SCRIPTS += $(MODEL_CHECKS)
CLEANFILES += $(MODEL_CHECKS)
$(MODEL_CHECKS): Makefile
	$(AM_V_GEN)$(MKDIR_P) torture && \
	{ echo '#!/bin/sh'; \
	  echo '# Generated by make: runs torture/model/run.sh --quick.'; \
	  echo 'exec sh "$${abs_top_srcdir:?run through make check}/torture/model/run.sh" --quick'; \
	} >$@ && chmod +x $@

# The torture suite's linearizability checker, against hand-made and random
# histories, linearizable and not (it prints TAP itself).
check_PROGRAMS += torture/test_lincheck
torture_test_lincheck_SOURCES = torture/test_lincheck.c torture/lincheck.c torture/lincheck.h \
	testlib/util.h
torture_test_lincheck_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/testlib
torture_test_lincheck_CFLAGS = $(AM_CFLAGS) -O2

.PHONY: check-model torture torture-long torture-loop fuzz

# Every configuration of the spin models (torture/model/run.sh).
check-model:
	@$(SHELL) $(srcdir)/torture/model/run.sh

# torture/run.sh outside make check.
TORTURE_RUN = abs_top_srcdir='$(abs_top_srcdir)' abs_top_builddir='$(abs_top_builddir)' \
	EXEEXT='$(EXEEXT)' $(SHELL) $(srcdir)/torture/run.sh

# The torture suite's quick tier, every flavor (also part of make check).
# Extra options for every run: make torture TORTURE_ARGS='--seed 42'
torture: $(TORTURE_FLAVORS)
	@$(TORTURE_RUN) quick memb qsbr bp

# Long scenarios, DURATION seconds each (default 30 minutes), FLAVORS
# (default memb), LONG_SCENARIOS (default mixed):
#   make torture-long DURATION=3600 FLAVORS='memb qsbr bp'
DURATION = 1800
FLAVORS = memb
LONG_SCENARIOS = mixed
torture-long: $(TORTURE_FLAVORS)
	@DURATION='$(DURATION)' LONG_SCENARIOS='$(LONG_SCENARIOS)' $(TORTURE_RUN) long $(FLAVORS)

# The quick tier over and over, a new seed each run, until one fails
# (LOOP_MAX=N stops after N passing rounds).
torture-loop: $(TORTURE_FLAVORS)
	@LOOP_MAX='$(LOOP_MAX)' $(TORTURE_RUN) loop memb qsbr bp

# Open-ended differential fuzzing with libFuzzer (needs clang and
# libclang-rt-14-dev). New inputs go to $(FUZZ_DIR) (default
# torture/corpus/fuzz-new in the build tree), the committed corpus seeds it:
#   make fuzz FUZZ_ARGS='-max_total_time=600 -jobs=2'
FUZZ_CC = clang
FUZZ_DIR = torture/corpus/fuzz-new
FUZZ_ARGS =
fuzz:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { \
	  echo "fuzz: $(FUZZ_CC) not found: apt-get install clang libclang-rt-14-dev" >&2; exit 1; }
	$(MKDIR_P) torture $(FUZZ_DIR)
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -DRCUMAP_FUZZ_LIBFUZZER \
	  -D_LGPL_SOURCE -I$(top_srcdir)/include -I$(top_srcdir)/lib -I$(top_srcdir)/testlib \
	  $(filter %.c,$(addprefix $(top_srcdir)/,$(FUZZ_SOURCES))) \
	  $(TORTURE_MEMB_LIBS) -o torture/fuzz_libfuzzer
	./torture/fuzz_libfuzzer $(FUZZ_ARGS) $(FUZZ_DIR) $(top_srcdir)/torture/corpus/fuzz

# The longest tests come first (see TESTS in Makefile.am).
TESTS += \
	torture/check-quick-memb.sh \
	torture/check-quick-qsbr.sh \
	torture/check-quick-bp.sh \
	torture/check-valgrind.sh \
	torture/check-asan.sh \
	torture/check-tsan.sh \
	torture/check-negative.sh \
	torture/check-faults.sh \
	torture/check-replay.sh \
	torture/check-model.sh \
	torture/test_lincheck

EXTRA_DIST += \
	torture/run.sh \
	$(MODEL_FILES) \
	torture/gen_fuzz_corpus.py
