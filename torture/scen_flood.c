/* SPDX-License-Identifier: MIT */
/* scen_flood.c: the flood scenario: insert every key, delete every key, measure the drain. */

#define _GNU_SOURCE

#include "program.h"

#include <errno.h>
#include <inttypes.h>

enum { FL_INSERT, FL_DELETE, FL_DRAIN, FL_DONE };

/*
 * Flood writers: each inserts its share of the keys; when all are in, all
 * delete everything at once. The main thread measures the drain.
 */
void run_flood(struct thr *t)
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
	/* G4.4: an emptied, quiet map shrinks all the way on demand. */
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
int poll_flood(int ending)
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
