/* hash.c: the default hash: keyed AES rounds (x86-64 AES-NI) chosen at run time, SipHash-1-3 as the fallback. */
#include <string.h>

#include "hash.h"

/*
 * docs/design.md, "Hashing", gives the argument; in short, with T the
 * keyless AES round (SubBytes, ShiftRows, MixColumns), so that
 * AESENC(s, k) = T(s) ^ k, and k[0..9] the map's ten random 128-bit keys:
 *
 *   L      = len * 0x0101010101010101 in both 64-bit halves (injective)
 *   lane(x, i) = T(T(x ^ k[i]) ^ k[i+1] ^ L) ^ k[i+2]   (first block)
 *   step(s, x, i) = T(T(s ^ x) ^ k[i+1]) ^ k[i+2]       (later blocks)
 *   out(s) = low 64 bits ^ high 64 bits
 *
 *   0..16 bytes:  m = the key zero-padded to 16 bytes;
 *                 out(T(T(T(T(m ^ k0) ^ k1 ^ L) ^ k2) ^ k6) ^ k7)
 *   17..32 bytes: a = lane(first 16 bytes, 0), c = lane(last 16 bytes, 3);
 *                 out(T(T(a ^ c) ^ k6) ^ k8)
 *   33.. bytes:   a, c = lane() of bytes 0..15 and 16..31, then step() over
 *                 each further 32 bytes (a takes the first 16, c the second),
 *                 the last 32 bytes of the key taken whole (overlapping);
 *                 out(T(T(a ^ c) ^ k6) ^ k9)
 *
 * Every byte enters (the loads cover the key, and overlapping loads are
 * injective once the length is fixed), the length enters through L after
 * one keyed round, and each length class ends on a key no other class uses.
 */

#define LEN_SPREAD 0x0101010101010101ULL

/* 1: the AES path; 0: SipHash-1-3. Written by rcumap__hash_init/force. */
static int use_aes;

static inline uint64_t ld64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t ld32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AES_PATH 1
#include <cpuid.h>
#include <immintrin.h>

#define AES_TARGET __attribute__((target("aes,sse4.1")))

static int cpu_has_aes(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	return (c & bit_AES) && (c & bit_SSE4_1);
}

/* Round key i of the map (16 bytes at seed + 2i, unaligned). */
static inline AES_TARGET __m128i rk(const uint64_t *seed, int i)
{
	return _mm_loadu_si128((const __m128i *)(const void *)(seed + 2 * i));
}

static inline AES_TARGET __m128i enc(__m128i s, __m128i k)
{
	return _mm_aesenc_si128(s, k);
}

static inline AES_TARGET __m128i load16(const unsigned char *p)
{
	return _mm_loadu_si128((const __m128i *)(const void *)p);
}

static inline AES_TARGET uint64_t out(__m128i s)
{
	return (uint64_t)_mm_cvtsi128_si64(s) ^ (uint64_t)_mm_extract_epi64(s, 1);
}

/* The first block of a lane: two rounds, the length in the first key. */
static inline AES_TARGET __m128i lane(const uint64_t *seed, int i, __m128i x, __m128i l)
{
	x = enc(_mm_xor_si128(x, rk(seed, i)), _mm_xor_si128(rk(seed, i + 1), l));
	return enc(x, rk(seed, i + 2));
}

/* A later block of a lane: absorbed, then two rounds. */
static inline AES_TARGET __m128i step(const uint64_t *seed, int i, __m128i s,
				      const unsigned char *p)
{
	s = enc(_mm_xor_si128(s, load16(p)), rk(seed, i + 1));
	return enc(s, rk(seed, i + 2));
}

static __attribute__((noinline)) AES_TARGET uint64_t
aes_hash(const uint64_t *seed, const unsigned char *p, size_t len)
{
	__m128i l = _mm_set1_epi64x((long long)(len * LEN_SPREAD));
	__m128i s, a, c;

	if (len <= 16) {
		/* The key zero-padded to 16 bytes, never reading past it. */
		if (len > 8) {
			uint64_t hi = ld64(p + len - 8) >> (8 * (16 - len));

			s = _mm_set_epi64x((long long)hi, (long long)ld64(p));
		} else if (len == 8) {
			s = _mm_loadl_epi64((const __m128i *)(const void *)p);
		} else {
			uint64_t lo = 0;

			if (len >= 4)
				lo = ld32(p) | ld32(p + len - 4) << (8 * (len - 4));
			else if (len)
				lo = (uint64_t)p[0] | (uint64_t)p[len >> 1] << (8 * (len >> 1)) |
				     (uint64_t)p[len - 1] << (8 * (len - 1));
			s = _mm_cvtsi64_si128((long long)lo);
		}
		s = enc(_mm_xor_si128(s, rk(seed, 0)), _mm_xor_si128(rk(seed, 1), l));
		s = enc(s, rk(seed, 2));
		s = enc(s, rk(seed, 6));
		return out(enc(s, rk(seed, 7)));
	}
	if (len <= 32) {
		a = lane(seed, 0, load16(p), l);
		c = lane(seed, 3, load16(p + len - 16), l);
		s = enc(_mm_xor_si128(a, c), rk(seed, 6));
		return out(enc(s, rk(seed, 8)));
	}
	a = lane(seed, 0, load16(p), l);
	c = lane(seed, 3, load16(p + 16), l);
	for (size_t off = 32; off + 32 < len; off += 32) {
		a = step(seed, 0, a, p + off);
		c = step(seed, 3, c, p + off + 16);
	}
	a = step(seed, 0, a, p + len - 32);
	c = step(seed, 3, c, p + len - 16);
	s = enc(_mm_xor_si128(a, c), rk(seed, 6));
	return out(enc(s, rk(seed, 9)));
}
#else
#define HAVE_AES_PATH 0
static int cpu_has_aes(void)
{
	return 0;
}
#endif

uint64_t rcumap__hash_default(const uint64_t seed[RCUMAP_HASH_SEED_WORDS],
			      const void *key, size_t len)
{
#if HAVE_AES_PATH
	if (__builtin_expect(__atomic_load_n(&use_aes, __ATOMIC_RELAXED), 1))
		return aes_hash(seed, key, len);
#endif
	return siphash_inline(seed, key, len, 1, 3);
}

void rcumap__hash_init(void)
{
	__atomic_store_n(&use_aes, cpu_has_aes(), __ATOMIC_RELAXED);
}

int rcumap__hash_force(int aes)
{
	__atomic_store_n(&use_aes, aes && cpu_has_aes(), __ATOMIC_RELAXED);
	return __atomic_load_n(&use_aes, __ATOMIC_RELAXED);
}
