/* SPDX-License-Identifier: MIT */
/* main.c: the torture program's options, its scenario table, and main (program.h lists its files). */

#define _GNU_SOURCE

#include "program.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct options opt = {
	.scenario = "quick",
	.readers = 4,
	.iterators = 2,
	.writers = 3,
	.interval = 1.0,
	.delay_ppm = 2000,
	.fail_ppm = 20000,
	.max_lag_ms = SANITIZED ? 60000 : 10000,
	.max_pending = 8000000,
	.flood_keys = FLOOD_KEYS,
	.lincheck_ops = 20000,
	.stall_intervals = SANITIZED ? 5 : 1,
};

static const char *const sc_names[] = {
	[SC_MIXED] = "mixed", [SC_SINGLE] = "single-key", [SC_COLLIDE] = "collide",
	[SC_FLOOD] = "flood", [SC_LINCHECK] = "lincheck", [SC_FAULTS] = "faults",
};

/* Default seconds per scenario (--duration 0): the quick tier, ~45 s in all. */
#define QUICK_MIXED_SMALL 5.0
#define QUICK_MIXED 6.0
#define QUICK_MIXED_1M 4.0
#define QUICK_SINGLE 4.0
#define QUICK_COLLIDE 4.0
#define QUICK_FLOOD 4.0
#define QUICK_LINCHECK 5.0
#define QUICK_FAULTS 5.0

static struct scen scens[16];
static int nscens;

static double default_duration(const struct scen *sc)
{
	switch (sc->kind) {
	case SC_MIXED:
		return sc->pool >= 100000 ? QUICK_MIXED_1M : sc->pool <= 16 ? QUICK_MIXED_SMALL
									   : QUICK_MIXED;
	case SC_SINGLE: return QUICK_SINGLE;
	case SC_COLLIDE: return QUICK_COLLIDE;
	case SC_FLOOD: return QUICK_FLOOD;
	case SC_LINCHECK: return QUICK_LINCHECK;
	default: return QUICK_FAULTS;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: %s [options]\n"
"Torture test of rcumap (liburcu flavor %s): threads race on one map while\n"
"every invariant of docs/testing.md is checked. Exit status 0 when every\n"
"scenario passed, 1 when one failed, 2 on a usage error.\n"
"\n"
"  --scenario LIST   comma list of: mixed, single-key, collide, flood, lincheck,\n"
"                    faults, or quick (the quick tier: mixed over 16, 1024 and\n"
"                    1M keys (TSan builds: 250k), then every other scenario\n"
"                    once) [quick]\n"
"  --duration SECS   seconds per scenario; 0 = the quick tier's per-scenario\n"
"                    defaults (4-6 s each, about 45 s in all) [0]\n"
"  --keys N          key pool of mixed (e.g. 1, 16, 1024, 1000000); with quick,\n"
"                    mixed runs on this pool only [1024; quick: 16, 1024, 1M]\n"
"  --seed N          seed of every random stream [from the time; printed]\n"
"  --readers N       reader threads [4]\n"
"  --iterators N     iterator threads, alternately in-section and rcumap_scan [2]\n"
"  --writers N       writer threads [3]; plus, always: a resizer, a grace-period\n"
"                    thread, a sleepy reader and a hold reader\n"
"  --interval SECS   stats interval; every thread must progress in each [1]\n"
"  --stall-intervals N  intervals without progress that make a stall [1; 5 in\n"
"                    sanitizer builds]; the grace-period thread and the resizer,\n"
"                    which wait for readers by design, get at least 10 s\n"
"  --delay-ppm N     probability per million that a delay point yields or\n"
"                    sleeps (more at publish, migrate and switch points) [2000]\n"
"  --fail-ppm N      faults scenario: allocations failed per million [20000]\n"
"  --max-lag-ms N    bound on the reclaim lag (retire to free) [10000; 60000\n"
"                    in sanitizer builds]\n"
"  --max-pending N   bound on objects retired and not yet freed [8000000]\n"
"  --flood-keys N    keys the flood scenario inserts and deletes [200000;\n"
"                    50000 in TSan builds]\n"
"  --lincheck-ops N  operations recorded per lincheck round [20000]\n"
"  --keep-going      run the remaining scenarios after one failed\n"
"  -q, --quiet       one stats interval in ten\n"
"  --verbose         more detail\n"
"  -h, --help        this text\n"
"\n"
"Every output line starts with the program name. The first line holds the\n"
"seed and every parameter: run the program again with them to replay a run.\n"
"That replays the parameters and each thread's random stream (keys,\n"
"operations, delay decisions), not the thread scheduling, so a race may need\n"
"several replays to show again. The last lines are \"End of test: SUCCESS\" or\n"
"\"End of test: FAILURE (<first failing observation>)\" and \"N passed, N failed\"\n"
"(scenarios).\n", prog, TEST_FLAVOR_NAME);
}

