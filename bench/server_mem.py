#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# server_mem.py: the driver of bench-server workload W7 (memory after delete
# and shrink, docs/benchmarks-server.md).
#
#   server_mem.py [options] resp|mc PORT PID[,PID...] [N]
#
# Against an empty server: records the resident memory (the sum of VmRSS in
# /proc/PID/status over the PIDs given) of the empty server, after storing N
# keys mem:0000000000, mem:0000000001, ... with 100-byte values, after
# deleting 90% of them (every key whose index % 10 != 0), and after asking the
# server to give memory back. RESP: MEMORY PURGE (Redis purges at once;
# rcumapd hands it to its sweeper and counts it done in INFO's rcumap_purges,
# which is polled while the line exists); a server that answers it with an
# error is reported as "no-purge". The memcached protocol has no such command.
# With --fresh: stores only the survivors (index % 10 == 0) into an empty
# server and records its RSS, the reference the purged figure is held to.
#
# stdout: one CSV line per stage, "stage,keys,rss_kb,note": empty, loaded,
# deleted, purged (or fresh_survivors alone with --fresh). note is "-" except
# on the purged line: "purged" (the server reported the purge done), "purge-ok"
# (it answered +OK and has no counter to wait on), "no-purge". Diagnostics go
# to stderr. Each stage waits SETTLE seconds (default 1) before reading RSS,
# for deferred frees and background threads.
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "testlib"))
import server_conn  # noqa: E402  (bench/server_conn.py, beside this file)
from mcstats import mc_stats  # noqa: E402  (testlib/mcstats.py)

PROG = "server_mem.py"
VALUE = b"v" * 100
CHUNK = 5000            # commands per sendall: ~700 KB out, at most 55 KB of replies back
TIMEOUT = 120.0         # seconds without any reply before the run is given up
PURGE_TIMEOUT = 30.0    # seconds to wait for rcumap_purges to move

USAGE = ("usage: server_mem.py [--fresh] [--settle SECONDS] resp|mc PORT PID[,PID...] [N]\n"
         "  N keys (default 1000000) of 100 bytes; prints stage,keys,rss_kb,note lines:\n"
         "  empty, loaded, deleted (90%), purged; with --fresh only the survivors are\n"
         "  stored and the one line is fresh_survivors")
usage, die, log = server_conn.helpers(PROG, USAGE)


def rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for ln in f:
                    if ln.startswith("VmRSS:"):
                        total += int(ln.split()[1])
                        break
                else:
                    die("no VmRSS in /proc/%d/status" % pid)
        except OSError as e:
            die("cannot read the RSS of PID %d: %s" % (pid, e))
    return total


def key(i):
    return b"mem:%010d" % i


def store(c, proto, idx):
    """Store the keys of the indexes in idx, CHUNK commands per write."""
    for b in range(0, len(idx), CHUNK):
        part = idx[b:b + CHUNK]
        if proto == "resp":
            c.send(b"".join(b"*3\r\n$3\r\nSET\r\n$14\r\n%s\r\n$100\r\n%s\r\n" % (key(i), VALUE)
                            for i in part))
            c.expect(b"+OK\r\n" * len(part), "storing")
        else:
            c.send(b"".join(b"set %s 0 0 100\r\n%s\r\n" % (key(i), VALUE) for i in part))
            c.expect(b"STORED\r\n" * len(part), "storing")


def delete(c, proto, idx):
    for b in range(0, len(idx), CHUNK):
        part = idx[b:b + CHUNK]
        if proto == "resp":
            c.send(b"".join(b"*2\r\n$3\r\nDEL\r\n$14\r\n%s\r\n" % key(i) for i in part))
            c.expect(b":1\r\n" * len(part), "deleting")
        else:
            c.send(b"".join(b"delete %s\r\n" % key(i) for i in part))
            c.expect(b"DELETED\r\n" * len(part), "deleting")


def count_keys(c, proto):
    if proto == "resp":
        r = c.resp(b"DBSIZE")
        if not isinstance(r, int):
            die("unexpected reply to DBSIZE: %r" % (r,))
        return r
    st = mc_stats(c, bad=lambda ln: die("unexpected reply to stats: %r" % ln[:80]))
    if "curr_items" not in st:
        die("no curr_items in the memcached stats")
    return int(st["curr_items"])


def check_keys(c, proto, want, stage):
    n = count_keys(c, proto)
    if n != want:
        die("%s: the server holds %d keys, expected %d" % (stage, n, want))


