/* SPDX-License-Identifier: MIT */
/* hash.c: the default hash: keyed AES rounds (x86-64 AES-NI, ARMv8 crypto) chosen at run time, SipHash-1-3 as the fallback. */
#include <string.h>

#include "atomics.h"
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

/*
 * The per-architecture primitives: a 128-bit vector type, AESENC (enc), XOR,
 * loads, a vector from two 64-bit halves, the output fold, and the CPU test.
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AES_PATH 1
#include <cpuid.h>
#include <immintrin.h>

#define AES_TARGET __attribute__((target("aes,sse4.1")))

typedef __m128i vec;

static int cpu_has_aes(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	return (c & bit_AES) && (c & bit_SSE4_1);
}

static inline AES_TARGET vec enc(vec s, vec k)
{
	return _mm_aesenc_si128(s, k);
}

static inline AES_TARGET vec vxor(vec a, vec b)
{
	return _mm_xor_si128(a, b);
}

static inline AES_TARGET vec load16(const void *p)
{
	return _mm_loadu_si128((const __m128i *)p);
}

/* The low 8 bytes from memory, the high 8 zero. */
static inline AES_TARGET vec load8(const unsigned char *p)
{
	return _mm_loadl_epi64((const __m128i *)(const void *)p);
}

static inline AES_TARGET vec vset(uint64_t hi, uint64_t lo)
{
	return _mm_set_epi64x((long long)hi, (long long)lo);
}

static inline AES_TARGET vec vlow(uint64_t lo)
{
	return _mm_cvtsi64_si128((long long)lo);
}

static inline AES_TARGET uint64_t out(vec s)
{
	return (uint64_t)_mm_cvtsi128_si64(s) ^ (uint64_t)_mm_extract_epi64(s, 1);
}

#elif defined(__aarch64__) && defined(__linux__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
	((defined(__GNUC__) && !defined(__clang__)) || defined(__ARM_FEATURE_AES))
/*
 * ARMv8 crypto extension: AESE(s, 0) is SubBytes and ShiftRows (the XOR of
 * a zero key does nothing), AESMC is MixColumns, so AESMC(AESE(s, 0)) ^ k
 * is x86's AESENC(s, k) and both give the same hashes. GCC declares the
 * intrinsics for functions with the target attribute; clang (to 15 at
 * least) only when the whole file is built for the extension, so clang
 * builds without -march=...+crypto take the fallback.
 */
#define HAVE_AES_PATH 1
#include <arm_neon.h>
#include <sys/auxv.h>

#ifndef HWCAP_AES
#define HWCAP_AES (1 << 3)
#endif
#ifdef __clang__
#define AES_TARGET __attribute__((target("aes")))
#else
#define AES_TARGET __attribute__((target("+crypto")))
#endif

typedef uint8x16_t vec;

static int cpu_has_aes(void)
{
	return (getauxval(AT_HWCAP) & HWCAP_AES) != 0;
}

static inline AES_TARGET vec enc(vec s, vec k)
{
	return veorq_u8(vaesmcq_u8(vaeseq_u8(s, vdupq_n_u8(0))), k);
}

static inline AES_TARGET vec vxor(vec a, vec b)
{
	return veorq_u8(a, b);
}

static inline AES_TARGET vec load16(const void *p)
{
	return vld1q_u8((const uint8_t *)p);
}

static inline AES_TARGET vec vset(uint64_t hi, uint64_t lo)
{
	return vreinterpretq_u8_u64(vcombine_u64(vcreate_u64(lo), vcreate_u64(hi)));
}

static inline AES_TARGET vec vlow(uint64_t lo)
{
	return vset(0, lo);
}

static inline AES_TARGET vec load8(const unsigned char *p)
{
	return vcombine_u8(vld1_u8(p), vdup_n_u8(0));
}

static inline AES_TARGET uint64_t out(vec s)
{
	uint64x2_t w = vreinterpretq_u64_u8(s);

	return vgetq_lane_u64(w, 0) ^ vgetq_lane_u64(w, 1);
}

#else
#define HAVE_AES_PATH 0
#endif

#if HAVE_AES_PATH
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

/* Round key i of the map (16 bytes at seed + 2i, unaligned). */
static inline AES_TARGET vec rk(const uint64_t *seed, int i)
{
	return load16(seed + 2 * i);
}

/* The first block of a lane: two rounds, the length in the first key. */
static inline AES_TARGET vec lane(const uint64_t *seed, int i, vec x, vec l)
{
	x = enc(vxor(x, rk(seed, i)), vxor(rk(seed, i + 1), l));
	return enc(x, rk(seed, i + 2));
}

/* A later block of a lane: absorbed, then two rounds. */
static inline AES_TARGET vec step(const uint64_t *seed, int i, vec s, const unsigned char *p)
{
	s = enc(vxor(s, load16(p)), rk(seed, i + 1));
	return enc(s, rk(seed, i + 2));
}

static __attribute__((noinline)) AES_TARGET uint64_t
aes_hash(const uint64_t *seed, const unsigned char *p, size_t len)
{
	uint64_t lv = len * LEN_SPREAD;
	vec l = vset(lv, lv);
	vec s, a, c;

	if (len <= 16) {
		/* The key zero-padded to 16 bytes, never reading past it. */
		if (len > 8) {
			uint64_t hi = ld64(p + len - 8) >> (8 * (16 - len));

			s = vset(hi, ld64(p));
		} else if (len == 8) {
			s = load8(p);
		} else {
			uint64_t lo = 0;

			if (len >= 4)
				lo = ld32(p) | ld32(p + len - 4) << (8 * (len - 4));
			else if (len)
				lo = (uint64_t)p[0] | (uint64_t)p[len >> 1] << (8 * (len >> 1)) |
				     (uint64_t)p[len - 1] << (8 * (len - 1));
			s = vlow(lo);
		}
		s = enc(vxor(s, rk(seed, 0)), vxor(rk(seed, 1), l));
		s = enc(s, rk(seed, 2));
		s = enc(s, rk(seed, 6));
		return out(enc(s, rk(seed, 7)));
	}
	if (len <= 32) {
		a = lane(seed, 0, load16(p), l);
		c = lane(seed, 3, load16(p + len - 16), l);
		s = enc(vxor(a, c), rk(seed, 6));
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
	s = enc(vxor(a, c), rk(seed, 6));
	return out(enc(s, rk(seed, 9)));
}
#else
static int cpu_has_aes(void)
{
	return 0;
}
#endif

uint64_t rcumap__hash_default(const uint64_t seed[RCUMAP_HASH_SEED_WORDS],
			      const void *key, size_t len)
{
#if HAVE_AES_PATH
	/* Set once before any map exists (rcumap__hash_init); orders nothing. */
	if (__builtin_expect(load_relaxed(&use_aes), 1))
		return aes_hash(seed, key, len);
#endif
	return siphash_inline(seed, key, len, 1, 3);
}

void rcumap__hash_init(void)
{
	/* A CPU fact, the same from every thread that stores it; orders nothing. */
	store_relaxed(&use_aes, cpu_has_aes());
}

int rcumap__hash_force(int aes)
{
	/* Tests only, with no map alive; orders nothing. */
	store_relaxed(&use_aes, aes && cpu_has_aes());
	/* As above. */
	return load_relaxed(&use_aes);
}
