#!/bin/sh
# SPDX-License-Identifier: MIT
# check-cross.sh: cross-build rcumap for another architecture and run its
# tests there under qemu-user (make check-aarch64, make check-32bit,
# make check-cross; docs/testing.md).
#
# Usage: scripts/check-cross.sh [--build | --run] TARGET...
#   TARGET  aarch64  64-bit Arm (qemu-aarch64)
#           armhf    32-bit Arm (qemu-arm), where the slot filter is compiled
#                    out
#           On each: the unit tests of every flavor, a short torture tier of
#           every flavor (CROSS_TORTURE=no leaves it out: about 2 minutes
#           less per target), the installed library through pkg-config.
#   --build configure and build only; --run: run what an earlier --build
#           built (default: both)
#
# The cross tree is $abs_top_builddir/cross/TARGET, configured once with
# --host and --disable-shared: every program links librcumap statically, so
# no libtool wrapper script stands between qemu and the binary. It is
# configured from the source tree or, when ./configure ran in the source tree
# itself (which forbids other build trees of it), from a copy in cross/src
# that "make distdir" refreshes on each build (timestamps kept, so rebuilds
# stay incremental). Programs run
# under "qemu-ARCH -L /", which loads the target's multiarch libc6 from
# Debian (the one liburcu was built against; the cross toolchain's own libc
# under /usr/TRIPLET is older and does not mix with it).
#
# Environment: abs_top_srcdir, abs_top_builddir (set by make; default: this
# source tree), MAKE, CROSS_JOBS (make's -j for the build, default -j2),
# CROSS_TIMEOUT (seconds per program, default 600), CROSS_TORTURE_SECS
# (seconds per torture scenario, default 2), CROSS_TORTURE (default yes; no
# leaves the torture tier out).
#
# Exit status: 0 when everything passed, 1 otherwise. The last line is
# "N passed, N failed": TAP test points of the unit tests plus one per
# other check (probe, program, torture run, install check).

set -u

me=check-cross
srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${abs_top_builddir:-$srcdir}
: "${MAKE:=make}"
: "${CROSS_JOBS:=-j2}"
: "${CROSS_TIMEOUT:=600}"
: "${CROSS_TORTURE_SECS:=2}"

usage() {
	echo "usage: $0 [--build | --run] aarch64|armhf..." >&2
	exit 2
}

step=all
case ${1:-} in
--build) step=build; shift ;;
--run) step=run; shift ;;
-*) usage ;;
esac
test $# -gt 0 || usage

passed=0
failed=0
skipped=0
pass() { passed=$((passed + 1)); echo "$me: PASS: $*"; }
fail() { failed=$((failed + 1)); echo "$me: FAIL: $*"; }

finish() {
	test "$skipped" -eq 0 || echo "$me: $skipped test points skipped (listed above)"
	echo "$passed passed, $failed failed"
	test "$failed" -eq 0
	exit $?
}

# A sub-make of ours must not inherit the calling make's state (jobserver,
# command-line variables meant for the native tree).
unset MAKEFLAGS MFLAGS MAKELEVEL

