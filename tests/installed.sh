#!/bin/sh
# SPDX-License-Identifier: MIT
# installed.sh: install into a staging directory and build the README example
# against the installed files, using only the flags pkg-config gives for the
# installed rcumap.pc plus one liburcu flavor (the line shown in README.md);
# check the installed manual pages and license; then install again with the
# GNU convention "make prefix=DIR install" and build the example from that
# rcumap.pc, which must name DIR.
#
# Run by make check (automake exit-code protocol: 0 pass, anything else fail).
# Environment, set by Makefile.am: MAKE, CC, PKG_CONFIG, abs_top_srcdir,
# abs_top_builddir, PACKAGE_VERSION.
#
# Why DESTDIR plus PKG_CONFIG_SYSROOT_DIR: the .pc file keeps the configured
# prefix, exactly as a real installation does; the sysroot maps its -I and -L
# onto the staging directory, so the installed rcumap.pc itself must resolve.

set -eu

srcdir=${abs_top_srcdir:?run through make check}
builddir=${abs_top_builddir:?run through make check}
: "${MAKE:=make}"
: "${CC:=cc}"
: "${PKG_CONFIG:=pkg-config}"

fail() {
	echo "installed.sh: FAIL: $*" >&2
	exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rcumap-installed.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
root=$tmp/root

# 1. make install into the staging root. The sub-make must not inherit the
# test harness's make state (jobserver descriptors, command-line variables).
echo "installed.sh: make install DESTDIR=$root"
(
	unset MAKEFLAGS MFLAGS MAKELEVEL
	cd "$builddir" && $MAKE install DESTDIR="$root"
) >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "make install"; }

# 2. The installed rcumap.pc must be found and resolve into the staging root.
pc=$(find "$root" -name rcumap.pc -type f)
test -n "$pc" || fail "no rcumap.pc was installed"
test "$(echo "$pc" | wc -l)" -eq 1 || fail "more than one rcumap.pc installed: $pc"
pcdir=$(dirname "$pc")
# Only the staging directory is searched: a system-wide rcumap.pc cannot
# stand in for ours.
PKG_CONFIG_LIBDIR=$pcdir
PKG_CONFIG_PATH=
PKG_CONFIG_SYSROOT_DIR=$root
# Keep -I/usr/include-style flags even if the prefix is /usr.
PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1
PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
export PKG_CONFIG_LIBDIR PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR \
	PKG_CONFIG_ALLOW_SYSTEM_CFLAGS PKG_CONFIG_ALLOW_SYSTEM_LIBS

version=$($PKG_CONFIG --modversion rcumap) || fail "pkg-config cannot read $pc"
test "$version" = "${PACKAGE_VERSION:-$version}" ||
	fail "rcumap.pc says version $version, the package is $PACKAGE_VERSION"
