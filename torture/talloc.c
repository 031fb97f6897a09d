/* SPDX-License-Identifier: MIT */
/* talloc.c: the torture allocator: headers, canaries, life states, quarantine, statistics. */

/*
 * The contract is torture/talloc.h. How it is kept:
 *
 * One malloc block per object:
 *
 *   [struct talloc_hdr, 128 bytes][payload: size bytes][canary: 8 bytes]
 *                                 ^ the pointer handed out (16-byte aligned)
 *
 * Who writes which header field, and how the others read it:
 * - kind, size, seq: at allocation only. Every other thread gets the
 *   object through the library's release publication (or from its owner),
 *   which orders them; plain loads.
 * - magic: TALLOC_MAGIC at allocation, TALLOC_MAGIC_GONE just before libc
 *   gets the block back. Loaded atomically, so that a stale reader in a
 *   broken build reads a word rather than racing.
 * - state: only by compare-and-swap (acq_rel), so each transition acquires
 *   the one before it and releases the header writes made before it.
 * - retire_gp, retire_ns: by the retire hook, before the CAS that sets
 *   RETIRED; readers load them after acquiring that state.
 * - hist: a ring of the last transitions, for reports only.
 * - qnext, free_gp: under qlock.
 *
 * The first 16 bytes of the block (qnext, free_gp) are what glibc's tcache
 * overwrites once the block is given back: nothing is read from them then,
 * and magic sits past them, so a late look finds TALLOC_MAGIC_GONE until
 * libc reuses the block.
 *
 * The publish hook runs after the CAS that made the object reachable, so
 * an object may be met while NEW, or retired by another writer before its
 * publish hook runs (NEW -> RETIRED, marked TA_PUBLISH_PENDING until the
 * hook comes); talloc.h says why that is legal and when it is not.
 */
#define _GNU_SOURCE

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "talloc.h"
#include "util.h" /* testlib/: now_ns, rng_next */

#define TALLOC_MAGIC 0x7a110c8du       /* an object of ours, not yet given back */
#define TALLOC_MAGIC_GONE 0x60e1dea0u  /* given back to libc */
#define TALLOC_CANARY 0x5ac3c5a7e11a0d1fULL
#define TALLOC_CANARY_BYTES 8
#define TALLOC_HIST 4                  /* transitions kept per object */
/* Payload bytes not checked for poison at release: liburcu's rcu_head in buckets and tables. */
#define TALLOC_POISON_SKIP 16

/* State word: enum talloc_state, plus this mark on RETIRED (see talloc.h). */
#define TA_PUBLISH_PENDING 0x100u
#define TA_STATE_MASK 0xffu

/* What a history entry records. */
enum talloc_what {
	H_ALLOC = 1,
	H_PUBLISH,       /* NEW -> LIVE */
	H_LATE_PUBLISH,  /* RETIRED (publish pending) -> RETIRED */
	H_RETIRE,        /* LIVE -> RETIRED */
	H_EARLY_RETIRE,  /* NEW -> RETIRED (publish pending) */
	H_FREE,          /* -> FREED */
	H_CACHE_PUT,     /* RETIRED -> CACHED */
	H_CACHE_GET,     /* CACHED -> NEW */
};

struct talloc_hist {
	uint64_t ns;    /* CLOCK_MONOTONIC */
	uint64_t word;  /* gp (low 32 bits) << 32 | thread id (24 bits) << 8 | what */
};

struct talloc_hdr {
	struct talloc_hdr *qnext;   /* quarantine list; under qlock */
	uint64_t free_gp;           /* grace-period count at quarantine entry; under qlock */
	uint32_t magic;
	uint32_t state;             /* TA_* | TA_PUBLISH_PENDING */
	uint32_t kind;              /* enum rcumap_kind or RCUMAP_TORTURE_KIND_VALUE */
	uint32_t hist_n;            /* transitions recorded so far */
	uint64_t size;              /* payload bytes */
	uint64_t seq;               /* allocation sequence number, from 1 */
	uint64_t retire_gp;         /* grace-period count at retire */
	uint64_t retire_ns;         /* CLOCK_MONOTONIC at retire; 0: never retired */
	struct talloc_hist hist[TALLOC_HIST];
};
_Static_assert(sizeof(struct talloc_hdr) == 128, "the layout drawn above");
_Static_assert(sizeof(struct talloc_hdr) % 16 == 0, "the payload stays 16-byte aligned");

/* How an object is being freed. */
enum talloc_api {
	FA_FREE,     /* rcumap_config.free */
	FA_VALUE,    /* rcumap_config.free_value */
	FA_DISCARD,  /* talloc_discard_value */
};

static const char *const api_name[] = { "free", "free_value", "discard_value" };

static struct talloc_config cfg;  /* written by talloc_init before any thread starts */
static struct talloc_stats st;    /* every field only through __atomic; st.gp is the clock */
static uint64_t alloc_seq;        /* last allocation sequence number handed out */
static int destroying;            /* talloc_set_destroying */
static unsigned init_gen = 1;     /* bumped by talloc_init: streams are re-seeded */
static unsigned auto_stream;      /* streams handed to threads without talloc_thread_init */

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
/*
 * One list per grace-period count modulo QSLOTS: an object freed at count f
 * sits in qlist[f % QSLOTS] and leaves it when the count reaches f +
 * TALLOC_QUARANTINE_GPS, as a whole list, so no one ever walks the
 * quarantine under qlock (it can hold hundreds of thousands of objects).
 */
#define QSLOTS (TALLOC_QUARANTINE_GPS + 1)
static struct talloc_hdr *qlist[QSLOTS];  /* under qlock */

int talloc_reader_token;

