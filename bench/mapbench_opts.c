/* SPDX-License-Identifier: MIT */
/* mapbench_opts.c: mapbench's command line: options, presets, parsing, the reproduce line. */

/*
 * Every numeric option goes through util.h's parse_u64 with an explicit
 * range; bad input prints the reason and the usage on stderr and exits 2,
 * -h prints the usage on stdout and exits 0.
 */

#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapbench.h"

static const char *const mb_experiment_names[MB_EXPERIMENTS] = {
	"throughput", "fill", "memory", "latency", "reclaim", "bulk", "shrinkrss", "batch",
};

const char *const mb_dist_names[2] = { "uniform", "zipf" };	/* by enum bench_dist */

/* Long-only options. */
enum {
	MB_OPT_QUICK = 256,
	MB_OPT_FULL,
	MB_OPT_SEED,
	MB_OPT_EXPERIMENTS,
	MB_OPT_SELFTEST,
	MB_OPT_ZIPF_KEYS,
	MB_OPT_FILL_KEYS,
	MB_OPT_MEMORY_KEYS,
	MB_OPT_SPECIAL_KEYS,
	MB_OPT_LATENCY_SECONDS,
	MB_OPT_RECLAIM_SECONDS,
	MB_OPT_MEMORY_ONE,
	MB_OPT_DRY_RUN,
	MB_OPT_BULK_DEADLINE,
	MB_OPT_SHRINK_KEYS,
	MB_OPT_SHRINK_ONE,
	MB_OPT_BATCH_KEYS,
};

static const struct option mb_long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "quick", no_argument, NULL, MB_OPT_QUICK },
	{ "full", no_argument, NULL, MB_OPT_FULL },
	{ "keys", required_argument, NULL, 'k' },
	{ "mixes", required_argument, NULL, 'm' },
	{ "dist", required_argument, NULL, 'd' },
	{ "threads", required_argument, NULL, 't' },
	{ "peers", required_argument, NULL, 'p' },
	{ "seconds", required_argument, NULL, 's' },
	{ "rounds", required_argument, NULL, 'r' },
	{ "batch", required_argument, NULL, 'b' },
	{ "seed", required_argument, NULL, MB_OPT_SEED },
	{ "experiments", required_argument, NULL, MB_OPT_EXPERIMENTS },
	{ "output", required_argument, NULL, 'o' },
	{ "selftest", no_argument, NULL, MB_OPT_SELFTEST },
	{ "zipf-keys", required_argument, NULL, MB_OPT_ZIPF_KEYS },
	{ "fill-keys", required_argument, NULL, MB_OPT_FILL_KEYS },
	{ "memory-keys", required_argument, NULL, MB_OPT_MEMORY_KEYS },
	{ "special-keys", required_argument, NULL, MB_OPT_SPECIAL_KEYS },
	{ "latency-seconds", required_argument, NULL, MB_OPT_LATENCY_SECONDS },
	{ "reclaim-seconds", required_argument, NULL, MB_OPT_RECLAIM_SECONDS },
	{ "dry-run", no_argument, NULL, MB_OPT_DRY_RUN },
	{ "bulk-deadline", required_argument, NULL, MB_OPT_BULK_DEADLINE },
	{ "shrink-keys", required_argument, NULL, MB_OPT_SHRINK_KEYS },
	{ "batch-keys", required_argument, NULL, MB_OPT_BATCH_KEYS },
	{ "memory-one", required_argument, NULL, MB_OPT_MEMORY_ONE },	/* hidden */
	{ "shrink-one", required_argument, NULL, MB_OPT_SHRINK_ONE },	/* hidden */
	{ NULL, 0, NULL, 0 },
};

/* '+': stop at the first non-option, which is then an error. */
#define MB_SHORT_OPTIONS "+hk:m:d:t:p:s:r:b:o:"

