/* SPDX-License-Identifier: MIT */
/*
 * traversal.pml: rcumap's traversals across a grow and a shrink, exactly once.
 *
 * What it models (lib/iter.c, locate_word in lib/internal.h, lib/resize.c,
 * locate_write and the update loop in lib/map.c; docs/iteration.md):
 *
 *   - three generations of the table: gen 0 with 2 slots, gen 1 with 4, gen 2
 *     with 2. A migrator process grows 0 -> 1 and shrinks 1 -> 2 as
 *     start_locked and rcumap__migrate_locked do: it sets t->next, fills
 *     every destination slot in order with rcumap__fill_dest (freeze the
 *     source slots, build the bucket from their records, CAS it in from
 *     UNFILLED) and then switches cur;
 *   - a writer that inserts the stable key B, then inserts, deletes and
 *     inserts again the churn key C, each as rcumap's update does it: load
 *     cur, locate_write (a FROZEN slot makes the writer help fill the newer
 *     slot, then move to it), copy-on-write the bucket and CAS it in; a CAS
 *     that fails on a FROZEN slot locates again;
 *   - the traversal: rcumap_scan with a cursor carried across calls and
 *     max_entries MAXE (default 1, so most steps that return two keys are
 *     cut inside a slot's interval and the next call reads that slot
 *     again). Every step loads cur afresh and runs locate_word: it follows
 *     forwarding marks, and when the newer slot is UNFILLED uses the frozen
 *     bucket for the intersection of the two intervals only. It then returns
 *     the entries in [pos, end) (scan_step) and moves pos. -DITER makes
 *     max_entries unbounded, which is the in-section iterator
 *     (rcumap_iter_next): whole steps, each on one immutable bucket.
 *
 * Keys have 3-bit hashes, positions are the hashes bit-reversed (POS_END 8):
 *
 *   key   hash  pos   gen 0/2 slot (2 slots)   gen 1 slot (4 slots)
 *   A     000   0     0  [0,4)                  0  [0,2)
 *   B     010   2     0  [0,4)                  2  [2,4)
 *   C     110   3     0  [0,4)                  2  [2,4)
 *
 * so the grow splits A from B and C, the shrink merges them again, and a
 * step over B and C (or all three) is cut between them. A is in the map
 * from the start, B is inserted before the traversal begins (possibly into
 * the newer generation of a pending grow), and neither is deleted: both are
 * present for the whole traversal. C comes and goes during it.
 *
 * Memory model: sequentially consistent interleaving of the shared accesses.
 * Weak memory (which acquire/release pairs keep these steps ordered) is the
 * job of protocol.pml; here every load and CAS is atomic and immediately
 * visible.
 *
 * Abstractions (exact under sequential consistency unless stated):
 *   - A bucket is the set of its keys (bits 0..2 of a slot word): buckets
 *     are immutable once published (I1), so reading the slot word and then
 *     the bucket is reading this set at the slot load. Values are not
 *     modelled; a key is its own value.
 *   - freeze()'s load-and-CAS loop is one atomic step that sets FROZEN on
 *     whatever the slot holds at that instant: that is where the loop
 *     succeeds. fill_dest's two passes over the frozen (so unchanging)
 *     sources are one.
 *   - t->next is read in the same step as the FROZEN slot that leads to
 *     it: it is set before the first freeze and never changes after (I3).
 *   - Driving the migration (resize_lock) is the migrator's alone; a writer
 *     that drives from rcumap__maybe_resize would run the same steps under
 *     the same lock. Writers help by filling the slot they need, as
 *     locate_write does.
 *   - Read sections, retirement and grace periods are not modelled (the
 *     traversal never frees and the generations it reads stay reachable);
 *     protocol.pml covers reclamation. So is the slot filter (lookups only)
 *     and the debug tickets.
 *
 * Assertions:
 *   - each step: the bucket it found is exact for its range [pos, end) at
 *     the instant of its last slot load, against a ghost copy of the map's
 *     key set that changes at each update's successful CAS
 *     (docs/iteration.md section 5 fact 2; guarantee T4.3);
 *   - each step ends after it starts (end > pos) and a traversal takes at
 *     most POS_END steps: it terminates;
 *   - no key is returned twice (T3.1), the churn key included;
 *   - at the end A and B were each returned exactly once (T2.2 / T2.1);
 *   - each update finds the key as its single writer left it, and locate_write
 *     never hands out a FROZEN or UNFILLED slot.
 *
 * Negative controls (each must give a counterexample):
 *   -DTRAV_NO_FORWARD  a step reads a FROZEN bucket as current instead of
 *                      following the forwarding mark
 *                      (RCUMAP_BROKEN_ITER_NO_FORWARD in lib/internal.h)
 *   -DTRAV_SLOT_INDEX  the cursor holds a slot index in bit-reversed order of
 *                      the generation the call started from, not a position;
 *                      steps are never cut and a call ends only at a slot
 *                      boundary of that generation (as Redis SCAN does): a
 *                      grow between calls repeats B, a shrink skips it
 *   -DTRAV_NO_FILTER   a step returns every entry of its bucket, not only
 *                      those in [pos, end) (RCUMAP_BROKEN_ITER_NO_FILTER)
 *   -DTRAV_NO_CLAMP    with the newer slot UNFILLED, the frozen bucket is used
 *                      for the newer slot's whole interval instead of the
 *                      intersection: wrong after a shrink starts
 *   -DNO_STEP_CHECK    drops the per-step exactness check, to show that the
 *                      end-of-traversal counts alone catch each control.
 *
 * Run (torture/model/run.sh does): spin -a [-DITER] [-DTRAV_...] traversal.pml;
 * cc -DSAFETY -O2 -o pan pan.c; ./pan -m1000
 */

