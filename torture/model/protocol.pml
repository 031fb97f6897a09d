/* SPDX-License-Identifier: MIT */
/*
 * protocol.pml: rcumap's publish / migrate / reclaim protocol under the
 * C11 release/acquire memory model, for spin (torture/model/README.md).
 *
 * Three threads: a driver (migrations under resize_lock, CHUNK slots per
 * lock hold), a writer (put, then a lookup of its own key) and a reader (a
 * lookup). A table of 2 slots grows to 4 and shrinks back to 2 (NMIG=1:
 * the grow alone). Keys A and B hash to 0 and 2: slot 0 of a 2-slot
 * table, slots 0 and 2 of a 4-slot table, so the grow splits a bucket and
 * the shrink merges two.
 *
 * Weak memory ("view" semantics of C11 without load buffering): every
 * shared location keeps its messages (value, and the writer's view for a
 * release write); every thread keeps a view (per location, the oldest
 * message it may still read). A load reads any message not older than the
 * view; acquire joins the message's view; an RMW reads the latest message.
 * Bucket contents and table headers are plain (non-atomic) stores: a thread
 * may read them only if the allocating thread's stores are in its view,
 * otherwise the read is an uninitialised (racy) read and an assertion fails.
 *
 * Variants (spin -DNAME): FILL_BEFORE_FREEZE, NO_GATE, RETIRE_BEFORE_UNPUBLISH,
 * NO_FORWARD, and one per memory order (RELAXED_SWITCH, RELAXED_PUBLISH, ...,
 * see "Memory orders" below). NO_HEADER_CHECK drops the check that a
 * table's header was initialised for the reader, so that RELAXED_SWITCH
 * shows its other symptom (an UNFILLED slot in cur). MORE_OPS adds a
 * delete of B by the writer and a lookup of A by the reader.
 */

/* ---- Memory orders: each variant flips exactly one ---- */
#define RLX	0
#define ACQ	1
#define REL	2
#define ACQREL	3

/* O1: the update's slot CAS (publish_cas = cas_acq_rel). */
#ifdef RELAXED_PUBLISH
#define MO_PUBLISH	ACQ
#else
#define MO_PUBLISH	ACQREL
#endif
/* O2: the fill CAS from UNFILLED in rcumap__fill_dest. */
#ifdef RELAXED_FILL
#define MO_FILL		ACQ
#else
#define MO_FILL		ACQREL
#endif
/* O3 (release half) and O4: the freeze CAS in freeze(). */
#if defined(FREEZE_NO_RELEASE)
#define MO_FREEZE	ACQ
#elif defined(FREEZE_NO_ACQUIRE)
#define MO_FREEZE	REL
#else
#define MO_FREEZE	ACQREL
#endif
/* O3: store_release(t->next) in start_locked. */
#ifdef RELAXED_NEXT
#define MO_NEXT		RLX
#else
#define MO_NEXT		REL
#endif
/* O5: store_release(map->cur) in rcumap__migrate_locked. */
#ifdef RELAXED_SWITCH
#define MO_SWITCH	RLX
#else
#define MO_SWITCH	REL
#endif
/* O5 (acquire half): load_acquire(map->cur) in locate_word and update. */
#ifdef RELAXED_CUR_LOAD
#define MO_CUR_LOAD	RLX
#else
#define MO_CUR_LOAD	ACQ
#endif
/* O1/O2 (acquire half): the slot loads of locate_word and locate_write. */
#ifdef RELAXED_SLOT_LOAD
#define MO_SLOT_LOAD	RLX
#else
#define MO_SLOT_LOAD	ACQ
#endif
/* O3 (acquire half): load_acquire(t->next) after a forwarding mark. */
#ifdef RELAXED_NEXT_LOAD
#define MO_NEXT_LOAD	RLX
#else
#define MO_NEXT_LOAD	ACQ
#endif
/* fill_dest's first load of the destination, and freeze's first load. */
#define MO_FILL_LOAD	ACQ
#define MO_FREEZE_LOAD	ACQ

