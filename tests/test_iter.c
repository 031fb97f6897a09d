/* SPDX-License-Identifier: MIT */
/* test_iter.c: cmocka tests of rcumap's iteration, the in-section iterator and the cursor scan. */

/*
 * What is checked (include/rcumap.h, "iteration", guarantees A-E), for both
 * rcumap_iter_* and rcumap_scan:
 *   B  every key present for the whole traversal is returned exactly once;
 *   C  no key is returned twice;
 *   D  a key absent for the whole traversal is never returned, and a value
 *      returned was the key's value at some instant of the traversal;
 *   E  all of that while the traversal itself deletes, replaces and inserts;
 * across grows and shrinks of every factor, half-done migrations left by a
 * failed allocation, and (one test) concurrent writers, resizes and pauses.
 *
 * Built several ways (Makefile.am):
 *   tests/test_iter_{memb,qsbr,bp}    against librcumap.la, one per flavor;
 *   tests/test_iter_debug             bp, lib/ compiled in with -DRCUMAP_DEBUG:
 *                                     adds the misuse test, in which forked
 *                                     children must abort with the right
 *                                     message;
 *   tests/test_iter_debug_qsbr        the same for qsbr (whose "outside a read
 *                                     section" means offline), misuse test only
 *                                     (-DRCUMAP_TEST_ITER_MISUSE_ONLY);
 *   tests/test_iter_broken_nofilter   lib/ compiled in with a deliberately
 *   tests/test_iter_broken_noforward  broken iterator: negative controls that
 *                                     must FAIL (tests/negative_iter.sh).
 *
 * Environment:
 *   RCUMAP_TEST_ITER_SET=single      register only the single-threaded tests;
 *                        concurrent  only the concurrent test; default: all
 *                                    (negative_iter.sh runs them apart).
 *                                    Tests are left unregistered rather than
 *                                    skipped: the TAP driver counts a skip as
 *                                    a failure.
 *   RCUMAP_TEST_ITER_SECONDS=N       length of the concurrent test (default 8;
 *                                    3 in the debug build, 2 under valgrind)
 *   RCUMAP_TEST_ITER_FILTER=GLOB     run only the tests whose names match
 *   RCUMAP_TEST_ITER_SKIP=GLOB       do not run the tests whose names match
 *                                    (scripts/check-cross.sh: what qemu-user
 *                                    cannot emulate)
 *   RCUMAP_TEST_VALGRIND=1           scale the large tests down
 *   RCUMAP_TEST_SEED=N               replay the random choices
 *   CMOCKA_MESSAGE_OUTPUT=TAP        for automake's tap-driver
 *
 * Every traversal failure is reported with a tag naming what broke;
 * tests/negative_iter.sh greps for them:
 *   "DUPLICATE:" (C)  "MISSED:" (B)  "GHOST:" and "STALE:" (D)
 *   "BADKEY:" / "BADVALUE:" (wrong bytes, a value of another key or a freed one)
 *   "SPLIT:" (keys of one 32-bit hash split across scan calls)
 *   "CURSOR:" / "CALLSIZE:" (the scan's cursor or per-call count is off)
 *   "UPDATE:" (an update made during the traversal returned the wrong code)
 *   "SETUP:" (the scenario could not be arranged: a test defect or a change
 *            in the library's allocation pattern, not an iteration bug)
 *
 * Rules kept, as in test_map.c: cmocka asserts only on the test thread, and
 * never inside a traversal's loop or a scan callback: failures there are
 * recorded as tagged messages and asserted once the section is over. Worker
 * threads record too. The teardown leaves any read section that a failed
 * assert left open (qsbr: comes back online).
 */

#define _GNU_SOURCE

#include "flavor.h" /* first: the liburcu flavor header */

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rcumap.h>

#include "harness.h"
#include "testutil.h"

/* ---- Small utilities -------------------------------------------------------- */

static uint64_t test_seed(void)
{
	static uint64_t seed;
	const char *e;

	if (!seed) {
		e = getenv("RCUMAP_TEST_SEED");
		seed = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL);
		if (!seed)
			seed = 1;
		print_message("# seed %llu (replay with RCUMAP_TEST_SEED)\n",
			      (unsigned long long)seed);
	}
	return seed;
}

/* Sleep without stalling grace periods (qsbr goes offline meanwhile). */
static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };

	test_offline();
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	test_online();
}

static struct rcumap_stats stats_of(struct rcumap *map)
{
	struct rcumap_stats st;

	memset(&st, 0xa5, sizeof(st));
	if (rcumap_stats(map, &st) != 0)
		memset(&st, 0, sizeof(st));
	return st;
}

/* Positions: a key's place in hash order is its folded hash, bit-reversed. */
static uint32_t fold64(uint64_t h)
{
	return (uint32_t)(h ^ (h >> 32)); /* what the library does (design.md) */
}

static uint32_t rev32(uint32_t x)
{
	uint32_t r = 0;

	for (int i = 0; i < 32; i++, x >>= 1)
		r = (r << 1) | (x & 1);
	return r;
}

#define POS_END ((uint64_t)1 << 32)

/* ---- Keys: two key spaces ---------------------------------------------------- */

/*
 * KS_NUM: key number i is key_make(i) from harness.h (8..32 bytes, i in the
 * first 8, so inline and out-of-line keys both occur).
 * KS_LEN: key number i is i bytes long (0..IKEY_BUF-1), with bytes derived
 * from i, so every length from the empty key up is covered.
 */
#define IKEY_BUF 128
enum kspace { KS_NUM, KS_LEN };

static size_t ikey_make(enum kspace ks, size_t id, unsigned char buf[IKEY_BUF])
{
	if (ks == KS_NUM)
		return key_make(id, buf);
	for (size_t j = 0; j < id && j < IKEY_BUF; j++)
		buf[j] = (unsigned char)(id * 7 + j * 13 + 1);
	return id;
}

/* The key number whose bytes these exactly are, or -1. */
static long ikey_decode(enum kspace ks, const void *key, size_t len, size_t nkeys)
{
	unsigned char want[IKEY_BUF];
	size_t id;

	if (len && !key)
		return -1;
	if (ks == KS_NUM) {
		if (len < 8 || len > KEY_BUF)
			return -1;
		id = (size_t)key_index(key, len);
	} else {
		id = len;
	}
	if (id >= nkeys || id >> 20 >> 20) /* id >= 2^40; two shifts: size_t may be 32-bit */
		return -1;
	if (ikey_make(ks, id, want) != len || (len && memcmp(want, key, len) != 0))
		return -1;
	return (long)id;
}

/* ---- Hashes that place keys where a test wants them ---------------------------- */

/*
 * H_MIX: well mixed (both 32-bit halves). H_ID: the key number itself, so
 * its folded hash is the number and key i sits in slot i & mask; keys below
 * the slot count then sit exactly at the start of their slot's interval of
 * hash order, where an off-by-one in an interval test shows. H_GROUP:
 * keys i / group share one folded 32-bit hash although their 64-bit hashes
 * differ. H_TABLE: the folded hash of key i is table[i].
 */
enum hmode { H_MIX, H_ID, H_GROUP, H_TABLE };

static const char *const hmode_name[] = { "mixed", "key-number", "grouped", "table" };

struct hashctl {
	enum kspace ks;
	enum hmode mode;
	size_t group;
	const uint32_t *table;
	size_t ntable;
};

static uint64_t hash_ctl(const void *key, size_t len, void *arg)
{
	const struct hashctl *hc = arg;
	/* Only the bytes decide: the number for KS_NUM, the length for KS_LEN. */
	uint64_t id = hc->ks == KS_NUM ? key_index(key, len) : (uint64_t)len;

	switch (hc->mode) {
	case H_ID:
		return id;
	case H_GROUP: {
		uint64_t x = mix64(id) & 0xffffffffu;
		uint32_t f = (uint32_t)mix64(id / hc->group + 0x9e3779b9u);

		return (x << 32) | (x ^ f); /* folds to f for the whole group */
	}
	case H_TABLE:
		return id < hc->ntable ? hc->table[id] : mix64(id);
	default:
		return mix64(id ^ 0x5851f42d4c957f2dull);
	}
}

/* ---- Fixture: a map with test keys, pool values and a reference --------------- */

struct trav;

struct ifx_opts {
	size_t nkeys;        /* key numbers [0, nkeys) */
	size_t nvals;        /* pool values */
	size_t min_slots;
	enum kspace ks;
	enum hmode hmode;
	size_t group;        /* H_GROUP */
	const uint32_t *table; /* H_TABLE */
	size_t ntable;
};

/*
 * The allocator, tracker and hash control live on the heap: a failed test
 * (cmocka longjmps out) leaks its map with callbacks pending, and those must
 * not write into a reused stack frame.
 */
struct ifx {
	struct rcumap *map;
	struct count_alloc *ca;
	struct tracker *tr;
	struct hashctl *hc;
	size_t *owner;       /* owner[v]: key the pool value v was made for; SIZE_MAX: unused */
	size_t next_val;
	struct tval **ref;   /* value stored for each key, NULL when absent */
	uint32_t *fold;      /* folded hash of each key */
	size_t *byfold;      /* key numbers sorted by folded hash */
	size_t gmax;         /* most keys sharing one folded hash */
	size_t nkeys;
	enum kspace ks;
	struct trav *tv;     /* traversal in progress: told of every update */
	uint64_t rng;
	struct rcumap_config cfg;
};

static const uint32_t *sort_folds;

static int cmp_by_fold(const void *a, const void *b)
{
	uint32_t x = sort_folds[*(const size_t *)a], y = sort_folds[*(const size_t *)b];

	return x < y ? -1 : x > y;
}

static void ifx_open(struct ifx *f, const struct ifx_opts *o)
{
	unsigned char k[IKEY_BUF];

	memset(f, 0, sizeof(*f));
	f->nkeys = o->nkeys;
	f->ks = o->ks;
	f->ca = malloc(sizeof(*f->ca));
	f->tr = malloc(sizeof(*f->tr));
	f->hc = calloc(1, sizeof(*f->hc));
	f->owner = malloc(o->nvals * sizeof(*f->owner));
	f->ref = calloc(o->nkeys, sizeof(*f->ref));
	f->fold = malloc(o->nkeys * sizeof(*f->fold));
	f->byfold = malloc(o->nkeys * sizeof(*f->byfold));
	assert_true(f->ca && f->tr && f->hc && f->owner && f->ref && f->fold && f->byfold);
	ca_init(f->ca);
	tracker_init(f->tr, o->nvals);
	assert_size(f->tr->n, o->nvals);
	for (size_t v = 0; v < o->nvals; v++)
		f->owner[v] = SIZE_MAX;
	f->hc->ks = o->ks;
	f->hc->mode = o->hmode;
	f->hc->group = o->group ? o->group : 1;
	f->hc->table = o->table;
	f->hc->ntable = o->ntable;
	f->rng = mix64(test_seed() ^ o->nkeys ^ ((uint64_t)o->hmode << 40)) | 1;

	for (size_t i = 0; i < o->nkeys; i++) {
		size_t len = ikey_make(o->ks, i, k);

		f->fold[i] = fold64(hash_ctl(k, len, f->hc));
		f->byfold[i] = i;
	}
	sort_folds = f->fold;
	qsort(f->byfold, o->nkeys, sizeof(*f->byfold), cmp_by_fold);
	f->gmax = o->nkeys ? 1 : 0;
	for (size_t i = 1, run = 1; i < o->nkeys; i++) {
		run = f->fold[f->byfold[i]] == f->fold[f->byfold[i - 1]] ? run + 1 : 1;
		if (run > f->gmax)
			f->gmax = run;
	}

	f->cfg.flavor = RCUMAP_FLAVOR;
	f->cfg.free_value = tracker_free_value;
	f->cfg.free_value_arg = f->tr;
	f->cfg.hash = hash_ctl;
	f->cfg.hash_arg = f->hc;
	f->cfg.min_slots = o->min_slots;
	f->cfg.alloc = ca_alloc;
	f->cfg.free = ca_free;
	f->cfg.alloc_arg = f->ca;
	assert_rc(rcumap_create(&f->cfg, &f->map), 0);
}

static size_t ifx_rand(struct ifx *f, size_t n)
{
	return n ? (size_t)(rng_next(&f->rng) % n) : 0;
}

/* A fresh pool value for key id, or NULL when the pool is used up. */
static struct tval *ifx_fresh(struct ifx *f, size_t id)
{
	struct tval *v;

	if (f->next_val >= f->tr->n)
		return NULL;
	v = &f->tr->v[f->next_val++];
	f->owner[v->id] = id;
	return v;
}

static void ifx_ref_set(struct ifx *f, size_t id, struct tval *v)
{
	if (f->ref[id])
		f->ref[id]->in_map = false;
	f->ref[id] = v;
	if (v) {
		v->owned = true;
		v->in_map = true;
	}
}

static void trav_note_store(struct trav *tv, size_t id, struct tval *v, struct tval *old);
static void trav_note_delete(struct trav *tv, size_t id, struct tval *old);

enum uop { U_INSERT, U_PUT, U_REPLACE, U_CAS, U_DELETE, U_DELETE_IF, U_GET_OR_INSERT, U_OPS };

static const char *const uop_name[U_OPS] = {
	"insert", "put", "replace", "cas", "delete", "delete_if", "get_or_insert",
};

/* What a single-threaded op must return given the reference. */
static int uop_expect(const struct ifx *f, enum uop op, size_t id)
{
	bool present = f->ref[id] != NULL;

	switch (op) {
	case U_INSERT:
	case U_GET_OR_INSERT:
		return present ? -EEXIST : 0;
	case U_PUT:
		return 0;
	default:
		return present ? 0 : -ENOENT;
	}
}

/*
 * Apply one update through the public API; on success record it in the
 * reference and in the traversal in progress. Never asserts (may run inside
 * a read section or a scan callback). Returns the call's result, or -ENOSPC
 * when the value pool is used up.
 */
