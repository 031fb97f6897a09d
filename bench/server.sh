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
#   W5  memcaslap, 90% get / 10% set, 16-byte keys and values, BENCH_MC_TIME;
#       into an empty server (rcumapd restarts before W1-W3, which run on
#       the loaded key set alone)
#
# Peers (BENCH_PEERS, default all of them):
#   redis                  redis-server --save '' --appendonly no
#   nutcracker-redis2      two redis-servers behind nutcracker
#   memcached-tN           memcached -t N, for N in BENCH_THREADS
#   rcumapd-FLAVOR-tN      rcumapd --flavor FLAVOR -t N, FLAVOR in
#                          BENCH_FLAVORS, N in BENCH_THREADS
#   nutcracker-rcumapd2    two rcumapd -t 1 (qsbr) behind nutcracker
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
#   BENCH_WORKLOADS    subset of "W1 W2 W3 W5" (default all)
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
	echo "       [BENCH_PEERS='peer...'] [BENCH_WORKLOADS='W1 W2 W3 W5'] [BENCH_MC_TIME=SECONDS]" >&2
	echo "       [BENCH_MC_CONC=N] [BENCH_RESULTS=DIR] make bench-server  (see bench/server.sh)" >&2
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
workloads=${BENCH_WORKLOADS:-W1 W2 W3 W5}
for w in $workloads; do
	case $w in W1 | W2 | W3 | W5) ;; *) usage "unknown workload '$w' in BENCH_WORKLOADS" ;; esac
done
results=${BENCH_RESULTS:-$builddir/bench-results/server}

default_peers="redis nutcracker-redis2"
for t in $threads; do default_peers="$default_peers memcached-t$t"; done
for f in $flavors; do
	for t in $threads; do default_peers="$default_peers rcumapd-$f-t$t"; done
done
default_peers="$default_peers nutcracker-rcumapd2"
peers=${BENCH_PEERS:-$default_peers}
need_nut=no
for p in $peers; do
	case $p in
	redis | nutcracker-redis2 | nutcracker-rcumapd2) ;;
	memcached-t[1-9]*) posint "BENCH_PEERS thread count" "${p#memcached-t}" ;;
	rcumapd-qsbr-t[1-9]* | rcumapd-memb-t[1-9]* | rcumapd-bp-t[1-9]*)
		posint "BENCH_PEERS thread count" "${p##*-t}" ;;
	*) usage "unknown peer '$p' in BENCH_PEERS" ;;
	esac
	case $p in nutcracker-*) need_nut=yes ;; esac
done
test -n "$peers" || usage "BENCH_PEERS is empty"

tools="redis-benchmark redis-server memcached memcaslap"
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
if test -x "$builddir/server/.libs/rcumapd"; then
	rcumapd=$builddir/server/.libs/rcumapd
	LD_LIBRARY_PATH=$builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export LD_LIBRARY_PATH
else
	rcumapd=$builddir/server/rcumapd
fi
test -x "$rcumapd" || { echo "$me: $rcumapd not built" >&2; exit 1; }
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

