/* SPDX-License-Identifier: MIT */
/* rcumapd.h: the map of rcumapd's internals, shared by the loop, the store and both protocols. */
#ifndef RCUMAPD_H
#define RCUMAPD_H

/*
 * Layers, calls going down only:
 *   main.c   options, threads, acceptor, signals, shutdown order
 *   loop.c   one epoll loop per worker: connections, buffers, limits, and
 *            the RCU protocol (read sections, quiescent states, offline waits)
 *   resp.c   RESP2 + inline commands      mc.c   memcached text protocol
 *   info.c   INFO / stats text shared by both protocols
 *   store.c  values on the map: CAS loops, expiry, eviction, memory accounting
 *   rcumap (the library) and liburcu, through struct rcu_flavor_struct
 *
 * Threading: a protocol function and every store_* call except those marked
 * otherwise run on a worker thread, inside the worker's read section (memb,
 * bp: read lock held; qsbr: online, no quiescent state until the pass ends).
 * A value returned by the store stays valid until the worker's pass ends.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu/flavor.h>

#include "rcumap.h"

#define RCUMAPD_VERSION PACKAGE_VERSION

/* ---- atomics: every memory-order choice of the server, named ----------- */

/* Relaxed: statistics counters and flags where only atomicity matters. */
#define ld_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define st_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define add_relaxed(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
/* A counter only its owner thread writes: no RMW; readers load it relaxed. */
static inline void count_own(uint64_t *p, uint64_t n)
{
	st_relaxed(p, ld_relaxed(p) + n);
}
/* Acquire/release: a flag that publishes data written before it. */
#define ld_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define st_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* ---- configuration (main.c fills it before any thread starts) ----------- */

struct server_config {
	const struct rcu_flavor_struct *flavor;
	const char *flavor_name;      /* "qsbr", "memb" or "bp" */
	int is_qsbr;                  /* quiescent states instead of read locks */
	int threads;                  /* worker threads */
	const char *bind;             /* listen address, default 127.0.0.1 */
	int resp_port;                /* default 7379; 0: RESP off */
	int mc_port;                  /* default 12211; 0: memcached off */
	size_t maxclients;            /* default 10000 */
	size_t max_bulk;              /* RESP bulk length limit (proto-max-bulk-len, 512 MiB) */
	size_t max_multibulk;         /* RESP array length limit (1024*1024, as Redis) */
	size_t max_query_buffer;      /* unparsed input per client (client-query-buffer-limit, 1 GiB) */
	size_t max_output_buffer;     /* queued replies per client before it is dropped (64 MiB) */
	size_t max_inline;            /* inline command / memcached line limit (64 KiB, as Redis) */
	size_t mc_max_item;           /* memcached item size limit (1 MiB, memcached's -I) */
	uint64_t maxmemory;           /* bytes; 0: no limit, no eviction */
	unsigned expire_rate;         /* entries per second the sweeper visits */
	unsigned pass_budget;         /* commands per connection per loop pass */
	int section_per_command;      /* memb/bp: one read section per command */
	int never_offline;            /* negative control only: qsbr never goes offline */
	int broken_batch;             /* negative control only: batched GETs misordered, unexpired */
};

extern struct server_config cfg;

/* ---- buffers and connections (loop.c) ----------------------------------- */

/* Bytes data[start, end) are queued; cap is the allocated size. */
struct buf {
	char *data;
	size_t start;
	size_t end;
	size_t cap;
};

enum proto { PROTO_RESP = 0, PROTO_MC = 1 };

struct worker;

struct conn {
	int fd;
	enum proto proto;
	struct worker *w;
	uint64_t id;
	struct buf in;                /* received, not yet consumed by the protocol */
	struct buf out;               /* replies not yet written */
	/*
	 * Set by a protocol: flush the replies queued so far, then close
	 * (QUIT, a protocol error). Input after it is ignored.
	 */
	int close_after_write;
	/* Set by out_*: the output limit was hit or memory ran out; close now. */
	int broken;
	/*
	 * Set by a protocol: the next command needs this many bytes in
	 * c->in (from c->in.start) before it can be parsed; the loop reads
	 * until then without calling the protocol again. 0: unknown.
	 */
	size_t need;
	/* Protocol-private state, zero when the connection is accepted. */
	union {
		struct {
			long multibulk;       /* array elements still to read; 0 none */
			long bulk;            /* length of the bulk being read; -1 none */
		} resp;
		struct {
			size_t swallow;       /* data bytes of a refused store to discard */
		} mc;
	} p;
	/* loop.c private */
	struct conn *ready_next;
	int on_ready;
	int want_write;
};

