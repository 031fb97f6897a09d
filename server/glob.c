/* SPDX-License-Identifier: MIT */
/* glob.c: Redis-style glob matching for SCAN MATCH and CONFIG GET, with bounded work. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stddef.h>

#include "rcumapd.h"

/*
 * Semantics follow Redis's matcher, including its corners:
 *   *        any run of bytes (consecutive stars count as one)
 *   ?        any one byte
 *   [abc]    a set; [^abc] its complement; a-z a range (ends in either
 *            order; bytes compare as signed char, as Redis does); \x in a set
 *            is x literally and case-sensitively; a set missing its ']' runs
 *            to the end of the pattern
 *   \x       x literally; a trailing lone backslash is a literal backslash
 *   the empty string matches only the empty pattern (even "*" fails on it).
 *
 * Every token other than '*' consumes exactly one byte, so the classic
 * single-backtrack algorithm is exact: on a mismatch, retry from the most
 * recent star one byte further on. That is O(|pattern| * |string|) at worst,
 * never exponential; the step budget below bounds even that, so a hostile
 * MATCH costs milliseconds per key at most (an over-budget match fails).
 */

#define GLOB_BASE_STEPS ((size_t)1 << 20)

static int lower(int ch)
{
	return (ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch;
}

/*
 * Does the one-byte token at pat[*pp] match byte ch? Advance *pp past the
 * token either way. pat[*pp] is not '*'.
 */
static int token_match(const char *pat, size_t plen, size_t *pp, char ch, int nocase)
{
	size_t p = *pp;
	int c = (signed char)ch;

	switch (pat[p]) {
	case '?':
		*pp = p + 1;
		return 1;
	case '\\':
		if (p + 1 < plen)
			p++;
		*pp = p + 1;
		if (nocase)
			return lower((signed char)pat[p]) == lower(c);
		return (signed char)pat[p] == c;
	case '[': {
		int neg, match = 0;

		p++;
		neg = p < plen && pat[p] == '^';
		if (neg)
			p++;
		for (;;) {
			if (p >= plen)
				break;          /* unterminated: the set ends the pattern */
			if (pat[p] == '\\' && plen - p >= 2) {
				p++;
				if ((signed char)pat[p] == c)
					match = 1;
			} else if (pat[p] == ']') {
				p++;
				break;
			} else if (plen - p >= 3 && pat[p + 1] == '-') {
				int lo = (signed char)pat[p], hi = (signed char)pat[p + 2], x = c;

				if (lo > hi) {
					int t = lo;

					lo = hi;
					hi = t;
				}
				if (nocase) {
					lo = lower(lo);
					hi = lower(hi);
					x = lower(x);
				}
				if (x >= lo && x <= hi)
					match = 1;
				p += 2;
			} else if (nocase ? lower((signed char)pat[p]) == lower(c)
					  : (signed char)pat[p] == c) {
				match = 1;
			}
			p++;
		}
		*pp = p;
		return neg ? !match : match;
	}
	default:
		*pp = p + 1;
		if (nocase)
			return lower((signed char)pat[p]) == lower(c);
		return (signed char)pat[p] == c;
	}
}

int glob_match(const char *pat, size_t plen, const char *s, size_t slen, int nocase)
{
	size_t p = 0, i = 0;
	size_t star_p = (size_t)-1, star_i = 0;
	size_t budget = GLOB_BASE_STEPS + 2 * slen;

	if (slen == 0)
		return plen == 0;
	while (i < slen) {
		size_t np;

		if (budget-- == 0)
			return 0;
		if (p < plen && pat[p] == '*') {
			while (p < plen && pat[p] == '*')
				p++;
			if (p == plen)
				return 1;
			star_p = p;
			star_i = i;
			continue;
		}
		np = p;
		if (p < plen && token_match(pat, plen, &np, s[i], nocase)) {
			p = np;
			i++;
			continue;
		}
		if (star_p == (size_t)-1)
			return 0;
		/* Let the last star swallow one more byte and retry after it. */
		p = star_p;
		i = ++star_i;
	}
	while (p < plen && pat[p] == '*')
		p++;
	return p == plen;
}