/* ---- Sizes ---- */
#define NP	3	/* threads: 0 driver, 1 writer, 2 reader */
#define NK	2	/* keys */
#define NT	3	/* tables: generation 0 and two migrations */
#define NSLOT	4	/* slots per table, at most */
#ifndef NMIG
#define NMIG	2	/* migrations: grow 2 -> 4, shrink 4 -> 2 */
#endif
#define NB	14	/* buckets, never reused; 1 is the shared empty bucket */
#ifdef NO_GATE
#define NSLOT2	4	/* the third table: 4 slots when it grows again */
#else
#define NSLOT2	2
#endif

/* Locations */
#define L_CUR		0
#define L_NEXT(t)	(1 + (t))
#define L_SLOT(t, i)	(4 + ((t) > 0) * 2 + ((t) > 1) * 4 + (i))
#define NS		(6 + NSLOT2)		/* slot locations */
#define L_G(k)		(4 + NS + (k))		/* ghost: key k's versions */
#define NLOC		(4 + NS + NK)

/*
 * Messages: each location has a fixed run of them (so that the state does
 * not depend on the order in which independent locations were written):
 * cur and every next 3, every slot 4, every ghost 3. A location that needs
 * more fails the assertion in APPEND.
 */
#define HCAP(L)		(3 + ((L) >= 4 && (L) < L_G(0)))
#define MB(L)		mbase[L]
#define NMSG		(12 + NS * 4 + NK * 3)

/* Values */
#define NONE		3	/* t->next unset */
#define UNFILLED	0	/* slot word: records still in the frozen sources */
#define FROZEN		1	/* slot word bit 0: the forwarding mark */
#define EMPTY		1	/* the shared empty bucket (rcumap_empty) */
#define B0		2	/* the initial bucket {A:1, B:1} */
#define TBIT(t)		(1 << (16 + (t)))	/* table t's header, in a view */
#define HASH(k)		(2 * (k))
#define IDX(k, t)	(HASH(k) & (tsize[t] - 1))

#define OP_PUT		0
#define OP_DELETE	1
#define ENOENT		2

/* Initial message (ts 0) of each location. */
#define INITVAL(L)	((L) == L_CUR -> 0 : \
			 ((L) < L_SLOT(0, 0) -> NONE : \
			  ((L) == L_SLOT(0, 0) -> (B0 << 1) : \
			   ((L) == L_SLOT(0, 1) -> (EMPTY << 1) : \
			    ((L) >= L_G(0) -> 1 : UNFILLED)))))
#define MSGVAL(L, ts)	pval[MB(L) + (ts)]
#define LATEST(L)	MSGVAL(L, mcnt[L] - 1)

/* ---- Memory: messages and views ---- */
byte mbase[NLOC];		/* first message of each location (constant) */
byte mcnt[NLOC];		/* messages of each location, the initial one included */
byte pval[NMSG];		/* a message's value */
byte pview[NMSG * NLOC];	/* a message's view (release: the writer's) */
int pbv[NMSG];			/* its plain-store part: buckets and table headers */
byte tv[NP * NLOC];		/* each thread's view */
int tbv[NP];			/* each thread's plain-store view */

/* ---- Plain data, written before publication (seen through tbv) ---- */
byte bcon[NB * NK];		/* bucket contents: key k's value, 0 = absent */
byte nbkt = B0 + 1;		/* next bucket id (malloc) */
byte tsize[NT];			/* table header: number of slots */
byte ntab = 1;

/* ---- Lock, migration bookkeeping (under resize_lock) ---- */
bit lock;
byte lockv[NLOC];		/* the view the last unlock released */
int lockbv;
byte mpos[NT];			/* t->migrate_pos */
byte started;			/* migrations started */

/* ---- Grace periods ---- */
byte incs;			/* threads inside a read section */
byte bpend[NB];			/* readers a retired bucket still waits for */
int bret;			/* retired buckets */
int bfreed;			/* freed buckets */
byte tpend[NT];
byte tret;
byte tfreed;
byte gview[NLOC];		/* views of every retire so far (grace period starts) */
int gbv;

/* ---- Thread-local scratch, declared in every proctype ---- */
#define LOCALS \
	byte ts, j, p, x, e, ok, okh; \
	byte t, t0, nt, sv, b, nb, cv, nv, vmin, fz, ret; \
	byte ft, fnt, fd, fsrc, fcnt, fstep, si, fs, fb, fe; \
	byte fc[NK]; \
	byte mt, mnt, mnew, budget, dec, want

