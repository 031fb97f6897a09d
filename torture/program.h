/* SPDX-License-Identifier: MIT */
/* program.h: what the files of the torture program share: options, run state, threads, failures. */
#ifndef RCUMAP_TORTURE_PROGRAM_H
#define RCUMAP_TORTURE_PROGRAM_H

/*
 * The torture program: threads race on one map while every invariant is
 * checked. One binary per liburcu flavor (testlib/flavor.h), with the
 * library compiled in with -DRCUMAP_TORTURE, so that its hooks (lib/hooks.h)
 * reach the torture allocator (talloc.c) and the delay points (threads.c).
 * docs/testing.md describes the threads, the scenarios, the invariants and
 * the negative controls. The program's files, each including this header
 * first:
 *
 *   main.c           options, the scenario table, main
 *   report.c         output lines, failures and their classes, crash
 *                    attribution, stack dumps, the watchdog, the end lines
 *   threads.c        per-thread state, delay points, thread entry, the
 *                    resizer and the grace-period thread
 *   values.c         keys and values, batched lookups, monotonic reads
 *   readers.c        readers, the sleepy and hold readers, and the
 *                    traversals (in-section iterator, rcumap_scan)
 *   scen_mixed.c     the writers of mixed, single-key and collide
 *   scen_flood.c     the flood scenario
 *   scen_lincheck.c  the lincheck scenario (checked by lincheck.c)
 *   scen_faults.c    the faults scenario
 *   checks.c         the checkers: stats interval, bounds, progress,
 *                    end-of-scenario accounting
 *   scenario.c       one scenario: setup, the main loop, the result line
 *   talloc.c         the torture allocator (talloc.h)
 */

/*
 * TSan: liburcu 0.13.2's inline read side (_LGPL_SOURCE) reads and writes
 * the grace-period futex word with volatile accesses, which TSan reports as
 * races between any two readers (urcu_common_wake_up_gp). Those accesses are
 * liburcu's and cannot be annotated, so a TSan build of these files calls the
 * out-of-line read-side functions of the shared library instead (not
 * instrumented). The library itself calls RCU only through the flavor struct.
 */
#if defined(__SANITIZE_THREAD__)
#undef _LGPL_SOURCE
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#undef _LGPL_SOURCE
#endif
#endif

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "flavor.h" /* testlib/: the liburcu flavor of this binary */

#include <rcumap.h>

#include "hooks.h" /* lib/: the hooks this program defines */
#include "talloc.h"
#include "tsan.h" /* lib/: tsan_release, tsan_acquire */
#include "util.h" /* testlib/: now_ns, mix64, rng_next, rng_below, errname */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif
#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif
#ifndef TSAN_BUILD
#define TSAN_BUILD 0
#endif

/*
 * The quick tier's large mixed pool and the flood's keys. TSan slows every
 * memory access ~10x and looks for races, which smaller pools find as well:
 * its builds use 250k and 50k keys (scale is the plain and ASan builds' job).
 */
#define BIG_POOL (TSAN_BUILD ? 250000 : 1000000)
#define FLOOD_KEYS (TSAN_BUILD ? 50000 : 200000)

/* Shared words: every access from more than one thread goes through these. */
#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
/* A counter only its owner writes: a plain read, an atomic store. */
#define BUMP(p) __atomic_store_n((p), *(p) + 1, __ATOMIC_RELAXED)

#define NS_PER_MS ((uint64_t)1000000)
#define NS_PER_S ((uint64_t)1000000000)

/* ---- options (main.c) ---------------------------------------------------------- */

enum sc_kind { SC_MIXED, SC_SINGLE, SC_COLLIDE, SC_FLOOD, SC_LINCHECK, SC_FAULTS };

#define MAX_READERS 32
#define MAX_ITERATORS 8
#define MAX_WRITERS 16
#define MAX_THREADS 64          /* value ids hold the writer id in 6 bits */

