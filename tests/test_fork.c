/* SPDX-License-Identifier: MIT */
/*
 * test_fork.c: a map after fork(), as include/rcumap.h ("fork()") documents
 * it, once per liburcu flavor (test_fork_memb, _qsbr, _bp).
 *
 * The parent keeps the rules: call_rcu's fork hooks around fork(), bp's own
 * hooks with bp, no other registered thread (memb, qsbr) and no other
 * thread inside a call on the map. Then the child must be able to use the
 * map it inherited in every way (lookups, updates, a resize, a clear, a
 * barrier, validate, destroy), and the parent's map must be unaffected by
 * what the child did. A child that hangs is killed by alarm() and fails the
 * test; so does one that breaks a check (exit status = the failed step).
 */
#include "flavor.h" /* first: the liburcu flavor header */

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <rcumap.h>

#include "testutil.h"

#define NKEYS 2000
#define CHILD_SECONDS 30

/* Values are tagged integers (never dereferenced); frees are counted per process. */
static unsigned long freed;

static void count_free(void *value, void *arg)
{
	(void)value, (void)arg;
	__atomic_fetch_add(&freed, 1, __ATOMIC_RELAXED);
}

static void *val(uint64_t i)
{
	return (void *)(uintptr_t)((i << 1) | 1);
}

static struct rcumap *make_map(void)
{
	struct rcumap_config cfg = {
		.flavor = RCUMAP_FLAVOR,
		.free_value = count_free,
	};
	struct rcumap *map = NULL;

	assert_rc(rcumap_create(&cfg, &map), 0);
	for (uint64_t i = 0; i < NKEYS; i++)
		assert_rc(rcumap_insert(map, &i, sizeof(i), val(i)), 0);
	return map;
}

/* Key i's value in map, read in a read section of its own. */
static void *get(struct rcumap *map, uint64_t i)
{
	void *v;

	test_reader_enter();
	v = rcumap_get(map, &i, sizeof(i));
	test_reader_leave();
	return v;
}

/* The child: every step must pass, or it exits with the step's number. */
static int child_work(struct rcumap *map)
{
	uint64_t i, n = 0;
	struct rcumap_stats st;

	for (i = 0; i < NKEYS; i++)
		if (get(map, i) != val(i))
			return 10;
	for (i = 0; i < NKEYS; i += 2)  /* half the keys get new values */
		if (rcumap_put(map, &i, sizeof(i), val(i + NKEYS)) != 0)
			return 11;
	for (i = 1; i < NKEYS; i += 4)  /* a quarter go */
		if (rcumap_delete(map, &i, sizeof(i)) != 0)
			return 12;
	for (i = NKEYS; i < 3 * NKEYS; i++)  /* new keys: the table grows */
		if (rcumap_insert(map, &i, sizeof(i), val(i)) != 0)
			return 13;
	if (rcumap_resize(map, 16 * NKEYS) != 0)
		return 14;
	if (rcumap_count(map) != 3 * NKEYS - NKEYS / 4)
		return 15;
	if (rcumap_validate(map) != 0)
		return 16;
	test_reader_enter();
	{
		struct rcumap_iter it;
		const void *key;
		size_t len;

		if (rcumap_iter_init(map, &it) != 0)
			return 17;
		while (rcumap_iter_next(map, &it, &key, &len, NULL) == 1)
			n++;
	}
	test_reader_leave();
	if (n != 3 * NKEYS - NKEYS / 4)
		return 18;
	if (rcumap_clear(map) != 0 || rcumap_count(map) != 0)
		return 19;
	if (rcumap_resize(map, 0) != 0)
		return 20;
	/* Grace periods end in the child: everything retired is reclaimed. */
	if (rcumap_barrier(map) != 0)
		return 21;
	if (rcumap_stats(map, &st) != 0 || st.kind[RCUMAP_KIND_ENTRY].retired !=
	    st.kind[RCUMAP_KIND_ENTRY].reclaimed)
		return 22;
	/* Every value the child replaced, deleted or cleared was freed. */
	if (__atomic_load_n(&freed, __ATOMIC_RELAXED) != 3 * NKEYS + NKEYS / 2)
		return 23;
	if (rcumap_destroy(map) != 0)
		return 24;
	return 0;
}

