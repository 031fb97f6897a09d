#!/bin/sh
# SPDX-License-Identifier: MIT
# server.sh: rcumapd against redis-server, two redis-servers behind
# nutcracker and memcached, in one run on this machine (make bench-server;
# make bench-server-quick runs it through bench/server_quick.sh with
# smaller settings). Write-up: docs/benchmarks-server.md.
#
# Each round starts every peer on loopback (free ports), loads the key set,
# drives the workloads, reads the servers' CPU time and RSS from /proc, and
# stops the peer. The order of the peers rotates by one between rounds.
# The report gives the median of the rounds and the ratios of the issue's
# targets.
#
# Workloads (redis-benchmark for RESP, memcaslap for the memcached protocol):
#   W1  SET, then GET: BENCH_CLIENTS clients, 1 command per round trip,
#       random keys among BENCH_KEYS, 16-byte values
#   W2  W1 with 16 commands pipelined
#   W3  MGET of 10 random keys, 8 pipelined
#   W4  one hot key: GET of the same key, 16 pipelined
#   W5  memcaslap, 90% get / 10% set, 16-byte keys and values, BENCH_MC_TIME,
#       with single gets (get90set10) and with gets of 10 keys
#       (mget10set10, memcaslap --division 10); into an empty server
#       (rcumapd restarts before the RESP workloads, which run on the loaded
#       key set alone)
#   W6  growth: BENCH_GROW_KEYS keys loaded into an empty server (pipelined,
#       bench/server_multiget.py load) while redis-benchmark measures GET
#       latency (1 per round trip, 10 clients, BENCH_GROW_GETS requests);
#       the same GETs again once the load is done (steady state)
#   W7  memory (round 1 only): RSS of an empty server, after BENCH_MEM_KEYS
#       keys of 100 bytes, after deleting 90% of them, after the server's
#       own shrink (MEMORY PURGE; memcached has none), and of a fresh server
#       loaded with the survivors alone (bench/server_mem.py)
#   W8  SCAN (round 1 only): a full SCAN of BENCH_SCAN_KEYS stable keys while
#       another client inserts and deletes as many churn keys; stable keys
#       returned twice (duplicates) or never (misses) (bench/server_scan.py)
#
# Peers (BENCH_PEERS, default all of them):
#   redis                  redis-server --save '' --appendonly no
#   nutcracker-redis2      two redis-servers behind nutcracker
#   memcached-tN           memcached -t N, for N in BENCH_THREADS
#   rcumapd-FLAVOR-tN      rcumapd --flavor FLAVOR -t N, FLAVOR in
#                          BENCH_FLAVORS, N in BENCH_THREADS
#   nutcracker-rcumapd2    two rcumapd -t 1 (qsbr) behind nutcracker
#   rcumapd-lfht-tN        the library A/B: rcumapd (qsbr, -t N) with its map
#   rcumapd-mutex-tN       replaced by liburcu's cds_lfht, or by 64 shards
#                          of a mutex and a chained table (server/mapb.h);
#                          N in BENCH_AB_THREADS; W2, W3 and W5 only
#
# Environment (all optional):
#   abs_top_builddir   build tree (set by make)
#   BENCH_ROUNDS       rounds (default 3)
#   BENCH_REQUESTS     requests per W1 test (default 200000)
#   BENCH_REQUESTS_P   requests per W2 and W3 test (default 4 x BENCH_REQUESTS)
#   BENCH_KEYS         key space, loaded before the runs (default 1000000)
#   BENCH_CLIENTS      redis-benchmark connections (default 50)
#   BENCH_THREADS      server thread counts (default "1 2")
#   BENCH_FLAVORS      rcumapd flavors (default "qsbr memb")
#   BENCH_PEERS        peers to run (default: the list above)
#   BENCH_WORKLOADS    subset of "W1 W2 W3 W4 W5 W6 W7 W8" (default all)
#   BENCH_AB_THREADS   thread counts of the A/B peers (default 2)
#   BENCH_GROW_KEYS    W6 keys loaded (default 4000000)
#   BENCH_GROW_GETS    W6 GET requests per measurement (default 100000)
#   BENCH_MEM_KEYS     W7 keys (default 1000000)
#   BENCH_SCAN_KEYS    W8 stable keys (default 1000000)
#   BENCH_MC_TIME      memcaslap run time, in seconds (default 10)
#   BENCH_MC_CONC      memcaslap concurrency (default 64)
#   BENCH_RESULTS      results directory (default
#                      $abs_top_builddir/bench-results/server)

set -u
me=server.sh

