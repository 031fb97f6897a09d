# SPDX-License-Identifier: MIT
"""test_mc.py: memcached text protocol conformance of rcumapd.

Under every flavor:
  1. memccapable -a (libmemcached's ASCII conformance suite) passes all its
     tests, as it does against memcached 1.6 (the oracle for the count).
  2. One fixed pymemcache sequence gives the same results on memcached and
     on rcumapd (cas ids are compared by their pattern of equality, since
     their values are the server's own).
  3. A few raw command lines get byte-identical replies.
  4. Cross-protocol: what one protocol writes, the other reads.
"""
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import redis  # noqa: E402
from pymemcache.client.base import Client  # noqa: E402

MEMCCAPABLE_TESTS = 27
MiB = 1024 * 1024
# differing results listed one per line; a dead server would list them all
MAX_LISTED = 30


def memccapable(port):
    """Run memccapable -a; return (exit status, passed, names not passed, output)."""
    try:
        p = subprocess.run(["memccapable", "-a", "-t", str(int(10 * harness.SCALE)),
                            "-h", "127.0.0.1", "-p", str(port)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120 * harness.SCALE)
    except subprocess.TimeoutExpired as e:
        return -1, 0, ["<timed out>"], (e.stdout or b"").decode(errors="replace")
    out = p.stdout.decode(errors="replace")
    passed, bad = 0, []
    for line in out.splitlines():
        m = re.match(r"^(ascii \S.*?)\s+\[(\w+)\]\s*$", line)
        if m:
            if m.group(2) == "pass":
                passed += 1
            else:
                bad.append("%s [%s]" % (m.group(1), m.group(2)))
    return p.returncode, passed, bad, out


class FlagSerde:
    """No serialisation: bytes in, (bytes, flags) out, so flags are seen."""

    def serialize(self, key, value):
        return value, 0

    def deserialize(self, key, value, flags):
        return (value, flags)


def client(port):
    return Client(("127.0.0.1", port), serde=FlagSerde(), default_noreply=False,
                  connect_timeout=10 * harness.SCALE, timeout=30 * harness.SCALE)


class Loose:
    """A result compared with trailing spaces of values stripped: memcached
    may space-pad a number that incr/decr made shorter (protocol.txt allows
    either); the difference is reported, not asserted."""

    def __init__(self, v):
        self.v = v


def _strip(v):
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], bytes):
        return (v[0].rstrip(b" "), v[1])
    return v