static void bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s: usage: %s [--scenario LIST] [--duration SECS] [--keys N] "
		"[--seed N] [options]; %s --help lists them\n", prog, prog, prog);
	exit(2);
}

/* An option's whole number in [lo, hi] (decimal: testlib/util.h), or a usage error. */
static uint64_t opt_u64(const char *s, uint64_t lo, uint64_t hi, const char *what)
{
	uint64_t v;

	if (!s || parse_u64(s, lo, hi, &v))
		bad_usage("bad value for %s", what);
	return v;
}

static double parse_secs(const char *s, double lo, double hi, const char *what)
{
	char *e;
	double v;

	errno = 0;
	if (!s || !*s)
		bad_usage("bad value for %s", what);
	v = strtod(s, &e);
	if (errno || *e || !(v >= lo && v <= hi))
		bad_usage("bad value for %s", what);
	return v;
}

static void add_scen(enum sc_kind kind, uint64_t pool)
{
	struct scen *sc = &scens[nscens++];

	sc->kind = kind;
	sc->pool = pool;
	sc->duration = opt.duration > 0 ? opt.duration : default_duration(sc);
	if (kind == SC_MIXED) {
		if (pool % 1000000 == 0)
			snprintf(sc->name, sizeof(sc->name), "mixed-%" PRIu64 "M", pool / 1000000);
		else if (pool % 1000 == 0 && pool >= 100000)
			snprintf(sc->name, sizeof(sc->name), "mixed-%" PRIu64 "k", pool / 1000);
		else
			snprintf(sc->name, sizeof(sc->name), "mixed-%" PRIu64, pool);
	} else {
		snprintf(sc->name, sizeof(sc->name), "%s", sc_names[kind]);
	}
}

static void parse_scenarios(void)
{
	char buf[sizeof(opt.scenario)], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", opt.scenario);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int k;

		if (nscens > 8)
			bad_usage("too many scenarios in --scenario %s", opt.scenario);
		if (strcmp(tok, "quick") == 0) {
			if (nscens > 0 || strcmp(opt.scenario, "quick") != 0)
				bad_usage("quick cannot be combined with other scenarios (%s)", opt.scenario);
			if (opt.keys) {
				add_scen(SC_MIXED, opt.keys);
			} else {
				add_scen(SC_MIXED, 16);
				add_scen(SC_MIXED, 1024);
				add_scen(SC_MIXED, BIG_POOL);
			}
			add_scen(SC_SINGLE, 1);
			add_scen(SC_COLLIDE, 1024);
			add_scen(SC_FLOOD, opt.flood_keys);
			add_scen(SC_LINCHECK, LC_KEYS);
			add_scen(SC_FAULTS, 1024);
			continue;
		}
		for (k = 0; k <= SC_FAULTS; k++)
			if (strcmp(tok, sc_names[k]) == 0)
				break;
		if (k > SC_FAULTS)
			bad_usage("unknown scenario '%s'", tok);
		switch (k) {
		case SC_MIXED: add_scen(SC_MIXED, opt.keys ? opt.keys : 1024); break;
		case SC_SINGLE: add_scen(SC_SINGLE, 1); break;
		case SC_COLLIDE: add_scen(SC_COLLIDE, 1024); break;
		case SC_FLOOD: add_scen(SC_FLOOD, opt.flood_keys); break;
		case SC_LINCHECK: add_scen(SC_LINCHECK, LC_KEYS); break;
		default: add_scen(SC_FAULTS, 1024); break;
		}
	}
	if (nscens == 0)
		bad_usage("no scenario in --scenario '%s'", opt.scenario);
}