usage() {
	echo "$me: $*" >&2
	echo "usage: [BENCH_ROUNDS=N] [BENCH_REQUESTS=N] [BENCH_REQUESTS_P=N] [BENCH_KEYS=N]" >&2
	echo "       [BENCH_CLIENTS=N] [BENCH_THREADS='N...'] [BENCH_FLAVORS='qsbr|memb|bp...']" >&2
	echo "       [BENCH_PEERS='peer...'] [BENCH_WORKLOADS='W1 ... W8'] [BENCH_MC_TIME=SECONDS]" >&2
	echo "       [BENCH_MC_CONC=N] [BENCH_AB_THREADS='N...'] [BENCH_GROW_KEYS=N] [BENCH_GROW_GETS=N]" >&2
	echo "       [BENCH_MEM_KEYS=N] [BENCH_SCAN_KEYS=N] [BENCH_RESULTS=DIR]" >&2
	echo "       make bench-server  (see bench/server.sh)" >&2
	exit 2
}

posint() { # name value
	case $2 in
	'' | *[!0-9]* | 0*) usage "$1 must be a positive integer, not '$2'" ;;
	esac
}

builddir=${abs_top_builddir:-}
test -n "$builddir" || usage "abs_top_builddir is not set: run it through make bench-server"
rounds=${BENCH_ROUNDS:-3}
posint BENCH_ROUNDS "$rounds"
n=${BENCH_REQUESTS:-200000}
posint BENCH_REQUESTS "$n"
np=${BENCH_REQUESTS_P:-$((n * 4))}
posint BENCH_REQUESTS_P "$np"
keys=${BENCH_KEYS:-1000000}
posint BENCH_KEYS "$keys"
clients=${BENCH_CLIENTS:-50}
posint BENCH_CLIENTS "$clients"
threads=${BENCH_THREADS:-1 2}
for t in $threads; do posint BENCH_THREADS "$t"; done
test -n "$threads" || usage "BENCH_THREADS is empty"
flavors=${BENCH_FLAVORS:-qsbr memb}
for f in $flavors; do
	case $f in qsbr | memb | bp) ;; *) usage "unknown flavor '$f' in BENCH_FLAVORS" ;; esac
done
mctime=${BENCH_MC_TIME:-10}
posint BENCH_MC_TIME "$mctime"
mcconc=${BENCH_MC_CONC:-64}
posint BENCH_MC_CONC "$mcconc"
workloads=${BENCH_WORKLOADS:-W1 W2 W3 W4 W5 W6 W7 W8}
for w in $workloads; do
	case $w in W[1-8]) ;; *) usage "unknown workload '$w' in BENCH_WORKLOADS" ;; esac
done
abthreads=${BENCH_AB_THREADS:-2}
for t in $abthreads; do posint BENCH_AB_THREADS "$t"; done
growkeys=${BENCH_GROW_KEYS:-4000000}
posint BENCH_GROW_KEYS "$growkeys"
growgets=${BENCH_GROW_GETS:-100000}
posint BENCH_GROW_GETS "$growgets"
memkeys=${BENCH_MEM_KEYS:-1000000}
posint BENCH_MEM_KEYS "$memkeys"
scankeys=${BENCH_SCAN_KEYS:-1000000}
posint BENCH_SCAN_KEYS "$scankeys"
results=${BENCH_RESULTS:-$builddir/bench-results/server}

default_peers="redis nutcracker-redis2"
for t in $threads; do default_peers="$default_peers memcached-t$t"; done
for f in $flavors; do
	for t in $threads; do default_peers="$default_peers rcumapd-$f-t$t"; done
done
default_peers="$default_peers nutcracker-rcumapd2"
for t in $abthreads; do default_peers="$default_peers rcumapd-lfht-t$t rcumapd-mutex-t$t"; done
peers=${BENCH_PEERS:-$default_peers}
need_nut=no
for p in $peers; do
	case $p in
	redis | nutcracker-redis2 | nutcracker-rcumapd2) ;;
	memcached-t[1-9]*) posint "BENCH_PEERS thread count" "${p#memcached-t}" ;;
	rcumapd-qsbr-t[1-9]* | rcumapd-memb-t[1-9]* | rcumapd-bp-t[1-9]* | \
		rcumapd-lfht-t[1-9]* | rcumapd-mutex-t[1-9]*)
		posint "BENCH_PEERS thread count" "${p##*-t}" ;;
	*) usage "unknown peer '$p' in BENCH_PEERS" ;;
	esac
	case $p in nutcracker-*) need_nut=yes ;; esac
done
test -n "$peers" || usage "BENCH_PEERS is empty"

tools="redis-benchmark redis-cli redis-server memcached memcaslap"
test "$need_nut" = no || tools="$tools nutcracker"
for tool in $tools; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "$me: $tool not found (scripts/bootstrap.sh installs it)" >&2
		exit 1
	}
