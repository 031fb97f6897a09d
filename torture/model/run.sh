#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh: check the spin models of torture/model/ and their negative controls.
#
# Usage: torture/model/run.sh [--quick] [--keep]
#
#   --quick   the configurations make check runs (seconds: tiers quick and
#             both); without it, every configuration (make check-model)
#   --keep    keep the work directory (pan sources, outputs, trails) and
#             print its name
#
# Every configuration is one line of the table below: spin generates a
# verifier for a model with some -D flags, cc builds it, pan searches the
# whole state space (exhaustive: no bitstate, no hash compaction). A
# configuration expected to "verify" passes when pan reports no error and
# neither its depth nor its memory limit cut the search short; one expected
# to give a "counterexample" passes when pan reports an error and writes a
# trail. The last line is "N passed, N failed"; the exit status is 0 when
# every configuration passed, 1 otherwise, 2 on bad arguments.
#
# Environment: SPIN (default spin), PAN_CC (default cc: the build
# machine's compiler, also in a cross build), PAN_MEMLIM (MiB,
# default 4096), PAN_DEPTH (default 20000).

set -u

usage() {
	echo "usage: $0 [--quick] [--keep]" >&2
	exit 2
}

quick=0
keep=0
for arg in "$@"; do
	case $arg in
	--quick) quick=1 ;;
	--keep) keep=1 ;;
	-h|--help) usage ;;
	*) echo "$0: unknown argument: $arg" >&2; usage ;;
	esac
done

here=$(cd "$(dirname "$0")" && pwd)
SPIN=${SPIN:-spin}
# The build machine's compiler: pan runs here, even in a cross build.
CC=${PAN_CC:-cc}
memlim=${PAN_MEMLIM:-4096}
depth=${PAN_DEPTH:-20000}

if ! command -v "$SPIN" >/dev/null 2>&1; then
	echo "$0: spin not installed: run scripts/bootstrap.sh" >&2
	exit 1
fi
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "$0: no C compiler ($CC) to build spin's verifier" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rcumap-model.XXXXXX") || exit 1
if [ "$keep" = 1 ]; then
	echo "work directory: $work"
else
	trap 'rm -rf "$work"' EXIT
	trap 'exit 1' HUP INT TERM
fi

# name | model file | expect (verify or counterexample) | tier (quick: make
# check, full: make check-model, both) | flags for spin (-D...)
#
# protocol.pml: NMIG=1 is the grow 2 -> 4 alone (three threads, every
# interleaving); the full model adds the shrink back to 2. NO_GATE needs
# both migrations in either tier: its bug is the second one starting early.
# relaxed-next and relaxed-next-load verify: the freeze CAS (release) and the
# slot load that sees the mark (acquire) already order t->next
# (torture/model/README.md, O3).
table='
protocol          | protocol.pml | verify         | quick | -DNMIG=1
protocol          | protocol.pml | verify         | full  |
protocol-more-ops | protocol.pml | verify         | full  | -DNMIG=1 -DMORE_OPS
fill-before-freeze| protocol.pml | counterexample | quick | -DNMIG=1 -DFILL_BEFORE_FREEZE
no-gate           | protocol.pml | counterexample | both  | -DNO_GATE
retire-before-unpublish | protocol.pml | counterexample | quick | -DNMIG=1 -DRETIRE_BEFORE_UNPUBLISH
no-forward        | protocol.pml | counterexample | quick | -DNMIG=1 -DNO_FORWARD
relaxed-switch    | protocol.pml | counterexample | quick | -DNMIG=1 -DRELAXED_SWITCH
relaxed-publish   | protocol.pml | counterexample | quick | -DNMIG=1 -DRELAXED_PUBLISH
fill-before-freeze| protocol.pml | counterexample | full  | -DFILL_BEFORE_FREEZE
retire-before-unpublish | protocol.pml | counterexample | full  | -DRETIRE_BEFORE_UNPUBLISH
no-forward        | protocol.pml | counterexample | full  | -DNO_FORWARD
relaxed-switch    | protocol.pml | counterexample | full  | -DRELAXED_SWITCH
relaxed-switch-slots | protocol.pml | counterexample | full | -DRELAXED_SWITCH -DNO_HEADER_CHECK
relaxed-publish   | protocol.pml | counterexample | full  | -DRELAXED_PUBLISH
relaxed-fill      | protocol.pml | counterexample | full  | -DRELAXED_FILL
freeze-no-release | protocol.pml | counterexample | full  | -DFREEZE_NO_RELEASE
freeze-no-acquire | protocol.pml | counterexample | full  | -DFREEZE_NO_ACQUIRE
relaxed-cur-load  | protocol.pml | counterexample | full  | -DRELAXED_CUR_LOAD
relaxed-slot-load | protocol.pml | counterexample | full  | -DRELAXED_SLOT_LOAD
relaxed-next      | protocol.pml | verify         | full  | -DNMIG=1 -DRELAXED_NEXT
relaxed-next-load | protocol.pml | verify         | full  | -DNMIG=1 -DRELAXED_NEXT_LOAD
# The traversal across a grow and a shrink (traversal.pml): the scan
# cursor cut after every entry, then rcumap_iter_next; and their controls.
traversal-scan    | traversal.pml | verify         | both  |
traversal-iter    | traversal.pml | verify         | both  | -DITER
trav-no-forward   | traversal.pml | counterexample | both  | -DTRAV_NO_FORWARD
trav-slot-index   | traversal.pml | counterexample | both  | -DTRAV_SLOT_INDEX
trav-no-filter    | traversal.pml | counterexample | both  | -DTRAV_NO_FILTER
trav-no-clamp     | traversal.pml | counterexample | both  | -DTRAV_NO_CLAMP
'