/* Join message q's view into this thread's view. */
inline JOIN(q)
{
	j = 0;
	do
	:: j < NLOC ->
		if
		:: pview[(q) * NLOC + j] > tv[me * NLOC + j] ->
			tv[me * NLOC + j] = pview[(q) * NLOC + j]
		:: else -> skip
		fi;
		j++
	:: else -> break
	od;
	tbv[me] = tbv[me] | pbv[q];
	j = 0
}

/* The body of a load that reads message ts of L (inside a d_step). */
inline LOAD_BODY(L, mo, out, chk)
{
	if
	:: (chk) != 255 -> CHECK_TABLE(chk)
	:: else -> skip
	fi;
	out = MSGVAL(L, ts);
	tv[me * NLOC + (L)] = ts;
	if
	:: ((mo) & ACQ) && ts > 0 -> JOIN(MB(L) + ts)
	:: else -> skip
	fi;
	ts = 0
}

#define LOAD_AT(L, mo, out, chk, off, POST) \
	d_step { \
		tv[me * NLOC + (L)] + (off) < mcnt[L] -> \
		ts = tv[me * NLOC + (L)] + (off); \
		LOAD_BODY(L, mo, out, chk); \
		POST \
	}

/*
 * Load location L with order mo: any message not older than our view, one
 * transition per choice. chk: a table whose header the address comes from
 * (checked for free and initialisation in the same step), or 255. POST:
 * what the thread does next with the value, if it touches only the thread's
 * own state and immutable contents (a bucket it reads): done in the same
 * step, which removes interleavings that no other thread can tell apart.
 */
#define LOADX(L, mo, out, chk, POST) \
	if \
	:: LOAD_AT(L, mo, out, chk, 0, POST) \
	:: LOAD_AT(L, mo, out, chk, 1, POST) \
	:: LOAD_AT(L, mo, out, chk, 2, POST) \
	:: LOAD_AT(L, mo, out, chk, 3, POST) \
	fi

#define LOADC(L, mo, out, chk)	LOADX(L, mo, out, chk, skip)
#define LOAD(L, mo, out)	LOADC(L, mo, out, 255)

/* Under resize_lock: cur and next change only there, so our view is at the latest. */
inline LOCKED_READ(L, out)
{
	assert(tv[me * NLOC + (L)] == mcnt[L] - 1);
	out = LATEST(L)
}

/* Append message v to L; its view: message rv's (255: none), plus ours if release. */
inline APPEND(L, v, mo, rv)
{
	assert(mcnt[L] < HCAP(L));
	ts = mcnt[L];
	p = MB(L) + ts;
	pval[p] = v;
	mcnt[L] = ts + 1;
	j = 0;
	do
	:: j < NLOC ->
		pview[p * NLOC + j] = ((rv) != 255 -> pview[(rv) * NLOC + j] : 0);
		if
		:: ((mo) & REL) && tv[me * NLOC + j] > pview[p * NLOC + j] ->
			pview[p * NLOC + j] = tv[me * NLOC + j]
		:: else -> skip
		fi;
		j++
	:: else -> break
	od;
	pbv[p] = ((rv) != 255 -> pbv[rv] : 0) | (((mo) & REL) -> tbv[me] : 0);
	pview[p * NLOC + (L)] = ts;
	tv[me * NLOC + (L)] = ts;
	j = 0;
	ts = 0
}

inline STORE(L, v, mo)
{
	atomic { d_step {
		APPEND(L, v, mo, 255)
	} }
}

/*
 * Compare-and-swap: reads the latest message. Success: acquire joins its
 * view, the new message carries it on (release sequence) plus, with
 * release, ours. Failure: *e gets the value, acquire joins (failure order
 * acquire when the success order has acquire, as cas_acq_rel).
 */
#define CAS_READ(L) \
	ts = mcnt[L] - 1; \
	x = MSGVAL(L, ts); \
	fb = (ts > 0 -> MB(L) + ts : 255)

inline CAS(L, e, v, mo, ok, kind)
{
	atomic { d_step {
		CAS_READ(L);
		if
		:: x == e ->
			if
			:: ((mo) & ACQ) && fb != 255 -> JOIN(fb)
			:: else -> skip
			fi;
			APPEND(L, v, mo, fb);
			if
			:: (kind) == 1 ->
				assert(LATEST(L_NEXT(ft)) != NONE);	/* I3 */
				e = e | FROZEN
			:: else -> skip
			fi;
			ok = 1
		:: else ->
			e = x;
			tv[me * NLOC + (L)] = ts;
			if
			:: ((mo) & ACQ) && fb != 255 -> JOIN(fb)
			:: else -> skip
			fi;
			ok = 0
		fi;
		x = 0;
		fb = 0;
		ts = 0
	} }
}

