/* SPDX-License-Identifier: MIT */
/* hash.h: the default hash, keyed per map: AES rounds where the CPU has them, SipHash-1-3 elsewhere. */
#ifndef RCUMAP_HASH_H
#define RCUMAP_HASH_H

/*
 * The construction and its security argument are in docs/design.md,
 * "Hashing"; lib/hash.c has the code. This header is all the rest of the
 * library (and tests/test_hash.c) sees of it.
 *
 * Key material: RCUMAP_HASH_SEED_WORDS random 64-bit words per map (ten
 * 128-bit AES round keys), drawn at rcumap_create. The SipHash fallback
 * reads the first two words only.
 */

#include <stddef.h>
#include <stdint.h>

#include "siphash.h"

#define RCUMAP_HASH_SEED_WORDS 20

/*
 * The map's default hash of key[0..len). Out of line (its callers keep no
 * registers across it) and not through a pointer: it tests one global flag
 * and jumps to the AES or the SipHash code.
 */
uint64_t rcumap__hash_default(const uint64_t seed[RCUMAP_HASH_SEED_WORDS],
			      const void *key, size_t len)
	__attribute__((visibility("hidden")));

/*
 * Picks the implementation for this process from the CPU: AES rounds if
 * the CPU has them, SipHash-1-3 otherwise. Idempotent; rcumap_create calls
 * it before it draws a seed, so every map is hashed by the same code for
 * its whole life.
 */
void rcumap__hash_init(void) __attribute__((visibility("hidden")));

/*
 * Tests only: with aes = 0 forces the SipHash-1-3 fallback, with aes = 1
 * selects the AES path if the CPU has it. Returns 1 if the AES path is now
 * selected. Never call it while a map exists: its keys would hash
 * differently afterwards.
 */
int rcumap__hash_force(int aes) __attribute__((visibility("hidden")));

#endif /* RCUMAP_HASH_H */