def purge_counter(c):
    r = c.resp(b"INFO", b"memory")
    if not isinstance(r, bytes):
        die("unexpected reply to INFO memory: %r" % (r,))
    for ln in r.split(b"\r\n"):
        if ln.startswith(b"rcumap_purges:"):
            return int(ln.split(b":", 1)[1])
    return None


def purge(c, proto):
    """Ask the server to give memory back; return the note of the purged line."""
    if proto == "mc":
        log("the memcached protocol has no command to give memory back: no purge")
        return "no-purge"
    before = purge_counter(c)
    t0 = time.time()
    r = c.resp(b"MEMORY", b"PURGE")
    if isinstance(r, tuple):
        log("MEMORY PURGE answered -%s: no purge" % r[1])
        return "no-purge"
    if r != b"OK":
        die("unexpected reply to MEMORY PURGE: %r" % (r,))
    if before is None:
        log("MEMORY PURGE: +OK in %.3f s (no rcumap_purges counter)" % (time.time() - t0))
        return "purge-ok"
    while True:
        n = purge_counter(c)
        if n is None:
            die("rcumap_purges left INFO during the purge")
        if n > before:
            break
        if time.time() - t0 > PURGE_TIMEOUT:
            die("MEMORY PURGE not done after %.0f s (rcumap_purges stays %d)" % (PURGE_TIMEOUT, n))
        time.sleep(0.005)
    log("MEMORY PURGE: done in %.3f s (rcumap_purges %d -> %d)" % (time.time() - t0, before, n))
    return "purged"


def stage(name, keys, pids, settle, note="-"):
    time.sleep(settle)
    print("%s,%d,%d,%s" % (name, keys, rss_kb(pids), note), flush=True)


def main(argv):
    fresh = False
    settle = 1.0
    pos = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--fresh":
            fresh = True
        elif a == "--settle":
            if i + 1 >= len(argv):
                usage("--settle needs a value")
            try:
                settle = float(argv[i + 1])
            except ValueError:
                usage("bad --settle: %r" % argv[i + 1])
            if not 0 <= settle <= 60:
                usage("--settle must be within 0..60 seconds")
            i += 1
        elif a.startswith("-") and a != "-":
            usage("unknown option %r" % a)
        else:
            pos.append(a)
        i += 1
    if len(pos) not in (3, 4):
        usage()
    proto = pos[0]
    if proto not in ("resp", "mc"):
        usage("protocol must be resp or mc, not %r" % proto)
    try:
        port = int(pos[1])
        pids = [int(p) for p in pos[2].split(",")]
        n = int(pos[3]) if len(pos) == 4 else 1000000
    except ValueError:
        usage("PORT, PIDs and N must be integers")
    if not 0 < port < 65536:
        usage("bad port %d" % port)
    if min(pids) <= 0:
        usage("bad PID")
    if not 10 <= n <= 10 ** 10 - 1:
        usage("N must be within 10..9999999999")
    rss_kb(pids)  # the PIDs exist, before anything is sent

    c = server_conn.Conn(port, PROG, TIMEOUT)
    if count_keys(c, proto) != 0:
        die("the server is not empty: W7 needs an empty server")
    survivors = list(range(0, n, 10))
    t0 = time.time()
    if fresh:
        log("empty server: %d kB" % rss_kb(pids))
        store(c, proto, survivors)
        check_keys(c, proto, len(survivors), "fresh_survivors")
        log("stored %d survivors in %.1f s" % (len(survivors), time.time() - t0))
        stage("fresh_survivors", len(survivors), pids, settle)
        return
    stage("empty", 0, pids, settle)
    t0 = time.time()
    store(c, proto, list(range(n)))
    check_keys(c, proto, n, "loaded")
    log("stored %d keys in %.1f s" % (n, time.time() - t0))
    stage("loaded", n, pids, settle)
    t0 = time.time()
    delete(c, proto, [i for i in range(n) if i % 10])
    check_keys(c, proto, len(survivors), "deleted")
    log("deleted %d keys in %.1f s" % (n - len(survivors), time.time() - t0))
    stage("deleted", len(survivors), pids, settle)
    note = purge(c, proto)
    check_keys(c, proto, len(survivors), "purged")
    stage("purged", len(survivors), pids, settle, note)


if __name__ == "__main__":
    main(sys.argv)