/* fork() under the rules of rcumap.h; returns what fork returned. */
static pid_t fork_by_the_rules(void)
{
	pid_t pid;

	/* call_rcu_before_fork waits for the worker, which may wait for a grace period. */
	test_offline();
	call_rcu_before_fork();
#ifdef RCUMAP_TEST_FLAVOR_BP
	rcu_bp_before_fork();
#endif
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
#ifdef RCUMAP_TEST_FLAVOR_BP
		rcu_bp_after_fork_child();
#endif
		call_rcu_after_fork_child();
	} else {
#ifdef RCUMAP_TEST_FLAVOR_BP
		rcu_bp_after_fork_parent();
#endif
		call_rcu_after_fork_parent();
	}
	test_online();
	return pid;
}

/* Wait for child pid; fail if it died of a signal (SIGALRM: it hung) or exited non-zero. */
static void wait_child(pid_t pid, const char *what)
{
	int status = 0;

	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("the child died of signal %d%s", WTERMSIG(status),
			 WTERMSIG(status) == SIGALRM ? " (it hung)" : "");
	if (WEXITSTATUS(status) != 0)
		fail_msg("the child failed at step %d %s", WEXITSTATUS(status), what);
}

static void test_child_uses_inherited_map(void **state)
{
	struct rcumap *map = make_map();
	pid_t pid;

	(void)state;
	/* A migration left half done by the parent is the child's to finish. */
	assert_rc(rcumap_barrier(map), 0);
	pid = fork_by_the_rules();
	if (pid == 0) {
		alarm(CHILD_SECONDS);  /* a hang fails the test instead of stalling it */
		_exit(child_work(map));
	}
	wait_child(pid, "of child_work()");

	/* The parent's map saw none of it. */
	for (uint64_t i = 0; i < NKEYS; i++)
		assert_ptr_equal(get(map, i), val(i));
	assert_size(rcumap_count(map), NKEYS);
	assert_rc(rcumap_validate(map), 0);
	assert_rc(rcumap_destroy(map), 0);
}

/* The same with a resize under way in the parent at fork() (no thread inside a call). */
static void test_child_finishes_pending_migration(void **state)
{
	struct rcumap *map = make_map();
	struct rcumap_stats st;
	pid_t pid;

	(void)state;
	/* Grow by updates only: the migration moves on in chunks, so one is pending. */
	for (uint64_t i = NKEYS; i < 2 * NKEYS + 600; i++)
		assert_rc(rcumap_insert(map, &i, sizeof(i), val(i)), 0);
	assert_rc(rcumap_stats(map, &st), 0);
	pid = fork_by_the_rules();
	if (pid == 0) {
		alarm(CHILD_SECONDS);
		if (rcumap_resize(map, 0) != 0 || rcumap_validate(map) != 0)
			_exit(1);
		for (uint64_t i = 0; i < 2 * NKEYS + 600; i++)
			if (get(map, i) != val(i))
				_exit(2);
		_exit(rcumap_barrier(map) == 0 && rcumap_destroy(map) == 0 ? 0 : 3);
	}
	wait_child(pid, st.resizing ? "(a migration was pending at fork)" : "(no migration was pending at fork)");
	assert_rc(rcumap_validate(map), 0);
	assert_rc(rcumap_destroy(map), 0);
}

static int setup(void **state)
{
	(void)state;
	test_thread_register();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_thread_unregister();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_child_uses_inherited_map),
		cmocka_unit_test(test_child_finishes_pending_migration),
	};

	return cmocka_run_group_tests_name("fork_" TEST_FLAVOR_NAME, tests, setup, teardown);
}
