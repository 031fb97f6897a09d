/* SPDX-License-Identifier: MIT */
/* main.c: rcumapd's options, threads, acceptor, signals and shutdown order. */
#define _GNU_SOURCE /* accept4, pipe2 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>

#include "loop.h"
#include "rcumapd.h"

struct server_config cfg;

/*
 * The flavor objects of the three liburcu libraries linked in. Their headers
 * cannot all be included in one file; the objects are all --flavor needs.
 */
extern const struct rcu_flavor_struct urcu_qsbr_flavor;
extern const struct rcu_flavor_struct urcu_memb_flavor;
extern const struct rcu_flavor_struct urcu_bp_flavor;

static const char *progname = "rcumapd";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTION]...\n"
		"A cache server over one rcumap map, speaking RESP2 (Redis) and the memcached\n"
		"text protocol. See rcumapd(1) and docs/server.md.\n"
		"\n"
		"  --flavor qsbr|memb|bp           liburcu flavor (default qsbr)\n"
		"  -t, --threads N                 worker threads (default: online CPUs)\n"
		"  --bind ADDR                     listen address (default 127.0.0.1)\n"
		"  -p, --port PORT                 RESP port (default 7379; 0: off)\n"
		"  --mc-port PORT                  memcached port (default 12211; 0: off)\n"
		"  --maxclients N                  connected clients at most (default 10000)\n"
		"  --maxmemory BYTES               evict cold keys to stay under BYTES of RSS\n"
		"                                  (default 0: no limit)\n"
		"  --proto-max-bulk-len BYTES      largest RESP bulk string (default 512mb)\n"
		"  --client-query-buffer-limit BYTES\n"
		"                                  unparsed input per client (default 1gb)\n"
		"  --client-output-buffer-limit BYTES\n"
		"                                  queued replies per client (default 64mb)\n"
		"  --mc-max-item BYTES             largest memcached value (default 1mb)\n"
		"  --expire-rate N                 entries per second the expiry sweeper\n"
		"                                  visits (default 20000)\n"
		"  --pass-budget N                 commands per client per loop pass (default 64)\n"
		"  --section pass|command          memb/bp: one read section per loop pass\n"
		"                                  (default) or per command\n"
		"  -h, --help                      this text\n"
		"  -V, --version                   version\n"
		"BYTES takes a suffix as Redis does: k m g (1000s), kb mb gb (1024s).\n",
		progname);
}

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", progname);
	exit(2);
}

/* A byte count with Redis's suffixes; -1 on a malformed one. */
static int parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (!strcasecmp(end, "k"))
		mul = 1000;
	else if (!strcasecmp(end, "kb"))
		mul = 1024;
	else if (!strcasecmp(end, "m"))
		mul = 1000 * 1000;
	else if (!strcasecmp(end, "mb"))
		mul = 1024 * 1024;
	else if (!strcasecmp(end, "g"))
		mul = 1000 * 1000 * 1000;
	else if (!strcasecmp(end, "gb"))
		mul = 1024ull * 1024 * 1024;
	else if (*end)
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static uint64_t opt_bytes(const char *name, const char *arg, uint64_t min)
{
	uint64_t v;

	if (parse_bytes(arg, &v) < 0 || v < min)
		die_usage("bad byte count for %s: '%s'", name, arg);
	return v;
}

static long opt_long(const char *name, const char *arg, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < min || v > max)
		die_usage("bad number for %s: '%s'", name, arg);
	return v;
}

enum {
	OPT_FLAVOR = 256, OPT_BIND, OPT_MC_PORT, OPT_MAXCLIENTS, OPT_MAXMEMORY, OPT_BULK,
	OPT_QBUF, OPT_OBUF, OPT_MC_ITEM, OPT_EXPIRE_RATE, OPT_BUDGET, OPT_SECTION,
};