static int ifx_update(struct ifx *f, enum uop op, size_t id)
{
	unsigned char k[IKEY_BUF];
	size_t len = ikey_make(f->ks, id, k);
	struct tval *cur = f->ref[id], *v = NULL;
	/* Any live value works as a wrong "expected" for an absent key. */
	void *expected = cur ? (void *)cur : (void *)&f->tr->v[0];
	void *res = NULL;
	int rc;

	if (op != U_DELETE && op != U_DELETE_IF) {
		v = ifx_fresh(f, id);
		if (!v)
			return -ENOSPC;
	}
	switch (op) {
	case U_INSERT: rc = rcumap_insert(f->map, k, len, v); break;
	case U_PUT: rc = rcumap_put(f->map, k, len, v); break;
	case U_REPLACE: rc = rcumap_replace(f->map, k, len, v); break;
	case U_CAS: rc = rcumap_cas(f->map, k, len, expected, v); break;
	case U_DELETE: rc = rcumap_delete(f->map, k, len); break;
	case U_DELETE_IF: rc = rcumap_delete_if(f->map, k, len, expected); break;
	default:
		rc = rcumap_get_or_insert(f->map, k, len, v, &res);
		if (rc == -EEXIST && res != (void *)cur)
			rc = -EUCLEAN; /* reported by the caller as a wrong result */
		break;
	}
	if (rc != 0)
		return rc;
	if (op == U_DELETE || op == U_DELETE_IF) {
		ifx_ref_set(f, id, NULL);
		trav_note_delete(f->tv, id, cur);
	} else {
		ifx_ref_set(f, id, v);
		trav_note_store(f->tv, id, v, cur);
	}
	return 0;
}

/* Test thread only: an update that must give the reference's answer. */
static void ifx_must(struct ifx *f, enum uop op, size_t id)
{
	int want = uop_expect(f, op, id);
	int rc = ifx_update(f, op, id);

	if (rc != want)
		fail_msg("%s of key %zu returned %d (%s), expected %d", uop_name[op], id, rc,
			 errname(rc), want);
}

static void ifx_barrier(struct ifx *f)
{
	assert_rc(rcumap_barrier(f->map), 0);
}

static size_t ifx_present(const struct ifx *f)
{
	size_t n = 0;

	for (size_t i = 0; i < f->nkeys; i++)
		n += f->ref[i] != NULL;
	return n;
}

/*
 * Insert keys [lo, hi). A single thread inserting flat out outruns the
 * resize gate (one grace period per generation), so when the table is far
 * too small and no migration is pending, wait for reclamation (as in
 * test_map.c's pace_resizes).
 */
static void ifx_fill(struct ifx *f, size_t lo, size_t hi)
{
	for (size_t i = lo; i < hi; i++) {
		ifx_must(f, U_INSERT, i);
		if ((i & 4095) == 4095) {
			struct rcumap_stats st = stats_of(f->map);

			test_quiesce();
			if (!st.resizing && st.entries > 4 * st.slots)
				ifx_barrier(f);
		}
	}
}

/* The map holds exactly the reference, and its structure is sound. */
static void ifx_check(struct ifx *f)
{
	unsigned char k[IKEY_BUF];

	assert_size(rcumap_count(f->map), ifx_present(f));
	test_reader_enter();
	for (size_t i = 0; i < f->nkeys; i++) {
		size_t len = ikey_make(f->ks, i, k);
		void *got = rcumap_get(f->map, k, len);

		if (got != f->ref[i]) {
			test_reader_leave();
			fail_msg("key %zu: lookup gives %p, reference %p", i, got, (void *)f->ref[i]);
		}
		if ((i & 1023) == 1023) {
			test_reader_leave();
			test_quiesce();
			test_reader_enter();
		}
	}
	test_reader_leave();
	assert_rc(rcumap_validate(f->map), 0);
}

static void ca_check_balanced(struct count_alloc *ca)
{
	assert_size(atomic_load(&ca->errors), 0);
	assert_size(atomic_load(&ca->allocs), atomic_load(&ca->frees));
	assert_size(atomic_load(&ca->alloc_bytes), atomic_load(&ca->free_bytes));
}

/* After a barrier: each value freed once if the map owned and dropped it, else never. */
static void ifx_check_frees(struct ifx *f)
{
	assert_size(atomic_load(&f->tr->errors), 0);
	for (size_t i = 0; i < f->tr->n; i++) {
		struct tval *v = &f->tr->v[i];
		unsigned want = v->owned && !v->in_map;

		if (tval_freed(v) != want)
			fail_msg("value %zu: freed %u times, expected %u (owned %d, in map %d)", i,
				 tval_freed(v), want, v->owned, v->in_map);
	}
}

/* After a barrier on a quiet map: everything retired has been reclaimed. */
static void ifx_check_reclaimed(struct ifx *f)
{
	struct rcumap_stats st = stats_of(f->map);

	for (int k = 0; k < RCUMAP_STATS_KINDS; k++)
		if (st.kind[k].retired != st.kind[k].reclaimed ||
		    st.kind[k].retired_bytes != st.kind[k].reclaimed_bytes)
			fail_msg("kind %d: retired %llu (%llu bytes), reclaimed %llu (%llu bytes)", k,
				 (unsigned long long)st.kind[k].retired,
				 (unsigned long long)st.kind[k].retired_bytes,
				 (unsigned long long)st.kind[k].reclaimed,
				 (unsigned long long)st.kind[k].reclaimed_bytes);
}

static void ifx_close(struct ifx *f)
{
	ifx_check(f);
	ifx_barrier(f);
	ifx_check_frees(f);
	ifx_check_reclaimed(f);
	assert_rc(rcumap_destroy(f->map), 0);
	f->map = NULL;
	for (size_t i = 0; i < f->tr->n; i++)
		f->tr->v[i].in_map = false;
	ifx_check_frees(f);
	ca_check_balanced(f->ca);
	tracker_fini(f->tr);
	free(f->tr);
	free(f->ca);
	free(f->hc);
	free(f->owner);
	free(f->ref);
	free(f->fold);
	free(f->byfold);
}

/* ---- Traversal recorder: checks B, C, D for one traversal -------------------- */

/*
 * K_GONE: deleted during the traversal before the step that decides it
 * began (docs/iteration.md, D.3: then it is not returned).
 */
enum kst { K_ABSENT, K_PRESENT, K_CHANGED, K_GONE };

enum terr {
	E_DUPLICATE, E_MISSED, E_GHOST, E_STALE, E_BADKEY, E_BADVALUE, E_SPLIT,
	E_CURSOR, E_CALLSIZE, E_UPDATE, E_SETUP, E_KINDS
};

static const char *const terr_name[E_KINDS] = {
	"DUPLICATE", "MISSED", "GHOST", "STALE", "BADKEY", "BADVALUE", "SPLIT",
	"CURSOR", "CALLSIZE", "UPDATE", "SETUP",
};

#define TRAV_MSGS 4

struct held {
	const void *key;
	size_t len;
	long id;
	struct tval *v;
};

struct trav {
	struct ifx *f;
	unsigned *count;      /* times each key was returned */
	unsigned char *st;    /* enum kst per key */
	unsigned *call;       /* scan call (1-based) that returned each key */
	bool *valid;          /* per pool value: the key's value at some instant */
	/*
	 * While the test updates the map during the traversal: every position
	 * at or beyond this one is decided by a step that has not begun yet
	 * (D.3), so a delete or replacement there must be seen. POS_END when
	 * the walk cannot tell.
	 */
	uint64_t bound;
	size_t returned;
	size_t deleted_unvisited, deleted_unvisited_seen; /* information only (D) */
	size_t gone;          /* deletes checked under D.3 (K_GONE) */
	unsigned kinds[E_KINDS];
	unsigned nerr;
	char msg[TRAV_MSGS][320];
	/* In-section traversals: what was returned, rechecked when the section ends. */
	struct held *held;
	size_t nheld, capheld;
};

static void trav_init(struct trav *tv, struct ifx *f, bool in_section)
{
	memset(tv, 0, sizeof(*tv));
	tv->f = f;
	tv->count = calloc(f->nkeys, sizeof(*tv->count));
	tv->st = calloc(f->nkeys, sizeof(*tv->st));
	tv->call = calloc(f->nkeys, sizeof(*tv->call));
	tv->valid = calloc(f->tr->n, sizeof(*tv->valid));
	assert_true(tv->count && tv->st && tv->call && tv->valid);
	if (in_section) {
		tv->capheld = 4 * f->nkeys + 1100;
		tv->held = malloc(tv->capheld * sizeof(*tv->held));
		assert_non_null(tv->held);
	}
}

static void trav_fini(struct trav *tv)
{
	free(tv->count);
	free(tv->st);
	free(tv->call);
	free(tv->valid);
	free(tv->held);
	memset(tv, 0, sizeof(*tv));
}

