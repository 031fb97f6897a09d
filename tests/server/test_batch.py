# SPDX-License-Identifier: MIT
"""test_batch.py: the GETs rcumapd looks up in batches (store_get_batch) answer as one by one.

rcumapd batches the keys of an MGET (and EXISTS), the consecutive GETs a
connection has pipelined, and the keys of a memcached get/gets line. Each
key must still read exactly as a lone GET would:

- MGET and EXISTS over present, missing, expired (lazy expiry: the server
  runs with --expire-rate 0, so only the reads remove them) and wrong-type
  keys (LPUSH is refused, so the key stays absent and reads nil, as MGET of
  a list does in Redis), a key set over memcached, and repeats; INFO's
  keyspace_hits, keyspace_misses and expired_keys move as for lone GETs;
- GET, SET, GET of one key written at once: the second GET sees the SET
  (multibulk and inline), and a seeded 600-command pipeline of GET, SET,
  DEL, INCR, APPEND, MGET and EXISTS over five keys, in one write, gets the
  replies of a model, in order;
- GETs before a malformed request are answered before its error reply;
- 200 pipelined GETs, more than the pass budget, answered in order;
- memcached get and gets with missing keys and repeats (each repeat gets
  its VALUE again), 150 keys on one line, and the get_hits/get_misses stats.

Servers: every flavor (for_each_flavor) with the default pass budget, qsbr
with --pass-budget 7 (batches cut by the budget), memb with --section
command (no batching across commands). Negative control (plain runs only):
server/rcumapd-broken-batch answers a batch after the command that follows
it and skips lazy expiry in batches; the ordering and MGET checks must fail
against it.
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testlib"))
import harness  # noqa: E402
from common_b import Err, Mc, Resp, Results, enc, info, info_int  # noqa: E402
from mcstats import mc_stats  # noqa: E402  (testlib/mcstats.py)

BASE_ARGS = ["--expire-rate", "0"]
BROKEN_BIN = os.environ.get("RCUMAPD_BROKEN_BATCH_BIN") or os.path.join(
    harness.BUILDDIR, "server", "rcumapd-broken-batch")
MIXED_CMDS = 600
LONG_GETS = 200
MC_KEYS = 150


def check(res, name, ok, detail):
    """res.check with the detail shown only for a failure."""
    return res.check(name, ok, "" if ok else detail)


def deltas(port, before, names):
    after = info(port)
    return {n: info_int(after, n, 0) - info_int(before, n, 0) for n in names}


def mget_kinds(srv, res, label):
    c = Resp(srv.resp_port)
    m = Mc(srv.mc_port)
    try:
        c.cmd("SET", "b:p1", "one")
        c.cmd("SET", "b:p2", "two")
        for k in ("b:exp", "b:exp2", "b:exp3"):
            c.cmd("SET", k, "old", "PX", 30)
        lpush = c.cmd("LPUSH", "b:list", "x")
        stored = m.cmd(b"set b:mc 7 0 2", b"hi")
        time.sleep(0.1)
        names = ("keyspace_hits", "keyspace_misses", "expired_keys")
        before = info(srv.resp_port)
        got = c.cmd("MGET", "b:p1", "b:p2", "b:missing", "b:exp", "b:list", "b:mc", "b:p1",
                    "b:exp")
        d1 = deltas(srv.resp_port, before, names)
        before = info(srv.resp_port)
        ex = c.cmd("EXISTS", "b:p1", "b:p1", "b:missing", "b:exp3")
        d2 = deltas(srv.resp_port, before, names)
    finally:
        c.close()
        m.close()
    want = [b"one", b"two", None, None, None, b"hi", b"one", None]
    check(res, "%s: MGET of present, missing, expired, wrong-type, memcached and repeated keys"
          % label, got == want and isinstance(lpush, Err) and stored == b"STORED",
          "got %r, LPUSH %r, mc set %r" % (got, lpush, stored))
    check(res, "%s: MGET counts 4 hits, 4 misses, 1 expiry (the repeat finds it gone)" % label,
          d1 == {"keyspace_hits": 4, "keyspace_misses": 4, "expired_keys": 1}, repr(d1))
    check(res, "%s: EXISTS of a repeated, a missing and an expired key" % label,
          ex == 2 and d2 == {"keyspace_hits": 2, "keyspace_misses": 2, "expired_keys": 1},
          "EXISTS %r, %r" % (ex, d2))


def model_pipeline(seed, keys, n):
    """n commands over keys and the replies of a model of them, in order."""
    rnd = random.Random(seed)
    store, cmds, want = {}, [], []
    for _ in range(n):
        k = rnd.choice(keys)
        op = rnd.random()
        if op < 0.55:
            inline = rnd.random() < 0.2
            cmds.append(("GET inline", k) if inline else ("GET", k))
            want.append(store.get(k))
        elif op < 0.7:
            v = str(rnd.randint(1, 999)).encode()
            cmds.append(("SET", k, v))
            store[k] = v
            want.append(b"OK")
        elif op < 0.78:
            cmds.append(("DEL", k))
            want.append(1 if store.pop(k, None) is not None else 0)
        elif op < 0.86:
            cmds.append(("INCR", k))
            store[k] = str(int(store.get(k, b"0")) + 1).encode()
            want.append(int(store[k]))
        elif op < 0.92:
            cmds.append(("APPEND", k, b"7"))
            store[k] = store.get(k, b"") + b"7"
            want.append(len(store[k]))
        elif op < 0.97:
            ks = [rnd.choice(keys) for _ in range(rnd.randint(1, 6))]
            cmds.append(("MGET",) + tuple(ks))
            want.append([store.get(x) for x in ks])
        else:
            ks = [rnd.choice(keys) for _ in range(rnd.randint(1, 4))]
            cmds.append(("EXISTS",) + tuple(ks))
            want.append(sum(1 for x in ks if x in store))
    return cmds, want


def wire(cmds):
    out = []
    for cmd in cmds:
        if cmd[0] == "GET inline":
            out.append(b"GET " + cmd[1] + b"\r\n")
        else:
            out.append(enc(*cmd))
    return b"".join(out)


def first_diff(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return "reply %d: got %r, want %r" % (i, g, w)
    if len(got) != len(want):
        return "%d replies, want %d" % (len(got), len(want))
    return ""


def pipeline_order(srv, res, label):
    c = Resp(srv.resp_port)
    try:
        c.cmd("SET", "b:o", "old")
        c.cmd("SET", "b:oi", "old")
        c.send(enc("GET", "b:o") + enc("SET", "b:o", "new") + enc("GET", "b:o"))
        got = [c.reply() for _ in range(3)]
        c.send(b"GET b:oi\r\nSET b:oi new\r\nGET b:oi\r\n")
        got_inline = [c.reply() for _ in range(3)]

        keys = [b"b:r%d" % i for i in range(5)]
        c.cmd("DEL", *keys)
        cmds, want = model_pipeline(13, keys, MIXED_CMDS)
        c.send(wire(cmds))
        mixed = [c.reply() for _ in cmds]
    finally:
        c.close()
    check(res, "%s: GET, SET, GET of one key in one write: the second GET sees the SET" % label,
          got == [b"old", b"OK", b"new"], repr(got))
    check(res, "%s: the same as inline commands" % label,
          got_inline == [b"old", b"OK", b"new"], repr(got_inline))
    diff = first_diff(mixed, want)
    check(res, "%s: %d mixed commands in one write answer as the model, in order"
          % (label, MIXED_CMDS), not diff, diff)

    c = Resp(srv.resp_port)
    try:
        c.send(enc("GET", "b:p1") + enc("GET", "b:missing") + b"GET b:p2\r\n*x\r\n")
        out, closed = c.read_available(wait=2.0 * harness.SCALE)
    finally:
        c.close()
    want_bytes = (b"$3\r\none\r\n$-1\r\n$3\r\ntwo\r\n"
                  b"-ERR Protocol error: invalid multibulk length\r\n")
    check(res, "%s: GETs before a malformed request are answered before its error" % label,
          out == want_bytes and closed, "got %r, closed %r" % (out[:200], closed))


def long_pipeline(srv, res, label):
    keys = ["b:L%03d" % i for i in range(LONG_GETS)]
    c = Resp(srv.resp_port)
    try:
        c.pipeline([("SET", k, "v" + k) for i, k in enumerate(keys) if i % 3])
        before = info(srv.resp_port)
        c.send(b"".join(enc("GET", k) for k in keys))
        got = [c.reply() for _ in keys]
        d = deltas(srv.resp_port, before, ("keyspace_hits", "keyspace_misses"))
    finally:
        c.close()
    want = [("v" + k).encode() if i % 3 else None for i, k in enumerate(keys)]
    hits = sum(1 for w in want if w is not None)
    diff = first_diff(got, want)
    check(res, "%s: %d pipelined GETs (past the pass budget) answered in order"
          % (label, LONG_GETS), not diff, diff)
    check(res, "%s: and counted as %d hits, %d misses" % (label, hits, LONG_GETS - hits),
          d == {"keyspace_hits": hits, "keyspace_misses": LONG_GETS - hits}, repr(d))


def mc_multiget(srv, res, label):
    m = Mc(srv.mc_port)
    try:
        m.cmd(b"set b:m1 5 0 3", b"aaa")
        m.cmd(b"set b:m2 0 0 2", b"bb")
        m.send(b"get b:m1 b:nope b:m2 b:m1 b:nope b:exp2 b:m1\r\n")
        want = (b"VALUE b:m1 5 3\r\naaa\r\nVALUE b:m2 0 2\r\nbb\r\nVALUE b:m1 5 3\r\naaa\r\n"
                b"VALUE b:m1 5 3\r\naaa\r\nEND\r\n")
        got = m.readexact(len(want))
        m.send(b"gets b:m1 b:nope b:m1 b:m2\r\n")
        lines = [m.readline() for _ in range(7)]

        keys = [b"b:n%03d" % i for i in range(MC_KEYS)]
        for i, k in enumerate(keys):
            if i % 4 == 0:
                m.cmd(b"set " + k + b" %d 0 1" % i, b"x")
        before = mc_stats(m)
        m.send(b"get " + b" ".join(keys + keys[:10]) + b"\r\n")
        want_long = b"".join(b"VALUE %s %d 1\r\nx\r\n" % (k, i % MC_KEYS)
                             for i, k in enumerate(keys + keys[:10]) if i % MC_KEYS % 4 == 0)
        want_long += b"END\r\n"
        got_long = m.readexact(len(want_long))
        after = mc_stats(m)
        m.send(b"get b:m3\r\nset b:m3 0 0 1\r\nz\r\nget b:m3\r\n")
        want_seq = b"END\r\nSTORED\r\nVALUE b:m3 0 1\r\nz\r\nEND\r\n"
        got_seq = m.readexact(len(want_seq))
    finally:
        m.close()
    check(res, "%s: memcached get with missing keys and repeats" % label, got == want,
          "got %r" % got)
    v = [ln.split(b" ") for ln in lines[0:6:2]]
    ok = (len(v) == 3 and all(p[0] == b"VALUE" and len(p) == 5 for p in v)
          and [p[1] for p in v] == [b"b:m1", b"b:m1", b"b:m2"] and v[0][4] == v[1][4]
          and v[0][4] != v[2][4] and lines[1] == lines[3] == b"aaa" and lines[5] == b"bb"
          and lines[6] == b"END")
    check(res, "%s: memcached gets: a repeat gets the same cas, other keys another" % label, ok,
          repr(lines))
    n = len(keys) + 10
    hits = sum(1 for i in range(n) if i % MC_KEYS % 4 == 0)
    d = {s: int(after.get(s, 0)) - int(before.get(s, 0))
         for s in ("cmd_get", "get_hits", "get_misses")}
    check(res, "%s: memcached get of %d keys on one line, in order" % (label, n),
          got_long == want_long, "got %r..." % got_long[:200])
    check(res, "%s: and stats count %d gets, %d hits" % (label, n, hits),
          d == {"cmd_get": n, "get_hits": hits, "get_misses": n - hits}, repr(d))
    check(res, "%s: memcached get, set, get of one key in one write" % label,
          got_seq == want_seq, "got %r" % got_seq)


def all_checks(srv, res, label):
    mget_kinds(srv, res, label)
    pipeline_order(srv, res, label)
    long_pipeline(srv, res, label)
    mc_multiget(srv, res, label)


class Quiet:
    """Collects a run's checks without printing them: the negative control's."""

    def __init__(self):
        self.failed = []

    def check(self, name, ok, detail=""):
        if not ok:
            self.failed.append(name)
        return ok


def negative_control(res):
    label = "rcumapd-broken-batch qsbr (negative control)"
    if not os.access(BROKEN_BIN, os.X_OK):
        res.check("%s: binary present" % label, False,
                  "%s is missing; build server/rcumapd-broken-batch" % BROKEN_BIN)
        return
    q = Quiet()
    srv = harness.Rcumapd(flavor="qsbr", threads=2, args=BASE_ARGS, binary=BROKEN_BIN)
    try:
        mget_kinds(srv, q, "broken")
        pipeline_order(srv, q, "broken")
    except Exception as e:  # noqa: BLE001
        q.failed.append("run: %r" % e)
    res.stop("%s: stop_clean" % label, srv)
    want = ("broken: GET, SET, GET of one key in one write: the second GET sees the SET",
            "broken: MGET of present, missing, expired, wrong-type, memcached and repeated keys")
    missed = [w for w in want if w not in q.failed]
    print("  broken-batch build fails: %s" % "; ".join(q.failed), flush=True)
    check(res, "%s: the ordering and MGET expiry checks detect it" % label, not missed,
          "not detected: %s" % "; ".join(missed))


def main():
    res = Results()
    harness.for_each_flavor(res.items, lambda srv, flavor: all_checks(
        srv, res, "rcumapd %s" % flavor), args=BASE_ARGS)
    extra = [("qsbr", ["--pass-budget", "7"]), ("memb", ["--section", "command"])]
    for flavor, args in extra:
        if flavor not in harness.FLAVORS:
            continue
        label = "rcumapd %s %s" % (flavor, " ".join(args))
        srv = harness.Rcumapd(flavor=flavor, threads=2, args=BASE_ARGS + args)
        try:
            all_checks(srv, res, label)
        except Exception as e:  # noqa: BLE001
            res.check("%s: run" % label, False, repr(e))
        res.stop("%s: stop_clean" % label, srv)
    # The sanitized and valgrind wrappers set RCUMAPD_BIN: the control runs in the plain run.
    if "qsbr" in harness.FLAVORS and not os.environ.get("RCUMAPD_BIN") and not harness.WRAP:
        negative_control(res)
    res.report()


if __name__ == "__main__":
    main()
