/* SPDX-License-Identifier: MIT */
/* info.c: the INFO text of rcumapd (Redis layout), shared by both protocols. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

/*
 * Layout, as Redis: each section is "# Name\r\n", then "field:value\r\n"
 * lines, then an empty line ("\r\n"). Sections: server, clients, memory,
 * stats, keyspace, rcumap. A section name is matched case-insensitively;
 * "all", "default", "everything" or none give every section; an unknown
 * name gives an empty string.
 *
 * Field names are stable (tests parse them). The rcumap section reports the
 * map's own counters, named rcumap_<counter>[_<kind>]:
 *   rcumap_flavor, rcumap_map (rcumap; lfht or mutex64 in the library A/B
 *   builds, server/mapb.h), rcumap_entries, rcumap_slots, rcumap_generation,
 *   rcumap_grows, rcumap_shrinks, rcumap_resizing,
 *   for each kind in bucket, entry, table:
 *     rcumap_retired_<kind>        objects handed to call_rcu
 *     rcumap_reclaimed_<kind>      objects freed after their grace period
 *     rcumap_pending_<kind>        retired - reclaimed (waiting for a grace period)
 *     rcumap_retired_bytes_<kind>, rcumap_reclaimed_bytes_<kind>,
 *     rcumap_pending_bytes_<kind>  the same in bytes
 *   rcumap_pending_objects, rcumap_pending_bytes   sums over the kinds
 *   rcumap_memb_sys_membarrier     1 when liburcu memb uses sys_membarrier
 * The memory section adds rcumap_purges, the MEMORY PURGE requests the
 * sweeper has carried out.
 * Counters are read without a common snapshot, so a pending value is
 * clamped at 0 rather than wrapping if reclaimed was read after retired.
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "mapb.h"
#include "rcumapd.h"

struct sb {
	char *p;
	size_t len;
	size_t cap;
	int oom;
};

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap * 2 + (size_t)n + 1;
		char *np = realloc(b->p, ncap);

		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t sub0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* Human-readable byte count, as Redis's *_human fields. */
static void human(char *buf, size_t n, uint64_t v)
{
	static const char units[] = "KMGTPE";
	double d = (double)v;
	int u = -1;

	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, n, "%" PRIu64 "B", v);
	else
		snprintf(buf, n, "%.2f%c", d, units[u]);
}

static void sec_server(struct sb *b, const struct server_counters *sc)
{
	uint64_t up = sub0(now_ms(), sc->start_ms) / 1000;

	sb_printf(b, "# Server\r\n"
		  "rcumapd_version:%s\r\n"
		  "rcumapd_mode:standalone\r\n"
		  "arch_bits:%d\r\n"
		  "multiplexing_api:epoll\r\n"
		  "process_id:%ld\r\n"
		  "tcp_port:%d\r\n"
		  "memcached_port:%d\r\n"
		  "uptime_in_seconds:%" PRIu64 "\r\n"
		  "uptime_in_days:%" PRIu64 "\r\n"
		  "flavor:%s\r\n"
		  "workers:%d\r\n"
		  "\r\n",
		  RCUMAPD_VERSION, (int)(sizeof(void *) * 8), (long)getpid(),
		  cfg.resp_port, cfg.mc_port, up, up / 86400,
		  cfg.flavor_name ? cfg.flavor_name : "", cfg.threads);
}

static void sec_clients(struct sb *b, const struct server_counters *sc)
{
	sb_printf(b, "# Clients\r\n"
		  "connected_clients:%" PRIu64 "\r\n"
		  "maxclients:%zu\r\n"
		  "\r\n",
		  sc->clients, cfg.maxclients);
}

static void sec_memory(struct sb *b, const struct store_info *si)
{
	char h1[32], h2[32], h3[32];

	human(h1, sizeof(h1), si->used_bytes);
	human(h2, sizeof(h2), si->rss_bytes);
	human(h3, sizeof(h3), si->maxmemory);
	sb_printf(b, "# Memory\r\n"
		  "used_memory:%" PRIu64 "\r\n"
		  "used_memory_human:%s\r\n"
		  "used_memory_rss:%" PRIu64 "\r\n"
		  "used_memory_rss_human:%s\r\n"
		  "maxmemory:%" PRIu64 "\r\n"
		  "maxmemory_human:%s\r\n"
		  "maxmemory_policy:%s\r\n"
		  "rcumap_purges:%" PRIu64 "\r\n"
		  "\r\n",
		  si->used_bytes, h1, si->rss_bytes, h2, si->maxmemory, h3,
		  si->maxmemory ? "allkeys-clock" : "noeviction", si->purges);
}

