# SPDX-License-Identifier: MIT
# scripts/local.mk: the bootstrap and helper scripts, and the cross builds
# under qemu-user (included from Makefile.am).

# make check-aarch64: the library, the unit tests and the torture flavors
# cross-built for aarch64 in cross/aarch64 of the build tree, then, under
# qemu-aarch64, the unit tests of every flavor, a short torture tier of
# every flavor and the installed library through pkg-config.
# make check-32bit: the same for armhf (32-bit, slot filter compiled out)
# under qemu-arm. make check-cross: both, with one summary line.
# scripts/bootstrap-cross.sh installs the cross toolchains, qemu-user and
# the targets' liburcu and cmocka. Not part of make check (docs/testing.md
# gives their times). Options: CROSS_TORTURE_SECS=N (per scenario, default
# 2), CROSS_TORTURE=no (unit tests and install check only).
.PHONY: check-aarch64 check-32bit check-cross
CROSS_CHECK = abs_top_srcdir='$(abs_top_srcdir)' abs_top_builddir='$(abs_top_builddir)' \
	MAKE='$(MAKE)' CROSS_TORTURE_SECS='$(CROSS_TORTURE_SECS)' CROSS_TORTURE='$(CROSS_TORTURE)' \
	$(SHELL) $(srcdir)/scripts/check-cross.sh
CROSS_TORTURE_SECS = 2
CROSS_TORTURE =
check-aarch64:
	@$(CROSS_CHECK) aarch64
check-32bit:
	@$(CROSS_CHECK) armhf
check-cross:
	@$(CROSS_CHECK) aarch64 armhf

# make check: every label, file and symbol that the docs and the code
# comments cite must exist (docs/design.md, "Labels"); the script also runs
# its negative controls, copies of the tree with one broken reference each.
TESTS += scripts/check-refs.sh

# make check: every include and call between lib/ files points down the
# layering of docs/design.md, "Map of the code" (scripts/lib-layers.py
# reads that table), and the check fails on a copy with an upward call and
# on one with an upward include.
TESTS += scripts/check-layers.sh

EXTRA_DIST += \
	scripts/check-refs.sh \
	scripts/check-layers.sh \
	scripts/lib-layers.py \
	scripts/bootstrap.sh \
	scripts/bootstrap-cross.sh \
	scripts/check-cross.sh \
	scripts/apt-missing.sh \
	scripts/check-summary.sh
