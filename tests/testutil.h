/* SPDX-License-Identifier: MIT */
/* testutil.h: assertions and helpers shared by the cmocka test programs. */
#ifndef RCUMAP_TESTUTIL_H
#define RCUMAP_TESTUTIL_H

/* Include after flavor.h, <cmocka.h> and <rcumap.h>. */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline const char *errname(int rc)
{
	switch (rc) {
	case 0: return "0";
	case 1: return "1";
	case -EINVAL: return "-EINVAL";
	case -ENOMEM: return "-ENOMEM";
	case -EEXIST: return "-EEXIST";
	case -ENOENT: return "-ENOENT";
	case -EAGAIN: return "-EAGAIN";
	case -EBUSY: return "-EBUSY";
	case -EDEADLK: return "-EDEADLK";
	case -EUCLEAN: return "-EUCLEAN";
	case -ENOSPC: return "-ENOSPC (test value pool exhausted)";
	default: return "?";
	}
}

/* Compare an int return code and print both as errno names on mismatch. */
#define assert_rc(expr, want)                                                     \
	do {                                                                      \
		int rc_ = (expr), want_ = (want);                                 \
		if (rc_ != want_)                                                 \
			fail_msg("%s returned %d (%s), expected %d (%s)", #expr,  \
				 rc_, errname(rc_), want_, errname(want_));       \
	} while (0)

#define assert_size(a, b)                                                         \
	do {                                                                      \
		unsigned long long a_ = (a), b_ = (b);                            \
		if (a_ != b_)                                                     \
			fail_msg("%s == %llu, expected %s == %llu", #a, a_, #b, b_); \
	} while (0)

/* tests/valgrind.sh sets RCUMAP_TEST_VALGRIND=1: scale the largest loops down. */
static inline bool under_valgrind(void)
{
	const char *e = getenv("RCUMAP_TEST_VALGRIND");

	return e && strcmp(e, "1") == 0;
}

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* rcumap_resize, retrying -EBUSY after a barrier as the header prescribes. */
static inline int resize_retry(struct rcumap *map, size_t slots)
{
	int rc = -EBUSY;

	for (int i = 0; i < 100 && rc == -EBUSY; i++) {
		rc = rcumap_resize(map, slots);
		if (rc == -EBUSY)
			assert_rc(rcumap_barrier(map), 0);
	}
	return rc;
}

#endif /* RCUMAP_TESTUTIL_H */