static __thread uint64_t tls_rng;  /* this thread's failure-injection stream */
static __thread unsigned tls_gen;  /* init_gen the stream was seeded for; 0: none */
static __thread uint32_t tls_tid;  /* gettid(), cached */
static __thread unsigned *tls_busy; /* talloc_thread_busy_flag; NULL: none */

/* ---- small helpers ------------------------------------------------------------ */

static void stat_add(uint64_t *p, uint64_t v)
{
	/* Statistics only. */
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

static void stat_sub(uint64_t *p, uint64_t v)
{
	/* Statistics only. */
	__atomic_fetch_sub(p, v, __ATOMIC_RELAXED);
}

static void stat_max(uint64_t *p, uint64_t v)
{
	/* Statistics only. */
	uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);

	/* Statistics only: a running maximum. */
	while (cur < v && !__atomic_compare_exchange_n(p, &cur, v, 1, __ATOMIC_RELAXED,
						       __ATOMIC_RELAXED))
		;
}

static uint64_t gp_load(void)
{
	/*
	 * seq_cst: one total order with the increments of talloc_gp_tick and
	 * the reads of the retire hooks: the age argument of talloc.h needs it.
	 */
	return __atomic_load_n(&st.gp, __ATOMIC_SEQ_CST);
}

static uint32_t tid(void)
{
	if (!tls_tid)
		tls_tid = (uint32_t)syscall(SYS_gettid);
	return tls_tid;
}

static struct talloc_hdr *hdr_of(const void *obj)
{
	return (struct talloc_hdr *)(uintptr_t)((const char *)obj - sizeof(struct talloc_hdr));
}

static unsigned char *payload(const struct talloc_hdr *h)
{
	return (unsigned char *)(uintptr_t)(h + 1);
}

static int canary_ok(const struct talloc_hdr *h)
{
	uint64_t c;

	memcpy(&c, payload(h) + h->size, sizeof(c));  /* unaligned in general */
	return c == TALLOC_CANARY;
}

const char *talloc_kind_name(int kind)
{
	static const char *const names[RCUMAP_TORTURE_KINDS] = {
		[RCUMAP_KIND_BUCKET] = "bucket",
		[RCUMAP_KIND_ENTRY] = "entry",
		[RCUMAP_KIND_TABLE] = "table",
		[RCUMAP_KIND_MAP] = "map",
		[RCUMAP_TORTURE_KIND_VALUE] = "value",
	};

	return kind >= 0 && kind < RCUMAP_TORTURE_KINDS ? names[kind] : "?";
}

static const char *state_name(uint32_t s)
{
	switch (s) {
	case TA_NEW:
		return "NEW";
	case TA_LIVE:
		return "LIVE";
	case TA_RETIRED:
		return "RETIRED";
	case TA_RETIRED | TA_PUBLISH_PENDING:
		return "RETIRED (publish hook pending)";
	case TA_FREED:
		return "FREED";
	case TA_CACHED:
		return "CACHED";
	default:
		return "corrupt";
	}
}

static const char *what_name(unsigned w)
{
	switch (w) {
	case H_ALLOC:
		return "alloc";
	case H_PUBLISH:
		return "publish";
	case H_LATE_PUBLISH:
		return "publish (after its retire)";
	case H_RETIRE:
		return "retire";
	case H_EARLY_RETIRE:
		return "retire (before its publish hook)";
	case H_FREE:
		return "free";
	case H_CACHE_PUT:
		return "into the map's cache";
	case H_CACHE_GET:
		return "out of the map's cache";
	default:
		return "?";
	}
}

static const char *error_name(enum talloc_error e)
{
	switch (e) {
	case TE_AGE:
		return "AGE";
	case TE_POISON:
		return "POISON";
	case TE_STATE:
		return "STATE";
	case TE_KIND:
		return "KIND";
	default:
		return "?";
	}
}

static void hist_add(struct talloc_hdr *h, enum talloc_what what, uint64_t gp, uint64_t ns)
{
	/* Report data only: claims a ring slot, orders nothing. */
	uint32_t i = __atomic_fetch_add(&h->hist_n, 1, __ATOMIC_RELAXED) % TALLOC_HIST;
	uint64_t word = (gp & 0xffffffffu) << 32 | (uint64_t)(tid() & 0xffffffu) << 8 | what;

	/* Report data only. */
	__atomic_store_n(&h->hist[i].ns, ns, __ATOMIC_RELAXED);
	/* Report data only. */
	__atomic_store_n(&h->hist[i].word, word, __ATOMIC_RELAXED);
}

/* ---- reports -------------------------------------------------------------------- */

struct buf {
	char s[2048];
	size_t n;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bvprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void bvprintf(struct buf *b, const char *fmt, va_list ap)
{
	int r;

	if (b->n >= sizeof(b->s) - 1)
		return;
	r = vsnprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, ap);
	if (r > 0)
		b->n += (size_t)r < sizeof(b->s) - b->n ? (size_t)r : sizeof(b->s) - 1 - b->n;
}

static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bvprintf(b, fmt, ap);
	va_end(ap);
}

