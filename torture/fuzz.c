/* SPDX-License-Identifier: MIT */
/* fuzz.c: differential fuzz harness (rcumap against a reference model, call by call), replay main. */

/*
 * LLVMFuzzerTestOneInput decodes its bytes into a sequence of operations,
 * applies each to a fresh rcumap and to a plain array model (key -> value id
 * or absent), and compares every return code and every value returned. Any
 * mismatch prints one line naming the input, the operation (its number and
 * name, and the traversal it ran inside), what the model expected and what
 * the map did, then stops: abort() under libFuzzer, exit status 1 in the
 * replay program (torture/run.sh tells a detector's status 1 from a crash).
 *
 * Built two ways (Makefile.am):
 *   with clang -fsanitize=fuzzer (make fuzz; -DRCUMAP_FUZZ_LIBFUZZER, which
 *   such a build also implies): no main, libFuzzer drives it;
 *   otherwise with the replay main at the end of this file: every FILE or
 *   every file in DIR given on the command line is run once, in name order.
 *
 * What is checked:
 * - every update's return code (insert, put, replace, cas, delete,
 *   delete_if, get_or_insert) against the model, with -EINVAL for bad
 *   arguments; get_or_insert's result, and that -ENOMEM leaves it alone;
 * - after each operation the key it touched (rcumap_get) and rcumap_count;
 *   the whole key space after every clear, resize, -ENOMEM and traversal;
 * - allocation failures (the counting allocator of testlib/harness.h, armed
 *   by an ARM operation for the next few operations): a call may return
 *   -ENOMEM only if a failure was injected during it, and then the map must
 *   equal the unchanged model; a call that succeeds although a failure was
 *   injected (the failed allocation was a helping migration, not its own
 *   path) must match the changed model;
 * - rcumap_resize: 0 leaves the table at the size asked for; with 0 "what
 *   the policy picks" the load ends inside the policy's bounds; -EBUSY is
 *   retried after rcumap_barrier, at most a few times, outside read sections;
 * - both iterators against docs/iteration.md while further decoded
 *   operations (updates, clears, resizes, nested traversals, allocation
 *   failures) run between their steps: no key twice (C), every key present
 *   from start to end returned (B), every returned pair held by the model at
 *   some instant of the traversal (D.2); scan cursors strictly increase and
 *   a call that does not end the scan passed at least max_entries entries;
 * - values: every value stored is passed to free_value exactly once by the
 *   end, never while the model still holds it, and every value removed
 *   before an rcumap_barrier has been freed when it returns; the counting
 *   allocator's allocations and frees balance after rcumap_destroy, per kind
 *   and in bytes, with the size and kind of each free equal to its alloc;
 * - rcumap_validate and rcumap_stats (entries, generation = grows + shrinks,
 *   retired = reclaimed per kind after a barrier).
 *
 * Input format. Bytes past the end read as "end of input": an operation cut
 * short is not run, a traversal in progress runs to its end without further
 * embedded operations.
 *
 *   byte 0: bits 0-2 hash (0-3 a seeded well-mixed hash, 4 four distinct
 *           hashes, 5 one hash for every key, 6 one slot for every key at
 *           any table size below 2^24 but 256 distinct positions, so scans
 *           cut steps inside one bucket, 7 keys 2m and 2m+1 share a hash);
 *           bits 3-4 min_slots (default 8, 1, 2, 32); bits 5-7 seed bits
 *   byte 1: bits 0-2 reclamation: 0 liburcu's call_rcu worker (the memb
 *           flavor as it is; every barrier costs its ~10 ms wake-up, so only
 *           one input in eight uses it); else a deferred call_rcu whose
 *           callbacks the harness runs itself, on its one thread, after a
 *           synchronize_rcu: after every operation outside read sections
 *           (1-3), every 16 of them (4-5), or only at barriers (6-7);
 *           bits 3-7 more seed bits
 *   then operations: one byte, opcode = byte & 31 (op_table), param = byte >> 5,
 *   and the operation's own bytes:
 *     GET INSERT PUT PUT_SAME REPLACE CAS DELETE DELETE_IF GET_OR_INSERT: key byte
 *       (KEY: < 0xc0: one of the 64 hot keys, byte & 63; else the cold key
 *       64 + (byte & 63) * 7). CAS and DELETE_IF: param bit 0 clear passes the
 *       key's current value as expected, set passes (param >> 1) & 3: the
 *       key's last removed value, another key's value, or a value never
 *       stored; CAS param bit 1 with a right expected stores it again (no-op).
 *       REPLACE param bit 0 stores the current value again.
 *     COUNT CLEAR VALIDATE BARRIER CHECK: nothing more
 *     RESIZE: param indexes resize_slots[] (0 = what the policy picks)
 *     ARM: byte a, byte w: the allocation call number (a & 63) << ((a & 64) ?
 *       3 : 0), counted from now, fails, and with a & 128 every later one too,
 *       for the next 1 + (w & 15) operations (nested ones count)
 *     ITER: byte n: the in-section iterator, with n embedded operations; param
 *       bit 0: rcumap_barrier first (opens the resize gate, so one resize can
 *       complete inside the read section)
 *     SCAN: byte f, byte nb, byte nc: rcumap_scan with max_entries 1 + (f & 15),
 *       times 16 if f & 16; nb embedded operations between calls and nc inside
 *       the callback; param bit 0: barrier first
 *       Each embedded operation is preceded by a gap byte: how many points
 *       (before each rcumap_iter_next; after each scan call that did not end
 *       the scan; each callback) to let pass before it runs.
 *     FILL DRAIN: byte s, byte c: keys (2s + i * stride) % 512, i = 0..c, stride
 *       fill_stride[(param >> 1) & 3]; FILL inserts (param bit 0 clear) or
 *       puts fresh values; DRAIN deletes (bit 0 clear) or delete_ifs the
 *       current value
 *     INVALID: key byte: the calls of variant param with invalid arguments
 *     CUR: an update (param) of the key the innermost traversal returned last,
 *       through the key pointer the map gave (valid to the end of the read
 *       section, or of the scan callback); without one, a COUNT
 *
 * Keys: 512 byte strings. Key i has length 0 for i = 0, else 1 + (13 i) % 40,
 * so inline (<= 16 bytes) and out-of-line keys both occur, and the first byte
 * i >> 1: keys 2m and 2m+1 differ only in length, one a prefix of the other.
 * Key 0, the empty key, is passed as a NULL pointer on odd operations.
 *
 * Values: value id n is the pointer n << 4, never dereferenced. Each store
 * takes a fresh id, except those that store the key's current value again, so
 * every id is stored under one key at most once; vm[] records its key,
 * whether the map took it and when the model removed it (a sequence number
 * of model changes), and vfreed[] counts free_value's calls on it.
 *
 * The hash is passed through rcumap_config.hash so that a failing input fails
 * again: the default SipHash is seeded at random per map. The deferred
 * call_rcu modes make the resize gate and every reclamation happen at a fixed
 * point of the input, so those inputs replay exactly; with liburcu's worker
 * (mode 0) the automatic resizes depend on when its callbacks run (the
 * results the harness checks do not).
 *
 * Environment: FUZZ_TRACE=1 prints every operation; FUZZ_SUMMARY=1 prints one
 * line per input (grows, shrinks, injected failures, traversals that crossed
 * a resize); FUZZ_ABORT=1 makes the replay abort() on a mismatch (for a core).
 */