static void parse_options(int argc, char **argv)
{
	enum {
		O_SCENARIO = 256, O_DURATION, O_KEYS, O_SEED, O_READERS, O_ITERATORS, O_WRITERS,
		O_INTERVAL, O_DELAY, O_FAIL, O_LAG, O_PENDING, O_FLOOD, O_LCOPS, O_STALL,
		O_VERBOSE, O_KEEP,
	};
	static const struct option lo[] = {
		{ "scenario", required_argument, NULL, O_SCENARIO },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "keys", required_argument, NULL, O_KEYS },
		{ "seed", required_argument, NULL, O_SEED },
		{ "readers", required_argument, NULL, O_READERS },
		{ "iterators", required_argument, NULL, O_ITERATORS },
		{ "writers", required_argument, NULL, O_WRITERS },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "delay-ppm", required_argument, NULL, O_DELAY },
		{ "fail-ppm", required_argument, NULL, O_FAIL },
		{ "max-lag-ms", required_argument, NULL, O_LAG },
		{ "max-pending", required_argument, NULL, O_PENDING },
		{ "flood-keys", required_argument, NULL, O_FLOOD },
		{ "lincheck-ops", required_argument, NULL, O_LCOPS },
		{ "stall-intervals", required_argument, NULL, O_STALL },
		{ "keep-going", no_argument, NULL, O_KEEP },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, O_VERBOSE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qh", lo, NULL)) != -1) {
		switch (c) {
		case O_SCENARIO:
			if (strlen(optarg) >= sizeof(opt.scenario))
				bad_usage("--scenario %s: too long", optarg);
			snprintf(opt.scenario, sizeof(opt.scenario), "%s", optarg);
			break;
		case O_DURATION: opt.duration = parse_secs(optarg, 0, 1e7, "--duration"); break;
		case O_KEYS: opt.keys = opt_u64(optarg, 1, 1u << 24, "--keys"); break;
		case O_SEED:
			opt.seed = opt_u64(optarg, 0, UINT64_MAX, "--seed");
			opt.seed_given = 1;
			break;
		case O_READERS: opt.readers = (int)opt_u64(optarg, 0, MAX_READERS, "--readers"); break;
		case O_ITERATORS:
			opt.iterators = (int)opt_u64(optarg, 0, MAX_ITERATORS, "--iterators");
			break;
		case O_WRITERS: opt.writers = (int)opt_u64(optarg, 1, MAX_WRITERS, "--writers"); break;
		case O_INTERVAL: opt.interval = parse_secs(optarg, 0.1, 3600, "--interval"); break;
		case O_DELAY: opt.delay_ppm = (uint32_t)opt_u64(optarg, 0, 1000000, "--delay-ppm"); break;
		case O_FAIL: opt.fail_ppm = (uint32_t)opt_u64(optarg, 0, 1000000, "--fail-ppm"); break;
		case O_LAG: opt.max_lag_ms = opt_u64(optarg, 1, UINT64_MAX / NS_PER_MS, "--max-lag-ms"); break;
		case O_PENDING: opt.max_pending = opt_u64(optarg, 1, UINT64_MAX, "--max-pending"); break;
		case O_FLOOD: opt.flood_keys = opt_u64(optarg, 1, 1u << 24, "--flood-keys"); break;
		case O_LCOPS: opt.lincheck_ops = opt_u64(optarg, 100, 10000000, "--lincheck-ops"); break;
		case O_STALL: opt.stall_intervals = (int)opt_u64(optarg, 1, 1000, "--stall-intervals"); break;
		case O_KEEP: opt.keep_going = 1; break;
		case 'q': opt.quiet = 1; break;
		case O_VERBOSE: opt.verbose = 1; break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			bad_usage("option %s needs a value", argv[optind - 1]);
		default:
			bad_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument %s", argv[optind]);
	if (!opt.seed_given) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		opt.seed = mix64((uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec) ^ (uint64_t)getpid();
		opt.seed &= 0xffffffffffffull; /* short enough to type */
	}
	parse_scenarios();
}

int main(int argc, char **argv)
{
	int failed = 0, skipped = 0;
	char keys[32];

	prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	parse_options(argc, argv);
	if (opt.keys)
		snprintf(keys, sizeof(keys), " --keys %" PRIu64, opt.keys);
	else
		keys[0] = 0;
	out("seed %" PRIu64 ", flavor %s; replay with: --scenario %s --duration %g%s --seed %"
	    PRIu64 " --readers %d --iterators %d --writers %d --interval %g --stall-intervals %d "
	    "--delay-ppm %" PRIu32 " --fail-ppm %" PRIu32 " --max-lag-ms %" PRIu64
	    " --max-pending %" PRIu64 " --flood-keys %" PRIu64 " --lincheck-ops %" PRIu64 "%s%s%s",
	    opt.seed, TEST_FLAVOR_NAME, opt.scenario, opt.duration, keys, opt.seed, opt.readers,
	    opt.iterators, opt.writers, opt.interval, opt.stall_intervals, opt.delay_ppm,
	    opt.fail_ppm, opt.max_lag_ms, opt.max_pending, opt.flood_keys, opt.lincheck_ops,
	    opt.keep_going ? " --keep-going" : "", opt.quiet ? " -q" : "",
	    opt.verbose ? " --verbose" : "");

	crash_handlers_install();
	main_thread_enter();
	if (watchdog_start()) {
		out("pthread_create failed");
		return 1;
	}
	for (int i = 0; i < nscens; i++) {
		if (failed && !opt.keep_going) {
			skipped++;
			continue;
		}
		if (run_scenario(&scens[i], i)) {
			n_passed++;
		} else {
			n_failed++;
			failed = 1;
		}
	}
	watchdog_disarm();
	if (skipped)
		out("%d scenario(s) not run after the failure (--keep-going runs them)", skipped);
	main_thread_leave();
	if (n_failed)
		out("End of test: FAILURE (%s)", fail_first());
	else
		out("End of test: SUCCESS");
	printf("%d passed, %d failed\n", n_passed, n_failed);
	fflush(stdout);
	return n_failed ? 1 : 0;
}