/*
 * The update's CAS, with the ghost commit of key k at the same instant:
 * the key's value must be the one the update decided on (cv), and the new
 * version enters our view, so whoever acquires the slot learns of it.
 */
inline PUBLISH_CAS(L, e, v, mo, ok, k, cv, nv)
{
	atomic { d_step {
		CAS_READ(L);
		if
		:: x == e ->
			if
			:: ((mo) & ACQ) && fb != 255 -> JOIN(fb)
			:: else -> skip
			fi;
			/* G2.1/G2.2: the CAS succeeds only on the bucket decided on. */
			assert(LATEST(L_G(k)) == cv);
			APPEND(L_G(k), nv, RLX, 255);
			APPEND(L, v, mo, fb);
			ok = 1
		:: else ->
			e = x;
			tv[me * NLOC + (L)] = ts;
			if
			:: ((mo) & ACQ) && fb != 255 -> JOIN(fb)
			:: else -> skip
			fi;
			ok = 0;
			if
			:: nb != EMPTY -> FREE_B(nb)	/* never published */
			:: else -> skip
			fi;
			nb = 0;
			if
			:: !(e & FROZEN) -> DECIDE(k)	/* retry on the new contents */
			:: else -> skip
			fi
		fi;
		x = 0;
		fb = 0;
		ts = 0
	} }
}

/* ---- Checks on dereference ---- */
inline CHECK_TABLE(t)
{
	assert(t < ntab);
	assert(!(tfreed & (1 << ((t) & 7))));	/* no table read after its free */
#ifndef NO_HEADER_CHECK
	assert(tbv[me] & TBIT((t) & 7));	/* table header initialised for us */
#endif
}

inline CHECK_BUCKET(b)
{
	assert((b) >= EMPTY && (b) < nbkt);
	assert(!(bfreed & (1 << (b))));		/* no bucket read after its free */
	assert(tbv[me] & (1 << (b)));		/* bucket contents initialised for us */
}

/*
 * The value seen for key k was its value at some instant between version
 * vmin (the newest the thread knew of when the call began) and now.
 */
inline CHECK_HIST(k, val, vmin)
{
	j = vmin;
	okh = 0;
	do
	:: j < mcnt[L_G(k)] ->
		if
		:: MSGVAL(L_G(k), j) == val -> okh = 1
		:: else -> skip
		fi;
		j++
	:: else -> break
	od;
	assert(okh);	/* G1.1: no lost or resurrected value */
	okh = 0;
	j = 0
}

/* ---- Read sections and grace periods ---- */
inline RLOCK(k)
{
	atomic { d_step {
		incs = incs | (1 << me);
		/* A section that begins after a grace period began sees its retirer's stores. */
		j = 0;
		do
		:: j < NLOC ->
			if
			:: gview[j] > tv[me * NLOC + j] -> tv[me * NLOC + j] = gview[j]
			:: else -> skip
			fi;
			j++
		:: else -> break
		od;
		tbv[me] = tbv[me] | gbv;
		vmin = ((k) != 255 -> tv[me * NLOC + L_G(k)] : 0);
		j = 0
	} }
}

/* Grace period start: every reader inside a section now must leave it first. */
inline GP_START()
{
	j = 0;
	do
	:: j < NLOC ->
		if
		:: tv[me * NLOC + j] > gview[j] -> gview[j] = tv[me * NLOC + j]
		:: else -> skip
		fi;
		j++
	:: else -> break
	od;
	gbv = gbv | tbv[me];
	j = 0
}

inline RETIRE_B(b)
{
	atomic { d_step {
		assert(!(bret & (1 << (b))));	/* G3.2: retired once */
		bret = bret | (1 << (b));
		bpend[b] = incs;
		GP_START()
	} }
}

inline FREE_B(b)
{
	assert(!(bfreed & (1 << (b))));		/* G3.2: freed once */
	bfreed = bfreed | (1 << (b))
}

