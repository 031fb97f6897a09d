#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_selftest.sh: every benchmark peer behaves as a map, and the check can fail.
#
# Run by make check (automake exit-code protocol: 0 pass, anything else fail).
# Environment, set by Makefile.am: abs_top_builddir, EXEEXT.
#
# bench/mapbench --selftest runs bench/selftest.c on every peer compiled in
# (insert, get, remove, count, the measured loop, batched lookups and their
# loop, resize, reclamation tracking, a two-thread smoke) and must pass: a
# benchmark of a peer that loses keys measures nothing. bench/mapbench_broken
# has two more peers: "broken", whose remove reports success without
# removing some keys, and "broken-batch", whose batched lookup answers only
# the first 8 keys of a call. The self-test must reject each (exit 1, a
# FAIL line naming it), broken-batch in both of its batch parts (get_batch
# and the lookup loop), since everything else about it is correct.

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
	failed=$((failed + 1))
fi

rc=0
"$builddir/bench/mapbench_broken${EXEEXT:-}" --selftest -p broken >"$tmp" 2>&1 || rc=$?
if test "$rc" -eq 1 && grep -i 'broken' "$tmp" | grep -qi 'fail'; then
	echo "bench_selftest.sh: PASS: the broken peer fails the self-test, as it must"
else
	cat "$tmp"
	echo "bench_selftest.sh: FAIL: the broken peer was not caught (exit $rc)" >&2
	failed=$((failed + 1))
fi

rc=0
"$builddir/bench/mapbench_broken${EXEEXT:-}" --selftest -p broken-batch >"$tmp" 2>&1 || rc=$?
if test "$rc" -eq 1 && grep -q '^FAIL broken-batch' "$tmp" &&
	grep -q '^selftest broken-batch: get_batch: ' "$tmp" &&
	grep -q '^selftest broken-batch: lookup runs: ' "$tmp"; then
	echo "bench_selftest.sh: PASS: the broken batch fails both batch checks, as it must"
else
	cat "$tmp"
	echo "bench_selftest.sh: FAIL: the broken batch was not caught by both checks (exit $rc)" >&2
	failed=$((failed + 1))
fi

if test "$failed" -eq 0; then
	echo "3 passed, 0 failed"
else
	echo "$((3 - failed)) passed, $failed failed"
fi
exit "$failed"