/* The compiled peers, comma separated, wrapped at 78 columns under an 18-column indent. */
static void mb_print_peer_names(FILE *f)
{
	size_t col = 18;

	for (unsigned i = 0; bench_peers[i] != NULL; i++) {
		size_t len = strlen(bench_peers[i]->name) + 2;

		if (i > 0 && col + len > 78) {
			fprintf(f, ",\n%18s", "");
			col = 18;
		} else if (i > 0) {
			fputs(", ", f);
		}
		fputs(bench_peers[i]->name, f);
		col += len;
	}
	fputc('\n', f);
}

/* Exits: 0 for -h (text on stdout), 2 for bad input (text on stderr). */
static __attribute__((noreturn)) void mb_usage(const char *prog, int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fprintf(f,
		"usage: %s [--quick | --full] [-k keys,...] [-m mixes,...] [-d uniform,zipf]\n"
		"          [-t threads,...] [-p peers,...] [-s seconds] [-r rounds] [-b batch]\n"
		"          [--seed N] [--experiments throughput,fill,memory,latency,reclaim,\n"
		"          bulk,shrinkrss,batch] [-o results-dir] [--selftest]\n"
		"Measures rcumap against the compiled peers; see the comment at the top of\n"
		"bench/mapbench.c for the method. Options after a preset override it.\n"
		"  --full          keys 10K,1M,10M; mixes 100,90,50,0; uniform, Zipf at 1M;\n"
		"                  threads 1,2,4; 1 s x 3 rounds; fill at 1M; memory at 1M,10M;\n"
		"                  bulk deadline 30 s; shrinkrss at 1M (the default)\n"
		"  --quick         keys 10K,1M; mixes 100,90,50; uniform; threads 1,2;\n"
		"                  0.1 s x 3 rounds; fill at 100K; memory at 1M; latency and\n"
		"                  reclaim 0.5 s at 1M; bulk deadline 5 s; shrinkrss at 1M\n"
		"                  (about 3 minutes on 2 cores)\n"
		"  -k LIST         key counts of the mixed runs and of the batch experiment,\n"
		"                  each %" PRIu64 "..%" PRIu64 "\n"
		"  -m LIST         lookup percentages, each 0..100 (the rest: insert/delete)\n"
		"  -d LIST         key distributions: uniform, zipf (s=0.99)\n"
		"  -t LIST         thread counts, each 1..%d\n"
		"  -p LIST         peers (default: all compiled):\n"
		"                  ",
		prog, MB_KEYS_MIN, MB_KEYS_MAX, MB_THREADS_MAX);
	mb_print_peer_names(f);
	fprintf(f,
		"  -s SECONDS      one mixed measurement, 0.01..3600, up to 3 decimals\n"
		"  -r ROUNDS       rounds, 1..%d; medians are reported\n"
		"  -b BATCH        operations per read section, 1..%d (default 128); the\n"
		"                  batch experiment never splits a call: ceil(BATCH/K) calls\n"
		"  --seed N        0..2^64-1 (default 1); every peer sees the same sequence\n"
		"  --experiments LIST  any of throughput,fill,memory,latency,reclaim,bulk,\n"
		"                  shrinkrss,batch (default all); latency also times updates;\n"
		"                  batch: lookups one at a time against batched calls of the\n"
		"                  same keys, by the peers that have one\n"
		"  -o DIR          results directory, created (default ./bench-results)\n"
		"  --selftest      run bench_selftest on every peer (or those of -p), print\n"
		"                  'N passed, N failed', exit 1 if any failed\n"
		"  --zipf-keys LIST      key counts at which zipf runs (default: every -k;\n"
		"                        both presets: 1M)\n"
		"  --fill-keys LIST      key counts of the fill experiment\n"
		"  --memory-keys LIST    entry counts of the memory experiment\n"
		"  --special-keys N      table size of the latency (lookups and updates) and\n"
		"                        reclaim runs (1M)\n"
		"  --latency-seconds S   each timed latency phase (lookups: steady, resizing;\n"
		"                        updates: steady)\n"
		"  --reclaim-seconds S   the reclaim-lag run\n"
		"  --bulk-deadline S     each bulk measurement (50000 inserts) stops there and\n"
		"                        is reported as capped\n"
		"  --shrink-keys N       shrinkrss: entries before deleting 90%% of them (1M)\n"
		"  --batch-keys LIST     batch: keys per batched call, each 1..%d (16)\n"
		"  --dry-run       print the reproduce line, the plan and its estimated\n"
		"                  duration, and exit\n"
		"  -h, --help      this text\n",
		MB_ROUNDS_MAX, MB_BATCH_MAX, BENCH_BATCH_KEYS_MAX);
	exit(status);
}