done
py=$(command -v python3) || { echo "$me: python3 not found" >&2; exit 1; }
# The real binary, so that its PID is the server's; the libtool wrapper
# otherwise (static builds have no .libs/rcumapd).
server_bin() { # name
	if test -x "$builddir/server/.libs/$1"; then
		echo "$builddir/server/.libs/$1"
	else
		echo "$builddir/server/$1"
	fi
}
LD_LIBRARY_PATH=$builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
rcumapd=$(server_bin rcumapd)
test -x "$rcumapd" || { echo "$me: $rcumapd not built" >&2; exit 1; }
for p in $peers; do
	case $p in
	rcumapd-lfht-* | rcumapd-mutex-*)
		b=$(server_bin "${p%-t*}")
		test -x "$b" || { echo "$me: $b not built" >&2; exit 1; } ;;
	esac
done
srcdir=$(cd "$(dirname "$0")" && pwd)
loader=$srcdir/server_multiget.py
hz=$(getconf CLK_TCK)

mkdir -p "$results" || exit 1
tmp=$(mktemp -d) || exit 1
pids=

stop_all() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	pids=
}
cleanup() {
	stop_all
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "$me: $*" >&2
	exit 1
}

free_port() {
	"$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # port pid
	wp_i=0
	until "$py" -c "import socket; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null; do
		kill -0 "$2" 2>/dev/null || die "the server for port $1 exited (its log is in $tmp)"
		wp_i=$((wp_i + 1))
		test "$wp_i" -lt 200 || die "nothing listens on port $1"
		sleep 0.05
	done
}

start_redis() { # port
	mkdir -p "$tmp/redis-$1"
	redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$tmp/redis-$1" >"$tmp/redis-$1.log" 2>&1 &
	spid=$!
	pids="$pids $spid"
	wait_port "$1" "$spid"
}

start_rcumapd() { # flavor threads resp-port mc-port [binary]
	"${5:-$rcumapd}" --flavor "$1" -t "$2" --port "$3" --mc-port "$4" >"$tmp/rcumapd-$3.log" 2>&1 &
	spid=$!
	pids="$pids $spid"
	wait_port "$3" "$spid"
	test "$4" = 0 || wait_port "$4" "$spid"
}

start_nutcracker() { # port backend-port backend-port
	cat >"$tmp/nut-$1.yml" <<EOF
bench:
  listen: 127.0.0.1:$1
  hash: fnv1a_64
  distribution: ketama
  redis: true
  auto_eject_hosts: false
  server_connections: 1
  servers:
   - 127.0.0.1:$2:1 a
   - 127.0.0.1:$3:1 b
EOF
	nutcracker -c "$tmp/nut-$1.yml" -s "$(free_port)" -a 127.0.0.1 -o "$tmp/nut-$1.log" \
		-p "$tmp/nut-$1.pid" &
	spid=$!
	pids="$pids $spid"
	wait_port "$1" "$spid"
}

# Start peer $1: sets pids (every process of the peer), rport (RESP port or
# empty), mport (memcached port or empty).
start_peer() {
	rport=
	mport=
	case $1 in
	redis)
		rport=$(free_port)
		start_redis "$rport" ;;
	nutcracker-redis2)
		a=$(free_port)
		start_redis "$a"
		b=$(free_port)
		start_redis "$b"
		rport=$(free_port)
		start_nutcracker "$rport" "$a" "$b" ;;
	nutcracker-rcumapd2)
		a=$(free_port)
		start_rcumapd qsbr 1 "$a" 0
		b=$(free_port)
		start_rcumapd qsbr 1 "$b" 0
		rport=$(free_port)
		start_nutcracker "$rport" "$a" "$b" ;;
	memcached-t*)
		mport=$(free_port)
		if test "$(id -u)" -eq 0; then user="-u nobody"; else user=; fi
		# shellcheck disable=SC2086 # $user is empty or two words
		memcached -l 127.0.0.1 -p "$mport" -U 0 -m 4096 -t "${1#memcached-t}" $user \
			>"$tmp/memcached-$mport.log" 2>&1 &
		spid=$!
		pids="$pids $spid"
		wait_port "$mport" "$spid" ;;
	rcumapd-lfht-* | rcumapd-mutex-*)
		rport=$(free_port)
		mport=$(free_port)
		start_rcumapd qsbr "${1##*-t}" "$rport" "$mport" "$(server_bin "${1%-t*}")" ;;
	rcumapd-*)
		fl=${1#rcumapd-}
		fl=${fl%-t*}
		rport=$(free_port)
		mport=$(free_port)
		start_rcumapd "$fl" "${1##*-t}" "$rport" "$mport" ;;
	esac
}

cpu_ticks() { # utime + stime of every server process of the peer
	ct_t=0
	for ct_p in $pids; do
		ct_s=$(sed 's/^.*) //' "/proc/$ct_p/stat") || return 1
		# shellcheck disable=SC2086 # fields of /proc/PID/stat after the name
		set -- $ct_s
		shift 10
		ct_t=$((ct_t + $1 + $2)) # fields 14 (utime) and 15 (stime)
	done
	echo "$ct_t"
}

