/* SPDX-License-Identifier: MIT */
/* resp.c: RESP2 and inline request parsing and the Redis string commands of rcumapd. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

/*
 * Replies aim to be byte-identical to redis-server 7.0 for the commands
 * served here, error texts included (checked against a real server).
 *
 * Parsing. A request starting with '*' is a multibulk array, anything else
 * an inline line. Arrays are parsed incrementally so a large request that
 * arrives in many reads costs O(its size), not O(size^2):
 *   c->p.resp.multibulk  elements of the current array still unparsed
 *                        (0: no array in progress)
 *   c->p.resp.bulk       while an array is in progress, the offset from
 *                        c->in.start of the next unparsed element
 * Once every element is buffered the array is walked again (cheaply, it is
 * validated) to build the argument vector, which points into c->in. When
 * the length of the missing part is known (a bulk's body), c->need tells
 * the loop not to call back before it has arrived; otherwise need is one
 * byte more than buffered.
 *
 * Protocol errors reply as Redis does and close after the reply. One
 * deliberate difference: Redis skips the two bytes after a bulk's body
 * unchecked; rcumapd requires them to be CRLF and otherwise replies
 * "-ERR Protocol error: missing CRLF after bulk data" and closes.
 *
 * Commands run on the worker, inside its read section; every change is one
 * store call (store_put, store_del, or store_rmw's compare-and-swap loop),
 * so concurrent clients never see a torn value. MSET and DEL are one call
 * per key, so not atomic across keys. MULTI/EXEC, scripts and MSETNX are
 * refused rather than faked; other data types get the unknown-command
 * reply. Other known differences from Redis 7.0: SELECT accepts only 0;
 * CLIENT SETNAME is accepted but no name is kept (GETNAME answers nil);
 * HELLO 3 is refused (RESP2 only); COMMAND is refused; an inline line with
 * a NUL byte ends at the NUL (Redis waits for more input); an array longer
 * than cfg.max_multibulk is a protocol error (Redis allows up to INT_MAX).
 */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rcumapd.h"

#define ARGV_STACK 16

struct arg {
	const char *p;
	size_t len;
};

#define OUT_LIT(c, s) out_add((c), (s), sizeof(s) - 1)

static const char oom_reply[] = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";

/* ---- replies -------------------------------------------------------------- */

static void reply_oom(struct conn *c)
{
	OUT_LIT(c, oom_reply);
}

static void reply_int(struct conn *c, long long v)
{
	char b[32];
	int n = snprintf(b, sizeof(b), ":%lld\r\n", v);

	out_add(c, b, (size_t)n);
}

static void reply_null(struct conn *c)
{
	OUT_LIT(c, "$-1\r\n");
}

static void reply_bulk(struct conn *c, const void *p, size_t len)
{
	char b[256];
	int n = snprintf(b, sizeof(b), "$%zu\r\n", len);

	if (len <= sizeof(b) - (size_t)n - 2) {
		/* Small value: one copy into the output. */
		memcpy(b + n, p, len);
		memcpy(b + n + len, "\r\n", 2);
		out_add(c, b, (size_t)n + len + 2);
		return;
	}
	if (out_add(c, b, (size_t)n) < 0 || out_add(c, p, len) < 0)
		return;
	out_add(c, "\r\n", 2);
}

static void reply_val(struct conn *c, const struct sval *v)
{
	if (v)
		reply_bulk(c, v->data, v->len);
	else
		reply_null(c);
}

static void reply_array(struct conn *c, long n)
{
	char b[32];
	int k = snprintf(b, sizeof(b), "*%ld\r\n", n);

	out_add(c, b, (size_t)k);
}

/*
 * Error reply "-<msg>\r\n" from a printf format (msg includes its code,
 * e.g. "ERR ..."). CR and LF in the message become spaces, as Redis does,
 * so an argument echoed back cannot break the protocol.
 */
