#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh: the torture suite's driver: every tier, and the negative controls.
#
# Usage: torture/run.sh TIER [ARGS...]   (make torture, make check and the
# torture-* targets call it; docs/testing.md describes each tier)
#
#   quick FLAVOR...      the quick tier of torture_FLAVOR (memb, qsbr, bp)
#   long [FLAVOR...]     long scenarios: $DURATION seconds each (default 1800),
#                        scenarios $LONG_SCENARIOS (default mixed), flavor memb
#   loop [FLAVOR...]     the quick tier again and again, new seed each time,
#                        until a run fails (or $LOOP_MAX runs pass)
#   asan | tsan          the quick tier built with ASan+UBSan or TSan (memb)
#   negative             every broken library variant must make the suite fail
#   faults FLAVOR...     the single-threaded allocation-failure script
#   valgrind             faults and the fuzz corpus replay under memcheck
#   replay               the fuzz harness over its committed corpus (and its
#                        negative control)
#
# Environment: abs_top_srcdir and abs_top_builddir (set by make), EXEEXT,
# TORTURE_ARGS (extra options for every torture run, e.g. --seed 42),
# DURATION, LONG_SCENARIOS, LOOP_MAX, VALGRIND.
#
# Exit status: 0 when everything expected happened, 1 otherwise (77 would
# read as "skipped" to automake). The last line is "N passed, N failed".

set -u

srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${abs_top_builddir:-$srcdir}
bin="$builddir/torture"
ext=${EXEEXT:-}
me=run.sh

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "$me: PASS: $*"; }
fail() { failed=$((failed + 1)); echo "$me: FAIL: $*"; }

finish() {
	echo "$passed passed, $failed failed"
	test "$failed" -eq 0
	exit $?
}

need() {
	if test ! -x "$1"; then
		fail "$1 was not built (make $(basename "$1"))"
		return 1
	fi
}

# Sanitizers: any report fails the run (exit status non-zero).
ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=0:detect_leaks=1:free_fill_byte=107}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:exitcode=66:second_deadlock_stack=1}
export ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rcumap-torture.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# run_torture NAME PROG ARGS...: one torture run that must succeed.
run_torture() {
	name=$1
	prog=$2
	shift 2
	need "$prog" || return 1
	start=$(date +%s)
	# shellcheck disable=SC2086 # TORTURE_ARGS is a word list
	"$prog" "$@" ${TORTURE_ARGS:-}
	rc=$?
	secs=$(($(date +%s) - start))
	if test "$rc" -eq 0; then
		pass "$name ($secs s)"
	else
		fail "$name exited $rc after $secs s"
	fi
	return "$rc"
}

# expect_failure NAME PATTERN WHAT PROG ARGS...: a run that must FAIL, the
# way the detector named by PATTERN (an extended regex over its output)
# reports, within the time the arguments give it.
expect_failure() {
	name=$1
	pattern=$2
	what=$3
	prog=$4
	shift 4
	need "$prog" || return
	log="$tmp/$name.log"
	start=$(date +%s)
	"$prog" "$@" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	grep -E 'FAILURE|End of test' "$log" | head -n 8 | cut -c1-300 | sed 's/^/    /'
	if test "$rc" -eq 0; then
		fail "$name passed: the suite did not notice that $what"
	elif test "$rc" -ne 1; then
		tail -n 20 "$log" | sed 's/^/    /'
		fail "$name exited $rc (crash, sanitizer or timeout), not 1 (a detector)"
	elif ! grep -Eq "$pattern" "$log"; then
		fail "$name failed, but no report matches '$pattern'; it should have found that $what"
	else
		pass "$name failed in $secs s, as it must: $what"
	fi
}

tier=${1:-}
test $# -gt 0 && shift

case $tier in
quick)
	test $# -gt 0 || set -- memb qsbr bp
	for f in "$@"; do
		run_torture "quick tier, $f" "$bin/torture_$f$ext" --scenario quick
	done
	;;
long)
	test $# -gt 0 || set -- memb
	for f in "$@"; do
		run_torture "long tier, $f, ${DURATION:-1800} s per scenario" \
			"$bin/torture_$f$ext" --scenario "${LONG_SCENARIOS:-mixed}" \
			--duration "${DURATION:-1800}" -q
	done
	;;
loop)
	test $# -gt 0 || set -- memb qsbr bp
	n=0
	while :; do
		n=$((n + 1))
		for f in "$@"; do
			echo "$me: loop $n, $f"
			if ! run_torture "loop $n, quick tier, $f" "$bin/torture_$f$ext" \
				--scenario quick; then
				echo "$me: loop stopped at run $n: replay with the seed and options on the failing run's first line"
				finish
			fi
		done
		if test -n "${LOOP_MAX:-}" && test "$n" -ge "$LOOP_MAX"; then
			finish
		fi
	done
	;;
asan | tsan)
	# Sanitizers slow the threads 2-15x: shorter scenarios, same checks.
	run_torture "quick tier under $tier, memb" "$bin/torture_$tier$ext" \
		--scenario quick --duration "${SANITIZER_DURATION:-3}"
	;;
