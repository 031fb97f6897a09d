/* SPDX-License-Identifier: MIT */
/* scan_delete.c: delete entries from inside rcumap_scan while writers, resizes and pauses go on. */

/*
 * The map holds STABLE_KEYS keys 0..STABLE_KEYS-1 (8-byte integers) that only
 * the scan touches. Meanwhile two writer threads insert and delete keys of
 * their own above that range, and a resizer thread keeps moving the map
 * between a small and a large table. The main thread walks the map with
 * rcumap_scan, BATCH entries per call, sleeps between calls, and deletes
 * every odd stable key from inside the callback.
 *
 * At the end it checks guarantees T2 and T3 of docs/iteration.md on the stable
 * keys (each passed exactly once, although the table changed size under the
 * cursor), that every odd key is gone and every even key kept its value, and
 * that the map freed exactly the values it owned. Exit status 0 when all of
 * that holds, 1 otherwise. Output lines start with "scan_delete: ".
 */

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <urcu.h>		/* liburcu, memb flavor: link -lurcu-memb */
#include <urcu/uatomic.h>
#include <rcumap.h>

#define STABLE_KEYS 100000	/* keys the scan checks and half deletes */
#define WRITERS 2		/* threads churning keys of their own */
#define WRITER_KEYS 5000	/* keys per writer, above the stable range */
#define BATCH 64		/* max_entries per rcumap_scan call */
#define PAUSE_US 100		/* sleep between calls: the cursor holds nothing */

static struct rcumap *map;
static int stop;		/* set by main once the scan is over */
static unsigned long made;	/* values the map took ownership of */
static unsigned long freed;	/* values the map handed back to free_value */
static unsigned long failures;	/* unexpected results, from any thread */

static void fail(const char *what, uint64_t id, int rc)
{
	if (uatomic_add_return(&failures, 1) <= 10)	/* print the first few */
		fprintf(stderr, "scan_delete: FAIL %s (key %llu, %d)\n", what,
			(unsigned long long)id, rc);
}

/* The map calls this, after a grace period, for every value it removed. */
static void free_value(void *value, void *arg)
{
	(void)arg;
	free(value);
	uatomic_inc(&freed);
}

/* Insert key id with a heap copy of id as its value. */
static int insert_id(uint64_t id)
{
	uint64_t *v = malloc(sizeof(*v));
	int rc;

	if (v == NULL)
		return -ENOMEM;
	*v = id;
	rc = rcumap_insert(map, &id, sizeof(id), v);
	if (rc == 0)
		uatomic_inc(&made);
	else
		free(v);	/* on any error the caller keeps its value */
	return rc;
}

/* Writer: toggle random keys of its own range (insert if absent, else delete). */
static void *writer(void *arg)
{
	uint64_t base = STABLE_KEYS + (uintptr_t)arg * WRITER_KEYS;
	unsigned seed = (unsigned)(uintptr_t)arg + 1;

	rcu_register_thread();	/* every thread that uses a map registers */
	for (unsigned n = 1; !uatomic_read(&stop); n++) {
		uint64_t id = base + (uint64_t)rand_r(&seed) % WRITER_KEYS;
		int rc = insert_id(id);

		if (rc == -EEXIST)
			rc = rcumap_delete(map, &id, sizeof(id));
		if (rc != 0)
			fail("writer update", id, rc);
		if (n % 16 == 0)	/* pace: let the call_rcu worker keep up */
			usleep(50);
	}
	rcu_unregister_thread();
	return NULL;
}

/* Resizer: shrink, grow, repeat. -EBUSY: another resize or clear runs; wait a little. */
static void *resizer(void *arg)
{
	(void)arg;
	rcu_register_thread();
	for (unsigned i = 0; !uatomic_read(&stop); i++) {
		int rc = rcumap_resize(map, i % 2 ? 1 << 17 : 1 << 12);

		if (rc == -EBUSY)
			rc = rcumap_barrier(map);
		if (rc != 0)
			fail("resize", 0, rc);
	}
	rcu_unregister_thread();
	return NULL;
}

