/* SPDX-License-Identifier: MIT */
/* fuzz_model.c: the fuzz harness's reference model, keys, values and hashes, and the checks against them. */

#define _GNU_SOURCE

#include "fuzz.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct vmeta vm[MAX_VALUES + 1];
atomic_uint vfreed[MAX_VALUES + 1];
unsigned char key_bytes[NKEYS][KEY_LEN_MAX];
size_t key_len[NKEYS];
int key_group[NKEYS];
static uint64_t key_hash[NKEYS];        /* per input: each key's 64-bit hash */

/* ---- Keys, values, hash ------------------------------------------------------------ */

void keys_init(void)
{
	for (int i = 0; i < NKEYS; i++) {
		size_t len = i ? 1 + (size_t)(13 * i) % KEY_LEN_MAX : 0;

		key_len[i] = len;
		key_bytes[i][0] = (unsigned char)(i >> 1);
		for (size_t j = 1; j < KEY_LEN_MAX; j++)
			key_bytes[i][j] = (unsigned char)(j * 29 + (size_t)(i >> 1) * 7);
	}
}

/* The pointer to pass for key k: the empty key goes as NULL on odd operations. */
const void *kp(int k)
{
	return k == 0 && (fz.nops & 1) ? NULL : key_bytes[k];
}

/* Which key the map handed back, or -1 for bytes that are no key of ours. */
int key_lookup(const void *key, size_t len)
{
	const unsigned char *b = key;

	if (len == 0)
		return 0;
	if (!key || len > KEY_LEN_MAX)
		return -1;
	for (int i = 2 * b[0]; i <= 2 * b[0] + 1 && i < NKEYS; i++)
		if (key_len[i] == len && memcmp(key_bytes[i], key, len) == 0)
			return i;
	return -1;
}

void *vptr(uint32_t id)
{
	return (void *)((uintptr_t)id << 4);
}

/* Value id of a pointer, or 0 if it is none of ours (FOREIGN_ID included). */
uint32_t vid(const void *p)
{
	uintptr_t u = (uintptr_t)p;

	if (u & 15 || (u >> 4) == 0 || (u >> 4) > MAX_VALUES)
		return 0;
	return (uint32_t)(u >> 4);
}

/* A fresh value id for key k, or 0 when the input's values ran out (it then ends). */
uint32_t new_value(int k)
{
	if (fz.nvalues == MAX_VALUES) {
		fz.eof = true;
		return 0;
	}
	fz.nvalues++;
	vm[fz.nvalues].key = (int16_t)k;
	return fz.nvalues;
}

static int by_hash(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	if (key_hash[x] != key_hash[y])
		return key_hash[x] < key_hash[y] ? -1 : 1;
	return x - y;
}

void groups_init(void)
{
	int order[NKEYS];

	for (int k = 0; k < NKEYS; k++) {
		key_hash[k] = fz_hash(key_bytes[k], key_len[k], NULL);
		order[k] = k;
	}
	qsort(order, NKEYS, sizeof(order[0]), by_hash);
	for (int i = 0; i < NKEYS; i++)
		key_group[order[i]] = i && key_hash[order[i]] == key_hash[order[i - 1]]
					      ? key_group[order[i - 1]] : order[i];
}

uint64_t fz_hash(const void *key, size_t len, void *arg)
{
	const unsigned char *b = key;
	uint64_t f;

	(void)arg;
	switch (fz.hash_mode) {
	case 4:
		return mix64(fz.hash_seed + (fnv1a64(key, len) ^ fz.hash_seed) % 4);
	case 5:
		return mix64(fz.hash_seed);
	case 6:
		/*
		 * Only the top byte varies. Folded as the map does (h ^ h >> 32,
		 * lib/internal.h) that is (f & 0xff) << 24: slot 0 for every key
		 * below 2^24 slots, yet 256 distinct positions.
		 */
		f = fnv1a64(key, len) ^ fz.hash_seed;
		return (f & 0xff) << 56;
	case 7:
		return mix64(fz.hash_seed ^ (len ? b[0] : 0));
	default:
		return mix64(fnv1a64(key, len) ^ fz.hash_seed);
	}
}

