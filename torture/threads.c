/* SPDX-License-Identifier: MIT */
/* threads.c: the torture program's threads: creation, entry, delay points, resizer, grace periods. */

#define _GNU_SOURCE

#include "program.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static __thread struct thr *self;       /* NULL on threads that are not ours */
static __thread uint64_t tls_rng;       /* delay points on threads that are not ours */
static uint64_t tls_rng_next;

struct thr main_thr = { .name = "main", .role = RO_MAIN };

static const char *const role_prefix[] = {
	[RO_READER] = "r", [RO_ITER] = "it", [RO_SCAN] = "sc", [RO_WRITER] = "w",
	[RO_RESIZER] = "rz", [RO_GP] = "gp", [RO_SLEEPY] = "sl", [RO_HOLD] = "ho",
	[RO_LC_WRITER] = "lw", [RO_LC_READER] = "lr", [RO_LC_ITER] = "li",
	[RO_FLOOD] = "fw", [RO_FAULT] = "xw", [RO_MAIN] = "main",
};

void nap(struct thr *t, uint64_t ns)
{
	const char *s = LOAD(&t->state);

	set_state(t, "napping");
	go_offline();
	sleep_ns(ns);
	go_online();
	BUMP(&t->beats);
	set_state(t, s);
}

/*
 * Delay points (lib/hooks.h). With probability delay-ppm per point (more at
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
	uint64_t *r;
	uint64_t x, p;

	if (t) {
		BUMP(&t->beats);
		if (where == RCUMAP_TP_MIGRATE || where == RCUMAP_TP_SWITCH)
			BUMP(&t->steps);
		r = &t->rng;
	} else {
		r = &tls_rng;
		if (!*r)
			*r = mix64(opt.seed ^ ADD(&tls_rng_next, 1) ^ 0x5151);
	}
	if (!opt.delay_ppm)
		return;
	x = rng_next(r);
	p = (uint64_t)opt.delay_ppm * ((unsigned)where < RCUMAP_TP_COUNT ? factor[where] : 1);
	if ((x & 0xfffff) >= p * 1048576 / 1000000)
		return;
	if (((x >> 20) & 7) == 0)
		sleep_ns(1000 + ((x >> 32) % 50) * 1000);
	else
		sched_yield();
}

/* ---- the resizer and the grace-period thread ---------------------------------------- */

/* A power of two from count/8 to count*4 (at most 4M slots), or 0 (the policy). */
static size_t pick_size(struct thr *t)
{
	uint64_t c = rcumap_count(R.map);
	int lg, lo, hi;

	if (rng_below(&t->rng, 8) == 0)
		return 0;
	lg = 63 - __builtin_clzll(c | 1);
	lo = lg > 3 ? lg - 3 : 0;
	hi = lg + 2 > 22 ? 22 : lg + 2;
	if (lo > hi)
		lo = hi;
	return (size_t)1 << (lo + (int)rng_below(&t->rng, (uint64_t)(hi - lo + 1)));
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
		if (rng_below(&t->rng, 2))
			nap(t, rng_below(&t->rng, 2 * NS_PER_MS));
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
		if (rng_below(&t->rng, 4) == 0)
			sched_yield();
	}
	go_online();
}

/* ---- thread entry ----------------------------------------------------------------------- */

void run_op_loop(struct thr *t, void (*op)(struct thr *t))
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

void *thread_main(void *arg)
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

void main_thread_enter(void)
{
	self = &main_thr;
	test_thread_register();
	go_offline();
}

void main_thread_leave(void)
{
	go_online();
	test_thread_unregister();
}

/* ---- the threads of a scenario ------------------------------------------------------------ */

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
	t->rng = mix64(opt.seed ^ mix64(((uint64_t)R.index << 32) | (uint64_t)R.nthr));
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

void make_threads(void)
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
void pause_resizer(int on)
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
