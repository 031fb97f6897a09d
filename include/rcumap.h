/* SPDX-License-Identifier: MIT */
/* rcumap.h: public interface of rcumap, a concurrent hash map on userspace RCU. */
#ifndef RCUMAP_H
#define RCUMAP_H

/*
 * Overview (the full contract, with labelled guarantees, is docs/design.md):
 *
 * - Lookups (rcumap_get) run inside the caller's RCU read section. They take
 *   no lock, perform no atomic read-modify-write, store nothing to shared
 *   memory and allocate nothing. They are wait-free.
 * - Updates are lock-free: a writer copies one bucket with its change and
 *   publishes the copy with a compare-and-swap on that bucket's slot. The old
 *   bucket and any removed key or value are reclaimed after a grace period,
 *   gathered in per-thread bags that go to the flavor's call_rcu as one
 *   callback each. No update ever waits for a reader.
 * - The table grows and shrinks by generations, migrating one slot group at a
 *   time behind forwarding marks; readers and writers follow the marks.
 *
 * Conventions for every function below:
 * - Calls returning int return 0 on success or a negative errno.
 * - Invalid arguments return -EINVAL and change nothing.
 * - An allocation failure returns -ENOMEM and leaves the map's contents
 *   exactly as they were.
 * - A key is a byte string: a pointer and a length from 0 to RCUMAP_KEY_MAX.
 *   The pointer may be NULL only when the length is 0. The map copies it.
 * - A value is a non-NULL void pointer. On success of a call that stores it,
 *   the map owns it and later passes it to free_value after a grace period.
 *   On any error the caller keeps ownership.
 * - "Registered thread": the calling thread must be registered with the map's
 *   liburcu flavor (rcu_register_thread) unless the flavor is bp, and with
 *   qsbr it must be online.
 *
 * fork(): a child inherits the map's memory, its locks as they were, and
 * only the thread that forked. It may go on using the map (every call,
 * rcumap_barrier and rcumap_destroy included) only if the parent kept
 * liburcu's fork rules (its README, "Interaction with fork()") and rcumap's:
 * - call_rcu_before_fork() before fork(), call_rcu_after_fork_parent() in
 *   the parent and call_rcu_after_fork_child() in the child: the map's
 *   reclamation runs on call_rcu, and without them rcumap_barrier and
 *   rcumap_destroy wait for ever in the child;
 * - memb and qsbr: no other thread is registered with the flavor at fork()
 *   (the child would wait for ever for their read sections); bp:
 *   rcu_bp_before_fork(), rcu_bp_after_fork_parent() and
 *   rcu_bp_after_fork_child() around fork() instead;
 * - no other thread is inside a call on the map at fork() (the child would
 *   inherit a lock held by a thread it does not have: rcumap_clear could
 *   then wait for ever, rcumap_resize wait or return -EBUSY for ever, and
 *   updates stop moving migrations on).
 * Otherwise the child must leave the map alone (exec or _exit). The parent's
 * map is unaffected either way. tests/test_fork.c does it for each flavor.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* liburcu's flavor descriptor (<urcu/flavor.h>); only a pointer is needed here. */
struct rcu_flavor_struct;

/* The map. Opaque. */
struct rcumap;

/* Largest key length accepted, in bytes (1 GiB). */
#define RCUMAP_KEY_MAX ((size_t)1 << 30)

/*
 * Largest slot count a table may have: 2^31, or 2^29 where size_t has 32
 * bits (so that a table's size in bytes still fits in a size_t).
 */
#if SIZE_MAX > 0xffffffffu
#define RCUMAP_SLOTS_MAX ((size_t)1 << 31)
#else
#define RCUMAP_SLOTS_MAX ((size_t)1 << 29)
#endif

/*
 * The flavor of the liburcu header the caller included, for
 * rcumap_config.flavor: include <urcu.h> (memb), <urcu-qsbr.h> or
 * <urcu-bp.h> before using it. The <urcu/urcu-*.h> forms define only the
 * prefixed names: pass &urcu_memb_flavor, &urcu_qsbr_flavor or
 * &urcu_bp_flavor with them.
 */
#define RCUMAP_FLAVOR (&rcu_flavor)

