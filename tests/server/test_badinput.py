# SPDX-License-Identifier: MIT
"""test_badinput.py: bad and hostile input over raw sockets never breaks the server or its data.

Each case is scripted on its own connection: malformed RESP framing, bulk
and multibulk lengths over the limits, oversized inline and query input, a
client that stalls mid-command, a client that never reads its replies, a
connection flood past --maxclients, binary keys and values over both
protocols, connections dropped mid-reply, and malformed memcached lines.
After every case a fresh client must get PONG, the sentinel keys set
before (one per protocol) must hold their values, and the server must be
alive; at the end it must exit 0 on SIGTERM. The reply seen per case is
printed. Redis 7.0.15 behaviour, where the test accepts it: `*-1` and
`*-5` are ignored (null array), a bulk not followed by CRLF is accepted
(the two bytes are skipped), `$4` at top level is an inline command.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from common_b import (Conn, Mc, Resp, Results, binary_is_sanitized, enc, ping_ok,  # noqa: E402
                      vmrss, wait_until)

LIMITS = ["--proto-max-bulk-len", "1048576", "--client-query-buffer-limit", "4194304",
          "--client-output-buffer-limit", "8388608", "--maxclients", "50"]
SENTINEL_KEY = b"sentinel\x00key"
SENTINEL_VAL = b"intact\x00\r\nvalue"
MC_SENTINEL = (b"mcsentinel", b"mc\r\nvalue\x00")
PING = enc("PING")
MAXCLIENTS_REPLY = b"-ERR max number of clients reached\r\n"
MC_MAXCLIENTS_REPLY = b"SERVER_ERROR max number of clients reached\r\n"


def show(b, n=100):
    r = repr(b[:n])
    return r + ("...(%d bytes)" % len(b) if len(b) > n else "")


def line_done(out):
    return out.endswith(b"\r\n")


def raw(port, data, wait=0.4, until=line_done):
    """Send data on a fresh connection; return (reply, closed, reply to a PING after)."""
    c = Conn(port)
    try:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            return b"", True, None
        out, closed = c.read_available(wait, until)
        after = None
        if not closed:
            # An error reply may be followed by a close: wait a moment for it.
            more, closed = c.read_available(0.15)
            out += more
        if not closed:
            try:
                c.send(PING)
                after, closed2 = c.read_available(0.5, line_done)
                if closed2 and not after:
                    after = b"<closed>"
            except OSError:
                after = b"<closed>"
        return out, closed, after
    finally:
        c.close()


def err_or_close(out, closed, prefix=b"-ERR"):
    """An error reply (and maybe a close), or a plain close: never a normal reply."""
    if not out:
        return closed
    return out.startswith(prefix)


class Case:
    def __init__(self, srv, res, label):
        self.srv, self.res, self.label = srv, res, label

    def healthy(self, name):
        ok_ping = wait_until(lambda: ping_ok(self.srv.resp_port), 2.0, 0.05)
        try:
            c = Resp(self.srv.resp_port, timeout=5)
            val = c.cmd("GET", SENTINEL_KEY)
            c.close()
            m = Mc(self.srv.mc_port, timeout=5)
            mval = m.get_values(b"get " + MC_SENTINEL[0]).get(MC_SENTINEL[0], (0, None))[1]
            m.close()
        except Exception as e:  # noqa: BLE001
            val = mval = repr(e)
        ok = ok_ping and val == SENTINEL_VAL and mval == MC_SENTINEL[1] and self.srv.alive()
        self.res.check("%s: %s: healthy after (PONG, sentinels intact)" % (self.label, name), ok,
                       "" if ok else "PING %s, sentinel %r, mc sentinel %r, alive %s"
                       % (ok_ping, val, mval, self.srv.alive()))

    def resp(self, name, data, accept, want, wait=0.4, until=line_done):
        out, closed, after = raw(self.srv.resp_port, data, wait, until)
        seen = "reply %s%s%s" % (show(out), ", closed" if closed else ", open",
                                 (", PING after -> %s" % show(after)) if after is not None else "")
        self.res.check("%s: RESP %s %s" % (self.label, name, show(data, 40)),
                       accept(out, closed, after), "%s (expected %s)" % (seen, want))
        self.healthy(name)

    def mc(self, name, data, accept, want, wait=0.4):
        c = Conn(self.srv.mc_port)
        try:
            try:
                c.send(data)
                out, closed = c.read_available(wait, line_done)
            except (BrokenPipeError, ConnectionResetError):
                out, closed = b"", True
            after = None
            if not closed:
                more, closed = c.read_available(0.15)
                out += more
            if not closed:
                try:
                    c.send(b"version\r\n")
                    after, _ = c.read_available(0.5, lambda o: b"VERSION" in o)
                except OSError:
                    after = b"<closed>"
        finally:
            c.close()
        seen = "reply %s%s%s" % (show(out), ", closed" if closed else ", open",
                                 (", version after -> %s" % show(after)) if after is not None
                                 else "")
        self.res.check("%s: memcached %s %s" % (self.label, name, show(data, 40)),
                       accept(out, closed, after), "%s (expected %s)" % (seen, want))
        self.healthy(name)


def redis_ignores(out, closed, after):
    return out == b"" and not closed and after == b"+PONG\r\n"


def resp_framing(t):
    e = lambda o, c, a: err_or_close(o, c)  # noqa: E731
    want_err = "-ERR Protocol error... and/or a close"
    t.resp("bad multibulk prefix", b"*x\r\n", e, want_err)
    t.resp("multibulk -1 (null array, Redis ignores it)", b"*-1\r\n", redis_ignores,
           "no reply, then PONG, as Redis")
    t.resp("multibulk -5", b"*-5\r\n", lambda o, c, a: redis_ignores(o, c, a) or e(o, c, a),
           "ignored as Redis does, or an error/close")
    t.resp("empty multibulk *0", b"*0\r\n", redis_ignores, "no reply, then PONG")
    t.resp("bulk length not a number", b"*1\r\n$abc\r\n", e, want_err)
    t.resp("negative bulk length", b"*1\r\n$-3\r\n", e, want_err)
    t.resp("null bulk as an argument", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$-1\r\n", e, want_err)
    t.resp("empty bulk length", b"*1\r\n$\r\n", e, want_err)
    t.resp("multibulk length overflow", b"*99999999999999999999\r\n", e, want_err)
    t.resp("bulk length overflow", b"*1\r\n$99999999999999999999\r\n", e, want_err)
    t.resp("'*' where '$' expected", b"*2\r\n*1\r\n", e, want_err)
    t.resp("'+' where '$' expected", b"*1\r\n+PING\r\n", e, want_err)
    t.resp("bulk not followed by CRLF", b"*1\r\n$4\r\nPINGxx\r\n",
           lambda o, c, a: o == b"+PONG\r\n" or e(o, c, a),
           "+PONG (Redis skips the 2 bytes) or an error/close")
    t.resp("'$' where '*' expected (inline '$4')", b"$4\r\nPING\r\n",
           lambda o, c, a: o.startswith(b"-ERR"), "-ERR unknown command '$4'... (inline)")
    t.resp("unbalanced quotes inline", b'SET a "b\r\n', e, want_err)
    t.resp("empty inline lines", b"\r\n  \r\n\n", redis_ignores, "no reply, then PONG")


def resp_limits(t):
    e = lambda o, c, a: err_or_close(o, c)  # noqa: E731
    # Declared bulk over --proto-max-bulk-len: refused on the header already.
    t.resp("bulk 2 MB > proto-max-bulk-len 1 MB (header)",
           b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$2000000\r\n", e, "an error and/or a close")
    c = Conn(t.srv.resp_port)
    sent_all = True
    try:
        c.send(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$2000000\r\n" + b"b" * 2000000 + b"\r\n")
    except OSError:
        sent_all = False
    out, closed = c.read_available(1.0, line_done)
    c.close()
    t.res.check("%s: RESP bulk 2 MB sent in full: refused" % t.label,
                err_or_close(out, closed) and not out.startswith(b"+OK"),
                "reply %s%s, sent all %s" % (show(out), ", closed" if closed else ", open",
                                              sent_all))
    t.healthy("bulk 2 MB")
    cc = Resp(t.srv.resp_port)
    big = cc.cmd("EXISTS", "big")
    cc.close()
    t.res.check("%s: the 2 MB SET stored nothing" % t.label, big == 0, "EXISTS big -> %r" % big)
    t.resp("multibulk 2000000 > 1M elements", b"*2000000\r\n", e,
           "an error and/or a close (Redis 7 accepts it; rcumapd's limit is 1024*1024)")
    # 5 x 1 MB arguments: more than --client-query-buffer-limit unparsed.
    # Redis 7 moves big arguments out of its query buffer and accepts this;
    # an error/close or +OK are both fine, the server must survive.
    big5 = enc("MSET", *[x for i in range(5) for x in ("qb%d" % i, b"q" * 1000000)])
    t.resp("one 5 MB command > client-query-buffer-limit 4 MB", big5,
           lambda o, c, a: o == b"+OK\r\n" or e(o, c, a), "+OK or an error/close", wait=3.0)
    t.resp("inline line of 100 KB without newline", b"x" * 100000, e,
           "-ERR Protocol error: too big inline request, and/or a close", wait=1.0)
    t.resp("inline line of 3 MB", b"y" * 3000000, e, "an error and/or a close", wait=2.0)


def half_command(t):
    srv, res, label = t.srv, t.res, t.label
    a = Conn(srv.resp_port)
    a.send(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$5\r\nva")
    time.sleep(0.1)
    times = []
    ok = True
    for _ in range(4):           # fresh clients land on both workers
        t0 = time.time()
        ok = ping_ok(srv.resp_port) and ok
        times.append(time.time() - t0)
    res.check("%s: others served while a client stalls mid-command" % label,
              ok and max(times) < 1.0, "PINGs ok %s, slowest %.3f s" % (ok, max(times)))
    time.sleep(0.3)
    a.send(b"lue\r\n")
    out, closed = a.read_available(2.0, line_done)
    a.close()
    c = Resp(srv.resp_port)
    v = c.cmd("GET", "half")
    c.close()
    res.check("%s: the stalled command completes later" % label,
              out == b"+OK\r\n" and v == b"value", "reply %s, GET half -> %r" % (show(out), v))
    t.healthy("half command")


def non_reader(t, sanitized):
    srv, res, label = t.srv, t.res, t.label
    c = Resp(srv.resp_port)
    c.cmd("SET", "v100k", b"v" * 100000)
    c.close()
    base = vmrss(srv.pid)
    s = socket.create_connection(("127.0.0.1", srv.resp_port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(2.0)
    per = 1000
    batch = enc("GET", "v100k") * per
    sent, outcome, peak = 0, "sent all", base
    t0 = time.time()
    try:
        # 1M GETs (14 MB of requests, 100 GB of replies): more than any
        # socket buffers hold, so a throttling server blocks this send.
        while sent < 1000000 and time.time() - t0 < 10 * harness.SCALE:
            s.sendall(batch)
            sent += per
            if sent % 20000 == 0:
                peak = max(peak, vmrss(srv.pid))
    except socket.timeout:
        outcome = "throttled (send blocked 2 s)"
    except (BrokenPipeError, ConnectionResetError):
        outcome = "disconnected"
    time.sleep(0.3)
    peak = max(peak, vmrss(srv.pid))
    # Closed by the server? Read what is there: a close shows up as EOF/reset.
    if outcome != "disconnected":
        try:
            s.settimeout(0.5)
            total = 0
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    outcome += ", then closed by the server"
                    break
                total += len(chunk)
                if total > 64 << 20:
                    break
        except socket.timeout:
            pass
        except ConnectionResetError:
            outcome += ", then reset by the server"
    s.close()
    growth = peak - base
    print("  %s: non-reader sent %d GETs of 100 KB (%d MB of replies) in %.1f s: %s; "
          "RSS %.1f -> peak %.1f MiB" % (label, sent, sent // 10, time.time() - t0, outcome,
                                         base / 2**20, peak / 2**20),
          flush=True)
    res.check("%s: a client that never reads is disconnected or throttled" % label,
              outcome != "sent all", "%s after %d GETs" % (outcome, sent))
    if sanitized:
        res.check("%s: non-reader RSS bound (not checked under ASan/valgrind)" % label, True,
                  "growth %.1f MiB" % (growth / 2**20))
    else:
        res.check("%s: server RSS bounded while a client does not read" % label,
                  growth < 48 << 20, "RSS grew %.1f MiB (limit 48 MiB; output limit 8 MiB)"
                  % (growth / 2**20))
    t.healthy("non-reader")


def flood(t):
    srv, res, label = t.srv, t.res, t.label
    conns, accepted, refused, odd = [], 0, 0, []
    for i in range(60):
        try:
            c = Conn(srv.resp_port, timeout=3)
        except OSError as e:
            refused += 1
            odd.append("connect %d: %r" % (i, e))
            continue
        conns.append(c)
        try:
            c.send(PING)
            out, closed = c.read_available(1.0, line_done)
        except OSError:
            out, closed = b"", True
        if out == b"+PONG\r\n":
            accepted += 1
        elif out in (MAXCLIENTS_REPLY, b"") and (closed or out == MAXCLIENTS_REPLY):
            refused += 1
        else:
            odd.append("conn %d: %s%s" % (i, show(out), " closed" if closed else ""))
    mout = b""
    try:
        m = Conn(srv.mc_port, timeout=3)
        m.send(b"version\r\n")
        mout, mclosed = m.read_available(1.0, line_done)
        m.close()
    except OSError as e:
        mout, mclosed = repr(e).encode(), True
    print("  %s: flood of 60: %d served, %d refused; memcached while full: %s"
          % (label, accepted, refused, show(mout)), flush=True)
    res.check("%s: --maxclients 50: at most 50 served, the rest refused" % label,
              accepted <= 50 and accepted >= 45 and refused == 60 - accepted and not odd,
              "served %d, refused %d, odd %s" % (accepted, refused, odd[:3]))
    res.check("%s: memcached connection while full refused" % label,
              mout in (MC_MAXCLIENTS_REPLY, b"") and (mclosed or mout == MC_MAXCLIENTS_REPLY),
              "got %s" % show(mout))
    for c in conns:
        c.close()
    t.healthy("flood (after the flood closed)")


def binary_data(t):
    srv, res, label = t.srv, t.res, t.label
    c = Resp(srv.resp_port)
    key, val = b"bin\x00\r\nkey\r\n", b"\x00\r\n\r\n\x00val\r\nEND\r\n"
    r = [c.cmd("SET", key, val), c.cmd("GET", key), c.cmd("STRLEN", key), c.cmd("EXISTS", key),
         c.cmd("GET", b"bin\x00\r\nkez\r\n")]
    res.check("%s: RESP binary key and value (NUL, CRLF)" % label,
              r == [b"OK", val, len(val), 1, None], "got %r" % r)
    m = Mc(srv.mc_port)
    data = b"\x00\r\nEND\r\nVALUE x 0 1\r\n\x00"
    s1 = m.cmd(b"set mcbin 7 0 %d" % len(data), data)
    g = m.get_values(b"get mcbin")
    rg = c.cmd("GET", "mcbin")
    c.cmd("SET", "respbin", val)
    mg = m.get_values(b"get respbin")
    res.check("%s: memcached binary value (NUL, CRLF, END inside)" % label,
              s1 == b"STORED" and g.get(b"mcbin") == (7, data, None),
              "set %r get %r" % (s1, g))
    res.check("%s: binary values cross protocols" % label,
              rg == data and mg.get(b"respbin", (0, None))[1] == val,
              "RESP GET mcbin %r, mc get respbin %r" % (rg, mg))
    c.close()
    m.close()
    t.healthy("binary data")


def mid_reply_drop(srv, res, label):
    """On a server without the small limits: drop connections mid-way through a 10 MB reply."""
    c = Resp(srv.resp_port, timeout=30)
    big = os.urandom(1 << 20) * 10
    r = c.cmd("SET", "big10m", big)
    n = 40
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", srv.resp_port))
        if i % 2:
            # Reset rather than FIN: the server's writes fail with ECONNRESET/EPIPE.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        try:
            s.sendall(enc("GET", "big10m") * (1 + i % 3))
            if i % 4 == 3:
                s.recv(1 << 20)
        except OSError:
            pass
        s.close()
    m = socket.create_connection(("127.0.0.1", srv.mc_port))
    try:
        m.sendall(b"get big10m\r\n")
        m.recv(4096)
    except OSError:
        pass
    m.close()
    ok = wait_until(lambda: ping_ok(srv.resp_port), 2.0)
    g = c.cmd("GET", "big10m")
    c.close()
    res.check("%s: %d connections dropped mid-reply of a 10 MB value" % (label, n),
              r == b"OK" and ok and g == big and srv.alive(),
              "SET %r, PING %s, value intact %s" % (r, ok, g == big))


def memcached_lines(t):
    e = lambda o, c, a: (not o and c) or o.startswith((b"CLIENT_ERROR", b"SERVER_ERROR",  # noqa
                                                        b"ERROR"))
    want = "CLIENT_ERROR/SERVER_ERROR/ERROR and/or a close"
    t.mc("set with bytes -1", b"set k 0 0 -1\r\n", e, want)
    t.mc("set with bytes abc", b"set k 0 0 abc\r\n", e, want)
    t.mc("set with flags abc", b"set k abc 0 1\r\nx\r\n", e, want)
    t.mc("set with a 251-byte key", b"set " + b"k" * 251 + b" 0 0 1\r\nx\r\n", e, want)
    t.mc("get with a 300-byte key", b"get " + b"g" * 300 + b"\r\n", e, want)
    t.mc("data chunk without CRLF", b"set k 0 0 3\r\nabcXY\r\n", e, want)
    # Too large: refused with SERVER_ERROR; then either in sync (the data was
    # swallowed, as memcached does) or closed.
    t.mc("huge bytes value (2 MB > item size 1 MB)",
         b"set hugev 0 0 2000000\r\n" + b"z" * 2000000 + b"\r\n",
         lambda o, c, a: (o.startswith(b"SERVER_ERROR") and (c or (a or b"").startswith(
             b"VERSION"))) or (not o and c),
         "SERVER_ERROR object too large for cache, then in sync (VERSION) or closed", wait=2.0)
    t.mc("bytes 4294967296", b"set k 0 0 4294967296\r\n", e, want)
    t.mc("bytes 4294967297 (2^32 + 1) with 1 byte of data",
         b"set wrap 0 0 4294967297\r\nZ\r\n", e, want + "; never a STORED of 1 byte")
    t.mc("bytes 99999999999999999999", b"set k 0 0 99999999999999999999\r\n", e, want)
    t.mc("incr with a bad delta", b"incr k abc\r\n", e, want)
    t.mc("unknown command", b"bogus\r\n", lambda o, c, a: o.startswith(b"ERROR") or (not o and c),
         "ERROR")
    t.mc("line of 3 MB without newline", b"x" * 3000000, e, want, wait=2.0)
    m = Mc(t.srv.mc_port)
    g = m.get_values(b"get hugev wrap")
    m.close()
    t.res.check("%s: memcached: the refused huge values stored nothing" % t.label, not g,
                "get hugev wrap -> %r" % g)


def run_flavor(flavor, res):
    label = "rcumapd %s" % flavor
    srv = harness.Rcumapd(flavor=flavor, threads=2, args=LIMITS)
    sanitized = binary_is_sanitized(srv.argv[len(harness.WRAP)])
    t = Case(srv, res, label)
    try:
        c = Resp(srv.resp_port)
        r1 = c.cmd("SET", SENTINEL_KEY, SENTINEL_VAL)
        c.close()
        m = Mc(srv.mc_port)
        r2 = m.cmd(b"set %s 0 0 %d" % (MC_SENTINEL[0], len(MC_SENTINEL[1])), MC_SENTINEL[1])
        m.close()
        res.check("%s: sentinels set" % label, r1 == b"OK" and r2 == b"STORED",
                  "%r %r" % (r1, r2))
        for step in (resp_framing, resp_limits, half_command,
                     lambda x: non_reader(x, sanitized), flood, binary_data, memcached_lines):
            try:
                step(t)
            except Exception as e:  # noqa: BLE001
                res.check("%s: %s" % (label, getattr(step, "__name__", "step")), False, repr(e))
    except Exception as e:  # noqa: BLE001
        res.check("%s: run" % label, False, repr(e))
    res.stop("%s: stop_clean" % label, srv)

    plain = harness.Rcumapd(flavor=flavor, threads=2)
    try:
        mid_reply_drop(plain, res, label)
    except Exception as e:  # noqa: BLE001
        res.check("%s: mid-reply drops" % label, False, repr(e))
    res.stop("%s: stop_clean (mid-reply drops)" % label, plain)


def main():
    res = Results()
    for flavor in harness.FLAVORS:
        run_flavor(flavor, res)
    res.report()


if __name__ == "__main__":
    main()