static void terr(struct trav *tv, enum terr kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void terr(struct trav *tv, enum terr kind, const char *fmt, ...)
{
	va_list ap;

	tv->kinds[kind]++;
	if (tv->nerr < TRAV_MSGS) {
		va_start(ap, fmt);
		vsnprintf(tv->msg[tv->nerr], sizeof(tv->msg[0]), fmt, ap);
		va_end(ap);
	}
	tv->nerr++;
}

static void trav_begin(struct trav *tv)
{
	struct ifx *f = tv->f;

	memset(tv->count, 0, f->nkeys * sizeof(*tv->count));
	memset(tv->call, 0, f->nkeys * sizeof(*tv->call));
	memset(tv->valid, 0, f->tr->n * sizeof(*tv->valid));
	for (size_t i = 0; i < f->nkeys; i++) {
		tv->st[i] = f->ref[i] ? K_PRESENT : K_ABSENT;
		if (f->ref[i])
			tv->valid[f->ref[i]->id] = true;
	}
	tv->returned = tv->nheld = 0;
	tv->deleted_unvisited = tv->deleted_unvisited_seen = tv->gone = 0;
	tv->bound = POS_END;
	f->tv = tv;
}

static bool trav_ahead(const struct trav *tv, size_t id)
{
	return rev32(tv->f->fold[id]) >= tv->bound;
}

static void trav_note_store(struct trav *tv, size_t id, struct tval *v, struct tval *old)
{
	if (!tv)
		return;
	if (tv->st[id] == K_ABSENT || tv->st[id] == K_GONE)
		tv->st[id] = K_CHANGED; /* inserted during the traversal */
	tv->valid[v->id] = true;        /* a replacement keeps K_PRESENT */
	if (old && trav_ahead(tv, id))
		tv->valid[old->id] = false; /* replaced before its step began (D.3) */
}

static void trav_note_delete(struct trav *tv, size_t id, struct tval *old)
{
	if (!tv)
		return;
	if (tv->count[id] == 0 && tv->st[id] == K_PRESENT)
		tv->deleted_unvisited++;
	tv->st[id] = K_CHANGED;
	if (trav_ahead(tv, id)) {
		tv->st[id] = K_GONE;
		tv->gone++;
		if (old)
			tv->valid[old->id] = false;
	}
}

static bool pool_value(const struct ifx *f, const void *p)
{
	uintptr_t lo = (uintptr_t)f->tr->v, hi = (uintptr_t)(f->tr->v + f->tr->n);

	return (uintptr_t)p >= lo && (uintptr_t)p < hi &&
	       ((uintptr_t)p - lo) % sizeof(struct tval) == 0;
}

/* One returned entry: which key it is, and whether it may be returned with this value. */
static long trav_saw(struct trav *tv, const void *key, size_t len, void *value, unsigned call)
{
	struct ifx *f = tv->f;
	long id = ikey_decode(f->ks, key, len, f->nkeys);
	struct tval *v = value;

	tv->returned++;
	if (id < 0) {
		terr(tv, E_BADKEY, "BADKEY: a returned key (%zu bytes) is not a key of the test", len);
		return -1;
	}
	if (++tv->count[id] == 2)
		terr(tv, E_DUPLICATE, "DUPLICATE: key %ld returned twice (C)", id);
	tv->call[id] = call;
	if (tv->st[id] == K_ABSENT)
		terr(tv, E_GHOST, "GHOST: key %ld returned although absent for the whole traversal (D)",
		     id);
	else if (tv->st[id] == K_GONE)
		terr(tv, E_GHOST, "GHOST: key %ld returned although deleted before the traversal "
		     "reached its position (D.3)", id);
	if ((tv->st[id] == K_CHANGED || tv->st[id] == K_GONE) && f->ref[id] == NULL)
		tv->deleted_unvisited_seen += tv->count[id] == 1;
	if (!pool_value(f, v))
		terr(tv, E_BADVALUE, "BADVALUE: key %ld returned with %p, not a test value", id, value);
	else if (v->magic != TVAL_LIVE || tval_freed(v))
		terr(tv, E_BADVALUE, "BADVALUE: key %ld returned with value %zu, already freed", id,
		     v->id);
	else if (f->owner[v->id] != (size_t)id)
		terr(tv, E_BADVALUE, "BADVALUE: key %ld returned with value %zu, made for key %zu", id,
		     v->id, f->owner[v->id]);
	else if (!tv->valid[v->id])
		terr(tv, E_STALE,
		     "STALE: key %ld returned with value %zu, not its value at any instant of the "
		     "traversal since its step began (D)", id, v->id);
	return id;
}

/* In-section: everything returned stays valid until the section ends. */
static void trav_recheck(struct trav *tv)
{
	for (size_t i = 0; i < tv->nheld; i++) {
		const struct held *h = &tv->held[i];

		if (ikey_decode(tv->f->ks, h->key, h->len, tv->f->nkeys) != h->id)
			terr(tv, E_BADKEY,
			     "BADKEY: the bytes of returned key %ld changed before the read section ended",
			     h->id);
		if (pool_value(tv->f, h->v) && (h->v->magic != TVAL_LIVE || tval_freed(h->v)))
			terr(tv, E_BADVALUE,
			     "BADVALUE: value %zu of key %ld was freed before the read section ended",
			     h->v->id, h->id);
	}
}

/* After the traversal: B for the keys present throughout; SPLIT for scans. */
static void trav_end(struct trav *tv, bool scan)
{
	struct ifx *f = tv->f;

	f->tv = NULL;
	for (size_t i = 0; i < f->nkeys; i++)
		if (tv->st[i] == K_PRESENT && tv->count[i] == 0)
			terr(tv, E_MISSED,
			     "MISSED: key %zu, present for the whole traversal, was not returned (B)", i);
	if (!scan)
		return;
	/* Keys of one folded hash, present throughout, come in one call. */
	for (size_t j = 1; j < f->nkeys; j++) {
		size_t a = f->byfold[j - 1], b = f->byfold[j];

		if (f->fold[a] == f->fold[b] && tv->st[a] == K_PRESENT && tv->st[b] == K_PRESENT &&
		    tv->count[a] && tv->count[b] && tv->call[a] != tv->call[b])
			terr(tv, E_SPLIT,
			     "SPLIT: keys %zu and %zu share hash %#x but came in scan calls %u and %u",
			     a, b, f->fold[a], tv->call[a], tv->call[b]);
	}
}

static void trav_assert_clean(struct trav *tv, const char *label)
{
	char kinds[256] = "";
	size_t o = 0;

	if (!tv->nerr)
		return;
	for (int k = 0; k < E_KINDS; k++)
		if (tv->kinds[k] && o < sizeof(kinds))
			o += (size_t)snprintf(kinds + o, sizeof(kinds) - o, " %s=%u", terr_name[k],
					      tv->kinds[k]);
	for (unsigned i = 0; i < tv->nerr && i < TRAV_MSGS; i++)
		print_message("# %s: %s\n", label, tv->msg[i]);
	fail_msg("%s: %u traversal failures:%s; first: %s", label, tv->nerr, kinds, tv->msg[0]);
}

/* ---- Walks: one traversal by either iterator, with actions along the way ------ */

enum wmode { W_ITER, W_SCAN };

struct walk;

/*
 * Something the test does when the traversal has returned `at` entries:
 * inside the read section (the iterator's loop, or the scan callback), or,
 * with `between`, in the first gap between scan calls after that point,
 * outside any read section (so it may take barriers).
 */
struct action {
	size_t at;
	bool between;
	void (*fn)(struct walk *w, struct action *a);
	size_t arg;
	bool done;
	bool repeat;         /* re-arms itself: not required to have run at the end */
};

struct walk {
	struct ifx *f;
	struct trav *tv;
	enum wmode mode;
	size_t max;          /* W_SCAN max_entries; 0: random 1..7 per call */
	void (*each)(struct walk *w, long id); /* after every entry, in the section */
	void *ctx;
	struct action act[4];
	size_t nact;
	size_t nth;          /* entries returned so far */
	unsigned calls;      /* W_SCAN: calls made */
	size_t call_max;
	size_t call_n;       /* entries passed by the current call */
	uint64_t call_lo;    /* cursor the current call started at */
	int64_t call_maxpos; /* highest position passed by the current call */
	size_t limit;
	bool in_callers_section; /* no quiescent state between scan calls (qsbr) */
	/*
	 * For D.3: the smallest table seen during the walk, so a step's range
	 * lies within one of its slot intervals; unknown once a migration was
	 * seen pending (the newer table's size is not in the stats).
	 */
	size_t min_slots;
	bool pending_seen;
	long last_id;        /* key returned last, -1 if none */
};

static void walk_actions(struct walk *w, bool between)
{
	for (size_t i = 0; i < w->nact; i++) {
		struct action *a = &w->act[i];

		if (!a->done && a->between == between && w->nth >= a->at) {
			a->done = true;
			a->fn(w, a);
		}
	}
}

/* The table may have changed in the test's hooks: note its size. */
static void walk_observe(struct walk *w)
{
	struct rcumap_stats st = stats_of(w->f->map);

	if (st.resizing)
		w->pending_seen = true;
	else if (st.slots < w->min_slots)
		w->min_slots = st.slots;
	w->tv->bound = POS_END;
}

/*
 * Inside the section, just after key id was returned: the step that
 * returned it lies within the slot interval around its position in the
 * coarsest table seen, so every position from that interval's end on
 * belongs to steps that have not begun.
 */
static void walk_bound_inside(struct walk *w, long id)
{
	uint64_t len, p;

	if (id < 0 || w->pending_seen || !w->min_slots) {
		w->tv->bound = POS_END;
		return;
	}
	len = POS_END / w->min_slots;
	p = rev32(w->f->fold[id]);
	w->tv->bound = (p / len + 1) * len;
}

static void walk_entry(struct walk *w, const void *key, size_t len, void *value)
{
	long id = trav_saw(w->tv, key, len, value, w->calls);

	if (w->mode == W_ITER && w->tv->nheld < w->tv->capheld)
		w->tv->held[w->tv->nheld++] = (struct held){ key, len, id, value };
	if (w->mode == W_SCAN && id >= 0) {
		uint32_t p = rev32(w->f->fold[id]);

		w->call_n++;
		if ((int64_t)p > w->call_maxpos)
			w->call_maxpos = p;
		if (p < w->call_lo)
			terr(w->tv, E_CURSOR,
			     "CURSOR: key %ld at position %#x passed by a call that started at cursor %#llx",
			     id, p, (unsigned long long)w->call_lo);
	}
	w->nth++;
	w->last_id = id;
	walk_bound_inside(w, id);
	if (w->each && id >= 0)
		w->each(w, id);
	walk_actions(w, false);
	walk_observe(w);
}

static void walk_scan_cb(const void *key, size_t len, void *value, void *arg)
{
	walk_entry(arg, key, len, value);
}

static void walk_run(struct walk *w)
{
	struct ifx *f = w->f;
	struct trav *tv = w->tv;
	int rc;

	if (!w->limit)
		w->limit = 4 * f->nkeys + 1000;
	w->nth = 0;
	w->calls = 0;
	w->min_slots = SIZE_MAX;
	w->pending_seen = false;
	w->last_id = -1;
	trav_begin(tv);
	walk_observe(w);
	if (w->mode == W_ITER) {
		struct rcumap_iter it;
		const void *key = NULL;
		size_t len = 0;
		void *value = NULL;

		test_reader_enter();
		rc = rcumap_iter_init(f->map, &it);
		if (rc != 0) {
			terr(tv, E_SETUP, "SETUP: rcumap_iter_init returned %d", rc);
		} else {
			while ((rc = rcumap_iter_next(f->map, &it, &key, &len, &value)) == 1) {
				walk_entry(w, key, len, value);
				if (w->nth > w->limit) {
					terr(tv, E_DUPLICATE,
					     "DUPLICATE: the iterator returned more than %zu entries without ending",
					     w->limit);
					break;
				}
			}
			if (rc < 0)
				terr(tv, E_SETUP, "SETUP: rcumap_iter_next returned %d", rc);
			else if (rc == 0 && (rc = rcumap_iter_next(f->map, &it, &key, &len, &value)) != 0)
				terr(tv, E_CURSOR,
				     "CURSOR: rcumap_iter_next returned %d after the end, not 0", rc);
		}
		trav_recheck(tv);
		test_reader_leave();
	} else {
		uint64_t cursor = 0;

		do {
			w->calls++;
			w->call_lo = cursor;
			w->call_n = 0;
			w->call_maxpos = -1;
			w->call_max = w->max ? w->max : 1 + (size_t)(rng_next(&f->rng) % 7);
			rc = rcumap_scan(f->map, &cursor, w->call_max, walk_scan_cb, w);
			if (rc != 0) {
				terr(tv, E_SETUP, "SETUP: rcumap_scan returned %d", rc);
				break;
			}
			if (cursor != 0 && w->call_n < w->call_max)
				terr(tv, E_CALLSIZE,
				     "CALLSIZE: scan call %u passed %zu entries, fewer than max_entries %zu, "
				     "without ending the traversal", w->calls, w->call_n, w->call_max);
			if (w->call_n >= f->gmax && w->call_n - (f->gmax - 1) > w->call_max)
				terr(tv, E_CALLSIZE,
				     "CALLSIZE: scan call %u passed %zu entries for max_entries %zu "
				     "(largest group of one hash: %zu)", w->calls, w->call_n,
				     w->call_max, f->gmax);
			if (cursor != 0 && cursor <= w->call_lo)
				terr(tv, E_CURSOR, "CURSOR: scan call %u moved the cursor from %#llx to %#llx",
				     w->calls, (unsigned long long)w->call_lo,
				     (unsigned long long)cursor);
			if (cursor != 0 && w->call_maxpos >= (int64_t)cursor)
				terr(tv, E_CURSOR,
				     "CURSOR: scan call %u returned cursor %#llx after passing position %#llx",
				     w->calls, (unsigned long long)cursor,
				     (unsigned long long)w->call_maxpos);
			if (!w->in_callers_section)
				test_quiesce();
			if (cursor != 0) {
				/* Between calls the next step starts at the cursor: exact. */
				tv->bound = cursor;
				walk_actions(w, true);
				walk_observe(w);
			}
			if (w->nth > w->limit || w->calls > w->limit) {
				terr(tv, E_DUPLICATE,
				     "DUPLICATE: the scan passed %zu entries in %u calls without ending",
				     w->nth, w->calls);
				break;
			}
		} while (cursor != 0);
	}
	trav_end(tv, w->mode == W_SCAN);
}

/* The ways a scenario is run: the iterator, and scans acting between calls or inside. */
struct mode {
	enum wmode m;
	size_t max;
	bool between;
	const char *name;
};

static const struct mode modes3[] = {
	{ W_ITER, 0, false, "in-section iterator" },
	{ W_SCAN, 3, true, "scan (max 3), acting between calls" },
	{ W_SCAN, 5, false, "scan (max 5), acting inside the callback" },
};
#define NMODES3 (sizeof(modes3) / sizeof(modes3[0]))

static void walk_setup(struct walk *w, struct ifx *f, struct trav *tv, const struct mode *m)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->tv = tv;
	w->mode = m->m;
	w->max = m->max;
}

static void walk_add(struct walk *w, size_t at, bool between,
		     void (*fn)(struct walk *w, struct action *a), size_t arg)
{
	assert_true(w->nact < sizeof(w->act) / sizeof(w->act[0]));
	w->act[w->nact++] = (struct action){ .at = at, .between = between, .fn = fn, .arg = arg };
}