static __attribute__((noreturn, format(printf, 2, 3)))
void mb_bad(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mapbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	mb_usage(prog, 2);
}

/* "12.345" seconds (at most 3 decimals) into milliseconds in [min, max]. */
static int mb_parse_ms(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char whole[24], frac[4] = "000";
	const char *dot = strchr(s, '.');
	size_t wl = dot ? (size_t)(dot - s) : strlen(s);
	uint64_t w, f;

	if (wl == 0 || wl >= sizeof(whole))
		return -1;
	memcpy(whole, s, wl);
	whole[wl] = '\0';
	if (parse_u64(whole, 0, max / 1000, &w))
		return -1;
	if (dot) {
		size_t fl = strlen(dot + 1);

		if (fl == 0 || fl > 3)
			return -1;
		memcpy(frac, dot + 1, fl);	/* "3" -> "300": pad on the right */
		if (parse_u64(frac, 0, 999, &f))
			return -1;
	} else {
		f = 0;
	}
	w = w * 1000 + f;
	if (w < min || w > max)
		return -1;
	*out = w;
	return 0;
}

/* s into buf, for strsep to split at its commas: 0, or -1 if it does not fit. */
static int mb_copy_list(char *buf, size_t size, const char *s)
{
	if (strlen(s) >= size)
		return -1;
	strcpy(buf, s);
	return 0;
}

/* A comma list of decimals in [min, max]; empty items are errors. */
static int mb_parse_list(const char *s, uint64_t min, uint64_t max, struct mb_list *out)
{
	char buf[512], *rest = buf, *tok;

	if (mb_copy_list(buf, sizeof(buf), s))
		return -1;
	out->n = 0;
	while ((tok = strsep(&rest, ",")) != NULL) {
		if (out->n == MB_LIST_MAX || parse_u64(tok, min, max, &out->v[out->n]))
			return -1;
		out->n++;
	}
	return 0;
}

/* A comma list of names, each an index into names[0..count); duplicates kept once. */
static int mb_parse_names(const char *s, const char *const *names, unsigned count,
			  struct mb_list *out)
{
	char buf[512], *rest = buf, *tok;

	if (mb_copy_list(buf, sizeof(buf), s))
		return -1;
	out->n = 0;
	while ((tok = strsep(&rest, ",")) != NULL) {
		unsigned i, j;

		for (i = 0; i < count && strcmp(tok, names[i]) != 0; i++)
			;
		if (i == count)
			return -1;
		for (j = 0; j < out->n && out->v[j] != i; j++)
			;
		if (j == out->n)
			out->v[out->n++] = i;
	}
	return 0;
}

int mb_list_has(const struct mb_list *l, uint64_t v)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->v[i] == v)
			return 1;
	return 0;
}

const struct bench_peer *mb_peer_by_name(const char *name)
{
	for (unsigned i = 0; bench_peers[i] != NULL; i++)
		if (strcmp(bench_peers[i]->name, name) == 0)
			return bench_peers[i];
	return NULL;
}

