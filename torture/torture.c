/* SPDX-License-Identifier: MIT */
/* torture.c: rcumap's torture program: threads race on one map while every invariant is checked. */

/*
 * One binary per liburcu flavor (testlib/flavor.h), with the library compiled
 * in with -DRCUMAP_TORTURE, so that its hooks (lib/torture.h) reach the
 * torture allocator (torture/talloc.c) and the delay points defined here.
 * docs/testing.md describes the threads, the scenarios, the invariants and
 * the negative controls; this file is the program.
 *
 * Layout of this file:
 *   1. options, output, failures (torture_fail), watchdog
 *   2. threads: per-thread state, random streams, RCU states per flavor,
 *      delay points (rcumap_torture_point)
 *   3. keys and values
 *   4. thread bodies: readers, iterators, writers, resizer, grace periods,
 *      sleepy and hold readers, flood, faults and lincheck threads
 *   5. scenarios: setup, the main loop, stats lines, end-of-scenario checks
 *   6. main
 *
 * Error counters (each must stay 0; docs/testing.md, "Invariants"):
 *   age, poison, state, kind   the torture allocator (invariants 1, 2)
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

#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/*
 * TSan: liburcu 0.13.2's inline read side (_LGPL_SOURCE) reads and writes
 * the grace-period futex word with volatile accesses, which TSan reports as
 * races between any two readers (urcu_common_wake_up_gp). Those accesses are
 * liburcu's and cannot be annotated, so a TSan build of this file calls the
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

#include "flavor.h" /* tests/: the liburcu flavor of this binary */

#include <rcumap.h>

#include "lincheck.h"
#include "talloc.h"
#include "torture.h" /* lib/: hooks, tsan_release */

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

/* ==== 1. options, output, failures ============================================ */

static const char *prog = "torture";

enum sc_kind { SC_MIXED, SC_SINGLE, SC_COLLIDE, SC_FLOOD, SC_LINCHECK, SC_FAULTS };

static const char *const sc_names[] = {
	[SC_MIXED] = "mixed", [SC_SINGLE] = "single-key", [SC_COLLIDE] = "collide",
	[SC_FLOOD] = "flood", [SC_LINCHECK] = "lincheck", [SC_FAULTS] = "faults",
};

/* Default seconds per scenario (--duration 0): the quick tier, ~45 s in all. */
#define QUICK_MIXED_SMALL 5.0
#define QUICK_MIXED 6.0
#define QUICK_MIXED_1M 4.0
#define QUICK_SINGLE 4.0
#define QUICK_COLLIDE 4.0
#define QUICK_FLOOD 4.0
#define QUICK_LINCHECK 5.0
#define QUICK_FAULTS 5.0

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

static struct options {
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
} opt = {
	.scenario = "quick",
	.readers = 4,
	.iterators = 2,
	.writers = 3,
	.interval = 1.0,
	.delay_ppm = 2000,
	.fail_ppm = 20000,
	.max_lag_ms = SANITIZED ? 60000 : 10000,
	.max_pending = 8000000,
	.flood_keys = FLOOD_KEYS,
	.lincheck_ops = 20000,
	.stall_intervals = SANITIZED ? 5 : 1,
};

/* Error classes. The first four are enum talloc_error's, in its order. */
enum ecls {
	E_AGE = TE_AGE, E_POISON = TE_POISON, E_STATE = TE_STATE, E_KIND = TE_KIND,
	E_ACCOUNTING = TE_COUNT, E_PROVENANCE, E_ABSENCE, E_DUPLICATE, E_STALL,
	E_BOUNDS, E_LINCHECK, E_MODEL, E_COUNT
};
static const char *const ecls_name[E_COUNT] = {
	"age", "poison", "state", "kind", "accounting", "provenance", "absence",
	"duplicate", "stall", "bounds", "lincheck", "model",
};
static const char *const ecls_upper[E_COUNT] = {
	"AGE", "POISON", "STATE", "KIND", "ACCOUNTING", "PROVENANCE", "ABSENCE",
	"DUPLICATE", "STALL", "BOUNDS", "LINCHECK", "MODEL",
};

static uint64_t err_count[E_COUNT];     /* whole run */
static uint64_t nfail;                  /* observations, whole run */
static char first_fail[1200];            /* the first one, without the prefix */
static int first_ready;
static uint64_t sc_nfail;               /* observations in this scenario */
static char sc_first[1200];
static int sc_first_ready;
#define PRINT_FAILURES 20

static int exiting;                     /* a thread is printing the end lines */
static __thread int i_am_exiting;

/* Results so far, for the end lines (also from the fatal path). */
static int n_passed, n_failed;
static const char *cur_scenario = "setup";
static const char *flavor_name = TEST_FLAVOR_NAME;

/* Write one whole buffer to stdout; no stdio, no locks (any thread, fatal path). */
static void write_all(const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(STDOUT_FILENO, buf, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += w;
		len -= (size_t)w;
	}
}

/* One output line, "<prog>: ...\n", written with one write(2). */
static void vout(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static void vout(const char *fmt, va_list ap)
{
	char line[2048];
	int n, m;

	if (LOAD(&exiting) && !i_am_exiting)
		return; /* the end lines are being printed: nothing after them */
	n = snprintf(line, sizeof(line), "%s: ", prog);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	write_all(line, (size_t)n);
}

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vout(fmt, ap);
	va_end(ap);
}

/* The end lines, from the fatal path: no locks, no RCU, then _exit(1). */
static void fatal_exit(void) __attribute__((noreturn));
static void fatal_exit(void)
{
	if (__atomic_exchange_n(&exiting, 1, __ATOMIC_SEQ_CST)) {
		for (;;)
			pause(); /* another thread prints the end lines and exits */
	}
	i_am_exiting = 1;
	/* The first observation may be being copied by another thread. */
	for (int i = 0; i < 1000 && !LOAD_ACQ(&first_ready); i++)
		sched_yield();
	out("scenario %s (%s): FAIL (fatal: %s)", cur_scenario, flavor_name,
	    LOAD_ACQ(&sc_first_ready) ? sc_first : "see above");
	out("End of test: FAILURE (%s)", LOAD_ACQ(&first_ready) ? first_fail : "fatal error");
	{
		char line[64];
		int n = snprintf(line, sizeof(line), "%d passed, %d failed\n", n_passed,
				 n_failed + 1);

		write_all(line, (size_t)n);
	}
	_exit(1);
}

static int fail_stop;   /* a failure was seen: end the scenario soon */

/*
 * Count and report one failing observation of class cls. Callable from any
 * thread, inside read sections and on the call_rcu worker: it takes no lock
 * and calls no RCU function.
 */
