# SPDX-License-Identifier: MIT
# server/local.mk: rcumapd, its A/B builds and the builds make check uses
# (included from Makefile.am).

# rcumapd (server/, docs/server.md): RESP2 and memcached over one map. One
# binary serves every liburcu flavor (--flavor), so it links all three.
bin_PROGRAMS += server/rcumapd
dist_man_MANS += server/rcumapd.1
RCUMAPD_SOURCES = server/rcumapd.h server/loop.h server/mapb.h server/main.c server/loop.c \
	server/store.c server/resp.c server/mc.c server/info.c server/glob.c
RCUMAPD_URCU_LIBS = $(URCU_QSBR_LIBS) $(URCU_MEMB_LIBS) $(URCU_BP_LIBS) \
	$(URCU_COMMON_LIBS) $(PTHREAD_LIBS)
server_rcumapd_SOURCES = $(RCUMAPD_SOURCES)
server_rcumapd_CFLAGS = $(AM_CFLAGS) -O2
server_rcumapd_LDADD = librcumap.la $(RCUMAPD_URCU_LIBS)

# The library A/B (docs/benchmarks-server.md): the same server with its map
# replaced, behind server/mapb.h, by liburcu's cds_lfht and by a 64-shard
# mutex table. Bench peers like server/rcumapd, so plain make builds them.
RCUMAPD_AB_BINARIES = server/rcumapd-lfht$(EXEEXT) server/rcumapd-mutex$(EXEEXT)
noinst_PROGRAMS += server/rcumapd-lfht server/rcumapd-mutex
server_rcumapd_lfht_SOURCES = $(RCUMAPD_SOURCES) server/mapb_lfht.c server/mapb_common.c
server_rcumapd_lfht_CPPFLAGS = $(AM_CPPFLAGS) -DRCUMAPD_MAP_LFHT
server_rcumapd_lfht_CFLAGS = $(AM_CFLAGS) -O2
server_rcumapd_lfht_LDADD = $(URCU_CDS_LIBS) $(RCUMAPD_URCU_LIBS)
server_rcumapd_mutex_SOURCES = $(RCUMAPD_SOURCES) server/mapb_mutex.c server/mapb_common.c
server_rcumapd_mutex_CPPFLAGS = $(AM_CPPFLAGS) -DRCUMAPD_MAP_MUTEX
server_rcumapd_mutex_CFLAGS = $(AM_CFLAGS) -O2
server_rcumapd_mutex_LDADD = $(RCUMAPD_URCU_LIBS)

# rcumapd for make check: under ASan+UBSan (library compiled in), the
# liveness test's negative control, whose qsbr workers never go offline, and
# test_batch.py's, which answers gathered GETs after the command that follows
# them and reads expired values in batches as live.
check_PROGRAMS += server/rcumapd-asan server/rcumapd-never-offline server/rcumapd-broken-batch
server_rcumapd_asan_SOURCES = $(RCUMAPD_SOURCES) $(RCUMAP_LIB_SOURCES)
server_rcumapd_asan_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib
server_rcumapd_asan_CFLAGS = $(AM_CFLAGS) -O1 -g $(ASAN_FLAGS)
server_rcumapd_asan_LDFLAGS = $(ASAN_FLAGS)
server_rcumapd_asan_LDADD = $(RCUMAPD_URCU_LIBS)
server_rcumapd_never_offline_SOURCES = $(RCUMAPD_SOURCES)
server_rcumapd_never_offline_CPPFLAGS = $(AM_CPPFLAGS) -DRCUMAPD_NEVER_OFFLINE
server_rcumapd_never_offline_CFLAGS = $(AM_CFLAGS) -O2
server_rcumapd_never_offline_LDADD = librcumap.la $(RCUMAPD_URCU_LIBS)
server_rcumapd_broken_batch_SOURCES = $(RCUMAPD_SOURCES)
server_rcumapd_broken_batch_CPPFLAGS = $(AM_CPPFLAGS) -DRCUMAPD_BROKEN_BATCH
server_rcumapd_broken_batch_CFLAGS = $(AM_CFLAGS) -O2
server_rcumapd_broken_batch_LDADD = librcumap.la $(RCUMAPD_URCU_LIBS)