/*
 * Append n bytes to the connection's output. Return 0, or -1 when the output
 * limit was reached or memory ran out: c->broken is set, the connection will
 * be closed, and the caller may stop producing replies for it.
 */
int out_add(struct conn *c, const void *p, size_t n);
/* Append a formatted string (printf rules). Return as out_add. */
int out_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Make room for n more bytes at c->in.end; return 0 or -1 (ENOMEM). */
int buf_reserve(struct buf *b, size_t n);

/*
 * Protocol entry points, called by the loop after it has read into c->in.
 * Execute at most budget complete commands from c->in, consuming their
 * bytes (advance c->in.start), queueing replies with out_*.
 * Return: the number of commands executed (0 when no complete command is
 * buffered: set c->need if the length of the missing part is known), or -1
 * to close the connection after flushing what is queued (the protocol sets
 * c->close_after_write).
 * Context: worker thread, inside its read section.
 */
int resp_process(struct conn *c, unsigned budget);
int mc_process(struct conn *c, unsigned budget);

/* Said to a client refused by --maxclients, before it is closed. */
#define RESP_MAXCLIENTS_REPLY "-ERR max number of clients reached\r\n"
#define MC_MAXCLIENTS_REPLY "SERVER_ERROR max number of clients reached\r\n"

/* ---- server-wide counters (loop.c, main.c) ------------------------------- */

struct server_counters {
	uint64_t clients;             /* connected now */
	uint64_t connections;         /* accepted since start */
	uint64_t rejected;            /* refused by --maxclients */
	uint64_t commands;            /* executed since start */
	uint64_t dropped;             /* closed for a limit or a protocol error */
	uint64_t start_ms;            /* unix time of start, ms */
};
/* Sum of the workers' counters (relaxed reads; not one snapshot). */
void server_counters(struct server_counters *out);

/* ---- values and the store (store.c) ------------------------------------- */

/*
 * A value on the map. Immutable once published: a change publishes a new
 * value with rcumap_cas, and the old one goes to free after a grace period.
 */
struct sval {
	uint64_t expire_ms;           /* absolute unix time, ms; 0: never */
	uint64_t cas;                 /* unique per value: memcached's cas id */
	uint32_t flags;               /* memcached client flags */
	uint32_t len;                 /* bytes in data, not counting the NUL */
	uint32_t klen;                /* store.c: key length, for memory accounting */
	uint32_t pad_;
	char data[];                  /* len bytes then a NUL */
};

/* Largest value the store accepts (RESP's max_bulk is smaller or equal). */
#define SVAL_MAX ((size_t)UINT32_MAX - 64)

/*
 * New unpublished value: a then b concatenated (b may be NULL with blen 0),
 * with a fresh cas id. Return NULL when memory runs out or the length
 * exceeds SVAL_MAX.
 */
struct sval *sval_new(const void *a, size_t alen, const void *b, size_t blen,
		      uint32_t flags, uint64_t expire_ms);
/* Free a value that was never published. */
void sval_discard(struct sval *v);

/* Unix time in ms as of the start of this thread's pass (store_tick). */
uint64_t store_now_ms(void);
/* Refresh the thread's clock; the loop calls it once per pass. */
void store_tick(void);

/*
 * The live value of a key: NULL when absent or expired (an expired value is
 * removed then, with rcumap_delete_if, so a newer value is never lost).
 */
const struct sval *store_get(const void *key, size_t klen);

/*
 * The most keys a protocol gathers for one store_get_batch call (its arrays
 * are on the stack): a longer MGET or memcached get line goes STORE_BATCH
 * keys at a time. The library works in groups of 32 (RCUMAP_BATCH_GROUP);
 * 64 takes the GETs of one default pass budget (--pass-budget) in one call.
 */
#define STORE_BATCH 64

/*
 * store_get of n keys at once: values[i] = store_get(keys[i], lens[i]),
 * with all its effects per key (lazy expiry, keyspace hit and miss counts,
 * the eviction mark), after one rcumap_get_batch lookup that overlaps the
 * keys' cache misses. The same key may appear more than once. As with
 * store_get, each value is valid until the worker's pass ends (memb/bp:
 * the read section that made the call; qsbr: the next quiescent state), so
 * the replies built from them must be queued before the caller returns to
 * the loop. Return: how many values[i] are not NULL.
 */