/* Run one walk and fail the test with the label if anything was wrong. */
static void walk_check(struct walk *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void walk_check(struct walk *w, const char *fmt, ...)
{
	char label[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(label, sizeof(label), fmt, ap);
	va_end(ap);
	walk_run(w);
	trav_assert_clean(w->tv, label);
	for (size_t i = 0; i < w->nact; i++)
		if (!w->act[i].done && !w->act[i].repeat)
			fail_msg("%s: action %zu (after %zu entries) never ran: the traversal "
				 "returned only %zu entries", label, i, w->act[i].at, w->nth);
}

/* ---- Actions --------------------------------------------------------------------- */

/* Resize now, inside the read section: the gate must be open (barrier taken before). */
static void act_resize(struct walk *w, struct action *a)
{
	int rc = rcumap_resize(w->f->map, a->arg);
	struct rcumap_stats st = stats_of(w->f->map);

	if (rc != 0)
		terr(w->tv, E_SETUP, "SETUP: rcumap_resize(%zu) after %zu entries returned %d (%s)",
		     a->arg, w->nth, rc, errname(rc));
	else if (st.slots != a->arg || st.resizing)
		terr(w->tv, E_SETUP, "SETUP: after rcumap_resize(%zu): %zu slots, resizing %d",
		     a->arg, st.slots, st.resizing);
}

/* Between scan calls: barrier, then resize. */
static void act_resize_between(struct walk *w, struct action *a)
{
	int rc = rcumap_barrier(w->f->map);

	if (rc != 0)
		terr(w->tv, E_SETUP, "SETUP: rcumap_barrier between scan calls returned %d", rc);
	act_resize(w, a);
}

/* Present keys, in the order the rng picks them. */
static long pick_present(struct ifx *f)
{
	for (int tries = 0; tries < 10000; tries++) {
		size_t i = ifx_rand(f, f->nkeys);

		if (f->ref[i])
			return (long)i;
	}
	return -1;
}

/* Non-empty slots a table of `slots` slots would have for the present keys. */
static size_t nonempty_slots(struct ifx *f, size_t slots)
{
	unsigned char *seen = calloc(slots, 1);
	size_t n = 0;

	if (!seen)
		return 0;
	for (size_t i = 0; i < f->nkeys; i++) {
		size_t d = f->fold[i] & (slots - 1);

		if (f->ref[i] && !seen[d]) {
			seen[d] = 1;
			n++;
		}
	}
	free(seen);
	return n;
}

/*
 * Start a migration to `slots` and make it stop about half way: the driver
 * allocates the new table, then one bucket per non-empty destination slot in
 * slot order, so failing allocation 1 + nonempty/2 (and every later one)
 * leaves the first destinations filled and the rest pending. Needs an open
 * gate. Returns the resize's result; resizing must then be 1.
 */
static int make_pending(struct ifx *f, size_t slots)
{
	size_t m = 1 + nonempty_slots(f, slots) / 2;
	int rc;

	ca_arm(f->ca, m, true);
	rc = rcumap_resize(f->map, slots);
	ca_disarm(f->ca);
	return rc;
}

static void act_pending(struct walk *w, struct action *a)
{
	int rc = make_pending(w->f, a->arg);
	struct rcumap_stats st = stats_of(w->f->map);

	if (rc != -ENOMEM || !st.resizing)
		terr(w->tv, E_SETUP,
		     "SETUP: a resize to %zu failing half way returned %d (%s), resizing %d: "
		     "no half-done migration", a->arg, rc, errname(rc), st.resizing);
}

static void act_pending_between(struct walk *w, struct action *a)
{
	int rc = rcumap_barrier(w->f->map);

	if (rc != 0)
		terr(w->tv, E_SETUP, "SETUP: rcumap_barrier between scan calls returned %d", rc);
	act_pending(w, a);
}

static size_t finish_updates_total, finish_runs, finish_first_update;

/*
 * Complete a pending migration the ordinary way: replace values of present
 * keys (they stay present, so B still applies to them) until it is done.
 */
static void act_finish(struct walk *w, struct action *a)
{
	size_t n = 0;

	(void)a;
	while (stats_of(w->f->map).resizing && n < 512) {
		long id = pick_present(w->f);
		int rc;

		if (id < 0)
			break;
		rc = ifx_update(w->f, U_PUT, (size_t)id);
		if (rc != 0) {
			terr(w->tv, E_UPDATE, "UPDATE: put of key %ld returned %d", id, rc);
			return;
		}
		n++;
	}
	finish_runs++;
	finish_updates_total += n;
	finish_first_update += n == 1;
	if (stats_of(w->f->map).resizing)
		terr(w->tv, E_SETUP, "SETUP: the pending migration was still pending after %zu updates",
		     n);
}

/* ---- Plain traversals ------------------------------------------------------------- */

static const size_t scan_maxes[] = { 1, 2, 3, 5, 7, 64, SIZE_MAX };
#define NSCANMAX (sizeof(scan_maxes) / sizeof(scan_maxes[0]))

/* Every plain way of walking: the iterator and scans of every max. */
static void walk_all_plain(struct ifx *f, struct trav *tv, const char *what)
{
	struct walk w;
	struct mode m = { W_ITER, 0, false, "in-section iterator" };

	walk_setup(&w, f, tv, &m);
	walk_check(&w, "%s, in-section iterator", what);
	for (size_t i = 0; i < NSCANMAX; i++) {
		m.m = W_SCAN;
		m.max = scan_maxes[i];
		walk_setup(&w, f, tv, &m);
		walk_check(&w, "%s, scan max %zu", what, scan_maxes[i]);
	}
	m.max = 0; /* a random max per call */
	walk_setup(&w, f, tv, &m);
	walk_check(&w, "%s, scan max 1..7 per call", what);
}

static void count_cb(const void *key, size_t len, void *value, void *arg)
{
	(void)key;
	(void)len;
	(void)value;
	++*(size_t *)arg;
}

static void traversals_of_an_empty_map_return_nothing_and_end_at_once(void **state)
{
	struct ifx f;
	struct trav tv;
	struct walk w;
	struct rcumap_iter it;
	const void *key = NULL;
	size_t len = 0, calls = 0;
	void *value = NULL;
	uint64_t cursor = 0;
	static const struct mode scan1 = { W_SCAN, 1, false, "scan" };

	(void)state;
	ifx_open(&f, &(struct ifx_opts){ .nkeys = 300, .nvals = 400, .min_slots = 1 });
	trav_init(&tv, &f, true);

	test_reader_enter();
	assert_rc(rcumap_iter_init(f.map, &it), 0);
	assert_rc(rcumap_iter_next(f.map, &it, &key, &len, &value), 0);
	assert_rc(rcumap_iter_next(f.map, &it, &key, &len, &value), 0); /* stays at the end */
	test_reader_leave();
	assert_rc(rcumap_scan(f.map, &cursor, 1, count_cb, &calls), 0);
	assert_size(cursor, 0);
	assert_size(calls, 0); /* fn never called */

	for (size_t s = 1; s <= 4096; s *= 64) {
		assert_rc(resize_retry(f.map, s), 0);
		walk_all_plain(&f, &tv, "empty map");
		assert_size(tv.returned, 0);
	}
	/* Emptied after growing: a big table of empty slots. */
	ifx_fill(&f, 0, 300);
	assert_rc(resize_retry(f.map, 4096), 0);
	for (size_t i = 0; i < 300; i++)
		ifx_must(&f, U_DELETE, i);
	/* The policy may have shrunk it meanwhile (timing): make it big again. */
	assert_rc(resize_retry(f.map, 4096), 0);
	assert_size(stats_of(f.map).slots, 4096);
	walk_all_plain(&f, &tv, "emptied map of 4096 slots");
	assert_size(tv.returned, 0);
	walk_setup(&w, &f, &tv, &scan1);
	walk_check(&w, "emptied map, scan max 1");
	calls = w.calls;
	assert_size(calls, 1);
	trav_fini(&tv);
	ifx_close(&f);
}

static void traversal_of_one_entry_returns_its_key_bytes_and_value_once(void **state)
{
	struct ifx f;
	struct trav tv;
	struct rcumap_iter it;
	const void *key = NULL;
	size_t len = 0;
	void *value = NULL;
	unsigned char k[IKEY_BUF];
	size_t klen = ikey_make(KS_NUM, 20, k); /* 28 bytes: stored out of line */

	(void)state;
	ifx_open(&f, &(struct ifx_opts){ .nkeys = 40, .nvals = 64 });
	trav_init(&tv, &f, true);
	ifx_must(&f, U_INSERT, 20);

	test_reader_enter();
	assert_rc(rcumap_iter_init(f.map, &it), 0);
	assert_rc(rcumap_iter_next(f.map, &it, &key, &len, &value), 1);
	assert_size(len, klen);
	assert_memory_equal(key, k, klen);
	assert_ptr_equal(value, f.ref[20]);
	assert_rc(rcumap_iter_next(f.map, &it, &key, &len, &value), 0);
	/* Any output may be NULL. */
	assert_rc(rcumap_iter_init(f.map, &it), 0);
	assert_rc(rcumap_iter_next(f.map, &it, NULL, NULL, NULL), 1);
	assert_rc(rcumap_iter_next(f.map, &it, NULL, NULL, NULL), 0);
	assert_rc(rcumap_iter_init(f.map, &it), 0);
	assert_rc(rcumap_iter_next(f.map, &it, NULL, &len, NULL), 1);
	assert_size(len, klen);
	test_reader_leave();

	walk_all_plain(&f, &tv, "one 28-byte key");
	assert_size(tv.returned, 1);
	ifx_must(&f, U_DELETE, 20);
	ifx_must(&f, U_INSERT, 3); /* 11 bytes: inline */
	walk_all_plain(&f, &tv, "one 11-byte key");
	assert_size(tv.returned, 1);
	trav_fini(&tv);
	ifx_close(&f);

	/* The empty key alone. */
	ifx_open(&f, &(struct ifx_opts){ .nkeys = 4, .nvals = 8, .ks = KS_LEN });
	trav_init(&tv, &f, true);
	ifx_must(&f, U_INSERT, 0);
	walk_all_plain(&f, &tv, "the empty key");
	assert_size(tv.returned, 1);
	trav_fini(&tv);
	ifx_close(&f);
}

static void traversal_of_many_entries_returns_each_exactly_once_at_every_table_size(void **state)
{
	const size_t n = under_valgrind() ? 300 : 2000;
	static const size_t sizes[] = { 1, 2, 16, 256, 4096, 65536 };
	struct ifx f;
	struct trav tv;
	char what[64];

	(void)state;
	ifx_open(&f, &(struct ifx_opts){ .nkeys = n, .nvals = n, .min_slots = 1 });
	trav_init(&tv, &f, true);
	ifx_fill(&f, 0, n);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		assert_rc(resize_retry(f.map, sizes[s]), 0);
		assert_size(stats_of(f.map).slots, sizes[s]);
		snprintf(what, sizeof(what), "%zu entries in %zu slots", n, sizes[s]);
		walk_all_plain(&f, &tv, what);
		assert_size(tv.returned, n);
	}
	trav_fini(&tv);
	ifx_close(&f);
}

static void keys_of_0_to_100_bytes_are_returned_once_with_their_exact_bytes(void **state)
{
	struct ifx f;
	struct trav tv;
	char what[64];

	(void)state;
	ifx_open(&f, &(struct ifx_opts){ .nkeys = 101, .nvals = 101, .min_slots = 1, .ks = KS_LEN });
	trav_init(&tv, &f, true);
	ifx_fill(&f, 0, 101); /* lengths 0..100: empty, inline and out-of-line keys */
	for (size_t s = 1; s <= 256; s *= 16) {
		assert_rc(resize_retry(f.map, s), 0);
		snprintf(what, sizeof(what), "keys of 0..100 bytes in %zu slots", s);
		walk_all_plain(&f, &tv, what);
		assert_size(tv.returned, 101);
	}
	trav_fini(&tv);
	ifx_close(&f);
}

static void keys_sharing_a_32_bit_hash_are_returned_together_and_once(void **state)
{
	static const size_t groups[] = { 2, 3, 7, 16, 60 };
	char what[96];

	(void)state;
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		struct ifx f;
		struct trav tv;

		/* 60 keys of one hash: the whole map collides. */
		ifx_open(&f, &(struct ifx_opts){ .nkeys = 240, .nvals = 240, .min_slots = 1,
						 .hmode = H_GROUP, .group = groups[g] });
		trav_init(&tv, &f, true);
		ifx_fill(&f, 0, groups[g] == 60 ? 60 : 240);
		assert_size(f.gmax, groups[g]);
		for (size_t s = 1; s <= 256; s *= 16) {
			assert_rc(resize_retry(f.map, s), 0);
			snprintf(what, sizeof(what), "groups of %zu keys of one hash, %zu slots",
				 groups[g], s);
			walk_all_plain(&f, &tv, what);
		}
		trav_fini(&tv);
		ifx_close(&f);
	}
}

/* Folded hashes at the ends and middle of hash space, some twice. */
static const uint32_t edge_folds[] = {
	0x00000000, 0x00000000, 0x00000001, 0x00000002, 0x00000003, 0x80000000,
	0x40000000, 0xc0000000, 0x7fffffff, 0xffffffff, 0xffffffff, 0xfffffffe,
	0x55555555, 0xaaaaaaaa, 0x00010000, 0x0000ffff, 0x80000001, 0x00008000,
	0x12345678, 0x87654321, 0xdeadbeef, 0x0badc0de, 0xfffffff0, 0x0fffffff,
};
#define N_EDGE (sizeof(edge_folds) / sizeof(edge_folds[0]))

struct from_pos {
	struct ifx *f;
	unsigned *count;
	size_t bad;
};

static void from_pos_cb(const void *key, size_t len, void *value, void *arg)
{
	struct from_pos *fp = arg;
	long id = ikey_decode(fp->f->ks, key, len, fp->f->nkeys);

	(void)value;
	if (id < 0)
		fp->bad++;
	else
		fp->count[id]++;
}

static void keys_at_both_ends_of_hash_space_are_returned_once_and_a_scan_resumes_at_any_position(void **state)
{
	const size_t n = N_EDGE + 40;
	uint32_t *table = malloc(n * sizeof(*table));
	uint64_t *starts = malloc((2 * n + 8) * sizeof(*starts));
	unsigned *count = calloc(n, sizeof(*count));
	uint64_t rng = 0x243f6a8885a308d3ull;
	size_t nstarts = 0;
	struct ifx f;
	struct trav tv;

	(void)state;
	assert_true(table && starts && count);
	for (size_t i = 0; i < n; i++)
		table[i] = i < N_EDGE ? edge_folds[i] : (uint32_t)rng_next(&rng);
	ifx_open(&f, &(struct ifx_opts){ .nkeys = n, .nvals = n, .min_slots = 1,
					 .hmode = H_TABLE, .table = table, .ntable = n });
	for (size_t i = 0; i < n; i++)
		assert_int_equal(f.fold[i], table[i]); /* the hash folds as intended */
	trav_init(&tv, &f, true);
	ifx_fill(&f, 0, n);

	starts[nstarts++] = 0;
	starts[nstarts++] = 1;
	starts[nstarts++] = 0x7fffffff;
	starts[nstarts++] = 0x80000000;
	starts[nstarts++] = 0xffffffff;
	for (size_t i = 0; i < n; i++) {
		uint64_t p = rev32(table[i]);

		starts[nstarts++] = p;
		if (p + 1 < POS_END)
			starts[nstarts++] = p + 1;
	}
	for (size_t s = 1; s <= 64; s *= 8) {
		char what[64];

		assert_rc(resize_retry(f.map, s), 0);
		snprintf(what, sizeof(what), "hash-space edges, %zu slots", s);
		walk_all_plain(&f, &tv, what);

		/* A cursor is a position: a scan from c passes exactly the keys at or after c. */
		for (size_t j = 0; j < nstarts; j++) {
			for (size_t mi = 0; mi < 3; mi++) {
				static const size_t maxes[] = { 1, 3, SIZE_MAX };
				struct from_pos fp = { &f, count, 0 };
				uint64_t cursor = starts[j];
				unsigned calls = 0;

				memset(count, 0, n * sizeof(*count));
				do {
					assert_rc(rcumap_scan(f.map, &cursor, maxes[mi], from_pos_cb, &fp), 0);
					assert_true(++calls <= 2 * n + 2);
				} while (cursor != 0);
				assert_size(fp.bad, 0);
				for (size_t i = 0; i < n; i++) {
					unsigned want = rev32(table[i]) >= starts[j];

					if (count[i] != want)
						fail_msg("%zu slots, scan from cursor %#llx (max %zu): key %zu at "
							 "position %#x passed %u times, expected %u", s,
							 (unsigned long long)starts[j], maxes[mi], i,
							 rev32(table[i]), count[i], want);
				}
			}
		}
	}
	trav_fini(&tv);
	ifx_close(&f);
	free(table);
	free(starts);
	free(count);
}

static void scan_and_iterator_reject_invalid_arguments_and_change_nothing(void **state)
{
	struct ifx f;
	struct rcumap_iter it;
	uint64_t cursor;
	size_t seen = 0;

	(void)state;
	ifx_open(&f, &(struct ifx_opts){ .nkeys = 16, .nvals = 16 });
	ifx_fill(&f, 0, 16);

	cursor = 0;
	assert_rc(rcumap_scan(NULL, &cursor, 1, count_cb, &seen), -EINVAL);
	assert_rc(rcumap_scan(f.map, NULL, 1, count_cb, &seen), -EINVAL);
	assert_rc(rcumap_scan(f.map, &cursor, 1, NULL, &seen), -EINVAL);
	assert_rc(rcumap_scan(f.map, &cursor, 0, count_cb, &seen), -EINVAL);
	assert_size(cursor, 0);
	cursor = POS_END;
	assert_rc(rcumap_scan(f.map, &cursor, 1, count_cb, &seen), -EINVAL);
	assert_size(cursor, POS_END);
	cursor = UINT64_MAX;
	assert_rc(rcumap_scan(f.map, &cursor, 1, count_cb, &seen), -EINVAL);
	assert_size(cursor, UINT64_MAX);
	assert_size(seen, 0);
	/* The largest valid cursor is accepted. */
	cursor = POS_END - 1;
	assert_rc(rcumap_scan(f.map, &cursor, 1, count_cb, &seen), 0);
	assert_size(cursor, 0);

	assert_rc(rcumap_iter_init(NULL, &it), -EINVAL);
	assert_rc(rcumap_iter_init(f.map, NULL), -EINVAL);
#ifndef RCUMAP_DEBUG
	/* Release builds return -EINVAL; debug builds abort (test_iter_debug checks that). */
	{
		struct rcumap *other = NULL;
		struct rcumap_config cfg = { .flavor = RCUMAP_FLAVOR };
		const void *key;
		size_t len;
		void *value;

		assert_rc(rcumap_create(&cfg, &other), 0);
		test_reader_enter();
		assert_rc(rcumap_iter_next(f.map, NULL, &key, &len, &value), -EINVAL);
		memset(&it, 0, sizeof(it));
		assert_rc(rcumap_iter_next(f.map, &it, &key, &len, &value), -EINVAL);
		assert_rc(rcumap_iter_init(f.map, &it), 0);
		assert_rc(rcumap_iter_next(other, &it, &key, &len, &value), -EINVAL);
		assert_rc(rcumap_iter_next(NULL, &it, &key, &len, &value), -EINVAL);
		/* The refused calls did not disturb the traversal. */
		seen = 0;
		while (rcumap_iter_next(f.map, &it, &key, &len, &value) == 1)
			seen++;
		assert_size(seen, 16);
		test_reader_leave();
		assert_rc(rcumap_destroy(other), 0);
	}
#endif
	ifx_close(&f);
}

