#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_selftest.sh: every benchmark peer behaves as a map, and the check can fail.
#
# Run by make check (automake exit-code protocol: 0 pass, anything else fail).
# Environment, set by Makefile.am: abs_top_builddir, EXEEXT.
#
# bench/mapbench --selftest runs bench/selftest.c on every peer compiled in
# (insert, get, remove, count, the measured loop, resize, reclamation
# tracking, a two-thread smoke) and must pass: a benchmark of a peer that
# loses keys measures nothing. bench/mapbench_broken has one more peer,
# "broken", whose remove reports success without removing some keys; the
# self-test must reject it (exit 1, a FAIL line naming it).

set -eu

builddir=${abs_top_builddir:?run through make check}
tmp=$(mktemp "${TMPDIR:-/tmp}/rcumap-bench-selftest.XXXXXX")
trap 'rm -f "$tmp"' EXIT INT TERM
failed=0

if "$builddir/bench/mapbench${EXEEXT:-}" --selftest >"$tmp" 2>&1; then
	echo "bench_selftest.sh: PASS: every peer passes the self-test"
else
	cat "$tmp"
	echo "bench_selftest.sh: FAIL: mapbench --selftest failed" >&2
	failed=1
fi

rc=0
"$builddir/bench/mapbench_broken${EXEEXT:-}" --selftest -p broken >"$tmp" 2>&1 || rc=$?
if test "$rc" -eq 1 && grep -i 'broken' "$tmp" | grep -qi 'fail'; then
	echo "bench_selftest.sh: PASS: the broken peer fails the self-test, as it must"
else
	cat "$tmp"
	echo "bench_selftest.sh: FAIL: the broken peer was not caught (exit $rc)" >&2
	failed=1
fi

if test "$failed" -eq 0; then
	echo "2 passed, 0 failed"
else
	echo "$((2 - failed)) passed, $failed failed"
fi
exit "$failed"