#define LC_KEYS 8               /* lincheck key space */
#define LC_WRITERS 3
#define LC_READERS 2
#define LC_ITERS 1
#define LC_MAX_COUNTS 256       /* count observations checked per round */
#define LC_ITER_MAX 64          /* pairs one lincheck traversal may return */

struct options {
	char scenario[256];
	double duration;        /* seconds per scenario; 0: per-scenario default */
	uint64_t keys;          /* mixed key pool; 0: 1024 (quick: 16, 1024, 1M) */
	uint64_t seed;
	int seed_given;
	int readers, iterators, writers;
	double interval;
	uint32_t delay_ppm;
	uint32_t fail_ppm;
	uint64_t max_lag_ms;
	uint64_t max_pending;
	uint64_t flood_keys;
	uint64_t lincheck_ops;  /* ops per lincheck round */
	int stall_intervals;
	int quiet, verbose, keep_going;
};
extern struct options opt;

/* Program name (argv[0]'s base name), the prefix of every output line. */
extern const char *prog;

/* ---- output and failures (report.c) ------------------------------------------- */

/*
 * Error counters (each must stay 0; docs/testing.md, "Invariants"):
 *   age, poison, state, kind   the torture allocator (invariants V1, V2)
 *   accounting                 end-of-scenario balance, validate (3)
 *   provenance                 a value read for key k was written for k (4)
 *   absence                    a stable key was not found (5)
 *   duplicate                  a traversal returned a key twice (6)
 *   stall                      a thread made no progress; a writer waited
 *                              for a reader (7)
 *   bounds                     pending objects, reclaim lag, shrink (8)
 *   lincheck                   a history or a count is not linearizable, or a
 *                              read section's lookups went back in time (9)
 *   model                      a result the scenario's own model forbids
 *                              (an unexpected return code; faults: a key
 *                              that differs from its owner's model)
 */

/* Error classes. The first four are enum talloc_error's, in its order. */
enum ecls {
	E_AGE = TE_AGE, E_POISON = TE_POISON, E_STATE = TE_STATE, E_KIND = TE_KIND,
	E_ACCOUNTING = TE_COUNT, E_PROVENANCE, E_ABSENCE, E_DUPLICATE, E_STALL,
	E_BOUNDS, E_LINCHECK, E_MODEL, E_COUNT
};
extern const char *const ecls_name[E_COUNT];

extern uint64_t err_count[E_COUNT];     /* per class, whole run */
extern uint64_t nfail;                  /* failing observations, whole run */
extern int fail_stop;                   /* a failure was seen: end the scenario soon */
extern int n_passed, n_failed;          /* scenarios so far */

void write_all(const char *buf, size_t len);
void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Count and report one failing observation (any thread; no lock, no RCU call). */
void tfail(int cls, int fatal, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A new scenario: its name for the fatal path, its own first failure cleared. */
void fail_scenario_begin(const char *name);
uint64_t fail_scenario_count(void);
const char *fail_scenario_first(void);  /* "?" when none */
const char *fail_first(void);           /* the run's first; "?" when none */
/* Numbers for the stats lines: 1234, 12.3k, 12.3M, 12.3G. */
const char *si(char *buf, uint64_t v);
/* "age 0 poison 0 ...": every class's count. */
void errors_line(char *buf, size_t size);

static inline double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static inline void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / NS_PER_S), .tv_nsec = (long)(ns % NS_PER_S) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- crash attribution, stack dumps, watchdog (report.c) ------------------------ */

/* What a crashing thread was holding (see crash_handler). */
extern __thread const void *const *crash_iter_bucket; /* &it.bucket of a traversal */
extern __thread const uint64_t *crash_section_ns;     /* &t->section_ns, with it */
extern __thread const void *crash_batch_top;          /* rcumap_get_batch's caller's frame */
extern __thread uint64_t crash_batch_ns;              /* when that call began */

