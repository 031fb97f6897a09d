/* SPDX-License-Identifier: MIT */
/* iter_misuse.c: test_iter's misuse test: in debug builds, a misused iterator aborts with a message naming it. */

#define _GNU_SOURCE

#include "flavor.h" /* first: the liburcu flavor header */

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cmocka.h>

#include <rcumap.h>

#include "fixture.h"
#include "iter_tests.h"

/* ---- Debug builds: misuse aborts with a message naming it ------------------------------- */

#ifdef RCUMAP_DEBUG
/*
 * Each case runs in a forked child whose stderr goes to a pipe; the child
 * must die of SIGABRT having printed the message. The parent prepares what
 * needs a grace period (an iterator whose section has ended) and forks from
 * outside any read section; the child enters one itself where the case needs
 * it. bp is fork-safe; memb and qsbr need liburcu's call_rcu fork hooks
 * (call_rcu_before_fork and the two after_fork calls), which are called
 * around every fork. So make check runs
 * this for bp (test_iter_debug) and qsbr (test_iter_debug_qsbr), and an
 * --enable-debug build for every flavor. For qsbr, "outside a read section"
 * is an offline thread.
 */
struct misuse {
	struct rcumap *a, *b;
	struct rcumap_iter it;
};

static void expect_abort(void (*fn)(struct misuse *m), struct misuse *m, const char *who,
			 const char *phrase)
{
	int pfd[2], status = 0;
	char buf[2048];
	size_t used = 0;
	ssize_t r;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	fflush(stdout);
	fflush(stderr);
	/*
	 * call_rcu_before_fork waits for the call_rcu worker to pause, and the
	 * worker may be waiting for a grace period: this thread must hold no
	 * read section (memb, bp) and be offline (qsbr) meanwhile.
	 */
	test_offline();
	call_rcu_before_fork();
	pid = fork();
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		call_rcu_after_fork_child();
		setrlimit(RLIMIT_CORE, &no_core); /* no core file in the build tree */
		dup2(pfd[1], STDERR_FILENO);
		close(pfd[0]);
		fn(m); /* starts offline under qsbr */
		_exit(0); /* the misuse went unnoticed */
	}
	call_rcu_after_fork_parent();
	test_online();
	assert_true(pid > 0);
	close(pfd[1]);
	while (used < sizeof(buf) - 1 && (r = read(pfd[0], buf + used, sizeof(buf) - 1 - used)) > 0)
		used += (size_t)r;
	buf[used] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("the child %s %d instead of aborting; stderr: %s",
			 WIFSIGNALED(status) ? "died of signal" : "exited with",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), buf);
	if (!strstr(buf, who) || !strstr(buf, phrase))
		fail_msg("the abort message does not name \"%s\" and \"%s\": %s", who, phrase, buf);
	print_message("# aborted as expected: %s", buf);
}

static void next_on(struct rcumap *map, struct rcumap_iter *it)
{
	const void *key;
	size_t len;
	void *value;

	(void)rcumap_iter_next(map, it, &key, &len, &value);
}

/* In one read section: initialised for map a, used with map b. */
static void child_next_other_map(struct misuse *m)
{
	test_online();
	test_reader_enter();
	if (rcumap_iter_init(m->a, &m->it) == 0)
		next_on(m->b, &m->it);
}

/* Initialised in a section that has ended; used outside any section. */
static void child_next_outside(struct misuse *m)
{
	next_on(m->a, &m->it);
}

/* Initialised in a section that a grace period has ended; used in a new one. */
static void child_next_in_a_later_section(struct misuse *m)
{
	test_online();
	test_reader_enter();
	next_on(m->a, &m->it);
}

static void child_init_outside(struct misuse *m)
{
	(void)rcumap_iter_init(m->a, &m->it);
}

static void child_next_uninitialised(struct misuse *m)
{
	memset(&m->it, 0, sizeof(m->it));
	test_online();
	test_reader_enter();
	next_on(m->a, &m->it);
}

static void debug_build_aborts_on_iterator_misuse_with_a_message_naming_it(void **state)
{
	struct misuse *m = calloc(1, sizeof(*m));
	struct rcumap_config cfg = { .flavor = RCUMAP_FLAVOR };
	const void *key;
	size_t len, n = 0;
	void *value;

	(void)state;
	assert_non_null(m);
	assert_rc(rcumap_create(&cfg, &m->a), 0);
	assert_rc(rcumap_create(&cfg, &m->b), 0);
	for (int i = 0; i < 20; i++) {
		unsigned char k[KEY_BUF];

		assert_rc(rcumap_insert(m->a, k, key_make((size_t)i, k), m), 0);
	}

	expect_abort(child_next_other_map, m, "rcumap_iter_next", "another map");

	/* No grace period yet: only "outside" can be noticed. */
	test_reader_enter();
	assert_rc(rcumap_iter_init(m->a, &m->it), 0);
	test_reader_leave();
	expect_abort(child_next_outside, m, "rcumap_iter_next", "outside a read section");

	/*
	 * The check notices a section that has ended once the ticket's
	 * callback has run after a grace period, which the barrier waits for.
	 */
	test_reader_enter();
	assert_rc(rcumap_iter_init(m->a, &m->it), 0);
	test_reader_leave();
	test_quiesce();
	assert_rc(rcumap_barrier(m->a), 0);
	expect_abort(child_next_in_a_later_section, m, "rcumap_iter_next",
		     "read section it started in has ended");

	expect_abort(child_init_outside, m, "rcumap_iter_init", "outside a read section");
	expect_abort(child_next_uninitialised, m, "rcumap_iter_next", "not initialised");

	/* Positive control: correct use after all that does not abort. */
	test_reader_enter();
	assert_rc(rcumap_iter_init(m->a, &m->it), 0);
	while (rcumap_iter_next(m->a, &m->it, &key, &len, &value) == 1)
		n++;
	test_reader_leave();
	assert_size(n, 20);
	assert_rc(rcumap_destroy(m->a), 0);
	assert_rc(rcumap_destroy(m->b), 0);
	free(m);
}

static const struct CMUnitTest tests[] = {
	ITER_TEST(debug_build_aborts_on_iterator_misuse_with_a_message_naming_it),
};

const struct fx_group iter_misuse_tests = FX_GROUP_OF(tests);
#else
/* Release builds return -EINVAL instead (iter_plain.c checks that): no test here. */
const struct fx_group iter_misuse_tests = { NULL, 0 };
#endif
