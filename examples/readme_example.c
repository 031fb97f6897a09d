/* SPDX-License-Identifier: MIT */
/* readme_example.c: the example in README.md; exits non-zero if anything unexpected happens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>	/* liburcu, memb flavor: link -lurcu-memb */
#include <rcumap.h>

static void free_value(void *value, void *arg) { (void)arg; free(value); }

int main(void)
{
	struct rcumap_config config = { .flavor = RCUMAP_FLAVOR, .free_value = free_value };
	const char *en[] = { "one", "two", "three" }, *es[] = { "uno", "dos", "tres" }, *v;
	struct rcumap *map; int bad = 0;

	rcu_register_thread();	/* every thread that uses a map registers */
	if (rcumap_create(&config, &map) != 0)
		return 1;
	for (int i = 0; i < 3; i++)	/* the map copies the key and owns the value */
		bad |= rcumap_insert(map, en[i], strlen(en[i]), strdup(es[i])) != 0;
	rcu_read_lock();	/* v stays valid until the unlock */
	v = rcumap_get(map, "two", 3);
	bad |= v == NULL || strcmp(v, "dos") != 0 || printf("two -> %s\n", v) < 0;
	rcu_read_unlock();
	bad |= rcumap_delete(map, "one", 3) != 0 || rcumap_count(map) != 2;
	bad |= rcumap_destroy(map) != 0;	/* frees the values still in the map */
	rcu_unregister_thread();
	return bad;
}
