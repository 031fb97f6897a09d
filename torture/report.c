/* SPDX-License-Identifier: MIT */
/* report.c: output, failures and their classes, crash attribution, the watchdog, the end lines. */

#define _GNU_SOURCE

#include "program.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

const char *prog = "torture";

const char *const ecls_name[E_COUNT] = {
	"age", "poison", "state", "kind", "accounting", "provenance", "absence",
	"duplicate", "stall", "bounds", "lincheck", "model",
};
static const char *const ecls_upper[E_COUNT] = {
	"AGE", "POISON", "STATE", "KIND", "ACCOUNTING", "PROVENANCE", "ABSENCE",
	"DUPLICATE", "STALL", "BOUNDS", "LINCHECK", "MODEL",
};

uint64_t err_count[E_COUNT];            /* whole run */
uint64_t nfail;                         /* observations, whole run */
static char first_fail[1200];           /* the first one, without the prefix */
static int first_ready;
static uint64_t sc_nfail;               /* observations in this scenario */
static char sc_first[1200];
static int sc_first_ready;
#define PRINT_FAILURES 20

static int exiting;                     /* a thread is printing the end lines */
static __thread int i_am_exiting;

/* Results so far, for the end lines (also from the fatal path). */
int n_passed, n_failed;
static const char *cur_scenario = "setup";

/* Write one whole buffer to stdout; no stdio, no locks (any thread, fatal path). */
void write_all(const char *buf, size_t len)
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

void out(const char *fmt, ...)
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
	out("scenario %s (%s): FAIL (fatal: %s)", cur_scenario, TEST_FLAVOR_NAME,
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

int fail_stop;                          /* a failure was seen: end the scenario soon */

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

void tfail(int cls, int fatal, const char *fmt, ...)
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

void fail_scenario_begin(const char *name)
{
	cur_scenario = name;
	STORE(&sc_nfail, 0);
	STORE(&sc_first_ready, 0);
	STORE(&fail_stop, 0);
}

uint64_t fail_scenario_count(void)
{
	return LOAD(&sc_nfail);
}

const char *fail_scenario_first(void)
{
	return LOAD_ACQ(&sc_first_ready) ? sc_first : "?";
}

const char *fail_first(void)
{
	return LOAD_ACQ(&first_ready) ? first_fail : "?";
}

const char *si(char *buf, uint64_t v)
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

void errors_line(char *buf, size_t size)
{
	size_t n = 0;

	for (int c = 0; c < E_COUNT && n < size; c++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s %" PRIu64, c ? " " : "",
				      ecls_name[c], LOAD(&err_count[c]));
}

/* ---- crashes, stalls, the watchdog ------------------------------------------------- */

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
__thread const void *const *crash_iter_bucket; /* &it.bucket of a traversal */
__thread const uint64_t *crash_section_ns;     /* &t->section_ns, with it */
__thread const void *crash_batch_top;          /* rcumap_get_batch's caller's frame */
__thread uint64_t crash_batch_ns;              /* when that call began */
static int crashing;                           /* a thread is in crash_handler */

/*
 * A traversal handed out a key that is not a pool key. If the key bytes lie
 * in a freed key copy, or in (or past the end of) a freed bucket, that is
 * the error: records are 32 bytes after a 32-byte header, an inline key 8
 * bytes into its record. Walks back at most 16k records.
 */
int attribute_garbage(const void *key)
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

void dump_stack(pthread_t tid, const char *name)
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

/* SIGSEGV, SIGBUS and SIGABRT (not under sanitizers, which report crashes themselves), SIGUSR2. */
void crash_handlers_install(void)
{
	struct sigaction sa;
	void *pc[4];

	if (!SANITIZED) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = crash_handler;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = abort_handler;
		sigaction(SIGABRT, &sa, NULL);
	}
	backtrace(pc, 4); /* loads libgcc now, not in the handler */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stack_handler;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &sa, NULL);
}

/* ---- watchdog: the main thread must not hang in a join, a barrier or a check */

static uint64_t wd_deadline;            /* 0: disarmed */
static const char *wd_what = "";

void watchdog_arm(double secs, const char *what)
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

int watchdog_start(void)
{
	pthread_t wd;

	return pthread_create(&wd, NULL, watchdog, NULL) != 0 ? -1 : 0;
}

void watchdog_disarm(void)
{
	STORE(&wd_deadline, 0);
}
