#!/bin/sh
# SPDX-License-Identifier: MIT
# server_quick.sh: a first look at rcumapd beside redis-server and memcached,
# in one run on this machine (make bench-server-quick). Not the full
# comparison: one client machine (this one), few settings, ratios only.
#
# RESP: redis-benchmark SET and GET, 50 clients, without pipelining and with
#   16 pipelined, 100k random keys, then MGET of 10 random keys with 8
#   pipelined (rcumapd looks up an MGET's keys, and pipelined GETs, in one
#   rcumap_get_batch call), against rcumapd (each flavor) and
#   redis-server. memcached protocol: memcaslap, 10% sets, for a fixed time,
#   against rcumapd and memcached. Every server gets the same worker count
#   (redis-server has one event loop whatever it is given).
#
# Environment: abs_top_builddir (set by make), BENCH_REQUESTS (default
# 200000), BENCH_THREADS (server workers, default 2), BENCH_FLAVORS
# (default "qsbr memb bp"), BENCH_MC_TIME (default 5s).

set -u
builddir=${abs_top_builddir:?run through make bench-server-quick}
rcumapd=$builddir/server/rcumapd
n=${BENCH_REQUESTS:-200000}
threads=${BENCH_THREADS:-2}
flavors=${BENCH_FLAVORS:-qsbr memb bp}
mctime=${BENCH_MC_TIME:-5s}
tmp=$(mktemp -d)
pids=

cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

for tool in redis-benchmark redis-server memcached memcaslap; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "server_quick: $tool not found (scripts/bootstrap.sh installs it)" >&2
		exit 1
	}
done

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
	i=0
	until /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null; do
		i=$((i + 1))
		test "$i" -lt 200 || { echo "server_quick: nothing listens on $1" >&2; exit 1; }
		sleep 0.05
	done
}

mget_keys=$(for i in 1 2 3 4 5 6 7 8 9 10; do printf 'key:__rand_int__ '; done)

# rps of one redis-benchmark test: "name pipeline rps"
resp_bench() { # label port
	for p in 1 16; do
		redis-benchmark -h 127.0.0.1 -p "$2" -t set,get -n "$n" -r 100000 -c 50 -P "$p" --csv 2>/dev/null |
			awk -F'"' -v label="$1" -v p="$p" '$2 == "SET" || $2 == "GET" { printf "%s %s P%s %.0f\n", label, $2, p, $4 }'
	done
	# shellcheck disable=SC2086 # ten words, one per key
	redis-benchmark -h 127.0.0.1 -p "$2" -n "$n" -r 100000 -c 50 -P 8 --csv mget $mget_keys 2>/dev/null |
		awk -F'"' -v label="$1" 'NR == 2 { printf "%s MGET10 P8 %.0f\n", label, $4 }'
}

# memcaslap's TPS over BENCH_MC_TIME: "label mc-10%set TPS"
mc_bench() { # label port
	memcaslap -s "127.0.0.1:$2" -T "$threads" -c 64 -t "$mctime" 2>/dev/null |
		awk -v label="$1" '/^Run time:/ { for (i = 1; i <= NF; i++) if ($i == "TPS:") tps = $(i + 1) } END { printf "%s mc-get90/set10 - %s\n", label, tps }'
}

out=$tmp/results
: >"$out"
for fl in $flavors; do
	rp=$(free_port); mp=$(free_port)
	"$rcumapd" --flavor "$fl" -t "$threads" --port "$rp" --mc-port "$mp" 2>/dev/null &
	pid=$!; pids="$pids $pid"
	wait_port "$rp"
	resp_bench "rcumapd-$fl" "$rp" >>"$out"
	mc_bench "rcumapd-$fl" "$mp" >>"$out"
	kill "$pid"; wait "$pid"
done

rp=$(free_port)
redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" >/dev/null &
pid=$!; pids="$pids $pid"
wait_port "$rp"
resp_bench redis-server "$rp" >>"$out"
kill "$pid"; wait "$pid"

mp=$(free_port)
if test "$(id -u)" -eq 0; then user="-u nobody"; else user=; fi
# shellcheck disable=SC2086 # $user is empty or two words
memcached -l 127.0.0.1 -p "$mp" -U 0 -t "$threads" $user &
pid=$!; pids="$pids $pid"
wait_port "$mp"
mc_bench memcached "$mp" >>"$out"
kill "$pid"; wait "$pid"

# Table: each rcumapd row with its ratio to the peer of the same test.
awk '
	{ key = $2 " " $3; v[$1, key] = $4; if (!(key in seen)) { seen[key] = 1; keys[++nk] = key } ; if (!($1 in sv)) { sv[$1] = 1; servers[++ns] = $1 } }
	END {
		printf "%-18s %-18s %12s %10s\n", "server", "test", "req/s", "vs peer"
		for (k = 1; k <= nk; k++) {
			key = keys[k]; peer = (key ~ /^mc-/) ? "memcached" : "redis-server"
			for (s = 1; s <= ns; s++) {
				if (!((servers[s], key) in v)) continue
				r = (servers[s] != peer && (peer, key) in v && v[peer, key] > 0) ? sprintf("%.2fx", v[servers[s], key] / v[peer, key]) : "-"
				printf "%-18s %-18s %12s %10s\n", servers[s], key, v[servers[s], key], r
			}
		}
	}' "$out"