#define _GNU_SOURCE

/*
 * clang -fsanitize=fuzzer links libFuzzer's own main, so this file must not
 * define one. Its coverage instrumentation is the only sign of that a
 * compiler gives: such a build counts as a libFuzzer build even without
 * -DRCUMAP_FUZZ_LIBFUZZER (-DRCUMAP_FUZZ_REPLAY forces the replay main).
 */
#if !defined(RCUMAP_FUZZ_LIBFUZZER) && !defined(RCUMAP_FUZZ_REPLAY) && defined(__has_feature)
#if __has_feature(coverage_sanitizer)
#define RCUMAP_FUZZ_LIBFUZZER 1
#endif
#endif

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <urcu.h> /* memb: rcu_flavor, rcu_read_lock, rcu_register_thread */

#include <rcumap.h>

/* testlib/: counting allocator, mix64, fnv1a64. */
#include "harness.h"

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* testutil.h's assertions report through cmocka's fail_msg; here through fail. */
#define fail_msg(...) fail(__VA_ARGS__)
#include "testutil.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- Limits ----------------------------------------------------------------- */

#define NKEYS 512          /* key space; FILL and DRAIN reach all of it */
#define NHOT 64            /* keys a single key byte reaches densely */
#define KEY_LEN_MAX 40     /* longest key */
#define MAX_VALUES 65536   /* value ids per input; the input ends when they run out */
#define MAX_OPS 20000      /* operations per input, embedded ones included */
#define MAX_TRAV 3         /* traversals active at once (nested) */
#define RESIZE_TRIES 8     /* rcumap_resize attempts, a barrier after each -EBUSY */
#define WORKER_BARRIERS 8  /* liburcu-worker mode: barriers per input (each ~10 ms) */
#define FILL_STRIDES 4

static const size_t resize_slots[8] = { 0, 1, 4, 16, 64, 256, 1024, 4096 };
static const unsigned fill_stride[FILL_STRIDES] = { 1, 2, 3, 5 };
static const size_t min_slots_opt[4] = { 0, 1, 2, 32 };

/* ---- Operations ------------------------------------------------------------------ */

enum opk {
	OP_GET, OP_INSERT, OP_PUT, OP_PUT_SAME, OP_REPLACE, OP_CAS, OP_DELETE,
	OP_DELETE_IF, OP_GET_OR_INSERT, OP_COUNT, OP_CLEAR, OP_RESIZE, OP_VALIDATE,
	OP_ARM, OP_ITER, OP_SCAN, OP_BARRIER, OP_CHECK, OP_FILL, OP_DRAIN,
	OP_INVALID, OP_CUR, OP_KINDS
};

static const char *const op_names[OP_KINDS] = {
	"GET", "INSERT", "PUT", "PUT_SAME", "REPLACE", "CAS", "DELETE",
	"DELETE_IF", "GET_OR_INSERT", "COUNT", "CLEAR", "RESIZE", "VALIDATE",
	"ARM", "ITER", "SCAN", "BARRIER", "CHECK", "FILL", "DRAIN",
	"INVALID", "CUR",
};

/*
 * Opcode byte & 31 -> operation. The first 22 are one each, in enum order
 * (gen_fuzz_corpus.py writes those); the last ten weight the single-key
 * updates for inputs the fuzzer makes up.
 */
static const enum opk op_table[32] = {
	OP_GET, OP_INSERT, OP_PUT, OP_PUT_SAME, OP_REPLACE, OP_CAS, OP_DELETE,
	OP_DELETE_IF, OP_GET_OR_INSERT, OP_COUNT, OP_CLEAR, OP_RESIZE, OP_VALIDATE,
	OP_ARM, OP_ITER, OP_SCAN, OP_BARRIER, OP_CHECK, OP_FILL, OP_DRAIN,
	OP_INVALID, OP_CUR,
	OP_GET, OP_INSERT, OP_PUT, OP_DELETE, OP_REPLACE, OP_CAS, OP_GET_OR_INSERT,
	OP_DELETE_IF, OP_CUR, OP_INSERT,
};

/* ---- State --------------------------------------------------------------------- */

/* One traversal in progress. */
struct trav {
	const char *who;              /* "rcumap_iter_next" or "rcumap_scan" */
	unsigned op;                  /* the operation that runs it */
	uint32_t t0;                  /* model sequence number at its start */
	size_t returned;              /* entries returned so far */
	uint64_t grows0, shrinks0;    /* rcumap_stats at its start */
	size_t returned_at_grow;      /* entries returned when a grow was first seen; 0: none */
	size_t returned_at_shrink;
	/* The entry returned last, while the map's key pointer is valid. */
	bool cur_valid;
	int cur_k;
	const void *cur_key;
	size_t cur_len;
	uint8_t seen[NKEYS];          /* returned already */
	uint8_t stable[NKEYS];        /* present at the start and never removed since */
};

/* What the harness knows about a value id. */
struct vmeta {
	int16_t key;          /* the key it was stored under */
	bool stored;          /* the map took it */
	uint32_t removed_seq; /* model sequence number of its removal; 0: not removed */
};

/* Embedded operations of a traversal, run at its points (see plan_point). */
struct plan {
	unsigned left;        /* not yet run */
	unsigned gap;         /* points still to let pass */
	bool have_gap;        /* gap was read */
};

static struct {
	struct rcumap *map;
	struct count_alloc ca;
	int hash_mode;
	uint64_t hash_seed;
	size_t min_slots;     /* as the map rounds it */
	int reclaim;          /* header byte 1 & 7; 0: liburcu's worker, else deferred */
	unsigned drain_every; /* deferred: drain after this many ops; 0: at barriers only */
	unsigned since_drain;

	const uint8_t *in;
	size_t len, pos;
	bool eof;             /* input exhausted, or a limit reached */

	/* The model. */
	uint32_t val[NKEYS];          /* value id; 0: absent */
	uint32_t last_removed[NKEYS]; /* for CAS and DELETE_IF with a stale expected */
	size_t count;
	uint32_t seq;                 /* one tick per change of the model */
	uint32_t nvalues;             /* ids handed out: 1..nvalues */

	/* Allocation failures. */
	bool armed;
	unsigned window;              /* operations the arming still covers */

	unsigned nops;
	bool check_all_after_op;      /* an update of this op returned -ENOMEM */
	unsigned rs_depth;            /* read sections the harness holds */
	struct trav *trav[MAX_TRAV];
	unsigned ntrav;
	unsigned barriers;

	/* For FUZZ_SUMMARY. */
	size_t max_count;
	unsigned enomem_update, enomem_resize, enomem_clear, injected_ok;
	unsigned iters, scans;
	unsigned iter_grow, iter_shrink, scan_grow, scan_shrink;
} fz;