static void parse_options(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "flavor", required_argument, NULL, OPT_FLAVOR },
		{ "threads", required_argument, NULL, 't' },
		{ "bind", required_argument, NULL, OPT_BIND },
		{ "port", required_argument, NULL, 'p' },
		{ "mc-port", required_argument, NULL, OPT_MC_PORT },
		{ "maxclients", required_argument, NULL, OPT_MAXCLIENTS },
		{ "maxmemory", required_argument, NULL, OPT_MAXMEMORY },
		{ "proto-max-bulk-len", required_argument, NULL, OPT_BULK },
		{ "client-query-buffer-limit", required_argument, NULL, OPT_QBUF },
		{ "client-output-buffer-limit", required_argument, NULL, OPT_OBUF },
		{ "mc-max-item", required_argument, NULL, OPT_MC_ITEM },
		{ "expire-rate", required_argument, NULL, OPT_EXPIRE_RATE },
		{ "pass-budget", required_argument, NULL, OPT_BUDGET },
		{ "section", required_argument, NULL, OPT_SECTION },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *flavor = "qsbr";
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int c;

	cfg.threads = ncpu > 0 ? (int)(ncpu < 256 ? ncpu : 256) : 1;
	cfg.bind = "127.0.0.1";
	cfg.resp_port = 7379;
	cfg.mc_port = 12211;
	cfg.maxclients = 10000;
	cfg.max_bulk = 512 * 1024 * 1024;
	cfg.max_multibulk = 1024 * 1024;
	cfg.max_query_buffer = 1024 * 1024 * 1024;
	cfg.max_output_buffer = 64 * 1024 * 1024;
	cfg.max_inline = 64 * 1024;
	cfg.mc_max_item = 1024 * 1024;
	cfg.expire_rate = 20000;
	cfg.pass_budget = 64;
	while ((c = getopt_long(argc, argv, "t:p:hV", opts, NULL)) != -1) {
		switch (c) {
		case OPT_FLAVOR:
			flavor = optarg;
			break;
		case 't':
			cfg.threads = (int)opt_long("--threads", optarg, 1, 1000);
			break;
		case OPT_BIND:
			cfg.bind = optarg;
			break;
		case 'p':
			cfg.resp_port = (int)opt_long("--port", optarg, 0, 65535);
			break;
		case OPT_MC_PORT:
			cfg.mc_port = (int)opt_long("--mc-port", optarg, 0, 65535);
			break;
		case OPT_MAXCLIENTS:
			cfg.maxclients = (size_t)opt_long("--maxclients", optarg, 1, 1000000);
			break;
		case OPT_MAXMEMORY:
			cfg.maxmemory = opt_bytes("--maxmemory", optarg, 0);
			if (cfg.maxmemory && cfg.maxmemory < 4 * 1024 * 1024)
				die_usage("--maxmemory %s is below the 4 MiB the server itself needs", optarg);
			break;
		case OPT_BULK:
			cfg.max_bulk = opt_bytes("--proto-max-bulk-len", optarg, 1024);
			if (cfg.max_bulk > SVAL_MAX)
				die_usage("--proto-max-bulk-len %s is above 4 GiB", optarg);
			break;
		case OPT_QBUF:
			cfg.max_query_buffer = opt_bytes("--client-query-buffer-limit", optarg, 1024 * 1024);
			break;
		case OPT_OBUF:
			cfg.max_output_buffer = opt_bytes("--client-output-buffer-limit", optarg, 64 * 1024);
			break;
		case OPT_MC_ITEM:
			cfg.mc_max_item = opt_bytes("--mc-max-item", optarg, 1024);
			if (cfg.mc_max_item > SVAL_MAX)
				die_usage("--mc-max-item %s is above 4 GiB", optarg);
			break;
		case OPT_EXPIRE_RATE:
			cfg.expire_rate = (unsigned)opt_long("--expire-rate", optarg, 0, 100000000);
			break;
		case OPT_BUDGET:
			cfg.pass_budget = (unsigned)opt_long("--pass-budget", optarg, 1, 1000000);
			break;
		case OPT_SECTION:
			if (!strcmp(optarg, "pass"))
				cfg.section_per_command = 0;
			else if (!strcmp(optarg, "command"))
				cfg.section_per_command = 1;
			else
				die_usage("--section must be pass or command, not '%s'", optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("rcumapd %s\n", RCUMAPD_VERSION);
			exit(0);
		default:
			fprintf(stderr, "Try '%s --help'.\n", progname);
			exit(2);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (!strcmp(flavor, "qsbr"))
		cfg.flavor = &urcu_qsbr_flavor;
	else if (!strcmp(flavor, "memb"))
		cfg.flavor = &urcu_memb_flavor;
	else if (!strcmp(flavor, "bp"))
		cfg.flavor = &urcu_bp_flavor;
	else
		die_usage("--flavor must be qsbr, memb or bp, not '%s'", flavor);
	cfg.flavor_name = flavor;
	cfg.is_qsbr = cfg.flavor == &urcu_qsbr_flavor;
	if (!cfg.resp_port && !cfg.mc_port)
		die_usage("%s", "both ports are off: nothing to serve");
	if (cfg.resp_port && cfg.resp_port == cfg.mc_port)
		die_usage("%s", "--port and --mc-port must differ");
#ifdef RCUMAPD_NEVER_OFFLINE
	cfg.never_offline = 1; /* the liveness test's negative control */
#endif
#ifdef RCUMAPD_BROKEN_BATCH
	cfg.broken_batch = 1; /* test_batch.py's negative control */
#endif
}

/* ---- listening ------------------------------------------------------------ */

static int listen_on(const char *addr, int port)
{
	struct addrinfo hints = { 0 }, *res, *ai;
	char service[16];
	int fd = -1, rc, err = 0;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(addr, service, &hints, &res);
	if (rc) {
		fprintf(stderr, "%s: cannot resolve --bind %s: %s\n", progname, addr, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		int one = 1;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 511) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "%s: cannot listen on %s port %d: %s\n", progname, addr, port,
			strerror(err));
	return fd;
}

/* ---- signals ---------------------------------------------------------------- */

static int sig_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int saved = errno;
	char b = (char)sig;

	if (write(sig_pipe[1], &b, 1) < 0)
		(void)0; /* the pipe is full: a stop is already pending */
	errno = saved;
}

static int setup_signals(void)
{
	struct sigaction sa = { 0 };

	if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

/* ---- the acceptor ------------------------------------------------------------- */

static void accept_all(int lfd, enum proto proto)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				usleep(10000); /* out of descriptors: let closes catch up */
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		loop_handoff(fd, proto);
	}
}