/* Everything the header knows: identity, state, retirement, last transitions. */
static void describe(struct buf *b, const struct talloc_hdr *h, const void *obj)
{
	/* Report data only; the caller already decided. */
	uint32_t s = __atomic_load_n(&h->state, __ATOMIC_RELAXED);
	/* Report data only. */
	uint32_t n = __atomic_load_n(&h->hist_n, __ATOMIC_RELAXED);
	/* Report data only. */
	uint64_t rns = __atomic_load_n(&h->retire_ns, __ATOMIC_RELAXED);
	/* Report data only. */
	uint64_t rgp = __atomic_load_n(&h->retire_gp, __ATOMIC_RELAXED);
	uint64_t gp = gp_load(), now = now_ns();

	bprintf(b, "%s %p: %" PRIu64 " bytes, alloc seq %" PRIu64 ", state %s; gp now %" PRIu64,
		talloc_kind_name((int)h->kind), obj, h->size, h->seq, state_name(s), gp);
	if (rns)
		bprintf(b, "; retired at gp %" PRIu64 " (age %" PRIu64 "), %.3f ms ago", rgp,
			gp >= rgp ? gp - rgp : 0, (double)(now - rns) / 1e6);
	bprintf(b, "; last transitions, oldest first:");
	for (uint32_t k = n > TALLOC_HIST ? n - TALLOC_HIST : 0; k < n; k++) {
		const struct talloc_hist *e = &h->hist[k % TALLOC_HIST];
		/* Report data only. */
		uint64_t ens = __atomic_load_n(&e->ns, __ATOMIC_RELAXED);
		/* Report data only. */
		uint64_t w = __atomic_load_n(&e->word, __ATOMIC_RELAXED);

		bprintf(b, " [%s by tid %u at gp %u, %.3f ms ago]", what_name(w & 0xff),
			(unsigned)(w >> 8 & 0xffffff), (unsigned)(w >> 32),
			now >= ens ? (double)(now - ens) / 1e6 : 0.0);
	}
	if (n > TALLOC_HIST)
		bprintf(b, " (%u earlier not kept)", n - TALLOC_HIST);
}

/*
 * Count one error and report it through torture_fail, with the header's
 * story when h is given. Returns the error's bit for talloc_check.
 */
