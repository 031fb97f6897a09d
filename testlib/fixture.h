/* SPDX-License-Identifier: MIT */
/* fixture.h: the cmocka unit tests' fixture, heap values and runner (the test_map and test_iter programs). */
#ifndef RCUMAP_TESTLIB_FIXTURE_H
#define RCUMAP_TESTLIB_FIXTURE_H

/*
 * Include after flavor.h, <cmocka.h> and <rcumap.h>. The fixture asserts
 * with cmocka, so it serves the unit tests alone: tests/local.mk compiles
 * testlib/fixture.c into each of them, with that binary's flavor.
 *
 * Rules the fixture keeps, and the tests with it:
 * - cmocka asserts run on the test thread only; worker threads, scan
 *   callbacks and the call_rcu worker record, and the test thread asserts on
 *   the record afterwards (harness.h's soft checks, soft_fail).
 * - The test thread is registered (qsbr: online) for the whole run. A read
 *   section is test_reader_enter/leave (qsbr: online, no quiescent state).
 *   Before blocking on anything but RCU it goes offline (qsbr only).
 * - Every map is checked at destroy: each value the map ever owned was
 *   passed to free_value exactly once and no other value was, and every byte
 *   the map allocated through the counting allocator was freed with the size
 *   and kind it was allocated with.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "testutil.h"

/* ---- Small utilities ------------------------------------------------------ */

/* RCUMAP_TEST_SEED, else the time; printed once, on the first call. */
uint64_t test_seed(void);

/* Sleep without stalling grace periods (qsbr goes offline meanwhile). */
void sleep_us(long us);

/* A lookup in its own read section: for comparing pointers only. */
void *get_locked(struct rcumap *map, const void *key, size_t len);

/* rcumap_stats on the test thread, asserting that the call succeeds. */
struct rcumap_stats stats_of(struct rcumap *map);

/* rcumap_stats from any thread or callback: never asserts; all zero on failure. */
struct rcumap_stats stats_peek(struct rcumap *map);

/* A 64-bit hash folded to the 32 bits that place a key, as the library does (design.md). */
uint32_t fold64(uint64_t h);

/* A pointer no test stores: an "untouched" marker for out-parameters. */
extern char fx_sentinel_object;
#define FX_SENTINEL ((void *)&fx_sentinel_object)

/* ---- Keys: two key spaces ------------------------------------------------- */

/*
 * KS_NUM: key number i is key_make(i) from harness.h (8..32 bytes, i in the
 * first 8, so inline and out-of-line keys both occur).
 * KS_LEN: key number i is i bytes long (0..IKEY_BUF-1), with bytes derived
 * from i, so every length from the empty key up is covered.
 */
#define IKEY_BUF 128
enum kspace { KS_NUM, KS_LEN };

size_t ikey_make(enum kspace ks, size_t id, unsigned char buf[IKEY_BUF]);

/* The key number whose bytes these exactly are, or -1. */
long ikey_decode(enum kspace ks, const void *key, size_t len, size_t nkeys);

/* ---- The fixture: a map, its counting allocator, a value pool, a reference */

struct fx_opts {
	size_t nvals;       /* pool values */
	size_t nkeys;       /* key numbers [0, nkeys) the reference tracks */
	size_t min_slots;
	enum kspace ks;
	uint64_t (*hash)(const void *key, size_t len, void *arg);
	void *hash_arg;
	bool no_free_value;
	size_t max_alloc;   /* the counting allocator refuses larger requests */
	bool folds;         /* fill fold, byfold and gmax (needs hash) */
};

struct trav;

/*
 * The allocator, tracker and arrays live on the heap, not in the test's
 * frame: if a test fails (cmocka longjmps out), its map is leaked with
 * callbacks still pending, and those must not write into a reused stack.
 * They are freed only after a successful destroy.
 */
struct fx {
	struct rcumap *map;
	struct count_alloc *ca;
	struct tracker *tr;
	struct tval **ref;   /* ref[i]: value stored for key i, NULL when absent */
	size_t *owner;       /* owner[v]: key fx_fresh gave pool value v to; SIZE_MAX: none */
	size_t next_val;     /* the pool value fx_fresh hands out next */
	uint32_t *fold;      /* with opts.folds: folded hash of each key */
	size_t *byfold;      /* with opts.folds: key numbers sorted by folded hash */
	size_t gmax;         /* with opts.folds: most keys sharing one folded hash */
	size_t nkeys;
	enum kspace ks;
	struct trav *tv;     /* tests/iter_trav.c: traversal told of every update */
	uint64_t rng;
	struct rcumap_config cfg;
};

void fx_open(struct fx *f, const struct fx_opts *o);

/* Pool value i. */
struct tval *fx_val(struct fx *f, size_t i);

/* A fresh pool value for key id, or NULL when the pool is used up. Never asserts. */
struct tval *fx_fresh(struct fx *f, size_t id);

/* Uniform in [0, n), from the fixture's seeded generator. */
size_t fx_rand(struct fx *f, size_t n);

