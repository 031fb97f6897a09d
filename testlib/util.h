/* SPDX-License-Identifier: MIT */
/* util.h: small helpers shared by the tests, torture, bench and the examples. */
#ifndef RCUMAP_TESTLIB_UTIL_H
#define RCUMAP_TESTLIB_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* Parse a decimal in [min, max]; 0 on success, -1 on anything else. */
static inline int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')	/* strtoull would accept "-1" and " 1" */
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Bijective 64-bit mixer (xor-shifts and odd multiplies, each invertible). */
static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 31;
	x *= UINT64_C(0xd6e8feb86659fd93);
	x ^= x >> 29;
	x *= UINT64_C(0x9fb21c651e98df25);
	x ^= x >> 32;
	return x;
}

/* A Weyl sequence through the mixer: a fast, seedable per-thread generator. */
static inline uint64_t rng_next(uint64_t *state)
{
	*state += UINT64_C(0x9e3779b97f4a7c15);
	return mix64(*state);
}

/* Uniform in [0, n) without division (multiply-shift). */
static inline uint64_t rng_below(uint64_t *state, uint64_t n)
{
#ifdef __SIZEOF_INT128__
	return (uint64_t)(((unsigned __int128)rng_next(state) * n) >> 64);
#else
	/* 32-bit targets (armhf): the high half of the same product, from 32-bit parts. */
	uint64_t x = rng_next(state), t, u;

	t = (x >> 32) * (uint32_t)n + ((uint32_t)x * (uint64_t)(uint32_t)n >> 32);
	u = (uint32_t)x * (n >> 32) + (uint32_t)t;
	return (x >> 32) * (n >> 32) + (t >> 32) + (u >> 32);
#endif
}

static inline double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The name of an rcumap return code, for messages. */
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

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts v in place. */
static inline double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The smallest power of two >= n and >= min (a power of two), at most 2^62. */
static inline uint64_t pow2_at_least(uint64_t n, uint64_t min)
{
	uint64_t p = min;

	while (p < n && p < (UINT64_C(1) << 62))
		p <<= 1;
	return p;
}

#endif /* RCUMAP_TESTLIB_UTIL_H */