/* Shared with free_value and the allocator, which may run on liburcu's worker. */
static struct vmeta vm[MAX_VALUES + 1];
static atomic_uint vfreed[MAX_VALUES + 1];
static atomic_uint cur_op;                /* number of the operation running */
static atomic_int cur_opk = OP_KINDS;     /* its kind; OP_KINDS: none */
static const char *progname = "fuzz";
static const char *input_name = "(input)";
static bool trace, summary, initialized;
static pthread_t main_thread;     /* fz is the harness thread's own */

/* Key i's bytes and length. */
static unsigned char key_bytes[NKEYS][KEY_LEN_MAX];
static size_t key_len[NKEYS];

/*
 * Per input: each key's 64-bit hash, and the smallest key with the same
 * hash. Keys of equal 64-bit hash have equal 32-bit hashes however the map
 * folds them, so a scan must pass them in the same call.
 */
static uint64_t key_hash[NKEYS];
static int key_group[NKEYS];

/*
 * A pointer the harness never stores: for invalid calls and wrong
 * expectations. vid() does not know it, so free_value on it fails.
 */
#define FOREIGN_ID (MAX_VALUES + 1)

/* ---- Reporting ------------------------------------------------------------------- */

static void fuzz_exit(void) __attribute__((noreturn));

static void fuzz_exit(void)
{
	fflush(stdout);
	fflush(stderr);
#ifdef RCUMAP_FUZZ_LIBFUZZER
	abort(); /* libFuzzer saves the input on a crash */
#else
	if (getenv("FUZZ_ABORT"))
		abort();
	/*
	 * _exit: liburcu's worker may be the caller, and atexit handlers
	 * must not run under it. Status 1 is "a detector fired"; a crash or
	 * a sanitizer report exits otherwise.
	 */
	_exit(1);
#endif
}

/*
 * The one failure report: input, operation, the traversals it ran in, then
 * the message. May run on liburcu's worker (free_value, free), hence the
 * atomics for the operation.
 */
static void fail(const char *fmt, ...)
{
	char msg[768], ctx[256] = "";
	int k = atomic_load(&cur_opk);
	size_t o = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Innermost traversal first; fz is the harness thread's, so only there. */
	for (unsigned i = fz.ntrav; pthread_equal(pthread_self(), main_thread) && i-- > 0 &&
				    o < sizeof(ctx);)
		o += (size_t)snprintf(ctx + o, sizeof(ctx) - o, "%s%s of op #%u",
				      i + 1 == fz.ntrav ? " (in " : ", in ", fz.trav[i]->who,
				      fz.trav[i]->op);
	if (o && o < sizeof(ctx) - 1)
		strcat(ctx, ")");
	fprintf(stderr, "%s: FAIL: %s: op #%u %s%s: %s\n", progname, input_name,
		atomic_load(&cur_op), k < OP_KINDS ? op_names[k] : "(end of input)", ctx, msg);
	fuzz_exit();
}

static void tracef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void tracef(const char *fmt, ...)
{
	va_list ap;

	if (!trace)
		return;
	printf("%s: ", progname);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* ---- Keys, values, hash ------------------------------------------------------------ */

static void keys_init(void)
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
static const void *kp(int k)
{
	return k == 0 && (fz.nops & 1) ? NULL : key_bytes[k];
}

/* Which key the map handed back, or -1 for bytes that are no key of ours. */
static int key_lookup(const void *key, size_t len)
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

static void *vptr(uint32_t id)
{
	return (void *)((uintptr_t)id << 4);
}

/* Value id of a pointer, or 0 if it is none of ours (FOREIGN_ID included). */
static uint32_t vid(const void *p)
{
	uintptr_t u = (uintptr_t)p;

	if (u & 15 || (u >> 4) == 0 || (u >> 4) > MAX_VALUES)
		return 0;
	return (uint32_t)(u >> 4);
}

/* A fresh value id for key k, or 0 when the input's values ran out (it then ends). */
static uint32_t new_value(int k)
{
	if (fz.nvalues == MAX_VALUES) {
		fz.eof = true;
		return 0;
	}
	fz.nvalues++;
	vm[fz.nvalues].key = (int16_t)k;
	return fz.nvalues;
}

static uint64_t fz_hash(const void *key, size_t len, void *arg);

static int by_hash(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	if (key_hash[x] != key_hash[y])
		return key_hash[x] < key_hash[y] ? -1 : 1;
	return x - y;
}

static void groups_init(void)
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

static uint64_t fz_hash(const void *key, size_t len, void *arg)
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

static void fz_free_value(void *value, void *arg)
{
	uint32_t id = vid(value);

	(void)arg;
	if (!id)
		fail("free_value got %p, which is no value the harness stored", value);
	if (atomic_fetch_add(&vfreed[id], 1) != 0)
		fail("DOUBLE FREE: value %u (key %d) passed to free_value twice", id, vm[id].key);
}

static void *fz_alloc(size_t size, enum rcumap_kind kind, void *arg)
{
	void *p = ca_alloc(size, kind, arg);

	if ((uintptr_t)p & 15)
		fail("allocator returned %p, not 16-byte aligned", p);
	return p;
}

/* ca_free, with its header checks reported here (it would print without our name). */
static void fz_free(void *ptr, size_t size, enum rcumap_kind kind, void *arg)
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
static struct rcu_flavor_struct deferred_flavor;
static struct cds_wfcq_node *dq_first, **dq_last = &dq_first;

static void dq_call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *head))
{
	head->func = func;
	head->next.next = NULL;
	*dq_last = &head->next;
	dq_last = &head->next.next;
}

static void dq_drain(void)
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

/* ---- The model ------------------------------------------------------------------------ */

static void model_retire(uint32_t v, int k)
{
	vm[v].removed_seq = ++fz.seq;
	fz.last_removed[k] = v;
}

static void model_store(int k, uint32_t v)
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

static void model_remove(int k)
{
	model_retire(fz.val[k], k);
	fz.val[k] = 0;
	fz.count--;
	for (unsigned i = 0; i < fz.ntrav; i++)
		fz.trav[i]->stable[k] = 0;
}

/* ---- Checks ----------------------------------------------------------------------------- */

static void check_key(int k, const char *when)
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

static void check_count(const char *when)
{
	size_t n = rcumap_count(fz.map);

	if (n != fz.count)
		fail("%s: rcumap_count = %zu, the model holds %zu", when, n, fz.count);
}

static void check_all(const char *when)
{
	for (int k = 0; k < NKEYS; k++)
		check_key(k, when);
	check_count(when);
}

static void check_stats(bool quiet)
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
static void check_frees(bool destroyed)
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
static void do_barrier(void)
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
static bool barrier_allowed(void)
{
	return fz.rs_depth == 0 && (fz.reclaim != 0 || fz.barriers < WORKER_BARRIERS);
}

/* ---- Input ---------------------------------------------------------------------------- */

