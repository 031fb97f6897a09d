# SPDX-License-Identifier: MIT
# bench/local.mk: mapbench and its peers, and the make bench* targets
# (included from Makefile.am).

noinst_PROGRAMS += bench/mapbench bench/layout bench/iterate

# -O2 comes before the user's CFLAGS, so --enable-debug's -O0 wins (make bench
# says so).
# bench/mapbench: rcumap against its peers (docs/benchmarks.md). Each peer
# is one file; the optional ones are compiled in when configure found them.
BENCH_PEER_SOURCES = \
	bench/peer.h bench/workload.h $(TESTLIB_SOURCES) \
	bench/peers.c bench/selftest.c bench/selftest.h \
	bench/peer_rcumap.c bench/peer_lfht.c \
	bench/peer_locked.c bench/peer_oa.c
BENCH_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/bench -I$(top_srcdir)/testlib
# bench/libpeer_qsbr.a (below) comes first: it needs librcumap and liburcu.
BENCH_LIBS = bench/libpeer_qsbr.a librcumap.la $(URCU_MEMB_LIBS) $(URCU_QSBR_LIBS) \
	$(URCU_CDS_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS) -lm
if HAVE_CK
BENCH_PEER_SOURCES += bench/peer_ck.c
BENCH_CPPFLAGS += -DHAVE_CK
BENCH_LIBS += -lck
endif
if HAVE_TBB
BENCH_PEER_SOURCES += bench/peer_tbb.cc
BENCH_CPPFLAGS += -DHAVE_TBB
BENCH_LIBS += -ltbb
endif
# The program's own files; bench/mapbench.h says what each holds.
bench_mapbench_SOURCES = bench/mapbench.c bench/mapbench.h bench/mapbench_opts.c \
	bench/mapbench_run.c bench/mapbench_results.c bench/mapbench_special.c \
	bench/mapbench_write.c bench/mapbench_batch.c $(BENCH_PEER_SOURCES)
bench_mapbench_CPPFLAGS = $(BENCH_CPPFLAGS)
bench_mapbench_CFLAGS = $(AM_CFLAGS) -O2
bench_mapbench_CXXFLAGS = -O2 -Wall -Wextra $(PTHREAD_CFLAGS)
bench_mapbench_LDADD = $(BENCH_LIBS)

# The qsbr flavor of the cds_lfht and rcumap peers: the memb peers' own
# sources compiled again with -DPEER_QSBR. Automake sets flags per program or
# library, not per object, hence a library of their own, which both programs
# link (nothing in it differs between them).
noinst_LIBRARIES += bench/libpeer_qsbr.a
bench_libpeer_qsbr_a_SOURCES = bench/peer_rcumap.c bench/peer_lfht.c \
	bench/peer.h bench/workload.h testlib/util.h
bench_libpeer_qsbr_a_CPPFLAGS = $(BENCH_CPPFLAGS) -DPEER_QSBR
bench_libpeer_qsbr_a_CFLAGS = $(bench_mapbench_CFLAGS)

# The same program with a deliberately broken peer, for the self-test's
# negative control (tests/bench_selftest.sh).
check_PROGRAMS += bench/mapbench_broken
EXTRA_DIST += tests/bench_selftest.sh
bench_mapbench_broken_SOURCES = $(bench_mapbench_SOURCES)
bench_mapbench_broken_CPPFLAGS = $(BENCH_CPPFLAGS) -DBENCH_BROKEN_PEER
bench_mapbench_broken_CFLAGS = $(bench_mapbench_CFLAGS)
bench_mapbench_broken_CXXFLAGS = $(bench_mapbench_CXXFLAGS)
bench_mapbench_broken_LDADD = $(BENCH_LIBS)

bench_layout_SOURCES = bench/layout.c testlib/util.h
bench_layout_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/testlib
bench_layout_CFLAGS = $(AM_CFLAGS) -O2
bench_layout_LDADD = librcumap.la $(URCU_MEMB_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)

bench_iterate_SOURCES = bench/iterate.c testlib/util.h
bench_iterate_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/testlib
bench_iterate_CFLAGS = $(AM_CFLAGS) -O2
bench_iterate_LDADD = librcumap.la $(URCU_MEMB_LIBS) $(URCU_COMMON_LIBS) $(PTHREAD_LIBS)

# Convenience targets; none of them is part of make check.
.PHONY: bench bench-quick bench-batch bench-layout bench-iterate bench-server bench-server-quick

# make bench: every peer and workload of docs/benchmarks.md (about 45
# minutes on 2 cores); make bench-quick: the same at reduced size, under 2
# minutes. Results, plots and report.md go to bench-results/ in the build
# tree. Extra mapbench options: make bench BENCH_ARGS='-t 1,2,4,8'
BENCH_RUN = abs_top_srcdir='$(abs_top_srcdir)' abs_top_builddir='$(abs_top_builddir)' \
	$(SHELL) $(srcdir)/bench/run.sh