/* ---- keys ---------------------------------------------------------------- */

#define KA 0	/* stable, pos 0 */
#define KB 1	/* stable, pos 2; inserted before the traversal begins */
#define KC 2	/* churn, pos 3 */
#define KEYS 7	/* bits of a slot word that hold the bucket's keys */

/* Keys are numbered in position order, so the lowest bit is the lowest position. */
#define HASH(k) ((k) == KA -> 0 : ((k) == KB -> 2 : 6))
#define POS(k) ((k) == KA -> 0 : ((k) == KB -> 2 : 3))
#define POS_END 8
#define REV3(x) ((((x) & 1) << 2) | ((x) & 2) | (((x) >> 2) & 1))

/* Keys of set x whose position lies in [lo, hi). */
#define INR(k, lo, hi) (POS(k) >= (lo) && POS(k) < (hi))
#define RANGE(lo, hi) ((INR(KA, lo, hi) -> 1 : 0) | (INR(KB, lo, hi) -> 2 : 0) | \
		       (INR(KC, lo, hi) -> 4 : 0))
#define POPC(x) (((x) & 1) + (((x) >> 1) & 1) + (((x) >> 2) & 1))
#define FIRSTK(x) ((x) & 1 -> KA : ((x) & 2 -> KB : KC))

/* ---- slot words and generations -------------------------------------------- */

#define FROZEN 8	/* SLOT_FROZEN: the forwarding mark */
#define UNF 16		/* SLOT_UNFILLED (0 in lib/; the empty bucket is 0 here) */
#define NONE 3		/* t->next == NULL */

/* Generation t's slots live at slot[BASE(t) ...]: 2, 4 and 2 of them. */
#define BASE(t) ((t) == 0 -> 0 : ((t) == 1 -> 2 : 6))
#define MASK(t) ((t) == 1 -> 3 : 1)
#define SHIFT(t) ((t) == 1 -> 1 : 2)	/* 3 - log2(slots): interval length */
#define SLOTK(t, k) (BASE(t) + (HASH(k) & MASK(t)))
#define SLOTP(t, p) (BASE(t) + (REV3(p) & MASK(t)))
#define END(t, p) ((((p) >> SHIFT(t)) + 1) << SHIFT(t))

/* Keys of bucket x that go to slot d of generation nt. */
#define DESTK(x, nt, d) ((((x) & 1) && (HASH(KA) & MASK(nt)) == (d) -> 1 : 0) | \
			 (((x) & 2) && (HASH(KB) & MASK(nt)) == (d) -> 2 : 0) | \
			 (((x) & 4) && (HASH(KC) & MASK(nt)) == (d) -> 4 : 0))

#ifdef ITER
#define MAXE POS_END	/* the in-section iterator: steps are never cut */
#else
#ifndef MAXE
#define MAXE 1		/* rcumap_scan's max_entries */
#endif
#endif

byte slot[8];		/* gen 0: 0-1, gen 1: 2-5, gen 2: 6-7 */
byte nxt[3];		/* t->next */
byte cur;		/* map->cur */
byte ghost;		/* the keys in the map: changes at each update's slot CAS */
byte cnt[3];		/* times the traversal returned each key */