rss_kb() {
	rs_r=0
	for rs_p in $pids; do
		rs_v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$rs_p/status") || return 1
		rs_r=$((rs_r + rs_v))
	done
	echo "$rs_r"
}

runs=$results/runs.csv
echo "round,peer,workload,test,requests,rps,p50_ms,p99_ms,p999_ms,max_ms,cpu_us_per_req,rss_kb,pending_kb" >"$runs"
memcsv=$results/memory.csv
echo "peer,stage,keys,rss_kb" >"$memcsv"
scancsv=$results/scan.csv
echo "peer,stable_keys,returned,duplicates,misses,churn_ops,scan_calls,seconds" >"$scancsv"
overlapcsv=$results/growth-overlap.csv
echo "round,peer,load_still_running" >"$overlapcsv"

# rcumapd's pending reclamation during a run: INFO's rcumap_pending_bytes,
# sampled every 100 ms over one connection (bench/server_pending.py); its
# maximum, in KiB, goes into the run's row ("-" for servers that are not
# rcumapd with its own map).
poll_pid=
poll_start() { # peer
	rm -f "$tmp/pending"
	case $1 in
	rcumapd-qsbr-* | rcumapd-memb-* | rcumapd-bp-*) ;;
	*) return 0 ;;
	esac
	"$py" "$srcdir/server_pending.py" "$rport" 0.1 >"$tmp/pending" 2>/dev/null &
	poll_pid=$!
}
poll_stop() {
	if test -n "$poll_pid"; then
		kill "$poll_pid" 2>/dev/null
		wait "$poll_pid" 2>/dev/null
		poll_pid=
	fi
	if test -s "$tmp/pending"; then
		awk 'BEGIN { m = 0 } $1 + 0 > m { m = $1 + 0 } END { printf "%.0f", m / 1024 }' "$tmp/pending"
	else
		echo -
	fi
}

# Record one run: round peer workload test requests rps p50 p99 p999 max
# ticks0 ticks1 pending
record() {
	cpu=$(awk -v d="$((${12} - ${11}))" -v hz="$hz" -v r="$5" 'BEGIN { printf "%.3f", d / hz * 1e6 / r }')
	rss=$(rss_kb) || die "a server process of $2 is gone"
	echo "$1,$2,$3,$4,$5,$6,$7,$8,$9,${10},$cpu,$rss,${13}" >>"$runs"
	printf '  %-22s %-3s %-11s %10s req/s  p50 %6s  p99 %6s  p99.9 %6s ms  %7s us CPU/req\n' \
		"$2" "$3" "$4" "$6" "$7" "$8" "$9" "$cpu"
}

# Parse redis-benchmark's text output ($1): "rps p50 p99 p99.9 max", the
# p99.9 being the first line of its percentile distribution at or above
# 99.9% (an upper bound of the true p99.9, as the histogram gives it).
rb_parse() {
	tr '\r' '\n' <"$1" | awk '
		/^Latency by percentile distribution:/ { dist = 1; next }
		/^Cumulative distribution/ { dist = 0 }
		dist && /% <= / { pc = $1; sub(/%/, "", pc); if (pc + 0 >= 99.9 && p999 == "") p999 = $3 }
		/throughput summary:/ { rps = $3 }
		/avg +min +p50/ { getline; p50 = $3; p99 = $5; mx = $6 }
		END { if (rps != "" && p50 != "" && p999 != "") print rps, p50, p99, p999, mx }'
}

# One redis-benchmark test: round peer workload test requests args...
# (the args carry -r and -P where the workload has them)
resp_run() {
	rr_round=$1 peer=$2 w=$3 test=$4 req=$5
	shift 5
	c0=$(cpu_ticks) || die "a server process of $peer is gone"
	poll_start "$peer"
	redis-benchmark -h 127.0.0.1 -p "$rport" -n "$req" -c "$clients" -d 16 --precision 3 "$@" \
		>"$tmp/rb.out" 2>"$tmp/rb.err" || die "redis-benchmark failed on $peer $w $test: $(cat "$tmp/rb.err")"
	pend=$(poll_stop)
	c1=$(cpu_ticks) || die "a server process of $peer is gone"
	line=$(rb_parse "$tmp/rb.out")
	# shellcheck disable=SC2086 # five fields
	set -- $line
	test $# -eq 5 || die "no result from redis-benchmark on $peer $w $test: $(tail -5 "$tmp/rb.out") $(cat "$tmp/rb.err")"
	record "$rr_round" "$peer" "$w" "$test" "$req" "$1" "$2" "$3" "$4" "$5" "$c0" "$c1" "$pend"
}

cat >"$tmp/mc.cfg" <<EOF
key
16 16 1
value
16 16 1
cmd
0 0.1
1 0.9
EOF

