/* SPDX-License-Identifier: MIT */
/* mc.c: the memcached text protocol of rcumapd, replies byte-compatible with memcached 1.6.18. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rcumapd.h"

/*
 * Where rcumapd knowingly differs from memcached 1.6.18 (docs/server.md):
 * - a <bytes> field of 2^31 or more gets "CLIENT_ERROR bad command line
 *   format" and the connection is closed (its data cannot be told from the
 *   next command); memcached cuts it to 32 bits and may store a prefix;
 * - "flush_all <delay>" with a delay in the future is refused ("CLIENT_ERROR
 *   flush_all with a delay is not supported"): values have no modification
 *   time to compare with a deadline. A delay <= 0 or a past absolute time
 *   flushes now;
 * - VERSION answers rcumapd's own version, and "version"/"quit" with extra
 *   arguments answer ERROR, as memcached did before 1.6 (memccapable keys its
 *   expectations on the version number it reads, so this stays consistent);
 * - the item size limit is on the value alone (cfg.mc_max_item), where
 *   memcached counts its item header and the key too;
 * - a line longer than cfg.max_inline without a newline gets
 *   "CLIENT_ERROR line too long" before the close (memcached closes silently);
 * - "stats" sub-commands other than "settings" answer ERROR.
 */

#define KEY_MAX 250
#define REALTIME_MAXDELTA (60 * 60 * 24 * 30)
/* Tokens kept for commands other than the retrievals (which walk the line). */
#define MAX_TOK 8

struct tok {
	const char *p;
	size_t n;
};

/* ---- counters ------------------------------------------------------------ */

enum mc_counter {
	C_CMD_GET, C_GET_HITS, C_GET_MISSES, C_CMD_SET, C_CMD_TOUCH, C_TOUCH_HITS,
	C_TOUCH_MISSES, C_DELETE_HITS, C_DELETE_MISSES, C_INCR_HITS, C_INCR_MISSES,
	C_DECR_HITS, C_DECR_MISSES, C_CAS_HITS, C_CAS_MISSES, C_CAS_BADVAL,
	C_CMD_FLUSH, C_TOO_LARGE, C_NO_MEMORY, C_COUNT
};

static const char *const counter_name[C_COUNT] = {
	"cmd_get", "get_hits", "get_misses", "cmd_set", "cmd_touch", "touch_hits",
	"touch_misses", "delete_hits", "delete_misses", "incr_hits", "incr_misses",
	"decr_hits", "decr_misses", "cas_hits", "cas_misses", "cas_badval",
	"cmd_flush", "store_too_large", "store_no_memory",
};

/*
 * One cache line group per worker thread, so counting a command costs no
 * shared atomic: the owner alone writes its slot. Threads past the last
 * exclusive slot share the final one with atomic adds.
 */
#define MC_SLOTS 128
struct mc_slot {
	uint64_t v[C_COUNT];
} __attribute__((aligned(64)));

static struct mc_slot slots[MC_SLOTS];
static unsigned slot_next;                 /* atomic: slots handed out */
static __thread struct mc_slot *my_slot;
static __thread int my_slot_shared;

static void count(enum mc_counter k, uint64_t n)
{
	if (!my_slot) {
		/* Uniqueness of the index needs atomicity, not ordering. */
		unsigned i = add_relaxed(&slot_next, 1);

		my_slot_shared = i >= MC_SLOTS - 1;
		my_slot = &slots[my_slot_shared ? MC_SLOTS - 1 : i];
	}
	if (my_slot_shared) {
		add_relaxed(&my_slot->v[k], n); /* shared slot: a counter, no ordering */
	} else {
		/* Owner-only: a relaxed store keeps readers tear-free. */
		count_own(&my_slot->v[k], n);
	}
}

static uint64_t counter_sum(enum mc_counter k)
{
	uint64_t s = 0;

	for (unsigned i = 0; i < MC_SLOTS; i++)
		s += ld_relaxed(&slots[i].v[k]); /* statistics: pairs with count(), no ordering */
	return s;
}

/* ---- small helpers ------------------------------------------------------- */

static int tok_is(const struct tok *t, const char *s)
{
	size_t n = strlen(s);

	return t->n == n && memcmp(t->p, s, n) == 0;
}