/*
 * What an allocation made through rcumap_config.alloc is for. The stats count
 * retired and reclaimed objects for the first three kinds.
 */
enum rcumap_kind {
	RCUMAP_KIND_BUCKET = 0, /* an immutable bucket of entries */
	RCUMAP_KIND_ENTRY = 1,  /* a removed entry; bytes are its out-of-line key copy */
	RCUMAP_KIND_TABLE = 2,  /* a table generation (the slot array) */
	RCUMAP_KIND_MAP = 3,    /* the map object itself; not in the stats */
};
#define RCUMAP_STATS_KINDS 3

/*
 * Creation parameters. Zero-initialise and set what you need; only flavor is
 * required.
 */
struct rcumap_config {
	/* Required: the liburcu flavor every caller of this map uses. */
	const struct rcu_flavor_struct *flavor;

	/*
	 * Called once for every value the map owned and removed (delete,
	 * replace, clear, destroy), from a call_rcu callback after a grace
	 * period, or from rcumap_destroy. NULL: values are not freed.
	 */
	void (*free_value)(void *value, void *arg);
	void *free_value_arg;

	/*
	 * Hash function. NULL selects the default, keyed with 160 random
	 * bytes drawn per map, so keys an attacker chooses without reading
	 * the map's memory cannot be aimed at one slot (hash flooding): AES
	 * rounds where the CPU has them (x86-64 AES-NI, ARMv8 crypto
	 * extension), SipHash-1-3 elsewhere (docs/design.md, "Hashing"). A custom hash must be deterministic
	 * for the map's lifetime; bits from both halves of the 64-bit result
	 * are used.
	 */
	uint64_t (*hash)(const void *key, size_t len, void *arg);
	void *hash_arg;

	/*
	 * Slot count the table starts with and never shrinks below. Rounded
	 * up to a power of two. 0 selects the default, 8.
	 */
	size_t min_slots;

	/*
	 * Allocator. Either both set or both NULL (then malloc and free).
	 * alloc must return memory aligned to at least 16 bytes, or NULL on
	 * failure. A bucket that is not 16-byte aligned is given back to free
	 * and the update fails with -ENOMEM, changing nothing. free receives
	 * the size and kind given to alloc, and may be called from the
	 * call_rcu worker thread. With both NULL the map keeps reclaimed
	 * buckets in per-thread caches for reuse and gives them back to
	 * malloc in rcumap_barrier and rcumap_destroy; a user allocator gets
	 * every call instead (docs/design.md, "Allocation").
	 */
	void *(*alloc)(size_t size, enum rcumap_kind kind, void *arg);
	void (*free)(void *ptr, size_t size, enum rcumap_kind kind, void *arg);
	void *alloc_arg;
};

/* Counters reported by rcumap_stats. */
struct rcumap_stats {
	size_t entries;       /* same as rcumap_count() */
	size_t slots;         /* slots of the current generation */
	uint64_t generation;  /* number of the current generation, 0 at creation */
	uint64_t grows;       /* completed grows */
	uint64_t shrinks;     /* completed shrinks */
	int resizing;         /* 1 while a migration to a new generation is pending */
	/* Indexed by enum rcumap_kind (bucket, entry, table). */
	struct {
		uint64_t retired;         /* objects handed to call_rcu */
		uint64_t reclaimed;       /* objects freed after their grace period */
		uint64_t retired_bytes;
		uint64_t reclaimed_bytes;
	} kind[RCUMAP_STATS_KINDS];
};

/*
 * rcumap_create - make an empty map.
 * @config: creation parameters; copied, need not outlive the call.
 * @out: receives the map on success; untouched on failure.
 *
 * Return: 0; -EINVAL if config, out or config->flavor is NULL, if only one
 * of alloc/free is set, or if min_slots exceeds RCUMAP_SLOTS_MAX; -ENOMEM.
 * Context: any thread; does not need a read section; does not block.
 * Ordering: none; hand the map to other threads through your own
 * synchronisation (thread creation, a mutex, a release store).
 */
int rcumap_create(const struct rcumap_config *config, struct rcumap **out);