static void sec_stats(struct sb *b, const struct server_counters *sc,
		      const struct store_info *si)
{
	sb_printf(b, "# Stats\r\n"
		  "total_connections_received:%" PRIu64 "\r\n"
		  "total_commands_processed:%" PRIu64 "\r\n"
		  "rejected_connections:%" PRIu64 "\r\n"
		  "dropped_connections:%" PRIu64 "\r\n"
		  "expired_keys:%" PRIu64 "\r\n"
		  "evicted_keys:%" PRIu64 "\r\n"
		  "keyspace_hits:%" PRIu64 "\r\n"
		  "keyspace_misses:%" PRIu64 "\r\n"
		  "\r\n",
		  sc->connections, sc->commands, sc->rejected, sc->dropped,
		  si->expirations, si->evictions, si->keyspace_hits, si->keyspace_misses);
}

static void sec_keyspace(struct sb *b, const struct store_info *si)
{
	sb_printf(b, "# Keyspace\r\n");
	if (si->map.entries)
		sb_printf(b, "db0:keys=%zu,expires=0,avg_ttl=0\r\n", si->map.entries);
	sb_printf(b, "\r\n");
}

static void sec_rcumap(struct sb *b, const struct store_info *si)
{
	static const char *const kinds[RCUMAP_STATS_KINDS] = { "bucket", "entry", "table" };
	const struct rcumap_stats *m = &si->map;

	sb_printf(b, "# Rcumap\r\n"
		  "rcumap_flavor:%s\r\n"
		  "rcumap_map:%s\r\n"
		  "rcumap_entries:%zu\r\n"
		  "rcumap_slots:%zu\r\n"
		  "rcumap_generation:%" PRIu64 "\r\n"
		  "rcumap_grows:%" PRIu64 "\r\n"
		  "rcumap_shrinks:%" PRIu64 "\r\n"
		  "rcumap_resizing:%d\r\n",
		  cfg.flavor_name ? cfg.flavor_name : "", MAPB_NAME, m->entries, m->slots,
		  m->generation, m->grows, m->shrinks, m->resizing);
	for (int k = 0; k < RCUMAP_STATS_KINDS; k++) {
		uint64_t po = sub0(m->kind[k].retired, m->kind[k].reclaimed);
		uint64_t pb = sub0(m->kind[k].retired_bytes, m->kind[k].reclaimed_bytes);

		sb_printf(b, "rcumap_retired_%s:%" PRIu64 "\r\n"
			  "rcumap_reclaimed_%s:%" PRIu64 "\r\n"
			  "rcumap_pending_%s:%" PRIu64 "\r\n"
			  "rcumap_retired_bytes_%s:%" PRIu64 "\r\n"
			  "rcumap_reclaimed_bytes_%s:%" PRIu64 "\r\n"
			  "rcumap_pending_bytes_%s:%" PRIu64 "\r\n",
			  kinds[k], m->kind[k].retired, kinds[k], m->kind[k].reclaimed,
			  kinds[k], po, kinds[k], m->kind[k].retired_bytes,
			  kinds[k], m->kind[k].reclaimed_bytes, kinds[k], pb);
	}
	sb_printf(b, "rcumap_pending_objects:%" PRIu64 "\r\n"
		  "rcumap_pending_bytes:%" PRIu64 "\r\n"
		  "rcumap_memb_sys_membarrier:%d\r\n"
		  "\r\n",
		  si->pending_objects, si->pending_bytes, si->membarrier);
}

static int is_name(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

char *info_text(const char *section, size_t section_len)
{
	enum { S_SERVER = 1, S_CLIENTS = 2, S_MEMORY = 4, S_STATS = 8, S_KEYSPACE = 16,
	       S_RCUMAP = 32, S_ALL = 63 };
	struct sb b = { NULL, 0, 0, 0 };
	struct server_counters sc;
	struct store_info si;
	unsigned want = 0;

	if (!section || section_len == 0 || is_name(section, section_len, "all") ||
	    is_name(section, section_len, "default") ||
	    is_name(section, section_len, "everything"))
		want = S_ALL;
	else if (is_name(section, section_len, "server"))
		want = S_SERVER;
	else if (is_name(section, section_len, "clients"))
		want = S_CLIENTS;
	else if (is_name(section, section_len, "memory"))
		want = S_MEMORY;
	else if (is_name(section, section_len, "stats"))
		want = S_STATS;
	else if (is_name(section, section_len, "keyspace"))
		want = S_KEYSPACE;
	else if (is_name(section, section_len, "rcumap"))
		want = S_RCUMAP;

	b.cap = want ? 4096 : 1;
	b.p = malloc(b.cap);
	if (!b.p)
		return NULL;
	b.p[0] = '\0';
	if (!want)
		return b.p;

	server_counters(&sc);
	if (want & (S_MEMORY | S_STATS | S_KEYSPACE | S_RCUMAP))
		store_info(&si);
	if (want & S_SERVER)
		sec_server(&b, &sc);
	if (want & S_CLIENTS)
		sec_clients(&b, &sc);
	if (want & S_MEMORY)
		sec_memory(&b, &si);
	if (want & S_STATS)
		sec_stats(&b, &sc, &si);
	if (want & S_KEYSPACE)
		sec_keyspace(&b, &si);
	if (want & S_RCUMAP)
		sec_rcumap(&b, &si);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
