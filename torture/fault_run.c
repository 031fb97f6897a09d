/* SPDX-License-Identifier: MIT */
/* fault_run.c: one run of the allocation-failure script: failing allocator, model, each operation. */

#define _GNU_SOURCE

#include "faults.h"

static void *fa_alloc(size_t size, enum rcumap_kind kind, void *arg)
{
	struct fault_alloc *fa = arg;
	unsigned long call, injected;
	void *p;

	if (fa->budget == 0) {
		fa->scripted++;
		return NULL;
	}
	if (fa->budget > 0)
		fa->budget--;
	call = atomic_load(&fa->ca.calls);
	injected = atomic_load(&fa->ca.injected);
	if (fa->record) {
		if (call >= fa->cap) {
			size_t cap = fa->cap ? 2 * fa->cap : 1024;
			unsigned *o = realloc(fa->op_of_call, cap * sizeof(*o));

			if (!o)
				harness_fatal("out of memory recording allocation calls");
			fa->op_of_call = o;
			fa->cap = cap;
		}
		fa->op_of_call[call] = fa->op;
	}
	p = ca_alloc(size, kind, &fa->ca);
	if (fa->injected_op < 0 && atomic_load(&fa->ca.injected) != injected)
		fa->injected_op = fa->op;
	return p;
}

static void fa_free(void *ptr, size_t size, enum rcumap_kind kind, void *arg)
{
	struct fault_alloc *fa = arg;

	ca_free(ptr, size, kind, &fa->ca);
}

/* ---- The model: what the map must hold --------------------------------------------- */

static struct tval *stranger(struct run *r)
{
	return &r->tr.v[0];
}

static struct tval *fresh(struct run *r)
{
	if (r->next_val >= NVALS)
		harness_fatal("value pool of %d exhausted: raise NVALS", NVALS);
	return &r->tr.v[r->next_val++];
}

const char *vname(const struct run *r, const struct tval *v, char buf[32])
{
	uintptr_t lo = (uintptr_t)r->tr.v, hi = (uintptr_t)(r->tr.v + r->tr.n);

	if (!v)
		snprintf(buf, 32, "absent");
	else if ((uintptr_t)v < lo || (uintptr_t)v >= hi)
		snprintf(buf, 32, "foreign %p", (const void *)v);
	else
		snprintf(buf, 32, "#%zu", (size_t)(v - r->tr.v));
	return buf;
}

int key_number(const void *key, size_t len)
{
	uint64_t i = key_index(key, len);

	if (i >= NKEYS || len != keys[i].len || memcmp(key, keys[i].b, len))
		return -1;
	return (int)i;
}

/*
 * The map equals the model: every key's lookup, the count, one full
 * iteration (each model pair exactly once and nothing else), validate, and
 * no value the model holds has been freed. May run inside a traversal's
 * read section: it only nests read sections and never waits.
 */
static void check_map(struct run *r, const struct op *o)
{
	struct rcumap_iter it;
	unsigned seen[NKEYS] = { 0 };
	size_t want = 0, got = 0;
	char a[32], b[32];
	const void *key;
	size_t len;
	void *value;
	int rc;

	for (int k = 0; k < NKEYS; k++) {
		struct tval *v = r->model[k];

		if (!v)
			continue;
		want++;
		if (tval_freed(v) || v->magic != TVAL_LIVE)
			discrepancy(r, o, "value %s of key %d was passed to free_value while the map holds it",
				    vname(r, v, a), k);
	}
	test_reader_enter();
	for (int k = 0; k < NKEYS && !r->failed; k++) {
		void *v = rcumap_get(r->map, keys[k].b, keys[k].len);

		if (v != r->model[k])
			discrepancy(r, o, "map differs from model: get(key %d) returned %s, model has %s",
				    k, vname(r, v, a), vname(r, r->model[k], b));
	}
	rc = rcumap_iter_init(r->map, &it);
	if (rc)
		discrepancy(r, o, "rcumap_iter_init returned %s", errname(rc));
	while (!rc && !r->failed && (rc = rcumap_iter_next(r->map, &it, &key, &len, &value)) == 1) {
		int k = key_number(key, len);

		rc = 0;
		got++;
		if (k < 0)
			discrepancy(r, o, "map differs from model: iteration returned a key "
				    "of %zu bytes that was never stored", len);
		else if (seen[k]++)
			discrepancy(r, o, "map differs from model: iteration returned key %d twice", k);
		else if (value != r->model[k])
			discrepancy(r, o, "map differs from model: iteration returned key %d with %s, model has %s",
				    k, vname(r, value, a), vname(r, r->model[k], b));
	}
	if (rc < 0)
		discrepancy(r, o, "rcumap_iter_next returned %s", errname(rc));
	test_reader_leave();
	if (r->failed)
		return;
	/* Every pair returned was the model's and none twice: count them. */
	if (got != want)
		discrepancy(r, o, "map differs from model: iteration returned %zu entries, model has %zu",
			    got, want);
	else if (rcumap_count(r->map) != want)
		discrepancy(r, o, "map differs from model: rcumap_count says %zu, model has %zu",
			    rcumap_count(r->map), want);
	else if ((rc = rcumap_validate(r->map)) != 0)
		discrepancy(r, o, "rcumap_validate returned %s (its report is on stderr)",
			    errname(rc));
}

