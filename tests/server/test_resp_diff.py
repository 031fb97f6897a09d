# SPDX-License-Identifier: MIT
"""test_resp_diff.py: differential RESP test, rcumapd against redis-server 7.0.

One fixed sequence of commands runs against a fresh redis-server and against
rcumapd (under every flavor); every reply must be identical. The sequence
runs twice, with fresh key names each time: once through redis-py pipelines
(the replies as a real client sees them, error class and text included), and
once as raw RESP bytes (so that a bulk "OK" cannot pass for a status +OK).
Replies that depend on elapsed time (TTL, PTTL) must fall in a stated range
on both servers. A few inline commands are compared as raw bytes.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import redis  # noqa: E402

I64_MAX = b"9223372036854775807"
I64_MIN = b"-9223372036854775808"


class Range:
    """A reply that depends on time: an integer in [lo, hi] (both ends)."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def ok(self, v):
        return isinstance(v, int) and not isinstance(v, bool) and self.lo <= v <= self.hi

    def __repr__(self):
        return "integer in [%d, %d]" % (self.lo, self.hi)


SLEEP = "sleep"
# differing replies listed one per line; a dead server would list them all
MAX_LISTED = 30


def steps(p):
    """The command sequence, keys prefixed with p (bytes). Each step is
    (args,) or (args, Range) or (SLEEP, seconds)."""
    k = lambda s: p + s  # noqa: E731
    big = bytes(range(256)) * 400             # 100 KiB, every byte value
    binkey = p + b"bin\x00key\r\n\x00"
    binval = b"v\x00a\r\nl\r\n\x00ue\n\r"
    S = []
    a = S.append

    # --- PING, ECHO ---
    a(([b"PING"],))
    a(([b"ping", b"hello world"],))
    a(([b"PING", b""],))
    a(([b"ECHO", b"abc\x00\r\ndef"],))
    a(([b"echo", b""],))
    a(([b"ECHO", big],))

    # --- SET / GET basics ---
    a(([b"GET", k(b"missing")],))
    a(([b"SET", k(b"a"), b"1"],))
    a(([b"GET", k(b"a")],))
    a(([b"set", k(b"a"), b"two"],))
    a(([b"GeT", k(b"a")],))
    a(([b"SET", k(b"empty"), b""],))
    a(([b"GET", k(b"empty")],))
    a(([b"STRLEN", k(b"empty")],))
    a(([b"SET", binkey, binval],))
    a(([b"GET", binkey],))
    a(([b"STRLEN", binkey],))
    a(([b"EXISTS", binkey],))
    a(([b"SET", k(b"big"), big],))
    a(([b"GET", k(b"big")],))
    a(([b"STRLEN", k(b"big")],))
    a(([b"SET", b"", b"emptykey"],))
    a(([b"GET", b""],))
    a(([b"DEL", b""],))

    # --- SET options ---
    a(([b"SET", k(b"s1"), b"v", b"NX"],))
    a(([b"SET", k(b"s1"), b"w", b"NX"],))
    a(([b"GET", k(b"s1")],))
    a(([b"SET", k(b"s1"), b"x", b"XX"],))
    a(([b"GET", k(b"s1")],))
    a(([b"SET", k(b"s2"), b"x", b"XX"],))
    a(([b"GET", k(b"s2")],))
    a(([b"SET", k(b"s1"), b"y", b"GET"],))
    a(([b"SET", k(b"s3"), b"y", b"GET"],))
    a(([b"GET", k(b"s3")],))
    a(([b"SET", k(b"s1"), b"z", b"NX", b"GET"],))
    a(([b"GET", k(b"s1")],))
    a(([b"SET", k(b"s4"), b"z", b"NX", b"GET"],))
    a(([b"GET", k(b"s4")],))
    a(([b"SET", k(b"s1"), b"q", b"XX", b"GET"],))
    a(([b"SET", k(b"s5"), b"q", b"XX", b"GET"],))
    a(([b"GET", k(b"s5")],))
    a(([b"SET", k(b"e1"), b"v", b"EX", b"100"],))
    a(([b"TTL", k(b"e1")], Range(99, 100)))
    a(([b"PTTL", k(b"e1")], Range(98000, 100000)))
    a(([b"SET", k(b"e2"), b"v", b"PX", b"100000"],))
    a(([b"TTL", k(b"e2")], Range(99, 100)))
    a(([b"SET", k(b"e3"), b"v", b"ex", b"100", b"nx"],))
    a(([b"TTL", k(b"e3")], Range(99, 100)))
    a(([b"SET", k(b"e3"), b"v2", b"xx", b"px", b"200000"],))
    a(([b"TTL", k(b"e3")], Range(199, 200)))
    a(([b"SET", k(b"e3"), b"v3", b"KEEPTTL"],))
    a(([b"TTL", k(b"e3")], Range(199, 200)))
    a(([b"GET", k(b"e3")],))
    a(([b"SET", k(b"e3"), b"v4", b"keepttl", b"xx", b"get"],))
    a(([b"TTL", k(b"e3")], Range(199, 200)))
    a(([b"SET", k(b"e3"), b"v5"],))
    a(([b"TTL", k(b"e3")],))
    a(([b"SET", k(b"e4"), b"v", b"KEEPTTL"],))
    a(([b"TTL", k(b"e4")],))
    # syntax errors and bad numbers
    for opts in ([b"NX", b"XX"], [b"XX", b"NX"], [b"EX", b"10", b"PX", b"100"],
                 [b"PX", b"100", b"EX", b"10"], [b"EX", b"10", b"KEEPTTL"],
                 [b"KEEPTTL", b"PX", b"10"], [b"EX"], [b"PX"], [b"EX", b"10", b"EX", b"10"],
                 [b"FOO"], [b"NX", b"FOO"], [b"GET", b"GET", b"EXTRA"],
                 [b"EX", b"0"], [b"EX", b"-1"], [b"PX", b"0"], [b"PX", b"-5"],
                 [b"EX", b"abc"], [b"PX", b"1.5"], [b"EX", b""], [b"EX", I64_MAX],
                 [b"PX", I64_MAX], [b"EX", b"99999999999999999999"], [b"EX", b"+10"],
                 [b"EX", b" 10"], [b"EX", b"010"], [b"NX", b"NX"], [b"KEEPTTL", b"KEEPTTL"]):
        a(([b"SET", k(b"syn"), b"v"] + opts,))
    a(([b"EXISTS", k(b"syn")],))

    # --- SETNX, SETEX, PSETEX, GETSET, GETDEL ---
    a(([b"SETNX", k(b"n1"), b"a"],))
    a(([b"SETNX", k(b"n1"), b"b"],))
    a(([b"GET", k(b"n1")],))
    a(([b"SETEX", k(b"x1"), b"100", b"val"],))
    a(([b"TTL", k(b"x1")], Range(99, 100)))
    a(([b"GET", k(b"x1")],))
    a(([b"SETEX", k(b"x1"), b"0", b"val"],))
    a(([b"SETEX", k(b"x1"), b"-10", b"val"],))
    a(([b"SETEX", k(b"x1"), b"abc", b"val"],))
    a(([b"SETEX", k(b"x1"), I64_MAX, b"val"],))
    a(([b"PSETEX", k(b"x2"), b"100000", b"pval"],))
    a(([b"PTTL", k(b"x2")], Range(98000, 100000)))
    a(([b"GET", k(b"x2")],))
    a(([b"PSETEX", k(b"x2"), b"0", b"val"],))
    a(([b"PSETEX", k(b"x2"), b"-1", b"val"],))
    a(([b"PSETEX", k(b"x2"), b"1e3", b"val"],))
    a(([b"GETSET", k(b"gs"), b"first"],))
    a(([b"GETSET", k(b"gs"), b"second"],))
    a(([b"GET", k(b"gs")],))
    a(([b"GETSET", k(b"x1"), b"nottl"],))
    a(([b"TTL", k(b"x1")],))
    a(([b"GETDEL", k(b"gs")],))
    a(([b"GETDEL", k(b"gs")],))
    a(([b"EXISTS", k(b"gs")],))

    # --- MGET, MSET, DEL, EXISTS ---
    a(([b"MSET", k(b"m1"), b"1", k(b"m2"), b"2", k(b"m3"), b"\x00\r\n"],))
    a(([b"MGET", k(b"m1"), k(b"nope"), k(b"m2"), k(b"m3"), k(b"m1")],))
    a(([b"MGET", k(b"nope")],))
    a(([b"MSET", k(b"m1"), b"a", k(b"m1"), b"b"],))
    a(([b"GET", k(b"m1")],))
    a(([b"MSET", k(b"m1"), b"a", k(b"m2")],))
    a(([b"EXISTS", k(b"m1"), k(b"m1"), k(b"nope"), k(b"m2"), k(b"m1")],))
    a(([b"EXISTS", k(b"nope"), k(b"nope")],))
    a(([b"DEL", k(b"m1"), k(b"m2"), k(b"nope"), k(b"m1")],))
    a(([b"DEL", k(b"m3")],))
    a(([b"DEL", k(b"m3")],))
    a(([b"MGET", k(b"m1"), k(b"m2"), k(b"m3")],))

    # --- INCR family ---
    a(([b"INCR", k(b"c")],))
    a(([b"INCR", k(b"c")],))
    a(([b"INCRBY", k(b"c"), b"10"],))
    a(([b"INCRBY", k(b"c"), b"-100"],))
    a(([b"DECR", k(b"c")],))
    a(([b"DECRBY", k(b"c"), b"5"],))
    a(([b"DECRBY", k(b"c"), b"-200"],))
    a(([b"GET", k(b"c")],))
    a(([b"DECR", k(b"c2")],))
    a(([b"DECRBY", k(b"c3"), b"7"],))
    a(([b"INCRBY", k(b"c4"), b"-7"],))
    a(([b"SET", k(b"c5"), b"-12"],))
    a(([b"INCR", k(b"c5")],))
    for bad in (b"abc", b"1.5", b"", b" 1", b"1 ", b"01", b"+1", b"-0", b"0x10",
                b"99999999999999999999", b"1\x00", b"-"):
        a(([b"SET", k(b"cv"), bad],))
        a(([b"INCR", k(b"cv")],))
        a(([b"GET", k(b"cv")],))
    for bad in (b"abc", b"1.5", b"", b" 1", b"01", b"+1", b"99999999999999999999"):
        a(([b"INCRBY", k(b"c"), bad],))
        a(([b"DECRBY", k(b"c"), bad],))
    a(([b"SET", k(b"ov"), I64_MAX],))
    a(([b"INCR", k(b"ov")],))
    a(([b"INCRBY", k(b"ov"), b"1"],))
    a(([b"INCRBY", k(b"ov"), b"0"],))
    a(([b"DECRBY", k(b"ov"), b"-1"],))
    a(([b"GET", k(b"ov")],))
    a(([b"SET", k(b"un"), I64_MIN],))
    a(([b"DECR", k(b"un")],))
    a(([b"DECRBY", k(b"un"), b"1"],))
    a(([b"INCRBY", k(b"un"), b"-1"],))
    a(([b"INCR", k(b"un")],))
    a(([b"GET", k(b"un")],))
    a(([b"DECRBY", k(b"z"), I64_MIN],))
    a(([b"INCRBY", k(b"z"), I64_MIN],))
    a(([b"GET", k(b"z")],))
    a(([b"SETEX", k(b"ct"), b"100", b"5"],))
    a(([b"INCR", k(b"ct")],))
    a(([b"TTL", k(b"ct")], Range(99, 100)))

    # --- APPEND, STRLEN ---
    a(([b"APPEND", k(b"ap"), b"hello"],))
    a(([b"APPEND", k(b"ap"), b" \x00world\r\n"],))
    a(([b"GET", k(b"ap")],))
    a(([b"STRLEN", k(b"ap")],))
    a(([b"APPEND", k(b"ap"), b""],))
    a(([b"STRLEN", k(b"nope")],))
    a(([b"APPEND", k(b"ap2"), b""],))
    a(([b"EXISTS", k(b"ap2")],))
    a(([b"GET", k(b"ap2")],))
    a(([b"SETEX", k(b"apt"), b"100", b"x"],))
    a(([b"APPEND", k(b"apt"), b"y"],))
    a(([b"TTL", k(b"apt")], Range(99, 100)))
    a(([b"SET", k(b"an"), b"10"],))
    a(([b"APPEND", k(b"an"), b"5"],))
    a(([b"INCR", k(b"an")],))

    # --- EXPIRE, PEXPIRE, TTL, PTTL, PERSIST ---
    a(([b"SET", k(b"t"), b"v"],))
    a(([b"TTL", k(b"t")],))
    a(([b"PTTL", k(b"t")],))
    a(([b"TTL", k(b"nope")],))
    a(([b"PTTL", k(b"nope")],))
    a(([b"EXPIRE", k(b"nope"), b"100"],))
    a(([b"EXPIRE", k(b"t"), b"100", b"XX"],))
    a(([b"EXPIRE", k(b"t"), b"100", b"GT"],))
    a(([b"TTL", k(b"t")],))
    a(([b"EXPIRE", k(b"t"), b"100", b"LT"],))
    a(([b"TTL", k(b"t")], Range(99, 100)))
    a(([b"EXPIRE", k(b"t"), b"300", b"NX"],))
    a(([b"EXPIRE", k(b"t"), b"300", b"XX"],))
    a(([b"TTL", k(b"t")], Range(299, 300)))
    a(([b"EXPIRE", k(b"t"), b"200", b"GT"],))
    a(([b"EXPIRE", k(b"t"), b"400", b"gt"],))
    a(([b"TTL", k(b"t")], Range(399, 400)))
    a(([b"EXPIRE", k(b"t"), b"500", b"LT"],))
    a(([b"EXPIRE", k(b"t"), b"50", b"lt"],))
    a(([b"TTL", k(b"t")], Range(49, 50)))
    a(([b"EXPIRE", k(b"t"), b"60", b"XX", b"GT"],))
    a(([b"TTL", k(b"t")], Range(59, 60)))
    a(([b"PEXPIRE", k(b"t"), b"123456"],))
    a(([b"PTTL", k(b"t")], Range(121000, 123456)))
    a(([b"TTL", k(b"t")], Range(122, 124)))
    a(([b"PEXPIRE", k(b"t"), b"200000", b"NX"],))
    a(([b"PEXPIRE", k(b"t"), b"200000", b"GT"],))
    a(([b"PTTL", k(b"t")], Range(198000, 200000)))
    for opts in ([b"NX", b"XX"], [b"NX", b"GT"], [b"NX", b"LT"], [b"GT", b"LT"],
                 [b"FOO"], [b"XX", b"BAR"], [b"NX", b"NX"]):
        a(([b"EXPIRE", k(b"t"), b"100"] + opts,))
        a(([b"PEXPIRE", k(b"t"), b"100"] + opts,))
    # bad times on their own keys: some of them delete the key in Redis
    for i, bad in enumerate((b"abc", b"", b"1.5", b"+5", I64_MAX, b"9223372036854775",
                             I64_MIN, b"99999999999999999999", b"-9223372036854775")):
        kb = k(b"tb%d" % i)
        a(([b"SET", kb, b"v"],))
        a(([b"EXPIRE", kb, bad],))
        a(([b"PEXPIRE", kb, bad],))
        a(([b"EXISTS", kb],))
    a(([b"PTTL", k(b"t")], Range(198000, 200000)))
    a(([b"PERSIST", k(b"t")],))
    a(([b"PERSIST", k(b"t")],))
    a(([b"PERSIST", k(b"nope")],))
    a(([b"TTL", k(b"t")],))
    a(([b"EXPIRE", k(b"t"), b"100", b"NX"],))
    a(([b"EXPIRE", k(b"t"), b"-1"],))
    a(([b"EXISTS", k(b"t")],))
    a(([b"GET", k(b"t")],))
    a(([b"SET", k(b"t0"), b"v"],))
    a(([b"EXPIRE", k(b"t0"), b"0"],))
    a(([b"GET", k(b"t0")],))
    a(([b"SET", k(b"t1"), b"v"],))
    a(([b"PEXPIRE", k(b"t1"), b"-100"],))
    a(([b"TTL", k(b"t1")],))
    a(([b"SET", k(b"t2"), b"v"],))
    a(([b"PEXPIRE", k(b"t2"), b"-5", b"LT"],))
    a(([b"EXISTS", k(b"t2")],))
    a(([b"SET", k(b"t3"), b"v"],))
    a(([b"PEXPIRE", k(b"t3"), b"-5", b"GT"],))
    a(([b"EXISTS", k(b"t3")],))
    # expiry takes effect
    a(([b"SET", k(b"sh1"), b"v", b"PX", b"100"],))
    a(([b"SETEX", k(b"sh2"), b"1", b"v"],))
    a(([b"PSETEX", k(b"sh3"), b"100", b"v"],))
    a(([b"SET", k(b"sh4"), b"v"],))
    a(([b"PEXPIRE", k(b"sh4"), b"100"],))
    a(([b"SET", k(b"sh5"), b"v", b"PX", b"100"],))
    a(([b"PERSIST", k(b"sh5")],))
    a((SLEEP, 1.3))
    a(([b"GET", k(b"sh1")],))
    a(([b"EXISTS", k(b"sh2"), k(b"sh3"), k(b"sh4")],))
    a(([b"TTL", k(b"sh3")],))
    a(([b"GET", k(b"sh5")],))
    a(([b"SET", k(b"sh1"), b"new", b"GET"],))
    a(([b"INCR", k(b"sh2")],))
    a(([b"APPEND", k(b"sh3"), b"x"],))
    a(([b"SETNX", k(b"sh4"), b"y"],))
    a(([b"MGET", k(b"sh1"), k(b"sh2"), k(b"sh3"), k(b"sh4")],))

    # --- TYPE, SELECT, unknown commands ---
    a(([b"TYPE", k(b"sh1")],))
    a(([b"TYPE", k(b"nope")],))
    a(([b"SELECT", b"0"],))
    a(([b"NOSUCHCOMMAND"],))
    a(([b"nosuchcommand", b"a", b"b c"],))
    a(([b"FOO", b"x" * 200],))
    a(([b"GETX", k(b"a")],))
    a(([b"", k(b"a")],))

    # --- wrong arity, every command ---
    arity = [
        [b"PING", b"a", b"b"], [b"ECHO"], [b"ECHO", b"a", b"b"],
        [b"GET"], [b"GET", b"a", b"b"], [b"get"],
        [b"SET"], [b"SET", b"a"], [b"set", b"a"],
        [b"SETNX", b"a"], [b"SETNX", b"a", b"b", b"c"],
        [b"SETEX", b"a", b"10"], [b"SETEX", b"a", b"10", b"v", b"x"],
        [b"PSETEX", b"a", b"10"], [b"PSETEX", b"a"],
        [b"GETSET", b"a"], [b"GETSET", b"a", b"b", b"c"],
        [b"GETDEL"], [b"GETDEL", b"a", b"b"],
        [b"MGET"], [b"MSET"], [b"MSET", b"a"], [b"MSET", b"a", b"b", b"c"],
        [b"DEL"], [b"EXISTS"],
        [b"INCR"], [b"INCR", b"a", b"b"], [b"INCRBY", b"a"], [b"INCRBY", b"a", b"1", b"2"],
        [b"DECR"], [b"DECRBY", b"a"],
        [b"APPEND", b"a"], [b"APPEND", b"a", b"b", b"c"],
        [b"STRLEN"], [b"STRLEN", b"a", b"b"],
        [b"EXPIRE", b"a"], [b"EXPIRE"], [b"PEXPIRE", b"a"],
        [b"TTL"], [b"TTL", b"a", b"b"], [b"PTTL"], [b"PTTL", b"a", b"b"],
        [b"PERSIST"], [b"PERSIST", b"a", b"b"],
        [b"TYPE"], [b"TYPE", b"a", b"b"],
        [b"DBSIZE", b"x"],
        [b"SELECT"], [b"SELECT", b"0", b"1"],
        [b"FLUSHDB", b"junk"], [b"FLUSHDB", b"ASYNC", b"SYNC"],
    ]
    for args in arity:
        a((args,))
    # nothing above created a key named "a" or "b"
    a(([b"EXISTS", b"a", b"b"],))

    # --- DBSIZE, FLUSHDB ---
    a(([b"FLUSHDB"],))
    a(([b"DBSIZE"],))
    a(([b"MSET", k(b"d1"), b"1", k(b"d2"), b"2", k(b"d3"), b"3"],))
    a(([b"SET", binkey, b"x"],))
    a(([b"DBSIZE"],))
    a(([b"DEL", k(b"d2")],))
    a(([b"DBSIZE"],))
    a(([b"flushdb", b"async"],))
    a(([b"DBSIZE"],))
    a(([b"GET", k(b"d1")],))
    a(([b"SET", k(b"d4"), b"4"],))
    a(([b"FLUSHDB", b"SYNC"],))
    a(([b"DBSIZE"],))
    a(([b"PING"],))
    return S