/* Accept until SIGTERM or SIGINT; the acceptor touches no map and is not registered. */
static int run_acceptor(int resp_fd, int mc_fd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };

	if (ep < 0)
		return -1;
	ev.data.u32 = 0;
	epoll_ctl(ep, EPOLL_CTL_ADD, sig_pipe[0], &ev);
	if (resp_fd >= 0) {
		ev.data.u32 = 1;
		epoll_ctl(ep, EPOLL_CTL_ADD, resp_fd, &ev);
	}
	if (mc_fd >= 0) {
		ev.data.u32 = 2;
		epoll_ctl(ep, EPOLL_CTL_ADD, mc_fd, &ev);
	}
	for (;;) {
		struct epoll_event evs[4];
		int n = epoll_wait(ep, evs, 4, -1);

		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == 0) {
				close(ep);
				return 0;
			}
			if (evs[i].data.u32 == 1)
				accept_all(resp_fd, PROTO_RESP);
			else
				accept_all(mc_fd, PROTO_MC);
		}
	}
}

int main(int argc, char **argv)
{
	int resp_fd = -1, mc_fd = -1, rc;
	pthread_t sweeper;

	parse_options(argc, argv);
	if (setup_signals() < 0) {
		perror("rcumapd: signal pipe");
		return 1;
	}
	if (cfg.resp_port && (resp_fd = listen_on(cfg.bind, cfg.resp_port)) < 0)
		return 1;
	if (cfg.mc_port && (mc_fd = listen_on(cfg.bind, cfg.mc_port)) < 0)
		return 1;
	/* The main thread registers: it destroys the map at the end. */
	cfg.flavor->register_thread();
	store_thread_init();
	rc = store_init();
	if (rc < 0) {
		fprintf(stderr, "%s: cannot create the map: %s\n", progname, strerror(-rc));
		return 1;
	}
	/* qsbr: main reads nothing while it accepts; offline, it holds up no grace period. */
	cfg.flavor->thread_offline();
	rc = pthread_create(&sweeper, NULL, store_sweeper, NULL);
	if (rc == 0)
		rc = -loop_start(cfg.threads);
	if (rc) {
		fprintf(stderr, "%s: cannot start threads: %s\n", progname, strerror(rc));
		return 1;
	}
	fprintf(stderr, "%s %s: flavor %s, %d workers, RESP %s:%d, memcached %s:%d\n",
		progname, RCUMAPD_VERSION, cfg.flavor_name, cfg.threads, cfg.bind, cfg.resp_port,
		cfg.bind, cfg.mc_port);
	run_acceptor(resp_fd, mc_fd);
	/* Shutdown order: stop accepting, close connections, join workers, destroy. */
	if (resp_fd >= 0)
		close(resp_fd);
	if (mc_fd >= 0)
		close(mc_fd);
	loop_stop();
	store_sweeper_stop();
	pthread_join(sweeper, NULL);
	cfg.flavor->thread_online();
	rc = store_fini();
	cfg.flavor->unregister_thread();
	if (rc < 0) {
		fprintf(stderr, "%s: rcumap_destroy: %s\n", progname, strerror(-rc));
		return 1;
	}
	fprintf(stderr, "%s: shut down cleanly\n", progname);
	return 0;
}