/* Set key k to v (NULL: remove) in the model. */
static void model_set(struct run *r, int k, struct tval *v)
{
	if (r->model[k] == v)
		return;
	r->model[k] = v;
	if (v) {
		v->owned = true;
		if (r->trav.active) {
			r->val_trav[v->id] = r->trav.no;
			r->val_key[v->id] = k;
		}
	}
	/* Guarantee T2 covers keys present throughout, whatever their values. */
	if (r->trav.active && !v)
		r->trav.stable[k] = false;
}

void resolve(struct run *r, struct op *o, enum sop kind, int key, size_t slots,
	     int budget, const char *where)
{
	struct tval *cur;

	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->key = key;
	o->slots = slots;
	o->budget = budget;
	o->where = where;
	cur = key_kind(kind) ? r->model[key] : NULL;
	switch (kind) {
	case S_INSERT:
	case S_PUT:
	case S_REPLACE:
	case S_GET_OR_INSERT:
		o->val = fresh(r);
		break;
	case S_PUT_SAME:
		o->val = cur ? cur : fresh(r);
		break;
	case S_CAS:
		o->exp = cur ? cur : stranger(r);
		o->val = fresh(r);
		break;
	case S_CAS_WRONG:
		o->exp = stranger(r);
		o->val = fresh(r);
		break;
	case S_CAS_SAME:
		o->exp = o->val = cur ? cur : stranger(r);
		break;
	case S_DELETE_IF:
		o->exp = cur ? cur : stranger(r);
		break;
	case S_DELETE_IF_WRONG:
		o->exp = stranger(r);
		break;
	default:
		break;
	}
}

static int model_expect(const struct run *r, const struct op *o)
{
	struct tval *cur = key_kind(o->kind) ? r->model[o->key] : NULL;

	switch (o->kind) {
	case S_INSERT:
	case S_GET_OR_INSERT:
		return cur ? -EEXIST : 0;
	case S_REPLACE:
	case S_DELETE:
		return cur ? 0 : -ENOENT;
	case S_CAS:
	case S_CAS_WRONG:
	case S_CAS_SAME:
	case S_DELETE_IF:
	case S_DELETE_IF_WRONG:
		return !cur ? -ENOENT : cur != o->exp ? -EAGAIN : 0;
	default:
		return 0;
	}
}

static void model_apply(struct run *r, const struct op *o)
{
	switch (o->kind) {
	case S_DELETE:
	case S_DELETE_IF:
	case S_DELETE_IF_WRONG:
		model_set(r, o->key, NULL);
		break;
	case S_CLEAR:
		for (int k = 0; k < NKEYS; k++)
			model_set(r, k, NULL);
		break;
	case S_RESIZE:
		break;
	default:
		model_set(r, o->key, o->val);
		break;
	}
}

/* ---- Operations ------------------------------------------------------------------- */

static void describe(const struct run *r, const struct op *o, char *buf, size_t size)
{
	char v[32], e[32];
	int n;

	if (o->kind == S_RESIZE)
		n = snprintf(buf, size, "op %u resize(%zu)", o->no, o->slots);
	else if (o->kind == S_CLEAR)
		n = snprintf(buf, size, "op %u clear()", o->no);
	else if (o->exp)
		n = snprintf(buf, size, "op %u %s(key %d, %zu bytes, expected %s%s%s)",
			     o->no, sop_name[o->kind], o->key, keys[o->key].len,
			     vname(r, o->exp, e), o->val ? ", desired " : "",
			     o->val ? vname(r, o->val, v) : "");
	else
		n = snprintf(buf, size, "op %u %s(key %d, %zu bytes%s%s)", o->no,
			     sop_name[o->kind], o->key, keys[o->key].len,
			     o->val ? ", value " : "", o->val ? vname(r, o->val, v) : "");
	if (n >= 0 && (size_t)n < size && o->budget != NO_BUDGET)
		n += snprintf(buf + n, size - n, " [budget %d]", o->budget);
	if (n >= 0 && (size_t)n < size && o->where[0])
		snprintf(buf + n, size - n, " %s", o->where);
}

