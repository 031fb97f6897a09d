/* SPDX-License-Identifier: MIT */
/* talloc.h: the torture allocator: every object's life as a checked state machine. */
#ifndef RCUMAP_TORTURE_TALLOC_H
#define RCUMAP_TORTURE_TALLOC_H

/*
 * Every object the map allocates (through rcumap_config.alloc) and every
 * value the torture threads store carries a header in front of it and a
 * canary behind it. The header records a magic word, the object's kind and
 * size, its allocation sequence number, its life state, and when it was
 * retired: the torture grace-period count and the time.
 *
 * States move only forward, each by one compare-and-swap:
 *
 *   NEW --publish--> LIVE --retire--> RETIRED --free--> FREED
 *    \________________________free (never published)___/
 *
 * The library reports publish and retire through the hooks of
 * lib/hooks.h (rcumap_torture_publish, rcumap_torture_retire, defined in
 * talloc.c); free arrives through talloc_free (the map's allocator) and
 * talloc_free_value (the map's free_value). Any other transition (a double
 * retire, a double free, freeing a published object that was never
 * retired, retiring an object never published) is a STATE error: it is
 * reported with the object's header and its last transitions, and the run
 * stops at once (torture_fail with fatal set), because the library's own
 * data structures (call_rcu's queue) are corrupt from then on.
 *
 * While rcumap_destroy runs (talloc_set_destroying(1)) LIVE -> FREED is
 * allowed: destroy frees what is still in the map without retiring it.
 *
 * The map's bucket cache (lib/internal.h) keeps reclaimed buckets to reuse
 * them, through two more hooks: rcumap_torture_cache_put is a free (RETIRED
 * -> CACHED, counted and poisoned as a free, but not quarantined: the map
 * still owns the memory) and rcumap_torture_cache_get an allocation (CACHED
 * -> NEW, after checking the poison: a write after the put is a POISON
 * error). Meeting a CACHED object in a read section is a POISON error, as
 * for FREED. A cached bucket the map gives back goes CACHED -> FREED through
 * talloc_free without being counted again.
 *
 * The publish hook runs after the compare-and-swap that published the
 * object, so the object is reachable before its hook has run. Two correct
 * interleavings follow, and neither is an error:
 *  - a reader or writer meets the object while it is still NEW (counted in
 *    seen_new);
 *  - another writer replaces or removes it and its retire hook runs first:
 *    NEW --retire--> RETIRED, marked "publish pending", and the late publish
 *    hook then only clears the mark (counted in late_publish). The
 *    publisher holds its read section from the CAS to the hook, so the
 *    hook always comes before the grace period ends: an object that reaches
 *    free still marked was retired without ever being published, a STATE
 *    error.
 *
 * Freed objects are not given back to libc at once. They are poisoned
 * (payload filled with TALLOC_POISON through a volatile pointer, state
 * FREED) and kept in a quarantine until TALLOC_QUARANTINE_GPS more grace
 * periods have been counted by talloc_gp_tick. So a reader that still
 * holds an object freed too early meets the FREED state or the poison, not
 * someone else's reused memory: a POISON error. Before libc gets it back,
 * the poison (past the payload's first 16 bytes, which hold liburcu's
 * rcu_head in buckets and tables) and the canary are checked: a write
 * after free is a POISON error too.
 *
 * Ages (invariant V1, as rcutorture's pipeline): the grace-period thread
 * calls talloc_gp_tick after each synchronize_rcu. An object retired when
 * the count was g has age (count - g). A reader or writer that meets a
 * RETIRED object (rcumap_torture_seen, talloc_check) inside a read section
 * may see age 0 or 1: the grace period in progress at the retire may not
 * cover it. Age 2 or more means a whole grace period began after the object
 * was unpublished and ended while this reader still held it: an AGE error.
 * The ages seen are counted in a histogram.
 *
 * Reclaim lag: time from retire to free, per object, in a log2 histogram;
 * pending: objects retired and not yet freed, and its peak.
 *
 * Every function here is thread-safe; the hooks and talloc_free run on
 * reader, writer and call_rcu worker threads. Nothing blocks except
 * talloc_gp_tick and talloc_drain, which take the quarantine lock.
 */

#include <stddef.h>
#include <stdint.h>