def batches(seq):
    """Split a step list at its sleeps: yields ("run", steps) and ("sleep", s)."""
    cur = []
    for st in seq:
        if st[0] is SLEEP:
            if cur:
                yield "run", cur
            cur = []
            yield "sleep", st[1]
        else:
            cur.append(st)
    if cur:
        yield "run", cur


def norm(r):
    """A redis-py reply as a comparable value; an error as (class, text)."""
    if isinstance(r, Exception):
        return ("error", type(r).__name__, str(r))
    return r


def run_redispy(port, seq):
    """Replies of seq through redis-py pipelines (non-transactional)."""
    cli = redis.Redis(host="127.0.0.1", port=port, decode_responses=False,
                      socket_timeout=30 * harness.SCALE)
    out = []
    for kind, what in batches(seq):
        if kind == "sleep":
            time.sleep(what)
            continue
        pipe = cli.pipeline(transaction=False)
        for st in what:
            pipe.execute_command(*st[0])
        try:
            res = pipe.execute(raise_on_error=False)
        except Exception as e:    # the connection broke: record it
            res = [("exception", type(e).__name__, str(e))] * len(what)
            cli.connection_pool.disconnect()
        out += [norm(r) for r in res]
    cli.close()
    return out


def encode(args):
    parts = [b"*%d\r\n" % len(args)]
    for x in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(x), x))
    return b"".join(parts)


