#!/bin/sh
# SPDX-License-Identifier: MIT
# bootstrap-cross.sh: installs what make check-cross needs (make check-aarch64
# and make check-32bit, docs/testing.md) on a Debian 12 amd64 machine. Optional;
# run it after ./scripts/bootstrap.sh, which installs the native toolchain.
#
# 1. Adds the foreign dpkg architectures arm64 and armhf, if they are missing.
# 2. Installs the packages that are missing (apt-get; sudo only when not root):
#    the cross compilers, qemu-user, and liburcu and cmocka for each target.
#
# Run it from anywhere: ./scripts/bootstrap-cross.sh. Running it again
# changes nothing and runs no apt-get when everything is present. It never
# edits the apt sources: Debian's sources serve every architecture.

set -eu

say() {
	printf '\n==> bootstrap-cross: %s\n' "$*"
}

die() {
	printf 'bootstrap-cross: error: %s\n' "$*" >&2
	exit 1
}

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	die "needs dpkg and apt-get (Debian 12); install by hand: cross compilers for aarch64-linux-gnu and arm-linux-gnueabihf, qemu-user, and liburcu and cmocka built for both targets"
fi

host_arch=$(dpkg --print-architecture)
if test "$host_arch" != amd64; then
	die "the cross checks are set up for an amd64 host, this one is $host_arch"
fi

# The targets' architectures: arm64 (aarch64, weakly ordered, 64-bit) and
# armhf (32-bit ARMv7, weakly ordered too). libc6 of each comes with
# liburcu, and is what qemu-user loads (qemu-aarch64 -L /).
foreign="arm64 armhf"
# Host packages (the cross compilers' C libraries are only recommended by
# them, hence named), then the targets' libraries.
packages="gcc-aarch64-linux-gnu libc6-dev-arm64-cross
gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user pkgconf
liburcu-dev:arm64 libcmocka-dev:arm64
liburcu-dev:armhf libcmocka-dev:armhf"

# shellcheck source=scripts/apt-missing.sh
. "$(dirname "$0")/apt-missing.sh"
apt_sudo

# --- 1. foreign architectures ----------------------------------------------
for a in $foreign; do
	if ! dpkg --print-foreign-architectures | grep -qx "$a"; then
		test "$sudo" != no || die "dpkg lacks architecture $a; not root and no sudo: run 'dpkg --add-architecture $a' as root, then re-run"
		say "dpkg --add-architecture $a"
		$sudo dpkg --add-architecture "$a"
	fi
done

# --- 2. packages ------------------------------------------------------------
# shellcheck disable=SC2086 # the package list is a word list
apt_install_missing cross $packages

say "done; next: make check-cross (or make check-aarch64, make check-32bit)"