/* ---- resize.c ----------------------------------------------------------------- */

/*
 * rcumap__fill_dest(t, nt, d): freeze the source slots of slot d of nt and
 * publish their records that hash to d, unless someone filled d already.
 * Uses the caller's locals fx, fc, fs, acc.
 */
inline fill_dest(t, nt, d)
{
	if
	:: slot[BASE(nt) + (d)] != UNF -> skip	/* filled already */
	:: else ->
		/* dest_sources: one slot when growing, two when shrinking */
		fx = (MASK(nt) >= MASK(t) -> ((d) & MASK(t)) : (d));
		fc = (MASK(nt) >= MASK(t) -> 1 : 2);
		do
		:: fc > 0 ->
			atomic {	/* freeze(): the CAS that sets the mark */
				fs = slot[BASE(t) + fx];
				assert(fs != UNF);	/* sources are filled (I2, I4) */
				slot[BASE(t) + fx] = fs | FROZEN;
				acc = acc | DESTK(fs & KEYS, nt, d);
				fx = fx + MASK(nt) + 1;
				fc--
			}
		:: else -> break
		od;
		atomic {	/* the fill CAS from UNFILLED; losers drop their copy */
			if
			:: slot[BASE(nt) + (d)] == UNF -> slot[BASE(nt) + (d)] = acc
			:: else -> skip
			fi;
			acc = 0; fx = 0; fs = 0
		}
	fi
}

/* start_locked + rcumap__migrate_locked: grow 0 -> 1, then shrink 1 -> 2. */
proctype migrator()
{
	byte d, fx, fc, fs, acc;

	nxt[0] = 1;	/* store_release(&t->next): gen 1, all UNFILLED */
	do
	:: d <= MASK(1) -> fill_dest(0, 1, d); d++
	:: else -> break
	od;
	atomic { cur = 1; d = 0 }	/* store_release(&map->cur): the switch */
	nxt[1] = 2;
	do
	:: d <= MASK(2) -> fill_dest(1, 2, d); d++
	:: else -> break
	od;
	atomic { cur = 2; d = 0 }
}

/* ---- map.c: updates -------------------------------------------------------------- */

/* locate_write: the slot of key k in the newest generation reachable from wt. */
inline locate_write(k)
{
	do
	:: atomic {
		ws = slot[SLOTK(wt, k)];
		if
		:: !(ws & FROZEN) -> break
		:: else -> wn = nxt[wt]
		fi
	   }
	   assert(wn != NONE);	/* FROZEN only once next is set (I3) */
	   fill_dest(wt, wn, HASH(k) & MASK(wn));
	   atomic { wt = wn; wn = 0 }
	od
}

/* update(): toggle key k (ins: 1 insert, 0 delete), by copy-on-write and CAS. */
inline update(k, ins)
{
	wt = cur;	/* t0 = load_acquire(&map->cur) */
	locate_write(k);
	do
	:: assert(ws != UNF && !(ws & FROZEN));
	   assert(((ws >> k) & 1) == 1 - ins);	/* as the single writer of k left it */
	   atomic {	/* publish_cas: the update takes effect here (G2.1) */
		if
		:: slot[SLOTK(wt, k)] == ws ->
			slot[SLOTK(wt, k)] = ws ^ (1 << k);
			ghost = ghost ^ (1 << k);
			ws = 0; wt = 0;
			break
		:: else -> ws = slot[SLOTK(wt, k)]	/* failed: retry on this */
		fi
	   }
	   if
	   :: ws & FROZEN -> locate_write(k)	/* frozen meanwhile: follow it */
	   :: else -> skip
	   fi
	od
}

proctype writer()
{
	byte wt, ws, wn, fx, fc, fs, acc;

	update(KB, 1);	/* B goes in before the traversal begins */
	update(KC, 1);
	update(KC, 0);
	update(KC, 1)	/* C again: still returned at most once */
}

/* ---- iter.c: the traversal ---------------------------------------------------------- */

/* A step returns key k. */
inline emit(k)
{
	cnt[k]++;
	assert(cnt[k] <= 1)	/* T3.1: no key twice */
}

inline emit_set(x)
{
	if :: (x) & 1 -> emit(KA) :: else -> skip fi;
	if :: (x) & 2 -> emit(KB) :: else -> skip fi;
	if :: (x) & 4 -> emit(KC) :: else -> skip fi
}