static void reply_errf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply_errf(struct conn *c, const char *fmt, ...)
{
	char local[512], *m = local;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(local + 1, sizeof(local) - 3, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(local) - 3) {
		m = malloc((size_t)n + 4);
		if (!m) {
			c->broken = 1;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(m + 1, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	m[0] = '-';
	for (int i = 1; i <= n; i++)
		if (m[i] == '\r' || m[i] == '\n')
			m[i] = ' ';
	m[n + 1] = '\r';
	m[n + 2] = '\n';
	out_add(c, m, (size_t)n + 3);
	if (m != local)
		free(m);
}

#define reply_syntax(c) OUT_LIT((c), "-ERR syntax error\r\n")
#define reply_notint(c) OUT_LIT((c), "-ERR value is not an integer or out of range\r\n")

/* Length of an argument as a C string: Redis prints arguments with %s. */
static int cstrlen(const struct arg *a)
{
	const char *z = memchr(a->p, '\0', a->len);
	size_t n = z ? (size_t)(z - a->p) : a->len;

	return n > INT_MAX ? INT_MAX : (int)n;
}

/* ---- argument helpers ----------------------------------------------------- */

static int is_word(const struct arg *a, const char *w)
{
	size_t n = strlen(w);

	return a->len == n && strncasecmp(a->p, w, n) == 0;
}

/*
 * Redis's strict integer syntax: optional '-', no '+', no leading zeros, no
 * spaces, within int64. Return 1 and set *out, or 0.
 */
static int parse_ll(const char *s, size_t len, long long *out)
{
	unsigned long long v = 0;
	size_t i = 0;
	int neg = 0;

	if (len == 0 || len > 20)
		return 0;
	if (len == 1 && s[0] == '0') {
		*out = 0;
		return 1;
	}
	if (s[0] == '-') {
		neg = 1;
		i = 1;
		if (len == 1)
			return 0;
	}
	if (s[i] < '1' || s[i] > '9')
		return 0;
	for (; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return 0;
		d = (unsigned)(s[i] - '0');
		if (v > (ULLONG_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	if (neg) {
		if (v > (unsigned long long)LLONG_MAX + 1)
			return 0;
		*out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
	} else {
		if (v > (unsigned long long)LLONG_MAX)
			return 0;
		*out = (long long)v;
	}
	return 1;
}

static int arg_ll(const struct arg *a, long long *out)
{
	return parse_ll(a->p, a->len, out);
}

static long long now_ll(void)
{
	return (long long)store_now_ms();
}

/* ---- the string commands ----------------------------------------------------- */

enum { E_NONE = 0, E_NOTINT, E_OVERFLOW, E_OOM, E_TOOBIG };

static void reply_e(struct conn *c, int e)
{
	switch (e) {
	case E_NOTINT:
		reply_notint(c);
		break;
	case E_OVERFLOW:
		OUT_LIT(c, "-ERR increment or decrement would overflow\r\n");
		break;
	case E_TOOBIG:
		OUT_LIT(c, "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
		break;
	default:
		reply_oom(c);
		break;
	}
}

static void cmd_ping(struct conn *c, struct arg *av, int ac)
{
	if (ac > 2) {
		OUT_LIT(c, "-ERR wrong number of arguments for 'ping' command\r\n");
		return;
	}
	if (ac == 2)
		reply_bulk(c, av[1].p, av[1].len);
	else
		OUT_LIT(c, "+PONG\r\n");
}

static void cmd_echo(struct conn *c, struct arg *av, int ac)
{
	reply_bulk(c, av[1].p, av[1].len);
}

static void cmd_quit(struct conn *c, struct arg *av, int ac)
{
	OUT_LIT(c, "+OK\r\n");
	c->close_after_write = 1;
}

static void cmd_get(struct conn *c, struct arg *av, int ac)
{
	reply_val(c, store_get(av[1].p, av[1].len));
}

/*
 * Keys looked up together (store_get_batch) and answered in order: the keys
 * of one MGET, or GETs pipelined on one connection (resp_process). A key
 * points into c->in, whose bytes stay put while the protocol runs.
 */
struct get_batch {
	size_t n;
	const void *keys[STORE_BATCH];
	size_t lens[STORE_BATCH];
};

/* Look up the keys gathered so far and queue one reply per key, in order. */
static void batch_run(struct conn *c, struct get_batch *b)
{
	const struct sval *vals[STORE_BATCH];

	if (b->n == 0)
		return;
	store_get_batch(b->n, b->keys, b->lens, vals);
	/* As one-by-one GETs: no more replies once the output limit is hit. */
	for (size_t i = 0; i < b->n && !c->broken; i++)
		reply_val(c, vals[i]);
	b->n = 0;
}

static void batch_add(struct conn *c, struct get_batch *b, const struct arg *key)
{
	b->keys[b->n] = key->p;
	b->lens[b->n] = key->len;
	if (++b->n == STORE_BATCH)
		batch_run(c, b);
}

/* SET / GETEX option flags, named after Redis's. */
enum {
	F_NX = 1, F_XX = 2, F_GET = 4, F_KEEPTTL = 8, F_PERSIST = 16,
	F_EX = 32, F_PX = 64, F_EXAT = 128, F_PXAT = 256,
};
#define F_ANYEXP (F_EX | F_PX | F_EXAT | F_PXAT)

/*
 * The expire argument of SET/SETEX/PSETEX/GETEX to absolute ms, with
 * Redis's checks. Return 0, or -1 after replying an error.
 */
static int expire_arg(struct conn *c, const struct arg *a, int flags, const char *cmd,
		      long long *ms)
{
	long long v;

	if (!arg_ll(a, &v)) {
		reply_notint(c);
		return -1;
	}
	if (v <= 0 || ((flags & (F_EX | F_EXAT)) && v > LLONG_MAX / 1000))
		goto bad;
	if (flags & (F_EX | F_EXAT))
		v *= 1000;
	if (flags & (F_EX | F_PX)) {
		long long now = now_ll();

		if (v > LLONG_MAX - now)
			goto bad;
		v += now;
	}
	*ms = v;
	return 0;
bad:
	reply_errf(c, "ERR invalid expire time in '%s' command", cmd);
	return -1;
}

/*
 * Options of SET (is_set) or GETEX from av[first]. Return 0, or -1 after
 * replying an error. *exp is the expire argument, or NULL.
 */
static int parse_set_opts(struct conn *c, struct arg *av, int ac, int first, int is_set,
			  int *flags, const struct arg **exp)
{
	int f = 0;

	*exp = NULL;
	for (int j = first; j < ac; j++) {
		const struct arg *o = &av[j];
		int next = j + 1 < ac;

		if (is_word(o, "nx") && !(f & F_XX) && is_set) {
			f |= F_NX;
		} else if (is_word(o, "xx") && !(f & F_NX) && is_set) {
			f |= F_XX;
		} else if (is_word(o, "get") && is_set) {
			f |= F_GET;
		} else if (is_word(o, "keepttl") && !(f & (F_PERSIST | F_ANYEXP)) && is_set) {
			f |= F_KEEPTTL;
		} else if (is_word(o, "persist") && !is_set && !(f & (F_KEEPTTL | F_ANYEXP))) {
			f |= F_PERSIST;
		} else if (is_word(o, "ex") && next &&
			   !(f & (F_KEEPTTL | F_PERSIST | F_EXAT | F_PX | F_PXAT))) {
			f |= F_EX;
			*exp = &av[++j];
		} else if (is_word(o, "px") && next &&
			   !(f & (F_KEEPTTL | F_PERSIST | F_EX | F_EXAT | F_PXAT))) {
			f |= F_PX;
			*exp = &av[++j];
		} else if (is_word(o, "exat") && next &&
			   !(f & (F_KEEPTTL | F_PERSIST | F_EX | F_PX | F_PXAT))) {
			f |= F_EXAT;
			*exp = &av[++j];
		} else if (is_word(o, "pxat") && next &&
			   !(f & (F_KEEPTTL | F_PERSIST | F_EX | F_EXAT | F_PX))) {
			f |= F_PXAT;
			*exp = &av[++j];
		} else {
			reply_syntax(c);
			return -1;
		}
	}
	*flags = f;
	return 0;
}

struct set_arg {
	int flags;
	const char *v;
	size_t vlen;
	uint64_t expire_ms;
	int did_set;                  /* outputs, reset on every call */
	int oom;
};

static enum rmw_action set_fn(const struct sval *cur, struct sval **out, void *arg)
{
	struct set_arg *a = arg;
	uint64_t exp = a->expire_ms;

	a->did_set = 0;
	a->oom = 0;
	if (((a->flags & F_NX) && cur) || ((a->flags & F_XX) && !cur))
		return RMW_KEEP;
	if (a->flags & F_KEEPTTL)
		exp = cur ? cur->expire_ms : 0;
	*out = sval_new(a->v, a->vlen, NULL, 0, 0, exp);
	if (!*out) {
		a->oom = 1;
		return RMW_KEEP;
	}
	a->did_set = 1;
	return RMW_SET;
}

/* Conditional or reading SET: one CAS loop. Return 0, or -1 after OOM reply. */
static int set_rmw(struct conn *c, const struct arg *key, struct set_arg *a,
		   const struct sval **prev)
{
	int r;

	*prev = NULL;
	r = store_rmw(key->p, key->len, set_fn, a, prev);
	if (r < 0 || a->oom) {
		reply_oom(c);
		return -1;
	}
	return 0;
}

/* Unconditional SET of a new value. Return 0, or -1 after OOM reply. */
static int put(struct conn *c, const struct arg *key, const struct arg *val, uint64_t exp)
{
	struct sval *v = sval_new(val->p, val->len, NULL, 0, 0, exp);

	if (!v || store_put(key->p, key->len, v) < 0) {
		reply_oom(c);
		return -1;
	}
	return 0;
}

static void cmd_set(struct conn *c, struct arg *av, int ac)
{
	struct set_arg a = { 0 };
	const struct arg *exp;
	const struct sval *prev;
	long long ms = 0;

	if (parse_set_opts(c, av, ac, 3, 1, &a.flags, &exp) < 0)
		return;
	if (exp && expire_arg(c, exp, a.flags, "set", &ms) < 0)
		return;
	if (!(a.flags & (F_NX | F_XX | F_GET | F_KEEPTTL))) {
		if (put(c, &av[1], &av[2], (uint64_t)ms) == 0)
			OUT_LIT(c, "+OK\r\n");
		return;
	}
	a.v = av[2].p;
	a.vlen = av[2].len;
	a.expire_ms = (uint64_t)ms;
	if (set_rmw(c, &av[1], &a, &prev) < 0)
		return;
	if (a.flags & F_GET)
		reply_val(c, prev);
	else if (a.did_set)
		OUT_LIT(c, "+OK\r\n");
	else
		reply_null(c);
}

static void cmd_setnx(struct conn *c, struct arg *av, int ac)
{
	struct set_arg a = { .flags = F_NX, .v = av[2].p, .vlen = av[2].len };
	const struct sval *prev;

	if (set_rmw(c, &av[1], &a, &prev) == 0)
		reply_int(c, a.did_set);
}

static void setex_common(struct conn *c, struct arg *av, int flags, const char *name)
{
	long long ms;

	if (expire_arg(c, &av[2], flags, name, &ms) < 0)
		return;
	if (put(c, &av[1], &av[3], (uint64_t)ms) == 0)
		OUT_LIT(c, "+OK\r\n");
}

static void cmd_setex(struct conn *c, struct arg *av, int ac)
{
	setex_common(c, av, F_EX, "setex");
}

static void cmd_psetex(struct conn *c, struct arg *av, int ac)
{
	setex_common(c, av, F_PX, "psetex");
}

static void cmd_getset(struct conn *c, struct arg *av, int ac)
{
	struct set_arg a = { .v = av[2].p, .vlen = av[2].len };
	const struct sval *prev;

	if (set_rmw(c, &av[1], &a, &prev) == 0)
		reply_val(c, prev);
}

static enum rmw_action getdel_fn(const struct sval *cur, struct sval **out, void *arg)
{
	return cur ? RMW_DELETE : RMW_KEEP;
}

static void cmd_getdel(struct conn *c, struct arg *av, int ac)
{
	const struct sval *prev = NULL;

	if (store_rmw(av[1].p, av[1].len, getdel_fn, NULL, &prev) < 0) {
		reply_oom(c);
		return;
	}
	reply_val(c, prev);
}

struct getex_arg {
	int flags;
	long long ms;
	long long now;
	int oom;
};

static enum rmw_action getex_fn(const struct sval *cur, struct sval **out, void *arg)
{
	struct getex_arg *a = arg;

	a->oom = 0;
	if (!cur)
		return RMW_KEEP;
	if ((a->flags & (F_EXAT | F_PXAT)) && a->ms <= a->now)
		return RMW_DELETE;
	if (a->flags & F_ANYEXP) {
		*out = sval_new(cur->data, cur->len, NULL, 0, cur->flags, (uint64_t)a->ms);
	} else if ((a->flags & F_PERSIST) && cur->expire_ms) {
		*out = sval_new(cur->data, cur->len, NULL, 0, cur->flags, 0);
	} else {
		return RMW_KEEP;
	}
	if (!*out) {
		a->oom = 1;
		return RMW_KEEP;
	}
	return RMW_SET;
}

static void cmd_getex(struct conn *c, struct arg *av, int ac)
{
	struct getex_arg a = { 0 };
	const struct arg *exp;
	const struct sval *prev = NULL;

	if (parse_set_opts(c, av, ac, 2, 0, &a.flags, &exp) < 0)
		return;
	if (exp && expire_arg(c, exp, a.flags, "getex", &a.ms) < 0)
		return;
	if (!(a.flags & (F_ANYEXP | F_PERSIST))) {
		reply_val(c, store_get(av[1].p, av[1].len));
		return;
	}
	a.now = now_ll();
	if (store_rmw(av[1].p, av[1].len, getex_fn, &a, &prev) < 0 || a.oom) {
		reply_oom(c);
		return;
	}
	reply_val(c, prev);
}

static void cmd_mget(struct conn *c, struct arg *av, int ac)
{
	struct get_batch b;

	b.n = 0;
	reply_array(c, ac - 1);
	for (int i = 1; i < ac && !c->broken; i++)
		batch_add(c, &b, &av[i]);
	batch_run(c, &b);
}

static void cmd_mset(struct conn *c, struct arg *av, int ac)
{
	if (ac % 2 == 0) {
		OUT_LIT(c, "-ERR wrong number of arguments for 'mset' command\r\n");
		return;
	}
	/* Each key is stored on its own: MSET is not atomic across keys here. */
	for (int i = 1; i < ac; i += 2)
		if (put(c, &av[i], &av[i + 1], 0) < 0)
			return;
	OUT_LIT(c, "+OK\r\n");
}

static void cmd_del(struct conn *c, struct arg *av, int ac)
{
	long long n = 0;

	for (int i = 1; i < ac; i++) {
		int r = store_del(av[i].p, av[i].len);

		if (r < 0) {
			reply_oom(c);
			return;
		}
		n += r;
	}
	reply_int(c, n);
}

static void cmd_exists(struct conn *c, struct arg *av, int ac)
{
	const struct sval *vals[STORE_BATCH];
	struct get_batch b;
	long long n = 0;

	b.n = 0;
	for (int i = 1; i < ac; i++) {
		b.keys[b.n] = av[i].p;
		b.lens[b.n] = av[i].len;
		if (++b.n == STORE_BATCH || i == ac - 1) {
			n += (long long)store_get_batch(b.n, b.keys, b.lens, vals);
			b.n = 0;
		}
	}
	reply_int(c, n);
}

struct incr_arg {
	long long by;
	long long result;
	int err;
};

static enum rmw_action incr_fn(const struct sval *cur, struct sval **out, void *arg)
{
	struct incr_arg *a = arg;
	long long v = 0;
	char buf[32];
	int n;

	a->err = E_NONE;
	if (cur && !parse_ll(cur->data, cur->len, &v)) {
		a->err = E_NOTINT;
		return RMW_KEEP;
	}
	if ((a->by < 0 && v < 0 && a->by < LLONG_MIN - v) ||
	    (a->by > 0 && v > 0 && a->by > LLONG_MAX - v)) {
		a->err = E_OVERFLOW;
		return RMW_KEEP;
	}
	v += a->by;
	n = snprintf(buf, sizeof(buf), "%lld", v);
	/* The same value changed: INCR keeps the TTL (and memcached flags). */
	*out = sval_new(buf, (size_t)n, NULL, 0, cur ? cur->flags : 0, cur ? cur->expire_ms : 0);
	if (!*out) {
		a->err = E_OOM;
		return RMW_KEEP;
	}
	a->result = v;
	return RMW_SET;
}

static void incr_by(struct conn *c, const struct arg *key, long long by)
{
	struct incr_arg a = { .by = by };
	const struct sval *prev;

	if (store_rmw(key->p, key->len, incr_fn, &a, &prev) < 0) {
		reply_oom(c);
		return;
	}
	if (a.err)
		reply_e(c, a.err);
	else
		reply_int(c, a.result);
}

static void cmd_incr(struct conn *c, struct arg *av, int ac)
{
	incr_by(c, &av[1], 1);
}

static void cmd_decr(struct conn *c, struct arg *av, int ac)
{
	incr_by(c, &av[1], -1);
}

static void cmd_incrby(struct conn *c, struct arg *av, int ac)
{
	long long by;

	if (!arg_ll(&av[2], &by)) {
		reply_notint(c);
		return;
	}
	incr_by(c, &av[1], by);
}

static void cmd_decrby(struct conn *c, struct arg *av, int ac)
{
	long long by;

	if (!arg_ll(&av[2], &by)) {
		reply_notint(c);
		return;
	}
	if (by == LLONG_MIN) {
		OUT_LIT(c, "-ERR decrement would overflow\r\n");
		return;
	}
	incr_by(c, &av[1], -by);
}

struct append_arg {
	const char *p;
	size_t len;
	size_t result;
	int err;
};

static enum rmw_action append_fn(const struct sval *cur, struct sval **out, void *arg)
{
	struct append_arg *a = arg;

	a->err = E_NONE;
	if (cur && (size_t)cur->len + a->len > cfg.max_bulk) {
		a->err = E_TOOBIG;
		return RMW_KEEP;
	}
	if (cur)
		*out = sval_new(cur->data, cur->len, a->p, a->len, cur->flags, cur->expire_ms);
	else
		*out = sval_new(a->p, a->len, NULL, 0, 0, 0);
	if (!*out) {
		a->err = E_OOM;
		return RMW_KEEP;
	}
	a->result = (*out)->len;
	return RMW_SET;
}

static void cmd_append(struct conn *c, struct arg *av, int ac)
{
	struct append_arg a = { .p = av[2].p, .len = av[2].len };
	const struct sval *prev;

	if (store_rmw(av[1].p, av[1].len, append_fn, &a, &prev) < 0) {
		reply_oom(c);
		return;
	}
	if (a.err)
		reply_e(c, a.err);
	else
		reply_int(c, (long long)a.result);
}

static void cmd_strlen(struct conn *c, struct arg *av, int ac)
{
	const struct sval *v = store_get(av[1].p, av[1].len);

	reply_int(c, v ? (long long)v->len : 0);
}

/*
 * Redis's float syntax (strtold on the whole string, no leading space, no
 * NaN, no overflow to infinity or underflow to zero). Return 1 or 0.
 */
static int parse_ld(const char *s, size_t len, long double *out)
{
	char buf[5 * 1024];
	char *end;
	long double v;

	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtold(buf, &end);
	if (isspace((unsigned char)buf[0]) || *end != '\0' || (size_t)(end - buf) != len ||
	    (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) ||
	    errno == EINVAL || isnan(v))
		return 0;
	*out = v;
	return 1;
}

struct incrf_arg {
	long double by;
	char result[5 * 1024];
	size_t rlen;
	int err;                      /* E_* or E_FLOAT, E_NAN */
};

enum { E_FLOAT = 100, E_NAN = 101 };

static enum rmw_action incrf_fn(const struct sval *cur, struct sval **out, void *arg)
{
	struct incrf_arg *a = arg;
	long double v = 0;
	int n;

	a->err = E_NONE;
	if (cur && !parse_ld(cur->data, cur->len, &v)) {
		a->err = E_FLOAT;
		return RMW_KEEP;
	}
	v += a->by;
	if (isnan(v) || isinf(v)) {
		a->err = E_NAN;
		return RMW_KEEP;
	}
	/* Human form as Redis: 17 decimals, trailing zeros and dot dropped. */
	n = snprintf(a->result, sizeof(a->result), "%.17Lf", v);
	if (n < 0 || (size_t)n + 1 > sizeof(a->result)) {
		a->err = E_NAN;
		return RMW_KEEP;
	}
	if (memchr(a->result, '.', (size_t)n)) {
		while (a->result[n - 1] == '0')
			n--;
		if (a->result[n - 1] == '.')
			n--;
	}
	if (n == 2 && a->result[0] == '-' && a->result[1] == '0') {
		a->result[0] = '0';
		n = 1;
	}
	a->rlen = (size_t)n;
	*out = sval_new(a->result, a->rlen, NULL, 0, cur ? cur->flags : 0,
			cur ? cur->expire_ms : 0);
	if (!*out) {
		a->err = E_OOM;
		return RMW_KEEP;
	}
	return RMW_SET;
}

static void cmd_incrbyfloat(struct conn *c, struct arg *av, int ac)
{
	struct incrf_arg *a = malloc(sizeof(*a));
	const struct sval *prev;

	if (!a) {
		reply_oom(c);
		return;
	}
	a->err = E_NONE;
	/* A bad increment or a bad stored value: the same error either way. */
	if (!parse_ld(av[2].p, av[2].len, &a->by)) {
		OUT_LIT(c, "-ERR value is not a valid float\r\n");
		free(a);
		return;
	}
	if (store_rmw(av[1].p, av[1].len, incrf_fn, a, &prev) < 0)
		reply_oom(c);
	else if (a->err == E_FLOAT)
		OUT_LIT(c, "-ERR value is not a valid float\r\n");
	else if (a->err == E_NAN)
		OUT_LIT(c, "-ERR increment would produce NaN or Infinity\r\n");
	else if (a->err)
		reply_e(c, a->err);
	else
		reply_bulk(c, a->result, a->rlen);
	free(a);
}

static void cmd_getrange(struct conn *c, struct arg *av, int ac)
{
	const struct sval *v;
	long long start, end, len;

	if (!arg_ll(&av[2], &start) || !arg_ll(&av[3], &end)) {
		reply_notint(c);
		return;
	}
	v = store_get(av[1].p, av[1].len);
	len = v ? (long long)v->len : 0;
	if (start < 0 && end < 0 && start > end) {
		OUT_LIT(c, "$0\r\n\r\n");
		return;
	}
	if (start < 0)
		start += len;
	if (end < 0)
		end += len;
	if (start < 0)
		start = 0;
	if (end < 0)
		end = 0;
	if (end >= len)
		end = len - 1;
	if (!v || start > end || len == 0)
		OUT_LIT(c, "$0\r\n\r\n");
	else
		reply_bulk(c, v->data + start, (size_t)(end - start + 1));
}

struct setrange_arg {
	size_t off;
	const char *p;
	size_t len;
	long long result;
	int err;
};

static enum rmw_action setrange_fn(const struct sval *cur, struct sval **out, void *arg)
{
	struct setrange_arg *a = arg;
	size_t olen = cur ? cur->len : 0, total;
	char *tmp;

	a->err = E_NONE;
	a->result = (long long)olen;
	if (a->len == 0)
		return RMW_KEEP;      /* nothing to write: no key is created */
	if (a->off > cfg.max_bulk || a->len > cfg.max_bulk - a->off) {
		a->err = E_TOOBIG;
		return RMW_KEEP;
	}
	total = a->off + a->len > olen ? a->off + a->len : olen;
	/* Old bytes, zero padding up to the offset, the new bytes, the old tail. */
	tmp = calloc(1, total ? total : 1);
	if (!tmp) {
		a->err = E_OOM;
		return RMW_KEEP;
	}
	if (olen)
		memcpy(tmp, cur->data, olen);
	memcpy(tmp + a->off, a->p, a->len);
	*out = sval_new(tmp, total, NULL, 0, cur ? cur->flags : 0, cur ? cur->expire_ms : 0);
	free(tmp);
	if (!*out) {
		a->err = E_OOM;
		return RMW_KEEP;
	}
	a->result = (long long)total;
	return RMW_SET;
}

static void cmd_setrange(struct conn *c, struct arg *av, int ac)
{
	struct setrange_arg a = { .p = av[3].p, .len = av[3].len };
	const struct sval *prev;
	long long off;

	if (!arg_ll(&av[2], &off)) {
		reply_notint(c);
		return;
	}
	if (off < 0) {
		OUT_LIT(c, "-ERR offset is out of range\r\n");
		return;
	}
	a.off = (size_t)off;
	if (store_rmw(av[1].p, av[1].len, setrange_fn, &a, &prev) < 0) {
		reply_oom(c);
		return;
	}
	if (a.err)
		reply_e(c, a.err);
	else
		reply_int(c, a.result);
}

enum { X_NX = 1, X_XX = 2, X_GT = 4, X_LT = 8 };

struct expire_arg {
	int flags;
	long long when;
	long long now;
	int result;                   /* outputs, reset on every call */
	int oom;
};

static enum rmw_action expire_fn(const struct sval *cur, struct sval **out, void *arg)
{
	struct expire_arg *a = arg;
	long long ce;

	a->result = 0;
	a->oom = 0;
	if (!cur)
		return RMW_KEEP;
	ce = cur->expire_ms ? (long long)cur->expire_ms : -1;
	if ((a->flags & X_NX) && ce != -1)
		return RMW_KEEP;
	if ((a->flags & X_XX) && ce == -1)
		return RMW_KEEP;
	if ((a->flags & X_GT) && (a->when <= ce || ce == -1))
		return RMW_KEEP;
	if ((a->flags & X_LT) && ce != -1 && a->when >= ce)
		return RMW_KEEP;
	a->result = 1;
	if (a->when <= a->now)
		return RMW_DELETE;    /* a time in the past removes the key */
	*out = sval_new(cur->data, cur->len, NULL, 0, cur->flags, (uint64_t)a->when);
	if (!*out) {
		a->oom = 1;
		return RMW_KEEP;
	}
	return RMW_SET;
}

/* EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: secs selects the unit, at absolute. */
static void expire_common(struct conn *c, struct arg *av, int ac, int secs, int at,
			  const char *name)
{
	struct expire_arg a = { 0 };
	const struct sval *prev;
	long long when, base;

	for (int j = 3; j < ac; j++) {
		if (is_word(&av[j], "nx"))
			a.flags |= X_NX;
		else if (is_word(&av[j], "xx"))
			a.flags |= X_XX;
		else if (is_word(&av[j], "gt"))
			a.flags |= X_GT;
		else if (is_word(&av[j], "lt"))
			a.flags |= X_LT;
		else {
			reply_errf(c, "ERR Unsupported option %.*s", cstrlen(&av[j]), av[j].p);
			return;
		}
	}
	if ((a.flags & X_NX) && (a.flags & (X_XX | X_GT | X_LT))) {
		OUT_LIT(c, "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
		return;
	}
	if ((a.flags & X_GT) && (a.flags & X_LT)) {
		OUT_LIT(c, "-ERR GT and LT options at the same time are not compatible\r\n");
		return;
	}
	if (!arg_ll(&av[2], &when)) {
		reply_notint(c);
		return;
	}
	if (secs) {
		if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000)
			goto bad;
		when *= 1000;
	}
	a.now = now_ll();
	base = at ? 0 : a.now;
	if (when > LLONG_MAX - base)
		goto bad;
	a.when = when + base;
	if (store_rmw(av[1].p, av[1].len, expire_fn, &a, &prev) < 0 || a.oom) {
		reply_oom(c);
		return;
	}
	reply_int(c, a.result);
	return;
bad:
	reply_errf(c, "ERR invalid expire time in '%s' command", name);
}

static void cmd_expire(struct conn *c, struct arg *av, int ac)
{
	expire_common(c, av, ac, 1, 0, "expire");
}

static void cmd_pexpire(struct conn *c, struct arg *av, int ac)
{
	expire_common(c, av, ac, 0, 0, "pexpire");
}

static void cmd_expireat(struct conn *c, struct arg *av, int ac)
{
	expire_common(c, av, ac, 1, 1, "expireat");
}

static void cmd_pexpireat(struct conn *c, struct arg *av, int ac)
{
	expire_common(c, av, ac, 0, 1, "pexpireat");
}

static void ttl_common(struct conn *c, struct arg *av, int ms)
{
	const struct sval *v = store_get(av[1].p, av[1].len);
	long long t;

	if (!v) {
		reply_int(c, -2);
		return;
	}
	if (!v->expire_ms) {
		reply_int(c, -1);
		return;
	}
	t = (long long)v->expire_ms - now_ll();
	if (t < 0)
		t = 0;
	reply_int(c, ms ? t : (t + 500) / 1000);
}

static void cmd_ttl(struct conn *c, struct arg *av, int ac)
{
	ttl_common(c, av, 0);
}

static void cmd_pttl(struct conn *c, struct arg *av, int ac)
{
	ttl_common(c, av, 1);
}

struct persist_arg {
	int result;
	int oom;
};

static enum rmw_action persist_fn(const struct sval *cur, struct sval **out, void *arg)
{
	struct persist_arg *a = arg;

	a->result = 0;
	a->oom = 0;
	if (!cur || !cur->expire_ms)
		return RMW_KEEP;
	*out = sval_new(cur->data, cur->len, NULL, 0, cur->flags, 0);
	if (!*out) {
		a->oom = 1;
		return RMW_KEEP;
	}
	a->result = 1;
	return RMW_SET;
}

static void cmd_persist(struct conn *c, struct arg *av, int ac)
{
	struct persist_arg a = { 0 };
	const struct sval *prev;

	if (store_rmw(av[1].p, av[1].len, persist_fn, &a, &prev) < 0 || a.oom) {
		reply_oom(c);
		return;
	}
	reply_int(c, a.result);
}

static void cmd_type(struct conn *c, struct arg *av, int ac)
{
	if (store_get(av[1].p, av[1].len))
		OUT_LIT(c, "+string\r\n");
	else
		OUT_LIT(c, "+none\r\n");
}

/* ---- SCAN -------------------------------------------------------------------- */

struct scan_acc {
	char *buf;                    /* the keys, already as "$len\r\nkey\r\n" */
	size_t len;
	size_t cap;
	long n;
	const char *pat;
	size_t plen;
	int use_pat;
	int oom;
};

static void scan_cb(const void *key, size_t klen, const struct sval *v, void *arg)
{
	struct scan_acc *s = arg;
	char hdr[32];
	int h;

	if (s->oom)
		return;
	if (s->use_pat && !glob_match(s->pat, s->plen, key, klen, 0))
		return;
	h = snprintf(hdr, sizeof(hdr), "$%zu\r\n", klen);
	if (s->cap - s->len < (size_t)h + klen + 2) {
		size_t ncap = s->cap * 2 + (size_t)h + klen + 2;
		char *nb = realloc(s->buf, ncap);

		if (!nb) {
			/* The whole reply fails: the client retries the same cursor. */
			s->oom = 1;
			return;
		}
		s->buf = nb;
		s->cap = ncap;
	}
	memcpy(s->buf + s->len, hdr, (size_t)h);
	memcpy(s->buf + s->len + h, key, klen);
	memcpy(s->buf + s->len + h + klen, "\r\n", 2);
	s->len += (size_t)h + klen + 2;
	s->n++;
}

/* SCAN TYPE <not string>: walk the same slots, return no keys. */
static void scan_skip(const void *key, size_t klen, const struct sval *v, void *arg)
{
}

/*
 * Cursor syntax as Redis's strtoul-based check: no leading space, optional
 * sign, decimal digits, no overflow; "-n" wraps; the empty string is 0.
 */
static int parse_cursor(const struct arg *a, uint64_t *out)
{
	size_t n = (size_t)cstrlen(a), i = 0;
	uint64_t v = 0;
	int neg = 0;

	if (n == 0) {
		*out = 0;
		return 1;
	}
	if (isspace((unsigned char)a->p[0]))
		return 0;
	if (a->p[0] == '+' || a->p[0] == '-') {
		neg = a->p[0] == '-';
		i = 1;
	}
	if (i == n)
		return 0;
	for (; i < n; i++) {
		unsigned d;

		if (a->p[i] < '0' || a->p[i] > '9')
			return 0;
		d = (unsigned)(a->p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	*out = neg ? (uint64_t)0 - v : v;
	return 1;
}

static void cmd_scan(struct conn *c, struct arg *av, int ac)
{
	struct scan_acc s = { 0 };
	uint64_t cursor;
	long long count = 10;
	int type_ok = 1, i = 2, r;
	char hdr[64];
	int h;

	if (!parse_cursor(&av[1], &cursor)) {
		OUT_LIT(c, "-ERR invalid cursor\r\n");
		return;
	}
	while (i < ac) {
		int left = ac - i;

		if (is_word(&av[i], "count") && left >= 2) {
			if (!arg_ll(&av[i + 1], &count)) {
				reply_notint(c);
				return;
			}
			if (count < 1) {
				reply_syntax(c);
				return;
			}
			i += 2;
		} else if (is_word(&av[i], "match") && left >= 2) {
			s.pat = av[i + 1].p;
			s.plen = av[i + 1].len;
			s.use_pat = !(s.plen == 1 && s.pat[0] == '*');
			i += 2;
		} else if (is_word(&av[i], "type") && left >= 2) {
			/* Only strings live here; another type matches nothing. */
			type_ok = cstrlen(&av[i + 1]) == 6 && strncasecmp(av[i + 1].p, "string", 6) == 0;
			i += 2;
		} else {
			reply_syntax(c);
			return;
		}
	}
	r = store_scan(&cursor, (size_t)count, type_ok ? scan_cb : scan_skip, &s);
	if (r == -EINVAL) {
		free(s.buf);
		OUT_LIT(c, "-ERR invalid cursor\r\n");
		return;
	}
	if (r < 0 || s.oom) {
		free(s.buf);
		reply_oom(c);
		return;
	}
	{
		char cur[24];
		int cl = snprintf(cur, sizeof(cur), "%" PRIu64, cursor);

		h = snprintf(hdr, sizeof(hdr), "*2\r\n$%d\r\n%s\r\n*%ld\r\n", cl, cur, s.n);
	}
	if (out_add(c, hdr, (size_t)h) == 0 && s.len)
		out_add(c, s.buf, s.len);
	free(s.buf);
}

/* ---- server commands ------------------------------------------------------------ */

static void cmd_dbsize(struct conn *c, struct arg *av, int ac)
{
	reply_int(c, (long long)store_count());
}

static void cmd_flush(struct conn *c, struct arg *av, int ac)
{
	if (ac > 2 || (ac == 2 && !is_word(&av[1], "sync") && !is_word(&av[1], "async"))) {
		reply_syntax(c);
		return;
	}
	if (store_flush() < 0)
		reply_oom(c);
	else
		OUT_LIT(c, "+OK\r\n");
}

static void cmd_select(struct conn *c, struct arg *av, int ac)
{
	long long id;

	if (!arg_ll(&av[1], &id) || id < INT_MIN || id > INT_MAX) {
		reply_notint(c);
		return;
	}
	if (id != 0)
		OUT_LIT(c, "-ERR DB index is out of range\r\n");
	else
		OUT_LIT(c, "+OK\r\n");
}

static void cmd_info(struct conn *c, struct arg *av, int ac)
{
	char *parts[8];
	size_t total = 0;
	int n = 0;

	/* Each section's text, in the order asked (at most 8); none: all of them. */
	for (int i = 1; i < (ac > 1 ? ac : 2) && n < 8; i++) {
		parts[n] = ac > 1 ? info_text(av[i].p, av[i].len) : info_text(NULL, 0);
		if (!parts[n]) {
			while (n > 0)
				free(parts[--n]);
			reply_oom(c);
			return;
		}
		total += strlen(parts[n]);
		n++;
	}
	{
		char hdr[32];
		int h = snprintf(hdr, sizeof(hdr), "$%zu\r\n", total);

		out_add(c, hdr, (size_t)h);
		for (int i = 0; i < n; i++)
			out_add(c, parts[i], strlen(parts[i]));
		out_add(c, "\r\n", 2);
	}
	for (int i = 0; i < n; i++)
		free(parts[i]);
}

static void reply_unknown_sub(struct conn *c, const struct arg *sub, const char *cmd)
{
	int n = cstrlen(sub);

	reply_errf(c, "ERR unknown subcommand '%.*s'. Try %s HELP.", n > 128 ? 128 : n, sub->p, cmd);
}

struct conf_item {
	const char *name;
	char value[48];
};

static void cmd_config(struct conn *c, struct arg *av, int ac)
{
	if (is_word(&av[1], "get")) {
		struct conf_item it[] = {
			{ "save", "" },
			{ "appendonly", "no" },
			{ "maxmemory", "" },
			{ "maxmemory-policy", "" },
			{ "maxclients", "" },
			{ "proto-max-bulk-len", "" },
			{ "client-query-buffer-limit", "" },
			{ "databases", "1" },
			{ "port", "" },
		};
		enum { NIT = sizeof(it) / sizeof(it[0]) };
		int hit[NIT] = { 0 }, nhit = 0;

		if (ac < 3) {
			OUT_LIT(c, "-ERR wrong number of arguments for 'config|get' command\r\n");
			return;
		}
		snprintf(it[2].value, sizeof(it[2].value), "%" PRIu64, cfg.maxmemory);
		snprintf(it[3].value, sizeof(it[3].value), "%s",
			 cfg.maxmemory ? "allkeys-clock" : "noeviction");
		snprintf(it[4].value, sizeof(it[4].value), "%zu", cfg.maxclients);
		snprintf(it[5].value, sizeof(it[5].value), "%zu", cfg.max_bulk);
		snprintf(it[6].value, sizeof(it[6].value), "%zu", cfg.max_query_buffer);
		snprintf(it[8].value, sizeof(it[8].value), "%d", cfg.resp_port);
		/*
		 * As Redis: a name without glob characters is looked up directly
		 * and echoed as given; a pattern lists the matching names.
		 */
		for (int i = 2; i < ac; i++) {
			int direct = !memchr(av[i].p, '*', av[i].len) &&
				     !memchr(av[i].p, '?', av[i].len) &&
				     !memchr(av[i].p, '[', av[i].len);

			for (int k = 0; k < NIT; k++) {
				if (hit[k])
					continue;
				if (direct ? is_word(&av[i], it[k].name)
					   : glob_match(av[i].p, av[i].len, it[k].name,
							strlen(it[k].name), 1)) {
					hit[k] = direct ? i : 1;
					nhit++;
				}
			}
		}
		reply_array(c, 2L * nhit);
		for (int k = 0; k < NIT; k++) {
			if (!hit[k])
				continue;
			if (hit[k] > 1)
				reply_bulk(c, av[hit[k]].p, av[hit[k]].len);
			else
				reply_bulk(c, it[k].name, strlen(it[k].name));
			reply_bulk(c, it[k].value, strlen(it[k].value));
		}
		return;
	}
	if (is_word(&av[1], "set") || is_word(&av[1], "resetstat") || is_word(&av[1], "rewrite")) {
		char up[16];
		size_t n = av[1].len < sizeof(up) ? av[1].len : sizeof(up) - 1;

		for (size_t i = 0; i < n; i++)
			up[i] = (char)toupper((unsigned char)av[1].p[i]);
		reply_errf(c, "ERR CONFIG %.*s is not supported by rcumapd", (int)n, up);
		return;
	}
	reply_unknown_sub(c, &av[1], "CONFIG");
}

static void cmd_client(struct conn *c, struct arg *av, int ac)
{
	if (is_word(&av[1], "id")) {
		if (ac != 2) {
			OUT_LIT(c, "-ERR wrong number of arguments for 'client|id' command\r\n");
			return;
		}
		reply_int(c, (long long)c->id);
		return;
	}
	if (is_word(&av[1], "setname")) {
		if (ac != 3) {
			OUT_LIT(c, "-ERR wrong number of arguments for 'client|setname' command\r\n");
			return;
		}
		for (size_t i = 0; i < av[2].len; i++)
			if (av[2].p[i] < '!' || av[2].p[i] > '~') {
				OUT_LIT(c, "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
				return;
			}
		/* Accepted for client libraries' sake; rcumapd keeps no names. */
		OUT_LIT(c, "+OK\r\n");
		return;
	}
	if (is_word(&av[1], "getname")) {
		if (ac != 2) {
			OUT_LIT(c, "-ERR wrong number of arguments for 'client|getname' command\r\n");
			return;
		}
		reply_null(c);
		return;
	}
	reply_unknown_sub(c, &av[1], "CLIENT");
}

/*
 * MEMORY PURGE hands the work to the sweeper (store_purge): it waits for a
 * grace period, which a worker, inside its read section, must not do.
 */
static void cmd_memory(struct conn *c, struct arg *av, int ac)
{
	if (is_word(&av[1], "purge")) {
		if (ac != 2) {
			OUT_LIT(c, "-ERR wrong number of arguments for 'memory|purge' command\r\n");
			return;
		}
		store_purge();
		OUT_LIT(c, "+OK\r\n");
		return;
	}
	reply_unknown_sub(c, &av[1], "MEMORY");
}

static void cmd_hello(struct conn *c, struct arg *av, int ac)
{
	char buf[256];
	int n;

	if (ac >= 2) {
		long long ver;

		if (!arg_ll(&av[1], &ver)) {
			OUT_LIT(c, "-ERR Protocol version is not an integer or out of range\r\n");
			return;
		}
		/* RESP3 is not spoken here: HELLO 3 fails as an unknown version does. */
		if (ver != 2) {
			OUT_LIT(c, "-NOPROTO unsupported protocol version\r\n");
			return;
		}
	}
	for (int j = 2; j < ac; j++) {
		int more = ac - 1 - j;

		if (is_word(&av[j], "auth") && more >= 2) {
			if (!is_word(&av[j + 1], "default")) {
				OUT_LIT(c, "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
				return;
			}
			j += 2;
		} else if (is_word(&av[j], "setname") && more >= 1) {
			j++;
		} else {
			reply_errf(c, "ERR Syntax error in HELLO option '%.*s'", cstrlen(&av[j]), av[j].p);
			return;
		}
	}
	n = snprintf(buf, sizeof(buf),
		     "*14\r\n$6\r\nserver\r\n$7\r\nrcumapd\r\n$7\r\nversion\r\n$%zu\r\n%s\r\n"
		     "$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:%" PRIu64 "\r\n"
		     "$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
		     "$7\r\nmodules\r\n*0\r\n",
		     strlen(RCUMAPD_VERSION), RCUMAPD_VERSION, c->id);
	out_add(c, buf, (size_t)n);
}

static void cmd_auth(struct conn *c, struct arg *av, int ac)
{
	if (ac > 3) {
		reply_syntax(c);
		return;
	}
	if (ac == 2) {
		OUT_LIT(c, "-ERR AUTH <password> called without any password configured for the "
			   "default user. Are you sure your configuration is correct?\r\n");
		return;
	}
	/* No passwords: the default user takes any, as Redis without requirepass. */
	if (is_word(&av[1], "default"))
		OUT_LIT(c, "+OK\r\n");
	else
		OUT_LIT(c, "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
}

static void cmd_time(struct conn *c, struct arg *av, int ac)
{
	struct timespec ts;
	char s[24], u[24], buf[96];
	int sl, ul, n;

	clock_gettime(CLOCK_REALTIME, &ts);
	sl = snprintf(s, sizeof(s), "%lld", (long long)ts.tv_sec);
	ul = snprintf(u, sizeof(u), "%ld", (long)(ts.tv_nsec / 1000));
	n = snprintf(buf, sizeof(buf), "*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", sl, s, ul, u);
	out_add(c, buf, (size_t)n);
}

static void cmd_command(struct conn *c, struct arg *av, int ac)
{
	OUT_LIT(c, "-ERR COMMAND is not supported by rcumapd\r\n");
}

/* Commands refused on purpose: rcumapd offers no transactions or scripts. */
static void cmd_refused(struct conn *c, struct arg *av, int ac)
{
	char up[16];
	size_t n = av[0].len < sizeof(up) ? av[0].len : sizeof(up) - 1;

	for (size_t i = 0; i < n; i++)
		up[i] = (char)toupper((unsigned char)av[0].p[i]);
	reply_errf(c, "ERR %.*s is not supported by rcumapd (no transactions, scripts "
		   "or multi-key atomicity)", (int)n, up);
}

/* ---- dispatch -------------------------------------------------------------------- */

typedef void cmd_fn(struct conn *c, struct arg *av, int ac);

struct cmd {
	const char *name;
	size_t len;
	int arity;                    /* >0: exactly; <0: at least -arity */
	cmd_fn *fn;
};

#define C(n, a, f) { n, sizeof(n) - 1, a, f }
static const struct cmd cmds[] = {
	C("get", 2, cmd_get),
	C("set", -3, cmd_set),
	C("ping", -1, cmd_ping),
	C("mget", -2, cmd_mget),
	C("mset", -3, cmd_mset),
	C("del", -2, cmd_del),
	C("unlink", -2, cmd_del),
	C("exists", -2, cmd_exists),
	C("incr", 2, cmd_incr),
	C("decr", 2, cmd_decr),
	C("incrby", 3, cmd_incrby),
	C("incrbyfloat", 3, cmd_incrbyfloat),
	C("decrby", 3, cmd_decrby),
	C("append", 3, cmd_append),
	C("strlen", 2, cmd_strlen),
	C("getrange", 4, cmd_getrange),
	C("substr", 4, cmd_getrange),
	C("setrange", 4, cmd_setrange),
	C("setnx", 3, cmd_setnx),
	C("setex", 4, cmd_setex),
	C("psetex", 4, cmd_psetex),
	C("getset", 3, cmd_getset),
	C("getdel", 2, cmd_getdel),
	C("getex", -2, cmd_getex),
	C("expire", -3, cmd_expire),
	C("pexpire", -3, cmd_pexpire),
	C("expireat", -3, cmd_expireat),
	C("pexpireat", -3, cmd_pexpireat),
	C("ttl", 2, cmd_ttl),
	C("pttl", 2, cmd_pttl),
	C("persist", 2, cmd_persist),
	C("type", 2, cmd_type),
	C("scan", -2, cmd_scan),
	C("echo", 2, cmd_echo),
	C("quit", -1, cmd_quit),
	C("dbsize", 1, cmd_dbsize),
	C("flushdb", -1, cmd_flush),
	C("flushall", -1, cmd_flush),
	C("select", 2, cmd_select),
	C("info", -1, cmd_info),
	C("config", -2, cmd_config),
	C("client", -2, cmd_client),
	C("memory", -2, cmd_memory),
	C("hello", -1, cmd_hello),
	C("auth", -2, cmd_auth),
	C("time", 1, cmd_time),
	C("command", -1, cmd_command),
	C("multi", 1, cmd_refused),
	C("exec", 1, cmd_refused),
	C("discard", 1, cmd_refused),
	C("watch", -2, cmd_refused),
	C("unwatch", 1, cmd_refused),
	C("eval", -3, cmd_refused),
	C("evalsha", -3, cmd_refused),
	C("eval_ro", -3, cmd_refused),
	C("evalsha_ro", -3, cmd_refused),
	C("script", -2, cmd_refused),
	C("function", -2, cmd_refused),
	C("fcall", -3, cmd_refused),
	C("fcall_ro", -3, cmd_refused),
	C("msetnx", -3, cmd_refused),
};
#undef C

static const struct cmd *lookup(const char *name, size_t len)
{
	char low[16];

	if (len == 0 || len >= sizeof(low))
		return NULL;
	for (size_t i = 0; i < len; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
		if (cmds[k].len == len && memcmp(cmds[k].name, low, len) == 0)
			return &cmds[k];
	return NULL;
}

/*
 * Redis's unknown-command text: the name and the arguments as C strings,
 * the name cut at 128 bytes, arguments appended while the list is under 128.
 */
static void reply_unknown(struct conn *c, const struct arg *av, int ac)
{
	char args[300];
	size_t al = 0;
	int nl = cstrlen(&av[0]);

	args[0] = '\0';
	for (int i = 1; i < ac && al < 128; i++) {
		int room = 128 - (int)al, n = cstrlen(&av[i]);

		if (n > room)
			n = room;
		args[al++] = '\'';
		memcpy(args + al, av[i].p, (size_t)n);
		al += (size_t)n;
		args[al++] = '\'';
		args[al++] = ' ';
		args[al] = '\0';
	}
	reply_errf(c, "ERR unknown command '%.*s', with args beginning with: %s",
		   nl > 128 ? 128 : nl, av[0].p, args);
}

static void execute(struct conn *c, struct arg *av, int ac)
{
	const struct cmd *cmd = lookup(av[0].p, av[0].len);

	if (!cmd) {
		reply_unknown(c, av, ac);
		return;
	}
	if ((cmd->arity > 0 && ac != cmd->arity) || (cmd->arity < 0 && ac < -cmd->arity)) {
		reply_errf(c, "ERR wrong number of arguments for '%s' command", cmd->name);
		return;
	}
	cmd->fn(c, av, ac);
}

/* ---- parsing ----------------------------------------------------------------------- */

/* The argument vector: on the stack up to ARGV_STACK entries, else malloc'ed. */
struct argv {
	struct arg *v;
	int n;
	int cap;
	struct arg stack[ARGV_STACK];
};

static int argv_push(struct argv *a, const char *p, size_t len)
{
	if (a->n == a->cap) {
		int ncap = a->cap * 2;
		struct arg *nv;

		if (a->v == a->stack) {
			nv = malloc((size_t)ncap * sizeof(*nv));
			if (nv)
				memcpy(nv, a->stack, sizeof(a->stack));
		} else {
			nv = realloc(a->v, (size_t)ncap * sizeof(*nv));
		}
		if (!nv)
			return -1;
		a->v = nv;
		a->cap = ncap;
	}
	a->v[a->n].p = p;
	a->v[a->n].len = len;
	a->n++;
	return 0;
}

static void argv_init(struct argv *a)
{
	a->v = a->stack;
	a->n = 0;
	a->cap = ARGV_STACK;
}

static void argv_free(struct argv *a)
{
	if (a->v != a->stack)
		free(a->v);
	argv_init(a);
}

/* Reply a protocol error and close after it. */
static int proto_error(struct conn *c, const char *msg)
{
	reply_errf(c, "ERR Protocol error: %s", msg);
	c->close_after_write = 1;
	return -1;
}

/* Same, for a failed allocation while parsing. */
static int parse_oom(struct conn *c)
{
	reply_oom(c);
	c->close_after_write = 1;
	return -1;
}

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * Split an inline line b[0, len) into arguments as Redis does: blanks
 * separate, "..." takes \n \r \t \b \a \xHH and \<any> escapes, '...' takes
 * \' only, a closing quote must be followed by a blank or the end, and a NUL
 * byte ends the line. Arguments are decoded in place (never longer than
 * their source). Return 0, -1 for unbalanced quotes, -2 for ENOMEM.
 */
static int split_inline(char *b, size_t len, struct argv *a)
{
	size_t p = 0, w = 0;

#define AT(i) ((i) < len ? b[i] : '\0')
	for (;;) {
		size_t start;
		int inq = 0, insq = 0, done = 0;

		while (p < len && is_space(b[p]))
			p++;
		if (AT(p) == '\0')
			return 0;
		start = w;
		while (!done) {
			char ch = AT(p);

			if (inq) {
				if (ch == '\0')
					return -1;
				if (ch == '\\' && AT(p + 1) == 'x' && hexval(AT(p + 2)) >= 0 &&
				    hexval(AT(p + 3)) >= 0) {
					b[w++] = (char)(hexval(AT(p + 2)) * 16 + hexval(AT(p + 3)));
					p += 3;
				} else if (ch == '\\' && AT(p + 1) != '\0') {
					char e;

					p++;
					switch (b[p]) {
					case 'n': e = '\n'; break;
					case 'r': e = '\r'; break;
					case 't': e = '\t'; break;
					case 'b': e = '\b'; break;
					case 'a': e = '\a'; break;
					default: e = b[p]; break;
					}
					b[w++] = e;
				} else if (ch == '"') {
					if (AT(p + 1) != '\0' && !is_space(AT(p + 1)))
						return -1;
					done = 1;
				} else {
					b[w++] = ch;
				}
			} else if (insq) {
				if (ch == '\0')
					return -1;
				if (ch == '\\' && AT(p + 1) == '\'') {
					p++;
					b[w++] = '\'';
				} else if (ch == '\'') {
					if (AT(p + 1) != '\0' && !is_space(AT(p + 1)))
						return -1;
					done = 1;
				} else {
					b[w++] = ch;
				}
			} else {
				switch (ch) {
				case ' ': case '\n': case '\r': case '\t': case '\0':
					done = 1;
					break;
				case '"':
					inq = 1;
					break;
				case '\'':
					insq = 1;
					break;
				default:
					b[w++] = ch;
					break;
				}
			}
			if (AT(p) != '\0')
				p++;
		}
		if (argv_push(a, b + start, w - start) < 0)
			return -2;
	}
#undef AT
}

/*
 * One inline request. Return 1 with *used set (a->n may be 0 for an empty
 * line), 0 when incomplete, -1 after a protocol error.
 */
static int parse_inline(struct conn *c, struct argv *a, size_t *used)
{
	char *b = c->in.data + c->in.start;
	size_t avail = c->in.end - c->in.start;
	char *nl = memchr(b, '\n', avail);
	size_t len;
	int r;

	if (!nl) {
		if (avail > cfg.max_inline)
			return proto_error(c, "too big inline request");
		c->need = avail + 1;
		return 0;
	}
	len = (size_t)(nl - b);
	*used = len + 1;
	if (len && b[len - 1] == '\r')
		len--;
	r = split_inline(b, len, a);
	if (r == -1)
		return proto_error(c, "unbalanced quotes in request");
	if (r == -2)
		return parse_oom(c);
	return 1;
}

/*
 * A "<prefix><number>\r" line at b[off] (b[off] is the prefix). Return 1 with
 * the line's text in [*num, *num + *numlen) and *next past the line, 0 when
 * incomplete, -1 when the line is too long without a CR.
 */
static int header_line(const char *b, size_t avail, size_t off, const char **num,
		       size_t *numlen, size_t *next)
{
	const char *cr = memchr(b + off + 1, '\r', avail - off - 1);

	if (!cr)
		return avail - off > cfg.max_inline ? -1 : 0;
	if ((size_t)(cr - b) + 2 > avail)
		return 0;             /* the byte after CR (LF) is not here yet */
	*num = b + off + 1;
	*numlen = (size_t)(cr - *num);
	*next = (size_t)(cr - b) + 2;
	return 1;
}

/*
 * One multibulk request, resuming from c->p.resp. Return 1 with the
 * arguments and *used set (a->n is 0 for an empty array), 0 when
 * incomplete, -1 after a protocol error.
 */
static int parse_multibulk(struct conn *c, struct argv *a, size_t *used)
{
	const char *b = c->in.data + c->in.start;
	size_t avail = c->in.end - c->in.start;
	const char *num = NULL;
	size_t numlen = 0, off = 0, next = 0;
	long long n = 0;
	int r;

	if (c->p.resp.multibulk <= 0) {
		r = header_line(b, avail, 0, &num, &numlen, &next);
		if (r < 0)
			return proto_error(c, "too big mbulk count string");
		if (r == 0) {
			c->need = avail + 1;
			return 0;
		}
		if (!parse_ll(num, numlen, &n) || n > INT_MAX || (n > 0 && (size_t)n > cfg.max_multibulk))
			return proto_error(c, "invalid multibulk length");
		if (n <= 0) {
			*used = next;         /* an empty array is no command */
			return 1;
		}
		c->p.resp.multibulk = (long)n;
		c->p.resp.bulk = (long)next;
	}
	off = (size_t)c->p.resp.bulk;
	while (c->p.resp.multibulk > 0) {
		long long blen;
		size_t body;

		if (off >= avail) {
			c->need = avail + 1;
			return 0;
		}
		if (b[off] != '$') {
			char got = b[off] == '\0' ? ' ' : b[off];

			reply_errf(c, "ERR Protocol error: expected '$', got '%c'", got);
			c->close_after_write = 1;
			return -1;
		}
		r = header_line(b, avail, off, &num, &numlen, &body);
		if (r < 0)
			return proto_error(c, "too big bulk count string");
		if (r == 0) {
			c->need = avail + 1;
			return 0;
		}
		if (!parse_ll(num, numlen, &blen) || blen < 0 || (size_t)blen > cfg.max_bulk)
			return proto_error(c, "invalid bulk length");
		if (avail < body + (size_t)blen + 2) {
			/* The body's size is known: wait for all of it in one go. */
			c->need = body + (size_t)blen + 2;
			return 0;
		}
		if (b[body + blen] != '\r' || b[body + blen + 1] != '\n')
			return proto_error(c, "missing CRLF after bulk data");
		off = body + (size_t)blen + 2;
		c->p.resp.bulk = (long)off;
		c->p.resp.multibulk--;
	}
	/* Complete: walk the validated array again to point at the arguments. */
	*used = off;
	c->p.resp.multibulk = 0;
	c->p.resp.bulk = -1;
	r = header_line(b, avail, 0, &num, &numlen, &next);
	parse_ll(num, numlen, &n);
	off = next;
	for (long long i = 0; i < n; i++) {
		long long blen;

		header_line(b, avail, off, &num, &numlen, &next);
		parse_ll(num, numlen, &blen);
		if (argv_push(a, b + next, (size_t)blen) < 0)
			return parse_oom(c);
		off = next + (size_t)blen + 2;
	}
	return 1;
}

/* Whether a parsed request is what execute() runs as cmd_get. */
static int is_get(const struct argv *a)
{
	return a->n == 2 && a->v[0].len == 3 && strncasecmp(a->v[0].p, "get", 3) == 0;
}

/*
 * The pending GETs, answered before a request that failed to parse: the
 * parser has already queued that request's error reply (the bytes of c->out
 * past the first queued ones), so it is taken off and queued again after
 * the GETs' replies. Parse errors are short fixed texts.
 */
static void batch_run_before_error(struct conn *c, struct get_batch *b, size_t queued)
{
	char err[256];
	size_t n = c->out.end - c->out.start - queued;

	if (n > sizeof(err)) {
		c->broken = 1; /* no parse error is near this long */
		return;
	}
	memcpy(err, c->out.data + c->out.start + queued, n);
	c->out.end -= n;
	batch_run(c, b);
	out_add(c, err, n);
}

/*
 * Consecutive GETs are gathered into one batch (at most the budget, and
 * STORE_BATCH per lookup) and answered when anything else comes: another
 * command, which then runs after them, so a GET after a SET of the same
 * pipeline sees the SET; an incomplete or bad request; the end of the
 * budget or of the input. With --section command (memb, bp) the loop gives
 * each call a budget of 1 and its own read section, and nothing is gathered.
 */
int resp_process(struct conn *c, unsigned budget)
{
	struct get_batch gets;
	struct argv a;
	unsigned done = 0;
	int gather = !cfg.section_per_command || cfg.is_qsbr;

	gets.n = 0;
	argv_init(&a);
	c->need = 0;
	while (done < budget && !c->broken && !c->close_after_write) {
		size_t used = 0, queued = c->out.end - c->out.start;
		int r;

		if (c->in.end == c->in.start)
			break;
		if (c->p.resp.multibulk <= 0 && c->in.data[c->in.start] != '*')
			r = parse_inline(c, &a, &used);
		else
			r = parse_multibulk(c, &a, &used);
		if (r < 0) {
			if (gets.n)
				batch_run_before_error(c, &gets, queued);
			argv_free(&a);
			return -1;    /* protocol error: replied, close after it */
		}
		if (r == 0) {
			argv_free(&a);
			break;
		}
		if (a.n > 0) {
			if (gather && is_get(&a)) {
				batch_add(c, &gets, &a.v[1]);
			} else {
				if (!cfg.broken_batch) /* negative control: runs it first */
					batch_run(c, &gets);
				execute(c, a.v, a.n);
			}
			done++;
		}
		c->in.start += used;
		argv_free(&a);
	}
	batch_run(c, &gets);
	/* QUIT sets close_after_write and counts as an executed command. */
	return (int)done;
}
