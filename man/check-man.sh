#!/bin/sh
# SPDX-License-Identifier: MIT
# check-man.sh: the manual pages render without one complaint, the link
# pages lead where their names say, and the examples compile as shown.
#
# Usage: check-man.sh              every page of man/ and server/ (make check)
#        check-man.sh --negative   the negative control (make check): a broken
#                                  page, broken links and broken examples
#                                  must each fail
#        check-man.sh PAGE...      these pages only
#
# Run by make check (automake exit-code protocol: 0 pass, anything else
# fail). Environment, set by Makefile.am: abs_top_srcdir, abs_top_builddir,
# CC, LIBTOOL.
#
# Every page must pass:
#  - mandoc -T lint: no message at any level, style included;
#  - groff -man -ww -z (every warning on) at a terminal's width: no message;
#  - rendered by groff for an 80-column terminal, no line is wider (groff
#    does not warn about an example line that overflows);
#  - man -l with every warning on, where man-db is installed: nothing on
#    standard error.
# A link page holds the SPDX comment and one line ".so manN/PAGE.N", where
# PAGE.N is a page beside it whose NAME lists the link's name; it is rendered
# through that page. mandoc warns about every .so (".so is fragile, better
# use ln(1)"): for a link page that one message, naming its own target, is
# the only one allowed. Every name listed in a page's NAME has a page of its
# own, the page itself or a link to it, so each name is installed.
# Examples: every .EX block that starts with #include is compiled with
# -Wall -Wextra -Werror against include/rcumap.h; a block with main() is
# linked against the build tree's librcumap and the liburcu flavor its
# #include names, run, and must exit 0. Without CC and abs_top_builddir
# (outside make check, with PAGE arguments) the examples are not built.
#
# mandoc and groff are required, never skipped: scripts/bootstrap.sh
# installs them (Debian packages mandoc and groff-base).

set -eu

me=$0
fixture=negative-lint.3

fail() {
	echo "check-man: FAIL: $*" >&2
	exit 1
}

need_tools() {
	command -v mandoc >/dev/null 2>&1 ||
		fail "mandoc is not installed: install the Debian package mandoc (scripts/bootstrap.sh does)"
	command -v groff >/dev/null 2>&1 ||
		fail "groff is not installed: install the Debian package groff-base (scripts/bootstrap.sh does)"
}

# section PAGE: the manual section, from the file name (rcumap.3 -> 3).
section() {
	s=${1##*.}
	case $s in
	[1-9]) echo "$s" ;;
	*) return 1 ;;
	esac
}

# link_target PAGE: for a link page, its target "manN/NAME.N"; else nothing.
link_target() {
	grep -v '^\.\\"' "$1" | sed -n 's/^\.so[[:space:]]\{1,\}//p' | head -n 1
}

# names_of PAGE: the names a page's NAME section lists, one a line.
names_of() {
	awk '
	/^\.SH/ { in_name = ($2 == "NAME"); next }
	in_name && /^\./ { next }
	in_name {
		line = $0
		stop = index(line, " \\-")
		if (stop) line = substr(line, 1, stop - 1)
		gsub(/\\-/, "-", line)
		n = split(line, w, /[ ,]+/)
		for (i = 1; i <= n; i++) if (w[i] != "") print w[i]
		if (stop) exit
	}' "$1"
}

problems=0
complain() {
	echo "check-man: $*"
	problems=$((problems + 1))
}

