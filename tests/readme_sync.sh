#!/bin/sh
# readme_sync.sh: check that README.md shows examples/readme_example.c as it is.
#
#   readme_sync.sh           compare (run by make check; exit 0 when equal)
#   readme_sync.sh --update  rewrite the README block from the file
#                            (make update-readme)
#
# The block is the fenced code between the two marker lines below, which must
# each stand alone on a line in README.md. The example itself is compiled by
# 'make' and built and run against the installed library by installed.sh, so
# the README can rot neither in text nor in behaviour.

set -eu

srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
readme=$srcdir/README.md
example=$srcdir/examples/readme_example.c
begin='<!-- BEGIN examples/readme_example.c -->'
end='<!-- END examples/readme_example.c -->'

fail() {
	echo "readme_sync.sh: FAIL: $*" >&2
	exit 1
}

test -f "$readme" || fail "$readme is missing"
test -f "$example" || fail "$example is missing"
test "$(grep -c -x -F "$begin" "$readme")" -eq 1 || fail "README.md needs exactly one line: $begin"
test "$(grep -c -x -F "$end" "$readme")" -eq 1 || fail "README.md needs exactly one line: $end"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rcumap-readme.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# What the block must contain.
{
	echo '```c'
	cat "$example"
	echo '```'
} >"$tmp/want"

# What it contains now.
awk -v b="$begin" -v e="$end" '
	$0 == e { inside = 0 }
	inside { print }
	$0 == b { inside = 1 }
' "$readme" >"$tmp/have"

if test "${1:-}" = --update; then
	awk -v b="$begin" -v e="$end" -v want="$tmp/want" '
		$0 == e { inside = 0 }
		!inside { print }
		$0 == b {
			inside = 1
			while ((getline line < want) > 0) print line
		}
	' "$readme" >"$tmp/readme"
	if cmp -s "$tmp/readme" "$readme"; then
		echo "readme_sync.sh: README.md already up to date"
	else
		cat "$tmp/readme" >"$readme"
		echo "readme_sync.sh: README.md updated from examples/readme_example.c"
	fi
	exit 0
fi

if ! cmp -s "$tmp/want" "$tmp/have"; then
	diff -u "$tmp/have" "$tmp/want" | sed 's/^/    /' >&2 || true
	fail "README.md does not show examples/readme_example.c as it is; run 'make update-readme'"
fi
echo "readme_sync.sh: PASS: README.md shows examples/readme_example.c verbatim"