# memcaslap: round peer test division (1: single gets; 10: gets of 10 keys,
# each key counting as one operation, as memcaslap counts them)
mc_run() {
	c0=$(cpu_ticks) || die "a server process of $2 is gone"
	memcaslap -s "127.0.0.1:$mport" -T 2 -c "$mcconc" -t "${mctime}s" -F "$tmp/mc.cfg" -d "$4" \
		>"$tmp/mc.out" 2>&1 || die "memcaslap failed on $2: $(tail -5 "$tmp/mc.out")"
	c1=$(cpu_ticks) || die "a server process of $2 is gone"
	line=$(awk '/^Run time:/ { for (i = 1; i <= NF; i++) { if ($i == "Ops:") o = $(i + 1); if ($i == "TPS:") t = $(i + 1) } } END { if (o > 0) print o, t }' "$tmp/mc.out")
	# shellcheck disable=SC2086 # two fields
	set -- "$1" "$2" "$3" $line
	test $# -eq 5 || die "no result from memcaslap on $2: $(tail -5 "$tmp/mc.out")"
	record "$1" "$2" W5 "$3" "$4" "$5" - - - - "$c0" "$c1" -
}

mget=$(printf 'key:__rand_int__ %.0s' 1 2 3 4 5 6 7 8 9 10)

has() { # word list...
	has_w=$1
	shift
	for has_x in "$@"; do test "$has_x" = "$has_w" && return 0; done
	return 1
}

# The workloads peer $1 runs: those asked for that it can take. memcached
# speaks only its protocol (W5, W7); the A/B peers run W2, W3 and W5; SCAN
# (W8) needs a server that has it (not nutcracker, not memcached).
peer_work() {
	pw=
	for pw_w in $workloads; do
		case $1 in
		memcached-*) case $pw_w in W5 | W7) ;; *) continue ;; esac ;;
		rcumapd-lfht-* | rcumapd-mutex-*) case $pw_w in W2 | W3 | W5) ;; *) continue ;; esac ;;
		rcumapd-*) ;;
		nutcracker-*) case $pw_w in W5 | W7 | W8) continue ;; esac ;;
		*) case $pw_w in W5) continue ;; esac ;;
		esac
		pw="$pw $pw_w"
	done
	echo "$pw"
}

# W6: load growkeys keys into the empty server while GETs are measured,
# then the same GETs in the steady state. round peer
grow_run() {
	"$py" "$loader" load "$rport" "$growkeys" >"$tmp/grow.out" 2>&1 &
	gl_pid=$!
	sleep 0.2
	clients_save=$clients
	clients=10
	resp_run "$1" "$2" W6 GET-growing "$growgets" -t get -r "$growkeys"
	if kill -0 "$gl_pid" 2>/dev/null; then overlap=yes; else overlap=no; fi
	wait "$gl_pid" || die "W6: loading $growkeys keys into $2 failed: $(cat "$tmp/grow.out")"
	echo "$1,$2,$overlap" >>"$overlapcsv"
	resp_run "$1" "$2" W6 GET-steady "$growgets" -t get -r "$growkeys"
	clients=$clients_save
}

# W7: memory after load, delete and purge; then a fresh server with the
# survivors alone. peer
mem_run() {
	case $1 in memcached-*) proto=mc port=$mport ;; *) proto=resp port=$rport ;; esac
	# shellcheck disable=SC2086 # the peer's PIDs
	"$py" "$srcdir/server_mem.py" "$proto" "$port" "$(echo $pids | tr ' ' ,)" "$memkeys" \
		>"$tmp/mem.csv" 2>"$tmp/mem.err" || die "W7 on $1 failed: $(cat "$tmp/mem.err")"
	stop_all
	start_peer "$1"
	case $1 in memcached-*) port=$mport ;; *) port=$rport ;; esac
	# shellcheck disable=SC2086
	"$py" "$srcdir/server_mem.py" --fresh "$proto" "$port" "$(echo $pids | tr ' ' ,)" "$memkeys" \
		>>"$tmp/mem.csv" 2>>"$tmp/mem.err" || die "W7 (fresh) on $1 failed: $(cat "$tmp/mem.err")"
	awk -F, -v p="$1" 'NF >= 3 && $1 != "stage" { print p "," $0 }' "$tmp/mem.csv" >>"$memcsv"
	awk -F, -v p="$1" 'NF >= 3 && $1 != "stage" {
		printf "  %-22s W7  %-16s %9s keys  RSS %8.1f MB\n", p, $1, $2, $3 / 1024 }' "$tmp/mem.csv"
}