pass=0
fail=0
n=0
printf '%-24s %-7s %-14s %10s %11s %6s %8s  %s\n' \
	configuration tier expected states transitions depth seconds result

# A failed assertion of either model in words (README.md, "Assertions").
describe() {
	case $1 in
	*'val[j]=='*) echo "final contents differ from the ghost: lost update" ;;
	*'cnt[j]=='*) echo "a key not in exactly one record" ;;
	*bfreed*) echo "bucket read after its free" ;;
	*tfreed*) echo "table read after its free" ;;
	*'tbv[me]&(1<<(16+'*) echo "table header read uninitialised" ;;
	*'tbv[me]&'*) echo "bucket contents read uninitialised" ;;
	*'violated okh'*) echo "value not current at any instant of the call" ;;
	*'nt!=3'*) echo "forwarding mark seen, next not" ;;
	*'fz!=0'*) echo "unfilled slot in cur" ;;
	*'sv!=0'*) echo "update met an unfilled slot" ;;
	*'==cv'*) echo "CAS succeeded on a stale decision" ;;
	*'(in==(snap&rng))'*) echo "a traversal step missed or added a key of its range" ;;
	*'(cnt[k]<=1)'*|*'(cnt[1]<=1)'*) echo "a traversal returned a key twice" ;;
	*'(cnt[KA]==1)'*|*'(cnt[0]==1)'*) echo "a stable key not returned exactly once" ;;
	*) echo "$1" ;;
	esac
}

# One configuration: $1 name, $2 file, $3 expect, $4 tier, $5 spin flags.
run_one() {
	name=$1 file=$2 expect=$3 tier=$4 flags=$5
	n=$((n + 1))
	dir="$work/$n-$name"
	mkdir -p "$dir"
	cp "$here/$file" "$dir/$file"
	why=
	# Building pan.c takes longer than most searches: optimise only the
	# long ones (-O0 builds in 4 s, -O2 in 18 s and searches twice as fast).
	opt=-O0
	[ "$expect,$tier" = verify,full ] && opt=-O2
	# shellcheck disable=SC2086  # flags are words
	if ! (cd "$dir" && "$SPIN" $flags -a "$file" >spin.out 2>&1); then
		why="spin failed: $(head -n 1 "$dir/spin.out")"
	elif ! (cd "$dir" && "$CC" "$opt" -w -DSAFETY -DCOLLAPSE -DVECTORSZ=2048 \
			-DMEMLIM="$memlim" -o pan pan.c >cc.out 2>&1); then
		why="cc failed: $(head -n 1 "$dir/cc.out")"
	else
		(cd "$dir" && ./pan -m"$depth" -w24 >pan.out 2>&1)
	fi
	out="$dir/pan.out"
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$out" 2>/dev/null | head -n 1)
	states=$(sed -n 's/^ *\([0-9e.+]*\) states, stored.*/\1/p' "$out" 2>/dev/null | head -n 1)
	trans=$(sed -n 's/^ *\([0-9e.+]*\) transitions.*/\1/p' "$out" 2>/dev/null | head -n 1)
	dreach=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$out" 2>/dev/null | head -n 1)
	secs=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\) seconds.*/\1/p' "$out" 2>/dev/null | head -n 1)
	what=$(sed -n 's/^pan:[0-9]*: \(.*\) (at depth.*/\1/p' "$out" 2>/dev/null | head -n 1)
	if [ -z "$why" ]; then
		if [ -z "$errors" ]; then
			why="no result from pan: $(head -n 1 "$out")"
		elif [ "$expect" = verify ]; then
			if [ "$errors" != 0 ]; then
				why="unexpected error: $(describe "$what")"
			elif grep -q 'max search depth too small' "$out"; then
				why="depth limit $depth reached"
			elif grep -q -e 'MEMLIM bound' -e 'out of memory' "$out"; then
				why="memory limit ${memlim} MiB reached"
			elif grep -q 'Search not completed' "$out"; then
				why="search not completed"
			fi
		elif [ "$errors" = 0 ]; then
			why="no counterexample"
		elif case $what in *'(mcnt['*'<'*|*'(nbkt<'*|*'(ntab<'*|*'out of range'*|'') true ;; *) false ;; esac; then
			why="not a protocol error (a model bound or pan): ${what:-$(grep -m 1 -e error -e pan: "$out")}"
		elif ! ls "$dir"/*.trail >/dev/null 2>&1; then
			why="error but no trail"
		fi
	fi
	if [ -z "$why" ]; then
		result=PASS
		pass=$((pass + 1))
	else
		result=FAIL
		fail=$((fail + 1))
	fi
	printf '%-24s %-7s %-14s %10s %11s %6s %8s  %s' "$name" "$tier" "$expect" \
		"${states:--}" "${trans:--}" "${dreach:--}" "${secs:--}" "$result"
	[ -n "$what" ] && [ "$expect" = counterexample ] &&
		printf ' (%s)' "$(describe "$what")"
	[ -n "$why" ] && printf ': %s' "$why"
	printf '\n'
}

rows=$(printf '%s\n' "$table" | sed -e '/^[[:space:]]*$/d' -e '/^[[:space:]]*#/d')
while IFS='|' read -r name file expect tier flags; do
	name=$(echo $name) file=$(echo $file) expect=$(echo $expect)
	tier=$(echo $tier) flags=$(echo $flags)
	case $quick,$tier in
	1,full) continue ;;  # --quick: the quick and both rows; else every row
	esac
	run_one "$name" "$file" "$expect" "$tier" "$flags"
done <<EOF
$rows
EOF

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