class RawReader:
    """Reads whole RESP replies from a socket, as the exact bytes sent."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def _line(self, pos):
        while True:
            i = self.buf.find(b"\r\n", pos)
            if i >= 0:
                return i
            self._fill()

    def _end(self, pos):
        """Index just past the reply starting at pos."""
        while len(self.buf) <= pos:
            self._fill()
        t = self.buf[pos:pos + 1]
        e = self._line(pos)
        if t in (b"+", b"-", b":"):
            return e + 2
        n = int(self.buf[pos + 1:e])
        if t == b"$":
            if n < 0:
                return e + 2
            while len(self.buf) < e + 2 + n + 2:
                self._fill()
            return e + 2 + n + 2
        if t == b"*":
            p = e + 2
            for _ in range(max(n, 0)):
                p = self._end(p)
            return p
        raise ValueError("not a RESP reply: %r" % self.buf[pos:pos + 40])

    def reply(self):
        end = self._end(0)
        r, self.buf = self.buf[:end], self.buf[end:]
        return r


def raw_int(b):
    if b[:1] == b":" and b.endswith(b"\r\n"):
        return int(b[1:-2])
    return None


def run_raw(port, seq):
    """Replies of seq as exact RESP bytes, each batch sent in one write."""
    out = []
    s = socket.create_connection(("127.0.0.1", port), timeout=30 * harness.SCALE)
    rd = RawReader(s)
    for kind, what in batches(seq):
        if kind == "sleep":
            time.sleep(what)
            continue
        s.sendall(b"".join(encode(st[0]) for st in what))
        for _ in what:
            try:
                out.append(rd.reply())
            except (EOFError, OSError, ValueError) as e:
                out.append(("exception", str(e)))
    s.close()
    return out


def compare(label, seq, ref, got, results, raw):
    """One check per step; a Range step checks both replies against it."""
    fails = 0
    flat = [st for st in seq if st[0] is not SLEEP]
    assert len(flat) == len(ref) == len(got), (len(flat), len(ref), len(got))
    for st, r, g in zip(flat, ref, got):
        rng = st[1] if len(st) > 1 else None
        if rng is not None:
            rv = raw_int(r) if raw else r
            gv = raw_int(g) if raw else g
            ok = rng.ok(rv) and rng.ok(gv)
        else:
            ok = r == g
        if not ok:
            fails += 1
            if fails > MAX_LISTED:
                continue
            cmd = b" ".join(x if len(x) < 60 else x[:20] + b"...(%d bytes)" % len(x)
                            for x in st[0])
            results.append(("%s: %r" % (label, cmd), False,
                            "redis-server %r, rcumapd %r%s" % (
                                _short(r), _short(g),
                                (" (want %r)" % rng) if rng else "")))
    results.append(("%s: %d commands, %d differ" % (label, len(flat), fails), fails == 0,
                    "only the first %d listed" % MAX_LISTED if fails > MAX_LISTED else ""))


def _short(v):
    s = repr(v)
    return s if len(s) < 200 else s[:200] + "...(%d chars)" % len(s)


# --- inline commands, raw bytes -------------------------------------------

INLINE = [
    b"PING\r\n",
    b"ping\n",
    b"PING hello\r\n",
    b"SET %sa b\r\n",
    b"GET %sa\r\n",
    b"  SET   %sb   c  \r\n",
    b"GET %sb\r\n",
    b"SET \"%sq r\" \"x\\x41\\ny\\\"z\"\r\n",
    b"GET \"%sq r\"\r\n",
    b"SET '%ssingle' 'it\\'s'\r\n",
    b"STRLEN '%ssingle'\r\n",
    b"ECHO \"\"\r\n",
    b"MGET %sa %sb \"%sq r\" %snope\r\n",
    b"EXISTS %sa %sa\r\n",
    b"DEL %sa\r\n",
    b"GET\r\n",
    b"NOSUCH x y\r\n",
    b"INCR %sa\r\n",
]


def inline_sequence(p):
    out = []
    for line in INLINE:
        n = line.count(b"%s")
        out.append(line % ((p,) * n) if n else line)
    return out


def run_inline(port, p):
    """Raw replies to the inline commands, one write each; then an
    unbalanced quote, whose reply is an error and a closed connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30 * harness.SCALE)
    rd = RawReader(s)
    out = []
    for line in inline_sequence(p):
        s.sendall(line)
        try:
            out.append(rd.reply())
        except (EOFError, OSError, ValueError) as e:
            out.append(("exception", str(e)))
            break
    # a blank line is ignored, as is a lone \n; the next command answers
    s.sendall(b"\r\n\n\r\nPING\r\n")
    out.append(rd.reply())
    s.sendall(b"SET \"%sun b\r\n" % p)
    try:
        out.append(rd.reply())
        s.settimeout(5 * harness.SCALE)
        out.append(("then", s.recv(100)))
    except (EOFError, OSError, ValueError) as e:
        out.append(("exception", str(e)))
    s.close()
    return out