/*
 * locate_word(h = rev(p)) with endp: b gets the authoritative bucket for p,
 * e the end of the interval it is authoritative for, snap the map's keys at
 * the instant of the slot load that decided it.
 */
inline locate()
{
	lt = cur;	/* load_acquire(&map->cur), afresh at every step */
	lfz = 0;
	lfe = POS_END;
	do
	:: atomic {
		ls = slot[SLOTP(lt, p)];
		le = END(lt, p);
		snap = ghost;
		if
#ifdef TRAV_NO_FORWARD
		:: true ->	/* broken: a frozen bucket read as current */
#else
		:: !(ls & FROZEN) ->
#endif
			if
			:: ls == UNF ->	/* newer slot unfilled: the frozen one holds */
				b = lfz & KEYS;
#ifdef TRAV_NO_CLAMP
				e = le;	/* broken: the newer slot's interval */
#else
				e = (le < lfe -> le : lfe);	/* the intersection */
#endif
			:: else ->
				b = ls & KEYS;
				e = le
			fi;
			lt = 0; ls = 0; le = 0; lfz = 0; lfe = 0;
			break
		:: else ->	/* follow the forwarding mark */
			lfz = ls;
			lfe = le;
			lt = nxt[lt];
			assert(lt != NONE)
		fi
	   }
	od
}

/* rcumap_scan, called until it hands back cursor 0 (-DITER: rcumap_iter_next). */
proctype scanner()
{
	byte cursor, p, n, b, e, snap, rng, in, k, lt, ls, le, lfz, lfe, ct, steps;

	(ghost & 2) != 0;	/* B is in: the traversal begins */
	do
	::	/* one call */
#ifdef TRAV_SLOT_INDEX
		ct = cur;	/* broken: the cursor is a slot ordinal in this generation */
		p = cursor << SHIFT(ct);
#else
		p = cursor;
#endif
		n = 0;
		do
#ifdef TRAV_SLOT_INDEX
		:: p < POS_END && (n < MAXE || (p & ((1 << SHIFT(ct)) - 1)) != 0) ->
#else
		:: p < POS_END && n < MAXE ->
#endif
			locate();
			atomic {
				steps++;
				assert(e > p && steps <= POS_END);	/* it terminates */
				rng = RANGE(p, e);	/* keys whose position is in [p, e) */
				in = b & rng;
#ifndef NO_STEP_CHECK
				/* the bucket is exact for [p, e) at its instant (T4.3) */
				assert(in == (snap & rng));
#endif
#ifdef TRAV_NO_FILTER
				in = b;	/* broken: every entry of the bucket */
#endif
				/* scan_step */
				if
#ifdef TRAV_SLOT_INDEX
				:: true ->	/* whole slots only */
#else
				:: n + POPC(in) <= MAXE ->	/* the whole step fits */
#endif
					emit_set(in);
					n = n + POPC(in);
					p = e
				:: else ->	/* cut: whole groups in position order */
					do
					:: n < MAXE && (b & RANGE(p, e)) != 0 ->
						k = FIRSTK(b & RANGE(p, e));
						emit(k);
						n++;
						p = POS(k) + 1
					:: else -> break
					od;
					if
					:: n < MAXE -> p = e
					:: else -> skip
					fi;
					k = 0
				fi;
				b = 0; e = 0; snap = 0; rng = 0; in = 0
			}
		:: else -> break
		od;
#ifdef TRAV_SLOT_INDEX
		cursor = (p >= POS_END -> 0 : p >> SHIFT(ct));
		ct = 0;
#else
		cursor = (p >= POS_END -> 0 : p);
#endif
		p = 0;
		if
		:: cursor == 0 -> break	/* the call that hands back 0 ends it */
		:: else -> skip
		fi
	od;
	/* T2.2: each key present throughout was returned exactly once */
	assert(cnt[KA] == 1 && cnt[KB] == 1)
}

init
{
	atomic {
		slot[0] = 1;	/* gen 0: slot 0 holds A, slot 1 is empty */
		slot[1] = 0;
		slot[2] = UNF; slot[3] = UNF; slot[4] = UNF; slot[5] = UNF;
		slot[6] = UNF; slot[7] = UNF;
		nxt[0] = NONE; nxt[1] = NONE; nxt[2] = NONE;
		cur = 0;
		ghost = 1;
		run migrator();
		run writer();
		run scanner()
	}
}
