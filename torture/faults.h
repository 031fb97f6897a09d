/* SPDX-License-Identifier: MIT */
/* faults.h: what the files of the allocation-failure script (faults_memb, ...) share. */
#ifndef RCUMAP_TORTURE_FAULTS_H
#define RCUMAP_TORTURE_FAULTS_H

/*
 * The program (faults.c describes what it checks, and how):
 *   faults.c        the sweep over every allocation call, reporting, main
 *   fault_script.c  the script of operations, and what it must reach
 *   fault_run.c     one run of the script: the failing allocator, the
 *                   model the map must equal, each operation and its checks
 *   fault_trav.c    traversals with updates between and inside their steps
 */

#include "flavor.h" /* first: the liburcu flavor header */

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rcumap.h>

#include "harness.h"

/* faults.c: ends the program as a failure (harness errors, not findings). */
void harness_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * testutil.h's assertions report through cmocka's fail_msg. This program
 * has no cmocka: a failed harness assertion (rcumap_barrier refusing to
 * wait in resize_retry) ends the program as a failure.
 */
#define fail_msg(...) harness_fatal(__VA_ARGS__)
#include "testutil.h"

/* ---- Parameters ---------------------------------------------------------------- */

#define NKEYS 64            /* key numbers 0..63, made by key_make: 8 to 32 bytes */
#define NVALS 4096          /* value pool; value 0 is never stored (the stranger) */
#define MIN_SLOTS 2         /* small, so that buckets overflow and shrinks go far */
#define NO_BUDGET (-1)
#define PRINT_MAX 20        /* failing runs described in detail */
#define GROUP 50            /* failure indexes per summary line */
#define SCAN_CALLS_MAX 10000

/* ---- The script --------------------------------------------------------------- */

enum sop {
	S_NONE,
	S_INSERT,
	S_PUT,              /* a new value */
	S_PUT_SAME,         /* the value already stored (a fresh one if absent) */
	S_REPLACE,
	S_CAS,              /* expected: the value stored */
	S_CAS_WRONG,        /* expected: a value never stored */
	S_CAS_SAME,         /* expected == desired == the value stored */
	S_DELETE,
	S_DELETE_IF,        /* expected: the value stored */
	S_DELETE_IF_WRONG,  /* expected: a value never stored */
	S_GET_OR_INSERT,
	S_CLEAR,
	S_RESIZE,           /* through resize_retry: -EBUSY means barrier and retry */
	S_SCAN,             /* a whole rcumap_scan traversal with updates */
	S_ITER,             /* a whole in-section iteration with updates */
};

extern const char *const sop_name[];

static inline bool key_kind(enum sop k)
{
	return k != S_NONE && k != S_CLEAR && k != S_RESIZE && k != S_SCAN && k != S_ITER;
}

/* Update patterns of traversals (trav_action, scan_between). */
enum pattern {
	P_MIXED,     /* every kind of update on the returned key and on others */
	P_DELETING,  /* mostly deletes: the table shrinks under the traversal */
};

struct step {
	enum sop op;
	int key;             /* key operations: the key number */
	size_t arg;          /* S_RESIZE: slots (0: the policy's choice);
			      * S_SCAN: entries per call */
	int budget;          /* allocation calls allowed (traversals: per update
			      * inside); NO_BUDGET: unlimited */
	enum pattern pattern;
};

struct script {
	struct step *s;
	size_t n, cap;
};

/* ---- Allocator: the counting allocator, plus scripted failures ------------------- */

struct fault_alloc {
	struct count_alloc ca;
	/*
	 * Calls the current operation may still pass to ca; NO_BUDGET: no
	 * limit. Only the script's thread allocates, so these fields are
	 * plain; the call_rcu thread only frees, through ca.
	 */
	long budget;
	unsigned long scripted;   /* calls failed by a budget */
	unsigned op;              /* number of the operation running (0: create) */
	long injected_op;         /* operation the first injected failure hit; -1 */
	bool record;              /* reference run: record op_of_call */
	unsigned *op_of_call;     /* op_of_call[c]: operation that made call c */
	size_t cap;
};

/* ---- One run -------------------------------------------------------------------- */

struct key {
	unsigned char b[KEY_BUF];
	size_t len;
};

extern struct key keys[NKEYS];   /* key k's bytes (key_make) */
extern struct script script;