void discrepancy(struct run *r, const struct op *o, const char *fmt, ...)
{
	va_list ap;

	if (r->failed)
		return;
	r->failed = true;
	if (o)
		describe(r, o, r->op_desc, sizeof(r->op_desc));
	else
		snprintf(r->op_desc, sizeof(r->op_desc), "%s", r->ctx);
	va_start(ap, fmt);
	vsnprintf(r->first, sizeof(r->first), fmt, ap);
	va_end(ap);
}

static struct rcumap_stats stats_of(struct run *r)
{
	struct rcumap_stats st;

	if (rcumap_stats(r->map, &st))
		harness_fatal("rcumap_stats refused a live map");
	return st;
}

static int call_op(struct run *r, const struct op *o, void **result)
{
	const struct key *k = &keys[o->key];
	struct rcumap *m = r->map;

	switch (o->kind) {
	case S_INSERT:
		return rcumap_insert(m, k->b, k->len, o->val);
	case S_PUT:
	case S_PUT_SAME:
		return rcumap_put(m, k->b, k->len, o->val);
	case S_REPLACE:
		return rcumap_replace(m, k->b, k->len, o->val);
	case S_CAS:
	case S_CAS_WRONG:
	case S_CAS_SAME:
		return rcumap_cas(m, k->b, k->len, o->exp, o->val);
	case S_DELETE:
		return rcumap_delete(m, k->b, k->len);
	case S_DELETE_IF:
	case S_DELETE_IF_WRONG:
		return rcumap_delete_if(m, k->b, k->len, o->exp);
	case S_GET_OR_INSERT:
		return rcumap_get_or_insert(m, k->b, k->len, o->val, result);
	case S_CLEAR:
		return rcumap_clear(m);
	case S_RESIZE:
		return resize_retry(m, o->slots);
	default:
		harness_fatal("operation %d is not a map call", (int)o->kind);
	}
}

/*
 * Could the update about to run start a migration, if the gate let it?
 * Mirrors the policy of docs/design.md ("Resize policy"): grow when the
 * load passes 2, shrink when it falls under 1/4 above min_slots. The update
 * changes the count by at most one before it checks. When in doubt the
 * answer is yes: that only costs a wait. If the mirror ever answers no
 * wrongly, the determinism check of the sweep reports it.
 */
static bool policy_may_resize(size_t count, size_t slots)
{
	for (size_t c = count ? count - 1 : 0; c <= count + 1; c++)
		if (c > 2 * slots || (slots > MIN_SLOTS && 4 * c < slots))
			return true;
	return false;
}

/*
 * Settling reclamation (see the top of faults.c; the library's old gate
 * made this necessary, and it is kept as a guard): an update that may start
 * a migration while a retired generation may still be pending first waits
 * for it (rcumap_barrier) when allowed to wait, or else answers false: the
 * caller, inside a read section, leaves the update out. Waiting after every switch would do too, but each
 * wait costs the call_rcu thread's batching delay (10 ms).
 * rcumap_resize needs no wait: an -EBUSY comes before any allocation, and
 * resize_retry retries it after a barrier. *stp receives the map's stats.
 */
bool gate_settled(struct run *r, bool may_wait, struct rcumap_stats *stp)
{
	struct rcumap_stats st = stats_of(r);

	*stp = st;
	if (st.generation == r->clean_gen || st.resizing ||
	    !policy_may_resize(st.entries, st.slots))
		return true;
	if (!may_wait)
		return false;
	if (rcumap_barrier(r->map))
		harness_fatal("rcumap_barrier refused to wait outside a read section");
	r->clean_gen = st.generation;
	r->t.barriers++;
	return true;
}

/* Sentinel for get_or_insert's *result: must stay untouched on -ENOMEM. */
static char result_sentinel;