void crash_handlers_install(void);
/* A traversal handed out a key that is not a pool key: 1 if it lies in reclaimed memory. */
int attribute_garbage(const void *key);
/* Make a stalled thread print its own stack. */
void dump_stack(pthread_t tid, const char *name);
/* The main thread must be out of what it does within secs seconds. */
int watchdog_start(void);             /* 0, or -1 if its thread did not start */
void watchdog_arm(double secs, const char *what);
void watchdog_disarm(void);

/* ---- threads (threads.c) ---------------------------------------------------------- */

enum role {
	RO_READER, RO_ITER, RO_SCAN, RO_WRITER, RO_RESIZER, RO_GP, RO_SLEEPY, RO_HOLD,
	RO_LC_WRITER, RO_LC_READER, RO_LC_ITER, RO_FLOOD, RO_FAULT, RO_MAIN,
};

static inline int role_is_writer(int role)
{
	return role == RO_WRITER || role == RO_LC_WRITER || role == RO_FLOOD || role == RO_FAULT;
}

struct thr {
	/* Set before the thread starts. */
	char name[16];
	int role;
	int num;                /* index within its role */
	unsigned wid;           /* writer id in value ids: unique per scenario */
	uint64_t rng;           /* its random stream (rng_next) */
	uint32_t *seen;         /* traversals: epoch per pool key */
	uint32_t epoch;
	pthread_t tid;
	int started;
	/* Shared (atomic). */
	uint64_t ops;           /* operations completed */
	uint64_t beats;         /* delay points passed, waits: alive but not an op */
	uint64_t steps;         /* migration steps (migrate, switch points): progress */
	pid_t ktid;             /* kernel thread id, for /proc/self/task/<ktid>/stat */
	const char *state;      /* what it is doing now */
	unsigned idle_gen;      /* odd while idle by design (waiting for a phase) */
	unsigned lc_idle_round; /* lincheck: the round it has finished */
	unsigned paused;        /* resizer: the pause ticket it acknowledged */
	unsigned in_malloc;     /* 1 inside malloc/free (talloc_thread_busy_flag) */
	uint64_t section_ns;    /* start of its current long read section; 0: none */
	/* Owner only. */
	uint64_t seq;           /* values made */
	uint64_t traversals, resizes, busy, enomem;
	uint64_t fl_ins_cycle, fl_del_cycle;
	/* Main only. */
	uint64_t last_progress, last_ops;
	int quiet_intervals;
	int stall_reported;
} __attribute__((aligned(64)));

extern struct thr main_thr;

static inline void set_state(struct thr *t, const char *s)
{
	STORE(&t->state, s);
}

/* Idle by design (waiting for a phase): exempt from the hold reader's check. */
static inline void idle_enter(struct thr *t)
{
	if (!(t->idle_gen & 1))
		STORE(&t->idle_gen, t->idle_gen + 1);
}

static inline void idle_leave(struct thr *t)
{
	if (t->idle_gen & 1)
		STORE(&t->idle_gen, t->idle_gen + 1);
}

/*
 * RCU states of torture threads, per flavor. Every end of a read section,
 * quiescent state and offline period starts with the TSan hand-off to the
 * reclaiming thread (talloc.h, talloc_reader_token).
 */
static inline void rs_lock(void)
{
	test_reader_enter();
}

static inline void rs_unlock(void)
{
	tsan_release(&talloc_reader_token);
	test_reader_leave();
}

/* qsbr: a point where the thread holds no RCU-protected pointer. */
static inline void quiesce(void)
{
	if (TEST_FLAVOR_QSBR) {
		tsan_release(&talloc_reader_token);
		test_quiesce();
	}
}

/* qsbr: about to block on something that is not RCU. */
static inline void go_offline(void)
{
	if (TEST_FLAVOR_QSBR) {
		tsan_release(&talloc_reader_token);
		test_offline();
	}
}