# setup TARGET: the target's names, and whether its toolchain is there.
# triplet: the GNU host; multiarch: Debian's library directory; qemu: the
# emulator; arch: dpkg's name; filter: SLOT_FILTER_OK expected on the target.
setup() {
	target=$1
	case $target in
	aarch64)
		triplet=aarch64-linux-gnu arch=arm64 qemu=qemu-aarch64 filter=1
		filter_is="compiled in" ;;
	armhf)
		triplet=arm-linux-gnueabihf arch=armhf qemu=qemu-arm filter=0
		filter_is="compiled out" ;;
	*)
		usage ;;
	esac
	case ${CROSS_TORTURE:-yes} in
	yes | '') torture=yes ;;
	no) torture=no ;;
	*) usage ;;
	esac
	multiarch=/usr/lib/$triplet
	tree=$builddir/cross/$target
	logs=$tree/logs

	missing=
	if command -v "$triplet-gcc" >/dev/null 2>&1; then
		# The cross compiler's own C library (start files, libc.so).
		case $("$triplet-gcc" -print-file-name=Scrt1.o) in
		/*) ;;
		*) missing="$missing $triplet-gcc's C library (Scrt1.o)" ;;
		esac
	else
		missing="$missing $triplet-gcc"
	fi
	command -v "$qemu" >/dev/null 2>&1 || missing="$missing $qemu (qemu-user)"
	for f in liburcu-common.so liburcu-memb.so liburcu-qsbr.so liburcu-bp.so \
		liburcu-cds.so pkgconfig/cmocka.pc libc.so.6; do
		test -e "$multiarch/$f" || missing="$missing $multiarch/$f"
	done
	if test -n "$missing"; then
		echo "$me: $target: missing:$missing" >&2
		echo "$me: install the cross toolchain and the $arch libraries with ./scripts/bootstrap-cross.sh, then re-run" >&2
		exit 1
	fi

	# Programs run on the target: the unit tests, the torture flavors,
	# one example that checks itself.
	PROGRAMS="librcumap.la examples/scan_delete"
	PROGRAMS="$PROGRAMS $UNIT_TESTS"
	if test "$torture" = yes; then
		PROGRAMS="$PROGRAMS torture/torture_memb torture/torture_qsbr torture/torture_bp"
	fi
}

UNIT_TESTS="tests/test_map_memb tests/test_map_qsbr tests/test_map_bp tests/test_iter_memb
tests/test_iter_qsbr tests/test_iter_bp tests/test_iter_debug tests/test_hash tests/test_siphash
torture/test_lincheck"

# --- build -------------------------------------------------------------------
# sources: the source tree to configure from (see the top of this file).
src=
sources() {
	test -z "$src" || return 0
	if test -f "$srcdir/config.status"; then
		src=$builddir/cross/src
		echo "$me: the source tree is configured in place: copying it to $src (make distdir)"
		mkdir -p "$builddir/cross" || exit 1
		if ! $MAKE -C "$builddir" distdir distdir="$src" >"$builddir/cross/distdir.log" 2>&1; then
			tail -n 20 "$builddir/cross/distdir.log"
			fail "make distdir (log: $builddir/cross/distdir.log)"
			finish
		fi
	else
		src=$srcdir
	fi
}

# build: configure (once) and build the cross tree; the slot-filter probe.
build() {
	mkdir -p "$tree" || exit 1
	start=$(date +%s)
	sources
	if test ! -f "$tree/Makefile"; then
		echo "$me: $target: configuring $tree for $triplet"
		# pkg-config reads only the target's .pc files.
		(cd "$tree" && "$src/configure" --host="$triplet" --disable-shared \
			--without-bench-peers PKG_CONFIG=pkg-config \
			PKG_CONFIG_LIBDIR="$multiarch/pkgconfig:/usr/share/pkgconfig" \
			>configure.log 2>&1) || {
			tail -n 30 "$tree/configure.log"
			fail "$target: configure for $triplet (log: $tree/configure.log)"
			finish
		}
	fi
	echo "$me: $target: building in $tree"
	# shellcheck disable=SC2086 # word lists
	if ! $MAKE -C "$tree" $CROSS_JOBS $PROGRAMS >"$tree/build.log" 2>&1; then
		grep -E 'error|Error' "$tree/build.log" | head -n 30
		fail "$target: build for $triplet (log: $tree/build.log)"
		finish
	fi
	echo "$me: $target: configure and build: $(($(date +%s) - start)) s"

	# The slot filter lives in bits 48-63 of a slot word: compiled in on
	# 64-bit targets, out on 32-bit ones (docs/design.md, section 1).
	probe=$tree/slot-filter-probe.c
	printf '%s\n' '#include "internal.h"' "#if SLOT_FILTER_OK != $filter" \
		"#error SLOT_FILTER_OK is not $filter on $triplet" '#endif' >"$probe"
	if "$triplet-gcc" -fsyntax-only -I"$tree" -I"$srcdir/include" -I"$srcdir/lib" \
		"$probe" >"$tree/slot-filter-probe.log" 2>&1; then
		pass "$target: the slot filter is $filter_is"
	else
		cat "$tree/slot-filter-probe.log"
		fail "$target: the slot filter should be $filter_is"
	fi
}

# --- run -----------------------------------------------------------------------
on_target() {
	timeout --kill-after=10 "$CROSS_TIMEOUT" "$qemu" -L / "$@"
}

# unit PATH [VAR=VALUE...]: one TAP program (PATH in the build tree): every
# test point counts.
unit() {
	name=${1##*/}
	prog=$tree/$1
	shift
	log=$logs/$name.log
	start=$(date +%s)
	(export CMOCKA_MESSAGE_OUTPUT=TAP "$@"; on_target "$prog") >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	# cmocka 1.1.5 prints a skip as "not ok N # SKIP": neither way.
	skip=$(grep -Ec '^(not )?ok [0-9]+ # SKIP' "$log")
	ok=$(grep -E '^ok ' "$log" | grep -Evc '^ok [0-9]+ # SKIP')
	bad=$(grep -E '^not ok ' "$log" | grep -Evc '^not ok [0-9]+ # SKIP')
	passed=$((passed + ok))
	failed=$((failed + bad))
	skipped=$((skipped + skip))
	if test "$skip" -gt 0; then
		skip=", $skip skipped: $(grep -E '^(not )?ok [0-9]+ # SKIP' "$log" |
			sed 's/.*# SKIP *//' | tr '\n' ' ' | sed 's/ $//')"
	else
		skip=
	fi
	if test "$bad" -gt 0; then
		grep -B 3 '^not ok ' "$log" | grep -v '# SKIP' | cut -c1-300 | sed 's/^/    /'
		echo "$me: FAIL: $target: $name: $ok passed, $bad failed$skip ($secs s; log: $log)"
	elif test "$rc" -ne 0 || test "$ok" -eq 0; then
		tail -n 20 "$log" | sed 's/^/    /'
		fail "$target: $name exited $rc after $ok test points ($secs s; log: $log)"
	else
		echo "$me: PASS: $target: $name: $ok passed$skip ($secs s)"
	fi
}