void run_op(struct run *r, struct op *o)
{
	struct rcumap_stats st0, st;
	void *result = &result_sentinel;
	unsigned long injected0, scripted0, failed, waits0 = r->t.barriers;
	int want = model_expect(r, o), rc;
	char a[32], b[32], desc[160];

	if (!key_kind(o->kind))
		st0 = stats_of(r);
	else if (!gate_settled(r, !r->trav.in_section, &st0))
		harness_fatal("an update inside a read section while the gate is unsettled");
	o->no = ++r->op_no;
	injected0 = atomic_load(&r->fa.ca.injected);
	scripted0 = r->fa.scripted;
	r->fa.op = o->no;
	r->fa.budget = o->budget;
	rc = call_op(r, o, &result);
	r->fa.budget = NO_BUDGET;
	failed = atomic_load(&r->fa.ca.injected) - injected0 + r->fa.scripted - scripted0;
	st = stats_of(r);

	if (rc == -ENOMEM) {
		r->t.enomem++;
		if (!failed)
			discrepancy(r, o, "expected %s, got -ENOMEM although no allocation failed in it",
				    errname(want));
		else if (result != &result_sentinel)
			discrepancy(r, o, "-ENOMEM, but *result was set to %s",
				    vname(r, result, a));
	} else if (rc != want) {
		discrepancy(r, o, "expected %s%s, got %s", errname(want),
			    failed ? " (or -ENOMEM)" : "", errname(rc));
	} else {
		if (failed)
			r->t.dropped++;
		if (o->kind == S_GET_OR_INSERT) {
			void *w = rc ? (void *)r->model[o->key] : (void *)o->val;

			if (result != w)
				discrepancy(r, o, "returned %s with *result %s, expected %s",
					    errname(rc), result == &result_sentinel ? "untouched"
					    : vname(r, result, a), vname(r, w, b));
		}
		if (o->kind == S_RESIZE && st.resizing)
			discrepancy(r, o, "returned 0 with a migration still pending");
		else if (o->kind == S_RESIZE && o->slots &&
			 st.slots != pow2_at_least(o->slots, MIN_SLOTS))
			discrepancy(r, o, "returned 0 but the table has %zu slots, not %zu",
				    st.slots, (size_t)pow2_at_least(o->slots, MIN_SLOTS));
		if (rc == 0)
			model_apply(r, o);
	}
	check_map(r, o);

	/* Coverage: what the operation met and did. */
	if (st0.resizing) {
		r->t.pending_ops++;
		if (key_kind(o->kind) && !st.resizing)
			r->t.resumed++;
		if (key_kind(o->kind) && rc == -ENOMEM)
			r->t.pending_enomem++;
		if (key_kind(o->kind) && rc != -ENOMEM && failed && st.resizing)
			r->t.pending_dropped++;
	}
	if (o->kind == S_CLEAR && rc == -ENOMEM)
		r->t.clear_enomem++;
	if (o->kind == S_RESIZE) {
		r->t.forced_grows += st.grows - st0.grows;
		r->t.forced_shrinks += st.shrinks - st0.shrinks;
	} else {
		r->t.auto_grows += st.grows - st0.grows;
		r->t.auto_shrinks += st.shrinks - st0.shrinks;
	}
	if (r->trav.in_section) {
		r->t.trav_updates++;
		r->t.trav_switches += st.generation != st0.generation;
	}
	if (r->trace) {
		describe(r, o, desc, sizeof(desc));
		fprintf(r->trace, "faults: reference %s: %s (failed allocations %lu) -> %zu entries, "
			"%zu slots%s%s\n", desc, errname(rc), failed, st.entries, st.slots,
			st.resizing ? ", migration pending" : "",
			r->t.barriers != waits0 ? "; waited for the gate first" : "");
	}
}

/* ---- The run itself ---------------------------------------------------------------- */

