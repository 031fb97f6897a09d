#!/bin/sh
# SPDX-License-Identifier: MIT
# valgrind.sh: run the unit and iteration tests of every flavor under memcheck; any error or leak fails.
#
# Run by make check (automake exit-code protocol: 0 pass, anything else fail).
# Environment, set by Makefile.am: LIBTOOL, VALGRIND, CC, abs_top_srcdir,
# abs_top_builddir, EXEEXT.
#
# Before the real run, a negative control proves that these options do fail:
# a tiny program that leaks, and one that reads freed memory, must each make
# valgrind exit with status 99. A detector that cannot fail is not a test.

set -eu

srcdir=${abs_top_srcdir:?run through make check}
builddir=${abs_top_builddir:?run through make check}
: "${LIBTOOL:?run through make check}"
: "${CC:=cc}"
VALGRIND=${VALGRIND:-valgrind}

if test "$VALGRIND" = no || ! command -v "$VALGRIND" >/dev/null 2>&1; then
	echo "valgrind.sh: FAIL: valgrind not found; install it (apt-get install valgrind) and re-run configure" >&2
	exit 1
fi

# Options (docs/testing.md, section 6): --fair-sched for spinning readers; free-fill and a
# large freelist make stale reads after free visible; every leak kind except
# "still reachable" (liburcu's global worker data) is an error.
set -- \
	--tool=memcheck \
	--error-exitcode=99 \
	--leak-check=full \
	--show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible \
	--fair-sched=yes \
	--free-fill=0x6b \
	--freelist-vol=200000000 \
	--num-callers=30 \
	--gen-suppressions=all \
	--suppressions="$srcdir/tests/valgrind.supp"

# --- negative control ---------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rcumap-valgrind.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

cat >"$tmp/bad.c" <<'EOC'
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv)
{
	char *volatile p = malloc(64);

	(void)argc;
	if (p == NULL)
		return 2;
	memset(p, 1, 64);
	if (strcmp(argv[1], "leak") == 0) {
		p = NULL;		/* the only pointer is lost */
		return 0;
	}
	free(p);
	return p[8] == 1;		/* read after free */
}
EOC
$CC -g -O0 -o "$tmp/bad" "$tmp/bad.c"
for mode in leak use-after-free; do
	rc=0
	"$VALGRIND" "$@" "$tmp/bad" "$mode" >"$tmp/control.log" 2>&1 || rc=$?
	if test "$rc" -ne 99; then
		cat "$tmp/control.log"
		echo "valgrind.sh: FAIL: negative control '$mode' exited $rc, not 99: these options would not catch that error" >&2
		exit 1
	fi
	echo "valgrind.sh: negative control '$mode' caught (exit 99), as it must be"
done

# --- the real run -------------------------------------------------------
# Every flavor's unit tests and iteration tests. RCUMAP_TEST_VALGRIND=1 lets
# the tests scale down their largest loops, and shortens test_iter's
# concurrent test to 2 s (a few dozen resizes under valgrind's serialised
# threads, enough for freed buckets and tables read by a traversal to show).
failed=0
for prog in \
	tests/test_map_memb tests/test_map_qsbr tests/test_map_bp \
	tests/test_iter_memb tests/test_iter_qsbr tests/test_iter_bp
do
	echo "valgrind.sh: running $prog under memcheck"
	rc=0
	# shellcheck disable=SC2086 # LIBTOOL is "$(SHELL) .../libtool", a word list
	RCUMAP_TEST_VALGRIND=1 $LIBTOOL --mode=execute "$VALGRIND" "$@" \
		"$builddir/$prog${EXEEXT:-}" || rc=$?
	case $rc in
	0)	echo "valgrind.sh: PASS: $prog: no memcheck error, no leak" ;;
	99)	echo "valgrind.sh: FAIL: $prog: memcheck found errors or leaks (see above)" >&2 ;;
	*)	echo "valgrind.sh: FAIL: $prog exited $rc under valgrind" >&2 ;;
	esac
	test "$rc" -eq 0 || failed=1
done
# Any failure is plain 1: 77 would read as SKIP to automake's driver.
test "$failed" -eq 0
