# SPDX-License-Identifier: MIT
# shellcheck shell=sh
# apt-missing.sh: sourced by bootstrap.sh and bootstrap-cross.sh. Installs
# the Debian packages of a list that are not installed yet, with apt-get,
# through sudo only when not root. The sourcing script defines say and die.

# apt_sudo: sets sudo to "" (root), "sudo", or "no" (neither).
apt_sudo() {
	if test "$(id -u)" -eq 0; then
		sudo=
	elif command -v sudo >/dev/null 2>&1; then
		sudo=sudo
	else
		sudo=no
	fi
}

# apt_install_missing WHAT PACKAGE...: installs the packages that dpkg does
# not list as installed; runs no apt-get when none is missing.
apt_install_missing() {
	what=$1
	shift
	missing=
	for p in "$@"; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		case $status in
		*" installed") ;;
		*) missing="$missing $p" ;;
		esac
	done
	if test -z "$missing"; then
		say "all $what packages are installed"
		return 0
	fi
	apt_sudo
	test "$sudo" != no || die "missing packages:$missing; not root and no sudo: install them, then re-run"
	say "installing missing packages:$missing"
	$sudo apt-get update
	# shellcheck disable=SC2086 # the package list is a word list
	$sudo env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends $missing
}