/* ---- free_value and the allocator -------------------------------------------------- */

void fz_free_value(void *value, void *arg)
{
	uint32_t id = vid(value);

	(void)arg;
	if (!id)
		fail("free_value got %p, which is no value the harness stored", value);
	if (atomic_fetch_add(&vfreed[id], 1) != 0)
		fail("DOUBLE FREE: value %u (key %d) passed to free_value twice", id, vm[id].key);
}

void *fz_alloc(size_t size, enum rcumap_kind kind, void *arg)
{
	void *p = ca_alloc(size, kind, arg);

	if ((uintptr_t)p & 15)
		fail("allocator returned %p, not 16-byte aligned", p);
	return p;
}

/* ca_free, with its header checks reported here (it would print without our name). */
void fz_free(void *ptr, size_t size, enum rcumap_kind kind, void *arg)
{
	const struct ca_header *h;

	if (!ptr)
		fail("the map passed NULL to its free function (kind %d)", (int)kind);
	h = (const struct ca_header *)ptr - 1;
	if (h->magic != CA_MAGIC_LIVE)
		fail("the map freed %p (kind %d, %zu bytes) twice or never allocated it",
		     ptr, (int)kind, size);
	if (h->size != size || h->kind != (uint32_t)kind)
		fail("the map freed %p as %zu bytes of kind %d; it was allocated as %" PRIu64
		     " bytes of kind %u", ptr, size, (int)kind, h->size, h->kind);
	ca_free(ptr, size, kind, arg);
}

/* ---- Deferred call_rcu -------------------------------------------------------------- */

/*
 * The memb flavor with call_rcu and barrier replaced: callbacks queue here
 * and run on the harness thread, after a synchronize_rcu, when the harness
 * drains the queue outside every read section. Reclamation then happens at
 * fixed points of the input, which makes the resize gate deterministic,
 * and a barrier costs a grace period instead of the worker's ~10 ms wake-up.
 */
struct rcu_flavor_struct deferred_flavor;
static struct cds_wfcq_node *dq_first, **dq_last = &dq_first;

static void dq_call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *head))
{
	head->func = func;
	head->next.next = NULL;
	*dq_last = &head->next;
	dq_last = &head->next.next;
}

void dq_drain(void)
{
	if (rcu_read_ongoing())
		fail("deferred call_rcu drained inside a read section (harness bug)");
	while (dq_first) {
		struct cds_wfcq_node *n = dq_first;

		dq_first = NULL;
		dq_last = &dq_first;
		/* Every callback of the batch was queued before this grace period. */
		synchronize_rcu();
		while (n) {
			/* Through void *: caa_container_of's char * cast trips -Wcast-align. */
			struct rcu_head *h = (struct rcu_head *)(void *)((char *)n -
						offsetof(struct rcu_head, next));

			n = n->next; /* before the callback frees h */
			h->func(h);
		}
	}
}

void dq_init(void)
{
	deferred_flavor = rcu_flavor;
	deferred_flavor.update_call_rcu = dq_call_rcu;
	deferred_flavor.barrier = dq_drain;
}

/* Callbacks still queued. */
bool dq_pending(void)
{
	return dq_first != NULL;
}

/* ---- The model ------------------------------------------------------------------------ */

static void model_retire(uint32_t v, int k)
{
	vm[v].removed_seq = ++fz.seq;
	fz.last_removed[k] = v;
}

void model_store(int k, uint32_t v)
{
	uint32_t old = fz.val[k];

	if (old == v)
		return; /* the pointer already stored: nothing changes */
	if (old)
		model_retire(old, k);
	else if (++fz.count > fz.max_count)
		fz.max_count = fz.count;
	fz.val[k] = v;
	vm[v].stored = true;
	vm[v].key = (int16_t)k;
	fz.seq++;
}

