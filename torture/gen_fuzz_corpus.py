#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# gen_fuzz_corpus.py: write the seed inputs of torture/fuzz.c (scenarios and structured random ones).
#
# Usage: torture/gen_fuzz_corpus.py [DIR]   (default: torture/corpus/fuzz next to
# this script). Writes gen-*.bin files into DIR, replacing earlier gen-* files
# and leaving every other file (the ones libFuzzer added by -merge) alone.
# Python 3 standard library only; the output is the same on every run.
#
# The byte format is the one described at the top of torture/fuzz.c; the
# constants below mirror its enum opk, resize_slots[] and fill_stride[]. Each
# scenario is named for what it makes the harness check: FUZZ_SUMMARY=1
# torture/fuzz_replay DIR prints, per input, the grows, shrinks, injected
# allocation failures and traversals that crossed a resize.

import os
import random
import sys

OPS = {name: code for code, name in enumerate([
    "GET", "INSERT", "PUT", "PUT_SAME", "REPLACE", "CAS", "DELETE",
    "DELETE_IF", "GET_OR_INSERT", "COUNT", "CLEAR", "RESIZE", "VALIDATE",
    "ARM", "ITER", "SCAN", "BARRIER", "CHECK", "FILL", "DRAIN",
    "INVALID", "CUR"])}

SINGLE = ["GET", "INSERT", "PUT", "PUT_SAME", "REPLACE", "CAS", "DELETE",
          "DELETE_IF", "GET_OR_INSERT", "INVALID"]

# resize_slots[] index for a slot count (0: what the policy picks).
RESIZE = {0: 0, 1: 1, 4: 2, 16: 3, 64: 4, 256: 5, 1024: 6, 4096: 7}
# fill_stride[] index for a stride.
STRIDE = {1: 0, 2: 1, 3: 2, 5: 3}

# Hash modes (header byte 0, bits 0-2).
H_GOOD, H_FOUR, H_ONE, H_LOWZERO, H_PAIRS = 0, 4, 5, 6, 7
# Reclamation (header byte 1, bits 0-2): liburcu's worker, or the deferred
# call_rcu drained after every op, every 16 ops, or at barriers only.
R_WORKER, R_EACH, R_SIXTEEN, R_BARRIER = 0, 1, 4, 6
# min_slots index (header byte 0, bits 3-4): 8 (default), 1, 2, 32.
M_DEFAULT, M_ONE, M_TWO, M_32 = 0, 1, 2, 3


def key_byte(k):
    """The key byte that selects key k: hot keys 0-63 or cold keys 64 + 7 j."""
    if k < 64:
        return k
    assert (k - 64) % 7 == 0 and (k - 64) // 7 < 64, k
    return 0xC0 | (k - 64) // 7


