#!/bin/sh
# SPDX-License-Identifier: MIT
# negative_iter.sh: the iteration tests must catch a deliberately broken iterator.
#
# Run by make check (automake exit-code protocol: 0 pass, anything else fail).
# Environment, set by Makefile.am: abs_top_builddir, EXEEXT.
#
# tests/test_iter_broken_nofilter and tests/test_iter_broken_noforward are
# test_iter (tests/test_iter.c and tests/iter_*.c) built with lib/ compiled
# in and one of the RCUMAP_BROKEN_ITER_* variants of lib/broken.h:
#   NO_FILTER   a step returns every entry of its bucket, also those outside
#               its hash-order interval: after a shrink, or while a frozen
#               bucket is read for a newer slot, keys come back twice;
#   NO_FORWARD  a frozen bucket is read instead of following the forwarding
#               mark to the newer generation: values replaced, keys deleted
#               and keys inserted there are not seen.
# This script passes only if each binary FAILS, and fails for the expected
# reason: the run ends with cmocka's own failure status (1: an assertion, not
# a crash or a timeout) and the failure messages carry the tag of the broken
# guarantee (iter_trav.c and iter_concurrent.c print "DUPLICATE:", "MISSED:", "GHOST:", "STALE:").
# A check that cannot fail is not a test; a crash proves nothing either.

set -eu

builddir=${abs_top_builddir:?run through make check}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rcumap-negative.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

failed=0

# expect_failure NAME SET SECONDS PATTERN WHAT
#   Run tests/test_iter_broken_NAME with RCUMAP_TEST_ITER_SET=SET; it must
#   exit 1 and its output must match the extended regex PATTERN.
expect_failure() {
	name=$1 set=$2 secs=$3 pattern=$4 what=$5
	prog="$builddir/tests/test_iter_broken_$name${EXEEXT:-}"
	log="$tmp/$name-$set.log"

	if test ! -x "$prog"; then
		echo "negative_iter.sh: FAIL: $prog was not built" >&2
		failed=1
		return
	fi
	echo "negative_iter.sh: running broken iterator '$name' ($set tests)"
	rc=0
	RCUMAP_TEST_ITER_SET=$set RCUMAP_TEST_ITER_SECONDS=$secs "$prog" >"$log" 2>&1 || rc=$?
	# What the binary reported, for the log: its failed tests and their tags.
	grep -E '^(not ok|ERROR: )' \
		"$log" | cut -c1-240 | sed 's/^/    /' | head -n 40 || :
	if test "$rc" -eq 0; then
		echo "negative_iter.sh: FAIL: '$name' ($set) passed: the tests did not notice that $what" >&2
		failed=1
	elif test "$rc" -ne 1; then
		tail -n 30 "$log" | sed 's/^/    /'
		echo "negative_iter.sh: FAIL: '$name' ($set) exited $rc (crash, abort or timeout), not 1 (a failed check)" >&2
		failed=1
	elif ! grep -Eq "$pattern" "$log"; then
		echo "negative_iter.sh: FAIL: '$name' ($set) failed, but no message matches '$pattern'; it should have reported that $what" >&2
		failed=1
	else
		n=$(grep -c '^not ok' "$log" || :)
		echo "negative_iter.sh: '$name' ($set) failed $n tests, reporting that $what, as it must"
	fi
}

expect_failure nofilter single 0 'DUPLICATE:' \
	'keys are returned twice'
expect_failure noforward single 0 '(STALE|GHOST|MISSED):' \
	'a traversal misses updates made in the newer generation'
# The concurrent test must catch duplicates on its own too: shrinks race
# with traversals there.
expect_failure nofilter concurrent 3 'DUPLICATE:' \
	'keys are returned twice under concurrent resizes'

# Any failure is plain 1: 77 would read as SKIP to automake's driver.
test "$failed" -eq 0