#include <rcumap.h>

#include "hooks.h" /* lib/: hook declarations, RCUMAP_TORTURE_KIND_VALUE */
#include "tsan.h"  /* lib/: tsan_release, tsan_acquire */

/* Life states; a header's state word. */
enum talloc_state {
	TA_NEW = 1,     /* allocated, not reachable by readers */
	TA_LIVE = 2,    /* published */
	TA_RETIRED = 3, /* unpublished, handed to call_rcu */
	TA_FREED = 4,   /* freed by the map (or by its owner); in quarantine */
	TA_CACHED = 5,  /* reclaimed into the map's bucket cache: freed, for the checks */
};

#define TALLOC_POISON 0x6b               /* payload of a freed object */
#define TALLOC_QUARANTINE_GPS 4          /* grace periods a freed object is kept */
#define TALLOC_LAG_BUCKETS 40            /* lag histogram: bucket i holds [2^i, 2^(i+1)) ns */
#define TALLOC_AGE_BUCKETS 4             /* ages 0, 1, 2, 3+ */

/* Error classes; each is a counter that must stay 0. */
enum talloc_error {
	TE_AGE = 0,   /* a retired object of age >= 2 was met in a read section */
	TE_POISON,    /* a freed, poisoned or corrupt (magic, canary) object was met */
	TE_STATE,     /* an illegal life transition */
	TE_KIND,      /* size or kind passed to free differs from alloc's */
	TE_COUNT
};

/* Totals per kind (index: enum rcumap_kind, or RCUMAP_TORTURE_KIND_VALUE). */
struct talloc_kind_stats {
	uint64_t allocs;     /* successful allocations */
	uint64_t frees;      /* objects that reached FREED */
	uint64_t published;  /* NEW -> LIVE */
	uint64_t retired;    /* LIVE -> RETIRED */
	uint64_t reclaimed;  /* RETIRED -> FREED */
	uint64_t failed;     /* allocations failed on purpose */
	uint64_t live_bytes; /* bytes allocated and not yet FREED */
};

struct talloc_stats {
	struct talloc_kind_stats kind[RCUMAP_TORTURE_KINDS];
	uint64_t gp;                        /* grace periods counted */
	uint64_t pending, peak_pending;     /* RETIRED objects now, and the most at once */
	uint64_t pending_bytes, peak_pending_bytes;
	uint64_t quarantined;               /* FREED objects not yet given back to libc */
	uint64_t lag[TALLOC_LAG_BUCKETS];   /* retire -> free, ns, log2 buckets */
	uint64_t lag_max_ns;
	uint64_t seen[TALLOC_AGE_BUCKETS];  /* RETIRED objects met, by age */
	uint64_t seen_live;                 /* LIVE objects met */
	uint64_t seen_new;                  /* NEW objects met: published, hook not run yet */
	uint64_t late_publish;              /* publish hooks that came after the retire hook */
	uint64_t errors[TE_COUNT];
};

struct talloc_config {
	uint64_t seed;          /* for failure injection */
	uint32_t fail_ppm;      /* fail this many allocations per million (map's and values') */
	int check_canary;       /* verify the tail canary on every seen/check (costs a read) */
	int fail_map;           /* also fail RCUMAP_KIND_MAP allocations (rcumap_create) */
};

/* Reset every counter and set the configuration; call before any thread starts. */
void talloc_init(const struct talloc_config *cfg);

/*
 * Optional, per thread, after talloc_init: draw this thread's failure
 * injection from stream id, so a thread fails the same allocations in a
 * replay whatever order the threads start in. A thread that does not call
 * it gets a stream numbered by its first draw (from 1 << 20 on).
 */
void talloc_thread_init(unsigned id);

/*
 * Optional, per thread: *flag is 1 while this thread is inside malloc or
 * free, so a stall detector can tell the C library's (or a sanitizer's)
 * allocator lock, which no reader holds, from a wait for a reader.
 */
void talloc_thread_busy_flag(unsigned *flag);

/* rcumap_config.alloc and .free; arg is unused (pass NULL). */
void *talloc_alloc(size_t size, enum rcumap_kind kind, void *arg);
void talloc_free(void *ptr, size_t size, enum rcumap_kind kind, void *arg);

