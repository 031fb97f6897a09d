#!/bin/sh
# SPDX-License-Identifier: MIT
# check-summary.sh: print the last line of 'make check', "N passed, N failed".
#
# Usage: check-summary.sh MAKE_STATUS TRS_FILE...
#
# MAKE_STATUS is the exit status of the make run that ran the tests; TRS_FILE
# are automake's per-test result files. Each ":test-result:" line is one
# result: one per TAP test point for the cmocka binaries, one per exit-code
# script. PASS and XFAIL count as passed; FAIL, XPASS and SKIP count as failed
# (a skipped check proves nothing). The tap driver adds ERROR results for the
# program as a whole (non-zero exit, crash, too few test points): a test with
# ERRORs and no failed point counts one failure, so a failing assertion is
# not counted twice. A missing or empty .trs file (test not run) counts as one
# failure, and so does a non-zero MAKE_STATUS that no test result explains.
# The CI log reader wants the summary alone on a line; it does not read
# automake's "# TOTAL:" block.
#
# Exit status: 0 when nothing failed, 1 otherwise.

status=$1
shift

passed=0
failed=0
if test "$#" -eq 0; then
	echo "check-summary: no tests were listed"
	failed=1
fi
for trs in "$@"; do
	if test ! -s "$trs"; then
		echo "check-summary: no result for ${trs%.trs} (not built or not run)"
		failed=$((failed + 1))
		continue
	fi
	p=$(grep -c -E '^:test-result: (PASS|XFAIL)' "$trs")
	f=$(grep -c -E '^:test-result: (FAIL|XPASS|SKIP)' "$trs")
	e=$(grep -c -E '^:test-result: ERROR' "$trs")
	# ERRORs are about the whole program (non-zero exit, crash, wrong
	# plan), not test points: together they count as one failure, and
	# only when no test point failed already.
	if test "$e" -gt 0 && test "$f" -eq 0; then
		f=1
	fi
	if test "$((p + f))" -eq 0; then
		echo "check-summary: ${trs%.trs} reported no results"
		f=1
	fi
	if test "$f" -gt 0; then
		echo "check-summary: ${trs%.trs}: $f failed, see ${trs%.trs}.log"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

if test "$status" -ne 0 && test "$failed" -eq 0; then
	echo "check-summary: make exited with status $status outside the tests"
	failed=1
fi

echo "$passed passed, $failed failed"
test "$failed" -eq 0