/* isspace() of the C locale, without the locale lookup. */
static int is_space(char ch)
{
	return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

/*
 * Number parsing with the acceptance rules memcached applies (strtoull /
 * strtol plus its checks): leading white space, an optional sign, decimal
 * digits, then the end, a NUL or white space; out of range fails.
 */
static int parse_digits(const char *p, size_t n, size_t *i, int *neg, uint64_t *mag,
			uint64_t limit)
{
	size_t digits = 0;
	int range = 0;
	uint64_t v = 0;

	while (*i < n && is_space(p[*i]))
		(*i)++;
	*neg = 0;
	if (*i < n && (p[*i] == '+' || p[*i] == '-')) {
		*neg = p[*i] == '-';
		(*i)++;
	}
	while (*i < n && p[*i] >= '0' && p[*i] <= '9') {
		unsigned d = (unsigned)(p[*i] - '0');

		if (v > (limit - d) / 10)
			range = 1;
		else
			v = v * 10 + d;
		(*i)++;
		digits++;
	}
	if (!digits || range)
		return -1;
	if (*i < n && p[*i] != '\0' && !is_space(p[*i]))
		return -1;
	*mag = v;
	return 0;
}

/* memcached's safe_strtoull: "-N" is refused unless it wraps to a value < 2^63. */
static int parse_u64(const char *p, size_t n, uint64_t *out)
{
	size_t i = 0;
	int neg;
	uint64_t mag;

	if (parse_digits(p, n, &i, &neg, &mag, UINT64_MAX) < 0)
		return -1;
	if (neg) {
		mag = (uint64_t)0 - mag;
		if (mag >> 63)
			return -1;
	}
	*out = mag;
	return 0;
}

/* memcached's safe_strtol: a 64-bit strtol whose result is cut to 32 bits. */
static int parse_i32(const char *p, size_t n, int32_t *out)
{
	size_t i = 0;
	int neg = 0;
	uint64_t mag;

	/* strtol's range: up to 2^63 - 1, or 2^63 for a negative number. */
	if (parse_digits(p, n, &i, &neg, &mag, UINT64_MAX) < 0)
		return -1;
	if (mag > (uint64_t)INT64_MAX + (uint64_t)neg)
		return -1;
	/* Two's complement truncation, as the C conversion memcached relies on. */
	*out = (int32_t)(uint32_t)(neg ? (uint64_t)0 - mag : mag);
	return 0;
}

/* As memcached: any byte but the separators (a NUL already ended the line). */
static int key_ok(const struct tok *k)
{
	if (k->n == 0 || k->n > KEY_MAX)
		return 0;
	return memchr(k->p, '\r', k->n) == NULL && memchr(k->p, '\n', k->n) == NULL;
}

/* exptime as memcached reads it, to absolute unix ms (0: never). */
static uint64_t expire_at(int32_t exptime)
{
	uint64_t now = store_now_ms();

	if (exptime == 0)
		return 0;
	if (exptime < 0)
		return 1; /* in the past: reads as absent at once */
	if (exptime > REALTIME_MAXDELTA)
		return (uint64_t)exptime * 1000;
	return now + (uint64_t)exptime * 1000;
}

static void reply(struct conn *c, int noreply, const char *s)
{
	if (!noreply)
		out_add(c, s, strlen(s));
}

static void consume(struct conn *c, size_t n)
{
	c->in.start += n;
}

#define E_FORMAT "CLIENT_ERROR bad command line format\r\n"
#define E_NOMEM "SERVER_ERROR out of memory storing object\r\n"
#define E_EXPTIME "CLIENT_ERROR invalid exptime argument\r\n"

/* ---- retrievals ------------------------------------------------------------ */

/* One VALUE block; the header is built in one piece to keep out_* calls few. */
static void put_value(struct conn *c, const struct tok *k, const struct sval *v, int with_cas)
{
	char head[KEY_MAX + 96];
	int n;

	memcpy(head, "VALUE ", 6);
	memcpy(head + 6, k->p, k->n);
	if (with_cas)
		n = snprintf(head + 6 + k->n, sizeof(head) - 6 - k->n, " %u %u %llu\r\n",
			     (unsigned)v->flags, (unsigned)v->len, (unsigned long long)v->cas);
	else
		n = snprintf(head + 6 + k->n, sizeof(head) - 6 - k->n, " %u %u\r\n",
			     (unsigned)v->flags, (unsigned)v->len);
	if (out_add(c, head, 6 + k->n + (size_t)n) < 0)
		return;
	if (out_add(c, v->data, v->len) < 0)
		return;
	out_add(c, "\r\n", 2);
}

/* Next space-separated token of [*pos, end), or 0 at the end. */
static int next_tok(const char *line, size_t end, size_t *pos, struct tok *t)
{
	size_t i = *pos;

	while (i < end && line[i] == ' ')
		i++;
	if (i == end) {
		*pos = i;
		return 0;
	}
	t->p = line + i;
	while (i < end && line[i] != ' ')
		i++;
	t->n = (size_t)(line + i - t->p);
	*pos = i;
	return 1;
}

struct touch_ctx {
	uint64_t expire_ms;
	int found;
};

/* Same value, new expiry; the cas id stays, as memcached's touch keeps it. */
static enum rmw_action touch_cb(const struct sval *cur, struct sval **out, void *arg)
{
	struct touch_ctx *x = arg;

	x->found = 0;
	if (!cur)
		return RMW_KEEP;
	x->found = 1;
	*out = sval_new(cur->data, cur->len, NULL, 0, cur->flags, x->expire_ms);
	if (*out)
		(*out)->cas = cur->cas;
	return RMW_SET; /* a NULL *out makes store_rmw return -ENOMEM */
}

/*
 * The keys of a get/gets line from pos on (already checked), looked up
 * STORE_BATCH at a time with store_get_batch and answered in order; a key
 * given twice is answered twice, as memcached does.
 */
static void get_keys(struct conn *c, const char *line, size_t end, size_t pos, int with_cas)
{
	const void *keys[STORE_BATCH];
	size_t lens[STORE_BATCH], m;
	const struct sval *vals[STORE_BATCH];
	struct tok k;

	do {
		uint64_t asked = 0, hits = 0;

		for (m = 0; m < STORE_BATCH && next_tok(line, end, &pos, &k); m++) {
			keys[m] = k.p;
			lens[m] = k.n;
		}
		store_get_batch(m, keys, lens, vals);
		/* As key by key: once the output limit is hit, nothing more is counted. */
		for (size_t i = 0; i < m && !c->broken; i++) {
			asked++;
			if (!vals[i])
				continue;
			hits++;
			k.p = keys[i];
			k.n = lens[i];
			put_value(c, &k, vals[i], with_cas);
		}
		count(C_CMD_GET, asked);
		count(C_GET_HITS, hits);
		count(C_GET_MISSES, asked - hits);
	} while (m == STORE_BATCH && !c->broken);
}

/*
 * get/gets <key>*, gat/gats <exptime> <key>*. Keys are checked before any
 * VALUE is queued: a bad one makes the whole reply one CLIENT_ERROR.
 */
static void cmd_retrieve(struct conn *c, const char *line, size_t end, size_t pos,
			 int with_cas, int touch)
{
	struct touch_ctx tx = { 0, 0 };
	struct tok k;
	size_t p, first;

	if (touch) {
		int32_t exptime;

		next_tok(line, end, &pos, &k);
		if (parse_i32(k.p, k.n, &exptime) < 0) {
			out_add(c, E_EXPTIME, sizeof(E_EXPTIME) - 1);
			return;
		}
		tx.expire_ms = expire_at(exptime);
	}
	first = pos;
	for (p = first; next_tok(line, end, &p, &k);) {
		if (!key_ok(&k)) {
			out_add(c, E_FORMAT, sizeof(E_FORMAT) - 1);
			return;
		}
	}
	if (!touch) {
		get_keys(c, line, end, first, with_cas);
		out_add(c, "END\r\n", 5);
		return;
	}
	for (p = first; next_tok(line, end, &p, &k) && !c->broken;) {
		const struct sval *v = NULL;

		count(C_CMD_GET, 1);
		count(C_CMD_TOUCH, 1);
		if (store_rmw(k.p, k.n, touch_cb, &tx, &v) != RMW_SET)
			v = NULL; /* absent, or out of memory: a miss */
		count(v ? C_TOUCH_HITS : C_TOUCH_MISSES, 1);
		count(v ? C_GET_HITS : C_GET_MISSES, 1);
		if (v)
			put_value(c, &k, v, with_cas);
	}
	out_add(c, "END\r\n", 5);
}

/* ---- storage commands ------------------------------------------------------ */

enum store_kind { S_SET, S_ADD, S_REPLACE, S_APPEND, S_PREPEND, S_CAS };

enum store_result { R_STORED, R_NOT_STORED, R_EXISTS, R_NOT_FOUND, R_NOMEM };

struct store_ctx {
	enum store_kind kind;
	const char *data;
	size_t len;
	uint32_t flags;
	uint64_t expire_ms;
	uint64_t cas;
	enum store_result res;
};

static enum rmw_action store_cb(const struct sval *cur, struct sval **out, void *arg)
{
	struct store_ctx *x = arg;

	switch (x->kind) {
	case S_ADD:
		if (cur) {
			x->res = R_NOT_STORED;
			return RMW_KEEP;
		}
		break;
	case S_REPLACE:
		if (!cur) {
			x->res = R_NOT_STORED;
			return RMW_KEEP;
		}
		break;
	case S_APPEND:
	case S_PREPEND:
		/* memcached answers NOT_STORED when the result would not fit. */
		if (!cur || (size_t)cur->len + x->len > cfg.mc_max_item) {
			x->res = R_NOT_STORED;
			return RMW_KEEP;
		}
		if (x->kind == S_APPEND)
			*out = sval_new(cur->data, cur->len, x->data, x->len, cur->flags,
					cur->expire_ms);
		else
			*out = sval_new(x->data, x->len, cur->data, cur->len, cur->flags,
					cur->expire_ms);
		x->res = *out ? R_STORED : R_NOMEM;
		return *out ? RMW_SET : RMW_KEEP;
	case S_CAS:
		if (!cur) {
			x->res = R_NOT_FOUND;
			return RMW_KEEP;
		}
		if (cur->cas != x->cas) {
			x->res = R_EXISTS;
			return RMW_KEEP;
		}
		break;
	case S_SET:
		break;
	}
	*out = sval_new(x->data, x->len, NULL, 0, x->flags, x->expire_ms);
	x->res = *out ? R_STORED : R_NOMEM;
	return *out ? RMW_SET : RMW_KEEP;
}

/*
 * <cmd> <key> <flags> <exptime> <bytes> [noreply] and
 * cas <key> <flags> <exptime> <bytes> <cas unique> [noreply], then the data
 * block. Return 1 (done, input consumed) or 0 (data block incomplete:
 * c->need says how much is wanted).
 */
static int cmd_store(struct conn *c, enum store_kind kind, const struct tok *t, int nt,
		     size_t linelen, size_t avail)
{
	static const char *const res_text[] = {
		"STORED\r\n", "NOT_STORED\r\n", "EXISTS\r\n", "NOT_FOUND\r\n", E_NOMEM,
	};
	int noreply = tok_is(&t[nt - 1], "noreply");
	struct store_ctx x;
	uint64_t flags64, total;
	int32_t exptime, vlen;
	uint64_t vlen64;
	const char *data;
	int rc;

	memset(&x, 0, sizeof(x));
	x.kind = kind;
	if (parse_u64(t[4].p, t[4].n, &vlen64) == 0 && vlen64 > INT_MAX - 2) {
		/* No way to find the end of its data: refuse and close. */
		out_add(c, E_FORMAT, strlen(E_FORMAT));
		c->close_after_write = 1;
		consume(c, linelen);
		return 1;
	}
	if (!key_ok(&t[1]) || parse_u64(t[2].p, t[2].n, &flags64) < 0 ||
	    parse_i32(t[3].p, t[3].n, &exptime) < 0 || parse_i32(t[4].p, t[4].n, &vlen) < 0 ||
	    (kind == S_CAS && parse_u64(t[5].p, t[5].n, &x.cas) < 0) ||
	    vlen < 0 || vlen > INT_MAX - 2) {
		/* As memcached: no swallow; the data line is read as a command. */
		reply(c, noreply, E_FORMAT);
		consume(c, linelen);
		return 1;
	}
	count(C_CMD_SET, 1);
	if ((size_t)vlen > cfg.mc_max_item) {
		count(C_TOO_LARGE, 1);
		reply(c, noreply, "SERVER_ERROR object too large for cache\r\n");
		/* A failed set must not leave the old value readable (memcached). */
		if (kind == S_SET)
			store_del(t[1].p, t[1].n);
		consume(c, linelen);
		c->p.mc.swallow = (size_t)vlen + 2;
		return 1;
	}
	total = (uint64_t)linelen + (uint64_t)vlen + 2;
	if (avail < total) {
		c->need = (size_t)total;
		return 0;
	}
	data = c->in.data + c->in.start + linelen;
	if (data[vlen] != '\r' || data[vlen + 1] != '\n') {
		reply(c, noreply, "CLIENT_ERROR bad data chunk\r\n");
		consume(c, (size_t)total);
		return 1;
	}
	x.data = data;
	x.len = (size_t)vlen;
	x.flags = (uint32_t)flags64; /* memcached keeps the low 32 bits */
	x.expire_ms = expire_at(exptime);
	if (kind == S_SET) {
		struct sval *v = sval_new(x.data, x.len, NULL, 0, x.flags, x.expire_ms);

		rc = v ? store_put(t[1].p, t[1].n, v) : -ENOMEM;
		x.res = rc < 0 ? R_NOMEM : R_STORED;
		if (rc < 0)
			store_del(t[1].p, t[1].n); /* as above: no stale value after a failed set */
	} else {
		rc = store_rmw(t[1].p, t[1].n, store_cb, &x, NULL);
		if (rc < 0)
			x.res = R_NOMEM;
	}
	if (kind == S_CAS)
		count(x.res == R_STORED ? C_CAS_HITS :
		      x.res == R_EXISTS ? C_CAS_BADVAL : x.res == R_NOT_FOUND ? C_CAS_MISSES :
		      C_NO_MEMORY, 1);
	else if (x.res == R_NOMEM)
		count(C_NO_MEMORY, 1);
	reply(c, noreply, res_text[x.res]);
	consume(c, (size_t)total);
	return 1;
}

/* ---- incr / decr ------------------------------------------------------------- */

enum arith_result { A_OK, A_NOT_FOUND, A_NON_NUMERIC, A_NOMEM };

struct arith_ctx {
	int decr;
	uint64_t delta;
	enum arith_result res;
	char num[24];
	size_t numlen;
};

static enum rmw_action arith_cb(const struct sval *cur, struct sval **out, void *arg)
{
	struct arith_ctx *x = arg;
	uint64_t v;
	int n;

	x->numlen = 0;
	if (!cur) {
		x->res = A_NOT_FOUND;
		return RMW_KEEP;
	}
	if (parse_u64(cur->data, cur->len, &v) < 0) {
		x->res = A_NON_NUMERIC;
		return RMW_KEEP;
	}
	if (x->decr)
		v = v < x->delta ? 0 : v - x->delta; /* floors at 0 */
	else
		v += x->delta; /* wraps at 2^64 */
	n = snprintf(x->num, sizeof(x->num), "%llu", (unsigned long long)v);
	x->numlen = (size_t)n;
	if (x->numlen <= cur->len) {
		/*
		 * memcached rewrites a number that does not grow in place, padded
		 * with spaces to the old length; the same bytes keep GET identical.
		 */
		*out = sval_new(cur->data, cur->len, NULL, 0, cur->flags, cur->expire_ms);
		if (*out) {
			memcpy((*out)->data, x->num, x->numlen);
			memset((*out)->data + x->numlen, ' ', cur->len - x->numlen);
		}
	} else {
		*out = sval_new(x->num, x->numlen, NULL, 0, cur->flags, cur->expire_ms);
	}
	x->res = *out ? A_OK : A_NOMEM;
	return *out ? RMW_SET : RMW_KEEP;
}

/* incr|decr <key> <delta> [noreply] */
static void cmd_arith(struct conn *c, int decr, const struct tok *t, int nt)
{
	int noreply = tok_is(&t[nt - 1], "noreply");
	struct arith_ctx x;
	int rc;

	memset(&x, 0, sizeof(x));
	x.decr = decr;
	if (!key_ok(&t[1])) {
		reply(c, noreply, E_FORMAT);
		return;
	}
	if (parse_u64(t[2].p, t[2].n, &x.delta) < 0) {
		reply(c, noreply, "CLIENT_ERROR invalid numeric delta argument\r\n");
		return;
	}
	rc = store_rmw(t[1].p, t[1].n, arith_cb, &x, NULL);
	if (rc < 0)
		x.res = A_NOMEM;
	switch (x.res) {
	case A_OK:
		count(decr ? C_DECR_HITS : C_INCR_HITS, 1);
		if (!noreply) {
			memcpy(x.num + x.numlen, "\r\n", 2);
			out_add(c, x.num, x.numlen + 2);
		}
		break;
	case A_NOT_FOUND:
		count(decr ? C_DECR_MISSES : C_INCR_MISSES, 1);
		reply(c, noreply, "NOT_FOUND\r\n");
		break;
	case A_NON_NUMERIC:
		reply(c, noreply, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
		break;
	case A_NOMEM:
		count(C_NO_MEMORY, 1);
		reply(c, noreply, E_NOMEM);
		break;
	}
}

/* ---- the other commands -------------------------------------------------- */

/* delete <key> [0] [noreply]: the "0" is an old hold time memcached still takes. */
static void cmd_delete(struct conn *c, const struct tok *t, int nt)
{
	int noreply = tok_is(&t[nt - 1], "noreply");
	int rc;

	if (nt > 2) {
		int zero = tok_is(&t[2], "0");

		if (!((nt == 3 && (zero || noreply)) || (nt == 4 && zero && noreply))) {
			reply(c, noreply, "CLIENT_ERROR bad command line format.  "
				"Usage: delete <key> [noreply]\r\n");
			return;
		}
	}
	if (!key_ok(&t[1])) {
		reply(c, noreply, E_FORMAT);
		return;
	}
	rc = store_del(t[1].p, t[1].n);
	if (rc < 0) {
		reply(c, noreply, "SERVER_ERROR out of memory\r\n");
		return;
	}
	count(rc ? C_DELETE_HITS : C_DELETE_MISSES, 1);
	reply(c, noreply, rc ? "DELETED\r\n" : "NOT_FOUND\r\n");
}

/* touch <key> <exptime> [noreply] */
static void cmd_touch(struct conn *c, const struct tok *t, int nt)
{
	int noreply = tok_is(&t[nt - 1], "noreply");
	struct touch_ctx x = { 0, 0 };
	int32_t exptime;
	int rc;

	if (!key_ok(&t[1])) {
		reply(c, noreply, E_FORMAT);
		return;
	}
	if (parse_i32(t[2].p, t[2].n, &exptime) < 0) {
		reply(c, noreply, E_EXPTIME);
		return;
	}
	x.expire_ms = expire_at(exptime);
	count(C_CMD_TOUCH, 1);
	rc = store_rmw(t[1].p, t[1].n, touch_cb, &x, NULL);
	if (rc < 0) {
		reply(c, noreply, E_NOMEM);
		return;
	}
	count(x.found ? C_TOUCH_HITS : C_TOUCH_MISSES, 1);
	reply(c, noreply, x.found ? "TOUCHED\r\n" : "NOT_FOUND\r\n");
}

/* flush_all [delay] [noreply] */
static void cmd_flush(struct conn *c, const struct tok *t, int nt)
{
	int noreply = nt > 1 && tok_is(&t[nt - 1], "noreply");

	if (nt != (noreply ? 2 : 1)) {
		int32_t delay;

		if (parse_i32(t[1].p, t[1].n, &delay) < 0) {
			reply(c, noreply, E_EXPTIME);
			return;
		}
		if (delay > 0 && expire_at(delay) > store_now_ms()) {
			reply(c, noreply, "CLIENT_ERROR flush_all with a delay is not supported\r\n");
			return;
		}
	}
	count(C_CMD_FLUSH, 1);
	if (store_flush() < 0) {
		reply(c, noreply, "SERVER_ERROR out of memory\r\n");
		return;
	}
	reply(c, noreply, "OK\r\n");
}

/* verbosity <level> [noreply]: checked, then ignored (rcumapd does not log per command). */
static void cmd_verbosity(struct conn *c, const struct tok *t, int nt)
{
	int noreply = tok_is(&t[nt - 1], "noreply");
	uint64_t level;

	if (parse_u64(t[1].p, t[1].n, &level) < 0) {
		reply(c, noreply, E_FORMAT);
		return;
	}
	reply(c, noreply, "OK\r\n");
}

#define STAT_U(name, val) out_printf(c, "STAT %s %llu\r\n", name, (unsigned long long)(val))

static void cmd_stats(struct conn *c)
{
	struct server_counters sc;
	struct store_info si;
	struct rusage ru;
	uint64_t now = store_now_ms();

	server_counters(&sc);
	store_info(&si);
	memset(&ru, 0, sizeof(ru));
	getrusage(RUSAGE_SELF, &ru);
	STAT_U("pid", getpid());
	STAT_U("uptime", now > sc.start_ms ? (now - sc.start_ms) / 1000 : 0);
	STAT_U("time", now / 1000);
	out_printf(c, "STAT version %s\r\n", RCUMAPD_VERSION);
	STAT_U("pointer_size", sizeof(void *) * 8);
	out_printf(c, "STAT rusage_user %ld.%06ld\r\n", (long)ru.ru_utime.tv_sec,
		   (long)ru.ru_utime.tv_usec);
	out_printf(c, "STAT rusage_system %ld.%06ld\r\n", (long)ru.ru_stime.tv_sec,
		   (long)ru.ru_stime.tv_usec);
	STAT_U("max_connections", cfg.maxclients);
	STAT_U("curr_connections", sc.clients);
	STAT_U("total_connections", sc.connections);
	STAT_U("rejected_connections", sc.rejected);
	for (int k = 0; k < C_COUNT; k++)
		STAT_U(counter_name[k], counter_sum((enum mc_counter)k));
	STAT_U("limit_maxbytes", si.maxmemory);
	STAT_U("threads", cfg.threads);
	STAT_U("bytes", si.used_bytes);
	STAT_U("curr_items", si.map.entries);
	STAT_U("evictions", si.evictions);
	STAT_U("reclaimed", si.expirations);
	out_printf(c, "STAT rcumap_flavor %s\r\n", cfg.flavor_name ? cfg.flavor_name : "");
	STAT_U("rcumap_generation", si.map.generation);
	STAT_U("rcumap_slots", si.map.slots);
	STAT_U("rcumap_resizing", si.map.resizing);
	STAT_U("rcumap_grows", si.map.grows);
	STAT_U("rcumap_shrinks", si.map.shrinks);
	STAT_U("rcumap_pending_objects", si.pending_objects);
	STAT_U("rcumap_pending_bytes", si.pending_bytes);
	STAT_U("rcumap_rss_bytes", si.rss_bytes);
	STAT_U("rcumap_commands", sc.commands);
	out_add(c, "END\r\n", 5);
}

static void cmd_stats_settings(struct conn *c)
{
	STAT_U("maxbytes", cfg.maxmemory);
	STAT_U("maxconns", cfg.maxclients);
	STAT_U("tcpport", cfg.mc_port);
	out_printf(c, "STAT inter %s\r\n", cfg.bind ? cfg.bind : "");
	out_printf(c, "STAT evictions %s\r\n", cfg.maxmemory ? "on" : "off");
	out_add(c, "STAT cas_enabled yes\r\n", 22);
	STAT_U("num_threads", cfg.threads);
	STAT_U("item_size_max", cfg.mc_max_item);
	out_add(c, "STAT flush_enabled yes\r\n", 24);
	out_add(c, "END\r\n", 5);
}

/* ---- dispatch ----------------------------------------------------------------- */

/*
 * Run the command whose line is [s, s + linelen) (linelen counts the '\n').
 * Return 1 when it ran (its bytes consumed), 0 when its data block is not
 * all buffered yet.
 */
/* Whether a line starts with get, gets, gat or gats and a space. */
static int is_retrieval(const char *s, size_t n)
{
	static const char *const names[] = { "get ", "gets ", "gat ", "gats " };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t l = strlen(names[i]);

		if (n >= l && !memcmp(s, names[i], l))
			return 1;
	}
	return 0;
}

static int run_line(struct conn *c, const char *s, size_t linelen, size_t avail)
{
	struct tok t[MAX_TOK];
	size_t end = linelen - 1, pos = 0;
	const char *z;
	int nt = 0;

	if (end > 0 && s[end - 1] == '\r')
		end--;
	/* memcached reads the line as a C string: a NUL ends it. */
	z = memchr(s, '\0', end);
	if (z)
		end = (size_t)(z - s);
	while (nt < MAX_TOK && next_tok(s, end, &pos, &t[nt]))
		nt++;
	if (nt == MAX_TOK) {
		struct tok extra;

		if (next_tok(s, end, &pos, &extra))
			nt = MAX_TOK + 1; /* more than any fixed-form command takes */
	}
	if (nt == 0)
		goto unknown;

	switch (t[0].n) {
	case 3:
		if (tok_is(&t[0], "get") && nt >= 2) {
			cmd_retrieve(c, s, end, (size_t)(t[1].p - s), 0, 0);
			goto done;
		}
		if (tok_is(&t[0], "set") && (nt == 5 || nt == 6))
			return cmd_store(c, S_SET, t, nt, linelen, avail);
		if (tok_is(&t[0], "add") && (nt == 5 || nt == 6))
			return cmd_store(c, S_ADD, t, nt, linelen, avail);
		if (tok_is(&t[0], "cas") && (nt == 6 || nt == 7))
			return cmd_store(c, S_CAS, t, nt, linelen, avail);
		if (tok_is(&t[0], "gat") && nt >= 2) {
			cmd_retrieve(c, s, end, (size_t)(t[1].p - s), 0, 1);
			goto done;
		}
		break;
	case 4:
		if (tok_is(&t[0], "gets") && nt >= 2) {
			cmd_retrieve(c, s, end, (size_t)(t[1].p - s), 1, 0);
			goto done;
		}
		if (tok_is(&t[0], "gats") && nt >= 2) {
			cmd_retrieve(c, s, end, (size_t)(t[1].p - s), 1, 1);
			goto done;
		}
		if ((tok_is(&t[0], "incr") || tok_is(&t[0], "decr")) && (nt == 3 || nt == 4)) {
			cmd_arith(c, t[0].p[0] == 'd', t, nt);
			goto done;
		}
		if (tok_is(&t[0], "quit") && nt == 1) {
			/* Input after quit is never read: drop it now. */
			c->in.start = c->in.end;
			c->close_after_write = 1;
			return 1;
		}
		break;
	case 5:
		if (tok_is(&t[0], "touch") && (nt == 3 || nt == 4)) {
			cmd_touch(c, t, nt);
			goto done;
		}
		if (tok_is(&t[0], "stats") && nt == 1) {
			cmd_stats(c);
			goto done;
		}
		if (tok_is(&t[0], "stats") && nt == 2 && tok_is(&t[1], "settings")) {
			cmd_stats_settings(c);
			goto done;
		}
		break;
	case 6:
		if (tok_is(&t[0], "append") && (nt == 5 || nt == 6))
			return cmd_store(c, S_APPEND, t, nt, linelen, avail);
		if (tok_is(&t[0], "delete") && nt >= 2 && nt <= 4) {
			cmd_delete(c, t, nt);
			goto done;
		}
		break;
	case 7:
		if (tok_is(&t[0], "replace") && (nt == 5 || nt == 6))
			return cmd_store(c, S_REPLACE, t, nt, linelen, avail);
		if (tok_is(&t[0], "prepend") && (nt == 5 || nt == 6))
			return cmd_store(c, S_PREPEND, t, nt, linelen, avail);
		if (tok_is(&t[0], "version") && nt == 1) {
			out_printf(c, "VERSION %s\r\n", RCUMAPD_VERSION);
			goto done;
		}
		break;
	case 9:
		if (tok_is(&t[0], "flush_all") && nt <= 3) {
			cmd_flush(c, t, nt);
			goto done;
		}
		if (tok_is(&t[0], "verbosity") && (nt == 2 || nt == 3)) {
			cmd_verbosity(c, t, nt);
			goto done;
		}
		break;
	default:
		break;
	}
unknown:
	out_add(c, "ERROR\r\n", 7);
done:
	consume(c, linelen);
	return 1;
}

int mc_process(struct conn *c, unsigned budget)
{
	unsigned done = 0;

	while (done < budget && !c->close_after_write && !c->broken) {
		size_t avail = c->in.end - c->in.start;
		const char *s = c->in.data + c->in.start;
		const char *nl;

		if (c->p.mc.swallow) {
			/* The data of a refused store: dropped as it arrives, never buffered. */
			size_t n = avail < c->p.mc.swallow ? avail : c->p.mc.swallow;

			consume(c, n);
			c->p.mc.swallow -= n;
			if (c->p.mc.swallow)
				break;
			continue;
		}
		if (avail == 0)
			break;
		nl = memchr(s, '\n', avail < cfg.max_inline + 1 ? avail : cfg.max_inline + 1);
		if (!nl && avail > cfg.max_inline && is_retrieval(s, avail)) {
			/* Retrievals take any number of keys, as memcached's do. */
			nl = memchr(s, '\n', avail);
			if (!nl) {
				c->need = avail + 1; /* no rescan before more input */
				break;
			}
		}
		if (!nl) {
			if (avail > cfg.max_inline) {
				out_add(c, "CLIENT_ERROR line too long\r\n", 28);
				c->close_after_write = 1;
				return -1;
			}
			break;
		}
		if (!run_line(c, s, (size_t)(nl - s) + 1, avail))
			break;
		done++;
	}
	if (c->broken)
		return -1;
	return (int)done;
}
