/* SPDX-License-Identifier: MIT */
/* scen_faults.c: the faults scenario: writers whose allocations fail, each with a model of its keys. */

#define _GNU_SOURCE

#include "program.h"

#include <errno.h>
#include <inttypes.h>

/*
 * Faults writers: allocations fail at --fail-ppm. Each writer owns the keys
 * id % writers == num and keeps their exact state in R.model, so after every
 * call it knows what the map must hold: the old state after -ENOMEM (G6.2),
 * the new one after success.
 */
void fault_op(struct thr *t)
{
	int nw = opt.writers;
	uint64_t nmine = (R.pool - (uint64_t)t->num + (uint64_t)nw - 1) / (uint64_t)nw;
	uint64_t id = (uint64_t)t->num + (uint64_t)nw * rng_below(&t->rng, nmine);
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
		want = cur;             /* G6.2: contents unchanged */
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

/* Every key holds what its owner's model says; the number of keys present. */
int64_t faults_expected_entries(void)
{
	unsigned char kb[KEY_MAXLEN];
	int64_t n = 0;

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