/*
 * rcumap_destroy - free the map, every entry in it, and all its pending
 * reclamation.
 * @map: the map; must not be used by any other call, concurrently or after.
 *
 * Every remaining value is passed to free_value after a grace period, and
 * the call returns only when everything the map ever retired has been
 * reclaimed (it waits through the flavor's barrier).
 *
 * Return: 0 (the map is gone); -EINVAL if map is NULL; -EDEADLK if called
 * inside a read section (memb, bp), where waiting would deadlock: the map is
 * left untouched.
 * Context: registered thread, outside any read section (qsbr: online or
 * offline). Blocks for at least one grace period.
 * Ordering: every earlier call on the map, by any thread, must happen before
 * this one (join or otherwise synchronise with those threads first).
 */
int rcumap_destroy(struct rcumap *map);

/*
 * rcumap_get - look up a key.
 * @map: the map.
 * @key, @len: the key.
 *
 * Return: the value stored for the key, or NULL when the key is absent or an
 * argument is invalid (NULL map, NULL key with nonzero length, len above
 * RCUMAP_KEY_MAX). The value stays valid until the caller leaves its read
 * section, even if it is removed meanwhile.
 * Context: must be called inside the caller's read section (memb, bp:
 * rcu_read_lock; qsbr: online). Wait-free: no lock, no atomic
 * read-modify-write, no store to shared memory, no allocation.
 * Ordering: acquire. If the lookup sees a value stored by an update, it also
 * sees every store that update's caller made before the update.
 */
void *rcumap_get(struct rcumap *map, const void *key, size_t len);

/*
 * rcumap_get_batch - look up many keys at once, overlapping their cache misses.
 * @map: the map.
 * @n: the number of keys; any count, 0 included.
 * @keys, @lens: key i is keys[i], lens[i] bytes long, for i < n. The same
 * key may appear more than once.
 * @values: receives, for each i < n, the value stored for key i, or NULL
 * when it is absent.
 *
 * Each values[i] is what rcumap_get(map, keys[i], lens[i]) would have
 * returned at some instant during the call. The instants of different keys
 * may differ: the batch as a whole is not a snapshot, exactly as n separate
 * rcumap_get calls are not.
 *
 * The keys are worked through in groups: for a group, every key is hashed
 * and its slot prefetched, then every slot is read and its bucket
 * prefetched, then every bucket is searched. A lookup of a large table
 * waits on two dependent cache misses, the slot and then the bucket; a
 * group overlaps those misses of all its keys, where separate lookups pay
 * them one after another. The shape (parallel arrays of pointers and
 * lengths, results in a third) is the one a command parser already has in
 * hand, such as a server's argument vector, so no key is copied.
 *
 * Return: the number of keys found, from 0 to n. -EINVAL, with nothing
 * written to @values, if map is NULL, if n > 0 and any array is NULL, or if
 * any key is invalid (NULL with nonzero length, length above
 * RCUMAP_KEY_MAX). Values stay valid until the caller leaves its read
 * section, as with rcumap_get.
 * Context: as rcumap_get: inside the caller's read section, wait-free, no
 * lock, no atomic read-modify-write, no store to shared memory (other than
 * @values), no allocation.
 * Ordering: acquire, per key, as rcumap_get.
 */
long rcumap_get_batch(struct rcumap *map, size_t n, const void *const keys[],
		      const size_t lens[], void *values[]);

/*
 * rcumap_insert - store a value for a key that is absent.
 *
 * Return: 0; -EEXIST if the key is present (nothing changes, the caller
 * keeps @value); -EINVAL; -ENOMEM.
 * Context: registered thread, inside or outside a read section. Lock-free;
 * never waits for a reader or a grace period. An update that meets a pending
 * table migration moves it on by at most 64 slots, so none pays for a whole
 * table. Many inserts inside one read section (or, with qsbr, without a
 * quiescent state) still let the table grow; only the memory they retire
 * waits for the section to end.
 * Ordering: release on success (pairs with the acquire of rcumap_get).
 */
int rcumap_insert(struct rcumap *map, const void *key, size_t len, void *value);

/*
 * rcumap_put - store a value for a key, replacing any present value.
 *
 * The replaced value, if any, goes to free_value after a grace period.
 * Storing the pointer that is already stored for the key changes nothing.
 *
 * Return: 0; -EINVAL; -ENOMEM.
 * Context and ordering: as rcumap_insert.
 */
