/* SPDX-License-Identifier: MIT */
/* siphash.h: SipHash-c-d, inline so the default hash costs no call. */
#ifndef RCUMAP_SIPHASH_H
#define RCUMAP_SIPHASH_H

/*
 * Written from the SipHash paper (Aumasson and Bernstein, 2012). SipHash-1-3
 * is the default: no seed-independent collisions are known for it, and it
 * costs about 7-12 ns for an 8-32 byte key here (docs/design.md, "Hashing").
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

#define SIPROUND(v0, v1, v2, v3)                                              \
	do {                                                                  \
		v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);     \
		v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                        \
		v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                        \
		v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);     \
	} while (0)

static inline uint64_t siphash_inline(const uint64_t key[2], const void *data,
			       size_t len, int c, int d)
{
	const unsigned char *p = data;
	uint64_t v0 = key[0] ^ 0x736f6d6570736575ULL;
	uint64_t v1 = key[1] ^ 0x646f72616e646f6dULL;
	uint64_t v2 = key[0] ^ 0x6c7967656e657261ULL;
	uint64_t v3 = key[1] ^ 0x7465646279746573ULL;
	uint64_t m, last = (uint64_t)(len & 0xff) << 56;
	size_t full = len & ~(size_t)7;
	int i;

	for (size_t off = 0; off < full; off += 8) {
		m = load_le64(p + off);
		v3 ^= m;
		for (i = 0; i < c; i++)
			SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (size_t k = 0; k < (len & 7); k++)
		last |= (uint64_t)p[full + k] << (8 * k);
	v3 ^= last;
	for (i = 0; i < c; i++)
		SIPROUND(v0, v1, v2, v3);
	v0 ^= last;
	v2 ^= 0xff;
	for (i = 0; i < d; i++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

#endif /* RCUMAP_SIPHASH_H */