static void vfail(int cls, int fatal, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void vfail(int cls, int fatal, const char *fmt, va_list ap)
{
	char msg[1200];
	uint64_t k, sk;
	int n;

	if (cls < 0 || cls >= E_COUNT)
		cls = E_MODEL;
	n = snprintf(msg, sizeof(msg), "%s: ", ecls_upper[cls]);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	ADD(&err_count[cls], 1);
	k = __atomic_fetch_add(&nfail, 1, __ATOMIC_SEQ_CST);
	sk = __atomic_fetch_add(&sc_nfail, 1, __ATOMIC_SEQ_CST);
	if (k == 0) {
		snprintf(first_fail, sizeof(first_fail), "%s", msg);
		STORE_REL(&first_ready, 1);
	}
	if (sk == 0) {
		snprintf(sc_first, sizeof(sc_first), "%s", msg);
		STORE_REL(&sc_first_ready, 1);
	}
	STORE(&fail_stop, 1);
	if (k < PRINT_FAILURES)
		out("FAILURE: %s", msg);
	else if (k == PRINT_FAILURES)
		out("further failures are counted, not printed");
	if (fatal)
		fatal_exit();
}

static void tfail(int cls, int fatal, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void tfail(int cls, int fatal, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(cls, fatal, fmt, ap);
	va_end(ap);
}

/* talloc.h: the allocator's reports (age, poison, state, kind). */
void torture_fail(int fatal, enum talloc_error err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail((int)err, fatal, fmt, ap);
	va_end(ap);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / NS_PER_S), .tv_nsec = (long)(ns % NS_PER_S) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Crash attribution. A crash is not a detector, but a library that frees too
 * early makes its own loops read freed memory: a poisoned bucket claims
 * 0x6b6b6b6b records, and the loop runs off the end of the heap before any
 * hook sees the bucket again. So on SIGSEGV or SIGBUS, look at what the
 * faulting thread was holding: its registers, the bucket of its in-section
 * traversal, and inside rcumap_get_batch every word of the call's stack
 * frames (a group's bucket pointers wait there between the pass that loads
 * them, which the hooks see, and the pass that searches them). If one of
 * them is one of talloc's objects in state FREED or CACHED (the traversal's
 * bucket and the batch's words: or reclaimed since the section or the call
 * began), the crash is a use after free: the allocator reports it (POISON,
 * fatal, with the object's history). talloc_is_reclaimed reads the header with
 * process_vm_readv, so that a bad pointer fails the read, not the handler.
 * A crash, or an abort (abort_handler), after an earlier failure also ends
 * the run through the failure path (the map is corrupt by then). Any other
 * crash stays a crash. The
 * first thread to crash decides; any other that crashes meanwhile waits
 * for it. Not installed under sanitizers, which report crashes themselves.
 */
static __thread const void *const *crash_iter_bucket; /* &it.bucket of a traversal */
static __thread const uint64_t *crash_section_ns;     /* &t->section_ns, with it */
static __thread const void *crash_batch_top;          /* rcumap_get_batch's caller's frame */
static __thread uint64_t crash_batch_ns;              /* when that call began */
static int crashing;                                  /* a thread is in crash_handler */

/*
 * A traversal handed out a key that is not a pool key. If the key bytes lie
 * in a freed key copy, or in (or past the end of) a freed bucket, that is
 * the error: records are 32 bytes after a 32-byte header, an inline key 8
 * bytes into its record. Walks back at most 16k records.
 */
static int attribute_garbage(const void *key)
{
	uintptr_t k = (uintptr_t)key;
	int kind;

	if (talloc_is_reclaimed(k, 0, &kind)) {
		talloc_check(key, kind, "a traversal's key copy");
		return 1;
	}
	for (uintptr_t off = 8 + 32; off <= 8 + 32 * 16384 && off < k; off += 32)
		if (talloc_is_reclaimed(k - off, 0, &kind)) {
			talloc_check((void *)(k - off), kind, "a traversal's bucket");
			return 1;
		}
	return 0;
}

/*
 * Diagnosis of a stall: the stalled thread prints its own stack when sent
 * SIGUSR2 (symbols through dladdr: exported ones only; the rest as module
 * offsets for addr2line).
 */
static const char *stack_who = "";

static void stack_handler(int sig)
{
	void *pc[32];
	int n = backtrace(pc, 32);

	(void)sig;
	out("stack of %s:", LOAD(&stack_who));
	for (int i = 2; i < n; i++) {   /* skip the handler and the signal frame */
		Dl_info di;

		if (dladdr(pc[i], &di) && di.dli_fname) {
			const char *f = strrchr(di.dli_fname, '/') ? strrchr(di.dli_fname, '/') + 1
								   : di.dli_fname;

			if (di.dli_sname)
				out("  #%d %s (%s+%#lx)", i - 2, di.dli_sname, f,
				    (unsigned long)((uintptr_t)pc[i] - (uintptr_t)di.dli_fbase));
			else
				out("  #%d %s+%#lx", i - 2, f,
				    (unsigned long)((uintptr_t)pc[i] - (uintptr_t)di.dli_fbase));
		} else {
			out("  #%d %p", i - 2, pc[i]);
		}
	}
}

static void dump_stack(pthread_t tid, const char *name)
{
	STORE(&stack_who, name);
	pthread_kill(tid, SIGUSR2);
	sleep_ns(20 * NS_PER_MS); /* let it print before the next report */
}

/* The crashed context's general registers, where we know their layout. */
#if defined(__x86_64__) || defined(__i386__)
#define CRASH_NREGS NGREG
#define CRASH_REG(uc, i) ((uc)->uc_mcontext.gregs[i])
#elif defined(__aarch64__)
#define CRASH_NREGS 31
#define CRASH_REG(uc, i) ((uc)->uc_mcontext.regs[i])
#else
#define CRASH_NREGS 0
#define CRASH_REG(uc, i) ((void)(uc), (void)(i), 0)
#endif

static void crash_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	uintptr_t a = (uintptr_t)si->si_addr, cand[CRASH_NREGS + 1];
	int poison = (a >> 16) == ((uintptr_t)0x6b6b6b6b6b6b6b6bull >> 16), n = 0, kind;

	/* Another thread crashed first (its report or its signal ends the run). */
	if (__atomic_exchange_n(&crashing, 1, __ATOMIC_SEQ_CST))
		for (;;)
			pause();
	if (crash_batch_top) {
		/*
		 * Inside rcumap_get_batch: from this handler's frame (on the same
		 * stack, below the signal frame and the library's frames) up to
		 * the caller's frame, any word that is an object reclaimed since
		 * the call began is one the call held.
		 */
		for (uintptr_t p = (uintptr_t)__builtin_frame_address(0) & ~(uintptr_t)7;
		     p < (uintptr_t)crash_batch_top; p += sizeof(uintptr_t))
			if (talloc_probe((void *)p, &cand[0], sizeof(cand[0])) &&
			    talloc_is_reclaimed(cand[0], crash_batch_ns, &kind)) {
				out("signal %d (%s) at %p in rcumap_get_batch, whose frames hold "
				    "reclaimed %s %p: a use after free", sig, strsignal(sig),
				    si->si_addr, talloc_kind_name(kind), (void *)cand[0]);
				talloc_report_reclaimed((void *)cand[0], kind, crash_batch_ns,
							"the crashed rcumap_get_batch");
			}
	}
	if (crash_iter_bucket) {
		uint64_t since = LOAD(crash_section_ns);

		/*
		 * The traversal's bucket was found in this read section: freed
		 * or cached since the section began is a use after free even if
		 * the cache has handed it out again (its count, read while it
		 * was poisoned, ran the loop off its end).
		 */
		if (talloc_probe(crash_iter_bucket, &cand[0], sizeof(cand[0])) &&
		    talloc_is_reclaimed(cand[0], since, &kind)) {
			out("signal %d (%s) at %p in a traversal of reclaimed %s %p: a use after free",
			    sig, strsignal(sig), si->si_addr, talloc_kind_name(kind), (void *)cand[0]);
			talloc_report_reclaimed((void *)cand[0], kind, since, "the crashed traversal");
		}
	}
	/* Registers may hold anything: only objects reclaimed now count. */
	for (int i = 0; i < CRASH_NREGS; i++)
		cand[n++] = (uintptr_t)CRASH_REG(uc, i);
	for (int i = 0; i < n; i++)
		if (talloc_is_reclaimed(cand[i], 0, &kind)) {
			out("signal %d (%s) at %p while holding reclaimed %s %p: a use after free",
			    sig, strsignal(sig), si->si_addr, talloc_kind_name(kind), (void *)cand[i]);
			/* Reports POISON (fatal) with the object's history... */
			talloc_check((void *)cand[i], kind, "the crashed thread");
			/* ...unless the cache handed it out again since the look above. */
			tfail(E_POISON, 1, "signal %d (%s) at %p while holding %s %p, reclaimed "
			      "when the crash handler looked", sig, strsignal(sig), si->si_addr,
			      talloc_kind_name(kind), (void *)cand[i]);
		}
	if (LOAD(&nfail) > 0 || poison) {
		tfail(poison ? E_POISON : E_MODEL, 1,
		      "signal %d (%s) at address %p%s", sig, strsignal(sig), si->si_addr,
		      poison ? ": a pointer read from a poisoned (freed) object"
			     : ", after the failures above (the map is corrupt)");
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * abort(), from glibc's heap checks (a broken library corrupts the heap) or
 * an assert: after an earlier failure, the failure path ends the run, as
 * for a crash; otherwise it stays an abort.
 */
static void abort_handler(int sig)
{
	if (LOAD(&nfail) > 0)
		tfail(E_MODEL, 1, "signal %d (%s), after the failures above (the map is corrupt)",
		      sig, strsignal(sig));
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- watchdog: the main thread must not hang in a join, a barrier or a check */

static uint64_t wd_deadline;            /* 0: disarmed */
static const char *wd_what = "";

static void watchdog_arm(double secs, const char *what)
{
	STORE(&wd_what, what);
	STORE(&wd_deadline, now_ns() + (uint64_t)(secs * (double)NS_PER_S));
}

static void *watchdog(void *arg)
{
	(void)arg;
	for (;;) {
		uint64_t d = LOAD(&wd_deadline);

		if (d && now_ns() > d)
			tfail(E_STALL, 1, "watchdog: the main thread is stuck in %s", LOAD(&wd_what));
		sleep_ns(100 * NS_PER_MS);
	}
	return NULL;
}

/* ==== 2. threads ================================================================= */

struct rng {
	uint64_t s;
};

static inline uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static inline uint64_t rnd(struct rng *r)
{
	r->s += 0x9E3779B97F4A7C15ull;
	return mix64(r->s);
}

static inline uint64_t rnd_below(struct rng *r, uint64_t n)
{
#ifdef __SIZEOF_INT128__
	return n ? (uint64_t)(((unsigned __int128)rnd(r) * n) >> 64) : 0;
#else
	/* 32-bit machines: the high half of the same product, from 32-bit parts. */
	uint64_t x, t, u;

	if (!n)
		return 0;
	x = rnd(r);
	t = (x >> 32) * (uint32_t)n + ((uint32_t)x * (uint64_t)(uint32_t)n >> 32);
	u = (uint32_t)x * (n >> 32) + (uint32_t)t;
	return (x >> 32) * (n >> 32) + (t >> 32) + (u >> 32);
#endif
}

enum role {
	RO_READER, RO_ITER, RO_SCAN, RO_WRITER, RO_RESIZER, RO_GP, RO_SLEEPY, RO_HOLD,
	RO_LC_WRITER, RO_LC_READER, RO_LC_ITER, RO_FLOOD, RO_FAULT, RO_MAIN,
};
static const char *const role_prefix[] = {
	[RO_READER] = "r", [RO_ITER] = "it", [RO_SCAN] = "sc", [RO_WRITER] = "w",
	[RO_RESIZER] = "rz", [RO_GP] = "gp", [RO_SLEEPY] = "sl", [RO_HOLD] = "ho",
	[RO_LC_WRITER] = "lw", [RO_LC_READER] = "lr", [RO_LC_ITER] = "li",
	[RO_FLOOD] = "fw", [RO_FAULT] = "xw", [RO_MAIN] = "main",
};

static int role_is_writer(int role)
{
	return role == RO_WRITER || role == RO_LC_WRITER || role == RO_FLOOD || role == RO_FAULT;
}

struct thr {
	/* Set before the thread starts. */
	char name[16];
	int role;
	int num;                /* index within its role */
	unsigned wid;           /* writer id in value ids: unique per scenario */
	struct rng rng;
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

static __thread struct thr *self;       /* NULL on threads that are not ours */
static __thread struct rng tls_rng;     /* delay points on threads that are not ours */
static uint64_t tls_rng_next;

static inline void set_state(struct thr *t, const char *s)
{
	STORE(&t->state, s);
}

/* Idle by design (waiting for a phase): exempt from the hold reader's check. */
static void idle_enter(struct thr *t)
{
	if (!(t->idle_gen & 1))
		STORE(&t->idle_gen, t->idle_gen + 1);
}

static void idle_leave(struct thr *t)
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
static void nap(struct thr *t, uint64_t ns)
{
	const char *s = LOAD(&t->state);

	set_state(t, "napping");
	go_offline();
	sleep_ns(ns);
	go_online();
	BUMP(&t->beats);
	set_state(t, s);
}

/* ---- run state of the current scenario ------------------------------------------- */

static struct run {
	enum sc_kind kind;
	const char *name;
	int index;              /* scenario number, for the random streams */
	struct rcumap *map;
	uint64_t pool;          /* key ids 0 .. pool-1 */
	uint64_t nstable;       /* ids below this are stable: present throughout */
	int iter_updates;       /* traversals may update (guarantee E) */
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
} R;

static struct thr main_thr = { .name = "main", .role = RO_MAIN };

static inline int stopping(void)
{
	return LOAD_ACQ(&R.stop);
}

/*
 * Delay points (lib/torture.h). With probability delay-ppm per point (more at
 * the rarer points where races live), yield the processor, or now and then
 * sleep 1-50 us. Each thread draws from its own stream. Every point is also
 * a heartbeat: a thread driving a long migration is making progress.
 */
void rcumap_torture_point(enum rcumap_torture_point where)
{
	static const uint32_t factor[RCUMAP_TP_COUNT] = {
		[RCUMAP_TP_PUBLISH] = 4, [RCUMAP_TP_UNLINK] = 2, [RCUMAP_TP_MIGRATE] = 1,
		[RCUMAP_TP_SWITCH] = 16, [RCUMAP_TP_READ] = 1,
	};
	struct thr *t = self;
	struct rng *r;
	uint64_t x, p;

	if (t) {
		BUMP(&t->beats);
		if (where == RCUMAP_TP_MIGRATE || where == RCUMAP_TP_SWITCH)
			BUMP(&t->steps);
		r = &t->rng;
	} else {
		r = &tls_rng;
		if (!r->s)
			r->s = mix64(opt.seed ^ ADD(&tls_rng_next, 1) ^ 0x5151);
	}
	if (!opt.delay_ppm)
		return;
	x = rnd(r);
	p = (uint64_t)opt.delay_ppm * ((unsigned)where < RCUMAP_TP_COUNT ? factor[where] : 1);
	if ((x & 0xfffff) >= p * 1048576 / 1000000)
		return;
	if (((x >> 20) & 7) == 0)
		sleep_ns(1000 + ((x >> 32) % 50) * 1000);
	else
		sched_yield();
}

/* ==== 3. keys and values =========================================================== */

/*
 * Key id k is the byte string: k as 8 little-endian bytes, then a pattern
 * derived from k up to a length chosen by k. Lengths 8, 11 and 16 are stored
 * inline by the map; 21 and 32 are out of line (a key copy: kind "entry").
 */
#define KEY_MAXLEN 32
static const uint8_t key_lens[8] = { 8, 8, 11, 8, 16, 8, 21, 32 };

static size_t key_len_of(uint64_t id)
{
	return key_lens[mix64(id) >> 61];
}

static size_t make_key(uint64_t id, unsigned char *buf)
{
	size_t len = key_len_of(id);

	memcpy(buf, &id, 8);
	for (size_t i = 8; i < len; i++)
		buf[i] = (unsigned char)(id * 131 + i * 29 + 7);
	return len;
}

/* The id of a key a traversal returned; -1 if it is not a key of the pool. */
static int decode_key(const void *key, size_t len, uint64_t *id)
{
	unsigned char buf[KEY_MAXLEN];
	uint64_t k;

	if (!key || len < 8 || len > KEY_MAXLEN)
		return -1;
	memcpy(&k, key, 8);
	if (k >= R.pool || make_key(k, buf) != len || memcmp(buf, key, len) != 0)
		return -1;
	*id = k;
	return 0;
}

/* collide: every key hashes to one of 4 values, so all sit in at most 4 slots. */
static uint64_t collide_hash(const void *key, size_t len, void *arg)
{
	uint64_t id = 0;

	(void)arg;
	memcpy(&id, key, len < 8 ? len : 8);
	return 0x9E3779B97F4A7C15ull * ((id & 3) + 1);
}

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

static uint64_t check_word(uint64_t key, uint32_t writer, uint64_t seq)
{
	return mix64(key * 0xD6E8FEB86659FD93ull ^ mix64(seq ^ ((uint64_t)writer << 56))) | 1;
}

/* A fresh value for key (never stored before); NULL only when may_fail. */
static struct tval *new_value(struct thr *t, uint64_t key, int may_fail)
{
	struct tval *v = talloc_value(sizeof(*v), may_fail);

	if (!v) {
		if (!may_fail)
			tfail(E_MODEL, 1, "talloc_value failed without may_fail");
		return NULL;
	}
	t->seq++;
	v->key = key;
	v->writer = t->wid;
	v->seq = t->seq;
	v->id = t->seq * MAX_THREADS + t->wid;
	v->check = check_word(key, t->wid, t->seq);
	return v;
}

/*
 * Check a value met inside a read section: its life (talloc: not freed, age
 * below 2) and its provenance (written for this key). Returns 0 when good.
 */
static int check_value(const char *who, uint64_t key, const void *p)
{
	const struct tval *v = p;

	if (talloc_check(p, RCUMAP_TORTURE_KIND_VALUE, who))
		return -1;
	if (v->key != key || v->check != check_word(v->key, v->writer, v->seq) ||
	    v->id != v->seq * MAX_THREADS + v->writer) {
		/* Freed (and poisoned) since the check above? Then that is the error. */
		if (talloc_check(p, RCUMAP_TORTURE_KIND_VALUE, who))
			return -1;
		tfail(E_PROVENANCE, 0,
		      "%s: value %p read for key %" PRIu64 " holds key %" PRIu64 ", writer %u, seq %"
		      PRIu64 ", check %016" PRIx64 " (expected %016" PRIx64 ")",
		      who, p, key, v->key, v->writer, v->seq, v->check,
		      check_word(v->key, v->writer, v->seq));
		return -1;
	}
	return 0;
}

/* Give back a value the map did not take. */
static void discard(void *v)
{
	if (v)
		talloc_discard_value(v);
}

/* Look key id up inside the caller's read section and check what comes back. */
static const struct tval *read_key(const char *who, uint64_t id)
{
	unsigned char kb[KEY_MAXLEN];
	size_t len = make_key(id, kb);
	const struct tval *v = rcumap_get(R.map, kb, len);

	if (!v) {
		if (id < R.nstable)
			tfail(E_ABSENCE, 0, "%s: rcumap_get did not find stable key %" PRIu64, who, id);
		return NULL;
	}
	return check_value(who, id, v) ? NULL : v;
}

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

/* A values[] entry the call did not write: every entry must be written. */
static const char batch_unwritten;

/* Build the keys of b->id[0 .. b->n) and mark every values[] entry unwritten. */
static void batch_prepare(struct batch *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		b->lens[i] = make_key(b->id[i], b->kb[i]);
		b->keys[i] = b->kb[i];
		b->values[i] = (void *)&batch_unwritten;
	}
}

/*
 * Check what one rcumap_get_batch call returned (found) and wrote: each
 * entry as read_key checks one rcumap_get (a stable key must be found; a
 * value must be alive, younger than two grace periods and written for its
 * key), every entry written, and found equal to the entries found. Fills
 * b->good. Returns 0, or -1 when the call itself broke its contract.
 */
static int batch_check(struct batch *b, long found, const char *who)
{
	long nonnull = 0;
	int bad = 0;

	for (unsigned i = 0; i < b->n; i++)
		b->good[i] = NULL;
	if (found < 0 || found > (long)b->n) {
		tfail(E_MODEL, 0, "%s: rcumap_get_batch of %u keys returned %ld", who, b->n, found);
		return -1;
	}
	for (unsigned i = 0; i < b->n; i++) {
		const void *v = b->values[i];

		if (v == &batch_unwritten) {
			tfail(E_MODEL, 0, "%s: rcumap_get_batch of %u keys left values[%u] (key %"
			      PRIu64 ") unwritten", who, b->n, i, b->id[i]);
			bad = 1;
			continue;
		}
		if (!v) {
			if (b->id[i] < R.nstable)
				tfail(E_ABSENCE, 0, "%s: rcumap_get_batch did not find stable key %"
				      PRIu64 " (entry %u of %u)", who, b->id[i], i, b->n);
			continue;
		}
		nonnull++;
		if (check_value(who, b->id[i], v) == 0)
			b->good[i] = v;
	}
	if (!bad && nonnull != found) {
		tfail(E_MODEL, 0, "%s: rcumap_get_batch of %u keys returned %ld, but %ld entries "
		      "hold a value", who, b->n, found, nonnull);
		bad = 1;
	}
	return bad ? -1 : 0;
}

/*
 * One rcumap_get_batch call, with the crash handler told where its frames
 * end and when it began (see crash_handler).
 */
static long get_batch(struct batch *b)
{
	long found;

	crash_batch_ns = now_ns();
	crash_batch_top = __builtin_frame_address(0);
	/* Orders the two stores above before the call, for this thread's crash handler. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	found = rcumap_get_batch(R.map, b->n, b->keys, b->lens, b->values);
	/* Orders the call before the store below, for the same handler. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	crash_batch_top = NULL;
	return found;
}

/* Look b->id[0 .. b->n) up with one call inside the caller's read section, and check. */
static int read_batch(struct batch *b, const char *who)
{
	batch_prepare(b);
	return batch_check(b, get_batch(b), who);
}

/*
 * Monotonic reads within one read section. A value is stored at most once,
 * and a writer stores its values in the order of their sequence numbers,
 * one call after the other. So once a lookup returned writer w's value of
 * sequence s for key k, a lookup of k that starts later cannot return a
 * value of w with a lower sequence: that value was replaced before s was
 * stored and can never be current again. A batch that reads the frozen
 * bucket of an old generation, where the newer generation holds a newer
 * value, returns exactly that (a stale read). Readers record their single
 * lookups here and check every later lookup of the section against them.
 */
#define SEEN_READS 16

struct seen_read {
	uint64_t id, seq;
	uint32_t writer;
};

struct seen_reads {
	unsigned n;
	struct seen_read r[SEEN_READS];
};

static void seen_check(struct seen_reads *sr, const char *who, const char *how, uint64_t id,
		       const struct tval *v, int record)
{
	for (unsigned i = 0; i < sr->n; i++)
		if (sr->r[i].id == id && sr->r[i].writer == v->writer && v->seq < sr->r[i].seq) {
			tfail(E_LINCHECK, 0, "%s: %s returned key %" PRIu64 "'s value of writer %u, "
			      "seq %" PRIu64 ", after an earlier lookup in the same read section "
			      "returned the same writer's seq %" PRIu64 ", stored later: a stale read",
			      who, how, id, v->writer, v->seq, sr->r[i].seq);
			return;
		}
	if (record && sr->n < SEEN_READS)
		sr->r[sr->n++] = (struct seen_read){ .id = id, .seq = v->seq, .writer = v->writer };
}

static const char *errname(int rc)
{
	switch (rc) {
	case 0: return "0";
	case -EEXIST: return "-EEXIST";
	case -ENOENT: return "-ENOENT";
	case -EAGAIN: return "-EAGAIN";
	case -ENOMEM: return "-ENOMEM";
	case -EINVAL: return "-EINVAL";
	case -EBUSY: return "-EBUSY";
	case -EDEADLK: return "-EDEADLK";
	case -EUCLEAN: return "-EUCLEAN";
	default: return "other error";
	}
}

/* ==== 4. thread bodies ============================================================== */

/* ---- readers ---------------------------------------------------------------------- */

static uint64_t pick_read_key(struct thr *t)
{
	if (R.nstable && rnd_below(&t->rng, 2))
		return rnd_below(&t->rng, R.nstable);
	return rnd_below(&t->rng, R.pool);
}

/*
 * Readers: several lookups in each read section, 1-16 rcumap_get calls,
 * then in every other section one rcumap_get_batch call of 1-BATCH_MAX keys,
 * half of them keys the section just read one by one. Every result is
 * checked alike (read_key, batch_check), and against the section's earlier
 * lookups of the same key (seen_check). The sleepy reader also sleeps
 * inside its section now and then (1-5 ms; about every 2 s for 100 ms),
 * holding values it read, and checks them again after.
 */
static void run_reader(struct thr *t, int sleepy)
{
	uint64_t next_long = now_ns() + NS_PER_S + rnd_below(&t->rng, 2 * NS_PER_S);
	char who[40], whob[40];

	snprintf(who, sizeof(who), "%s get", t->name);
	snprintf(whob, sizeof(whob), "%s get_batch", t->name);
	while (!stopping()) {
		unsigned n = 1 + (unsigned)rnd_below(&t->rng, 16);
		int batched = (int)rnd_below(&t->rng, 2);
		struct seen_reads sr = { .n = 0 };
		const struct tval *held[4];
		uint64_t held_id[4];
		unsigned nheld = 0;
		struct batch b;

		set_state(t, "read section");
		rs_lock();
		for (unsigned i = 0; i < n; i++) {
			uint64_t id = pick_read_key(t);
			const struct tval *v = read_key(who, id);

			if (v) {
				seen_check(&sr, who, "rcumap_get", id, v, 1);
				if (nheld < 4) {
					held[nheld] = v;
					held_id[nheld++] = id;
				}
			}
			BUMP(&t->ops);
		}
		if (batched) {
			b.n = 1 + (unsigned)rnd_below(&t->rng, BATCH_MAX);
			for (unsigned i = 0; i < b.n; i++)
				b.id[i] = sr.n && rnd_below(&t->rng, 2) ?
					  sr.r[rnd_below(&t->rng, sr.n)].id : pick_read_key(t);
			set_state(t, "read section, rcumap_get_batch");
			read_batch(&b, whob);
			for (unsigned i = 0; i < b.n; i++) {
				if (b.good[i])
					seen_check(&sr, whob, "rcumap_get_batch", b.id[i], b.good[i], 0);
				BUMP(&t->ops);
			}
			if (nheld < 4 && b.good[0]) {
				held[nheld] = b.good[0];
				held_id[nheld++] = b.id[0];
			}
		}
		if (sleepy) {
			uint64_t ns = 0, now = now_ns();

			if (now >= next_long) {
				ns = 100 * NS_PER_MS;
				next_long = now + NS_PER_S + rnd_below(&t->rng, 2 * NS_PER_S);
			} else if (rnd_below(&t->rng, 64) == 0) {
				ns = NS_PER_MS + rnd_below(&t->rng, 4 * NS_PER_MS);
			}
			if (ns) {
				/* qsbr: online and not quiescent, which is its read section. */
				set_state(t, "sleeping inside a read section");
				STORE(&t->section_ns, now_ns());
				sleep_ns(ns);
				STORE(&t->section_ns, 0);
				for (unsigned i = 0; i < nheld; i++)
					check_value("sl after sleeping in its read section",
						    held_id[i], held[i]);
				BUMP(&t->beats);
			}
		}
		set_state(t, "leaving read section");
		rs_unlock();
		quiesce();
		if (rnd_below(&t->rng, 1024) == 0)
			nap(t, 1000 + rnd_below(&t->rng, 200000));
	}
}

/* The kernel's state letter of one of our threads (R, S, D, ...), or '?'. */
static char thread_kstate(pid_t ktid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)ktid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] ? p[2] : '?';
}

static uint64_t thread_cpu_ns(pthread_t tid)
{
	clockid_t cid;
	struct timespec ts;

	if (pthread_getcpuclockid(tid, &cid) || clock_gettime(cid, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* What the hold reader knows of one writer since its hold began. */
struct hold_watch {
	struct thr *w;
	uint64_t ops0, steps0, cpu0;
	unsigned idle0;
	int open;               /* not decided yet */
};

#define HOLD_EXTEND_NS (3 * NS_PER_S)  /* longest wait for a starved writer */
#define HOLD_RAN_NS (20 * NS_PER_MS)   /* CPU time that proves it ran */

/*
 * Decide one writer at the end of a hold. Progress (an update completed, or
 * a migration step), idleness by design, or a writer that has ended with
 * the scenario: fine. No progress while asleep (state S: a futex, the only
 * way to wait for a reader without spinning), or while it ran for
 * HOLD_RAN_NS: it waited for the reader, a STALL. No progress while
 * runnable but hardly scheduled (2 cores, a dozen threads: the scheduler can
 * leave a thread that yielded waiting for hundreds of ms), or in the
 * kernel's uninterruptible sleep (state D: a page fault or the address-space
 * lock, which no reader holds), or asleep inside malloc or free (the
 * allocator's lock; TSan's is held across long stretches under load), or
 * asleep in rcumap_clear or rcumap_resize (the map's resize lock, which
 * only writers hold): undecided, the hold goes on, up to HOLD_EXTEND_NS.
 */
static int hold_decide(struct thr *t, struct hold_watch *hw, uint64_t el, int last)
{
	struct thr *w = hw->w;
	uint64_t cpu;
	char st;

	if (LOAD(&w->idle_gen) != hw->idle0 || LOAD(&w->ops) != hw->ops0 ||
	    LOAD(&w->steps) != hw->steps0)
		return 0;
	if (stopping() || strcmp(LOAD(&w->state), "exited") == 0)
		return 0;
	cpu = thread_cpu_ns(w->tid) - hw->cpu0;
	st = thread_kstate(w->ktid);
	if ((st == 'R' || st == 'D') && cpu < HOLD_RAN_NS && !last)
		return 1;
	/* Asleep on the allocator's own lock (a sanitizer's, under load): no reader holds it. */
	if (st == 'S' && LOAD(&w->in_malloc) && !last)
		return 1;
	/*
	 * rcumap_clear and rcumap_resize sleep on the map's resize lock while
	 * another writer holds it (seen under ASan on 2 loaded cores: 426 ms);
	 * no reader holds it, so undecided until the extension ends.
	 */
	if (st == 'S' && !last && (strcmp(LOAD(&w->state), "rcumap_clear") == 0 ||
				   strcmp(LOAD(&w->state), "rcumap_resize") == 0))
		return 1;
#ifdef __SANITIZE_THREAD__
	/*
	 * TSan's runtime sleeps on its own mutexes inside every atomic and
	 * interceptor (seen: 0.5 s in __tsan_atomic64_store on 2 busy cores):
	 * asleep is undecided there too; a writer that really waits for the
	 * reader is still asleep when the extension ends.
	 */
	if (st == 'S' && !last)
		return 1;
#endif
	dump_stack(w->tid, w->name);
	tfail(E_STALL, 0,
	      "writer %s made no progress while %s held a read section for %" PRIu64 " ms "
	      "(it is in \"%s\", kernel state %c, %.1f ms of CPU meanwhile): updates must "
	      "never wait for readers", w->name, t->name, el / NS_PER_MS, LOAD(&w->state), st,
	      ms(cpu));
	return 0;
}

/*
 * The hold reader: once per stats interval, holds one read section for 300 to
 * 500 ms with the values of 16 lookups (one by one, or in one
 * rcumap_get_batch call), and checks that every writer progressed
 * meanwhile (updates never wait for readers; the resizer, which waits in
 * rcumap_barrier, and the grace-period thread are exempt). A writer the
 * scheduler starved keeps the section held up to HOLD_EXTEND_NS longer.
 */
static void run_hold(struct thr *t)
{
	while (!stopping()) {
		uint64_t wait = rnd_below(&t->rng, (uint64_t)(opt.interval * 0.6 * (double)NS_PER_S));
		uint64_t hold = (300 + rnd_below(&t->rng, 201)) * NS_PER_MS;
		struct hold_watch hw[MAX_THREADS];
		const struct tval *held[16];
		uint64_t held_id[16], t0, el;
		unsigned nheld = 0;
		int nw = 0, open, said = 0;
		struct batch b;

		set_state(t, "waiting for the next hold");
		for (uint64_t w = 0; w < wait && !stopping(); w += 10 * NS_PER_MS)
			nap(t, 10 * NS_PER_MS);
		if (stopping())
			break;
		set_state(t, "holding a read section");
		rs_lock();
		STORE(&t->section_ns, now_ns());
		if (rnd_below(&t->rng, 2)) {
			/* One batch of 16 keys: one group of rcumap_get_batch. */
			b.n = 16;
			for (unsigned i = 0; i < b.n; i++)
				b.id[i] = pick_read_key(t);
			read_batch(&b, "ho get_batch");
			for (unsigned i = 0; i < b.n; i++)
				if (b.good[i]) {
					held[nheld] = b.good[i];
					held_id[nheld++] = b.id[i];
				}
		} else {
			for (int i = 0; i < 16; i++) {
				uint64_t id = pick_read_key(t);
				const struct tval *v = read_key("ho get", id);

				if (v) {
					held[nheld] = v;
					held_id[nheld++] = id;
				}
			}
		}
		for (int i = 0; i < R.nthr; i++) {
			struct thr *w = &R.thr[i];

			if (!role_is_writer(w->role))
				continue;
			hw[nw] = (struct hold_watch){
				.w = w, .idle0 = LOAD(&w->idle_gen), .ops0 = LOAD(&w->ops),
				.steps0 = LOAD(&w->steps), .cpu0 = thread_cpu_ns(w->tid),
			};
			hw[nw].open = !(hw[nw].idle0 & 1);
			nw++;
		}
		t0 = now_ns();
		while ((el = now_ns() - t0) < hold && !stopping()) {
			sleep_ns(10 * NS_PER_MS);
			BUMP(&t->beats);
		}
		do {
			int last = (el = now_ns() - t0) >= hold + HOLD_EXTEND_NS;

			open = 0;
			for (int i = 0; i < nw && !stopping(); i++)
				if (hw[i].open)
					open += hw[i].open = hold_decide(t, &hw[i], el, last);
			if (open) {
				if (!said++ && opt.verbose)
					out("%s: %d writer(s) runnable but not scheduled during the hold; "
					    "holding on", t->name, open);
				sleep_ns(10 * NS_PER_MS);
				BUMP(&t->beats);
			}
		} while (open && !stopping());
		ADD(&R.holds, 1);
		if (said)
			ADD(&R.holds_extended, 1);
		for (unsigned i = 0; i < nheld; i++)
			check_value("ho after holding its read section", held_id[i], held[i]);
		set_state(t, "leaving its held read section");
		STORE(&t->section_ns, 0);
		rs_unlock();
		quiesce();
		BUMP(&t->ops);
	}
}

/* ---- traversals ---------------------------------------------------------------------- */

struct visit {
	struct thr *t;
	const char *who;
	uint64_t stable_seen;
	uint64_t entries;
};

static void next_epoch(struct thr *t)
{
	if (++t->epoch == 0) {
		memset(t->seen, 0, R.pool * sizeof(t->seen[0]));
		t->epoch = 1;
	}
}

/* One entry of a traversal: a pool key, not seen before in it, a good value. */
static void visit_entry(struct visit *vs, const void *key, size_t len, void *value)
{
	struct thr *t = vs->t;
	uint64_t id;

	BUMP(&t->ops);
	if (decode_key(key, len, &id)) {
		if (!attribute_garbage(key))
			tfail(E_PROVENANCE, 0, "%s: a traversal returned a key that is not a pool "
			      "key (length %zu)", vs->who, len);
		return;
	}
	if (t->seen[id] == t->epoch) {
		tfail(E_DUPLICATE, 0, "%s: a traversal returned key %" PRIu64 " twice", vs->who, id);
		return;
	}
	t->seen[id] = t->epoch;
	vs->entries++;
	check_value(vs->who, id, value);
	if (id < R.nstable) {
		vs->stable_seen++;
		/* Guarantee E: replace the key just returned, through its own key pointer. */
		if (R.iter_updates && rnd_below(&t->rng, 512) == 0) {
			struct tval *v = new_value(t, id, 0);
			int rc = rcumap_replace(R.map, key, len, v);

			if (rc) {
				discard(v);
				tfail(rc == -ENOENT ? E_ABSENCE : E_MODEL, 0,
				      "%s: rcumap_replace of stable key %" PRIu64
				      " during a traversal returned %s", vs->who, id, errname(rc));
			}
		}
	}
}

/* After a complete traversal: every stable key was returned (guarantee B). */
static void check_complete(struct visit *vs)
{
	struct thr *t = vs->t;

	if (vs->stable_seen == R.nstable)
		return;
	for (uint64_t id = 0; id < R.nstable; id++)
		if (t->seen[id] != t->epoch) {
			tfail(E_ABSENCE, 0, "%s: a complete traversal missed %" PRIu64 " of %" PRIu64
			      " stable keys (the first is key %" PRIu64 ")", vs->who,
			      R.nstable - vs->stable_seen, R.nstable, id);
			return;
		}
}

static void run_iter(struct thr *t)
{
	struct visit vs = { .t = t, .who = "it traversal" };

	while (!stopping()) {
		struct rcumap_iter it;
		const void *key;
		size_t len;
		void *value;
		int rc;

		next_epoch(t);
		vs.stable_seen = vs.entries = 0;
		set_state(t, "in-section traversal");
		rs_lock();
		STORE(&t->section_ns, now_ns());
		crash_section_ns = &t->section_ns;
		crash_iter_bucket = &it.bucket;
		rc = rcumap_iter_init(R.map, &it);
		if (rc)
			tfail(E_MODEL, 0, "%s: rcumap_iter_init returned %s", t->name, errname(rc));
		while (rc == 0 && (rc = rcumap_iter_next(R.map, &it, &key, &len, &value)) == 1) {
			/*
			 * White box: the bucket the entry came from must still be
			 * alive (a bucket freed under the traversal would hand out
			 * poison, and its poisoned count would run the iterator
			 * into the memory after it). Abandon the traversal then.
			 */
			if (talloc_check(it.bucket, RCUMAP_KIND_BUCKET, "it traversal, its bucket")) {
				rc = -EFAULT;
				break;
			}
			visit_entry(&vs, key, len, value);
			rc = 0;
		}
		if (rc == -EFAULT)
			; /* reported by the allocator */
		else if (rc < 0)
			tfail(E_MODEL, 0, "%s: rcumap_iter_next returned %s", t->name, errname(rc));
		else
			check_complete(&vs);
		set_state(t, "leaving its traversal's read section");
		crash_iter_bucket = NULL;
		STORE(&t->section_ns, 0);
		rs_unlock();
		quiesce();
		t->traversals++;
		if (rnd_below(&t->rng, 8) == 0)
			nap(t, rnd_below(&t->rng, 500000));
	}
}

static void scan_cb(const void *key, size_t len, void *value, void *arg)
{
	visit_entry(arg, key, len, value);
}

static void run_scan(struct thr *t)
{
	struct visit vs = { .t = t, .who = "sc scan" };

	while (!stopping()) {
		uint64_t cursor = 0;
		int rc = 0;

		next_epoch(t);
		vs.stable_seen = vs.entries = 0;
		do {
			set_state(t, "rcumap_scan call");
			/* The scan's own read section protects the callback. */
			rc = rcumap_scan(R.map, &cursor, 1 + rnd_below(&t->rng, 16), scan_cb, &vs);
			quiesce();
			if (rc) {
				tfail(E_MODEL, 0, "%s: rcumap_scan returned %s", t->name, errname(rc));
				break;
			}
			if (rnd_below(&t->rng, 256) == 0)
				nap(t, rnd_below(&t->rng, 300000)); /* the cursor holds nothing */
		} while (cursor != 0 && !stopping());
		if (rc == 0 && cursor == 0)
			check_complete(&vs);
		t->traversals++;
	}
}

/* ---- writers ------------------------------------------------------------------------ */

/* An unexpected return code: the model (rcumap.h) does not allow it. */
static void bad_rc(struct thr *t, const char *call, uint64_t id, int rc)
{
	tfail(id < R.nstable && rc == -ENOENT ? E_ABSENCE : E_MODEL, 0,
	      "%s: %s of %skey %" PRIu64 " returned %s", t->name, call,
	      id < R.nstable ? "stable " : "", id, errname(rc));
}

enum wop { W_INSERT, W_DELETE, W_REPLACE, W_CAS, W_DELETE_IF, W_GET_OR_INSERT, W_PUT, W_CLEAR };

static enum wop pick_wop(struct thr *t, int stable)
{
	uint64_t x = rnd_below(&t->rng, 100);

	if (stable)  /* stable keys: only updates that keep the key present */
		return x < 40 ? W_REPLACE : x < 80 ? W_CAS : W_PUT;
	if (R.kind == SC_SINGLE && rnd_below(&t->rng, 2000) == 0)
		return W_CLEAR;
	return x < 20 ? W_INSERT : x < 40 ? W_DELETE : x < 50 ? W_REPLACE : x < 60 ? W_CAS :
	       x < 70 ? W_DELETE_IF : x < 85 ? W_GET_OR_INSERT : W_PUT;
}

/*
 * One update of a mixed, single-key or collide writer. Stable keys only get
 * replace, cas and put, which must find them. cas, delete_if and
 * get_or_insert run inside a read section of the writer's, which keeps the
 * expected or returned value valid (and its address not reused) across the
 * call; the others run inside one or not, at random.
 */
static void writer_op(struct thr *t)
{
	int stable = R.nstable && rnd_below(&t->rng, 5) == 0;
	uint64_t id = stable ? rnd_below(&t->rng, R.nstable)
			     : R.nstable + rnd_below(&t->rng, R.pool - R.nstable);
	enum wop op = pick_wop(t, stable);
	int inside = op == W_CAS || op == W_DELETE_IF || op == W_GET_OR_INSERT ||
		     rnd_below(&t->rng, 2);
	unsigned char kb[KEY_MAXLEN];
	size_t len = make_key(id, kb);
	struct tval *v = NULL;
	const struct tval *e;
	void *res = NULL;
	int rc;

	if (inside)
		rs_lock();
	switch (op) {
	case W_INSERT:
		set_state(t, "rcumap_insert");
		v = new_value(t, id, 0);
		rc = rcumap_insert(R.map, kb, len, v);
		if (rc == 0)
			v = NULL;
		else if (rc != -EEXIST)
			bad_rc(t, "rcumap_insert", id, rc);
		break;
	case W_DELETE:
		set_state(t, "rcumap_delete");
		rc = rcumap_delete(R.map, kb, len);
		if (rc != 0 && rc != -ENOENT)
			bad_rc(t, "rcumap_delete", id, rc);
		break;
	case W_REPLACE:
		set_state(t, "rcumap_replace");
		v = new_value(t, id, 0);
		rc = rcumap_replace(R.map, kb, len, v);
		if (rc == 0)
			v = NULL;
		else if (rc != -ENOENT || stable)
			bad_rc(t, "rcumap_replace", id, rc);
		break;
	case W_PUT:
		set_state(t, "rcumap_put");
		v = new_value(t, id, 0);
		rc = rcumap_put(R.map, kb, len, v);
		if (rc == 0)
			v = NULL;
		else
			bad_rc(t, "rcumap_put", id, rc);
		break;
	case W_CAS:
	case W_DELETE_IF:
		set_state(t, op == W_CAS ? "rcumap_get, rcumap_cas" : "rcumap_get, rcumap_delete_if");
		e = read_key(op == W_CAS ? "w get for cas" : "w get for delete_if", id);
		if (!e)
			break; /* absent (a stable key was reported) or bad */
		if (op == W_CAS) {
			v = new_value(t, id, 0);
			rc = rcumap_cas(R.map, kb, len, (void *)e, v);
			if (rc == 0)
				v = NULL;
		} else {
			rc = rcumap_delete_if(R.map, kb, len, (void *)e);
		}
		if (rc != 0 && rc != -EAGAIN && (rc != -ENOENT || stable))
			bad_rc(t, op == W_CAS ? "rcumap_cas" : "rcumap_delete_if", id, rc);
		break;
	case W_GET_OR_INSERT:
		set_state(t, "rcumap_get_or_insert");
		v = new_value(t, id, 0);
		rc = rcumap_get_or_insert(R.map, kb, len, v, &res);
		if (rc == 0) {
			if (res != v)
				tfail(E_MODEL, 0, "%s: rcumap_get_or_insert inserted key %" PRIu64
				      " but returned another value", t->name, id);
			v = NULL;
		} else if (rc == -EEXIST) {
			if (!res)
				tfail(E_MODEL, 0, "%s: rcumap_get_or_insert of key %" PRIu64
				      " returned -EEXIST and no value", t->name, id);
			else
				check_value("w get_or_insert result", id, res);
		} else {
			bad_rc(t, "rcumap_get_or_insert", id, rc);
		}
		break;
	case W_CLEAR:
		set_state(t, "rcumap_clear");
		rc = rcumap_clear(R.map);
		if (rc)
			bad_rc(t, "rcumap_clear", id, rc);
		break;
	}
	discard(v);
	set_state(t, "between updates");
	if (inside)
		rs_unlock();
	quiesce();
}

/* A writer's loop: one op per round, counted, until the scenario stops. */
static void run_op_loop(struct thr *t, void (*op)(struct thr *t))
{
	while (!stopping()) {
		op(t);
#ifdef TORTURE_BROKEN_UPDATE_WAITS
		/*
		 * Negative control of the progress detector: an update that
		 * waits for readers, as it would if it freed synchronously.
		 * The hold reader's section keeps it asleep: a STALL.
		 */
		set_state(t, "synchronize_rcu after an update");
		synchronize_rcu();
#endif
		BUMP(&t->ops);
	}
}

/* ---- resizer and grace periods ----------------------------------------------------- */

/* A power of two from count/8 to count*4 (at most 4M slots), or 0 (the policy). */
static size_t pick_size(struct thr *t)
{
	uint64_t c = rcumap_count(R.map);
	int lg, lo, hi;

	if (rnd_below(&t->rng, 8) == 0)
		return 0;
	lg = 63 - __builtin_clzll(c | 1);
	lo = lg > 3 ? lg - 3 : 0;
	hi = lg + 2 > 22 ? 22 : lg + 2;
	if (lo > hi)
		lo = hi;
	return (size_t)1 << (lo + (int)rnd_below(&t->rng, (uint64_t)(hi - lo + 1)));
}

static void run_resizer(struct thr *t)
{
	while (!stopping()) {
		size_t want;
		int rc;

		unsigned p = LOAD_ACQ(&R.resizer_pause);

		if (p) {
			/* Acknowledged at the top of the loop: no resize is under way. */
			set_state(t, "paused");
			STORE_REL(&t->paused, p);
			nap(t, 200000);
			continue;
		}
		want = pick_size(t);
		set_state(t, "rcumap_resize");
		rc = rcumap_resize(R.map, want);
		quiesce();
		if (rc == 0) {
			t->resizes++;
		} else if (rc == -EBUSY) {
			/* The gate: the previous generation is not reclaimed yet. */
			t->busy++;
			set_state(t, "rcumap_barrier after -EBUSY");
			go_offline();
			rc = rcumap_barrier(R.map);
			go_online();
			if (rc)
				tfail(E_MODEL, 0, "%s: rcumap_barrier returned %s", t->name,
				      errname(rc));
		} else if (rc == -ENOMEM && R.kind == SC_FAULTS) {
			t->enomem++;   /* the migration stays pending; updates resume it */
		} else {
			tfail(E_MODEL, 0, "%s: rcumap_resize(%zu) returned %s", t->name, want,
			      errname(rc));
		}
		BUMP(&t->ops);
		if (rnd_below(&t->rng, 2))
			nap(t, rnd_below(&t->rng, 2 * NS_PER_MS));
	}
}

/* The grace-period clock of the age invariant: synchronize_rcu, then tick. */
static void run_gp(struct thr *t)
{
	go_offline(); /* qsbr: it never reads; synchronize_rcu waits offline */
	while (!stopping()) {
		set_state(t, "synchronize_rcu");
		synchronize_rcu();
		set_state(t, "talloc_gp_tick");
		talloc_gp_tick();
		BUMP(&t->ops);
		if (rnd_below(&t->rng, 4) == 0)
			sched_yield();
	}
	go_online();
}

/* ---- flood ------------------------------------------------------------------------- */

enum { FL_INSERT, FL_DELETE, FL_DRAIN, FL_DONE };

/*
 * Flood writers: each inserts its share of the keys; when all are in, all
 * delete everything at once. The main thread measures the drain.
 */
static void run_flood(struct thr *t)
{
	int nw = opt.writers;
	uint64_t lo = R.pool * (uint64_t)t->num / (uint64_t)nw;
	uint64_t hi = R.pool * (uint64_t)(t->num + 1) / (uint64_t)nw;
	unsigned char kb[KEY_MAXLEN];

	while (!stopping()) {
		int ph = LOAD_ACQ(&R.fl_phase);
		uint64_t cyc = LOAD_ACQ(&R.fl_cycle);
		int del = ph == FL_DELETE;

		if ((ph != FL_INSERT && ph != FL_DELETE) ||
		    (del ? t->fl_del_cycle : t->fl_ins_cycle) == cyc + 1) {
			set_state(t, "waiting for the next flood phase");
			idle_enter(t);
			nap(t, 200000);
			continue;
		}
		idle_leave(t);
		set_state(t, del ? "flood: deleting" : "flood: inserting");
		for (uint64_t id = lo; id < hi && !stopping(); id++) {
			size_t len = make_key(id, kb);
			int rc;

			if (del) {
				rc = rcumap_delete(R.map, kb, len);
			} else {
				struct tval *v = new_value(t, id, 0);

				rc = rcumap_insert(R.map, kb, len, v);
				if (rc)
					discard(v);
			}
			if (rc)
				tfail(E_MODEL, 0, "%s: flood %s of key %" PRIu64 " (owned by this "
				      "writer) returned %s", t->name, del ? "delete" : "insert", id,
				      errname(rc));
			BUMP(&t->ops);
			if ((id & 63) == 0)
				quiesce();
		}
		quiesce();
		if (del) {
			uint64_t now = now_ns(), m = LOAD(&R.fl_last_delete_ns);

			while (now > m && !__atomic_compare_exchange_n(&R.fl_last_delete_ns, &m, now, 0,
								       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				;
			t->fl_del_cycle = cyc + 1;
		} else {
			t->fl_ins_cycle = cyc + 1;
		}
		if (!stopping())
			__atomic_add_fetch(&R.fl_done, 1, __ATOMIC_RELEASE);
	}
}

/* ---- faults ------------------------------------------------------------------------ */

/*
 * Faults writers: allocations fail at --fail-ppm. Each writer owns the keys
 * id % writers == num and keeps their exact state in R.model, so after every
 * call it knows what the map must hold: the old state after -ENOMEM (F.2),
 * the new one after success.
 */
static void fault_op(struct thr *t)
{
	int nw = opt.writers;
	uint64_t nmine = (R.pool - (uint64_t)t->num + (uint64_t)nw - 1) / (uint64_t)nw;
	uint64_t id = (uint64_t)t->num + (uint64_t)nw * rnd_below(&t->rng, nmine);
	int stable = id < R.nstable;
	void *cur = R.model[id], *want, *res = NULL;
	enum wop op = pick_wop(t, stable);
	unsigned char kb[KEY_MAXLEN];
	size_t len = make_key(id, kb);
	struct tval *v = NULL;
	const void *got;
	int rc, expect;
	const char *call;

	if (op == W_DELETE || op == W_DELETE_IF) {
		if (!cur)
			op = W_DELETE;
	} else {
		if ((op == W_CAS && !cur) || op == W_CLEAR)
			op = W_INSERT;
		v = new_value(t, id, 1);
		if (!v)
			return; /* a failed value allocation: nothing to do */
	}
	rs_lock();
	set_state(t, "faults update");
	switch (op) {
	case W_INSERT:
		call = "rcumap_insert";
		rc = rcumap_insert(R.map, kb, len, v);
		expect = cur ? -EEXIST : 0;
		want = cur ? cur : v;
		break;
	case W_PUT:
		call = "rcumap_put";
		rc = rcumap_put(R.map, kb, len, v);
		expect = 0;
		want = v;
		break;
	case W_REPLACE:
		call = "rcumap_replace";
		rc = rcumap_replace(R.map, kb, len, v);
		expect = cur ? 0 : -ENOENT;
		want = cur ? v : NULL;
		break;
	case W_CAS:
		call = "rcumap_cas";
		rc = rcumap_cas(R.map, kb, len, cur, v);
		expect = 0;
		want = v;
		break;
	case W_DELETE:
		call = "rcumap_delete";
		rc = rcumap_delete(R.map, kb, len);
		expect = cur ? 0 : -ENOENT;
		want = NULL;
		break;
	case W_DELETE_IF:
		call = "rcumap_delete_if";
		rc = rcumap_delete_if(R.map, kb, len, cur);
		expect = 0;
		want = NULL;
		break;
	case W_GET_OR_INSERT:
	default:
		call = "rcumap_get_or_insert";
		rc = rcumap_get_or_insert(R.map, kb, len, v, &res);
		expect = cur ? -EEXIST : 0;
		want = cur ? cur : v;
		if (rc == -EEXIST && res != cur)
			tfail(E_MODEL, 0, "%s: rcumap_get_or_insert of key %" PRIu64 " returned "
			      "value %p, its owner stored %p", t->name, id, res, cur);
		break;
	}
	if (rc == -ENOMEM) {
		t->enomem++;
		want = cur;             /* F.2: contents unchanged */
	} else if (rc != expect) {
		tfail(rc == -ENOENT && stable ? E_ABSENCE : E_MODEL, 0,
		      "%s: %s of its own key %" PRIu64 " returned %s, its model says %s",
		      t->name, call, id, errname(rc), errname(expect));
		want = NULL;
	}
	got = rcumap_get(R.map, kb, len);
	if (rc == -ENOMEM || rc == expect) {
		if (got != want)
			tfail(stable && !got ? E_ABSENCE : E_MODEL, 0,
			      "%s: after %s of key %" PRIu64 " returned %s the map holds %p, "
			      "its owner expects %p (%s)", t->name, call, id, errname(rc), got, want,
			      rc == -ENOMEM ? "unchanged after -ENOMEM" : "the new state");
		R.model[id] = (void *)got;
	} else {
		R.model[id] = (void *)got;  /* resynchronise after a reported error */
	}
	if (got)
		check_value("xw get", id, got);
	if (v && got != v)
		discard(v);
	set_state(t, "between updates");
	rs_unlock();
	quiesce();
}

/* ---- lincheck ------------------------------------------------------------------------ */

/*
 * The lincheck scenario runs in rounds. In a round, its threads record every
 * operation (call and return times from one seq_cst counter) into one
 * history of at most --lincheck-ops slots; then they idle while the main
 * thread reads the final state of every key (recorded too), checks the round
 * with lincheck_check and each count against lincheck_count_bounds, runs
 * rcumap_validate on the quiet map, and starts the next round from that
 * state.
 */
#define LC_EMPTY 0xffffu        /* a reserved slot nobody filled */

struct lc_count {
	uint64_t t0, t1, count;
};

static struct lc {
	struct lincheck_op *ops;
	size_t cap;
	uint64_t nops;          /* slots reserved (atomic) */
	uint64_t clock;         /* timestamps (seq_cst) */
	int active;             /* threads may record */
	unsigned round;
	uint64_t initial[LC_KEYS];
	struct lc_count counts[LC_MAX_COUNTS];
	uint64_t ncounts;       /* atomic */
	uint64_t rounds, checked_ops, checked_counts, unknown, steps;
} LC;

static inline uint64_t lc_tick(void)
{
	return __atomic_add_fetch(&LC.clock, 1, __ATOMIC_SEQ_CST);
}

static struct lincheck_op *lc_reserve(size_t n)
{
	uint64_t s = __atomic_fetch_add(&LC.nops, n, __ATOMIC_RELAXED);

	return s + n <= LC.cap ? &LC.ops[s] : NULL;
}

static uint64_t vid(const void *v)
{
	return v ? ((const struct tval *)v)->id : 0;
}

static void lc_writer_op(struct thr *t, struct lincheck_op *op)
{
	uint32_t k = (uint32_t)rnd_below(&t->rng, LC_KEYS);
	int kind = 1 + (int)rnd_below(&t->rng, 7);  /* INSERT .. GET_OR_INSERT */
	unsigned char kb[KEY_MAXLEN];
	size_t len = make_key(k, kb);
	struct tval *v = NULL;
	const struct tval *e = NULL;
	void *res = NULL;
	int rc;

	op->key = k;
	op->thread = t->wid;
	set_state(t, "lincheck update");
	rs_lock();
	if (kind == LINCHECK_CAS || kind == LINCHECK_DELETE_IF) {
		/* The expected value: a recorded GET in the same read section. */
		op->kind = LINCHECK_GET;
		op->call = lc_tick();
		e = rcumap_get(R.map, kb, len);
		op->ret = lc_tick();
		if (e)
			check_value("lw get", k, e);
		op->out = vid(e);
		op->rc = 0;
		if (!e)
			goto out;
		op++;
		op->key = k;
		op->thread = t->wid;
	}
	if (kind != LINCHECK_DELETE && kind != LINCHECK_DELETE_IF)
		v = new_value(t, k, 0);
	op->kind = (uint16_t)kind;
	op->value = vid(v);
	op->expected = vid(e);
	op->call = lc_tick();
	switch (kind) {
	case LINCHECK_INSERT: rc = rcumap_insert(R.map, kb, len, v); break;
	case LINCHECK_PUT: rc = rcumap_put(R.map, kb, len, v); break;
	case LINCHECK_REPLACE: rc = rcumap_replace(R.map, kb, len, v); break;
	case LINCHECK_CAS: rc = rcumap_cas(R.map, kb, len, (void *)e, v); break;
	case LINCHECK_DELETE: rc = rcumap_delete(R.map, kb, len); break;
	case LINCHECK_DELETE_IF: rc = rcumap_delete_if(R.map, kb, len, (void *)e); break;
	default: rc = rcumap_get_or_insert(R.map, kb, len, v, &res); break;
	}
	op->ret = lc_tick();
	op->rc = rc;
	if (kind == LINCHECK_GET_OR_INSERT) {
		if (rc == -EEXIST && res)
			check_value("lw get_or_insert result", k, res);
		op->out = rc == 0 ? vid(v) : rc == -EEXIST ? vid(res) : 0;
	}
	if (rc != 0 && rc != -EEXIST && rc != -ENOENT && rc != -EAGAIN)
		tfail(E_MODEL, 0, "%s: lincheck op %d on key %u returned %s", t->name, kind, k,
		      errname(rc));
	if (rc != 0)
		discard(v);
out:
	rs_unlock();
	quiesce();
}

/*
 * A lincheck reader's batch: nb keys of the 8 (so most repeat) in one
 * rcumap_get_batch call, recorded as nb GETs that each span the whole call:
 * each value is the key's at some instant of the call (include/rcumap.h),
 * which is what a GET over [call, ret] means to the checker. A call that
 * broke its contract is reported and its GETs left out.
 */
static void lc_batch_op(struct thr *t, struct lincheck_op *op, unsigned nb)
{
	struct batch b;
	uint64_t call, ret;
	long found;

	b.n = nb;
	for (unsigned i = 0; i < nb; i++)
		b.id[i] = rnd_below(&t->rng, LC_KEYS);
	batch_prepare(&b);
	set_state(t, "lincheck get_batch");
	rs_lock();
	call = lc_tick();
	found = get_batch(&b);
	ret = lc_tick();
	if (batch_check(&b, found, "lr get_batch") == 0)
		for (unsigned i = 0; i < nb; i++)
			op[i] = (struct lincheck_op){
				.call = call, .ret = ret, .key = (uint32_t)b.id[i],
				.thread = t->wid, .kind = LINCHECK_GET,
				.flags = LINCHECK_FROM_BATCH, .out = vid(b.values[i]),
			};
	rs_unlock();
	quiesce();
}

static void lc_reader_op(struct thr *t, struct lincheck_op *op)
{
	uint32_t k = (uint32_t)rnd_below(&t->rng, LC_KEYS);
	unsigned char kb[KEY_MAXLEN];
	size_t len = make_key(k, kb);
	const struct tval *v;

	set_state(t, "lincheck get");
	rs_lock();
	op->key = k;
	op->thread = t->wid;
	op->kind = LINCHECK_GET;
	op->call = lc_tick();
	v = rcumap_get(R.map, kb, len);
	op->ret = lc_tick();
	if (v)
		check_value("lr get", k, v);
	op->out = vid(v);
	op->rc = 0;
	rs_unlock();
	quiesce();
}

struct lc_collect {
	struct thr *t;
	struct lincheck_seen seen[LC_ITER_MAX];
	size_t n;
	int overflow;
};

static void lc_collect(struct lc_collect *c, const void *key, size_t len, void *value)
{
	uint64_t id;

	BUMP(&c->t->ops);
	if (decode_key(key, len, &id)) {
		if (attribute_garbage(key))
			return;
		tfail(E_PROVENANCE, 0, "%s: a traversal returned a key that is not a pool key "
		      "(length %zu)", c->t->name, len);
		return;
	}
	check_value("li traversal", id, value);
	if (c->n == LC_ITER_MAX) {
		c->overflow = 1;
		return;
	}
	c->seen[c->n].key = (uint32_t)id;
	c->seen[c->n++].value = vid(value);
}

static void lc_scan_cb(const void *key, size_t len, void *value, void *arg)
{
	lc_collect(arg, key, len, value);
}

/* A traversal recorded as one GET per key over [t0, t1] (lincheck.h), or a count. */
static void lc_iter_op(struct thr *t, struct lincheck_op *op)
{
	struct lc_collect c = { .t = t };
	int scan = (t->traversals++ & 1) != 0;
	uint64_t t0, t1;
	int rc = 0;

	if (rnd_below(&t->rng, 4) == 0) {
		/* A count, checked against its relaxed bounds at the end of the round. */
		uint64_t i = __atomic_fetch_add(&LC.ncounts, 1, __ATOMIC_RELAXED);

		t0 = lc_tick();
		uint64_t n = rcumap_count(R.map);
		t1 = lc_tick();
		if (i < LC_MAX_COUNTS)
			LC.counts[i] = (struct lc_count){ t0, t1, n };
	}
	set_state(t, scan ? "lincheck scan" : "lincheck traversal");
	t0 = lc_tick();
	if (scan) {
		uint64_t cursor = 0;

		do {
			rc = rcumap_scan(R.map, &cursor, 1 + rnd_below(&t->rng, 3), lc_scan_cb, &c);
			quiesce();
		} while (rc == 0 && cursor != 0);
	} else {
		struct rcumap_iter it;
		const void *key;
		size_t len;
		void *value;

		rs_lock();
		rc = rcumap_iter_init(R.map, &it);
		while (rc == 0 && (rc = rcumap_iter_next(R.map, &it, &key, &len, &value)) == 1) {
			lc_collect(&c, key, len, value);
			rc = 0;
		}
		rs_unlock();
		quiesce();
	}
	t1 = lc_tick();
	if (rc < 0)
		tfail(E_MODEL, 0, "%s: %s returned %s", t->name, scan ? "rcumap_scan" :
		      "rcumap_iter_*", errname(rc));
	rc = c.overflow ? -EEXIST : lincheck_iteration_ops(c.seen, c.n, LC_KEYS, t0, t1, t->wid, op);
	if (rc == -EEXIST)
		tfail(E_DUPLICATE, 0, "%s: a %s returned a key twice (%zu entries, %u keys)",
		      t->name, scan ? "scan" : "traversal", c.n, LC_KEYS);
	else if (rc)
		tfail(E_MODEL, 0, "%s: lincheck_iteration_ops returned %s", t->name, errname(rc));
	if (rc)
		for (int k = 0; k < LC_KEYS; k++)
			op[k].kind = LC_EMPTY;
}

static void run_lc(struct thr *t)
{
	while (!stopping()) {
		int active = LOAD_ACQ(&LC.active);
		unsigned round = LOAD_ACQ(&LC.round);
		size_t need = t->role == RO_LC_ITER ? LC_KEYS : t->role == RO_LC_WRITER ? 2 : 1;
		unsigned nb = 0;  /* keys of a reader's batch; 0: one rcumap_get */
		struct lincheck_op *op;

		if (!active || LOAD(&t->lc_idle_round) == round) {
			if (LOAD(&t->lc_idle_round) != round)
				STORE_REL(&t->lc_idle_round, round);
			set_state(t, "waiting for the next lincheck round");
			idle_enter(t);
			nap(t, 200000);
			continue;
		}
		idle_leave(t);
		/* Readers: one op in four is a batch of 1..BATCH_MAX keys. */
		if (t->role == RO_LC_READER && rnd_below(&t->rng, 4) == 0)
			need = nb = 1 + (unsigned)rnd_below(&t->rng, BATCH_MAX);
		op = lc_reserve(need);
		if (!op) {
			STORE_REL(&t->lc_idle_round, round);
			continue;
		}
		if (t->role == RO_LC_WRITER)
			lc_writer_op(t, op);
		else if (nb)
			lc_batch_op(t, op, nb);
		else if (t->role == RO_LC_READER)
			lc_reader_op(t, op);
		else
			lc_iter_op(t, op);
		BUMP(&t->ops);
	}
}

/* ---- thread entry -------------------------------------------------------------------- */

static void *thread_main(void *arg)
{
	struct thr *t = arg;

	self = t;
	STORE(&t->ktid, gettid());
	talloc_thread_init(t->wid);
	talloc_thread_busy_flag(&t->in_malloc);
	test_thread_register();
	switch (t->role) {
	case RO_READER: run_reader(t, 0); break;
	case RO_SLEEPY: run_reader(t, 1); break;
	case RO_HOLD: run_hold(t); break;
	case RO_ITER: run_iter(t); break;
	case RO_SCAN: run_scan(t); break;
	case RO_WRITER: run_op_loop(t, writer_op); break;
	case RO_RESIZER: run_resizer(t); break;
	case RO_GP: run_gp(t); break;
	case RO_FLOOD: run_flood(t); break;
	case RO_FAULT: run_op_loop(t, fault_op); break;
	default: run_lc(t); break;
	}
	set_state(t, "exited");
	tsan_release(&talloc_reader_token);
	test_thread_unregister();
	self = NULL;
	return NULL;
}

/* ==== 5. scenarios ====================================================================== */

struct scen {
	enum sc_kind kind;
	char name[32];
	uint64_t pool;
	double duration;
};
static struct scen scens[16];
static int nscens;

static void add_thread(int role, int num)
{
	struct thr *t = &R.thr[R.nthr];

	memset(t, 0, sizeof(*t));
	t->role = role;
	t->num = num;
	t->wid = (unsigned)R.nthr + 1; /* main is 0 */
	snprintf(t->name, sizeof(t->name), "%s%d", role_prefix[role], num);
	if (role == RO_RESIZER || role == RO_GP || role == RO_SLEEPY || role == RO_HOLD)
		snprintf(t->name, sizeof(t->name), "%s", role_prefix[role]);
	t->rng.s = mix64(opt.seed ^ mix64(((uint64_t)R.index << 32) | (uint64_t)R.nthr));
	t->state = "starting";
	if (role == RO_ITER || role == RO_SCAN) {
		t->seen = calloc(R.pool, sizeof(t->seen[0]));
		if (!t->seen) {
			out("out of memory");
			exit(1);
		}
	}
	R.nthr++;
}

static void make_threads(void)
{
	int i;

	R.thr = aligned_alloc(64, MAX_THREADS * sizeof(struct thr));
	if (!R.thr) {
		out("out of memory");
		exit(1);
	}
	R.nthr = 0;
	if (R.kind == SC_LINCHECK) {
		for (i = 0; i < LC_WRITERS; i++)
			add_thread(RO_LC_WRITER, i);
		for (i = 0; i < LC_READERS; i++)
			add_thread(RO_LC_READER, i);
		for (i = 0; i < LC_ITERS; i++)
			add_thread(RO_LC_ITER, i);
	} else {
		for (i = 0; i < opt.readers; i++)
			add_thread(RO_READER, i);
		for (i = 0; i < opt.iterators; i++)
			add_thread(i % 2 ? RO_SCAN : RO_ITER, i / 2);
		for (i = 0; i < opt.writers; i++)
			add_thread(R.kind == SC_FLOOD ? RO_FLOOD : R.kind == SC_FAULTS ? RO_FAULT
				   : RO_WRITER, i);
	}
	add_thread(RO_RESIZER, 0);
	add_thread(RO_GP, 0);
	add_thread(RO_SLEEPY, 0);
	add_thread(RO_HOLD, 0);
}

static struct thr *find_role(int role)
{
	for (int i = 0; i < R.nthr; i++)
		if (R.thr[i].role == role)
			return &R.thr[i];
	return NULL;
}

/*
 * Pause the resizer and wait until it acknowledged this very pause (it
 * finishes a resize under way first). The caller is offline (qsbr): the
 * resizer may be waiting in rcumap_barrier.
 */
static void pause_resizer(int on)
{
	struct thr *rz = find_role(RO_RESIZER);
	unsigned ticket;

	if (!on) {
		STORE_REL(&R.resizer_pause, 0);
		return;
	}
	ticket = ++R.pause_ticket;
	STORE_REL(&R.resizer_pause, ticket);
	while (rz && LOAD_ACQ(&rz->paused) != ticket && !stopping())
		sleep_ns(100000);
}

/* ---- formatting ----------------------------------------------------------------------- */

static const char *si(char *buf, uint64_t v)
{
	if (v < 10000)
		sprintf(buf, "%" PRIu64, v);
	else if (v < 10000000)
		sprintf(buf, "%.1fk", (double)v / 1e3);
	else if (v < 10000000000ull)
		sprintf(buf, "%.1fM", (double)v / 1e6);
	else
		sprintf(buf, "%.1fG", (double)v / 1e9);
	return buf;
}


static void errors_line(char *buf, size_t size)
{
	size_t n = 0;

	for (int c = 0; c < E_COUNT && n < size; c++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s %" PRIu64, c ? " " : "",
				      ecls_name[c], LOAD(&err_count[c]));
}

/* ---- the stats interval: progress, bounds, and the lines ---------------------------------- */

static int bounds_reported;

static void check_bounds(const struct talloc_stats *s)
{
	if (bounds_reported)
		return;
	if (s->peak_pending > opt.max_pending) {
		bounds_reported = 1;
		tfail(E_BOUNDS, 0, "peak pending %" PRIu64 " objects exceeds --max-pending %" PRIu64,
		      s->peak_pending, opt.max_pending);
	} else if (s->lag_max_ns > opt.max_lag_ms * NS_PER_MS) {
		bounds_reported = 1;
		tfail(E_BOUNDS, 0, "reclaim lag max %.1f ms exceeds --max-lag-ms %" PRIu64,
		      ms(s->lag_max_ns), opt.max_lag_ms);
	}
}

/*
 * Accounting while the map runs: rcumap_stats counts a bucket as reclaimed
 * just before its callback frees it (a table's buckets just after), so,
 * read first, it may run ahead of the frees the allocator saw by the
 * callbacks in flight, never more. Buckets counted and not freed leak.
 */
#define RECLAIM_SLACK 64
static int accounting_reported;

static void check_running_accounting(const struct rcumap_stats *ms_, const struct talloc_stats *s)
{
	for (int k = RCUMAP_KIND_BUCKET; k <= RCUMAP_KIND_TABLE && !accounting_reported; k += 2)
		if (ms_->kind[k].reclaimed > s->kind[k].reclaimed + RECLAIM_SLACK) {
			accounting_reported = 1;
			tfail(E_ACCOUNTING, 0, "kind %s: rcumap_stats counts %" PRIu64 " reclaimed, "
			      "but the allocator saw only %" PRIu64 " freed (%" PRIu64
			      " counted and never freed)", talloc_kind_name(k), ms_->kind[k].reclaimed,
			      s->kind[k].reclaimed, ms_->kind[k].reclaimed - s->kind[k].reclaimed);
		}
}

static void stats_lines(double t, int print)
{
	struct talloc_stats s;
	struct rcumap_stats ms_;
	char line[1600], a[16], b[16], c[16], d[16], e[16], f[16], g[16], h[16];
	uint64_t retired = 0, reclaimed = 0, cb = 0;
	size_t n = 0;

	/*
	 * rcumap.h says rcumap_stats needs no read section, but it reads the
	 * current generation's table (mask, gen, next), which a concurrent
	 * resize may retire and a grace period free meanwhile. Until the library
	 * settles that, the main thread (offline otherwise, with qsbr) takes a
	 * read section for it while the threads run.
	 */
	go_online();
	rs_lock();
	rcumap_stats(R.map, &ms_);      /* first: see check_running_accounting */
	rs_unlock();
	quiesce();
	go_offline();
	talloc_snapshot(&s);
	if (!ms_.slots || (ms_.slots & (ms_.slots - 1)) || ms_.slots > RCUMAP_SLOTS_MAX)
		tfail(E_MODEL, 0, "rcumap_stats: %zu slots is not a power of two up to "
		      "RCUMAP_SLOTS_MAX (generation %" PRIu64 ")", ms_.slots, ms_.generation);
	check_bounds(&s);
	check_running_accounting(&ms_, &s);
	if (!print)
		return;
	n += (size_t)snprintf(line + n, sizeof(line) - n, "[%s %.0fs] ops", R.name, t);
	for (int i = 0; i < R.nthr && n < sizeof(line); i++) {
		struct thr *th = &R.thr[i];
		uint64_t o = LOAD(&th->ops);

		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s %s", th->name,
				      si(a, o - th->last_ops));
		th->last_ops = o;
	}
	out("%s", line);
	for (int k = 0; k < RCUMAP_TORTURE_KINDS; k++) {
		retired += s.kind[k].retired;
		reclaimed += s.kind[k].reclaimed;
	}
	for (int k = 0; k < RCUMAP_STATS_KINDS; k++)
		cb += ms_.kind[k].reclaimed;
	errors_line(line, sizeof(line));
	out("[%s %.0fs] gp %s cb %s live %s slots %s retired %s reclaimed %s pending %s peak %s "
	    "lag p50 %.1f p99 %.1f max %.1f ms ages %" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64
	    " errors: %s", R.name, t, si(a, s.gp), si(b, cb),
	    si(c, s.kind[RCUMAP_TORTURE_KIND_VALUE].published - s.kind[RCUMAP_TORTURE_KIND_VALUE].retired),
	    si(g, ms_.slots), si(d, retired), si(e, reclaimed), si(f, s.pending),
	    si(h, s.peak_pending), ms(talloc_lag_pct(&s, 50)), ms(talloc_lag_pct(&s, 99)),
	    ms(s.lag_max_ns), s.seen[0], s.seen[1], s.seen[2], s.seen[3], line);
}

/*
 * A read section that began before since_ns and is still held, if any: the
 * grace-period thread and the resizer (in rcumap_barrier) wait for it by
 * design, so they are not stalled while it lasts.
 */
static struct thr *long_reader(uint64_t since_ns)
{
	for (int i = 0; i < R.nthr; i++) {
		uint64_t s = LOAD(&R.thr[i].section_ns);

		if (s && s < since_ns)
			return &R.thr[i];
	}
	return NULL;
}

/*
 * Invariant 7: every thread advanced since the last check (or within
 * --stall-intervals). The grace-period thread and the resizer (in
 * rcumap_barrier) wait for readers by design: a full in-section traversal of
 * a large map, or the hold reader, holds a grace period, and liburcu's two
 * phases chain back-to-back sections into one grace period. They are
 * stalled only after GP_STALL_NS without progress, and not while a read
 * section older than the interval is still held.
 */
#define GP_STALL_NS (10 * NS_PER_S)

static void check_progress(double secs, uint64_t last_check_ns)
{
	for (int i = 0; i < R.nthr; i++) {
		struct thr *t = &R.thr[i];
		uint64_t p = LOAD(&t->ops) + LOAD(&t->beats);
		int limit = opt.stall_intervals;
		struct thr *lr;

		if (p != t->last_progress) {
			t->last_progress = p;
			t->quiet_intervals = 0;
			t->stall_reported = 0;
			continue;
		}
		if (t->role == RO_GP || t->role == RO_RESIZER) {
			int gl = (int)((double)GP_STALL_NS / 1e9 / secs + 0.999);

			if ((lr = long_reader(last_check_ns)) != NULL) {
				if (opt.verbose)
					out("%s waits for %s's read section (%s), held for %.1f s",
					    t->name, lr->name, LOAD(&lr->state),
					    (double)(now_ns() - LOAD(&lr->section_ns)) / 1e9);
				continue;
			}
			if (gl > limit)
				limit = gl;
		}
		if (++t->quiet_intervals >= limit && !t->stall_reported) {
			t->stall_reported = 1;
			dump_stack(t->tid, t->name);
			tfail(E_STALL, 0, "STALL thread %s in \"%s\": no progress for %d interval(s) "
			      "(%.1f s)", t->name, LOAD(&t->state), t->quiet_intervals,
			      secs * t->quiet_intervals);
		}
	}
}

/* ---- scenario phases polled by the main loop -------------------------------------------------- */

static void print_lc_report(const struct lincheck_report *rep)
{
	char *buf = NULL, pre[80];
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return;
	snprintf(pre, sizeof(pre), "%s: ", prog);
	lincheck_report_print(rep, f, pre);
	fclose(f);
	write_all(buf, size);
	free(buf);
}

/* Record main's read of every key as GETs: the round's final state. */
static void lc_final_reads(uint64_t *state, struct lincheck_op *op)
{
	for (uint32_t k = 0; k < LC_KEYS; k++) {
		unsigned char kb[KEY_MAXLEN];
		size_t len = make_key(k, kb);
		const struct tval *v;

		rs_lock();
		op[k] = (struct lincheck_op){ .key = k, .thread = 0, .kind = LINCHECK_GET };
		op[k].call = lc_tick();
		v = rcumap_get(R.map, kb, len);
		op[k].ret = lc_tick();
		if (v)
			check_value("main final get", k, v);
		op[k].out = state[k] = vid(v);
		rs_unlock();
	}
}

/* --verbose: the presence writes around a count that broke its bounds. */
static void lc_dump_count(const struct lc_count *c, size_t n)
{
	for (uint32_t k = 0; k < LC_KEYS; k++) {
		size_t last = SIZE_MAX;

		out("  key %u (initial v%" PRIu64 "):", k, LC.initial[k]);
		for (size_t i = 0; i < n; i++) {
			const struct lincheck_op *op = &LC.ops[i];
			char line[160];

			if (op->key != k || op->kind == LINCHECK_GET || op->rc != 0)
				continue;
			if (op->ret < c->t0) {
				last = i;
				continue;
			}
			if (op->call > c->t1)
				continue;
			lincheck_op_format(op, line, sizeof(line));
			out("    overlapping: %s", line);
		}
		if (last != SIZE_MAX) {
			char line[160];

			lincheck_op_format(&LC.ops[last], line, sizeof(line));
			out("    last write returned before: %s", line);
		}
	}
}

/* End the current round: stop recording, wait for every thread, check it all. */
static void lc_end_round(void)
{
	struct lincheck_options lo = { .nkeys = LC_KEYS, .initial = LC.initial };
	struct lincheck_report rep;
	uint64_t final[LC_KEYS], used;
	size_t n = 0, nc;
	int rc;

	/* Called offline (qsbr), from the main loop. */
	STORE_REL(&LC.active, 0);
	pause_resizer(1);
	for (int i = 0; i < R.nthr; i++) {
		struct thr *t = &R.thr[i];

		if (t->role != RO_LC_WRITER && t->role != RO_LC_READER && t->role != RO_LC_ITER)
			continue;
		while (LOAD_ACQ(&t->lc_idle_round) != LC.round && !stopping())
			sleep_ns(100000);
	}
	used = LOAD(&LC.nops);
	if (used > LC.cap)
		used = LC.cap;
	for (size_t i = 0; i < used; i++)
		if (LC.ops[i].kind != LC_EMPTY)
			LC.ops[n++] = LC.ops[i];
	/* The map is quiet: read the final state (recorded) and validate it. */
	go_online();
	lc_final_reads(final, &LC.ops[n]);
	n += LC_KEYS;
	rc = rcumap_validate(R.map);
	quiesce();
	go_offline();
	if (rc)
		tfail(E_ACCOUNTING, 0, "round %u: rcumap_validate returned %s on the quiet map",
		      LC.round, errname(rc));
	rc = lincheck_check(LC.ops, n, &lo, &rep);
	LC.rounds++;
	LC.checked_ops += n;
	LC.steps += rep.steps;
	if (rc == LINCHECK_FAIL) {
		tfail(E_LINCHECK, 0, "round %u: key %u is not linearizable (%zu ops in the round, "
		      "%zu on the key); the report follows", LC.round, rep.key, n, rep.key_ops);
		print_lc_report(&rep);
	} else if (rc == LINCHECK_UNKNOWN) {
		LC.unknown++;
		if (opt.verbose)
			out("lincheck round %u: key %u undecided (step budget)", LC.round, rep.key);
	} else if (rc < 0) {
		tfail(E_MODEL, 0, "lincheck_check returned %s", errname(rc));
	}
	nc = LOAD(&LC.ncounts);
	if (nc > LC_MAX_COUNTS)
		nc = LC_MAX_COUNTS;
	for (size_t i = 0; i < nc; i++) {
		struct lincheck_count_bounds b;
		const struct lc_count *c = &LC.counts[i];

		/* rcumap_count's relaxed contract (design.md, E.1): lincheck.h
		 * derives lo_relaxed..hi_relaxed from it. */
		rc = lincheck_count_bounds(LC.ops, n, &lo, c->t0, c->t1, &b);
		LC.checked_counts++;
		if (rc) {
			tfail(E_MODEL, 0, "lincheck_count_bounds returned %s", errname(rc));
		} else if (c->count < b.lo_relaxed || c->count > b.hi_relaxed) {
			tfail(E_LINCHECK, 0, "round %u: rcumap_count returned %" PRIu64 " over [%"
			      PRIu64 ", %" PRIu64 "], outside its relaxed bounds [%" PRIu64 ", %"
			      PRIu64 "] (present keys %" PRIu64 "..%" PRIu64 ")", LC.round,
			      c->count, c->t0, c->t1, b.lo_relaxed, b.hi_relaxed, b.lo, b.hi);
			if (opt.verbose)
				lc_dump_count(c, n);
		}
	}
	memcpy(LC.initial, final, sizeof(final));
}

static void lc_start_round(void)
{
	memset(LC.ops, 0, LC.cap * sizeof(LC.ops[0]));
	for (size_t i = 0; i < LC.cap; i++)
		LC.ops[i].kind = LC_EMPTY;
	STORE(&LC.nops, 0);
	STORE(&LC.ncounts, 0);
	pause_resizer(0);
	STORE_REL(&LC.round, LC.round + 1);
	STORE_REL(&LC.active, 1);
}

static uint64_t lc_round_start;

/* Returns 1 while the scenario must not end yet. */
static int poll_lincheck(int ending)
{
	int full = LOAD(&LC.nops) >= LC.cap;

	if (!LOAD(&LC.active))
		return 0;
	if (full || ending || now_ns() - lc_round_start > 2 * NS_PER_S) {
		lc_end_round();
		if (!ending && !LOAD(&fail_stop)) {
			lc_start_round();
			lc_round_start = now_ns();
		}
	}
	return 0;
}

/* The flood's phases: insert all, delete all, then measure the drain. */
static void flood_drain(void)
{
	struct talloc_stats s;
	struct rcumap_stats ms_;
	uint64_t t_last, t_end, count;
	char a[16], b[16];
	int i, rc;

	/* Called offline (qsbr), from the main loop. */
	pause_resizer(1);
	t_last = LOAD(&R.fl_last_delete_ns);
	for (i = 0; i < 100; i++) {
		rc = rcumap_barrier(R.map);
		if (rc)
			tfail(E_MODEL, 0, "flood: rcumap_barrier returned %s", errname(rc));
		talloc_snapshot(&s);
		if (s.pending == 0)
			break;
	}
	t_end = now_ns();
	go_online();
	if (t_end - t_last > R.drain_max_ns)
		R.drain_max_ns = t_end - t_last;
	if (s.pending)
		tfail(E_ACCOUNTING, 0, "flood: %" PRIu64 " objects still pending after 100 barriers",
		      s.pending);
	count = rcumap_count(R.map);
	if (count != 0)
		tfail(E_ACCOUNTING, 0, "flood: rcumap_count is %" PRIu64 " after every key was deleted",
		      count);
	/* D.4: an emptied, quiet map shrinks all the way on demand. */
	for (i = 0; i < 20; i++) {
		rc = rcumap_resize(R.map, 0);
		quiesce();
		if (rc == -EBUSY) {
			go_offline();
			rcumap_barrier(R.map);
			go_online();
			continue;
		}
		if (rc)
			tfail(E_MODEL, 0, "flood: rcumap_resize(0) returned %s", errname(rc));
		break;
	}
	rcumap_stats(R.map, &ms_);
	if (ms_.slots > 8)
		tfail(E_BOUNDS, 0, "flood: the emptied map still has %zu slots after rcumap_resize(0)",
		      ms_.slots);
	go_offline();
	R.fl_cycles++;
	out("flood cycle %" PRIu64 ": %s keys inserted in %.0f ms and deleted in %.0f ms by %d "
	    "writers; drain %.1f ms from the last delete to nothing pending; peak pending %s; "
	    "%zu slots after rcumap_resize(0)", R.fl_cycles, si(a, R.pool), ms(R.fl_insert_ns),
	    ms(R.fl_delete_ns), opt.writers, ms(t_end - t_last), si(b, s.peak_pending), ms_.slots);
	pause_resizer(0);
}

/* Returns 1 while the scenario must not end yet (a cycle is under way). */
static int poll_flood(int ending)
{
	int nw = opt.writers;
	int ph = LOAD(&R.fl_phase);

	if (ph == FL_DONE)
		return 0;
	if (LOAD_ACQ(&R.fl_done) < (unsigned)nw)
		return !LOAD(&fail_stop);
	STORE(&R.fl_done, 0);
	if (ph == FL_INSERT) {
		R.fl_insert_ns = now_ns() - R.fl_phase_ns;
		R.fl_phase_ns = now_ns();
		STORE(&R.fl_last_delete_ns, 0);
		STORE_REL(&R.fl_phase, FL_DELETE);
		return 1;
	}
	R.fl_delete_ns = now_ns() - R.fl_phase_ns;
	STORE_REL(&R.fl_phase, FL_DRAIN);
	flood_drain();
	R.fl_complete = 1;
	if (ending || LOAD(&fail_stop) || now_ns() >= R.end_ns) {
		STORE_REL(&R.fl_phase, FL_DONE);
		return 0;
	}
	R.fl_complete = 0;
	R.fl_phase_ns = now_ns();
	STORE_REL(&R.fl_cycle, R.fl_cycle + 1);
	STORE_REL(&R.fl_phase, FL_INSERT);
	return 1;
}

/* ---- setup ------------------------------------------------------------------------------- */

#ifdef RCUMAP_TSAN
/*
 * TSan: the map gets a copy of the flavor with two changes.
 * - read_unlock first releases the reader token (talloc.h): the library's
 *   own read sections (updates, resize, clear, scan and its callbacks) end
 *   inside the library.
 * - barrier: liburcu's rcu_barrier callocs a work item in the calling thread
 *   and its call_rcu worker frees it, ordered by liburcu's queue, which TSan
 *   cannot see (a report inside liburcu, which cannot be annotated). The
 *   program uses only the default call_rcu worker, which runs callbacks in
 *   the order they were queued, so one callback of ours, queued now, runs
 *   after every callback queued before: an equivalent barrier whose
 *   hand-offs TSan sees (release before call_rcu, acquire in the callback,
 *   then an atomic flag back to the waiter).
 */
static struct rcu_flavor_struct tsan_flavor;

static void tsan_read_unlock(void)
{
	tsan_release(&talloc_reader_token);
	rcu_flavor.read_unlock();
}

struct tsan_barrier_work {
	struct rcu_head head;
	int done;
};

static void tsan_barrier_cb(struct rcu_head *head)
{
	struct tsan_barrier_work *w = caa_container_of(head, struct tsan_barrier_work, head);

	tsan_acquire(w);
	/* Pairs with the waiter's acquire: every earlier callback happened before. */
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
}

static void tsan_barrier(void)
{
	struct tsan_barrier_work w = { .done = 0 };

	tsan_release(&w);
	rcu_flavor.update_call_rcu(&w.head, tsan_barrier_cb);
	while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE))
		sleep_ns(200000);
}
#endif

static void create_map(void)
{
	struct rcumap_config cfg = {
		.flavor = RCUMAP_FLAVOR,
		.free_value = talloc_free_value,
		.alloc = talloc_alloc,
		.free = talloc_free,
		.hash = R.kind == SC_COLLIDE ? collide_hash : NULL,
		.min_slots = (mix64(opt.seed ^ (uint64_t)R.index) & 1) ? 1 : 0,
	};
	int rc, tries = 0;

#ifdef RCUMAP_TSAN
	tsan_flavor = rcu_flavor;
	tsan_flavor.read_unlock = tsan_read_unlock;
	tsan_flavor.barrier = tsan_barrier;
	cfg.flavor = &tsan_flavor;
#endif
	while ((rc = rcumap_create(&cfg, &R.map)) == -ENOMEM && tries++ < 1000)
		; /* faults: the allocator fails on purpose */
	if (rc) {
		tfail(E_MODEL, 1, "rcumap_create returned %s", errname(rc));
	}
}

/* Insert key id with a fresh value from main (retrying -ENOMEM in faults). */
static void *prefill_one(uint64_t id)
{
	unsigned char kb[KEY_MAXLEN];
	size_t len = make_key(id, kb);
	struct tval *v = new_value(&main_thr, id, 0);
	int rc, tries = 0;

	while ((rc = rcumap_insert(R.map, kb, len, v)) == -ENOMEM && tries++ < 1000)
		;
	if (rc) {
		tfail(E_MODEL, 0, "prefill: rcumap_insert of key %" PRIu64 " returned %s", id,
		      errname(rc));
		discard(v);
		return NULL;
	}
	return v;
}

/* Stable keys first (present throughout), then half of the others at random. */
static void prefill(void)
{
	struct rng r = { mix64(opt.seed ^ 0xf111 ^ (uint64_t)R.index) };
	uint64_t n = R.kind == SC_FLOOD ? 0 : R.pool;

	go_online();
	for (uint64_t id = 0; id < n; id++) {
		void *v = NULL;

		if (id < R.nstable || rnd_below(&r, 2))
			v = prefill_one(id);
		if (R.model)
			R.model[id] = v;
		if ((id & 1023) == 0)
			quiesce();
		if ((id & 65535) == 65535) {
			/* Keep the reclamation backlog (and the lag it would show) small. */
			go_offline();
			rcumap_barrier(R.map);
			go_online();
		}
	}
	if (R.kind == SC_LINCHECK) {
		unsigned char kb[KEY_MAXLEN];

		for (uint32_t k = 0; k < LC_KEYS; k++) {
			const struct tval *v;

			rs_lock();
			v = rcumap_get(R.map, kb, make_key(k, kb));
			LC.initial[k] = vid(v);
			rs_unlock();
		}
	}
	quiesce();
	go_offline();
}

/* ---- end of a scenario: accounting (invariant 3) ------------------------------------------- */

static void final_traversal(uint64_t *entries)
{
	struct thr *t = &main_thr;
	struct visit vs = { .t = t, .who = "main final traversal" };
	struct rcumap_iter it;
	const void *key;
	size_t len;
	void *value;
	int rc;

	t->seen = calloc(R.pool, sizeof(t->seen[0]));
	if (!t->seen) {
		out("out of memory");
		exit(1);
	}
	t->epoch = 1;
	R.iter_updates = 0;
	rs_lock();
	rc = rcumap_iter_init(R.map, &it);
	while (rc == 0 && (rc = rcumap_iter_next(R.map, &it, &key, &len, &value)) == 1) {
		visit_entry(&vs, key, len, value);
		rc = 0;
	}
	rs_unlock();
	quiesce();
	if (rc < 0)
		tfail(E_MODEL, 0, "final traversal: rcumap_iter_next returned %s", errname(rc));
	check_complete(&vs);
	*entries = vs.entries;
	free(t->seen);
	t->seen = NULL;
}

/* What the scenario's own bookkeeping knows the map holds, or -1. */
static int64_t expected_entries(void)
{
	int64_t n = 0;

	switch (R.kind) {
	case SC_FAULTS: {
		unsigned char kb[KEY_MAXLEN];

		rs_lock();
		for (uint64_t id = 0; id < R.pool; id++) {
			size_t len = make_key(id, kb);
			void *got = rcumap_get(R.map, kb, len);

			if (got != R.model[id])
				tfail(E_MODEL, 0, "faults, at the end: key %" PRIu64 " holds %p, its "
				      "owner's model %p", id, got, R.model[id]);
			n += R.model[id] != NULL;
		}
		rs_unlock();
		quiesce();
		return n;
	}
	case SC_LINCHECK:
		for (int k = 0; k < LC_KEYS; k++)
			n += LC.initial[k] != 0;
		return n;
	case SC_FLOOD:
		return R.fl_complete ? 0 : -1;
	default:
		return -1;
	}
}

static void gp_ticks(int n)
{
	for (int i = 0; i < n; i++) {
		go_offline();
		synchronize_rcu();
		go_online();
		talloc_gp_tick();
	}
}

static void end_checks(void)
{
	static const int kinds[] = { RCUMAP_KIND_BUCKET, RCUMAP_KIND_ENTRY, RCUMAP_KIND_TABLE,
				     RCUMAP_TORTURE_KIND_VALUE };
	struct talloc_stats s;
	struct rcumap_stats ms_;
	uint64_t live, count, entries;
	int64_t expect;
	int rc;

	go_online();
	watchdog_arm(SANITIZED ? 600 : 120, "the end-of-scenario checks");
	rc = rcumap_barrier(R.map);
	if (rc)
		tfail(E_MODEL, 0, "rcumap_barrier returned %s", errname(rc));
	gp_ticks(3);
	talloc_snapshot(&s);
	rcumap_stats(R.map, &ms_);
	check_bounds(&s);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		int k = kinds[i];

		if (s.kind[k].retired != s.kind[k].reclaimed)
			tfail(E_ACCOUNTING, 0, "kind %s: %" PRIu64 " retired but %" PRIu64
			      " reclaimed after rcumap_barrier (%" PRId64 " never freed)",
			      talloc_kind_name(k), s.kind[k].retired, s.kind[k].reclaimed,
			      (int64_t)(s.kind[k].retired - s.kind[k].reclaimed));
	}
	if (s.pending)
		tfail(E_ACCOUNTING, 0, "%" PRIu64 " objects still pending after rcumap_barrier",
		      s.pending);
	for (int k = RCUMAP_KIND_BUCKET; k <= RCUMAP_KIND_TABLE; k += 2) {
		if (s.kind[k].retired != ms_.kind[k].retired ||
		    ms_.kind[k].retired != ms_.kind[k].reclaimed)
			tfail(E_ACCOUNTING, 0, "kind %s: the allocator saw %" PRIu64 " retired, "
			      "rcumap_stats says %" PRIu64 " retired and %" PRIu64 " reclaimed",
			      talloc_kind_name(k), s.kind[k].retired, ms_.kind[k].retired,
			      ms_.kind[k].reclaimed);
	}
	if (ms_.kind[RCUMAP_KIND_ENTRY].retired != ms_.kind[RCUMAP_KIND_ENTRY].reclaimed)
		tfail(E_ACCOUNTING, 0, "rcumap_stats: %" PRIu64 " entries retired, %" PRIu64
		      " reclaimed", ms_.kind[RCUMAP_KIND_ENTRY].retired,
		      ms_.kind[RCUMAP_KIND_ENTRY].reclaimed);
	live = s.kind[RCUMAP_TORTURE_KIND_VALUE].published - s.kind[RCUMAP_TORTURE_KIND_VALUE].retired;
	count = rcumap_count(R.map);
	final_traversal(&entries);
	expect = expected_entries();
	if (live != count || count != entries || (expect >= 0 && (uint64_t)expect != count))
		tfail(E_ACCOUNTING, 0, "live values (published - retired) %" PRIu64
		      ", rcumap_count %" PRIu64 ", full traversal %" PRIu64
		      " entries, the scenario expects %" PRId64 "%s", live, count, entries, expect,
		      expect < 0 ? " (unknown)" : "");
	rc = rcumap_validate(R.map);
	if (rc)
		tfail(E_ACCOUNTING, 0, "rcumap_validate returned %s on the quiet map", errname(rc));
	quiesce();
	talloc_set_destroying(1);
	rc = rcumap_destroy(R.map);
	talloc_set_destroying(0);
	if (rc)
		tfail(E_MODEL, 0, "rcumap_destroy returned %s", errname(rc));
	R.map = NULL;
	talloc_snapshot(&s);
	for (int k = 0; k < RCUMAP_TORTURE_KINDS; k++)
		if (s.kind[k].allocs != s.kind[k].frees)
			tfail(E_ACCOUNTING, 0, "kind %s: %" PRIu64 " allocated, %" PRIu64
			      " freed after rcumap_destroy (%" PRId64 " leaked)", talloc_kind_name(k),
			      s.kind[k].allocs, s.kind[k].frees,
			      (int64_t)(s.kind[k].allocs - s.kind[k].frees));
	gp_ticks(2);
	talloc_drain();
	go_offline();
}

/* ---- one scenario --------------------------------------------------------------------------- */

static double default_duration(const struct scen *sc)
{
	switch (sc->kind) {
	case SC_MIXED:
		return sc->pool >= 100000 ? QUICK_MIXED_1M : sc->pool <= 16 ? QUICK_MIXED_SMALL
									   : QUICK_MIXED;
	case SC_SINGLE: return QUICK_SINGLE;
	case SC_COLLIDE: return QUICK_COLLIDE;
	case SC_FLOOD: return QUICK_FLOOD;
	case SC_LINCHECK: return QUICK_LINCHECK;
	default: return QUICK_FAULTS;
	}
}

/* Runs one scenario; returns 1 if it passed. */
static int run_scenario(const struct scen *sc, int index)
{
	struct talloc_config tc = { .check_canary = 1 };
	struct talloc_stats s;
	uint64_t errs0[E_COUNT], start, next, end, total_ops = 0, traversals = 0, resizes = 0;
	uint64_t busy = 0, enomem = 0;
	double secs;
	int interval_no = 0, pass, errs = 0, i;
	uint64_t last_check;
	char a[16], b[16], c[16], d[16], e[16], f[16], detail[600];

	memset(&R, 0, sizeof(R));
	R.kind = sc->kind;
	R.name = sc->name;
	R.index = index;
	R.pool = sc->pool;
	R.duration = sc->duration > 0 ? sc->duration : default_duration(sc);
	R.nstable = (R.kind == SC_MIXED || R.kind == SC_COLLIDE || R.kind == SC_FAULTS) ? R.pool / 4 : 0;
	R.iter_updates = R.kind == SC_MIXED || R.kind == SC_COLLIDE || R.kind == SC_SINGLE;
	cur_scenario = sc->name;
	bounds_reported = 0;
	accounting_reported = 0;
	memset(&LC, 0, sizeof(LC));
	STORE(&sc_nfail, 0);
	STORE(&sc_first_ready, 0);
	STORE(&fail_stop, 0);
	for (i = 0; i < E_COUNT; i++)
		errs0[i] = LOAD(&err_count[i]);

	tc.seed = mix64(opt.seed ^ 0x7a11 ^ (uint64_t)index);
	tc.fail_ppm = R.kind == SC_FAULTS ? opt.fail_ppm : 0;
	talloc_init(&tc);
	talloc_thread_init(0);
	main_thr.seq = 0;
	main_thr.rng.s = mix64(opt.seed ^ 0x3a17 ^ (uint64_t)index);
	watchdog_arm(R.duration + (SANITIZED ? 900 : 300), "the scenario's setup or main loop");

	create_map();
	if (R.kind == SC_FAULTS) {
		R.model = calloc(R.pool, sizeof(*R.model));
		if (!R.model) {
			out("out of memory");
			exit(1);
		}
	}
	if (R.kind == SC_LINCHECK) {
		LC.cap = opt.lincheck_ops;
		LC.ops = calloc(LC.cap + LC_KEYS, sizeof(*LC.ops));
		if (!LC.ops) {
			out("out of memory");
			exit(1);
		}
	}
	start = now_ns();
	prefill();
	make_threads();
	if (opt.verbose || R.pool >= 100000)
		out("scenario %s: %s keys (%s stable) prefilled in %.1f s; %d threads", R.name,
		    si(a, R.pool), si(b, R.nstable), (double)(now_ns() - start) / 1e9, R.nthr);
	if (R.kind == SC_LINCHECK) {
		lc_start_round();
		lc_round_start = now_ns();
	}
	R.fl_phase_ns = now_ns();
	for (i = 0; i < R.nthr; i++) {
		if (pthread_create(&R.thr[i].tid, NULL, thread_main, &R.thr[i]) != 0) {
			out("pthread_create failed");
			exit(1);
		}
		R.thr[i].started = 1;
	}

	/* The main loop: phases, stats lines, progress, until the duration is over. */
	start = now_ns();
	R.start_ns = start;
	end = start + (uint64_t)(R.duration * (double)NS_PER_S);
	R.end_ns = end;
	next = start + (uint64_t)(opt.interval * (double)NS_PER_S);
	last_check = start;
	for (;;) {
		uint64_t now = now_ns();
		int ending = now >= end || LOAD(&fail_stop);
		int busy_phase = 0;

		if (R.kind == SC_LINCHECK)
			busy_phase = poll_lincheck(ending);
		else if (R.kind == SC_FLOOD)
			busy_phase = poll_flood(ending);
		now = now_ns();
		if (now >= next) {
			interval_no++;
			check_progress(opt.interval, last_check);
			last_check = now;
			stats_lines((double)(now - start) / 1e9,
				    !opt.quiet || interval_no % 10 == 0);
			next += (uint64_t)(opt.interval * (double)NS_PER_S);
			if (next < now)
				next = now + (uint64_t)(opt.interval * (double)NS_PER_S);
		}
		if (ending && !busy_phase)
			break;
		sleep_ns(2 * NS_PER_MS);
	}
	secs = (double)(now_ns() - start) / 1e9;

	/* Stop and join (qsbr: offline while blocked). */
	STORE_REL(&R.stop, 1);
	watchdog_arm(SANITIZED ? 600 : 120, "joining the threads (a thread does not stop)");
	for (i = 0; i < R.nthr; i++) {
		struct timespec ts;
		struct thr *t = &R.thr[i];

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += SANITIZED ? 300 : 60;
		if (pthread_timedjoin_np(t->tid, NULL, &ts) != 0)
			tfail(E_STALL, 1, "STALL thread %s in \"%s\" did not stop", t->name,
			      LOAD(&t->state));
		total_ops += t->ops;
		traversals += t->traversals;
		resizes += t->resizes;
		busy += t->busy;
		enomem += t->enomem;
	}
	talloc_snapshot(&s);
	if (opt.quiet && interval_no % 10 != 0)
		stats_lines(secs, 1);
	end_checks();

	for (i = 0; i < R.nthr; i++)
		free(R.thr[i].seen);
	free(R.thr);
	R.thr = NULL;
	R.nthr = 0;
	free(R.model);
	R.model = NULL;
	free(LC.ops);
	LC.ops = NULL;

	for (i = 0; i < E_COUNT; i++)
		errs += (int)(LOAD(&err_count[i]) - errs0[i]);
	pass = errs == 0 && LOAD(&sc_nfail) == 0;
	if (R.kind == SC_LINCHECK)
		snprintf(detail, sizeof(detail), "; %" PRIu64 " rounds, %" PRIu64
			 " ops and %" PRIu64 " counts checked, %" PRIu64 " undecided", LC.rounds,
			 LC.checked_ops, LC.checked_counts, LC.unknown);
	else if (R.kind == SC_FLOOD)
		snprintf(detail, sizeof(detail), "; %" PRIu64 " flood cycles of %s keys, drain max "
			 "%.1f ms", R.fl_cycles, si(a, R.pool), ms(R.drain_max_ns));
	else if (R.kind == SC_FAULTS)
		snprintf(detail, sizeof(detail), "; %" PRIu64 " allocations failed on purpose, %"
			 PRIu64 " calls returned -ENOMEM",
			 s.kind[0].failed + s.kind[1].failed + s.kind[2].failed + s.kind[3].failed +
			 s.kind[4].failed, enomem);
	else
		detail[0] = 0;
	if (R.holds_extended) {
		size_t dl = strlen(detail);

		snprintf(detail + dl, sizeof(detail) - dl, "; %" PRIu64 " of %" PRIu64 " holds "
			 "extended for a writer the scheduler had not run", R.holds_extended, R.holds);
	}
	if (pass) {
		out("scenario %s (%s): PASS (%.1f s, %s ops, %s traversals, %s resizes (%s -EBUSY), "
		    "%s grace periods, peak pending %s, lag p99 %.1f ms max %.1f ms%s)", R.name,
		    flavor_name, secs, si(a, total_ops), si(b, traversals), si(c, resizes),
		    si(d, busy), si(e, s.gp), si(f, s.peak_pending), ms(talloc_lag_pct(&s, 99)),
		    ms(s.lag_max_ns), detail);
	} else {
		char el[400];
		size_t n = 0;

		el[0] = 0;
		for (i = 0; i < E_COUNT; i++) {
			uint64_t dlt = LOAD(&err_count[i]) - errs0[i];

			if (dlt)
				n += (size_t)snprintf(el + n, sizeof(el) - n, "%s%s %" PRIu64,
						      n ? ", " : "", ecls_name[i], dlt);
		}
		out("scenario %s (%s): FAIL (%d errors: %s; first: %s)", R.name, flavor_name, errs,
		    el, LOAD_ACQ(&sc_first_ready) ? sc_first : "?");
	}
	return pass;
}

/* ==== 6. main ============================================================================ */

static void usage(FILE *f)
{
	fprintf(f,
"usage: %s [options]\n"
"Torture test of rcumap (liburcu flavor %s): threads race on one map while\n"
"every invariant of docs/testing.md is checked. Exit status 0 when every\n"
"scenario passed, 1 when one failed, 2 on a usage error.\n"
"\n"
"  --scenario LIST   comma list of: mixed, single-key, collide, flood, lincheck,\n"
"                    faults, or quick (the quick tier: mixed over 16, 1024 and\n"
"                    1M keys (TSan builds: 250k), then every other scenario\n"
"                    once) [quick]\n"
"  --duration SECS   seconds per scenario; 0 = the quick tier's per-scenario\n"
"                    defaults (4-6 s each, about 45 s in all) [0]\n"
"  --keys N          key pool of mixed (e.g. 1, 16, 1024, 1000000); with quick,\n"
"                    mixed runs on this pool only [1024; quick: 16, 1024, 1M]\n"
"  --seed N          seed of every random stream [from the time; printed]\n"
"  --readers N       reader threads [4]\n"
"  --iterators N     iterator threads, alternately in-section and rcumap_scan [2]\n"
"  --writers N       writer threads [3]; plus, always: a resizer, a grace-period\n"
"                    thread, a sleepy reader and a hold reader\n"
"  --interval SECS   stats interval; every thread must progress in each [1]\n"
"  --stall-intervals N  intervals without progress that make a stall [1; 5 in\n"
"                    sanitizer builds]; the grace-period thread and the resizer,\n"
"                    which wait for readers by design, get at least 10 s\n"
"  --delay-ppm N     probability per million that a delay point yields or\n"
"                    sleeps (more at publish, migrate and switch points) [2000]\n"
"  --fail-ppm N      faults scenario: allocations failed per million [20000]\n"
"  --max-lag-ms N    bound on the reclaim lag (retire to free) [10000; 60000\n"
"                    in sanitizer builds]\n"
"  --max-pending N   bound on objects retired and not yet freed [8000000]\n"
"  --flood-keys N    keys the flood scenario inserts and deletes [200000;\n"
"                    50000 in TSan builds]\n"
"  --lincheck-ops N  operations recorded per lincheck round [20000]\n"
"  --keep-going      run the remaining scenarios after one failed\n"
"  -q, --quiet       one stats interval in ten\n"
"  --verbose         more detail\n"
"  -h, --help        this text\n"
"\n"
"Every output line starts with the program name. The first line holds the\n"
"seed and every parameter: run the program again with them to replay a run.\n"
"That replays the parameters and each thread's random stream (keys,\n"
"operations, delay decisions), not the thread scheduling, so a race may need\n"
"several replays to show again. The last lines are \"End of test: SUCCESS\" or\n"
"\"End of test: FAILURE (<first failing observation>)\" and \"N passed, N failed\"\n"
"(scenarios).\n", prog, TEST_FLAVOR_NAME);
}

static void bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s: usage: %s [--scenario LIST] [--duration SECS] [--keys N] "
		"[--seed N] [options]; %s --help lists them\n", prog, prog, prog);
	exit(2);
}

static uint64_t parse_u64(const char *s, uint64_t lo, uint64_t hi, const char *what)
{
	char *e;
	unsigned long long v;

	errno = 0;
	if (!s || !*s || *s == '-')
		bad_usage("bad value for %s", what);
	v = strtoull(s, &e, 0);
	if (errno || *e || v < lo || v > hi)
		bad_usage("bad value for %s", what);
	return v;
}

static double parse_secs(const char *s, double lo, double hi, const char *what)
{
	char *e;
	double v;

	errno = 0;
	if (!s || !*s)
		bad_usage("bad value for %s", what);
	v = strtod(s, &e);
	if (errno || *e || !(v >= lo && v <= hi))
		bad_usage("bad value for %s", what);
	return v;
}

static void add_scen(enum sc_kind kind, uint64_t pool)
{
	struct scen *sc = &scens[nscens++];

	sc->kind = kind;
	sc->pool = pool;
	sc->duration = opt.duration;
	if (kind == SC_MIXED) {
		if (pool % 1000000 == 0)
			snprintf(sc->name, sizeof(sc->name), "mixed-%" PRIu64 "M", pool / 1000000);
		else if (pool % 1000 == 0 && pool >= 100000)
			snprintf(sc->name, sizeof(sc->name), "mixed-%" PRIu64 "k", pool / 1000);
		else
			snprintf(sc->name, sizeof(sc->name), "mixed-%" PRIu64, pool);
	} else {
		snprintf(sc->name, sizeof(sc->name), "%s", sc_names[kind]);
	}
}

static void parse_scenarios(void)
{
	char buf[sizeof(opt.scenario)], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", opt.scenario);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int k;

		if (nscens > 8)
			bad_usage("too many scenarios in --scenario %s", opt.scenario);
		if (strcmp(tok, "quick") == 0) {
			if (nscens > 0 || strcmp(opt.scenario, "quick") != 0)
				bad_usage("quick cannot be combined with other scenarios (%s)", opt.scenario);
			if (opt.keys) {
				add_scen(SC_MIXED, opt.keys);
			} else {
				add_scen(SC_MIXED, 16);
				add_scen(SC_MIXED, 1024);
				add_scen(SC_MIXED, BIG_POOL);
			}
			add_scen(SC_SINGLE, 1);
			add_scen(SC_COLLIDE, 1024);
			add_scen(SC_FLOOD, opt.flood_keys);
			add_scen(SC_LINCHECK, LC_KEYS);
			add_scen(SC_FAULTS, 1024);
			continue;
		}
		for (k = 0; k <= SC_FAULTS; k++)
			if (strcmp(tok, sc_names[k]) == 0)
				break;
		if (k > SC_FAULTS)
			bad_usage("unknown scenario '%s'", tok);
		switch (k) {
		case SC_MIXED: add_scen(SC_MIXED, opt.keys ? opt.keys : 1024); break;
		case SC_SINGLE: add_scen(SC_SINGLE, 1); break;
		case SC_COLLIDE: add_scen(SC_COLLIDE, 1024); break;
		case SC_FLOOD: add_scen(SC_FLOOD, opt.flood_keys); break;
		case SC_LINCHECK: add_scen(SC_LINCHECK, LC_KEYS); break;
		default: add_scen(SC_FAULTS, 1024); break;
		}
	}
	if (nscens == 0)
		bad_usage("no scenario in --scenario '%s'", opt.scenario);
}

static void parse_options(int argc, char **argv)
{
	enum {
		O_SCENARIO = 256, O_DURATION, O_KEYS, O_SEED, O_READERS, O_ITERATORS, O_WRITERS,
		O_INTERVAL, O_DELAY, O_FAIL, O_LAG, O_PENDING, O_FLOOD, O_LCOPS, O_STALL,
		O_VERBOSE, O_KEEP,
	};
	static const struct option lo[] = {
		{ "scenario", required_argument, NULL, O_SCENARIO },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "keys", required_argument, NULL, O_KEYS },
		{ "seed", required_argument, NULL, O_SEED },
		{ "readers", required_argument, NULL, O_READERS },
		{ "iterators", required_argument, NULL, O_ITERATORS },
		{ "writers", required_argument, NULL, O_WRITERS },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "delay-ppm", required_argument, NULL, O_DELAY },
		{ "fail-ppm", required_argument, NULL, O_FAIL },
		{ "max-lag-ms", required_argument, NULL, O_LAG },
		{ "max-pending", required_argument, NULL, O_PENDING },
		{ "flood-keys", required_argument, NULL, O_FLOOD },
		{ "lincheck-ops", required_argument, NULL, O_LCOPS },
		{ "stall-intervals", required_argument, NULL, O_STALL },
		{ "keep-going", no_argument, NULL, O_KEEP },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, O_VERBOSE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qh", lo, NULL)) != -1) {
		switch (c) {
		case O_SCENARIO:
			if (strlen(optarg) >= sizeof(opt.scenario))
				bad_usage("--scenario %s: too long", optarg);
			snprintf(opt.scenario, sizeof(opt.scenario), "%s", optarg);
			break;
		case O_DURATION: opt.duration = parse_secs(optarg, 0, 1e7, "--duration"); break;
		case O_KEYS: opt.keys = parse_u64(optarg, 1, 1u << 24, "--keys"); break;
		case O_SEED:
			opt.seed = parse_u64(optarg, 0, UINT64_MAX, "--seed");
			opt.seed_given = 1;
			break;
		case O_READERS: opt.readers = (int)parse_u64(optarg, 0, MAX_READERS, "--readers"); break;
		case O_ITERATORS:
			opt.iterators = (int)parse_u64(optarg, 0, MAX_ITERATORS, "--iterators");
			break;
		case O_WRITERS: opt.writers = (int)parse_u64(optarg, 1, MAX_WRITERS, "--writers"); break;
		case O_INTERVAL: opt.interval = parse_secs(optarg, 0.1, 3600, "--interval"); break;
		case O_DELAY: opt.delay_ppm = (uint32_t)parse_u64(optarg, 0, 1000000, "--delay-ppm"); break;
		case O_FAIL: opt.fail_ppm = (uint32_t)parse_u64(optarg, 0, 1000000, "--fail-ppm"); break;
		case O_LAG: opt.max_lag_ms = parse_u64(optarg, 1, UINT64_MAX / NS_PER_MS, "--max-lag-ms"); break;
		case O_PENDING: opt.max_pending = parse_u64(optarg, 1, UINT64_MAX, "--max-pending"); break;
		case O_FLOOD: opt.flood_keys = parse_u64(optarg, 1, 1u << 24, "--flood-keys"); break;
		case O_LCOPS: opt.lincheck_ops = parse_u64(optarg, 100, 10000000, "--lincheck-ops"); break;
		case O_STALL: opt.stall_intervals = (int)parse_u64(optarg, 1, 1000, "--stall-intervals"); break;
		case O_KEEP: opt.keep_going = 1; break;
		case 'q': opt.quiet = 1; break;
		case O_VERBOSE: opt.verbose = 1; break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			bad_usage("option %s needs a value", argv[optind - 1]);
		default:
			bad_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument %s", argv[optind]);
	if (!opt.seed_given) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		opt.seed = mix64((uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec) ^ (uint64_t)getpid();
		opt.seed &= 0xffffffffffffull; /* short enough to type */
	}
	parse_scenarios();
}

int main(int argc, char **argv)
{
	pthread_t wd;
	int failed = 0, skipped = 0;
	char keys[32];

	prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	parse_options(argc, argv);
	if (opt.keys)
		snprintf(keys, sizeof(keys), " --keys %" PRIu64, opt.keys);
	else
		keys[0] = 0;
	out("seed %" PRIu64 ", flavor %s; replay with: --scenario %s --duration %g%s --seed %"
	    PRIu64 " --readers %d --iterators %d --writers %d --interval %g --stall-intervals %d "
	    "--delay-ppm %" PRIu32 " --fail-ppm %" PRIu32 " --max-lag-ms %" PRIu64
	    " --max-pending %" PRIu64 " --flood-keys %" PRIu64 " --lincheck-ops %" PRIu64 "%s%s%s",
	    opt.seed, TEST_FLAVOR_NAME, opt.scenario, opt.duration, keys, opt.seed, opt.readers,
	    opt.iterators, opt.writers, opt.interval, opt.stall_intervals, opt.delay_ppm,
	    opt.fail_ppm, opt.max_lag_ms, opt.max_pending, opt.flood_keys, opt.lincheck_ops,
	    opt.keep_going ? " --keep-going" : "", opt.quiet ? " -q" : "",
	    opt.verbose ? " --verbose" : "");

	if (!SANITIZED) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = crash_handler;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = abort_handler;
		sigaction(SIGABRT, &sa, NULL);
	}
	{
		struct sigaction sa;
		void *pc[4];

		backtrace(pc, 4); /* loads libgcc now, not in the handler */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = stack_handler;
		sa.sa_flags = SA_RESTART;
		sigaction(SIGUSR2, &sa, NULL);
	}
	self = &main_thr;
	test_thread_register();
	go_offline();
	if (pthread_create(&wd, NULL, watchdog, NULL) != 0) {
		out("pthread_create failed");
		return 1;
	}
	for (int i = 0; i < nscens; i++) {
		if (failed && !opt.keep_going) {
			skipped++;
			continue;
		}
		if (run_scenario(&scens[i], i)) {
			n_passed++;
		} else {
			n_failed++;
			failed = 1;
		}
	}
	STORE(&wd_deadline, 0);
	if (skipped)
		out("%d scenario(s) not run after the failure (--keep-going runs them)", skipped);
	go_online();
	test_thread_unregister();
	if (n_failed)
		out("End of test: FAILURE (%s)", LOAD_ACQ(&first_ready) ? first_fail : "?");
	else
		out("End of test: SUCCESS");
	printf("%d passed, %d failed\n", n_passed, n_failed);
	fflush(stdout);
	return n_failed ? 1 : 0;
}