static void scans_and_iterators_work_inside_the_callers_own_nested_read_sections(void **state)
{
	struct ifx f;
	struct trav tv;
	struct walk w;
	static const struct mode m[] = {
		{ W_ITER, 0, false, "iterator" }, { W_SCAN, 4, false, "scan" },
	};
	struct rcumap_iter a, b;
	size_t na = 0, nb = 0;

	(void)state;
	ifx_open(&f, &(struct ifx_opts){ .nkeys = 200, .nvals = 200 });
	trav_init(&tv, &f, true);
	ifx_fill(&f, 0, 200);
	test_reader_enter();
	test_reader_enter();
	for (size_t i = 0; i < 2; i++) {
		walk_setup(&w, &f, &tv, &m[i]);
		w.in_callers_section = true;
		walk_run(&w);
		if (tv.nerr)
			break;
	}
	/* Two iterators of one map interleaved in one section. */
	assert_rc(rcumap_iter_init(f.map, &a), 0);
	assert_rc(rcumap_iter_init(f.map, &b), 0);
	for (;;) {
		int ra = rcumap_iter_next(f.map, &a, NULL, NULL, NULL);
		int rb = rcumap_iter_next(f.map, &b, NULL, NULL, NULL);

		na += ra == 1;
		nb += rb == 1;
		if (ra != 1 && rb != 1)
			break;
	}
	test_reader_leave();
	test_reader_leave();
	trav_assert_clean(&tv, "inside the caller's nested read sections");
	assert_size(na, 200);
	assert_size(nb, 200);
	trav_fini(&tv);
	ifx_close(&f);
}

/* ---- Resizes during a traversal --------------------------------------------------- */

/*
 * For every mode, resize point and factor: bring the table to `from` slots,
 * open the gate, and resize to `to` slots once `at` entries were returned.
 */
static void resize_at_points(size_t n, size_t from, const size_t *to, size_t nto, const char *what,
			     enum hmode hm)
{
	struct ifx f;
	struct trav tv;
	const size_t points[] = { 1, n / 3, n / 2, n - 8 };

	ifx_open(&f, &(struct ifx_opts){ .nkeys = n, .nvals = n, .min_slots = 1, .hmode = hm });
	trav_init(&tv, &f, true);
	ifx_fill(&f, 0, n);
	for (size_t t = 0; t < nto; t++) {
		for (size_t p = 0; p < sizeof(points) / sizeof(points[0]); p++) {
			for (size_t m = 0; m < NMODES3; m++) {
				const struct mode *md = &modes3[m];
				struct walk w;

				assert_rc(resize_retry(f.map, from), 0);
				ifx_barrier(&f); /* the gate is open for the resize to come */
				walk_setup(&w, &f, &tv, md);
				walk_add(&w, points[p], md->between,
					 md->between ? act_resize_between : act_resize, to[t]);
				walk_check(&w, "%s %zu -> %zu slots after %zu of %zu entries (%s hash), %s",
					   what, from, to[t], points[p], n, hmode_name[hm], md->name);
				assert_size(stats_of(f.map).slots, to[t]);
			}
		}
	}
	trav_fini(&tv);
	ifx_close(&f);
}

static void a_grow_by_2_or_8_at_any_point_of_a_traversal_keeps_every_key_exactly_once(void **state)
{
	static const size_t to[] = { 128, 512 };

	(void)state;
	for (int hm = H_MIX; hm <= H_ID; hm++)
		resize_at_points(under_valgrind() ? 120 : 400, 64, to, 2, "grow", (enum hmode)hm);
}

static void a_shrink_at_any_point_of_a_traversal_returns_no_key_twice(void **state)
{
	/* Halving merges a visited slot with an unvisited one: the duplicate trap. */
	static const size_t to[] = { 256, 32, 1 };

	(void)state;
	for (int hm = H_MIX; hm <= H_ID; hm++)
		resize_at_points(under_valgrind() ? 120 : 400, 512, to, 3, "shrink", (enum hmode)hm);
}

/* Between every scan call, one or two resizes by the next factors of a cycle. */
struct cycle {
	size_t slots;
	unsigned step;
	size_t resizes;
};

static const int cycle_shift[] = { 1, 3, -1, -4, 4, -3, 2, -2, 1, -1 };
#define NCYCLE (sizeof(cycle_shift) / sizeof(cycle_shift[0]))

/* The next size of the cycle that differs from the current one. */
static size_t cycle_next(struct cycle *c)
{
	size_t slots = c->slots;

	for (size_t i = 0; i < NCYCLE && slots == c->slots; i++) {
		int s = cycle_shift[c->step++ % NCYCLE];

		slots = s > 0 ? c->slots << s : c->slots >> -s;
		if (slots < 1)
			slots = 1;
		if (slots > 65536)
			slots = 65536;
	}
	return slots;
}

static void act_cycle_between(struct walk *w, struct action *a)
{
	struct cycle *c = w->ctx;
	unsigned times = 1 + (w->calls % 3 == 0); /* every third gap: two resizes */

	for (unsigned i = 0; i < times; i++) {
		int rc = rcumap_barrier(w->f->map);

		if (rc == 0) {
			size_t slots = cycle_next(c);

			rc = rcumap_resize(w->f->map, slots);
			if (rc == 0) {
				c->slots = slots;
				c->resizes++;
			}
		}
		if (rc != 0)
			terr(w->tv, E_SETUP, "SETUP: barrier and resize between scan calls: %d (%s)", rc,
			     errname(rc));
	}
	/* Again at the next gap. */
	a->repeat = true;
	a->done = false;
	a->at = w->nth + 1;
}

/* Inside the callback, at the first entry of each call; the gap only takes the barrier. */
static void act_cycle_inside(struct walk *w, struct action *a)
{
	struct cycle *c = w->ctx;
	size_t slots = cycle_next(c);
	int rc = rcumap_resize(w->f->map, slots);

	if (rc == 0) {
		c->slots = slots;
		c->resizes++;
	} else {
		terr(w->tv, E_SETUP, "SETUP: resize to %zu inside the callback: %d (%s)", slots, rc,
		     errname(rc));
	}
	(void)a;
}

static void act_barrier_rearm(struct walk *w, struct action *a)
{
	int rc = rcumap_barrier(w->f->map);

	if (rc != 0)
		terr(w->tv, E_SETUP, "SETUP: barrier between scan calls: %d", rc);
	a->repeat = true;
	a->done = false;
	a->at = w->nth + 1;
	/* Re-arm the in-callback resize (action 0) for the next call. */
	w->act[0].repeat = true;
	w->act[0].done = false;
	w->act[0].at = w->nth + 1;
}

static void grows_and_shrinks_by_2_8_and_16_between_scan_calls_keep_every_key_exactly_once(void **state)
{
	const size_t n = under_valgrind() ? 90 : 300;
	struct ifx f;
	struct trav tv;
	struct cycle c;
	struct rcumap_stats s0, s1;
	static const struct mode scan3 = { W_SCAN, 3, true, "scan" };
	static const struct mode scan_r = { W_SCAN, 0, true, "scan" };

	(void)state;
	for (int variant = 0; variant < 3; variant++) {
		struct walk w;

		/* Variant 1 puts keys on slot boundaries (see H_ID). */
		ifx_open(&f, &(struct ifx_opts){ .nkeys = n, .nvals = n, .min_slots = 1,
						 .hmode = variant == 1 ? H_ID : H_MIX });
		trav_init(&tv, &f, false);
		ifx_fill(&f, 0, n);
		assert_rc(resize_retry(f.map, 64), 0);
		ifx_barrier(&f);
		c = (struct cycle){ .slots = 64, .step = (unsigned)variant * 3 };
		s0 = stats_of(f.map);
		walk_setup(&w, &f, &tv, variant == 1 ? &scan_r : &scan3);
		w.ctx = &c;
		if (variant < 2) {
			walk_add(&w, 1, true, act_cycle_between, 0);
		} else {
			walk_add(&w, 1, false, act_cycle_inside, 0);
			walk_add(&w, 1, true, act_barrier_rearm, 0);
		}
		walk_check(&w, "resizes by x2 x8 /2 /16 x16 /8 x4 /4 %s",
			   variant == 2 ? "inside every scan call" : "between every scan call");
		s1 = stats_of(f.map);
		print_message("# variant %d: %u scan calls, %zu resizes (%llu grows, %llu shrinks)\n",
			      variant, w.calls, c.resizes,
			      (unsigned long long)(s1.grows - s0.grows),
			      (unsigned long long)(s1.shrinks - s0.shrinks));
		assert_true(c.resizes + 1 >= w.calls);
		assert_size(s1.grows + s1.shrinks - s0.grows - s0.shrinks, c.resizes);
		trav_fini(&tv);
		ifx_close(&f);
	}
}

/* ---- Half-done migrations ---------------------------------------------------------- */

struct pending_kind {
	size_t from, to;
	const char *name;
};

static const struct pending_kind pending_kinds[] = {
	{ 32, 64, "grow x2" }, { 32, 256, "grow x8" },
	{ 256, 128, "shrink /2" }, { 256, 32, "shrink /8" },
};
#define NPENDING (sizeof(pending_kinds) / sizeof(pending_kinds[0]))

/* On the test thread: leave a migration from `from` to `to` half done. */
static void leave_pending(struct ifx *f, size_t from, size_t to)
{
	struct rcumap_stats st;
	int rc;

	assert_rc(resize_retry(f->map, from), 0);
	ifx_barrier(f);
	rc = make_pending(f, to);
	st = stats_of(f->map);
	if (rc != -ENOMEM || !st.resizing)
		fail_msg("SETUP: resize %zu -> %zu failing half way returned %d, resizing %d",
			 from, to, rc, st.resizing);
	ifx_check(f); /* contents unchanged, structure sound while pending */
}

/* Every kind of half-done migration, for every mode, with keys placed by hash hm. */
static void half_done_migrations(size_t n, enum hmode hm)
{
	struct ifx f;
	struct trav tv;

	ifx_open(&f, &(struct ifx_opts){ .nkeys = n, .nvals = n + 16000, .min_slots = 1,
					 .hmode = hm });
	trav_init(&tv, &f, true);
	ifx_fill(&f, 0, n);
	for (size_t k = 0; k < NPENDING; k++) {
		const struct pending_kind *pk = &pending_kinds[k];

		for (size_t m = 0; m < NMODES3; m++) {
			const struct mode *md = &modes3[m];
			struct walk w;

			/* Pending before the traversal, left pending throughout. */
			leave_pending(&f, pk->from, pk->to);
			walk_setup(&w, &f, &tv, md);
			walk_check(&w, "%s pending throughout (%s hash), %s", pk->name,
				   hmode_name[hm], md->name);
			assert_int_equal(stats_of(f.map).resizing, 1);

			/* Pending before, completed by updates half way through. */
			walk_setup(&w, &f, &tv, md);
			walk_add(&w, n / 2, md->between, act_finish, 0);
			walk_check(&w, "%s pending at the start, completed after %zu entries (%s hash), %s",
				   pk->name, n / 2, hmode_name[hm], md->name);
			assert_size(stats_of(f.map).slots, pk->to);

			/* Started and left half done a third of the way, completed at two thirds. */
			assert_rc(resize_retry(f.map, pk->from), 0);
			ifx_barrier(&f);
			walk_setup(&w, &f, &tv, md);
			walk_add(&w, n / 3, md->between, md->between ? act_pending_between : act_pending,
				 pk->to);
			walk_add(&w, 2 * n / 3, md->between, act_finish, 0);
			walk_check(&w, "%s left half done after %zu entries, completed after %zu (%s hash), %s",
				   pk->name, n / 3, 2 * n / 3, hmode_name[hm], md->name);
			assert_int_equal(stats_of(f.map).resizing, 0);
			assert_size(stats_of(f.map).slots, pk->to);
			ifx_check(&f);
		}
	}
	trav_fini(&tv);
	ifx_close(&f);
}

static void a_half_done_migration_is_traversed_exactly_once_and_may_complete_mid_traversal(void **state)
{
	const size_t n = under_valgrind() ? 120 : 300;

	(void)state;
	finish_updates_total = finish_runs = finish_first_update = 0;
	half_done_migrations(n, H_MIX);
	half_done_migrations(n, H_ID);
	print_message("# pending migrations completed by updates: %zu runs, %zu updates in all, "
		      "%zu completed by the first update\n",
		      finish_runs, finish_updates_total, finish_first_update);
}

/*
 * An update while a migration is pending, which must not complete it: fail
 * every allocation from call k on, for the smallest k that lets the update
 * itself succeed, so that the resumption it may attempt fails instead.
 */
static void update_keeping_pending(struct ifx *f, enum uop op, size_t id)
{
	int want = uop_expect(f, op, id);

	for (unsigned long k = 0; k < 64; k++) {
		int rc;

		ca_arm(f->ca, k, true);
		rc = ifx_update(f, op, id);
		ca_disarm(f->ca);
		if (rc == -ENOMEM)
			continue; /* the update needed call k: nothing changed, allow one more */
		if (rc != want)
			fail_msg("%s of key %zu during a pending migration returned %d, expected %d",
				 uop_name[op], id, rc, want);
		if (!stats_of(f->map).resizing)
			fail_msg("SETUP: %s of key %zu completed the pending migration", uop_name[op], id);
		return;
	}
	fail_msg("SETUP: %s of key %zu kept failing with -ENOMEM", uop_name[op], id);
}