inline RETIRE_T(t)
{
	atomic { d_step {
		tret = tret | (1 << (t));
		tpend[t] = incs;
		GP_START()
	} }
}

/* Leave the read section: free what no longer waits for anyone. */
inline RUNLOCK()
{
	atomic { d_step {
		incs = incs & ~(1 << me);
		j = 1;
		do
		:: j < NB ->
			if
			:: bpend[j] & (1 << me) ->
				bpend[j] = bpend[j] & ~(1 << me);
				if
				:: bpend[j] == 0 -> FREE_B(j)
				:: else -> skip
				fi
			:: else -> skip
			fi;
			j++
		:: else -> break
		od;
		p = 0;
		do
		:: p < NT ->
			if
			:: tpend[p] & (1 << me) ->
				tpend[p] = tpend[p] & ~(1 << me);
				if
				:: tpend[p] == 0 ->
					/* table_reclaim: the table and its frozen buckets */
					assert(!(tfreed & (1 << p)));
					tfreed = tfreed | (1 << p);
					x = 0;
					do
					:: x < tsize[p] ->
						fb = LATEST(L_SLOT(p, x)) >> 1;
						if
						:: fb > EMPTY -> FREE_B(fb)
						:: else -> skip
						fi;
						x++
					:: else -> break
					od
				:: else -> skip
				fi
			:: else -> skip
			fi;
			p++
		:: else -> break
		od;
		j = 0; p = 0; x = 0; fb = 0;
		t = 0; t0 = 0; nt = 0; sv = 0; b = 0; nb = 0;
		cv = 0; nv = 0; vmin = 0; fz = 0; ok = 0
	} }
}

/* ---- Migration ---- */

/* freeze(ft, src): fs gets the frozen slot word. */
inline FREEZE(src)
{
	LOADC(L_SLOT(ft, src), MO_FREEZE_LOAD, fs, ft);
	do
	:: fs & FROZEN -> break
	:: else ->
		assert(fs != UNFILLED);		/* I2 of the older table */
		/* O3, O4: the forwarding mark. */
		CAS(L_SLOT(ft, src), fs, fs | FROZEN, MO_FREEZE, ok, 1)
	od;
	ok = 0
}

/* Collect the records of source slot fsrc + si * fstep (word fs) that hash to fd. */
inline COLLECT()
{
#ifndef FILL_BEFORE_FREEZE
	assert(fs & FROZEN);
#endif
	fb = fs >> 1;
	CHECK_BUCKET(fb);
	j = 0;
	do
	:: j < NK ->
		if
		:: IDX(j, ft) == fsrc + si * fstep && IDX(j, fnt) == fd ->
			fc[j] = bcon[fb * NK + j]
		:: else -> skip
		fi;
		j++
	:: else -> break
	od;
	j = 0;
	fb = 0
}

/* The source slots of destination fd: first, step and count (dest_sources). */
inline FILL_SOURCES()
{
	if
	:: x != UNFILLED -> skip
	:: tsize[fnt] > tsize[ft] && x == UNFILLED ->
		fsrc = fd & (tsize[ft] - 1);
		fcnt = 1;
		fstep = 0
	:: tsize[fnt] < tsize[ft] && x == UNFILLED ->
		fsrc = fd;
		fcnt = tsize[ft] / tsize[fnt];
		fstep = tsize[fnt]
	fi
}

/*
 * Build the destination bucket (plain stores into a fresh bucket) and
 * CAS it in from UNFILLED. No other thread can see the fresh bucket before
 * the CAS, so building and publishing are one step here.
 */
inline FILL_CAS()
{
	atomic { d_step {
		if
		:: fc[0] == 0 && fc[1] == 0 -> nb = EMPTY
		:: else ->
			assert(nbkt < NB);
			nb = nbkt;
			nbkt++;
			bcon[nb * NK] = fc[0];
			bcon[nb * NK + 1] = fc[1];
			tbv[me] = tbv[me] | (1 << nb)	/* plain stores */
		fi;
		fc[0] = 0;
		fc[1] = 0;
		fs = 0;
		CAS_READ(L_SLOT(fnt, fd));
		if
		:: x == UNFILLED ->
			if
			:: (MO_FILL & ACQ) && fb != 255 -> JOIN(fb)
			:: else -> skip
			fi;
			/* O2: publish the filled slot. */
			APPEND(L_SLOT(fnt, fd), nb << 1, MO_FILL, fb);
			/* I4: every source frozen before the fill. */
			si = 0;
			do
			:: si < fcnt ->
				assert(LATEST(L_SLOT(ft, fsrc + si * fstep)) & FROZEN);
				si++
			:: else -> break
			od
		:: else ->
			/* another helper filled it first: ours was never published */
			tv[me * NLOC + L_SLOT(fnt, fd)] = ts;
			if
			:: (MO_FILL & ACQ) && fb != 255 -> JOIN(fb)
			:: else -> skip
			fi;
			if
			:: nb != EMPTY -> FREE_B(nb)
			:: else -> skip
			fi
		fi;
		x = 0; fb = 0; ts = 0;
		si = 0; nb = 0;
		fsrc = 0; fcnt = 0; fstep = 0
	} }
}