def ops(p):
    """The sequence: (label, fn(client, state) -> result)."""
    k = lambda s: p + s  # noqa: E731
    near = bytes(range(256)) * ((MiB - 1024) // 256)      # 1 MiB - 1 KiB
    over = b"o" * (MiB + 1)
    binval = b"\x00bin\r\nary\r\n\x00END\r\n"
    now = int(time.time())
    L = []
    a = lambda label, fn: L.append((label, fn))  # noqa: E731

    def gets(key):
        def f(c, st):
            r = c.gets(key)
            if r is None or r == (None, None):
                return r
            return (r[0], st.cas_name(r[1]))
        return f

    def save_cas(key, slot):
        def f(c, st):
            r = c.gets(key)
            st.saved[slot] = r[1] if r else None
            return (r[0], st.cas_name(r[1])) if r else r
        return f

    # set / get
    a("get missing", lambda c, st: c.get(k(b"missing")))
    a("set a", lambda c, st: c.set(k(b"a"), b"v1"))
    a("get a", lambda c, st: c.get(k(b"a")))
    a("set a again", lambda c, st: c.set(k(b"a"), b"v2"))
    a("get a", lambda c, st: c.get(k(b"a")))
    a("set flags", lambda c, st: c.set(k(b"f"), b"fv", flags=42))
    a("get flags", lambda c, st: c.get(k(b"f")))
    a("set max flags", lambda c, st: c.set(k(b"f2"), b"x", flags=4294967295))
    a("get max flags", lambda c, st: c.get(k(b"f2")))
    a("set empty", lambda c, st: c.set(k(b"e"), b""))
    a("get empty", lambda c, st: c.get(k(b"e")))
    a("set binary", lambda c, st: c.set(k(b"bin"), binval))
    a("get binary", lambda c, st: c.get(k(b"bin")))
    a("set 250-byte key", lambda c, st: c.set(k(b"L" * (250 - len(p))), b"long"))
    a("get 250-byte key", lambda c, st: c.get(k(b"L" * (250 - len(p)))))
    a("get_many", lambda c, st: c.get_many([k(b"a"), k(b"missing"), k(b"f"), k(b"e"),
                                            k(b"bin")]))
    a("get_many missing", lambda c, st: c.get_many([k(b"x1"), k(b"x2")]))
    a("set 100 keys", lambda c, st: [c.set(k(b"many%d" % i), b"%d" % i, flags=i)
                                     for i in range(100)])
    a("get_many 100 keys", lambda c, st: c.get_many([k(b"many%d" % i)
                                                     for i in range(0, 100, 1)]))
    # gets / cas
    a("gets a", save_cas(k(b"a"), "a0"))
    a("gets a unchanged", gets(k(b"a")))
    a("gets missing", gets(k(b"missing")))
    a("gets_many", lambda c, st: {key: (v[0], st.cas_name(v[1]))
                                  for key, v in c.gets_many([k(b"a"), k(b"f"),
                                                             k(b"missing")]).items()})
    a("set a v3", lambda c, st: c.set(k(b"a"), b"v3"))
    a("gets a changed", save_cas(k(b"a"), "a1"))
    a("cas stale (EXISTS)", lambda c, st: c.cas(k(b"a"), b"stale", st.saved["a0"]))
    a("get a", lambda c, st: c.get(k(b"a")))
    a("cas current", lambda c, st: c.cas(k(b"a"), b"casv", st.saved["a1"], flags=7))
    a("get a after cas", lambda c, st: c.get(k(b"a")))
    a("cas same id again (EXISTS)", lambda c, st: c.cas(k(b"a"), b"again", st.saved["a1"]))
    a("cas missing (NOT_FOUND)", lambda c, st: c.cas(k(b"nocas"), b"x", st.saved["a1"]))
    a("get nocas", lambda c, st: c.get(k(b"nocas")))
    a("gets a", save_cas(k(b"a"), "a2"))
    a("cas noreply", lambda c, st: c.cas(k(b"a"), b"cas-noreply", st.saved["a2"],
                                         noreply=True))
    a("get a after cas noreply", lambda c, st: c.get(k(b"a")))
    a("cas noreply stale", lambda c, st: c.cas(k(b"a"), b"bad", st.saved["a2"],
                                               noreply=True))
    a("gets a after", gets(k(b"a")))
    # add / replace
    a("add existing", lambda c, st: c.add(k(b"a"), b"added"))
    a("add new", lambda c, st: c.add(k(b"ad"), b"added", flags=3))
    a("get ad", lambda c, st: c.get(k(b"ad")))
    a("add noreply existing", lambda c, st: c.add(k(b"ad"), b"no", noreply=True))
    a("add noreply new", lambda c, st: c.add(k(b"ad2"), b"yes", noreply=True))
    a("get_many ad ad2", lambda c, st: c.get_many([k(b"ad"), k(b"ad2")]))
    a("replace missing", lambda c, st: c.replace(k(b"rp"), b"r"))
    a("get rp", lambda c, st: c.get(k(b"rp")))
    a("replace existing", lambda c, st: c.replace(k(b"ad"), b"replaced", flags=9))
    a("get ad", lambda c, st: c.get(k(b"ad")))
    a("replace noreply", lambda c, st: c.replace(k(b"ad"), b"r2", noreply=True))
    a("replace noreply missing", lambda c, st: c.replace(k(b"rp"), b"r2", noreply=True))
    a("get_many ad rp", lambda c, st: c.get_many([k(b"ad"), k(b"rp")]))
    # append / prepend (flags of the item are kept)
    a("set ap", lambda c, st: c.set(k(b"ap"), b"mid", flags=5))
    a("append", lambda c, st: c.append(k(b"ap"), b"-end\r\n", flags=9))
    a("prepend", lambda c, st: c.prepend(k(b"ap"), b"\x00start-", flags=8))
    a("get ap", lambda c, st: c.get(k(b"ap")))
    a("gets ap", gets(k(b"ap")))
    a("append missing", lambda c, st: c.append(k(b"apm"), b"x"))
    a("prepend missing", lambda c, st: c.prepend(k(b"apm"), b"x"))
    a("get apm", lambda c, st: c.get(k(b"apm")))
    a("append noreply", lambda c, st: c.append(k(b"ap"), b"+n", noreply=True))
    a("prepend noreply", lambda c, st: c.prepend(k(b"ap"), b"n+", noreply=True))
    a("append noreply missing", lambda c, st: c.append(k(b"apm"), b"x", noreply=True))
    a("get_many ap apm", lambda c, st: c.get_many([k(b"ap"), k(b"apm")]))
    a("append empty", lambda c, st: c.append(k(b"ap"), b""))
    a("get ap", lambda c, st: c.get(k(b"ap")))
    # delete
    a("delete existing", lambda c, st: c.delete(k(b"ad")))
    a("delete again", lambda c, st: c.delete(k(b"ad")))
    a("get ad", lambda c, st: c.get(k(b"ad")))
    a("delete noreply", lambda c, st: c.delete(k(b"ad2"), noreply=True))
    a("delete noreply missing", lambda c, st: c.delete(k(b"ad2"), noreply=True))
    a("get ad2", lambda c, st: c.get(k(b"ad2")))
    a("delete_many", lambda c, st: c.delete_many([k(b"many1"), k(b"many2"), k(b"nope")]))
    a("get_many deleted", lambda c, st: c.get_many([k(b"many1"), k(b"many2"), k(b"many3")]))
    # incr / decr
    a("set n", lambda c, st: c.set(k(b"n"), b"10", flags=4))
    a("incr", lambda c, st: c.incr(k(b"n"), 5))
    a("incr 0", lambda c, st: c.incr(k(b"n"), 0))
    a("get n", lambda c, st: c.get(k(b"n")))
    a("incr big", lambda c, st: c.incr(k(b"n"), 1000000))
    a("decr", lambda c, st: c.decr(k(b"n"), 7))
    a("get n", lambda c, st: Loose(c.get(k(b"n"))))
    a("decr floor", lambda c, st: c.decr(k(b"n"), 10 ** 9))
    a("get n floor", lambda c, st: Loose(c.get(k(b"n"))))
    a("decr at 0", lambda c, st: c.decr(k(b"n"), 1))
    a("incr after floor", lambda c, st: c.incr(k(b"n"), 1))
    a("set max", lambda c, st: c.set(k(b"w"), b"18446744073709551615"))
    a("incr wraps", lambda c, st: c.incr(k(b"w"), 1))
    a("get wrapped", lambda c, st: Loose(c.get(k(b"w"))))
    a("set max-1", lambda c, st: c.set(k(b"w"), b"18446744073709551614"))
    a("incr max delta", lambda c, st: c.incr(k(b"w"), 18446744073709551615))
    a("decr max delta", lambda c, st: c.decr(k(b"w"), 18446744073709551615))
    a("set 007", lambda c, st: c.set(k(b"z"), b"007"))
    a("incr 007", lambda c, st: c.incr(k(b"z"), 1))
    a("get z", lambda c, st: Loose(c.get(k(b"z"))))
    a("set 99", lambda c, st: c.set(k(b"g"), b"99"))
    a("incr grows", lambda c, st: c.incr(k(b"g"), 1))
    a("get g", lambda c, st: c.get(k(b"g")))
    a("incr missing", lambda c, st: c.incr(k(b"nope"), 1))
    a("decr missing", lambda c, st: c.decr(k(b"nope"), 1))
    a("get nope", lambda c, st: c.get(k(b"nope")))
    for i, bad in enumerate((b"abc", b"", b"12abc", b"-5", b"0x10", b"18446744073709551616",
                             b"1.5")):
        kb = k(b"nn%d" % i)
        a("set non-numeric %r" % bad, lambda c, st, kb=kb, bad=bad: c.set(kb, bad))
        a("incr non-numeric %r" % bad, lambda c, st, kb=kb: c.incr(kb, 1))
        a("decr non-numeric %r" % bad, lambda c, st, kb=kb: c.decr(kb, 1))
        a("get non-numeric %r" % bad, lambda c, st, kb=kb: c.get(kb))
    a("incr noreply", lambda c, st: c.incr(k(b"g"), 5, noreply=True))
    a("decr noreply", lambda c, st: c.decr(k(b"g"), 2, noreply=True))
    a("incr noreply missing", lambda c, st: c.incr(k(b"nope"), 5, noreply=True))
    a("get g", lambda c, st: c.get(k(b"g")))
    a("gets n (cas changes on incr)", save_cas(k(b"g"), "g0"))
    a("incr g", lambda c, st: c.incr(k(b"g"), 1))
    a("cas after incr (EXISTS)", lambda c, st: c.cas(k(b"g"), b"x", st.saved["g0"]))
    # expiry times that need no waiting
    a("set expire -1", lambda c, st: c.set(k(b"x1"), b"gone", expire=-1))
    a("get x1", lambda c, st: c.get(k(b"x1")))
    a("set absolute past", lambda c, st: c.set(k(b"x2"), b"gone", expire=now - 1000))
    a("get x2", lambda c, st: c.get(k(b"x2")))
    a("set absolute future", lambda c, st: c.set(k(b"x3"), b"here", expire=now + 1000))
    a("get x3", lambda c, st: c.get(k(b"x3")))
    a("set relative 100", lambda c, st: c.set(k(b"x4"), b"here", expire=100))
    a("get x4", lambda c, st: c.get(k(b"x4")))
    a("set 30 days", lambda c, st: c.set(k(b"x5"), b"here", expire=30 * 86400))
    a("get x5", lambda c, st: c.get(k(b"x5")))
    a("add over expired", lambda c, st: c.add(k(b"x1"), b"back"))
    a("get x1", lambda c, st: c.get(k(b"x1")))
    # touch
    a("touch existing", lambda c, st: c.touch(k(b"x4"), 1000))
    a("touch missing", lambda c, st: c.touch(k(b"nope"), 1000))
    a("get x4", lambda c, st: c.get(k(b"x4")))
    a("touch -1", lambda c, st: c.touch(k(b"x4"), -1))
    a("get x4 after touch -1", lambda c, st: c.get(k(b"x4")))
    a("touch absolute past", lambda c, st: c.touch(k(b"x3"), now - 1000))
    a("get x3", lambda c, st: c.get(k(b"x3")))
    a("touch noreply", lambda c, st: c.touch(k(b"x5"), -1, noreply=True))
    a("get x5", lambda c, st: c.get(k(b"x5")))
    a("touch keeps value and flags", lambda c, st: (c.touch(k(b"f"), 1000), c.get(k(b"f"))))
    # set noreply
    a("set noreply", lambda c, st: c.set(k(b"sn"), b"quiet", noreply=True, flags=11))
    a("get sn", lambda c, st: c.get(k(b"sn")))
    a("set_many", lambda c, st: c.set_many({k(b"sm1"): b"1", k(b"sm2"): b"2"}))
    a("get_many sm", lambda c, st: c.get_many([k(b"sm1"), k(b"sm2")]))
    # large values
    a("set near 1 MiB", lambda c, st: c.set(k(b"big"), near, flags=1))
    a("get near 1 MiB", lambda c, st: c.get(k(b"big")) == (near, 1))
    a("append past 1 MiB", lambda c, st: c.append(k(b"big"), b"y" * 2048))
    a("get big after append", lambda c, st: c.get(k(b"big")) == (near, 1))
    a("set over 1 MiB", lambda c, st: c.set(k(b"big"), over))
    a("get big after refused set", lambda c, st: c.get(k(b"big")))
    a("set over 1 MiB noreply", lambda c, st: c.set(k(b"big2"), over, noreply=True))
    a("set 2 MB", lambda c, st: c.set(k(b"big3"), b"z" * 2000000))
    a("connection still works", lambda c, st: c.get(k(b"a")))
    # flush_all
    a("flush_all", lambda c, st: c.flush_all())
    a("get after flush", lambda c, st: c.get_many([k(b"a"), k(b"f"), k(b"ap"), k(b"g")]))
    a("add after flush", lambda c, st: c.add(k(b"a"), b"fresh"))
    a("set before flush noreply", lambda c, st: c.set(k(b"fl"), b"x"))
    a("flush_all noreply", lambda c, st: c.flush_all(noreply=True))
    a("get after flush noreply", lambda c, st: c.get_many([k(b"a"), k(b"fl")]))
    a("set after flush", lambda c, st: c.set(k(b"fl"), b"y"))
    a("get after set", lambda c, st: c.get(k(b"fl")))
    return L


class State:
    def __init__(self):
        self.cas_ids = {}
        self.saved = {}

    def cas_name(self, cas):
        """cas ids as the order in which distinct ids were first seen."""
        if cas is None:
            return None
        return "cas#%d" % self.cas_ids.setdefault(cas, len(self.cas_ids))


def run_ops(port, seq):
    c = client(port)
    st = State()
    out = []
    for label, fn in seq:
        try:
            r = fn(c, st)
        except Exception as e:
            r = ("error", type(e).__name__, str(e))
            # a client-side error can leave unread replies: start over
            c.close()
        out.append(r)
    c.close()
    return out


# --- raw lines, replies compared as bytes ----------------------------------

RAW = [
    b"get " + b"k" * 251 + b"\r\n",
    b"get " + b"k" * 250 + b"\r\n",
    b"incr rawnope 1\r\n",
    b"decr rawnope 1\r\n",
    b"set rawn 0 0 1\r\n5\r\n",
    b"incr rawn abc\r\n",
    b"incr rawn -1\r\n",
    b"incr rawn 18446744073709551616\r\n",
    b"decr rawn 1\r\n",
    b"touch rawnope 10\r\n",
    b"nosuchcommand\r\n",
    b"GET rawn\r\n",
    b"get\r\n",
    b"set rawa 3 0 2\r\nab\r\nappend rawa 0 0 1\r\nc\r\nprepend rawa 0 0 1\r\nz\r\n"
    b"get rawa rawnope rawa\r\n",
    b"set rawb 0 0 0\r\n\r\nget rawb\r\n",
    b"delete rawa\r\ndelete rawa\r\n",
    b"set rawc 0 0 2 noreply\r\nhi\r\nget rawc\r\n",
    b"cas rawnope 0 0 1 1\r\nx\r\n",
    b"flush_all\r\n",
    b"flush_all noreply\r\nget rawc\r\n",
    # a multiget line of 110 KB (memcslap --test=mget sends such lines):
    # memcached reads get lines of any length
    b"set rawbig1 0 0 1\r\nz\r\nget "
    + b" ".join(b"rawbig%05d" % i for i in range(10000)) + b" rawbig1\r\n",
    # memaslap's keys start with 8 bytes 0x10; memcached takes any byte but
    # space, \r, \n and NUL in a key (last: a refusal leaves input behind)
    b"set \x10\x10ctl 0 0 1\r\nx\r\nget \x10\x10ctl\r\n",
]


def raw_replies(port):
    """Send each RAW item and collect what comes back until the connection
    is quiet (every reply ends in \\r\\n; wait for a complete one)."""
    out = []
    for req in RAW:
        # one connection each, so that a closed or confused one cannot
        # spoil the next requests
        s = socket.create_connection(("127.0.0.1", port), timeout=10 * harness.SCALE)
        s.sendall(req)
        expect = _count_replies(req)
        got = b""
        deadline = time.time() + 5 * harness.SCALE
        while _complete(got) < expect and time.time() < deadline:
            s.settimeout(max(0.01, deadline - time.time()))
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            if not d:
                got += b"<closed>"
                break
            got += d
        out.append(got)
        s.close()
    return out


def _count_replies(req):
    """Replies expected for a RAW item: one per command line without noreply
    (data lines after a storage command do not count)."""
    n = 0
    lines = req.split(b"\r\n")
    i = 0
    while i < len(lines):
        w = lines[i].split()
        i += 1
        if not w:
            continue
        if w[0] in (b"set", b"add", b"replace", b"append", b"prepend", b"cas"):
            i += 1                          # the data block
        if w[-1] != b"noreply":
            n += 1
    return n


def _complete(buf):
    """Replies complete in buf: a VALUE block counts with its END."""
    n = 0
    lines = buf.split(b"\r\n")[:-1]
    i = 0
    while i < len(lines):
        w = lines[i].split()
        if w and w[0] == b"VALUE":
            i += 2
            continue
        n += 1
        i += 1
    return n


def cross_protocol(srv, p, results):
    """rcumapd only: RESP and memcached see one map. Each step runs in
    order; a check compares what one side reads with what the other wrote."""
    r = redis.Redis(host="127.0.0.1", port=srv.resp_port, socket_timeout=30 * harness.SCALE)
    c = client(srv.mc_port)
    k = lambda s: p + s  # noqa: E731
    saved = {}
    steps = [
        # (name or None for a plain action, action, wanted result)
        (None, lambda: r.set(k(b"r1"), b"from resp \r\n\x00"), None),
        ("RESP SET, mc get", lambda: c.get(k(b"r1")), (b"from resp \r\n\x00", 0)),
        (None, lambda: c.set(k(b"m1"), b"from mc", flags=12), None),
        ("mc set, RESP GET", lambda: r.get(k(b"m1")), b"from mc"),
        ("mc set, RESP EXISTS", lambda: r.exists(k(b"m1")), 1),
        (None, lambda: r.set(k(b"n"), b"41"), None),
        ("RESP SET, mc incr", lambda: c.incr(k(b"n"), 1), 42),
        ("mc incr, RESP GET", lambda: r.get(k(b"n")), b"42"),
        (None, lambda: c.set(k(b"n2"), b"100"), None),
        ("mc set, RESP INCRBY", lambda: r.incrby(k(b"n2"), 5), 105),
        ("RESP INCRBY, mc get", lambda: c.get(k(b"n2")), (b"105", 0)),
        (None, lambda: saved.update(cas=c.gets(k(b"r1"))[1]), None),
        (None, lambda: r.set(k(b"r1"), b"changed"), None),
        ("RESP SET changes the cas id", lambda: c.cas(k(b"r1"), b"x", saved["cas"]), False),
        ("mc get after refused cas", lambda: c.get(k(b"r1")), (b"changed", 0)),
        (None, lambda: r.delete(k(b"m1")), None),
        ("RESP DEL, mc get", lambda: c.get(k(b"m1")), None),
        (None, lambda: c.delete(k(b"r1")), None),
        ("mc delete, RESP GET", lambda: r.get(k(b"r1")), None),
        (None, lambda: r.append(k(b"n2"), b"x"), None),
        ("RESP APPEND, mc get", lambda: c.get(k(b"n2")), (b"105x", 0)),
        (None, lambda: c.append(k(b"n2"), b"y"), None),
        ("mc append, RESP GET", lambda: r.get(k(b"n2")), b"105xy"),
        (None, lambda: r.set(k(b"t"), b"v", ex=100), None),
        (None, lambda: c.touch(k(b"t"), 1000), None),
        ("mc touch 1000, RESP TTL in [999, 1000]", lambda: r.ttl(k(b"t")) in (999, 1000), True),
        (None, lambda: c.set(k(b"t2"), b"v", expire=100), None),
        ("mc set expire 100, RESP TTL in [99, 100]", lambda: r.ttl(k(b"t2")) in (99, 100),
         True),
        (None, lambda: c.flush_all(), None),
        ("mc flush_all, RESP DBSIZE", lambda: r.dbsize(), 0),
        (None, lambda: r.set(k(b"f"), b"1"), None),
        (None, lambda: r.flushdb(), None),
        ("RESP FLUSHDB, mc get", lambda: c.get(k(b"f")), None),
    ]
    for name, fn, want in steps:
        try:
            got = fn()
        except Exception as e:
            got = ("error", type(e).__name__, str(e))
            if name is None:
                name = "step raised"
                want = None
        if name is not None:
            ok = got == want
            results.append(("%s cross-protocol: %s" % (srv.flavor, name), ok,
                            "" if ok else "got %r, want %r" % (got, want)))
    c.close()
    r.close()


def compare_ops(flavor, seq, ref, got, results, notes):
    fails = 0
    for (label, _), rv, gv in zip(seq, ref, got):
        if isinstance(rv, Loose) or isinstance(gv, Loose):
            rv = rv.v if isinstance(rv, Loose) else rv
            gv = gv.v if isinstance(gv, Loose) else gv
            if rv != gv and _strip(rv) == _strip(gv):
                notes.append("%s: %s: memcached %r, rcumapd %r (padding only)"
                             % (flavor, label, rv, gv))
            ok = _strip(rv) == _strip(gv)
        else:
            ok = rv == gv
        if not ok:
            fails += 1
            if fails > MAX_LISTED:
                continue
            results.append(("%s pymemcache: %s" % (flavor, label), False,
                            "memcached %s, rcumapd %s" % (_short(rv), _short(gv))))
    results.append(("%s pymemcache: %d operations, %d differ" % (flavor, len(seq), fails),
                    fails == 0 and len(ref) == len(got),
                    "only the first %d listed" % MAX_LISTED if fails > MAX_LISTED else ""))


def _short(v):
    s = repr(v)
    return s if len(s) < 200 else s[:200] + "...(%d chars)" % len(s)


def main():
    results = []
    notes = []
    seq = ops(b"mc:%d:" % os.getpid())
    with harness.Memcached() as mc:
        rc, n, bad, out = memccapable(mc.port)
        oracle_ok = rc == 0 and n == MEMCCAPABLE_TESTS and not bad
        results.append(("memccapable against memcached: %d/%d passed" % (n, MEMCCAPABLE_TESTS),
                        oracle_ok, "" if oracle_ok else out[-2000:]))
        # memccapable flushed it; the sequence starts from an empty cache
        ref = run_ops(mc.port, seq)
        ref_raw = raw_replies(mc.port)

    def each(srv, flavor):
        rc, n, bad, out = memccapable(srv.mc_port)
        ok = rc == 0 and n == MEMCCAPABLE_TESTS and not bad
        results.append(("%s memccapable -a: %d/%d passed, exit %d"
                        % (flavor, n, MEMCCAPABLE_TESTS, rc), ok,
                        "" if ok else "not passed: %s; output tail:\n%s"
                        % (", ".join(bad) or "-", out[-1500:])))
        got = run_ops(srv.mc_port, seq)
        compare_ops(flavor, seq, ref, got, results, notes)
        got_raw = raw_replies(srv.mc_port)
        nraw = 0
        for req, rv, gv in zip(RAW, ref_raw, got_raw):
            if rv != gv:
                nraw += 1
                results.append(("%s raw: %r" % (flavor, req[:70] + (
                    b"...(%d bytes)" % len(req) if len(req) > 70 else b"")), False,
                    "memcached %r, rcumapd %r" % (rv, gv)))
        results.append(("%s raw: %d requests, %d differ" % (flavor, len(RAW), nraw),
                        nraw == 0, ""))
        cross_protocol(srv, b"x:%d:" % os.getpid(), results)

    harness.for_each_flavor(results, each)
    for n in notes:
        print("note (not asserted): " + n)
    harness.report(results)


if __name__ == "__main__":
    main()
