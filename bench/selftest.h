/* SPDX-License-Identifier: MIT */
/* selftest.h: bench_selftest, the check that a peer behaves as a map before mapbench measures it. */
#ifndef RCUMAP_BENCH_SELFTEST_H
#define RCUMAP_BENCH_SELFTEST_H

#include <stdio.h>

#include "peer.h"

/*
 * bench_selftest - check that @p behaves as a map, in well under a second.
 * @p: the peer; its caps choose the checks (resize, reclamation, threads).
 * @log: where failures (and one "ok" line) go; NULL: stderr.
 *
 * Single-threaded checks against a reference (operation results, count,
 * run() in fill, mixed and read-only mode replayed op by op; get_batch and
 * run_lookups() when the peer has them), then
 * resize and reclamation checks when the caps claim them, then a two-thread
 * smoke test (two writers on disjoint keys, or writer plus reader for
 * PEER_SINGLE_WRITER).
 *
 * Return: 0 if every check passed, -1 otherwise (the first failed check of
 * each part is printed).
 * Context: runs on threads of its own, which call p->thread_init/fini. The
 * caller blocks meanwhile, so it must not be an online qsbr reader (it
 * would hold back the grace periods the test waits for).
 */
int bench_selftest(const struct bench_peer *p, FILE *log);

#endif /* RCUMAP_BENCH_SELFTEST_H */