start_rcumapd() { # flavor threads resp-port mc-port
	"$rcumapd" --flavor "$1" -t "$2" --port "$3" --mc-port "$4" >"$tmp/rcumapd-$3.log" 2>&1 &
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
echo "round,peer,workload,test,requests,rps,p50_ms,p99_ms,cpu_us_per_req,rss_kb" >"$runs"

# Record one run: round peer workload test requests rps p50 p99 ticks0 ticks1
record() {
	cpu=$(awk -v d="$((${10} - $9))" -v hz="$hz" -v r="$5" 'BEGIN { printf "%.3f", d / hz * 1e6 / r }')
	rss=$(rss_kb) || die "a server process of $2 is gone"
	echo "$1,$2,$3,$4,$5,$6,$7,$8,$cpu,$rss" >>"$runs"
	printf '  %-22s %-3s %-5s %10s req/s  p50 %6s ms  p99 %6s ms  %8s us CPU/req\n' \
		"$2" "$3" "$4" "$6" "$7" "$8" "$cpu"
}

# One redis-benchmark test: round peer workload test requests args...
resp_run() {
	rr_round=$1 peer=$2 w=$3 test=$4 req=$5
	shift 5
	c0=$(cpu_ticks) || die "a server process of $peer is gone"
	redis-benchmark -h 127.0.0.1 -p "$rport" -n "$req" -r "$keys" -c "$clients" -d 16 --csv "$@" \
		>"$tmp/rb.csv" 2>"$tmp/rb.err" || die "redis-benchmark failed on $peer $w $test: $(cat "$tmp/rb.err")"
	c1=$(cpu_ticks) || die "a server process of $peer is gone"
	# "test","rps","avg","min","p50","p95","p99","max"
	line=$(awk -F'"' 'NR == 2 { print $4, $10, $14 }' "$tmp/rb.csv")
	# shellcheck disable=SC2086 # three fields
	set -- $line
	test $# -eq 3 || die "no result from redis-benchmark on $peer $w $test: $(cat "$tmp/rb.csv" "$tmp/rb.err")"
	record "$rr_round" "$peer" "$w" "$test" "$req" "$1" "$2" "$3" "$c0" "$c1"
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

mc_run() { # round peer
	c0=$(cpu_ticks) || die "a server process of $2 is gone"
	memcaslap -s "127.0.0.1:$mport" -T 2 -c "$mcconc" -t "${mctime}s" -F "$tmp/mc.cfg" \
		>"$tmp/mc.out" 2>&1 || die "memcaslap failed on $2: $(tail -5 "$tmp/mc.out")"
	c1=$(cpu_ticks) || die "a server process of $2 is gone"
	line=$(awk '/^Run time:/ { for (i = 1; i <= NF; i++) { if ($i == "Ops:") o = $(i + 1); if ($i == "TPS:") t = $(i + 1) } } END { if (o > 0) print o, t }' "$tmp/mc.out")
	# shellcheck disable=SC2086 # two fields
	set -- "$1" "$2" $line
	test $# -eq 4 || die "no result from memcaslap on $2: $(tail -5 "$tmp/mc.out")"
	record "$1" "$2" W5 get90set10 "$3" "$4" - - "$c0" "$c1"
}

mget=$(printf 'key:__rand_int__ %.0s' 1 2 3 4 5 6 7 8 9 10)

has() { # word list...
	has_w=$1
	shift
	for has_x in "$@"; do test "$has_x" = "$has_w" && return 0; done
	return 1
}

# Whether peer $1 has a workload to run: RESP ones W1-W3, memcached ones W5.
has_work() {
	case $1 in
	memcached-*) resp=no mc=yes ;;
	rcumapd-*) resp=yes mc=yes ;;
	*) resp=yes mc=no ;;
	esac
	# shellcheck disable=SC2086
	{ test "$resp" = yes && { has W1 $workloads || has W2 $workloads || has W3 $workloads; }; } ||
		{ test "$mc" = yes && has W5 $workloads; }
}

run_peer() { # round peer
	has_work "$2" || return 0
	start_peer "$2"
	echo "round $1: $2"
	# W5 first, into an empty server, as memcached gets it; then a fresh
	# server for W1-W3, holding the loaded keys alone, as Redis does.
	# shellcheck disable=SC2086
	if test -n "$mport" && has W5 $workloads; then
		mc_run "$1" "$2"
		if test -n "$rport"; then
			stop_all
			start_peer "$2"
		fi
	fi
	# shellcheck disable=SC2086
	if test -n "$rport" && { has W1 $workloads || has W2 $workloads || has W3 $workloads; }; then
		"$py" "$loader" load "$rport" "$keys" >/dev/null || die "loading $keys keys into $2 failed"
		# shellcheck disable=SC2086 # word lists
		if has W1 $workloads; then
			resp_run "$1" "$2" W1 SET "$n" -t set
			resp_run "$1" "$2" W1 GET "$n" -t get
		fi
		# shellcheck disable=SC2086
		if has W2 $workloads; then
			resp_run "$1" "$2" W2 SET "$np" -t set -P 16
			resp_run "$1" "$2" W2 GET "$np" -t get -P 16
		fi
		# shellcheck disable=SC2086
		if has W3 $workloads; then
			# shellcheck disable=SC2086 # ten words, one per key
			resp_run "$1" "$2" W3 MGET10 "$np" -P 8 mget $mget
		fi
	fi
	stop_all
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
		for (f = 6; f <= 10; f++) v[k, f] = v[k, f] " " $f
	}
	END {
		print "peer,workload,test,rounds,rps,p50_ms,p99_ms,cpu_us_per_req,rss_kb"
		for (i = 1; i <= nk; i++) {
			k = order[i]
			printf "%s,%d", k, n[k]
			for (f = 6; f <= 10; f++) printf ",%s", med(v[k, f])
			printf "\n"
		}
	}' "$runs" >"$medians"

