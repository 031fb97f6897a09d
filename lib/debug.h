/* SPDX-License-Identifier: MIT */
/* debug.h: the checks of debug builds (--enable-debug): misuse, lock rules, invariants. */
#ifndef RCUMAP_DEBUG_H
#define RCUMAP_DEBUG_H

/*
 * With -DRCUMAP_DEBUG (configure --enable-debug) the library stops loudly,
 * with a message on stderr and abort(), on a caller's misuse that release
 * builds cannot detect cheaply, and on a broken invariant of its own
 * (docs/design.md, I1-I9). Release builds compile every check here away:
 * there the conditions are not even evaluated, and nothing aborts.
 */

#include <stdio.h>
#include <stdlib.h>

#ifdef RCUMAP_DEBUG
#define RCUMAP_DEBUG_ON 1
#else
#define RCUMAP_DEBUG_ON 0
#endif

#define debug_fail(...)                                                        \
	do {                                                                   \
		if (RCUMAP_DEBUG_ON) {                                         \
			fprintf(stderr, "rcumap: " __VA_ARGS__);               \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

/* An invariant of docs/design.md (label: "I2", ...) that must hold here. */
#define debug_assert(label, cond)                                              \
	do {                                                                   \
		if (RCUMAP_DEBUG_ON && !(cond))                                \
			debug_fail("%s:%d: invariant %s broken: %s", __FILE__, \
				   __LINE__, label, #cond);                    \
	} while (0)

#endif /* RCUMAP_DEBUG_H */