/*
 * A value object of size bytes (payload zeroed), state NEW. Never fails on
 * purpose unless may_fail is set (then it can return NULL like the map's
 * allocations under fail_ppm).
 */
void *talloc_value(size_t size, int may_fail);

/* rcumap_config.free_value: a value the map retired: RETIRED -> FREED. */
void talloc_free_value(void *value, void *arg);

/* A value its owner never managed to store (insert lost, -EEXIST): NEW -> FREED. */
void talloc_discard_value(void *value);

/*
 * Check an object met inside a read section (a value returned by a
 * lookup, an iteration or a scan; the library calls rcumap_torture_seen
 * for its own objects): magic, canary (with check_canary), kind, state
 * not FREED, age < 2. Counts the age histogram. Returns 0 when every check
 * passed, else a mask with bit (1 << err) set for each enum talloc_error
 * found (each already counted and reported through torture_fail). A mask,
 * not the error itself, because TE_AGE is 0. Also safe on a value still
 * NEW: its publish hook may not have run yet.
 */
int talloc_check(const void *obj, int kind, const char *who);

/*
 * For crash attribution, from a signal handler: is obj (maybe a payload
 * pointer, maybe garbage) one of our objects in state FREED, or CACHED (in
 * the map's bucket cache, poisoned: as good as freed)? With since_ns not 0,
 * also one that was freed or cached at or after since_ns (as far as its
 * last TALLOC_HIST transitions tell) and has been handed out again since.
 * Then its kind goes to *kind and the result is 1. The header is read with
 * process_vm_readv, so a bad pointer makes the read fail, not the caller.
 * Async-signal-safe.
 */
int talloc_is_reclaimed(uintptr_t obj, uint64_t since_ns, int *kind);

/*
 * Report obj, found by talloc_is_reclaimed(obj, since_ns, ...), as met by
 * who after its reclaim (POISON, fatal), with its history.
 */
void talloc_report_reclaimed(const void *obj, int kind, uint64_t since_ns, const char *who);

/* Copy n bytes from addr; 0 (not a fault) if they are not all mapped. */
int talloc_probe(const void *addr, void *buf, size_t n);

/* The grace-period thread: one more grace period ended. Ages every retired
 * object by one and gives back to libc the quarantined ones old enough. */
void talloc_gp_tick(void);

/* Current grace-period count. */
uint64_t talloc_gp(void);

/* Allow LIVE -> FREED while rcumap_destroy runs. */
void talloc_set_destroying(int on);

/* Give every quarantined object back to libc (no reader may hold any). */
void talloc_drain(void);

/* A consistent-enough copy of every counter (each read atomically). */
void talloc_snapshot(struct talloc_stats *out);

/*
 * Lag percentile (0..100) from a snapshot's histogram, in ns (bucket upper
 * bound, capped at lag_max_ns); 0 when nothing was reclaimed.
 */
uint64_t talloc_lag_pct(const struct talloc_stats *s, double pct);

/* Kind names for reports: "bucket", "entry", "table", "map", "value". */
const char *talloc_kind_name(int kind);

/*
 * Supplied by the program that links talloc.c (report.c): report one
 * failing observation. fatal: the run cannot continue (print the end lines
 * and exit 1). Must be callable from any thread, including the call_rcu
 * worker, and inside read sections.
 */
void torture_fail(int fatal, enum talloc_error err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Defined in talloc.c: the TSan hand-off from readers to reclamation.
 * Every read section ends with tsan_release(&talloc_reader_token)
 * (lib/tsan.h) just BEFORE its unlock (qsbr: before the quiescent state
 * or going offline), and talloc_free and talloc_free_value acquire it
 * first, so TSan sees "reader done -> object freed" (docs/testing.md). A
 * release after the unlock is too late: the grace period may end, and the
 * callback acquire, in between. The library's own read sections (updates,
 * resize, clear, rcumap_scan) end inside the library, so under TSan either
 * make every such call from inside one of your own read sections (memb
 * and bp nest them: yours is the one that ends the grace period's wait),
 * or give the map (rcumap_config.flavor) a copy of the flavor struct whose
 * read_unlock releases the token and then calls the real one.
 */
extern int talloc_reader_token;

#endif /* RCUMAP_TORTURE_TALLOC_H */