static inline void go_online(void)
{
	if (TEST_FLAVOR_QSBR)
		test_online();
}

/* Sleep outside any read section (qsbr: offline meanwhile). */
void nap(struct thr *t, uint64_t ns);
/* The threads of the current scenario, started by scenario.c. */
void make_threads(void);
void *thread_main(void *arg);
/* A writer's loop: one op per round, counted, until the scenario stops. */
void run_op_loop(struct thr *t, void (*op)(struct thr *t));
/* Pause (on) the resizer and wait for its acknowledgement, or let it go. */
void pause_resizer(int on);
/* The main thread as one of ours: registered, and offline (qsbr) between checks. */
void main_thread_enter(void);
void main_thread_leave(void);

/* ---- run state of the current scenario ------------------------------------------- */

struct run {
	enum sc_kind kind;
	const char *name;
	int index;              /* scenario number, for the random streams */
	struct rcumap *map;
	uint64_t pool;          /* key ids 0 .. pool-1 */
	uint64_t nstable;       /* ids below this are stable: present throughout */
	int iter_updates;       /* traversals may update (guarantee T5) */
	int stop;               /* every thread: return */
	double duration;
	uint64_t start_ns, end_ns;
	struct thr *thr;
	int nthr;
	unsigned resizer_pause; /* nonzero: the resizer must pause (a ticket) */
	unsigned pause_ticket;
	/* flood */
	int fl_phase;
	uint64_t fl_cycle;
	unsigned fl_done;
	uint64_t fl_last_delete_ns;
	int fl_complete;        /* the last cycle ended with every key deleted */
	uint64_t fl_phase_ns;   /* when the current phase began */
	uint64_t fl_insert_ns, fl_delete_ns;
	uint64_t fl_cycles;
	/* faults: each writer's model of its keys (value pointer or NULL) */
	void **model;
	/* totals for the result line */
	uint64_t drain_max_ns;
	uint64_t holds, holds_extended; /* hold reader: holds, and those a starved writer extended */
};
extern struct run R;

static inline int stopping(void)
{
	return LOAD_ACQ(&R.stop);
}

/* ---- keys and values (values.c) ------------------------------------------------- */

/*
 * Key id k is the byte string: k as 8 little-endian bytes, then a pattern
 * derived from k up to a length chosen by k. Lengths 8, 11 and 16 are stored
 * inline by the map; 21 and 32 are out of line (a key copy: kind "entry").
 */
#define KEY_MAXLEN 32

size_t make_key(uint64_t id, unsigned char *buf);
/* The id of a key a traversal returned; -1 if it is not a key of the pool. */
int decode_key(const void *key, size_t len, uint64_t *id);
/* collide: every key hashes to one of 4 values, so all sit in at most 4 slots. */
uint64_t collide_hash(const void *key, size_t len, void *arg);

/*
 * A value: written once before it is stored, never changed. id is its
 * lincheck value id: seq * 64 + writer id (nonzero, unique per scenario).
 */
struct tval {
	uint64_t key;
	uint64_t id;
	uint64_t seq;
	uint32_t writer;
	uint32_t pad;
	uint64_t check;
};

/* A fresh value for key (never stored before); NULL only when may_fail. */
struct tval *new_value(struct thr *t, uint64_t key, int may_fail);
/* Check a value met inside a read section (alive, young, written for key); 0 when good. */
int check_value(const char *who, uint64_t key, const void *p);
/* Give back a value the map did not take. */
void discard(void *v);
/* Look key id up inside the caller's read section and check what comes back. */
const struct tval *read_key(const char *who, uint64_t id);
/* A value's lincheck id; 0 for NULL. */
uint64_t vid(const void *v);

/*
 * Batched lookups (rcumap_get_batch). A batch of up to BATCH_MAX keys spans
 * two full groups of the library's RCUMAP_BATCH_GROUP (16) and part of a
 * third; the readers draw sizes 1..BATCH_MAX, so every split of a batch into
 * groups occurs, and keys repeat within a batch on the small pools.
 */
