/* SPDX-License-Identifier: MIT */
/* flavor.h: the one liburcu flavor a test binary is built for, and the thread-state seam. */
#ifndef RCUMAP_TESTLIB_FLAVOR_H
#define RCUMAP_TESTLIB_FLAVOR_H

/*
 * Build with exactly one of -DRCUMAP_TEST_FLAVOR_MEMB, -DRCUMAP_TEST_FLAVOR_QSBR,
 * -DRCUMAP_TEST_FLAVOR_BP. The top-level headers (<urcu.h>, <urcu-qsbr.h>,
 * <urcu-bp.h>) keep the unprefixed names (rcu_read_lock, rcu_flavor, ...)
 * mapped to that flavor; <urcu/urcu-memb.h> alone would clear them.
 */
#if (defined(RCUMAP_TEST_FLAVOR_MEMB) + defined(RCUMAP_TEST_FLAVOR_QSBR) + \
     defined(RCUMAP_TEST_FLAVOR_BP)) != 1
#error "define exactly one of RCUMAP_TEST_FLAVOR_MEMB, _QSBR, _BP"
#endif

#if defined(RCUMAP_TEST_FLAVOR_MEMB)
#ifndef RCU_MEMBARRIER
#define RCU_MEMBARRIER
#endif
#include <urcu.h>
#define TEST_FLAVOR_NAME "memb"
#define TEST_FLAVOR_QSBR 0
#elif defined(RCUMAP_TEST_FLAVOR_QSBR)
#include <urcu-qsbr.h>
#define TEST_FLAVOR_NAME "qsbr"
#define TEST_FLAVOR_QSBR 1
#else
#include <urcu-bp.h>
#define TEST_FLAVOR_NAME "bp"
#define TEST_FLAVOR_QSBR 0
#endif

/*
 * Thread states the tests need, per flavor:
 * - "reader": inside a read section. memb/bp: rcu_read_lock held.
 *   qsbr: online and not passing a quiescent state (rcu_read_lock is a no-op).
 * - "offline": about to block on something that is not RCU (join, condvar,
 *   sleep). Only qsbr cares: an online thread that blocks stalls every grace
 *   period, so it goes offline. memb/bp: nothing to do.
 * - "quiesce": a point where the thread holds no RCU-protected pointer. qsbr
 *   announces it so that grace periods progress; memb/bp: nothing.
 */
static inline void test_thread_register(void)
{
	rcu_register_thread(); /* bp: optional, makes the first read lock cheaper */
}

static inline void test_thread_unregister(void)
{
	rcu_unregister_thread();
}

static inline void test_reader_enter(void)
{
	rcu_read_lock();
}

static inline void test_reader_leave(void)
{
	rcu_read_unlock();
}

static inline void test_offline(void)
{
	rcu_thread_offline(); /* no-op for memb and bp */
}

static inline void test_online(void)
{
	rcu_thread_online(); /* no-op for memb and bp */
}

static inline void test_quiesce(void)
{
	rcu_quiescent_state(); /* no-op for memb and bp */
}

/*
 * Put the calling thread back into its normal test state (registered,
 * outside any read section, and for qsbr online) after a failed test may
 * have left it inside a read section or offline.
 */
static inline void test_thread_reset(void)
{
#if TEST_FLAVOR_QSBR
	if (!rcu_read_ongoing()) /* qsbr: "ongoing" means online */
		rcu_thread_online();
	rcu_quiescent_state();
#else
	while (rcu_read_ongoing())
		rcu_read_unlock();
#endif
}

#endif /* RCUMAP_TESTLIB_FLAVOR_H */
