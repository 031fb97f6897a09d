/* SPDX-License-Identifier: MIT */
/* tsan.h: happens-before edges ThreadSanitizer cannot see (call_rcu -> callback). */
#ifndef RCUMAP_TSAN_H
#define RCUMAP_TSAN_H

/*
 * Production code for anyone who builds their program, and rcumap with it,
 * under -fsanitize=thread: call_rcu hands a retired object to the callback
 * thread through liburcu's queue, whose atomics TSan does not see
 * (docs/testing.md, the TSan tier). Each tsan_release before a call_rcu
 * pairs with the tsan_acquire at the top of its callback. Empty otherwise.
 */

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RCUMAP_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define RCUMAP_TSAN 1
#endif

#ifdef RCUMAP_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define tsan_release(p) __tsan_release((void *)(p))
#define tsan_acquire(p) __tsan_acquire((void *)(p))
#else
#define tsan_release(p) do { } while (0)
#define tsan_acquire(p) do { } while (0)
#endif

#endif /* RCUMAP_TSAN_H */