#define BATCH_MAX 40

struct batch {
	unsigned n;
	uint64_t id[BATCH_MAX];
	unsigned char kb[BATCH_MAX][KEY_MAXLEN];
	const void *keys[BATCH_MAX];
	size_t lens[BATCH_MAX];
	void *values[BATCH_MAX];
	const struct tval *good[BATCH_MAX]; /* checked values; NULL: absent or bad */
};

void batch_prepare(struct batch *b);
int batch_check(struct batch *b, long found, const char *who);
long get_batch(struct batch *b);
int read_batch(struct batch *b, const char *who);

/* Monotonic reads within one read section (values.c, seen_check). */
#define SEEN_READS 16

struct seen_read {
	uint64_t id, seq;
	uint32_t writer;
};

struct seen_reads {
	unsigned n;
	struct seen_read r[SEEN_READS];
};

void seen_check(struct seen_reads *sr, const char *who, const char *how, uint64_t id,
		const struct tval *v, int record);

/* ---- thread bodies (readers.c, scen_*.c) ------------------------------------------ */

uint64_t pick_read_key(struct thr *t);
void run_reader(struct thr *t, int sleepy);
void run_hold(struct thr *t);

struct visit {
	struct thr *t;
	const char *who;
	uint64_t stable_seen;
	uint64_t entries;
};

/* One entry of a traversal: a pool key, not seen before in it, a good value. */
void visit_entry(struct visit *vs, const void *key, size_t len, void *value);
/* After a complete traversal: every stable key was returned (guarantee T2). */
void check_complete(struct visit *vs);
/* visit_entry as an rcumap_scan callback (arg: the struct visit). */
void visit_cb(const void *key, size_t len, void *value, void *arg);
/* One whole in-section traversal, fn on every entry; 0, or the iterator's error. */
int traverse_in_section(void (*fn)(const void *key, size_t len, void *value, void *arg),
			void *arg);
void run_iter(struct thr *t);
void run_scan(struct thr *t);

enum wop { W_INSERT, W_DELETE, W_REPLACE, W_CAS, W_DELETE_IF, W_GET_OR_INSERT, W_PUT, W_CLEAR };
enum wop pick_wop(struct thr *t, int stable);
void writer_op(struct thr *t);

void run_flood(struct thr *t);
/* Main loop: the flood's phases; 1 while the scenario must not end yet. */
int poll_flood(int ending);

void run_lc(struct thr *t);
void lc_reset(void);                    /* every scenario */
void lc_alloc(void);                    /* lincheck: the history */
void lc_free(void);
void lc_prefill(void);                  /* the first round's initial state */
void lc_start(void);                    /* the first round */
/* Main loop: ends and starts rounds; 1 while the scenario must not end yet. */
int poll_lincheck(int ending);
int64_t lc_expected_entries(void);
void lc_detail(char *buf, size_t size);

void fault_op(struct thr *t);
/* At the end: every key holds what its owner's model says; returns the count. */
int64_t faults_expected_entries(void);

/* ---- checkers (checks.c) ---------------------------------------------------------- */

void checks_reset(void);
/* The stats interval: bounds, running accounting, and (print) the lines. */
void stats_lines(double t, int print);
/* Invariant V7: every thread advanced since the last check. */
void check_progress(double secs, uint64_t last_check_ns);
/* End of a scenario: accounting (invariant V3), validate, destroy. */
void end_checks(void);

/* ---- one scenario (scenario.c) ------------------------------------------------------ */

struct scen {
	enum sc_kind kind;
	char name[32];
	uint64_t pool;
	double duration;
};

/* Runs one scenario; returns 1 if it passed. */
int run_scenario(const struct scen *sc, int index);

#endif /* RCUMAP_TORTURE_PROGRAM_H */