report=$results/report.md
{
	echo "# bench-server: medians of $rounds round(s)"
	echo
	echo "Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
		"$(uname -sr). Requests per W1 test $n, per W2/W3 test $np; $keys keys;" \
		"$clients clients; memcaslap ${mctime}s x $mcconc connections."
	echo
	echo "| peer | workload | test | req/s | p50 ms | p99 ms | server CPU us/req | RSS MB |"
	echo "|---|---|---|---:|---:|---:|---:|---:|"
	awk -F, 'NR > 1 { printf "| %s | %s | %s | %.0f | %s | %s | %s | %.1f |\n", $1, $2, $3, $5, $6, $7, $8, $9 / 1024 }' "$medians"
	echo
	echo "## Targets (ratios of medians, each rcumapd peer)"
	echo
	echo "| rcumapd peer | target | ratio | |"
	echo "|---|---|---|---|"
	awk -F, '
		NR > 1 { rps[$1, $2, $3] = $5; cpu[$1, $2, $3] = $8; if ($1 ~ /rcumapd/ && !($1 in s)) { s[$1] = 1; rc[++nr] = $1 } }
		function ratio(a, b) { return (b > 0) ? a / b : -1 }
		# one line per check: peer, text, the tests it covers, ratio kind, bound
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
		END {
			for (i = 1; i <= nr; i++) {
				p = rc[i]
				check(p, "W1 req/s >= 1.0x redis-server", "W1", "SET GET", "redis", "rps", 1.0)
				check(p, "W1 CPU/req <= 1.0x redis-server", "W1", "SET GET", "redis", "cpu", 1.0)
				check(p, "W2 req/s >= 1.2x redis-server", "W2", "SET GET", "redis", "rps", 1.2)
				check(p, "W2 req/s >= 1.0x 2 redis behind nutcracker", "W2", "SET GET", "nutcracker-redis2", "rps", 1.0)
				check(p, "W3 req/s >= 1.5x redis-server", "W3", "MGET10", "redis", "rps", 1.5)
				if (p !~ /^nutcracker/) {
					check(p, "W5 ops/s >= 1.0x memcached -t 2", "W5", "get90set10", "memcached-t2", "rps", 1.0)
					check(p, "W5 CPU/op <= 1.0x memcached -t 2", "W5", "get90set10", "memcached-t2", "cpu", 1.0)
				}
			}
		}' "$medians"
	echo
	echo "Not measured by this harness yet: W4 (hot key), W5's multi-get mode, W6 (growth)," \
		"W7 (memory after delete and shrink), W8 (SCAN under writes), p99.9 latency," \
		"rcumapd's pending reclamation, and the library A/B (rcumapd with its map" \
		"swapped for cds_lfht and a mutex table)."
} >"$report"

if command -v gnuplot >/dev/null 2>&1; then
	# one bar group per peer: median req/s of each RESP test, in thousands
	awk -F, 'NR > 1 && $2 != "W5" { k = $2 " " $3; if (!(k in c)) { c[k] = ++nc; col[nc] = k }
		if (!($1 in r)) { r[$1] = ++nr; row[nr] = $1 } v[$1, k] = $5 / 1000 }
		END { printf "peer"; for (j = 1; j <= nc; j++) printf "\t\"%s\"", col[j]; printf "\n"
			for (i = 1; i <= nr; i++) { printf "%s", row[i]; for (j = 1; j <= nc; j++) printf "\t%s", ((row[i], col[j]) in v) ? v[row[i], col[j]] : 0; printf "\n" } }' \
		"$medians" >"$tmp/plot.dat"
	ncol=$(awk -F'\t' 'NR == 1 { print NF; exit }' "$tmp/plot.dat")
	if test "${ncol:-0}" -gt 1; then
		gnuplot <<EOF || echo "$me: gnuplot failed; no plot" >&2
set terminal pngcairo size 1200,600
set output '$results/rps.png'
set style data histogram
set style histogram clustered gap 1
set style fill solid border -1
set ylabel 'thousand requests/s (median)'
set xtics rotate by -30
set key top left autotitle columnheader
plot for [i=2:$ncol] '$tmp/plot.dat' using i:xtic(1)
EOF
	fi
else
	echo "$me: gnuplot not found; no plot" >&2
fi

echo
cat "$report"
echo
echo "results: $runs $medians $report"