static void run_script(struct run *r)
{
	struct rcumap_config cfg = {
		.flavor = RCUMAP_FLAVOR,
		.free_value = tracker_free_value,
		.free_value_arg = &r->tr,
		.hash = hash_pairs,
		.min_slots = MIN_SLOTS,
		.alloc = fa_alloc,
		.free = fa_free,
		.alloc_arg = &r->fa,
	};
	struct rcumap *sentinel = (struct rcumap *)&result_sentinel;
	struct rcumap *map = sentinel;
	int rc;

	ca_init(&r->fa.ca);
	r->fa.budget = NO_BUDGET;
	r->fa.injected_op = -1;
	tracker_init(&r->tr, NVALS);
	if (r->tr.n != NVALS)
		harness_fatal("out of memory for the value pool");
	r->next_val = 1;  /* 0 is the stranger, never stored */
	if (r->fail_at >= 0)
		ca_arm(&r->fa.ca, (unsigned long)r->fail_at, r->persistent);

	snprintf(r->ctx, sizeof(r->ctx), "rcumap_create");
	rc = rcumap_create(&cfg, &map);
	if (rc) {
		r->t.create_failed++;
		ca_disarm(&r->fa.ca);
		if (rc != -ENOMEM || !atomic_load(&r->fa.ca.injected))
			discrepancy(r, NULL, "rcumap_create returned %s%s", errname(rc),
				    atomic_load(&r->fa.ca.injected) ? ", expected -ENOMEM"
				    : " with no failed allocation");
		else if (map != sentinel)
			discrepancy(r, NULL, "rcumap_create returned -ENOMEM but set *out");
		else if (atomic_load(&r->fa.ca.allocs) != atomic_load(&r->fa.ca.frees))
			discrepancy(r, NULL, "rcumap_create returned -ENOMEM and left %lu allocations unfreed",
				    atomic_load(&r->fa.ca.allocs) - atomic_load(&r->fa.ca.frees));
		goto out;
	}
	r->map = map;
	r->clean_gen = stats_of(r).generation;

	for (size_t i = 0; i < script.n && !r->failed; i++) {
		const struct step *s = &script.s[i];
		struct op o;

		switch (s->op) {
		case S_SCAN:
			run_scan(r, s);
			break;
		case S_ITER:
			run_iter(r, s);
			break;
		default:
			resolve(r, &o, s->op, s->key, s->arg, s->budget, "");
			run_op(r, &o);
			test_quiesce();  /* qsbr: let grace periods end */
			break;
		}
	}
	snprintf(r->ctx, sizeof(r->ctx), "after the script (%u ops), at destroy", r->op_no);
	r->fa.budget = NO_BUDGET;
	ca_disarm(&r->fa.ca);
	if (stats_of(r).resizing)
		r->t.pending_at_destroy++;
	for (int k = 0; k < CA_KINDS; k++)
		r->t.kind_allocs[k] = atomic_load(&r->fa.ca.kind_allocs[k]);

	rc = rcumap_destroy(r->map);
	r->map = NULL;
	if (rc)
		harness_fatal("rcumap_destroy returned %s", errname(rc));
	if (r->failed)
		goto out;  /* the model is stale: the accounts below would only repeat it */
	for (int k = 0; k < CA_KINDS && !r->failed; k++)
		if (atomic_load(&r->fa.ca.kind_allocs[k]) != atomic_load(&r->fa.ca.kind_frees[k]))
			discrepancy(r, NULL, "leak after destroy: allocation kind %d: %lu allocated, %lu freed",
				    k, atomic_load(&r->fa.ca.kind_allocs[k]),
				    atomic_load(&r->fa.ca.kind_frees[k]));
	if (!r->failed && atomic_load(&r->fa.ca.errors))
		discrepancy(r, NULL, "the allocator saw %lu bad frees (size, kind or double)",
			    atomic_load(&r->fa.ca.errors));
	if (!r->failed && atomic_load(&r->tr.errors))
		discrepancy(r, NULL, "free_value saw %lu errors (double, foreign or dead values)",
			    atomic_load(&r->tr.errors));
	for (size_t i = 0; i < r->next_val && !r->failed; i++) {
		const struct tval *v = &r->tr.v[i];

		if (tval_freed(v) != (unsigned)v->owned)
			discrepancy(r, NULL, "value #%zu was passed to free_value %u times, expected %u "
				    "(%s)", i, tval_freed(v), (unsigned)v->owned,
				    v->owned ? "the map owned it" : "never stored");
	}
out:
	tracker_fini(&r->tr);
}

/* A run on a thread of its own: the library's thread-local counters start afresh. */
static void *run_thread(void *arg)
{
	test_thread_register();
	run_script(arg);
	test_thread_unregister();
	return NULL;
}

struct run *run_new(long fail_at, bool persistent, bool verbose)
{
	struct run *r = calloc(1, sizeof(*r));
	pthread_t th;
	int e;

	if (!r)
		harness_fatal("out of memory for a run");
	r->fail_at = fail_at;
	r->persistent = persistent;
	/* Kept apart, so that the parameters come first on stdout. */
	if (verbose && !(r->trace = open_memstream(&r->trace_buf, &r->trace_len)))
		harness_fatal("open_memstream: %s", strerror(errno));
	r->fa.record = fail_at < 0;
	e = pthread_create(&th, NULL, run_thread, r);
	if (e)
		harness_fatal("pthread_create: %s", strerror(e));
	pthread_join(th, NULL);
	if (r->trace)
		fclose(r->trace);
	r->trace = NULL;
	return r;
}

void run_free(struct run *r)
{
	free(r->trace_buf);
	free(r->fa.op_of_call);
	free(r);
}