/* -p: a comma list of peer names; the selection keeps the registry's order. */
static void mb_parse_peers(const char *prog, const char *s, struct mb_opts *o)
{
	char buf[1024], *rest = buf, *tok;
	unsigned char chosen[MB_PEERS_MAX] = { 0 };

	if (mb_copy_list(buf, sizeof(buf), s))
		mb_bad(prog, "-p: list too long");
	/* strsep: each item in turn, empty ones too (which match no peer). */
	while ((tok = strsep(&rest, ",")) != NULL) {
		unsigned i;

		for (i = 0; bench_peers[i] != NULL && strcmp(bench_peers[i]->name, tok) != 0; i++)
			;
		if (bench_peers[i] == NULL || i >= MB_PEERS_MAX) {
			fprintf(stderr, "mapbench: unknown peer '%s'; compiled peers:\n%18s", tok, "");
			mb_print_peer_names(stderr);
			exit(2);
		}
		chosen[i] = 1;
	}
	o->npeers = 0;
	for (unsigned i = 0; bench_peers[i] != NULL && i < MB_PEERS_MAX; i++)
		if (chosen[i])
			o->peers[o->npeers++] = bench_peers[i];
}

static void mb_set_list(struct mb_list *l, unsigned n, const uint64_t *v)
{
	l->n = n;
	memcpy(l->v, v, n * sizeof(*v));
}

#define MB_SET_LIST(l, ...) do {						\
		static const uint64_t mb_v_[] = { __VA_ARGS__ };		\
		mb_set_list((l), sizeof(mb_v_) / sizeof(mb_v_[0]), mb_v_);	\
	} while (0)

/* The presets. Their durations are estimated in mapbench.c (mb_estimate). */
static void mb_preset(struct mb_opts *o, int quick)
{
	o->preset = quick ? "quick" : "full";
	o->special_keys = 1000000;
	o->shrink_keys = 1000000;
	o->rounds = 3;
	MB_SET_LIST(&o->batch_keys, 16);
	if (quick) {
		MB_SET_LIST(&o->keys, 10000, 1000000);
		MB_SET_LIST(&o->mixes, 100, 90, 50);
		MB_SET_LIST(&o->dists, BENCH_UNIFORM);
		MB_SET_LIST(&o->zipf_keys, 1000000);
		MB_SET_LIST(&o->threads, 1, 2);
		MB_SET_LIST(&o->fill_keys, 100000);
		MB_SET_LIST(&o->memory_keys, 1000000);
		o->run_ms = 100;
		o->latency_ms = 500;
		o->reclaim_ms = 500;
		o->bulk_deadline_ms = 5000;
	} else {
		MB_SET_LIST(&o->keys, 10000, 1000000, 10000000);
		MB_SET_LIST(&o->mixes, 100, 90, 50, 0);
		MB_SET_LIST(&o->dists, BENCH_UNIFORM, BENCH_ZIPF);
		MB_SET_LIST(&o->zipf_keys, 1000000);
		MB_SET_LIST(&o->threads, 1, 2, 4);
		MB_SET_LIST(&o->fill_keys, 1000000);
		MB_SET_LIST(&o->memory_keys, 1000000, 10000000);
		o->run_ms = 1000;
		o->latency_ms = 2000;
		o->reclaim_ms = 2000;
		o->bulk_deadline_ms = 30000;
	}
}

/* How an option of mb_value_opts[] reads its argument. */
enum mb_value_kind {
	MB_VAL_LIST,	/* a comma list of decimals in [min, max], into a struct mb_list */
	MB_VAL_COUNT,	/* one decimal in [min, max], into a uint64_t */
	MB_VAL_MS,	/* seconds (up to 3 decimals) as milliseconds in [min, max], a uint64_t */
};

#define MB_STR_(x) #x
#define MB_STR(x) MB_STR_(x)
#define MB_FIELD(f) offsetof(struct mb_opts, f)
/* The long options' rows of mb_value_opts[], by kind. */
#define MB_KEY_LIST(opt, name, f) \
	{ opt, name, MB_VAL_LIST, MB_FIELD(f), MB_KEYS_MIN, MB_KEYS_MAX, "list", "" }