/*
 * The test's record of a successful store of v (NULL: removal) for key i.
 * Asserts only on a test defect (i out of range), so scan callbacks may
 * call it.
 */
void fx_ref_set(struct fx *f, size_t i, struct tval *v);
void fx_ref_clear(struct fx *f);
size_t fx_present(const struct fx *f);

/* An update through the public API with pool value val; recorded on success. */
int fx_insert(struct fx *f, size_t key, size_t val);
int fx_put(struct fx *f, size_t key, size_t val);
int fx_delete(struct fx *f, size_t key);
struct tval *fx_get(struct fx *f, size_t key);

/* Insert keys [lo, hi), each with a fresh pool value, pacing resizes. */
void fx_fill(struct fx *f, size_t lo, size_t hi);

/*
 * After every update of a long single-threaded run: wait for reclamation
 * when the table looks stuck, so that the run does not outrun the resize
 * gate (fixture.c). *since_barrier counts updates since the last barrier.
 */
void fx_pace(struct fx *f, size_t *since_barrier);

void fx_barrier(struct fx *f);

/*
 * The map holds exactly the reference: the count equals the number of
 * present keys and every key in [lo, hi) (every stride-th) maps to its
 * value; fx_check_keys does the same for the keys listed; fx_check checks
 * every key and then rcumap_validate (which rules out duplicates).
 */
void fx_check_range(struct fx *f, size_t lo, size_t hi, size_t stride);
void fx_check_keys(struct fx *f, const size_t *keys, size_t n, size_t stride);
void fx_check(struct fx *f);

/* After a barrier: each value freed once if the map owned and dropped it, else never. */
void fx_check_frees(struct fx *f);

/* After a barrier on a quiet map: everything retired has been reclaimed. */
void fx_check_reclaimed(struct fx *f);

void ca_check_balanced(struct count_alloc *ca);

/*
 * Slots d < below of a table of `slots` slots that some present key goes to
 * (opts.folds; 0 without them). Never asserts: scan callbacks call it.
 */
size_t fx_nonempty_slots(const struct fx *f, size_t slots, size_t below);

/* rcumap_resize with allocation m and every later one failing; returns its result. */
int fx_resize_failing(struct fx *f, size_t slots, unsigned long m);

/* Destroy the map and check that it released every value and byte exactly once. */
void fx_close(struct fx *f);

/* fx_close's checks, for a map the test destroyed itself. */
void fx_destroyed(struct fx *f);

/* ---- Heap values, for the multi-threaded tests ----------------------------- */

/*
 * malloc'd values carrying their key, writer and a check word; free_value
 * poisons them before freeing, so a late reader sees HVAL_DEAD. The
 * accounts show that every value went back exactly once: to the map's
 * free_value or to the caller whose update the map refused.
 */
#define HVAL_LIVE 0x4856414c2d4c4956ull /* "HVAL-LIV" */
#define HVAL_DEAD 0x4856414c2d444541ull /* "HVAL-DEA" */

struct hval {
	uint64_t magic;
	uint32_t key;
	uint32_t writer;
	uint64_t serial;
	uint64_t check;
};

struct hvals {
	atomic_ulong created, map_freed, caller_freed, free_errors, serial;
};

/* rcumap_config.free_value; arg is the struct hvals. */
void hval_free_value(void *value, void *arg);

struct hval *hval_new(struct hvals *h, uint32_t key, uint32_t writer);

/* The caller kept ownership of a value the map refused. */
void hval_drop(struct hvals *h, struct hval *v);

/* Why v cannot be a value of key (a message), or NULL if it can. */
const char *hval_bad(const struct hval *v, uint32_t key);

/*
 * A map of heap values over the counting allocator, on the heap (a failed
 * test leaks it with its threads' callbacks pending).
 */
struct hmap {
	struct rcumap *map;
	atomic_bool stop;        /* tells the test's threads to finish */
	struct hvals vals;
	struct count_alloc ca;
};

struct hmap *hmap_open(size_t min_slots);

/*
 * Destroy the map and check that every value went back exactly once, none
 * with a bad magic, and every byte was freed; then free h.
 */
void hmap_close(struct hmap *h);

/* ---- Runner --------------------------------------------------------------- */

/* The tests one source file exports, in the order they run. */
struct fx_group {
	const struct CMUnitTest *tests;
	size_t n;
};

#define FX_GROUP_OF(list) { (list), sizeof(list) / sizeof((list)[0]) }

/* Every test's setup: the test thread back in its normal state (flavor.h). */
int fx_test_setup(void **state);

/*
 * Run the groups as one cmocka group (one TAP plan) named `name`, honouring
 * the glob filters in the environment variables filter_env and skip_env;
 * print the plain "N passed, N failed" line. Returns the exit status.
 */
int fx_run(const char *name, const struct fx_group *groups, size_t ngroups,
	   const char *filter_env, const char *skip_env);

#endif /* RCUMAP_TESTLIB_FIXTURE_H */
