/* SPDX-License-Identifier: MIT */
/* atomics.h: every memory-order choice of the library, as named wrappers. */
#ifndef RCUMAP_ATOMICS_H
#define RCUMAP_ATOMICS_H

/*
 * No other file in lib/ uses __atomic builtins directly: an audit of the
 * library's ordering starts and ends here. Each call site still says what it
 * orders and which operation it pairs with (docs/design.md, "Ordering").
 * Publication and dereference are plain C11-style release/acquire rather than
 * liburcu's publish and dereference macros, so that ThreadSanitizer sees them
 * (docs/testing.md, the TSan tier).
 */

/* Acquire load: later loads cannot move before it. */
#define load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)

/* Relaxed load: atomicity only, no ordering. */
#define load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)

/* Release store: earlier loads and stores cannot move after it. */
#define store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Relaxed store: atomicity only, no ordering. */
#define store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/*
 * Strong compare-and-swap, acquire-release on success, acquire on failure.
 * *expected is updated with the current value on failure. Returns nonzero on
 * success.
 */
#define cas_acq_rel(p, expected, desired) /* orders as stated above */  \
	__atomic_compare_exchange_n((p), (expected), (desired), 0,           \
				    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)

/* Acquire exchange: a lock's take; later accesses cannot move before it. */
#define xchg_acquire(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQUIRE)

/* Relaxed fetch-and-add, for counters that order nothing. */
#define add_relaxed(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

/* Release fetch-and-sub: earlier accesses cannot move after it. */
#define sub_release(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELEASE)

/*
 * Statistics and counters (docs/design.md, O8): atomic so that concurrent
 * readers see whole values, and ordering nothing; no code decides anything
 * that needs ordering from them. Named apart so that each use needs no
 * comment of its own.
 */
#define stat_load(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define stat_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define stat_add(p, v) ((void)__atomic_fetch_add((p), (v), __ATOMIC_RELAXED))

/*
 * Sequentially consistent operations, for the one handshake that needs a
 * total order (the debug ticket chain in debug.c: "either the waker sees the
 * new ticket or the ticket's owner sees the chain idle").
 */
#define load_seq_cst(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define store_seq_cst(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define add_fetch_seq_cst(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define cas_seq_cst(p, expected, desired) /* total order, as above */       \
	__atomic_compare_exchange_n((p), (expected), (desired), 0,           \
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)

#endif /* RCUMAP_ATOMICS_H */
