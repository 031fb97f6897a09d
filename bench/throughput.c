/* throughput.c: lookups/s of rcumap against liburcu's cds_lfht on the same keys and hash. */

/*
 * A measurement command, not a test (never run by make check).
 *
 * Setup, identical for every peer:
 * - n keys (default 1000000) are inserted; keys are 8-byte integers
 *   key(i) = scramble(i), a bijection, so the 2n candidates are distinct.
 *   Inserted: i < n. Each lookup draws i uniformly from [0, 2n), so half of
 *   the lookups hit.
 * - Peers: "cds_lfht" (liburcu's lock-free hash table, memb flavor, nodes
 *   embedded in the user struct with a cds_lfht_node and an rcu_head,
 *   freed through call_rcu at teardown), "rcumap" given the same hash
 *   function through config.hash, and "rcumap-siphash" with its default
 *   keyed SipHash-1-3. The ratio column compares each with cds_lfht at the
 *   same thread count.
 * - Pre-sizing: cds_lfht_new gets init_size = n rounded up to a power of
 *   two; rcumap gets config.min_slots = the same number (override: -m). The
 *   header lines print what each table ended with.
 * - Readers hold rcu_read_lock across a batch of lookups (default 128) for
 *   both maps and accumulate every result, so no lookup can be optimised
 *   away. Key generation (a counter-based RNG and scramble, a few ns) is
 *   included in every peer's time alike.
 * - Each round measures every (threads, peer) pair once, the peers in a
 *   rotated order (round-robin start) so drift affects them evenly; the
 *   table reports the median over rounds, with min and max.
 * - Each thread times itself with CLOCK_MONOTONIC from the common start to
 *   its own stop; the rate of a run is the sum of the threads' rates.
 */

#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <urcu.h>		/* memb flavor; must precede rculfhash.h */
#include <urcu/rculfhash.h>
#include <rcumap.h>

#include "util.h"

/* caa_container_of without its char * cast, which clang's -Wcast-align flags. */
#define item_of(ptr, member) \
	((struct lfht_item *)(void *)((char *)(ptr) - offsetof(struct lfht_item, member)))

#define MAX_THREAD_COUNTS 16
#define MAX_THREADS 256
/* Nodes inserted per read section while building cds_lfht. */
#define BUILD_BATCH 1024

enum peer {
	PEER_LFHT,
	PEER_RCUMAP,
	PEER_RCUMAP_SIPHASH,
	PEER_COUNT
};

static const char *const peer_names[PEER_COUNT] = { "cds_lfht", "rcumap", "rcumap-siphash" };

/* A cds_lfht element, laid out as its documentation recommends. */
struct lfht_item {
	uint64_t key;
	struct cds_lfht_node node;
	struct rcu_head rcu;
};

struct reader {
	pthread_t thread;
	enum peer peer;
	uint64_t rng;
	/* Results, read by main after join. */
	uint64_t lookups;
	uint64_t hits;
	uint64_t acc;		/* sum of every pointer returned: keeps the lookups alive */
	double seconds;
} __attribute__((aligned(64)));

static struct {
	uint64_t n;		/* keys inserted */
	unsigned batch;		/* lookups per read section */
	struct cds_lfht *lfht;
	struct rcumap *map[PEER_COUNT];	/* PEER_RCUMAP and PEER_RCUMAP_SIPHASH */
	pthread_barrier_t start;
	int stop;		/* set by main, polled by readers once per batch */
} g;