/* rcumap__fill_dest(ft, fnt, fd). */
inline FILL_DEST()
{
	LOADX(L_SLOT(fnt, fd), MO_FILL_LOAD, x, fnt, FILL_SOURCES());
	if
	:: x != UNFILLED -> x = 0
	:: else ->
#ifdef FILL_BEFORE_FREEZE
		/* Broken: copy the live sources, then freeze them. */
		si = 0;
		do
		:: si < fcnt ->
			LOADX(L_SLOT(ft, fsrc + si * fstep), ACQ, fs, ft, COLLECT());
			si++
		:: else -> break
		od;
		si = 0;
		do
		:: si < fcnt -> FREEZE(fsrc + si * fstep); si++
		:: else -> break
		od;
#else
		si = 0;
		do
		:: si < fcnt -> FREEZE(fsrc + si * fstep); si++
		:: else -> break
		od;
		/* Copy pass: relaxed reload; the freeze's acquire ordered the contents. */
		si = 0;
		do
		:: si < fcnt ->
			LOADX(L_SLOT(ft, fsrc + si * fstep), RLX, fs, ft, COLLECT());
			si++
		:: else -> break
		od;
#endif
		FILL_CAS()
	fi
}

/* Slots one lock hold fills (MIGRATE_CHUNK); 4: the whole table, as 64 is in lib/. */
#ifndef CHUNK
#ifdef NO_GATE
#define CHUNK	1
#else
#define CHUNK	4
#endif
#endif

/* rcumap__migrate_locked(map, CHUNK). */
inline MIGRATE_LOCKED()
{
	atomic { d_step {
		LOCKED_READ(L_CUR, mt);
		LOCKED_READ(L_NEXT(mt), mnt);
		budget = CHUNK
	} };
	if
	:: mnt == NONE -> skip
	:: else ->
		do
		:: atomic { d_step {
			mpos[mt] < tsize[mnt] && budget > 0 ->
			ft = mt;
			fnt = mnt;
			fd = mpos[mt];
			mpos[mt]++;
			budget--
		   } };
			FILL_DEST();
			ft = 0; fnt = 0; fd = 0
		:: else -> break
		od;
		if
		:: mpos[mt] >= tsize[mnt] ->
			/* O5: switch generations after every fill. */
			STORE(L_CUR, mnt, MO_SWITCH);
			RETIRE_T(mt)
		:: else -> skip
		fi
	fi;
	budget = 0
}

/* start_locked: allocate the next generation and publish it as t->next. */
inline START_LOCKED()
{
	atomic { d_step {
		LOCKED_READ(L_CUR, mt);
		assert(ntab < NT);
		mnew = ntab;
		ntab++;
		tsize[mnew] = (tsize[mt] == 2 -> 4 : 2);
		tbv[me] = tbv[me] | TBIT(mnew);	/* header and UNFILLED slots */
		mpos[mt] = 0;
		started++
	} };
	/* O3: publish the new generation before any slot is frozen. */
	STORE(L_NEXT(mt), mnew, MO_NEXT);
	mnew = 0;
	MIGRATE_LOCKED()
}