if RCUMAP_DEBUG
BENCH_DEBUG_WARNING = echo "bench: warning: --enable-debug build (-O0, RCUMAP_DEBUG): numbers are not representative" >&2
else
BENCH_DEBUG_WARNING = :
endif
bench: bench/mapbench$(EXEEXT) $(BENCH_GO_PROGRAM)
	@$(BENCH_DEBUG_WARNING)
	@$(BENCH_RUN) full $(BENCH_ARGS)
bench-quick: bench/mapbench$(EXEEXT) $(BENCH_GO_PROGRAM)
	@$(BENCH_DEBUG_WARNING)
	@$(BENCH_RUN) quick $(BENCH_ARGS)

# The batch experiment alone (docs/benchmarks.md, "Batched lookups"), about
# 2 minutes: rcumap_get_batch against single lookups of the same keys and
# the unsynchronised ceiling, 10K, 1M and 10M keys, 1 and 2 threads, medians
# of 3 rounds. Tables and CSV in bench-results/batch; e.g. BENCH_ARGS='-b 1'.
BENCH_BATCH_RESULTS = bench-results/batch
bench-batch: bench/mapbench$(EXEEXT)
	@$(BENCH_DEBUG_WARNING)
	$(MKDIR_P) $(BENCH_BATCH_RESULTS)
	./bench/mapbench$(EXEEXT) --experiments batch -k 10000,1000000,10000000 -t 1,2 \
	  -p rcumap-memb,rcumap-qsbr,oa-unsync -s 0.5 -r 3 -o $(BENCH_BATCH_RESULTS) \
	  $(BENCH_ARGS) >$(BENCH_BATCH_RESULTS)/mapbench.txt; \
	  rc=$$?; cat $(BENCH_BATCH_RESULTS)/mapbench.txt; exit $$rc
	$(SHELL) $(srcdir)/bench/report.sh $(BENCH_BATCH_RESULTS) >$(BENCH_BATCH_RESULTS)/report.md

# rcumapd against redis-server, 2 redis-servers behind nutcracker and
# memcached (bench/server.sh, docs/benchmarks-server.md): medians of
# BENCH_ROUNDS (default 3) rounds, in bench-results/server. The quick variant
# (bench/server_quick.sh): one round, fewer requests, bench-results/server-quick.
bench-server: server/rcumapd$(EXEEXT) $(RCUMAPD_AB_BINARIES)
	@abs_top_builddir='$(abs_top_builddir)' SHELL='$(SHELL)' $(SHELL) $(srcdir)/bench/server.sh

bench-server-quick: server/rcumapd$(EXEEXT) $(RCUMAPD_AB_BINARIES)
	@abs_top_builddir='$(abs_top_builddir)' SHELL='$(SHELL)' $(SHELL) $(srcdir)/bench/server_quick.sh

# Go's sync.Map on the same workload (bench/syncmap), when configure found go.
BENCH_GO_FILES = bench/syncmap/go.mod bench/syncmap/main.go bench/syncmap/run.go \
	bench/syncmap/workload.go bench/syncmap/workload_test.go
if HAVE_GO
BENCH_GO_PROGRAM = bench/syncmap-bench
bench/syncmap-bench: $(srcdir)/bench/syncmap/go.mod $(srcdir)/bench/syncmap/main.go \
		$(srcdir)/bench/syncmap/run.go $(srcdir)/bench/syncmap/workload.go
	$(MKDIR_P) bench
	cd $(srcdir)/bench/syncmap && $(GO_ENV) \
	  $(GO) build -trimpath -o '$(abs_top_builddir)/bench/syncmap-bench' .
endif
# No network, no home directory, no stray go.work: caches in the build tree.
GO_ENV = GOCACHE='$(abs_top_builddir)/bench/.gocache' \
	GOPATH='$(abs_top_builddir)/bench/.gopath' GOFLAGS=-mod=mod GO111MODULE=on \
	GOWORK=off GOPROXY=off CGO_ENABLED=0

# The measurements behind the bucket layout and load factor (docs/design.md).
bench-layout: bench/layout$(EXEEXT)
	./bench/layout$(EXEEXT) $(BENCH_ARGS)

# Cost of a full traversal per entry against lookups of the same keys.
bench-iterate: bench/iterate$(EXEEXT)
	./bench/iterate$(EXEEXT) $(BENCH_ARGS)

# go build leaves its module cache read-only.
clean-local:
	-chmod -R u+w bench/.gocache bench/.gopath 2>/dev/null
	-rm -rf bench/.gocache bench/.gopath bench/syncmap-bench

EXTRA_DIST += \
	bench/run.sh \
	bench/server.sh \
	bench/server_quick.sh \
	bench/server_multiget.py \
	bench/server_conn.py \
	bench/server_mem.py \
	bench/server_scan.py \
	bench/server_pending.py \
	bench/plot.sh \
	bench/report.sh \
	bench/lib.awk \
	$(BENCH_GO_FILES)
# The memcached stats reader of bench/server_mem.py, shared with
# tests/server/test_batch.py (both import it by path).
EXTRA_DIST += testlib/mcstats.py