#define MB_KEY_COUNT(opt, name, f) \
	{ opt, name, MB_VAL_COUNT, MB_FIELD(f), MB_KEYS_MIN, MB_KEYS_MAX, "key count", "" }
#define MB_DURATION(opt, name, f) \
	{ opt, name, MB_VAL_MS, MB_FIELD(f), MB_MS_MIN, MB_MS_MAX, "duration", "" }

/* The options that set one field of struct mb_opts to a number or a list of numbers. */
static const struct mb_value_opt {
	int opt;		/* what getopt_long returns for it */
	const char *name;	/* as the messages spell it */
	enum mb_value_kind kind;
	size_t field;		/* MB_FIELD(...) */
	uint64_t min, max;
	const char *what, *hint;	/* bad input: "NAME: bad WHAT 'ARG'HINT" */
} mb_value_opts[] = {
	{ 'k', "-k", MB_VAL_LIST, MB_FIELD(keys), MB_KEYS_MIN, MB_KEYS_MAX, "key count list", "" },
	{ 'm', "-m", MB_VAL_LIST, MB_FIELD(mixes), 0, 100, "mix list",
	  " (percent lookups, 0..100)" },
	{ 't', "-t", MB_VAL_LIST, MB_FIELD(threads), 1, MB_THREADS_MAX, "thread list", "" },
	{ 's', "-s", MB_VAL_MS, MB_FIELD(run_ms), MB_MS_MIN, MB_MS_MAX, "duration",
	  " (0.01..3600 s)" },
	{ 'r', "-r", MB_VAL_COUNT, MB_FIELD(rounds), 1, MB_ROUNDS_MAX, "round count", "" },
	{ 'b', "-b", MB_VAL_COUNT, MB_FIELD(batch), 1, MB_BATCH_MAX, "batch", "" },
	{ MB_OPT_SEED, "--seed", MB_VAL_COUNT, MB_FIELD(seed), 0, UINT64_MAX, "seed", "" },
	MB_KEY_LIST(MB_OPT_ZIPF_KEYS, "--zipf-keys", zipf_keys),
	MB_KEY_LIST(MB_OPT_FILL_KEYS, "--fill-keys", fill_keys),
	MB_KEY_LIST(MB_OPT_MEMORY_KEYS, "--memory-keys", memory_keys),
	MB_KEY_COUNT(MB_OPT_SPECIAL_KEYS, "--special-keys", special_keys),
	MB_DURATION(MB_OPT_LATENCY_SECONDS, "--latency-seconds", latency_ms),
	MB_DURATION(MB_OPT_RECLAIM_SECONDS, "--reclaim-seconds", reclaim_ms),
	MB_DURATION(MB_OPT_BULK_DEADLINE, "--bulk-deadline", bulk_deadline_ms),
	MB_KEY_COUNT(MB_OPT_SHRINK_KEYS, "--shrink-keys", shrink_keys),
	{ MB_OPT_BATCH_KEYS, "--batch-keys", MB_VAL_LIST, MB_FIELD(batch_keys),
	  1, BENCH_BATCH_KEYS_MAX, "list", " (each 1.." MB_STR(BENCH_BATCH_KEYS_MAX) ")" },
};

/* Sets the field of opt if it is one of mb_value_opts[]: 1, else 0. Bad input exits 2. */
static int mb_parse_value(const char *prog, int opt, const char *arg, struct mb_opts *o)
{
	for (size_t i = 0; i < sizeof(mb_value_opts) / sizeof(mb_value_opts[0]); i++) {
		const struct mb_value_opt *v = &mb_value_opts[i];
		void *field = (char *)o + v->field;
		int rc;

		if (v->opt != opt)
			continue;
		if (v->kind == MB_VAL_LIST)
			rc = mb_parse_list(arg, v->min, v->max, field);
		else if (v->kind == MB_VAL_MS)
			rc = mb_parse_ms(arg, v->min, v->max, field);
		else
			rc = parse_u64(arg, v->min, v->max, field);
		if (rc)
			mb_bad(prog, "%s: bad %s '%s'%s", v->name, v->what, arg, v->hint);
		return 1;
	}
	return 0;
}

