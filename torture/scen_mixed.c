/* SPDX-License-Identifier: MIT */
/* scen_mixed.c: the writers of the mixed, single-key and collide scenarios. */

#define _GNU_SOURCE

#include "program.h"

#include <errno.h>
#include <inttypes.h>

/* An unexpected return code: the model (rcumap.h) does not allow it. */
static void bad_rc(struct thr *t, const char *call, uint64_t id, int rc)
{
	tfail(id < R.nstable && rc == -ENOENT ? E_ABSENCE : E_MODEL, 0,
	      "%s: %s of %skey %" PRIu64 " returned %s", t->name, call,
	      id < R.nstable ? "stable " : "", id, errname(rc));
}

enum wop pick_wop(struct thr *t, int stable)
{
	uint64_t x = rng_below(&t->rng, 100);

	if (stable)  /* stable keys: only updates that keep the key present */
		return x < 40 ? W_REPLACE : x < 80 ? W_CAS : W_PUT;
	if (R.kind == SC_SINGLE && rng_below(&t->rng, 2000) == 0)
		return W_CLEAR;
	return x < 20 ? W_INSERT : x < 40 ? W_DELETE : x < 50 ? W_REPLACE : x < 60 ? W_CAS :
	       x < 70 ? W_DELETE_IF : x < 85 ? W_GET_OR_INSERT : W_PUT;
}

/*
 * insert, replace or put of a fresh value for key id. Besides 0 the model
 * allows only the return code also_ok (0: nothing else). Returns the value
 * if the map did not take it (the caller discards it), else NULL.
 */
static struct tval *store_fresh(struct thr *t, const char *call,
				int (*store)(struct rcumap *map, const void *key, size_t len,
					     void *value),
				uint64_t id, const unsigned char *kb, size_t len, int also_ok)
{
	struct tval *v;
	int rc;

	set_state(t, call);
	v = new_value(t, id, 0);
	rc = store(R.map, kb, len, v);
	if (rc == 0)
		return NULL;
	if (rc != also_ok)
		bad_rc(t, call, id, rc);
	return v;
}

/*
 * One update of a mixed, single-key or collide writer. Stable keys only get
 * replace, cas and put, which must find them. cas, delete_if and
 * get_or_insert run inside a read section of the writer's, which keeps the
 * expected or returned value valid (and its address not reused) across the
 * call; the others run inside one or not, at random.
 */
void writer_op(struct thr *t)
{
	int stable = R.nstable && rng_below(&t->rng, 5) == 0;
	uint64_t id = stable ? rng_below(&t->rng, R.nstable)
			     : R.nstable + rng_below(&t->rng, R.pool - R.nstable);
	enum wop op = pick_wop(t, stable);
	int inside = op == W_CAS || op == W_DELETE_IF || op == W_GET_OR_INSERT ||
		     rng_below(&t->rng, 2);
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
		v = store_fresh(t, "rcumap_insert", rcumap_insert, id, kb, len, -EEXIST);
		break;
	case W_DELETE:
		set_state(t, "rcumap_delete");
		rc = rcumap_delete(R.map, kb, len);
		if (rc != 0 && rc != -ENOENT)
			bad_rc(t, "rcumap_delete", id, rc);
		break;
	case W_REPLACE:
		v = store_fresh(t, "rcumap_replace", rcumap_replace, id, kb, len,
				stable ? 0 : -ENOENT);
		break;
	case W_PUT:
		v = store_fresh(t, "rcumap_put", rcumap_put, id, kb, len, 0);
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