# W8: a full SCAN under churn. peer
scan_run() {
	"$py" "$srcdir/server_scan.py" "$rport" "$scankeys" >"$tmp/scan.csv" 2>"$tmp/scan.err" ||
		die "W8 on $1 failed: $(cat "$tmp/scan.err")"
	awk -F, -v p="$1" '$1 ~ /^[0-9]+$/ { print p "," $0 }' "$tmp/scan.csv" >>"$scancsv"
	awk -F, -v p="$1" '$1 ~ /^[0-9]+$/ {
		printf "  %-22s W8  %s stable keys: %s duplicates, %s misses, %s churn writes\n", p, $1, $3, $4, $5 }' \
		"$tmp/scan.csv"
}

run_peer() { # round peer
	work=$(peer_work "$2")
	test -n "$work" || return 0
	echo "round $1: $2"
	# W5 first, into an empty server, as memcached gets it.
	# shellcheck disable=SC2086 # word lists, here and below
	if has W5 $work; then
		start_peer "$2"
		mc_run "$1" "$2" get90set10 1
		mc_run "$1" "$2" mget10set10 10
		stop_all
	fi
	# Then a fresh server holding the loaded keys alone, as Redis does.
	# shellcheck disable=SC2086
	if has W1 $work || has W2 $work || has W3 $work || has W4 $work; then
		start_peer "$2"
		"$py" "$loader" load "$rport" "$keys" >/dev/null || die "loading $keys keys into $2 failed"
		if has W1 $work; then
			resp_run "$1" "$2" W1 SET "$n" -t set -r "$keys"
			resp_run "$1" "$2" W1 GET "$n" -t get -r "$keys"
		fi
		if has W2 $work; then
			resp_run "$1" "$2" W2 SET "$np" -t set -P 16 -r "$keys"
			resp_run "$1" "$2" W2 GET "$np" -t get -P 16 -r "$keys"
		fi
		if has W3 $work; then
			# shellcheck disable=SC2086 # ten words, one per key
			resp_run "$1" "$2" W3 MGET10 "$np" -P 8 -r "$keys" mget $mget
		fi
		if has W4 $work; then
			# without -r every request names key:__rand_int__ itself
			redis-cli -p "$rport" SET key:__rand_int__ vvvvvvvvvvvvvvvv >/dev/null ||
				die "W4: SET of the hot key failed on $2"
			resp_run "$1" "$2" W4 HOTGET "$np" -t get -P 16
		fi
		stop_all
	fi
	# shellcheck disable=SC2086
	if has W6 $work; then
		start_peer "$2"
		grow_run "$1" "$2"
		stop_all
	fi
	# W7 and W8: one run each, in the first round.
	# shellcheck disable=SC2086
	if test "$1" -eq 1 && has W7 $work; then
		start_peer "$2"
		mem_run "$2"
		stop_all
	fi
	# shellcheck disable=SC2086
	if test "$1" -eq 1 && has W8 $work; then
		start_peer "$2"
		scan_run "$2"
		stop_all
	fi
}

# shellcheck disable=SC2086
set -- $peers
npeers=$#
round=1
while test "$round" -le "$rounds"; do
	# rotate: round r starts with peer number (r - 1) mod npeers
	idx=0
	pos=$(((round - 1) % npeers))
	while test "$idx" -lt "$npeers"; do
		# shellcheck disable=SC2086
		name=$(echo $peers | awk -v k=$((pos + 1)) '{ print $k }')
		run_peer "$round" "$name"
		pos=$(((pos + 1) % npeers))
		idx=$((idx + 1))
	done
	round=$((round + 1))
done