/* --batch-keys: a batch size given twice would be measured twice; exits 2. */
static void mb_distinct_batch_keys(const char *prog, const struct mb_list *l, const char *arg)
{
	for (unsigned i = 1; i < l->n; i++)
		for (unsigned j = 0; j < i; j++)
			if (l->v[i] == l->v[j])
				mb_bad(prog, "--batch-keys: %" PRIu64 " twice in '%s'", l->v[i], arg);
}

void mb_parse(int argc, char **argv, struct mb_opts *o)
{
	const char *prog = argv[0];
	int opt, quick = 0, full = 0, keys_given = 0, zipf_keys_given = 0, peers_given = 0;

	memset(o, 0, sizeof(*o));
	/* Pass 1: the preset only, so that later options override it
	 * wherever they stand. Errors are reported by pass 2. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, MB_SHORT_OPTIONS, mb_long_options, NULL)) != -1) {
		if (opt == MB_OPT_QUICK)
			quick = 1;
		else if (opt == MB_OPT_FULL)
			full = 1;
	}
	if (quick && full)
		mb_bad(prog, "--quick and --full exclude each other");
	mb_preset(o, quick);
	o->batch = 128;
	o->seed = 1;
	o->experiments = (1u << MB_EXPERIMENTS) - 1;
	o->outdir = "bench-results";

	optind = 0;	/* glibc: 0 restarts the scan from scratch */
	opterr = 1;
	while ((opt = getopt_long(argc, argv, MB_SHORT_OPTIONS, mb_long_options, NULL)) != -1) {
		if (mb_parse_value(prog, opt, optarg, o)) {
			keys_given |= opt == 'k';
			zipf_keys_given |= opt == MB_OPT_ZIPF_KEYS;
			if (opt == MB_OPT_BATCH_KEYS)
				mb_distinct_batch_keys(prog, &o->batch_keys, optarg);
			continue;
		}
		switch (opt) {
		case 'h':
			mb_usage(prog, 0);
		case MB_OPT_QUICK:
		case MB_OPT_FULL:
			break;
		case 'd':
			if (mb_parse_names(optarg, mb_dist_names, 2, &o->dists))
				mb_bad(prog, "-d: bad distribution list '%s' (uniform, zipf)", optarg);
			break;
		case 'p':
			mb_parse_peers(prog, optarg, o);
			peers_given = 1;
			break;
		case MB_OPT_EXPERIMENTS: {
			struct mb_list l;

			if (mb_parse_names(optarg, mb_experiment_names, MB_EXPERIMENTS, &l))
				mb_bad(prog, "--experiments: bad list '%s'", optarg);
			o->experiments = 0;
			for (unsigned i = 0; i < l.n; i++)
				o->experiments |= 1u << l.v[i];
			break;
		}
		case 'o':
			if (optarg[0] == '\0')
				mb_bad(prog, "-o: empty directory name");
			o->outdir = optarg;
			break;
		case MB_OPT_SELFTEST:
			o->selftest = 1;
			break;
		case MB_OPT_DRY_RUN:
			o->dry_run = 1;
			break;
		case MB_OPT_SHRINK_ONE:
			/* --shrink-one PEER N shrink|fresh: a child of shrinkrss. */
			o->shrink_one = optarg;
			if (optind + 1 >= argc ||
			    parse_u64(argv[optind], MB_KEYS_MIN, MB_KEYS_MAX, &o->shrink_one_keys) ||
			    (strcmp(argv[optind + 1], "shrink") != 0 &&
			     strcmp(argv[optind + 1], "fresh") != 0))
				mb_bad(prog, "--shrink-one: needs PEER N shrink|fresh");
			o->shrink_one_fresh = strcmp(argv[optind + 1], "fresh") == 0;
			optind += 2;
			break;
		case MB_OPT_MEMORY_ONE:
			/* --memory-one PEER N: the child of the memory experiment. */
			o->memory_one = optarg;
			if (optind >= argc ||
			    parse_u64(argv[optind], 1, MB_KEYS_MAX, &o->memory_one_keys))
				mb_bad(prog, "--memory-one: needs PEER N");
			optind++;
			break;
		default:
			mb_usage(prog, 2);	/* getopt printed the reason */
		}
	}
	if (optind != argc)
		mb_bad(prog, "unexpected argument '%s'", argv[optind]);
	/* -k without --zipf-keys: zipf (if -d has it) at every -k key count. */
	if (keys_given && !zipf_keys_given)
		o->zipf_keys = o->keys;
	if (!peers_given) {
		for (unsigned i = 0; bench_peers[i] != NULL; i++) {
			if (i == MB_PEERS_MAX)
				mb_bad(prog, "more than %d compiled peers", MB_PEERS_MAX);
			o->peers[o->npeers++] = bench_peers[i];
		}
	}
	if (o->npeers == 0)
		mb_bad(prog, "no peers");
}