negative)
	# Each broken variant of lib/ (lib/broken.h) against the detector that
	# must catch it. docs/testing.md explains why each detector must fire.
	args="--scenario mixed,lincheck --duration 8"
	# shellcheck disable=SC2086 # args is a word list
	{
	expect_failure free_no_gp 'POISON|AGE' \
		'buckets are freed without a grace period' \
		"$bin/torture_broken_free_no_gp$ext" $args
	expect_failure retire_early 'AGE|POISON|STATE' \
		'buckets are retired before they are unpublished' \
		"$bin/torture_broken_retire_early$ext" $args
	expect_failure table_early 'POISON|STATE|AGE' \
		'a generation is retired while still current' \
		"$bin/torture_broken_table_early$ext" $args
	expect_failure double_retire 'STATE' \
		'some buckets are retired twice' \
		"$bin/torture_broken_double_retire$ext" $args
	expect_failure skip_free 'ACCOUNTING' \
		'some reclaimed buckets are never freed' \
		"$bin/torture_broken_skip_free$ext" $args
	expect_failure nonatomic_cas 'STATE|LINCHECK|PROVENANCE|ABSENCE|ACCOUNTING|POISON|AGE' \
		'two updates of one slot can both win' \
		"$bin/torture_broken_nonatomic_cas$ext" $args
	expect_failure stale_gen 'STATE|ABSENCE|LINCHECK|ACCOUNTING' \
		'updates land in a migrated generation' \
		"$bin/torture_broken_stale_gen$ext" $args
	expect_failure slot_filter 'ABSENCE|LINCHECK|ACCOUNTING' \
		'lookups miss keys that the slot filter hides' \
		"$bin/torture_broken_slot_filter$ext" $args
	expect_failure bag_late 'POISON|AGE|ACCOUNTING' \
		'a bag is queued before its last bucket joins it' \
		"$bin/torture_broken_bag_late$ext" $args
	expect_failure cache_early 'POISON|AGE|STATE|PROVENANCE|LINCHECK' \
		'the bucket cache hands out buckets inside their grace period' \
		"$bin/torture_broken_cache_early$ext" $args
	expect_failure migrate_skip 'POISON|ABSENCE|LINCHECK|ACCOUNTING|STATE' \
		'a migration switched with a slot of the newer generation unfilled' \
		"$bin/torture_broken_migrate_skip$ext" $args
	expect_failure batch_no_forward 'LINCHECK|AGE|POISON' \
		'batched lookups read the frozen buckets of an old generation' \
		"$bin/torture_broken_batch_no_forward$ext" $args
	# The progress detector (the library intact, torture's writers wait
	# for readers after every update).
	expect_failure update_waits 'STALL' \
		'updates wait for readers' \
		"$bin/torture_broken_update_waits$ext" --scenario mixed --duration 4
	# The unit tests of rcumap_get_batch against the same broken library.
	RCUMAP_TEST_MAP_FILTER='get_batch_*'
	export RCUMAP_TEST_MAP_FILTER
	expect_failure unit_batch_no_forward 'rcumap_get returns' \
		'a batch during a half-done migration misses updates made after the freeze' \
		"$builddir/tests/test_map_broken_batch$ext"
	unset RCUMAP_TEST_MAP_FILTER
	expect_failure faults_fill_enomem 'differs|FAILURE' \
		'a failed allocation during a migration loses entries' \
		"$bin/faults_broken$ext"
	}
	;;
faults)
	test $# -gt 0 || set -- memb qsbr bp
	for f in "$@"; do
		run_torture "allocation-failure script, $f" "$bin/faults_$f$ext"
	done
	;;
valgrind)
	VALGRIND=${VALGRIND:-valgrind}
	if ! command -v "$VALGRIND" >/dev/null 2>&1; then
		fail "valgrind not found (apt-get install valgrind)"
		finish
	fi
	vg="$VALGRIND --tool=memcheck --error-exitcode=99 --leak-check=full \
--show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
--fair-sched=yes --free-fill=0x6b --num-callers=30 --suppressions=$srcdir/tests/valgrind.supp -q"
	# shellcheck disable=SC2086 # vg is a word list
	run_torture "allocation-failure script under valgrind, memb" \
		$vg "$bin/faults_memb$ext" ${VALGRIND_FAULTS_ARGS:---stride 3}
	# shellcheck disable=SC2086
	run_torture "fuzz corpus replay under valgrind" \
		$vg "$bin/fuzz_replay_plain$ext" "$srcdir/torture/corpus/fuzz"
	;;
replay)
	run_torture "fuzz corpus replay (ASan+UBSan)" "$bin/fuzz_replay$ext" \
		"$srcdir/torture/corpus/fuzz"
	expect_failure fuzz_no_filter 'DUPLICATE|duplicate' \
		'an iteration returns keys twice across a resize' \
		"$bin/fuzz_replay_broken$ext" "$srcdir/torture/corpus/fuzz"
	;;
*)
	echo "usage: $0 quick|long|loop|asan|tsan|negative|faults|valgrind|replay [FLAVOR...]" >&2
	exit 2
	;;
esac
finish
