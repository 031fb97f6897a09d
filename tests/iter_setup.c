/* SPDX-License-Identifier: MIT */
/* iter_setup.c: what test_iter's tests build on: positions, hashes that place keys, the map, updates. */

#define _GNU_SOURCE

#include "flavor.h" /* first: the liburcu flavor header */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rcumap.h>

#include "fixture.h"
#include "iter_tests.h"

/* ---- Positions ------------------------------------------------------------------- */

uint32_t rev32(uint32_t x)
{
	uint32_t r = 0;

	for (int i = 0; i < 32; i++, x >>= 1)
		r = (r << 1) | (x & 1);
	return r;
}

/* ---- Hashes that place keys where a test wants them ---------------------------- */

/* The modes: iter_tests.h. */
const char *const hmode_name[] = { "mixed", "key-number", "grouped", "table" };

struct hashctl {
	enum kspace ks;
	enum hmode mode;
	size_t group;
	const uint32_t *table;
	size_t ntable;
};

static uint64_t hash_ctl(const void *key, size_t len, void *arg)
{
	const struct hashctl *hc = arg;
	/* Only the bytes decide: the number for KS_NUM, the length for KS_LEN. */
	uint64_t id = hc->ks == KS_NUM ? key_index(key, len) : (uint64_t)len;

	switch (hc->mode) {
	case H_ID:
		return id;
	case H_GROUP: {
		uint64_t x = mix64(id) & 0xffffffffu;
		uint32_t f = (uint32_t)mix64(id / hc->group + 0x9e3779b9u);

		return (x << 32) | (x ^ f); /* folds to f for the whole group */
	}
	case H_TABLE:
		return id < hc->ntable ? hc->table[id] : mix64(id);
	default:
		return mix64(id ^ 0x5851f42d4c957f2dull);
	}
}

/* ---- The map: testlib's fixture with keys placed by hash_ctl ---------------------- */

void ifx_open(struct fx *f, const struct ifx_opts *o)
{
	/*
	 * On the heap like the fixture's instruments: a failed test leaks its
	 * map, whose hash must stay callable. ifx_close frees it.
	 */
	struct hashctl *hc = calloc(1, sizeof(*hc));
	struct fx_opts fo = {
		.nkeys = o->nkeys, .nvals = o->nvals, .min_slots = o->min_slots, .ks = o->ks,
		.hash = hash_ctl, .hash_arg = hc, .folds = true,
	};

	assert_non_null(hc);
	hc->ks = o->ks;
	hc->mode = o->hmode;
	hc->group = o->group ? o->group : 1;
	hc->table = o->table;
	hc->ntable = o->ntable;
	fx_open(f, &fo);
}

void ifx_close(struct fx *f)
{
	struct hashctl *hc = f->cfg.hash_arg;

	fx_check(f);
	fx_barrier(f);
	fx_check_frees(f);
	fx_check_reclaimed(f);
	fx_close(f);
	free(hc);
}

/* ---- Updates that keep the reference and the traversal in step -------------------- */

const char *const uop_name[U_OPS] = {
	"insert", "put", "replace", "cas", "delete", "delete_if", "get_or_insert",
};

int uop_expect(const struct fx *f, enum uop op, size_t id)
{
	bool present = f->ref[id] != NULL;

	switch (op) {
	case U_INSERT:
	case U_GET_OR_INSERT:
		return present ? -EEXIST : 0;
	case U_PUT:
		return 0;
	default:
		return present ? 0 : -ENOENT;
	}
}

int ifx_update(struct fx *f, enum uop op, size_t id)
{
	unsigned char k[IKEY_BUF];
	size_t len = ikey_make(f->ks, id, k);
	struct tval *cur = f->ref[id], *v = NULL;
	/* Any live value works as a wrong "expected" for an absent key. */
	void *expected = cur ? (void *)cur : (void *)&f->tr->v[0];
	void *res = NULL;
	int rc;

	if (op != U_DELETE && op != U_DELETE_IF) {
		v = fx_fresh(f, id);
		if (!v)
			return -ENOSPC;
	}
	switch (op) {
	case U_INSERT: rc = rcumap_insert(f->map, k, len, v); break;
	case U_PUT: rc = rcumap_put(f->map, k, len, v); break;
	case U_REPLACE: rc = rcumap_replace(f->map, k, len, v); break;
	case U_CAS: rc = rcumap_cas(f->map, k, len, expected, v); break;
	case U_DELETE: rc = rcumap_delete(f->map, k, len); break;
	case U_DELETE_IF: rc = rcumap_delete_if(f->map, k, len, expected); break;
	default:
		rc = rcumap_get_or_insert(f->map, k, len, v, &res);
		if (rc == -EEXIST && res != (void *)cur)
			rc = -EUCLEAN; /* reported by the caller as a wrong result */
		break;
	}
	if (rc != 0)
		return rc;
	if (op == U_DELETE || op == U_DELETE_IF) {
		fx_ref_set(f, id, NULL);
		trav_note_delete(f->tv, id, cur);
	} else {
		fx_ref_set(f, id, v);
		trav_note_store(f->tv, id, v, cur);
	}
	return 0;
}

void ifx_must(struct fx *f, enum uop op, size_t id)
{
	int want = uop_expect(f, op, id);
	int rc = ifx_update(f, op, id);

	if (rc != want)
		fail_msg("%s of key %zu returned %d (%s), expected %d", uop_name[op], id, rc,
			 errname(rc), want);
}