class Input:
    """An input under construction: a header and a list of operations, each
    the bytes of one operation (a traversal with everything it embeds)."""

    def __init__(self, hash_mode=H_GOOD, reclaim=R_EACH, min_slots=M_DEFAULT, seed=0):
        assert 0 <= seed < 256
        self.header = bytes([hash_mode | min_slots << 3 | (seed & 7) << 5,
                             reclaim | (seed >> 3) << 3])
        self.ops = []

    def bytes(self):
        return self.header + b"".join(self.ops)

    def raw(self, *bs):
        """More bytes of the operation begun last."""
        self.ops[-1] += bytes(bs)
        return self

    def op(self, name, param=0):
        self.ops.append(bytes([OPS[name] | param << 5]))
        return self

    def embed(self, items):
        """Embedded operations of the traversal begun last: each (gap,
        fragment) runs the fragment's first operation after gap points and
        the rest right after it (gap 0)."""
        for gap, frag in items:
            for i, o in enumerate(frag.ops):
                self.ops[-1] += bytes([gap if i == 0 else 0]) + o
        return self

    def single(self, name, k, param=0):
        return self.op(name, param).raw(key_byte(k))

    def plain(self, name):
        return self.op(name)

    def resize(self, slots):
        return self.op("RESIZE", RESIZE[slots])

    def fill(self, start, count, put=False, stride=1):
        """Keys start, start + stride, ... (count of them, start even)."""
        assert start % 2 == 0 and 1 <= count <= 256
        return self.op("FILL", STRIDE[stride] << 1 | put).raw(start // 2, count - 1)

    def drain(self, start, count, delete_if=False, stride=1):
        assert start % 2 == 0 and 1 <= count <= 256
        return self.op("DRAIN", STRIDE[stride] << 1 | delete_if).raw(start // 2, count - 1)

    def arm(self, at, persistent=False, window=1):
        """Allocation call number at (counted from now) fails, for the next window ops."""
        if at < 64:
            a = at
        else:
            assert at % 8 == 0 and at // 8 < 64, at
            a = 64 | at // 8
        return self.op("ARM").raw(a | (128 if persistent else 0), window - 1)

    def cur(self, what):
        """An update of the entry the traversal returned last, through the map's key."""
        params = {"delete": 0, "replace": 3, "put": 4, "delete_if": 5, "cas": 6,
                  "insert": 7}
        return self.op("CUR", params[what])

    def iter(self, embedded=(), barrier_first=True):
        """embedded: (gap, fragment) pairs; gap counts rcumap_iter_next calls."""
        n = sum(len(f.ops) for _, f in embedded)
        assert n < 256
        return self.op("ITER", 1 if barrier_first else 0).raw(n).embed(embedded)

    def scan(self, max_entries, between=(), callback=(), barrier_first=True):
        """between: (gap in calls, fragment); callback: (gap in callbacks, fragment).
        When both are given, every callback fragment must run in the first
        callback (all gaps 0): the plans read the same byte stream."""
        if max_entries <= 16:
            f = max_entries - 1
        else:
            assert max_entries % 16 == 0 and max_entries // 16 <= 16
            f = 16 | (max_entries // 16 - 1)
        assert not (between and callback) or all(g == 0 for g, _ in callback)
        nb = sum(len(f.ops) for _, f in between)
        nc = sum(len(f.ops) for _, f in callback)
        assert nb < 256 and nc < 256
        self.op("SCAN", 1 if barrier_first else 0).raw(f, nb, nc)
        return self.embed(list(callback) + list(between))


def stall_at(hash_mode, at):
    """An allocation number that fails inside a migration: a migration
    allocates the table, then one bucket per non-empty slot, and with four
    hashes or one there are few of those."""
    return {H_FOUR: min(at, 2), H_ONE: 1, H_LOWZERO: 1}.get(hash_mode, at)


def frag():
    """A fragment: operations to embed in a traversal (its header is unused)."""
    return Input()


# ---- Scenarios ------------------------------------------------------------------

def basic_ops():
    """Every single-key call on the empty key, inline and out-of-line keys,
    right and wrong expectations, and every invalid-argument variant."""
    x = Input(H_GOOD, R_EACH)
    for k in (0, 1, 2, 3, 9, 64 + 7 * 5, 17):
        x.single("GET", k).single("INSERT", k).single("INSERT", k).single("GET", k)
        x.single("PUT", k).single("PUT_SAME", k).single("REPLACE", k)
        x.single("REPLACE", k, 1)               # the value already stored
        x.single("CAS", k, 0).single("CAS", k, 2)   # right; right and same
        for wrong in (1, 3, 5, 7):                    # stale, other key, never stored
            x.single("CAS", k, wrong).single("DELETE_IF", k, wrong)
        x.single("GET_OR_INSERT", k).single("DELETE_IF", k, 0)
        x.single("DELETE", k).single("DELETE", k).single("REPLACE", k)
        x.single("CAS", k).single("DELETE_IF", k).single("GET_OR_INSERT", k)
    for v in range(8):
        x.single("INVALID", 3, v)
    x.plain("COUNT").plain("VALIDATE").plain("CHECK").plain("BARRIER")
    return x


def prefix_keys(hash_mode):
    """Keys 2m and 2m+1 differ only in length (one is a prefix of the other)."""
    x = Input(hash_mode, R_EACH, M_ONE)
    for m in range(0, 32):
        x.single("INSERT", 2 * m).single("INSERT", 2 * m + 1)
    for m in range(0, 32, 3):
        x.single("DELETE", 2 * m + 1).single("GET", 2 * m).single("CAS", 2 * m)
    x.iter().scan(3).plain("VALIDATE")
    return x


def grow_shrink(hash_mode, reclaim, min_slots=M_DEFAULT, seed=0):
    """A few hundred entries: automatic grows while filling, forced resizes of
    every size, automatic and forced shrinks while draining."""
    x = Input(hash_mode, reclaim, min_slots, seed)
    x.fill(0, 256).fill(256, 200).plain("COUNT").plain("VALIDATE")
    x.resize(4096).resize(16).resize(1024).resize(0).plain("COUNT")
    x.drain(0, 256, stride=1).plain("COUNT").resize(0)
    x.drain(256, 180, delete_if=True).plain("CHECK")
    x.resize(1).resize(256).resize(0).fill(100, 150, put=True, stride=3)
    x.resize(4).plain("CLEAR").resize(0).plain("VALIDATE").plain("BARRIER")
    return x


def iter_across_resize(hash_mode, reclaim, shrink, seed=0):
    """In-section iteration with a forced grow (or shrink) in the middle, and
    updates before and after it; the barrier first opens the resize gate."""
    x = Input(hash_mode, reclaim, M_DEFAULT, seed)
    x.fill(0, 240, stride=2)
    if shrink:
        x.resize(1024)
    x.plain("BARRIER")
    mid = frag().resize(16 if shrink else 4096)
    upd = frag().single("DELETE", 12).single("INSERT", 13).single("PUT", 20)
    late = frag().cur("delete").single("DELETE", 40).single("INSERT", 41)
    x.iter([(30, upd), (40, mid), (50, late), (0, frag().cur("replace"))])
    x.plain("CHECK")
    return x


def scan_across_resizes(hash_mode, reclaim, max_entries, seed=0):
    """A scan in small calls with forced grows and shrinks between calls
    (barriers between them let each one complete), and updates from inside
    the callback through the key pointer the map passed."""
    x = Input(hash_mode, reclaim, M_DEFAULT, seed)
    x.fill(0, 256).fill(256, 100, stride=2)
    between = [(2, frag().resize(4096)), (3, frag().resize(16)),
               (2, frag().resize(1024).single("DELETE", 5)), (2, frag().resize(4)),
               (1, frag().fill(300, 40, stride=5)), (2, frag().resize(0)),
               (3, frag().resize(64).single("INSERT", 5))]
    x.scan(max_entries, between)
    cb = [(0, frag().cur("delete")), (7, frag().cur("put")), (9, frag().cur("cas")),
          (5, frag().resize(4096)), (11, frag().cur("delete_if")),
          (13, frag().single("DELETE", 64 + 7 * 9))]
    x.scan(max_entries, callback=cb)
    x.plain("CHECK")
    return x


def stalled_migration(hash_mode, reclaim, grow, seed=0):
    """A forced resize stopped by an allocation failure half-way: traversals
    meet frozen slots and unfilled ones, updates and the next resize finish it."""
    x = Input(hash_mode, reclaim, M_DEFAULT, seed)
    x.fill(0, 200, stride=2)
    if not grow:
        x.resize(1024)
    x.plain("BARRIER")
    # Call 0 allocates the new table; a later fill of a slot fails.
    x.arm(stall_at(hash_mode, 6)).resize(4096 if grow else 16)
    x.iter([(20, frag().single("GET", 10)), (25, frag().single("INSERT", 11))],
           barrier_first=False)
    x.scan(3, [(4, frag().single("COUNT", 0)), (6, frag().single("DELETE", 30))],
           barrier_first=False)
    x.resize(64).plain("CHECK").plain("VALIDATE")
    # Stalled again, then a scan drives it to the end from between its calls.
    x.plain("BARRIER").arm(stall_at(hash_mode, 3)).resize(1024 if grow else 4)
    x.scan(5, [(3, frag().arm(1).resize(0)), (3, frag().resize(0)),
               (2, frag().resize(16))], barrier_first=False)
    x.plain("CHECK")
    return x


def iter_over_stalled(hash_mode, reclaim, grow, seed=0):
    """An in-section iteration started while a migration is stalled, which an
    update in the middle of the traversal finishes."""
    x = Input(hash_mode, reclaim, M_DEFAULT, seed)
    x.fill(0, 256).fill(256, 60)
    if not grow:
        x.resize(4096)
    x.plain("BARRIER").arm(stall_at(hash_mode, 9)).resize(4096 if grow else 16)
    x.iter([(60, frag().resize(0)), (60, frag().single("PUT", 3)),
            (40, frag().single("DELETE", 4))], barrier_first=False)
    x.plain("CHECK")
    return x


def enomem_updates(hash_mode, reclaim):
    """An allocation failure at each allocation of each update: key copies,
    buckets, deletes from shared buckets; then persistent failures in bulk."""
    x = Input(hash_mode, reclaim, M_ONE)
    x.fill(0, 40)
    for at in range(3):
        for k in (17, 2, 64 + 7 * 3, 0):
            x.arm(at).single("INSERT", k)
            x.arm(at).single("PUT", k)
            x.arm(at).single("REPLACE", k)
            x.arm(at).single("CAS", k)
            x.arm(at).single("GET_OR_INSERT", k)
            x.arm(at).single("DELETE_IF", k)
            x.arm(at).single("DELETE", k)
            x.arm(at).single("GET_OR_INSERT", k)
    x.arm(0, persistent=True, window=3).fill(100, 80).drain(0, 40).single("PUT", 5)
    x.arm(5, persistent=True, window=2).fill(300, 120, put=True).plain("CHECK")
    x.arm(2, window=4).fill(400, 100, stride=1).plain("VALIDATE")
    return x


def enomem_resize_clear(hash_mode, reclaim):
    """Failures in rcumap_resize (the table, then a slot fill) and in
    rcumap_clear, which must finish a stalled migration before it removes
    anything."""
    x = Input(hash_mode, reclaim)
    x.fill(0, 180, stride=2).plain("BARRIER")
    x.arm(0).resize(1024)                      # the new table: nothing pending
    x.arm(4).resize(1024)                      # a fill: the migration stays pending
    x.arm(0).plain("CLEAR")                    # clear cannot finish it: -ENOMEM
    x.arm(0, persistent=True, window=2).plain("CLEAR").single("INSERT", 7)
    x.plain("CLEAR").plain("CHECK").fill(0, 100).plain("BARRIER")
    x.arm(2).resize(4).arm(0).single("DELETE", 2).plain("CHECK")
    x.arm(1).plain("CLEAR").plain("VALIDATE").fill(0, 60).plain("BARRIER")
    x.arm(64, persistent=True, window=1).resize(4096).plain("CHECK")
    x.iter([(10, frag().arm(0).plain("CLEAR"))], barrier_first=False)
    x.iter([(10, frag().arm(2).plain("CLEAR"))])
    return x


def nested(hash_mode, reclaim):
    """A scan inside an in-section iteration inside a scan, updates at every
    level, and barriers inside read sections (which must return -EDEADLK)."""
    x = Input(hash_mode, reclaim)
    x.fill(0, 120, stride=3)
    inner = frag().iter([(5, frag().cur("delete").plain("BARRIER")),
                         (5, frag().single("INVALID", 4, 7).resize(4096))],
                        barrier_first=False)
    mid = frag().scan(2, [(1, frag().single("INSERT", 50)), (2, inner),
                          (3, frag().resize(16))], barrier_first=False)
    x.scan(4, [(1, mid), (2, frag().resize(1024)), (1, frag().plain("CLEAR"))])
    x.fill(0, 50).iter([(3, frag().scan(3, callback=[(2, frag().cur("delete"))],
                                        barrier_first=False))])
    x.plain("CHECK")
    return x


def random_input(rng, n_ops, depth=0):
    """Structured random operations: mostly single-key calls on hot keys, some
    bulk, resizes, failures and traversals with embedded operations."""
    x = frag()
    for _ in range(n_ops):
        r = rng.random()
        k = rng.randrange(64) if rng.random() < 0.85 else 64 + 7 * rng.randrange(64)
        if r < 0.55:
            x.single(rng.choice(SINGLE[:-1]), k, rng.randrange(8))
        elif r < 0.62:
            x.fill(2 * rng.randrange(256), rng.randrange(1, 200),
                   put=rng.random() < 0.5, stride=rng.choice([1, 2, 3, 5]))
        elif r < 0.66:
            x.drain(2 * rng.randrange(256), rng.randrange(1, 200),
                    delete_if=rng.random() < 0.5, stride=rng.choice([1, 2, 3, 5]))
        elif r < 0.72:
            x.resize(rng.choice(list(RESIZE)))
        elif r < 0.78:
            x.arm(rng.choice([0, 1, 2, 3, 5, 8, 13, 64]), rng.random() < 0.2,
                  rng.randrange(1, 5))
        elif r < 0.81:
            x.plain(rng.choice(["COUNT", "VALIDATE", "CHECK", "BARRIER", "CLEAR"]))
        elif r < 0.84:
            x.single("INVALID", k, rng.randrange(8))
        elif r < 0.88:
            x.cur(rng.choice(["delete", "replace", "put", "delete_if", "cas", "insert"]))
        elif depth < 2 and r < 0.94:
            emb = [(rng.randrange(12), random_input(rng, rng.randrange(1, 4), depth + 1))
                   for _ in range(rng.randrange(5))]
            x.iter(emb, barrier_first=rng.random() < 0.5)
        elif depth < 2:
            emb = [(rng.randrange(6), random_input(rng, rng.randrange(1, 4), depth + 1))
                   for _ in range(rng.randrange(5))]
            x.scan(rng.choice([1, 2, 3, 5, 8, 16, 32]), emb,
                   barrier_first=rng.random() < 0.5)
    return x


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "fuzz")
    os.makedirs(out, exist_ok=True)
    inputs = {"basic-ops": basic_ops()}
    for h in (H_PAIRS, H_GOOD):
        inputs["prefix-keys-h%d" % h] = prefix_keys(h)
    for h, r, m in ((H_GOOD, R_EACH, M_DEFAULT), (H_GOOD, R_SIXTEEN, M_ONE),
                    (H_FOUR, R_EACH, M_TWO), (H_ONE, R_BARRIER, M_DEFAULT),
                    (H_LOWZERO, R_EACH, M_32), (H_PAIRS, R_SIXTEEN, M_DEFAULT),
                    (H_GOOD, R_WORKER, M_DEFAULT)):
        inputs["grow-shrink-h%d-r%d-m%d" % (h, r, m)] = grow_shrink(h, r, m, seed=h + r)
    for h, r in ((H_GOOD, R_EACH), (H_GOOD, R_BARRIER), (H_FOUR, R_EACH),
                 (H_LOWZERO, R_SIXTEEN), (H_PAIRS, R_EACH), (H_GOOD, R_WORKER)):
        for shrink in (False, True):
            inputs["iter-across-%s-h%d-r%d" % ("shrink" if shrink else "grow", h, r)] = \
                iter_across_resize(h, r, shrink, seed=3 * h + r)
    for h, r, m in ((H_GOOD, R_EACH, 1), (H_GOOD, R_SIXTEEN, 4), (H_FOUR, R_EACH, 3),
                    (H_LOWZERO, R_EACH, 2), (H_ONE, R_EACH, 5), (H_PAIRS, R_BARRIER, 1),
                    (H_GOOD, R_WORKER, 3)):
        inputs["scan-across-resizes-h%d-r%d-max%d" % (h, r, m)] = \
            scan_across_resizes(h, r, m, seed=h * 5 + m)
    for h, r in ((H_GOOD, R_EACH), (H_FOUR, R_SIXTEEN), (H_PAIRS, R_EACH),
                 (H_GOOD, R_WORKER)):
        for grow in (True, False):
            tag = "grow" if grow else "shrink"
            inputs["stalled-%s-h%d-r%d" % (tag, h, r)] = stalled_migration(h, r, grow, h + 1)
            inputs["iter-over-stalled-%s-h%d-r%d" % (tag, h, r)] = \
                iter_over_stalled(h, r, grow, h + 2)
    for h, r in ((H_GOOD, R_EACH), (H_ONE, R_SIXTEEN), (H_LOWZERO, R_BARRIER)):
        inputs["enomem-updates-h%d-r%d" % (h, r)] = enomem_updates(h, r)
    for h, r in ((H_GOOD, R_EACH), (H_FOUR, R_BARRIER), (H_GOOD, R_WORKER)):
        inputs["enomem-resize-clear-h%d-r%d" % (h, r)] = enomem_resize_clear(h, r)
    for h, r in ((H_GOOD, R_EACH), (H_PAIRS, R_SIXTEEN)):
        inputs["nested-h%d-r%d" % (h, r)] = nested(h, r)
    rng = random.Random(20261121)
    for i in range(16):
        h = rng.choice([H_GOOD, H_GOOD, 1, 2, H_FOUR, H_ONE, H_LOWZERO, H_PAIRS])
        r = rng.choice([R_EACH, R_EACH, 2, 3, R_SIXTEEN, 5, R_BARRIER, 7])
        x = Input(h, r, rng.randrange(4), rng.randrange(256))
        x.ops += random_input(rng, rng.randrange(20, 120)).ops
        inputs["random-%02d" % i] = x

    for name in os.listdir(out):
        if name.startswith("gen-"):
            os.remove(os.path.join(out, name))
    for name, x in sorted(inputs.items()):
        with open(os.path.join(out, "gen-%s.bin" % name), "wb") as f:
            f.write(x.bytes())
    print("%s: %d inputs written to %s" % (os.path.basename(sys.argv[0]), len(inputs), out))


if __name__ == "__main__":
    main()