static void updates_made_while_a_migration_is_pending_are_seen_by_every_later_traversal(void **state)
{
	const size_t n = under_valgrind() ? 120 : 300, extra = n;
	static const struct pending_kind kinds[] = {
		{ 32, 64, "grow x2" }, { 16, 128, "grow x8" },
		{ 256, 128, "shrink /2" }, { 256, 16, "shrink /16" },
	};
	struct ifx f;
	struct trav tv;
	char what[128];

	(void)state;
	for (size_t kh = 0; kh < 2 * sizeof(kinds) / sizeof(kinds[0]); kh++) {
		size_t k = kh / 2, replaced = 0, deleted = 0, inserted = 0;
		enum hmode hm = kh % 2 ? H_ID : H_MIX;

		ifx_open(&f, &(struct ifx_opts){ .nkeys = n + extra, .nvals = 8 * n, .min_slots = 1,
						 .hmode = hm });
		trav_init(&tv, &f, true);
		ifx_fill(&f, 0, n);
		leave_pending(&f, kinds[k].from, kinds[k].to);
		/*
		 * Replace a third of the keys, delete a sixth, insert new ones: the
		 * writers change the newer slots (filling them first where the
		 * driver did not), so the frozen older buckets go stale. A
		 * traversal that started after these updates must see all of them.
		 * Only keys of the first quarter of the newer slots (filled by the
		 * driver) and of every fourth slot of the second half (filled by
		 * the update): the rest of the second half stays unfilled, so that
		 * the migration cannot complete without allocating.
		 */
		for (size_t i = 0; i < n + extra; i++) {
			size_t d = f.fold[i] & (kinds[k].to - 1);

			if (d >= kinds[k].to / 4 && (d < kinds[k].to / 2 || d % 4 != 0))
				continue;
			if (i >= n) {
				update_keeping_pending(&f, U_INSERT, i);
				inserted++;
			} else if (i % 3 == 0) {
				update_keeping_pending(&f, i % 2 ? U_REPLACE : U_PUT, i);
				replaced++;
			} else if (i % 6 == 1) {
				update_keeping_pending(&f, U_DELETE, i);
				deleted++;
			}
		}
		assert_true(replaced > 5 && deleted > 2 && inserted > 2);
		ifx_check(&f);
		snprintf(what, sizeof(what), "%s pending (%s hash), %zu replaced, %zu deleted, %zu inserted",
			 kinds[k].name, hmode_name[hm], replaced, deleted, inserted);
		walk_all_plain(&f, &tv, what);
		assert_int_equal(stats_of(f.map).resizing, 1);

		assert_rc(resize_retry(f.map, kinds[k].to), 0); /* finishes it */
		assert_int_equal(stats_of(f.map).resizing, 0);
		snprintf(what, sizeof(what), "%s completed after the updates", kinds[k].name);
		walk_all_plain(&f, &tv, what);
		trav_fini(&tv);
		ifx_close(&f);
	}
}

/* ---- Updates from inside the traversal (guarantee E) ---------------------------------- */

static const struct mode modes_e[] = {
	{ W_ITER, 0, false, "in-section iterator" },
	{ W_SCAN, 1, false, "scan max 1" },
	{ W_SCAN, 4, false, "scan max 4" },
	{ W_SCAN, 0, false, "scan max 1..7" },
	{ W_SCAN, 3, true, "scan max 3, updating between calls too" },
};
#define NMODES_E (sizeof(modes_e) / sizeof(modes_e[0]))

static void expect_update(struct walk *w, enum uop op, size_t id)
{
	int want = uop_expect(w->f, op, id);
	int rc = ifx_update(w->f, op, id);

	if (rc != want)
		terr(w->tv, E_UPDATE, "UPDATE: %s of key %zu during the traversal returned %d (%s), "
		     "expected %d", uop_name[op], id, rc, errname(rc), want);
}

static void each_delete_current(struct walk *w, long id)
{
	expect_update(w, U_DELETE, (size_t)id);
}

static void each_delete_current_and_reinsert(struct walk *w, long id)
{
	expect_update(w, U_DELETE, (size_t)id);
	expect_update(w, U_INSERT, (size_t)id);
}

static void each_delete_every_other(struct walk *w, long id)
{
	if (w->nth % 2)
		expect_update(w, id % 2 ? U_DELETE : U_DELETE_IF, (size_t)id);
}

/* A random key in the given state relative to the traversal, or -1. */
static long pick_key(struct walk *w, bool visited, bool present)
{
	struct ifx *f = w->f;

	for (int tries = 0; tries < 64; tries++) {
		size_t i = ifx_rand(f, f->nkeys);

		if ((w->tv->count[i] > 0) == visited && (f->ref[i] != NULL) == present)
			return (long)i;
	}
	return -1;
}

static void each_delete_visited(struct walk *w, long id)
{
	long k = pick_key(w, true, true);

	(void)id;
	if (k >= 0)
		expect_update(w, U_DELETE, (size_t)k);
}

static void each_delete_unvisited(struct walk *w, long id)
{
	long k = pick_key(w, false, true);

	(void)id;
	if (k >= 0 && ifx_rand(w->f, 3) == 0)
		expect_update(w, U_DELETE, (size_t)k);
}

static void each_replace(struct walk *w, long id)
{
	long v = pick_key(w, true, true), u = pick_key(w, false, true);

	expect_update(w, U_PUT, (size_t)id);
	if (v >= 0)
		expect_update(w, U_REPLACE, (size_t)v);
	if (u >= 0)
		expect_update(w, U_CAS, (size_t)u);
}

static void each_insert_two(struct walk *w, long id)
{
	(void)id;
	for (int i = 0; i < 2; i++) {
		long k = pick_key(w, false, false);

		if (k >= 0)
			expect_update(w, i ? U_GET_OR_INSERT : U_INSERT, (size_t)k);
	}
}

static void each_random(struct walk *w, long id)
{
	struct ifx *f = w->f;
	unsigned ops = (unsigned)ifx_rand(f, 4);

	for (unsigned i = 0; i < ops; i++) {
		enum uop op = (enum uop)ifx_rand(f, U_OPS);
		long k;

		switch (ifx_rand(f, 4)) {
		case 0: k = id; break;
		case 1: k = pick_key(w, true, ifx_rand(f, 2)); break;
		case 2: k = pick_key(w, false, ifx_rand(f, 2)); break;
		default: k = (long)ifx_rand(f, f->nkeys); break;
		}
		if (k >= 0)
			expect_update(w, op, (size_t)k);
	}
	if (ifx_rand(f, 64) == 0) {
		/* A forced resize from inside: 0, or -EBUSY while the gate is closed. */
		size_t slots = (size_t)1 << ifx_rand(f, 12);
		int rc = rcumap_resize(f->map, slots);

		if (rc != 0 && rc != -EBUSY)
			terr(w->tv, E_UPDATE, "UPDATE: rcumap_resize(%zu) during the traversal returned %d",
			     slots, rc);
	}
}

/* Between scan calls: the same updates as inside, around the key returned last. */
static void act_each_between(struct walk *w, struct action *a)
{
	if (w->last_id >= 0)
		w->each(w, w->last_id);
	a->repeat = true;
	a->done = false;
	a->at = w->nth + 1;
}

struct e_case {
	void (*each)(struct walk *w, long id);
	const char *name;
	size_t start;      /* keys present at the start: [0, start) */
	bool empties;      /* the map ends empty */
};

static void run_e_case(const struct e_case *e, size_t nkeys, unsigned rounds)
{
	struct ifx f;
	struct trav tv;
	size_t dead[2] = { 0, 0 }, dead_seen[2] = { 0, 0 }, gone[2] = { 0, 0 }; /* by wmode */

	ifx_open(&f, &(struct ifx_opts){ .nkeys = nkeys, .nvals = 64 * nkeys * rounds,
					 .min_slots = 1 });
	trav_init(&tv, &f, true);
	for (unsigned r = 0; r < rounds; r++) {
		for (size_t m = 0; m < NMODES_E; m++) {
			struct walk w;

			/* Back to keys [0, start) only, the gate open. */
			for (size_t i = 0; i < nkeys; i++)
				if ((i < e->start) != (f.ref[i] != NULL))
					ifx_must(&f, i < e->start ? U_INSERT : U_DELETE, i);
			ifx_barrier(&f);
			walk_setup(&w, &f, &tv, &modes_e[m]);
			w.each = e->each;
			if (modes_e[m].between)
				walk_add(&w, 1, true, act_each_between, 0);
			walk_check(&w, "%s, %s, round %u", e->name, modes_e[m].name, r);
			if (e->empties)
				assert_size(rcumap_count(f.map), 0);
			ifx_check(&f);
			dead[modes_e[m].m] += tv.deleted_unvisited;
			dead_seen[modes_e[m].m] += tv.deleted_unvisited_seen;
			gone[modes_e[m].m] += tv.gone;
		}
	}
	/*
	 * D.1 lets a traversal return a key deleted before it got there, D.3
	 * not if the step deciding it had not begun (those were checked, as
	 * "beyond the current step"); how often each happened:
	 */
	if (dead[W_ITER] + dead[W_SCAN])
		print_message("# %s: iterator: %zu keys deleted before being returned, %zu of them "
			      "beyond the current step, %zu returned anyway; scans: %zu, %zu, %zu\n",
			      e->name, dead[W_ITER], gone[W_ITER], dead_seen[W_ITER], dead[W_SCAN],
			      gone[W_SCAN], dead_seen[W_SCAN]);
	trav_fini(&tv);
	ifx_close(&f);
}

static void deleting_the_current_key_returns_every_key_once_and_empties_the_map(void **state)
{
	const size_t n = under_valgrind() ? 200 : 1000;
	const struct e_case e = { each_delete_current, "delete the current key", n, true };
	const struct e_case r = { each_delete_current_and_reinsert,
				  "delete the current key and insert it again", n, false };

	(void)state;
	run_e_case(&e, n, 1);
	run_e_case(&r, n, 1);
}

