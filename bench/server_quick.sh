#!/bin/sh
# SPDX-License-Identifier: MIT
# server_quick.sh: the quick variant of bench/server.sh (make
# bench-server-quick): every peer and workload of make bench-server, in one
# round with fewer requests and a shorter memcaslap run, so that it finishes
# in about two minutes on a 2-core machine. Its ratios are a first look;
# the medians of make bench-server are the figures to quote.
#
# Defaults (each can be overridden from the environment, as in
# bench/server.sh): BENCH_ROUNDS=1, BENCH_REQUESTS=50000,
# BENCH_REQUESTS_P=200000, BENCH_MC_TIME=3, and the results in
# $abs_top_builddir/bench-results/server-quick.

: "${abs_top_builddir:?run it through make bench-server-quick}"
BENCH_ROUNDS=${BENCH_ROUNDS:-1}
BENCH_REQUESTS=${BENCH_REQUESTS:-50000}
BENCH_REQUESTS_P=${BENCH_REQUESTS_P:-200000}
BENCH_MC_TIME=${BENCH_MC_TIME:-3}
BENCH_RESULTS=${BENCH_RESULTS:-$abs_top_builddir/bench-results/server-quick}
export abs_top_builddir BENCH_ROUNDS BENCH_REQUESTS BENCH_REQUESTS_P BENCH_MC_TIME BENCH_RESULTS
exec "${SHELL:-/bin/sh}" "$(dirname "$0")/server.sh"