/* Exits: 0 for -h (text on stdout), 2 for bad options (text on stderr). */
static __attribute__((noreturn)) void usage(const char *prog, int status)
{
	fprintf(status == 0 ? stdout : stderr,
		"usage: %s [-n keys] [-t threads[,threads...]] [-s seconds] [-r rounds]\n"
		"          [-b batch] [-m rcumap_min_slots]\n"
		"  -n keys     keys inserted, 1..2^28 (default 1000000); lookups draw from 2n\n"
		"  -t list     thread counts, comma separated, each 1..%d (default 1,2)\n"
		"  -s seconds  length of one measurement (default 1)\n"
		"  -r rounds   rounds; medians are reported (default 5)\n"
		"  -b batch    lookups per read section, 1..65536 (default 128)\n"
		"  -m slots    rcumap config.min_slots (default: n rounded up to a power of two;\n"
		"              0 lets the map size itself)\n",
		prog, MAX_THREADS);
	exit(status);
}

/* The key set: distinct because mix64 is a bijection. */
static inline uint64_t key_of(uint64_t i)
{
	return mix64(i ^ UINT64_C(0x2545f4914f6cdd1d));
}

/*
 * The hash both maps use: a seeded multiply-xorshift mixer over 8-byte
 * words (~1 ns for one word). Not inlined, so cds_lfht's caller pays a call
 * as rcumap does through config.hash.
 */
static __attribute__((noinline)) uint64_t bench_hash(const void *key, size_t len, void *arg)
{
	const unsigned char *p = key;
	uint64_t h = UINT64_C(0x8f1bbcdcca62c1d6) ^ len, w;

	(void)arg;
	for (; len >= 8; len -= 8, p += 8) {
		memcpy(&w, p, 8);
		h = mix64(h ^ w) + UINT64_C(0x9e3779b97f4a7c15);
	}
	if (len > 0) {
		w = 0;
		memcpy(&w, p, len);
		h = mix64(h ^ w) + UINT64_C(0x9e3779b97f4a7c15);
	}
	return mix64(h);
}

static int lfht_match(struct cds_lfht_node *node, const void *key)
{
	const struct lfht_item *item = item_of(node, node);

	return item->key == *(const uint64_t *)key;
}

static void lfht_free_item(struct rcu_head *head)
{
	free(item_of(head, rcu));
}

/* The lookup every peer does; returns the value (rcumap) or node (cds_lfht) pointer. */
static inline void *lookup(enum peer peer, uint64_t key)
{
	struct cds_lfht_iter iter;

	if (peer == PEER_LFHT) {
		cds_lfht_lookup(g.lfht, bench_hash(&key, sizeof(key), NULL), lfht_match, &key, &iter);
		return cds_lfht_iter_get_node(&iter);
	}
	return rcumap_get(g.map[peer], &key, sizeof(key));
}

/* The loop is written out per peer so that the peer test is outside it. */
#define READ_LOOP(LOOKUP)						\
	do {								\
		while (!CMM_LOAD_SHARED(g.stop)) {			\
			rcu_read_lock();				\
			for (unsigned b = 0; b < batch; b++) {		\
				uint64_t key = key_of(rng_below(&rng, range)); \
				void *found = LOOKUP;			\
				acc += (uintptr_t)found;		\
				hits += found != NULL;			\
			}						\
			rcu_read_unlock();				\
			lookups += batch;				\
		}							\
	} while (0)

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	const unsigned batch = g.batch;
	const uint64_t range = 2 * g.n;
	uint64_t rng = r->rng, lookups = 0, hits = 0, acc = 0;
	struct rcumap *map = g.map[r->peer];
	double t0;

	rcu_register_thread();
	pthread_barrier_wait(&g.start);
	t0 = now_seconds();
	if (r->peer == PEER_LFHT)
		READ_LOOP(lookup(PEER_LFHT, key));
	else
		READ_LOOP(rcumap_get(map, &key, sizeof(key)));
	r->seconds = now_seconds() - t0;
	r->lookups = lookups;
	r->hits = hits;
	r->acc = acc;
	rcu_unregister_thread();
	return NULL;
}