/* rcumap__maybe_resize: try-lock; drive the pending migration or start one. */
inline MAYBE_RESIZE()
{
	if
	:: d_step {
		lock == 0 ->
		lock = 1;
		/* pthread_mutex_lock: acquire the last unlock's view */
		j = 0;
		do
		:: j < NLOC ->
			if
			:: lockv[j] > tv[me * NLOC + j] -> tv[me * NLOC + j] = lockv[j]
			:: else -> skip
			fi;
			j++
		:: else -> break
		od;
		tbv[me] = tbv[me] | lockbv;
		j = 0;
		LOCKED_READ(L_CUR, mt);
		LOCKED_READ(L_NEXT(mt), mnt)
	   };
#ifdef NO_GATE
		/* Broken: start a migration whether or not one is pending. */
		if
		:: started < NMIG -> START_LOCKED()
		:: else -> MIGRATE_LOCKED()
		fi;
#else
		if
		:: mnt != NONE -> MIGRATE_LOCKED()
		:: else ->
			if
			:: started < NMIG -> START_LOCKED()
			:: else -> skip
			fi
		fi;
#endif
		atomic { d_step {
			/* pthread_mutex_unlock: release our view */
			j = 0;
			do
			:: j < NLOC -> lockv[j] = tv[me * NLOC + j]; j++
			:: else -> break
			od;
			lockbv = tbv[me];
			lock = 0;
			j = 0; mt = 0; mnt = 0
		} }
	:: else -> skip		/* another thread drives */
	fi
}

/* ---- Lookup and update ---- */

#ifdef NO_FORWARD
#define FOLLOWS(s)	0	/* Broken: a frozen bucket read as current. */
#else
#define FOLLOWS(s)	((s) & FROZEN)
#endif

/* The end of a lookup's walk: read the bucket and check the value. */
inline LOOKUP_END(k)
{
	if
	:: !FOLLOWS(sv) ->
		if
		:: sv == UNFILLED ->
			/* the newer slot is unfilled: the frozen bucket is current */
			assert(fz != 0);	/* I2: cur has no unfilled slot */
			b = fz >> 1
		:: else ->
			b = sv >> 1
		fi;
		CHECK_BUCKET(b);
		cv = bcon[b * NK + k];
		CHECK_HIST(k, cv, vmin)
	:: else -> skip
	fi
}

/* rcumap_get: locate_word, then the bucket scan; checks the value seen. */
inline LOOKUP(k)
{
	RLOCK(k);
	LOAD(L_CUR, MO_CUR_LOAD, t);
	do
	:: LOADX(L_SLOT(t, IDX(k, t)), MO_SLOT_LOAD, sv, t, LOOKUP_END(k));
		if
		:: !FOLLOWS(sv) -> break
		:: else ->
			fz = sv;
			/* O3: a forwarding mark implies next is set. */
			LOADC(L_NEXT(t), MO_NEXT_LOAD, nt, t);
			assert(nt != NONE);
			t = nt;
			nt = 0
		fi
	od;
	RUNLOCK()
}

/* decide(): the outcome of the update on bucket sv; allocates the copy. */
inline DECIDE(k)
{
	b = sv >> 1;
	CHECK_BUCKET(b);
	cv = bcon[b * NK + k];
	nv = want;
	if
	:: cv == nv ->
		/* nothing to change: put of the value stored, or -ENOENT */
		ret = (nv == 0 -> ENOENT : 0);
		CHECK_HIST(k, cv, vmin);	/* G2.1: at the load decided on */
		dec = 1
	:: cv != nv && nv == 0 && bcon[b * NK + 1 - k] == 0 ->
		nb = EMPTY;	/* the last entry goes: the shared empty bucket */
		dec = 0
	:: else ->
		assert(nbkt < NB);
		nb = nbkt;
		nbkt++;
		bcon[nb * NK + k] = nv;
		bcon[nb * NK + 1 - k] = bcon[b * NK + 1 - k];
		tbv[me] = tbv[me] | (1 << nb);	/* plain stores */
		dec = 0
	fi
}

inline WRITE_END(k)
{
	if
	:: !(sv & FROZEN) ->
		assert(sv != UNFILLED);		/* never unfilled (I2, I4) */
		DECIDE(k)
	:: else -> skip
	fi
}

/* locate_write, then decide() on the slot found. */
inline LOCATE_WRITE(k)
{
	do
	:: LOADX(L_SLOT(t, IDX(k, t)), MO_SLOT_LOAD, sv, t, WRITE_END(k));
		if
		:: !(sv & FROZEN) -> break
		:: else ->
			LOADC(L_NEXT(t), MO_NEXT_LOAD, nt, t);
			assert(nt != NONE);		/* I3 */
			atomic { d_step {
				ft = t;
				fnt = nt;
				fd = IDX(k, nt)
			} };
			FILL_DEST();
			ft = 0; fnt = 0; fd = 0;
			t = nt;
			nt = 0
		fi
	od
}

