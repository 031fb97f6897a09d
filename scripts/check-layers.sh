#!/bin/sh
# SPDX-License-Identifier: MIT
# check-layers.sh: make check's run of scripts/lib-layers.py (every include
# and call between lib/ files points down the table of docs/design.md, "Map
# of the code"), then its negative control: the same check on copies of the
# tree with one upward call and one upward include added must fail, naming
# them. Exit 0 when all three come out as expected.
: "${abs_top_srcdir:?run through make check}"
PYTHON=${PYTHON:-python3}
CC=${CC:-cc}
export CC
check="$abs_top_srcdir/scripts/lib-layers.py"
rc=0

echo "== the tree"
"$PYTHON" "$check" --print "$abs_top_srcdir" || rc=1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rcumap-layers.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
copy() {
	rm -rf "$tmp/t" && mkdir -p "$tmp/t/docs" &&
		cp -RL "$abs_top_srcdir/lib" "$abs_top_srcdir/include" "$tmp/t/" &&
		cp "$abs_top_srcdir/docs/design.md" "$tmp/t/docs/"
}
# expect_fail NAME PATTERN: the check on $tmp/t must fail and print PATTERN.
expect_fail() {
	out=$("$PYTHON" "$check" "$tmp/t" 2>&1)
	st=$?
	if test "$st" -eq 1 && printf '%s\n' "$out" | grep -q "$2"; then
		echo "negative control $1: failed as it must: $(printf '%s\n' "$out" | grep "$2")"
	else
		echo "negative control $1: FAIL: expected exit 1 naming '$2', got $st:" >&2
		printf '%s\n' "$out" >&2
		rc=1
	fi
}

echo "== negative control: stats.c calls up into resize.c"
copy || exit 1
cat >>"$tmp/t/lib/stats.c" <<'EOC'

void rcumap__layers_upward(struct rcumap *map);
void rcumap__layers_upward(struct rcumap *map)
{
	rcumap__maybe_resize(map);
}
EOC
expect_fail call 'lib/stats.c (level [0-9]*) calls lib/resize.c'

echo "== negative control: debug.h includes hash.h"
copy || exit 1
sed 's|#include <stdlib.h>|#include <stdlib.h>\n#include "hash.h"|' \
	"$abs_top_srcdir/lib/debug.h" >"$tmp/t/lib/debug.h"
expect_fail include 'lib/debug.h (level [0-9]*) includes lib/hash.h'

exit $rc