# pc_flags DIR WHAT: set flags (pkg-config --cflags --libs rcumap) and libdir,
# and fail unless both point into DIR and the shared library is there.
pc_flags() {
	flags=$($PKG_CONFIG --cflags --libs rcumap) || fail "$2pkg-config --cflags --libs rcumap"
	echo "installed.sh: $2pkg-config --cflags --libs rcumap: $flags"
	case " $flags " in
	*" -I$1/"*) ;;
	*) fail "$2--cflags does not point into $1: $flags" ;;
	esac
	libdir=
	for f in $($PKG_CONFIG --libs-only-L rcumap); do
		case $f in -L"$1"/*) libdir=${f#-L} ;; esac
	done
	test -n "$libdir" || fail "$2--libs does not point into $1: $flags"
	test -f "$libdir/librcumap.so" || fail "$2shared library missing in $libdir"
}
pc_flags "$root" ""
test -f "$libdir/librcumap.a" || fail "static library missing in $libdir"

# 3. The installed shared library exports exactly the functions declared in
# the installed header (declarations, not comments), and links no liburcu
# library: the application picks the flavor.
header=$(find "$root" -name rcumap.h -type f)
test -f "$header" || fail "rcumap.h was not installed"
grep -v -E '^[[:space:]]*(/?\*|#)' "$header" |
	grep -o -E '\brcumap_[a-z0-9_]+[[:space:]]*\(' | tr -d '( \t' | sort -u >"$tmp/declared"
nm -D --defined-only "$libdir/librcumap.so" | awk 'NF == 3 { print $3 }' |
	sort -u >"$tmp/exported"
test -s "$tmp/declared" || fail "found no function declaration in $header"
if ! cmp -s "$tmp/declared" "$tmp/exported"; then
	diff "$tmp/declared" "$tmp/exported" | sed 's/^/    /' >&2 || true
	fail "librcumap.so exports differ from rcumap.h ('<' declared only, '>' exported only)"
fi
urcu=$(objdump -p "$libdir/librcumap.so" | awk '$1 == "NEEDED" && $2 ~ /urcu/ { print $2 }')
test -z "$urcu" || fail "librcumap.so links liburcu itself ($urcu); the user must choose the flavor"

# 4. The manual pages: rcumap(3) and one page for every function the header
# declares, each link page (.so man3/PAGE.3) leading to an installed page;
# exactly the pages of man/ (the lint fixture negative-lint.3 is not one of
# them). The license goes beside the documentation.
man3=$(find "$root" -type d -name man3)
if test -z "$man3" || test "$(echo "$man3" | wc -l)" -ne 1; then
	fail "expected one installed man3 directory, found: ${man3:-none}"
fi
test -f "$man3/rcumap.3" || fail "rcumap.3 was not installed in $man3"
while read -r fn; do
	test -f "$man3/$fn.3" || fail "$fn is declared in rcumap.h but has no installed page $fn.3"
done <"$tmp/declared"
for page in "$man3"/*.3; do
	target=$(sed -n 's/^\.so[[:space:]]\{1,\}man3\///p' "$page")
	test -z "$target" || test -f "$man3/$target" ||
		fail "$(basename "$page") sources man3/$target, which was not installed"
done
(cd "$man3" && ls -- *.3) | sort >"$tmp/man-installed"
(cd "$srcdir/man" && ls -- *.3) | grep -v -x -F negative-lint.3 | sort >"$tmp/man-source"
if ! cmp -s "$tmp/man-source" "$tmp/man-installed"; then
	diff "$tmp/man-source" "$tmp/man-installed" | sed 's/^/    /' >&2 || true
	fail "installed man3 pages differ from man/ ('<' not installed, '>' installed only)"
fi
echo "installed.sh: $(wc -l <"$tmp/man-installed") man3 pages, every declared function has one"
license=$(find "$root" -path '*/doc/*' -name LICENSE -type f)
test -n "$license" || fail "LICENSE was not installed with the documentation"
cmp -s "$license" "$srcdir/LICENSE" || fail "the installed $license differs from LICENSE"

# 5. The README line: cc app.c $(pkg-config --cflags --libs rcumap) -lurcu-memb
example=$srcdir/examples/readme_example.c
test -f "$example" || fail "$example is missing"
echo "installed.sh: $CC readme_example.c \$(pkg-config --cflags --libs rcumap) -lurcu-memb"
# shellcheck disable=SC2086 # CC and flags are word lists on purpose
if ! $CC -o "$tmp/readme_example" "$example" $flags -lurcu-memb 2>"$tmp/cc.log"; then
	cat "$tmp/cc.log" >&2
	# shellcheck disable=SC2086
	if $CC -o "$tmp/readme_example" "$example" $flags -lurcu-memb -lurcu-common \
		>/dev/null 2>&1; then
		fail "the README line needs -lurcu-common on this system: update README.md"
	fi
	fail "the README example does not build against the installed library"
fi
cat "$tmp/cc.log"
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
# The program must run with the staged library, not one from the build tree
# or the system.
ldd "$tmp/readme_example" | grep -F "$libdir/librcumap.so" >/dev/null ||
	fail "readme_example does not load $libdir/librcumap.so"
"$tmp/readme_example" || fail "readme_example exited with status $?"

# 6. The static archive links on its own too (Libs.private: threads).
cflags=$($PKG_CONFIG --cflags rcumap)
private=$($PKG_CONFIG --static --libs-only-other rcumap)
# shellcheck disable=SC2086
$CC -o "$tmp/readme_example_static" "$example" $cflags \
	"$libdir/librcumap.a" -lurcu-memb $private ||
	fail "readme_example does not link against the installed librcumap.a"
"$tmp/readme_example_static" >/dev/null || fail "readme_example (static) exited with status $?"

# 7. make prefix=DIR install, without DESTDIR: rcumap.pc is written at make
# time, so the installed one must name DIR, and its flags alone (no sysroot)
# must build the README example against DIR. The build tree's rcumap.pc
# names DIR afterwards; the next make (below) writes it back.
prefix=$tmp/prefix
echo "installed.sh: make prefix=$prefix install"
(
	unset MAKEFLAGS MFLAGS MAKELEVEL
	cd "$builddir" && $MAKE prefix="$prefix" install
) >"$tmp/install-prefix.log" 2>&1 || { cat "$tmp/install-prefix.log"; fail "make prefix=DIR install"; }
(
	unset MAKEFLAGS MFLAGS MAKELEVEL
	cd "$builddir" && $MAKE rcumap.pc
) >"$tmp/restore.log" 2>&1 || { cat "$tmp/restore.log"; fail "make rcumap.pc (restoring the build tree's copy)"; }
pc=$(find "$prefix" -name rcumap.pc -type f)
test -n "$pc" || fail "make prefix=DIR install installed no rcumap.pc under DIR"
PKG_CONFIG_LIBDIR=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR=
export PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
pc_flags "$prefix" "prefix=DIR: "
# shellcheck disable=SC2086 # CC and flags are word lists on purpose
$CC -o "$tmp/readme_example_prefix" "$example" $flags -lurcu-memb ||
	fail "prefix=DIR: the README example does not build from DIR's rcumap.pc"
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
ldd "$tmp/readme_example_prefix" | grep -F "$libdir/librcumap.so" >/dev/null ||
	fail "prefix=DIR: readme_example does not load $libdir/librcumap.so"
"$tmp/readme_example_prefix" >/dev/null || fail "prefix=DIR: readme_example exited with status $?"

echo "installed.sh: PASS: installed headers, library, rcumap.pc (DESTDIR and prefix=DIR), man pages and license"
