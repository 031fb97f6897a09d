/* SPDX-License-Identifier: MIT */
/* values.c: the torture program's keys and values, batched lookups, and monotonic reads. */

#define _GNU_SOURCE

#include "program.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* Key id k: see KEY_MAXLEN in program.h. */
static const uint8_t key_lens[8] = { 8, 8, 11, 8, 16, 8, 21, 32 };

static size_t key_len_of(uint64_t id)
{
	return key_lens[mix64(id) >> 61];
}

size_t make_key(uint64_t id, unsigned char *buf)
{
	size_t len = key_len_of(id);

	memcpy(buf, &id, 8);
	for (size_t i = 8; i < len; i++)
		buf[i] = (unsigned char)(id * 131 + i * 29 + 7);
	return len;
}

int decode_key(const void *key, size_t len, uint64_t *id)
{
	unsigned char buf[KEY_MAXLEN];
	uint64_t k;

	if (!key || len < 8 || len > KEY_MAXLEN)
		return -1;
	memcpy(&k, key, 8);
	if (k >= R.pool || make_key(k, buf) != len || memcmp(buf, key, len) != 0)
		return -1;
	*id = k;
	return 0;
}

uint64_t collide_hash(const void *key, size_t len, void *arg)
{
	uint64_t id = 0;

	(void)arg;
	memcpy(&id, key, len < 8 ? len : 8);
	return 0x9E3779B97F4A7C15ull * ((id & 3) + 1);
}

static uint64_t check_word(uint64_t key, uint32_t writer, uint64_t seq)
{
	return mix64(key * 0xD6E8FEB86659FD93ull ^ mix64(seq ^ ((uint64_t)writer << 56))) | 1;
}

struct tval *new_value(struct thr *t, uint64_t key, int may_fail)
{
	struct tval *v = talloc_value(sizeof(*v), may_fail);

	if (!v) {
		if (!may_fail)
			tfail(E_MODEL, 1, "talloc_value failed without may_fail");
		return NULL;
	}
	t->seq++;
	v->key = key;
	v->writer = t->wid;
	v->seq = t->seq;
	v->id = t->seq * MAX_THREADS + t->wid;
	v->check = check_word(key, t->wid, t->seq);
	return v;
}

/*
 * Check a value met inside a read section: its life (talloc: not freed, age
 * below 2) and its provenance (written for this key). Returns 0 when good.
 */
int check_value(const char *who, uint64_t key, const void *p)
{
	const struct tval *v = p;

	if (talloc_check(p, RCUMAP_TORTURE_KIND_VALUE, who))
		return -1;
	if (v->key != key || v->check != check_word(v->key, v->writer, v->seq) ||
	    v->id != v->seq * MAX_THREADS + v->writer) {
		/* Freed (and poisoned) since the check above? Then that is the error. */
		if (talloc_check(p, RCUMAP_TORTURE_KIND_VALUE, who))
			return -1;
		tfail(E_PROVENANCE, 0,
		      "%s: value %p read for key %" PRIu64 " holds key %" PRIu64 ", writer %u, seq %"
		      PRIu64 ", check %016" PRIx64 " (expected %016" PRIx64 ")",
		      who, p, key, v->key, v->writer, v->seq, v->check,
		      check_word(v->key, v->writer, v->seq));
		return -1;
	}
	return 0;
}

void discard(void *v)
{
	if (v)
		talloc_discard_value(v);
}

const struct tval *read_key(const char *who, uint64_t id)
{
	unsigned char kb[KEY_MAXLEN];
	size_t len = make_key(id, kb);
	const struct tval *v = rcumap_get(R.map, kb, len);

	if (!v) {
		if (id < R.nstable)
			tfail(E_ABSENCE, 0, "%s: rcumap_get did not find stable key %" PRIu64, who, id);
		return NULL;
	}
	return check_value(who, id, v) ? NULL : v;
}

uint64_t vid(const void *v)
{
	return v ? ((const struct tval *)v)->id : 0;
}

/* ---- batched lookups (rcumap_get_batch) ---------------------------------------------- */

/* A values[] entry the call did not write: every entry must be written. */
static const char batch_unwritten;

