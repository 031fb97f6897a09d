/* SPDX-License-Identifier: MIT */
/* hooks.h: the test hooks: where the torture suite watches objects and delays threads. */
#ifndef RCUMAP_HOOKS_H
#define RCUMAP_HOOKS_H

/*
 * Nothing here exists in a normal build: every hook is an empty statement
 * unless the library is compiled with -DRCUMAP_TORTURE, as the torture
 * programs compile it in (torture/local.mk).
 *
 * The library reports each object's life to functions the torture program
 * defines (torture/talloc.c): when it becomes reachable by readers
 * (publish), when it stops being reachable and is handed to call_rcu
 * (retire), and when a reader or writer dereferences it (seen). Its
 * allocator sees the frees. With those four events the torture program
 * checks every object's life, LIVE -> RETIRED -> FREED, and that no one
 * meets an object older than a grace period (docs/testing.md, invariants V1
 * and V2). Delay points let it yield or sleep where races live: before and
 * after a publishing CAS, inside a migration, before a generation switch.
 *
 * The deliberately broken variants are in broken.h; the ThreadSanitizer
 * hand-offs in tsan.h.
 */

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
#define TORTURE_ON 1
#define TORTURE_POINT(w) rcumap_torture_point(w)
#define TORTURE_PUBLISH(p, k) rcumap_torture_publish((p), (k))
#define TORTURE_RETIRE(p, k) rcumap_torture_retire((p), (k))
#define TORTURE_SEEN(p, k) rcumap_torture_seen((p), (k))
#define TORTURE_CACHE_PUT(p, k) rcumap_torture_cache_put((p), (k))
#define TORTURE_CACHE_GET(p, k) rcumap_torture_cache_get((p), (k))
#else
#define TORTURE_ON 0
#define TORTURE_POINT(w) do { } while (0)
#define TORTURE_PUBLISH(p, k) do { (void)(p); } while (0)
#define TORTURE_RETIRE(p, k) do { (void)(p); } while (0)
#define TORTURE_SEEN(p, k) do { (void)(p); } while (0)
#define TORTURE_CACHE_PUT(p, k) do { (void)(p); } while (0)
#define TORTURE_CACHE_GET(p, k) do { (void)(p); } while (0)
#endif

#endif /* RCUMAP_HOOKS_H */