static uint8_t next_byte(void)
{
	if (fz.pos < fz.len)
		return fz.in[fz.pos++];
	fz.eof = true;
	return 0;
}

static int decode_key(void)
{
	uint8_t b = next_byte();

	return b < 0xc0 ? b & (NHOT - 1) : NHOT + (b & 63) * 7;
}

static void run_op(void);

/*
 * One point of a traversal: run the embedded operations whose gap has
 * passed. Several may run at one point (gaps of 0).
 */
static void plan_point(struct plan *pl)
{
	while (pl->left && !fz.eof) {
		if (!pl->have_gap) {
			pl->gap = next_byte();
			pl->have_gap = true;
			if (fz.eof)
				return;
		}
		if (pl->gap) {
			pl->gap--;
			return;
		}
		pl->have_gap = false;
		pl->left--;
		run_op();
	}
}

/* ---- Updates -------------------------------------------------------------------------- */

/*
 * Whether an update that returned @got, where the model says @want, took
 * effect. -ENOMEM passes only if a failure was injected during the call
 * (@inj0: the injection count before it); the model then stays as it was.
 */
static bool resolved(const char *call, int k, int got, int want, unsigned long inj0)
{
	if (got == -ENOMEM && atomic_load(&fz.ca.injected) > inj0) {
		fz.enomem_update++;
		/* A failed migration step could lose other keys: check them all, once per op. */
		fz.check_all_after_op = true;
		return false;
	}
	if (got != want)
		fail("%s(key %d, len %zu) returned %s, the model expects %s%s", call, k,
		     key_len[k], errname(got), errname(want),
		     got == -ENOMEM ? " (no allocation failure was injected)" : "");
	if (atomic_load(&fz.ca.injected) > inj0)
		fz.injected_ok++;
	return want == 0;
}

static void after_update(int k)
{
	check_key(k, "after the call");
	check_count("after the call");
}

/* The expected value CAS and DELETE_IF pass: right (param bit 0 clear) or some wrong one. */
static uint32_t pick_expected(int k, unsigned param)
{
	uint32_t v;

	if (!(param & 1))
		v = fz.val[k];
	else if (((param >> 1) & 3) == 0)
		v = fz.last_removed[k];
	else if (((param >> 1) & 3) == 1)
		v = fz.val[(k + 1) % NKEYS];
	else
		v = FOREIGN_ID;
	return v ? v : FOREIGN_ID;
}

/*
 * One single-key update, with key pointer @key (ours, or one the map handed
 * out during a traversal). Returns false when the input's values ran out.
 */
static bool do_update(enum opk op, int k, const void *key, unsigned param)
{
	size_t len = key_len[k];
	uint32_t cur = fz.val[k], v = 0, exp;
	unsigned long inj0 = atomic_load(&fz.ca.injected);
	void *res = vptr(FOREIGN_ID);
	int rc, want;

	switch (op) {
	case OP_INSERT:
		if (!(v = new_value(k)))
			return false;
		rc = rcumap_insert(fz.map, key, len, vptr(v));
		if (resolved("rcumap_insert", k, rc, cur ? -EEXIST : 0, inj0))
			model_store(k, v);
		break;
	case OP_PUT:
	case OP_PUT_SAME:
		v = op == OP_PUT_SAME && cur ? cur : new_value(k);
		if (!v)
			return false;
		rc = rcumap_put(fz.map, key, len, vptr(v));
		if (resolved("rcumap_put", k, rc, 0, inj0))
			model_store(k, v);
		break;
	case OP_REPLACE:
		v = (param & 1) && cur ? cur : new_value(k);
		if (!v)
			return false;
		rc = rcumap_replace(fz.map, key, len, vptr(v));
		if (resolved("rcumap_replace", k, rc, cur ? 0 : -ENOENT, inj0))
			model_store(k, v);
		break;
	case OP_CAS:
		exp = pick_expected(k, param);
		v = (param & 2) && exp == cur ? cur : new_value(k);
		if (!v)
			return false;
		want = !cur ? -ENOENT : cur != exp ? -EAGAIN : 0;
		rc = rcumap_cas(fz.map, key, len, vptr(exp), vptr(v));
		if (resolved("rcumap_cas", k, rc, want, inj0))
			model_store(k, v);
		break;
	case OP_DELETE:
		rc = rcumap_delete(fz.map, key, len);
		if (resolved("rcumap_delete", k, rc, cur ? 0 : -ENOENT, inj0))
			model_remove(k);
		break;
	case OP_DELETE_IF:
		exp = pick_expected(k, param);
		want = !cur ? -ENOENT : cur != exp ? -EAGAIN : 0;
		rc = rcumap_delete_if(fz.map, key, len, vptr(exp));
		if (resolved("rcumap_delete_if", k, rc, want, inj0))
			model_remove(k);
		break;
	case OP_GET_OR_INSERT:
		if (!(v = new_value(k)))
			return false;
		rc = rcumap_get_or_insert(fz.map, key, len, vptr(v), &res);
		if (rc == -ENOMEM && res != vptr(FOREIGN_ID))
			fail("rcumap_get_or_insert(key %d) returned -ENOMEM and set *result to %p",
			     k, res);
		if (rc == 0 && res != vptr(v))
			fail("rcumap_get_or_insert(key %d) inserted value %u but *result is %u",
			     k, v, vid(res));
		if (rc == -EEXIST && res != vptr(cur))
			fail("rcumap_get_or_insert(key %d) found the key; *result is %u, the model holds %u",
			     k, vid(res), cur);
		if (resolved("rcumap_get_or_insert", k, rc, cur ? -EEXIST : 0, inj0))
			model_store(k, v);
		break;
	default:
		fail("do_update: operation %s is no update (harness bug)", op_names[op]);
	}
	after_update(k);
	return true;
}

static void op_get(int k)
{
	void *got;

	rcu_read_lock();
	got = rcumap_get(fz.map, kp(k), key_len[k]);
	rcu_read_unlock();
	if (got != (fz.val[k] ? vptr(fz.val[k]) : NULL))
		fail("rcumap_get(key %d, len %zu) = value %u, the model holds %u", k,
		     key_len[k], vid(got), fz.val[k]);
}

/* FILL and DRAIN: one update per key of an arithmetic run. */
static void op_bulk(enum opk op, unsigned param)
{
	unsigned s = next_byte(), c = next_byte();
	unsigned stride = fill_stride[(param >> 1) & 3];

	if (fz.eof)
		return;
	tracef("  %s keys %u.., %u of them, stride %u", op_names[op], 2 * s, c + 1, stride);
	for (unsigned i = 0; i <= c; i++) {
		int k = (int)((2 * s + i * stride) % NKEYS);
		enum opk u;

		if (op == OP_FILL)
			u = param & 1 ? OP_PUT : OP_INSERT;
		else
			u = param & 1 ? OP_DELETE_IF : OP_DELETE;
		/* param 0 for DELETE_IF: the right expected value. */
		if (!do_update(u, k, kp(k), 0))
			return;
	}
}

/* ---- Whole-map calls --------------------------------------------------------------------- */

