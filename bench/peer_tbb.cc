/* SPDX-License-Identifier: MIT */
/* peer_tbb.cc: oneTBB's concurrent_hash_map<uint64_t, uint64_t> as a bench/mapbench peer. */

/*
 * tbb::concurrent_hash_map with bench_hash as its hash. Gets take a
 * const_accessor (a per-element read lock), as the TBB documentation shows;
 * inserts and erases lock the element and its bucket themselves. No RCU:
 * thread_init/fini are no-ops and erased entries are freed at once. TBB
 * keeps no accounts the peer could report, so mem is NULL.
 *
 * The C++ side never lets an exception reach the C driver: allocation
 * failures become -ENOMEM.
 */

#include <cerrno>
#include <cstdint>
#include <new>

#include <tbb/concurrent_hash_map.h>

#include "peer.h"

namespace {

struct bench_hash_compare {
	static std::size_t hash(const std::uint64_t &key)
	{
		return static_cast<std::size_t>(bench_hash(key));
	}
	static bool equal(const std::uint64_t &a, const std::uint64_t &b)
	{
		return a == b;
	}
};

typedef tbb::concurrent_hash_map<std::uint64_t, std::uint64_t, bench_hash_compare> tbb_map;

int tcreate(const struct peer_params *p, void **table)
{
	tbb_map *m;

	try {
		if (p->presize)
			m = new tbb_map(static_cast<tbb_map::size_type>(p->presize));
		else
			m = new tbb_map();
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	}
	*table = m;
	return 0;
}

void tdestroy(void *table)
{
	delete static_cast<tbb_map *>(table);
}

void tthread_op(void)
{
}

#define TBB_NO_BATCH_OP(t) ((void)(t))

inline std::uint64_t tget_in(tbb_map *m, std::uint64_t key)
{
	tbb_map::const_accessor a;

	return m->find(a, key) ? a->second : 0;
}

inline int tinsert_in(tbb_map *m, std::uint64_t key, std::uint64_t value)
{
	try {
		return m->insert(tbb_map::value_type(key, value)) ? 1 : 0;
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	}
}

inline int tremove_in(tbb_map *m, std::uint64_t key)
{
	return m->erase(key) ? 1 : 0;
}

BENCH_DEFINE_RUN(trun, tbb_map, TBB_NO_BATCH_OP, TBB_NO_BATCH_OP, TBB_NO_BATCH_OP,
		 tget_in, tinsert_in, tremove_in)

std::uint64_t tget(void *table, std::uint64_t key)
{
	return tget_in(static_cast<tbb_map *>(table), key);
}

int tinsert(void *table, std::uint64_t key, std::uint64_t value)
{
	return tinsert_in(static_cast<tbb_map *>(table), key, value);
}

int tremove(void *table, std::uint64_t key)
{
	return tremove_in(static_cast<tbb_map *>(table), key);
}

/* Exact when quiet (TBB's own size()). */
std::uint64_t tcount(void *table)
{
	return static_cast<tbb_map *>(table)->size();
}

} /* namespace */

/* Positional: designated initialisers are C++20; the order is peer.h's. */
extern "C" const struct bench_peer peer_tbb = {
	"tbb",			/* name */
	"-",			/* flavor */
	PEER_CONCURRENT_WRITES,	/* caps */
	0,			/* user_bytes_per_entry */
	tcreate,
	tdestroy,
	tthread_op,		/* thread_init */
	tthread_op,		/* thread_fini */
	trun,
	tget,
	tinsert,
	tremove,
	nullptr,		/* remove_stamped */
	nullptr,		/* resize */
	nullptr,		/* barrier */
	nullptr,		/* mem */
	tcount,
	nullptr,		/* read_lock */
	nullptr,		/* read_unlock */
	nullptr,		/* insert_held */
	nullptr,		/* run_lookups */
	nullptr,		/* get_batch */
};