/* One operation, resolved against the model when it is about to run. */
struct op {
	enum sop kind;
	int key;
	size_t slots;         /* S_RESIZE */
	struct tval *val;     /* the value offered (desired for cas) */
	struct tval *exp;     /* expected value of cas and delete_if */
	int budget;
	unsigned no;          /* its number in the run, from 1 */
	const char *where;    /* "", or where inside a traversal it ran */
};

/* A traversal in progress: what it may and must return (rcumap.h, T1-T5). */
struct trav {
	bool active;
	bool in_section;           /* updates now run inside its read section */
	unsigned no;               /* stamps the values stored during it */
	enum pattern pattern;
	int budget;
	unsigned returned;         /* entries returned so far */
	const char *name;          /* "scan" or "iteration", for reports */
	const char *where;         /* where its updates run, for reports */
	struct tval *start[NKEYS]; /* the model when it began */
	bool stable[NKEYS];        /* present at the start and never removed since */
	unsigned seen[NKEYS];
};

/* What happened, for the summaries and the reference run's coverage checks. */
struct tally {
	unsigned long enomem;          /* operations that returned -ENOMEM */
	unsigned long dropped;         /* succeeded although an allocation failed in them */
	unsigned long create_failed;
	unsigned long pending_ops;     /* operations that began with a migration pending */
	unsigned long resumed;         /* updates that began pending and ended not */
	unsigned long pending_enomem;  /* updates that began pending and returned -ENOMEM */
	unsigned long pending_dropped; /* ... succeeded with a failed allocation, still pending */
	unsigned long auto_grows, auto_shrinks;     /* done by updates */
	unsigned long forced_grows, forced_shrinks; /* done by rcumap_resize */
	unsigned long clear_enomem;    /* clear refused during a pending migration */
	unsigned long trav_updates;    /* updates inside traversal read sections */
	unsigned long trav_switches;   /* generation switches inside them */
	unsigned long trav_skipped;    /* updates a traversal left out (gate unsettled) */
	unsigned long barriers;        /* waits for the gate to settle */
	unsigned long pending_at_destroy;
	unsigned long kind_allocs[CA_KINDS];
};

struct run {
	long fail_at;              /* -1: the reference run */
	bool persistent;
	FILE *trace;               /* -v, reference run: one line per operation */
	char *trace_buf;
	size_t trace_len;
	struct fault_alloc fa;
	struct tracker tr;
	struct rcumap *map;
	struct tval *model[NKEYS];
	size_t next_val;           /* next fresh value of the pool */
	unsigned op_no;
	uint64_t clean_gen;        /* generation current at the last barrier */
	unsigned trav_no;
	struct trav trav;
	unsigned val_trav[NVALS];  /* traversal during which the value was stored */
	int val_key[NVALS];        /* ... for that key */
	struct tally t;

	bool failed;
	char first[768];           /* the first discrepancy */
	char op_desc[160];         /* the operation it happened in */
	char ctx[96];              /* where a check outside any operation runs */
};

/* fault_script.c */
void build_script(struct script *sc);
/* The reference run must reach what the script's phases are for. */
void check_coverage(struct run *r);

/* fault_run.c */
const char *vname(const struct run *r, const struct tval *v, char buf[32]);
/* The key number of a key the map returned, or -1 if it is none of the script's. */
int key_number(const void *key, size_t len);
/* Make the operation a step asks for, against the model as it is now. */
void resolve(struct run *r, struct op *o, enum sop kind, int key, size_t slots,
	     int budget, const char *where);
/* Record the run's first discrepancy; later ones only follow from it. */
void discrepancy(struct run *r, const struct op *o, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Settle reclamation before an update that may start a migration (if may_wait). */
bool gate_settled(struct run *r, bool may_wait, struct rcumap_stats *stp);
/* Run one operation and check it, its effect and the whole map. */
void run_op(struct run *r, struct op *o);
/* One whole run, on a thread of its own; fail_at -1 is the reference run. */
struct run *run_new(long fail_at, bool persistent, bool verbose);
void run_free(struct run *r);

/* fault_trav.c */
void run_scan(struct run *r, const struct step *s);
void run_iter(struct run *r, const struct step *s);

#endif /* RCUMAP_TORTURE_FAULTS_H */