static void op_clear(void)
{
	unsigned long inj0 = atomic_load(&fz.ca.injected);
	int rc = rcumap_clear(fz.map);

	if (rc == -ENOMEM && atomic_load(&fz.ca.injected) > inj0) {
		fz.enomem_clear++;
	} else if (rc != 0) {
		fail("rcumap_clear returned %s%s", errname(rc),
		     rc == -ENOMEM ? " (no allocation failure was injected)" : "");
	} else {
		for (int k = 0; k < NKEYS; k++)
			if (fz.val[k])
				model_remove(k);
	}
	check_all(rc ? "after rcumap_clear failed" : "after rcumap_clear");
}

/* The slot count rcumap_resize(n) must leave: a power of two, at least min_slots. */
static size_t slots_for(size_t n)
{
	size_t s = fz.min_slots;

	while (s < n)
		s <<= 1;
	return s;
}

static void op_resize(unsigned param)
{
	size_t want = resize_slots[param & 7];
	unsigned long inj0 = atomic_load(&fz.ca.injected);
	struct rcumap_stats before, after;
	int rc, tries = 0;
	bool retry = barrier_allowed();

	rcumap_stats(fz.map, &before);
	/*
	 * -EBUSY: another thread held the migration driver's lock. The
	 * harness retries after a barrier; inside a read section a barrier
	 * would deadlock, so there -EBUSY is an answer.
	 */
	for (;;) {
		rc = rcumap_resize(fz.map, want);
		tries++;
		if (rc != -EBUSY || !retry || tries == RESIZE_TRIES)
			break;
		do_barrier();
	}
	rcumap_stats(fz.map, &after);
	tracef("  rcumap_resize(%zu) = %s after %d tries: %zu -> %zu slots", want,
	       errname(rc), tries, before.slots, after.slots);
	if (rc == -ENOMEM && atomic_load(&fz.ca.injected) > inj0)
		fz.enomem_resize++;
	else if (rc == -EBUSY && retry)
		fail("rcumap_resize(%zu) still -EBUSY after %d barriers", want, RESIZE_TRIES);
	else if (rc != 0 && rc != -EBUSY)
		fail("rcumap_resize(%zu) returned %s%s", want, errname(rc),
		     rc == -ENOMEM ? " (no allocation failure was injected)" : "");
	if (rc == 0 && after.resizing)
		fail("rcumap_resize(%zu) returned 0 with a migration still pending", want);
	if (rc == 0 && want && after.slots != slots_for(want))
		fail("rcumap_resize(%zu) returned 0; the table has %zu slots, expected %zu",
		     want, after.slots, slots_for(want));
	/*
	 * 0 asks for the policy's size (design.md, "Resize policy"): the load
	 * ends in [1/4, 2] unless at min_slots. Not when a migration left by
	 * an earlier -ENOMEM was pending: the call finishes that one and
	 * returns 0 without applying the policy (see the report).
	 */
	if (rc == 0 && !want && !before.resizing &&
	    (fz.count > 2 * after.slots || (after.slots > fz.min_slots && 4 * fz.count < after.slots)))
		fail("rcumap_resize(0) returned 0 leaving %zu entries in %zu slots (min %zu)",
		     fz.count, after.slots, fz.min_slots);
	check_all("after rcumap_resize");
}

static void op_validate(void)
{
	int rc = rcumap_validate(fz.map);

	if (rc)
		fail("rcumap_validate returned %s", errname(rc));
}

static void op_barrier(void)
{
	if (fz.rs_depth) {
		int rc = rcumap_barrier(fz.map);

		if (rc != -EDEADLK)
			fail("rcumap_barrier inside a read section returned %s, expected -EDEADLK",
			     errname(rc));
		return;
	}
	if (barrier_allowed())
		do_barrier();
}

static void op_arm(void)
{
	unsigned a = next_byte(), w = next_byte();
	unsigned long at = (unsigned long)(a & 63) << (a & 64 ? 3 : 0);

	if (fz.eof)
		return;
	ca_arm(&fz.ca, at, a & 128);
	fz.armed = true;
	fz.window = 1 + (w & 15);
	tracef("  arm: allocation %lu%s fails, for %u ops", at, a & 128 ? " and on" : "",
	       fz.window);
}

static void scan_never(const void *key, size_t len, void *value, void *arg)
{
	(void)key, (void)value, (void)arg;
	fail("rcumap_scan with invalid arguments called its callback (key of %zu bytes)", len);
}

/* Calls with invalid arguments: -EINVAL (or -EDEADLK) and no change. */
static void op_invalid(unsigned param, int k)
{
	void *foreign = vptr(FOREIGN_ID), *res = NULL;
	uint64_t cursor;
	int rc[3] = { -EINVAL, -EINVAL, -EINVAL };
	const char *what = "?";

	switch (param & 7) {
	case 0:
		what = "insert with a NULL key of nonzero length";
		rc[0] = rcumap_insert(fz.map, NULL, key_len[k] ? key_len[k] : 1, foreign);
		rc[1] = rcumap_put(fz.map, NULL, 1, foreign);
		break;
	case 1:
		what = "put, replace, insert of a NULL value";
		rc[0] = rcumap_put(fz.map, kp(k), key_len[k], NULL);
		rc[1] = rcumap_replace(fz.map, kp(k), key_len[k], NULL);
		rc[2] = rcumap_insert(fz.map, kp(k), key_len[k], NULL);
		break;
	case 2:
		what = "cas and delete_if with a NULL expected or desired";
		rc[0] = rcumap_cas(fz.map, kp(k), key_len[k], NULL, foreign);
		rc[1] = rcumap_cas(fz.map, kp(k), key_len[k],
				   fz.val[k] ? vptr(fz.val[k]) : foreign, NULL);
		rc[2] = rcumap_delete_if(fz.map, kp(k), key_len[k], NULL);
		break;
	case 3:
		what = "delete and get of a key longer than RCUMAP_KEY_MAX";
		rc[0] = rcumap_delete(fz.map, key_bytes[k], RCUMAP_KEY_MAX + 1);
		rc[1] = rcumap_replace(fz.map, key_bytes[k], RCUMAP_KEY_MAX + 1, foreign);
		rcu_read_lock();
		if (rcumap_get(fz.map, key_bytes[k], RCUMAP_KEY_MAX + 1) ||
		    rcumap_get(fz.map, NULL, 3) || rcumap_get(NULL, key_bytes[k], key_len[k]))
			rc[2] = 0;
		rcu_read_unlock();
		break;
	case 4:
		what = "get_or_insert with a NULL result or value";
		rc[0] = rcumap_get_or_insert(fz.map, kp(k), key_len[k], foreign, NULL);
		rc[1] = rcumap_get_or_insert(fz.map, kp(k), key_len[k], NULL, &res);
		break;
	case 5:
		what = "scan with max_entries 0, a cursor >= 2^32, no callback";
		cursor = 0;
		rc[0] = rcumap_scan(fz.map, &cursor, 0, scan_never, NULL);
		cursor = (uint64_t)1 << 32;
		rc[1] = rcumap_scan(fz.map, &cursor, 1, scan_never, NULL);
		cursor = 0;
		rc[2] = rcumap_scan(fz.map, &cursor, 1, NULL, NULL);
		break;
	case 6:
		what = "resize above RCUMAP_SLOTS_MAX, NULL map";
		rc[0] = rcumap_resize(fz.map, RCUMAP_SLOTS_MAX + 1);
		rc[1] = rcumap_delete(NULL, kp(k), key_len[k]);
		rc[2] = rcumap_stats(fz.map, NULL);
		break;
	default:
		if (fz.rs_depth) {
			what = "barrier and destroy inside a read section";
			rc[0] = rcumap_barrier(fz.map) == -EDEADLK ? -EINVAL : 0;
			rc[1] = rcumap_destroy(fz.map) == -EDEADLK ? -EINVAL : 0;
		} else {
#ifndef RCUMAP_DEBUG /* debug builds abort on these by design */
			struct rcumap_iter it;

			what = "rcumap_iter_next with an iterator never initialised, or NULL";
			memset(&it, 0, sizeof(it));
			rcu_read_lock();
			rc[0] = rcumap_iter_next(fz.map, &it, NULL, NULL, NULL);
			rc[1] = rcumap_iter_next(fz.map, NULL, NULL, NULL, NULL);
			rcu_read_unlock();
#endif
			rc[2] = rcumap_iter_init(NULL, NULL);
		}
		break;
	}
	for (int i = 0; i < 3; i++)
		if (rc[i] != -EINVAL)
			fail("%s (key %d): call %d returned %s, expected %s", what, k, i,
			     errname(rc[i]), (param & 7) == 7 && fz.rs_depth ? "-EDEADLK" : "-EINVAL");
	after_update(k);
}

