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
 * Built two ways (torture/local.mk; fuzz.h lists the harness's files):
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
 *   failures) run between their steps: no key twice (T3), every key present
 *   from start to end returned (T2), every returned pair held by the model at
 *   some instant of the traversal (T4.2); scan cursors strictly increase and
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

#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const size_t min_slots_opt[4] = { 0, 1, 2, 32 };

struct fuzz_state fz;

atomic_uint cur_op;                       /* number of the operation running */
atomic_int cur_opk = OP_KINDS;            /* its kind; OP_KINDS: none */
const char *progname = "fuzz";
const char *input_name = "(input)";
static bool trace, summary, initialized;
static pthread_t main_thread;     /* fz is the harness thread's own */

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
void fail(const char *fmt, ...)
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

void tracef(const char *fmt, ...)
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

/* ---- Input ---------------------------------------------------------------------------- */

uint8_t next_byte(void)
{
	if (fz.pos < fz.len)
		return fz.in[fz.pos++];
	fz.eof = true;
	return 0;
}

/* Several embedded operations may run at one point (gaps of 0). */
void plan_point(struct plan *pl)
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
	if (dq_pending())
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
	dq_init();
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
	fz.min_slots = pow2_at_least(cfg.min_slots ? cfg.min_slots : 8, 1);
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
