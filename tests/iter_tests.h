/* SPDX-License-Identifier: MIT */
/* iter_tests.h: what the source files of test_iter share: key placement, updates, the traversal checker. */
#ifndef RCUMAP_TESTS_ITER_TESTS_H
#define RCUMAP_TESTS_ITER_TESTS_H

/* Include after testlib/fixture.h. The fixture is struct fx, opened by ifx_open. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every test of test_iter: the thread reset before and after (flavor.h). */
#define ITER_TEST(f) cmocka_unit_test_setup_teardown(f, fx_test_setup, fx_test_setup)

/* ---- iter_setup.c: positions, hashes that place keys, the map, updates ------ */

/* Positions: a key's place in hash order is its folded hash, bit-reversed. */
uint32_t rev32(uint32_t x);

#define POS_END ((uint64_t)1 << 32)

/*
 * H_MIX: well mixed (both 32-bit halves). H_ID: the key number itself, so
 * its folded hash is the number and key i sits in slot i & mask; keys below
 * the slot count then sit exactly at the start of their slot's interval of
 * hash order, where an off-by-one in an interval test shows. H_GROUP:
 * keys i / group share one folded 32-bit hash although their 64-bit hashes
 * differ. H_TABLE: the folded hash of key i is table[i].
 */
enum hmode { H_MIX, H_ID, H_GROUP, H_TABLE };

extern const char *const hmode_name[];

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

/* fx_open with the hash of o->hmode and the keys' folded hashes (struct fx's fold). */
void ifx_open(struct fx *f, const struct ifx_opts *o);

/* Check the map against the reference, reclaim, and close (fx_close). */
void ifx_close(struct fx *f);

enum uop { U_INSERT, U_PUT, U_REPLACE, U_CAS, U_DELETE, U_DELETE_IF, U_GET_OR_INSERT, U_OPS };

extern const char *const uop_name[U_OPS];

/* What a single-threaded op must return given the reference. */
int uop_expect(const struct fx *f, enum uop op, size_t id);

/*
 * Apply one update through the public API with a fresh pool value; on
 * success record it in the reference and in the traversal in progress.
 * Never asserts (may run inside a read section or a scan callback). Returns
 * the call's result, or -ENOSPC when the value pool is used up.
 */
int ifx_update(struct fx *f, enum uop op, size_t id);

/* Test thread only: an update that must give the reference's answer. */
void ifx_must(struct fx *f, enum uop op, size_t id);

/* ---- iter_trav.c: the traversal recorder (checks B, C, D) and walks -------- */

/*
 * K_GONE: deleted during the traversal before the step that decides it
 * began (docs/iteration.md, T4.3: then it is not returned).
 */
enum kst { K_ABSENT, K_PRESENT, K_CHANGED, K_GONE };

enum terr {
	E_DUPLICATE, E_MISSED, E_GHOST, E_STALE, E_BADKEY, E_BADVALUE, E_SPLIT,
	E_CURSOR, E_CALLSIZE, E_UPDATE, E_SETUP, E_KINDS
};

/* The tags: "DUPLICATE", "MISSED", ... (what tests/negative_iter.sh greps for). */
extern const char *const terr_name[E_KINDS];

#define TRAV_MSGS 4

struct held {
	const void *key;
	size_t len;
	long id;
	struct tval *v;
};

struct trav {
	struct fx *f;
	unsigned *count;      /* times each key was returned */
	unsigned char *st;    /* enum kst per key */
	unsigned *call;       /* scan call (1-based) that returned each key */
	bool *valid;          /* per pool value: the key's value at some instant */
	/*
	 * While the test updates the map during the traversal: every position
	 * at or beyond this one is decided by a step that has not begun yet
	 * (T4.3), so a delete or replacement there must be seen. POS_END when
	 * the walk cannot tell.
	 */
	uint64_t bound;
	size_t returned;
	size_t deleted_unvisited, deleted_unvisited_seen; /* information only (T4) */
	size_t gone;          /* deletes checked under T4.3 (K_GONE) */
	unsigned kinds[E_KINDS];
	unsigned nerr;
	char msg[TRAV_MSGS][320];
	/* In-section traversals: what was returned, rechecked when the section ends. */
	struct held *held;
	size_t nheld, capheld;
};

void trav_init(struct trav *tv, struct fx *f, bool in_section);
void trav_fini(struct trav *tv);

/* Record a failure of the traversal, with a message starting with its tag. */
void terr(struct trav *tv, enum terr kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Told by ifx_update of every store and delete while tv traverses (tv may be NULL). */
void trav_note_store(struct trav *tv, size_t id, struct tval *v, struct tval *old);
void trav_note_delete(struct trav *tv, size_t id, struct tval *old);

/* Fail the test, naming the label, if the traversal recorded any failure. */
void trav_assert_clean(struct trav *tv, const char *label);

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
	struct fx *f;
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
	 * For T4.3: the smallest table seen during the walk, so a step's range
	 * lies within one of its slot intervals; unknown once a migration was
	 * seen pending (the newer table's size is not in the stats).
	 */
	size_t min_slots;
	bool pending_seen;
	long last_id;        /* key returned last, -1 if none */
};


/* The ways a scenario is run: the iterator, and scans acting between calls or inside. */
struct mode {
	enum wmode m;
	size_t max;
	bool between;
	const char *name;
};

void walk_setup(struct walk *w, struct fx *f, struct trav *tv, const struct mode *m);
void walk_add(struct walk *w, size_t at, bool between,
	      void (*fn)(struct walk *w, struct action *a), size_t arg);

/* One traversal, recorded in w->tv; walk_check also fails the test on any failure. */
void walk_run(struct walk *w);
void walk_check(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- The groups, one per source file, in the order test_iter.c runs them ---- */

/* iter_plain.c: every plain way of walking (the iterator, scans of every max). */
void walk_all_plain(struct fx *f, struct trav *tv, const char *what);

extern const struct fx_group iter_plain_tests;      /* iter_plain.c */
extern const struct fx_group iter_resize_tests;     /* iter_resize.c */
extern const struct fx_group iter_update_tests;     /* iter_update.c */
extern const struct fx_group iter_misuse_tests;     /* iter_misuse.c (debug builds) */
extern const struct fx_group iter_concurrent_tests; /* iter_concurrent.c */

#endif /* RCUMAP_TESTS_ITER_TESTS_H */
