#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh: make bench and make bench-quick: every peer, then plots and the report.
#
# Usage: bench/run.sh full|quick [mapbench options...]
#
# 1. bench/mapbench --full or --quick writes its table to stdout and the CSV
#    files to $BENCH_RESULTS (default bench-results in the build tree).
# 2. The Go sync.Map companion (bench/syncmap-bench, built when configure
#    found go) runs the same workload right after, with the same seed.
# 3. bench/plot.sh draws the PNGs (when gnuplot is installed) and
#    bench/report.sh writes $BENCH_RESULTS/report.md, the Markdown that goes
#    into docs/benchmarks.md.
#
# Environment: abs_top_srcdir, abs_top_builddir (set by make), BENCH_RESULTS,
# BENCH_SEED (default 1).

set -eu

usage() {
	echo "usage: $0 full|quick [mapbench options...]" >&2
	exit 2
}

test $# -ge 1 || usage
mode=$1
shift
case $mode in
full | quick) ;;
*) usage ;;
esac

srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${abs_top_builddir:-$(pwd)}
results=${BENCH_RESULTS:-$builddir/bench-results}
seed=${BENCH_SEED:-1}

say() {
	printf 'bench: %s\n' "$*"
}

mkdir -p "$results"
# A run replaces the previous one; the Go rows are appended by design.
rm -f "$results"/*.csv "$results"/*.png "$results"/report.md

status=$(mktemp)
trap 'rm -f "$status"' EXIT

# Runs "$@" with its output shown and saved to $log; fails when it fails
# (a pipeline's status is tee's).
logged() {
	log=$1
	shift
	{ "$@" && echo 0 >"$status" || echo $? >"$status"; } | tee "$log"
	rc=$(cat "$status")
	test "$rc" -eq 0 || {
		say "$1 failed (exit $rc)"
		exit 1
	}
}

start=$(date +%s)
say "mapbench --$mode, results in $results"
logged "$results/mapbench.txt" "$builddir/bench/mapbench" "--$mode" --seed "$seed" -o "$results" "$@"

if test -x "$builddir/bench/syncmap-bench"; then
	say "Go sync.Map (bench/syncmap), same workload and seed"
	logged "$results/syncmap.txt" "$builddir/bench/syncmap-bench" "-$mode" -seed "$seed" -o "$results"
else
	say "Go sync.Map skipped: go was not found by configure (apt-get install golang-go)"
fi

if command -v gnuplot >/dev/null 2>&1; then
	sh "$srcdir/bench/plot.sh" "$results"
else
	say "plots skipped: gnuplot not found (apt-get install gnuplot-nox)"
fi
sh "$srcdir/bench/report.sh" "$results" bench >"$results/report.md"
say "done in $(($(date +%s) - start)) s: $results/report.md (copy it and the PNGs into docs/ to publish)"