/* ---- Traversals ------------------------------------------------------------------------- */

static void trav_begin(struct trav *t, const char *who)
{
	struct rcumap_stats s;

	memset(t, 0, sizeof(*t));
	t->who = who;
	t->op = atomic_load(&cur_op);
	t->t0 = fz.seq;
	rcumap_stats(fz.map, &s);
	t->grows0 = s.grows;
	t->shrinks0 = s.shrinks;
	for (int k = 0; k < NKEYS; k++)
		t->stable[k] = fz.val[k] != 0;
	fz.trav[fz.ntrav++] = t;
}

/* One returned entry: C (no key twice) and D.2 (a pair held during the traversal). */
static void trav_entry(struct trav *t, const void *key, size_t len, void *value)
{
	int k = key_lookup(key, len);
	uint32_t v = vid(value);

	if (k < 0)
		fail("BADKEY: %s returned a key of %zu bytes that is none of the harness's keys",
		     t->who, len);
	if (t->seen[k])
		fail("DUPLICATE: %s returned key %d (len %zu) twice in one traversal, "
		     "%zu entries in", t->who, k, len, t->returned);
	t->seen[k] = 1;
	t->returned++;
	if (!v || !vm[v].stored || vm[v].key != k)
		fail("BADVALUE: %s returned key %d with value %u (%p), which was never stored "
		     "under that key", t->who, k, v, value);
	if (vm[v].removed_seq && vm[v].removed_seq <= t->t0)
		fail("STALE: %s returned key %d with value %u, removed before the traversal "
		     "began (model tick %u, traversal began at %u)", t->who, k, v,
		     vm[v].removed_seq, t->t0);
	if (atomic_load(&vfreed[v]))
		fail("%s returned key %d with value %u, already passed to free_value", t->who,
		     k, v);
	t->cur_valid = true;
	t->cur_k = k;
	t->cur_key = key;
	t->cur_len = len;
}

/* After an embedded operation: note a resize completed while the traversal was under way. */
static void trav_note_resize(struct trav *t)
{
	struct rcumap_stats s;

	rcumap_stats(fz.map, &s);
	if (s.grows > t->grows0 && !t->returned_at_grow && t->returned)
		t->returned_at_grow = t->returned;
	if (s.shrinks > t->shrinks0 && !t->returned_at_shrink && t->returned)
		t->returned_at_shrink = t->returned;
}

/* B: every key present from the start to the end was returned. */
static void trav_end(struct trav *t, unsigned *grew, unsigned *shrank)
{
	for (int k = 0; k < NKEYS; k++)
		if (t->stable[k] && !t->seen[k])
			fail("MISSED: %s did not return key %d (len %zu, value %u), present for "
			     "the whole traversal; %zu entries returned", t->who, k, key_len[k],
			     fz.val[k], t->returned);
	/* Crossed a resize in the middle: entries came before and after it. */
	*grew += t->returned_at_grow && t->returned > t->returned_at_grow;
	*shrank += t->returned_at_shrink && t->returned > t->returned_at_shrink;
	fz.ntrav--;
}

static void trav_point(struct trav *t, struct plan *pl)
{
	unsigned left = pl->left;

	plan_point(pl);
	if (pl->left != left)
		trav_note_resize(t);
}

/*
 * What every traversal op does first: nothing at the end of the input, a
 * count check instead when traversals nest too deep, and a barrier first
 * when param asks for one. 0 when the traversal must not run.
 */
static int trav_start_ok(unsigned param)
{
	if (fz.eof)
		return 0;
	if (fz.ntrav == MAX_TRAV) {
		check_count("instead of a traversal nested too deep");
		return 0;
	}
	if ((param & 1) && barrier_allowed())
		do_barrier();
	return 1;
}

static void op_iter(unsigned param)
{
	unsigned n = next_byte();
	struct plan pl = { .left = n };
	struct rcumap_iter it;
	struct trav t;
	const void *key;
	size_t len;
	void *value;
	int rc;

	if (!trav_start_ok(param))
		return;
	rcu_read_lock();
	fz.rs_depth++;
	trav_begin(&t, "rcumap_iter_next");
	rc = rcumap_iter_init(fz.map, &it);
	if (rc)
		fail("rcumap_iter_init returned %s", errname(rc));
	for (;;) {
		trav_point(&t, &pl);
		rc = rcumap_iter_next(fz.map, &it, &key, &len, &value);
		if (rc == 0)
			break;
		if (rc != 1)
			fail("rcumap_iter_next returned %s", errname(rc));
		trav_entry(&t, key, len, value);
	}
	rc = rcumap_iter_next(fz.map, &it, &key, &len, &value);
	if (rc != 0)
		fail("rcumap_iter_next after the end returned %s, expected 0", errname(rc));
	tracef("  iteration of op #%u: %zu entries", t.op, t.returned);
	trav_end(&t, &fz.iter_grow, &fz.iter_shrink);
	fz.iters++;
	fz.rs_depth--;
	rcu_read_unlock();
	check_all("after an iteration");
}

struct scan_ctx {
	struct trav *t;
	struct plan cb;
	size_t calls;              /* callbacks in this rcumap_scan call */
	size_t call_no;            /* rcumap_scan calls made, this one included */
	size_t group_call[NKEYS];  /* by key_group: the call that passed the group; 0: none */
	int group_key[NKEYS];      /* by key_group: the key it passed then */
};