/* update(): put (w != 0) or delete (w == 0) key k; ret: 0 or ENOENT. */
inline UPDATE(k, w)
{
	want = w;
	RLOCK(k);
	LOAD(L_CUR, MO_CUR_LOAD, t0);
	t = t0;
	LOCATE_WRITE(k);
	do
	:: dec -> break
	:: else ->
#ifdef RETIRE_BEFORE_UNPUBLISH
		if
		:: b != EMPTY -> RETIRE_B(b)	/* Broken: still published */
		:: else -> skip
		fi;
#endif
		/* O1: publish the copy; on failure decide again on the new contents. */
		PUBLISH_CAS(L_SLOT(t, IDX(k, t)), sv, nb << 1, MO_PUBLISH, ok, k, cv, nv);
		if
		:: ok ->
#ifndef RETIRE_BEFORE_UNPUBLISH
			if
			:: b != EMPTY -> RETIRE_B(b)
			:: else -> skip
			fi;
#endif
			break
		:: else ->
			if
			:: sv & FROZEN -> LOCATE_WRITE(k)
			:: else -> skip
			fi
		fi
	od;
	want = 0;
	dec = 0;
	RUNLOCK()
}

/* ---- Threads ---- */
proctype Driver(byte me)
{
	LOCALS;

	do
	:: started == NMIG && LATEST(L_NEXT(LATEST(L_CUR))) == NONE -> break
	:: else ->
		RLOCK(255);
		MAYBE_RESIZE();
		RUNLOCK()
	od
}

proctype Writer(byte me)
{
	LOCALS;

	UPDATE(0, 2);		/* put A = 2 */
	LOOKUP(0);		/* sees its own write (G1.1) */
#ifdef MORE_OPS
	UPDATE(1, 0);		/* delete B */
#endif
	ret = 0
}

proctype Reader(byte me)
{
	LOCALS;

	LOOKUP(1);
#ifdef MORE_OPS
	LOOKUP(0);
#endif
	skip
}
/* The final state: contents equal the ghost, I2, I5 (G2.2). */
init
{
	LOCALS;
	byte cnt[NK], val[NK];

	d_step {
		j = 0;
		do
		:: j < NLOC ->
			mcnt[j] = 1;
			mbase[j] = p;
			pval[p] = INITVAL(j);
			p = p + HCAP(j);
			j++
		:: else -> break
		od;
		assert(p == NMSG);
		tsize[0] = 2;
		bcon[B0 * NK] = 1;
		bcon[B0 * NK + 1] = 1;
		p = 0;
		do
		:: p < NP -> tbv[p] = TBIT(0) | (1 << EMPTY) | (1 << B0); p++
		:: else -> break
		od;
		lockbv = TBIT(0) | (1 << EMPTY) | (1 << B0);
		j = 0;
		p = 0
	};
	atomic {
		run Driver(0);
		run Writer(1);
		run Reader(2)
	};
	_nr_pr == 1;
	d_step {
		t = LATEST(L_CUR);
		assert(!(tfreed & (1 << t)));
		assert(LATEST(L_NEXT(t)) == NONE);	/* no migration left pending */
		x = 0;
		do
		:: x < tsize[t] ->
			sv = LATEST(L_SLOT(t, x));
			assert(sv != UNFILLED);		/* I2 */
			assert(!(sv & FROZEN));
			b = sv >> 1;
			assert(!(bfreed & (1 << b)));
			j = 0;
			do
			:: j < NK ->
				if
				:: bcon[b * NK + j] != 0 ->
					assert(IDX(j, t) == x);	/* I5 */
					cnt[j]++;
					val[j] = bcon[b * NK + j]
				:: else -> skip
				fi;
				j++
			:: else -> break
			od;
			x++
		:: else -> break
		od;
		j = 0;
		do
		:: j < NK ->
			assert(cnt[j] == (LATEST(L_G(j)) != 0 -> 1 : 0));	/* G2.2 */
			assert(val[j] == LATEST(L_G(j)));	/* no lost update */
			j++
		:: else -> break
		od
	}
}