int rcumap_put(struct rcumap *map, const void *key, size_t len, void *value);

/*
 * rcumap_replace - replace the value of a key that is present.
 *
 * Return: 0; -ENOENT if the key is absent (the caller keeps @value);
 * -EINVAL; -ENOMEM.
 * Context and ordering: as rcumap_insert.
 */
int rcumap_replace(struct rcumap *map, const void *key, size_t len, void *value);

/*
 * rcumap_cas - replace a key's value only if it is @expected.
 *
 * On success @expected goes to free_value after a grace period (unless it
 * equals @desired, then nothing changes).
 *
 * Return: 0; -ENOENT if the key is absent; -EAGAIN if its value is not
 * @expected; -EINVAL (also for a NULL expected or desired); -ENOMEM. On any
 * error the caller keeps @desired.
 * Context and ordering: as rcumap_insert; atomic with respect to every
 * other update of the key.
 */
int rcumap_cas(struct rcumap *map, const void *key, size_t len,
	       void *expected, void *desired);

/*
 * rcumap_delete - remove a key.
 *
 * The key's copy and value are reclaimed after a grace period.
 *
 * Return: 0; -ENOENT if the key is absent; -EINVAL; -ENOMEM (a delete
 * copies the key's bucket unless it was the only entry in it).
 * Context and ordering: as rcumap_insert.
 */
int rcumap_delete(struct rcumap *map, const void *key, size_t len);

/*
 * rcumap_delete_if - remove a key only if its value is @expected.
 *
 * Return: 0; -ENOENT if the key is absent; -EAGAIN if its value is not
 * @expected; -EINVAL (also for a NULL expected); -ENOMEM.
 * Context and ordering: as rcumap_insert.
 */
int rcumap_delete_if(struct rcumap *map, const void *key, size_t len,
		     void *expected);

/*
 * rcumap_get_or_insert - return the key's value, storing @value first if the
 * key is absent.
 * @result: receives the value stored for the key when the call returns:
 * @value when it was inserted, the existing value otherwise.
 *
 * Return: 0 if @value was inserted (the map owns it); -EEXIST if the key was
 * present (*result is the existing value, the caller keeps @value);
 * -EINVAL; -ENOMEM (*result untouched).
 * Context: as rcumap_insert. The existing value returned through @result
 * may be removed and reclaimed at any time unless the caller holds a read
 * section across the call and its use of *result.
 * Ordering: release on insertion, acquire on the existing value.
 */
int rcumap_get_or_insert(struct rcumap *map, const void *key, size_t len,
			 void *value, void **result);

/*
 * rcumap_count - number of entries.
 *
 * Return: the number of entries; 0 for a NULL map. Exact when no update is in
 * progress; while updates run concurrently it is off by at most the number
 * of updates in progress. O(1): sums a fixed number of counters.
 * Context: any thread; read section not needed; wait-free.
 * Ordering: none (relaxed counters).
 */
size_t rcumap_count(const struct rcumap *map);

/*
 * rcumap_clear - remove every entry.
 *
 * Finishes any pending migration first, then empties the slots one by one;
 * an entry inserted concurrently may survive. Removed keys and values are
 * reclaimed after a grace period. The table shrinks on later updates or
 * through rcumap_resize.
 *
 * Return: 0; -EINVAL; -ENOMEM if the pending migration could not finish
 * (nothing was removed).
 * Context: registered thread, inside or outside a read section. Never waits
 * for a reader; may wait for another thread's migration step.
 * Ordering: each slot is emptied by a release compare-and-swap, as a delete.
 */
int rcumap_clear(struct rcumap *map);

/*
 * rcumap_stats - read the map's counters.
 * @out: receives the counters.
 *
 * The counters are read one by one and are not a single snapshot while
 * updates run. Once the map is quiet and rcumap_barrier has returned, for
 * every kind retired == reclaimed. The frozen buckets of an old generation
 * are counted as retired when that generation's callback frees them.
 *
 * Return: 0; -EINVAL if map or out is NULL.
 * Context: any thread; read section not needed.
 * Ordering: none. Counters, slots, generation and the resizing flag are
 * relaxed copies that the map keeps beside its tables, so stats never
 * dereferences a table and needs no read section.
 */