static void scan_cb(const void *key, size_t len, void *value, void *arg)
{
	struct scan_ctx *sc = arg;
	int g;

	if (!rcu_read_ongoing())
		fail("rcumap_scan ran its callback outside a read section");
	sc->calls++;
	fz.rs_depth++;
	trav_entry(sc->t, key, len, value);
	g = key_group[sc->t->cur_k];
	if (sc->group_call[g] && sc->group_call[g] != sc->call_no)
		fail("SPLIT: rcumap_scan passed key %d in call %zu and key %d of the same hash in "
		     "call %zu", sc->group_key[g], sc->group_call[g], sc->t->cur_k, sc->call_no);
	sc->group_call[g] = sc->call_no;
	sc->group_key[g] = sc->t->cur_k;
	trav_point(sc->t, &sc->cb);
	sc->t->cur_valid = false; /* the key pointer dies with the callback */
	fz.rs_depth--;
}

static void op_scan(unsigned param)
{
	unsigned f = next_byte(), nb = next_byte(), nc = next_byte();
	size_t max = (size_t)(1 + (f & 15)) * (f & 16 ? 16 : 1);
	struct plan between = { .left = nb };
	struct scan_ctx sc = { .cb = { .left = nc } };
	uint64_t cursor = 0, prev = 0;
	size_t ncalls = 0;
	struct trav t;
	int rc;

	if (!trav_start_ok(param))
		return;
	trav_begin(&t, "rcumap_scan");
	sc.t = &t;
	for (;;) {
		sc.calls = 0;
		sc.call_no++;
		rc = rcumap_scan(fz.map, &cursor, max, scan_cb, &sc);
		ncalls++;
		if (rc)
			fail("rcumap_scan returned %s", errname(rc));
		if (cursor == 0)
			break;
		if (cursor <= prev)
			fail("CURSOR: rcumap_scan call %zu moved the cursor from %#" PRIx64 " to %#"
			     PRIx64 ": positions only increase", ncalls, prev, cursor);
		if (sc.calls < max)
			fail("CALLSIZE: rcumap_scan call %zu passed %zu entries with max_entries %zu "
			     "and did not end the scan", ncalls, sc.calls, max);
		/* No key twice means at most NKEYS entries, so at most NKEYS + 1 calls. */
		if (ncalls > NKEYS + 1)
			fail("rcumap_scan: %zu calls and not done", ncalls);
		prev = cursor;
		trav_point(&t, &between);
	}
	tracef("  scan of op #%u: %zu entries in %zu calls of max %zu", t.op, t.returned,
	       ncalls, max);
	trav_end(&t, &fz.scan_grow, &fz.scan_shrink);
	fz.scans++;
	check_all("after a scan");
}

/* An update of the entry the innermost traversal returned last, through the map's key pointer. */
static void op_cur(unsigned param)
{
	static const enum opk cur_ops[8] = {
		OP_DELETE, OP_DELETE, OP_DELETE, OP_REPLACE, OP_PUT, OP_DELETE_IF, OP_CAS,
		OP_INSERT,
	};
	struct trav *t = NULL;

	for (unsigned i = fz.ntrav; i-- > 0 && !t;)
		if (fz.trav[i]->cur_valid)
			t = fz.trav[i];
	if (!t) {
		check_count("CUR without a current entry");
		return;
	}
	tracef("  %s of key %d through the key the traversal returned", op_names[cur_ops[param]],
	       t->cur_k);
	/* param 0 for DELETE_IF and CAS: the right expected value. */
	do_update(cur_ops[param], t->cur_k, t->cur_key, 0);
}

/* ---- Dispatch ------------------------------------------------------------------------------ */

static void run_op(void)
{
	uint8_t b = next_byte();
	enum opk op = op_table[b & 31];
	unsigned param = b >> 5, saved_op = atomic_load(&cur_op);
	int saved_opk = atomic_load(&cur_opk), k = 0;

	if (fz.eof)
		return;
	if (++fz.nops > MAX_OPS) {
		fz.eof = true;
		return;
	}
	atomic_store(&cur_op, fz.nops);
	atomic_store(&cur_opk, (int)op);
	/* An arming covers the next few operations, nested ones included. */
	if (fz.armed && op != OP_ARM) {
		if (fz.window == 0) {
			ca_disarm(&fz.ca);
			fz.armed = false;
		} else {
			fz.window--;
		}
	}
	switch (op) {
	case OP_GET:
	case OP_INSERT:
	case OP_PUT:
	case OP_PUT_SAME:
	case OP_REPLACE:
	case OP_CAS:
	case OP_DELETE:
	case OP_DELETE_IF:
	case OP_GET_OR_INSERT:
	case OP_INVALID:
		k = decode_key();
		if (fz.eof)
			break;
		tracef("op #%u depth %u: %s key %d (len %zu) param %u, model value %u", fz.nops,
		       fz.ntrav, op_names[op], k, key_len[k], param, fz.val[k]);
		if (op == OP_GET)
			op_get(k);
		else if (op == OP_INVALID)
			op_invalid(param, k);
		else
			do_update(op, k, kp(k), param);
		break;
	default:
		tracef("op #%u depth %u: %s param %u (%zu entries)", fz.nops, fz.ntrav,
		       op_names[op], param, fz.count);
		switch (op) {
		case OP_COUNT:
			check_count("COUNT");
			check_stats(false);
			break;
		case OP_CLEAR:
			op_clear();
			break;
		case OP_RESIZE:
			op_resize(param);
			break;
		case OP_VALIDATE:
			op_validate();
			break;
		case OP_ARM:
			op_arm();
			break;
		case OP_ITER:
			op_iter(param);
			break;
		case OP_SCAN:
			op_scan(param);
			break;
		case OP_BARRIER:
			op_barrier();
			break;
		case OP_CHECK:
			check_all("CHECK");
			op_validate();
			break;
		case OP_FILL:
		case OP_DRAIN:
			op_bulk(op, param);
			break;
		case OP_CUR:
			op_cur(param);
			break;
		default:
			fail("opcode %u unhandled (harness bug)", (unsigned)op);
		}
	}
	if (fz.check_all_after_op) {
		fz.check_all_after_op = false;
		check_all("after -ENOMEM");
	}
	/* Deferred call_rcu: reclamation "happens" between operations, outside read sections. */
	if (fz.reclaim && fz.drain_every && fz.rs_depth == 0 &&
	    ++fz.since_drain >= fz.drain_every) {
		fz.since_drain = 0;
		dq_drain();
	}
	atomic_store(&cur_op, saved_op);
	atomic_store(&cur_opk, saved_opk);
}

/* ---- One input --------------------------------------------------------------------------------- */