# lint PAGE STAGE: checks one page; its directory's pages are copied to
# STAGE/manN/ so that .so requests resolve.
lint() {
	page=$1 stage=$2
	base=$(basename "$page")
	sec=$(section "$base") || { complain "$page: not named NAME.SECTION"; return; }
	rel=man$sec/$base
	target=$(link_target "$page")

	if test -n "$target"; then
		# A link page: two lines, the SPDX comment and the .so.
		if test "$(wc -l <"$page")" -ne 2; then
			complain "$page: a link page holds the SPDX comment and one .so line, nothing else"
		fi
		tpage=$(dirname "$page")/${target#man*/}
		if test ! -f "$tpage"; then
			complain "$page: .so $target: no such page beside it"
			return
		fi
		if test -n "$(link_target "$tpage")"; then
			complain "$page: .so $target, itself a link page"
		fi
		if ! names_of "$tpage" | grep -q -x -F "${base%.*}"; then
			complain "$page: $target does not list ${base%.*} in its NAME section"
		fi
	else
		# A page: each name in NAME has a page, this one or a link to it.
		names=$(names_of "$page")
		test -n "$names" || complain "$page: no name in its NAME section"
		for name in $names; do
			other=$(dirname "$page")/$name.$sec
			test "$name.$sec" = "$base" && continue
			if test ! -f "$other"; then
				complain "$page: lists $name in NAME, but $name.$sec is missing (add a link page: .so $rel)"
			elif test "$(link_target "$other")" != "$rel"; then
				complain "$page: lists $name in NAME, but $name.$sec is not a link to $rel"
			fi
		done
	fi

	out=$(cd "$stage" && mandoc -T lint "$rel" 2>&1) || true
	if test -n "$target"; then
		# The one message mandoc gives every .so, for this target alone.
		out=$(printf '%s\n' "$out" | grep -v -x -F \
			"mandoc: $rel:2:2: WARNING: .so is fragile, better use ln(1): so $target" || true)
	fi
	if test -n "$out"; then
		complain "$page: mandoc -T lint:"
		printf '%s\n' "$out" | sed 's/^/    /'
	fi

	out=$(cd "$stage" && groff -man -ww -z -Tutf8 "$rel" 2>&1) || true
	if test -n "$out"; then
		complain "$page: groff -man -ww:"
		printf '%s\n' "$out" | sed 's/^/    /'
	fi

	# Nothing wider than a terminal: no-fill text (the examples) is never
	# broken, and groff does not warn about it.
	out=$(cd "$stage" && groff -man -Tascii -P-cbou "$rel" 2>/dev/null |
		awk 'length > 80 { print "    line " NR ", " length " columns: " $0 }')
	if test -n "$out"; then
		complain "$page: wider than 80 columns:"
		printf '%s\n' "$out"
	fi

	if man --version >/dev/null 2>&1; then
		out=$(cd "$stage" && MANWIDTH=80 man --warnings=w -l "$rel" 2>&1 >/dev/null) || true
		if test -n "$out"; then
			complain "$page: man -l:"
			printf '%s\n' "$out" | sed 's/^/    /'
		fi
	fi
}

# examples PAGE WORK: compile (and run) the page's C examples.
examples() {
	page=$1 work=$2
	base=$(basename "$page")
	# One file per .EX block that starts with #include, unescaped. Roff
	# escapes other than \e \- \(aq \(dq \& would change the code: refused.
	awk -v dir="$work" -v base="$base" '
	/^\.EX/ { n++; in_ex = 1; first = 1; next }
	/^\.EE/ { if (keep) close(f); in_ex = 0; keep = 0; next }
	in_ex {
		if (first) {
			first = 0
			keep = ($0 ~ /^#include/)
			f = dir "/" base "-" n ".c"
		}
		if (!keep) next
		line = $0
		gsub(/\\e/, "\001", line)
		gsub(/\\-/, "-", line)
		gsub(/\\\(aq/, "\047", line)
		gsub(/\\\(dq/, "\"", line)
		gsub(/\\&/, "", line)
		if (index(line, "\\")) {
			print "check-man: " base ": unknown roff escape in an example: " $0 > "/dev/stderr"
			bad = 1
		}
		gsub(/\001/, "\\", line)
		print line > f
	}
	END { exit bad }' "$page" || { complain "$page: an example cannot be extracted"; return; }

	for src in "$work/$base"-*.c; do
		test -f "$src" || continue
		obj=${src%.c}.o
		# shellcheck disable=SC2086 # CC is a word list
		if ! $CC -std=gnu11 -Wall -Wextra -Werror -I"${abs_top_srcdir:?}/include" \
			-c -o "$obj" "$src" >"$work/cc.log" 2>&1; then
			complain "$page: an example does not compile:"
			sed 's/^/    /' "$work/cc.log"
			continue
		fi
		grep -q '^int main(' "$src" || continue
		flavor=-lurcu-memb
		grep -q '^#include <urcu-qsbr.h>' "$src" && flavor=-lurcu-qsbr
		grep -q '^#include <urcu-bp.h>' "$src" && flavor=-lurcu-bp
		prog=${src%.c}
		# shellcheck disable=SC2086 # LIBTOOL and CC are word lists
		if ! $LIBTOOL --mode=link --tag=CC $CC -o "$prog" "$obj" \
			"${abs_top_builddir:?}/librcumap.la" $flavor >"$work/ld.log" 2>&1; then
			complain "$page: an example does not link:"
			sed 's/^/    /' "$work/ld.log"
			continue
		fi
		if ! "$prog" >"$work/run.log" 2>&1; then
			complain "$page: an example exits non-zero:"
			sed 's/^/    /' "$work/run.log"
		fi
	done
}

# check PAGE...: every check on these pages; exits 0 when all pass.
check() {
	need_tools
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/rcumap-man.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT INT TERM
	build=no
	if test -n "${CC:-}" && test -n "${abs_top_builddir:-}" && test -n "${abs_top_srcdir:-}"; then
		: "${LIBTOOL:=$abs_top_builddir/libtool}"
		build=yes
	fi
	n=0
	staged=
	for page in "$@"; do
		test -f "$page" || fail "$page: no such page"
		n=$((n + 1))
		# One stage per directory and section, the pages copied once.
		sec=$(section "$page") || sec=0
		key="$(dirname "$page") $sec"
		if test "$key" != "$staged"; then
			staged=$key
			stage=$tmp/stage$n
			mkdir -p "$stage/man$sec"
			for p in "$(dirname "$page")"/*."$sec"; do
				cp "$p" "$stage/man$sec/"
			done
		fi
		lint "$page" "$stage"
		if test $build = yes; then
			mkdir -p "$tmp/ex$n"
			examples "$page" "$tmp/ex$n"
		fi
	done
	if test "$problems" -ne 0; then
		echo "check-man: FAIL: $problems problem(s) in $n page(s)"
		exit 1
	fi
	if test $build = yes; then
		echo "check-man: PASS: $n page(s) lint clean, links and examples checked"
	else
		echo "check-man: PASS: $n page(s) lint clean, links checked (examples not built: no CC or build tree)"
	fi
}

# ---------------------------------------------------------------------------
# The negative control: each broken input must fail, for its own reason.
negative() {
	need_tools
	srcdir=${abs_top_srcdir:?run through make check}
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/rcumap-man-neg.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT INT TERM
	failed=0

	# expect_failure WHAT PATTERN PAGE...: check-man.sh on PAGE... must
	# exit 1 and print a line matching the extended regex PATTERN.
	expect_failure() {
		what=$1 pattern=$2
		shift 2
		got=0
		sh "$me" "$@" >"$tmp/out" 2>&1 || got=$?
		if test "$got" -ne 1; then
			sed 's/^/    /' "$tmp/out"
			echo "check-man --negative: FAIL: $what: exit status $got, not 1"
			failed=1
		elif ! grep -q -E "$pattern" "$tmp/out"; then
			sed 's/^/    /' "$tmp/out"
			echo "check-man --negative: FAIL: $what: no line matches /$pattern/"
			failed=1
		else
			echo "check-man --negative: ok: $what"
		fi
	}

	# 1. The broken page of man/: each linter must catch it on its own.
	neg=$tmp/neg
	mkdir -p "$neg"
	cp "$srcdir/man/$fixture" "$neg/"
	expect_failure "mandoc -T lint catches $fixture" \
		"mandoc: man3/$fixture:[0-9]+:[0-9]+: ERROR: skipping unknown macro" "$neg/$fixture"
	expect_failure "groff -ww catches $fixture" \
		"troff: man3/$fixture:[0-9]+: warning: macro 'XX' not defined" "$neg/$fixture"
	expect_failure "the width check catches $fixture" \
		"$fixture: wider than 80 columns" "$neg/$fixture"

	# 2. A link to a page that does not exist, and one whose target does
	# not list it.
	printf '.\\" SPDX-License-Identifier: MIT\n.so man3/rcumap_no_such.3\n' >"$neg/rcumap_nolink.3"
	expect_failure "a link to a missing page" \
		"rcumap_nolink.3: .so man3/rcumap_no_such.3: no such page" "$neg/rcumap_nolink.3"
	rm -f "$neg/rcumap_nolink.3"
	lk=$tmp/link
	mkdir -p "$lk"
	cp "$srcdir/man/rcumap_scan.3" "$lk/"
	printf '.\\" SPDX-License-Identifier: MIT\n.so man3/rcumap_scan.3\n' >"$lk/rcumap_count.3"
	expect_failure "a link whose target does not name it" \
		"does not list rcumap_count in its NAME" "$lk/rcumap_count.3"

	# 3. A page whose example does not compile (needs the build tree).
	if test -z "${CC:-}" || test -z "${abs_top_builddir:-}"; then
		fail "CC and abs_top_builddir are needed: run through make check"
	fi
	ex=$tmp/ex
	mkdir -p "$ex"
	sed '/^\.EX/,/^\.EE/ s/rcumap_count(map)/rcumap_count(map, 0)/' \
		"$srcdir/man/rcumap.3" >"$ex/rcumap.3"
	cmp -s "$ex/rcumap.3" "$srcdir/man/rcumap.3" &&
		fail "could not break the example of rcumap.3 (no rcumap_count(map) in it?)"
	# Its link targets, so that only the example is wrong.
	for p in "$srcdir"/man/rcumap_*.3; do cp "$p" "$ex/"; done
	expect_failure "an example that does not compile" \
		"rcumap.3: an example does not compile" "$ex/rcumap.3"
	sed '/^\.EX/,/^\.EE/ s/rcumap_count(map) != 2/rcumap_count(map) != 3/' \
		"$srcdir/man/rcumap.3" >"$ex/rcumap.3"
	cmp -s "$ex/rcumap.3" "$srcdir/man/rcumap.3" &&
		fail "could not break the example of rcumap.3 (no rcumap_count(map) != 2 in it?)"
	expect_failure "an example that exits non-zero" \
		"rcumap.3: an example exits non-zero" "$ex/rcumap.3"

	test "$failed" -eq 0 || exit 1
	echo "check-man --negative: PASS: a broken page, broken links and broken examples each fail"
}

case ${1:-} in
--negative)
	negative
	;;
-*)
	echo "usage: check-man.sh [--negative | PAGE...]" >&2
	exit 2
	;;
'')
	srcdir=${abs_top_srcdir:?run through make check, or name the pages}
	set --
	for p in "$srcdir"/man/*.[1-9] "$srcdir"/server/*.[1-9]; do
		test -f "$p" || continue
		test "$(basename "$p")" = "$fixture" && continue
		set -- "$@" "$p"
	done
	test "$#" -gt 0 || fail "no manual page found in $srcdir/man"
	check "$@"
	;;
*)
	check "$@"
	;;
esac
