/* SPDX-License-Identifier: MIT */
/* test_siphash.c: the default hash against the published SipHash vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "siphash.h"

/*
 * Reference vectors: key bytes 00..0f, message bytes 00..len-1. The 2-4 values
 * are from the SipHash paper's reference set; the 1-3 values are the
 * published SipHash-1-3 reference vectors for the same inputs.
 */
static const struct {
	size_t len;
	uint64_t sip24, sip13;
} vectors[] = {
	{ 0, 0x726fdb47dd0e0e31ULL, 0xabac0158050fc4dcULL },
	{ 1, 0x74f839c593dc67fdULL, 0xc9f49bf37d57ca93ULL },
	{ 2, 0x0d6c8009d9a94f5aULL, 0x82cb9b024dc7d44dULL },
	{ 3, 0x85676696d7fb7e2dULL, 0x8bf80ab8e7ddf7fbULL },
	{ 7, 0xab0200f58b01d137ULL, 0xd3927d989bb11140ULL },
	{ 8, 0x93f5f5799a932462ULL, 0x369095118d299a8eULL },
	{ 15, 0xa129ca6149be45e5ULL, 0xd320d86d2a519956ULL },
};

static void reference_key(uint64_t key[2], unsigned char msg[64])
{
	unsigned char kb[16];

	for (int i = 0; i < 16; i++)
		kb[i] = (unsigned char)i;
	memcpy(key, kb, 16);
	for (int i = 0; i < 64; i++)
		msg[i] = (unsigned char)i;
}

/* Every vector, for SipHash-c-d; sip13 selects which expected column. */
static void check_vectors(int c, int d, int sip13)
{
	uint64_t key[2];
	unsigned char msg[64];

	reference_key(key, msg);
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		assert_int_equal(siphash_inline(key, msg, vectors[i].len, c, d),
				 sip13 ? vectors[i].sip13 : vectors[i].sip24);
}

static void siphash24_matches_reference_vectors(void **state)
{
	(void)state;
	check_vectors(2, 4, 0);
}

static void siphash13_matches_reference_vectors(void **state)
{
	(void)state;
	check_vectors(1, 3, 1);
}

static void siphash13_depends_on_every_key_bit(void **state)
{
	uint64_t key[2];
	unsigned char msg[64];
	uint64_t base;

	(void)state;
	reference_key(key, msg);
	base = siphash_inline(key, msg, 8, 1, 3);
	for (int bit = 0; bit < 128; bit++) {
		uint64_t k2[2] = { key[0], key[1] };

		k2[bit / 64] ^= (uint64_t)1 << (bit % 64);
		assert_int_not_equal(siphash_inline(k2, msg, 8, 1, 3), base);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(siphash24_matches_reference_vectors),
		cmocka_unit_test(siphash13_matches_reference_vectors),
		cmocka_unit_test(siphash13_depends_on_every_key_bit),
	};

	return cmocka_run_group_tests_name("siphash", tests, NULL, NULL);
}