# program NAME LOG PROG ARGS...: a program that must exit 0.
program() {
	name=$1
	log=$2
	shift 2
	start=$(date +%s)
	on_target "$@" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	if test "$rc" -eq 0; then
		pass "$target: $name ($secs s)"
	else
		tail -n 20 "$log" | sed 's/^/    /'
		fail "$target: $name exited $rc after $secs s (log: $log)"
	fi
}

# installed: install into a staging root, then build the README example
# with the flags the installed rcumap.pc gives, and run it.
installed() {
	root=$tree/staging
	rm -rf "$root"
	$MAKE -C "$tree" install-libLTLIBRARIES install-includeHEADERS \
		install-pkgconfigDATA DESTDIR="$root" || return 1
	pc=$(find "$root" -name rcumap.pc -type f)
	test -n "$pc" || { echo "no rcumap.pc was installed"; return 1; }
	flags=$(PKG_CONFIG_LIBDIR=$(dirname "$pc") PKG_CONFIG_PATH='' \
		PKG_CONFIG_SYSROOT_DIR=$root pkg-config --cflags --libs --static rcumap) ||
		return 1
	echo "installed rcumap.pc: $flags"
	# shellcheck disable=SC2086 # flags is a word list
	"$triplet-gcc" -o "$tree/readme_example_installed" \
		"$srcdir/examples/readme_example.c" $flags -lurcu-memb -lurcu-common || return 1
	on_target "$tree/readme_example_installed" || return 1
}

# What qemu-user cannot emulate, left out by name:
# - qemu ignores a guest's setrlimit(RLIMIT_AS) (it would limit qemu
#   itself), so the kernel never refuses the table that test asks for;
# - qemu 7.2 aborts in a forked child of a threaded program as soon as the
#   child creates a thread ("qemu_plugin_vcpu_init_hook: assertion failed"),
#   and call_rcu_after_fork_child does: the misuse test's children die
#   before they can abort the expected way. tests/test_iter_debug_qsbr is
#   that test alone, so it does not run at all.
MAP_SKIP=default_allocator_resize_returns_enomem_when_the_kernel_refuses_the_table
ITER_SKIP=debug_build_aborts_on_iterator_misuse_with_a_message_naming_it

run() {
	for p in $PROGRAMS; do
		case $p in *.la) continue ;; esac
		if test ! -x "$tree/$p"; then
			fail "$target: $tree/$p was not built: run $0 --build $target first"
			return
		fi
	done
	mkdir -p "$logs" || exit 1
	echo "$me: $target: unit tests under $qemu -L / (left out: $MAP_SKIP; $ITER_SKIP)"
	for t in $UNIT_TESTS; do
		case $t in
		tests/test_map_*) unit "$t" RCUMAP_TEST_MAP_SKIP="$MAP_SKIP" ;;
		tests/test_iter_*) unit "$t" RCUMAP_TEST_ITER_SKIP="$ITER_SKIP" ;;
		*) unit "$t" ;;
		esac
	done
	program "scan_delete" "$logs/scan_delete.log" "$tree/examples/scan_delete"

	# The quick tier's scenarios, CROSS_TORTURE_SECS each (plus the
	# flood's fixed work), validate included. Emulation slows reclamation
	# (the flood's lag p99 reached about 8 s against the native 10 s
	# bound): 30 s here.
	if test "$torture" = yes; then
		for f in memb qsbr bp; do
			program "torture quick tier, $f, $CROSS_TORTURE_SECS s per scenario" \
				"$logs/torture_$f.log" "$tree/torture/torture_$f" --scenario quick \
				--duration "$CROSS_TORTURE_SECS" --max-lag-ms 30000 -q
		done
	fi

	start=$(date +%s)
	if installed >"$logs/install.log" 2>&1 && grep -q '^two -> dos$' "$logs/install.log"; then
		pass "$target: the installed library, through pkg-config, runs the README example ($(($(date +%s) - start)) s)"
	else
		tail -n 20 "$logs/install.log" | sed 's/^/    /'
		fail "$target: install and pkg-config check (log: $logs/install.log)"
	fi
}

# --- main ----------------------------------------------------------------------
for t in "$@"; do
	setup "$t"
done
for t in "$@"; do
	setup "$t"
	test "$step" = run || build
	test "$step" = build || run
done
finish