# Medians over the rounds, one row per peer x workload x test.
medians=$results/medians.csv
awk -F, '
	function med(s,   a, m, i, j, t) {
		m = split(s, a, " ")
		for (i = 2; i <= m; i++)
			for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		if (a[1] == "-") return "-"
		return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	NR == 1 { next }
	{
		k = $2 "," $3 "," $4
		if (!(k in n)) order[++nk] = k
		n[k]++
		for (f = 6; f <= 13; f++) v[k, f] = v[k, f] " " $f
	}
	END {
		print "peer,workload,test,rounds,rps,p50_ms,p99_ms,p999_ms,max_ms,cpu_us_per_req,rss_kb,pending_kb"
		for (i = 1; i <= nk; i++) {
			k = order[i]
			printf "%s,%d", k, n[k]
			for (f = 6; f <= 13; f++) printf ",%s", med(v[k, f])
			printf "\n"
		}
	}' "$runs" >"$medians"

# The checks of the report: lines "| subject | target | ratios | met/missed |".
# check(p, text, workload, tests, peer, kind, bound): kind rps (p's rate over
# peer's, at least bound) or cpu (p's CPU per request over peer's, at most).
# shellcheck disable=SC2016 # awk text
checks_awk='
	function ratio(a, b) { return (b > 0) ? a / b : -1 }
	function check(p, text, w, tests, peer, kind, bound,   t, nt, i, r, txt, ok, have) {
		nt = split(tests, t, " ")
		txt = ""; ok = 1; have = 1
		for (i = 1; i <= nt; i++) {
			if (!((p, w, t[i]) in rps) || !((peer, w, t[i]) in rps)) { have = 0; continue }
			if (kind == "rps") r = ratio(rps[p, w, t[i]], rps[peer, w, t[i]])
			else r = ratio(cpu[p, w, t[i]], cpu[peer, w, t[i]])
			txt = txt sprintf("%s%s %.2fx", (txt == "") ? "" : ", ", t[i], r)
			if (r < 0 || (kind == "rps" && r < bound) || (kind == "cpu" && r > bound)) ok = 0
		}
		if (!have) { printf "| %s | %s | not measured (%s or %s missing) | |\n", p, text, p, peer; return }
		printf "| %s | %s | %s | %s |\n", p, text, txt, ok ? "met" : "missed"
	}
	NR > 1 { rps[$1, $2, $3] = $5; cpu[$1, $2, $3] = $10; p99[$1, $2, $3] = $7; mx[$1, $2, $3] = $9
		if (!($1 in seen)) { seen[$1] = 1; peer[++np] = $1 } }
'

# A report section: title, then the table's header and rule lines.
section() {
	printf '\n## %s\n\n%s\n%s\n' "$1" "$2" "$3"
}

report=$results/report.md
{
	echo "# bench-server: medians of $rounds round(s)"
	echo
	echo "Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
		"$(uname -sr). Requests per W1 test $n, per W2-W4 test $np; $keys keys;" \
		"$clients clients; memcaslap ${mctime}s x $mcconc connections; W6: $growkeys keys," \
		"$growgets GETs, 10 clients; W7: $memkeys keys; W8: $scankeys stable keys."
	echo
	echo "| peer | workload | test | req/s | p50 ms | p99 ms | p99.9 ms | max ms | server CPU us/req | RSS MB | pending KiB |"
	echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk -F, 'NR > 1 { printf "| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %.1f | %s |\n",
		$1, $2, $3, $5, $6, $7, $8, $9, $10, $11 / 1024, $12 }' "$medians"
	section "Targets (ratios of medians, each rcumapd peer)" "| rcumapd peer | target | ratio | |" "|---|---|---|---|"
	awk -F, "$checks_awk"'
		END {
			for (i = 1; i <= np; i++) {
				p = peer[i]
				if (p !~ /^rcumapd-(qsbr|memb|bp)-/ && p != "nutcracker-rcumapd2") continue
				check(p, "W1 req/s >= 1.0x redis-server", "W1", "SET GET", "redis", "rps", 1.0)
				check(p, "W1 CPU/req <= 1.0x redis-server", "W1", "SET GET", "redis", "cpu", 1.0)
				check(p, "W2 req/s >= 1.2x redis-server", "W2", "SET GET", "redis", "rps", 1.2)
				check(p, "W2 req/s >= 1.0x 2 redis behind nutcracker", "W2", "SET GET", "nutcracker-redis2", "rps", 1.0)
				check(p, "W3 req/s >= 1.5x redis-server", "W3", "MGET10", "redis", "rps", 1.5)
				if (p !~ /^nutcracker/) {
					check(p, "W5 ops/s >= 1.0x memcached -t 2", "W5", "get90set10 mget10set10", "memcached-t2", "rps", 1.0)
					check(p, "W5 CPU/op <= 1.0x memcached -t 2", "W5", "get90set10 mget10set10", "memcached-t2", "cpu", 1.0)
				}
			}
		}' "$medians"
	section "Library A/B (the same rcumapd, qsbr, with its map swapped)" "| rcumapd peer | target | ratio | |" "|---|---|---|---|"
	awk -F, "$checks_awk"'
		END {
			for (i = 1; i <= np; i++) {
				p = peer[i]
				if (p !~ /^rcumapd-qsbr-t/) continue
				t = substr(p, length("rcumapd-qsbr-") + 1)
				if (!(("rcumapd-lfht-" t) in seen) && !(("rcumapd-mutex-" t) in seen)) continue
				for (w = 1; w <= 3; w++) {
					split("W2 W3 W5", ws, " "); split("SET GET|MGET10|get90set10 mget10set10", tl, "|")
					check(p, ws[w] " req/s >= 1.1x cds_lfht", ws[w], tl[w], "rcumapd-lfht-" t, "rps", 1.1)
					check(p, ws[w] " req/s >= 1.3x mutex table", ws[w], tl[w], "rcumapd-mutex-" t, "rps", 1.3)
					# the same bounds on the work done per CPU second
					check(p, ws[w] " CPU/req <= 1/1.1 of cds_lfht", ws[w], tl[w], "rcumapd-lfht-" t, "cpu", 1 / 1.1)
					check(p, ws[w] " CPU/req <= 1/1.3 of mutex table", ws[w], tl[w], "rcumapd-mutex-" t, "cpu", 1 / 1.3)
				}
			}
		}' "$medians"
	section "W6: GET latency while $growkeys keys load, against the steady state" \
		"| peer | p99 growing ms | p99 steady ms | ratio | max growing ms | max steady ms | load still running at the end (rounds) | p99 <= 2x steady |" \
		"|---|---:|---:|---:|---:|---:|---|---|"
	awk -F, -v ov="$overlapcsv" "$checks_awk"'
		BEGIN { while ((getline l < ov) > 0) { split(l, f, ","); if (f[1] != "round") { o[f[2]] = o[f[2]] f[3] " " } } }
		END {
			for (i = 1; i <= np; i++) {
				p = peer[i]
				if (!((p, "W6", "GET-growing") in p99)) continue
				g = p99[p, "W6", "GET-growing"]; st = p99[p, "W6", "GET-steady"]
				r = ratio(g, st)
				printf "| %s | %s | %s | %.2fx | %s | %s | %s | %s |\n", p, g, st, r,
					mx[p, "W6", "GET-growing"], mx[p, "W6", "GET-steady"], o[p],
					(r >= 0 && r <= 2) ? "met" : "missed"
			}
		}' "$medians"
	section "W7: resident set (MB) after $memkeys keys of 100 bytes, 90% deleted, and the server's shrink" \
		"| peer | empty | loaded | 90% deleted | after purge | fresh server, survivors only | after purge / fresh | within 2x |" \
		"|---|---:|---:|---:|---:|---:|---:|---|"
	awk -F, 'NR > 1 { v[$1, $2] = $4; if (!($1 in s)) { s[$1] = 1; pr[++n] = $1 } }
		function mb(x) { return (x == "") ? "-" : sprintf("%.1f", x / 1024) }
		END {
			for (i = 1; i <= n; i++) {
				p = pr[i]
				pu = v[p, "purged"]; fr = v[p, "fresh_survivors"]
				r = (fr > 0 && pu != "") ? sprintf("%.2fx", pu / fr) : "-"
				printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", p, mb(v[p, "empty"]), mb(v[p, "loaded"]),
					mb(v[p, "deleted"]), mb(pu), mb(fr), r,
					(p ~ /^rcumapd/) ? ((fr > 0 && pu <= 2 * fr) ? "met" : "missed") : "reported"
			}
		}' "$memcsv"
	section "W8: a full SCAN of $scankeys stable keys while another client writes" \
		"| peer | stable keys | returned | duplicates | misses | churn writes | SCAN calls | seconds | 0 duplicates, 0 misses |" \
		"|---|---:|---:|---:|---:|---:|---:|---:|---|"
	awk -F, 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8,
		($1 ~ /^rcumapd/) ? (($4 == 0 && $5 == 0) ? "met" : "missed") : "reported" }' "$scancsv"
} >"$report"