/* One measurement: threads readers on one peer for seconds; returns lookups/s. */
static double measure(enum peer peer, unsigned threads, double seconds, uint64_t seed,
		      uint64_t *hits, uint64_t *lookups, uint64_t *sink)
{
	static struct reader readers[MAX_THREADS];
	struct timespec ts;
	double rate = 0;
	int rc;

	CMM_STORE_SHARED(g.stop, 0);
	pthread_barrier_init(&g.start, NULL, threads + 1);
	for (unsigned i = 0; i < threads; i++) {
		readers[i].peer = peer;
		readers[i].rng = mix64(seed + i);
		rc = pthread_create(&readers[i].thread, NULL, reader_main, &readers[i]);
		if (rc != 0) {
			fprintf(stderr, "throughput: pthread_create: %s\n", strerror(rc));
			exit(1);
		}
	}
	pthread_barrier_wait(&g.start);
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	/* Readers poll stop once per batch; pthread_join orders their results. */
	CMM_STORE_SHARED(g.stop, 1);
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(readers[i].thread, NULL);
		rate += (double)readers[i].lookups / readers[i].seconds;
		*hits += readers[i].hits;
		*lookups += readers[i].lookups;
		*sink += readers[i].acc;
	}
	pthread_barrier_destroy(&g.start);
	return rate;
}