static void finish_input(void)
{
	struct count_alloc *ca = &fz.ca;
	int rc;

	atomic_store(&cur_op, fz.nops + 1);
	atomic_store(&cur_opk, OP_KINDS);
	ca_disarm(ca);
	check_all("at the end");
	op_validate();
	check_stats(false);
	do_barrier();
	if (summary) {
		struct rcumap_stats s;

		rcumap_stats(fz.map, &s);
		printf("%s: summary: %s: hash %d, reclaim %d, %u ops, max %zu entries, "
		       "%" PRIu64 " grows, %" PRIu64 " shrinks, -ENOMEM %u updates %u resizes "
		       "%u clears, %u injected but succeeded, %u iterations (%u across a grow, %u "
		       "across a shrink), %u scans (%u across a grow, %u across a shrink)%s\n",
		       progname, input_name, fz.hash_mode, fz.reclaim, fz.nops, fz.max_count,
		       s.grows, s.shrinks, fz.enomem_update, fz.enomem_resize, fz.enomem_clear,
		       fz.injected_ok, fz.iters, fz.iter_grow, fz.iter_shrink, fz.scans,
		       fz.scan_grow, fz.scan_shrink,
		       s.resizing ? ", destroyed with a migration pending" : "");
	}
	rc = rcumap_destroy(fz.map);
	if (rc)
		fail("rcumap_destroy returned %s", errname(rc));
	fz.map = NULL;
	if (dq_first)
		fail("rcumap_destroy returned with callbacks still queued");
	check_frees(true);
	if (atomic_load(&ca->errors))
		fail("the counting allocator saw %lu bad calls", atomic_load(&ca->errors));
	for (int kind = 0; kind < CA_KINDS; kind++)
		if (atomic_load(&ca->kind_allocs[kind]) != atomic_load(&ca->kind_frees[kind]))
			fail("after rcumap_destroy: kind %d: %lu allocations, %lu frees", kind,
			     atomic_load(&ca->kind_allocs[kind]), atomic_load(&ca->kind_frees[kind]));
	if (atomic_load(&ca->alloc_bytes) != atomic_load(&ca->free_bytes))
		fail("after rcumap_destroy: %lu bytes allocated, %lu freed",
		     atomic_load(&ca->alloc_bytes), atomic_load(&ca->free_bytes));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (argc && *argc > 0 && argv && *argv && (*argv)[0]) {
		const char *slash = strrchr((*argv)[0], '/');

		progname = slash ? slash + 1 : (*argv)[0];
	}
	if (initialized)
		return 0;
	initialized = true;
	trace = getenv("FUZZ_TRACE") && strcmp(getenv("FUZZ_TRACE"), "0") != 0;
	summary = getenv("FUZZ_SUMMARY") && strcmp(getenv("FUZZ_SUMMARY"), "0") != 0;
	keys_init();
	deferred_flavor = rcu_flavor;
	deferred_flavor.update_call_rcu = dq_call_rcu;
	deferred_flavor.barrier = dq_drain;
	/* libFuzzer and the replay run every input on this one thread. */
	main_thread = pthread_self();
	rcu_register_thread();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rcumap_config cfg = { 0 };
	uint8_t h0, h1;
	int rc;

	if (!initialized)
		LLVMFuzzerInitialize(NULL, NULL);
	/* Only the ids the last input used: the tables are large and most inputs small. */
	for (uint32_t v = 0; v <= fz.nvalues; v++) {
		memset(&vm[v], 0, sizeof(vm[v]));
		atomic_store_explicit(&vfreed[v], 0, memory_order_relaxed);
	}
	memset(&fz, 0, sizeof(fz));
	fz.in = data;
	fz.len = size;
	h0 = next_byte();
	h1 = next_byte();
	if (fz.eof)
		return 0;
	fz.hash_mode = h0 & 7;
	fz.hash_seed = mix64((uint64_t)(h0 >> 5) | (uint64_t)(h1 >> 3) << 3);
	fz.min_slots = min_slots_opt[(h0 >> 3) & 3];
	fz.reclaim = h1 & 7;
	groups_init();
	fz.drain_every = fz.reclaim >= 6 ? 0 : fz.reclaim >= 4 ? 16 : 1;

	ca_init(&fz.ca);
	cfg.flavor = fz.reclaim ? &deferred_flavor : &rcu_flavor;
	cfg.free_value = fz_free_value;
	cfg.hash = fz_hash;
	cfg.min_slots = fz.min_slots;
	cfg.alloc = fz_alloc;
	cfg.free = fz_free;
	cfg.alloc_arg = &fz.ca;
	rc = rcumap_create(&cfg, &fz.map);
	if (rc)
		fail("rcumap_create returned %s", errname(rc));
	/* The map rounds min_slots up to a power of two; 0 means 8. */
	for (size_t m = cfg.min_slots ? cfg.min_slots : 8, s = 1;; s <<= 1)
		if (s >= m) {
			fz.min_slots = s;
			break;
		}
	tracef("input %s: %zu bytes, hash mode %d, min_slots %zu, reclaim mode %d",
	       input_name, size, fz.hash_mode, fz.min_slots, fz.reclaim);

	while (!fz.eof)
		run_op();
	finish_input();
	return 0;
}

/* ---- Replay ------------------------------------------------------------------------------------ */

#ifndef RCUMAP_FUZZ_LIBFUZZER

/* Run one file; false if it cannot be read. */
static bool replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", progname, path, strerror(errno));
		return false;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			uint8_t *nb = realloc(buf, cap = cap ? 2 * cap : 4096);

			if (!nb) {
				fprintf(stderr, "%s: %s: out of memory\n", progname, path);
				fclose(f);
				free(buf);
				return false;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "%s: %s: read error\n", progname, path);
		fclose(f);
		free(buf);
		return false;
	}
	fclose(f);
	input_name = path;
	LLVMFuzzerTestOneInput(buf, len);
	input_name = "(input)";
	free(buf);
	return true;
}

static int skip_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Every regular file of dir, in name order; returns the count, or -1 on error. */
static long replay_dir(const char *dir)
{
	struct dirent **names;
	long done = 0;
	int n = scandir(dir, &names, skip_dots, alphasort);

	if (n < 0) {
		fprintf(stderr, "%s: %s: %s\n", progname, dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (!replay_file(path))
				done = -1;
			else if (done >= 0)
				done++;
		}
		free(names[i]);
	}
	free(names);
	return done;
}

int main(int argc, char **argv)
{
	long total = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		fprintf(stderr, "%s: usage: %s FILE|DIR...\n", progname, progname);
		fprintf(stderr, "%s: runs the differential fuzz harness on each FILE and on "
			"every file in each DIR\n", progname);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long n;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "%s: %s: %s\n", progname, argv[i], strerror(errno));
			return 2;
		}
		n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) ? 1 : -1;
		if (n < 0)
			return 2;
		if (n == 0) {
			/* A corpus that went missing must not pass as replayed. */
			fprintf(stderr, "%s: %s: no inputs\n", progname, argv[i]);
			return 2;
		}
		printf("%s: %ld inputs replayed from %s\n", progname, n, argv[i]);
		total += n;
	}
	if (argc > 2)
		printf("%s: %ld inputs replayed in all\n", progname, total);
	return 0;
}

#endif /* RCUMAP_FUZZ_LIBFUZZER */