# One bar group per peer, one bar per test: bar_plot png ylabel field scale
# workloads (field of medians.csv, divided by scale; the listed workloads).
bar_plot() {
	awk -F, -v f="$3" -v sc="$4" -v ws=" $5 " 'NR > 1 && index(ws, " " $2 " ") && $f != "-" {
		k = $2 " " $3; if (!(k in c)) { c[k] = ++nc; col[nc] = k }
		if (!($1 in r)) { r[$1] = ++nr; row[nr] = $1 } v[$1, k] = $f / sc }
		END { if (nc == 0) exit
			printf "peer"; for (j = 1; j <= nc; j++) printf "\t\"%s\"", col[j]; printf "\n"
			for (i = 1; i <= nr; i++) { printf "%s", row[i]; for (j = 1; j <= nc; j++) printf "\t%s", ((row[i], col[j]) in v) ? v[row[i], col[j]] : 0; printf "\n" } }' \
		"$medians" >"$tmp/plot.dat"
	ncol=$(awk -F'\t' 'NR == 1 { print NF; exit }' "$tmp/plot.dat")
	test "${ncol:-0}" -gt 1 || return 0
	gnuplot <<PLOT || echo "$me: gnuplot failed; no $1" >&2
set terminal pngcairo size 1400,600
set output '$results/$1'
set style data histogram
set style histogram clustered gap 1
set style fill solid border -1
set ylabel '$2'
set xtics rotate by -30
set key top left autotitle columnheader
plot for [i=2:$ncol] '$tmp/plot.dat' using i:xtic(1)
PLOT
}

if command -v gnuplot >/dev/null 2>&1; then
	bar_plot rps.png 'thousand requests/s (median)' 5 1000 "W1 W2 W3 W4"
	bar_plot cpu.png 'server CPU us per request (median)' 10 1 "W1 W2 W3 W4 W5"
else
	echo "$me: gnuplot not found; no plot" >&2
fi

echo
cat "$report"
echo
echo "results: $runs $medians $report"