static void build(uint64_t min_slots, struct lfht_item **items)
{
	unsigned long init_size = 1;
	struct rcumap_config config = { 0 };
	int rc;

	while (init_size < g.n)
		init_size <<= 1;
	/* cds_lfht_new uses the flavor of the urcu header included above: memb. */
	g.lfht = cds_lfht_new(init_size, 1, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	if (g.lfht == NULL) {
		fprintf(stderr, "throughput: cds_lfht_new failed\n");
		exit(1);
	}
	for (int p = PEER_RCUMAP; p <= PEER_RCUMAP_SIPHASH; p++) {
		config.flavor = RCUMAP_FLAVOR;
		config.hash = p == PEER_RCUMAP ? bench_hash : NULL;
		config.min_slots = min_slots;
		rc = rcumap_create(&config, &g.map[p]);
		if (rc != 0) {
			fprintf(stderr, "throughput: rcumap_create: %s\n", strerror(-rc));
			exit(1);
		}
	}
	printf("# presize: cds_lfht_new(init_size %lu, min_nr_alloc_buckets 1, max 0, "
	       "AUTO_RESIZE|ACCOUNTING); rcumap config.min_slots %" PRIu64 "\n",
	       init_size, min_slots);

	for (uint64_t base = 0; base < g.n; base += BUILD_BATCH) {
		rcu_read_lock();	/* cds_lfht_add requires it */
		for (uint64_t i = base; i < g.n && i < base + BUILD_BATCH; i++) {
			struct lfht_item *item = malloc(sizeof(*item));

			if (item == NULL) {
				fprintf(stderr, "throughput: out of memory\n");
				exit(1);
			}
			item->key = key_of(i);
			cds_lfht_node_init(&item->node);
			cds_lfht_add(g.lfht, bench_hash(&item->key, sizeof(item->key), NULL),
				     &item->node);
			items[i] = item;
		}
		rcu_read_unlock();
	}
	for (int p = PEER_RCUMAP; p <= PEER_RCUMAP_SIPHASH; p++) {
		for (uint64_t i = 0; i < g.n; i++) {
			/* The value is the user's struct, as a real user would store. */
			rc = rcumap_insert(g.map[p], &items[i]->key, sizeof(items[i]->key), items[i]);
			if (rc != 0) {
				fprintf(stderr, "throughput: rcumap_insert: %s\n", strerror(-rc));
				exit(1);
			}
		}
	}
}

/* Before timing anything: every peer finds exactly the inserted keys. */
static void verify(struct lfht_item **items)
{
	uint64_t bad = 0;

	for (int p = 0; p < PEER_COUNT; p++) {
		for (uint64_t base = 0; base < 2 * g.n; base += BUILD_BATCH) {
			rcu_read_lock();
			for (uint64_t i = base; i < 2 * g.n && i < base + BUILD_BATCH; i++) {
				void *found = lookup((enum peer)p, key_of(i));
				void *want = NULL;

				if (i < g.n)
					want = p == PEER_LFHT ? (void *)&items[i]->node : (void *)items[i];
				if (found != want && bad++ < 5)
					fprintf(stderr, "throughput: %s: key index %" PRIu64
						" found %p, expected %p\n",
						peer_names[p], i, found, want);
			}
			rcu_read_unlock();
		}
	}
	if (bad != 0) {
		fprintf(stderr, "throughput: %" PRIu64 " wrong lookups before timing; giving up\n", bad);
		exit(1);
	}
}

static void teardown(struct lfht_item **items)
{
	int rc;

	for (int p = PEER_RCUMAP; p <= PEER_RCUMAP_SIPHASH; p++) {
		rc = rcumap_destroy(g.map[p]);	/* values are the items, freed below */
		if (rc != 0)
			fprintf(stderr, "throughput: rcumap_destroy: %s\n", strerror(-rc));
	}
	for (uint64_t base = 0; base < g.n; base += BUILD_BATCH) {
		rcu_read_lock();	/* cds_lfht_del requires it */
		for (uint64_t i = base; i < g.n && i < base + BUILD_BATCH; i++) {
			if (cds_lfht_del(g.lfht, &items[i]->node) == 0)
				call_rcu(&items[i]->rcu, lfht_free_item);
		}
		rcu_read_unlock();
	}
	rcu_barrier();		/* every item freed before the table goes */
	if (cds_lfht_destroy(g.lfht, NULL) != 0)
		fprintf(stderr, "throughput: cds_lfht_destroy failed\n");
}

static void print_command(int argc, char **argv)
{
	printf("# command:");
	for (int i = 0; i < argc; i++) {
		if (argv[i][0] != '\0' && strspn(argv[i], "abcdefghijklmnopqrstuvwxyz"
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=.,/:") == strlen(argv[i]))
			printf(" %s", argv[i]);
		else
			printf(" '%s'", argv[i]);	/* good enough for arguments without quotes */
	}
	printf("\n");
}

int main(int argc, char **argv)
{
	uint64_t n = 1000000, rounds = 5, batch = 128, min_slots = 0, seed = 1, v;
	unsigned thread_counts[MAX_THREAD_COUNTS] = { 1, 2 }, nthread_counts = 2;
	int have_min_slots = 0, opt;
	double seconds = 1.0;
	double *rates;
	uint64_t hits[PEER_COUNT] = { 0 }, lookups[PEER_COUNT] = { 0 }, sink = 0;
	struct lfht_item **items;
	struct rcumap_stats st;
	char *end, *list, *tok, *next;

	while ((opt = getopt(argc, argv, "n:t:s:r:b:m:h")) != -1) {
		switch (opt) {
		case 'n':
			if (parse_u64(optarg, 1, UINT64_C(1) << 28, &n))
				usage(argv[0], 2);
			break;
		case 't':
			/* A comma-separated list; empty items are errors. */
			nthread_counts = 0;
			list = strdup(optarg);
			if (list == NULL)
				usage(argv[0], 2);
			for (tok = list; tok != NULL; tok = next) {
				next = strchr(tok, ',');
				if (next != NULL)
					*next++ = '\0';
				if (nthread_counts == MAX_THREAD_COUNTS ||
				    parse_u64(tok, 1, MAX_THREADS, &v))
					usage(argv[0], 2);
				thread_counts[nthread_counts++] = (unsigned)v;
			}
			free(list);
			break;
		case 's':
			errno = 0;
			seconds = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(seconds >= 0.01 && seconds <= 3600))
				usage(argv[0], 2);
			break;
		case 'r':
			if (parse_u64(optarg, 1, 1000, &rounds))
				usage(argv[0], 2);
			break;
		case 'b':
			if (parse_u64(optarg, 1, 65536, &batch))
				usage(argv[0], 2);
			break;
		case 'm':
			if (parse_u64(optarg, 0, RCUMAP_SLOTS_MAX, &min_slots))
				usage(argv[0], 2);
			have_min_slots = 1;
			break;
		case 'h':
			usage(argv[0], 0);
			break;
		default:
			usage(argv[0], 2);
		}
	}
	if (optind != argc)
		usage(argv[0], 2);
	if (!have_min_slots)
		for (min_slots = 1; min_slots < n; min_slots <<= 1)
			;

	g.n = n;
	g.batch = (unsigned)batch;
	items = calloc(n, sizeof(*items));
	rates = calloc(PEER_COUNT * nthread_counts * rounds, sizeof(*rates));
	if (items == NULL || rates == NULL) {
		fprintf(stderr, "throughput: out of memory\n");
		return 1;
	}

	print_command(argc, argv);
	printf("# keys: %" PRIu64 " inserted 8-byte integers; lookups uniform over %" PRIu64
	       " candidates (half hit)\n", n, 2 * n);
	printf("# %" PRIu64 " rounds of %.2f s per (threads, peer), peers round-robin; "
	       "%u lookups per read section; %ld CPUs online\n",
	       rounds, seconds, g.batch, sysconf(_SC_NPROCESSORS_ONLN));
	printf("# hash: cds_lfht and rcumap share bench_hash (seeded mixer); "
	       "rcumap-siphash uses the map's default keyed SipHash-1-3\n");

	rcu_register_thread();
	build(min_slots, items);
	verify(items);
	for (int p = PEER_RCUMAP; p <= PEER_RCUMAP_SIPHASH; p++) {
		rcumap_stats(g.map[p], &st);
		printf("# %s after build: %zu entries, %zu slots, generation %" PRIu64
		       ", %" PRIu64 " grows\n", peer_names[p], st.entries, st.slots,
		       st.generation, st.grows);
	}
	fflush(stdout);

	for (uint64_t r = 0; r < rounds; r++) {
		for (unsigned t = 0; t < nthread_counts; t++) {
			for (unsigned k = 0; k < PEER_COUNT; k++) {
				enum peer p = (enum peer)((k + r + t) % PEER_COUNT);

				rates[(p * nthread_counts + t) * rounds + r] =
					measure(p, thread_counts[t], seconds, seed,
						&hits[p], &lookups[p], &sink);
				seed += MAX_THREADS;	/* fresh lookup streams every run */
			}
		}
		fprintf(stderr, "throughput: round %" PRIu64 "/%" PRIu64 " done\n", r + 1, rounds);
	}

	printf("%-16s %7s %11s %21s %9s %6s\n", "impl", "threads", "Mlookups/s", "(min .. max)",
	       "ratio", "hit%");
	for (unsigned t = 0; t < nthread_counts; t++) {
		double base = 0;

		for (int p = 0; p < PEER_COUNT; p++) {
			double *rv = &rates[(p * nthread_counts + t) * rounds];
			double med = median(rv, (unsigned)rounds) * 1e-6;

			if (p == PEER_LFHT)
				base = med;
			printf("%-16s %7u %11.2f %9.2f .. %-9.2f %9.3f %6.2f\n", peer_names[p],
			       thread_counts[t], med, rv[0] * 1e-6, rv[rounds - 1] * 1e-6,
			       med / base, 100.0 * (double)hits[p] / (double)lookups[p]);
		}
	}
	printf("# ratio: median Mlookups/s over cds_lfht's median at the same thread count; "
	       "hit%% over all rounds (expected 50)\n");
	printf("# checksum %016" PRIx64 "\n", sink);	/* the accumulated results, used */

	teardown(items);
	rcu_unregister_thread();
	free(items);
	free(rates);
	return 0;
}
