/* SPDX-License-Identifier: MIT */
/* testutil.h: cmocka assertions and helpers shared by the unit tests and the fault scripts. */
#ifndef RCUMAP_TESTLIB_TESTUTIL_H
#define RCUMAP_TESTLIB_TESTUTIL_H

/* Include after flavor.h, <cmocka.h> and <rcumap.h>. */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

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

#endif /* RCUMAP_TESTLIB_TESTUTIL_H */