static void deleting_replacing_and_inserting_other_keys_keeps_the_rest_exactly_once(void **state)
{
	const size_t n = under_valgrind() ? 150 : 600;
	const struct e_case cases[] = {
		{ each_delete_every_other, "delete every other returned key", n, false },
		{ each_delete_visited, "delete an already returned key", n, false },
		{ each_delete_unvisited, "delete a key not yet returned", n, false },
		{ each_replace, "replace the current, a returned and an unreturned key", n, false },
		{ each_insert_two, "insert two new keys per entry", n / 4, false },
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		run_e_case(&cases[c], n, 1);
}

static void random_updates_and_resizes_from_inside_a_traversal_keep_guarantees_b_c_d(void **state)
{
	const size_t n = under_valgrind() ? 120 : 500;
	const struct e_case e = { each_random, "random updates of any key", n / 2, false };

	(void)state;
	run_e_case(&e, n, under_valgrind() ? 2 : 6);
}

/* ---- Deleting everything through a scan ---------------------------------------------- */

static void each_delete_current_fast(struct walk *w, long id)
{
	int rc = ifx_update(w->f, U_DELETE, (size_t)id);

	if (rc != 0)
		terr(w->tv, E_UPDATE, "UPDATE: delete of key %ld returned %d", id, rc);
}

static void a_scan_deleting_every_entry_of_a_million_sees_each_once_and_leaves_the_map_empty_and_small(void **state)
{
	const size_t n = under_valgrind() ? 100000 : 1000000;
	struct ifx f;
	struct trav tv;
	struct walk w;
	struct rcumap_stats big, after_scan, st;
	static const struct mode scan = { W_SCAN, 1000, false, "scan" };
	double t0 = now_s(), t1;

	(void)state;
	ifx_open(&f, &(struct ifx_opts){ .nkeys = n, .nvals = n, .min_slots = 8 });
	trav_init(&tv, &f, false);
	ifx_fill(&f, 0, n);
	ifx_barrier(&f);
	big = stats_of(f.map);
	t1 = now_s();

	walk_setup(&w, &f, &tv, &scan);
	w.each = each_delete_current_fast;
	walk_check(&w, "scan deleting every entry of %zu", n);
	assert_size(tv.returned, n);
	for (size_t i = 0; i < n; i++)
		if (tv.count[i] != 1)
			fail_msg("key %zu passed %u times", i, tv.count[i]);
	after_scan = stats_of(f.map);
	assert_size(rcumap_count(f.map), 0);
	assert_rc(rcumap_validate(f.map), 0);

	/*
	 * design.md, D.4: the table shrinks on the updates that follow mass
	 * deletes, one generation per grace period (I6); the last step may
	 * wait for the gate, and rcumap_resize(map, 0) applies the policy now.
	 */
	ifx_barrier(&f);
	assert_rc(resize_retry(f.map, 0), 0);
	ifx_barrier(&f);
	st = stats_of(f.map);
	print_message("# %zu entries: filled in %.1f s to %zu slots; the deleting scan took %u calls, "
		      "%.1f s, %llu shrinks meanwhile, leaving %zu slots; %zu after resize(0)\n", n,
		      t1 - t0, big.slots, w.calls, now_s() - t1,
		      (unsigned long long)(after_scan.shrinks - big.shrinks), after_scan.slots,
		      st.slots);
	assert_true(after_scan.shrinks > big.shrinks); /* it shrank while the scan deleted */
	assert_size(st.slots, 8);                      /* min_slots */
	assert_size(st.entries, 0);
	assert_int_equal(st.resizing, 0);

	/* All memory came back: only the map and its current table remain. */
	ifx_check_reclaimed(&f);
	ifx_check_frees(&f);
	for (int k = 0; k < CA_KINDS; k++) {
		unsigned long live = atomic_load(&f.ca->kind_allocs[k]) -
				     atomic_load(&f.ca->kind_frees[k]);
		unsigned long want = k == RCUMAP_KIND_TABLE || k == RCUMAP_KIND_MAP;

		if (live != want)
			fail_msg("kind %d: %lu objects still allocated, expected %lu", k, live, want);
	}
	trav_fini(&tv);
	ifx_close(&f);
}

/* ---- Concurrent: writers, a resizer and traversals of both kinds ----------------------- */

/*
 * Keys [0, C_STABLE): inserted before, never touched: every traversal must
 * return each exactly once. [C_STABLE, C_STABLE + C_REPL): always present,
 * their values replaced all the time (put, replace, cas): also exactly once,
 * each time with a value written for that key. The rest churn (inserted,
 * deleted, replaced): at most once. Values are malloc'd and carry the key
 * and a check word; free_value poisons them before freeing.
 */
#define C_STABLE 2000u
#define C_REPL 400u
#define C_CHURN 1600u
#define C_KEYS (C_STABLE + C_REPL + C_CHURN)
#define WRITER_PAUSE_US 200 /* after every 32 updates */
#define CVAL_LIVE 0x434c4956455f5631ull /* "CLIVE_V1" */
#define CVAL_DEAD 0x43444541445f5631ull

struct cval {
	uint64_t magic;
	uint32_t key;
	uint32_t writer;
	uint64_t serial;
	uint64_t check;
};

static uint64_t cval_check(uint32_t key, uint64_t serial)
{
	return mix64(((uint64_t)key << 32) ^ serial ^ 0x6a09e667f3bcc908ull);
}

enum cthread_kind { CT_WRITER, CT_RESIZER, CT_ITER, CT_SCAN };

struct conc {
	struct rcumap *map;
	atomic_bool stop;
	atomic_ulong created, map_freed, caller_freed, free_errors;
	atomic_ulong serial;
};

struct cthread {
	struct conc *c;
	enum cthread_kind kind;
	int id;
	pthread_t tid;
	uint64_t rng;
	/* results, read after the join */
	unsigned long ops, traversals, calls, entries, spanning, max_gens, resizes, busy;
	unsigned long kinds[E_KINDS];
	unsigned long errors;
	char first[320];
	/* per traversal */
	unsigned *count;
	const struct cval **held;
	size_t nheld;
};

static void cerr(struct cthread *t, enum terr kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cerr(struct cthread *t, enum terr kind, const char *fmt, ...)
{
	va_list ap;

	t->kinds[kind]++;
	if (t->errors++ == 0) {
		va_start(ap, fmt);
		vsnprintf(t->first, sizeof(t->first), fmt, ap);
		va_end(ap);
	}
}

static void conc_free_value(void *value, void *arg)
{
	struct conc *c = arg;
	struct cval *v = value;

	if (v->magic != CVAL_LIVE)
		atomic_fetch_add(&c->free_errors, 1);
	*(volatile uint64_t *)&v->magic = CVAL_DEAD; /* a late reader sees DEAD */
	free(v);
	atomic_fetch_add(&c->map_freed, 1);
}

static struct cval *cval_new(struct cthread *t, uint32_t key)
{
	struct cval *v = malloc(sizeof(*v));

	if (!v)
		abort();
	v->magic = CVAL_LIVE;
	v->key = key;
	v->writer = (uint32_t)t->id;
	v->serial = atomic_fetch_add(&t->c->serial, 1);
	v->check = cval_check(key, v->serial);
	atomic_fetch_add(&t->c->created, 1);
	return v;
}

static void cval_drop(struct cthread *t, struct cval *v)
{
	v->magic = CVAL_DEAD;
	free(v);
	atomic_fetch_add(&t->c->caller_freed, 1);
}

/* A returned value must be live and written for this key. */
static void cval_verify(struct cthread *t, const struct cval *v, uint32_t key)
{
	if (!v)
		cerr(t, E_BADVALUE, "BADVALUE: key %u returned with a NULL value", key);
	else if (v->magic != CVAL_LIVE)
		cerr(t, E_BADVALUE, "BADVALUE: key %u returned with a freed value (magic %#llx)", key,
		     (unsigned long long)v->magic);
	else if (v->key != key || v->check != cval_check(v->key, v->serial))
		cerr(t, E_BADVALUE, "BADVALUE: key %u returned with a value written for key %u", key,
		     v->key);
}

static int conc_update(struct cthread *t, uint32_t key, unsigned op)
{
	struct rcumap *map = t->c->map;
	unsigned char k[KEY_BUF];
	size_t len = key_make(key, k);
	bool repl = key < C_STABLE + C_REPL;
	struct cval *v = NULL;
	void *res = NULL, *cur;
	int rc;

	if (repl)
		op %= 3; /* put, replace, cas: the key never goes away */
	switch (op % 7) {
	case 0:
		v = cval_new(t, key);
		rc = rcumap_put(map, k, len, v);
		if (rc != 0)
			cerr(t, E_UPDATE, "UPDATE: put of key %u returned %d", key, rc);
		break;
	case 1:
		v = cval_new(t, key);
		rc = rcumap_replace(map, k, len, v);
		if (rc != 0 && (repl || rc != -ENOENT))
			cerr(t, E_UPDATE, "UPDATE: replace of key %u returned %d", key, rc);
		break;
	case 2:
		test_reader_enter();
		cur = rcumap_get(map, k, len);
		if (cur) {
			cval_verify(t, cur, key);
			v = cval_new(t, key);
			rc = rcumap_cas(map, k, len, cur, v);
			if (rc != 0 && rc != -EAGAIN && (repl || rc != -ENOENT))
				cerr(t, E_UPDATE, "UPDATE: cas of key %u returned %d", key, rc);
		} else {
			rc = -ENOENT;
			if (repl)
				cerr(t, E_UPDATE, "UPDATE: always-present key %u not found", key);
		}
		test_reader_leave();
		break;
	case 3:
		v = cval_new(t, key);
		rc = rcumap_insert(map, k, len, v);
		if (rc != 0 && rc != -EEXIST)
			cerr(t, E_UPDATE, "UPDATE: insert of key %u returned %d", key, rc);
		break;
	case 4:
		v = cval_new(t, key);
		rc = rcumap_get_or_insert(map, k, len, v, &res);
		if (rc != 0 && rc != -EEXIST)
			cerr(t, E_UPDATE, "UPDATE: get_or_insert of key %u returned %d", key, rc);
		break;
	case 5:
		rc = rcumap_delete(map, k, len);
		if (rc != 0 && rc != -ENOENT)
			cerr(t, E_UPDATE, "UPDATE: delete of key %u returned %d", key, rc);
		break;
	default:
		test_reader_enter();
		cur = rcumap_get(map, k, len);
		rc = cur ? rcumap_delete_if(map, k, len, cur) : -ENOENT;
		if (rc != 0 && rc != -EAGAIN && rc != -ENOENT)
			cerr(t, E_UPDATE, "UPDATE: delete_if of key %u returned %d", key, rc);
		test_reader_leave();
		break;
	}
	if (v && rc != 0)
		cval_drop(t, v);
	t->ops++;
	return rc;
}

static void *writer_main(void *arg)
{
	struct cthread *t = arg;

	test_thread_register();
	while (!atomic_load_explicit(&t->c->stop, memory_order_relaxed)) {
		for (int i = 0; i < 32; i++) {
			uint64_t r = rng_next(&t->rng);
			uint32_t key = C_STABLE + (uint32_t)((r >> 8) % (C_REPL + C_CHURN));

			conc_update(t, key, (unsigned)(r >> 40));
		}
		test_quiesce();
		/*
		 * Every update retires a bucket through call_rcu. Flat out, two
		 * writers queue callbacks faster than the one call_rcu worker
		 * frees them on two cores, and the resize gate (which waits for
		 * the retired table's callback) would open a few times a run.
		 */
		sleep_us(WRITER_PAUSE_US);
	}
	test_thread_unregister();
	return NULL;
}

static void *resizer_main(void *arg)
{
	static const size_t sizes[] = { 64, 4096, 16, 1024, 8, 256, 8192, 32, 2048, 1, 512, 128 };
	struct cthread *t = arg;
	size_t i = 0;

	test_thread_register();
	while (!atomic_load_explicit(&t->c->stop, memory_order_relaxed)) {
		int rc = rcumap_resize(t->c->map, sizes[i % (sizeof(sizes) / sizeof(sizes[0]))]);

		if (rc == 0) {
			t->resizes++;
			i++;
		} else if (rc == -EBUSY) {
			/* The gate is closed (or another thread drives): wait for reclamation. */
			t->busy++;
			rc = rcumap_barrier(t->c->map);
			if (rc != 0)
				cerr(t, E_SETUP, "SETUP: rcumap_barrier in the resizer returned %d", rc);
		} else {
			cerr(t, E_SETUP, "SETUP: rcumap_resize returned %d", rc);
		}
		test_quiesce();
	}
	test_thread_unregister();
	return NULL;
}

static void citer_entry(struct cthread *t, const void *key, size_t len, const void *value)
{
	long id = ikey_decode(KS_NUM, key, len, C_KEYS);

	t->entries++;
	if (id < 0) {
		cerr(t, E_BADKEY, "BADKEY: a returned key (%zu bytes) is not a key of the test", len);
		return;
	}
	if (++t->count[id] == 2)
		cerr(t, E_DUPLICATE, "DUPLICATE: key %ld returned twice in one traversal (C)", id);
	cval_verify(t, value, (uint32_t)id);
}

static void citer_end(struct cthread *t, uint64_t gen0)
{
	uint64_t gens = stats_of(t->c->map).generation - gen0;

	for (uint32_t i = 0; i < C_STABLE + C_REPL; i++)
		if (t->count[i] == 0)
			cerr(t, E_MISSED, "MISSED: key %u (%s) not returned by a traversal (B)", i,
			     i < C_STABLE ? "never touched" : "always present, values replaced");
	t->traversals++;
	t->spanning += gens > 0;
	if (gens > t->max_gens)
		t->max_gens = gens;
}

static void *iter_main(void *arg)
{
	struct cthread *t = arg;

	test_thread_register();
	while (!atomic_load_explicit(&t->c->stop, memory_order_relaxed)) {
		struct rcumap_iter it;
		const void *key;
		size_t len;
		void *value;
		uint64_t gen0 = stats_of(t->c->map).generation;
		int rc;

		memset(t->count, 0, C_KEYS * sizeof(*t->count));
		t->nheld = 0;
		test_reader_enter();
		rc = rcumap_iter_init(t->c->map, &it);
		while (rc == 0 && (rc = rcumap_iter_next(t->c->map, &it, &key, &len, &value)) == 1) {
			rc = 0;
			citer_entry(t, key, len, value);
			if (t->nheld < 2 * C_KEYS)
				t->held[t->nheld++] = value;
			if (t->nheld >= 2 * C_KEYS) {
				cerr(t, E_DUPLICATE, "DUPLICATE: the iterator does not end");
				break;
			}
		}
		if (rc < 0)
			cerr(t, E_SETUP, "SETUP: iterator returned %d", rc);
		/* Every value returned is still intact at the end of the section. */
		for (size_t i = 0; i < t->nheld; i++)
			if (t->held[i]->magic != CVAL_LIVE)
				cerr(t, E_BADVALUE,
				     "BADVALUE: a returned value was freed before the read section ended");
		test_reader_leave();
		citer_end(t, gen0);
		test_quiesce();
		if (t->traversals % 16 == 0)
			sleep_us(200);
	}
	test_thread_unregister();
	return NULL;
}

static void cscan_cb(const void *key, size_t len, void *value, void *arg)
{
	struct cthread *t = arg;
	long id = ikey_decode(KS_NUM, key, len, C_KEYS);

	citer_entry(t, key, len, value);
	/* Guarantee E under concurrency: update keys from inside the callback. */
	if (id >= (long)C_STABLE && rng_next(&t->rng) % 8 == 0)
		conc_update(t, (uint32_t)id, (unsigned)(rng_next(&t->rng) >> 20));
}

static void *scan_main(void *arg)
{
	struct cthread *t = arg;

	test_thread_register();
	while (!atomic_load_explicit(&t->c->stop, memory_order_relaxed)) {
		uint64_t cursor = 0, prev = 0, gen0 = stats_of(t->c->map).generation;
		unsigned long calls = 0;

		memset(t->count, 0, C_KEYS * sizeof(*t->count));
		do {
			size_t max = 1 + (size_t)(rng_next(&t->rng) % 7);
			int rc = rcumap_scan(t->c->map, &cursor, max, cscan_cb, t);

			if (rc != 0) {
				cerr(t, E_SETUP, "SETUP: rcumap_scan returned %d", rc);
				break;
			}
			if (cursor != 0 && cursor <= prev)
				cerr(t, E_CURSOR, "CURSOR: a scan call moved the cursor from %#llx to %#llx",
				     (unsigned long long)prev, (unsigned long long)cursor);
			prev = cursor;
			test_quiesce();
			/* The cursor holds nothing: pause, yield, let resizes happen. */
			if (++calls % 64 == 0)
				sleep_us(100);
			else if (calls % 8 == 0)
				sched_yield();
			if (calls > 4 * C_KEYS) {
				cerr(t, E_DUPLICATE, "DUPLICATE: the scan does not end");
				break;
			}
		} while (cursor != 0 && !atomic_load_explicit(&t->c->stop, memory_order_relaxed));
		t->calls += calls;
		if (cursor == 0)
			citer_end(t, gen0);
	}
	test_thread_unregister();
	return NULL;
}

static double conc_seconds(void)
{
	const char *e = getenv("RCUMAP_TEST_ITER_SECONDS");

	if (e && atof(e) > 0)
		return atof(e);
	if (under_valgrind())
		return 2;
#ifdef RCUMAP_DEBUG
	return 3;
#else
	return 8;
#endif
}

static void traversals_under_concurrent_writers_and_resizes_return_stable_keys_exactly_once(void **state)
{
	static const enum cthread_kind kinds[] = { CT_WRITER, CT_WRITER, CT_RESIZER, CT_ITER, CT_SCAN };
	static const char *const kind_name[] = { "writer", "resizer", "in-section iterator", "scan" };
	const size_t nt = sizeof(kinds) / sizeof(kinds[0]);
	struct conc *c = calloc(1, sizeof(*c));
	struct count_alloc *ca = malloc(sizeof(*ca));
	struct cthread *th = calloc(nt, sizeof(*th));
	struct rcumap_config cfg = { .flavor = RCUMAP_FLAVOR, .free_value = conc_free_value,
				     .alloc = ca_alloc, .free = ca_free, .min_slots = 1 };
	struct rcumap_stats s0, s1;
	struct cthread boot = { 0 };
	uint64_t seed = test_seed();
	double secs = conc_seconds(), t0;
	unsigned long resizes;

	(void)state;
	assert_true(c && ca && th);
	ca_init(ca);
	cfg.free_value_arg = c;
	cfg.alloc_arg = ca;
	assert_rc(rcumap_create(&cfg, &c->map), 0);
	boot.c = c;
	for (uint32_t i = 0; i < C_STABLE + C_REPL; i++) {
		unsigned char k[KEY_BUF];
		size_t len = key_make(i, k);

		assert_rc(rcumap_insert(c->map, k, len, cval_new(&boot, i)), 0);
	}
	s0 = stats_of(c->map);

	for (size_t i = 0; i < nt; i++) {
		th[i].c = c;
		th[i].kind = kinds[i];
		th[i].id = (int)i;
		th[i].rng = mix64(seed + i) | 1;
		th[i].count = calloc(C_KEYS, sizeof(*th[i].count));
		th[i].held = calloc(2 * C_KEYS, sizeof(*th[i].held));
		assert_true(th[i].count && th[i].held);
	}
	t0 = now_s();
	for (size_t i = 0; i < nt; i++) {
		void *(*fn)(void *) = kinds[i] == CT_WRITER ? writer_main :
				      kinds[i] == CT_RESIZER ? resizer_main :
				      kinds[i] == CT_ITER ? iter_main : scan_main;

		assert_int_equal(pthread_create(&th[i].tid, NULL, fn, &th[i]), 0);
	}
	while (now_s() - t0 < secs)
		sleep_us(50000);
	atomic_store(&c->stop, true);
	test_offline();
	for (size_t i = 0; i < nt; i++)
		pthread_join(th[i].tid, NULL);
	test_online();
	s1 = stats_of(c->map);
	resizes = (unsigned long)(s1.grows + s1.shrinks - s0.grows - s0.shrinks);

	print_message("# resizes covered: %lu (%llu grows, %llu shrinks) in %.1f s, %s\n", resizes,
		      (unsigned long long)(s1.grows - s0.grows),
		      (unsigned long long)(s1.shrinks - s0.shrinks), now_s() - t0, TEST_FLAVOR_NAME);
	for (size_t i = 0; i < nt; i++) {
		struct cthread *t = &th[i];

		switch (t->kind) {
		case CT_WRITER:
			print_message("# %s %zu: %lu updates\n", kind_name[t->kind], i, t->ops);
			break;
		case CT_RESIZER:
			print_message("# resizer: %lu forced resizes, %lu refused with -EBUSY\n",
				      t->resizes, t->busy);
			break;
		case CT_ITER:
			print_message("# in-section iterator: %lu complete traversals (%lu entries), "
				      "%lu of them across a resize\n", t->traversals, t->entries,
				      t->spanning);
			break;
		default:
			print_message("# scan: %lu complete traversals (%lu calls, %lu entries), %lu of "
				      "them across resizes, up to %lu generations in one; %lu updates "
				      "from inside the callback\n", t->traversals, t->calls, t->entries,
				      t->spanning, t->max_gens, t->ops);
			break;
		}
	}
	for (size_t i = 0; i < nt; i++) {
		struct cthread *t = &th[i];

		if (t->errors) {
			char kindstr[200] = "";
			size_t o = 0;

			for (int k = 0; k < E_KINDS; k++)
				if (t->kinds[k] && o < sizeof(kindstr))
					o += (size_t)snprintf(kindstr + o, sizeof(kindstr) - o, " %s=%lu",
							      terr_name[k], t->kinds[k]);
			fail_msg("%s %zu: %lu failures:%s; first: %s", kind_name[t->kind], i, t->errors,
				 kindstr, t->first);
		}
	}
	/* Coverage, not correctness: the run must have exercised what it claims. */
	for (size_t i = 0; i < nt; i++) {
		if ((th[i].kind == CT_ITER || th[i].kind == CT_SCAN) && !under_valgrind()) {
			assert_true(th[i].traversals >= 3);
			assert_true(th[i].spanning >= 1); /* some traversal crossed a resize */
		}
		free(th[i].count);
		free(th[i].held);
	}
	assert_true(resizes >= (under_valgrind() ? 1u : 10u));

	/* Quiet: the structure is sound, every stable key is intact, all memory returns. */
	assert_rc(rcumap_validate(c->map), 0);
	test_reader_enter();
	for (uint32_t i = 0; i < C_STABLE + C_REPL; i++) {
		unsigned char k[KEY_BUF];
		size_t len = key_make(i, k);
		const struct cval *v = rcumap_get(c->map, k, len);

		if (!v || v->magic != CVAL_LIVE || v->key != i) {
			test_reader_leave();
			fail_msg("key %u lost or damaged after the run", i);
		}
	}
	test_reader_leave();
	assert_rc(rcumap_destroy(c->map), 0);
	assert_size(atomic_load(&c->free_errors), 0);
	assert_size(atomic_load(&c->created),
		    atomic_load(&c->map_freed) + atomic_load(&c->caller_freed));
	ca_check_balanced(ca);
	free(th);
	free(c);
	free(ca);
}

/* ---- Debug builds: misuse aborts with a message naming it ------------------------------- */

#ifdef RCUMAP_DEBUG
/*
 * Each case runs in a forked child whose stderr goes to a pipe; the child
 * must die of SIGABRT having printed the message. The parent prepares what
 * needs a grace period (an iterator whose section has ended) and forks from
 * outside any read section; the child enters one itself where the case needs
 * it. bp is fork-safe; memb and qsbr need liburcu's call_rcu fork hooks
 * (call_rcu_before_fork and the two after_fork calls), which are called
 * around every fork. So make check runs
 * this for bp (test_iter_debug) and qsbr (test_iter_debug_qsbr), and an
 * --enable-debug build for every flavor. For qsbr, "outside a read section"
 * is an offline thread.
 */
struct misuse {
	struct rcumap *a, *b;
	struct rcumap_iter it;
};

static void expect_abort(void (*fn)(struct misuse *m), struct misuse *m, const char *who,
			 const char *phrase)
{
	int pfd[2], status = 0;
	char buf[2048];
	size_t used = 0;
	ssize_t r;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	fflush(stdout);
	fflush(stderr);
	/*
	 * call_rcu_before_fork waits for the call_rcu worker to pause, and the
	 * worker may be waiting for a grace period: this thread must hold no
	 * read section (memb, bp) and be offline (qsbr) meanwhile.
	 */
	test_offline();
	call_rcu_before_fork();
	pid = fork();
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		call_rcu_after_fork_child();
		setrlimit(RLIMIT_CORE, &no_core); /* no core file in the build tree */
		dup2(pfd[1], STDERR_FILENO);
		close(pfd[0]);
		fn(m); /* starts offline under qsbr */
		_exit(0); /* the misuse went unnoticed */
	}
	call_rcu_after_fork_parent();
	test_online();
	assert_true(pid > 0);
	close(pfd[1]);
	while (used < sizeof(buf) - 1 && (r = read(pfd[0], buf + used, sizeof(buf) - 1 - used)) > 0)
		used += (size_t)r;
	buf[used] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("the child %s %d instead of aborting; stderr: %s",
			 WIFSIGNALED(status) ? "died of signal" : "exited with",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), buf);
	if (!strstr(buf, who) || !strstr(buf, phrase))
		fail_msg("the abort message does not name \"%s\" and \"%s\": %s", who, phrase, buf);
	print_message("# aborted as expected: %s", buf);
}

