/* SPDX-License-Identifier: MIT */
/* peer.h: the interface every map measured by bench/mapbench implements. */
#ifndef RCUMAP_BENCH_PEER_H
#define RCUMAP_BENCH_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "workload.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a peer can take part in (bench_peer.caps). */
enum {
	/* Any number of threads may update concurrently. */
	PEER_CONCURRENT_WRITES = 1u << 0,
	/* Updates only from one thread at a time (ck_ht): single-thread mixes
	 * and fills, any thread count for 100% lookups. */
	PEER_SINGLE_WRITER = 1u << 1,
	/* No synchronisation at all: only the read-only ceiling and a
	 * single-threaded build. */
	PEER_UNSYNCHRONISED = 1u << 2,
	/* resize() forces a grow or shrink while other threads run. */
	PEER_CAN_RESIZE = 1u << 3,
	/* on_reclaim is called for every removed value (reclamation runs). */
	PEER_TRACKS_RECLAIM = 1u << 4,
};

/* Creation parameters. */
struct peer_params {
	/* Entries expected: the table is pre-sized for this many. 0: the
	 * peer's smallest size, grown by the workload (Growt's "growing"). */
	uint64_t presize;
	/*
	 * Reclamation runs only (PEER_TRACKS_RECLAIM; NULL otherwise): called
	 * once per removed entry when the peer really frees it (after the
	 * grace period for RCU peers), with the entry's value and the
	 * now_ns() of its removal, which the peer records when
	 * remove_stamped() removes it.
	 */
	void (*on_reclaim)(uint64_t value, uint64_t removed_ns, void *arg);
	void *on_reclaim_arg;
};

/* Memory the peer accounts for itself (bytes); 0 when it cannot tell. */
struct peer_mem {
	uint64_t live_bytes;	/* table, buckets, nodes, key copies */
	uint64_t pending_bytes;	/* retired, waiting for a grace period */
};

struct bench_peer {
	const char *name;	/* "rcumap-memb", "lfht-qsbr", "rwlock", ... */
	const char *flavor;	/* "memb", "qsbr" or "-" (no RCU) */
	unsigned caps;
	/* Bytes per entry that a user of the peer must add to every entry
	 * (cds_lfht: the rcu_head). The peer embeds them in its own nodes, so
	 * they are already in its RSS; reported to show what they cost. */
	unsigned user_bytes_per_entry;

	/* 0 or a negative errno. */
	int (*create)(const struct peer_params *p, void **table);
	/* Frees everything, waiting for pending reclamation first. Called
	 * from a registered (online) thread. */
	void (*destroy)(void *table);

	/* Every thread that touches the table calls these first and last
	 * (RCU registration; no-ops for the locked peers). */
	void (*thread_init)(void);
	void (*thread_fini)(void);

	/* The measured loop (BENCH_DEFINE_RUN), from a registered thread. */
	void (*run)(void *table, const struct bench_work *w, struct bench_counts *out);

	/* Single operations, for building, checking and the special runs;
	 * each takes its own read section where one is needed. get: the
	 * value, 0 if absent; insert: 1 inserted, 0 present, negative errno;
	 * remove: 1 removed, 0 absent. */
	uint64_t (*get)(void *table, uint64_t key);
	int (*insert)(void *table, uint64_t key, uint64_t value);
	int (*remove)(void *table, uint64_t key);
	/* PEER_TRACKS_RECLAIM: remove and stamp the entry with now_ns for
	 * on_reclaim. */
	int (*remove_stamped)(void *table, uint64_t key, uint64_t now_ns);

	/* PEER_CAN_RESIZE: move the table to about @buckets buckets now (0:
	 * the size the peer's own policy picks for its current count); 0, or
	 * -EBUSY when the peer cannot start one yet (then retry). */
	int (*resize)(void *table, uint64_t buckets);
	/* Wait until everything removed so far is reclaimed (rcu_barrier);
	 * NULL for peers that free at once. */
	void (*barrier)(void *table);
	/* NULL when the peer keeps no accounts. */
	void (*mem)(void *table, struct peer_mem *out);
	/* Entries now (exact when quiet). */
	uint64_t (*count)(void *table);

	/* RCU peers, for the bulk run (NULL elsewhere): enter and leave the
	 * caller's read section (qsbr: nothing, online is the section), and
	 * insert inside one, announcing no quiescent state. peer_tbb.cc's
	 * positional initialiser names every member: new ones go last and
	 * get a line there too. */
	void (*read_lock)(void);
	void (*read_unlock)(void);
	int (*insert_held)(void *table, uint64_t key, uint64_t value);

	/* Peers with a batched lookup, for the batch experiment (both NULL
	 * elsewhere): the lookup loop (BENCH_DEFINE_LOOKUP_RUN, from a
	 * registered thread), and one batched call of n (at most
	 * BENCH_BATCH_KEYS_MAX) keys b->key[] in its own read section, which
	 * writes b->val[] and returns how many it found. */
	void (*run_lookups)(void *table, const struct bench_work *w, struct bench_counts *out);
	long (*get_batch)(void *table, unsigned n, struct bench_batch *b);
};

/* Every peer compiled in, NULL-terminated (bench/peers.c). */
extern const struct bench_peer *const bench_peers[];

#ifdef __cplusplus
}
#endif

#endif /* RCUMAP_BENCH_PEER_H */
