# SPDX-License-Identifier: MIT
# lib/local.mk: the library, its public header and its pkg-config file
# (included from Makefile.am).

# The library. It calls liburcu only through struct rcu_flavor_struct, so it
# links no liburcu library; NO_UNDEFINED_LDFLAGS turns a stray direct call
# into a link error.
lib_LTLIBRARIES = librcumap.la
# Named once: the debug and deliberately broken iteration test binaries
# compile these same sources in with their own switches (see make check).
RCUMAP_LIB_SOURCES = \
	lib/atomics.h \
	lib/broken.h \
	lib/debug.h \
	lib/hash.h \
	lib/hooks.h \
	lib/internal.h \
	lib/lookup.h \
	lib/siphash.h \
	lib/tsan.h \
	lib/hash.c \
	lib/stripe.c \
	lib/stats.c \
	lib/debug.c \
	lib/mem.c \
	lib/reclaim.c \
	lib/migrate.c \
	lib/resize.c \
	lib/map.c \
	lib/lookup.c \
	lib/update.c \
	lib/iter.c \
	lib/validate.c
librcumap_la_SOURCES = $(RCUMAP_LIB_SOURCES)
# -version-info current:revision:age, updated by the libtool rules before a
# release (interfaces added: c+1:0:a+1; removed or changed: c+1:0:0).
# Exports: the public API is rcumap_<word>; functions shared between library
# files are named rcumap__<word> and stay hidden. tests/installed.sh checks
# that the exports are exactly the functions declared in include/rcumap.h.
librcumap_la_LDFLAGS = \
	-version-info 0:1:0 \
	-export-symbols-regex '^rcumap_[a-z]' \
	$(NO_UNDEFINED_LDFLAGS)
librcumap_la_LIBADD = $(PTHREAD_LIBS)

include_HEADERS = include/rcumap.h

# rcumap.pc is written at make time, not by configure, so that the GNU
# convention "make prefix=DIR install" installs a file that names DIR
# (configure --prefix and DESTDIR work as usual). The rule runs on every
# make, and replaces the file only when its text changes.
pkgconfig_DATA = rcumap.pc
CLEANFILES += rcumap.pc
rcumap.pc: $(srcdir)/rcumap.pc.in Makefile rcumap-pc-FORCE
	$(AM_V_GEN)sed -e 's|[@]prefix[@]|$(prefix)|g' \
	  -e 's|[@]exec_prefix[@]|$(exec_prefix)|g' \
	  -e 's|[@]libdir[@]|$(libdir)|g' \
	  -e 's|[@]includedir[@]|$(includedir)|g' \
	  -e 's|[@]PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' \
	  -e 's|[@]PTHREAD_CFLAGS[@]|$(PTHREAD_CFLAGS)|g' \
	  -e 's|[@]PTHREAD_LIBS[@]|$(PTHREAD_LIBS)|g' \
	  $(srcdir)/rcumap.pc.in >$@.tmp && \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
.PHONY: rcumap-pc-FORCE
rcumap-pc-FORCE:
