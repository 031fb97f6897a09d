/* SPDX-License-Identifier: MIT */
/* mapb_common.c: what the two library A/B maps share; linked into rcumapd-lfht and -mutex. */

#include "config.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>

#include "mapb.h"

#ifndef MAPB_AB
#error "mapb_common.c is for the A/B builds (-DRCUMAPD_MAP_LFHT or -DRCUMAPD_MAP_MUTEX)"
#endif

/* To recognise qsbr, whose "read section" is being online. */
extern const struct rcu_flavor_struct urcu_qsbr_flavor;

static uint64_t mapb_seed(void)
{
	uint64_t s;
	struct timespec ts;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
		return s;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec;
}

void mapb_rcu_init(struct mapb_rcu *r, const struct rcumap_config *config)
{
	r->flavor = config->flavor;
	/* By function, so that a copy of the qsbr flavor struct is recognised too. */
	r->qsbr = config->flavor->read_ongoing == urcu_qsbr_flavor.read_ongoing;
	r->free_value = config->free_value;
	r->free_value_arg = config->free_value_arg;
	r->seed = mapb_seed();
}

int mapb_rcu_in_read(const struct mapb_rcu *r)
{
	return !r->qsbr && r->flavor->read_ongoing();
}

int mapb_rcu_barrier(const struct mapb_rcu *r)
{
	if (mapb_rcu_in_read(r))
		return -EDEADLK;
	r->flavor->barrier(); /* qsbr: the wait is a quiescent state */
	return 0;
}

long mapb_get_batch(struct mapb *m, size_t n, const void *const keys[], const size_t lens[],
		    void *values[])
{
	long found = 0;

	if (!m || (n && (!keys || !lens || !values)))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!mapb_key_ok(keys[i], lens[i]))
			return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		values[i] = mapb_get(m, keys[i], lens[i]);
		found += values[i] != NULL;
	}
	return found;
}

int mapb_put(struct mapb *m, const void *key, size_t len, void *value)
{
	if (!m || !mapb_key_ok(key, len) || !value)
		return -EINVAL;
	return mapb_store(m, key, len, NULL, value);
}

int mapb_cas(struct mapb *m, const void *key, size_t len, void *expected, void *desired)
{
	if (!m || !mapb_key_ok(key, len) || !expected || !desired)
		return -EINVAL;
	return mapb_store(m, key, len, expected, desired);
}
