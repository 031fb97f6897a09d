#!/bin/sh
# SPDX-License-Identifier: MIT
# readme_sync.sh: check that the docs show their compiled examples as they are:
# README.md shows examples/readme_example.c, docs/iteration.md shows
# examples/scan_delete.c.
#
#   readme_sync.sh           compare (run by make check; exit 0 when all equal)
#   readme_sync.sh --update  rewrite the blocks from the files
#                            (make update-readme)
#
# A block is the fenced code between the marker lines
# "<!-- BEGIN examples/NAME.c -->" and "<!-- END examples/NAME.c -->", which
# must each stand alone on a line. The examples are compiled by 'make' (and
# run by make check), so the docs can rot neither in text nor in behaviour.

set -eu

srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
mode=${1:-check}
failed=0

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rcumap-readme.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

fail() {
	echo "readme_sync.sh: FAIL: $*" >&2
	failed=1
}

# sync DOC EXAMPLE: compare (or, with --update, rewrite) one block.
sync() {
	doc=$srcdir/$1
	example=$srcdir/$2
	begin="<!-- BEGIN $2 -->"
	end="<!-- END $2 -->"

	test -f "$doc" || { fail "$1 is missing"; return; }
	test -f "$example" || { fail "$2 is missing"; return; }
	test "$(grep -c -x -F "$begin" "$doc")" -eq 1 || { fail "$1 needs exactly one line: $begin"; return; }
	test "$(grep -c -x -F "$end" "$doc")" -eq 1 || { fail "$1 needs exactly one line: $end"; return; }

	# What the block must contain.
	{
		echo '```c'
		cat "$example"
		echo '```'
	} >"$tmp/want"

	if test "$mode" = --update; then
		awk -v b="$begin" -v e="$end" -v want="$tmp/want" '
			$0 == e { inside = 0 }
			!inside { print }
			$0 == b {
				inside = 1
				while ((getline line < want) > 0) print line
			}
		' "$doc" >"$tmp/doc"
		if cmp -s "$tmp/doc" "$doc"; then
			echo "readme_sync.sh: $1 already up to date"
		else
			cat "$tmp/doc" >"$doc"
			echo "readme_sync.sh: $1 updated from $2"
		fi
		return
	fi

	# What it contains now.
	awk -v b="$begin" -v e="$end" '
		$0 == e { inside = 0 }
		inside { print }
		$0 == b { inside = 1 }
	' "$doc" >"$tmp/have"
	if cmp -s "$tmp/want" "$tmp/have"; then
		echo "readme_sync.sh: PASS: $1 shows $2 verbatim"
	else
		diff -u "$tmp/have" "$tmp/want" | sed 's/^/    /' >&2 || true
		fail "$1 does not show $2 as it is; run 'make update-readme'"
	fi
}

sync README.md examples/readme_example.c
sync docs/iteration.md examples/scan_delete.c
test "$failed" -eq 0
