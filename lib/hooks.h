/* SPDX-License-Identifier: MIT */
/* torture.h: the seams the torture suite sees inside the library, and its broken variants. */
#ifndef RCUMAP_TORTURE_H
#define RCUMAP_TORTURE_H

/*
 * Three kinds of seam, none of which exists in a normal build:
 *
 * 1. Hooks (-DRCUMAP_TORTURE). The library reports each object's life to
 *    functions the torture program defines (torture/talloc.c): when it
 *    becomes reachable by readers (publish), when it stops being reachable
 *    and is handed to call_rcu (retire), and when a reader or writer
 *    dereferences it (seen). Its allocator sees the frees. With those four
 *    events the torture program checks every object's life, LIVE -> RETIRED
 *    -> FREED, and that no one meets an object older than a grace period
 *    (docs/testing.md, invariants 1 and 2). Delay points let the torture
 *    program yield or sleep where races live: before and after a publishing
 *    CAS, inside a migration, before a generation switch.
 *
 * 2. Broken variants (-DRCUMAP_BROKEN_<NAME>): each breaks one rule on
 *    purpose, so that make check can prove a detector catches it
 *    (docs/testing.md, "Negative controls"). They are listed below.
 *
 * 3. ThreadSanitizer annotations, in any build with -fsanitize=thread:
 *    call_rcu hands a retired object to the callback thread through
 *    liburcu's queue, whose atomics TSan does not see (docs/testing.md).
 */

/* ---- 1. hooks ---------------------------------------------------------------- */

/* Where a delay point sits. */
enum rcumap_torture_point {
	RCUMAP_TP_PUBLISH = 0, /* an update built its bucket, before the slot CAS */
	RCUMAP_TP_UNLINK,      /* an update's CAS won, before the old bucket is retired */
	RCUMAP_TP_MIGRATE,     /* a fill froze its sources, before it publishes */
	RCUMAP_TP_SWITCH,      /* a migration filled every slot, before cur switches */
	RCUMAP_TP_READ,        /* a lookup loaded a generation, before its slot */
	RCUMAP_TP_COUNT
};

/* Object kinds of the hooks: enum rcumap_kind, plus the user's values. */
#define RCUMAP_TORTURE_KIND_VALUE 4
#define RCUMAP_TORTURE_KINDS 5

#ifdef RCUMAP_TORTURE
/* Defined by the torture program. Each may be called inside a read section. */
void rcumap_torture_point(enum rcumap_torture_point where);
void rcumap_torture_publish(const void *obj, int kind);
void rcumap_torture_retire(const void *obj, int kind);
void rcumap_torture_seen(const void *obj, int kind);
/* A reclaimed bucket enters the map's cache (freed, for the checker) or leaves it (allocated). */
void rcumap_torture_cache_put(const void *obj, int kind);
void rcumap_torture_cache_get(const void *obj, int kind);
#define TORTURE_POINT(w) rcumap_torture_point(w)
#define TORTURE_PUBLISH(p, k) rcumap_torture_publish((p), (k))
#define TORTURE_RETIRE(p, k) rcumap_torture_retire((p), (k))
#define TORTURE_SEEN(p, k) rcumap_torture_seen((p), (k))
#define TORTURE_CACHE_PUT(p, k) rcumap_torture_cache_put((p), (k))
#define TORTURE_CACHE_GET(p, k) rcumap_torture_cache_get((p), (k))
#else
#define TORTURE_POINT(w) do { } while (0)
#define TORTURE_PUBLISH(p, k) do { } while (0)
#define TORTURE_RETIRE(p, k) do { } while (0)
#define TORTURE_SEEN(p, k) do { } while (0)
#define TORTURE_CACHE_PUT(p, k) do { } while (0)
#define TORTURE_CACHE_GET(p, k) do { } while (0)
#endif

/* ---- 2. broken variants -------------------------------------------------------- */

/*
 * Each names the rule it breaks; docs/testing.md names the detector that
 * must catch it. Besides these, lib/iter.c has RCUMAP_BROKEN_ITER_NO_FILTER
 * and RCUMAP_BROKEN_ITER_NO_FORWARD (docs/iteration.md), and lib/resize.c
 * has RCUMAP_BROKEN_FILL_ENOMEM (an allocation failure loses entries).
 *
 * FREE_NO_GP        a retired bucket is freed at once, not after a grace period
 * RETIRE_EARLY      an update retires the old bucket before its CAS unpublishes it
 * TABLE_EARLY       a generation is retired when its migration starts, not ends
 * DOUBLE_RETIRE     some replaced buckets are retired twice
 * SKIP_FREE         some reclaimed buckets are never freed (a leak)
 * NONATOMIC_CAS     the slot CAS of updates is a load, a compare and a store
 * STALE_GEN         an update writes into a frozen slot of an old generation
 *                   instead of following its forwarding mark
 * SLOT_FILTER       a slot word's filter leaves out its bucket's first record
 * CACHE_EARLY       a retired bucket goes to the bucket cache at once, to be
 *                   handed out again inside its grace period
 * BAG_LATE          the buckets the next updates retire join a bag already
 *                   queued on call_rcu (their grace period is not waited for)
 * MIGRATE_SKIP      a migration chunk driven by an update leaves its last
 *                   slot of the newer generation unfilled, and the switch
 *                   goes ahead
 * BATCH_NO_FORWARD  a batched lookup reads the frozen bucket of the
 *                   generation it loaded instead of following the
 *                   forwarding mark to the key's newer slot
 */
/* ---- 3. ThreadSanitizer ---------------------------------------------------------- */

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RCUMAP_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define RCUMAP_TSAN 1
#endif

#ifdef RCUMAP_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
/* Happens-before edges TSan cannot see: call_rcu -> callback. */
#define tsan_release(p) __tsan_release((void *)(p))
#define tsan_acquire(p) __tsan_acquire((void *)(p))
#else
#define tsan_release(p) do { } while (0)
#define tsan_acquire(p) do { } while (0)
#endif

#endif /* RCUMAP_TORTURE_H */