static unsigned char seen[STABLE_KEYS];	/* times the scan passed each stable key */
static unsigned long deleted;

/* Called by rcumap_scan for each entry, inside the call's own read section. */
static void visit(const void *key, size_t len, void *value, void *arg)
{
	uint64_t id;
	int rc;

	(void)arg;
	memcpy(&id, key, sizeof(id));
	if (len != sizeof(id) || *(uint64_t *)value != id)
		fail("entry does not match its value", id, 0);
	if (id >= STABLE_KEYS)
		return;		/* a writer's key: may or may not be passed (T4) */
	if (seen[id] < 255)
		seen[id]++;
	if (id % 2 == 1) {	/* deleting the entry being visited is allowed (T5) */
		if ((rc = rcumap_delete(map, key, len)) != 0)
			fail("delete from the callback", id, rc);
		deleted++;
	}
}

int main(void)
{
	struct rcumap_config config = { .flavor = RCUMAP_FLAVOR, .free_value = free_value };
	struct rcumap_stats before, after;
	pthread_t threads[WRITERS + 1];
	unsigned long calls = 0, once = 0;
	uint64_t cursor = 0;
	int rc;

	rcu_register_thread();
	if (rcumap_create(&config, &map) != 0)
		return 1;
	for (uint64_t id = 0; id < STABLE_KEYS; id++)
		if ((rc = insert_id(id)) != 0)
			fail("fill", id, rc);
	for (uintptr_t i = 0; i <= WRITERS; i++)	/* the last thread resizes */
		if (pthread_create(&threads[i], NULL, i < WRITERS ? writer : resizer,
				   (void *)i) != 0)
			return 1;

	/* One traversal: from cursor 0 until a call hands cursor 0 back. */
	rcumap_stats(map, &before);
	do {
		if ((rc = rcumap_scan(map, &cursor, BATCH, visit, NULL)) != 0) {
			fail("rcumap_scan", cursor, rc);
			break;
		}
		calls++;
		usleep(PAUSE_US);	/* no read section is held between calls */
	} while (cursor != 0);
	rcumap_stats(map, &after);

	uatomic_set(&stop, 1);
	for (int i = 0; i <= WRITERS; i++)
		pthread_join(threads[i], NULL);

	/* T2 and T3: each stable key passed exactly once. Then the deletes took
	 * effect and the survivors are intact. */
	rcu_read_lock();
	for (uint64_t id = 0; id < STABLE_KEYS; id++) {
		uint64_t *v = rcumap_get(map, &id, sizeof(id));

		if (seen[id] == 1)
			once++;
		else
			fail("stable key not passed exactly once", id, seen[id]);
		if (id % 2 == 1 && v != NULL)
			fail("deleted key still present", id, 0);
		if (id % 2 == 0 && (v == NULL || *v != id))
			fail("surviving key lost or changed", id, 0);
	}
	rcu_read_unlock();
	if ((rc = rcumap_validate(map)) != 0)
		fail("rcumap_validate", 0, rc);
	if ((rc = rcumap_destroy(map)) != 0)	/* frees the values still in it */
		fail("rcumap_destroy", 0, rc);
	if (uatomic_read(&freed) != made)
		fail("values freed differ from values owned", uatomic_read(&freed), 0);

	printf("scan_delete: %lu of %d stable keys passed exactly once in %lu calls"
	       " (max_entries %d); %lu deleted from the callback\n",
	       once, STABLE_KEYS, calls, BATCH, deleted);
	printf("scan_delete: %llu resizes completed during the scan\n",
	       (unsigned long long)(after.grows + after.shrinks - before.grows - before.shrinks));
	printf("scan_delete: %lu values owned by the map, %lu freed by it\n", made, freed);
	printf("scan_delete: %s\n", failures ? "FAILED" : "OK");
	rcu_unregister_thread();
	return failures != 0;
}
