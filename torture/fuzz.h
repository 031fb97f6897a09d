/* SPDX-License-Identifier: MIT */
/* fuzz.h: what the files of the differential fuzz harness (fuzz_replay, make fuzz) share. */
#ifndef RCUMAP_TORTURE_FUZZ_H
#define RCUMAP_TORTURE_FUZZ_H

/*
 * The harness (fuzz.c describes what it checks and the input format):
 *   fuzz.c        the driver: the input, one input from start to finish,
 *                 failure reports, libFuzzer's entry points, the replay main
 *   fuzz_ops.c    the operation interpreter: updates, whole-map calls, and
 *                 traversals with the operations embedded in them
 *   fuzz_model.c  the reference model, the keys, values and hashes, the
 *                 checks against the model, free_value, the allocator and
 *                 the deferred call_rcu
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu.h> /* memb: rcu_flavor, rcu_read_lock, rcu_register_thread */

#include <rcumap.h>

/* testlib/: counting allocator, mix64, fnv1a64. */
#include "harness.h"

/* The one failure report (fuzz.c): the input, the operation, then the message; does not return. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* FUZZ_TRACE=1: one line per operation. */
void tracef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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

/* ---- Operations ------------------------------------------------------------------ */

enum opk {
	OP_GET, OP_INSERT, OP_PUT, OP_PUT_SAME, OP_REPLACE, OP_CAS, OP_DELETE,
	OP_DELETE_IF, OP_GET_OR_INSERT, OP_COUNT, OP_CLEAR, OP_RESIZE, OP_VALIDATE,
	OP_ARM, OP_ITER, OP_SCAN, OP_BARRIER, OP_CHECK, OP_FILL, OP_DRAIN,
	OP_INVALID, OP_CUR, OP_KINDS
};
extern const char *const op_names[OP_KINDS];

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

struct fuzz_state {
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
};
extern struct fuzz_state fz;


/* Shared with free_value and the allocator, which may run on liburcu's worker. */
extern struct vmeta vm[MAX_VALUES + 1];
extern atomic_uint vfreed[MAX_VALUES + 1];
extern atomic_uint cur_op;              /* number of the operation running */
extern atomic_int cur_opk;              /* its kind; OP_KINDS: none */
extern const char *progname;
extern const char *input_name;

/* Key i's bytes and length. */
extern unsigned char key_bytes[NKEYS][KEY_LEN_MAX];
extern size_t key_len[NKEYS];
/* Per input: the smallest key whose 64-bit hash equals key i's (fuzz_model.c). */
extern int key_group[NKEYS];

/*
 * A pointer the harness never stores: for invalid calls and wrong
 * expectations. vid() does not know it, so free_value on it fails.
 */
#define FOREIGN_ID (MAX_VALUES + 1)

/* fuzz.c: the input */
uint8_t next_byte(void);
/* One point of a traversal: run the embedded operations whose gap has passed. */
void plan_point(struct plan *pl);

/* fuzz_model.c */
void keys_init(void);
const void *kp(int k);
int key_lookup(const void *key, size_t len);
void *vptr(uint32_t id);
uint32_t vid(const void *p);
uint32_t new_value(int k);
void groups_init(void);
uint64_t fz_hash(const void *key, size_t len, void *arg);
void fz_free_value(void *value, void *arg);
void *fz_alloc(size_t size, enum rcumap_kind kind, void *arg);
void fz_free(void *ptr, size_t size, enum rcumap_kind kind, void *arg);
extern struct rcu_flavor_struct deferred_flavor;
void dq_init(void);
void dq_drain(void);
bool dq_pending(void);
void model_store(int k, uint32_t v);
void model_remove(int k);
void check_key(int k, const char *when);
void check_count(const char *when);
void check_all(const char *when);
void check_stats(bool quiet);
void check_frees(bool destroyed);
void do_barrier(void);
bool barrier_allowed(void);

/* fuzz_ops.c */
/* Decode and run one operation (and whatever it embeds). */
void run_op(void);
void op_validate(void);

#endif /* RCUMAP_TORTURE_FUZZ_H */
