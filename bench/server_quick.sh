#!/bin/sh
# SPDX-License-Identifier: MIT
# server_quick.sh: the quick variant of bench/server.sh (make
# bench-server-quick): every workload of make bench-server against the
# 2-thread peers (and redis-server, and both nutcracker set-ups), in one
# round with fewer keys and requests and shorter runs, so that it finishes
# in under three minutes on a 2-core machine. Its ratios are a first look;
# the medians of make bench-server are the figures to quote.
#
# Defaults (each can be overridden from the environment, as in
# bench/server.sh): BENCH_ROUNDS=1, BENCH_THREADS=2, BENCH_KEYS=200000,
# BENCH_REQUESTS=30000, BENCH_REQUESTS_P=150000, BENCH_MC_TIME=2,
# BENCH_GROW_KEYS=300000,
# BENCH_GROW_GETS=20000, BENCH_MEM_KEYS=100000, BENCH_SCAN_KEYS=50000, and
# the results in $abs_top_builddir/bench-results/server-quick.

: "${abs_top_builddir:?run it through make bench-server-quick}"
BENCH_ROUNDS=${BENCH_ROUNDS:-1}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_KEYS=${BENCH_KEYS:-200000}
BENCH_REQUESTS=${BENCH_REQUESTS:-30000}
BENCH_REQUESTS_P=${BENCH_REQUESTS_P:-150000}
BENCH_MC_TIME=${BENCH_MC_TIME:-2}
BENCH_GROW_KEYS=${BENCH_GROW_KEYS:-300000}
BENCH_GROW_GETS=${BENCH_GROW_GETS:-20000}
BENCH_MEM_KEYS=${BENCH_MEM_KEYS:-100000}
BENCH_SCAN_KEYS=${BENCH_SCAN_KEYS:-50000}
BENCH_RESULTS=${BENCH_RESULTS:-$abs_top_builddir/bench-results/server-quick}
export abs_top_builddir BENCH_ROUNDS BENCH_THREADS BENCH_KEYS BENCH_REQUESTS BENCH_REQUESTS_P BENCH_MC_TIME BENCH_RESULTS \
	BENCH_GROW_KEYS BENCH_GROW_GETS BENCH_MEM_KEYS BENCH_SCAN_KEYS
exec "${SHELL:-/bin/sh}" "$(dirname "$0")/server.sh"