static void next_on(struct rcumap *map, struct rcumap_iter *it)
{
	const void *key;
	size_t len;
	void *value;

	(void)rcumap_iter_next(map, it, &key, &len, &value);
}

/* In one read section: initialised for map a, used with map b. */
static void child_next_other_map(struct misuse *m)
{
	test_online();
	test_reader_enter();
	if (rcumap_iter_init(m->a, &m->it) == 0)
		next_on(m->b, &m->it);
}

/* Initialised in a section that has ended; used outside any section. */
static void child_next_outside(struct misuse *m)
{
	next_on(m->a, &m->it);
}

/* Initialised in a section that a grace period has ended; used in a new one. */
static void child_next_in_a_later_section(struct misuse *m)
{
	test_online();
	test_reader_enter();
	next_on(m->a, &m->it);
}

static void child_init_outside(struct misuse *m)
{
	(void)rcumap_iter_init(m->a, &m->it);
}

static void child_next_uninitialised(struct misuse *m)
{
	memset(&m->it, 0, sizeof(m->it));
	test_online();
	test_reader_enter();
	next_on(m->a, &m->it);
}

static void debug_build_aborts_on_iterator_misuse_with_a_message_naming_it(void **state)
{
	struct misuse *m = calloc(1, sizeof(*m));
	struct rcumap_config cfg = { .flavor = RCUMAP_FLAVOR };
	const void *key;
	size_t len, n = 0;
	void *value;

	(void)state;
	assert_non_null(m);
	assert_rc(rcumap_create(&cfg, &m->a), 0);
	assert_rc(rcumap_create(&cfg, &m->b), 0);
	for (int i = 0; i < 20; i++) {
		unsigned char k[KEY_BUF];

		assert_rc(rcumap_insert(m->a, k, key_make((size_t)i, k), m), 0);
	}

	expect_abort(child_next_other_map, m, "rcumap_iter_next", "another map");

	/* No grace period yet: only "outside" can be noticed. */
	test_reader_enter();
	assert_rc(rcumap_iter_init(m->a, &m->it), 0);
	test_reader_leave();
	expect_abort(child_next_outside, m, "rcumap_iter_next", "outside a read section");

	/*
	 * The check notices a section that has ended once the ticket's
	 * callback has run after a grace period, which the barrier waits for.
	 */
	test_reader_enter();
	assert_rc(rcumap_iter_init(m->a, &m->it), 0);
	test_reader_leave();
	test_quiesce();
	assert_rc(rcumap_barrier(m->a), 0);
	expect_abort(child_next_in_a_later_section, m, "rcumap_iter_next",
		     "read section it started in has ended");

	expect_abort(child_init_outside, m, "rcumap_iter_init", "outside a read section");
	expect_abort(child_next_uninitialised, m, "rcumap_iter_next", "not initialised");

	/* Positive control: correct use after all that does not abort. */
	test_reader_enter();
	assert_rc(rcumap_iter_init(m->a, &m->it), 0);
	while (rcumap_iter_next(m->a, &m->it, &key, &len, &value) == 1)
		n++;
	test_reader_leave();
	assert_size(n, 20);
	assert_rc(rcumap_destroy(m->a), 0);
	assert_rc(rcumap_destroy(m->b), 0);
	free(m);
}
#endif

/* ---- Runner ---------------------------------------------------------------------------- */

static int test_setup(void **state)
{
	(void)state;
	test_thread_reset(); /* a failed test may have left a section open or qsbr offline */
	return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_setup)

int main(void)
{
	static const struct CMUnitTest single[] = {
		T(traversals_of_an_empty_map_return_nothing_and_end_at_once),
		T(traversal_of_one_entry_returns_its_key_bytes_and_value_once),
		T(traversal_of_many_entries_returns_each_exactly_once_at_every_table_size),
		T(keys_of_0_to_100_bytes_are_returned_once_with_their_exact_bytes),
		T(keys_sharing_a_32_bit_hash_are_returned_together_and_once),
		T(keys_at_both_ends_of_hash_space_are_returned_once_and_a_scan_resumes_at_any_position),
		T(scan_and_iterator_reject_invalid_arguments_and_change_nothing),
		T(scans_and_iterators_work_inside_the_callers_own_nested_read_sections),
		T(a_grow_by_2_or_8_at_any_point_of_a_traversal_keeps_every_key_exactly_once),
		T(a_shrink_at_any_point_of_a_traversal_returns_no_key_twice),
		T(grows_and_shrinks_by_2_8_and_16_between_scan_calls_keep_every_key_exactly_once),
		T(a_half_done_migration_is_traversed_exactly_once_and_may_complete_mid_traversal),
		T(updates_made_while_a_migration_is_pending_are_seen_by_every_later_traversal),
		T(deleting_the_current_key_returns_every_key_once_and_empties_the_map),
		T(deleting_replacing_and_inserting_other_keys_keeps_the_rest_exactly_once),
		T(random_updates_and_resizes_from_inside_a_traversal_keep_guarantees_b_c_d),
		T(a_scan_deleting_every_entry_of_a_million_sees_each_once_and_leaves_the_map_empty_and_small),
#ifdef RCUMAP_DEBUG
		T(debug_build_aborts_on_iterator_misuse_with_a_message_naming_it),
#endif
	};
	static const struct CMUnitTest concurrent[] = {
		T(traversals_under_concurrent_writers_and_resizes_return_stable_keys_exactly_once),
	};
	const size_t nsingle = sizeof(single) / sizeof(single[0]);
	struct CMUnitTest tests[sizeof(single) / sizeof(single[0]) + 1];
	const char *set = getenv("RCUMAP_TEST_ITER_SET");
	const char *skip = getenv("RCUMAP_TEST_ITER_SKIP");
	size_t n = 0, nskip = 0;
	int failed;

#ifdef RCUMAP_TEST_ITER_MISUSE_ONLY
#ifndef RCUMAP_DEBUG
#error "RCUMAP_TEST_ITER_MISUSE_ONLY needs RCUMAP_DEBUG: the misuse test is the last one"
#endif
	/* tests/test_iter_debug_qsbr: the misuse checks of the other flavor family. */
	tests[n++] = single[nsingle - 1];
	(void)set;
	(void)concurrent;
#else
	if (!set || strcmp(set, "concurrent") != 0)
		for (size_t i = 0; i < nsingle; i++)
			tests[n++] = single[i];
	if (!set || strcmp(set, "single") != 0)
		tests[n++] = concurrent[0];
#endif

	if (getenv("RCUMAP_TEST_ITER_FILTER")) /* cmocka's glob over test names */
		cmocka_set_test_filter(getenv("RCUMAP_TEST_ITER_FILTER"));
	if (skip) { /* fnmatch as cmocka's glob: skipped tests are not counted */
		cmocka_set_skip_filter(skip);
		for (size_t i = 0; i < n; i++)
			nskip += fnmatch(skip, tests[i].name, 0) == 0;
	}
	/* A hung library call must not hang make check. */
	alarm(under_valgrind() ? 3600 : 600);
	test_thread_register();
	(void)test_seed(); /* print it first */
	failed = _cmocka_run_group_tests("rcumap_iter_" TEST_FLAVOR_NAME, tests, n, NULL, NULL);
	test_thread_unregister();
	/* The plain summary line the CI log reader looks for. */
	printf("%d passed, %d failed\n", (int)(n - nskip) - failed, failed);
	return failed ? 1 : 0;
}
