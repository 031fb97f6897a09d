/* siphash.c: out-of-line SipHash entry points (the tests check them against vectors). */
#include "internal.h"
#include "siphash.h"

uint64_t rcumap__siphash(const uint64_t key[2], const void *data, size_t len,
			 int c_rounds, int d_rounds)
{
	return siphash_inline(key, data, len, c_rounds, d_rounds);
}

uint64_t rcumap__siphash13(const uint64_t key[2], const void *data, size_t len)
{
	return siphash_inline(key, data, len, 1, 3);
}