int rcumap_stats(const struct rcumap *map, struct rcumap_stats *out);

/*
 * rcumap_barrier - wait until everything the map retired before the call has
 * been reclaimed (values passed to free_value, memory freed).
 *
 * Return: 0; -EINVAL; -EDEADLK if called inside a read section (memb, bp),
 * where waiting for a grace period would deadlock.
 * Retired buckets wait in per-thread bags that go to call_rcu as one
 * callback each (docs/design.md, "Reclamation"); the barrier queues every
 * bag holding something retired before the call, then waits through the
 * flavor's barrier, once more if a bag had to wait for a free carrier.
 *
 * Context: registered thread outside any read section; with qsbr the thread
 * may be online (the wait is a quiescent state). Blocks for at least one
 * grace period, usually one or two flavor barriers.
 * Ordering: every free_value call for a value retired before the call
 * happens before the return.
 */
int rcumap_barrier(struct rcumap *map);

/*
 * rcumap_resize - move the map to a new generation of @slots slots now.
 * @slots: requested slot count, at most RCUMAP_SLOTS_MAX, rounded up to a
 * power of two and to at least min_slots; 0 asks for the size the automatic policy
 * picks for the current count (which may be the current size: then nothing
 * happens). Use 0 after mass deletes on a map that has gone quiet.
 *
 * The calling thread migrates every slot group before returning; other
 * threads keep reading and updating meanwhile. The automatic policy may
 * resize again later (see docs/design.md, "Resize policy").
 *
 * A migration already pending (one that updates are moving on 64 slots at a
 * time, or one left by an earlier -ENOMEM) is finished first. No grace
 * period is waited for: resizes go through inside a read section too, and
 * the generations they retire are reclaimed after it ends.
 *
 * Concurrent calls: an update moving a migration on holds the migration
 * lock for one chunk of 64 slots (microseconds): rcumap_resize waits for
 * it. Another thread's rcumap_resize or rcumap_clear holds it for a whole
 * migration or clear: then rcumap_resize returns 0 at once if nothing is to
 * be done (@slots, rounded, is the current size and no migration is
 * pending), and -EBUSY otherwise, without waiting; retry after that call
 * has returned. A call that starts meanwhile may still be waited for.
 *
 * Return: 0 (also when the table already has that size); -EBUSY (another
 * thread's rcumap_resize or rcumap_clear is running, see above); -EINVAL
 * (also for slots above RCUMAP_SLOTS_MAX); -ENOMEM (the migration stays
 * pending; the contents are unchanged and a later update resumes it).
 * Context: registered thread, inside or outside a read section. Never waits
 * for a reader; may wait for an update's migration step.
 * Ordering: the switch to the new generation is a release store that every
 * later lookup acquires; contents are ordered as for updates.
 */
int rcumap_resize(struct rcumap *map, size_t slots);

/* ---- iteration (docs/iteration.md states both contracts) ----------------- */

/*
 * Iteration order is "hash order": slots visited by bit-reversed index, so a
 * position is a point in the space of bit-reversed 32-bit hashes that stays
 * meaningful when the table doubles or halves. Both iterators below share
 * these guarantees (docs/iteration.md, T1-T5):
 *  T1. No lock; never waits on a writer or a resize, and nothing waits on it.
 *  T2. Every key present for the whole traversal is returned exactly once,
 *     across any resizes.
 *  T3. No key is returned twice.
 *  T4. A key inserted or deleted during the traversal may or may not be
 *     returned; a returned value was the key's value at some instant during
 *     the traversal.
 *  T5. The caller may delete, replace or insert any key during the traversal
 *     through the normal API, and T1-T4 still hold.
 */

/*
 * In-section iterator state. Caller-allocated; its fields are private.
 * Initialise with rcumap_iter_init and pass only to rcumap_iter_next, all
 * inside one read section.
 */