static int report(int fatal, enum talloc_error err, const struct talloc_hdr *h,
		  const void *obj, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int report(int fatal, enum talloc_error err, const struct talloc_hdr *h,
		  const void *obj, const char *fmt, ...)
{
	struct buf b = { .n = 0 };
	va_list ap;

	b.s[0] = '\0';
	bprintf(&b, "talloc %s error (tid %u): ", error_name(err), tid());
	va_start(ap, fmt);
	bvprintf(&b, fmt, ap);
	va_end(ap);
	if (h) {
		bprintf(&b, "; ");
		describe(&b, h, obj);
	}
	stat_add(&st.errors[err], 1);
	torture_fail(fatal, err, "%s", b.s);
	return 1 << err;
}

/*
 * The header of obj, if it has our magic and a sane kind; otherwise report
 * (a STATE error when the block was already given back to libc, a POISON
 * error for anything else) and return NULL.
 */
static struct talloc_hdr *header(const void *obj, const char *what, int kind)
{
	struct talloc_hdr *h;
	uint32_t magic;

	if (!obj) {
		report(0, TE_POISON, NULL, NULL, "%s of a NULL %s", what, talloc_kind_name(kind));
		return NULL;
	}
	h = hdr_of(obj);
	/* Orders nothing: the object reached us through the library's acquire. */
	magic = __atomic_load_n(&h->magic, __ATOMIC_RELAXED);
	if (magic == TALLOC_MAGIC_GONE) {
		report(1, TE_STATE, NULL, obj, "%s of %s %p, which was freed and given back to libc",
		       what, talloc_kind_name(kind), obj);
		return NULL;
	}
	if (magic != TALLOC_MAGIC || h->kind >= RCUMAP_TORTURE_KINDS) {
		report(1, TE_POISON, NULL, obj,
		       "%s of %s %p: no talloc header (magic %#x, kind %u): not ours or overwritten",
		       what, talloc_kind_name(kind), obj, magic, h->kind);
		return NULL;
	}
	return h;
}

/* ---- allocation --------------------------------------------------------------------- */

static void rng_seed(unsigned id)
{
	tls_rng = cfg.seed ^ 0x6a09e667f3bcc909ULL * ((uint64_t)id + 1);
	(void)rng_next(&tls_rng);
	/* Orders nothing: talloc_init runs before the threads that read it start. */
	tls_gen = __atomic_load_n(&init_gen, __ATOMIC_RELAXED);
}

void talloc_thread_init(unsigned id)
{
	rng_seed(id);
}

/* One draw of this thread's stream: fail this allocation? */
static int inject_failure(void)
{
	if (!cfg.fail_ppm)
		return 0;
	/* Orders nothing: see rng_seed. */
	if (tls_gen != __atomic_load_n(&init_gen, __ATOMIC_RELAXED))
		/* Statistics only: numbers the streams. */
		rng_seed((1u << 20) + __atomic_fetch_add(&auto_stream, 1, __ATOMIC_RELAXED));
	return rng_next(&tls_rng) % 1000000u < cfg.fail_ppm;
}

void talloc_thread_busy_flag(unsigned *flag)
{
	tls_busy = flag;
}

static void set_busy(unsigned v)
{
	/* Read by the stall detector's thread; a hint, no ordering needed. */
	if (tls_busy)
		__atomic_store_n(tls_busy, v, __ATOMIC_RELAXED);
}

static void *obj_new(size_t size, int kind, int zero)
{
	struct talloc_hdr *h;
	uint64_t c = TALLOC_CANARY;
	void *p;

	if (size > SIZE_MAX - sizeof(*h) - TALLOC_CANARY_BYTES)
		return NULL;
	set_busy(1);
	/* The payload must be 16-byte aligned; malloc's is 8 on armhf. */
	if (_Alignof(max_align_t) >= 16)
		h = malloc(sizeof(*h) + size + TALLOC_CANARY_BYTES);
	else if (posix_memalign(&p, 16, sizeof(*h) + size + TALLOC_CANARY_BYTES) == 0)
		h = p;
	else
		h = NULL;
	set_busy(0);
	if (!h)
		return NULL;
	memset(h, 0, sizeof(*h));
	h->kind = (uint32_t)kind;
	h->size = size;
	/* Statistics only: numbers allocations for reports. */
	h->seq = __atomic_add_fetch(&alloc_seq, 1, __ATOMIC_RELAXED);
	/* Orders nothing: the object is ours alone until the library publishes it. */
	__atomic_store_n(&h->magic, TALLOC_MAGIC, __ATOMIC_RELAXED);
	/* Orders nothing: as above. */
	__atomic_store_n(&h->state, TA_NEW, __ATOMIC_RELAXED);
	if (zero)
		memset(payload(h), 0, size);
	memcpy(payload(h) + size, &c, sizeof(c));
	/* Report data only: the clock is not part of any decision here. */
	hist_add(h, H_ALLOC, __atomic_load_n(&st.gp, __ATOMIC_RELAXED), now_ns());
	stat_add(&st.kind[kind].allocs, 1);
	stat_add(&st.kind[kind].live_bytes, size);
	return payload(h);
}

void *talloc_alloc(size_t size, enum rcumap_kind kind, void *arg)
{
	(void)arg;
	if ((unsigned)kind >= RCUMAP_TORTURE_KIND_VALUE) {
		report(0, TE_KIND, NULL, NULL, "alloc of %zu bytes of unknown kind %d", size,
		       (int)kind);
		return NULL;
	}
	if ((kind != RCUMAP_KIND_MAP || cfg.fail_map) && inject_failure()) {
		stat_add(&st.kind[kind].failed, 1);
		return NULL;
	}
	return obj_new(size, (int)kind, 0);
}

void *talloc_value(size_t size, int may_fail)
{
	if (may_fail && inject_failure()) {
		stat_add(&st.kind[RCUMAP_TORTURE_KIND_VALUE].failed, 1);
		return NULL;
	}
	return obj_new(size, RCUMAP_TORTURE_KIND_VALUE, 1);
}

/* ---- the hooks --------------------------------------------------------------------- */

/* A hook's kind must be the header's; a map object is never published or retired. */
static int hook_kind_ok(const struct talloc_hdr *h, const void *obj, const char *what, int kind)
{
	if ((uint32_t)kind != h->kind)
		report(0, TE_KIND, h, obj, "%s as a %s (kind %d)", what, talloc_kind_name(kind),
		       kind);
	if (h->kind == RCUMAP_KIND_MAP) {
		report(1, TE_STATE, h, obj, "%s of the map object, which is never published", what);
		return 0;
	}
	return 1;
}

void rcumap_torture_publish(const void *obj, int kind)
{
	struct talloc_hdr *h = header(obj, "publish", kind);
	uint32_t s, to;

	if (!h || !hook_kind_ok(h, obj, "publish", kind))
		return;
	/* Acquires the transition that set it (the allocation's, or an early retire). */
	s = __atomic_load_n(&h->state, __ATOMIC_ACQUIRE);
	do {
		if (s == TA_NEW) {
			to = TA_LIVE;
		} else if (s == (TA_RETIRED | TA_PUBLISH_PENDING)) {
			to = TA_RETIRED;
		} else {
			report(1, TE_STATE, h, obj, "publish (NEW -> LIVE) found %s%s", state_name(s),
			       s == TA_LIVE ? ": published twice" :
			       s == TA_RETIRED ? ": published again after its retire" :
			       s == TA_FREED ? ": published after its free" : "");
			return;
		}
		/* acq_rel: acquires the previous transition, releases this one to the next. */
	} while (!__atomic_compare_exchange_n(&h->state, &s, to, 0, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	/* Report data only. */
	hist_add(h, to == TA_LIVE ? H_PUBLISH : H_LATE_PUBLISH,
		 __atomic_load_n(&st.gp, __ATOMIC_RELAXED), now_ns());
	stat_add(&st.kind[h->kind].published, 1);
	if (to == TA_RETIRED)
		stat_add(&st.late_publish, 1);
}

void rcumap_torture_retire(const void *obj, int kind)
{
	struct talloc_hdr *h = header(obj, "retire", kind);
	uint64_t gp = 0, ns = 0, p;
	uint32_t s, to;

	if (!h || !hook_kind_ok(h, obj, "retire", kind))
		return;
	/* Acquires the transition that set it. */
	s = __atomic_load_n(&h->state, __ATOMIC_ACQUIRE);
	for (;;) {
		if (s == TA_LIVE) {
			to = TA_RETIRED;
		} else if (s == TA_NEW) {
			to = TA_RETIRED | TA_PUBLISH_PENDING;  /* its publish hook is late */
		} else {
			report(1, TE_STATE, h, obj, "retire (LIVE -> RETIRED) found %s%s",
			       state_name(s),
			       (s & TA_STATE_MASK) == TA_RETIRED ? ": retired twice" :
			       s == TA_FREED ? ": retired after its free" : "");
			return;
		}
		/*
		 * The caller's unpublishing CAS came before this hook, so this
		 * count was read after the object became unreachable: seq_cst,
		 * in one order with the ticks and the readers' reads.
		 */
		gp = gp_load();
		ns = now_ns();
		/* Released to readers by the state CAS below. */
		__atomic_store_n(&h->retire_gp, gp, __ATOMIC_RELAXED);
		/* Released to the free by the state CAS below. */
		__atomic_store_n(&h->retire_ns, ns, __ATOMIC_RELAXED);
		/* acq_rel: releases retire_gp/retire_ns with RETIRED; acquires the publish. */
		if (__atomic_compare_exchange_n(&h->state, &s, to, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			break;
	}
	hist_add(h, to == TA_RETIRED ? H_RETIRE : H_EARLY_RETIRE, gp, ns);
	stat_add(&st.kind[h->kind].retired, 1);
	/* Statistics only. */
	p = __atomic_add_fetch(&st.pending, 1, __ATOMIC_RELAXED);
	stat_max(&st.peak_pending, p);
	/* Statistics only. */
	p = __atomic_add_fetch(&st.pending_bytes, h->size, __ATOMIC_RELAXED);
	stat_max(&st.peak_pending_bytes, p);
}

/* Magic, kind, state, age and (optionally) canary of an object met in a read section. */
static int check(const void *obj, int kind, const char *who)
{
	struct talloc_hdr *h = header(obj, who, kind);
	int errs = 0;
	uint32_t s;

	if (!h)
		return 1 << TE_POISON;
	if ((uint32_t)kind != h->kind)
		errs |= report(0, TE_KIND, h, obj, "%s met it as a %s (kind %d)", who,
			       talloc_kind_name(kind), kind);
	/* Pairs with the CAS that set the state: retire_gp below is that retire's. */
	s = __atomic_load_n(&h->state, __ATOMIC_ACQUIRE);
	switch (s & TA_STATE_MASK) {
	case TA_NEW:
		/* Published, its hook not run yet (talloc.h). */
		stat_add(&st.seen_new, 1);
		break;
	case TA_LIVE:
		stat_add(&st.seen_live, 1);
		break;
	case TA_RETIRED: {
		uint64_t now = gp_load();
		/* Written before the CAS that set RETIRED, which we acquired. */
		uint64_t rgp = __atomic_load_n(&h->retire_gp, __ATOMIC_RELAXED);
		uint64_t age = now > rgp ? now - rgp : 0;

		stat_add(&st.seen[age < TALLOC_AGE_BUCKETS ? age : TALLOC_AGE_BUCKETS - 1], 1);
		if (age >= 2)
			errs |= report(0, TE_AGE, h, obj,
				       "%s met it inside a read section at age %" PRIu64
				       ": a whole grace period began after its retire and ended"
				       " while this reader held it", who, age);
		break;
	}
	case TA_FREED:
		/* Fatal: the caller is about to use poisoned memory (pointers 0x6b6b...). */
		errs |= report(1, TE_POISON, h, obj, "%s met it after its free", who);
		break;
	case TA_CACHED:
		/* Fatal, as FREED: reclaimed, and poisoned in the map's cache. */
		errs |= report(1, TE_POISON, h, obj, "%s met it in the map's bucket cache", who);
		break;
	default:
		errs |= report(1, TE_POISON, h, obj, "%s met it with a corrupt state word %#x",
			       who, s);
		break;
	}
	if (cfg.check_canary && !canary_ok(h))
		errs |= report(0, TE_POISON, h, obj,
			       "%s met it with the canary after its payload overwritten", who);
	return errs;
}

void rcumap_torture_seen(const void *obj, int kind)
{
	(void)check(obj, kind, "seen");
}

int talloc_check(const void *obj, int kind, const char *who)
{
	return check(obj, kind, who ? who : "check");
}

/* ---- free, quarantine ------------------------------------------------------------------ */

static unsigned lag_bucket(uint64_t ns)
{
	unsigned b = ns ? 63u - (unsigned)__builtin_clzll(ns) : 0;

	return b < TALLOC_LAG_BUCKETS ? b : TALLOC_LAG_BUCKETS - 1;
}

/* May an object in state s be freed through api? */
static int free_allowed(uint32_t s, enum talloc_api api)
{
	switch (s) {
	case TA_NEW:
		return api != FA_VALUE;  /* the map frees only values it published */
	case TA_RETIRED:
		return api != FA_DISCARD;
	case TA_LIVE:
		/* Orders nothing: set by the thread that runs rcumap_destroy. */
		return api != FA_DISCARD && __atomic_load_n(&destroying, __ATOMIC_RELAXED);
	case TA_CACHED:
		return api == FA_FREE;  /* the map gives its cache back */
	default:
		return 0;
	}
}

static const char *free_hint(uint32_t s, enum talloc_api api)
{
	if (s == TA_FREED)
		return ": a double free";
	if (s == TA_CACHED)
		return ": it is in the map's bucket cache";
	if (s == (TA_RETIRED | TA_PUBLISH_PENDING))
		return ": retired, but its publish hook never ran";
	if (s == TA_LIVE && api == FA_DISCARD)
		return ": its owner discards a value the map published";
	if (s == TA_LIVE)
		return ": still published, never retired (and not in rcumap_destroy)";
	if (s == TA_NEW && api == FA_VALUE)
		return ": the map frees a value it never published";
	if (s == TA_RETIRED && api == FA_DISCARD)
		return ": its owner discards a value the map retired";
	return "";
}

static void poison(struct talloc_hdr *h)
{
	/* Volatile, so that the compiler cannot drop stores made just before free(). */
	volatile uint64_t *w = (volatile uint64_t *)(void *)payload(h);
	volatile unsigned char *p = payload(h);
	uint64_t pat;
	size_t i, words = h->size / sizeof(uint64_t);

	memset(&pat, TALLOC_POISON, sizeof(pat));
	for (i = 0; i < words; i++)
		w[i] = pat;
	for (i = words * sizeof(uint64_t); i < h->size; i++)
		p[i] = TALLOC_POISON;
}

static void quarantine_push(struct talloc_hdr *h)
{
	pthread_mutex_lock(&qlock);
	/*
	 * Orders nothing: read under qlock after every earlier push read
	 * it, so tags never decrease along the list.
	 */
	h->free_gp = __atomic_load_n(&st.gp, __ATOMIC_RELAXED);
	h->qnext = qlist[h->free_gp % QSLOTS];
	qlist[h->free_gp % QSLOTS] = h;
	stat_add(&st.quarantined, 1);
	pthread_mutex_unlock(&qlock);
}

/* The statistics of a free from state s (a reclaim when s is RETIRED). */
static void count_free(struct talloc_hdr *h, uint32_t s, uint64_t ns)
{
	uint64_t rns;

	if (s == TA_RETIRED) {
		/* Written before the retire CAS, which the caller's CAS acquired. */
		rns = __atomic_load_n(&h->retire_ns, __ATOMIC_RELAXED);
		rns = ns > rns ? ns - rns : 0;
		stat_add(&st.lag[lag_bucket(rns)], 1);
		stat_max(&st.lag_max_ns, rns);
		stat_sub(&st.pending, 1);
		stat_sub(&st.pending_bytes, h->size);
		stat_add(&st.kind[h->kind].reclaimed, 1);
	}
	stat_add(&st.kind[h->kind].frees, 1);
	stat_sub(&st.kind[h->kind].live_bytes, h->size);
}

static void verify_poison(struct talloc_hdr *h);

static void free_obj(void *ptr, size_t size, int kind, enum talloc_api api)
{
	const char *what = api_name[api];
	struct talloc_hdr *h = header(ptr, what, kind);
	uint64_t ns;
	uint32_t s;

	if (!h)
		return;
	if (api == FA_FREE && (h->kind != (uint32_t)kind || h->size != size))
		report(0, TE_KIND, h, ptr, "%s as a %s of %zu bytes", what, talloc_kind_name(kind),
		       size);
	else if (api != FA_FREE && h->kind != RCUMAP_TORTURE_KIND_VALUE)
		report(0, TE_KIND, h, ptr, "%s of an object that is not a value", what);
	if (!canary_ok(h))
		report(0, TE_POISON, h, ptr, "%s: the canary after the payload is overwritten"
		       " (a write past its end)", what);
	/* Acquires the transition that set it (for a retire: retire_ns). */
	s = __atomic_load_n(&h->state, __ATOMIC_ACQUIRE);
	do {
		if (!free_allowed(s, api)) {
			report(1, TE_STATE, h, ptr, "%s (%s -> FREED) found %s%s", what,
			       api == FA_DISCARD ? "NEW" :
			       api == FA_VALUE ? "RETIRED" : "NEW or RETIRED",
			       state_name(s), free_hint(s, api));
			return;
		}
		/* acq_rel: acquires the retire (retire_ns), releases FREED to any later look. */
	} while (!__atomic_compare_exchange_n(&h->state, &s, TA_FREED, 0, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	ns = now_ns();
	if (s != TA_CACHED)  /* a cached object was counted freed at its put */
		count_free(h, s, ns);
	/* Report data only. */
	hist_add(h, H_FREE, __atomic_load_n(&st.gp, __ATOMIC_RELAXED), ns);
	poison(h);
	quarantine_push(h);
}

/* The map keeps a reclaimed bucket in its cache: a free that keeps the memory. */
void rcumap_torture_cache_put(const void *obj, int kind)
{
	struct talloc_hdr *h = header(obj, "cache put", kind);
	uint64_t ns;
	uint32_t s;

	if (!h || !hook_kind_ok(h, obj, "cache put", kind))
		return;
	/* As in talloc_free: every reader that could hold obj released the token. */
	tsan_acquire(&talloc_reader_token);
	/* Acquires the retire (retire_ns). */
	s = __atomic_load_n(&h->state, __ATOMIC_ACQUIRE);
	do {
		if (s != TA_RETIRED) {
			report(1, TE_STATE, h, obj, "cache put (RETIRED -> CACHED) found %s%s",
			       state_name(s), free_hint(s, FA_FREE));
			return;
		}
		/* acq_rel: as in free_obj. */
	} while (!__atomic_compare_exchange_n(&h->state, &s, TA_CACHED, 0, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	ns = now_ns();
	count_free(h, s, ns);
	/* Report data only. */
	hist_add(h, H_CACHE_PUT, __atomic_load_n(&st.gp, __ATOMIC_RELAXED), ns);
	poison(h);
}

/* The map hands a cached bucket out again: an allocation. */
void rcumap_torture_cache_get(const void *obj, int kind)
{
	struct talloc_hdr *h = header(obj, "cache get", kind);
	uint32_t s = TA_CACHED;

	if (!h || !hook_kind_ok(h, obj, "cache get", kind))
		return;
	verify_poison(h);
	/* acq_rel: acquires the put's poison, releases NEW to later looks. */
	if (!__atomic_compare_exchange_n(&h->state, &s, TA_NEW, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		report(1, TE_STATE, h, obj, "cache get (CACHED -> NEW) found %s", state_name(s));
		return;
	}
	/* Statistics only: numbers allocations for reports. */
	h->seq = __atomic_add_fetch(&alloc_seq, 1, __ATOMIC_RELAXED);
	/* Written by the retire before; the next retire writes them again. */
	__atomic_store_n(&h->retire_ns, 0, __ATOMIC_RELAXED);
	/* Report data only. */
	hist_add(h, H_CACHE_GET, __atomic_load_n(&st.gp, __ATOMIC_RELAXED), now_ns());
	stat_add(&st.kind[h->kind].allocs, 1);
	stat_add(&st.kind[h->kind].live_bytes, h->size);
}

/*
 * Negative control SKIP_FREE (-DTORTURE_BROKEN_SKIP_FREE): the allocator
 * drops every 256th bucket the map frees, as a leaking user allocator
 * would; the accounting checks must notice the buckets that never came
 * back. Nonzero: drop this one.
 */
static int broken_skip_free(enum rcumap_kind kind)
{
#ifdef TORTURE_BROKEN_SKIP_FREE
	static unsigned long n;

	return kind == RCUMAP_KIND_BUCKET && __atomic_add_fetch(&n, 1, __ATOMIC_RELAXED) % 256 == 0;
#else
	(void)kind;
	return 0;
#endif
}

void talloc_free(void *ptr, size_t size, enum rcumap_kind kind, void *arg)
{
	(void)arg;
	if (broken_skip_free(kind))
		return;
	/* Every reader that could hold ptr released the token when its section ended. */
	tsan_acquire(&talloc_reader_token);
	free_obj(ptr, size, (int)kind, FA_FREE);
}

void talloc_free_value(void *value, void *arg)
{
	(void)arg;
	/* As in talloc_free. */
	tsan_acquire(&talloc_reader_token);
	free_obj(value, 0, RCUMAP_TORTURE_KIND_VALUE, FA_VALUE);
}

void talloc_discard_value(void *value)
{
	free_obj(value, 0, RCUMAP_TORTURE_KIND_VALUE, FA_DISCARD);
}

/* The poison and canary of a quarantined object must be as talloc_free left them. */
static void verify_poison(struct talloc_hdr *h)
{
	const unsigned char *p = payload(h);
	size_t i = h->size < TALLOC_POISON_SKIP ? h->size : TALLOC_POISON_SKIP;
	uint64_t pat, w;

	memset(&pat, TALLOC_POISON, sizeof(pat));
	for (; i + sizeof(w) <= h->size; i += sizeof(w)) {
		memcpy(&w, p + i, sizeof(w));
		if (w != pat)
			break;
	}
	for (; i < h->size; i++)
		if (p[i] != TALLOC_POISON)
			break;
	if (i < h->size)
		report(0, TE_POISON, h, p, "written after its free: payload byte %zu is %#x,"
		       " not the poison %#x (quarantined at gp %" PRIu64 ")", i, p[i],
		       TALLOC_POISON, h->free_gp);
	if (!canary_ok(h))
		report(0, TE_POISON, h, p, "written after its free: the canary after the payload"
		       " is overwritten (quarantined at gp %" PRIu64 ")", h->free_gp);
}

/* Give a list taken off the quarantine back to libc. */
static void release_list(struct talloc_hdr *h)
{
	while (h) {
		struct talloc_hdr *next = h->qnext;

		verify_poison(h);
		stat_sub(&st.quarantined, 1);
		/* Orders nothing: a stale reader in a broken build sees GONE, not ours. */
		__atomic_store_n(&h->magic, TALLOC_MAGIC_GONE, __ATOMIC_RELAXED);
		set_busy(1);
		free(h);
		set_busy(0);
		h = next;
	}
}

/* Take every quarantine list, as one list; caller holds qlock. */
static struct talloc_hdr *quarantine_take_all(void)
{
	struct talloc_hdr *list = NULL;

	for (unsigned i = 0; i < QSLOTS; i++) {
		struct talloc_hdr *l = qlist[i];

		qlist[i] = NULL;
		while (l) {  /* splice onto list */
			struct talloc_hdr *next = l->qnext;

			l->qnext = list;
			list = l;
			l = next;
		}
	}
	return list;
}

void talloc_gp_tick(void)
{
	struct talloc_hdr *list;
	uint64_t g;

	pthread_mutex_lock(&qlock);
	/*
	 * seq_cst: the clock of the ages; see gp_load. Under qlock so that
	 * no push tags an object with a count whose list was just taken.
	 */
	g = __atomic_add_fetch(&st.gp, 1, __ATOMIC_SEQ_CST);
	list = NULL;
	if (g >= TALLOC_QUARANTINE_GPS) {
		/* The list of count g - QUARANTINE_GPS; O(1) but for the splice. */
		list = qlist[(g - TALLOC_QUARANTINE_GPS) % QSLOTS];
		qlist[(g - TALLOC_QUARANTINE_GPS) % QSLOTS] = NULL;
	}
	pthread_mutex_unlock(&qlock);
	release_list(list);
}

void talloc_drain(void)
{
	struct talloc_hdr *list;

	pthread_mutex_lock(&qlock);
	list = quarantine_take_all();
	pthread_mutex_unlock(&qlock);
	release_list(list);
}

uint64_t talloc_gp(void)
{
	return gp_load();
}

void talloc_set_destroying(int on)
{
	/* Orders nothing: read by the frees of the thread that sets it (rcumap_destroy). */
	__atomic_store_n(&destroying, on, __ATOMIC_RELAXED);
}

/* ---- statistics --------------------------------------------------------------------- */

#define STAT_WORDS (RCUMAP_TORTURE_KINDS * 7 + 6 + TALLOC_LAG_BUCKETS + 1 + \
		    TALLOC_AGE_BUCKETS + 3 + TE_COUNT)
_Static_assert(sizeof(struct talloc_stats) == STAT_WORDS * sizeof(uint64_t),
	       "stat_words lists every counter of struct talloc_stats");

/* Every counter of s, in one fixed order, for reset and snapshot. */
static void stat_words(struct talloc_stats *s, uint64_t *w[STAT_WORDS])
{
	size_t n = 0;

	for (int k = 0; k < RCUMAP_TORTURE_KINDS; k++) {
		w[n++] = &s->kind[k].allocs;
		w[n++] = &s->kind[k].frees;
		w[n++] = &s->kind[k].published;
		w[n++] = &s->kind[k].retired;
		w[n++] = &s->kind[k].reclaimed;
		w[n++] = &s->kind[k].failed;
		w[n++] = &s->kind[k].live_bytes;
	}
	w[n++] = &s->gp;
	w[n++] = &s->pending;
	w[n++] = &s->peak_pending;
	w[n++] = &s->pending_bytes;
	w[n++] = &s->peak_pending_bytes;
	w[n++] = &s->quarantined;
	for (int i = 0; i < TALLOC_LAG_BUCKETS; i++)
		w[n++] = &s->lag[i];
	w[n++] = &s->lag_max_ns;
	for (int i = 0; i < TALLOC_AGE_BUCKETS; i++)
		w[n++] = &s->seen[i];
	w[n++] = &s->seen_live;
	w[n++] = &s->seen_new;
	w[n++] = &s->late_publish;
	for (int i = 0; i < TE_COUNT; i++)
		w[n++] = &s->errors[i];
}

void talloc_init(const struct talloc_config *c)
{
	uint64_t *w[STAT_WORDS];

	talloc_drain();  /* no reader of an earlier run holds anything now */
	memset(&cfg, 0, sizeof(cfg));
	if (c)
		cfg = *c;
	stat_words(&st, w);
	for (size_t i = 0; i < STAT_WORDS; i++)
		/* Orders nothing: no other thread runs (nor frees: a barrier came first). */
		__atomic_store_n(w[i], 0, __ATOMIC_RELAXED);
	/* Orders nothing: numbering for reports. */
	__atomic_store_n(&alloc_seq, 0, __ATOMIC_RELAXED);
	/* Orders nothing: see talloc_set_destroying. */
	__atomic_store_n(&destroying, 0, __ATOMIC_RELAXED);
	/* Orders nothing: the threads that number their streams start after this. */
	__atomic_store_n(&auto_stream, 0, __ATOMIC_RELAXED);
	/* Orders nothing: as above; every thread re-seeds its stream on its next draw. */
	__atomic_add_fetch(&init_gen, 1, __ATOMIC_RELAXED);
}

void talloc_snapshot(struct talloc_stats *out)
{
	uint64_t *src[STAT_WORDS], *dst[STAT_WORDS];

	memset(out, 0, sizeof(*out));
	stat_words(&st, src);
	stat_words(out, dst);
	for (size_t i = 0; i < STAT_WORDS; i++)
		/* Statistics only: each counter read atomically, none orders anything. */
		*dst[i] = __atomic_load_n(src[i], __ATOMIC_RELAXED);
}

uint64_t talloc_lag_pct(const struct talloc_stats *s, double pct)
{
	uint64_t total = 0, cum = 0, want;
	double x;

	for (int i = 0; i < TALLOC_LAG_BUCKETS; i++)
		total += s->lag[i];
	if (!total)
		return 0;
	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	x = pct / 100.0 * (double)total;
	want = (uint64_t)x;
	if ((double)want < x)
		want++;
	if (!want)
		want = 1;
	for (int i = 0; i < TALLOC_LAG_BUCKETS; i++) {
		cum += s->lag[i];
		if (cum >= want) {
			uint64_t lo = (uint64_t)1 << i, hi = lo << 1;

			/*
			 * The bucket's end, but not above the largest lag seen
			 * (nor below the bucket's start, should the snapshot
			 * have caught lag_max_ns before this bucket's count);
			 * the last bucket has no end.
			 */
			if (i == TALLOC_LAG_BUCKETS - 1 || hi > s->lag_max_ns)
				hi = s->lag_max_ns > lo ? s->lag_max_ns : lo;
			return hi;
		}
	}
	return s->lag_max_ns;
}

int talloc_probe(const void *addr, void *buf, size_t n)
{
	struct iovec l = { buf, n }, r = { (void *)(uintptr_t)addr, n };

	return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == (ssize_t)n;
}

/* Was h, a snapshot of a header, reclaimed (freed or cached) at or after since_ns? */
static int reclaimed_since(const struct talloc_hdr *h, uint64_t since_ns)
{
	uint32_t s = h->state & TA_STATE_MASK;

	if (s == TA_FREED || s == TA_CACHED)
		return 1;
	if (!since_ns)
		return 0;
	for (int i = 0; i < TALLOC_HIST; i++) {
		uint32_t what = (uint32_t)(h->hist[i].word & 0xff);

		if ((what == H_FREE || what == H_CACHE_PUT) && h->hist[i].ns >= since_ns)
			return 1;
	}
	return 0;
}

int talloc_is_reclaimed(uintptr_t obj, uint64_t since_ns, int *kind)
{
	struct talloc_hdr h;

	if (obj < 4096 + sizeof(h) || (obj & 15) || !talloc_probe((void *)(obj - sizeof(h)), &h, sizeof(h)))
		return 0;
	if (h.magic != TALLOC_MAGIC || h.kind >= RCUMAP_TORTURE_KINDS || !reclaimed_since(&h, since_ns))
		return 0;
	*kind = (int)h.kind;
	return 1;
}

void talloc_report_reclaimed(const void *obj, int kind, uint64_t since_ns, const char *who)
{
	const struct talloc_hdr *h = (const struct talloc_hdr *)obj - 1;

	if (check(obj, kind, who))
		return;
	/* Live again: the reclaim is in its history, after the holder's section began. */
	report(1, TE_POISON, h, obj, "%s held it in a read section that began %.3f ms"
	       " before it was reclaimed; it has been handed out again since", who,
	       (double)(now_ns() - since_ns) / 1e6);
}
