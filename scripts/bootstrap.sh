#!/bin/sh
# SPDX-License-Identifier: MIT
# bootstrap.sh: from a fresh Debian 12 clone to a built tree, then run the
# main job.
#
# 1. Installs the packages that are missing (apt-get; sudo only when not root).
# 2. autoreconf -fi, ./configure, make -j2.
# 3. Runs the main job: the torture quick tier (make torture).
#
# Run it from the top of the source tree: ./scripts/bootstrap.sh
# Extra ./configure arguments: RCUMAP_CONFIGURE_FLAGS='--enable-Werror' ./scripts/bootstrap.sh

set -eu

cd "$(dirname "$0")/.."

say() {
	printf '\n==> bootstrap: %s\n' "$*"
}

die() {
	printf 'bootstrap: error: %s\n' "$*" >&2
	exit 1
}

# build-essential brings gcc, g++, make and the C library headers; spin
# checks the protocol's model (docs/testing.md); mandoc and groff-base lint
# the manual pages (man/check-man.sh fails without them). The third line is
# for make bench's peers and plots (docs/benchmarks.md); the last two are
# the real clients and peers rcumapd's tests drive (docs/server.md).
packages="build-essential autoconf automake libtool autoconf-archive pkgconf
liburcu-dev libcmocka-dev valgrind spin mandoc groff-base
libck-dev libtbb-dev golang-go gnuplot-nox
redis-server redis-tools memcached libmemcached-tools nutcracker
python3-redis python3-pymemcache"

# --- 1. packages ----------------------------------------------------------
# shellcheck source=scripts/apt-missing.sh
. ./scripts/apt-missing.sh
if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
	# shellcheck disable=SC2086 # the package list is a word list
	apt_install_missing required $packages
else
	say "no apt-get/dpkg here: not installing anything; make sure these are present:"
	# shellcheck disable=SC2086 # one line, words separated by spaces
	echo "   " $packages
fi

# --- 2. build ---------------------------------------------------------------
say "autoreconf -fi"
autoreconf -fi

say "./configure ${RCUMAP_CONFIGURE_FLAGS:-}"
# shellcheck disable=SC2086 # the flags are a word list
./configure ${RCUMAP_CONFIGURE_FLAGS:-}

say "make -j2"
make -j2

# --- 3. main job ------------------------------------------------------------
say "make torture (the main job: the torture suite's quick tier)"
make torture

say "done; next: make check"