struct rcumap_iter {
	struct rcumap *map;     /* the map it was initialised for */
	const void *bucket;     /* bucket being returned, or NULL */
	uint64_t pos;           /* start of the current hash-order interval */
	uint64_t end;           /* its end; 2^32 is the end of the table */
	uint32_t idx;           /* next record of bucket */
	uint32_t magic;         /* set by rcumap_iter_init */
	uint64_t section;       /* debug builds: read-section check ticket */
};

/*
 * rcumap_iter_init - start a traversal of the whole map.
 * @map: the map.
 * @it: iterator state to initialise.
 *
 * Return: 0; -EINVAL if map or it is NULL.
 * Context: inside the caller's read section, which must stay held until the
 * last rcumap_iter_next of this traversal. Wait-free. A traversal that takes
 * long holds up every grace period meanwhile; use rcumap_scan for those.
 */
int rcumap_iter_init(struct rcumap *map, struct rcumap_iter *it);

/*
 * rcumap_iter_next - the next entry of a traversal.
 * @map: the map @it was initialised for.
 * @it: the iterator.
 * @key, @len, @value: receive the entry (any of them may be NULL). The key
 * bytes and the value stay valid until the read section ends.
 *
 * Return: 1 with an entry; 0 when the traversal is complete (further calls
 * keep returning 0); -EINVAL for a NULL or uninitialised iterator, or one
 * initialised for another map.
 * The iterator remembers its map; @map is asked for anyway, as every call
 * of this header takes the map first, so that an iterator used on the
 * wrong map is refused instead of walking memory it was not meant for.
 * Context: inside the read section rcumap_iter_init was called in. Wait-free
 * per entry: no lock, no atomic read-modify-write, no store to shared memory.
 * Debug builds (--enable-debug) abort with a message naming the mistake when
 * the iterator is used on another map, outside a read section, or after the
 * read section it started in has ended.
 * Ordering: acquire, as rcumap_get.
 */
int rcumap_iter_next(struct rcumap *map, struct rcumap_iter *it,
		     const void **key, size_t *len, void **value);

/* Callback of rcumap_scan: one entry; key and value valid during the call. */
typedef void (*rcumap_scan_fn)(const void *key, size_t len, void *value, void *arg);

/*
 * rcumap_scan - resumable traversal, one short read section per call.
 * @map: the map.
 * @cursor: in: 0 to start, or the value a previous call left; out: where
 * the next call resumes, or 0 when the traversal is complete.
 * @max_entries: the call returns once it has passed at least this many
 * entries to @fn (keys of equal 32-bit hash are never split across calls, so
 * it can pass a few more), or at the end of the map.
 * @fn, @arg: called for each entry, inside the call's read section. It may
 * call any update function of this map (guarantee T5), but not barrier or
 * destroy.
 *
 * Between calls the caller may sleep, block or do I/O: the cursor is a plain
 * position in hash order, holds no reference and stays valid across any
 * number of grows and shrinks. Guarantees T1-T5 hold over the whole traversal,
 * from the first call to the one that returns cursor 0: every key present
 * throughout is passed exactly once.
 *
 * Return: 0; -EINVAL if map, cursor or fn is NULL, max_entries is 0, or
 * *cursor is not a value a scan of a map can hold (>= 2^32).
 * Context: registered thread, inside or outside a read section (it takes
 * its own, nested). Never waits.
 * Ordering: acquire, as rcumap_get.
 */
int rcumap_scan(struct rcumap *map, uint64_t *cursor, size_t max_entries,
		rcumap_scan_fn fn, void *arg);

/* ---- debugging aids ---------------------------------------------------------- */

/*
 * rcumap_validate - check the whole structure: every entry in the slot its
 * hash selects, no key twice, bucket sizes consistent, count equal to the
 * entries found.
 *
 * Return: 0 when consistent; -EINVAL for a NULL map; -EUCLEAN on the first
 * inconsistency, described on stderr (later ones are not printed).
 * Context: registered thread, inside or outside a read section (it takes its
 * own); no update may run concurrently. O(entries); allocates scratch memory
 * with malloc, not through rcumap_config.alloc.
 * Ordering: acquire loads throughout; meaningful only on a quiet map.
 */
int rcumap_validate(struct rcumap *map);

#ifdef __cplusplus
}
#endif

#endif /* RCUMAP_H */