void model_remove(int k)
{
	model_retire(fz.val[k], k);
	fz.val[k] = 0;
	fz.count--;
	for (unsigned i = 0; i < fz.ntrav; i++)
		fz.trav[i]->stable[k] = 0;
}

/* ---- Checks ----------------------------------------------------------------------------- */

void check_key(int k, const char *when)
{
	void *got;
	uint32_t want = fz.val[k];

	rcu_read_lock();
	got = rcumap_get(fz.map, kp(k), key_len[k]);
	rcu_read_unlock();
	if (got != (want ? vptr(want) : NULL))
		fail("%s: rcumap_get(key %d, len %zu) = value %u (%p), the model holds %u",
		     when, k, key_len[k], vid(got), got, want);
	if (want && atomic_load(&vfreed[want]))
		fail("value %u of key %d was passed to free_value while the map still holds it",
		     want, k);
}

void check_count(const char *when)
{
	size_t n = rcumap_count(fz.map);

	if (n != fz.count)
		fail("%s: rcumap_count = %zu, the model holds %zu", when, n, fz.count);
}

void check_all(const char *when)
{
	for (int k = 0; k < NKEYS; k++)
		check_key(k, when);
	check_count(when);
}

void check_stats(bool quiet)
{
	struct rcumap_stats s;
	int rc = rcumap_stats(fz.map, &s);

	if (rc)
		fail("rcumap_stats returned %s", errname(rc));
	if (s.entries != fz.count)
		fail("rcumap_stats: entries %zu, the model holds %zu", s.entries, fz.count);
	if (s.slots < fz.min_slots || (s.slots & (s.slots - 1)))
		fail("rcumap_stats: %zu slots: not a power of two >= min_slots %zu",
		     s.slots, fz.min_slots);
	if (s.generation != s.grows + s.shrinks)
		fail("rcumap_stats: generation %" PRIu64 " but %" PRIu64 " grows and %" PRIu64
		     " shrinks", s.generation, s.grows, s.shrinks);
	for (int i = 0; quiet && i < RCUMAP_STATS_KINDS; i++)
		if (s.kind[i].retired != s.kind[i].reclaimed ||
		    s.kind[i].retired_bytes != s.kind[i].reclaimed_bytes)
			fail("rcumap_stats after a barrier: kind %d retired %" PRIu64 " (%" PRIu64
			     " bytes), reclaimed %" PRIu64 " (%" PRIu64 " bytes)", i,
			     s.kind[i].retired, s.kind[i].retired_bytes, s.kind[i].reclaimed,
			     s.kind[i].reclaimed_bytes);
}

/* After a barrier (or destroy): each removed value freed once, each other one not at all. */
void check_frees(bool destroyed)
{
	for (uint32_t v = 1; v <= fz.nvalues; v++) {
		unsigned want = vm[v].stored && (destroyed || vm[v].removed_seq);
		unsigned got = atomic_load(&vfreed[v]);

		if (got != want)
			fail("value %u (key %d, %s%s) passed to free_value %u times, expected %u%s",
			     v, vm[v].key, vm[v].stored ? "stored" : "never stored",
			     vm[v].removed_seq ? ", removed" : "", got, want,
			     destroyed ? " after rcumap_destroy" : " after rcumap_barrier");
	}
}

/* rcumap_barrier, then what it promises. Outside read sections only. */
void do_barrier(void)
{
	int rc = rcumap_barrier(fz.map);

	fz.barriers++;
	fz.since_drain = 0;
	if (rc)
		fail("rcumap_barrier outside a read section returned %s", errname(rc));
	check_frees(false);
	check_stats(true);
}

/* Barriers cost ~10 ms each with liburcu's worker: ration them there. */
bool barrier_allowed(void)
{
	return fz.rs_depth == 0 && (fz.reclaim != 0 || fz.barriers < WORKER_BARRIERS);
}