/* Build the keys of b->id[0 .. b->n) and mark every values[] entry unwritten. */
void batch_prepare(struct batch *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		b->lens[i] = make_key(b->id[i], b->kb[i]);
		b->keys[i] = b->kb[i];
		b->values[i] = (void *)&batch_unwritten;
	}
}

/*
 * Check what one rcumap_get_batch call returned (found) and wrote: each
 * entry as read_key checks one rcumap_get (a stable key must be found; a
 * value must be alive, younger than two grace periods and written for its
 * key), every entry written, and found equal to the entries found. Fills
 * b->good. Returns 0, or -1 when the call itself broke its contract.
 */
int batch_check(struct batch *b, long found, const char *who)
{
	long nonnull = 0;
	int bad = 0;

	for (unsigned i = 0; i < b->n; i++)
		b->good[i] = NULL;
	if (found < 0 || found > (long)b->n) {
		tfail(E_MODEL, 0, "%s: rcumap_get_batch of %u keys returned %ld", who, b->n, found);
		return -1;
	}
	for (unsigned i = 0; i < b->n; i++) {
		const void *v = b->values[i];

		if (v == &batch_unwritten) {
			tfail(E_MODEL, 0, "%s: rcumap_get_batch of %u keys left values[%u] (key %"
			      PRIu64 ") unwritten", who, b->n, i, b->id[i]);
			bad = 1;
			continue;
		}
		if (!v) {
			if (b->id[i] < R.nstable)
				tfail(E_ABSENCE, 0, "%s: rcumap_get_batch did not find stable key %"
				      PRIu64 " (entry %u of %u)", who, b->id[i], i, b->n);
			continue;
		}
		nonnull++;
		if (check_value(who, b->id[i], v) == 0)
			b->good[i] = v;
	}
	if (!bad && nonnull != found) {
		tfail(E_MODEL, 0, "%s: rcumap_get_batch of %u keys returned %ld, but %ld entries "
		      "hold a value", who, b->n, found, nonnull);
		bad = 1;
	}
	return bad ? -1 : 0;
}

/*
 * One rcumap_get_batch call, with the crash handler told where its frames
 * end and when it began (see crash_handler).
 */
long get_batch(struct batch *b)
{
	long found;

	crash_batch_ns = now_ns();
	crash_batch_top = __builtin_frame_address(0);
	/* Orders the two stores above before the call, for this thread's crash handler. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	found = rcumap_get_batch(R.map, b->n, b->keys, b->lens, b->values);
	/* Orders the call before the store below, for the same handler. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	crash_batch_top = NULL;
	return found;
}

/* Look b->id[0 .. b->n) up with one call inside the caller's read section, and check. */
int read_batch(struct batch *b, const char *who)
{
	batch_prepare(b);
	return batch_check(b, get_batch(b), who);
}

/*
 * Monotonic reads within one read section. A value is stored at most once,
 * and a writer stores its values in the order of their sequence numbers,
 * one call after the other. So once a lookup returned writer w's value of
 * sequence s for key k, a lookup of k that starts later cannot return a
 * value of w with a lower sequence: that value was replaced before s was
 * stored and can never be current again. A batch that reads the frozen
 * bucket of an old generation, where the newer generation holds a newer
 * value, returns exactly that (a stale read). Readers record their single
 * lookups here and check every later lookup of the section against them.
 */
void seen_check(struct seen_reads *sr, const char *who, const char *how, uint64_t id,
		const struct tval *v, int record)
{
	for (unsigned i = 0; i < sr->n; i++)
		if (sr->r[i].id == id && sr->r[i].writer == v->writer && v->seq < sr->r[i].seq) {
			tfail(E_LINCHECK, 0, "%s: %s returned key %" PRIu64 "'s value of writer %u, "
			      "seq %" PRIu64 ", after an earlier lookup in the same read section "
			      "returned the same writer's seq %" PRIu64 ", stored later: a stale read",
			      who, how, id, v->writer, v->seq, sr->r[i].seq);
			return;
		}
	if (record && sr->n < SEEN_READS)
		sr->r[sr->n++] = (struct seen_read){ .id = id, .seq = v->seq, .writer = v->writer };
}
