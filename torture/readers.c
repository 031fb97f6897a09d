/* SPDX-License-Identifier: MIT */
/* readers.c: the torture program's read side: lookups, the sleepy and hold readers, traversals. */

#define _GNU_SOURCE

#include "program.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

uint64_t pick_read_key(struct thr *t)
{
	if (R.nstable && rng_below(&t->rng, 2))
		return rng_below(&t->rng, R.nstable);
	return rng_below(&t->rng, R.pool);
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
void run_reader(struct thr *t, int sleepy)
{
	uint64_t next_long = now_ns() + NS_PER_S + rng_below(&t->rng, 2 * NS_PER_S);
	char who[40], whob[40];

	snprintf(who, sizeof(who), "%s get", t->name);
	snprintf(whob, sizeof(whob), "%s get_batch", t->name);
	while (!stopping()) {
		unsigned n = 1 + (unsigned)rng_below(&t->rng, 16);
		int batched = (int)rng_below(&t->rng, 2);
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
			b.n = 1 + (unsigned)rng_below(&t->rng, BATCH_MAX);
			for (unsigned i = 0; i < b.n; i++)
				b.id[i] = sr.n && rng_below(&t->rng, 2) ?
					  sr.r[rng_below(&t->rng, sr.n)].id : pick_read_key(t);
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
				next_long = now + NS_PER_S + rng_below(&t->rng, 2 * NS_PER_S);
			} else if (rng_below(&t->rng, 64) == 0) {
				ns = NS_PER_MS + rng_below(&t->rng, 4 * NS_PER_MS);
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
		if (rng_below(&t->rng, 1024) == 0)
			nap(t, 1000 + rng_below(&t->rng, 200000));
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
void run_hold(struct thr *t)
{
	while (!stopping()) {
		uint64_t wait = rng_below(&t->rng, (uint64_t)(opt.interval * 0.6 * (double)NS_PER_S));
		uint64_t hold = (300 + rng_below(&t->rng, 201)) * NS_PER_MS;
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
		if (rng_below(&t->rng, 2)) {
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

/* ---- traversals: the in-section iterator and rcumap_scan ------------------------------ */

static void next_epoch(struct thr *t)
{
	if (++t->epoch == 0) {
		memset(t->seen, 0, R.pool * sizeof(t->seen[0]));
		t->epoch = 1;
	}
}

void visit_entry(struct visit *vs, const void *key, size_t len, void *value)
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
		/* Guarantee T5: replace the key just returned, through its own key pointer. */
		if (R.iter_updates && rng_below(&t->rng, 512) == 0) {
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

void check_complete(struct visit *vs)
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

void run_iter(struct thr *t)
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
		if (rng_below(&t->rng, 8) == 0)
			nap(t, rng_below(&t->rng, 500000));
	}
}

void visit_cb(const void *key, size_t len, void *value, void *arg)
{
	visit_entry(arg, key, len, value);
}

int traverse_in_section(void (*fn)(const void *key, size_t len, void *value, void *arg),
			void *arg)
{
	struct rcumap_iter it;
	const void *key;
	size_t len;
	void *value;
	int rc;

	rs_lock();
	rc = rcumap_iter_init(R.map, &it);
	while (rc == 0 && (rc = rcumap_iter_next(R.map, &it, &key, &len, &value)) == 1) {
		fn(key, len, value, arg);
		rc = 0;
	}
	rs_unlock();
	quiesce();
	return rc;
}

void run_scan(struct thr *t)
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
			rc = rcumap_scan(R.map, &cursor, 1 + rng_below(&t->rng, 16), visit_cb, &vs);
			quiesce();
			if (rc) {
				tfail(E_MODEL, 0, "%s: rcumap_scan returned %s", t->name, errname(rc));
				break;
			}
			if (rng_below(&t->rng, 256) == 0)
				nap(t, rng_below(&t->rng, 300000)); /* the cursor holds nothing */
		} while (cursor != 0 && !stopping());
		if (rc == 0 && cursor == 0)
			check_complete(&vs);
		t->traversals++;
	}
}