static void mb_print_list(FILE *f, const char *opt, const struct mb_list *l)
{
	fprintf(f, " %s ", opt);
	for (unsigned i = 0; i < l->n; i++)
		fprintf(f, "%s%" PRIu64, i ? "," : "", l->v[i]);
}

static void mb_print_ms(FILE *f, const char *opt, uint64_t ms)
{
	fprintf(f, " %s %" PRIu64 ".%03" PRIu64, opt, ms / 1000, ms % 1000);
}

/* Every parameter, so the line alone reproduces the run. */
void mb_print_command(FILE *f, const char *prog, const struct mb_opts *o)
{
	fprintf(f, "%s --%s", prog, o->preset);
	mb_print_list(f, "-k", &o->keys);
	mb_print_list(f, "-m", &o->mixes);
	fprintf(f, " -d ");
	for (unsigned i = 0; i < o->dists.n; i++)
		fprintf(f, "%s%s", i ? "," : "", mb_dist_names[o->dists.v[i]]);
	mb_print_list(f, "-t", &o->threads);
	fprintf(f, " -p ");
	for (unsigned i = 0; i < o->npeers; i++)
		fprintf(f, "%s%s", i ? "," : "", o->peers[i]->name);
	mb_print_ms(f, "-s", o->run_ms);
	fprintf(f, " -r %" PRIu64 " -b %" PRIu64 " --seed %" PRIu64 " --experiments ",
		o->rounds, o->batch, o->seed);
	for (unsigned i = 0, first = 1; i < MB_EXPERIMENTS; i++) {
		if (o->experiments & (1u << i)) {
			fprintf(f, "%s%s", first ? "" : ",", mb_experiment_names[i]);
			first = 0;
		}
	}
	mb_print_list(f, "--zipf-keys", &o->zipf_keys);
	mb_print_list(f, "--fill-keys", &o->fill_keys);
	mb_print_list(f, "--memory-keys", &o->memory_keys);
	fprintf(f, " --special-keys %" PRIu64, o->special_keys);
	mb_print_ms(f, "--latency-seconds", o->latency_ms);
	mb_print_ms(f, "--reclaim-seconds", o->reclaim_ms);
	mb_print_ms(f, "--bulk-deadline", o->bulk_deadline_ms);
	fprintf(f, " --shrink-keys %" PRIu64, o->shrink_keys);
	mb_print_list(f, "--batch-keys", &o->batch_keys);
	fprintf(f, " -o %s\n", o->outdir);
}