def main():
    results = []
    with harness.RedisServer() as ref_srv:
        seq = steps(b"rd:py:%d:" % os.getpid())
        seq2 = steps(b"rd:raw:%d:" % os.getpid())
        ref_py = run_redispy(ref_srv.port, seq)
        ref_raw = run_raw(ref_srv.port, seq2)
        ref_inl = run_inline(ref_srv.port, b"inl:")

        def each(srv, flavor):
            got_py = run_redispy(srv.resp_port, seq)
            compare("%s redis-py" % flavor, seq, ref_py, got_py, results, raw=False)
            got_raw = run_raw(srv.resp_port, seq2)
            compare("%s raw" % flavor, seq2, ref_raw, got_raw, results, raw=True)
            got_inl = run_inline(srv.resp_port, b"inl:")
            for line, r, g in zip(inline_sequence(b"inl:") + [b"<blank lines> PING",
                                                               b"<unbalanced quote>",
                                                               b"<after it>"],
                                  ref_inl, got_inl):
                if r != g:
                    results.append(("%s inline %r" % (flavor, line), False,
                                    "redis-server %r, rcumapd %r" % (r, g)))
            ninl = sum(1 for r, g in zip(ref_inl, got_inl) if r != g)
            ninl += abs(len(ref_inl) - len(got_inl))
            results.append(("%s inline: %d commands, %d differ" % (flavor, len(ref_inl), ninl),
                            ninl == 0, ""))

        harness.for_each_flavor(results, each)
    harness.report(results)


if __name__ == "__main__":
    main()