size_t store_get_batch(size_t n, const void *const keys[], const size_t lens[],
		       const struct sval *values[]);

enum rmw_action {
	RMW_KEEP = 0,                 /* change nothing */
	RMW_SET = 1,                  /* publish *out in place of cur */
	RMW_DELETE = 2,               /* remove the key (cur != NULL) */
};
/*
 * Decide the change of one key from its live value cur (NULL: absent or
 * expired). For RMW_SET, *out receives a value from sval_new. The function
 * may be called again (with a newer cur) if another update won the race, so
 * it must reset whatever it records in arg on every call; a value it built
 * for a lost race is discarded by the store.
 */
typedef enum rmw_action (*store_rmw_fn)(const struct sval *cur, struct sval **out,
					void *arg);
/*
 * Read-modify-write of one key as a compare-and-swap loop on the map.
 * @prev: receives the live value fn decided on last (may be NULL);
 * valid until the pass ends.
 * Return: the action applied (RMW_KEEP, RMW_SET, RMW_DELETE), or -ENOMEM
 * (nothing changed; also when --maxmemory is reached and nothing could be
 * evicted).
 */
int store_rmw(const void *key, size_t klen, store_rmw_fn fn, void *arg,
	      const struct sval **prev);

/* Store v for key unconditionally (SET). Return 0 or -ENOMEM (v discarded). */
int store_put(const void *key, size_t klen, struct sval *v);
/* Remove a key. Return 1 if a live value was removed, 0 if absent, -ENOMEM. */
int store_del(const void *key, size_t klen);
/* Remove every key. Return 0 or -ENOMEM. */
int store_flush(void);
/* Number of entries (expired ones not yet removed included). */
size_t store_count(void);

/*
 * One step of a resumable traversal (SCAN). fn gets each live key; expired
 * ones are skipped. *cursor: 0 to start, 0 again when complete.
 * Return 0, or -EINVAL for a cursor that is not one (>= 2^32).
 */
typedef void (*store_scan_fn)(const void *key, size_t klen, const struct sval *v,
			      void *arg);
int store_scan(uint64_t *cursor, size_t count, store_scan_fn fn, void *arg);

/* Everything INFO and memcached's stats report about the store. */
struct store_info {
	struct rcumap_stats map;
	uint64_t pending_objects;     /* retired - reclaimed, summed over the kinds */
	uint64_t pending_bytes;       /* the same in bytes */
	uint64_t used_bytes;          /* values and keys held, with pending frees */
	uint64_t maxmemory;
	uint64_t rss_bytes;           /* resident set size, from /proc/self/statm */
	uint64_t evictions;
	uint64_t expirations;
	uint64_t keyspace_hits;
	uint64_t keyspace_misses;
	int membarrier;               /* memb: 1 when liburcu uses sys_membarrier */
	uint64_t purges;              /* MEMORY PURGE requests carried out */
};
void store_info(struct store_info *out);

/* Set up the store before any worker starts (main thread). Return 0 or -errno. */
int store_init(void);
/*
 * Destroy the map (rcumap_destroy), after every thread that used it has
 * been joined. Context: registered thread outside any read section.
 */
int store_fini(void);
/* Per-thread registration with the store's counters; after rcu register. */
void store_thread_init(void);
/*
 * The background sweeper thread: expiry and eviction, bounded by
 * cfg.expire_rate. store_sweeper_stop() wakes it and makes it return.
 */
void *store_sweeper(void *arg);
void store_sweeper_stop(void);
/*
 * MEMORY PURGE: ask the sweeper to shrink the table to what its count needs
 * (rcumap_resize 0), wait out a grace period (rcumap_barrier) and give free
 * pages back (malloc_trim). Returns at once; store_info's purges counts the
 * requests carried out, within a sweeper tick (10 ms) plus a grace period.
 */
void store_purge(void);

/* ---- INFO (info.c) -------------------------------------------------------- */

/*
 * Append the INFO text for section (NULL or "" or "default" or "all":
 * every section) to a malloc'ed string. Return it, or NULL on ENOMEM.
 * An unknown section gives an empty string, as Redis does.
 */
char *info_text(const char *section, size_t section_len);

/* ---- pattern matching (glob.c) ------------------------------------------ */

/* Redis glob-style match: * ? [abc] [^a-z] and \ escapes. Return 1 or 0. */
int glob_match(const char *pat, size_t plen, const char *s, size_t slen, int nocase);

#endif /* RCUMAPD_H */
